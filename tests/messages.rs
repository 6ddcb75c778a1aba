//! The five service functions: what each returns, every error each can
//! give, and that a refused call writes nothing.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Cursor, Error, InboxQuery, NewSkillMessage, Page, Pool, SkillMessage, SkillMessageStatus,
    get_message_details_for_user, get_messages_for_user, get_unread_count_for_user,
    mark_message_read, send_skill_message, update_message_status,
};
use uuid::Uuid;

use SkillMessageStatus::{Accepted, Declined, Pending};

fn limit(limit: u32) -> InboxQuery {
    InboxQuery {
        limit,
        ..InboxQuery::default()
    }
}

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
    fn send(&self, f: &Fixture, new: NewSkillMessage) -> Result<SkillMessage, Error> {
        self.pool
            .with_tenant(f.tenant, |tx| send_skill_message(tx, new))
    }

    fn inbox(
        &self,
        f: &Fixture,
        user: Uuid,
        query: InboxQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.pool
            .with_tenant(f.tenant, |tx| get_messages_for_user(tx, user, query))
    }

    /// Every stored message, as the superuser sees it.
    fn stored(&self) -> Vec<SkillMessage> {
        messages::table
            .select(SkillMessage::as_select())
            .order(messages::id)
            .load(&mut self.db.admin())
            .expect("read every message")
    }
}

#[test]
fn send_stores_a_pending_unread_message_in_the_scopes_tenant() {
    let w = world();
    let sent = w
        .send(
            &w.a,
            w.a.proposal("  \tPlease group rust under programming.\n"),
        )
        .expect("send");
    assert_eq!(sent.tenant_id, w.a.tenant);
    assert_eq!(sent.from_user_id, w.a.alice);
    assert_eq!(sent.to_user_id, w.a.bob);
    assert_eq!(sent.subject_skill_id, w.a.skill);
    assert_eq!(sent.proposed_parent_skill_id, Some(w.a.parent));
    assert_eq!(sent.message, "Please group rust under programming.");
    assert_eq!(sent.status, Pending);
    assert_eq!((sent.read_at, sent.responded_at), (None, None));
    assert_eq!(w.stored(), [sent]);

    let without_parent = w
        .send(
            &w.a,
            NewSkillMessage {
                proposed_parent_skill_id: None,
                ..w.a.proposal("no parent yet")
            },
        )
        .expect("send without a parent");
    assert_eq!(without_parent.proposed_parent_skill_id, None);
}

