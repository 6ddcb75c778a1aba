//! What users are promised, under random workloads, load and faults: no
//! tenant ever sees or changes another's rows, and nothing is lost or
//! half-written. Each test prints its figures (`-- --nocapture`);
//! RELIABILITY.md records them. Environment variables scale the runs:
//! `PROPTEST_CASES` (default 32), `RELIABILITY_LOAD_OPS` (default 20000),
//! `RELIABILITY_FAULT_OPS` (default 1200).

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Fixture, TestDb, app_login, seed_tenant};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response, SkillId, SkillMessage,
    SkillMessageId, SkillMessageStatus, TenantId, UserId, get_messages_for_user,
    get_sent_messages_for_user, get_unread_count_for_user, mark_all_read, mark_message_read,
    send_skill_message, update_message_status, withdraw_message,
};
use uuid::Uuid;

use SkillMessageStatus::{Accepted, Declined, Pending, Withdrawn};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The name of an error's kind, for the figures.
fn kind(error: &Error) -> String {
    match error {
        Error::Database(e) => format!("Database({})", e.to_string().lines().next().unwrap_or("")),
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("")
            .to_owned(),
    }
}

fn users(f: &Fixture) -> [UserId; 3] {
    [f.alice, f.bob, f.carol]
}

fn skills(f: &Fixture) -> [SkillId; 3] {
    [f.skill, f.parent, f.other_skill]
}

/// Every stored message of `tenants`, as the superuser sees it.
fn stored(admin: &mut PgConnection, tenants: &[TenantId]) -> Vec<SkillMessage> {
    messages::table
        .filter(messages::tenant_id.eq_any(tenants))
        .select(SkillMessage::as_select())
        .load(admin)
        .expect("read the stored messages")
}

// ---------------------------------------------------------------------------
// 1. Random interleavings of every call, checked against a model.
// ---------------------------------------------------------------------------

const TENANTS: usize = 3;

/// A user, by tenant index and index among alice, bob and carol.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Who {
    tenant: usize,
    user: usize,
}

/// A skill, by tenant index and index among the three seeded skills.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Which {
    tenant: usize,
    skill: usize,
}

#[derive(Debug, Clone, Copy)]
enum Text {
    Fine,
    Blank,
    TooLong,
    Nul,
}

/// Who acts on a message: its recipient, its sender, or somebody else.
#[derive(Debug, Clone, Copy)]
enum Actor {
    Recipient,
    Sender,
    Other(Who),
}

/// Which messages a user lists: those they received, or those they sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Received,
    Sent,
}

/// One call, made in the scope of `tenant`. Ids may point into other
/// tenants, and so may the message a call acts on.
#[derive(Debug, Clone)]
enum Op {
    Send {
        tenant: usize,
        from: Who,
        to: Who,
        subject: Which,
        parent: Option<Which>,
        text: Text,
    },
    List {
        tenant: usize,
        side: Side,
        user: Who,
        unread_only: bool,
        status: Option<SkillMessageStatus>,
        page: u32,
    },
    Count {
        tenant: usize,
        user: Who,
    },
    MarkRead {
        tenant: usize,
        message: Target,
        actor: Actor,
    },
    Respond {
        tenant: usize,
        message: Target,
        actor: Actor,
        response: Response,
    },
    /// Mark all read, up to the position after a message: with
    /// `Target::Own(n)` the `n`th (modulo) of those the user received, so
    /// that later ones are often left unread; with `Target::Any(n)` the
    /// `n`th of all; up to now when there is none.
    MarkAllRead {
        tenant: usize,
        user: Who,
        up_to: Target,
    },
    Withdraw {
        tenant: usize,
        message: Target,
        actor: Actor,
    },
}

fn op() -> impl Strategy<Value = Op> {
    (0..TENANTS).prop_flat_map(|tenant| {
        // Mostly the scope's own tenant, sometimes another.
        let tenant_of = move || prop_oneof![5 => Just(tenant), 1 => 0..TENANTS];
        let who = move || (tenant_of(), 0..3usize).prop_map(|(tenant, user)| Who { tenant, user });
        let which =
            move || (tenant_of(), 0..3usize).prop_map(|(tenant, skill)| Which { tenant, skill });
        // Mostly someone else than `of`, sometimes the same.
        let other = || prop_oneof![8 => 1..3usize, 1 => Just(0)];
        let actor = move || prop_oneof![3 => Just(Actor::Recipient), 1 => who().prop_map(Actor::Other)];
        let sender = move || {
            prop_oneof![
                3 => Just(Actor::Sender),
                1 => Just(Actor::Recipient),
                1 => who().prop_map(Actor::Other),
            ]
        };
        let target = move || {
            prop_oneof![5 => (0..64usize).prop_map(Target::Own), 1 => (0..64usize).prop_map(Target::Any)]
        };
        let status = || prop_oneof![Just(Pending), Just(Accepted), Just(Declined), Just(Withdrawn)];
        let side = prop_oneof![2 => Just(Side::Received), 1 => Just(Side::Sent)];
        // A `Response` is Accepted or Declined: answering "Pending", once a
        // case of its own (refused with NotAResponse), cannot be written
        // any more, so it is no longer generated.
        let response = prop_oneof![Just(Response::Accepted), Just(Response::Declined)];
        let text = prop_oneof![
            12 => Just(Text::Fine),
            1 => Just(Text::Blank),
            1 => Just(Text::TooLong),
            1 => Just(Text::Nul),
        ];
        let send = (who(), tenant_of(), other(), which(), proptest::option::of((tenant_of(), other())), text)
            .prop_map(move |(from, to_tenant, to, subject, parent, text)| Op::Send {
                tenant,
                from,
                to: Who { tenant: to_tenant, user: (from.user + to) % 3 },
                subject,
                parent: parent.map(|(tenant, offset)| Which {
                    tenant,
                    skill: (subject.skill + offset) % 3,
                }),
                text,
            });
        prop_oneof![
            6 => send,
            3 => (side, who(), any::<bool>(), proptest::option::of(status()), 1..6u32).prop_map(
                move |(side, user, unread_only, status, page)| Op::List {
                    tenant, side, user, unread_only, status, page,
                }
            ),
            2 => who().prop_map(move |user| Op::Count { tenant, user }),
            3 => (target(), actor()).prop_map(move |(message, actor)| Op::MarkRead {
                tenant, message, actor,
            }),
            3 => (target(), actor(), response).prop_map(move |(message, actor, response)| {
                Op::Respond { tenant, message, actor, response }
            }),
            2 => (who(), target()).prop_map(move |(user, up_to)| Op::MarkAllRead {
                tenant, user, up_to,
            }),
            2 => (target(), sender()).prop_map(move |(message, actor)| Op::Withdraw {
                tenant, message, actor,
            }),
        ]
    })
}

