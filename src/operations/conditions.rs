//! The conditions and row shapes several operations share.

use diesel::dsl::{self, exists};
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::platform::{skills, users};
use crate::schema::skill_messages;

/// Every column of a message, as selected or returned.
pub(crate) type Returned = dsl::SqlTypeOf<dsl::AsSelect<SkillMessage, Pg>>;

/// Whether the tenant has user `id`.
#[dsl::auto_type]
pub(crate) fn user_exists(tenant: TenantId, id: UserId) -> _ {
    exists(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id)),
    )
}

/// Whether the tenant has skill `id`.
#[dsl::auto_type]
pub(crate) fn skill_exists(tenant: TenantId, id: SkillId) -> _ {
    exists(
        skills::table
            .filter(skills::tenant_id.eq(tenant))
            .filter(skills::id.eq(id)),
    )
}

/// Message `id` of `tenant`.
#[dsl::auto_type]
pub(crate) fn message(tenant: TenantId, id: SkillMessageId) -> _ {
    skill_messages::table
        .filter(skill_messages::tenant_id.eq(tenant))
        .filter(skill_messages::id.eq(id))
}
