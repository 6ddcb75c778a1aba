//! Accepting or declining a proposal.

use diesel::dsl::now;
use diesel::prelude::*;

use super::mark_read::{Returned, read_now_unless_read, received};
use super::why_not::{Act, WhyNot};
use crate::call::{Call, Step};
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::status::{Response, SkillMessageStatus};

/// The recipient answers a pending proposal.
pub(crate) struct Respond {
    pub(crate) tenant: TenantId,
    pub(crate) message: SkillMessageId,
    pub(crate) user: UserId,
    pub(crate) response: Response,
}

impl Call for Respond {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    type FollowUp = WhyNot;
    const OPERATION: &'static str = "update_message_status";

    /// Sets the answer if the message is still pending. A racing answer
    /// blocks on the row lock, then finds the message no longer pending.
    fn statement(&self) -> Statement<Returned> {
        let pending = received(self.tenant, self.message, self.user)
            .filter(skill_messages::status.eq(SkillMessageStatus::Pending));
        Statement::new(
            diesel::update(pending)
                .set((
                    skill_messages::status.eq(SkillMessageStatus::from(self.response)),
                    skill_messages::responded_at.eq(now),
                    read_now_unless_read(),
                ))
                .returning(SkillMessage::as_returning()),
        )
    }

    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage, WhyNot> {
        let why_not = WhyNot {
            tenant: self.tenant,
            message: self.message,
            user: self.user,
            act: Act::Answer,
        };
        why_not.unless_updated(rows)
    }
}
