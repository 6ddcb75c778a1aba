//! The service functions of the blocking face: each builds its call (see
//! `call.rs`) and runs it on the scope's connection.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::query_dsl::LoadQuery;

use crate::call::{Call, FollowUp, Step};
use crate::calls::{
    List, MarkAllRead, MarkRead, MessageQuery, Received, Respond, Send, Sent, UnreadCount, Withdraw,
};
use crate::error::Error;
use crate::ids::{SkillMessageId, UserId};
use crate::models::{NewSkillMessage, SkillMessage};
use crate::page::{Cursor, Page};
use crate::relations::SkillMessageDetails;
use crate::scope::TenantConn;
use crate::statement::Statement;
use crate::status::Response;
use crate::trace::{Span, call_outcome};

/// Runs `call` in the scope, unless it was refused before it could run:
/// its statement, then its follow-up if the rows leave the answer open.
pub(crate) fn run<C>(tx: &mut TenantConn<'_>, call: Result<C, Error>) -> Result<C::Output, Error>
where
    C: Call,
    Statement<C::SqlType>: LoadQuery<'static, PgConnection, C::Row>,
    Statement<<C::FollowUp as FollowUp>::SqlType>:
        LoadQuery<'static, PgConnection, <C::FollowUp as FollowUp>::Row>,
{
    let span = Span::call(C::OPERATION);
    let answer = span.in_scope(|| {
        let call = call?;
        let event = call.event();
        let rows = call.statement().load(tx.connection())?;
        span.rows(rows.len());
        let answer = match call.answer(rows) {
            Step::Done(answer) => answer,
            Step::FollowUp(follow_up) => {
                let rows = follow_up.statement().load(tx.connection())?;
                follow_up.answer(rows)
            }
        };
        if let (Ok(_), Some(event)) = (&answer, event) {
            tx.announce(event);
        }
        answer
    });
    span.outcome(call_outcome(&answer));
    answer
}

/// Sends a skill message in the scope's tenant and returns it as stored:
/// pending, unread, its text trimmed.
///
/// Refuses, writing nothing, a text that is blank, longer than
/// [`MAX_MESSAGE_CHARS`](crate::MAX_MESSAGE_CHARS) or holds a NUL
/// ([`Error::InvalidMessage`]); one user as sender and recipient
/// ([`Error::SelfMessage`]); the subject proposed as its own parent
/// ([`Error::ParentIsSubject`]); and a user or skill the tenant does not
/// have ([`Error::UnknownUser`], [`Error::UnknownSkill`]), as another
/// tenant's ids are: when several are unknown, the first of sender,
/// recipient, subject skill and proposed parent is named. When every one
/// exists but was created while the send ran, it refuses with
/// [`Error::SendRaced`]. A refusal leaves the scope usable.
pub fn send_skill_message(
    tx: &mut TenantConn<'_>,
    new: NewSkillMessage<'_>,
) -> Result<SkillMessage, Error> {
    let call = Send::new(tx.tenant_id(), new);
    run(tx, call)
}

/// One page of the messages `user_id` received, newest first.
///
/// Refuses with [`Error::UnknownUser`] when the tenant has no such user and
/// [`Error::InvalidPageSize`] when the query's page size is out of range.
pub fn get_messages_for_user(
    tx: &mut TenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessage>, Error> {
    let call = List::<_, Received>::new(tx.tenant_id(), user_id, query);
    run(tx, call)
}

/// Like [`get_messages_for_user`], each message with its sender,
/// recipient, subject skill and proposed parent skill, from one query.
pub fn get_message_details_for_user(
    tx: &mut TenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessageDetails>, Error> {
    let call = List::<_, Received>::new(tx.tenant_id(), user_id, query);
    run(tx, call)
}

/// One page of the messages `user_id` sent, newest first, filtered as
/// `query` asks (`unread_only` keeps those their recipient has not read).
///
/// Refuses with [`Error::UnknownUser`] when the tenant has no such user and
/// [`Error::InvalidPageSize`] when the query's page size is out of range.
pub fn get_sent_messages_for_user(
    tx: &mut TenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessage>, Error> {
    let call = List::<_, Sent>::new(tx.tenant_id(), user_id, query);
    run(tx, call)
}

/// Marks read every message `user_id` received and has not read, up to
/// the position `up_to` (that message included), in one statement, and
/// returns how many it marked.
///
/// Take `up_to` from what the user saw: [`Cursor::after`] the newest
/// message shown, or [`Cursor::up_to`] a time. A message that arrives
/// later stays unread. Idempotent: a second call marks nothing more.
/// Refuses with [`Error::UnknownUser`] when the tenant has no such user.
pub fn mark_all_read(
    tx: &mut TenantConn<'_>,
    user_id: UserId,
    up_to: Cursor,
) -> Result<u64, Error> {
    let call = MarkAllRead::new(tx.tenant_id(), user_id, up_to);
    run(tx, call)
}

/// How many messages `user_id` received and has not read.
///
/// Refuses with [`Error::UnknownUser`] when the tenant has no such user.
pub fn get_unread_count_for_user(tx: &mut TenantConn<'_>, user_id: UserId) -> Result<u64, Error> {
    let tenant = tx.tenant_id();
    run(
        tx,
        Ok(UnreadCount {
            tenant,
            user: user_id,
        }),
    )
}

/// Marks a message read by its recipient and returns it.
///
/// `read_at` is set once, by the first call that finds the message unread,
/// and never moves: every call, concurrent ones included, returns the
/// value stored. Marking a read message again writes nothing (no row lock,
/// no new row version) and does not wait behind a transaction holding the
/// message, such as a concurrent answer; it reads the message in a second
/// statement.
/// Refuses with [`Error::NotFound`] when the tenant has no such message and
/// [`Error::NotRecipient`] when `acting_user_id` is not its recipient.
///
/// The ids have types of their own, so swapping them does not compile:
///
/// ```compile_fail
/// # use skill_messages::{SkillMessageId, TenantConn, UserId, mark_message_read};
/// # fn demo(tx: &mut TenantConn<'_>, message: SkillMessageId, user: UserId) {
/// mark_message_read(tx, user, message);
/// # }
/// ```
pub fn mark_message_read(
    tx: &mut TenantConn<'_>,
    message_id: SkillMessageId,
    acting_user_id: UserId,
) -> Result<SkillMessage, Error> {
    let tenant = tx.tenant_id();
    let call = MarkRead {
        tenant,
        message: message_id,
        user: acting_user_id,
    };
    run(tx, Ok(call))
}

/// Accepts or declines a pending message as its recipient and returns it,
/// with `responded_at` set and, if it was unread, `read_at` too.
///
/// Refuses with [`Error::NotFound`] and [`Error::NotRecipient`] as
/// [`mark_message_read`] does, and with [`Error::AlreadyResponded`],
/// carrying the status that won, when the message is no longer pending. Of
/// several calls racing to answer one message, exactly one succeeds.
pub fn update_message_status(
    tx: &mut TenantConn<'_>,
    message_id: SkillMessageId,
    acting_user_id: UserId,
    response: Response,
) -> Result<SkillMessage, Error> {
    let tenant = tx.tenant_id();
    let call = Respond {
        tenant,
        message: message_id,
        user: acting_user_id,
        response,
    };
    run(tx, Ok(call))
}

/// Withdraws a pending proposal as its sender and returns it, `Withdrawn`,
/// with `responded_at` set.
///
/// Refuses with [`Error::NotFound`] when the tenant has no such message,
/// [`Error::NotSender`] when `acting_user_id` did not send it, and
/// [`Error::AlreadyResponded`], carrying the status that won, when it is no
/// longer pending. A withdrawal racing with an answer is a race like any
/// other: exactly one of them succeeds.
pub fn withdraw_message(
    tx: &mut TenantConn<'_>,
    message_id: SkillMessageId,
    acting_user_id: UserId,
) -> Result<SkillMessage, Error> {
    let tenant = tx.tenant_id();
    let call = Withdraw {
        tenant,
        message: message_id,
        user: acting_user_id,
    };
    run(tx, Ok(call))
}
