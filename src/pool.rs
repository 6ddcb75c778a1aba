//! A connection pool that hands out tenant scopes.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error::DatabaseError};
use uuid::Uuid;

use crate::error::Error;
use crate::tenant::{TenantConn, begin, run_begun, verify_row_level_security};

/// A pool of PostgreSQL connections from which tenant scopes are opened.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: r2d2::Pool<ConnectionManager<PgConnection>>,
}

impl Pool {
    /// Connects with the default settings of [`PoolBuilder`].
    pub fn new(database_url: &str) -> Result<Self, Error> {
        Self::builder().build(database_url)
    }

    /// Settings for a new pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Runs `f` in a tenant scope on a pooled connection; see
    /// [`with_tenant`](crate::with_tenant).
    ///
    /// A pooled connection the server has closed (a restart, an idle
    /// timeout, a terminated backend) is replaced before `f` runs, so it
    /// costs a reconnection, not an error.
    pub fn with_tenant<T, E, F>(&self, tenant_id: Uuid, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        // A connection the server closed while it sat idle in the pool fails
        // at BEGIN, before `f` runs: nothing was done, so take another.
        // Diesel marks the dead one broken and the pool drops it.
        let mut retries = self.inner.max_size();
        loop {
            let mut conn = self.inner.get().map_err(Error::from)?;
            match begin(&mut conn, tenant_id) {
                Ok(()) => return run_begun(&mut conn, tenant_id, f),
                Err(DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _,
                )) if retries > 0 => {
                    retries -= 1;
                }
                Err(error) => return Err(Error::from(error).into()),
            }
        }
    }

    /// A plain pooled connection, outside any tenant scope, with the login's
    /// own role and privileges: for a login that is only a member of
    /// `skill_messages_app`, the policies show it no rows at all. For what is
    /// no tenant's business, such as a health check.
    pub fn get(&self) -> Result<PooledConnection<ConnectionManager<PgConnection>>, Error> {
        Ok(self.inner.get()?)
    }

    /// The underlying r2d2 pool, for its statistics.
    pub fn r2d2(&self) -> &r2d2::Pool<ConnectionManager<PgConnection>> {
        &self.inner
    }
}

/// Settings of a [`Pool`]; every one has a default.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    max_size: u32,
    min_idle: Option<u32>,
    connection_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    statement_timeout: Option<Duration>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: None,
            connection_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl PoolBuilder {
    /// Most connections open at once (default 10).
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// Idle connections kept open (default: `max_size`).
    pub fn min_idle(mut self, min_idle: Option<u32>) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// How long to wait for a connection before failing (default 5 s); also
    /// bounds how long [`build`](Self::build) waits for the first ones.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Closes connections idle this long (default 10 minutes).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Closes connections this old (default 30 minutes).
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// PostgreSQL's `statement_timeout` on every connection (default 30 s):
    /// a statement running longer fails and its scope rolls back. `None`
    /// leaves the server's setting, the login's or the database's default;
    /// `Some(Duration::ZERO)` turns the timeout off.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Opens the pool and checks on one of its connections that the database
    /// enforces row-level security ([`verify_row_level_security`]).
    ///
    /// Fails with [`Error::InvalidPoolSettings`] when `max_size` is zero or
    /// below `min_idle`, or a timeout or lifetime is zero; with
    /// [`Error::Pool`] when no connection can be made within the connection
    /// timeout; and with [`Error::RlsNotEnforced`] when the migrations have
    /// not run or the runtime role could bypass the policies.
    pub fn build(self, database_url: &str) -> Result<Pool, Error> {
        self.check()?;
        let inner = r2d2::Pool::builder()
            .max_size(self.max_size)
            .min_idle(self.min_idle)
            .connection_timeout(self.connection_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            // A scope costs one round trip to open; a ping at every checkout
            // would double that. A dead connection fails its scope instead,
            // and diesel marks it broken so the pool replaces it.
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSettings {
                statement_timeout: self.statement_timeout,
            }))
            .build(ConnectionManager::new(database_url))?;
        verify_row_level_security(&mut *inner.get()?)?;
        Ok(Pool { inner })
    }
}

impl PoolBuilder {
    /// Refuses what r2d2 would panic on.
    fn check(&self) -> Result<(), Error> {
        let zero = Some(Duration::ZERO);
        let problem = if self.max_size == 0 {
            "max_size must be at least 1"
        } else if self
            .min_idle
            .is_some_and(|min_idle| min_idle > self.max_size)
        {
            "min_idle must not exceed max_size"
        } else if self.connection_timeout.is_zero() {
            "connection_timeout must be longer than zero"
        } else if self.idle_timeout == zero {
            "idle_timeout must be longer than zero"
        } else if self.max_lifetime == zero {
            "max_lifetime must be longer than zero"
        } else {
            return Ok(());
        };
        Err(Error::InvalidPoolSettings(problem))
    }
}

/// Session settings applied once to every new connection: the statement
/// timeout, and a search path that names `pg_temp` last.
#[derive(Debug)]
struct SessionSettings {
    statement_timeout: Option<Duration>,
}

impl CustomizeConnection<PgConnection, r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), r2d2::Error> {
        let timeout = match self.statement_timeout {
            // Rounded up: a timeout under a millisecond must not become 0,
            // which PostgreSQL reads as none.
            Some(timeout) => format!(
                "SET statement_timeout = {}; ",
                timeout.as_micros().div_ceil(1000)
            ),
            None => String::new(),
        };
        // `pg_temp` named last: a temporary table left on a pooled
        // connection cannot shadow the crate's tables for later scopes, as
        // it would with the default path, which searches it first.
        conn.batch_execute(&format!(
            "{timeout}SELECT set_config('search_path', \
                 concat_ws(', ', nullif(current_setting('search_path'), ''), 'pg_temp'), false)"
        ))
        .map_err(r2d2::Error::QueryError)
    }
}
