//! The crate's migrations: only the crate's own objects, reversible step by
//! step, safe to run concurrently, recorded in a history of their own, and
//! leaving a catalogue in which row-level security cannot be sidestepped.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::common::TestDb;
use crate::common::catalog::{assert_same_schema, lines, schema_snapshot};
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use skill_messages::{
    Error, HISTORY_TABLE, MIGRATIONS, Names, reference_platform, revert_migrations, run_migrations,
    verify_database,
};

/// How many migrations the crate embeds.
fn migration_count() -> usize {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .expect("the embedded migrations")
        .len()
}

/// A database with the reference platform's tables and nothing of the
/// crate's.
fn platform_only() -> TestDb {
    let db = TestDb::empty();
    reference_platform::run_migrations(&mut db.admin(), &Names::default())
        .expect("migrate the reference platform");
    db
}

/// The versions in the crate's history, oldest first.
fn history(conn: &mut PgConnection) -> Vec<String> {
    lines(
        conn,
        &format!("SELECT version::text AS line FROM {HISTORY_TABLE} ORDER BY 1"),
    )
}

/// Whether the crate's history table exists.
fn has_history(conn: &mut PgConnection) -> bool {
    !lines(
        conn,
        &format!("SELECT 'yes' AS line WHERE to_regclass('{HISTORY_TABLE}') IS NOT NULL"),
    )
    .is_empty()
}

#[test]
fn each_down_migration_reverts_its_up_migration_and_leaves_the_platform_as_it_was() {
    // The schema before each migration: each applied by itself, in order.
    let stepped = platform_only();
    let mut conn = stepped.admin();
    let platform = schema_snapshot(&mut conn);
    let mut before = Vec::new();
    let mut sources = MigrationSource::<Pg>::migrations(&MIGRATIONS).expect("the migrations");
    sources.sort_by_key(|m| m.name().version().to_string());
    for migration in &sources {
        before.push(schema_snapshot(&mut conn));
        conn.transaction(|conn| migration.run(conn))
            .expect("apply a migration");
    }
    assert_eq!(before.len(), migration_count());
    let migrated = schema_snapshot(&mut conn);
    assert!(
        migrated
            .iter()
            .any(|l| l.starts_with("policy skill_messages.")),
        "the migrated schema has the policy: {migrated:#?}"
    );

    // Migrated and reverted step by step through the crate's functions:
    // each step back leaves the schema as it was before that migration.
    let db = platform_only();
    let mut conn = db.admin();
    run_migrations(&mut conn, &Names::default()).expect("migrate");
    assert_same_schema(&schema_snapshot(&mut conn), &migrated, "run_migrations");
    while let Some(expected) = before.pop() {
        let reverted = revert_migrations(&mut conn, &Names::default(), 1).expect("revert");
        let context = format!("after reverting {reverted:?}");
        assert_eq!(reverted.len(), 1, "{context}");
        assert_same_schema(&schema_snapshot(&mut conn), &expected, &context);
    }
    assert_same_schema(&schema_snapshot(&mut conn), &platform, "all reverted");
    assert!(!has_history(&mut conn), "the last revert drops the history");
    assert!(
        revert_migrations(&mut conn, &Names::default(), 1)
            .expect("nothing to revert")
            .is_empty()
    );

    // And up again gives the same schema as the first time.
    run_migrations(&mut conn, &Names::default()).expect("migrate again");
    assert_same_schema(&schema_snapshot(&mut conn), &migrated, "up, down, up");

    // The same as the template every other test starts from, once the
    // grants the harness adds for its DML login are taken away.
    let fresh = TestDb::new();
    let mut fresh = fresh.admin();
    fresh
        .batch_execute(&format!(
            "REVOKE ALL ON tenants, users, skills, skill_messages FROM {}",
            crate::common::dml_login()
        ))
        .expect("revoke the DML login's grants");
    assert_same_schema(&schema_snapshot(&mut fresh), &migrated, "the template");
}

