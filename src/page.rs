//! Keyset pagination: what a list asks for ([`MessageQuery`]), the pages of
//! messages it returns, newest first, and the cursor that continues after
//! one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Timestamptz};

use crate::error::Error;
use crate::ids::SkillMessageId;
use crate::models::SkillMessage;
use crate::schema::skill_messages;
use crate::status::SkillMessageStatus;

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// The largest page one call returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// One page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Page<T> {
    /// The items of this page, at most the page size.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Default for Page<T> {
    /// An empty page, the last.
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

impl<T> Page<T> {
    /// The page of `rows`, fetched with one row more than `limit`: the
    /// extra row, if any, says that another page follows, which starts
    /// after the last item kept.
    pub(crate) fn of(mut rows: Vec<T>, limit: u32, position: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(position)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

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

    /// At most `limit` messages: 1 to [`MAX_PAGE_SIZE`], or the list refuses
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

    /// Whether only unread messages are asked for.
    pub(crate) fn is_unread_only(&self) -> bool {
        self.unread_only
    }

    /// The status asked for, if one is.
    pub(crate) fn status_filter(&self) -> Option<SkillMessageStatus> {
        self.status
    }

    /// The query, if its page size is in range and its cursor a position
    /// PostgreSQL can hold.
    pub(crate) fn checked(self) -> Result<Self, Error> {
        if let Some(after) = self.after {
            after.checked()?;
        }
        match self.limit {
            1..=MAX_PAGE_SIZE => Ok(self),
            limit => Err(Error::InvalidPageSize(limit)),
        }
    }
}

/// A position in a list of messages, newest first: the page after it holds
/// the messages sent before the one it names (or at the same time, with a
/// smaller id).
///
/// Take it from [`Page::next`], or make it for a message you hold with
/// [`Cursor::after`]. Between requests it travels as an opaque string
/// (`to_string` and `parse`, and the serde form); the string's content is
/// not a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    id: SkillMessageId,
}

impl Cursor {
    /// The position just after `message`: the next page starts with the
    /// message that follows it.
    pub fn after(message: &SkillMessage) -> Self {
        Self::at(message.created_at, message.id)
    }

    /// The position of a message sent at `created_at` with id `id`, whether
    /// or not such a message exists. PostgreSQL keeps microseconds: a finer
    /// `created_at` is truncated to them.
    pub fn at(created_at: DateTime<Utc>, id: SkillMessageId) -> Self {
        let micros = created_at.timestamp_micros();
        Self {
            // Every timestamp in chrono's range round-trips in microseconds.
            created_at: DateTime::from_timestamp_micros(micros).unwrap_or(created_at),
            id,
        }
    }

    /// The `created_at` of the position.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The message id of the position.
    pub fn id(&self) -> SkillMessageId {
        self.id
    }

    /// The condition "sent before this position", for a query on
    /// `skill_messages`: the row comparison `(created_at, id) < (c, i)`,
    /// which a B-tree index on `(..., created_at DESC, id DESC)` serves
    /// whole, ties of `created_at` included.
    pub(crate) fn before(self) -> Before {
        Before(self)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.created_at.timestamp_micros();
        write!(f, "{:016x}{}", micros as u64, self.id.as_uuid().simple())
    }
}

impl FromStr for Cursor {
    type Err = Error;

    /// Parses a cursor as `to_string` prints it; anything else, and a
    /// position PostgreSQL cannot hold, is [`Error::InvalidCursor`].
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != 48 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidCursor);
        }
        let (micros, id) = s.split_at(16);
        let micros = u64::from_str_radix(micros, 16).map_err(|_| Error::InvalidCursor)? as i64;
        Self {
            created_at: DateTime::from_timestamp_micros(micros).ok_or(Error::InvalidCursor)?,
            id: uuid::Uuid::try_parse(id)
                .map_err(|_| Error::InvalidCursor)?
                .into(),
        }
        .checked()
    }
}

/// The earliest time PostgreSQL's `timestamptz` holds, 4714-11-24 BC at
/// midnight UTC, in microseconds since 1970. The latest it holds, in the
/// year 294276, is beyond every time chrono holds.
const EARLIEST_POSTGRES_MICROS: i64 = -210_866_803_200_000_000;

impl Cursor {
    /// The cursor, if PostgreSQL can hold its time; [`Error::InvalidCursor`]
    /// if not, before any statement is sent with it.
    pub(crate) fn checked(self) -> Result<Self, Error> {
        if self.created_at.timestamp_micros() < EARLIEST_POSTGRES_MICROS {
            return Err(Error::InvalidCursor);
        }
        Ok(self)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `(skill_messages.created_at, skill_messages.id) < ($1, $2)`: see
/// [`Cursor::before`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Before(Cursor);

impl Expression for Before {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for Before {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(");
        skill_messages::created_at.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        skill_messages::id.walk_ast(out.reborrow())?;
        out.push_sql(") < (");
        out.push_bind_param::<Timestamptz, _>(&self.0.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.0.id)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryId for Before {
    type QueryId = ();
    // Keyed by the SQL text of the statement it is part of.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS> AppearsOnTable<QS> for Before where skill_messages::id: AppearsOnTable<QS> {}

impl<QS> SelectableExpression<QS> for Before where skill_messages::id: SelectableExpression<QS> {}

impl ValidGrouping<()> for Before {
    type IsAggregate = is_aggregate::No;
}
