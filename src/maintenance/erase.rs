//! Erasing a user from the crate's table: every message they sent or
//! received deleted, or kept for the counterpart with the user's side
//! replaced by a tombstone.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};

use super::{Maintenance, Rows};
use crate::error::Error;
use crate::ids::{TenantId, UserId};

/// The text that replaces what an erased user wrote, when their messages
/// are kept for the counterpart ([`Erasure::Anonymise`]).
pub const TOMBSTONE: &str = "[erased]";

/// What erasing a user does with the messages the user sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Erasure {
    /// Deletes every one of them.
    Delete,
    /// Keeps the counterpart's history: the user's side of each answered or
    /// withdrawn message becomes `None` (no user) and the text they wrote
    /// becomes [`TOMBSTONE`]; the text they received stays, as its sender
    /// wrote it. Pending proposals are deleted (nobody can answer for an
    /// erased user, nor withdraw one), and so is a message whose other side
    /// was erased before.
    Anonymise,
}

/// What [`Maintenance::erase_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Erased {
    /// Messages deleted.
    pub deleted: u64,
    /// Messages kept with the user's side replaced by a tombstone.
    pub anonymised: u64,
}

impl Rows for Erased {
    fn rows(&self) -> u64 {
        self.deleted + self.anonymised
    }
}

impl Maintenance {
    /// Erases `user` of `tenant` from the crate's table, in one transaction:
    /// afterwards no message refers to the user or holds a text they wrote,
    /// and the platform can delete its user row. `erasure` says whether the
    /// messages go, or stay for the counterpart without the user.
    ///
    /// Messages of the same user id in other tenants are not touched. A user
    /// without messages is erased by doing nothing.
    pub fn erase_user(
        &mut self,
        tenant: TenantId,
        user: UserId,
        erasure: Erasure,
    ) -> Result<Erased, Error> {
        let action = match erasure {
            Erasure::Delete => "erase_user_delete",
            Erasure::Anonymise => "erase_user_anonymise",
        };
        self.act(action, Some(tenant), |conn| {
            let deleted = diesel::sql_query(match erasure {
                Erasure::Delete => DELETE_ALL,
                Erasure::Anonymise => DELETE_UNKEPT,
            })
            .bind::<SqlUuid, _>(tenant)
            .bind::<SqlUuid, _>(user)
            .execute(conn)?;
            let anonymised = match erasure {
                Erasure::Delete => 0,
                Erasure::Anonymise => {
                    diesel::sql_query(ANONYMISE_SENT)
                        .bind::<SqlUuid, _>(tenant)
                        .bind::<SqlUuid, _>(user)
                        .bind::<Text, _>(TOMBSTONE)
                        .execute(conn)?
                        + diesel::sql_query(ANONYMISE_RECEIVED)
                            .bind::<SqlUuid, _>(tenant)
                            .bind::<SqlUuid, _>(user)
                            .execute(conn)?
                }
            };
            Ok(Erased {
                deleted: deleted as u64,
                anonymised: anonymised as u64,
            })
        })
    }
}

/// Every message `$2` of tenant `$1` sent or received.
const DELETE_ALL: &str = "
DELETE FROM skill_messages
WHERE tenant_id = $1 AND (from_user_id = $2 OR to_user_id = $2)";

/// The messages of `$2` that anonymising does not keep: pending ones, and
/// those whose other side is erased already.
const DELETE_UNKEPT: &str = "
DELETE FROM skill_messages
WHERE tenant_id = $1 AND (from_user_id = $2 OR to_user_id = $2)
  AND (status = 'pending' OR from_user_id IS NULL OR to_user_id IS NULL)";

/// The sender's side of the messages `$2` sent, and the text they wrote.
const ANONYMISE_SENT: &str = "
UPDATE skill_messages SET from_user_id = NULL, message = $3
WHERE tenant_id = $1 AND from_user_id = $2";

/// The recipient's side of the messages `$2` received.
const ANONYMISE_RECEIVED: &str = "
UPDATE skill_messages SET to_user_id = NULL
WHERE tenant_id = $1 AND to_user_id = $2";
