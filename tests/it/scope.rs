//! The tenant scope: one transaction, one tenant, the runtime role, and a
//! connection that leaves it clean however the scope ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Fixture, TestDb, app_login, seed_tenant};
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Error, MessageQuery, Names, NewSkillMessage, Pool, SkillMessageId, TenantId,
    with_tenant,
};

fn two_tenants() -> (TestDb, Fixture, Fixture) {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    (db, a, b)
}

fn stored_messages(db: &TestDb) -> i64 {
    messages::table
        .count()
        .get_result(&mut db.admin())
        .expect("count as the superuser")
}

/// What a connection carries outside any scope.
#[derive(Debug, PartialEq)]
struct Session {
    current_user: String,
    tenant: Option<String>,
    in_transaction: bool,
}

fn session(conn: &mut PgConnection) -> Session {
    let (current_user, tenant): (String, Option<String>) = diesel::select((
        diesel::dsl::sql::<Text>("current_user::text"),
        diesel::dsl::sql::<Nullable<Text>>("current_setting('app.current_tenant_id', true)"),
    ))
    .get_result(conn)
    .expect("read the session");
    // SAVEPOINT succeeds only inside a transaction block.
    let in_transaction = diesel::sql_query("SAVEPOINT probe").execute(conn).is_ok();
    if in_transaction {
        conn.batch_execute("RELEASE SAVEPOINT probe")
            .expect("release");
    }
    Session {
        current_user,
        tenant: tenant.filter(|t| !t.is_empty()),
        in_transaction,
    }
}

fn clean(login: &str) -> Session {
    Session {
        current_user: login.to_owned(),
        tenant: None,
        in_transaction: false,
    }
}

#[test]
fn a_scope_commits_together_on_ok_and_rolls_back_together_on_err() {
    let (db, a, _) = two_tenants();
    let mut conn = db.app();

    let failed: Result<(), Error> = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        tx.send(a.proposal("first"))?;
        tx.send(a.proposal("second"))?;
        Err(Error::InvalidCursor)
    });
    assert!(matches!(failed, Err(Error::InvalidCursor)));
    assert_eq!(stored_messages(&db), 0, "an error rolls every call back");
    assert_eq!(session(&mut conn), clean(app_login()));

    let (first, second, unread) = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        let first = tx.send(a.proposal("first"))?;
        let second = tx.send(a.proposal("second"))?;
        Ok((first, second, tx.unread_count(a.bob)?))
    })
    .expect("a scope of three calls");
    assert_eq!(
        unread, 2,
        "a call sees what earlier calls of its scope wrote"
    );
    assert_eq!(stored_messages(&db), 2);
    assert_eq!(
        first.created_at, second.created_at,
        "one transaction, one now()"
    );
    assert_eq!(session(&mut conn), clean(app_login()));
}

/// A closure that ignores a failed statement and returns `Ok` does not get
/// a silent rollback dressed as a commit: the scope fails.
#[test]
fn a_scope_whose_statement_failed_cannot_commit() {
    let (db, a, _) = two_tenants();
    let mut conn = db.app();
    let result = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        let kept = tx.send(a.proposal("would be lost"))?;
        let ignored = diesel::sql_query("SELECT 1 / 0").execute(tx.connection());
        assert!(ignored.is_err());
        Ok(kept)
    });
    match result {
        Err(Error::Database(e)) => assert!(
            e.to_string().contains("current transaction is aborted"),
            "{e}"
        ),
        other => panic!("expected the scope to fail, got {other:?}"),
    }
    assert_eq!(stored_messages(&db), 0);
    assert_eq!(session(&mut conn), clean(app_login()));
}

