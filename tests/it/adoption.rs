//! Adoption into a platform that exists: a database made by the platform's
//! own migrations (its tables with columns of their own, its own role, its
//! own row-level security on its own setting, its own migration history),
//! into which the crate moves with a deployment's own names, and out of
//! which it moves again, leaving the platform as it found it.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use skill_messages::uuid::Uuid;
use skill_messages::{
    Answer, Error, MessageQuery, Names, NewSkillMessage, Pool, SkillId, SkillMessageStatus,
    TenantId, UserId, reference_platform, revert_migrations, run_migrations, with_tenant,
    with_tenant_in_transaction,
};

use crate::common::catalog::{assert_same_schema, lines, rows, schema_snapshot};
use crate::common::{TestDb, connect};

/// The platform's own migrations, tracked in its own diesel history.
const HOST_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("tests/fixtures/host-platform/migrations");

/// The platform's tables.
const HOST_TABLES: [&str; 3] = ["tenants", "users", "skills"];

/// The tenant setting of the adoption's deployment, which the platform's
/// access migration names in its policies.
const TENANT_SETTING: &str = "adopt.tenant_id";

/// A platform's database and its roles, all named after the database.
struct Host {
    db: TestDb,
    /// The deployment's names: a runtime role of its own, the setting the
    /// platform's access migration reads.
    names: Names,
    /// Owns the database and the platform's tables; no superuser, no
    /// CREATEROLE: what a managed PostgreSQL gives.
    owner: String,
    /// The platform's own role, bound by its own policy.
    app: String,
    /// The service's login: a member of the platform's role and of the
    /// crate's runtime role.
    login: String,
}

/// One of the platform's tenants: two authors, a skill each.
#[derive(Debug, Clone, Copy)]
struct HostTenant {
    id: TenantId,
    ada: UserId,
    grace: UserId,
    engines: SkillId,
    compilers: SkillId,
}

impl HostTenant {
    fn proposal(&self, text: &'static str) -> NewSkillMessage<'static> {
        NewSkillMessage {
            from_user_id: self.ada,
            to_user_id: self.grace,
            subject_skill_id: self.engines,
            proposed_parent_skill_id: Some(self.compilers),
            message: text,
        }
    }
}

impl Host {
    /// The database made by the platform's migrations up to and including
    /// `through` (a version; all of them with `None`), with two tenants; the
    /// runtime role made by a DBA, as where the owner may not create roles.
    fn new(through: Option<&str>) -> (Self, [HostTenant; 2]) {
        let db = TestDb::empty();
        let base = db.name().to_owned();
        let (owner, app, login) = (
            format!("{base}_owner"),
            format!("{base}_app"),
            format!("{base}_login"),
        );
        let names = Names::new(&format!("{base}_runtime"), TENANT_SETTING).expect("plain names");
        db.admin()
            .batch_execute(&format!(
                "CREATE ROLE {owner} LOGIN PASSWORD '{owner}' NOSUPERUSER NOCREATEROLE;
                 CREATE ROLE {app} NOLOGIN;
                 CREATE ROLE {runtime} NOLOGIN;
                 CREATE ROLE {login} LOGIN PASSWORD '{login}' IN ROLE {app}, {runtime};
                 ALTER DATABASE \"{base}\" OWNER TO {owner};
                 ALTER SCHEMA public OWNER TO {owner};",
                runtime = names.runtime_role(),
            ))
            .expect("the platform's roles");
        let host = Host {
            db,
            names,
            owner,
            app,
            login,
        };
        host.migrate_platform(through);
        let tenants = [host.seed("acme"), host.seed("globex")];
        (host, tenants)
    }

    /// A connection as the platform's owner, with the session settings its
    /// migrations read.
    fn owner(&self) -> PgConnection {
        let mut conn = connect(&self.db.url_as(&self.owner, &[]));
        diesel::sql_query(
            "SELECT set_config('host.app_role', $1, false),
                    set_config('host.skill_messages_role', $2, false)",
        )
        .bind::<Text, _>(&self.app)
        .bind::<Text, _>(self.names.runtime_role())
        .execute(&mut conn)
        .expect("the platform's migration settings");
        conn
    }

