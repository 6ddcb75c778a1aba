//! Marking a message read, as its recipient, on every face.

use diesel::dsl::now;
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
    /// Marks `message` read by `acting_user`, its recipient, and returns
    /// it.
    ///
    /// `read_at` is set by the first call that finds the message unread, and
    /// never moves (only [`mark_unread`](Self::mark_unread) clears it): every
    /// call, concurrent ones included, returns the value stored. Marking a read message again writes
    /// nothing (no row lock, no new row version) and does not wait behind a
    /// transaction holding the message, such as a concurrent answer; it
    /// reads the message in a second statement.
    ///
    /// Refuses with [`Error::NotFound`] when the tenant has no such message
    /// and [`Error::NotRecipient`] when `acting_user` is not its recipient.
    ///
    /// The ids have types of their own, so swapping them does not compile:
    ///
    /// ```compile_fail
    /// # use skill_messages::{SkillMessageId, TenantConn, UserId};
    /// # fn demo(tx: &mut TenantConn<'_>, message: SkillMessageId, user: UserId) {
    /// tx.mark_read(user, message);
    /// # }
    /// ```
    pub fn mark_read(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let mark = MarkRead::new(self.tenant_id(), message, acting_user);
        self.run(Ok(mark))
    }
}

impl Tenant {
    /// [`TenantConn::mark_read`], in a scope of its own.
    pub fn mark_read(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(MarkRead::new(self.id(), message, acting_user)))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::mark_read`], awaited.
    pub async fn mark_read(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let mark = MarkRead::new(self.tenant_id(), message, acting_user);
        self.run(Ok(mark)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::mark_read`], in a scope of its own, in one round trip
    /// (two for a message read before, which is read without a write).
    pub async fn mark_read(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(MarkRead::new(self.id(), message, acting_user)))
            .await
    }
}

/// The recipient marks a message read.
struct MarkRead {
    tenant: TenantId,
    message: SkillMessageId,
    user: UserId,
}

impl MarkRead {
    fn new(tenant: TenantId, message: SkillMessageId, user: UserId) -> Self {
        Self {
            tenant,
            message,
            user,
        }
    }
}

impl Operation for MarkRead {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = "mark_read";

    /// Sets `read_at` if it is not set. A message already read is not
    /// updated at all: no row lock, no new row version, no wait behind a
    /// transaction that holds the row. Of two calls racing to mark it, the
    /// second waits for the first, finds it read, and updates nothing.
    fn statement(&self) -> Statement<Returned> {
        let unread = message(self.tenant, self.message)
            .filter(skill_messages::to_user_id.eq(self.user))
            .filter(skill_messages::read_at.is_null());
        Statement::new(
            diesel::update(unread)
                .set(skill_messages::read_at.eq(now))
                .returning(SkillMessage::as_returning()),
        )
    }

    /// The message just marked, or, when none was, the message as stored:
    /// read before, or why it is not the user's to mark.
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
                Some(found) if found.read_at.is_some() => Ok(found),
                // Committed by another transaction after the update looked:
                // to the update, it did not exist.
                Some(_) => Err(Error::NotFound(message_id)),
            }),
        )
    }
}