/// Every refusal a call can give leaves its scope usable: a scope that
/// meets each of them and then sends a message commits that message, and
/// the refused calls wrote nothing. A database failure is no refusal.
#[test]
fn every_refusal_leaves_the_scope_usable() {
    let (db, a, b) = two_tenants();
    let pool = db.pool_of(1);
    let answered = pool
        .with_tenant(a.tenant, |tx| {
            let m = tx.send(a.proposal("answered"))?;
            tx.answer(m.id, a.bob, Answer::Accept)
        })
        .expect("an answered message");
    let unknown_message = SkillMessageId::from(uuid::Uuid::new_v4());
    let refusals = pool
        .with_tenant(a.tenant, |tx| {
            let p = |text| a.proposal(text);
            let refusals = vec![
                tx.send(p("   ")).map(drop),
                tx.send(NewSkillMessage {
                    to_user_id: a.alice,
                    ..p("me")
                })
                .map(drop),
                tx.send(NewSkillMessage {
                    subject_skill_id: a.skill,
                    proposed_parent_skill_id: Some(a.skill),
                    ..p("own parent")
                })
                .map(drop),
                tx.send(NewSkillMessage {
                    to_user_id: b.bob,
                    ..p("other tenant's user")
                })
                .map(drop),
                tx.send(NewSkillMessage {
                    from_user_id: b.alice,
                    ..p("other tenant's sender")
                })
                .map(drop),
                tx.send(NewSkillMessage {
                    subject_skill_id: b.skill,
                    ..p("other tenant's skill")
                })
                .map(drop),
                tx.send(NewSkillMessage {
                    proposed_parent_skill_id: Some(b.parent),
                    ..p("other tenant's parent")
                })
                .map(drop),
                tx.inbox(b.bob, MessageQuery::new()).map(drop),
                tx.inbox(a.bob, MessageQuery::new().limit(0)).map(drop),
                tx.unread_count(b.bob).map(drop),
                tx.mark_read(unknown_message, a.bob).map(drop),
                tx.mark_read(answered.id, a.alice).map(drop),
                tx.answer(answered.id, a.bob, Answer::Decline).map(drop),
                "not a cursor".parse::<skill_messages::Cursor>().map(drop),
            ];
            let kinds: Vec<String> = refusals
                .into_iter()
                .map(|refused| {
                    let error = refused.expect_err("refused");
                    assert!(error.is_refusal(), "{error:?}");
                    format!("{error:?}")
                        .split(['(', ' '])
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            tx.send(a.proposal("sent after every refusal"))?;
            Ok(kinds)
        })
        .expect("the scope commits after its refusals");
    assert_eq!(
        refusals,
        [
            "InvalidMessage",
            "SelfMessage",
            "ParentIsSubject",
            "UnknownUser",
            "UnknownUser",
            "UnknownSkill",
            "UnknownSkill",
            "UnknownUser",
            "InvalidPageSize",
            "UnknownUser",
            "NotFound",
            "NotRecipient",
            "NotPending",
            "InvalidCursor",
        ]
    );
    let texts: Vec<String> = messages::table
        .select(messages::message)
        .order(messages::message)
        .load(&mut db.admin())
        .expect("read as the superuser");
    assert_eq!(texts, ["answered", "sent after every refusal"]);

    let failed = pool.with_tenant(a.tenant, |tx| {
        diesel::sql_query("SELECT 1 / 0").execute(tx.connection())?;
        Ok(())
    });
    assert!(matches!(&failed, Err(e) if !e.is_refusal()), "{failed:?}");
}

#[test]
fn a_panic_rolls_back_and_hands_back_a_clean_connection() {
    let (db, a, _) = two_tenants();
    let mut conn = db.app();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _ = with_tenant(
            &mut conn,
            &Names::default(),
            a.tenant,
            |tx| -> Result<(), Error> {
                tx.send(a.proposal("lost"))?;
                panic!("the caller's code fails mid-scope");
            },
        );
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    assert_eq!(stored_messages(&db), 0);
    assert_eq!(session(&mut conn), clean(app_login()));
    with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        tx.send(a.proposal("kept"))
    })
    .expect("the connection works");
    assert_eq!(stored_messages(&db), 1);

    // A pooled connection that saw a panic is replaced, and the pool goes on.
    let pool = db.pool_of(1);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _ = pool.with_tenant(a.tenant, |_| -> Result<(), Error> { panic!("again") });
    }));
    assert!(panicked.is_err());
    let unread = pool
        .with_tenant(a.tenant, |tx| tx.unread_count(a.bob))
        .expect("the pool recovers");
    assert_eq!(unread, 1);
}

