//! The five service functions. Each takes a [`TenantConn`], runs in its
//! transaction, and sees and changes only the scope's tenant.

use diesel::dsl::{exists, now};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use diesel::sql_types::{Nullable, Timestamptz};
use uuid::Uuid;

use crate::error::{Error, MessageProblem};
use crate::models::{NewSkillMessage, SkillMessage, SkillMessageStatus};
use crate::page::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, into_page};
use crate::relations::{DetailsRow, SkillMessageDetails, details_query};
use crate::schema::{skill_messages, users};
use crate::tenant::TenantConn;

/// The longest message, in characters, after trimming white space.
pub const MAX_MESSAGE_CHARS: usize = 4000;

diesel::define_sql_function! {
    /// SQL `coalesce` of a nullable timestamp and a fallback.
    fn coalesce(value: Nullable<Timestamptz>, fallback: Timestamptz) -> Nullable<Timestamptz>;
}

/// A write statement kept prepared on the connection.
///
/// Diesel prepares an `INSERT` or `UPDATE` anew for every call, since a
/// changeset or an optional value may change its SQL; PostgreSQL then parses
/// and plans it, policies included, every time. The statements wrapped here
/// have a fixed SQL text for each shape of their values, and diesel's cache
/// is keyed by that text, so caching them is sound: each shape is prepared
/// once per connection.
#[derive(Debug, Clone, Copy)]
struct Prepared<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // Keyed by its SQL text, not by its type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}

/// The messages `user_id` received, filtered as `query` asks, newest first,
/// one row more than `limit` so the caller knows whether a page follows.
///
/// A macro because the plain and the joined selection are different types.
macro_rules! inbox_page {
    ($selection:expr, $user_id:expr, $query:expr, $limit:expr) => {{
        use crate::schema::skill_messages::{created_at, id, read_at, status, to_user_id};
        let selection = $selection;
        let mut page = selection.filter(to_user_id.eq($user_id)).into_boxed();
        if let Some(after) = $query.after {
            // The row value (created_at, id) < (after.created_at, after.id),
            // written so that the index serves `created_at <= ...`.
            page = page.filter(
                created_at
                    .le(after.created_at)
                    .and(created_at.lt(after.created_at).or(id.lt(after.id))),
            );
        }
        if $query.unread_only {
            page = page.filter(read_at.is_null());
        }
        if let Some(wanted) = $query.status {
            page = page.filter(status.eq(wanted));
        }
        page.order((created_at.desc(), id.desc()))
            .limit(i64::from($limit) + 1)
    }};
}

/// Which of a user's received messages to list, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxQuery {
    /// Start after this position, taken from the previous page's
    /// [`Page::next`]; `None` starts at the newest message.
    pub after: Option<Cursor>,
    /// Messages per page: 1 to [`MAX_PAGE_SIZE`], by default
    /// [`DEFAULT_PAGE_SIZE`].
    pub limit: u32,
    /// Only messages not yet read.
    pub unread_only: bool,
    /// Only messages with this status.
    pub status: Option<SkillMessageStatus>,
}

impl Default for InboxQuery {
    fn default() -> Self {
        Self {
            after: None,
            limit: DEFAULT_PAGE_SIZE,
            unread_only: false,
            status: None,
        }
    }
}

impl InboxQuery {
    /// The same query, continuing after `cursor`.
    pub fn after(self, cursor: Option<Cursor>) -> Self {
        Self {
            after: cursor,
            ..self
        }
    }

    fn checked_limit(&self) -> Result<u32, Error> {
        match self.limit {
            1..=MAX_PAGE_SIZE => Ok(self.limit),
            limit => Err(Error::InvalidPageSize(limit)),
        }
    }
}

