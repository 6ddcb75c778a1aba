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
    /// SQL `least`: the smallest of its arguments that is not null.
    fn least(value: Nullable<Timestamptz>, other: Nullable<Timestamptz>) -> Nullable<Timestamptz>;
}

diesel::define_sql_function! {
    /// SQL `greatest`: the largest of its arguments that is not null.
    fn greatest(value: Nullable<Timestamptz>, other: Timestamptz) -> Nullable<Timestamptz>;
}

/// `read_at` kept if it is set, else set to now, in an update that must
/// happen either way (an answer): `least(read_at, greatest(read_at,
/// now()))` is `read_at` when it is set and `now()` when it is null. (The
/// plain `coalesce(read_at, now())` says the same, but Citus refuses
/// `coalesce` and `CASE` of `now()` in an `UPDATE`; it takes `least` and
/// `greatest`.)
#[dsl::auto_type]
pub(super) fn read_now_unless_read() -> _ {
    skill_messages::read_at.eq(least(
        skill_messages::read_at,
        greatest(skill_messages::read_at, now),
    ))
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

    /// Sets `read_at` if it is not set. A message already read is not
    /// updated at all: no row lock, no new row version, no wait behind a
    /// transaction that holds the row; the follow-up then reads it as
    /// stored. Of two calls racing to mark it, the second waits for the
    /// first, finds it read, and returns the `read_at` the first stored.
    fn statement(&self) -> Statement<Returned> {
        let unread = received(self.tenant, self.message, self.user)
            .filter(skill_messages::read_at.is_null());
        Statement::new(
            diesel::update(unread)
                .set(skill_messages::read_at.eq(now))
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