/// What a scope's transaction runs with.
#[derive(Debug, PartialEq)]
struct InScope {
    current_user: String,
    tenant: Option<String>,
    search_path: String,
    statement_timeout: String,
}

fn in_scope(conn: &mut PgConnection) -> InScope {
    let (current_user, tenant, search_path, statement_timeout) = diesel::select((
        diesel::dsl::sql::<Text>("current_user::text"),
        diesel::dsl::sql::<Nullable<Text>>("current_setting('app.current_tenant_id', true)"),
        diesel::dsl::sql::<Text>("current_setting('search_path')"),
        diesel::dsl::sql::<Text>("current_setting('statement_timeout')"),
    ))
    .get_result(conn)
    .expect("read the scope's settings");
    InScope {
        current_user,
        tenant,
        search_path,
        statement_timeout,
    }
}

/// What every scope of tenant `t` of a default pool on `db` runs with.
fn expected_in_scope(db: &TestDb, t: TenantId) -> InScope {
    InScope {
        current_user: "skill_messages_app".into(),
        tenant: Some(t.to_string()),
        search_path: db.crate_search_path(),
        statement_timeout: "30s".into(),
    }
}

/// One pooled connection serves tenant A, then B, over and over, with its
/// prepared statements cached throughout: no row crosses.
#[test]
fn one_pooled_connection_serves_tenants_in_turn_without_crossing() {
    let (db, a, b) = two_tenants();
    let pool = db.pool_of(1);
    for f in [&a, &b] {
        pool.with_tenant(f.tenant, |tx| tx.send(f.proposal("hello")))
            .expect("send");
    }
    for _ in 0..8 {
        for f in [&a, &b] {
            let inbox = pool
                .with_tenant(f.tenant, |tx| {
                    assert_eq!(in_scope(tx.connection()), expected_in_scope(&db, f.tenant));
                    tx.inbox(f.bob, MessageQuery::new())
                })
                .expect("list");
            assert_eq!(inbox.items.len(), 1);
            assert!(inbox.items.iter().all(|m| m.tenant_id == f.tenant));
            // The other tenant's user is unknown here.
            let other = if f.tenant == a.tenant { &b } else { &a };
            let unknown = pool.with_tenant(f.tenant, |tx| tx.unread_count(other.bob));
            assert!(matches!(unknown, Err(Error::UnknownUser(id)) if id == other.bob));
        }
    }
    assert_eq!(pool.state().connections, 1);
}

