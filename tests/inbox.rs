//! The calls beyond the five: the messages a user sent, marking every
//! message read up to what the user saw, and withdrawing a proposal.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Page, Pool, Response, SkillMessage,
    SkillMessageId, SkillMessageStatus, UserId, get_messages_for_user, get_sent_messages_for_user,
    get_unread_count_for_user, mark_all_read, send_skill_message, update_message_status,
    withdraw_message,
};

struct World {
    db: TestDb,
    pool: Pool,
    a: Fixture,
    b: Fixture,
}

fn world() -> World {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let pool = db.pool();
    World { db, pool, a, b }
}

impl World {
    fn send(&self, f: &Fixture, new: NewSkillMessage<'_>) -> SkillMessage {
        self.pool
            .with_tenant(f.tenant, |tx| send_skill_message(tx, new))
            .expect("send")
    }

    fn sent(
        &self,
        f: &Fixture,
        user: UserId,
        q: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.pool
            .with_tenant(f.tenant, |tx| get_sent_messages_for_user(tx, user, q))
    }

    fn stored(&self) -> Vec<SkillMessage> {
        messages::table
            .select(SkillMessage::as_select())
            .order(messages::id)
            .load(&mut self.db.admin())
            .expect("read every message")
    }
}

fn ids(messages: &[SkillMessage]) -> Vec<SkillMessageId> {
    messages.iter().map(|m| m.id).collect()
}

#[test]
fn the_sent_list_pages_a_users_sent_messages_newest_first() {
    let w = world();
    let a = w.a;
    // 30 from alice in one scope (one created_at), 5 from carol, 3 to alice.
    let mut from_alice = w
        .pool
        .with_tenant(a.tenant, |tx| {
            (0..30)
                .map(|i| send_skill_message(tx, a.proposal(&format!("from alice {i}"))))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("sends");
    for i in 0..5 {
        let text = format!("from carol {i}");
        w.send(
            &a,
            NewSkillMessage {
                from_user_id: a.carol,
                subject_skill_id: a.other_skill,
                proposed_parent_skill_id: None,
                ..a.proposal(&text)
            },
        );
    }
    w.send(&w.b, w.b.proposal("from B's alice"));
    from_alice.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));

    let listed: Vec<SkillMessageId> = common::paged(10, MessageQuery::new().limit(7), |query| {
        w.sent(&a, a.alice, query)
    })
    .expect("the pages")
    .iter()
    .flat_map(|page| ids(&page.items))
    .collect();
    assert_eq!(
        listed,
        ids(&from_alice),
        "each sent message once, newest first"
    );

    // Filters: what the recipient did with them.
    let answered = from_alice[3].id;
    w.pool
        .with_tenant(a.tenant, |tx| {
            update_message_status(tx, answered, a.bob, Response::Accepted)
        })
        .expect("accept");
    let accepted = w
        .sent(
            &a,
            a.alice,
            MessageQuery::new().status(SkillMessageStatus::Accepted),
        )
        .expect("accepted");
    assert_eq!(ids(&accepted.items), [answered]);
    let unread = w
        .sent(&a, a.alice, MessageQuery::new().limit(100).unread_only())
        .expect("unread");
    assert_eq!(unread.items.len(), 29, "answering reads it");
    let carols = w.sent(&a, a.carol, MessageQuery::new()).expect("carol's");
    assert_eq!(carols.items.len(), 5);
    assert!(carols.items.iter().all(|m| m.from_user_id == a.carol));

    // Refusals, and other tenants.
    assert!(matches!(
        w.sent(&a, w.b.alice, MessageQuery::new()),
        Err(Error::UnknownUser(_))
    ));
    assert!(matches!(
        w.sent(&a, a.alice, MessageQuery::new().limit(0)),
        Err(Error::InvalidPageSize(0))
    ));
    let bobs = w
        .sent(&a, a.bob, MessageQuery::new())
        .expect("bob sent nothing");
    assert_eq!((bobs.items.len(), bobs.next), (0, None));
}

#[test]
fn mark_all_read_marks_up_to_what_was_seen_once_and_only_in_the_tenant() {
    let w = world();
    let (a, b) = (w.a, w.b);
    for i in 0..12 {
        w.send(&a, a.proposal(&format!("seen {i}")));
    }
    w.send(&b, b.proposal("in B"));
    // Bob saw his inbox's first page; two messages arrive after.
    let seen = w
        .pool
        .with_tenant(a.tenant, |tx| {
            get_messages_for_user(tx, a.bob, MessageQuery::new())
        })
        .expect("the inbox");
    let up_to = Cursor::after(&seen.items[0]);
    let later: Vec<SkillMessage> = (0..2)
        .map(|i| w.send(&a, a.proposal(&format!("later {i}"))))
        .collect();
    let count = |f: &Fixture| {
        w.pool
            .with_tenant(f.tenant, |tx| get_unread_count_for_user(tx, f.bob))
            .expect("count")
    };

    let marked = w
        .pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, a.bob, up_to))
        .expect("mark all");
    assert_eq!(marked, 12);
    assert_eq!(count(&a), 2, "what arrived later stays unread");
    let unread = w
        .pool
        .with_tenant(a.tenant, |tx| {
            get_messages_for_user(tx, a.bob, MessageQuery::new().unread_only())
        })
        .expect("unread");
    assert_eq!(
        ids(&unread.items),
        ids(&later).into_iter().rev().collect::<Vec<_>>()
    );
    let again = w
        .pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, a.bob, up_to))
        .expect("again");
    assert_eq!(again, 0, "idempotent");
    assert_eq!(count(&b), 1, "another tenant's messages are untouched");

    // Up to a time: everything sent so far.
    let now = w
        .stored()
        .iter()
        .map(|m| m.created_at)
        .max()
        .expect("messages");
    let rest = w
        .pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, a.bob, Cursor::up_to(now)))
        .expect("the rest");
    assert_eq!((rest, count(&a)), (2, 0));

    // read_at never moves once set.
    let before = w.stored();
    w.pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, a.bob, Cursor::up_to(now)))
        .expect("again");
    assert_eq!(w.stored(), before);

    let refused = w
        .pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, b.bob, up_to));
    assert!(matches!(refused, Err(Error::UnknownUser(id)) if id == b.bob));
    let nothing = w
        .pool
        .with_tenant(a.tenant, |tx| mark_all_read(tx, a.carol, up_to))
        .expect("carol");
    assert_eq!(nothing, 0);
}

