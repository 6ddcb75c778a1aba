//! Forgetting a skill: the crate lets go of every reference to it, so that
//! the platform can delete it.

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;

use super::{Maintenance, Rows};
use crate::error::Error;
use crate::ids::{SkillId, TenantId};

/// What [`Maintenance::forget_skill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Forgotten {
    /// Messages deleted: those about the skill, and pending proposals of it
    /// as a parent.
    pub deleted: u64,
    /// Answered or withdrawn messages that proposed it as a parent, whose
    /// proposed parent is now `None`.
    pub cleared: u64,
}

impl Rows for Forgotten {
    fn rows(&self) -> u64 {
        self.deleted + self.cleared
    }
}

impl Maintenance {
    /// Forgets `skill` of `tenant`, in one transaction: afterwards no
    /// message refers to it, and the platform can delete its skill row.
    ///
    /// A message about the skill (its subject) is deleted: without its
    /// subject it proposes nothing. A message proposing the skill as a
    /// parent is deleted while pending (it can no longer be carried out, and
    /// accepting it would group the subject under nothing), and, once
    /// answered or withdrawn, kept with its proposed parent cleared: the
    /// history of who proposed what and how it ended stays with its users.
    pub fn forget_skill(&mut self, tenant: TenantId, skill: SkillId) -> Result<Forgotten, Error> {
        self.act("forget_skill", Some(tenant), |conn| {
            let deleted = diesel::sql_query(DELETE_ABOUT)
                .bind::<SqlUuid, _>(tenant)
                .bind::<SqlUuid, _>(skill)
                .execute(conn)?;
            let cleared = diesel::sql_query(CLEAR_PARENT)
                .bind::<SqlUuid, _>(tenant)
                .bind::<SqlUuid, _>(skill)
                .execute(conn)?;
            Ok(Forgotten {
                deleted: deleted as u64,
                cleared: cleared as u64,
            })
        })
    }
}

/// The messages of tenant `$1` about skill `$2`, and its pending proposals
/// of `$2` as a parent.
const DELETE_ABOUT: &str = "
DELETE FROM skill_messages
WHERE tenant_id = $1
  AND (subject_skill_id = $2 OR (proposed_parent_skill_id = $2 AND status = 'pending'))";

/// The proposed parent `$2` of tenant `$1`'s finished messages.
const CLEAR_PARENT: &str = "
UPDATE skill_messages SET proposed_parent_skill_id = NULL
WHERE tenant_id = $1 AND proposed_parent_skill_id = $2";
