//! The blocking pool: tenant scopes on pooled connections, and a tenant's
//! handle whose operations each run in a scope of their own.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, CacheSize, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection};

use diesel::query_dsl::LoadQuery;

use crate::error::{Error, connection_lost};
use crate::ids::TenantId;
use crate::names::Names;
use crate::operation::Operation;
use crate::scope::{TenantConn, begin, run_begun};
use crate::settings::{SERVER_DEFAULTS_SQL, ScopeSettings, ServerDefaults};
use crate::statement::Statement;
use crate::verify::verify_database;

/// A pool of PostgreSQL connections from which tenant scopes are opened.
///
/// Cloning is cheap and shares the pool. Its connections are used only
/// inside tenant scopes, and every scope sets what it relies on (tenant,
/// role, search path, statement timeout) for its own transaction, so
/// nothing one scope does to its session reaches the next.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: r2d2::Pool<ConnectionManager<PgConnection>>,
    settings: Arc<ScopeSettings>,
    names: Arc<Names>,
    warnings: Arc<[String]>,
}

/// How many connections a [`Pool`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolState {
    /// Connections open, in use or idle.
    pub connections: u32,
    /// Connections open and idle.
    pub idle_connections: u32,
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

    /// The tenant `tenant_id`, whose operations each run in a scope of
    /// their own: `pool.tenant(id).send(...)` is
    /// `pool.with_tenant(id, |tx| tx.send(...))`, a little cheaper.
    pub fn tenant(&self, tenant_id: TenantId) -> Tenant {
        Tenant {
            pool: self.clone(),
            id: tenant_id,
        }
    }

    /// The names the pool's scopes use: give them to
    /// [`with_tenant_in_transaction`](crate::with_tenant_in_transaction)
    /// for a scope in a transaction of your own.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// What [`verify_database`] warned of when the pool was built: safe,
    /// but worth fixing (a service logs them at start).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Runs `f` in a tenant scope on a pooled connection; see
    /// [`with_tenant`](crate::with_tenant).
    ///
    /// A pooled connection the server has closed (a restart, an idle
    /// timeout, a terminated backend) is replaced before `f` runs, so it
    /// costs a reconnection, not an error.
    pub fn with_tenant<T, F>(&self, tenant_id: TenantId, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut TenantConn<'_>) -> Result<T, Error>,
    {
        self.with_tenant_as(tenant_id, f)
    }

    /// [`with_tenant`](Self::with_tenant), for a closure whose error type is
    /// the service's own: any type that converts from [`Error`].
    pub fn with_tenant_as<T, E, F>(&self, tenant_id: TenantId, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.scope(tenant_id, true, f)
    }

    /// Runs `f` in a tenant scope on a pooled connection; `after_closure`
    /// says whether `f` is the caller's.
    fn scope<T, E, F>(&self, tenant_id: TenantId, after_closure: bool, f: F) -> Result<T, E>
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
            match begin(&mut conn, tenant_id, &self.settings) {
                Ok(()) => {
                    return run_begun(&mut conn, tenant_id, &self.settings, after_closure, f);
                }
                Err(error) if connection_lost(&error) && retries > 0 => {
                    retries -= 1;
                }
                Err(error) => return Err(Error::from(error).into()),
            }
        }
    }

    /// Checks that the database answers, on a pooled connection.
    pub fn health_check(&self) -> Result<(), Error> {
        let mut conn = self.inner.get()?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }

    /// How many connections the pool holds now.
    pub fn state(&self) -> PoolState {
        let state = self.inner.state();
        PoolState {
            connections: state.connections,
            idle_connections: state.idle_connections,
        }
    }
}

/// One tenant of a [`Pool`]: the operations, each in a tenant scope of its
/// own, as [`TenantConn`] has them in a scope of the caller's. Cloning is
/// cheap.
#[derive(Clone, Debug)]
pub struct Tenant {
    pool: Pool,
    id: TenantId,
}

impl Tenant {
    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.id
    }

    /// Runs `op` in a scope of its own, unless it was refused before it
    /// could run, which takes no connection.
    pub(crate) fn run<O: Operation>(&self, op: Result<O, Error>) -> Result<O::Output, Error>
    where
        Statement<O::SqlType>: LoadQuery<'static, PgConnection, O::Row>,
    {
        let op = op?;
        self.pool.scope(self.id, false, |tx| tx.run(Ok(op)))
    }
}

