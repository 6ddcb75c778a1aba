//! The five service functions: what each returns, every error each can
//! give, and that a refused call writes nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::{Fixture, TestDb, seed_tenant};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Cursor, Error, MessageQuery, NewSkillMessage, Page, Pool, SkillMessage, SkillMessageId,
    SkillMessageStatus, UserId,
};
use uuid::Uuid;

use SkillMessageStatus::{Accepted, Declined, Pending};

fn limit(limit: u32) -> MessageQuery {
    MessageQuery::new().limit(limit)
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
    fn send(&self, f: &Fixture, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.pool.with_tenant(f.tenant, |tx| tx.send(new))
    }

    fn inbox(
        &self,
        f: &Fixture,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.pool.with_tenant(f.tenant, |tx| tx.inbox(user, query))
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
    assert_eq!(sent.from_user_id, Some(w.a.alice));
    assert_eq!(sent.to_user_id, Some(w.a.bob));
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
                    .map(|i| tx.send(a.proposal(&format!("message {batch}.{i}"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("send a batch");
        sent.extend(batch);
    }
    w.send(&w.b, w.b.proposal("another tenant"))
        .expect("send in B");
    sent.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));

    let pages = crate::common::paged(10, MessageQuery::default(), |query| {
        w.inbox(&a, a.bob, query)
    })
    .expect("the pages");
    let sizes: Vec<usize> = pages.iter().map(|page| page.items.len()).collect();
    assert_eq!(sizes, [20, 20, 5]);
    let listed: Vec<SkillMessageId> = pages.iter().flat_map(|p| &p.items).map(|m| m.id).collect();
    let expected: Vec<SkillMessageId> = sent.iter().map(|m| m.id).collect();
    assert_eq!(listed, expected, "newest first, each once");

    // A page of exactly the remaining messages has no next page.
    let exact = w.inbox(&a, a.bob, limit(45)).expect("one page of all");
    assert_eq!((exact.items.len(), exact.next), (45, None));

    // The cursor survives a round trip through its string form.
    let first = w.inbox(&a, a.bob, limit(1)).expect("first page");
    let cursor = first.next.expect("more pages");
    assert_eq!(cursor.to_string().parse::<Cursor>().expect("parse"), cursor);
}

/// Every message sent in one scope shares one `created_at`: pages whose
/// cursors fall inside such a tie group still list each message once, in
/// id order, and a cursor made for a known message starts right after it.
#[test]
fn pages_through_a_tie_group_list_each_message_exactly_once() {
    const TIES: usize = 600;
    let w = world();
    let a = w.a;
    let sent = send_tie_group(&w, TIES);

    let listed: Vec<SkillMessageId> =
        crate::common::paged(TIES / 37 + 2, limit(37), |query| w.inbox(&a, a.bob, query))
            .expect("the pages")
            .iter()
            .flat_map(|page| &page.items)
            .map(|m| m.id)
            .collect();
    let expected: Vec<SkillMessageId> = sent.iter().map(|m| m.id).collect();
    assert_eq!(listed, expected, "each message once, newest id first");

    // After a message picked in the middle of the group, the next ones.
    let known = &sent[TIES / 2];
    let page = w
        .inbox(&a, a.bob, limit(5).after(Some(Cursor::after(known))))
        .expect("a page after a known message");
    let after: Vec<SkillMessageId> = page.items.iter().map(|m| m.id).collect();
    assert_eq!(after, expected[TIES / 2 + 1..TIES / 2 + 6]);
    assert_eq!(Cursor::at(known.created_at, known.id), Cursor::after(known));
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
    crate::common::paged(10, limit(7), |query| {
        let page = w.inbox(&a, a.bob, query)?;
        seen.extend(page.items.iter().map(|m| m.id));
        // New messages arrive between pages, and from other users too.
        w.send(&a, a.proposal("arrived while paging"))
            .expect("send");
        let carol = NewSkillMessage {
            from_user_id: a.carol,
            ..a.proposal("from carol")
        };
        w.send(&a, carol).expect("send");
        Ok::<_, Error>(page)
    })
    .expect("the pages");
    let distinct: BTreeSet<&SkillMessageId> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no message twice");
    let before: BTreeSet<SkillMessageId> = w
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
            tx.mark_read(sent[0].id, a.bob)?;
            tx.mark_read(sent[1].id, a.bob)?;
            tx.answer(sent[2].id, a.bob, Answer::Accept)?;
            tx.answer(sent[3].id, a.bob, Answer::Decline)
        })
        .expect("read and respond");
    let list = |query: MessageQuery| -> Result<Vec<SkillMessageId>, Error> {
        let page = w.inbox(&a, a.bob, query)?;
        let mut ids: Vec<SkillMessageId> = page.items.into_iter().map(|m| m.id).collect();
        ids.sort();
        Ok(ids)
    };
    let ids = |indexes: &[usize]| -> Vec<SkillMessageId> {
        let mut ids: Vec<SkillMessageId> = indexes.iter().map(|i| sent[*i].id).collect();
        ids.sort();
        ids
    };
    let all = MessageQuery::new();
    // Responding marks a message read.
    assert_eq!(list(all.unread_only()).expect("unread"), ids(&[4, 5]));
    assert_eq!(
        list(all.status(Pending)).expect("pending"),
        ids(&[0, 1, 4, 5])
    );
    assert_eq!(list(all.status(Accepted)).expect("accepted"), ids(&[2]));
    assert_eq!(
        list(all.status(Declined).unread_only()).expect("none"),
        ids(&[])
    );
    // Alice received nothing; carol neither; both exist.
    let alice_inbox = w.inbox(&a, a.alice, all).expect("alice's inbox");
    assert_eq!((alice_inbox.items.len(), alice_inbox.next), (0, None));

    for (query, expected) in [
        (all.limit(0), "InvalidPageSize(0)"),
        (all.limit(101), "InvalidPageSize(101)"),
    ] {
        assert_eq!(format!("{:?}", list(query).expect_err("refused")), expected);
    }
    assert!(list(all.limit(100)).is_ok());
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
    for stranger in [Uuid::nil().into(), Uuid::new_v4().into(), w.b.bob] {
        let refused = w.inbox(&a, stranger, all);
        assert!(matches!(refused, Err(Error::UnknownUser(id)) if id == stranger));
    }
}

