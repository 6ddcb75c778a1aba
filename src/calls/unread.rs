//! Counting a user's unread messages.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};

use super::user_exists;
use crate::call::{Call, NoFollowUp, Step};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::schema::skill_messages;
use crate::statement::Statement;

/// How many messages a user received and has not read.
pub(crate) struct UnreadCount {
    pub(crate) tenant: TenantId,
    pub(crate) user: UserId,
}

impl Call for UnreadCount {
    type Output = u64;
    type SqlType = (Bool, Nullable<BigInt>);
    type Row = (bool, Option<i64>);
    type FollowUp = NoFollowUp<u64>;
    const OPERATION: &'static str = "get_unread_count_for_user";

    /// Whether the user exists, and the count on the unread index, in one
    /// statement.
    fn statement(&self) -> Statement<Self::SqlType> {
        let unread = skill_messages::table
            .filter(skill_messages::tenant_id.eq(self.tenant))
            .filter(skill_messages::to_user_id.eq(self.user))
            .filter(skill_messages::read_at.is_null())
            .count()
            .single_value();
        Statement::new(diesel::select((
            user_exists(self.tenant, self.user),
            unread,
        )))
    }

    fn answer(self, rows: Vec<(bool, Option<i64>)>) -> Step<u64, NoFollowUp<u64>> {
        Step::Done(match rows.first() {
            Some(&(true, count)) => Ok(count.map_or(0, i64::unsigned_abs)),
            _ => Err(Error::UnknownUser(self.user)),
        })
    }
}