/// Whatever a scope sets for its session, by any route, the next scope on
/// the same pooled connection runs with one tenant, the runtime role, the
/// crate's search path and the pool's statement timeout.
#[test]
fn nothing_a_scope_sets_for_its_session_reaches_the_next_scope() {
    let (db, a, b) = two_tenants();
    let pool = db.pool_of(1);
    let routes = [
        format!("SET app.current_tenant_id = '{}'", b.tenant),
        format!(
            "SELECT set_config('app.current_tenant_id', '{}', false)",
            b.tenant
        ),
        "SET ROLE NONE".to_owned(),
        "SET SESSION ROLE skill_messages_app".to_owned(),
        "SET search_path = pg_temp, public".to_owned(),
        "SELECT set_config('search_path', 'pg_temp', false)".to_owned(),
        "SET statement_timeout = 0".to_owned(),
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_owned(),
        // The transaction ended early, and the settings made after it.
        format!(
            "COMMIT; SET app.current_tenant_id = '{}'; SET search_path = pg_temp",
            b.tenant
        ),
    ];
    for route in &routes {
        pool.with_tenant(b.tenant, |tx| {
            tx.connection().batch_execute(route)?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{route}: {e}"));
        let seen = pool
            .with_tenant(a.tenant, |tx| {
                let seen = in_scope(tx.connection());
                let visible: i64 = messages::table.count().get_result(tx.connection())?;
                tx.send(a.proposal("a write works"))?;
                Ok((seen, visible))
            })
            .unwrap_or_else(|e| panic!("after {route}: {e}"));
        assert_eq!(seen.0, expected_in_scope(&db, a.tenant), "after {route}");
        assert_eq!(seen.1, stored_in(&db, a.tenant) - 1, "after {route}");
    }
    assert_eq!(pool.state().connections, 1);
}

fn stored_in(db: &TestDb, tenant: TenantId) -> i64 {
    messages::table
        .filter(messages::tenant_id.eq(tenant))
        .count()
        .get_result(&mut db.admin())
        .expect("count as the superuser")
}

/// A pool that logs in as the superuser still runs every scope as the
/// runtime role, bound by the policies.
#[test]
fn a_scope_runs_as_the_runtime_role_whatever_the_login() {
    let (db, a, b) = two_tenants();
    let pool = Pool::builder()
        .max_size(1)
        .build(&db.admin_url())
        .expect("a pool of superuser connections");
    pool.with_tenant(b.tenant, |tx| tx.send(b.proposal("in B")))
        .expect("send in B");
    let (role, visible) = pool
        .with_tenant(a.tenant, |tx| {
            let conn = tx.connection();
            let role: String =
                diesel::select(diesel::dsl::sql::<Text>("current_user::text")).get_result(conn)?;
            let visible: i64 = messages::table.count().get_result(conn)?;
            Ok((role, visible))
        })
        .expect("read in A");
    assert_eq!(role, "skill_messages_app");
    assert_eq!(visible, 0, "B's message is hidden from A, superuser or not");
    // A superuser's own connection leaves the scope as the superuser.
    let mut conn = db.admin();
    let inside = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        Ok(in_scope(tx.connection()))
    })
    .expect("a scope on the superuser's connection");
    assert_eq!(inside.current_user, "skill_messages_app");
    assert_eq!(session(&mut conn), clean("postgres"));
}

#[test]
fn a_scope_is_refused_to_a_login_without_the_runtime_role() {
    let (db, a, _) = two_tenants();
    let mut conn = db.dml();
    let refused = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        tx.unread_count(a.bob)
    });
    match refused {
        Err(Error::Database(e)) => assert!(
            e.to_string().contains("permission denied to set role"),
            "{e}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(session(&mut conn), clean(crate::common::dml_login()));

    // A pool of such logins is refused when it is built.
    match Pool::builder().max_size(1).build(&db.dml_url()) {
        Err(Error::RlsNotEnforced(reasons)) => assert_eq!(
            reasons,
            [format!(
                "login role {0} cannot take role skill_messages_app: \
                 GRANT skill_messages_app TO {0}",
                crate::common::dml_login()
            )]
        ),
        other => panic!("expected RlsNotEnforced, got {other:?}"),
    }
}

/// Whatever the closure sets for its session, the tenant and the role end
/// with the scope.
#[test]
fn session_level_settings_made_in_a_scope_end_with_it() {
    let (db, a, b) = two_tenants();
    let mut conn = db.app();
    with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        let conn = tx.connection();
        conn.batch_execute(&format!("SET app.current_tenant_id = '{}'", b.tenant))?;
        conn.batch_execute("SET ROLE skill_messages_app")?;
        conn.batch_execute("SET search_path = pg_temp, public")?;
        Ok(())
    })
    .expect("a scope that sets session-level values");
    assert_eq!(session(&mut conn), clean(app_login()));
    // The next scope on the caller's connection runs with the crate's path.
    let inside = with_tenant(&mut conn, &Names::default(), b.tenant, |tx| {
        Ok(in_scope(tx.connection()))
    })
    .expect("the next scope");
    assert_eq!(inside.search_path, db.crate_search_path());
    assert_eq!(inside.tenant, Some(b.tenant.to_string()));
}

