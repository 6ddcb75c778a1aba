//! Listing the messages a user received or sent, a keyset page at a time.

use std::marker::PhantomData;

use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::Query;
use diesel::query_dsl::methods::{FilterDsl, LimitDsl, OrderDsl};
use diesel::sql_types::Bool;

use super::user_exists;
use crate::call::{Call, FollowUp, Step};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::models::SkillMessage;
use crate::page::{Before, Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, into_page};
use crate::relations::{DetailsRow, SkillMessageDetails, details_query};
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::status::SkillMessageStatus;

/// Which of a user's messages to list, and from where: by default the
/// newest [`DEFAULT_PAGE_SIZE`] of them, whatever their state.
///
/// ```
/// # use skill_messages::{MessageQuery, SkillMessageStatus};
/// let pending_unread = MessageQuery::new()
///     .limit(50)
///     .unread_only()
///     .status(SkillMessageStatus::Pending);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageQuery {
    after: Option<Cursor>,
    limit: u32,
    unread_only: bool,
    status: Option<SkillMessageStatus>,
}

impl Default for MessageQuery {
    fn default() -> Self {
        Self {
            after: None,
            limit: DEFAULT_PAGE_SIZE,
            unread_only: false,
            status: None,
        }
    }
}

impl MessageQuery {
    /// The first page of every message, [`DEFAULT_PAGE_SIZE`] long.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues after `cursor`, from the previous page's [`Page::next`] or
    /// [`Cursor::after`] a message; `None` starts at the newest message.
    pub fn after(self, cursor: Option<Cursor>) -> Self {
        Self {
            after: cursor,
            ..self
        }
    }

    /// At most `limit` messages: 1 to [`MAX_PAGE_SIZE`], or the call refuses
    /// with [`Error::InvalidPageSize`].
    pub fn limit(self, limit: u32) -> Self {
        Self { limit, ..self }
    }

    /// Only messages not yet read by their recipient.
    pub fn unread_only(self) -> Self {
        Self {
            unread_only: true,
            ..self
        }
    }

    /// Only messages with this status.
    pub fn status(self, status: SkillMessageStatus) -> Self {
        Self {
            status: Some(status),
            ..self
        }
    }

    /// The position the page starts after.
    pub fn cursor(&self) -> Option<Cursor> {
        self.after
    }

    /// The page size asked for.
    pub fn page_size(&self) -> u32 {
        self.limit
    }

    /// The query, if its page size is in range and its cursor a position
    /// PostgreSQL can hold.
    fn checked(self) -> Result<Self, Error> {
        if let Some(after) = self.after {
            after.checked()?;
        }
        match self.limit {
            1..=MAX_PAGE_SIZE => Ok(self),
            limit => Err(Error::InvalidPageSize(limit)),
        }
    }

    /// `messages` narrowed to the messages of `user` (received or sent, as
    /// `side` says) that this query asks for, newest first, with one row
    /// more than the page so that the caller knows whether another follows.
    /// Each side has its index, led by `(tenant_id, to_user_id)` or
    /// `(tenant_id, from_user_id)`, then `(created_at DESC, id DESC)`.
    fn apply<Q: Narrowable>(&self, messages: Q, tenant: TenantId, user: UserId, side: Side) -> Q {
        let mut page = FilterDsl::filter(messages, skill_messages::tenant_id.eq(tenant));
        page = match side {
            Side::Received => FilterDsl::filter(page, skill_messages::to_user_id.eq(user)),
            Side::Sent => FilterDsl::filter(page, skill_messages::from_user_id.eq(user)),
        };
        if let Some(after) = self.after {
            page = FilterDsl::filter(page, after.before());
        }
        if self.unread_only {
            page = FilterDsl::filter(page, skill_messages::read_at.is_null());
        }
        if let Some(status) = self.status {
            page = FilterDsl::filter(page, skill_messages::status.eq(status));
        }
        let page = OrderDsl::order(
            page,
            (skill_messages::created_at.desc(), skill_messages::id.desc()),
        );
        LimitDsl::limit(page, i64::from(self.limit) + 1)
    }
}

/// A boxed query on `skill_messages` that [`MessageQuery::apply`] can
/// narrow.
pub(crate) trait Narrowable:
    FilterDsl<dsl::Eq<skill_messages::tenant_id, TenantId>, Output = Self>
    + FilterDsl<dsl::Eq<skill_messages::to_user_id, UserId>, Output = Self>
    + FilterDsl<dsl::Eq<skill_messages::from_user_id, UserId>, Output = Self>
    + FilterDsl<Before, Output = Self>
    + FilterDsl<dsl::IsNull<skill_messages::read_at>, Output = Self>
    + FilterDsl<dsl::Eq<skill_messages::status, SkillMessageStatus>, Output = Self>
    + OrderDsl<
        (
            dsl::Desc<skill_messages::created_at>,
            dsl::Desc<skill_messages::id>,
        ),
        Output = Self,
    > + LimitDsl<Output = Self>
{
}

