//! Accepting or declining a proposal, as its recipient, on every face.

use std::fmt;
use std::str::FromStr;

use diesel::dsl::{self, now};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};

use super::conditions::{Returned, message};
use super::follow_up::{FollowUp, Lookup};
use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::operation::{Operation, Step};
use crate::pool::Tenant;
use crate::schema::skill_messages;
use crate::scope::TenantConn;
use crate::statement::Statement;
use crate::status::SkillMessageStatus;

/// The recipient's answer to a proposal: what [`TenantConn::answer`] sets.
///
/// Prints and parses as `accept` and `decline`, which is also its serde
/// form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Answer {
    /// Accept the proposal: the message becomes
    /// [`Accepted`](SkillMessageStatus::Accepted).
    Accept,
    /// Decline the proposal: the message becomes
    /// [`Declined`](SkillMessageStatus::Declined).
    Decline,
}

impl Answer {
    /// The status the answer gives the message.
    pub fn status(self) -> SkillMessageStatus {
        match self {
            Self::Accept => SkillMessageStatus::Accepted,
            Self::Decline => SkillMessageStatus::Declined,
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accept => "accept",
            Self::Decline => "decline",
        })
    }
}

impl FromStr for Answer {
    type Err = UnknownAnswer;

    fn from_str(s: &str) -> Result<Self, UnknownAnswer> {
        match s {
            "accept" => Ok(Self::Accept),
            "decline" => Ok(Self::Decline),
            other => Err(UnknownAnswer(other.to_owned())),
        }
    }
}

/// A text that is not an [`Answer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown answer {0:?}: expected accept or decline")]
pub struct UnknownAnswer(pub String);

impl TenantConn<'_> {
    /// Accepts or declines a pending proposal as its recipient and returns
    /// it: its status set, `responded_at` set, and `read_at` set if it was
    /// unread (kept if it was read).
    ///
    /// Refuses with [`Error::NotFound`] when the tenant has no such
    /// message, [`Error::NotRecipient`] when `acting_user` is not its
    /// recipient, and [`Error::NotPending`], carrying the status that won,
    /// when it is no longer pending. Of several calls racing to answer or
    /// withdraw one message, exactly one succeeds.
    pub fn answer(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
        answer: Answer,
    ) -> Result<SkillMessage, Error> {
        let answering = Answering::new(self.tenant_id(), message, acting_user, answer);
        self.run(Ok(answering))
    }
}

impl Tenant {
    /// [`TenantConn::answer`], in a scope of its own.
    pub fn answer(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
        answer: Answer,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(Answering::new(self.id(), message, acting_user, answer)))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::answer`], awaited.
    pub async fn answer(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
        answer: Answer,
    ) -> Result<SkillMessage, Error> {
        let answering = Answering::new(self.tenant_id(), message, acting_user, answer);
        self.run(Ok(answering)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::answer`], in a scope of its own, in one round trip.
    pub async fn answer(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
        answer: Answer,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(Answering::new(self.id(), message, acting_user, answer)))
            .await
    }
}

/// The recipient answers a pending proposal.
struct Answering {
    tenant: TenantId,
    message: SkillMessageId,
    user: UserId,
    answer: Answer,
}

impl Answering {
    fn new(tenant: TenantId, message: SkillMessageId, user: UserId, answer: Answer) -> Self {
        Self {
            tenant,
            message,
            user,
            answer,
        }
    }
}

diesel::define_sql_function! {
    /// SQL `least`: the smallest of its arguments that is not null.
    fn least(value: Nullable<Timestamptz>, other: Nullable<Timestamptz>) -> Nullable<Timestamptz>;
}

diesel::define_sql_function! {
    /// SQL `greatest`: the largest of its arguments that is not null.
    fn greatest(value: Nullable<Timestamptz>, other: Timestamptz) -> Nullable<Timestamptz>;
}

/// `read_at` kept if it is set, else set to now: `least(read_at,
/// greatest(read_at, now()))` is `read_at` when it is set and `now()` when
/// it is null. (`coalesce(read_at, now())` says the same, but Citus refuses
/// `coalesce` and `CASE` of `now()` in an `UPDATE`; it takes `least` and
/// `greatest`.)
#[dsl::auto_type]
fn read_now_unless_read() -> _ {
    skill_messages::read_at.eq(least(
        skill_messages::read_at,
        greatest(skill_messages::read_at, now),
    ))
}

impl Operation for Answering {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = "answer";

    /// Sets the answer if the message is still pending. A racing answer or
    /// withdrawal blocks on the row lock, then finds the message no longer
    /// pending.
    fn statement(&self) -> Statement<Returned> {
        let pending = message(self.tenant, self.message)
            .filter(skill_messages::to_user_id.eq(self.user))
            .filter(skill_messages::status.eq(SkillMessageStatus::Pending));
        Statement::new(
            diesel::update(pending)
                .set((
                    skill_messages::status.eq(self.answer.status()),
                    skill_messages::responded_at.eq(now),
                    read_now_unless_read(),
                ))
                .returning(SkillMessage::as_returning()),
        )
    }

    /// The message answered, or why it could not be.
    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage> {
        if let Some(answered) = rows.into_iter().next() {
            return Step::Done(Ok(answered));
        }
        let (message_id, user_id) = (self.message, self.user);
        let lookup = Lookup {
            tenant: self.tenant,
            id: message_id,
        };
        Step::FollowUp(
            FollowUp::Message(lookup),
            Box::new(move |facts| {
                Err(match facts.message {
                    None => Error::NotFound(message_id),
                    Some(found) if found.to_user_id != Some(user_id) => Error::NotRecipient {
                        message_id,
                        user_id,
                    },
                    Some(found) if found.status != SkillMessageStatus::Pending => {
                        Error::NotPending {
                            message_id,
                            status: found.status,
                        }
                    }
                    // Committed after the update looked.
                    Some(_) => Error::NotFound(message_id),
                })
            }),
        )
    }
}
