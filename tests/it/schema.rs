//! The migrations: reversible step by step, safe to run concurrently, and
//! leaving a catalogue in which row-level security cannot be sidestepped.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::common::TestDb;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use skill_messages::{Error, MIGRATIONS, run_migrations, verify_row_level_security};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// How many migrations the crate embeds.
fn migration_count() -> usize {
    diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .expect("the embedded migrations")
        .len()
}

fn lines(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.line)
        .collect()
}

/// Everything the migrations define in the database, one line per fact,
/// sorted: tables and their settings, columns, constraints, indexes,
/// policies, types, privileges and comments.
fn schema_snapshot(conn: &mut PgConnection) -> Vec<String> {
    lines(
        conn,
        r#"
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relname NOT LIKE '__diesel_schema_migrations%'
)
SELECT format('relation %s kind=%s rls=%s forced=%s acl=%s', relname, relkind,
              relrowsecurity, relforcerowsecurity,
              -- A revoked grant leaves the default privileges spelled out.
              coalesce(relacl, acldefault('r', relowner))) AS line
FROM rel JOIN pg_class USING (oid, relname, relkind, relrowsecurity, relforcerowsecurity)
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s acl=%s', rel.relname, a.attname,
              format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attacl)
FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE rel.relkind = 'r'
UNION ALL
SELECT format('constraint %s.%s %s', rel.relname, con.conname, pg_get_constraintdef(con.oid))
FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
UNION ALL
SELECT format('index %s', replace(pg_get_indexdef(i.indexrelid), current_schema() || '.', ''))
FROM pg_index i JOIN rel ON rel.oid = i.indrelid
UNION ALL
SELECT format('policy %s.%s %s %s using=%s check=%s', tablename, policyname, cmd, roles,
              qual, with_check)
FROM pg_policies WHERE schemaname = current_schema()
UNION ALL
SELECT format('type %s %s', t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder))
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
GROUP BY t.typname
UNION ALL
SELECT format('function %s', p.oid::regprocedure)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
UNION ALL
SELECT format('comment %s %s', d.objoid::regclass, d.description)
FROM pg_description d JOIN rel ON rel.oid = d.objoid AND d.objsubid = 0
UNION ALL
SELECT format('comment %s.%s %s', rel.relname, d.objsubid, d.description)
FROM pg_description d JOIN rel ON rel.oid = d.objoid AND d.objsubid > 0
ORDER BY 1
"#,
    )
}

/// Asserts two snapshots are equal, showing only the lines that differ.
fn assert_same_schema(actual: &[String], expected: &[String], context: &str) {
    let only_actual: Vec<_> = actual.iter().filter(|l| !expected.contains(l)).collect();
    let only_expected: Vec<_> = expected.iter().filter(|l| !actual.contains(l)).collect();
    assert!(
        only_actual.is_empty() && only_expected.is_empty(),
        "{context}\nunexpected: {only_actual:#?}\nmissing: {only_expected:#?}"
    );
}