#[test]
fn the_inbox_pages_newest_first_and_every_message_exactly_once() {
    let w = world();
    let a = w.a;
    // 45 messages in 9 scopes of 5: each scope shares one created_at, so the
    // id breaks the ties.
    let mut sent = Vec::new();
    for batch in 0..9 {
        let batch = w
            .pool
            .with_tenant(a.tenant, |tx| {
                (0..5)
                    .map(|i| send_skill_message(tx, a.proposal(&format!("message {batch}.{i}"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("send a batch");
        sent.extend(batch);
    }
    w.send(&w.b, w.b.proposal("another tenant"))
        .expect("send in B");
    sent.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));

    let mut pages = Vec::new();
    let mut query = InboxQuery::default();
    loop {
        let page = w.inbox(&a, a.bob, query).expect("a page");
        pages.push(page.items.len());
        let next = page.next;
        query = query.after(next);
        let ids: Vec<Uuid> = page.items.into_iter().map(|m| m.id).collect();
        let start = pages.iter().sum::<usize>() - ids.len();
        let expected: Vec<Uuid> = sent[start..start + ids.len()]
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, expected, "page {}", pages.len());
        if next.is_none() {
            break;
        }
    }
    assert_eq!(pages, [20, 20, 5]);

    // A page of exactly the remaining messages has no next page.
    let exact = w.inbox(&a, a.bob, limit(45)).expect("one page of all");
    assert_eq!((exact.items.len(), exact.next), (45, None));

    // The cursor survives a round trip through its string form.
    let first = w.inbox(&a, a.bob, limit(1)).expect("first page");
    let cursor = first.next.expect("more pages");
    assert_eq!(cursor.to_string().parse::<Cursor>().expect("parse"), cursor);
}

#[test]
fn pagination_misses_nothing_and_repeats_nothing_while_messages_arrive() {
    let w = world();
    let a = w.a;
    for i in 0..30 {
        w.send(&a, a.proposal(&format!("before {i}")))
            .expect("send");
    }
    let mut seen = Vec::new();
    let mut query = limit(7);
    loop {
        let page = w.inbox(&a, a.bob, query).expect("page");
        seen.extend(page.items.iter().map(|m| m.id));
        // New messages arrive between pages, and from other users too.
        w.send(&a, a.proposal("arrived while paging"))
            .expect("send");
        let carol = NewSkillMessage {
            from_user_id: a.carol,
            subject_skill_id: a.other_skill,
            proposed_parent_skill_id: None,
            ..a.proposal("from carol")
        };
        w.send(&a, carol).expect("send");
        match page.next {
            Some(next) => query = query.after(Some(next)),
            None => break,
        }
    }
    let distinct: BTreeSet<&Uuid> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no message twice");
    let before: BTreeSet<Uuid> = w
        .stored()
        .into_iter()
        .filter(|m| m.message.starts_with("before"))
        .map(|m| m.id)
        .collect();
    assert_eq!(before.len(), 30);
    assert!(before.iter().all(|id| distinct.contains(id)), "none missed");
}

#[test]
fn the_inbox_filters_by_unread_and_status_and_refuses_bad_queries() {
    let w = world();
    let a = w.a;
    let sent: Vec<SkillMessage> = (0..6)
        .map(|i| w.send(&a, a.proposal(&format!("m{i}"))).expect("send"))
        .collect();
    w.pool
        .with_tenant(a.tenant, |tx| {
            mark_message_read(tx, sent[0].id, a.bob)?;
            mark_message_read(tx, sent[1].id, a.bob)?;
            update_message_status(tx, sent[2].id, a.bob, Accepted)?;
            update_message_status(tx, sent[3].id, a.bob, Declined)
        })
        .expect("read and respond");
    let list = |query: InboxQuery| -> Result<Vec<Uuid>, Error> {
        let page = w.inbox(&a, a.bob, query)?;
        let mut ids: Vec<Uuid> = page.items.into_iter().map(|m| m.id).collect();
        ids.sort();
        Ok(ids)
    };
    let ids = |indexes: &[usize]| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = indexes.iter().map(|i| sent[*i].id).collect();
        ids.sort();
        ids
    };
    let all = InboxQuery::default();
    // Responding marks a message read.
    assert_eq!(
        list(InboxQuery {
            unread_only: true,
            ..all
        })
        .expect("unread"),
        ids(&[4, 5])
    );
    assert_eq!(
        list(InboxQuery {
            status: Some(Pending),
            ..all
        })
        .expect("pending"),
        ids(&[0, 1, 4, 5])
    );
    assert_eq!(
        list(InboxQuery {
            status: Some(Accepted),
            ..all
        })
        .expect("accepted"),
        ids(&[2])
    );
    assert_eq!(
        list(InboxQuery {
            status: Some(Declined),
            unread_only: true,
            ..all
        })
        .expect("none"),
        ids(&[])
    );
    // Alice received nothing; carol neither; both exist.
    let alice_inbox = w.inbox(&a, a.alice, all).expect("alice's inbox");
    assert_eq!((alice_inbox.items.len(), alice_inbox.next), (0, None));

    for (query, expected) in [
        (InboxQuery { limit: 0, ..all }, "InvalidPageSize(0)"),
        (InboxQuery { limit: 101, ..all }, "InvalidPageSize(101)"),
    ] {
        assert_eq!(format!("{:?}", list(query).expect_err("refused")), expected);
    }
    assert!(list(InboxQuery { limit: 100, ..all }).is_ok());
    for garbage in [
        "",
        "zz",
        &"0".repeat(47),
        &"g".repeat(48),
        "ffffffffffffffff0000",
        // Signed hexadecimal, which Rust's integer parsing would accept.
        &format!("+{}", "0".repeat(47)),
    ] {
        assert!(
            matches!(garbage.parse::<Cursor>(), Err(Error::InvalidCursor)),
            "{garbage:?}"
        );
    }
    for stranger in [Uuid::nil(), Uuid::new_v4(), w.b.bob] {
        let refused = w.inbox(&a, stranger, all);
        assert!(matches!(refused, Err(Error::UnknownUser(id)) if id == stranger));
    }
}

#[test]
fn the_detailed_inbox_names_the_users_and_skills_of_each_message() {
    let w = world();
    let a = w.a;
    let with_parent = w.send(&a, a.proposal("with parent")).expect("send");
    let without_parent = w
        .send(
            &a,
            NewSkillMessage {
                from_user_id: a.carol,
                subject_skill_id: a.other_skill,
                proposed_parent_skill_id: None,
                ..a.proposal("without parent")
            },
        )
        .expect("send");
    let (plain, detailed) = w
        .pool
        .with_tenant(a.tenant, |tx| {
            let query = InboxQuery {
                limit: 1,
                ..InboxQuery::default()
            };
            let plain = get_messages_for_user(tx, a.bob, query)?;
            let detailed = get_message_details_for_user(tx, a.bob, query)?;
            let rest = get_message_details_for_user(tx, a.bob, query.after(detailed.next))?;
            Ok::<_, Error>((plain, [detailed, rest]))
        })
        .expect("list with details");
    let [first, second] = detailed;
    assert_eq!(
        first.next, plain.next,
        "the same positions as the plain inbox"
    );
    assert_eq!(second.next, None);
    let by_id = |id: Uuid| {
        first
            .items
            .iter()
            .chain(&second.items)
            .find(|d| d.message.id == id)
            .expect("listed")
            .clone()
    };
    let d = by_id(with_parent.id);
    assert_eq!(d.message, with_parent);
    assert_eq!(
        (
            d.sender.display_name.as_str(),
            d.recipient.display_name.as_str()
        ),
        ("alice", "bob")
    );
    assert_eq!(d.subject_skill.name, "rust");
    assert_eq!(
        d.proposed_parent_skill.map(|s| s.name),
        Some("programming".into())
    );
    let d = by_id(without_parent.id);
    assert_eq!(d.sender.display_name, "carol");
    assert_eq!(d.subject_skill.name, "postgres");
    assert_eq!(d.proposed_parent_skill, None);

    let refused = w.pool.with_tenant(a.tenant, |tx| {
        get_message_details_for_user(tx, w.b.bob, InboxQuery::default())
    });
    assert!(matches!(refused, Err(Error::UnknownUser(_))));
}

#[test]
fn the_unread_count_follows_sends_reads_and_responses() {
    let w = world();
    let a = w.a;
    let count = |user: Uuid| {
        w.pool
            .with_tenant(a.tenant, |tx| get_unread_count_for_user(tx, user))
    };
    assert_eq!(count(a.bob).expect("count"), 0);
    let sent: Vec<SkillMessage> = (0..4)
        .map(|i| w.send(&a, a.proposal(&format!("m{i}"))).expect("send"))
        .collect();
    w.send(&w.b, w.b.proposal("in B")).expect("send in B");
    assert_eq!(count(a.bob).expect("count"), 4);
    assert_eq!(
        count(a.alice).expect("count"),
        0,
        "the sender's count is unchanged"
    );
    w.pool
        .with_tenant(a.tenant, |tx| mark_message_read(tx, sent[0].id, a.bob))
        .expect("read");
    w.pool
        .with_tenant(a.tenant, |tx| {
            update_message_status(tx, sent[1].id, a.bob, Declined)
        })
        .expect("decline");
    assert_eq!(count(a.bob).expect("count"), 2);
    for stranger in [Uuid::new_v4(), w.b.bob] {
        assert!(matches!(count(stranger), Err(Error::UnknownUser(id)) if id == stranger));
    }
}

#[test]
fn marking_read_is_for_the_recipient_and_sets_read_at_once() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("read me")).expect("send");
    let b_message = w.send(&w.b, w.b.proposal("in B")).expect("send in B");
    let mark = |id: Uuid, user: Uuid| {
        w.pool
            .with_tenant(a.tenant, |tx| mark_message_read(tx, id, user))
    };

    let first = mark(sent.id, a.bob).expect("mark read");
    let read_at = first.read_at.expect("read_at is set");
    assert_eq!(
        SkillMessage {
            read_at: None,
            ..first.clone()
        },
        sent
    );
    let again = mark(sent.id, a.bob).expect("mark read again");
    assert_eq!(again, first, "read_at never moves");

    let before = w.stored();
    assert!(matches!(
        mark(sent.id, a.alice),
        Err(Error::NotRecipient { message_id, user_id }) if message_id == sent.id && user_id == a.alice
    ));
    let nobody = Uuid::new_v4();
    assert!(matches!(mark(nobody, a.bob), Err(Error::NotFound(id)) if id == nobody));
    assert!(matches!(mark(b_message.id, w.b.bob), Err(Error::NotFound(id)) if id == b_message.id));
    assert_eq!(w.stored(), before, "refusals write nothing");
    assert!(read_at >= sent.created_at);
}