#[test]
fn racing_mark_alls_mark_each_message_once() {
    let w = world();
    let a = w.a;
    w.pool
        .with_tenant(a.tenant, |tx| {
            for i in 0..200 {
                send_skill_message(tx, a.proposal(&format!("m{i}")))?;
            }
            Ok(())
        })
        .expect("sends");
    let up_to = Cursor::up_to(w.stored()[0].created_at);
    let pool = w.db.pool_of(8);
    let start = Arc::new(Barrier::new(8));
    let counts: Vec<u64> = (0..8)
        .map(|_| {
            let (pool, start) = (pool.clone(), Arc::clone(&start));
            thread::spawn(move || {
                pool.with_tenant(a.tenant, |tx| {
                    start.wait();
                    mark_all_read(tx, a.bob, up_to)
                })
                .expect("mark all")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("racer"))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 200, "{counts:?}");
}

#[test]
fn only_the_sender_withdraws_a_pending_proposal() {
    let w = world();
    let (a, b) = (w.a, w.b);
    let sent = w.send(&a, a.proposal("take it back"));
    let withdraw = |f: &Fixture, id, user| {
        w.pool
            .with_tenant(f.tenant, |tx| withdraw_message(tx, id, user))
    };

    let before = w.stored();
    assert!(
        matches!(withdraw(&a, sent.id, a.bob), Err(Error::NotSender { message_id, user_id }) if message_id == sent.id && user_id == a.bob)
    );
    let unknown = SkillMessageId::from(uuid::Uuid::nil());
    assert!(matches!(
        withdraw(&a, unknown, a.alice),
        Err(Error::NotFound(_))
    ));
    assert!(
        matches!(withdraw(&b, sent.id, a.alice), Err(Error::NotFound(_))),
        "another tenant"
    );
    assert_eq!(w.stored(), before, "refusals write nothing");

    let withdrawn = withdraw(&a, sent.id, a.alice).expect("withdraw");
    assert_eq!(withdrawn.status, SkillMessageStatus::Withdrawn);
    assert!(withdrawn.responded_at.is_some());
    assert_eq!(withdrawn.read_at, None, "withdrawing reads nothing");
    let answer = w.pool.with_tenant(a.tenant, |tx| {
        update_message_status(tx, sent.id, a.bob, Response::Accepted)
    });
    assert!(matches!(
        answer,
        Err(Error::AlreadyResponded {
            status: SkillMessageStatus::Withdrawn,
            ..
        })
    ));
    assert!(matches!(
        withdraw(&a, sent.id, a.alice),
        Err(Error::AlreadyResponded { .. })
    ));

    // An answered proposal cannot be withdrawn.
    let answered = w.send(&a, a.proposal("answered"));
    w.pool
        .with_tenant(a.tenant, |tx| {
            update_message_status(tx, answered.id, a.bob, Response::Declined)
        })
        .expect("decline");
    assert!(matches!(
        withdraw(&a, answered.id, a.alice),
        Err(Error::AlreadyResponded {
            status: SkillMessageStatus::Declined,
            ..
        })
    ));
    let listed = w
        .sent(
            &a,
            a.alice,
            MessageQuery::new().status(SkillMessageStatus::Withdrawn),
        )
        .expect("withdrawn");
    assert_eq!(ids(&listed.items), [sent.id]);
}

#[test]
fn of_racing_withdrawals_and_answers_exactly_one_wins() {
    const RACERS: usize = 12;
    let w = world();
    let a = w.a;
    let pool = w.db.pool_of(RACERS as u32);
    for round in 0..3 {
        let sent = w.send(&a, a.proposal(&format!("race {round}")));
        let start = Arc::new(Barrier::new(RACERS));
        let outcomes: Vec<Result<SkillMessage, Error>> = (0..RACERS)
            .map(|i| {
                let (pool, start) = (pool.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    pool.with_tenant(a.tenant, |tx| {
                        start.wait();
                        match i % 3 {
                            0 => withdraw_message(tx, sent.id, a.alice),
                            1 => update_message_status(tx, sent.id, a.bob, Response::Accepted),
                            _ => update_message_status(tx, sent.id, a.bob, Response::Declined),
                        }
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("racer"))
            .collect();
        let winners: Vec<&SkillMessage> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for outcome in &outcomes {
            match outcome {
                Ok(_) => {}
                Err(Error::AlreadyResponded { status, .. }) => {
                    assert_eq!(*status, winners[0].status)
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        let stored = w
            .stored()
            .into_iter()
            .find(|m| m.id == sent.id)
            .expect("stored");
        assert_eq!(&stored, winners[0]);
    }
}
