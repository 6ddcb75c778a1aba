//! The service calls as values (see `call.rs`), one file each, and the
//! conditions they share.

mod details;
mod inbox;
mod mark_read;
mod respond;
mod send;
mod unread;
mod why_not;

use diesel::dsl::{self, exists};
use diesel::prelude::*;

pub(crate) use details::Details;
pub(crate) use inbox::Inbox;
pub use inbox::MessageQuery;
pub(crate) use mark_read::MarkRead;
pub(crate) use respond::Respond;
pub use send::MAX_MESSAGE_CHARS;
pub(crate) use send::Send;
pub(crate) use unread::UnreadCount;

use crate::ids::{SkillId, TenantId, UserId};
use crate::schema::{skills, users};

/// Whether the tenant has user `id`.
#[dsl::auto_type]
fn user_exists(tenant: TenantId, id: UserId) -> _ {
    exists(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id)),
    )
}

/// Whether the tenant has skill `id`.
#[dsl::auto_type]
fn skill_exists(tenant: TenantId, id: SkillId) -> _ {
    exists(
        skills::table
            .filter(skills::tenant_id.eq(tenant))
            .filter(skills::id.eq(id)),
    )
}
