//! The read-only statements that tell why an operation's statement did
//! what it did (or nothing), and the facts they find. Each operation says
//! in its own file what the facts mean for it.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Uuid as SqlUuid};

use super::conditions::{Returned, skill_exists, user_exists};
use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::status::SkillMessageStatus;

/// A follow-up to run.
pub(crate) enum FollowUp {
    /// Which of these users and skills the tenant has.
    References(References),
    /// The message as it is now.
    Message(Lookup),
}

/// What a follow-up found; the parts it did not ask about are `false` and
/// `None`.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// Whether the tenant has each user asked about, in the order asked.
    pub(crate) users: [bool; 2],
    /// Whether the tenant has each skill asked about, in the order asked.
    pub(crate) skills: [bool; 2],
    /// The message looked up, if the tenant has it.
    pub(crate) message: Option<SkillMessage>,
    /// The pending proposal of the first user to the second about the first
    /// skill under the second (or under none, when the two skills are the
    /// same), if there is one.
    pub(crate) pending: Option<SkillMessageId>,
}

/// Whether the tenant has two users and two skills, and the pending proposal
/// between them: one statement, whatever is asked (an id asked twice costs
/// nothing more, and a user asked twice has no proposal to themselves).
pub(crate) struct References {
    pub(crate) tenant: TenantId,
    pub(crate) users: [UserId; 2],
    pub(crate) skills: [SkillId; 2],
}

impl References {
    /// `SELECT EXISTS (...)` of each user and each skill, and the id of the
    /// pending proposal, found on the index that allows one per pair.
    pub(crate) fn statement(&self) -> Statement<(Bool, Bool, Bool, Bool, Nullable<SqlUuid>)> {
        let (tenant, [u1, u2], [s1, s2]) = (self.tenant, self.users, self.skills);
        let parent = skill_messages::proposed_parent_skill_id;
        let pending = skill_messages::table
            .filter(skill_messages::tenant_id.eq(tenant))
            .filter(skill_messages::from_user_id.eq(u1))
            .filter(skill_messages::to_user_id.eq(u2))
            .filter(skill_messages::subject_skill_id.eq(s1))
            .filter(
                parent.eq(s2).or(parent
                    .is_null()
                    .and(skill_messages::subject_skill_id.eq(s2))),
            )
            .filter(skill_messages::status.eq(SkillMessageStatus::Pending))
            .select(skill_messages::id)
            .single_value();
        Statement::new(diesel::select((
            user_exists(tenant, u1),
            user_exists(tenant, u2),
            skill_exists(tenant, s1),
            skill_exists(tenant, s2),
            pending,
        )))
    }

    /// What the statement's rows tell.
    pub(crate) fn facts(rows: Vec<(bool, bool, bool, bool, Option<SkillMessageId>)>) -> Facts {
        let (u1, u2, s1, s2, pending) = rows.first().copied().unwrap_or_default();
        Facts {
            users: [u1, u2],
            skills: [s1, s2],
            message: None,
            pending,
        }
    }
}

/// One message of the tenant, as it is now.
pub(crate) struct Lookup {
    pub(crate) tenant: TenantId,
    pub(crate) id: SkillMessageId,
}

impl Lookup {
    /// The message's row.
    pub(crate) fn statement(&self) -> Statement<Returned> {
        Statement::new(
            skill_messages::table
                .filter(skill_messages::tenant_id.eq(self.tenant))
                .filter(skill_messages::id.eq(self.id))
                .select(SkillMessage::as_select()),
        )
    }

    /// What the statement's rows tell.
    pub(crate) fn facts(rows: Vec<SkillMessage>) -> Facts {
        Facts {
            message: rows.into_iter().next(),
            ..Facts::default()
        }
    }
}
