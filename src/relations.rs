//! The relations diesel cannot derive: `skill_messages` refers twice to
//! `users` (sender, recipient) and twice to `skills` (subject, proposed
//! parent), and diesel derives one `belongs_to` per parent table.

use crate::calls::Details;
use crate::error::Error;
use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::{Skill, SkillMessage, User};
use crate::schema::{skill_messages, skills, users};
use crate::scope::TenantConn;
use diesel::dsl;
use diesel::prelude::*;

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

/// A skill message with the users and skills it refers to, loaded in one
/// query that joins `users` and `skills` twice each under aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillMessageDetails {
    /// The message.
    pub message: SkillMessage,
    /// The user who sent it.
    pub sender: User,
    /// The user it was sent to.
    pub recipient: User,
    /// The skill it is about.
    pub subject_skill: Skill,
    /// The skill proposed as the subject's parent, if any.
    pub proposed_parent_skill: Option<Skill>,
}

/// The row shape [`details_query`] selects.
pub(crate) type DetailsRow = (SkillMessage, User, User, Skill, Option<Skill>);

impl From<DetailsRow> for SkillMessageDetails {
    fn from(
        (message, sender, recipient, subject_skill, proposed_parent_skill): DetailsRow,
    ) -> Self {
        Self {
            message,
            sender,
            recipient,
            subject_skill,
            proposed_parent_skill,
        }
    }
}

impl SkillMessageDetails {
    /// Loads one message of the scope's tenant with its sender, recipient
    /// and skills; [`Error::NotFound`] if the tenant has no such message.
    pub fn load(conn: &mut TenantConn<'_>, message_id: SkillMessageId) -> Result<Self, Error> {
        let tenant = conn.tenant_id();
        crate::service::run(
            conn,
            Ok(Details {
                tenant,
                id: message_id,
            }),
        )
    }
}

type UserColumns = <users::table as Table>::AllColumns;
type SkillColumns = <skills::table as Table>::AllColumns;

/// Messages joined to their sender, recipient, subject skill and proposed
/// parent skill, selecting a [`DetailsRow`].
#[dsl::auto_type]
pub(crate) fn details_query() -> _ {
    let message: dsl::AsSelect<SkillMessage, diesel::pg::Pg> = SkillMessage::as_select();
    let sender: dsl::Fields<SENDER, UserColumns> = SENDER.fields(users::all_columns);
    let recipient: dsl::Fields<RECIPIENT, UserColumns> = RECIPIENT.fields(users::all_columns);
    let subject: dsl::Fields<SUBJECT_SKILL, SkillColumns> =
        SUBJECT_SKILL.fields(skills::all_columns);
    let parent: dsl::Fields<PROPOSED_PARENT_SKILL, SkillColumns> =
        PROPOSED_PARENT_SKILL.fields(skills::all_columns);
    // Joined on the whole key, `(tenant_id, id)`: a Citus cluster keeps a
    // tenant's rows of every table on one shard, and joins there.
    skill_messages::table
        .inner_join(
            SENDER.on(SENDER
                .field(users::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(SENDER.field(users::id).eq(skill_messages::from_user_id))),
        )
        .inner_join(
            RECIPIENT.on(RECIPIENT
                .field(users::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(RECIPIENT.field(users::id).eq(skill_messages::to_user_id))),
        )
        .inner_join(
            SUBJECT_SKILL.on(SUBJECT_SKILL
                .field(skills::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(
                    SUBJECT_SKILL
                        .field(skills::id)
                        .eq(skill_messages::subject_skill_id),
                )),
        )
        .left_join(
            PROPOSED_PARENT_SKILL.on(PROPOSED_PARENT_SKILL
                .field(skills::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(
                    PROPOSED_PARENT_SKILL
                        .field(skills::id)
                        .nullable()
                        .eq(skill_messages::proposed_parent_skill_id),
                )),
        )
        .select((message, sender, recipient, subject, parent.nullable()))
}
