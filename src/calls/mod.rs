//! The service calls as values (see `call.rs`), one file each, and the
//! conditions they share.

mod details;
mod list;
mod mark_all_read;
mod mark_read;
mod respond;
mod send;
mod unread;
mod why_not;
mod withdraw;

use diesel::dsl::{self, exists};
use diesel::prelude::*;

pub(crate) use details::Details;
pub use list::MessageQuery;
pub(crate) use list::{List, Received, Sent};
pub(crate) use mark_all_read::MarkAllRead;
pub(crate) use mark_read::MarkRead;
pub(crate) use respond::Respond;
pub use send::MAX_MESSAGE_CHARS;
pub(crate) use send::Send;
pub(crate) use unread::UnreadCount;
pub(crate) use withdraw::Withdraw;

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