/// Which message a call acts on: the `n`th (modulo) of those sent in the
/// scope's tenant, or of those sent in any tenant.
#[derive(Debug, Clone, Copy)]
enum Target {
    Own(usize),
    Any(usize),
}

/// What the model knows of a stored message.
#[derive(Debug, Clone)]
struct Modeled {
    stored: SkillMessage,
    tenant: usize,
}

/// Three fresh tenants, the messages sent in them, and tallies.
struct Case<'a> {
    pool: &'a Pool,
    /// A superuser's connection, to read what a call wrote and did not
    /// return.
    admin: &'a RefCell<PgConnection>,
    tenants: Vec<Fixture>,
    model: Vec<Modeled>,
    outcomes: &'a RefCell<BTreeMap<String, usize>>,
}

impl Case<'_> {
    fn user(&self, who: Who) -> UserId {
        users(&self.tenants[who.tenant])[who.user]
    }

    fn skill(&self, which: Which) -> SkillId {
        skills(&self.tenants[which.tenant])[which.skill]
    }

    fn tally<T>(&self, op: &str, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => format!("{op} ok"),
            Err(e) => format!("{op} {}", kind(e)),
        };
        *self.outcomes.borrow_mut().entry(outcome).or_default() += 1;
    }

    fn in_scope<T>(
        &self,
        tenant: usize,
        f: impl FnOnce(&mut skill_messages::TenantConn<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.pool.with_tenant(self.tenants[tenant].tenant, f)
    }

    /// The message `target` picks in the scope of `tenant`, if there is one.
    fn pick(&self, tenant: usize, target: Target) -> Option<Modeled> {
        let candidates: Vec<&Modeled> = match target {
            Target::Own(_) => self.model.iter().filter(|m| m.tenant == tenant).collect(),
            Target::Any(_) => self.model.iter().collect(),
        };
        let (Target::Own(n) | Target::Any(n)) = target;
        (!candidates.is_empty()).then(|| candidates[n % candidates.len()].clone())
    }

    /// The message a read, an answer or a withdrawal is aimed at (nil when
    /// the model has none), and the id of the user acting.
    fn aim(
        &self,
        tenant: usize,
        target: Target,
        actor: Actor,
    ) -> (Option<Modeled>, SkillMessageId, UserId) {
        let target = self.pick(tenant, target);
        let message_id = target
            .as_ref()
            .map_or(SkillMessageId::from_uuid(Uuid::nil()), |m| m.stored.id);
        let actor_id = match (actor, &target) {
            (Actor::Recipient, Some(m)) => m.stored.to_user_id,
            (Actor::Recipient, None) => self.user(Who { tenant, user: 1 }),
            (Actor::Sender, Some(m)) => m.stored.from_user_id,
            (Actor::Sender, None) => self.user(Who { tenant, user: 0 }),
            (Actor::Other(who), _) => self.user(who),
        };
        (target, message_id, actor_id)
    }

    fn apply(&mut self, step: usize, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Send {
                tenant,
                from,
                to,
                subject,
                parent,
                text,
            } => self.send(step, tenant, from, to, subject, parent, text),
            Op::List {
                tenant,
                side,
                user,
                unread_only,
                status,
                page,
            } => self.list(tenant, side, user, unread_only, status, page),
            Op::Count { tenant, user } => {
                let result =
                    self.in_scope(tenant, |tx| get_unread_count_for_user(tx, self.user(user)));
                self.tally("count", &result);
                let expected = (user.tenant == tenant).then(|| {
                    self.model
                        .iter()
                        .filter(|m| m.stored.to_user_id == self.user(user))
                        .filter(|m| m.stored.read_at.is_none())
                        .count() as u64
                });
                match (result, expected) {
                    (Ok(count), Some(expected)) => prop_assert_eq!(count, expected),
                    (Err(Error::UnknownUser(id)), None) => prop_assert_eq!(id, self.user(user)),
                    (other, expected) => {
                        prop_assert!(false, "count: got {other:?}, expected {expected:?}")
                    }
                }
                Ok(())
            }
            Op::MarkRead {
                tenant,
                message,
                actor,
            } => self.mark_read(tenant, message, actor),
            Op::Respond {
                tenant,
                message,
                actor,
                response,
            } => self.respond(tenant, message, actor, response),
            Op::MarkAllRead {
                tenant,
                user,
                up_to,
            } => self.mark_all_read(tenant, user, up_to),
            Op::Withdraw {
                tenant,
                message,
                actor,
            } => self.withdraw(tenant, message, actor),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        step: usize,
        tenant: usize,
        from: Who,
        to: Who,
        subject: Which,
        parent: Option<Which>,
        text: Text,
    ) -> Result<(), TestCaseError> {
        let message = match text {
            Text::Fine => format!("proposal {step}"),
            Text::Blank => " \t\u{3000} ".to_owned(),
            Text::TooLong => "x".repeat(4001),
            Text::Nul => "nul \0 inside".to_owned(),
        };
        let new = NewSkillMessage {
            from_user_id: self.user(from),
            to_user_id: self.user(to),
            subject_skill_id: self.skill(subject),
            proposed_parent_skill_id: parent.map(|p| self.skill(p)),
            message: &message,
        };
        let result = self.in_scope(tenant, |tx| send_skill_message(tx, new));
        self.tally("send", &result);
        let unknown_users: Vec<UserId> = [from, to]
            .into_iter()
            .filter(|w| w.tenant != tenant)
            .map(|w| self.user(w))
            .collect();
        let unknown_skills: Vec<SkillId> = [Some(subject), parent]
            .into_iter()
            .flatten()
            .filter(|w| w.tenant != tenant)
            .map(|w| self.skill(w))
            .collect();
        match result {
            Err(Error::InvalidMessage(_)) => prop_assert!(!matches!(text, Text::Fine)),
            Err(Error::SelfMessage(id)) => {
                prop_assert!(matches!(text, Text::Fine) && from == to && id == new.from_user_id)
            }
            Err(Error::ParentIsSubject(id)) => prop_assert!(
                matches!(text, Text::Fine)
                    && from != to
                    && parent == Some(subject)
                    && id == new.subject_skill_id
            ),
            Err(Error::UnknownUser(id)) => prop_assert!(
                matches!(text, Text::Fine) && from != to && unknown_users.contains(&id),
                "unknown user {id}, expected one of {unknown_users:?}"
            ),
            Err(Error::UnknownSkill(id)) => prop_assert!(
                matches!(text, Text::Fine)
                    && from != to
                    && parent != Some(subject)
                    && unknown_skills.contains(&id),
                "unknown skill {id}, expected one of {unknown_skills:?}"
            ),
            Ok(stored) => {
                prop_assert!(
                    matches!(text, Text::Fine)
                        && from != to
                        && parent != Some(subject)
                        && unknown_users.is_empty()
                        && unknown_skills.is_empty(),
                    "sent, but should have been refused"
                );
                prop_assert_eq!(stored.tenant_id, self.tenants[tenant].tenant);
                prop_assert_eq!(stored.message.as_str(), new.message);
                prop_assert_eq!((stored.status, stored.read_at), (Pending, None));
                self.model.push(Modeled { stored, tenant });
            }
            Err(other) => prop_assert!(false, "send: unexpected {other:?}"),
        }
        Ok(())
    }

    fn list(
        &self,
        tenant: usize,
        side: Side,
        user: Who,
        unread_only: bool,
        status: Option<SkillMessageStatus>,
        page: u32,
    ) -> Result<(), TestCaseError> {
        // Every page, as one user paging through the list would.
        let user_id = self.user(user);
        let result = self.in_scope(tenant, |tx| {
            let mut query = MessageQuery::new().limit(page);
            if unread_only {
                query = query.unread_only();
            }
            if let Some(status) = status {
                query = query.status(status);
            }
            let pages = common::paged(1000, query, |query| match side {
                Side::Received => get_messages_for_user(tx, user_id, query),
                Side::Sent => get_sent_messages_for_user(tx, user_id, query),
            })?;
            Ok(pages
                .into_iter()
                .flat_map(|page| page.items)
                .collect::<Vec<_>>())
        });
        self.tally(
            match side {
                Side::Received => "list",
                Side::Sent => "sent list",
            },
            &result,
        );
        if user.tenant != tenant {
            prop_assert!(matches!(result, Err(Error::UnknownUser(id)) if id == user_id));
            return Ok(());
        }
        let listed = result.map_err(|e| TestCaseError::fail(format!("list: {e:?}")))?;
        let mut expected: Vec<&SkillMessage> = self
            .model
            .iter()
            .map(|m| &m.stored)
            .filter(|m| match side {
                Side::Received => m.to_user_id == user_id,
                Side::Sent => m.from_user_id == user_id,
            })
            .filter(|m| !unread_only || m.read_at.is_none())
            .filter(|m| status.is_none_or(|s| m.status == s))
            .collect();
        expected.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        prop_assert!(
            listed
                .iter()
                .all(|m| m.tenant_id == self.tenants[tenant].tenant),
            "a listed message belongs to another tenant"
        );
        prop_assert_eq!(listed.iter().collect::<Vec<_>>(), expected);
        Ok(())
    }

    fn mark_read(
        &mut self,
        tenant: usize,
        target: Target,
        actor: Actor,
    ) -> Result<(), TestCaseError> {
        let (target, message_id, actor_id) = self.aim(tenant, target, actor);
        let result = self.in_scope(tenant, |tx| mark_message_read(tx, message_id, actor_id));
        self.tally("mark_read", &result);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotRecipient { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id != actor_id)
            }
            (Ok(read), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == actor_id);
                prop_assert_eq!(read.tenant_id, m.stored.tenant_id);
                let read_at = read.read_at;
                prop_assert!(read_at.is_some());
                if let Some(before) = m.stored.read_at {
                    prop_assert_eq!(read_at, Some(before), "read_at moved");
                }
                let modeled = self.model.iter_mut().find(|x| x.stored.id == m.stored.id);
                if let Some(modeled) = modeled {
                    modeled.stored.read_at = read_at;
                    prop_assert_eq!(&read, &modeled.stored);
                }
            }
            (other, target) => prop_assert!(false, "mark_read: {other:?} for {target:?}"),
        }
        Ok(())
    }

    fn respond(
        &mut self,
        tenant: usize,
        target: Target,
        actor: Actor,
        response: Response,
    ) -> Result<(), TestCaseError> {
        let (target, message_id, actor_id) = self.aim(tenant, target, actor);
        let result = self.in_scope(tenant, |tx| {
            update_message_status(tx, message_id, actor_id, response)
        });
        self.tally("respond", &result);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotRecipient { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id != actor_id)
            }
            (Err(Error::AlreadyResponded { status, .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == actor_id);
                prop_assert!(m.stored.status != Pending && status == m.stored.status);
            }
            (Ok(responded), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == actor_id);
                prop_assert!(
                    m.stored.status == Pending
                        && responded.status == SkillMessageStatus::from(response)
                );
                let responded_at: Option<DateTime<Utc>> = responded.responded_at;
                prop_assert!(responded_at.is_some());
                prop_assert_eq!(responded.read_at, m.stored.read_at.or(responded_at));
                if let Some(modeled) = self.model.iter_mut().find(|x| x.stored.id == m.stored.id) {
                    modeled.stored = responded;
                }
            }
            (other, target) => prop_assert!(false, "respond: {other:?} for {target:?}"),
        }
        Ok(())
    }

    fn mark_all_read(
        &mut self,
        tenant: usize,
        user: Who,
        up_to: Target,
    ) -> Result<(), TestCaseError> {
        let user_id = self.user(user);
        let received: Vec<&Modeled> = self
            .model
            .iter()
            .filter(|m| m.stored.to_user_id == user_id)
            .collect();
        let picked = match up_to {
            Target::Own(n) => (!received.is_empty()).then(|| received[n % received.len()].clone()),
            Target::Any(_) => self.pick(tenant, up_to),
        };
        let up_to = match picked {
            Some(m) => Cursor::after(&m.stored),
            None => Cursor::up_to(Utc::now()),
        };
        let result = self.in_scope(tenant, |tx| mark_all_read(tx, user_id, up_to));
        self.tally("mark_all_read", &result);
        if user.tenant != tenant {
            prop_assert!(matches!(result, Err(Error::UnknownUser(id)) if id == user_id));
            return Ok(());
        }
        let marked = result.map_err(|e| TestCaseError::fail(format!("mark_all_read: {e:?}")))?;
        // The user's unread messages at or before the position, whatever
        // their status; none of another user or tenant.
        let position = (up_to.created_at(), up_to.id());
        let expected: Vec<SkillMessageId> = self
            .model
            .iter()
            .map(|m| &m.stored)
            .filter(|m| m.to_user_id == user_id && m.read_at.is_none())
            .filter(|m| (m.created_at, m.id) <= position)
            .map(|m| m.id)
            .collect();
        prop_assert_eq!(marked, expected.len() as u64);
        // When they were marked: the call returns only how many, so the
        // model takes the times from the rows, and the comparison at the
        // end of the case finds any other row that changed.
        let read_at: Vec<(SkillMessageId, Option<DateTime<Utc>>)> = messages::table
            .filter(messages::id.eq_any(&expected))
            .select((messages::id, messages::read_at))
            .load(&mut *self.admin.borrow_mut())
            .map_err(|e| TestCaseError::fail(format!("read the marked rows: {e}")))?;
        prop_assert_eq!(read_at.len(), expected.len());
        for (id, at) in read_at {
            prop_assert!(at.is_some(), "{} was not marked read", id);
            if let Some(modeled) = self.model.iter_mut().find(|m| m.stored.id == id) {
                modeled.stored.read_at = at;
            }
        }
        Ok(())
    }

    fn withdraw(
        &mut self,
        tenant: usize,
        target: Target,
        actor: Actor,
    ) -> Result<(), TestCaseError> {
        let (target, message_id, actor_id) = self.aim(tenant, target, actor);
        let result = self.in_scope(tenant, |tx| withdraw_message(tx, message_id, actor_id));
        self.tally("withdraw", &result);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotSender { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id != actor_id)
            }
            (Err(Error::AlreadyResponded { status, .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id == actor_id);
                prop_assert!(m.stored.status != Pending && status == m.stored.status);
            }
            (Ok(withdrawn), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id == actor_id);
                prop_assert!(m.stored.status == Pending && withdrawn.status == Withdrawn);
                prop_assert!(withdrawn.responded_at.is_some());
                // Nothing else changes: a withdrawal does not read it.
                let expected = SkillMessage {
                    status: Withdrawn,
                    responded_at: withdrawn.responded_at,
                    ..m.stored.clone()
                };
                prop_assert_eq!(&withdrawn, &expected);
                if let Some(modeled) = self.model.iter_mut().find(|x| x.stored.id == m.stored.id) {
                    modeled.stored = withdrawn;
                }
            }
            (other, target) => prop_assert!(false, "withdraw: {other:?} for {target:?}"),
        }
        Ok(())
    }
}

