//! The same behaviour on every face: the blocking scope and tenant handle,
//! the async scope, and the async tenant handle's one-round-trip calls give
//! the same answers and refusals, list the same pages, let one answer win a
//! race, and keep tenants apart.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use skill_messages::asynchronous::AsyncPool;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, Page, Pool, ReadMark, SkillMessage,
    SkillMessageDetails, SkillMessageId, TenantId, UserId,
};
use tokio::runtime::Runtime;

/// One way of calling the service, driven the same way by every test.
trait Face: Sync {
    fn name(&self) -> &'static str;
    fn send(&self, t: TenantId, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error>;
    fn inbox(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error>;
    fn details(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
    ) -> Result<SkillMessageDetails, Error>;
    fn count(&self, t: TenantId, u: UserId) -> Result<u64, Error>;
    fn mark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error>;
    fn unmark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error>;
    fn respond(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
        r: Answer,
    ) -> Result<SkillMessage, Error>;
    fn sent(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error>;
    fn mark_all(&self, t: TenantId, u: UserId, seen: &ReadMark) -> Result<u64, Error>;
    fn withdraw(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error>;
}

/// Each operation in a blocking scope of its own.
struct BlockingScope(Pool);

impl Face for BlockingScope {
    fn name(&self) -> &'static str {
        "blocking scope"
    }
    fn send(&self, t: TenantId, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.0.with_tenant(t, |tx| tx.send(new))
    }
    fn inbox(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.0.with_tenant(t, |tx| tx.inbox(u, q))
    }
    fn details(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.0.with_tenant(t, |tx| tx.details(m, u))
    }
    fn count(&self, t: TenantId, u: UserId) -> Result<u64, Error> {
        self.0.with_tenant(t, |tx| tx.unread_count(u))
    }
    fn mark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.with_tenant(t, |tx| tx.mark_read(m, u))
    }
    fn unmark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.with_tenant(t, |tx| tx.mark_unread(m, u))
    }
    fn respond(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
        r: Answer,
    ) -> Result<SkillMessage, Error> {
        self.0.with_tenant(t, |tx| tx.answer(m, u, r))
    }
    fn sent(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.0.with_tenant(t, |tx| tx.outbox(u, q))
    }
    fn mark_all(&self, t: TenantId, u: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.0.with_tenant(t, |tx| tx.mark_all_read(u, seen))
    }
    fn withdraw(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.with_tenant(t, |tx| tx.withdraw(m, u))
    }
}

/// The blocking tenant handle: each operation in a scope of its own.
struct BlockingTenant(Pool);

impl Face for BlockingTenant {
    fn name(&self) -> &'static str {
        "blocking tenant"
    }
    fn send(&self, t: TenantId, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.0.tenant(t).send(new)
    }
    fn inbox(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.0.tenant(t).inbox(u, q)
    }
    fn details(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.0.tenant(t).details(m, u)
    }
    fn count(&self, t: TenantId, u: UserId) -> Result<u64, Error> {
        self.0.tenant(t).unread_count(u)
    }
    fn mark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.tenant(t).mark_read(m, u)
    }
    fn unmark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.tenant(t).mark_unread(m, u)
    }
    fn respond(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
        r: Answer,
    ) -> Result<SkillMessage, Error> {
        self.0.tenant(t).answer(m, u, r)
    }
    fn sent(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.0.tenant(t).outbox(u, q)
    }
    fn mark_all(&self, t: TenantId, u: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.0.tenant(t).mark_all_read(u, seen)
    }
    fn withdraw(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.0.tenant(t).withdraw(m, u)
    }
}

/// Each operation in an async scope of its own.
struct AsyncScope(AsyncPool, Arc<Runtime>);

impl Face for AsyncScope {
    fn name(&self) -> &'static str {
        "async scope"
    }
    fn send(&self, t: TenantId, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.send(new).await))
    }
    fn inbox(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.inbox(u, q).await))
    }
    fn details(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.details(m, u).await))
    }
    fn count(&self, t: TenantId, u: UserId) -> Result<u64, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.unread_count(u).await))
    }
    fn mark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.mark_read(m, u).await))
    }
    fn unmark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.mark_unread(m, u).await))
    }
    fn respond(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
        r: Answer,
    ) -> Result<SkillMessage, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.answer(m, u, r).await))
    }
    fn sent(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.outbox(u, q).await))
    }
    fn mark_all(&self, t: TenantId, u: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.1.block_on(
            self.0
                .with_tenant(t, async |tx| tx.mark_all_read(u, seen).await),
        )
    }
    fn withdraw(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1
            .block_on(self.0.with_tenant(t, async |tx| tx.withdraw(m, u).await))
    }
}

