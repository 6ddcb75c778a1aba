//! Marking read what a reader has seen of their inbox, on every face: the
//! mark of what was seen, and the one statement that marks it and counts.

use std::fmt;
use std::str::FromStr;

use diesel::QueryableByName;
use diesel::query_builder::SqlQuery;
use diesel::sql_types::{Array, BigInt, Bool, Untyped, Uuid as SqlUuid};

use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::SkillMessage;
use crate::operation::{Operation, Step};
use crate::page::Page;
use crate::pool::Tenant;
use crate::scope::TenantConn;
use crate::statement::Statement;

/// The most messages one [`ReadMark`] holds: ten pages of the largest size.
pub const MAX_READ_MARK: usize = 10 * crate::page::MAX_PAGE_SIZE as usize;

/// What a reader has seen of their inbox, for
/// [`TenantConn::mark_all_read`]: the messages of the pages they were shown
/// that were unread then.
///
/// Take it from [`Page::read_mark`] (and [`extend`](Self::extend) it with
/// later pages), never from a time or a position: a message sent before the
/// newest one shown but committed after the reader listed was not seen, and
/// is not in it. Between requests it travels as an opaque string
/// (`to_string` and `parse`, and the serde form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReadMark {
    ids: Vec<SkillMessageId>,
}

impl ReadMark {
    /// Adds the messages of `page` that were unread when it was listed.
    pub fn extend(&mut self, page: &Page<SkillMessage>) {
        let unread = page.items.iter().filter(|m| m.read_at.is_none());
        self.ids.extend(unread.map(|m| m.id));
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no message.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl Page<SkillMessage> {
    /// What the reader sees of this page of their inbox, to mark read with
    /// [`TenantConn::mark_all_read`]: its messages that are unread.
    pub fn read_mark(&self) -> ReadMark {
        let mut mark = ReadMark::default();
        mark.extend(self);
        mark
    }
}

impl FromIterator<SkillMessageId> for ReadMark {
    /// A mark of these messages, as a reader who was shown them.
    fn from_iter<I: IntoIterator<Item = SkillMessageId>>(ids: I) -> Self {
        Self {
            ids: ids.into_iter().collect(),
        }
    }
}

impl fmt::Display for ReadMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ids
            .iter()
            .try_for_each(|id| write!(f, "{}", id.as_uuid().simple()))
    }
}

impl FromStr for ReadMark {
    type Err = Error;

    /// Parses a mark as `to_string` prints it; anything else, and a mark of
    /// more than [`MAX_READ_MARK`] messages, is [`Error::InvalidReadMark`].
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() % 32 != 0 || s.len() / 32 > MAX_READ_MARK {
            return Err(Error::InvalidReadMark);
        }
        let ids = s.as_bytes().chunks(32).map(|chunk| {
            let text = std::str::from_utf8(chunk).map_err(|_| Error::InvalidReadMark)?;
            uuid::Uuid::try_parse(text)
                .map(SkillMessageId::from)
                .map_err(|_| Error::InvalidReadMark)
        });
        ids.collect::<Result<_, _>>().map(|ids| Self { ids })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ReadMark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ReadMark {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl TenantConn<'_> {
    /// Marks read the messages of `seen` that `user` received and has not
    /// read, in one statement, and returns how many it marked. A message
    /// that is not in `seen` stays unread, whenever it was sent: take
    /// `seen` from the pages the user was shown ([`Page::read_mark`]).
    ///
    /// Idempotent: a second call marks nothing more. Refuses with
    /// [`Error::UnknownUser`] when the tenant has no such user, and with
    /// [`Error::InvalidReadMark`] when `seen` holds more than
    /// [`MAX_READ_MARK`] messages.
    pub fn mark_all_read(&mut self, user: UserId, seen: &ReadMark) -> Result<u64, Error> {
        let mark = MarkAllRead::new(self.tenant_id(), user, seen);
        self.run(mark)
    }
}

impl Tenant {
    /// [`TenantConn::mark_all_read`], in a scope of its own.
    pub fn mark_all_read(&self, user: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.run(MarkAllRead::new(self.id(), user, seen))
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenantConn<'_> {
    /// [`TenantConn::mark_all_read`], awaited.
    pub async fn mark_all_read(&mut self, user: UserId, seen: &ReadMark) -> Result<u64, Error> {
        let mark = MarkAllRead::new(self.tenant_id(), user, seen);
        self.run(mark).await
    }
}

#[cfg(feature = "async")]
impl crate::asynchronous::AsyncTenant {
    /// [`TenantConn::mark_all_read`], in a scope of its own, in one round
    /// trip.
    pub async fn mark_all_read(&self, user: UserId, seen: &ReadMark) -> Result<u64, Error> {
        self.run(MarkAllRead::new(self.id(), user, seen)).await
    }
}

/// The recipient marks read the messages they have seen.
struct MarkAllRead {
    tenant: TenantId,
    user: UserId,
    seen: Vec<SkillMessageId>,
}

impl MarkAllRead {
    /// Refuses a mark of more than [`MAX_READ_MARK`] messages.
    fn new(tenant: TenantId, user: UserId, seen: &ReadMark) -> Result<Self, Error> {
        if seen.len() > MAX_READ_MARK {
            return Err(Error::InvalidReadMark);
        }
        Ok(Self {
            tenant,
            user,
            seen: seen.ids.clone(),
        })
    }
}

/// What the statement counts: how many it marked, and whether the user
/// exists.
#[derive(QueryableByName)]
struct Marked {
    #[diesel(sql_type = BigInt)]
    marked: i64,
    #[diesel(sql_type = Bool)]
    known: bool,
}

/// Marks the seen messages that are the user's and still unread, and counts
/// them in the server; says in the same statement whether the user exists.
/// The messages are found on the primary key, `(tenant_id, id) = ANY`, at a
/// cost of what the mark holds: the user and the unread state are a filter
/// (`IS TRUE`) that no index can serve, or the planner may walk the user's
/// unread index instead, at a cost of everything the user has unread.
const MARK_ALL_READ: &str = "WITH marked AS (\
     UPDATE skill_messages SET read_at = now() \
     WHERE tenant_id = $1 AND id = ANY($3) AND (to_user_id = $2 AND read_at IS NULL) IS TRUE \
     RETURNING 1) \
     SELECT (SELECT count(*) FROM marked) AS marked, \
     EXISTS (SELECT FROM users WHERE tenant_id = $1 AND id = $2) AS known";

impl Operation for MarkAllRead {
    type Output = u64;
    type SqlType = Untyped;
    type Row = Marked;
    const NAME: &'static str = "mark_all_read";

    fn statement(&self) -> Statement<Untyped> {
        let query: diesel::query_builder::BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery> =
            diesel::sql_query(MARK_ALL_READ)
                .into_boxed()
                .bind::<SqlUuid, _>(self.tenant)
                .bind::<SqlUuid, _>(self.user)
                .bind::<Array<SqlUuid>, _>(self.seen.clone());
        Statement::new(query)
    }

    fn answer(self, rows: Vec<Marked>) -> Step<u64> {
        Step::Done(match rows.first() {
            Some(&Marked {
                marked,
                known: true,
            }) => Ok(marked.unsigned_abs()),
            _ => Err(Error::UnknownUser(self.user)),
        })
    }
}
