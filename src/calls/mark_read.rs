//! Marking a message read.

use diesel::dsl::{self, now};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};

use super::why_not::{Act, WhyNot};
use crate::call::{Call, Step};
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;

diesel::define_sql_function! {
    /// SQL `least` of a nullable timestamp and another: the earlier, or
    /// the other when the first is null.
    fn least(value: Nullable<Timestamptz>, other: Timestamptz) -> Nullable<Timestamptz>;
}

/// `read_at` set to the earliest time a call marked the message read: by
/// the first call, and kept by every later one. (Citus refuses `coalesce`
/// of `now()` in an `UPDATE`, and accepts `least`.)
#[dsl::auto_type]
pub(super) fn read_now() -> _ {
    skill_messages::read_at.eq(least(skill_messages::read_at, now))
}

/// The message `id` of `tenant`, if `user` received it.
#[dsl::auto_type]
pub(super) fn received(tenant: TenantId, id: SkillMessageId, user: UserId) -> _ {
    skill_messages::table
        .filter(skill_messages::tenant_id.eq(tenant))
        .filter(skill_messages::id.eq(id))
        .filter(skill_messages::to_user_id.eq(user))
}

/// Every column of a message as returned.
pub(super) type Returned = dsl::SqlTypeOf<dsl::AsSelect<SkillMessage, Pg>>;

/// The recipient marks a message read.
pub(crate) struct MarkRead {
    pub(crate) tenant: TenantId,
    pub(crate) message: SkillMessageId,
    pub(crate) user: UserId,
}

impl Call for MarkRead {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    type FollowUp = WhyNot;
    const OPERATION: &'static str = "mark_message_read";

    /// Sets `read_at` unless it is set, in one statement either way.
    fn statement(&self) -> Statement<Returned> {
        Statement::new(
            diesel::update(received(self.tenant, self.message, self.user))
                .set(read_now())
                .returning(SkillMessage::as_returning()),
        )
    }

    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage, WhyNot> {
        let why_not = WhyNot {
            tenant: self.tenant,
            message: self.message,
            user: self.user,
            act: Act::Read,
        };
        why_not.unless_updated(rows)
    }
}
