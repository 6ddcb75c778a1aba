//! Marking a read message unread again, as its recipient, on every face.

use diesel::prelude::*;

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

impl TenantConn<'_> {
    /// Marks `message` unread for `acting_user`, its recipient, and returns
    /// it: `read_at` is cleared, the message counts as unread again, and the
    /// next [`mark_read`](Self::mark_read) sets `read_at` anew. A `read_at`
    /// that is set never moves to another time: it is cleared, or it stays.
    ///
    /// Marking an unread message unread writes nothing and returns it as
    /// stored. Refuses with [`Error::NotFound`] when the tenant has no such
    /// message and [`Error::NotRecipient`] when `acting_user` is not its
    /// recipient.
    pub fn mark_unread(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let mark = MarkUnread::new(self.tenant_id(), message, acting_user);
        self.run(Ok(mark))
    }
}

impl Tenant {
    /// [`TenantConn::mark_unread`], in a scope of its own.
    pub fn mark_unread(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(MarkUnread::new(self.id(), message, acting_user)))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::mark_unread`], awaited.
    pub async fn mark_unread(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let mark = MarkUnread::new(self.tenant_id(), message, acting_user);
        self.run(Ok(mark)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::mark_unread`], in a scope of its own, in one round trip
    /// (two for a message that was unread, which is read without a write).
    pub async fn mark_unread(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(MarkUnread::new(self.id(), message, acting_user)))
            .await
    }
}

/// The recipient marks a message unread.
struct MarkUnread {
    tenant: TenantId,
    message: SkillMessageId,
    user: UserId,
}

impl MarkUnread {
    fn new(tenant: TenantId, message: SkillMessageId, user: UserId) -> Self {
        Self {
            tenant,
            message,
            user,
        }
    }
}

impl Operation for MarkUnread {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = "mark_unread";

    /// Clears `read_at` if it is set; an unread message is not updated.
    fn statement(&self) -> Statement<Returned> {
        let read = message(self.tenant, self.message)
            .filter(skill_messages::to_user_id.eq(self.user))
            .filter(skill_messages::read_at.is_not_null());
        Statement::new(
            diesel::update(read)
                .set(skill_messages::read_at.eq(None::<chrono::DateTime<chrono::Utc>>))
                .returning(SkillMessage::as_returning()),
        )
    }

    /// The message just marked, or, when none was, the message as stored:
    /// unread already, or why it is not the user's to mark.
    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage> {
        if let Some(marked) = rows.into_iter().next() {
            return Step::Done(Ok(marked));
        }
        let (message_id, user_id) = (self.message, self.user);
        let lookup = Lookup {
            tenant: self.tenant,
            id: message_id,
        };
        Step::FollowUp(
            FollowUp::Message(lookup),
            Box::new(move |facts| match facts.message {
                None => Err(Error::NotFound(message_id)),
                Some(found) if found.to_user_id != Some(user_id) => Err(Error::NotRecipient {
                    message_id,
                    user_id,
                }),
                // Unread already; or marked read by a transaction that
                // committed after the update looked, and then returned as
                // it is now, read.
                Some(found) => Ok(found),
            }),
        )
    }
}
