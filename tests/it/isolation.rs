//! Tenant isolation at the database level: the migrations' policies, foreign
//! keys and checks, attacked with plain SQL by roles that are neither
//! superusers nor owners, without going through the crate's scope.

use crate::common::reference::{skills, tenants, users};
use crate::common::{Fixture, TOPICS, TestDb, seed_tenant};
use ::skill_messages::schema::skill_messages;
use ::skill_messages::{SkillMessageId, TenantId};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Text, Uuid as SqlUuid};

/// Two tenants, each with one message from alice to bob.
struct World {
    db: TestDb,
    a: Fixture,
    b: Fixture,
    a_message: SkillMessageId,
    b_message: SkillMessageId,
}

fn world() -> World {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let a_message = raw_message(&mut admin, &a).expect("seed a message in A");
    let b_message = raw_message(&mut admin, &b).expect("seed a message in B");
    World {
        db,
        a,
        b,
        a_message,
        b_message,
    }
}

/// Inserts alice's proposal to bob in `f.tenant` with plain SQL.
fn raw_message(conn: &mut PgConnection, f: &Fixture) -> QueryResult<SkillMessageId> {
    diesel::insert_into(skill_messages::table)
        .values((
            skill_messages::tenant_id.eq(f.tenant),
            skill_messages::from_user_id.eq(f.alice),
            skill_messages::to_user_id.eq(f.bob),
            skill_messages::subject_skill_id.eq(f.skill),
            skill_messages::proposed_parent_skill_id.eq(f.parent),
            skill_messages::message.eq("please group rust under programming"),
        ))
        .returning(skill_messages::id)
        .get_result(conn)
}

/// Runs `f` in a transaction whose tenant is set the way the crate sets it,
/// but by hand: these tests prove the database, not the crate.
fn in_tenant<T>(
    conn: &mut PgConnection,
    tenant: TenantId,
    f: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    conn.transaction(|conn| {
        // `SET LOCAL`, each in a string of its own, reaches the workers of a
        // Citus cluster; elsewhere the first is a setting nothing reads.
        conn.batch_execute("SET LOCAL citus.propagate_set_commands = 'local'")?;
        conn.batch_execute(&format!("SET LOCAL app.current_tenant_id = '{tenant}'"))?;
        f(conn)
    })
}

/// How many rows of each table the connection sees:
/// tenants, users, skills, skill_messages.
fn visible(conn: &mut PgConnection) -> QueryResult<[i64; 4]> {
    Ok([
        tenants::table.count().get_result(conn)?,
        users::table.count().get_result(conn)?,
        skills::table.count().get_result(conn)?,
        skill_messages::table.count().get_result(conn)?,
    ])
}

/// Every row of every table, as the superuser sees it.
fn everything(db: &TestDb) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        row: String,
    }
    diesel::sql_query(
        "SELECT t::text AS row FROM tenants t UNION ALL SELECT u::text FROM users u
         UNION ALL SELECT s::text FROM skills s UNION ALL SELECT m::text FROM skill_messages m
         ORDER BY 1",
    )
    .load::<Row>(&mut db.admin())
    .expect("read every row")
    .into_iter()
    .map(|r| r.row)
    .collect()
}

fn assert_rls_refusal<T: std::fmt::Debug>(result: QueryResult<T>) {
    match result {
        Err(DieselError::DatabaseError(_, info))
            if info
                .message()
                .contains("violates row-level security policy") => {}
        other => panic!("expected a row-level security refusal, got {other:?}"),
    }
}

fn assert_permission_denied<T: std::fmt::Debug>(result: QueryResult<T>) {
    match result {
        Err(DieselError::DatabaseError(_, info))
            if info.message().contains("permission denied") => {}
        other => panic!("expected permission denied, got {other:?}"),
    }
}

/// A refused move of a row to another tenant: the policy's `WITH CHECK`,
/// or on a Citus cluster the refusal to change a row's distribution column,
/// which comes first.
fn assert_move_refusal<T: std::fmt::Debug>(result: QueryResult<T>) {
    match result {
        Err(DieselError::DatabaseError(_, info))
            if crate::common::on_citus()
                && info
                    .message()
                    .contains("modifying the partition value of rows is not allowed") => {}
        other => assert_rls_refusal(other),
    }
}

