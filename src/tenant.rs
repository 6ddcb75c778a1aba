//! The tenant scope: a transaction in which PostgreSQL shows one tenant only.

use std::panic::{self, AssertUnwindSafe};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use diesel::sql_types::Text;
use uuid::Uuid;

use crate::error::Error;

/// The setting the row-level-security policies read the tenant from.
pub const TENANT_SETTING: &str = "app.current_tenant_id";

/// The role every tenant scope runs as: not a superuser, not `BYPASSRLS`,
/// owner of nothing, so the policies always apply.
pub const APP_ROLE: &str = "skill_messages_app";

/// A connection inside a transaction whose tenant is set: the only thing the
/// service functions accept.
///
/// There is no way to build one except [`with_tenant`] (or
/// [`Pool::with_tenant`](crate::Pool::with_tenant)), so calling a service
/// function without a tenant does not compile:
///
/// ```compile_fail
/// # fn demo(conn: &mut diesel::PgConnection, user_id: uuid::Uuid) {
/// // A plain connection is not a tenant scope.
/// skill_messages::get_unread_count_for_user(conn, user_id);
/// # }
/// ```
///
/// Inside the scope the transaction's role is [`APP_ROLE`] and the setting
/// [`TENANT_SETTING`] holds the tenant, both local to the transaction: they
/// end with it, whatever role the connection logged in as.
pub struct TenantConn<'a> {
    conn: &'a mut PgConnection,
    tenant_id: Uuid,
}

impl TenantConn<'_> {
    /// The tenant this scope shows.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The connection, for queries of your own: they run in the scope's
    /// transaction, as [`APP_ROLE`], and see only the scope's tenant.
    ///
    /// The scope guards against mistakes, not against the code it runs: a
    /// statement here that changes the role or the tenant itself (`SET
    /// ROLE`, `set_config`) acts with whatever the login may do, until the
    /// commit resets both. A login that is only a member of [`APP_ROLE`], as
    /// the README advises, has nothing more to gain that way.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.conn
    }
}

/// Runs `f` in a tenant scope on `conn`: one transaction in which only
/// `tenant_id`'s rows exist.
///
/// The transaction opens with the tenant and the role in the same round trip
/// as its `BEGIN`, commits when `f` returns `Ok`, and rolls back when `f`
/// returns `Err` or panics (the panic then resumes). Either way the
/// connection leaves the scope with no tenant, its own role and no open
/// transaction. The transaction is `READ COMMITTED` whatever the server's
/// default.
///
/// A scope in which a statement failed cannot commit: if `f` returns `Ok`
/// after ignoring an error, the scope rolls back and fails with PostgreSQL's
/// "current transaction is aborted" (the first error was `f`'s to return). If
/// the connection fails during the commit itself, the error is
/// [`Error::CommitOutcomeUnknown`]: the writes are then either all committed
/// or all absent, and only the database can tell which.
///
/// `conn` must not be in a transaction already, and its login role must be
/// a member of [`APP_ROLE`] (or a superuser).
///
/// ```no_run
/// # fn demo(conn: &mut diesel::PgConnection, tenant_id: uuid::Uuid, user_id: uuid::Uuid)
/// # -> Result<(), skill_messages::Error> {
/// let unread = skill_messages::with_tenant(conn, tenant_id, |tx| {
///     skill_messages::get_unread_count_for_user(tx, user_id)
/// })?;
/// # Ok(()) }
/// ```
pub fn with_tenant<T, E, F>(conn: &mut PgConnection, tenant_id: Uuid, f: F) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    begin(conn, tenant_id).map_err(Error::from)?;
    run_begun(conn, tenant_id, f)
}

/// Opens a tenant scope's transaction: `BEGIN`, the tenant and the role in
/// one round trip.
pub(crate) fn begin(conn: &mut PgConnection, tenant_id: Uuid) -> QueryResult<()> {
    // A UUID's text form is hex digits and dashes: nothing to escape.
    let sql = format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SELECT set_config('{TENANT_SETTING}', '{tenant_id}', true); \
         SET LOCAL ROLE {APP_ROLE}"
    );
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