/// Sends a skill message in the scope's tenant and returns it as stored:
/// pending, unread, its text trimmed.
///
/// Refused, with nothing written, when the text is blank, longer than
/// [`MAX_MESSAGE_CHARS`] or holds a NUL ([`Error::InvalidMessage`]); when
/// sender and recipient are one user ([`Error::SelfMessage`]); when the
/// proposed parent is the subject ([`Error::ParentIsSubject`]); and when a
/// user or skill does not exist in the tenant ([`Error::UnknownUser`],
/// [`Error::UnknownSkill`]), as is the case for another tenant's ids.
pub fn send_skill_message(
    conn: &mut TenantConn<'_>,
    new: NewSkillMessage,
) -> Result<SkillMessage, Error> {
    #[derive(Insertable)]
    #[diesel(table_name = skill_messages)]
    struct Row<'a> {
        tenant_id: Uuid,
        from_user_id: Uuid,
        to_user_id: Uuid,
        subject_skill_id: Uuid,
        proposed_parent_skill_id: Option<Uuid>,
        message: &'a str,
    }

    let message = checked_text(&new.message).map_err(Error::InvalidMessage)?;
    if new.from_user_id == new.to_user_id {
        return Err(Error::SelfMessage(new.from_user_id));
    }
    if new.proposed_parent_skill_id == Some(new.subject_skill_id) {
        return Err(Error::ParentIsSubject(new.subject_skill_id));
    }
    let row = Row {
        tenant_id: conn.tenant_id(),
        from_user_id: new.from_user_id,
        to_user_id: new.to_user_id,
        subject_skill_id: new.subject_skill_id,
        proposed_parent_skill_id: new.proposed_parent_skill_id,
        message,
    };
    Prepared(
        diesel::insert_into(skill_messages::table)
            .values(&row)
            .returning(SkillMessage::as_returning()),
    )
    .get_result(conn.connection())
    .map_err(|error| unknown_reference(error, &new))
}

/// One page of the messages `user_id` received, newest first.
///
/// [`Error::UnknownUser`] when the tenant has no such user,
/// [`Error::InvalidPageSize`] when `query.limit` is out of range.
pub fn get_messages_for_user(
    conn: &mut TenantConn<'_>,
    user_id: Uuid,
    query: InboxQuery,
) -> Result<Page<SkillMessage>, Error> {
    let limit = query.checked_limit()?;
    let rows: Vec<SkillMessage> = inbox_page!(
        skill_messages::table.select(SkillMessage::as_select()),
        user_id,
        query,
        limit
    )
    .load(conn.connection())?;
    if rows.is_empty() {
        ensure_user_exists(conn, user_id)?;
    }
    Ok(into_page(rows, limit, Cursor::of))
}

/// Like [`get_messages_for_user`], each message with its sender,
/// recipient, subject skill and proposed parent skill, from one query.
pub fn get_message_details_for_user(
    conn: &mut TenantConn<'_>,
    user_id: Uuid,
    query: InboxQuery,
) -> Result<Page<SkillMessageDetails>, Error> {
    let limit = query.checked_limit()?;
    let rows: Vec<DetailsRow> =
        inbox_page!(details_query(), user_id, query, limit).load(conn.connection())?;
    if rows.is_empty() {
        ensure_user_exists(conn, user_id)?;
    }
    let rows = rows.into_iter().map(SkillMessageDetails::from).collect();
    Ok(into_page(rows, limit, |d: &SkillMessageDetails| {
        Cursor::of(&d.message)
    }))
}

/// How many messages `user_id` received and has not read.
///
/// [`Error::UnknownUser`] when the tenant has no such user.
pub fn get_unread_count_for_user(conn: &mut TenantConn<'_>, user_id: Uuid) -> Result<i64, Error> {
    let (known, unread) = diesel::select((
        exists(users::table.find(user_id)),
        skill_messages::table
            .filter(skill_messages::to_user_id.eq(user_id))
            .filter(skill_messages::read_at.is_null())
            .count()
            .single_value(),
    ))
    .get_result::<(bool, Option<i64>)>(conn.connection())?;
    if !known {
        return Err(Error::UnknownUser(user_id));
    }
    Ok(unread.unwrap_or(0))
}

/// Marks a message read by its recipient and returns it.
///
/// Idempotent: `read_at` is set the first time and never moves; marking a
/// read message again returns it unchanged, in the same one statement.
/// [`Error::NotFound`] when the tenant has no such message,
/// [`Error::NotRecipient`] when `acting_user_id` is not its recipient.
pub fn mark_message_read(
    conn: &mut TenantConn<'_>,
    message_id: Uuid,
    acting_user_id: Uuid,
) -> Result<SkillMessage, Error> {
    let marked = Prepared(
        diesel::update(
            skill_messages::table
                .find(message_id)
                .filter(skill_messages::to_user_id.eq(acting_user_id)),
        )
        .set(skill_messages::read_at.eq(coalesce(skill_messages::read_at, now)))
        .returning(SkillMessage::as_returning()),
    )
    .get_result(conn.connection())
    .optional()?;
    match marked {
        Some(message) => Ok(message),
        None => {
            // A read-only look tells which error it is.
            find_as_recipient(conn, message_id, acting_user_id)?;
            // Committed by another transaction after the update looked.
            Err(Error::NotFound(message_id))
        }
    }
}

