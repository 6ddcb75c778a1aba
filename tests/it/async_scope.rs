//! The async face's scopes: a one-call scope costs one round trip on the
//! wire; a scope of several calls commits them together, rolls them back
//! together, and survives refusals.

use std::time::Duration;

use crate::common::proxy::Proxy;
use crate::common::{Fixture, TestDb, seed_tenant};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use skill_messages::asynchronous::AsyncPool;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{Answer, Error, MessageQuery, NewSkillMessage, ReadMark, SkillMessage};

fn tenant(db: &TestDb) -> Fixture {
    seed_tenant(&mut db.admin(), "tenant-a")
}

fn stored(db: &TestDb) -> i64 {
    messages::table
        .count()
        .get_result(&mut db.admin())
        .expect("count as the superuser")
}

/// Each of the pool's calls sends its scope's `BEGIN`, its statement and
/// `COMMIT` in one round trip once its statements are prepared; a refused
/// call takes one more for the read that says why.
#[tokio::test]
async fn a_one_call_scope_costs_one_round_trip() {
    let db = TestDb::new();
    let a = tenant(&db);
    let proxy = Proxy::start(&crate::common::server_address(), Duration::ZERO);
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(1)
        .build_async(&db.app_url_through(proxy.addr()))
        .await
        .expect("a pool through the proxy");
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(
            pool.tenant(a.tenant)
                .send(a.proposal("hi"))
                .await
                .expect("send"),
        );
    }
    let calls = [
        ("send", 1),
        ("list", 1),
        ("details", 1),
        ("count", 1),
        ("mark read", 1),
        ("mark read again (read, so a second reads it)", 2),
        ("mark unread", 1),
        ("mark unread again (unread, so a second reads it)", 2),
        ("respond", 1),
        ("respond again (refused)", 2),
        ("send to an unknown user (refused)", 2),
        ("list an empty inbox", 2),
        ("list sent", 1),
        ("mark all read", 1),
        ("withdraw", 1),
    ];
    for (name, expected) in calls {
        call(&pool, &a, &sent, name, 0)
            .await
            .unwrap_or_else(|e| panic!("{name}, a first call, which prepares: {e}"));
        let before = proxy.round_trips();
        call(&pool, &a, &sent, name, 1)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            proxy.round_trips() - before,
            expected,
            "{name}: round trips"
        );
    }
}

/// The `i`th call named `name`, on messages `sent`.
async fn call(
    pool: &AsyncPool,
    a: &Fixture,
    sent: &[SkillMessage],
    name: &str,
    i: usize,
) -> Result<(), Error> {
    let t = a.tenant;
    match name {
        "send" => pool.tenant(t).send(a.proposal("x")).await.map(drop),
        "list" => pool
            .tenant(t)
            .inbox(a.bob, MessageQuery::new())
            .await
            .map(drop),
        "details" => pool.tenant(t).details(sent[i].id, a.bob).await.map(drop),
        "count" => pool.tenant(t).unread_count(a.bob).await.map(drop),
        "mark read" | "mark read again (read, so a second reads it)" => {
            pool.tenant(t).mark_read(sent[i].id, a.bob).await.map(drop)
        }
        "mark unread" | "mark unread again (unread, so a second reads it)" => pool
            .tenant(t)
            .mark_unread(sent[i].id, a.bob)
            .await
            .map(drop),
        "respond" => pool
            .tenant(t)
            .answer(sent[2 + i].id, a.bob, Answer::Accept)
            .await
            .map(drop),
        "respond again (refused)" => {
            let refused = pool
                .tenant(t)
                .answer(sent[2 + i].id, a.bob, Answer::Decline)
                .await;
            assert!(
                matches!(refused, Err(Error::NotPending { .. })),
                "{refused:?}"
            );
            Ok(())
        }
        "send to an unknown user (refused)" => {
            let unknown = NewSkillMessage {
                to_user_id: uuid::Uuid::nil().into(),
                ..a.proposal("to nobody")
            };
            let refused = pool.tenant(t).send(unknown).await;
            assert!(matches!(refused, Err(Error::UnknownUser(_))), "{refused:?}");
            Ok(())
        }
        "list an empty inbox" => pool
            .tenant(t)
            .inbox(a.carol, MessageQuery::new())
            .await
            .map(drop),
        "list sent" => pool
            .tenant(t)
            .outbox(a.alice, MessageQuery::new())
            .await
            .map(drop),
        "mark all read" => {
            let seen: ReadMark = [sent[4 + i].id].into_iter().collect();
            let marked = pool.tenant(t).mark_all_read(a.bob, &seen).await?;
            assert_eq!(marked, 1);
            Ok(())
        }
        "withdraw" => pool
            .tenant(t)
            .withdraw(sent[4 + i].id, a.alice)
            .await
            .map(drop),
        other => panic!("no call {other}"),
    }
}