/// Runs `f` in the transaction [`begin`] opened, then commits or rolls back.
pub(crate) fn run_begun<T, E, F>(conn: &mut PgConnection, tenant_id: Uuid, f: F) -> Result<T, E>
where
    F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    E: From<Error>,
{
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        f(&mut TenantConn {
            conn: &mut *conn,
            tenant_id,
        })
    }));
    match outcome {
        Ok(Ok(value)) => commit(conn).map(|()| value).map_err(E::from),
        Ok(Err(error)) => {
            // The caller's error says more than a failed rollback would; a
            // connection that cannot roll back is marked broken by diesel.
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            Err(error)
        }
        Err(panic) => {
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            panic::resume_unwind(panic)
        }
    }
}

/// Commits the scope's transaction, in the round trip of the `COMMIT`.
///
/// The resets undo a session-level `SET` of the role or the tenant that the
/// closure may have made, which would otherwise outlive the scope. They also
/// guard the commit: had a statement failed earlier in the scope, and the
/// closure gone on regardless, PostgreSQL would answer `COMMIT` with a
/// silent rollback; a `RESET` in the aborted transaction fails instead, and
/// the scope reports the error.
fn commit(conn: &mut PgConnection) -> Result<(), Error> {
    let sql = format!("RESET ROLE; RESET {TENANT_SETTING}; COMMIT");
    // diesel follows the transaction's end from libpq's status.
    match conn.batch_execute(&sql) {
        Ok(()) => Ok(()),
        Err(error @ DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => {
            Err(Error::CommitOutcomeUnknown(error))
        }
        Err(error) => {
            // Still open if a reset failed; already ended if COMMIT did.
            let _ = AnsiTransactionManager::rollback_transaction(conn);
            Err(error.into())
        }
    }
}

/// Checks that tenant scopes on `conn` will be bound by row-level security:
/// [`APP_ROLE`] exists, the connection's role may take it, it is neither a
/// superuser nor `BYPASSRLS`, neither it nor any role it can take owns one of
/// the crate's tables, every one of them has row-level security enabled and
/// forced, and none has a permissive policy besides `tenant_isolation`.
///
/// [`Pool`](crate::Pool) runs this when it is built; run it yourself when
/// you bring your own connections.
pub fn verify_row_level_security(conn: &mut PgConnection) -> Result<(), Error> {
    #[derive(QueryableByName)]
    struct Problem {
        #[diesel(sql_type = Text)]
        reason: String,
    }

    let problems: Vec<Problem> = diesel::sql_query(VERIFY_SQL)
        .bind::<Text, _>(APP_ROLE)
        .load(conn)?;
    if problems.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = problems.into_iter().map(|p| p.reason).collect();
    Err(Error::RlsNotEnforced(reasons.join("; ")))
}

/// One row per reason the policies would not bind [`APP_ROLE`].
const VERIFY_SQL: &str = "
WITH app AS (SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1),
tables AS (
    SELECT t.name, c.relowner, c.relrowsecurity, c.relforcerowsecurity
    FROM unnest(ARRAY['tenants', 'users', 'skills', 'skill_messages']) AS t(name)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
)
SELECT format('role %s does not exist: run the migrations', $1) AS reason
WHERE NOT EXISTS (SELECT FROM app)
UNION ALL
SELECT format('login role %s cannot take role %s: GRANT %2$s TO %1$s', current_user, $1)
FROM app WHERE NOT pg_has_role(current_user, app.oid, 'MEMBER')
UNION ALL
SELECT format('role %s is a superuser', $1) FROM app WHERE rolsuper
UNION ALL
SELECT format('role %s has BYPASSRLS', $1) FROM app WHERE rolbypassrls
UNION ALL
SELECT format('table %s does not exist: run the migrations', name) FROM tables WHERE relowner IS NULL
UNION ALL
SELECT format('role %s owns table %s%s', $1, name,
              CASE WHEN relowner <> app.oid THEN ' through role ' || relowner::regrole END)
FROM tables JOIN app ON pg_has_role(app.oid, tables.relowner, 'MEMBER')
UNION ALL
SELECT format('table %s does not enforce row-level security', name) FROM tables
WHERE relowner IS NOT NULL AND NOT (relrowsecurity AND relforcerowsecurity)
UNION ALL
SELECT format('table %s has a permissive policy %s besides tenant_isolation', polrelid::regclass, polname)
FROM pg_policy JOIN tables ON polrelid = to_regclass(tables.name)
WHERE polpermissive AND polname <> 'tenant_isolation'
";
