//! The read-only statements that tell why an operation's statement did
//! what it did (or nothing), and the facts they find. Each operation says
//! in its own file what the facts mean for it.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::conditions::{Returned, skill_exists, user_exists};
use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::statement::Statement;

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
}

/// Whether the tenant has two users and two skills: one statement, whatever
/// is asked (an id asked twice costs nothing more).
pub(crate) struct References {
    pub(crate) tenant: TenantId,
    pub(crate) users: [UserId; 2],
    pub(crate) skills: [SkillId; 2],
}

impl References {
    /// `SELECT EXISTS (...)` of each user and each skill.
    pub(crate) fn statement(&self) -> Statement<(Bool, Bool, Bool, Bool)> {
        let (tenant, [u1, u2], [s1, s2]) = (self.tenant, self.users, self.skills);
        Statement::new(diesel::select((
            user_exists(tenant, u1),
            user_exists(tenant, u2),
            skill_exists(tenant, s1),
            skill_exists(tenant, s2),
        )))
    }

    /// What the statement's rows tell.
    pub(crate) fn facts(rows: Vec<(bool, bool, bool, bool)>) -> Facts {
        let (u1, u2, s1, s2) = rows.first().copied().unwrap_or_default();
        Facts {
            users: [u1, u2],
            skills: [s1, s2],
            message: None,
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
