//! The blocking tenant scope: a transaction in which PostgreSQL shows one
//! tenant only, and the runner of its operations.

use std::panic::{self, AssertUnwindSafe};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::query_dsl::LoadQuery;

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
/// operations as its methods ([`send`](Self::send), [`inbox`](Self::inbox),
/// [`outbox`](Self::outbox), [`unread_count`](Self::unread_count),
/// [`details`](Self::details), [`mark_read`](Self::mark_read),
/// [`mark_unread`](Self::mark_unread), [`mark_all_read`](Self::mark_all_read), [`answer`](Self::answer),
/// [`withdraw`](Self::withdraw)).
///
/// There is no way to have one except a scope
/// ([`Pool::with_tenant`](crate::Pool::with_tenant), [`with_tenant`] on a
/// connection you bring, or [`with_tenant_in_transaction`] in a transaction
/// you opened), so an operation without a tenant does not compile:
///
/// ```compile_fail
/// # fn demo(conn: &mut diesel::PgConnection, user: skill_messages::UserId) {
/// // A plain connection has no operations.
/// conn.unread_count(user);
/// # }
/// ```
///
/// Inside the scope the transaction's role is the deployment's runtime role,
/// its tenant setting holds the tenant ([`Names`]) and the search path is
/// the crate's (see [`with_tenant`]), all local to the transaction: they end
/// with it, whatever the connection's session holds.
pub struct TenantConn<'a> {
    conn: &'a mut PgConnection,
    tenant_id: TenantId,
    /// What the scope announces when it commits.
    events: Vec<NewMessageEvent>,
}

impl TenantConn<'_> {
    /// The tenant this scope shows.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The connection, for queries of your own: they run in the scope's
    /// transaction, as the runtime role, and see only the scope's tenant's
    /// skill messages. Diesel's errors convert into [`Error`], so `?` works
    /// on them and on the operations alike.
    ///
    /// The scope guards against mistakes, not against the code it runs: a
    /// statement here that changes the role or the tenant itself (`SET
    /// ROLE`, `set_config`) acts with whatever the login may do, until the
    /// commit resets both. A login that is only a member of the runtime
    /// role, as the README advises, has nothing more to gain that way.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.conn
    }

    /// Runs `op`, unless it was refused before it could run: its statement,
    /// then its follow-up if the rows leave the answer open. Its event, if
    /// it succeeds, goes out when the scope commits.
    pub(crate) fn run<O: Operation>(&mut self, op: Result<O, Error>) -> Result<O::Output, Error>
    where
        Statement<O::SqlType>: LoadQuery<'static, PgConnection, O::Row>,
    {
        let span = Span::call(O::NAME);
        let answer = span.in_scope(|| {
            let op = op?;
            let event = op.event();
            let rows = op.statement().load(self.conn)?;
            span.rows(rows.len());
            let answer = match op.answer(rows) {
                Step::Done(answer) => answer,
                Step::FollowUp(follow_up, settle) => settle(facts(self.conn, follow_up)?),
            };
            if let (Ok(_), Some(event)) = (&answer, event) {
                self.events.push(event);
            }
            answer
        });
        span.outcome(outcome(&answer));
        answer
    }
}

/// What `follow_up` finds on `conn`.
fn facts(conn: &mut PgConnection, follow_up: FollowUp) -> QueryResult<Facts> {
    Ok(match follow_up {
        FollowUp::References(asked) => References::facts(asked.statement().load(conn)?),
        FollowUp::Message(asked) => Lookup::facts(asked.statement().load(conn)?),
    })
}

