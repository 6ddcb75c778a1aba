//! The async tenant scope: the blocking scope's transaction, awaited, and
//! the runner of its operations.

use diesel::connection::{TransactionDepthChange, TransactionManagerStatus};
use diesel::result::Error::AlreadyInTransaction;
use diesel_async::methods::LoadQuery;
use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    TransactionManager,
};

use crate::error::{Error, commit_failure, outcome};
use crate::events::NewMessageEvent;
use crate::ids::TenantId;
use crate::names::Names;
use crate::operation::{Operation, Step};
use crate::operations::follow_up::{Facts, FollowUp, Lookup, References};
use crate::settings::{Saved, ScopeSettings};
use crate::statement::Statement;
use crate::trace::Span;

/// A connection inside a transaction whose tenant is set, with the
/// operations as its async methods: it is to [`with_tenant`] what
/// [`TenantConn`](crate::TenantConn) is to the blocking scope, and has the
/// same methods, awaited.
///
/// ```compile_fail
/// # async fn demo(conn: &mut skill_messages::asynchronous::AsyncPgConnection, user: skill_messages::UserId) {
/// // A plain connection has no operations.
/// conn.unread_count(user).await;
/// # }
/// ```
pub struct AsyncTenantConn<'a> {
    conn: &'a mut AsyncPgConnection,
    tenant_id: TenantId,
    /// What the scope announces when it commits.
    events: Vec<NewMessageEvent>,
}

impl AsyncTenantConn<'_> {
    /// The tenant this scope shows.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The connection, for queries of your own, as with
    /// [`TenantConn::connection`](crate::TenantConn::connection).
    pub fn connection(&mut self) -> &mut AsyncPgConnection {
        self.conn
    }

    /// Runs `op`, unless it was refused before it could run, as the
    /// blocking scope does.
    pub(crate) async fn run<O: Operation>(
        &mut self,
        op: Result<O, Error>,
    ) -> Result<O::Output, Error>
    where
        Statement<O::SqlType>: LoadQuery<'static, AsyncPgConnection, O::Row>,
    {
        let span = Span::call(O::NAME);
        let answer = span
            .instrument(async {
                let op = op?;
                let event = op.event();
                let rows = op.statement().load(&mut *self.conn).await?;
                span.rows(rows.len());
                let answer = match op.answer(rows) {
                    Step::Done(answer) => answer,
                    Step::FollowUp(follow_up, settle) => settle(facts(self.conn, follow_up).await?),
                };
                if let (Ok(_), Some(event)) = (&answer, event) {
                    self.events.push(event);
                }
                answer
            })
            .await;
        span.outcome(outcome(&answer));
        answer
    }
}

/// What `follow_up` finds on `conn`.
async fn facts(conn: &mut AsyncPgConnection, follow_up: FollowUp) -> diesel::QueryResult<Facts> {
    Ok(match follow_up {
        FollowUp::References(asked) => References::facts(asked.statement().load(conn).await?),
        FollowUp::Message(asked) => Lookup::facts(asked.statement().load(conn).await?),
    })
}

/// Runs the async closure `f` in a tenant scope on `conn`, as
/// [`with_tenant`](crate::with_tenant) does on a blocking connection: the
/// same transaction, opened and committed the same way, and the same
/// guarantees.
///
/// If the returned future is dropped before it finishes, `conn` is left
/// counting as broken (its transaction still open on the server): drop it.
/// A pool does so itself.
pub async fn with_tenant<T, F>(
    conn: &mut AsyncPgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, Error>
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, Error>,
{
    with_tenant_as(conn, names, tenant_id, f).await
}

/// [`with_tenant`], for a closure whose error type is the service's own:
/// any type that converts from [`Error`].
pub async fn with_tenant_as<T, E, F>(
    conn: &mut AsyncPgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, E>
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let settings = &ScopeSettings::derived(names);
    begin(conn, tenant_id, settings)
        .await
        .map_err(Error::from)?;
    run_begun(conn, tenant_id, settings, true, f).await
}

/// Runs the async closure `f` in a tenant scope inside the transaction
/// `conn` is in, one the caller opened, as
/// [`with_tenant_in_transaction`](crate::with_tenant_in_transaction) does on
/// a blocking connection: a savepoint, the same settings set and set back,
/// the same outcomes.
///
/// If the returned future is dropped before it finishes, `conn` is left
/// counting as broken: its transaction cannot commit, and a pool closes it.
pub async fn with_tenant_in_transaction<T, E, F>(
    conn: &mut AsyncPgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, E>
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    if status(conn)
        .transaction_depth()
        .map_err(Error::from)?
        .is_none()
    {
        return Err(Error::NotInTransaction.into());
    }
    let settings = ScopeSettings::derived(names);
    let mut armed = Armed { conn, done: false };
    let outcome = joined(&mut *armed.conn, &settings, tenant_id, f).await;
    armed.done = true;
    outcome
}

/// [`with_tenant_in_transaction`] once the connection is known to be in a
/// transaction.
async fn joined<T, E, F>(
    conn: &mut AsyncPgConnection,
    settings: &ScopeSettings,
    tenant_id: TenantId,
    f: F,
) -> Result<T, E>
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    // At depth one or more, diesel-async opens a savepoint.
    AnsiTransactionManager::begin_transaction(conn)
        .await
        .map_err(Error::from)?;
    let saved = match save_and_set(conn, settings, tenant_id).await {
        Ok(saved) => saved,
        Err(error) => {
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            return Err(Error::from(error).into());
        }
    };
    let (span, outcome, events) = run_closure(conn, tenant_id, f).await;
    match outcome {
        Ok(value) => {
            let ended = match conn
                .batch_execute(&settings.restore_sql(&saved, &events))
                .await
            {
                Ok(()) => AnsiTransactionManager::commit_transaction(conn).await,
                Err(error) => Err(error),
            };
            span.outcome(if ended.is_ok() { "released" } else { "failed" });
            if ended.is_err() {
                let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            }
            ended
                .map(|()| value)
                .map_err(|error| Error::from(error).into())
        }
        Err(error) => {
            span.outcome("rolled_back");
            let _ = AnsiTransactionManager::rollback_transaction(conn).await;
            Err(error)
        }
    }
}