/// Settings of a [`Pool`]; every one has a default.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    pub(crate) max_size: u32,
    pub(crate) min_idle: Option<u32>,
    pub(crate) connection_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) transaction_pooling: bool,
    pub(crate) names: Names,
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
            transaction_pooling: false,
            names: Names::default(),
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

    /// PostgreSQL's `statement_timeout` in every scope (default 30 s): a
    /// statement running longer fails and its scope rolls back. `None`
    /// leaves the login's or the database's default; `Some(Duration::ZERO)`
    /// turns the timeout off. Rounded up to a millisecond.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Whether the pool reaches PostgreSQL through a pooler in transaction
    /// mode, such as PgBouncer with `pool_mode = transaction` (default
    /// `false`).
    ///
    /// Such a pooler hands each transaction whichever server connection is
    /// free, so statements prepared under a name on one are missing on, or
    /// clash with, the next: with this set the pool's connections prepare
    /// none, and PostgreSQL parses and plans each statement anew. Everything
    /// else a scope sets is local to its transaction already, so nothing
    /// else changes. Migrations take a session-level advisory lock: run them
    /// on a direct connection.
    pub fn transaction_pooling(mut self, transaction_pooling: bool) -> Self {
        self.transaction_pooling = transaction_pooling;
        self
    }

    /// The deployment's runtime role and tenant setting (default:
    /// [`Names::default`]), the ones its migrations were run with.
    pub fn names(mut self, names: Names) -> Self {
        self.names = names;
        self
    }

    /// Opens the pool and checks on one of its connections that the database
    /// enforces row-level security and gives the crate what it needs of the
    /// platform's tables ([`verify_database`]), and that a scope opens.
    ///
    /// Fails with [`Error::InvalidPoolSettings`] when `max_size` is zero or
    /// below `min_idle`, a timeout or lifetime is zero, or the statement
    /// timeout is longer than PostgreSQL takes (about 24.8 days); with
    /// [`Error::Pool`] when no connection can be made within the connection
    /// timeout; with [`Error::RlsNotEnforced`] when the migrations have not
    /// run or the runtime role could bypass the policy; and with
    /// [`Error::PlatformContract`] when the platform's tables lack what the
    /// crate reads.
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
            .connection_customizer(Box::new(Customizer {
                transaction_pooling: self.transaction_pooling,
            }))
            .build(ConnectionManager::new(database_url))?;
        let mut conn = inner.get()?;
        let warnings = verify_database(&mut conn, &self.names)?;
        crate::trace::warnings(&warnings);
        let settings = Arc::new(self.scope_settings(&mut conn)?);
        // Open and roll back one scope: what it sets, the database takes.
        begin(&mut conn, TenantId::from_uuid(uuid::Uuid::nil()), &settings)?;
        AnsiTransactionManager::rollback_transaction(&mut *conn)?;
        drop(conn);
        Ok(Pool {
            inner,
            settings,
            names: Arc::new(self.names),
            warnings: warnings.into(),
        })
    }

    /// What every scope of the pool sets, from the settings and what the
    /// server says on `conn`.
    fn scope_settings(&self, conn: &mut PgConnection) -> Result<ScopeSettings, Error> {
        let defaults: ServerDefaults = diesel::sql_query(SERVER_DEFAULTS_SQL).get_result(conn)?;
        Ok(ScopeSettings::for_pool(
            &self.names,
            defaults,
            self.statement_timeout,
        ))
    }
}

impl PoolBuilder {
    /// Refuses what cannot work, and what r2d2 would panic on.
    pub(crate) fn check(&self) -> Result<(), Error> {
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
        } else if self
            .statement_timeout
            .is_some_and(|timeout| timeout.as_micros().div_ceil(1000) > i32::MAX as u128)
        {
            "statement_timeout must be at most 2147483647 milliseconds"
        } else {
            return Ok(());
        };
        Err(Error::InvalidPoolSettings(problem))
    }
}

/// What the pool does to each connection it opens.
#[derive(Debug)]
struct Customizer {
    transaction_pooling: bool,
}

impl CustomizeConnection<PgConnection, r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), r2d2::Error> {
        if self.transaction_pooling {
            // Before the first statement: statements already prepared stay.
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        Ok(())
    }
}
