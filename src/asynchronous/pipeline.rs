//! One operation in a scope of its own, in one round trip: the scope's
//! `BEGIN` with its settings, the operation's statement and `COMMIT`, sent
//! together.

use diesel::deserialize::FromSqlRow;
use diesel::expression::QueryMetadata;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::CompatibleType;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::scope::{break_off, enter, leave};
use crate::error::{Error, commit_failure, connection_lost};
use crate::events::NewMessageEvent;
use crate::operation::{Operation, Step};
use crate::operations::follow_up::{Facts, FollowUp, Lookup, References};
use crate::schema::skill_messages;
use crate::statement::Statement;

/// Runs `op` on `conn` in a scope of its own that `begin_sql` opens: one
/// round trip when its statement settles the answer, a second for its
/// follow-up when not.
pub(crate) async fn one_call<O: Operation>(
    conn: &mut AsyncPgConnection,
    begin_sql: &str,
    op: O,
) -> Result<O::Output, Error>
where
    // What diesel-async asks of rows to load them, spelled without naming a
    // connection: the futures that borrow one then stay `Send`.
    O::SqlType: CompatibleType<O::Row, Pg>,
    <O::SqlType as CompatibleType<O::Row, Pg>>::SqlType: 'static,
    Pg: QueryMetadata<O::SqlType>,
    O::Row: FromSqlRow<<O::SqlType as CompatibleType<O::Row, Pg>>::SqlType, Pg>,
{
    let notify = op.event().map(|event| notify_if_sent(&event));
    let rows = pipelined(conn, begin_sql, op.statement(), notify).await?;
    match op.answer(rows) {
        Step::Done(answer) => answer,
        Step::FollowUp(follow_up, settle) => settle(facts(conn, begin_sql, follow_up).await?),
    }
}

/// What `follow_up` finds, in a scope of its own that `begin_sql` opens.
async fn facts(
    conn: &mut AsyncPgConnection,
    begin_sql: &str,
    follow_up: FollowUp,
) -> Result<Facts, Error> {
    Ok(match follow_up {
        FollowUp::References(asked) => {
            References::facts(pipelined(conn, begin_sql, asked.statement(), None).await?)
        }
        FollowUp::Message(asked) => {
            Lookup::facts(pipelined(conn, begin_sql, asked.statement(), None).await?)
        }
    })
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
        // them in this order, in one round trip.
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