/// Several processes migrate one database at the same moment: all succeed,
/// each migration is applied by exactly one of them, and the versions go
/// to the crate's history, not to the platform's.
#[test]
fn concurrent_migration_processes_apply_each_migration_once_in_the_crates_own_history() {
    const PROCESSES: usize = 6;
    let db = platform_only();
    let url = db.admin_url();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_skill-messages-migrate"))
                .env("DATABASE_URL", &url)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start skill-messages-migrate")
        })
        .collect();
    let mut applied = Vec::new();
    for child in children {
        let output = child
            .wait_with_output()
            .expect("wait for a migration process");
        assert!(
            output.status.success(),
            "a migration process failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        applied.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    let distinct: BTreeSet<_> = applied.iter().collect();
    assert_eq!(
        applied.len(),
        migration_count(),
        "each migration applied by one process: {applied:?}"
    );
    assert_eq!(distinct.len(), migration_count());

    let mut conn = db.admin();
    assert_eq!(
        history(&mut conn),
        distinct.into_iter().cloned().collect::<Vec<_>>()
    );
    // The platform's history holds the platform's migrations only.
    let platform_history = lines(
        &mut conn,
        "SELECT version::text AS line FROM __diesel_schema_migrations ORDER BY 1",
    );
    let reference: Vec<String> = conn
        .applied_migrations()
        .expect("the platform's applied migrations")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(platform_history, reference);
    assert!(
        !conn
            .has_pending_migration(reference_platform::MIGRATIONS)
            .expect("the platform's pending migrations"),
        "the platform's tooling sees nothing of the crate's"
    );
    assert_eq!(platform_history.len(), 1, "{platform_history:?}");
    assert!(
        run_migrations(&mut conn, &Names::default())
            .expect("nothing pending")
            .is_empty()
    );
}

#[test]
fn the_crate_forces_its_one_policy_on_its_own_table_only() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let tables = lines(
        &mut conn,
        "SELECT format('%s %s %s', relname, relrowsecurity, relforcerowsecurity) AS line
         FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
           AND relname NOT LIKE '%schema_migrations' ORDER BY 1",
    );
    // The reference platform keeps its tenants apart by a policy of its
    // own, which does not bind its tables' owner.
    assert_eq!(
        tables,
        [
            "skill_messages t t",
            "skills t f",
            "tenants t f",
            "users t f"
        ]
    );
    let policies = lines(
        &mut conn,
        "SELECT format('%s %s %s %s %s %s | %s', tablename, policyname, permissive, cmd, roles,
                       qual, with_check) AS line
         FROM pg_policies WHERE schemaname = current_schema() AND tablename = 'skill_messages'
         ORDER BY 1 DESC",
    );
    let tenant = "(tenant_id = (NULLIF(current_setting('app.current_tenant_id'::text, true), \
                  ''::text))::uuid)";
    assert_eq!(
        policies,
        [
            format!(
                "skill_messages tenant_isolation PERMISSIVE ALL {{public}} {tenant} | {tenant}"
            ),
            "skill_messages maintenance PERMISSIVE ALL {skill_messages_maintenance} true | true"
                .to_owned(),
        ]
    );
}

#[test]
fn the_runtime_role_cannot_bypass_row_level_security() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let attributes = lines(
        &mut conn,
        "SELECT format('super=%s bypassrls=%s login=%s createrole=%s createdb=%s',
                       rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb)
             AS line
         FROM pg_roles WHERE rolname = 'skill_messages_app'",
    );
    // A Citus cluster's workers are sent the queries as the role in force,
    // so there the deployment lets the role log in (see DEPLOYMENT.md).
    let login = if crate::common::on_citus() { "t" } else { "f" };
    assert_eq!(
        attributes,
        [format!(
            "super=f bypassrls=f login={login} createrole=f createdb=f"
        )]
    );
    let owned = lines(
        &mut conn,
        "SELECT relname::text AS line FROM pg_class
         WHERE relowner = 'skill_messages_app'::regrole",
    );
    assert!(owned.is_empty(), "the runtime role owns {owned:?}");

    let table_privileges = lines(
        &mut conn,
        "SELECT format('%s %s', table_name, string_agg(privilege_type, ',' ORDER BY privilege_type))
             AS line
         FROM information_schema.role_table_grants
         WHERE grantee = 'skill_messages_app' AND table_schema = current_schema()
         GROUP BY table_name ORDER BY 1",
    );
    assert_eq!(table_privileges, ["skill_messages SELECT"]);
    let column_privileges = lines(
        &mut conn,
        "SELECT format('%s %s %s', table_name, privilege_type,
                       string_agg(column_name, ',' ORDER BY column_name)) AS line
         FROM information_schema.column_privileges
         WHERE grantee = 'skill_messages_app' AND table_schema = current_schema()
           AND NOT (table_name = 'skill_messages' AND privilege_type = 'SELECT')
         GROUP BY table_name, privilege_type ORDER BY 1",
    );
    // Citus computes the defaults of an INSERT on the coordinator and sends
    // them to the shards as values: the role inserts those columns too.
    let defaulted = if crate::common::on_citus() {
        "created_at,"
    } else {
        ""
    };
    let status = if crate::common::on_citus() {
        "status,"
    } else {
        ""
    };
    assert_eq!(
        column_privileges,
        [
            format!(
                "skill_messages INSERT {defaulted}from_user_id,id,message,\
                 proposed_parent_skill_id,{status}subject_skill_id,tenant_id,to_user_id"
            ),
            "skill_messages UPDATE read_at,responded_at,status".to_owned(),
            // What the platform grants: the columns of the contract.
            "skills SELECT author_id,id,name,tenant_id".to_owned(),
            "tenants SELECT id".to_owned(),
            "users SELECT display_name,id,tenant_id".to_owned(),
        ]
    );

    verify_database(&mut conn, &Names::default()).expect("the migrated database passes");
}