    /// A connection as the service's login.
    fn login(&self) -> PgConnection {
        connect(&self.db.url_as(&self.login, &[]))
    }

    /// Runs the platform's pending migrations up to `through`.
    fn migrate_platform(&self, through: Option<&str>) {
        let mut conn = self.owner();
        while conn
            .has_pending_migration(HOST_MIGRATIONS)
            .expect("the platform's pending migrations")
        {
            let pending = conn
                .pending_migrations(HOST_MIGRATIONS)
                .expect("the platform's pending migrations");
            let next = pending[0].name().version().to_string();
            if through.is_some_and(|last| next.as_str() > last) {
                break;
            }
            conn.run_next_migration(HOST_MIGRATIONS)
                .expect("a platform migration");
        }
    }

    /// The versions of the platform's history.
    fn platform_history(&self) -> Vec<String> {
        self.owner()
            .applied_migrations()
            .expect("the platform's history")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A tenant, two users and a skill each, as the platform's owner makes
    /// them.
    fn seed(&self, name: &str) -> HostTenant {
        let id = || Uuid::new_v4();
        let t = HostTenant {
            id: TenantId::from_uuid(id()),
            ada: UserId::from_uuid(id()),
            grace: UserId::from_uuid(id()),
            engines: SkillId::from_uuid(id()),
            compilers: SkillId::from_uuid(id()),
        };
        diesel::sql_query(
            "WITH t AS (INSERT INTO tenants (id, name) VALUES ($1, $6) RETURNING id),
                  u AS (INSERT INTO users (tenant_id, id, email, display_name)
                        SELECT t.id, u.id, u.email, u.name FROM t,
                        (VALUES ($2, $6 || '-ada@example.com', 'Ada Lovelace'),
                                ($3, $6 || '-grace@example.com', 'Grace Hopper')) AS u(id, email, name)
                        RETURNING tenant_id)
             INSERT INTO skills (tenant_id, id, author_id, name)
             SELECT $1, s.id, s.author, s.name FROM
                 (VALUES ($4, $2, 'Analytical Engines'), ($5, $3, 'Compilers')) AS s(id, author, name)
             WHERE EXISTS (SELECT FROM u)",
        )
        .bind::<SqlUuid, _>(t.id)
        .bind::<SqlUuid, _>(t.ada)
        .bind::<SqlUuid, _>(t.grace)
        .bind::<SqlUuid, _>(t.engines)
        .bind::<SqlUuid, _>(t.compilers)
        .bind::<Text, _>(name)
        .execute(&mut self.owner())
        .expect("the platform's rows");
        t
    }

    /// The service's pool, with the deployment's names.
    fn pool(&self) -> Result<Pool, Error> {
        self.db
            .pool_builder()
            .names(self.names.clone())
            .max_size(2)
            .build(&self.db.url_as(&self.login, &[]))
    }

    /// The platform's schema, rows and history.
    fn state(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut conn = self.owner();
        (
            schema_snapshot(&mut conn),
            rows(&mut conn, &HOST_TABLES),
            self.platform_history(),
        )
    }
}

/// The whole adoption: the platform's database as it was, the crate's
/// migrations by a migrating user without CREATEROLE, the pool's
/// verification, every operation, and the crate's down migrations, after
/// which the platform's schema, rows and history are as they were.
#[test]
fn the_crate_moves_into_a_platform_and_out_again_leaving_it_as_it_was() {
    let (host, [acme, globex]) = Host::new(None);
    let before = host.state();
    let mut owner = host.owner();

    let applied = run_migrations(&mut owner, &host.names).expect("the crate's migrations");
    assert_eq!(applied.len(), 7, "{applied:?}");
    assert_eq!(
        host.platform_history(),
        before.2,
        "the platform's history holds the platform's versions only"
    );
    assert!(
        !owner
            .has_pending_migration(HOST_MIGRATIONS)
            .expect("the platform's pending migrations")
    );

    let pool = host.pool().expect("the pool verifies the platform");
    let t = pool.tenant(acme.id);
    let sent = t
        .send(acme.proposal("engines under compilers?"))
        .expect("send");
    // One proposal per pair is pending: the others propose no parent, and
    // the reverse.
    let other = t
        .send(NewSkillMessage {
            proposed_parent_skill_id: None,
            ..acme.proposal("or not?")
        })
        .expect("send another");
    let withdrawn = t
        .send(NewSkillMessage {
            subject_skill_id: acme.compilers,
            proposed_parent_skill_id: Some(acme.engines),
            ..acme.proposal("taken back")
        })
        .expect("send a third");
    assert_eq!(
        t.inbox(acme.grace, MessageQuery::new())
            .expect("inbox")
            .items
            .len(),
        3
    );
    assert_eq!(
        t.outbox(acme.ada, MessageQuery::new())
            .expect("outbox")
            .items
            .len(),
        3
    );
    assert_eq!(t.unread_count(acme.grace).expect("unread"), 3);
    let details = t.details(sent.id, acme.ada).expect("details");
    assert_eq!(
        (
            details.sender_name(),
            details.recipient_name(),
            details.subject_skill.name.as_str(),
        ),
        ("Ada Lovelace", "Grace Hopper", "Analytical Engines")
    );
    assert!(
        t.mark_read(sent.id, acme.grace)
            .expect("mark read")
            .read_at
            .is_some()
    );
    let page = t.inbox(acme.grace, MessageQuery::new()).expect("inbox");
    assert_eq!(
        t.mark_all_read(acme.grace, &page.read_mark())
            .expect("mark all"),
        2
    );
    let accepted = t
        .answer(sent.id, acme.grace, Answer::Accept)
        .expect("accept");
    assert_eq!(accepted.status, SkillMessageStatus::Accepted);
    assert_eq!(
        t.withdraw(withdrawn.id, acme.ada).expect("withdraw").status,
        SkillMessageStatus::Withdrawn
    );
    assert!(matches!(
        t.answer(other.id, acme.ada, Answer::Decline),
        Err(Error::NotRecipient { .. })
    ));
    // In the scope, the platform's own policy for the runtime role shows
    // the scope's tenant's users only; the other tenant sees nothing.
    let users_seen: i64 = pool
        .with_tenant(acme.id, |tx| {
            Ok(diesel::sql_query("SELECT count(*) AS n FROM users")
                .get_result::<Count>(tx.connection())?
                .n)
        })
        .expect("count users in the scope");
    assert_eq!(users_seen, 2);
    let g = pool.tenant(globex.id);
    assert_eq!(g.unread_count(globex.grace).expect("unread"), 0);
    assert!(matches!(
        g.send(acme.proposal("across tenants")),
        Err(Error::UnknownUser(_))
    ));
    drop(pool);

    let reverted = revert_migrations(&mut owner, &host.names, usize::MAX)
        .expect("the crate's down migrations");
    assert_eq!(reverted.len(), 7, "{reverted:?}");
    let after = host.state();
    assert_same_schema(&after.0, &before.0, "the platform's schema");
    assert_eq!(after.1, before.1, "the platform's rows");
    assert_eq!(after.2, before.2, "the platform's history");
    assert!(
        lines(
            &mut owner,
            "SELECT relname::text AS line FROM pg_class WHERE relname LIKE 'skill_message%'"
        )
        .is_empty(),
        "nothing of the crate's is left"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The platform's migrations and the crate's, each with its own history,
/// run in either order give the same database; and the platform's tooling
/// reverts and reapplies its own latest migration with the crate in place.
#[test]
fn the_platforms_migrations_and_the_crates_run_in_either_order() {
    let access = "20261208000001";
    // The platform's access migration after the crate's.
    let (late, _) = Host::new(Some("20250901000001"));
    run_migrations(&mut late.owner(), &late.names).expect("the crate's migrations");
    match late.pool() {
        Err(Error::PlatformContract(reasons)) => {
            assert_eq!(reasons.len(), 8 + 3, "8 columns, 3 policies: {reasons:#?}")
        }
        other => panic!("expected PlatformContract before the access migration, got {other:?}"),
    }
    late.migrate_platform(None);
    late.pool()
        .expect("verified once the platform grants access");

    // The platform's access migration before the crate's.
    let (early, _) = Host::new(None);
    run_migrations(&mut early.owner(), &early.names).expect("the crate's migrations");
    early.pool().expect("verified");

    // The same catalogue, but for the names of the roles.
    let normalized = |host: &Host| -> Vec<String> {
        schema_snapshot(&mut host.owner())
            .into_iter()
            .map(|line| line.replace(host.db.name(), "DB"))
            .collect()
    };
    assert_same_schema(&normalized(&late), &normalized(&early), "either order");

    // The platform's own tooling, with the crate in place: it sees its own
    // versions, reverts its latest and applies it again.
    let mut owner = early.owner();
    let reverted = owner
        .revert_last_migration(HOST_MIGRATIONS)
        .expect("the platform reverts its latest migration")
        .to_string();
    assert_eq!(reverted, access);
    assert!(matches!(early.pool(), Err(Error::PlatformContract(_))));
    early.migrate_platform(None);
    early.pool().expect("verified again");
}

/// The verification names exactly what the platform's tables lack, one
/// reason per missing part, and says nothing of what the crate does not
/// rely on.
#[test]
fn a_platform_that_misses_part_of_the_contract_is_refused_with_what_it_misses() {
    let (host, _) = Host::new(None);
    run_migrations(&mut host.owner(), &host.names).expect("the crate's migrations");
    let role = host.names.runtime_role();
    let tenant = format!("nullif(current_setting('{TENANT_SETTING}', true), '')::uuid");
    // A change, what undoes it, and the one reason it gives.
    let cases: [(&str, String, &str); 5] = [
        (
            "REVOKE SELECT (display_name) ON users FROM {role}",
            "GRANT SELECT (display_name) ON users TO {role}".into(),
            "role {role} may not read column users.display_name: \
             GRANT SELECT (display_name) ON users TO {role}",
        ),
        (
            "DROP POLICY skill_messages ON skills",
            format!(
                "CREATE POLICY skill_messages ON skills FOR SELECT TO {{role}} USING (tenant_id = {tenant})"
            ),
            "table skills has row-level security and no permissive policy lets role {role} read \
             it: every skill would look missing to the crate",
        ),
        (
            "ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL",
            "ALTER TABLE users ALTER COLUMN display_name SET NOT NULL".into(),
            "column users.display_name may be null",
        ),
        (
            "ALTER TABLE skills ALTER COLUMN name TYPE varchar(200)",
            "ALTER TABLE skills ALTER COLUMN name TYPE text".into(),
            "column skills.name is character varying(200), not text",
        ),
        (
            // What the crate does not read may change freely.
            "ALTER TABLE tenants DROP COLUMN plan; ALTER TABLE skills DROP COLUMN parent_skill_id; \
             ALTER TABLE users ADD COLUMN avatar text; ALTER TABLE users DROP COLUMN locale; \
             DROP POLICY host_tenancy ON users",
            String::new(),
            "",
        ),
    ];
    let mut owner = host.owner();
    let mut login = host.login();
    for (change, undo, expected) in cases {
        let change = change.replace("{role}", role);
        let expected = expected.replace("{role}", role);
        owner
            .batch_execute(&change)
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        let verified = skill_messages::verify_database(&mut login, &host.names);
        if expected.is_empty() {
            assert!(verified.is_ok(), "{change}: {verified:?}");
        } else {
            match verified {
                Err(Error::PlatformContract(reasons)) => {
                    assert_eq!(reasons, [expected], "after {change}")
                }
                other => panic!("{change}: expected PlatformContract, got {other:?}"),
            }
        }
        if !undo.is_empty() {
            let undo = undo.replace("{role}", role);
            owner
                .batch_execute(&undo)
                .unwrap_or_else(|e| panic!("{undo}: {e}"));
        }
    }
}

/// Where the migrating user may not create roles, the crate's migrations
/// say so and what to do; once a DBA has made the role, they succeed.
#[test]
fn a_migrating_user_without_createrole_needs_the_runtime_role_made_first() {
    let (host, _) = Host::new(None);
    let missing =
        Names::new(&format!("{}_missing", host.db.name()), TENANT_SETTING).expect("plain names");
    let mut owner = host.owner();
    let refused = run_migrations(&mut owner, &missing).expect_err("no role, no CREATEROLE");
    let chain = crate::common::error_chain(&refused);
    assert!(
        chain.contains(&format!(
            "the runtime role {role} does not exist, and {owner} may not create it: a DBA \
             creates it first (CREATE ROLE {role} NOLOGIN)",
            role = missing.runtime_role(),
            owner = host.owner,
        )),
        "{chain}"
    );
    host.db
        .admin()
        .batch_execute(&format!("CREATE ROLE {} NOLOGIN", missing.runtime_role()))
        .expect("the DBA makes the role");
    let applied = run_migrations(&mut owner, &missing).expect("migrated once the role exists");
    assert_eq!(
        applied.len(),
        6,
        "the migrations the failure held back: {applied:?}"
    );
}

/// A service accepts a proposal and groups the skills in its own table in
/// one transaction: a rollback undoes both, a commit keeps both, and the
/// service's statements after the crate's part run with its own role and
/// settings, as before it.
#[test]
fn calls_join_the_platforms_transaction_and_commit_or_roll_back_with_it() {
    let (host, [acme, _]) = Host::new(None);
    run_migrations(&mut host.owner(), &host.names).expect("the crate's migrations");
    let pool = host.pool().expect("pool");
    let sent = pool
        .tenant(acme.id)
        .send(acme.proposal("engines under compilers?"))
        .expect("send");
    let mut conn = host.login();
    let state = |conn: &mut PgConnection| -> (String, String, String, String) {
        let line = lines(
            conn,
            &format!(
                "SELECT concat_ws('|', current_user, current_setting('host.tenant', true),
                         coalesce(current_setting('{TENANT_SETTING}', true), ''),
                         current_setting('search_path')) AS line"
            ),
        )
        .remove(0);
        let mut parts = line.split('|').map(str::to_owned);
        let mut next = || parts.next().unwrap_or_default();
        (next(), next(), next(), next())
    };
    let group = |commit: bool, conn: &mut PgConnection| {
        conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SET LOCAL ROLE {app}; SET LOCAL host.tenant = '{tenant}';
                 SET LOCAL search_path = pg_catalog, public",
                app = host.app,
                tenant = acme.id
            ))?;
            let before = state(conn);
            let accepted = with_tenant_in_transaction(conn, &host.names, acme.id, |tx| {
                tx.answer(sent.id, acme.grace, Answer::Accept)
            })?;
            assert_eq!(accepted.status, SkillMessageStatus::Accepted);
            assert_eq!(
                state(conn),
                before,
                "the service's role and settings, restored"
            );
            // The platform's own write, as its own role, after the crate's.
            let grouped = diesel::sql_query(
                "UPDATE skills SET parent_skill_id = $1 WHERE tenant_id = $2 AND id = $3",
            )
            .bind::<SqlUuid, _>(acme.compilers)
            .bind::<SqlUuid, _>(acme.id)
            .bind::<SqlUuid, _>(acme.engines)
            .execute(conn)?;
            assert_eq!(grouped, 1);
            if commit {
                Ok(())
            } else {
                Err(Error::Database(diesel::result::Error::RollbackTransaction))
            }
        })
    };
    let parent = |host: &Host| {
        lines(
            &mut host.owner(),
            &format!(
                "SELECT coalesce(parent_skill_id::text, 'none') AS line FROM skills WHERE id = '{}'",
                acme.engines
            ),
        )
    };
    let status = |pool: &Pool| {
        pool.tenant(acme.id)
            .details(sent.id, acme.ada)
            .expect("details")
            .message
            .status
    };

    assert!(group(false, &mut conn).is_err());
    assert_eq!(status(&pool), SkillMessageStatus::Pending, "rolled back");
    assert_eq!(parent(&host), ["none"], "rolled back");
    group(true, &mut conn).expect("commit both");
    assert_eq!(status(&pool), SkillMessageStatus::Accepted, "committed");
    assert_eq!(parent(&host), [acme.compilers.to_string()], "committed");

    // A refusal inside rolls back the crate's part only, and the
    // transaction goes on.
    let refused = conn.transaction(|conn| {
        let refused = with_tenant_in_transaction(conn, &host.names, acme.id, |tx| {
            tx.answer(sent.id, acme.grace, Answer::Decline)
        });
        assert!(
            matches!(refused, Err(Error::NotPending { .. })),
            "{refused:?}"
        );
        lines(conn, "SELECT current_user::text AS line")
            .first()
            .cloned()
            .ok_or(Error::NotInTransaction)
    });
    assert_eq!(refused.expect("the transaction goes on"), host.login);

    // Outside a transaction, there is nothing to join.
    let alone = with_tenant_in_transaction(&mut conn, &host.names, acme.id, |tx| {
        tx.unread_count(acme.grace)
    });
    assert!(matches!(alone, Err(Error::NotInTransaction)), "{alone:?}");
}

