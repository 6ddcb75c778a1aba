//! Rows: the crate's skill messages, and the platform's tenants, users and
//! skills as far as the crate reads them (the columns of
//! [`platform`](crate::platform)).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::platform::{skills, tenants, users};
use crate::schema::skill_messages;
use crate::status::SkillMessageStatus;

/// A tenant of the platform, by its id: the parent of every other row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
}

/// A user of the platform, as the crate shows one: a skill author, a sender
/// or a recipient.
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
    /// The name other users see.
    pub display_name: String,
}

/// A skill of the platform, as the crate shows one.
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
    /// The name users see.
    pub name: String,
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
    /// The sender, the only user who may withdraw it while it is pending;
    /// `None` once the sender was erased
    /// ([`Erasure::Anonymise`](crate::Erasure::Anonymise)).
    pub from_user_id: Option<UserId>,
    /// The recipient, the only user who may mark it read or unread, accept
    /// it or decline it; `None` once the recipient was erased.
    pub to_user_id: Option<UserId>,
    /// The skill the message is about.
    pub subject_skill_id: SkillId,
    /// The skill proposed as the subject's parent, if any.
    pub proposed_parent_skill_id: Option<SkillId>,
    /// The text, trimmed: 1 to 4000 characters.
    pub message: String,
    /// Pending until the recipient accepts or declines it or the sender
    /// withdraws it; never changes after (the database refuses it).
    pub status: SkillMessageStatus,
    /// When the recipient read it; `None` while unread. Once set it never
    /// moves: [`mark_unread`](crate::TenantConn::mark_unread) clears it,
    /// and a later read sets it anew.
    pub read_at: Option<DateTime<Utc>>,
    /// When the recipient accepted or declined it or the sender withdrew
    /// it; `None` exactly while pending, never changed after.
    pub responded_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}
