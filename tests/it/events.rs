//! New-message events: a send that commits announces its ids on its
//! tenant's channel; a listener hears its own tenant only, every event
//! once.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{TestDb, seed_tenant};
use skill_messages::{Error, Listener, NewMessageEvent, NewSkillMessage, SkillMessageId};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));
const QUIET: Option<Duration> = Some(Duration::from_millis(300));

#[test]
fn a_listener_hears_its_tenants_committed_sends_and_nothing_else() {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let pool = db.pool();
    let mut in_a = Listener::connect(&db.app_url(), a.tenant).expect("listen to A");
    let mut in_b = Listener::connect(&db.app_url(), b.tenant).expect("listen to B");

    let sent_in_a = pool
        .with_tenant(a.tenant, |tx| tx.send(a.proposal("hello")))
        .expect("send in A");
    let event = in_a.next_event(WAIT).expect("listen").expect("A's event");
    assert_eq!(
        (
            event.tenant_id,
            event.message_id,
            event.from_user_id,
            event.to_user_id
        ),
        (a.tenant, sent_in_a.id, a.alice, a.bob)
    );
    assert_eq!(
        in_b.next_event(QUIET).expect("listen"),
        None,
        "B hears nothing of A"
    );

    // Rolled back, refused: nobody hears of them.
    let rolled_back: Result<(), Error> = pool.with_tenant(a.tenant, |tx| {
        tx.send(a.proposal("rolled back"))?;
        Err(Error::InvalidCursor)
    });
    assert!(rolled_back.is_err());
    let refused = pool.with_tenant(a.tenant, |tx| {
        tx.send(NewSkillMessage {
            to_user_id: b.bob,
            ..a.proposal("across")
        })
    });
    assert!(matches!(refused, Err(Error::UnknownUser(_))));
    assert_eq!(in_a.next_event(QUIET).expect("listen"), None);

    // Several sends in one scope: each heard once, at the commit.
    let sent: Vec<SkillMessageId> = pool
        .with_tenant(b.tenant, |tx| {
            (0..3)
                .map(|i| tx.send(b.proposal(&format!("m{i}"))).map(|m| m.id))
                .collect()
        })
        .expect("three in B");
    let heard: Vec<SkillMessageId> = (0..3)
        .map(|_| {
            in_b.next_event(WAIT)
                .expect("listen")
                .expect("B's event")
                .message_id
        })
        .collect();
    assert_eq!(heard, sent);
    assert_eq!(
        in_a.next_event(QUIET).expect("listen"),
        None,
        "A hears nothing of B"
    );
    assert_eq!(in_b.next_event(QUIET).expect("listen"), None, "each once");
}

#[test]
fn ten_thousand_sends_make_ten_thousand_events_none_lost_or_repeated() {
    const SENDS: usize = 10_000;
    let db = TestDb::new();
    let a = seed_tenant(&mut db.admin(), "tenant-a");
    let pool = db.pool_of(4);
    let mut listener = Listener::connect(&db.app_url(), a.tenant).expect("listen");
    // Four senders, 100 scopes of 25 sends each.
    let sent: BTreeSet<SkillMessageId> = std::thread::scope(|s| {
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                s.spawn(move || {
                    let mut ids = Vec::new();
                    for scope in 0..SENDS / 100 {
                        let batch = pool
                            .with_tenant(a.tenant, |tx| {
                                (0..25)
                                    .map(|i| {
                                        let text = format!("{t}.{scope}.{i}");
                                        tx.send(a.proposal(&text)).map(|m| m.id)
                                    })
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .expect("a batch of sends");
                        ids.extend(batch);
                    }
                    ids
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().expect("sender"))
            .collect()
    });
    assert_eq!(sent.len(), SENDS);
    let mut heard = BTreeSet::new();
    let mut events: Vec<NewMessageEvent> = Vec::new();
    while heard.len() < SENDS {
        let event = listener
            .next_event(WAIT)
            .expect("listen")
            .unwrap_or_else(|| panic!("{} events heard of {SENDS}", heard.len()));
        assert!(heard.insert(event.message_id), "heard twice: {event}");
        events.push(event);
    }
    assert_eq!(heard, sent, "every send heard");
    assert_eq!(
        listener.next_event(QUIET).expect("listen"),
        None,
        "nothing more"
    );
    assert!(
        events
            .iter()
            .all(|e| e.tenant_id == a.tenant && e.from_user_id == a.alice)
    );
}

#[cfg(feature = "async")]
#[tokio::test]
async fn the_async_listener_streams_the_events_of_one_round_trip_sends() {
    use futures_util::StreamExt;
    use skill_messages::asynchronous::AsyncListener;

    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let pool = db
        .pool_builder()
        .build_async(&db.app_url())
        .await
        .expect("pool");
    let mut listener = AsyncListener::connect(&db.app_url(), a.tenant)
        .await
        .expect("listen");
    let mut sent = Vec::new();
    for i in 0..20 {
        pool.tenant(b.tenant)
            .send(b.proposal(&format!("B {i}")))
            .await
            .expect("send in B");
        sent.push(
            pool.tenant(a.tenant)
                .send(a.proposal(&format!("A {i}")))
                .await
                .expect("send")
                .id,
        );
        let refused = NewSkillMessage {
            to_user_id: b.bob,
            ..a.proposal("refused")
        };
        assert!(pool.tenant(a.tenant).send(refused).await.is_err());
    }
    let events = listener.events();
    let heard: Vec<SkillMessageId> = tokio::time::timeout(
        Duration::from_secs(10),
        events
            .take(20)
            .map(|e| e.expect("an event").message_id)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("twenty events");
    assert_eq!(
        heard, sent,
        "A's sends, in order, and nothing of B's or of the refused"
    );
}