#[test]
fn random_workloads_never_cross_tenants_and_match_a_model() {
    let db = TestDb::new();
    let pool = db.pool_of(4);
    let admin = RefCell::new(db.admin());
    let outcomes = RefCell::new(BTreeMap::new());
    let (cases, ops_run) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: env_or("PROPTEST_CASES", 32) as u32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..64), |ops| {
        let n = cases.fetch_add(1, Ordering::Relaxed);
        let tenants: Vec<Fixture> = (0..TENANTS)
            .map(|t| seed_tenant(&mut admin.borrow_mut(), &format!("case-{n}-tenant-{t}")))
            .collect();
        let mut case = Case {
            pool: &pool,
            admin: &admin,
            tenants,
            model: Vec::new(),
            outcomes: &outcomes,
        };
        for (step, op) in ops.iter().enumerate() {
            case.apply(step, op)
                .map_err(|e| TestCaseError::fail(format!("step {step}, {op:?}: {e}")))?;
            ops_run.fetch_add(1, Ordering::Relaxed);
        }
        // Nothing changed but what the model changed, in any tenant.
        let ids: Vec<TenantId> = case.tenants.iter().map(|f| f.tenant).collect();
        let mut actual = stored(&mut admin.borrow_mut(), &ids);
        let mut expected: Vec<SkillMessage> = case.model.iter().map(|m| m.stored.clone()).collect();
        actual.sort_by_key(|m| m.id);
        expected.sort_by_key(|m| m.id);
        prop_assert_eq!(actual, expected, "the stored rows differ from the model");
        Ok(())
    });
    println!(
        "random workloads: {} cases, {} operations over {TENANTS} tenants a case on a pool of 4, \
         {:.1} s",
        cases.load(Ordering::Relaxed),
        ops_run.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    for (outcome, count) in outcomes.borrow().iter() {
        println!("  {outcome:<40} {count:>6}");
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            panic!("{reason}\nminimal failing sequence:\n{ops:#?}")
        }
        Err(abort) => panic!("{abort}"),
    }
}

