//! The platform's tables, as far as the crate reads them: the columns of
//! its contract (README, "Adding skill messages to an existing platform")
//! and nothing else, so that a platform's tables may have any others.
//! [`verify_database`](crate::verify_database) checks that they are there.
//!
//! Written by hand, where [`schema`](crate::schema) (the crate's own table)
//! is generated: a database's own columns beyond these are the platform's
//! business.

use crate::schema::skill_messages;

diesel::table! {
    /// The platform's tenants: an organisation each.
    tenants (id) {
        /// The tenant's id, the value of the tenant setting in its scopes.
        id -> Uuid,
    }
}

diesel::table! {
    /// The platform's users, keyed by `(tenant_id, id)`: a skill author, a
    /// message's sender or recipient.
    users (tenant_id, id) {
        /// The user's id.
        id -> Uuid,
        /// The tenant the user belongs to.
        tenant_id -> Uuid,
        /// The name other users see.
        display_name -> Text,
    }
}

diesel::table! {
    /// The platform's skills, keyed by `(tenant_id, id)`.
    skills (tenant_id, id) {
        /// The skill's id.
        id -> Uuid,
        /// The tenant the skill belongs to.
        tenant_id -> Uuid,
        /// The user who wrote it, in the same tenant.
        author_id -> Uuid,
        /// The name users see.
        name -> Text,
    }
}

diesel::joinable!(skill_messages -> tenants (tenant_id));
diesel::joinable!(skills -> tenants (tenant_id));
diesel::joinable!(users -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(skill_messages, skills, tenants, users,);