/// A temporary table named like one of the crate's tables does not shadow
/// it for the scopes that come after, whatever tenant they serve.
#[test]
fn a_temporary_table_cannot_shadow_the_crates_tables() {
    let (db, a, b) = two_tenants();
    let pool = db.pool_of(1);
    pool.with_tenant(b.tenant, |tx| tx.send(b.proposal("real")))
        .expect("send in B");
    pool.with_tenant(a.tenant, |tx| {
        let conn = tx.connection();
        conn.batch_execute(
            "CREATE TEMP TABLE skill_messages AS SELECT * FROM skill_messages;
             CREATE TEMP TABLE users AS SELECT tenant_id, id, display_name FROM users",
        )?;
        // Even in the scope that made them, unqualified names are the real tables.
        let visible: i64 = messages::table.count().get_result(conn)?;
        assert_eq!(visible, 0, "A sees none of B's messages");
        Ok(())
    })
    .expect("create temporary tables");
    let (inbox, unread) = pool
        .with_tenant(b.tenant, |tx| {
            Ok((
                tx.inbox(b.bob, MessageQuery::new())?,
                tx.unread_count(b.bob)?,
            ))
        })
        .expect("B's inbox");
    assert_eq!((inbox.items.len(), unread), (1, 1));
    let unknown = pool.with_tenant(a.tenant, |tx| tx.unread_count(b.bob));
    assert!(matches!(unknown, Err(Error::UnknownUser(_))), "{unknown:?}");
}

/// Terminates every connection the app login has to the test database.
/// (Its application name tells them from other tests' on a shared database.)
fn terminate_app_connections(db: &TestDb) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = '{}' AND usename = '{}'",
        db.name(),
        app_login()
    )))
    .get_result(&mut db.admin())
    .expect("terminate the app's connections")
}

#[test]
fn a_pool_replaces_connections_the_server_closed() {
    let (db, a, _) = two_tenants();
    let pool = db.pool_of(3);
    for round in 0..3 {
        let killed = terminate_app_connections(&db);
        assert!(killed >= 1, "round {round}: no pooled connection was open");
        // Let the backends exit before the pool hands their connections out.
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..5 {
            let unread = pool
                .with_tenant(a.tenant, |tx| tx.unread_count(a.bob))
                .expect("the dead connections are replaced, not reported");
            assert_eq!(unread, 0);
        }
    }
}

#[test]
fn a_pool_that_cannot_connect_is_a_typed_error() {
    let unreachable = Pool::builder()
        .connection_timeout(Duration::from_millis(300))
        .build("postgres://postgres@127.0.0.1:1/nowhere");
    assert!(
        matches!(unreachable, Err(Error::Pool(_))),
        "{unreachable:?}"
    );
}

#[test]
fn a_scope_cannot_open_inside_another_transaction() {
    let (db, a, _) = two_tenants();
    let mut conn = db.app();
    let mut refused = None;
    conn.transaction(|conn| {
        refused = Some(with_tenant(conn, &Names::default(), a.tenant, |tx| {
            tx.send(a.proposal("nested"))
        }));
        diesel::sql_query("SELECT 1").execute(conn)
    })
    .expect("the caller's transaction is untouched and commits");
    assert!(
        matches!(
            refused,
            Some(Err(Error::Database(
                diesel::result::Error::AlreadyInTransaction
            )))
        ),
        "{refused:?}"
    );
    assert_eq!(stored_messages(&db), 0);
}