#[test]
fn each_down_migration_reverts_its_up_migration() {
    let db = TestDb::empty();
    let mut conn = db.admin();

    // Apply one migration at a time, remembering the schema before each.
    let mut before = Vec::new();
    while conn
        .has_pending_migration(MIGRATIONS)
        .expect("list pending migrations")
    {
        before.push(schema_snapshot(&mut conn));
        conn.run_next_migration(MIGRATIONS)
            .expect("apply a migration");
    }
    assert_eq!(
        before.len(),
        migration_count(),
        "every migration, one at a time"
    );
    let migrated = schema_snapshot(&mut conn);
    assert!(
        migrated
            .iter()
            .any(|l| l.starts_with("policy skill_messages.")),
        "the migrated schema has the policies: {migrated:#?}"
    );

    // Revert them one at a time: each leaves the schema as it found it.
    while let Some(expected) = before.pop() {
        let reverted = conn
            .revert_last_migration(MIGRATIONS)
            .expect("revert a migration")
            .to_string();
        let context = format!("after reverting {reverted}");
        assert_same_schema(&schema_snapshot(&mut conn), &expected, &context);
    }
    assert!(schema_snapshot(&mut conn).is_empty(), "nothing is left");

    // And up again gives the same schema as the first time.
    run_migrations(&mut conn).expect("migrate again");
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
/// and each migration is applied by exactly one of them.
#[test]
fn concurrent_migration_processes_apply_each_migration_once() {
    const PROCESSES: usize = 6;
    let db = TestDb::empty();
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
    let recorded = lines(
        &mut conn,
        "SELECT version AS line FROM __diesel_schema_migrations ORDER BY 1",
    );
    assert_eq!(recorded, distinct.into_iter().cloned().collect::<Vec<_>>());
    assert!(
        run_migrations(&mut conn)
            .expect("nothing pending")
            .is_empty()
    );
}

const TABLES: [&str; 4] = ["tenants", "users", "skills", "skill_messages"];

#[test]
fn every_table_forces_one_tenant_policy_for_every_command() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let tables = lines(
        &mut conn,
        "SELECT format('%s %s %s', relname, relrowsecurity, relforcerowsecurity) AS line
         FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
           AND relname <> '__diesel_schema_migrations' ORDER BY 1",
    );
    assert_eq!(
        tables,
        [
            "skill_messages t t",
            "skills t t",
            "tenants t t",
            "users t t"
        ]
    );
    let policies = lines(
        &mut conn,
        "SELECT format('%s %s %s %s %s', tablename, policyname, permissive, cmd, roles)
             AS line
         FROM pg_policies WHERE schemaname = current_schema() ORDER BY 1",
    );
    assert_eq!(
        policies,
        TABLES
            .iter()
            .map(|t| format!("{t} tenant_isolation PERMISSIVE ALL {{public}}"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    // USING and WITH CHECK are the same tenant test on every table.
    let expressions = lines(
        &mut conn,
        "SELECT DISTINCT format('%s | %s', replace(qual, '(id ', '(tenant_id '),
                                replace(with_check, '(id ', '(tenant_id '))
             AS line
         FROM pg_policies WHERE schemaname = current_schema()",
    );
    assert_eq!(expressions.len(), 1, "{expressions:?}");
    assert!(
        expressions[0].contains("current_setting('app.current_tenant_id'::text, true)"),
        "{expressions:?}"
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
    assert_eq!(
        table_privileges,
        [
            "skill_messages SELECT",
            "skills SELECT",
            "tenants SELECT",
            "users SELECT"
        ]
    );
    let column_privileges = lines(
        &mut conn,
        "SELECT format('%s %s', privilege_type, string_agg(column_name, ',' ORDER BY column_name))
             AS line
         FROM information_schema.column_privileges
         WHERE grantee = 'skill_messages_app' AND table_name = 'skill_messages'
           AND table_schema = current_schema() AND privilege_type <> 'SELECT'
         GROUP BY privilege_type ORDER BY 1",
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
                "INSERT {defaulted}from_user_id,id,message,proposed_parent_skill_id,\
                 {status}subject_skill_id,tenant_id,to_user_id"
            ),
            "UPDATE read_at,responded_at,status".to_owned(),
        ]
    );

    verify_row_level_security(&mut conn).expect("the migrated database enforces RLS");
}

#[test]
fn every_foreign_key_has_an_index_led_by_its_columns() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let foreign_keys = lines(
        &mut conn,
        "SELECT format('%s.%s', conrelid::regclass, conname) AS line
         FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
         ORDER BY 1",
    );
    assert_eq!(foreign_keys.len(), 8, "{foreign_keys:#?}");
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
fn verification_refuses_a_database_where_the_policies_would_not_bind() {
    let db = TestDb::new();
    let mut conn = db.admin();
    conn.batch_execute("ALTER TABLE skills NO FORCE ROW LEVEL SECURITY")
        .expect("unforce");
    conn.batch_execute("ALTER TABLE skill_messages OWNER TO skill_messages_app")
        .expect("give the table away");
    // A role the runtime role can take owns a table; a second policy
    // would let rows through that the tenant's does not.
    let owner = format!("{}_owner", crate::common::app_login());
    execute_each(
        &mut conn,
        &[
            &format!("CREATE ROLE {owner}"),
            &format!("GRANT {owner} TO skill_messages_app"),
            &format!("ALTER TABLE users OWNER TO {owner}"),
            "CREATE POLICY everything ON tenants USING (true)",
        ],
    );
    let mut reasons = rls_problems(&mut conn);
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "role skill_messages_app owns table skill_messages".to_owned(),
            format!("role skill_messages_app owns table users through role {owner}"),
            "table skills does not enforce row-level security".to_owned(),
            "table tenants has a permissive policy everything besides tenant_isolation".to_owned(),
        ]
    );

    let empty = TestDb::empty();
    let reasons = rls_problems(&mut empty.admin());
    assert!(
        reasons.contains(&"table skill_messages does not exist: run the migrations".to_owned()),
        "{reasons:?}"
    );
}

/// A policy `tenant_isolation` that is not the one the migrations create,
/// however it differs, fails the verification.
#[test]
fn verification_compares_each_policy_with_the_migrations() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let role = format!("{}_policy", crate::common::app_login());
    execute_each(
        &mut conn,
        &[
            "ALTER POLICY tenant_isolation ON skill_messages USING (true)",
            "DROP POLICY tenant_isolation ON users",
            "CREATE POLICY tenant_isolation ON users FOR SELECT \
             USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)",
            &format!("CREATE ROLE {role}"),
            &format!("ALTER POLICY tenant_isolation ON skills TO {role}"),
            "DROP POLICY tenant_isolation ON tenants",
        ],
    );
    let mut reasons = rls_problems(&mut conn);
    reasons.sort();
    let expected = "(tenant_id = (NULLIF(current_setting('app.current_tenant_id'::text, true), \
                    ''::text))::uuid)";
    assert_eq!(
        reasons,
        [
            format!("policy tenant_isolation on skill_messages has USING true, not {expected}"),
            format!("policy tenant_isolation on skills applies to roles {role}, not to every role"),
            format!("policy tenant_isolation on users has WITH CHECK nothing, not {expected}"),
            "policy tenant_isolation on users is for SELECT only, not for every command".into(),
            "table tenants has no policy tenant_isolation".into(),
        ]
    );
}

