//! Withdrawing a proposal.

use diesel::dsl::now;
use diesel::prelude::*;

use super::mark_read::Returned;
use super::why_not::{Act, WhyNot};
use crate::call::{Call, Step};
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::status::SkillMessageStatus;

/// The sender takes back a pending proposal.
pub(crate) struct Withdraw {
    pub(crate) tenant: TenantId,
    pub(crate) message: SkillMessageId,
    pub(crate) user: UserId,
}

impl Call for Withdraw {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    type FollowUp = WhyNot;
    const OPERATION: &'static str = "withdraw_message";

    /// Withdraws the message if it is still pending. An answer racing with
    /// it blocks on the row lock, then finds it no longer pending, as a
    /// withdrawal racing with an answer does: exactly one of them wins.
    fn statement(&self) -> Statement<Returned> {
        let pending = skill_messages::table
            .filter(skill_messages::tenant_id.eq(self.tenant))
            .filter(skill_messages::id.eq(self.message))
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

    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage, WhyNot> {
        let why_not = WhyNot {
            tenant: self.tenant,
            message: self.message,
            user: self.user,
            act: Act::Withdraw,
        };
        why_not.unless_updated(rows)
    }
}
