//! One call in a scope of its own, in one round trip: the scope's `BEGIN`,
//! the call's statement and `COMMIT`, sent together.

use diesel::deserialize::FromSqlRow;
use diesel::expression::QueryMetadata;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::CompatibleType;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::pool::AsyncPool;
use super::scope::{break_off, enter, leave};
use crate::call::{Call, FollowUp, Step};
use crate::error::{Error, commit_failure, connection_lost};
use crate::events::NewMessageEvent;
use crate::ids::TenantId;
use crate::schema::skill_messages;
use crate::statement::Statement;
use crate::trace::{Span, call_outcome};

/// Runs `call` in a scope of its own on a connection of `pool`: one round
/// trip when its statement settles the answer, a second for its follow-up
/// when not. A call refused before it reaches the database takes no
/// connection.
pub(crate) async fn one_call<C>(
    pool: &AsyncPool,
    tenant_id: TenantId,
    call: Result<C, Error>,
) -> Result<C::Output, Error>
where
    C: Call,
// What diesel-async asks of rows to load them, spelled without naming a
// connection: the futures that borrow one then stay `Send`.
    C::SqlType: CompatibleType<C::Row, Pg>,
    <C::SqlType as CompatibleType<C::Row, Pg>>::SqlType: 'static,
    Pg: QueryMetadata<C::SqlType>,
    C::Row: FromSqlRow<<C::SqlType as CompatibleType<C::Row, Pg>>::SqlType, Pg>,
    <C::FollowUp as FollowUp>::SqlType: CompatibleType<<C::FollowUp as FollowUp>::Row, Pg>,
    <<C::FollowUp as FollowUp>::SqlType as CompatibleType<<C::FollowUp as FollowUp>::Row, Pg>>::SqlType: 'static,
    Pg: QueryMetadata<<C::FollowUp as FollowUp>::SqlType>,
    <C::FollowUp as FollowUp>::Row: FromSqlRow<
            <<C::FollowUp as FollowUp>::SqlType as CompatibleType<<C::FollowUp as FollowUp>::Row, Pg>>::SqlType,
            Pg,
        >,
{
    let span = Span::call(C::OPERATION);
    let answer = span
        .instrument(async {
            let call = call?;
            let conn = &mut *pool.connection().await?;
            let begin = pool.settings.begin_sql(tenant_id);
            let notify = call.event().map(|event| notify_if_sent(&event));
            let rows = pipelined(conn, &begin, call.statement(), notify).await?;
            span.rows(rows.len());
            match call.answer(rows) {
                Step::Done(answer) => answer,
                Step::FollowUp(follow_up) => {
                    let rows = pipelined(conn, &begin, follow_up.statement(), None).await?;
                    follow_up.answer(rows)
                }
            }
        })
        .await;
    span.outcome(call_outcome(&answer));
    answer
}

/// `COMMIT` as a statement diesel-async prepares once and sends in turn
/// with the others: `batch_execute` would overtake a statement still being
/// prepared.
#[derive(Debug, Clone, Copy, QueryId)]
struct Commit;

impl QueryFragment<Pg> for Commit {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.push_sql("COMMIT");
        Ok(())
    }
}

/// Sends `begin_sql`, `statement`, `notify` if any and `COMMIT` together,
/// and returns the statement's rows once every reply is in.
///
/// A statement that fails aborts the transaction, and PostgreSQL answers
/// the `COMMIT` with a rollback: nothing is written, and its error is the
/// answer. Until every reply is in, the connection counts as broken, so a
/// future dropped half-way never returns it to a pool.
async fn pipelined<ST, R>(
    conn: &mut AsyncPgConnection,
    begin_sql: &str,
    statement: Statement<ST>,
    notify: Option<Statement<Text>>,
) -> Result<Vec<R>, Error>
where
    ST: CompatibleType<R, Pg> + 'static,
    <ST as CompatibleType<R, Pg>>::SqlType: 'static,
    Pg: QueryMetadata<ST>,
    R: FromSqlRow<<ST as CompatibleType<R, Pg>>::SqlType, Pg> + Send + 'static,
{
    enter(conn)?;
    let (begun, rows, notified, committed) = {
        let shared: &AsyncPgConnection = conn;
        let (mut first, mut second, mut third, mut fourth) = (shared, shared, shared, shared);
        // Polled in order, each sends on its first poll: the server gets
        // them in this order, in one write.
        futures_util::join!(
            first.batch_execute(begin_sql),
            statement.load::<R>(&mut second),
            async {
                match notify {
                    Some(notify) => notify.load::<String>(&mut third).await.map(drop),
                    None => Ok(()),
                }
            },
            Commit.execute(&mut fourth),
        )
    };
    let broken = begun.as_ref().err().is_some_and(connection_lost)
        || rows.as_ref().err().is_some_and(connection_lost)
        || notified.as_ref().err().is_some_and(connection_lost)
        || committed.as_ref().err().is_some_and(connection_lost);
    if broken {
        break_off(conn);
    } else {
        leave(conn);
    }
    // A statement that failed aborted the transaction: nothing was
    // written. A connection that failed may have run what followed,
    // `COMMIT` included: the outcome is unknown.
    let rows = begun.and(rows).map_err(commit_failure)?;
    notified.and(committed).map_err(commit_failure)?;
    Ok(rows)
}

/// `SELECT pg_notify(...)` of `event`, if its message exists: a statement
/// to send behind the message's insert in one transaction, which notifies
/// only when the insert wrote the row. (On Citus the whole statement runs
/// on the message's worker, whose notifications no one listens to: there
/// the scope notifies at its commit instead.)
fn notify_if_sent(event: &NewMessageEvent) -> Statement<Text> {
    let notify = diesel::dsl::sql::<Text>("pg_notify(")
        .bind::<Text, _>(event.channel())
        .sql(", ")
        .bind::<Text, _>(event.payload())
        .sql(")::text");
    let sent = skill_messages::table
        .filter(skill_messages::tenant_id.eq(event.tenant_id))
        .filter(skill_messages::id.eq(event.message_id));
    Statement::new(diesel::select(notify).filter(diesel::dsl::exists(sent)))
}