#[test]
fn a_statement_timeout_leaves_no_tenant_or_role_behind() {
    let (db, a, _) = two_tenants();
    let pool = db
        .pool_builder()
        .max_size(1)
        .statement_timeout(Some(Duration::from_millis(300)))
        .build(&db.app_url())
        .expect("pool");
    let timed_out = pool.with_tenant(a.tenant, |tx| {
        tx.send(a.proposal("lost with the timeout"))?;
        diesel::sql_query("SELECT pg_sleep(1)").execute(tx.connection())?;
        Ok(())
    });
    match timed_out {
        Err(Error::Database(e)) => assert!(e.to_string().contains("statement timeout"), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(stored_messages(&db), 0);
    let (unread, inside) = pool
        .with_tenant(a.tenant, |tx| {
            Ok((tx.unread_count(a.bob)?, in_scope(tx.connection())))
        })
        .expect("the connection goes on");
    assert_eq!(unread, 0);
    assert_eq!(
        inside,
        InScope {
            statement_timeout: "300ms".into(),
            ..expected_in_scope(&db, a.tenant)
        }
    );
}

#[test]
fn the_statement_timeout_is_set_rounded_up_or_left_to_the_server() {
    let db = TestDb::new();
    // The login's sessions start with a timeout of their own: set for the
    // login in the database, or on a Citus cluster, where the tests share
    // one database, in the connection string.
    let url = if crate::common::on_citus() {
        db.app_url_with(&[("statement_timeout", "7s")])
    } else {
        db.admin()
            .batch_execute(&format!(
                "ALTER ROLE {} IN DATABASE \"{}\" SET statement_timeout = '7s'",
                app_login(),
                db.name()
            ))
            .expect("a default for the login");
        db.app_url()
    };
    let timeout = |setting: Option<Duration>| -> String {
        let pool = db
            .pool_builder()
            .max_size(1)
            .statement_timeout(setting)
            .build(&url)
            .expect("pool");
        pool.with_tenant(TenantId::from(uuid::Uuid::nil()), |tx| {
            Ok(in_scope(tx.connection()).statement_timeout)
        })
        .expect("read the timeout")
    };
    assert_eq!(timeout(Some(Duration::from_secs(2))), "2s");
    assert_eq!(timeout(Some(Duration::from_micros(1_000_001))), "1001ms");
    assert_eq!(timeout(None), "7s");
    assert_eq!(
        timeout(Some(Duration::from_millis(i32::MAX as u64))),
        "2147483647ms"
    );
}

#[test]
fn pool_settings_that_cannot_work_are_a_typed_error() {
    let db = TestDb::new();
    let cases = [
        (Pool::builder().max_size(0), "max_size must be at least 1"),
        (
            Pool::builder().max_size(2).min_idle(Some(3)),
            "min_idle must not exceed max_size",
        ),
        (
            Pool::builder().connection_timeout(Duration::ZERO),
            "connection_timeout must be longer than zero",
        ),
        (
            Pool::builder().idle_timeout(Some(Duration::ZERO)),
            "idle_timeout must be longer than zero",
        ),
        (
            Pool::builder().max_lifetime(Some(Duration::ZERO)),
            "max_lifetime must be longer than zero",
        ),
        // PostgreSQL takes at most i32::MAX milliseconds.
        (
            Pool::builder().statement_timeout(Some(Duration::from_millis(i32::MAX as u64 + 1))),
            "statement_timeout must be at most 2147483647 milliseconds",
        ),
    ];
    for (builder, expected) in cases {
        match builder.build(&db.app_url()) {
            Err(Error::InvalidPoolSettings(problem)) => assert_eq!(problem, expected),
            other => panic!("{expected}: got {other:?}"),
        }
    }
}

/// Counts the statements a connection sends and the statements it prepares.
#[derive(Default)]
struct Counts {
    statements: usize,
    prepared: usize,
}

fn counting(conn: &mut PgConnection) -> Arc<Mutex<Counts>> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let seen = Arc::clone(&counts);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        let mut counts = seen.lock().expect("counts");
        match event {
            InstrumentationEvent::StartQuery { .. } => counts.statements += 1,
            InstrumentationEvent::CacheQuery { .. } => counts.prepared += 1,
            _ => {}
        }
    });
    counts
}