/// The async tenant handle: each operation in one round trip.
struct AsyncTenant(AsyncPool, Arc<Runtime>);

impl Face for AsyncTenant {
    fn name(&self) -> &'static str {
        "async tenant"
    }
    fn send(&self, t: TenantId, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.1.block_on(self.0.tenant(t).send(new))
    }
    fn inbox(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.1.block_on(self.0.tenant(t).inbox(u, q))
    }
    fn details(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.1.block_on(self.0.tenant(t).details(m, u))
    }
    fn count(&self, t: TenantId, u: UserId) -> Result<u64, Error> {
        self.1.block_on(self.0.tenant(t).unread_count(u))
    }
    fn mark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1.block_on(self.0.tenant(t).mark_read(m, u))
    }
    fn unmark(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1.block_on(self.0.tenant(t).mark_unread(m, u))
    }
    fn respond(
        &self,
        t: TenantId,
        m: SkillMessageId,
        u: UserId,
        r: Answer,
    ) -> Result<SkillMessage, Error> {
        self.1.block_on(self.0.tenant(t).answer(m, u, r))
    }
    fn sent(&self, t: TenantId, u: UserId, q: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.1.block_on(self.0.tenant(t).outbox(u, q))
    }
    fn mark_all(&self, t: TenantId, u: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.1.block_on(self.0.tenant(t).mark_all_read(u, seen))
    }
    fn withdraw(&self, t: TenantId, m: SkillMessageId, u: UserId) -> Result<SkillMessage, Error> {
        self.1.block_on(self.0.tenant(t).withdraw(m, u))
    }
}

/// A database with two tenants, and every face onto it, each with a pool
/// of `size`.
struct World {
    db: TestDb,
    a: Fixture,
    b: Fixture,
    faces: Vec<Box<dyn Face>>,
}

fn world(size: u32) -> World {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let runtime = Arc::new(Runtime::new().expect("a runtime"));
    let async_pool = || {
        runtime
            .block_on(db.pool_builder().max_size(size).build_async(&db.app_url()))
            .expect("an async pool")
    };
    let faces: Vec<Box<dyn Face>> = vec![
        Box::new(BlockingScope(db.pool_of(size))),
        Box::new(BlockingTenant(db.pool_of(size))),
        Box::new(AsyncScope(async_pool(), Arc::clone(&runtime))),
        Box::new(AsyncTenant(async_pool(), Arc::clone(&runtime))),
    ];
    World { db, a, b, faces }
}

impl World {
    /// Every message, as the superuser sees it.
    fn stored(&self) -> Vec<SkillMessage> {
        messages::table
            .select(SkillMessage::as_select())
            .order(messages::id)
            .load(&mut self.db.admin())
            .expect("read every message")
    }
}

