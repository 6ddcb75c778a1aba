//! The admin path: jobs that are not a tenant's request (erasing a user,
//! forgetting a skill, purging a tenant, the retention sweep), run as the
//! deployment's maintenance role, each action in its own transaction.

mod batches;
mod erase;
mod forget;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::Error;
use crate::ids::TenantId;
use crate::names::Names;

pub use batches::DEFAULT_BATCH_SIZE;
pub use erase::{Erased, Erasure, TOMBSTONE};
pub use forget::Forgotten;

/// A connection for maintenance jobs, which run as the deployment's
/// maintenance role ([`Names::maintenance_role`], by default
/// `skill_messages_maintenance`): not a superuser, not the runtime role,
/// and made for nothing else.
///
/// The role sees every tenant's messages through a policy of its own
/// (`maintenance`, which the migrations create), so no tenant setting can be
/// missing: a job sees what it must, or [`Maintenance::new`] refuses to
/// start with [`Error::MaintenanceNotReady`]. It may read and delete
/// messages, and clear what erasure clears (a user's side and text, a
/// proposed parent); it cannot send, answer or insert anything. Every action
/// names its tenant, runs in transactions of its own (a tenant scope never
/// becomes one), and is reported to `tracing` (target
/// `skill_messages::maintenance`, with the action, the login, the role, the
/// tenant and the rows) so that each is attributable.
///
/// The connection's login must be allowed the role (`GRANT
/// skill_messages_maintenance TO jobs_login`); it need not be the runtime
/// role's member, and should not be.
pub struct Maintenance {
    conn: PgConnection,
    names: Names,
    login: String,
}

impl std::fmt::Debug for Maintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("login", &self.login)
            .field("role", &self.names.maintenance_role())
            .finish_non_exhaustive()
    }
}

impl Maintenance {
    /// Connects to `database_url` for maintenance jobs with `names`:
    /// [`Maintenance::new`] on a connection of its own.
    pub fn connect(database_url: &str, names: &Names) -> Result<Self, Error> {
        Self::new(PgConnection::establish(database_url)?, names)
    }

    /// Maintenance jobs on `conn`, as `names`' maintenance role, if the
    /// database is ready for them: the role exists, is neither a superuser
    /// nor `BYPASSRLS`, the connection's login may take it, and
    /// `skill_messages` has its policy. Refuses with
    /// [`Error::MaintenanceNotReady`] naming every problem otherwise.
    pub fn new(mut conn: PgConnection, names: &Names) -> Result<Self, Error> {
        let problems: Vec<Problem> = diesel::sql_query(READINESS_SQL)
            .bind::<Text, _>(names.maintenance_role())
            .load(&mut conn)?;
        if !problems.is_empty() {
            return Err(Error::MaintenanceNotReady(
                problems.into_iter().map(|p| p.reason).collect(),
            ));
        }
        let login =
            diesel::select(diesel::dsl::sql::<Text>("session_user::text")).get_result(&mut conn)?;
        Ok(Self {
            conn,
            names: names.clone(),
            login,
        })
    }

    /// The login the jobs are attributed to.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// Runs `f` in a transaction as the maintenance role, and reports the
    /// rows it returns as `action`'s in `tenant`.
    fn act<T: Rows>(
        &mut self,
        action: &'static str,
        tenant: Option<TenantId>,
        f: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
    ) -> Result<T, Error> {
        let role = self.names.maintenance_identifier();
        let done = self.conn.transaction(|conn| {
            conn.batch_execute(&format!("SET LOCAL ROLE {role}"))?;
            f(conn)
        })?;
        crate::trace::maintenance(
            action,
            &self.login,
            self.names.maintenance_role(),
            tenant,
            done.rows(),
        );
        Ok(done)
    }
}

/// What an action reports as the rows it touched.
trait Rows {
    fn rows(&self) -> u64;
}

impl Rows for usize {
    fn rows(&self) -> u64 {
        *self as u64
    }
}

/// One reason the database is not ready for maintenance jobs.
#[derive(QueryableByName)]
struct Problem {
    #[diesel(sql_type = Text)]
    reason: String,
}

/// The reasons, one row each; `$1` is the maintenance role.
const READINESS_SQL: &str = "
WITH m AS (SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1)
SELECT format('role %s does not exist: run the migrations', $1) AS reason
WHERE NOT EXISTS (SELECT FROM m)
UNION ALL
SELECT format('login role %s cannot take role %s: GRANT %2$s TO %1$s', session_user, $1)
FROM m WHERE NOT pg_has_role(session_user, m.oid, 'MEMBER')
UNION ALL
SELECT format('role %s is a superuser or has BYPASSRLS: maintenance runs as a role made for it', $1)
FROM m WHERE rolsuper OR rolbypassrls
UNION ALL
SELECT format('table skill_messages has no policy maintenance for role %s: run the migrations', $1)
FROM m
WHERE NOT EXISTS (
    SELECT FROM pg_policy p
    WHERE p.polrelid = to_regclass('skill_messages') AND p.polname = 'maintenance'
      AND p.polroles = ARRAY[m.oid]
)";
