//! Random interleavings of every operation, in three tenants, checked
//! against a model of what each should return and store.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, Pool, ReadMark, SkillId, SkillMessage,
    SkillMessageId, SkillMessageStatus, TenantId, UserId,
};
use uuid::Uuid;

use super::{Call, Returned, env_or, kind, skills, stored, users};
use crate::common::{Fixture, TestDb, seed_tenant};

use SkillMessageStatus::{Accepted, Declined, Pending, Withdrawn};

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
        answer: Answer,
    },
    /// Mark read the messages the user was shown: those `seen` picks, of
    /// the scope's tenant or of any, received by the user or not.
    MarkAllRead {
        tenant: usize,
        user: Who,
        seen: Vec<Target>,
    },
    Withdraw {
        tenant: usize,
        message: Target,
        actor: Actor,
    },
    Details {
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
        let answer = prop_oneof![Just(Answer::Accept), Just(Answer::Decline)];
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
            3 => (target(), actor(), answer).prop_map(move |(message, actor, answer)| {
                Op::Respond { tenant, message, actor, answer }
            }),
            2 => (who(), proptest::collection::vec(target(), 0..6)).prop_map(
                move |(user, seen)| Op::MarkAllRead { tenant, user, seen }
            ),
            2 => (target(), sender()).prop_map(move |(message, actor)| Op::Withdraw {
                tenant, message, actor,
            }),
            1 => (target(), sender()).prop_map(move |(message, actor)| Op::Details {
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

    /// Runs `call` in a scope of `tenant`, and tallies its outcome.
    fn run(&self, tenant: usize, call: &Call) -> Result<Returned, Error> {
        let result = self
            .pool
            .with_tenant(self.tenants[tenant].tenant, |tx| call.run(tx));
        self.tally(call.name(), &result);
        result
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
            (Actor::Recipient, Some(m)) => m
                .stored
                .to_user_id
                .expect("a stored message names both users"),
            (Actor::Recipient, None) => self.user(Who { tenant, user: 1 }),
            (Actor::Sender, Some(m)) => m
                .stored
                .from_user_id
                .expect("a stored message names both users"),
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
                let call = Call::Count {
                    user: self.user(user),
                };
                let result = self.run(tenant, &call).map(Returned::count);
                let expected = (user.tenant == tenant).then(|| {
                    self.model
                        .iter()
                        .filter(|m| m.stored.to_user_id == Some(self.user(user)))
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
                answer,
            } => self.respond(tenant, message, actor, answer),
            Op::MarkAllRead {
                tenant,
                user,
                ref seen,
            } => self.mark_all_read(tenant, user, seen),
            Op::Withdraw {
                tenant,
                message,
                actor,
            } => self.withdraw(tenant, message, actor),
            Op::Details {
                tenant,
                message,
                actor,
            } => self.details(tenant, message, actor),
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
        let call = Call::Send {
            from: new.from_user_id,
            to: new.to_user_id,
            subject: new.subject_skill_id,
            parent: new.proposed_parent_skill_id,
            text: message.clone(),
        };
        let result = self.run(tenant, &call).map(Returned::message);
        // The same proposal pending in the tenant: one per pair at a time.
        let twin = self
            .model
            .iter()
            .find(|m| {
                m.tenant == tenant
                    && m.stored.status == Pending
                    && m.stored.from_user_id == Some(new.from_user_id)
                    && m.stored.to_user_id == Some(new.to_user_id)
                    && m.stored.subject_skill_id == new.subject_skill_id
                    && m.stored.proposed_parent_skill_id == new.proposed_parent_skill_id
            })
            .map(|m| m.stored.id);
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
            Err(Error::AlreadyPending(id)) => prop_assert!(
                matches!(text, Text::Fine)
                    && unknown_users.is_empty()
                    && unknown_skills.is_empty()
                    && twin == Some(id),
                "already pending as {id}, but the model's twin is {twin:?}"
            ),
            Ok(stored) => {
                prop_assert!(
                    matches!(text, Text::Fine)
                        && from != to
                        && parent != Some(subject)
                        && unknown_users.is_empty()
                        && unknown_skills.is_empty()
                        && twin.is_none(),
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
        let mut query = MessageQuery::new().limit(page);
        if unread_only {
            query = query.unread_only();
        }
        if let Some(status) = status {
            query = query.status(status);
        }
        let call = Call::List {
            outbox: side == Side::Sent,
            user: user_id,
            query,
        };
        let result = self.run(tenant, &call).map(Returned::messages);
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
                Side::Received => m.to_user_id == Some(user_id),
                Side::Sent => m.from_user_id == Some(user_id),
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
        let call = Call::MarkRead {
            message: message_id,
            user: actor_id,
        };
        let result = self.run(tenant, &call).map(Returned::message);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotRecipient { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id != Some(actor_id))
            }
            (Ok(read), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == Some(actor_id));
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
        answer: Answer,
    ) -> Result<(), TestCaseError> {
        let (target, message_id, actor_id) = self.aim(tenant, target, actor);
        let call = Call::Answer {
            message: message_id,
            user: actor_id,
            answer,
        };
        let result = self.run(tenant, &call).map(Returned::message);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotRecipient { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id != Some(actor_id))
            }
            (Err(Error::NotPending { status, .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == Some(actor_id));
                prop_assert!(m.stored.status != Pending && status == m.stored.status);
            }
            (Ok(responded), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.to_user_id == Some(actor_id));
                prop_assert!(m.stored.status == Pending && responded.status == answer.status());
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
        seen: &[Target],
    ) -> Result<(), TestCaseError> {
        let user_id = self.user(user);
        let picked: Vec<Modeled> = seen
            .iter()
            .filter_map(|target| self.pick(tenant, *target))
            .collect();
        let mark: ReadMark = picked.iter().map(|m| m.stored.id).collect();
        let call = Call::MarkAllRead {
            user: user_id,
            seen: mark,
        };
        let result = self.run(tenant, &call).map(Returned::count);
        if user.tenant != tenant {
            prop_assert!(matches!(result, Err(Error::UnknownUser(id)) if id == user_id));
            return Ok(());
        }
        let marked = result.map_err(|e| TestCaseError::fail(format!("mark_all_read: {e:?}")))?;
        // Those of the marked messages that are the user's, in the scope's
        // tenant, and unread; none of another user or tenant.
        let mut expected: Vec<SkillMessageId> = picked
            .iter()
            .filter(|m| m.tenant == tenant)
            .map(|m| &m.stored)
            .filter(|m| m.to_user_id == Some(user_id) && m.read_at.is_none())
            .map(|m| m.id)
            .collect();
        expected.sort_unstable();
        expected.dedup();
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

    fn details(&self, tenant: usize, target: Target, actor: Actor) -> Result<(), TestCaseError> {
        let (target, message_id, actor_id) = self.aim(tenant, target, actor);
        let call = Call::Details {
            message: message_id,
            user: actor_id,
        };
        let result = self.run(tenant, &call).map(Returned::details);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotParticipant { .. }), Some(m)) => prop_assert!(
                m.tenant == tenant
                    && m.stored.from_user_id != Some(actor_id)
                    && m.stored.to_user_id != Some(actor_id)
            ),
            (Ok(details), Some(m)) => {
                prop_assert!(m.tenant == tenant);
                prop_assert!(
                    Some(actor_id) == m.stored.from_user_id
                        || Some(actor_id) == m.stored.to_user_id
                );
                prop_assert_eq!(&details.message, &m.stored);
                prop_assert_eq!(details.sender.map(|u| u.id), m.stored.from_user_id);
                prop_assert_eq!(details.recipient.map(|u| u.id), m.stored.to_user_id);
            }
            (other, target) => prop_assert!(false, "details: {other:?} for {target:?}"),
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
        let call = Call::Withdraw {
            message: message_id,
            user: actor_id,
        };
        let result = self.run(tenant, &call).map(Returned::message);
        match (result, target) {
            (Err(Error::NotFound(id)), target) => {
                prop_assert_eq!(id, message_id);
                prop_assert!(target.is_none_or(|m| m.tenant != tenant));
            }
            (Err(Error::NotSender { .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id != Some(actor_id))
            }
            (Err(Error::NotPending { status, .. }), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id == Some(actor_id));
                prop_assert!(m.stored.status != Pending && status == m.stored.status);
            }
            (Ok(withdrawn), Some(m)) => {
                prop_assert!(m.tenant == tenant && m.stored.from_user_id == Some(actor_id));
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