#[tokio::test]
async fn a_scope_of_several_calls_commits_together_and_survives_refusals() {
    let db = TestDb::new();
    let a = tenant(&db);
    let pool = db
        .pool_builder()
        .max_size(1)
        .build_async(&db.app_url())
        .await
        .expect("pool");

    // An error from the closure rolls every call back.
    let failed: Result<(), Error> = pool
        .with_tenant(a.tenant, async |tx| {
            tx.send(a.proposal("first")).await?;
            tx.send(a.proposal("second")).await?;
            Err(Error::InvalidCursor)
        })
        .await;
    assert!(matches!(failed, Err(Error::InvalidCursor)));
    assert_eq!(stored(&db), 0);

    // Refusals leave the scope usable; what it did commits together.
    let (unread, refused) = pool
        .with_tenant(a.tenant, async |tx| {
            let sent = tx.send(a.proposal("kept")).await?;
            let refused = tx
                .send(NewSkillMessage {
                    to_user_id: uuid::Uuid::nil().into(),
                    ..a.proposal("refused")
                })
                .await;
            let not_recipient = tx.mark_read(sent.id, a.alice).await;
            tx.send(a.proposal("after the refusals")).await?;
            let unread = tx.unread_count(a.bob).await?;
            Ok((unread, [refused.map(drop), not_recipient.map(drop)]))
        })
        .await
        .expect("the scope commits");
    assert_eq!(
        unread, 2,
        "a call sees what earlier calls of its scope wrote"
    );
    assert!(matches!(refused[0], Err(Error::UnknownUser(_))));
    assert!(matches!(refused[1], Err(Error::NotRecipient { .. })));
    assert_eq!(stored(&db), 2);

    // A database failure aborts the scope.
    let aborted = pool
        .with_tenant(a.tenant, async |tx| {
            tx.send(a.proposal("lost")).await?;
            diesel_async::RunQueryDsl::execute(diesel::sql_query("SELECT 1 / 0"), tx.connection())
                .await?;
            Ok(())
        })
        .await;
    assert!(matches!(&aborted, Err(e) if !e.is_refusal()), "{aborted:?}");
    assert_eq!(stored(&db), 2);

    // The one connection is clean for the next scope, which sees its tenant;
    // a scope runs on a task of its own (its future is `Send`).
    let spawned = pool.clone();
    let page = tokio::spawn(async move {
        spawned
            .with_tenant(a.tenant, async |tx| {
                tx.inbox(a.bob, MessageQuery::new()).await
            })
            .await
    })
    .await
    .expect("the task")
    .expect("list");
    assert_eq!(page.items.len(), 2);
    assert_eq!(pool.state().connections, 1);
    pool.health_check().await.expect("healthy");
}

/// A call the crate refuses before it reaches the database (a page size out
/// of range, a blank message) takes no connection: it is refused at once
/// even while every connection of the pool is in use.
#[tokio::test]
async fn a_call_refused_before_the_database_takes_no_connection() {
    let db = TestDb::new();
    let a = tenant(&db);
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(1)
        .connection_timeout(Duration::from_millis(500))
        .build_async(&db.app_url())
        .await
        .expect("a pool");
    let (page, blank) = pool
        .with_tenant(a.tenant, async |_tx| {
            let page = pool
                .tenant(a.tenant)
                .inbox(a.bob, MessageQuery::new().limit(0))
                .await;
            let blank = pool.tenant(a.tenant).send(a.proposal(" ")).await;
            Ok::<_, Error>((page, blank))
        })
        .await
        .expect("a scope holding the pool's one connection");
    assert!(matches!(page, Err(Error::InvalidPageSize(0))), "{page:?}");
    assert!(matches!(blank, Err(Error::InvalidMessage(_))), "{blank:?}");
}

