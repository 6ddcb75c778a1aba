//! The operations beyond the seed application's five: the messages a user
//! sent, marking read what the user saw, and withdrawing a proposal.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, Page, Pool, ReadMark, SkillMessage,
    SkillMessageId, SkillMessageStatus, UserId,
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
            .with_tenant(f.tenant, |tx| tx.send(new))
            .expect("send")
    }

    fn sent(
        &self,
        f: &Fixture,
        user: UserId,
        q: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.pool.with_tenant(f.tenant, |tx| tx.outbox(user, q))
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
                .map(|i| tx.send(a.proposal(&format!("from alice {i}"))))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("sends");
    for i in 0..5 {
        let text = format!("from carol {i}");
        w.send(
            &a,
            NewSkillMessage {
                from_user_id: a.carol,
                ..a.proposal(&text)
            },
        );
    }
    w.send(&w.b, w.b.proposal("from B's alice"));
    from_alice.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));

    let listed: Vec<SkillMessageId> =
        crate::common::paged(10, MessageQuery::new().limit(7), |query| {
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
        .with_tenant(a.tenant, |tx| tx.answer(answered, a.bob, Answer::Accept))
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
    assert!(carols.items.iter().all(|m| m.from_user_id == Some(a.carol)));

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

/// Mark all read marks what the reader was shown and nothing else: the
/// unread messages of the pages listed, not those that arrived since; once;
/// only the reader's own, and only in the scope's tenant.
#[test]
fn mark_all_read_marks_what_was_seen_once_and_only_in_the_tenant() {
    let w = world();
    let (a, b) = (w.a, w.b);
    for i in 0..12 {
        w.send(&a, a.proposal(&format!("seen {i}")));
    }
    w.send(&b, b.proposal("in B"));
    // Bob is shown his inbox; two messages arrive after.
    let seen = w
        .pool
        .with_tenant(a.tenant, |tx| tx.inbox(a.bob, MessageQuery::new()))
        .expect("the inbox");
    let mark = seen.read_mark();
    assert_eq!(mark.len(), 12);
    let later: Vec<SkillMessage> = (0..2)
        .map(|i| w.send(&a, a.proposal(&format!("later {i}"))))
        .collect();
    let count = |f: &Fixture| {
        w.pool
            .with_tenant(f.tenant, |tx| tx.unread_count(f.bob))
            .expect("count")
    };
    let mark_all = |user: UserId, mark: &ReadMark| {
        w.pool
            .with_tenant(a.tenant, |tx| tx.mark_all_read(user, mark))
    };

    assert_eq!(mark_all(a.bob, &mark).expect("mark all"), 12);
    assert_eq!(count(&a), 2, "what arrived later stays unread");
    let unread = w
        .pool
        .with_tenant(a.tenant, |tx| {
            tx.inbox(a.bob, MessageQuery::new().unread_only())
        })
        .expect("unread");
    assert_eq!(
        ids(&unread.items),
        ids(&later).into_iter().rev().collect::<Vec<_>>()
    );
    let before = w.stored();
    assert_eq!(mark_all(a.bob, &mark).expect("again"), 0, "idempotent");
    assert_eq!(w.stored(), before, "read_at never moves once set");
    assert_eq!(count(&b), 1, "another tenant's messages are untouched");

    // A page read already marks nothing; someone else's messages neither.
    let later_mark = unread.read_mark();
    assert_eq!(mark_all(a.alice, &later_mark).expect("alice"), 0);
    assert_eq!(mark_all(a.carol, &later_mark).expect("carol"), 0);
    assert_eq!(mark_all(a.bob, &later_mark).expect("the rest"), 2);
    assert_eq!(count(&a), 0);
    assert!(seen.read_mark() != ReadMark::default());
    let read_page = w
        .pool
        .with_tenant(a.tenant, |tx| tx.inbox(a.bob, MessageQuery::new()))
        .expect("the inbox, read");
    assert!(read_page.read_mark().is_empty(), "nothing unread to mark");

    let refused = mark_all(b.bob, &mark);
    assert!(matches!(refused, Err(Error::UnknownUser(id)) if id == b.bob));
    let too_many: ReadMark = (0..=skill_messages::MAX_READ_MARK)
        .map(|n| SkillMessageId::from(uuid::Uuid::from_u128(n as u128)))
        .collect();
    assert!(matches!(
        mark_all(a.bob, &too_many),
        Err(Error::InvalidReadMark)
    ));
}

/// A message committed after the reader listed is never marked read, even
/// when it was sent before the newest message shown: scope S1 sends m1 and
/// stays open; S2 sends m2 and commits; the recipient lists (and sees only
/// m2) and marks all read; S1 commits. m1 stays unread. (Its `created_at`,
/// its transaction's start, is older than m2's.)
#[test]
fn mark_all_read_never_marks_a_message_committed_after_the_reader_listed() {
    use std::sync::mpsc;
    use std::time::Duration;

    let w = world();
    let a = w.a;
    let (sent, sent_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let w = &w;
    let (m1, m2, marked) = thread::scope(|s| {
        let s1 = s.spawn(move || {
            w.pool.with_tenant(a.tenant, |tx| {
                let m1 = tx.send(a.proposal("m1, committed late"))?;
                sent.send(()).expect("tell the main thread");
                go_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the main thread marks all read");
                Ok(m1)
            })
        });
        sent_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("S1 sent m1");
        let m2 = w.send(&a, a.proposal("m2, committed first"));
        let (page, marked) = w
            .pool
            .with_tenant(a.tenant, |tx| {
                let page = tx.inbox(a.bob, MessageQuery::new())?;
                let marked = tx.mark_all_read(a.bob, &page.read_mark())?;
                Ok((page, marked))
            })
            .expect("list and mark all read");
        assert_eq!(ids(&page.items), [m2.id], "the reader sees m2 only");
        go.send(()).expect("let S1 commit");
        let m1 = s1.join().expect("no panic").expect("S1 commits");
        (m1, m2, marked)
    });
    assert!(m1.created_at < m2.created_at, "m1 was sent first");
    assert_eq!(marked, 1);
    let stored = w.stored();
    let read_at = |id| stored.iter().find(|m| m.id == id).map(|m| m.read_at);
    assert_eq!(read_at(m1.id), Some(None), "m1, unseen, stays unread");
    assert!(matches!(read_at(m2.id), Some(Some(_))));
}

#[test]
fn racing_mark_alls_mark_each_message_once() {
    let w = world();
    let a = w.a;
    w.pool
        .with_tenant(a.tenant, |tx| {
            for i in 0..200 {
                tx.send(a.proposal(&format!("m{i}")))?;
            }
            Ok(())
        })
        .expect("sends");
    let mut mark = ReadMark::default();
    for page in crate::common::paged(3, MessageQuery::new().limit(100), |query| {
        w.pool.with_tenant(a.tenant, |tx| tx.inbox(a.bob, query))
    })
    .expect("the pages")
    {
        mark.extend(&page);
    }
    assert_eq!(mark.len(), 200);
    let pool = w.db.pool_of(8);
    let start = Barrier::new(8);
    let counts: Vec<u64> = thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    pool.with_tenant(a.tenant, |tx| {
                        start.wait();
                        tx.mark_all_read(a.bob, &mark)
                    })
                    .expect("mark all")
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|t| t.join().expect("racer"))
            .collect()
    });
    assert_eq!(counts.iter().sum::<u64>(), 200, "{counts:?}");
}