/// Runs `f` on `conn` as a scope of `tenant_id`: its span, its outcome and
/// the events of its operations.
async fn run_closure<T, E, F>(
    conn: &mut AsyncPgConnection,
    tenant_id: TenantId,
    f: F,
) -> (Span, Result<T, E>, Vec<NewMessageEvent>)
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
{
    let span = Span::scope(tenant_id);
    let mut tx = AsyncTenantConn {
        conn,
        tenant_id,
        events: Vec::new(),
    };
    let outcome = span.instrument(f(&mut tx)).await;
    (span, outcome, tx.events)
}

/// Reads what the scope will change, then sets the scope's settings.
async fn save_and_set(
    conn: &mut AsyncPgConnection,
    settings: &ScopeSettings,
    tenant_id: TenantId,
) -> diesel::QueryResult<Saved> {
    let saved = diesel::sql_query(settings.save_sql())
        .get_result::<Saved>(conn)
        .await?;
    conn.batch_execute(&settings.set_sql(tenant_id)).await?;
    Ok(saved)
}

/// A connection lent to a scope in the caller's transaction: dropped before
/// the scope is `done`, it is marked broken.
struct Armed<'a> {
    conn: &'a mut AsyncPgConnection,
    done: bool,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        if !self.done {
            break_off(self.conn);
        }
    }
}

/// Marks `conn` as inside a transaction of the crate's own: until
/// [`leave`] it counts as broken to a pool, so a scope dropped half-way
/// never hands its connection back.
pub(crate) fn enter(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    let state = status(conn).transaction_state()?;
    if state.transaction_depth().is_some() {
        return Err(AlreadyInTransaction);
    }
    state.change_transaction_depth(TransactionDepthChange::IncreaseDepth)
}

/// Marks the transaction [`enter`] opened as ended.
pub(crate) fn leave(conn: &mut AsyncPgConnection) {
    if let Ok(state) = status(conn).transaction_state() {
        // From depth 1 to none: cannot fail.
        let _ = state.change_transaction_depth(TransactionDepthChange::DecreaseDepth);
    }
}

/// Marks `conn` as unusable: a pool closes it.
pub(crate) fn break_off(conn: &mut AsyncPgConnection) {
    status(conn).set_in_error();
}

fn status(conn: &mut AsyncPgConnection) -> &mut TransactionManagerStatus {
    <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::transaction_manager_status_mut(conn)
}

/// Opens a tenant scope's transaction in one round trip.
pub(crate) async fn begin(
    conn: &mut AsyncPgConnection,
    tenant_id: TenantId,
    settings: &ScopeSettings,
) -> diesel::QueryResult<()> {
    enter(conn)?;
    match conn.batch_execute(&settings.begin_sql(tenant_id)).await {
        Ok(()) => Ok(()),
        Err(error) => {
            // A statement after BEGIN failed: end the transaction it left.
            rollback(conn).await;
            Err(error)
        }
    }
}

/// Runs `f` in the transaction [`begin`] opened, then commits or rolls
/// back. `after_closure` says whether `f` is a closure of the caller's,
/// whose session-level settings the commit must reset.
pub(crate) async fn run_begun<T, E, F>(
    conn: &mut AsyncPgConnection,
    tenant_id: TenantId,
    settings: &ScopeSettings,
    after_closure: bool,
    f: F,
) -> Result<T, E>
where
    F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let (span, outcome, events) = run_closure(conn, tenant_id, f).await;
    match outcome {
        Ok(value) => {
            let committed = commit(conn, &settings.commit_sql(&events, after_closure)).await;
            span.outcome(if committed.is_ok() {
                "committed"
            } else {
                "failed"
            });
            committed.map(|()| value).map_err(E::from)
        }
        Err(error) => {
            span.outcome("rolled_back");
            rollback(conn).await;
            Err(error)
        }
    }
}

/// Commits the scope's transaction with `sql`, as the blocking scope does.
async fn commit(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), Error> {
    match conn.batch_execute(sql).await {
        Ok(()) => {
            leave(conn);
            Ok(())
        }
        Err(error) => {
            let error = commit_failure(error);
            if !matches!(error, Error::CommitOutcomeUnknown(_)) {
                rollback(conn).await;
            }
            Err(error)
        }
    }
}

/// Rolls back the scope's transaction; a connection that cannot is left
/// broken.
async fn rollback(conn: &mut AsyncPgConnection) {
    match conn.batch_execute("ROLLBACK").await {
        Ok(()) => leave(conn),
        Err(_) => break_off(conn),
    }
}