#[test]
fn every_foreign_key_has_an_index_led_by_its_columns() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let foreign_keys = lines(
        &mut conn,
        "SELECT format('%s.%s', conrelid::regclass, conname) AS line
         FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
           AND conrelid = 'skill_messages'::regclass
         ORDER BY 1",
    );
    assert_eq!(foreign_keys.len(), 5, "{foreign_keys:#?}");
    let unindexed = lines(
        &mut conn,
        "SELECT format('%s.%s', c.conrelid::regclass, c.conname) AS line
         FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
           AND NOT EXISTS (
               SELECT FROM pg_index i
               WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
                 AND (SELECT array_agg(k ORDER BY k)
                      FROM unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) k)
                     = (SELECT array_agg(k ORDER BY k) FROM unnest(c.conkey) k))",
    );
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
}

#[test]
fn verification_refuses_a_database_where_the_policy_would_not_bind() {
    let db = TestDb::new();
    let mut conn = db.admin();
    // A role the runtime role can take owns the table, which is not forced;
    // a second policy would let rows through that the tenant's does not.
    let owner = format!("{}_owner", crate::common::app_login());
    execute_each(
        &mut conn,
        &[
            "ALTER TABLE skill_messages NO FORCE ROW LEVEL SECURITY",
            &format!("CREATE ROLE {owner}"),
            &format!("GRANT {owner} TO skill_messages_app"),
            &format!("ALTER TABLE skill_messages OWNER TO {owner}"),
            "CREATE POLICY everything ON skill_messages USING (true)",
        ],
    );
    let mut reasons = rls_problems(&mut conn);
    reasons.sort();
    assert_eq!(
        reasons,
        [
            format!("role skill_messages_app owns table skill_messages through role {owner}"),
            "table skill_messages does not enforce row-level security".to_owned(),
            "table skill_messages has a permissive policy everything besides tenant_isolation and \
             maintenance (for role skill_messages_maintenance alone, USING true)"
                .to_owned(),
        ]
    );
    execute_each(
        &mut conn,
        &[
            "ALTER TABLE skill_messages OWNER TO skill_messages_app",
            "ALTER TABLE skill_messages DROP CONSTRAINT skill_messages_to_user_fkey",
        ],
    );
    assert!(
        rls_problems(&mut conn).contains(
            &"table skill_messages has no foreign key skill_messages_to_user_fkey FOREIGN KEY \
          (tenant_id, to_user_id) REFERENCES users(tenant_id, id): a message could refer to \
          another tenant's user"
                .to_owned()
        )
    );
    assert!(
        rls_problems(&mut conn)
            .contains(&"role skill_messages_app owns table skill_messages".to_owned())
    );

    // Verified for names the migrations were not run with.
    let other = Names::new("skill_messages_app", "other.tenant_id").expect("plain names");
    let reasons = match verify_database(&mut TestDb::new().admin(), &other) {
        Err(Error::RlsNotEnforced(reasons)) => reasons,
        other => panic!("expected RlsNotEnforced, got {other:?}"),
    };
    assert_eq!(reasons.len(), 2, "USING and WITH CHECK: {reasons:?}");
    assert!(
        reasons[0].contains("current_setting('other.tenant_id'"),
        "{reasons:?}"
    );

    let empty = platform_only();
    let reasons = rls_problems(&mut empty.admin());
    assert!(
        reasons.contains(&"table skill_messages does not exist: run the migrations".to_owned()),
        "{reasons:?}"
    );
}

