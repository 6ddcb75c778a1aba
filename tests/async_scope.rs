//! The async face's scopes: a one-call scope costs one round trip on the
//! wire; a scope of several calls commits them together, rolls them back
//! together, and survives refusals.
#![cfg(feature = "async")]

mod common;

use std::time::Duration;

use common::proxy::Proxy;
use common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use skill_messages::asynchronous::{self, AsyncPool};
use skill_messages::schema::skill_messages as messages;
use skill_messages::{Cursor, Error, MessageQuery, NewSkillMessage, Response, SkillMessage};

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
    let proxy = Proxy::start(&common::server_address(), Duration::ZERO);
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(1)
        .build_async(&db.app_url_through(proxy.addr()))
        .await
        .expect("a pool through the proxy");
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(
            pool.send_skill_message(a.tenant, a.proposal("hi"))
                .await
                .expect("send"),
        );
    }
    let calls = [
        ("send", 1),
        ("list", 1),
        ("list with details", 1),
        ("load details", 1),
        ("count", 1),
        ("mark read", 1),
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
        "send" => pool.send_skill_message(t, a.proposal("x")).await.map(drop),
        "list" => pool
            .get_messages_for_user(t, a.bob, MessageQuery::new())
            .await
            .map(drop),
        "list with details" => pool
            .get_message_details_for_user(t, a.bob, MessageQuery::new())
            .await
            .map(drop),
        "load details" => pool.load_message_details(t, sent[i].id).await.map(drop),
        "count" => pool.get_unread_count_for_user(t, a.bob).await.map(drop),
        "mark read" => pool.mark_message_read(t, sent[i].id, a.bob).await.map(drop),
        "respond" => pool
            .update_message_status(t, sent[2 + i].id, a.bob, Response::Accepted)
            .await
            .map(drop),
        "respond again (refused)" => {
            let refused = pool
                .update_message_status(t, sent[2 + i].id, a.bob, Response::Declined)
                .await;
            assert!(
                matches!(refused, Err(Error::AlreadyResponded { .. })),
                "{refused:?}"
            );
            Ok(())
        }
        "send to an unknown user (refused)" => {
            let unknown = NewSkillMessage {
                to_user_id: uuid::Uuid::nil().into(),
                ..a.proposal("to nobody")
            };
            let refused = pool.send_skill_message(t, unknown).await;
            assert!(matches!(refused, Err(Error::UnknownUser(_))), "{refused:?}");
            Ok(())
        }
        "list an empty inbox" => pool
            .get_messages_for_user(t, a.carol, MessageQuery::new())
            .await
            .map(drop),
        "list sent" => pool
            .get_sent_messages_for_user(t, a.alice, MessageQuery::new())
            .await
            .map(drop),
        "mark all read" => {
            let marked = pool
                .mark_all_read(t, a.bob, Cursor::after(&sent[4 + i]))
                .await?;
            assert_eq!(marked, 1);
            Ok(())
        }
        "withdraw" => pool
            .withdraw_message(t, sent[4 + i].id, a.alice)
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
            asynchronous::send_skill_message(tx, a.proposal("first")).await?;
            asynchronous::send_skill_message(tx, a.proposal("second")).await?;
            Err(Error::InvalidCursor)
        })
        .await;
    assert!(matches!(failed, Err(Error::InvalidCursor)));
    assert_eq!(stored(&db), 0);

    // Refusals leave the scope usable; what it did commits together.
    let (unread, refused) = pool
        .with_tenant(a.tenant, async |tx| {
            let sent = asynchronous::send_skill_message(tx, a.proposal("kept")).await?;
            let refused = asynchronous::send_skill_message(
                tx,
                NewSkillMessage {
                    to_user_id: uuid::Uuid::nil().into(),
                    ..a.proposal("refused")
                },
            )
            .await;
            let not_recipient = asynchronous::mark_message_read(tx, sent.id, a.alice).await;
            asynchronous::send_skill_message(tx, a.proposal("after the refusals")).await?;
            let unread = asynchronous::get_unread_count_for_user(tx, a.bob).await?;
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
            asynchronous::send_skill_message(tx, a.proposal("lost")).await?;
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
                asynchronous::get_messages_for_user(tx, a.bob, MessageQuery::new()).await
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
                .get_messages_for_user(a.tenant, a.bob, MessageQuery::new().limit(0))
                .await;
            let blank = pool.send_skill_message(a.tenant, a.proposal(" ")).await;
            Ok::<_, Error>((page, blank))
        })
        .await
        .expect("a scope holding the pool's one connection");
    assert!(matches!(page, Err(Error::InvalidPageSize(0))), "{page:?}");
    assert!(matches!(blank, Err(Error::InvalidMessage(_))), "{blank:?}");
}