#[test]
fn only_the_sender_withdraws_a_pending_proposal() {
    let w = world();
    let (a, b) = (w.a, w.b);
    let sent = w.send(&a, a.proposal("take it back"));
    let withdraw = |f: &Fixture, id, user| w.pool.with_tenant(f.tenant, |tx| tx.withdraw(id, user));

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
    let answer = w
        .pool
        .with_tenant(a.tenant, |tx| tx.answer(sent.id, a.bob, Answer::Accept));
    assert!(matches!(
        answer,
        Err(Error::NotPending {
            status: SkillMessageStatus::Withdrawn,
            ..
        })
    ));
    assert!(matches!(
        withdraw(&a, sent.id, a.alice),
        Err(Error::NotPending { .. })
    ));

    // An answered proposal cannot be withdrawn.
    let answered = w.send(&a, a.proposal("answered"));
    w.pool
        .with_tenant(a.tenant, |tx| {
            tx.answer(answered.id, a.bob, Answer::Decline)
        })
        .expect("decline");
    assert!(matches!(
        withdraw(&a, answered.id, a.alice),
        Err(Error::NotPending {
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
                            0 => tx.withdraw(sent.id, a.alice),
                            1 => tx.answer(sent.id, a.bob, Answer::Accept),
                            _ => tx.answer(sent.id, a.bob, Answer::Decline),
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
                Err(Error::NotPending { status, .. }) => {
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
