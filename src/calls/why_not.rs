//! The read-only look at a message that tells why marking it read,
//! answering it or withdrawing it changed nothing: a refusal, or, for a
//! message already read, the message as stored.

use diesel::pg::Pg;
use diesel::prelude::*;

use crate::call::{FollowUp, Step};
use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::status::SkillMessageStatus;

/// Why an update of a message touched no row.
pub(crate) struct WhyNot {
    pub(crate) tenant: TenantId,
    pub(crate) message: SkillMessageId,
    pub(crate) user: UserId,
    pub(crate) act: Act,
}

/// What the update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// The recipient marks it read.
    Read,
    /// The recipient answers it, which needs it pending.
    Answer,
    /// The sender withdraws it, which needs it pending.
    Withdraw,
}

impl WhyNot {
    /// The updated message, or this follow-up when the update touched none.
    pub(crate) fn unless_updated(self, rows: Vec<SkillMessage>) -> Step<SkillMessage, Self> {
        match rows.into_iter().next() {
            Some(message) => Step::Done(Ok(message)),
            None => Step::FollowUp(self),
        }
    }
}

impl FollowUp for WhyNot {
    type Output = SkillMessage;
    type SqlType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<SkillMessage, Pg>>;
    type Row = SkillMessage;

    fn statement(&self) -> Statement<Self::SqlType> {
        Statement::new(
            skill_messages::table
                .filter(skill_messages::tenant_id.eq(self.tenant))
                .filter(skill_messages::id.eq(self.message))
                .select(SkillMessage::as_select()),
        )
    }

    fn answer(self, rows: Vec<SkillMessage>) -> Result<SkillMessage, Error> {
        let (message_id, user_id) = (self.message, self.user);
        let Some(found) = rows.into_iter().next() else {
            return Err(Error::NotFound(message_id));
        };
        if self.act == Act::Read && found.to_user_id == user_id && found.read_at.is_some() {
            // Read before: marking it again writes nothing.
            return Ok(found);
        }
        Err(match self.act {
            Act::Withdraw if found.from_user_id != user_id => Error::NotSender {
                message_id,
                user_id,
            },
            Act::Read | Act::Answer if found.to_user_id != user_id => Error::NotRecipient {
                message_id,
                user_id,
            },
            Act::Answer | Act::Withdraw if found.status != SkillMessageStatus::Pending => {
                Error::AlreadyResponded {
                    message_id,
                    status: found.status,
                }
            }
            // The message was committed by another transaction after the
            // update looked: to the update, it did not exist.
            _ => Error::NotFound(message_id),
        })
    }
}