// ---------------------------------------------------------------------------
// 2. Load: many threads, a smaller pool, nothing lost.
// ---------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A message some thread sent, for others to act on.
#[derive(Clone, Copy)]
struct Sent {
    tenant: usize,
    id: SkillMessageId,
    from: UserId,
    to: UserId,
}

/// What one load thread did.
#[derive(Default)]
struct Tally {
    ops: usize,
    sent: Vec<SkillMessageId>,
    read: Vec<SkillMessageId>,
    responded: Vec<(SkillMessageId, SkillMessageStatus)>,
    outcomes: BTreeMap<String, usize>,
    foreign_rows: usize,
}

impl Tally {
    fn count<T>(&mut self, op: &str, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => format!("{op} ok"),
            Err(e) => format!("{op} {}", kind(e)),
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        self.ops += 1;
    }
}

fn load_thread(
    seed: u64,
    ops: usize,
    pool: &Pool,
    tenants: &[Fixture],
    shared: &Mutex<Vec<Sent>>,
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    // Counted in `Tally::count`: a turn that finds nothing to act on yet
    // makes no call.
    for n in 0.. {
        if tally.ops == ops {
            break;
        }
        let t = rng.below(tenants.len());
        let f = tenants[t];
        let people = users(&f);
        match rng.below(100) {
            0..=39 => {
                let from = rng.below(3);
                let to = (from + 1 + rng.below(2)) % 3;
                let blank = rng.below(20) == 0;
                let text = if blank {
                    "  ".to_owned()
                } else {
                    format!("load {seed}/{n}")
                };
                let new = NewSkillMessage {
                    from_user_id: people[from],
                    to_user_id: people[to],
                    subject_skill_id: skills(&f)[from],
                    proposed_parent_skill_id: Some(skills(&f)[to]).filter(|_| rng.below(2) == 0),
                    message: &text,
                };
                let result = pool.with_tenant(f.tenant, |tx| send_skill_message(tx, new));
                tally.count("send", &result);
                if let Ok(m) = &result {
                    tally.foreign_rows += usize::from(m.tenant_id != f.tenant);
                    tally.sent.push(m.id);
                    let sent = Sent {
                        tenant: t,
                        id: m.id,
                        from: m.from_user_id,
                        to: m.to_user_id,
                    };
                    shared.lock().expect("shared").push(sent);
                }
            }
            40..=54 => {
                let user = rng.pick(&people);
                let sent_list = rng.below(3) == 0;
                let result = pool.with_tenant(f.tenant, |tx| {
                    if sent_list {
                        get_sent_messages_for_user(tx, user, MessageQuery::default())
                    } else {
                        get_messages_for_user(tx, user, MessageQuery::default())
                    }
                });
                tally.count(if sent_list { "sent list" } else { "list" }, &result);
                if let Ok(page) = &result {
                    tally.foreign_rows += page
                        .items
                        .iter()
                        .filter(|m| m.tenant_id != f.tenant)
                        .count();
                }
            }
            55..=69 => {
                let user = rng.pick(&people);
                let result = pool.with_tenant(f.tenant, |tx| get_unread_count_for_user(tx, user));
                tally.count("count", &result);
            }
            roll => {
                let Some(target) = ({
                    let sent = shared.lock().expect("shared");
                    (!sent.is_empty()).then(|| sent[rng.below(sent.len())])
                }) else {
                    continue;
                };
                // Mostly in the message's own tenant, by its recipient (by
                // its sender for a withdrawal).
                let withdraw = roll >= 94;
                let scope = if rng.below(10) == 0 {
                    rng.below(tenants.len())
                } else {
                    target.tenant
                };
                let actor = if rng.below(4) == 0 {
                    rng.pick(&people)
                } else if withdraw {
                    target.from
                } else {
                    target.to
                };
                let scope_tenant = tenants[scope].tenant;
                if roll < 82 {
                    let result = pool
                        .with_tenant(scope_tenant, |tx| mark_message_read(tx, target.id, actor));
                    tally.count("mark_read", &result);
                    if let Ok(m) = &result {
                        tally.foreign_rows += usize::from(m.tenant_id != scope_tenant);
                        tally.read.push(m.id);
                    }
                } else if withdraw {
                    let result =
                        pool.with_tenant(scope_tenant, |tx| withdraw_message(tx, target.id, actor));
                    tally.count("withdraw", &result);
                    if let Ok(m) = &result {
                        tally.foreign_rows += usize::from(m.tenant_id != scope_tenant);
                        tally.responded.push((m.id, m.status));
                    }
                } else {
                    let response = if rng.below(2) == 0 {
                        Response::Accepted
                    } else {
                        Response::Declined
                    };
                    let result = pool.with_tenant(scope_tenant, |tx| {
                        update_message_status(tx, target.id, actor, response)
                    });
                    tally.count("respond", &result);
                    if let Ok(m) = &result {
                        tally.foreign_rows += usize::from(m.tenant_id != scope_tenant);
                        tally.responded.push((m.id, m.status));
                    }
                }
            }
        }
    }
    tally
}