/// Every service call costs three round trips, `BEGIN` with the tenant and
/// role, the statement, the commit, and its statement is prepared once per
/// connection and reused: the writes too, which diesel would otherwise
/// parse and plan anew on every call.
#[test]
fn every_service_call_is_three_round_trips_of_a_prepared_statement() {
    let (db, a, _) = two_tenants();
    let mut conn = db.app();
    let sent: Vec<SkillMessageId> = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        (0..4)
            .map(|_| tx.send(a.proposal("to read and answer")).map(|m| m.id))
            .collect::<Result<_, Error>>()
    })
    .expect("messages to act on");
    let counts = counting(&mut conn);
    type Call = Box<dyn Fn(&mut PgConnection, usize) -> Result<(), Error>>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "send",
            Box::new(move |conn, _| {
                with_tenant(conn, &Names::default(), a.tenant, |tx| {
                    tx.send(a.proposal("hi")).map(drop)
                })
            }),
        ),
        (
            "list",
            Box::new(move |conn, _| {
                with_tenant(conn, &Names::default(), a.tenant, |tx| {
                    tx.inbox(a.bob, MessageQuery::new()).map(drop)
                })
            }),
        ),
        (
            "count",
            Box::new(move |conn, _| {
                with_tenant(conn, &Names::default(), a.tenant, |tx| {
                    tx.unread_count(a.bob).map(drop)
                })
            }),
        ),
        (
            "mark read",
            Box::new({
                let sent = sent.clone();
                move |conn, i| {
                    with_tenant(conn, &Names::default(), a.tenant, |tx| {
                        tx.mark_read(sent[i], a.bob).map(drop)
                    })
                }
            }),
        ),
        (
            "respond",
            Box::new({
                let sent = sent.clone();
                move |conn, i| {
                    with_tenant(conn, &Names::default(), a.tenant, |tx| {
                        tx.answer(sent[2 + i], a.bob, Answer::Accept).map(drop)
                    })
                }
            }),
        ),
    ];
    // Statements sent and prepared by a second call, after a first that
    // prepares what it needs.
    let costs = |conn: &mut PgConnection, call: &Call| {
        call(conn, 0).expect("a first call, which prepares");
        *counts.lock().expect("counts") = Counts::default();
        call(conn, 1).expect("a second call");
        let second = counts.lock().expect("counts");
        (second.statements, second.prepared)
    };
    for (name, call) in &calls {
        assert_eq!(
            costs(&mut conn, call),
            (3, 0),
            "{name}: statements sent, prepared"
        );
    }
    // The server holds each statement prepared, the writes among them;
    // through a pooler in transaction mode, none.
    let prepared: Vec<String> = diesel::sql_query(
        "SELECT split_part(statement, ' ', 1) AS line FROM pg_prepared_statements ORDER BY 1",
    )
    .load::<Line>(&mut conn)
    .expect("list the prepared statements")
    .into_iter()
    .map(|l| l.line)
    .collect();
    if crate::common::through_pooler() {
        assert_eq!(prepared, [] as [&str; 0]);
    } else {
        assert_eq!(prepared, ["INSERT", "SELECT", "SELECT", "UPDATE", "UPDATE"]);
    }

    // Marking a read message again updates nothing and reads it in a second
    // statement. An empty page takes a second to tell an empty inbox from an
    // unknown user, and a refused send or answer a second to tell why.
    let others: Vec<(&str, usize, Call)> = vec![
        (
            "send to an unknown user",
            4,
            Box::new(move |conn, _| {
                with_tenant(conn, &Names::default(), a.tenant, |tx| {
                    let unknown = NewSkillMessage {
                        to_user_id: uuid::Uuid::nil().into(),
                        ..a.proposal("to nobody")
                    };
                    let refused = tx.send(unknown);
                    assert!(matches!(refused, Err(Error::UnknownUser(_))));
                    Ok(())
                })
            }),
        ),
        (
            "list an empty inbox",
            4,
            Box::new(move |conn, _| {
                with_tenant(conn, &Names::default(), a.tenant, |tx| {
                    tx.inbox(a.carol, MessageQuery::new()).map(drop)
                })
            }),
        ),
        (
            "respond again",
            4,
            Box::new({
                let sent = sent.clone();
                move |conn, i| {
                    with_tenant(conn, &Names::default(), a.tenant, |tx| {
                        let again = tx.answer(sent[2 + i], a.bob, Answer::Decline);
                        assert!(matches!(again, Err(Error::NotPending { .. })));
                        Ok(())
                    })
                }
            }),
        ),
    ];
    let (_, mark_read) = &calls[3];
    assert_eq!(costs(&mut conn, mark_read), (4, 0), "mark read again");
    for (name, expected, call) in &others {
        assert_eq!(
            costs(&mut conn, call),
            (*expected, 0),
            "{name}: statements sent, prepared"
        );
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Behind a pooler in transaction mode, a pool built without
/// `transaction_pooling(true)` finds its named statements missing or
/// clashing; the error names the cause and the setting
/// ([`Error::TransactionPoolingRequired`]), not PostgreSQL's bare "prepared
/// statement already exists". On a direct connection, the same load of
/// calls all succeed.
#[test]
fn prepared_statements_behind_a_transaction_pooler_are_named_as_the_cause() {
    const THREADS: usize = 16;
    const CALLS: usize = 40;
    let (db, a, _) = two_tenants();
    let pool = Pool::builder()
        .max_size(THREADS as u32)
        .build(&db.app_url())
        .expect("a pool that prepares statements by name");
    let sent = pool
        .with_tenant(a.tenant, |tx| tx.send(a.proposal("seed")))
        .expect("send");
    let errors: Vec<Error> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pool, sent) = (&pool, &sent);
                s.spawn(move || {
                    (0..CALLS)
                        .filter_map(|i| {
                            pool.with_tenant(a.tenant, |tx| match (t + i) % 3 {
                                0 => tx.unread_count(a.bob).map(drop),
                                1 => tx.mark_read(sent.id, a.bob).map(drop),
                                _ => tx.inbox(a.bob, MessageQuery::new()).map(drop),
                            })
                            .err()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect()
    });
    if crate::common::through_pooler() {
        let named = errors
            .iter()
            .filter(|e| matches!(e, Error::TransactionPoolingRequired(_)))
            .count();
        assert!(
            named > 0,
            "{} of {} calls failed, none named the pooler: {errors:?}",
            errors.len(),
            THREADS * CALLS
        );
        let text = errors
            .iter()
            .find(|e| matches!(e, Error::TransactionPoolingRequired(_)))
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(text.contains("transaction_pooling(true)"), "{text}");
        for error in &errors {
            assert!(
                !matches!(error, Error::Database(e) if e.to_string().contains("__diesel_stmt")),
                "a clash of prepared statements not named as such: {error:?}"
            );
        }
    } else {
        assert!(errors.is_empty(), "{errors:?}");
    }
}

/// A connection lost while a blocking scope commits is
/// `CommitOutcomeUnknown`, whether the `COMMIT` reached the server (which
/// then committed) or not (which then rolled back); the pool serves the
/// next scope on a new connection.
#[test]
fn a_connection_lost_at_commit_is_an_unknown_outcome() {
    let (db, a, _) = two_tenants();
    let proxy =
        crate::common::proxy::Proxy::start(&crate::common::server_address(), Duration::ZERO);
    let pool = db
        .pool_builder()
        .max_size(1)
        .build(&db.app_url_through(proxy.addr()))
        .expect("a pool through the proxy");
    for forward in [false, true] {
        let text = format!("commit forwarded: {forward}");
        let result = pool.with_tenant(a.tenant, |tx| {
            let sent = tx.send(a.proposal(&text))?;
            if forward {
                proxy.cut_when_answered("COMMIT");
            } else {
                proxy.cut_when_sent("COMMIT");
            }
            Ok(sent)
        });
        assert!(
            matches!(result, Err(Error::CommitOutcomeUnknown(_))),
            "{text}: {result:?}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let stored = loop {
            let stored: i64 = messages::table
                .filter(messages::message.eq(&text))
                .count()
                .get_result(&mut db.admin())
                .expect("count as the superuser");
            if stored == i64::from(forward) || std::time::Instant::now() > deadline {
                break stored;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(stored, i64::from(forward), "{text}");
        pool.with_tenant(a.tenant, |tx| tx.unread_count(a.bob))
            .unwrap_or_else(|e| panic!("{text}: the next scope: {e}"));
    }
}
