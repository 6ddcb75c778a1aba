//! The reference platform's tables with all their columns, as the tests
//! write them (the crate's `platform` module declares only the columns it
//! reads).

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        slug -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (tenant_id, id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        display_name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    skills (tenant_id, id) {
        id -> Uuid,
        tenant_id -> Uuid,
        author_id -> Uuid,
        name -> Text,
        slug -> Text,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(skills, tenants, users);