#[test]
fn a_load_of_mixed_operations_loses_nothing_and_crosses_no_tenant() {
    const THREADS: usize = 8;
    const POOL: u32 = 4;
    let total = env_or("RELIABILITY_LOAD_OPS", 20_000);
    let db = TestDb::new();
    let mut admin = db.admin();
    let tenants: Vec<Fixture> = (0..4)
        .map(|t| seed_tenant(&mut admin, &format!("load-{t}")))
        .collect();
    let pool = db.pool_of(POOL);
    let shared = Mutex::new(Vec::new());
    let started = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (pool, tenants, shared) = (&pool, &tenants, &shared);
                s.spawn(move || load_thread(i as u64 + 1, total / THREADS, pool, tenants, shared))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("load thread"))
            .collect()
    });
    let elapsed = started.elapsed();

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for tally in &tallies {
        for (outcome, count) in &tally.outcomes {
            *outcomes.entry(outcome.clone()).or_default() += count;
        }
    }
    let ops: usize = tallies.iter().map(|t| t.ops).sum();
    println!(
        "load: {ops} operations, {THREADS} threads, pool of {POOL}, {:.1} s, {:.0} operations/s",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64()
    );
    for (outcome, count) in &outcomes {
        println!("  {outcome:<40} {count:>6}");
    }

    let expected_errors = [
        "InvalidMessage",
        "NotFound",
        "NotRecipient",
        "NotSender",
        "AlreadyResponded",
    ];
    let unexpected: Vec<&String> = outcomes
        .keys()
        .filter(|o| !o.ends_with(" ok") && !expected_errors.iter().any(|e| o.ends_with(e)))
        .collect();
    assert!(unexpected.is_empty(), "unexpected errors: {unexpected:?}");
    assert_eq!(tallies.iter().map(|t| t.foreign_rows).sum::<usize>(), 0);

    // Every message sent is stored, exactly once, as the calls left it.
    let ids: Vec<TenantId> = tenants.iter().map(|f| f.tenant).collect();
    let rows = stored(&mut admin, &ids);
    let sent: HashSet<SkillMessageId> = tallies
        .iter()
        .flat_map(|t| t.sent.iter().copied())
        .collect();
    assert_eq!(
        sent.len(),
        tallies.iter().map(|t| t.sent.len()).sum::<usize>()
    );
    assert_eq!(rows.len(), sent.len(), "stored rows and sent messages");
    assert!(rows.iter().all(|m| sent.contains(&m.id)));

    let mut responses: HashMap<SkillMessageId, Vec<SkillMessageStatus>> = HashMap::new();
    for (id, status) in tallies.iter().flat_map(|t| t.responded.iter()) {
        responses.entry(*id).or_default().push(*status);
    }
    let read: HashSet<SkillMessageId> = tallies
        .iter()
        .flat_map(|t| t.read.iter().copied())
        .collect();
    for m in &rows {
        let won = responses.get(&m.id).map(Vec::as_slice).unwrap_or_default();
        assert!(won.len() <= 1, "{} answered {} times", m.id, won.len());
        assert_eq!(m.status, won.first().copied().unwrap_or(Pending));
        // An answer reads the message; a withdrawal does not.
        let answered = won.iter().any(|s| matches!(s, Accepted | Declined));
        let was_read = read.contains(&m.id) || answered;
        assert_eq!(m.read_at.is_some(), was_read, "read_at of {}", m.id);
    }
    // And the unread counts agree with the rows.
    for f in &tenants {
        for user in users(f) {
            let count = pool
                .with_tenant(f.tenant, |tx| get_unread_count_for_user(tx, user))
                .expect("count");
            let unread = rows
                .iter()
                .filter(|m| m.to_user_id == user && m.read_at.is_none())
                .count() as u64;
            assert_eq!(count, unread);
        }
    }
    println!(
        "  stored {} messages, {} read, {} answered or withdrawn; every one accounted for",
        rows.len(),
        rows.iter().filter(|m| m.read_at.is_some()).count(),
        responses.len()
    );
}

// ---------------------------------------------------------------------------
// 3. Faults: server connections killed under load.
// ---------------------------------------------------------------------------