/// The async face joins the caller's transaction the same way.
#[cfg(feature = "async")]
#[tokio::test]
async fn async_calls_join_the_platforms_transaction_and_roll_back_with_it() {
    use diesel_async::{
        AnsiTransactionManager, AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
    };
    use skill_messages::asynchronous;

    let (host, [acme, _]) = Host::new(None);
    run_migrations(&mut host.owner(), &host.names).expect("the crate's migrations");
    let sent = host
        .pool()
        .expect("pool")
        .tenant(acme.id)
        .send(acme.proposal("engines under compilers?"))
        .expect("send");
    let mut conn = AsyncPgConnection::establish(&host.db.url_as(&host.login, &[]))
        .await
        .expect("connect");
    // The service's transaction, as diesel-async's `transaction` opens it.
    AnsiTransactionManager::begin_transaction(&mut conn)
        .await
        .expect("BEGIN");
    let accepted =
        asynchronous::with_tenant_in_transaction(&mut conn, &host.names, acme.id, async |tx| {
            tx.answer(sent.id, acme.grace, Answer::Accept).await
        })
        .await
        .expect("accept in the transaction");
    assert_eq!(accepted.status, SkillMessageStatus::Accepted);
    let role: String = RunQueryDsl::get_result(
        diesel::select(diesel::dsl::sql::<Text>("current_user::text")),
        &mut conn,
    )
    .await
    .expect("the role");
    assert_eq!(role, host.login, "the login's own role, restored");
    AnsiTransactionManager::rollback_transaction(&mut conn)
        .await
        .expect("ROLLBACK");
    let status = host
        .pool()
        .expect("pool")
        .tenant(acme.id)
        .details(sent.id, acme.ada)
        .expect("details")
        .message
        .status;
    assert_eq!(status, SkillMessageStatus::Pending, "rolled back");
}