/// A policy `tenant_isolation` that is not the one the migrations create,
/// however it differs, fails the verification.
#[test]
fn verification_compares_the_policy_with_the_migrations() {
    let expected = "(tenant_id = (NULLIF(current_setting('app.current_tenant_id'::text, true), \
                    ''::text))::uuid)";
    let role = format!("{}_policy", crate::common::app_login());
    let create_role = format!("CREATE ROLE {role}");
    let to_role = format!("ALTER POLICY tenant_isolation ON skill_messages TO {role}");
    let cases: [(&[&str], String); 5] = [
        (
            &["ALTER POLICY tenant_isolation ON skill_messages USING (true)"],
            format!("policy tenant_isolation on skill_messages has USING true, not {expected}"),
        ),
        (
            &[
                "DROP POLICY tenant_isolation ON skill_messages",
                "CREATE POLICY tenant_isolation ON skill_messages FOR SELECT \
                 USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)",
            ],
            format!(
                "policy tenant_isolation on skill_messages has WITH CHECK nothing, not {expected}"
            ),
        ),
        (
            &[&create_role, &to_role],
            format!(
                "policy tenant_isolation on skill_messages applies to roles {role}, not to every role"
            ),
        ),
        (
            &["ALTER POLICY tenant_isolation ON skill_messages WITH CHECK (true)"],
            format!(
                "policy tenant_isolation on skill_messages has WITH CHECK true, not {expected}"
            ),
        ),
        (
            &["DROP POLICY tenant_isolation ON skill_messages"],
            "table skill_messages has no policy tenant_isolation".to_owned(),
        ),
    ];
    for (statements, reason) in cases {
        let db = TestDb::new();
        let mut conn = db.admin();
        execute_each(&mut conn, statements);
        let mut reasons = rls_problems(&mut conn);
        if statements[0].starts_with("DROP POLICY") && statements.len() > 1 {
            // A policy for SELECT has no WITH CHECK either.
            assert!(
                reasons.contains(
                    &"policy tenant_isolation on skill_messages is for SELECT only, not for every \
                  command"
                        .to_owned()
                )
            );
            reasons.retain(|r| !r.contains("SELECT only"));
        }
        assert_eq!(reasons, [reason], "after {statements:?}");
    }
}

/// Runs each statement as a string of its own, as Citus needs for DDL on
/// distributed tables.
fn execute_each(conn: &mut PgConnection, statements: &[&str]) {
    for statement in statements {
        conn.batch_execute(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// The reasons `verify_database` gives on `conn` with the default names.
fn rls_problems(conn: &mut PgConnection) -> Vec<String> {
    match verify_database(conn, &Names::default()) {
        Err(Error::RlsNotEnforced(reasons)) => reasons,
        other => panic!("expected RlsNotEnforced, got {other:?}"),
    }
}

/// A migration that fails is reported as `Error::Migration` and leaves
/// nothing of itself behind: each migration runs in its own transaction.
#[test]
fn a_failing_migration_is_a_typed_error_and_applies_nothing() {
    let db = platform_only();
    let mut conn = db.admin();
    conn.batch_execute("CREATE TABLE skill_messages (squatter int)")
        .expect("occupy the crate's table name");
    let before = schema_snapshot(&mut conn);
    match run_migrations(&mut conn, &Names::default()) {
        Err(error @ Error::Migration(_)) => {
            let cause = std::error::Error::source(&error).expect("the cause, as the source");
            assert!(
                cause
                    .to_string()
                    .contains("relation \"skill_messages\" already exists"),
                "{cause}"
            );
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert_same_schema(&schema_snapshot(&mut conn), &before, "after the failure");
    assert!(history(&mut conn).is_empty());
}

/// Run before the platform's tables exist, the migrations say what they
/// miss and write nothing, not even their history.
#[test]
fn migrations_without_the_platforms_tables_name_what_is_missing_and_write_nothing() {
    let db = TestDb::empty();
    let mut conn = db.admin();
    conn.batch_execute(
        "CREATE TABLE tenants (id uuid PRIMARY KEY);
         CREATE TABLE users (id uuid NOT NULL, tenant_id uuid NOT NULL, name text);",
    )
    .expect("half a platform");
    let before = schema_snapshot(&mut conn);
    match run_migrations(&mut conn, &Names::default()) {
        Err(Error::PlatformContract(mut reasons)) => {
            reasons.sort();
            assert_eq!(
                reasons,
                [
                    "table users has no column display_name",
                    "table users has no primary key or unique constraint on (tenant_id, id), \
                     which the crate's foreign keys need",
                ]
                .into_iter()
                .map(String::from)
                .chain([format!(
                    "the platform has no table skills on the search path ({})",
                    lines(&mut conn, "SELECT current_setting('search_path') AS line")[0]
                )])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
            );
        }
        other => panic!("expected PlatformContract, got {other:?}"),
    }
    assert_same_schema(&schema_snapshot(&mut conn), &before, "after the refusal");
    assert!(!has_history(&mut conn));
}

/// The migrate binary, on a database where a migration fails, says which
/// migration failed and what the server answered, not only that the
/// migrations failed, and exits with a failure.
#[test]
fn the_migrate_binary_names_the_failed_migration_and_the_servers_message() {
    let db = platform_only();
    db.admin()
        .batch_execute("CREATE TABLE skill_messages (squatter int)")
        .expect("occupy the table name the first migration needs");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skill-messages-migrate"))
        .env("DATABASE_URL", db.admin_url())
        .output()
        .expect("run skill-messages-migrate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for part in [
        "migrations failed",
        "2026-12-08-000001_skill_messages",
        "relation \"skill_messages\" already exists",
    ] {
        assert!(stderr.contains(part), "{part:?} missing from {stderr:?}");
    }
}