/// Runs each statement as a string of its own, as Citus needs for DDL on
/// distributed tables.
fn execute_each(conn: &mut PgConnection, statements: &[&str]) {
    for statement in statements {
        conn.batch_execute(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// The reasons `verify_row_level_security` gives on `conn`.
fn rls_problems(conn: &mut PgConnection) -> Vec<String> {
    match verify_row_level_security(conn) {
        Err(Error::RlsNotEnforced(reasons)) => reasons,
        other => panic!("expected RlsNotEnforced, got {other:?}"),
    }
}

/// A migration that fails is reported as `Error::Migration` and leaves
/// nothing of itself behind: each migration runs in its own transaction.
#[test]
fn a_failing_migration_is_a_typed_error_and_applies_nothing() {
    let db = TestDb::empty();
    let mut conn = db.admin();
    conn.batch_execute("CREATE TABLE skills (squatter int)")
        .expect("occupy a table name the migrations need");
    let before = schema_snapshot(&mut conn);
    match run_migrations(&mut conn) {
        Err(error @ Error::Migration(_)) => {
            let cause = std::error::Error::source(&error).expect("the cause, as the source");
            assert!(
                cause
                    .to_string()
                    .contains("relation \"skills\" already exists"),
                "{cause}"
            );
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    assert_same_schema(&schema_snapshot(&mut conn), &before, "after the failure");
    let applied = lines(
        &mut conn,
        "SELECT version AS line FROM __diesel_schema_migrations",
    );
    assert!(applied.is_empty(), "{applied:?}");
}

/// The migrate binary, on a database where a migration fails, says which
/// migration failed and what the server answered, not only that the
/// migrations failed, and exits with a failure.
#[test]
fn the_migrate_binary_names_the_failed_migration_and_the_servers_message() {
    let db = TestDb::empty();
    db.admin()
        .batch_execute("CREATE TABLE tenants (squatter int)")
        .expect("occupy a table name the first migration needs");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skill-messages-migrate"))
        .env("DATABASE_URL", db.admin_url())
        .output()
        .expect("run skill-messages-migrate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for part in [
        "migrations failed",
        "2026-11-23-000001_create_tenants_users_skills",
        "relation \"tenants\" already exists",
    ] {
        assert!(stderr.contains(part), "{part:?} missing from {stderr:?}");
    }
}

/// The migration that adds `withdrawn` reverts only while no message is
/// withdrawn, and says why when one is; every existing row stays valid
/// when it is applied.
#[test]
fn the_withdrawn_status_reverts_only_while_no_message_uses_it() {
    let db = TestDb::new();
    let mut conn = db.admin();
    let a = crate::common::seed_tenant(&mut conn, "tenant-a");
    conn.batch_execute(&format!(
        "INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id, \
             message, status, responded_at)
         VALUES ('{t}', '{from}', '{to}', '{skill}', 'taken back', 'withdrawn', now())",
        t = a.tenant,
        from = a.alice,
        to = a.bob,
        skill = a.skill,
    ))
    .expect("a withdrawn message");
    // The status order, which keeps a withdrawn message withdrawn, goes
    // first.
    conn.revert_last_migration(MIGRATIONS)
        .expect("revert the status order");
    let refused = conn
        .revert_last_migration(MIGRATIONS)
        .expect_err("refused while a message is withdrawn");
    assert!(
        refused
            .to_string()
            .contains("cannot revert the withdrawn status: 1 skill messages are withdrawn"),
        "{refused}"
    );
    let labels = lines(
        &mut conn,
        "SELECT unnest(enum_range(NULL::skill_message_status))::text AS line",
    );
    assert_eq!(labels, ["pending", "accepted", "declined", "withdrawn"]);

    conn.batch_execute("UPDATE skill_messages SET status = 'declined'")
        .expect("answer it instead");
    conn.revert_last_migration(MIGRATIONS)
        .expect("reverted once no message is withdrawn");
    let labels = lines(
        &mut conn,
        "SELECT unnest(enum_range(NULL::skill_message_status))::text AS line",
    );
    assert_eq!(labels, ["pending", "accepted", "declined"]);
    let kept = lines(&mut conn, "SELECT status::text AS line FROM skill_messages");
    assert_eq!(kept, ["declined"]);
}