#[test]
fn details_name_the_users_and_skills_of_each_listed_message() {
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
    let details = w
        .pool
        .with_tenant(a.tenant, |tx| {
            let page = tx.inbox(a.bob, MessageQuery::new())?;
            page.items
                .iter()
                .map(|m| tx.details(m.id, a.bob))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("the inbox and each message's details");
    assert_eq!(details.len(), 2);
    let by_id = |id: SkillMessageId| {
        details
            .iter()
            .find(|d| d.message.id == id)
            .expect("listed")
            .clone()
    };
    let d = by_id(with_parent.id);
    assert_eq!(d.message, with_parent);
    assert_eq!((d.sender_name(), d.recipient_name()), ("alice", "bob"));
    assert_eq!(d.subject_skill.name, "rust");
    assert_eq!(
        d.proposed_parent_skill.map(|s| s.name),
        Some("programming".into())
    );
    let d = by_id(without_parent.id);
    assert_eq!(d.sender_name(), "carol");
    assert_eq!(d.subject_skill.name, "postgres");
    assert_eq!(d.proposed_parent_skill, None);
}

#[test]
fn the_unread_count_follows_sends_reads_and_responses() {
    let w = world();
    let a = w.a;
    let count = |user: UserId| w.pool.with_tenant(a.tenant, |tx| tx.unread_count(user));
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
        .with_tenant(a.tenant, |tx| tx.mark_read(sent[0].id, a.bob))
        .expect("read");
    w.pool
        .with_tenant(a.tenant, |tx| tx.answer(sent[1].id, a.bob, Answer::Decline))
        .expect("decline");
    assert_eq!(count(a.bob).expect("count"), 2);
    for stranger in [Uuid::new_v4().into(), w.b.bob] {
        assert!(matches!(count(stranger), Err(Error::UnknownUser(id)) if id == stranger));
    }
}

#[test]
fn marking_read_is_for_the_recipient_and_sets_read_at_once() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("read me")).expect("send");
    let b_message = w.send(&w.b, w.b.proposal("in B")).expect("send in B");
    let mark = |id: SkillMessageId, user: UserId| {
        w.pool.with_tenant(a.tenant, |tx| tx.mark_read(id, user))
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
    let nobody = SkillMessageId::from(Uuid::new_v4());
    assert!(matches!(mark(nobody, a.bob), Err(Error::NotFound(id)) if id == nobody));
    assert!(matches!(mark(b_message.id, w.b.bob), Err(Error::NotFound(id)) if id == b_message.id));
    assert_eq!(w.stored(), before, "refusals write nothing");
    assert!(read_at >= sent.created_at);
}

#[test]
fn responding_is_for_the_recipient_and_once() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("accept me")).expect("send");
    let respond = |user: UserId, response: Answer| {
        w.pool
            .with_tenant(a.tenant, |tx| tx.answer(sent.id, user, response))
    };
    assert!(matches!(
        respond(a.carol, Answer::Accept),
        Err(Error::NotRecipient { .. })
    ));
    let accepted = respond(a.bob, Answer::Accept).expect("accept");
    assert_eq!(accepted.status, Accepted);
    let responded_at = accepted.responded_at.expect("responded_at is set");
    assert_eq!(accepted.read_at, Some(responded_at), "responding reads it");

    let before = w.stored();
    for response in [Answer::Accept, Answer::Decline] {
        assert!(matches!(
            respond(a.bob, response),
            Err(Error::NotPending { message_id, status: Accepted }) if message_id == sent.id
        ));
    }
    let nobody = SkillMessageId::from(Uuid::new_v4());
    let missing = w
        .pool
        .with_tenant(a.tenant, |tx| tx.answer(nobody, a.bob, Answer::Decline));
    assert!(matches!(missing, Err(Error::NotFound(id)) if id == nobody));
    let elsewhere = w.send(&w.b, w.b.proposal("in B")).expect("send in B");
    let hidden = w.pool.with_tenant(a.tenant, |tx| {
        tx.answer(elsewhere.id, w.b.bob, Answer::Decline)
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
        .with_tenant(a.tenant, |tx| tx.mark_read(read_first.id, a.bob))
        .expect("read");
    let declined = w
        .pool
        .with_tenant(a.tenant, |tx| {
            tx.answer(read_first.id, a.bob, Answer::Decline)
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
    let pool = w.db.pool_of(RACERS as u32);
    let start = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (pool, start) = (pool.clone(), Arc::clone(&start));
            let response = if i % 2 == 0 {
                Answer::Accept
            } else {
                Answer::Decline
            };
            thread::spawn(move || {
                pool.with_tenant(a.tenant, |tx| {
                    start.wait();
                    tx.answer(sent.id, a.bob, response)
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
            Err(Error::NotPending { status, .. }) => assert_eq!(*status, winner.status),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(w.stored(), [winner]);
}

/// `count` messages from alice to bob in one scope, so with one
/// `created_at`, in inbox order: newest id first.
fn send_tie_group(w: &World, count: usize) -> Vec<SkillMessage> {
    let a = w.a;
    let mut sent = w
        .pool
        .with_tenant(a.tenant, |tx| {
            (0..count)
                .map(|i| tx.send(a.proposal(&format!("tie {i}"))))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("send a tie group");
    assert!(sent.iter().all(|m| m.created_at == sent[0].created_at));
    sent.sort_by_key(|m| std::cmp::Reverse(m.id));
    sent
}

/// The keyset condition is an index condition whole: a page whose cursor
/// sits deep inside a tie group reads the page's rows from the index and
/// no more, where `created_at <= c AND (created_at < c OR id < i)` would
/// read and discard every tie before the cursor.
#[test]
fn a_page_inside_a_tie_group_reads_only_its_own_rows() {
    const TIES: usize = 600;
    let w = world();
    let a = w.a;
    let sent = send_tie_group(&w, TIES);
    let mut admin = w.db.admin();
    admin
        .batch_execute("ANALYZE skill_messages")
        .expect("analyze");
    let deep = Cursor::after(&sent[TIES / 2]);

    // Tuples read from the table and its indexes by one call on a fresh
    // connection, whose statistics reach the server when it closes.
    let mut tuples_read = |query: MessageQuery| -> i64 {
        let before = tuples_read_so_far(&mut admin);
        let pool = w.db.pool_of(1);
        let page = pool
            .with_tenant(a.tenant, |tx| tx.inbox(a.bob, query))
            .expect("a page");
        assert_eq!(page.items.len(), 20);
        drop(pool);
        wait_for(|| tuples_read_so_far(&mut admin) > before);
        tuples_read_so_far(&mut admin) - before
    };
    let first = tuples_read(limit(20));
    let inside = tuples_read(limit(20).after(Some(deep)));
    assert!(first <= 21 + 2, "page one read {first} tuples");
    assert!(
        inside <= 21 + 2,
        "a page inside the ties read {inside} tuples"
    );
}

/// Tuples read so far from `skill_messages` and its indexes, as the
/// statistics the server has received say: on a Citus cluster, those of
/// every shard, from the workers.
fn tuples_read_so_far(admin: &mut PgConnection) -> i64 {
    let sql = if crate::common::on_citus() {
        "SELECT coalesce(sum(result::bigint), 0)::bigint AS n \
         FROM run_command_on_placements('skill_messages', \
             $$SELECT pg_stat_get_tuples_returned('%1$s'::regclass) \
               + (SELECT coalesce(sum(pg_stat_get_tuples_returned(indexrelid)), 0) \
                  FROM pg_index WHERE indrelid = '%1$s'::regclass)$$)"
    } else {
        "SELECT (SELECT coalesce(sum(idx_tup_read), 0)::bigint FROM pg_stat_user_indexes \
                 WHERE relid = 'skill_messages'::regclass) \
              + (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables \
                 WHERE relid = 'skill_messages'::regclass) AS n"
    };
    admin
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .expect("fresh statistics");
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(admin)
        .expect("read the statistics")
        .n
}

/// Waits up to thirty seconds for `done`: a backend that stays open (a
/// pooler's) reports its statistics once idle for ten.
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The stored row version of message `id`: its `xmin` and `ctid`, which
/// change with every update that writes the row (on a Citus cluster, read
/// on the shard that holds it).
fn row_version(admin: &mut PgConnection, id: SkillMessageId) -> String {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let sql = if crate::common::on_citus() {
        format!(
            "SELECT string_agg(result, '') AS version \
             FROM run_command_on_placements('skill_messages', \
                 $$SELECT coalesce(string_agg(xmin::text || ' ' || ctid::text, ''), '') \
                   FROM %s WHERE id = '{id}'$$)"
        )
    } else {
        format!(
            "SELECT xmin::text || ' ' || ctid::text AS version \
             FROM skill_messages WHERE id = '{id}'"
        )
    };
    let version = diesel::sql_query(sql)
        .get_result::<Version>(admin)
        .expect("read the row's version")
        .version;
    assert!(!version.is_empty(), "message {id} is stored");
    version
}

/// `read_at` is set once: a scope whose transaction began before the
/// message was read (so its `now()` is earlier) gets the stored `read_at`
/// when it marks the message read or answers it, and moves nothing.
#[test]
fn read_at_never_moves_for_a_transaction_that_began_earlier() {
    use std::sync::mpsc;
    use std::time::Duration;

    let w = world();
    let a = w.a;
    let for_read = w.send(&a, a.proposal("read twice")).expect("send");
    let for_answer = w.send(&a, a.proposal("read, then answer")).expect("send");
    let (began, began_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let (w, ids) = (&w, [for_read.id, for_answer.id]);
    let earlier = thread::scope(|s| {
        let late = s.spawn(move || {
            w.pool.with_tenant(a.tenant, |tx| {
                // The transaction, and with it its `now()`, starts here.
                tx.unread_count(a.bob)?;
                began.send(()).expect("tell the main thread");
                go_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the main thread reads both");
                let read = tx.mark_read(ids[0], a.bob)?;
                let answered = tx.answer(ids[1], a.bob, Answer::Accept)?;
                Ok((read, answered))
            })
        });
        began_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the earlier scope begins");
        let read: Vec<SkillMessage> = ids
            .map(|id| {
                w.pool
                    .with_tenant(a.tenant, |tx| tx.mark_read(id, a.bob))
                    .expect("read now")
            })
            .into();
        go.send(()).expect("let the earlier scope go on");
        let (late_read, late_answer) = late.join().expect("no panic").expect("the earlier scope");
        (read, late_read, late_answer)
    });
    let (read, late_read, late_answer) = earlier;
    assert_eq!(late_read.read_at, read[0].read_at, "marking again");
    assert_eq!(late_answer.read_at, read[1].read_at, "answering");
    let stored = w.stored();
    for message in &read {
        let now = stored.iter().find(|m| m.id == message.id).expect("stored");
        assert_eq!(
            now.read_at, message.read_at,
            "stored read_at of {}",
            message.id
        );
    }
}

/// Sixteen readers marking one unread message read at once all get the
/// `read_at` that is stored, round after round.
#[test]
fn racing_readers_all_get_the_read_at_that_is_stored() {
    const READERS: usize = 16;
    const ROUNDS: usize = 10;
    let w = world();
    let a = w.a;
    let pool = w.db.pool_of(READERS as u32);
    for round in 0..ROUNDS {
        let sent = w.send(&a, a.proposal("read by many")).expect("send");
        let start = Barrier::new(READERS);
        let seen: Vec<_> = thread::scope(|s| {
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        pool.with_tenant(a.tenant, |tx| tx.mark_read(sent.id, a.bob))
                            .expect("mark read")
                            .read_at
                    })
                })
                .collect();
            readers
                .into_iter()
                .map(|r| r.join().expect("no panic"))
                .collect()
        });
        let stored = w
            .stored()
            .into_iter()
            .find(|m| m.id == sent.id)
            .expect("stored")
            .read_at;
        assert!(stored.is_some(), "round {round}: read");
        assert!(
            seen.iter().all(|read_at| *read_at == stored),
            "round {round}: every reader gets the stored {stored:?}, not {seen:?}"
        );
    }
}

/// Marking a message that is already read writes nothing: the stored row
/// keeps its version.
#[test]
fn marking_a_read_message_again_writes_no_new_row_version() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("read once")).expect("send");
    let mark = || {
        w.pool
            .with_tenant(a.tenant, |tx| tx.mark_read(sent.id, a.bob))
            .expect("mark read")
    };
    let first = mark();
    let version = row_version(&mut w.db.admin(), sent.id);
    assert_eq!(mark(), first);
    assert_eq!(row_version(&mut w.db.admin(), sent.id), version);
}

/// Marking a message that is already read does not wait for the row lock
/// of a transaction answering it: with a lock timeout of 200 ms, it still
/// answers while the answer is uncommitted.
#[test]
fn marking_a_read_message_again_does_not_wait_behind_an_answer() {
    use std::sync::mpsc;
    use std::time::Duration;

    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("read, then answered")).expect("send");
    let read = w
        .pool
        .with_tenant(a.tenant, |tx| tx.mark_read(sent.id, a.bob))
        .expect("read");
    let (answered, answered_rx) = mpsc::channel();
    let (done, done_rx) = mpsc::channel::<()>();
    let (w, id) = (&w, sent.id);
    let again = thread::scope(|s| {
        let answer = s.spawn(move || {
            w.pool.with_tenant(a.tenant, |tx| {
                tx.answer(id, a.bob, Answer::Accept)?;
                answered.send(()).expect("tell the main thread");
                // Holds the row lock until the main thread has read.
                done_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("the main thread marks it read");
                Ok(())
            })
        });
        answered_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the answer holds the row");
        let again = w.pool.with_tenant(a.tenant, |tx| {
            tx.connection()
                .batch_execute("SET LOCAL lock_timeout = '200ms'")?;
            tx.mark_read(id, a.bob)
        });
        done.send(()).expect("let the answer commit");
        answer
            .join()
            .expect("no panic")
            .expect("the answer commits");
        again
    });
    let again = again.expect("marked read again while the answer held the row");
    assert_eq!(again.read_at, read.read_at);
}

/// A statement of the caller's own in a scope that moves a message against
/// the status order is refused by the database, and the crate names the
/// refusal: [`Error::StatusOrder`], a failure that aborts the scope.
#[test]
fn a_move_against_the_status_order_is_a_typed_error() {
    let w = world();
    let a = w.a;
    let sent = w.send(&a, a.proposal("accepted for good")).expect("send");
    w.pool
        .with_tenant(a.tenant, |tx| tx.answer(sent.id, a.bob, Answer::Accept))
        .expect("accept");
    let before = w.stored();
    let reopened = w.pool.with_tenant(a.tenant, |tx| {
        diesel::update(messages::table.filter(messages::id.eq(sent.id)))
            .set((
                messages::status.eq(Pending),
                messages::responded_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            ))
            .execute(tx.connection())?;
        Ok(())
    });
    match reopened {
        Err(error @ Error::StatusOrder(_)) => {
            assert!(!error.is_refusal(), "it aborts the scope");
            let source = std::error::Error::source(&error).expect("PostgreSQL's refusal");
            assert!(
                source.to_string().contains("cannot become pending"),
                "{source}"
            );
        }
        other => panic!("expected Error::StatusOrder, got {other:?}"),
    }
    assert_eq!(w.stored(), before);
}

/// A cursor PostgreSQL cannot hold, made in code rather than parsed, is
/// refused by the calls that take one before they send a statement: a
/// refusal that leaves the scope usable, not a failure of the server.
#[test]
fn a_cursor_postgresql_cannot_hold_is_refused_before_any_statement() {
    let w = world();
    let a = w.a;
    let ancient = chrono::DateTime::from_timestamp(-8_000_000_000_000, 0).expect("251,000 BC");
    let cursor = Cursor::at(ancient, SkillMessageId::from(Uuid::nil()));
    let (page, sent, count) = w
        .pool
        .with_tenant(a.tenant, |tx| {
            let page = tx.inbox(a.bob, MessageQuery::new().after(Some(cursor)));
            let sent = tx.outbox(a.alice, MessageQuery::new().after(Some(cursor)));
            Ok((page, sent, tx.unread_count(a.bob)?))
        })
        .expect("the scope stays usable");
    assert!(matches!(page, Err(Error::InvalidCursor)), "{page:?}");
    assert!(matches!(sent, Err(Error::InvalidCursor)), "{sent:?}");
    assert_eq!(count, 0);
}

/// When several references of a message are unknown, send names the first
/// of sender, recipient, subject skill and proposed parent.
#[test]
fn send_names_the_first_unknown_reference() {
    let w = world();
    let a = w.a;
    let (nobody, no_skill) = (UserId::from(Uuid::new_v4()), Uuid::new_v4().into());
    let (nothing, other_nothing) = (Uuid::new_v4().into(), w.b.parent);
    let cases = [
        (
            NewSkillMessage {
                from_user_id: nobody,
                to_user_id: w.b.bob,
                subject_skill_id: no_skill,
                ..a.proposal("x")
            },
            Error::UnknownUser(nobody),
        ),
        (
            NewSkillMessage {
                to_user_id: nobody,
                subject_skill_id: no_skill,
                proposed_parent_skill_id: Some(nothing),
                ..a.proposal("x")
            },
            Error::UnknownUser(nobody),
        ),
        (
            NewSkillMessage {
                subject_skill_id: no_skill,
                proposed_parent_skill_id: Some(other_nothing),
                ..a.proposal("x")
            },
            Error::UnknownSkill(no_skill),
        ),
        (
            NewSkillMessage {
                proposed_parent_skill_id: Some(other_nothing),
                ..a.proposal("x")
            },
            Error::UnknownSkill(other_nothing),
        ),
    ];
    for (new, expected) in cases {
        let refused = w.send(&a, new).expect_err("refused");
        assert_eq!(refused.to_string(), expected.to_string(), "{new:?}");
    }
    assert!(w.stored().is_empty());
}

/// A send that stored nothing although every user and skill it names
/// exists (here a trigger skips the insert, as a reference created during
/// the send, or a taken id, would) says so: [`Error::SendRaced`], a
/// refusal that writes nothing, not an unknown recipient.
#[test]
fn a_send_that_stored_nothing_with_every_reference_known_says_so() {
    let w = world();
    let a = w.a;
    // One transaction, statements of their own, as the migrations create
    // their trigger: so Citus creates the function on the workers too.
    w.db.admin()
        .transaction(|admin| {
            if crate::common::on_citus() {
                admin.batch_execute("SET LOCAL citus.enable_unsafe_triggers = on")?;
            }
            admin.batch_execute(
                "CREATE FUNCTION skip_insert() RETURNS trigger LANGUAGE plpgsql \
                     AS $$BEGIN RETURN NULL; END$$",
            )?;
            admin.batch_execute(
                "DO $$BEGIN CREATE TRIGGER skip_insert BEFORE INSERT ON skill_messages \
                     FOR EACH ROW WHEN (NEW.message = 'skipped') \
                     EXECUTE FUNCTION skip_insert(); END$$",
            )
        })
        .expect("a trigger that skips some inserts");
    let (skipped, kept) = w
        .pool
        .with_tenant(a.tenant, |tx| {
            let skipped = tx.send(a.proposal("skipped"));
            Ok((skipped, tx.send(a.proposal("kept"))?))
        })
        .expect("the scope stays usable");
    match skipped {
        Err(error @ Error::SendRaced) => assert!(error.is_refusal()),
        other => panic!("expected Error::SendRaced, got {other:?}"),
    }
    assert_eq!(w.stored(), [kept]);
}