/// Runs `f` in a tenant scope on `conn`: one transaction in which only
/// `tenant_id`'s rows exist.
///
/// The transaction opens with the tenant, the role and the crate's search
/// path in the same round trip as its `BEGIN`: the search path the login
/// starts its sessions with, `pg_temp` last (so a temporary table cannot
/// shadow the crate's tables), whatever the session has set since. It
/// commits when `f` returns `Ok`, and rolls back when `f` returns `Err` or
/// panics (the panic then resumes). Either way the connection leaves the
/// scope with no tenant, its own role and no open transaction. The
/// transaction is `READ COMMITTED` and `READ WRITE` whatever the session's
/// defaults.
///
/// An operation that refuses its input ([`Error::is_refusal`]) leaves the
/// scope usable. A scope in which a statement failed cannot commit: if `f`
/// returns `Ok` after ignoring a database error, the scope rolls back and
/// fails with PostgreSQL's "current transaction is aborted" (the first
/// error was `f`'s to return). If the connection fails during the commit
/// itself, the error is [`Error::CommitOutcomeUnknown`]: the writes are
/// then either all committed or all absent, and only the database can tell
/// which.
///
/// `conn` must not be in a transaction already (for a transaction of your
/// own, see [`with_tenant_in_transaction`]), and its login role must be able
/// to `SET ROLE` to the runtime role of `names` (a member of it, or a
/// superuser).
///
/// ```no_run
/// # fn demo(
/// #     conn: &mut diesel::PgConnection,
/// #     tenant_id: skill_messages::TenantId,
/// #     user_id: skill_messages::UserId,
/// # ) -> Result<(), skill_messages::Error> {
/// use skill_messages::{Names, with_tenant};
///
/// let unread = with_tenant(conn, &Names::default(), tenant_id, |tx| tx.unread_count(user_id))?;
/// # Ok(()) }
/// ```
pub fn with_tenant<T, F>(
    conn: &mut PgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, Error>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, Error>,
{
    with_tenant_as(conn, names, tenant_id, f)
}

/// [`with_tenant`], for a closure whose error type is the service's own:
/// any type that converts from [`Error`].
pub fn with_tenant_as<T, E, F>(
    conn: &mut PgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let settings = &ScopeSettings::derived(names);
    begin(conn, tenant_id, settings).map_err(Error::from)?;
    run_begun(conn, tenant_id, settings, true, f)
}

/// Runs `f` in a tenant scope inside the transaction `conn` is in, one the
/// caller opened: the caller's own writes, the crate's operations and
/// whatever follows commit or roll back together, when the caller's
/// transaction does.
///
/// The scope is a savepoint. In it, the role, the tenant and the search
/// path are set as [`with_tenant`] sets them; when `f` returns `Ok`, they
/// are set back to what they were before (the tenant setting to `''` if it
/// had no value), the scope's events are announced in the caller's
/// transaction (so listeners hear them when it commits) and the savepoint is
/// released. When `f` returns `Err` or panics, the savepoint is rolled back,
/// which undoes the scope's writes and settings alike and leaves the
/// caller's transaction usable. Either way the caller's statements after it
/// run with the role and settings they had before.
///
/// `conn` must be in a transaction diesel knows of
/// ([`Connection::transaction`](diesel::Connection::transaction), say), or
/// this fails with [`Error::NotInTransaction`]; its login must be able to
/// `SET ROLE` to the runtime role, as for [`with_tenant`]. The runtime role
/// does the scope's work: what the caller writes to its own tables, it
/// writes before or after, as itself.
///
/// ```no_run
/// # fn demo(
/// #     conn: &mut diesel::PgConnection,
/// #     tenant_id: skill_messages::TenantId,
/// #     message: skill_messages::SkillMessageId,
/// #     user: skill_messages::UserId,
/// # ) -> Result<(), skill_messages::Error> {
/// use diesel::Connection;
/// use skill_messages::{Answer, Names, with_tenant_in_transaction};
///
/// conn.transaction(|conn| {
///     let accepted = with_tenant_in_transaction(conn, &Names::default(), tenant_id, |tx| {
///         tx.answer(message, user, Answer::Accept)
///     })?;
///     // ... the platform's own update of its skills row, in the same transaction.
///     Ok::<_, skill_messages::Error>(accepted)
/// })?;
/// # Ok(()) }
/// ```
pub fn with_tenant_in_transaction<T, E, F>(
    conn: &mut PgConnection,
    names: &Names,
    tenant_id: TenantId,
    f: F,
) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
    if status.transaction_depth().map_err(Error::from)?.is_none() {
        return Err(Error::NotInTransaction.into());
    }
    let settings = ScopeSettings::derived(names);
    // At depth one or more, diesel opens a savepoint.
    AnsiTransactionManager::begin_transaction(conn).map_err(Error::from)?;
    let saved = diesel::sql_query(settings.save_sql())
        .get_result::<Saved>(conn)
        .and_then(|saved| {
            conn.batch_execute(&settings.set_sql(tenant_id))
                .map(|()| saved)
        });
    let saved = match saved {
        Ok(saved) => saved,
        Err(error) => {
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            return Err(Error::from(error).into());
        }
    };
    run_scope(conn, tenant_id, f, "released", |conn, events| {
        // The savepoint stays on a failure, to be rolled back.
        conn.batch_execute(&settings.restore_sql(&saved, events))
            .and_then(|()| AnsiTransactionManager::commit_transaction(conn))
            .map_err(Error::from)
    })
}