impl<Q> Narrowable for Q where
    Q: FilterDsl<dsl::Eq<skill_messages::tenant_id, TenantId>, Output = Q>
        + FilterDsl<dsl::Eq<skill_messages::to_user_id, UserId>, Output = Q>
        + FilterDsl<dsl::Eq<skill_messages::from_user_id, UserId>, Output = Q>
        + FilterDsl<Before, Output = Q>
        + FilterDsl<dsl::IsNull<skill_messages::read_at>, Output = Q>
        + FilterDsl<dsl::Eq<skill_messages::status, SkillMessageStatus>, Output = Q>
        + OrderDsl<
            (
                dsl::Desc<skill_messages::created_at>,
                dsl::Desc<skill_messages::id>,
            ),
            Output = Q,
        > + LimitDsl<Output = Q>
{
}

/// What an inbox page lists: the rows its query selects, and the items
/// made of them.
pub(crate) trait Listing: Sized {
    /// The SQL type of the rows.
    type SqlType: 'static;
    /// A row as loaded.
    type Row: Send + 'static;

    /// The page `query` asks for.
    fn statement(
        query: &MessageQuery,
        tenant: TenantId,
        user: UserId,
        side: Side,
    ) -> Statement<Self::SqlType>;

    /// The item a row makes.
    fn item(row: Self::Row) -> Self;

    /// The item's position in the list.
    fn position(&self) -> Cursor;
}

impl Listing for SkillMessage {
    type SqlType = dsl::SqlTypeOf<dsl::AsSelect<SkillMessage, Pg>>;
    type Row = SkillMessage;

    fn statement(
        query: &MessageQuery,
        tenant: TenantId,
        user: UserId,
        side: Side,
    ) -> Statement<Self::SqlType> {
        let messages = skill_messages::table
            .select(SkillMessage::as_select())
            .into_boxed();
        Statement::new(query.apply(messages, tenant, user, side))
    }

    fn item(row: SkillMessage) -> Self {
        row
    }

    fn position(&self) -> Cursor {
        Cursor::after(self)
    }
}

impl Listing for SkillMessageDetails {
    type SqlType = <details_query as Query>::SqlType;
    type Row = DetailsRow;

    fn statement(
        query: &MessageQuery,
        tenant: TenantId,
        user: UserId,
        side: Side,
    ) -> Statement<Self::SqlType> {
        Statement::new(query.apply(details_query().into_boxed(), tenant, user, side))
    }

    fn item(row: DetailsRow) -> Self {
        Self::from(row)
    }

    fn position(&self) -> Cursor {
        Cursor::after(&self.message)
    }
}

/// Which of a user's messages a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The messages the user received.
    Received,
    /// The messages the user sent.
    Sent,
}

/// Names a list's side, and its operation.
pub(crate) trait Sided {
    /// The side.
    const SIDE: Side;
    /// The operation's name, for tracing.
    const OPERATION: &'static str;
}

/// The messages a user received.
pub(crate) struct Received;

impl Sided for Received {
    const SIDE: Side = Side::Received;
    const OPERATION: &'static str = "get_messages_for_user";
}

/// The messages a user sent.
pub(crate) struct Sent;

impl Sided for Sent {
    const SIDE: Side = Side::Sent;
    const OPERATION: &'static str = "get_sent_messages_for_user";
}

/// A page of the messages of a user, on side `S`, as items `L`.
pub(crate) struct List<L, S> {
    tenant: TenantId,
    user: UserId,
    query: MessageQuery,
    listing: PhantomData<(L, S)>,
}

impl<L, S> List<L, S> {
    /// Refuses a page size out of range.
    pub(crate) fn new(tenant: TenantId, user: UserId, query: MessageQuery) -> Result<Self, Error> {
        Ok(Self {
            tenant,
            user,
            query: query.checked()?,
            listing: PhantomData,
        })
    }
}

impl<L: Listing, S: Sided> Call for List<L, S> {
    type Output = Page<L>;
    type SqlType = L::SqlType;
    type Row = L::Row;
    type FollowUp = KnownUser<Page<L>>;
    const OPERATION: &'static str = S::OPERATION;

    fn statement(&self) -> Statement<L::SqlType> {
        L::statement(&self.query, self.tenant, self.user, S::SIDE)
    }

    fn answer(self, rows: Vec<L::Row>) -> Step<Page<L>, KnownUser<Page<L>>> {
        if rows.is_empty() {
            // An empty page, or a user the tenant does not have?
            return Step::FollowUp(KnownUser::new(self.tenant, self.user));
        }
        let items = rows.into_iter().map(L::item).collect();
        Step::Done(Ok(into_page(items, self.query.limit, L::position)))
    }
}

/// Tells an answer with nothing in it (an empty page, no message marked)
/// from a user the tenant does not have.
pub(crate) struct KnownUser<T> {
    tenant: TenantId,
    user: UserId,
    output: PhantomData<T>,
}

impl<T> KnownUser<T> {
    pub(crate) fn new(tenant: TenantId, user: UserId) -> Self {
        Self {
            tenant,
            user,
            output: PhantomData,
        }
    }
}

impl<T: Default> FollowUp for KnownUser<T> {
    type Output = T;
    type SqlType = Bool;
    type Row = bool;

    fn statement(&self) -> Statement<Bool> {
        Statement::new(diesel::select(user_exists(self.tenant, self.user)))
    }

    fn answer(self, rows: Vec<bool>) -> Result<T, Error> {
        match rows.first() {
            Some(true) => Ok(T::default()),
            _ => Err(Error::UnknownUser(self.user)),
        }
    }
}