#[test]
fn responding_is_for_the_recipient_once_and_only_with_a_response() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("accept me")).expect("send");
    let respond = |user: Uuid, status: SkillMessageStatus| {
        w.pool.with_tenant(a.tenant, |tx| {
            update_message_status(tx, sent.id, user, status)
        })
    };
    assert!(matches!(
        respond(a.bob, Pending),
        Err(Error::NotAResponse(Pending))
    ));
    assert!(matches!(
        respond(a.carol, Accepted),
        Err(Error::NotRecipient { .. })
    ));
    let accepted = respond(a.bob, Accepted).expect("accept");
    assert_eq!(accepted.status, Accepted);
    let responded_at = accepted.responded_at.expect("responded_at is set");
    assert_eq!(accepted.read_at, Some(responded_at), "responding reads it");

    let before = w.stored();
    for status in [Accepted, Declined] {
        assert!(matches!(
            respond(a.bob, status),
            Err(Error::AlreadyResponded { message_id, status: Accepted }) if message_id == sent.id
        ));
    }
    let nobody = Uuid::new_v4();
    let missing = w.pool.with_tenant(a.tenant, |tx| {
        update_message_status(tx, nobody, a.bob, Declined)
    });
    assert!(matches!(missing, Err(Error::NotFound(id)) if id == nobody));
    let elsewhere = w.send(&w.b, w.b.proposal("in B")).expect("send in B");
    let hidden = w.pool.with_tenant(a.tenant, |tx| {
        update_message_status(tx, elsewhere.id, w.b.bob, Declined)
    });
    assert!(matches!(hidden, Err(Error::NotFound(_))));
    assert_eq!(
        w.stored()
            .into_iter()
            .filter(|m| m.tenant_id == a.tenant)
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .filter(|m| m.tenant_id == a.tenant)
            .collect::<Vec<_>>()
    );

    // A message read before it is answered keeps its first read_at.
    let read_first = w.send(&a, a.proposal("read, then decline")).expect("send");
    let read = w
        .pool
        .with_tenant(a.tenant, |tx| mark_message_read(tx, read_first.id, a.bob))
        .expect("read");
    let declined = w
        .pool
        .with_tenant(a.tenant, |tx| {
            update_message_status(tx, read_first.id, a.bob, Declined)
        })
        .expect("decline");
    assert_eq!(declined.read_at, read.read_at);
    assert_eq!(declined.status, Declined);
}

#[test]
fn of_sixteen_racing_responses_exactly_one_wins() {
    const RACERS: usize = 16;
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("race")).expect("send");
    let pool = Pool::builder()
        .max_size(RACERS as u32)
        .build(&w.db.app_url())
        .expect("pool");
    let start = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (pool, start) = (pool.clone(), Arc::clone(&start));
            let status = if i % 2 == 0 { Accepted } else { Declined };
            thread::spawn(move || {
                pool.with_tenant(a.tenant, |tx| {
                    start.wait();
                    update_message_status(tx, sent.id, a.bob, status)
                })
            })
        })
        .collect();
    let outcomes: Vec<Result<SkillMessage, Error>> = racers
        .into_iter()
        .map(|r| r.join().expect("racer"))
        .collect();
    let winners: Vec<&SkillMessage> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0].clone();
    for outcome in &outcomes {
        match outcome {
            Ok(_) => {}
            Err(Error::AlreadyResponded { status, .. }) => assert_eq!(*status, winner.status),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(w.stored(), [winner]);
}