/// How a two-message scope ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PairOutcome {
    Committed,
    Failed,
    Unknown,
}

#[test]
fn killed_connections_fail_cleanly_and_the_pool_recovers() {
    const THREADS: usize = 8;
    const POOL: u32 = 4;
    let total = env_or("RELIABILITY_FAULT_OPS", 1_200);
    let db = TestDb::new();
    let mut admin = db.admin();
    let f = seed_tenant(&mut admin, "faults");
    let pool = db.pool_of(POOL);
    let stop = AtomicBool::new(false);
    let kills = AtomicUsize::new(0);
    let started = Instant::now();

    let (pairs, outcomes) = thread::scope(|s| {
        s.spawn(|| {
            let mut killer = db.admin();
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(15));
                let killed: i64 =
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                        "count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE application_name = '{}' AND usename = '{}'",
                        db.name(),
                        app_login()
                    )))
                    .get_result(&mut killer)
                    .expect("terminate backends");
                kills.fetch_add(killed as usize, Ordering::Relaxed);
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || {
                    let mut pairs = Vec::new();
                    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
                    for n in 0..total / THREADS {
                        // Two messages in one scope: both or neither.
                        let token = format!("fault {i}/{n}");
                        let result = pool.with_tenant(f.tenant, |tx| {
                            send_skill_message(tx, f.proposal(&format!("{token} a")))?;
                            send_skill_message(tx, f.proposal(&format!("{token} b")))?;
                            get_unread_count_for_user(tx, f.bob)
                        });
                        let outcome = match &result {
                            Ok(_) => PairOutcome::Committed,
                            Err(Error::CommitOutcomeUnknown(_)) => PairOutcome::Unknown,
                            Err(Error::Database(_) | Error::Pool(_)) => PairOutcome::Failed,
                            Err(other) => {
                                panic!("not a typed failure of the connection: {other:?}")
                            }
                        };
                        let label = match &result {
                            Ok(_) => "scope ok".to_owned(),
                            Err(e) => format!("scope {}", kind(e)),
                        };
                        *outcomes.entry(label).or_default() += 1;
                        pairs.push((token, outcome));
                    }
                    (pairs, outcomes)
                })
            })
            .collect();
        let done: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let mut pairs = Vec::new();
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for (p, o) in done {
            pairs.extend(p);
            for (k, v) in o {
                *outcomes.entry(k).or_default() += v;
            }
        }
        (pairs, outcomes)
    });
    let elapsed = started.elapsed();

    // Once the killing stops, the pool serves again by itself.
    let recovery = Instant::now();
    for _ in 0..20 {
        pool.with_tenant(f.tenant, |tx| get_unread_count_for_user(tx, f.bob))
            .expect("the pool recovers");
    }
    // A pooled connection is reachable only in a scope now (`Pool::get` is
    // gone), so its session is read from inside one: POOL scopes held open
    // at once, so that every pooled connection is read, each of them the
    // login's own session acting as the app role for exactly the scope's
    // tenant. Between scopes, the server shows every backend of the
    // login idle, with no transaction left open.
    let held = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..POOL {
            s.spawn(|| {
                let (login, role, tenant): (String, String, Option<String>) = pool
                    .with_tenant(f.tenant, |tx| {
                        let session =
                            diesel::select((
                                diesel::dsl::sql::<diesel::sql_types::Text>("session_user::text"),
                                diesel::dsl::sql::<diesel::sql_types::Text>("current_user::text"),
                                diesel::dsl::sql::<
                                    diesel::sql_types::Nullable<diesel::sql_types::Text>,
                                >(
                                    "nullif(current_setting('app.current_tenant_id', true), '')"
                                ),
                            ))
                            .get_result(tx.connection())?;
                        // Hold the connection until every scope holds one
                        // (bounded, so that a failed scope cannot hang us).
                        held.fetch_add(1, Ordering::SeqCst);
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while held.load(Ordering::SeqCst) < POOL as usize
                            && Instant::now() < deadline
                        {
                            thread::sleep(Duration::from_millis(1));
                        }
                        Ok(session)
                    })
                    .expect("read the session");
                assert_eq!(
                    (login.as_str(), role.as_str(), tenant),
                    (
                        app_login(),
                        skill_messages::APP_ROLE,
                        Some(f.tenant.to_string())
                    )
                );
            });
        }
    });
    let not_idle: Vec<String> = {
        #[derive(QueryableByName)]
        struct Backend {
            #[diesel(sql_type = diesel::sql_types::Text)]
            state: String,
        }
        diesel::sql_query(format!(
            "SELECT coalesce(state, '') AS state FROM pg_stat_activity \
             WHERE application_name = '{}' AND usename = '{}'",
            db.name(),
            app_login()
        ))
        .load::<Backend>(&mut admin)
        .expect("read the pooled backends")
        .into_iter()
        .map(|b| b.state)
        .filter(|state| state != "idle")
        .collect()
    };
    assert!(
        not_idle.is_empty(),
        "pooled backends not idle: {not_idle:?}"
    );
    pool.health_check().expect("the pool answers");

    // Committed pairs are whole, failed ones absent, unknown ones either.
    let rows = stored(&mut admin, &[f.tenant]);
    let texts: HashMap<&str, usize> = rows.iter().fold(HashMap::new(), |mut acc, m| {
        *acc.entry(m.message.as_str()).or_default() += 1;
        acc
    });
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    for (token, outcome) in &pairs {
        let a = texts
            .get(format!("{token} a").as_str())
            .copied()
            .unwrap_or(0);
        let b = texts
            .get(format!("{token} b").as_str())
            .copied()
            .unwrap_or(0);
        assert!(a <= 1 && b <= 1, "{token} stored twice");
        assert_eq!(a, b, "{token} half-written ({outcome:?})");
        match outcome {
            PairOutcome::Committed => assert_eq!(a, 1, "{token} committed but missing"),
            PairOutcome::Failed => assert_eq!(a, 0, "{token} failed but stored"),
            PairOutcome::Unknown => {}
        }
        let stored = if a == 1 { "stored" } else { "absent" };
        *by_outcome
            .entry(format!("{outcome:?}, {stored}"))
            .or_default() += 1;
    }
    assert_eq!(texts.len(), rows.len(), "no message stored twice");
    assert_eq!(
        rows.len(),
        2 * pairs
            .iter()
            .filter(|(t, _)| texts.contains_key(format!("{t} a").as_str()))
            .count()
    );

    println!(
        "faults: {} two-message scopes, {THREADS} threads, pool of {POOL}, {} connections \
         killed, {:.1} s; pool recovered in {:.0} ms",
        pairs.len(),
        kills.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        recovery.elapsed().as_secs_f64() * 1000.0
    );
    for (outcome, count) in outcomes.iter().chain(by_outcome.iter()) {
        println!("  {outcome:<60} {count:>6}");
    }
    assert!(
        kills.load(Ordering::Relaxed) > 0,
        "the killer killed nothing"
    );
    assert!(
        by_outcome.keys().any(|k| k.starts_with("Failed")),
        "no scope failed: the faults did not bite"
    );
}

