//! The service functions of the async face: the blocking ones' calls, run
//! on an async tenant scope.

use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::methods::LoadQuery;

use super::scope::AsyncTenantConn;
use crate::call::{Call, FollowUp, Step};
use crate::calls::{
    Details, List, MarkAllRead, MarkRead, MessageQuery, Received, Respond, Send, Sent, UnreadCount,
    Withdraw,
};
use crate::error::Error;
use crate::ids::{SkillMessageId, UserId};
use crate::models::{NewSkillMessage, SkillMessage};
use crate::page::{Cursor, Page};
use crate::relations::SkillMessageDetails;
use crate::statement::Statement;
use crate::status::Response;
use crate::trace::{Span, call_outcome};

/// Runs `call` in the scope, as the blocking face's `run` does: its
/// statement, then its follow-up if the rows leave the answer open.
pub(crate) async fn run<C>(
    tx: &mut AsyncTenantConn<'_>,
    call: Result<C, Error>,
) -> Result<C::Output, Error>
where
    C: Call,
    Statement<C::SqlType>: LoadQuery<'static, AsyncPgConnection, C::Row>,
    Statement<<C::FollowUp as FollowUp>::SqlType>:
        LoadQuery<'static, AsyncPgConnection, <C::FollowUp as FollowUp>::Row>,
{
    let span = Span::call(C::OPERATION);
    let answer = span
        .instrument(async {
            let call = call?;
            let event = call.event();
            let rows = call.statement().load(tx.connection()).await?;
            span.rows(rows.len());
            let answer = match call.answer(rows) {
                Step::Done(answer) => answer,
                Step::FollowUp(follow_up) => {
                    let rows = follow_up.statement().load(tx.connection()).await?;
                    follow_up.answer(rows)
                }
            };
            if let (Ok(_), Some(event)) = (&answer, event) {
                tx.announce(event);
            }
            answer
        })
        .await;
    span.outcome(call_outcome(&answer));
    answer
}

/// [`send_skill_message`](crate::send_skill_message), awaited.
pub async fn send_skill_message(
    tx: &mut AsyncTenantConn<'_>,
    new: NewSkillMessage<'_>,
) -> Result<SkillMessage, Error> {
    let call = Send::new(tx.tenant_id(), new);
    run(tx, call).await
}

/// [`get_messages_for_user`](crate::get_messages_for_user), awaited.
pub async fn get_messages_for_user(
    tx: &mut AsyncTenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessage>, Error> {
    let call = List::<_, Received>::new(tx.tenant_id(), user_id, query);
    run(tx, call).await
}

/// [`get_message_details_for_user`](crate::get_message_details_for_user),
/// awaited.
pub async fn get_message_details_for_user(
    tx: &mut AsyncTenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessageDetails>, Error> {
    let call = List::<_, Received>::new(tx.tenant_id(), user_id, query);
    run(tx, call).await
}

/// [`SkillMessageDetails::load`], awaited.
pub async fn load_message_details(
    tx: &mut AsyncTenantConn<'_>,
    message_id: SkillMessageId,
) -> Result<SkillMessageDetails, Error> {
    let tenant = tx.tenant_id();
    run(
        tx,
        Ok(Details {
            tenant,
            id: message_id,
        }),
    )
    .await
}

/// [`get_unread_count_for_user`](crate::get_unread_count_for_user), awaited.
pub async fn get_unread_count_for_user(
    tx: &mut AsyncTenantConn<'_>,
    user_id: UserId,
) -> Result<u64, Error> {
    let tenant = tx.tenant_id();
    run(
        tx,
        Ok(UnreadCount {
            tenant,
            user: user_id,
        }),
    )
    .await
}

/// [`mark_message_read`](crate::mark_message_read), awaited.
pub async fn mark_message_read(
    tx: &mut AsyncTenantConn<'_>,
    message_id: SkillMessageId,
    acting_user_id: UserId,
) -> Result<SkillMessage, Error> {
    let tenant = tx.tenant_id();
    let call = MarkRead {
        tenant,
        message: message_id,
        user: acting_user_id,
    };
    run(tx, Ok(call)).await
}

/// [`update_message_status`](crate::update_message_status), awaited.
pub async fn update_message_status(
    tx: &mut AsyncTenantConn<'_>,
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
    run(tx, Ok(call)).await
}

/// [`get_sent_messages_for_user`](crate::get_sent_messages_for_user),
/// awaited.
pub async fn get_sent_messages_for_user(
    tx: &mut AsyncTenantConn<'_>,
    user_id: UserId,
    query: MessageQuery,
) -> Result<Page<SkillMessage>, Error> {
    let call = List::<_, Sent>::new(tx.tenant_id(), user_id, query);
    run(tx, call).await
}

/// [`mark_all_read`](crate::mark_all_read), awaited.
pub async fn mark_all_read(
    tx: &mut AsyncTenantConn<'_>,
    user_id: UserId,
    up_to: Cursor,
) -> Result<u64, Error> {
    let call = MarkAllRead::new(tx.tenant_id(), user_id, up_to);
    run(tx, call).await
}

/// [`withdraw_message`](crate::withdraw_message), awaited.
pub async fn withdraw_message(
    tx: &mut AsyncTenantConn<'_>,
    message_id: SkillMessageId,
    acting_user_id: UserId,
) -> Result<SkillMessage, Error> {
    let tenant = tx.tenant_id();
    let call = Withdraw {
        tenant,
        message: message_id,
        user: acting_user_id,
    };
    run(tx, Ok(call)).await
}
