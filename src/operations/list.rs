//! Listing a user's messages, a keyset page at a time: the ones they
//! received (`inbox`) or sent (`outbox`), on every face.

use diesel::prelude::*;

use super::conditions::Returned;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::models::SkillMessage;
use crate::operation::{Operation, Step};
use crate::page::{Cursor, MessageQuery, Page};
use crate::pool::Tenant;
use crate::schema::skill_messages;
use crate::scope::TenantConn;
use crate::statement::Statement;

impl TenantConn<'_> {
    /// One page of the messages `user` received, newest first, filtered
    /// and continued as `query` says.
    ///
    /// Refuses with [`Error::UnknownUser`] when the tenant has no such user,
    /// [`Error::InvalidPageSize`] when the page size is out of range, and
    /// [`Error::InvalidCursor`] for a cursor PostgreSQL cannot hold.
    pub fn inbox(
        &mut self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let list = List::<RECEIVED>::new(self.tenant_id(), user, query);
        self.run(list)
    }

    /// One page of the messages `user` sent, newest first, filtered and
    /// continued as `query` says (`unread_only` keeps those their recipient
    /// has not read). Refuses as [`inbox`](Self::inbox) does.
    pub fn outbox(
        &mut self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let list = List::<SENT>::new(self.tenant_id(), user, query);
        self.run(list)
    }
}

impl Tenant {
    /// [`TenantConn::inbox`], in a scope of its own.
    pub fn inbox(&self, user: UserId, query: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.run(List::<RECEIVED>::new(self.id(), user, query))
    }

    /// [`TenantConn::outbox`], in a scope of its own.
    pub fn outbox(&self, user: UserId, query: MessageQuery) -> Result<Page<SkillMessage>, Error> {
        self.run(List::<SENT>::new(self.id(), user, query))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::inbox`], awaited.
    pub async fn inbox(
        &mut self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let list = List::<RECEIVED>::new(self.tenant_id(), user, query);
        self.run(list).await
    }

    /// [`TenantConn::outbox`], awaited.
    pub async fn outbox(
        &mut self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let list = List::<SENT>::new(self.tenant_id(), user, query);
        self.run(list).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::inbox`], in a scope of its own, in one round trip.
    pub async fn inbox(
        &self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.run(List::<RECEIVED>::new(self.id(), user, query))
            .await
    }

    /// [`TenantConn::outbox`], in a scope of its own, in one round trip.
    pub async fn outbox(
        &self,
        user: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        self.run(List::<SENT>::new(self.id(), user, query)).await
    }
}

/// A list of the messages a user received, and one of those they sent.
const RECEIVED: bool = false;
const SENT: bool = true;

/// A page of the messages a user received, or sent (`SENT_BY_USER`).
struct List<const SENT_BY_USER: bool> {
    tenant: TenantId,
    user: UserId,
    query: MessageQuery,
}

impl<const SENT_BY_USER: bool> List<SENT_BY_USER> {
    /// Refuses a page size out of range and a cursor PostgreSQL cannot hold.
    fn new(tenant: TenantId, user: UserId, query: MessageQuery) -> Result<Self, Error> {
        Ok(Self {
            tenant,
            user,
            query: query.checked()?,
        })
    }
}

impl<const SENT_BY_USER: bool> Operation for List<SENT_BY_USER> {
    type Output = Page<SkillMessage>;
    type SqlType = Returned;
    type Row = SkillMessage;
    const NAME: &'static str = if SENT_BY_USER { "outbox" } else { "inbox" };

    /// The user's messages received, or sent, that the query asks for,
    /// newest first, with one row more than the page so that the answer
    /// knows whether another follows. Each side has its index, led by
    /// `(tenant_id, to_user_id)` or `(tenant_id, from_user_id)`, then
    /// `(created_at DESC, id DESC)`, which serves the cursor's row
    /// comparison whole.
    fn statement(&self) -> Statement<Returned> {
        let query = &self.query;
        let mut page = skill_messages::table
            .select(SkillMessage::as_select())
            .filter(skill_messages::tenant_id.eq(self.tenant))
            .into_boxed();
        page = if SENT_BY_USER {
            page.filter(skill_messages::from_user_id.eq(self.user))
        } else {
            page.filter(skill_messages::to_user_id.eq(self.user))
        };
        if let Some(after) = query.cursor() {
            page = page.filter(after.before());
        }
        if query.is_unread_only() {
            page = page.filter(skill_messages::read_at.is_null());
        }
        if let Some(status) = query.status_filter() {
            page = page.filter(skill_messages::status.eq(status));
        }
        Statement::new(
            page.order((skill_messages::created_at.desc(), skill_messages::id.desc()))
                .limit(i64::from(query.page_size()) + 1),
        )
    }

    /// The page, or, when it is empty, whether the user exists.
    fn answer(self, rows: Vec<SkillMessage>) -> Step<Page<SkillMessage>> {
        if rows.is_empty() {
            return Step::if_user_known(self.tenant, self.user, Page::default());
        }
        Step::Done(Ok(Page::of(rows, self.query.page_size(), Cursor::after)))
    }
}