/// Whether the error is the violation of `constraint`. Citus relays the
/// error of the worker, which names the constraint in its message, with the
/// shard's number after the name of a foreign key.
fn violates(info: &dyn DatabaseErrorInformation, constraint: &str) -> bool {
    info.constraint_name() == Some(constraint)
        || (crate::common::on_citus()
            && (info
                .message()
                .contains(&format!("constraint \"{constraint}\""))
                || info
                    .message()
                    .contains(&format!("constraint \"{constraint}_"))))
}

fn assert_foreign_key_refusal<T: std::fmt::Debug>(result: QueryResult<T>, constraint: &str) {
    match result {
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info))
            if violates(info.as_ref(), constraint) => {}
        other => panic!("expected a violation of {constraint}, got {other:?}"),
    }
}

fn assert_check_refusal<T: std::fmt::Debug>(result: QueryResult<T>, constraint: &str) {
    match result {
        Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info))
            if violates(info.as_ref(), constraint) => {}
        other => panic!("expected a violation of {constraint}, got {other:?}"),
    }
}

#[test]
fn with_no_tenant_every_table_is_empty_and_refuses_writes() {
    let w = world();
    for mut conn in [w.db.app(), w.db.dml()] {
        assert_eq!(visible(&mut conn).expect("reads do not fail"), [0; 4]);
        let marked = diesel::update(skill_messages::table)
            .set(skill_messages::read_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .expect("updates find nothing");
        assert_eq!(marked, 0);
        assert_rls_refusal(raw_message(&mut conn, &w.a));
    }
    let mut dml = w.db.dml();
    assert_eq!(
        diesel::delete(skill_messages::table)
            .execute(&mut dml)
            .expect("deletes find nothing"),
        0
    );
    assert_rls_refusal(
        diesel::insert_into(tenants::table)
            .values((tenants::name.eq("x"), tenants::slug.eq("x")))
            .execute(&mut dml),
    );
    assert_eq!(everything(&w.db).len(), 2 + 6 + 2 * (3 + TOPICS) + 2);
}

#[test]
fn a_tenant_set_by_an_earlier_transaction_leaves_nothing_behind() {
    let w = world();
    let mut conn = w.db.app();
    let seen = in_tenant(&mut conn, w.a.tenant, visible).expect("read in A");
    assert_eq!(seen, [1, 3, 3 + TOPICS as i64, 1]);
    // The setting now exists on the session with the value '' (not NULL).
    let leftover: Option<String> =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>(
            "current_setting('app.current_tenant_id', true)",
        ))
        .get_result(&mut conn)
        .expect("read the setting");
    assert_eq!(leftover.as_deref(), Some(""));
    assert_eq!(visible(&mut conn).expect("reads do not fail"), [0; 4]);
    assert_rls_refusal(raw_message(&mut conn, &w.a));

    // A rolled-back transaction leaves nothing either.
    let rolled_back: QueryResult<()> = in_tenant(&mut conn, w.b.tenant, |_| {
        Err(DieselError::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    assert_eq!(visible(&mut conn).expect("reads do not fail"), [0; 4]);
}

#[test]
fn a_tenant_sees_only_its_own_rows() {
    let w = world();
    let mut conn = w.db.app();
    for f in [&w.a, &w.b] {
        let (tenant_ids, user_tenants, message_tenants) = in_tenant(&mut conn, f.tenant, |c| {
            Ok((
                tenants::table.select(tenants::id).load::<TenantId>(c)?,
                users::table.select(users::tenant_id).load::<TenantId>(c)?,
                skill_messages::table
                    .select(skill_messages::tenant_id)
                    .load::<TenantId>(c)?,
            ))
        })
        .expect("read a tenant");
        assert_eq!(tenant_ids, [f.tenant]);
        assert_eq!(user_tenants, [f.tenant; 3]);
        assert_eq!(message_tenants, [f.tenant]);
    }
    // Asking for B's rows by id from A finds nothing.
    let found = in_tenant(&mut conn, w.a.tenant, |c| {
        Ok((
            skill_messages::table
                .find((w.b.tenant, w.b_message))
                .count()
                .get_result::<i64>(c)?,
            users::table
                .find((w.b.tenant, w.b.bob))
                .count()
                .get_result::<i64>(c)?,
            skills::table
                .find((w.b.tenant, w.b.skill))
                .count()
                .get_result::<i64>(c)?,
            tenants::table
                .find(w.b.tenant)
                .count()
                .get_result::<i64>(c)?,
        ))
    })
    .expect("look for B's rows");
    assert_eq!(found, (0, 0, 0, 0));
}

/// With every table privilege, a role that is neither owner nor superuser
/// still cannot touch another tenant's rows: the policies alone hold.
#[test]
fn a_tenant_cannot_change_or_delete_another_tenants_rows() {
    let w = world();
    let before = everything(&w.db);
    let mut conn = w.db.dml();
    let (a, b) = (w.a, w.b);

    let touched = in_tenant(&mut conn, a.tenant, |c| {
        Ok([
            diesel::update(skill_messages::table.find((w.b.tenant, w.b_message)))
                .set(skill_messages::message.eq("hijacked"))
                .execute(c)?,
            diesel::delete(skill_messages::table.find((w.b.tenant, w.b_message))).execute(c)?,
            diesel::update(users::table.filter(users::tenant_id.eq(b.tenant)))
                .set(users::display_name.eq("hijacked"))
                .execute(c)?,
            diesel::delete(skills::table.filter(skills::tenant_id.eq(b.tenant))).execute(c)?,
            diesel::delete(tenants::table.find(b.tenant)).execute(c)?,
            // Without a filter, "everything" is A's rows only.
            diesel::update(tenants::table)
                .set(tenants::name.eq("renamed"))
                .execute(c)?,
        ])
    })
    .expect("updates and deletes run");
    assert_eq!(touched, [0, 0, 0, 0, 0, 1]);

    // Writing a row into B, or moving A's rows into B, is refused.
    assert_rls_refusal(in_tenant(&mut conn, a.tenant, |c| raw_message(c, &b)));
    assert_rls_refusal(in_tenant(&mut conn, a.tenant, |c| {
        diesel::insert_into(users::table)
            .values((
                users::tenant_id.eq(b.tenant),
                users::email.eq("mallory@b.example"),
                users::display_name.eq("mallory"),
            ))
            .execute(c)
    }));
    assert_move_refusal(in_tenant(&mut conn, a.tenant, |c| {
        diesel::update(skill_messages::table.find((w.a.tenant, w.a_message)))
            .set(skill_messages::tenant_id.eq(b.tenant))
            .execute(c)
    }));
    assert_move_refusal(in_tenant(&mut conn, a.tenant, |c| {
        diesel::update(users::table.find((a.tenant, a.alice)))
            .set(users::tenant_id.eq(b.tenant))
            .execute(c)
    }));

    let after = everything(&w.db);
    let b_rows = |rows: &[String]| -> Vec<String> {
        let b_tenant = b.tenant.to_string();
        rows.iter()
            .filter(|r| r.contains(&b_tenant))
            .cloned()
            .collect()
    };
    assert_eq!(b_rows(&after), b_rows(&before), "B's rows are untouched");
}

/// The runtime role has no DELETE, no TRUNCATE, and may write only the
/// columns the service writes.
#[test]
fn the_runtime_role_holds_only_what_the_service_needs() {
    let w = world();
    let mut conn = w.db.app();
    let a = w.a;
    assert_permission_denied(in_tenant(&mut conn, a.tenant, |c| {
        diesel::delete(skill_messages::table.find((w.a.tenant, w.a_message))).execute(c)
    }));
    assert_permission_denied(conn.batch_execute("TRUNCATE skill_messages"));
    assert_permission_denied(in_tenant(&mut conn, a.tenant, |c| {
        diesel::update(skill_messages::table.find((w.a.tenant, w.a_message)))
            .set(skill_messages::to_user_id.eq(a.carol))
            .execute(c)
    }));
    assert_permission_denied(in_tenant(&mut conn, a.tenant, |c| {
        diesel::insert_into(users::table)
            .values((
                users::tenant_id.eq(a.tenant),
                users::email.eq("new@a.example"),
                users::display_name.eq("new"),
            ))
            .execute(c)
    }));
    // Setting the status without responded_at gets past the privileges but
    // not the check.
    assert_check_refusal(
        in_tenant(&mut conn, a.tenant, |c| {
            diesel::update(skill_messages::table.find((w.a.tenant, w.a_message)))
                .set(skill_messages::status.eq(skill_messages::status))
                .execute(c)?;
            diesel::sql_query("UPDATE skill_messages SET status = 'accepted' WHERE id = $1")
                .bind::<SqlUuid, _>(w.a_message)
                .execute(c)
        }),
        "skill_messages_responded_at_iff_responded",
    );
}

#[test]
fn no_role_escapes_the_policies_by_itself() {
    let w = world();
    for mut conn in [w.db.app(), w.db.dml()] {
        for attack in [
            "ALTER TABLE skill_messages DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE skill_messages NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON skill_messages",
            "CREATE POLICY open ON skill_messages USING (true)",
            "SET ROLE postgres",
            "SET SESSION AUTHORIZATION postgres",
            "ALTER ROLE skill_messages_app BYPASSRLS",
        ] {
            match conn.batch_execute(attack) {
                Err(DieselError::DatabaseError(_, info)) => assert!(
                    ["must be owner", "permission denied", "must be superuser"]
                        .iter()
                        .any(|refusal| info.message().contains(refusal)),
                    "{attack}: {}",
                    info.message()
                ),
                other => panic!("{attack} must be refused, got {other:?}"),
            }
        }
        // With row_security off, a query the policies would filter fails
        // instead of returning rows.
        let result = conn.transaction(|c| {
            c.batch_execute("SET LOCAL row_security = off")?;
            skill_messages::table.count().get_result::<i64>(c)
        });
        match result {
            Err(DieselError::DatabaseError(_, info)) => assert!(
                info.message().contains("row-level security"),
                "{}",
                info.message()
            ),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[test]
fn a_tenant_that_is_not_a_uuid_fails_closed() {
    let w = world();
    let mut conn = w.db.app();
    // Not a uuid: every read fails. A uuid no tenant has: nothing to see.
    for (forged, fails) in [
        ("not-a-uuid", true),
        ("' OR true --", true),
        ("00000000-0000-0000-0000-000000000000", false),
    ] {
        let result = conn.transaction(|c| {
            diesel::sql_query("SELECT set_config('app.current_tenant_id', $1, true)")
                .bind::<Text, _>(forged)
                .execute(c)?;
            visible(c)
        });
        match result {
            Ok(counts) if !fails => assert_eq!(counts, [0; 4], "{forged}"),
            Err(DieselError::DatabaseError(_, info)) if fails => assert!(
                info.message()
                    .contains("invalid input syntax for type uuid"),
                "{forged}: {}",
                info.message()
            ),
            other => panic!("{forged}: {other:?}"),
        }
    }
}

/// A function that records every value it is given sees only the rows the
/// policies let through, however cheap the planner thinks it is.
#[test]
fn a_leaky_function_sees_only_the_tenants_rows() {
    let w = world();
    let mut conn = w.db.app();
    conn.batch_execute(
        "CREATE TEMP TABLE seen (message_tenant uuid);
         CREATE FUNCTION pg_temp.leak(uuid) RETURNS boolean
           LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN INSERT INTO seen VALUES ($1); RETURN true; END $$;",
    )
    .expect("create the leaky function");
    let rows = in_tenant(&mut conn, w.a.tenant, |c| {
        diesel::sql_query("SELECT id FROM skill_messages WHERE pg_temp.leak(tenant_id)").execute(c)
    });
    if crate::common::on_citus() {
        // The shards are filtered on the workers, which do not have the
        // session's temporary function: the query cannot run at all.
        assert!(
            matches!(&rows, Err(e) if e.to_string().contains("schema \"pg_temp\" does not exist")),
            "{rows:?}"
        );
    } else {
        assert_eq!(rows.expect("query through the leaky function"), 1);
        #[derive(QueryableByName)]
        struct Seen {
            #[diesel(sql_type = SqlUuid)]
            message_tenant: TenantId,
        }
        let seen: Vec<Seen> = diesel::sql_query("SELECT message_tenant FROM seen")
            .load(&mut conn)
            .expect("read what the function saw");
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|s| s.message_tenant == w.a.tenant));
    }

    // A view the role creates runs with its own privileges: still filtered.
    conn.batch_execute("CREATE TEMP VIEW every_message AS SELECT * FROM skill_messages")
        .expect("create a view");
    let through_view = in_tenant(&mut conn, w.a.tenant, |c| {
        diesel::sql_query("SELECT id FROM every_message").execute(c)
    })
    .expect("read the view");
    assert_eq!(through_view, 1);
}

/// Plans cached across executions, generic ones included, apply the tenant
/// of the transaction that runs them.
#[test]
fn a_prepared_statement_follows_the_current_tenant() {
    let w = world();
    let mut conn = w.db.app();
    conn.batch_execute("PREPARE messages AS SELECT tenant_id FROM skill_messages")
        .expect("prepare");
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        tenant_id: TenantId,
    }
    for _ in 0..8 {
        for f in [&w.a, &w.b] {
            let rows = in_tenant(&mut conn, f.tenant, |c| {
                diesel::sql_query("EXECUTE messages").load::<Row>(c)
            })
            .expect("execute the prepared statement");
            assert_eq!(
                rows,
                [Row {
                    tenant_id: f.tenant
                }]
            );
        }
        let rows = diesel::sql_query("EXECUTE messages")
            .load::<Row>(&mut conn)
            .expect("execute with no tenant");
        assert!(rows.is_empty());
    }
}

/// The composite foreign keys hold even for a superuser, whom row-level
/// security does not bind: no row can point into another tenant.
#[test]
fn references_cannot_cross_tenants_even_for_a_superuser() {
    let w = world();
    let mut admin = w.db.admin();
    let (a, b) = (w.a, w.b);
    let cross = |f: Fixture| raw_message(&mut w.db.admin(), &f);
    assert_foreign_key_refusal(
        cross(Fixture { bob: b.bob, ..a }),
        "skill_messages_to_user_fkey",
    );
    assert_foreign_key_refusal(
        cross(Fixture {
            alice: b.alice,
            ..a
        }),
        "skill_messages_from_user_fkey",
    );
    assert_foreign_key_refusal(
        cross(Fixture {
            skill: b.skill,
            ..a
        }),
        "skill_messages_subject_skill_fkey",
    );
    assert_foreign_key_refusal(
        cross(Fixture {
            parent: b.parent,
            ..a
        }),
        "skill_messages_proposed_parent_skill_fkey",
    );
    assert_foreign_key_refusal(
        diesel::insert_into(skills::table)
            .values((
                skills::tenant_id.eq(a.tenant),
                skills::author_id.eq(b.alice),
                skills::name.eq("stolen"),
                skills::slug.eq("stolen"),
            ))
            .execute(&mut admin),
        "skills_author_fkey",
    );
    assert_foreign_key_refusal(
        diesel::update(skill_messages::table.find((w.a.tenant, w.a_message)))
            .set(skill_messages::to_user_id.eq(b.bob))
            .execute(&mut admin),
        "skill_messages_to_user_fkey",
    );
}

#[test]
fn every_check_refuses_what_it_should() {
    let w = world();
    let mut admin = w.db.admin();
    let a = w.a;
    let with_text = |text: &str| {
        diesel::insert_into(skill_messages::table)
            .values((
                skill_messages::tenant_id.eq(a.tenant),
                skill_messages::from_user_id.eq(a.alice),
                skill_messages::to_user_id.eq(a.bob),
                skill_messages::subject_skill_id.eq(a.skill),
                skill_messages::message.eq(text.to_owned()),
            ))
            .execute(&mut w.db.admin())
    };
    // Every character Rust's `str::trim` removes is trimmed by the check.
    let white_space: Vec<char> = (0..=0x3000u32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .collect();
    assert_eq!(white_space.len(), 25);
    for c in &white_space {
        assert_check_refusal(with_text(&c.to_string()), "skill_messages_message_length");
    }
    assert_check_refusal(with_text(""), "skill_messages_message_length");
    assert_check_refusal(
        with_text(&"x".repeat(4001)),
        "skill_messages_message_length",
    );
    let padded: String = white_space.iter().collect::<String>() + &"é".repeat(4000) + "\u{3000}";
    assert_eq!(with_text(&padded).expect("4000 characters once trimmed"), 1);

    assert_check_refusal(
        raw_message(&mut admin, &Fixture { bob: a.alice, ..a }),
        "skill_messages_not_to_self",
    );
    assert_check_refusal(
        raw_message(
            &mut admin,
            &Fixture {
                parent: a.skill,
                ..a
            },
        ),
        "skill_messages_parent_not_subject",
    );
    let respond = |status: &str, responded: &str| {
        diesel::sql_query(format!(
            "UPDATE skill_messages SET status = '{status}', responded_at = {responded} \
             WHERE id = $1"
        ))
        .bind::<SqlUuid, _>(w.a_message)
        .execute(&mut w.db.admin())
    };
    let check = "skill_messages_responded_at_iff_responded";
    assert_check_refusal(respond("accepted", "NULL"), check);
    assert_check_refusal(respond("declined", "NULL"), check);
    assert_check_refusal(respond("pending", "now()"), check);
    assert_eq!(
        respond("declined", "now()").expect("a consistent response"),
        1
    );
}

#[test]
fn deleting_a_tenant_deletes_its_rows_and_only_its_rows() {
    let w = world();
    let mut admin = w.db.admin();
    let before = everything(&w.db);
    let deleted = diesel::delete(tenants::table.find(w.a.tenant))
        .execute(&mut admin)
        .expect("delete tenant A");
    assert_eq!(deleted, 1);
    let a_tenant = w.a.tenant.to_string();
    let expected: Vec<String> = before
        .into_iter()
        .filter(|row| !row.contains(&a_tenant))
        .collect();
    assert_eq!(everything(&w.db), expected);
    assert_eq!(expected.len(), 1 + 3 + 3 + TOPICS + 1);
}

/// The status order holds whoever writes, in their own tenant: as the
/// runtime role and as a login with every privilege on the table, no update
/// reopens an answered or withdrawn proposal, turns one answer into
/// another, or moves `responded_at` or `read_at` once set (`read_at` may
/// only be cleared: marked unread). Each refusal is a check violation
/// naming `skill_messages_status_order`.
#[test]
fn no_update_breaks_the_status_order() {
    let w = world();
    let a = w.a;
    // The world's proposal makes way for the test's of the same pair: one
    // of a pair is pending at a time.
    diesel::sql_query(
        "UPDATE skill_messages SET status = 'withdrawn', responded_at = now() WHERE id = $1",
    )
    .bind::<SqlUuid, _>(w.a_message)
    .execute(&mut w.db.admin())
    .expect("withdraw the world's proposal");
    let order = "skill_messages_status_order";
    let assert_order_refusal = |result: QueryResult<usize>, what: &str| match result {
        Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info))
            if info.constraint_name() == Some(order) || info.message().contains(order) => {}
        other => panic!("{what}: expected a violation of {order}, got {other:?}"),
    };
    let update = |conn: &mut PgConnection, id: SkillMessageId, set: &str| {
        in_tenant(conn, a.tenant, |conn| {
            diesel::sql_query(format!("UPDATE skill_messages SET {set} WHERE id = $1"))
                .bind::<SqlUuid, _>(id)
                .execute(conn)
        })
    };
    for login in ["app", "dml"] {
        let mut conn = if login == "app" {
            w.db.app()
        } else {
            w.db.dml()
        };
        for status in ["accepted", "declined", "withdrawn"] {
            let id = raw_message(&mut w.db.admin(), &a).expect("a pending message");
            let answered = update(
                &mut conn,
                id,
                &format!("status = '{status}', responded_at = now(), read_at = now()"),
            );
            assert_eq!(answered.expect("pending, then {status}"), 1);
            let before = everything(&w.db);
            assert_order_refusal(
                update(&mut conn, id, "status = 'pending', responded_at = NULL"),
                &format!("{login}: {status} reopened"),
            );
            for other in ["accepted", "declined", "withdrawn"] {
                if other != status {
                    assert_order_refusal(
                        update(&mut conn, id, &format!("status = '{other}'")),
                        &format!("{login}: {status} turned {other}"),
                    );
                }
            }
            assert_order_refusal(
                update(&mut conn, id, "responded_at = '2000-01-01 00:00:00+00'"),
                &format!("{login}: responded_at of {status} moved"),
            );
            assert_order_refusal(
                update(&mut conn, id, "read_at = '2000-01-01 00:00:00+00'"),
                &format!("{login}: read_at of {status} moved"),
            );
            assert_eq!(everything(&w.db), before, "{login}: refusals write nothing");
            // Marked unread: cleared, never moved.
            assert_eq!(update(&mut conn, id, "read_at = NULL").expect("unread"), 1);
        }
        // A pending message may be read; its read_at then stays.
        let id = raw_message(&mut w.db.admin(), &a).expect("a pending message");
        assert_eq!(update(&mut conn, id, "read_at = now()").expect("read"), 1);
        assert_order_refusal(
            update(&mut conn, id, "read_at = '2000-01-01 00:00:00+00'"),
            &format!("{login}: read_at moved while pending"),
        );
        // Answered, so that the next login's proposal of the same pair may
        // be pending (one is, at a time).
        let declined = update(&mut conn, id, "status = 'declined', responded_at = now()");
        assert_eq!(declined.expect("declined"), 1);
    }
}
