//! Counting a user's unread messages, on every face.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};

use super::conditions::user_exists;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::operation::{Operation, Step};
use crate::pool::Tenant;
use crate::schema::skill_messages;
use crate::scope::TenantConn;
use crate::statement::Statement;

impl TenantConn<'_> {
    /// How many messages `user` received and has not read.
    ///
    /// Refuses with [`Error::UnknownUser`] when the tenant has no such user.
    pub fn unread_count(&mut self, user: UserId) -> Result<u64, Error> {
        let count = UnreadCount {
            tenant: self.tenant_id(),
            user,
        };
        self.run(Ok(count))
    }
}

impl Tenant {
    /// [`TenantConn::unread_count`], in a scope of its own.
    pub fn unread_count(&self, user: UserId) -> Result<u64, Error> {
        self.run(Ok(UnreadCount {
            tenant: self.id(),
            user,
        }))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::unread_count`], awaited.
    pub async fn unread_count(&mut self, user: UserId) -> Result<u64, Error> {
        let count = UnreadCount {
            tenant: self.tenant_id(),
            user,
        };
        self.run(Ok(count)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::unread_count`], in a scope of its own, in one round
    /// trip.
    pub async fn unread_count(&self, user: UserId) -> Result<u64, Error> {
        let count = UnreadCount {
            tenant: self.id(),
            user,
        };
        self.run(Ok(count)).await
    }
}

/// How many messages a user received and has not read.
struct UnreadCount {
    tenant: TenantId,
    user: UserId,
}

impl Operation for UnreadCount {
    type Output = u64;
    type SqlType = (Bool, Nullable<BigInt>);
    type Row = (bool, Option<i64>);
    const NAME: &'static str = "unread_count";

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

    fn answer(self, rows: Vec<(bool, Option<i64>)>) -> Step<u64> {
        Step::Done(match rows.first() {
            Some(&(true, count)) => Ok(count.map_or(0, i64::unsigned_abs)),
            _ => Err(Error::UnknownUser(self.user)),
        })
    }
}