/// Two deployments on one cluster, each with its own names: a login of one
/// can connect to the other's database and take its own role there, and
/// still reads nothing; it cannot take the other's role; and the
/// verification warns of the databases the runtime role may connect to,
/// until CONNECT is revoked from PUBLIC.
#[test]
fn two_deployments_on_one_cluster_cannot_read_each_others_rows() {
    let deployment = |label: &str| {
        let db = TestDb::empty();
        let base = db.name().to_owned();
        let names = Names::new(&format!("{base}_runtime"), &format!("{label}.tenant_id"))
            .expect("plain names");
        let login = format!("{base}_login");
        let mut admin = db.admin();
        reference_platform::run_migrations(&mut admin, &names).expect("the reference platform");
        run_migrations(&mut admin, &names).expect("the crate");
        admin
            .batch_execute(&format!(
                "CREATE ROLE {login} LOGIN PASSWORD '{login}' IN ROLE {}",
                names.runtime_role()
            ))
            .expect("the deployment's login");
        let tenant = crate::common::seed_tenant(&mut admin, label);
        (db, names, login, tenant)
    };
    let (db_a, names_a, login_a, tenant_a) = deployment("first");
    let (db_b, names_b, _login_b, tenant_b) = deployment("second");
    let pool_a = db_a
        .pool_builder()
        .names(names_a.clone())
        .build(&db_a.url_as(&login_a, &[]))
        .expect("A's pool");
    pool_a
        .tenant(tenant_a.tenant)
        .send(tenant_a.proposal("in A"))
        .expect("send in A");
    with_tenant(
        &mut crate::common::connect(&db_b.admin_url()),
        &names_b,
        tenant_b.tenant,
        |tx| tx.send(tenant_b.proposal("in B")).map(drop),
    )
    .expect("send in B");

    // A's login in B's database: its own role has nothing there, B's is not
    // its to take, and A's pool does not verify.
    let mut stray = connect(&db_b.url_as(&login_a, &[]));
    for (attempt, refusal) in [
        (
            format!(
                "SET ROLE {}; SELECT set_config('{}', '{}', false); SELECT count(*) FROM skill_messages",
                names_a.runtime_role(),
                names_a.tenant_setting(),
                tenant_b.tenant
            ),
            "permission denied for table skill_messages",
        ),
        (
            format!("RESET ROLE; SET ROLE {}", names_b.runtime_role()),
            "permission denied to set role",
        ),
        (
            format!(
                "RESET ROLE; SET ROLE {}; SELECT count(*) FROM users",
                names_a.runtime_role()
            ),
            "permission denied for table users",
        ),
    ] {
        match stray.batch_execute(&attempt) {
            Err(diesel::result::Error::DatabaseError(_, info)) => {
                assert!(
                    info.message().contains(refusal),
                    "{attempt}: {}",
                    info.message()
                )
            }
            other => panic!("{attempt} must be refused, got {other:?}"),
        }
    }
    let built = db_b
        .pool_builder()
        .names(names_a.clone())
        .build(&db_b.url_as(&login_a, &[]));
    assert!(
        matches!(built, Err(Error::RlsNotEnforced(_))),
        "A's names do not verify in B: {built:?}"
    );

    // The warning, and the step that removes it.
    let warns_of_b = |pool: &Pool| {
        pool.warnings().iter().any(|w| {
            w.contains(&format!("may connect to database {}", db_b.name()))
                && w.contains(&format!(
                    "REVOKE CONNECT ON DATABASE {} FROM PUBLIC",
                    db_b.name()
                ))
        })
    };
    assert!(warns_of_b(&pool_a), "{:#?}", pool_a.warnings());
    db_b.admin()
        .batch_execute(&format!(
            "REVOKE CONNECT ON DATABASE \"{}\" FROM PUBLIC",
            db_b.name()
        ))
        .expect("revoke CONNECT");
    let pool_a = db_a
        .pool_builder()
        .names(names_a.clone())
        .build(&db_a.url_as(&login_a, &[]))
        .expect("A's pool again");
    assert!(!warns_of_b(&pool_a), "{:#?}", pool_a.warnings());
    assert!(
        PgConnection::establish(&db_b.url_as(&login_a, &[])).is_err(),
        "A's login can no longer connect to B"
    );
}
