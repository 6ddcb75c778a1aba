//! Upgrading from 1.x: a database that skill-messages 1.0 or 1.1 migrated
//! (its `tenants`, `users` and `skills` made by the crate, its history in
//! `__diesel_schema_migrations`) is taken over by 2.0 without moving a row,
//! and ends as a database made fresh by the reference platform and 2.0.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use skill_messages::{
    Answer, Error, MessageQuery, Names, SkillMessageStatus, reference_platform, run_migrations,
};

use crate::common::catalog::{assert_same_schema, lines, rows, schema_snapshot};
use crate::common::{Fixture, TOPICS, TestDb, seed_tenant};

/// skill-messages 1.1's migrations, as released.
const ONE_ONE: EmbeddedMigrations =
    embed_migrations!("tests/fixtures/skill-messages-1.1/migrations");

const TABLES: [&str; 4] = ["tenants", "users", "skills", "skill_messages"];

/// A database migrated by 1.x's first `steps` migrations (5: 1.0, 6: 1.1),
/// as 1.x migrated it.
/// The migrations 3.0 adds to 2.0's.
const AFTER_2_0: [&str; 4] = [
    "20261208000004",
    "20261208000005",
    "20261208000006",
    "20261208000007",
];

fn migrated_by_1x(steps: usize) -> TestDb {
    let db = TestDb::empty();
    let mut admin = db.admin();
    for _ in 0..steps {
        admin
            .run_next_migration(ONE_ONE)
            .expect("a migration of 1.x");
    }
    db
}

/// A database of 1.0 (`steps` 5) or 1.1 (6) with two tenants and messages
/// in every state.
fn one_x(steps: usize) -> (TestDb, Fixture, Fixture) {
    let db = migrated_by_1x(steps);
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    admin
        .batch_execute(&format!(
            "INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                         proposed_parent_skill_id, message, status, read_at,
                                         responded_at)
             VALUES ('{t}', '{alice}', '{bob}', '{skill}', '{parent}', 'pending, unread',
                     'pending', NULL, NULL),
                    ('{t}', '{alice}', '{bob}', '{skill}', NULL, 'read', 'pending', now(), NULL),
                    ('{t}', '{bob}', '{alice}', '{parent}', '{skill}', 'accepted', 'accepted',
                     now(), now()),
                    ('{u}', '{b_alice}', '{b_bob}', '{b_skill}', NULL, 'withdrawn', 'withdrawn',
                     NULL, now())",
            t = a.tenant,
            alice = a.alice,
            bob = a.bob,
            skill = a.skill,
            parent = a.parent,
            u = b.tenant,
            b_alice = b.alice,
            b_bob = b.bob,
            b_skill = b.skill,
        ))
        .expect("messages of 1.x");
    (db, a, b)
}

/// The versions in the crate's history and in diesel's.
fn histories(conn: &mut PgConnection) -> (Vec<String>, Vec<String>) {
    (
        lines(
            conn,
            "SELECT version::text AS line FROM skill_messages_schema_migrations ORDER BY 1",
        ),
        lines(
            conn,
            "SELECT version::text AS line FROM __diesel_schema_migrations ORDER BY 1",
        ),
    )
}

/// The schema of a database made fresh by 2.0: the reference platform, then
/// the crate.
fn fresh_schema() -> Vec<String> {
    let db = TestDb::empty();
    let mut admin = db.admin();
    reference_platform::run_migrations(&mut admin, &Names::default()).expect("reference platform");
    run_migrations(&mut admin, &Names::default()).expect("the crate");
    schema_snapshot(&mut admin)
}