/// Accepts or declines a pending message as its recipient and returns it,
/// with `responded_at` set and, if it was unread, `read_at` too.
///
/// [`Error::NotAResponse`] for `Pending`; [`Error::NotFound`],
/// [`Error::NotRecipient`] as for [`mark_message_read`]; and
/// [`Error::AlreadyResponded`], carrying the status that won, when the
/// message is no longer pending. Of several calls racing on one message,
/// exactly one succeeds.
pub fn update_message_status(
    conn: &mut TenantConn<'_>,
    message_id: Uuid,
    acting_user_id: Uuid,
    new_status: SkillMessageStatus,
) -> Result<SkillMessage, Error> {
    if new_status == SkillMessageStatus::Pending {
        return Err(Error::NotAResponse(new_status));
    }
    // A racing call blocks on the row lock, then finds it no longer pending.
    let responded = Prepared(
        diesel::update(
            skill_messages::table
                .find(message_id)
                .filter(skill_messages::to_user_id.eq(acting_user_id))
                .filter(skill_messages::status.eq(SkillMessageStatus::Pending)),
        )
        .set((
            skill_messages::status.eq(new_status),
            skill_messages::responded_at.eq(now),
            skill_messages::read_at.eq(coalesce(skill_messages::read_at, now)),
        ))
        .returning(SkillMessage::as_returning()),
    )
    .get_result(conn.connection())
    .optional()?;
    match responded {
        Some(message) => Ok(message),
        None => {
            let current = find_as_recipient(conn, message_id, acting_user_id)?;
            if current.status == SkillMessageStatus::Pending {
                // Committed by another transaction after the update looked.
                return Err(Error::NotFound(message_id));
            }
            Err(Error::AlreadyResponded {
                message_id,
                status: current.status,
            })
        }
    }
}

/// The message text trimmed, or why it cannot be stored.
fn checked_text(text: &str) -> Result<&str, MessageProblem> {
    if text.contains('\0') {
        return Err(MessageProblem::ContainsNul);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(MessageProblem::Blank);
    }
    match trimmed.chars().count() {
        chars if chars > MAX_MESSAGE_CHARS => Err(MessageProblem::TooLong { chars }),
        _ => Ok(trimmed),
    }
}

/// Maps the foreign-key violation of an insert to the id it names.
fn unknown_reference(error: diesel::result::Error, new: &NewSkillMessage) -> Error {
    if let DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) = &error {
        match info.constraint_name() {
            // A tenant that does not exist has no users either.
            Some("skill_messages_from_user_fkey" | "skill_messages_tenant_id_fkey") => {
                return Error::UnknownUser(new.from_user_id);
            }
            Some("skill_messages_to_user_fkey") => return Error::UnknownUser(new.to_user_id),
            Some("skill_messages_subject_skill_fkey") => {
                return Error::UnknownSkill(new.subject_skill_id);
            }
            Some("skill_messages_proposed_parent_skill_fkey") => {
                if let Some(parent) = new.proposed_parent_skill_id {
                    return Error::UnknownSkill(parent);
                }
            }
            _ => {}
        }
    }
    Error::Database(error)
}

fn ensure_user_exists(conn: &mut TenantConn<'_>, user_id: Uuid) -> Result<(), Error> {
    let known: bool =
        diesel::select(exists(users::table.find(user_id))).get_result(conn.connection())?;
    if !known {
        return Err(Error::UnknownUser(user_id));
    }
    Ok(())
}

/// The message, if `user_id` is its recipient.
fn find_as_recipient(
    conn: &mut TenantConn<'_>,
    message_id: Uuid,
    user_id: Uuid,
) -> Result<SkillMessage, Error> {
    let message = skill_messages::table
        .find(message_id)
        .select(SkillMessage::as_select())
        .first(conn.connection())
        .optional()?
        .ok_or(Error::NotFound(message_id))?;
    if message.to_user_id != user_id {
        return Err(Error::NotRecipient {
            message_id,
            user_id,
        });
    }
    Ok(message)
}
