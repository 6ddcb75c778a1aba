//! Sending a skill message: the form it is sent with, its checks, its
//! statement, its refusals and its event, and `send` on every face.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};

use super::conditions::{Returned, skill_exists, user_exists};
use super::follow_up::{FollowUp, References};
use crate::error::{Error, MessageProblem};
use crate::events::NewMessageEvent;
use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::operation::{Operation, Step};
use crate::platform::users;
use crate::pool::Tenant;
use crate::relations::RECIPIENT;
use crate::schema::skill_messages;
use crate::scope::TenantConn;
use crate::statement::Statement;

/// The longest message, in characters, after trimming white space.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// A proposal to send: [`TenantConn::send`] stores it in the scope's
/// tenant, which never comes from here. It borrows the text, which the
/// crate only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSkillMessage<'a> {
    /// The sender, a user of the scope's tenant.
    pub from_user_id: UserId,
    /// The recipient, another user of the scope's tenant.
    pub to_user_id: UserId,
    /// The skill the message is about.
    pub subject_skill_id: SkillId,
    /// The skill proposed as the subject's parent, if any; not the subject.
    pub proposed_parent_skill_id: Option<SkillId>,
    /// The text: stored trimmed of white space at both ends, and then 1 to
    /// [`MAX_MESSAGE_CHARS`] characters long.
    pub message: &'a str,
}

impl TenantConn<'_> {
    /// Sends a skill message in the scope's tenant and returns it as
    /// stored: pending, unread, its text trimmed.
    ///
    /// Refuses, writing nothing, a text that is blank, longer than
    /// [`MAX_MESSAGE_CHARS`] or holds a NUL ([`Error::InvalidMessage`]); one
    /// user as sender and recipient ([`Error::SelfMessage`]); the subject
    /// proposed as its own parent ([`Error::ParentIsSubject`]); and a user or
    /// skill the tenant does not have ([`Error::UnknownUser`],
    /// [`Error::UnknownSkill`]), as another tenant's ids are: when several
    /// are unknown, the first of sender, recipient, subject skill and
    /// proposed parent is named. When every one exists but the message was
    /// not stored (one was created while the send ran, or a Citus shard
    /// moved), it refuses with [`Error::SendRaced`]: send it again.
    ///
    /// One proposal per pair is pending at a time: while the sender's
    /// proposal of the same subject skill under the same parent (or under
    /// none) to the same recipient is pending, a second one is refused with
    /// [`Error::AlreadyPending`] naming the first. The database keeps this
    /// for concurrent sends too (a unique index): of several racing, one is
    /// stored, and the others wait for its scope to end before they are
    /// refused.
    ///
    /// A send that commits announces a
    /// [`NewMessageEvent`](crate::NewMessageEvent) on its tenant's channel.
    pub fn send(&mut self, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        let send = Send::new(self.tenant_id(), new);
        self.run(send)
    }
}

impl Tenant {
    /// [`TenantConn::send`], in a scope of its own.
    pub fn send(&self, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.run(Send::new(self.id(), new))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::send`], awaited.
    pub async fn send(&mut self, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        let send = Send::new(self.tenant_id(), new);
        self.run(send).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::send`], in a scope of its own sent in one round trip
    /// with its event. (On a Citus cluster it takes a scope's three: the
    /// event goes out from the coordinator at the commit.)
    pub async fn send(&self, new: NewSkillMessage<'_>) -> Result<SkillMessage, Error> {
        self.run(Send::new(self.id(), new)).await
    }
}

/// A message to send, its text checked and trimmed.
struct Send<'a> {
    tenant: TenantId,
    id: SkillMessageId,
    new: NewSkillMessage<'a>,
}

impl<'a> Send<'a> {
    /// Refuses what the tenant's rows need not be read to refuse.
    fn new(tenant: TenantId, new: NewSkillMessage<'a>) -> Result<Self, Error> {
        let message = checked_text(new.message).map_err(Error::InvalidMessage)?;
        if new.from_user_id == new.to_user_id {
            return Err(Error::SelfMessage(new.from_user_id));
        }
        if new.proposed_parent_skill_id == Some(new.subject_skill_id) {
            return Err(Error::ParentIsSubject(new.subject_skill_id));
        }
        Ok(Self {
            tenant,
            id: SkillMessageId::from(uuid::Uuid::now_v7()),
            new: NewSkillMessage { message, ..new },
        })
    }
}

