//! The relations diesel cannot derive: `skill_messages` refers twice to
//! `users` (sender, recipient) and twice to `skills` (subject, proposed
//! parent), and diesel derives one `belongs_to` per parent table.

use diesel::dsl;
use diesel::prelude::*;

use crate::ids::{SkillId, TenantId, UserId};
use crate::models::{Skill, SkillMessage, User};
use crate::platform::{skills, users};
use crate::schema::skill_messages;

// Two aliases of one table can only meet in a query when they are declared
// in the same block.
diesel::alias! {
    pub(crate) const SENDER: Alias<Sender> = users as sender;
    pub(crate) const RECIPIENT: Alias<Recipient> = users as recipient;
    pub(crate) const SUBJECT_SKILL: Alias<SubjectSkill> = skills as subject_skill;
    pub(crate) const PROPOSED_PARENT_SKILL: Alias<ProposedParentSkill> = skills as proposed_parent_skill;
}

/// The rows of table `T` in one tenant (its column `TC`) whose column `C`
/// holds `Id`: what each relation helper returns, a query to narrow further.
pub type Related<T, TC, C, Id> = dsl::Filter<dsl::Filter<T, dsl::Eq<TC, TenantId>>, dsl::Eq<C, Id>>;

/// A relation of `skill_messages` by its column `C`.
type MessagesBy<C, Id> = Related<skill_messages::table, skill_messages::tenant_id, C, Id>;

impl Skill {
    /// Skills `user` wrote: the relation of `(tenant_id, author_id)`.
    pub fn written_by(
        user: &User,
    ) -> Related<skills::table, skills::tenant_id, skills::author_id, UserId> {
        skills::table
            .filter(skills::tenant_id.eq(user.tenant_id))
            .filter(skills::author_id.eq(user.id))
    }
}

impl SkillMessage {
    /// Messages `user` sent: the relation of `(tenant_id, from_user_id)`.
    pub fn sent_by(user: &User) -> MessagesBy<skill_messages::from_user_id, UserId> {
        skill_messages::table
            .filter(skill_messages::tenant_id.eq(user.tenant_id))
            .filter(skill_messages::from_user_id.eq(user.id))
    }

    /// Messages `user` received: the relation of `(tenant_id, to_user_id)`.
    pub fn received_by(user: &User) -> MessagesBy<skill_messages::to_user_id, UserId> {
        skill_messages::table
            .filter(skill_messages::tenant_id.eq(user.tenant_id))
            .filter(skill_messages::to_user_id.eq(user.id))
    }

    /// Messages about `skill`: the relation of `(tenant_id,
    /// subject_skill_id)`.
    pub fn about_skill(skill: &Skill) -> MessagesBy<skill_messages::subject_skill_id, SkillId> {
        skill_messages::table
            .filter(skill_messages::tenant_id.eq(skill.tenant_id))
            .filter(skill_messages::subject_skill_id.eq(skill.id))
    }

    /// Messages proposing `skill` as a parent: the relation of `(tenant_id,
    /// proposed_parent_skill_id)`.
    pub fn proposing_parent(
        skill: &Skill,
    ) -> MessagesBy<skill_messages::proposed_parent_skill_id, SkillId> {
        skill_messages::table
            .filter(skill_messages::tenant_id.eq(skill.tenant_id))
            .filter(skill_messages::proposed_parent_skill_id.eq(skill.id))
    }
}
