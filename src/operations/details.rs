//! One message with what its participants may see of each other and of its
//! skills, loaded in one query, on every face.

use diesel::dsl;
use diesel::prelude::*;
use diesel::query_builder::Query;

use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::{Skill, SkillMessage, User};
use crate::operation::{Operation, Step};
use crate::platform::{skills, users};
use crate::pool::Tenant;
use crate::relations::{PROPOSED_PARENT_SKILL, RECIPIENT, SENDER, SUBJECT_SKILL};
use crate::schema::skill_messages;
use crate::scope::TenantConn;
use crate::statement::Statement;

/// A skill message with its sender, its recipient and its skills, as either
/// participant may see them: ids and names, nothing more of a person (the
/// platform has the rest in its own tables).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SkillMessageDetails {
    /// The message.
    pub message: SkillMessage,
    /// The user who sent it; `None` once the sender was erased.
    pub sender: Option<User>,
    /// The user it was sent to; `None` once the recipient was erased.
    pub recipient: Option<User>,
    /// The skill it is about.
    pub subject_skill: Skill,
    /// The skill proposed as the subject's parent, if any.
    pub proposed_parent_skill: Option<Skill>,
}

impl SkillMessageDetails {
    /// The sender's display name, or [`TOMBSTONE`](crate::TOMBSTONE) once
    /// the sender was erased.
    pub fn sender_name(&self) -> &str {
        name_or_tombstone(self.sender.as_ref())
    }

    /// The recipient's display name, or [`TOMBSTONE`](crate::TOMBSTONE)
    /// once the recipient was erased.
    pub fn recipient_name(&self) -> &str {
        name_or_tombstone(self.recipient.as_ref())
    }
}

/// `user`'s display name, or the tombstone of an erased user.
fn name_or_tombstone(user: Option<&User>) -> &str {
    user.map_or(crate::TOMBSTONE, |user| user.display_name.as_str())
}

impl TenantConn<'_> {
    /// Message `message` with its sender, recipient and skills, from one
    /// query, for `acting_user`, who must be its sender or its recipient.
    ///
    /// Refuses with [`Error::NotFound`] when the tenant has no such message
    /// and [`Error::NotParticipant`] when `acting_user` neither sent nor
    /// received it.
    pub fn details(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        let details = Details::new(self.tenant_id(), message, acting_user);
        self.run(Ok(details))
    }
}

impl Tenant {
    /// [`TenantConn::details`], in a scope of its own.
    pub fn details(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.run(Ok(Details::new(self.id(), message, acting_user)))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::details`], awaited.
    pub async fn details(
        &mut self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        let details = Details::new(self.tenant_id(), message, acting_user);
        self.run(Ok(details)).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::details`], in a scope of its own, in one round trip.
    pub async fn details(
        &self,
        message: SkillMessageId,
        acting_user: UserId,
    ) -> Result<SkillMessageDetails, Error> {
        self.run(Ok(Details::new(self.id(), message, acting_user)))
            .await
    }
}

/// One message of the tenant, for one of its participants.
struct Details {
    tenant: TenantId,
    message: SkillMessageId,
    user: UserId,
}

impl Details {
    fn new(tenant: TenantId, message: SkillMessageId, user: UserId) -> Self {
        Self {
            tenant,
            message,
            user,
        }
    }
}

/// The row the details query selects.
type Row = (
    SkillMessage,
    Option<User>,
    Option<User>,
    Skill,
    Option<Skill>,
);

impl Operation for Details {
    type Output = SkillMessageDetails;
    type SqlType = <details_query as Query>::SqlType;
    type Row = Row;
    const NAME: &'static str = "details";

    fn statement(&self) -> Statement<Self::SqlType> {
        Statement::new(
            details_query()
                .filter(skill_messages::tenant_id.eq(self.tenant))
                .filter(skill_messages::id.eq(self.message)),
        )
    }

    fn answer(self, rows: Vec<Row>) -> Step<SkillMessageDetails> {
        let Some((message, sender, recipient, subject_skill, proposed_parent_skill)) =
            rows.into_iter().next()
        else {
            return Step::Done(Err(Error::NotFound(self.message)));
        };
        if Some(self.user) != message.from_user_id && Some(self.user) != message.to_user_id {
            return Step::Done(Err(Error::NotParticipant {
                message_id: self.message,
                user_id: self.user,
            }));
        }
        Step::Done(Ok(SkillMessageDetails {
            message,
            sender,
            recipient,
            subject_skill,
            proposed_parent_skill,
        }))
    }
}

/// A [`User`]'s columns, in its fields' order.
type UserColumns = (users::id, users::tenant_id, users::display_name);
const USER_COLUMNS: UserColumns = (users::id, users::tenant_id, users::display_name);
/// A [`Skill`]'s columns, in its fields' order.
type SkillColumns = (
    skills::id,
    skills::tenant_id,
    skills::author_id,
    skills::name,
);
const SKILL_COLUMNS: SkillColumns = (
    skills::id,
    skills::tenant_id,
    skills::author_id,
    skills::name,
);

/// Messages joined to their sender, recipient, subject skill and proposed
/// parent skill, each through its alias, on the whole key `(tenant_id,
/// id)`: a Citus cluster keeps a tenant's rows of every table on one
/// shard, and joins there.
#[dsl::auto_type]
fn details_query() -> _ {
    let sender: dsl::Fields<SENDER, UserColumns> = SENDER.fields(USER_COLUMNS);
    let recipient: dsl::Fields<RECIPIENT, UserColumns> = RECIPIENT.fields(USER_COLUMNS);
    let subject: dsl::Fields<SUBJECT_SKILL, SkillColumns> = SUBJECT_SKILL.fields(SKILL_COLUMNS);
    let parent: dsl::Fields<PROPOSED_PARENT_SKILL, SkillColumns> =
        PROPOSED_PARENT_SKILL.fields(SKILL_COLUMNS);
    let message: dsl::AsSelect<SkillMessage, diesel::pg::Pg> = SkillMessage::as_select();
    skill_messages::table
        .left_join(
            SENDER.on(SENDER
                .field(users::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(
                    SENDER
                        .field(users::id)
                        .nullable()
                        .eq(skill_messages::from_user_id),
                )),
        )
        .left_join(
            RECIPIENT.on(RECIPIENT
                .field(users::tenant_id)
                .eq(skill_messages::tenant_id)
                .and(
                    RECIPIENT
                        .field(users::id)
                        .nullable()
                        .eq(skill_messages::to_user_id),
                )),
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
        .select((
            message,
            sender.nullable(),
            recipient.nullable(),
            subject,
            parent.nullable(),
        ))
}
