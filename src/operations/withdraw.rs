//! Withdrawing a proposal, as its sender, on every face.

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
use crate::status::SkillMessageStatus;

impl TenantConn<'_> {
    /// Withdraws a pending proposal as its sender and returns it,
    /// `Withdrawn`, with `responded_at` set.
    ///
    /// Refuses with [`Error::NotFound`] when the tenant has no such
    /// message, [`Error::NotSender`] when `acting_user` did not send it, and
    /// [`Error::NotPending`], carrying the status that won, when it is no
    /// longer pending. A withdrawal racing with an answer is a race like any
    /// other: exactly one of them succeeds.
    pub fn withdraw(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let withdraw = Withdraw::new(self.tenant_id(), message, acting_user);
        self.run(Ok(withdraw))
    }
}

impl Tenant {
    /// [`TenantConn::withdraw`], in a scope of its own.
    pub fn withdraw(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(Withdraw::new(self.id(), message, acting_user)))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::withdraw`], awaited.
    pub async fn withdraw(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        let withdraw = Withdraw::new(self.tenant_id(), message, acting_user);
        self.run(Ok(withdraw)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::withdraw`], in a scope of its own, in one round trip.
    pub async fn withdraw(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessage, Error> {
        self.run(Ok(Withdraw::new(self.id(), message, acting_user)))
            .await
    }
}

/// The sender takes back a pending proposal.
struct Withdraw {
    tenant: TenantId,
    message: SkillMessageId,
    user: UserId,
}

impl Withdraw {
    fn new(tenant: TenantId, message: SkillMessageId, user: UserId) -> Self {
        Self {
            tenant,
            message,
            user,
        }
    }
}

impl Operation for Withdraw {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = "withdraw";

    /// Withdraws the message if it is still pending. An answer racing with
    /// it blocks on the row lock, then finds it no longer pending, as a
    /// withdrawal racing with an answer does: exactly one of them wins.
    fn statement(&self) -> Statement<Returned> {
        let pending = message(self.tenant, self.message)
            .filter(skill_messages::from_user_id.eq(self.user))
            .filter(skill_messages::status.eq(SkillMessageStatus::Pending));
        Statement::new(
            diesel::update(pending)
                .set((
                    skill_messages::status.eq(SkillMessageStatus::Withdrawn),
                    skill_messages::responded_at.eq(now),
                ))
                .returning(SkillMessage::as_returning()),
        )
    }

    /// The message withdrawn, or why it could not be.
    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage> {
        if let Some(withdrawn) = rows.into_iter().next() {
            return Step::Done(Ok(withdrawn));
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
                    Some(found) if found.from_user_id != Some(user_id) => Error::NotSender {
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
