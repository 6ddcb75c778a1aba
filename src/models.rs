//! Rows of the four tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::schema::{skill_messages, skills, tenants, users};
use crate::status::SkillMessageStatus;

/// An organisation on the platform; every other row belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Unique short name.
    pub slug: String,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// A person in one tenant: a skill author, a sender or a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[diesel(
    table_name = users,
    primary_key(tenant_id, id),
    belongs_to(Tenant),
    check_for_backend(diesel::pg::Pg)
)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The tenant the user belongs to.
    pub tenant_id: TenantId,
    /// Email address, unique within the tenant.
    pub email: String,
    /// Name shown to other users.
    pub display_name: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// A skill written by one user of a tenant.
///
/// Diesel's `belongs_to` needs a parent keyed by one column, and users are
/// keyed by `(tenant_id, id)`: the relation to the author is
/// [`Skill::written_by`].
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[diesel(
    table_name = skills,
    primary_key(tenant_id, id),
    belongs_to(Tenant),
    check_for_backend(diesel::pg::Pg)
)]
pub struct Skill {
    /// The skill's id.
    pub id: SkillId,
    /// The tenant the skill belongs to.
    pub tenant_id: TenantId,
    /// The user who wrote it.
    pub author_id: UserId,
    /// Display name.
    pub name: String,
    /// Short name, unique within the tenant.
    pub slug: String,
    /// When the skill was created.
    pub created_at: DateTime<Utc>,
}

/// A proposal from one author to another to group a skill under a parent.
///
/// Diesel derives one `belongs_to` per parent table, and this table refers
/// twice to `users` and twice to `skills`: those four relations are the
/// named helpers [`SkillMessage::sent_by`], [`SkillMessage::received_by`],
/// [`SkillMessage::about_skill`] and [`SkillMessage::proposing_parent`], and
/// [`TenantConn::details`](crate::TenantConn::details) loads a message with
/// all four in one query.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[diesel(
    table_name = skill_messages,
    primary_key(tenant_id, id),
    belongs_to(Tenant),
    check_for_backend(diesel::pg::Pg)
)]
pub struct SkillMessage {
    /// The message's id.
    pub id: SkillMessageId,
    /// The tenant the message belongs to.
    pub tenant_id: TenantId,
    /// The sender, the only user who may withdraw it while it is pending.
    pub from_user_id: UserId,
    /// The recipient, the only user who may mark it read, accept it or
    /// decline it.
    pub to_user_id: UserId,
    /// The skill the message is about.
    pub subject_skill_id: SkillId,
    /// The skill proposed as the subject's parent, if any.
    pub proposed_parent_skill_id: Option<SkillId>,
    /// The text, trimmed: 1 to 4000 characters.
    pub message: String,
    /// Pending until the recipient accepts or declines it or the sender
    /// withdraws it; never changes after (the database refuses it).
    pub status: SkillMessageStatus,
    /// When the recipient first read it; `None` while unread. Set once,
    /// never moved.
    pub read_at: Option<DateTime<Utc>>,
    /// When the recipient accepted or declined it or the sender withdrew
    /// it; `None` exactly while pending, never changed after.
    pub responded_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}