/// The backends the app login has open on the test's database.
fn app_backends(db: &TestDb) -> Vec<i32> {
    #[derive(QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    diesel::sql_query(format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND usename = '{}' ORDER BY pid",
        crate::common::app_login()
    ))
    .load::<Backend>(&mut db.admin())
    .expect("list the backends")
    .into_iter()
    .map(|b| b.pid)
    .collect()
}

/// How many messages with `text` are stored, once the server has settled:
/// waits up to ten seconds for `expected`.
fn settled(db: &TestDb, text: &str, expected: i64) -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored: i64 = messages::table
            .filter(messages::message.eq(text))
            .count()
            .get_result(&mut db.admin())
            .expect("count as the superuser");
        if stored == expected || std::time::Instant::now() > deadline {
            return stored;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connection lost while a scope commits, on every async path (a scope
/// of the caller's closure, and a one-round-trip call), is
/// `CommitOutcomeUnknown`: whether the `COMMIT` reached the server (which
/// then committed) or not (which then rolled back). The connection is
/// dropped, not handed back, and the pool serves the next call on a new
/// one.
#[tokio::test]
async fn a_connection_lost_at_commit_is_an_unknown_outcome_on_every_async_path() {
    let db = TestDb::new();
    let a = tenant(&db);
    let proxy = Proxy::start(&crate::common::server_address(), Duration::ZERO);
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(1)
        .build_async(&db.app_url_through(proxy.addr()))
        .await
        .expect("a pool through the proxy");
    for forward in [false, true] {
        for path in ["scope", "one call"] {
            let text = format!("{path}, commit forwarded: {forward}");
            let before = app_backends(&db);
            let result = match path {
                "scope" => {
                    pool.with_tenant(a.tenant, async |tx| {
                        let sent = tx.send(a.proposal(&text)).await?;
                        if forward {
                            proxy.cut_when_answered("COMMIT");
                        } else {
                            proxy.cut_when_sent("COMMIT");
                        }
                        Ok(sent)
                    })
                    .await
                }
                _ => {
                    // The one round trip starts with the scope's BEGIN
                    // and ends with COMMIT.
                    if forward {
                        proxy.cut_when_answered("COMMIT");
                    } else {
                        proxy.cut_when_sent("BEGIN");
                    }
                    pool.tenant(a.tenant).send(a.proposal(&text)).await
                }
            };
            assert!(
                matches!(result, Err(Error::CommitOutcomeUnknown(_))),
                "{text}: {result:?}"
            );
            assert_eq!(
                settled(&db, &text, i64::from(forward)),
                i64::from(forward),
                "{text}"
            );
            let count = pool
                .tenant(a.tenant)
                .unread_count(a.bob)
                .await
                .unwrap_or_else(|e| panic!("{text}: the next call: {e}"));
            assert_eq!(
                count,
                stored(&db) as u64,
                "{text}: every message stored is unread"
            );
            let after = app_backends(&db);
            assert_eq!(after.len(), 1, "{text}: one connection");
            assert!(!before.contains(&after[0]), "{text}: a new connection");
        }
    }
}

/// A statement of a one-round-trip call that fails in the server (here a
/// trigger raises) aborts its transaction: the call fails with the
/// server's error, not a refusal and not an unknown outcome, nothing is
/// written, and the same connection serves the next call.
#[tokio::test]
async fn a_failing_statement_in_one_round_trip_fails_the_call_and_keeps_the_connection() {
    let db = TestDb::new();
    let a = tenant(&db);
    db.admin()
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
                 AS $$BEGIN RAISE EXCEPTION 'refused by a trigger'; END$$;
             CREATE TRIGGER refuse BEFORE INSERT ON skill_messages
                 FOR EACH ROW WHEN (NEW.message = 'boom') EXECUTE FUNCTION refuse()",
        )
        .expect("a trigger that refuses some inserts");
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(1)
        .build_async(&db.app_url())
        .await
        .expect("a pool");
    pool.tenant(a.tenant)
        .send(a.proposal("fine"))
        .await
        .expect("send");
    let before = app_backends(&db);
    let failed = pool.tenant(a.tenant).send(a.proposal("boom")).await;
    match &failed {
        Err(error @ Error::Database(source)) => {
            assert!(!error.is_refusal());
            assert!(
                source.to_string().contains("refused by a trigger"),
                "{source}"
            );
        }
        other => panic!("expected the server's error, got {other:?}"),
    }
    assert_eq!(stored(&db), 1, "nothing written");
    let again = pool
        .tenant(a.tenant)
        .send(a.proposal("after"))
        .await
        .expect("the connection serves the next call");
    assert_eq!(again.message, "after");
    assert_eq!(app_backends(&db), before, "the same connection");
    assert_eq!(stored(&db), 2);
}

/// The one round trip relies on two things diesel-async does today (see
/// the pin in Cargo.toml): it sends a pipeline's queries in the order
/// their futures are first polled, and the pool looks the custom status
/// type up when it connects, so that no lookup is queued inside a
/// pipeline. On a fresh connection of a fresh pool, each one-call path
/// runs, in this order and nothing else: `BEGIN` with the scope's
/// settings, the call's statement (a send's notification after it), and
/// `COMMIT`. The first call also prepares them, a round trip each; the
/// second sends them all in one client turn.
#[tokio::test]
async fn every_one_call_path_runs_begin_its_statement_and_commit_in_one_turn() {
    let db = TestDb::new();
    let a = tenant(&db);
    let proxy = Proxy::start(&crate::common::server_address(), Duration::ZERO);
    let seeding = db
        .pool_builder()
        .build_async(&db.app_url())
        .await
        .expect("a pool");
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(
            seeding
                .tenant(a.tenant)
                .send(a.proposal("hi"))
                .await
                .expect("send"),
        );
    }
    let calls = [
        ("send", "INSERT"),
        ("list", "SELECT"),
        ("details", "SELECT"),
        ("count", "SELECT"),
        ("mark read", "UPDATE"),
        ("mark unread", "UPDATE"),
        ("respond", "UPDATE"),
        ("list sent", "SELECT"),
        ("mark all read", "WITH marked AS (UPDATE"),
        ("withdraw", "UPDATE"),
    ];
    for (name, verb) in calls {
        let mut expected = vec!["BEGIN", verb];
        if name == "send" {
            expected.push("SELECT pg_notify(");
        }
        expected.push("COMMIT");
        let pool: AsyncPool = db
            .pool_builder()
            .max_size(1)
            .build_async(&db.app_url_through(proxy.addr()))
            .await
            .expect("a fresh pool through the proxy");
        let mut prepared = std::collections::HashMap::new();
        for i in 0..2 {
            proxy.record();
            call(&pool, &a, &sent, name, i)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let turns = proxy.turns();
            // What ran, in order: each simple query, and the statement of
            // each bind, by the text its parse gave it.
            let mut ran = Vec::new();
            for message in turns.iter().flatten() {
                match message.kind {
                    'P' => {
                        prepared.insert(message.statement.clone(), message.sql.clone());
                    }
                    'Q' => ran.push(message.sql.clone()),
                    'B' => ran.push(prepared[&message.statement].clone()),
                    _ => {}
                }
            }
            assert_eq!(ran.len(), expected.len(), "{name} #{i}: {ran:#?}");
            for (text, start) in ran.iter().zip(&expected) {
                assert!(
                    text.starts_with(start),
                    "{name} #{i}: {start}... expected, ran {ran:#?}"
                );
            }
            assert!(
                ran[0].contains("app.current_tenant_id") && ran[0].contains("set_config('role'"),
                "{name}: the BEGIN carries the scope's settings: {}",
                ran[0]
            );
            if i == 1 {
                assert_eq!(turns.len(), 1, "{name}, prepared: one client turn");
            }
        }
    }
}