/// The kind of a result: `Ok` or the refusal's name.
fn kind<T>(result: Result<T, Error>) -> String {
    match result {
        Ok(_) => "Ok".to_owned(),
        Err(error) => {
            assert!(error.is_refusal(), "a failure: {error:?}");
            format!("{error:?}")
                .split(['(', ' '])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

#[test]
fn every_face_gives_the_same_answers_and_refusals_and_writes_nothing_refused() {
    let w = world(2);
    let (a, b) = (w.a, w.b);
    let unknown = SkillMessageId::from(uuid::Uuid::nil());
    let mut outcomes = Vec::new();
    for face in &w.faces {
        let sent = face.send(a.tenant, a.proposal("to answer")).expect("send");
        let before = w.stored();
        let refused = vec![
            kind(face.send(a.tenant, a.proposal(" "))),
            kind(face.send(
                a.tenant,
                NewSkillMessage {
                    to_user_id: a.alice,
                    ..a.proposal("self")
                },
            )),
            kind(face.send(
                a.tenant,
                NewSkillMessage {
                    subject_skill_id: a.skill,
                    proposed_parent_skill_id: Some(a.skill),
                    ..a.proposal("own")
                },
            )),
            kind(face.send(
                a.tenant,
                NewSkillMessage {
                    to_user_id: b.bob,
                    ..a.proposal("B")
                },
            )),
            kind(face.send(
                a.tenant,
                NewSkillMessage {
                    subject_skill_id: b.skill,
                    ..a.proposal("B")
                },
            )),
            kind(face.inbox(a.tenant, b.bob, MessageQuery::new())),
            kind(face.inbox(a.tenant, a.bob, MessageQuery::new().limit(101))),
            kind(face.details(a.tenant, unknown, a.bob)),
            kind(face.details(a.tenant, sent.id, a.carol)),
            kind(face.count(a.tenant, b.bob)),
            kind(face.mark(a.tenant, unknown, a.bob)),
            kind(face.mark(a.tenant, sent.id, a.alice)),
            kind(face.respond(a.tenant, sent.id, a.carol, Answer::Accept)),
        ];
        assert_eq!(
            w.stored(),
            before,
            "{}: refusals write nothing",
            face.name()
        );
        let accepted = face
            .respond(a.tenant, sent.id, a.bob, Answer::Accept)
            .expect("accept");
        let again = kind(face.respond(a.tenant, sent.id, a.bob, Answer::Decline));
        let read = face.mark(a.tenant, sent.id, a.bob).expect("mark read");
        assert_eq!(
            read.read_at,
            accepted.read_at,
            "{}: read_at kept",
            face.name()
        );
        outcomes.push((refused, again));
    }
    let expected = (
        vec![
            "InvalidMessage",
            "SelfMessage",
            "ParentIsSubject",
            "UnknownUser",
            "UnknownSkill",
            "UnknownUser",
            "InvalidPageSize",
            "NotFound",
            "NotParticipant",
            "UnknownUser",
            "NotFound",
            "NotRecipient",
            "NotRecipient",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>(),
        "NotPending".to_owned(),
    );
    for (face, outcome) in w.faces.iter().zip(outcomes) {
        assert_eq!(outcome, expected, "{}", face.name());
    }
}

#[test]
fn every_face_lists_the_same_pages_each_message_once() {
    let w = world(2);
    let a = w.a;
    // 250 messages in one scope share one created_at; 20 more after.
    let sync_pool = w.db.pool_of(1);
    sync_pool
        .with_tenant(a.tenant, |tx| {
            for i in 0..250 {
                tx.send(a.proposal(&format!("tie {i}")))?;
            }
            Ok(())
        })
        .expect("a tie group");
    for i in 0..20 {
        w.faces[i % w.faces.len()]
            .send(a.tenant, a.proposal(&format!("later {i}")))
            .expect("send");
    }
    let mut expected: Vec<SkillMessage> = w.stored();
    expected.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    let expected: Vec<SkillMessageId> = expected.iter().map(|m| m.id).collect();
    for face in &w.faces {
        let mut listed = Vec::new();
        crate::common::paged(20, MessageQuery::new().limit(33), |query| {
            let page = face.inbox(a.tenant, a.bob, query)?;
            if let Some(first) = page.items.first() {
                let details = face.details(a.tenant, first.id, a.bob)?;
                assert_eq!(&details.message, first, "{}: details", face.name());
            }
            listed.extend(page.items.iter().map(|m| m.id));
            Ok::<_, Error>(page)
        })
        .expect("the pages");
        assert_eq!(
            listed,
            expected,
            "{}: each message once, newest first",
            face.name()
        );
        assert_eq!(
            face.count(a.tenant, a.bob).expect("count"),
            270,
            "{}",
            face.name()
        );
    }
}

#[test]
fn on_every_face_exactly_one_of_sixteen_racing_answers_wins() {
    const RACERS: usize = 16;
    let w = world(RACERS as u32);
    let a = w.a;
    for face in &w.faces {
        let sent = face.send(a.tenant, a.proposal("race")).expect("send");
        let start = Barrier::new(RACERS);
        let outcomes: Vec<Result<SkillMessage, Error>> = thread::scope(|s| {
            let racers: Vec<_> = (0..RACERS)
                .map(|i| {
                    let (face, start) = (face.as_ref(), &start);
                    s.spawn(move || {
                        let response = if i % 2 == 0 {
                            Answer::Accept
                        } else {
                            Answer::Decline
                        };
                        start.wait();
                        face.respond(a.tenant, sent.id, a.bob, response)
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let winners: Vec<&SkillMessage> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{}: {outcomes:?}", face.name());
        for outcome in &outcomes {
            match outcome {
                Ok(_) => {}
                Err(Error::NotPending { status, .. }) => {
                    assert_eq!(*status, winners[0].status, "{}", face.name())
                }
                Err(other) => panic!("{}: {other:?}", face.name()),
            }
        }
    }
}

#[test]
fn on_every_face_one_tenant_never_reaches_another() {
    let w = world(2);
    let (a, b) = (w.a, w.b);
    for face in &w.faces {
        let in_b = face.send(b.tenant, b.proposal("B's")).expect("send in B");
        let in_a = face.send(a.tenant, a.proposal("A's")).expect("send in A");
        let inbox = face
            .inbox(a.tenant, a.bob, MessageQuery::new())
            .expect("A's inbox");
        assert!(
            inbox.items.iter().all(|m| m.tenant_id == a.tenant),
            "{}",
            face.name()
        );
        assert!(inbox.items.iter().any(|m| m.id == in_a.id));
        for refused in [
            kind(face.mark(a.tenant, in_b.id, b.bob)),
            kind(face.respond(a.tenant, in_b.id, b.bob, Answer::Decline)),
            kind(face.count(a.tenant, b.bob)),
            kind(face.inbox(a.tenant, b.bob, MessageQuery::new())),
        ] {
            assert!(
                ["NotFound", "UnknownUser"].contains(&refused.as_str()),
                "{}: {refused}",
                face.name()
            );
        }
        let untouched = w
            .stored()
            .into_iter()
            .find(|m| m.id == in_b.id)
            .expect("B's message");
        assert_eq!(untouched, in_b, "{}: B's message is as it was", face.name());
    }
}

#[test]
fn every_face_lists_sent_messages_marks_all_read_and_unread_and_withdraws_alike() {
    let w = world(2);
    let (a, b) = (w.a, w.b);
    let mut outcomes = Vec::new();
    for face in &w.faces {
        let sent: Vec<SkillMessage> = (0..3)
            .map(|i| {
                face.send(a.tenant, a.proposal(&format!("{} {i}", face.name())))
                    .expect("send")
            })
            .collect();
        let listed = face
            .sent(a.tenant, a.alice, MessageQuery::new().limit(3))
            .expect("sent");
        let newest_first: Vec<SkillMessageId> = sent.iter().rev().map(|m| m.id).collect();
        assert_eq!(
            listed.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            newest_first,
            "{}",
            face.name()
        );
        let withdrawn = face
            .withdraw(a.tenant, sent[0].id, a.alice)
            .expect("withdraw");
        let seen: ReadMark = sent[..2].iter().map(|m| m.id).collect();
        let marked = face.mark_all(a.tenant, a.bob, &seen).expect("mark all");
        let before = face.count(a.tenant, a.bob).expect("count");
        outcomes.push((
            withdrawn.status,
            marked,
            kind(face.withdraw(a.tenant, sent[0].id, a.alice)),
            kind(face.withdraw(a.tenant, sent[1].id, a.bob)),
            kind(face.respond(a.tenant, sent[0].id, a.bob, Answer::Accept)),
            kind(face.sent(a.tenant, b.alice, MessageQuery::new())),
            kind(face.mark_all(a.tenant, b.bob, &seen)),
            face.mark_all(a.tenant, a.bob, &seen).expect("again"),
            face.unmark(a.tenant, sent[1].id, a.bob)
                .expect("unread")
                .read_at,
            face.count(a.tenant, a.bob).expect("count") - before,
            kind(face.unmark(a.tenant, sent[1].id, a.alice)),
            kind(face.unmark(b.tenant, sent[1].id, a.bob)),
        ));
    }
    for (face, outcome) in w.faces.iter().zip(&outcomes) {
        assert_eq!(
            outcome,
            &(
                skill_messages::SkillMessageStatus::Withdrawn,
                // This face's first two, the first withdrawn or not.
                2,
                "NotPending".to_owned(),
                "NotSender".to_owned(),
                "NotPending".to_owned(),
                "UnknownUser".to_owned(),
                "UnknownUser".to_owned(),
                0,
                None,
                1,
                "NotRecipient".to_owned(),
                "NotFound".to_owned(),
            ),
            "{}",
            face.name()
        );
    }
}