/// Runs `f` on `conn` as a scope of `tenant_id`, in the transaction (or
/// savepoint) opened for it, and ends it by how `f` ended: with `finish`
/// (given the scope's events) when it returned `Ok`, reported as
/// `finished`; rolled back when it returned `Err`, when it panicked (the
/// panic then resumes) and when `finish` failed. Diesel rolls back a
/// transaction or, inside one, a savepoint.
fn run_scope<T, E, F>(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    f: F,
    finished: &'static str,
    finish: impl FnOnce(&mut PgConnection, &[NewMessageEvent]) -> Result<(), Error>,
) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let span = Span::scope(tenant_id);
    let mut tx = TenantConn {
        conn: &mut *conn,
        tenant_id,
        events: Vec::new(),
    };
    let outcome = span.in_scope(|| panic::catch_unwind(AssertUnwindSafe(|| f(&mut tx))));
    let events = tx.events;
    match outcome {
        Ok(Ok(value)) => match finish(conn, &events) {
            Ok(()) => {
                span.outcome(finished);
                Ok(value)
            }
            Err(error) => {
                span.outcome("failed");
                // Still open unless the connection failed in a commit.
                if !matches!(error, Error::CommitOutcomeUnknown(_)) {
                    let _ = AnsiTransactionManager::rollback_transaction(conn);
                }
                Err(error.into())
            }
        },
        Ok(Err(error)) => {
            span.outcome("rolled_back");
            // The caller's error says more than a failed rollback would; a
            // connection that cannot roll back is marked broken by diesel.
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            Err(error)
        }
        Err(panic) => {
            span.outcome("panicked");
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            panic::resume_unwind(panic)
        }
    }
}

/// Opens a tenant scope's transaction in one round trip.
pub(crate) fn begin(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    settings: &ScopeSettings,
) -> diesel::QueryResult<()> {
    let sql = settings.begin_sql(tenant_id);
    match AnsiTransactionManager::begin_transaction_sql(conn, &sql) {
        // Nothing was sent: the caller's own transaction stays as it was.
        Err(error @ diesel::result::Error::AlreadyInTransaction) => Err(error),
        Err(error) => {
            // A statement after BEGIN failed: end the transaction it left
            // open. If even that fails, diesel marks the connection broken
            // and a pool discards it.
            let _ = conn.batch_execute("ROLLBACK");
            Err(error)
        }
        Ok(()) => Ok(()),
    }
}

/// Runs `f` in the transaction [`begin`] opened, then commits or rolls
/// back. `after_closure` says whether `f` is a closure of the caller's,
/// whose session-level settings the commit must reset.
pub(crate) fn run_begun<T, E, F>(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    settings: &ScopeSettings,
    after_closure: bool,
    f: F,
) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    run_scope(conn, tenant_id, f, "committed", |conn, events| {
        commit(conn, &settings.commit_sql(events, after_closure))
    })
}

/// Commits the scope's transaction with `sql`, in one round trip.
fn commit(conn: &mut PgConnection, sql: &str) -> Result<(), Error> {
    // diesel follows the transaction's end from libpq's status.
    conn.batch_execute(sql).map_err(commit_failure)
}