// ---------------------------------------------------------------------------
// 4. Bad input: every function, every kind of bad input, nothing written.
// ---------------------------------------------------------------------------

/// Every row of every table, as text, as the superuser sees it.
fn every_row(admin: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    diesel::sql_query(
        "SELECT t::text AS row FROM tenants t UNION ALL SELECT u::text FROM users u
         UNION ALL SELECT s::text FROM skills s UNION ALL SELECT m::text FROM skill_messages m
         ORDER BY 1",
    )
    .load::<Row>(admin)
    .expect("read every row")
    .into_iter()
    .map(|r| r.row)
    .collect()
}

#[test]
fn every_function_refuses_bad_input_with_its_typed_error_and_writes_nothing() {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "matrix-a");
    let b = seed_tenant(&mut admin, "matrix-b");
    let pool = db.pool();
    let in_a = |f: &dyn Fn(&mut skill_messages::TenantConn<'_>) -> Result<String, Error>| {
        pool.with_tenant(a.tenant, f)
    };
    let send =
        |new: NewSkillMessage<'_>| in_a(&|tx| send_skill_message(tx, new).map(|m| m.message));
    // One message in each status in A, one in B.
    let withdrawn = pool
        .with_tenant(a.tenant, |tx| {
            let m = send_skill_message(tx, a.proposal("to withdraw"))?;
            withdraw_message(tx, m.id, a.alice)
        })
        .expect("send and withdraw");
    let pending = pool
        .with_tenant(a.tenant, |tx| send_skill_message(tx, a.proposal("pending")))
        .expect("send");
    let [accepted, declined] = [Response::Accepted, Response::Declined].map(|response| {
        pool.with_tenant(a.tenant, |tx| {
            let m = send_skill_message(tx, a.proposal("to answer"))?;
            update_message_status(tx, m.id, a.bob, response)
        })
        .expect("send and answer")
    });
    let elsewhere = pool
        .with_tenant(b.tenant, |tx| send_skill_message(tx, b.proposal("in B")))
        .expect("send in B");
    let before = every_row(&mut admin);

    let mut cases: Vec<(&str, String, Result<String, Error>, String)> = Vec::new();
    // The expected errors are the errors' Debug forms, in which an id prints
    // as its type around the UUID: `UnknownUser(UserId(…))`.
    let unknown_users = [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's", b.bob),
    ];
    let unknown_skills = [
        ("nil", SkillId::from(Uuid::nil())),
        ("random", SkillId::from(Uuid::new_v4())),
        ("another tenant's", b.skill),
    ];
    let unknown_messages = [
        ("nil", SkillMessageId::from(Uuid::nil())),
        ("random", SkillMessageId::from(Uuid::new_v4())),
        ("another tenant's", elsewhere.id),
    ];

    // send_skill_message
    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let from = NewSkillMessage {
            from_user_id: id,
            ..a.proposal("x")
        };
        let to = NewSkillMessage {
            to_user_id: id,
            ..a.proposal("x")
        };
        cases.push((
            "send",
            format!("{name} sender"),
            send(from),
            expected.clone(),
        ));
        cases.push(("send", format!("{name} recipient"), send(to), expected));
    }
    for (name, id) in unknown_skills {
        let expected = format!("UnknownSkill({id:?})");
        let subject = NewSkillMessage {
            subject_skill_id: id,
            ..a.proposal("x")
        };
        let parent = NewSkillMessage {
            proposed_parent_skill_id: Some(id),
            ..a.proposal("x")
        };
        cases.push((
            "send",
            format!("{name} subject"),
            send(subject),
            expected.clone(),
        ));
        cases.push(("send", format!("{name} parent"), send(parent), expected));
    }
    // A scope whose tenant does not exist has no users either.
    let nowhere = pool.with_tenant(TenantId::from(Uuid::new_v4()), |tx| {
        send_skill_message(tx, a.proposal("x")).map(|m| m.message)
    });
    let expected = format!("UnknownUser({:?})", a.alice);
    cases.push((
        "send",
        "in a tenant that does not exist".into(),
        nowhere,
        expected,
    ));
    let self_message = NewSkillMessage {
        to_user_id: a.alice,
        ..a.proposal("x")
    };
    let own_parent = NewSkillMessage {
        proposed_parent_skill_id: Some(a.skill),
        ..a.proposal("x")
    };
    cases.push((
        "send",
        "to oneself".into(),
        send(self_message),
        format!("SelfMessage({:?})", a.alice),
    ));
    cases.push((
        "send",
        "parent = subject".into(),
        send(own_parent),
        format!("ParentIsSubject({:?})", a.skill),
    ));
    let white_space: String = (0..=0x3000u32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .collect();
    let blank = "InvalidMessage(Blank)".to_owned();
    let mut texts: Vec<(String, String, String)> = vec![
        ("empty".into(), String::new(), blank.clone()),
        ("one space".into(), " ".into(), blank.clone()),
        (
            "all 25 white-space characters".into(),
            white_space.clone(),
            blank.clone(),
        ),
        (
            "4001 characters".into(),
            "x".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "4001 two-byte characters".into(),
            "é".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "4001 four-byte characters".into(),
            "🦀".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "NUL inside".into(),
            "a\0b".into(),
            "InvalidMessage(ContainsNul)".into(),
        ),
        (
            "NUL alone".into(),
            "\0".into(),
            "InvalidMessage(ContainsNul)".into(),
        ),
    ];
    for c in white_space.chars() {
        texts.push((
            format!("U+{:04X} alone", c as u32),
            c.to_string().repeat(3),
            blank.clone(),
        ));
    }
    for (name, text, expected) in texts {
        cases.push(("send", name, send(a.proposal(&text)), expected));
    }

    // get_messages_for_user, get_message_details_for_user, get_unread_count_for_user
    // get_sent_messages_for_user, mark_all_read
    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let sent = in_a(&|tx| {
            get_sent_messages_for_user(tx, id, MessageQuery::default()).map(|_| String::new())
        });
        let mark_all =
            in_a(&|tx| mark_all_read(tx, id, Cursor::up_to(Utc::now())).map(|n| n.to_string()));
        cases.push(("sent list", format!("{name} user"), sent, expected.clone()));
        cases.push(("mark_all_read", format!("{name} user"), mark_all, expected));
    }
    for limit in [0, 101, u32::MAX] {
        let query = MessageQuery::default().limit(limit);
        let sent =
            in_a(&|tx| get_sent_messages_for_user(tx, a.alice, query).map(|_| String::new()));
        cases.push((
            "sent list",
            format!("limit {limit}"),
            sent,
            format!("InvalidPageSize({limit})"),
        ));
    }

    // withdraw_message
    for (name, id) in unknown_messages {
        let withdraw = in_a(&|tx| withdraw_message(tx, id, a.alice).map(|m| m.message));
        cases.push((
            "withdraw",
            format!("{name} message"),
            withdraw,
            format!("NotFound({id:?})"),
        ));
    }
    for (name, actor) in [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's sender", b.alice),
        ("the recipient", a.bob),
        ("a bystander", a.carol),
    ] {
        let withdraw = in_a(&|tx| withdraw_message(tx, pending.id, actor).map(|m| m.message));
        let expected = format!(
            "NotSender {{ message_id: {:?}, user_id: {actor:?} }}",
            pending.id
        );
        cases.push(("withdraw", format!("{name} acting"), withdraw, expected));
    }
    for message in [&accepted, &declined, &withdrawn] {
        let expected = format!(
            "AlreadyResponded {{ message_id: {:?}, status: {:?} }}",
            message.id, message.status
        );
        let withdraw = in_a(&|tx| withdraw_message(tx, message.id, a.alice).map(|m| m.message));
        cases.push((
            "withdraw",
            format!("{} message", message.status),
            withdraw,
            expected,
        ));
    }

    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let list = in_a(&|tx| {
            get_messages_for_user(tx, id, MessageQuery::default()).map(|_| String::new())
        });
        let details = in_a(&|tx| {
            skill_messages::get_message_details_for_user(tx, id, MessageQuery::default())
                .map(|_| String::new())
        });
        let count = in_a(&|tx| get_unread_count_for_user(tx, id).map(|c| c.to_string()));
        cases.push(("list", format!("{name} user"), list, expected.clone()));
        cases.push(("details", format!("{name} user"), details, expected.clone()));
        cases.push(("count", format!("{name} user"), count, expected));
    }
    for limit in [0, 101, u32::MAX] {
        let query = MessageQuery::default().limit(limit);
        let list = in_a(&|tx| get_messages_for_user(tx, a.bob, query).map(|_| String::new()));
        cases.push((
            "list",
            format!("limit {limit}"),
            list,
            format!("InvalidPageSize({limit})"),
        ));
    }
    for garbage in [
        "",
        "not a cursor",
        "'; DROP TABLE skill_messages; --",
        &"f".repeat(49),
    ] {
        let parsed = garbage
            .parse::<skill_messages::Cursor>()
            .map(|c| c.to_string());
        cases.push((
            "list",
            format!("cursor {garbage:?}"),
            parsed,
            "InvalidCursor".into(),
        ));
    }

    // mark_message_read, update_message_status
    for (name, id) in unknown_messages {
        let expected = format!("NotFound({id:?})");
        let mark = in_a(&|tx| mark_message_read(tx, id, a.bob).map(|m| m.message));
        let respond =
            in_a(&|tx| update_message_status(tx, id, a.bob, Response::Accepted).map(|m| m.message));
        cases.push((
            "mark_read",
            format!("{name} message"),
            mark,
            expected.clone(),
        ));
        cases.push(("respond", format!("{name} message"), respond, expected));
    }
    let strangers = [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's recipient", b.bob),
        ("the sender", a.alice),
        ("a bystander", a.carol),
    ];
    for (name, actor) in strangers {
        let expected = format!(
            "NotRecipient {{ message_id: {:?}, user_id: {actor:?} }}",
            pending.id
        );
        let mark = in_a(&|tx| mark_message_read(tx, pending.id, actor).map(|m| m.message));
        let respond = in_a(&|tx| {
            update_message_status(tx, pending.id, actor, Response::Declined).map(|m| m.message)
        });
        cases.push((
            "mark_read",
            format!("{name} acting"),
            mark,
            expected.clone(),
        ));
        cases.push(("respond", format!("{name} acting"), respond, expected));
    }
    for (from, message) in [
        ("pending", &pending),
        ("accepted", &accepted),
        ("declined", &declined),
        ("withdrawn", &withdrawn),
    ] {
        // A response is Accepted or Declined: "to Pending", once refused with
        // NotAResponse, cannot be written any more, so it is no case here.
        for to in [Response::Accepted, Response::Declined] {
            let expected = match message.status {
                Pending => continue, // the one allowed transition, below
                current => format!(
                    "AlreadyResponded {{ message_id: {:?}, status: {current:?} }}",
                    message.id
                ),
            };
            let respond =
                in_a(&|tx| update_message_status(tx, message.id, a.bob, to).map(|m| m.message));
            cases.push(("respond", format!("{from} to {to}"), respond, expected));
        }
    }

    let mut failures = Vec::new();
    let mut per_function: BTreeMap<&str, usize> = BTreeMap::new();
    for (function, name, result, expected) in &cases {
        *per_function.entry(function).or_default() += 1;
        match result {
            Err(error) if format!("{error:?}") == *expected => {}
            other => failures.push(format!(
                "{function}, {name}: got {other:?}, expected {expected}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        every_row(&mut admin),
        before,
        "a refused call wrote something"
    );

    // What is valid is stored verbatim, once trimmed.
    let valid = [
        "x".repeat(4000),
        "é".repeat(4000),
        "🦀".repeat(4000),
        format!("{white_space}{}{white_space}", "y".repeat(4000)),
        "'); DROP TABLE skill_messages; --".to_owned(),
        "$1 $$ \\ % _ ' \" ; -- /* */ E'\\x00'".to_owned(),
        "\u{202e}right-to-left\u{202c} and \u{200b}zero-width".to_owned(),
    ];
    for text in &valid {
        let stored = send(a.proposal(text)).expect("a valid message");
        assert_eq!(stored, text.trim(), "stored verbatim");
    }
    let accepted_now = in_a(&|tx| {
        update_message_status(tx, pending.id, a.bob, Response::Accepted).map(|m| m.message)
    });
    assert!(accepted_now.is_ok(), "pending to accepted");
    assert_eq!(every_row(&mut admin).len(), before.len() + valid.len());

    println!(
        "bad input: {} refused calls, each with its typed error and nothing written; {} valid \
         edge cases stored verbatim",
        cases.len(),
        valid.len()
    );
    for (function, count) in per_function {
        println!("  {function:<14} {count:>4} cases");
    }
}