/// The message text trimmed, or why it cannot be stored.
fn checked_text(text: &str) -> Result<&str, MessageProblem> {
    if text.contains('\0') {
        return Err(MessageProblem::ContainsNul);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(MessageProblem::Blank);
    }
    match trimmed.chars().count() {
        chars if chars > MAX_MESSAGE_CHARS => Err(MessageProblem::TooLong { chars }),
        _ => Ok(trimmed),
    }
}

impl Operation for Send<'_> {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = "send";

    /// `INSERT ... SELECT` the new row from its recipient's row, only if
    /// the sender and the skills exist in the tenant too: when a reference
    /// does not, it inserts nothing, and fails nothing, where a foreign-key
    /// violation would abort the scope. A conflict (the same proposal
    /// pending already, or the id taken) inserts nothing too. The id is made here, a UUIDv7 (in
    /// time order), and the tenant is the recipient's row's: both let Citus
    /// run the whole statement on the tenant's shard. Without a proposed
    /// parent the subject is checked twice, which keeps one SQL text for
    /// both shapes.
    fn statement(&self) -> Statement<Returned> {
        let (tenant, new) = (self.tenant, self.new);
        let parent_or_subject = new.proposed_parent_skill_id.unwrap_or(new.subject_skill_id);
        let recipient_tenant = RECIPIENT.field(users::tenant_id);
        let recipient_id = RECIPIENT.field(users::id);
        let values = RECIPIENT
            .filter(recipient_tenant.eq(tenant))
            .filter(recipient_id.eq(new.to_user_id))
            .filter(
                user_exists(tenant, new.from_user_id)
                    .and(skill_exists(tenant, new.subject_skill_id))
                    .and(skill_exists(tenant, parent_or_subject)),
            )
            .select((
                self.id.into_sql::<SqlUuid>(),
                recipient_tenant,
                new.from_user_id.into_sql::<Nullable<SqlUuid>>(),
                recipient_id.nullable(),
                new.subject_skill_id.into_sql::<SqlUuid>(),
                new.proposed_parent_skill_id.into_sql::<Nullable<SqlUuid>>(),
                new.message.to_owned().into_sql::<Text>(),
            ));
        Statement::new(
            diesel::insert_into(skill_messages::table)
                .values(values)
                .into_columns((
                    skill_messages::id,
                    skill_messages::tenant_id,
                    skill_messages::from_user_id,
                    skill_messages::to_user_id,
                    skill_messages::subject_skill_id,
                    skill_messages::proposed_parent_skill_id,
                    skill_messages::message,
                ))
                .on_conflict_do_nothing()
                .returning(SkillMessage::as_returning()),
        )
    }

    /// The stored message, or, when none was stored, the first of its
    /// users and skills the tenant lacks.
    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage> {
        if let Some(message) = rows.into_iter().next() {
            return Step::Done(Ok(message));
        }
        let (from, to) = (self.new.from_user_id, self.new.to_user_id);
        let (subject, parent) = (self.new.subject_skill_id, self.new.proposed_parent_skill_id);
        let references = References {
            tenant: self.tenant,
            users: [from, to],
            skills: [subject, parent.unwrap_or(subject)],
        };
        Step::FollowUp(
            FollowUp::References(references),
            Box::new(move |facts| {
                Err(match (facts.users, facts.skills, parent, facts.pending) {
                    ([false, _], ..) => Error::UnknownUser(from),
                    ([_, false], ..) => Error::UnknownUser(to),
                    (_, [false, _], ..) => Error::UnknownSkill(subject),
                    (_, [_, false], Some(parent), _) => Error::UnknownSkill(parent),
                    (.., Some(pending)) => Error::AlreadyPending(pending),
                    // Every reference exists now. Each statement sees what
                    // was committed when it started: one the insert missed
                    // was created since (or the message's id was taken,
                    // which its conflict clause skips). Nothing was written.
                    _ => Error::SendRaced,
                })
            }),
        )
    }

    fn event(&self) -> Option<NewMessageEvent> {
        let new = &self.new;
        Some(NewMessageEvent::new(
            self.tenant,
            self.id,
            new.from_user_id,
            new.to_user_id,
        ))
    }
}
