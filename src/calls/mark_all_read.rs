//! Marking every message a user received read, up to what they saw.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;

use super::list::KnownUser;
use crate::call::{Call, Step};
use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::page::Cursor;
use crate::schema::skill_messages;
use crate::statement::Statement;

/// The recipient marks every unread message up to a position read.
pub(crate) struct MarkAllRead {
    tenant: TenantId,
    user: UserId,
    up_to: Cursor,
}

impl MarkAllRead {
    /// Refuses a position PostgreSQL cannot hold.
    pub(crate) fn new(tenant: TenantId, user: UserId, up_to: Cursor) -> Result<Self, Error> {
        Ok(Self {
            tenant,
            user,
            up_to: up_to.checked()?,
        })
    }
}

impl Call for MarkAllRead {
    type Output = u64;
    type SqlType = SqlUuid;
    type Row = SkillMessageId;
    type FollowUp = KnownUser<u64>;
    const OPERATION: &'static str = "mark_all_read";

    /// One statement on the unread index: only messages still unread, so
    /// a racing call marks each message once, and a message sent after the
    /// position stays unread.
    fn statement(&self) -> Statement<SqlUuid> {
        let unread = skill_messages::table
            .filter(skill_messages::tenant_id.eq(self.tenant))
            .filter(skill_messages::to_user_id.eq(self.user))
            .filter(skill_messages::read_at.is_null())
            .filter(self.up_to.at_or_before());
        Statement::new(
            diesel::update(unread)
                .set(skill_messages::read_at.eq(now))
                .returning(skill_messages::id),
        )
    }

    fn answer(self, rows: Vec<SkillMessageId>) -> Step<u64, KnownUser<u64>> {
        if rows.is_empty() {
            // Nothing to mark, or a user the tenant does not have?
            return Step::FollowUp(KnownUser::new(self.tenant, self.user));
        }
        Step::Done(Ok(rows.len() as u64))
    }
}