#[test]
fn a_1_1_database_is_taken_over_without_moving_a_row() {
    let (db, a, _) = one_x(6);
    let mut admin = db.admin();
    let before = rows(&mut admin, &TABLES);
    assert_eq!(before.len(), 2 + 6 + 2 * (3 + TOPICS) + 4);

    let applied = run_migrations(&mut admin, &Names::default()).expect("2.0 takes over");
    assert_eq!(
        applied, AFTER_2_0,
        "1.1 made what 2.0's migrations make; 3.0's follow"
    );
    assert_eq!(rows(&mut admin, &TABLES), before, "every row as it was");
    assert_eq!(
        histories(&mut admin),
        (
            vec![
                "20261208000001".into(),
                "20261208000002".into(),
                "20261208000003".into(),
                "20261208000004".into(),
                "20261208000005".into(),
                "20261208000006".into(),
                "20261208000007".into()
            ],
            vec!["20261208000000".into()],
        ),
        "the crate's versions in its own history; the tables 1.x made, the reference platform's"
    );
    assert_same_schema(
        &schema_snapshot(&mut admin),
        &fresh_schema(),
        "as made fresh",
    );
    assert!(
        reference_platform::run_migrations(&mut admin, &Names::default())
            .expect("nothing for the reference platform to do")
            .is_empty()
    );

    // The service goes on with the messages 1.1 stored.
    db.grant_logins();
    let pool = db.pool();
    let t = pool.tenant(a.tenant);
    let inbox = t.inbox(a.bob, MessageQuery::new()).expect("inbox");
    assert_eq!(inbox.items.len(), 2);
    let pending = inbox
        .items
        .iter()
        .find(|m| m.message == "pending, unread")
        .expect("the pending message");
    assert_eq!(
        t.answer(pending.id, a.bob, Answer::Decline)
            .expect("answer")
            .status,
        SkillMessageStatus::Declined
    );
    assert_eq!(t.unread_count(a.bob).expect("unread"), 0);
}

#[test]
fn a_1_0_database_is_taken_over_and_gets_the_status_order() {
    let (db, _, _) = one_x(5);
    let mut admin = db.admin();
    let before = rows(&mut admin, &TABLES);
    let applied = run_migrations(&mut admin, &Names::default()).expect("2.0 takes over");
    assert_eq!(
        applied[..1],
        ["20261208000003"],
        "1.1's status order, which 1.0 lacked"
    );
    assert_eq!(applied[1..], AFTER_2_0, "then 3.0's");
    assert_eq!(rows(&mut admin, &TABLES), before, "every row as it was");
    assert_same_schema(
        &schema_snapshot(&mut admin),
        &fresh_schema(),
        "as made fresh",
    );
}

/// 1.x forced its policies on the tables it made, so that their owner,
/// deleting a tenant without the tenant setting, deleted nothing. Taken
/// over, they are the platform's: their policies bind every role but their
/// owner.
#[test]
fn after_the_take_over_the_tables_owner_deletes_a_tenant_without_a_tenant_setting() {
    let (db, a, b) = one_x(6);
    let owner = format!("{}_owner", db.name());
    let mut admin = db.admin();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {owner} LOGIN PASSWORD '{owner}';
             ALTER TABLE tenants OWNER TO {owner}; ALTER TABLE users OWNER TO {owner};
             ALTER TABLE skills OWNER TO {owner}; ALTER TABLE skill_messages OWNER TO {owner}"
        ))
        .expect("a table owner who is not a superuser");
    let delete = |tenant: &Fixture| {
        let mut conn = crate::common::connect(&db.url_as(&owner, &[]));
        diesel::sql_query(format!(
            "DELETE FROM tenants WHERE id = '{}'",
            tenant.tenant
        ))
        .execute(&mut conn)
        .expect("delete a tenant")
    };
    assert_eq!(
        delete(&a),
        0,
        "1.1: the forced policy hides the tenant from its owner"
    );
    run_migrations(&mut admin, &Names::default()).expect("2.0 takes over");
    assert_eq!(delete(&a), 1, "2.0: the owner deletes it");
    let left = lines(
        &mut admin,
        "SELECT DISTINCT tenant_id::text AS line FROM skill_messages",
    );
    assert_eq!(left, [b.tenant.to_string()], "its messages went with it");
}

#[test]
fn a_database_with_part_of_1_0s_migrations_is_refused() {
    let db = migrated_by_1x(3);
    match run_migrations(&mut db.admin(), &Names::default()) {
        Err(error @ Error::Migration(_)) => {
            let chain = crate::common::error_chain(&error);
            assert!(
                chain.contains("only some of skill-messages 1.0's migrations")
                    && chain.contains("run 1.1's migrations to the end first"),
                "{chain}"
            );
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
}
