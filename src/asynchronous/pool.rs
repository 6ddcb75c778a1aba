//! The async pool: bb8 over diesel-async, with the blocking pool's
//! settings, checks and scopes, and a tenant's handle whose operations each
//! run in one round trip.

use std::sync::Arc;

use diesel::connection::CacheSize;
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, PoolError, PoolableConnection,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use diesel::deserialize::FromSqlRow;
use diesel::expression::QueryMetadata;
use diesel::pg::Pg;
use diesel::query_dsl::CompatibleType;

use super::pipeline::one_call;
use super::scope::{AsyncTenantConn, begin, break_off, run_begun};
use crate::error::{Error, outcome};
use crate::ids::TenantId;
use crate::names::Names;
use crate::operation::Operation;
use crate::pool::{PoolBuilder, PoolState};
use crate::settings::{SERVER_DEFAULTS_SQL, ScopeSettings, ServerDefaults};
use crate::status::SkillMessageStatus;
use crate::trace::Span;
use crate::verify::{verdict, verification};

/// A pool of async connections from which tenant scopes are opened: the
/// async [`Pool`](crate::Pool). Build it with
/// [`PoolBuilder::build_async`]; cloning is cheap and shares the pool.
///
/// It is a [bb8](https://docs.rs/bb8) pool: it takes the same settings as
/// the blocking pool (size, idle connections, timeouts and lifetimes), and
/// it closes a connection the moment one comes back broken, so the
/// connection of a scope dropped half-way (still in its transaction on the
/// server, holding its locks) is gone at once rather than waiting for the
/// next checkout.
#[derive(Clone)]
pub struct AsyncPool {
    inner: Pool<AsyncPgConnection>,
    settings: Arc<ScopeSettings>,
    names: Arc<Names>,
    warnings: Arc<[String]>,
}

impl std::fmt::Debug for AsyncPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPool")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// Opens an [`AsyncPool`] with these settings and checks it as
    /// [`build`](Self::build) checks a blocking one, with the same errors.
    pub async fn build_async(self, database_url: &str) -> Result<AsyncPool, Error> {
        self.check()?;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
        let inner = Pool::builder()
            .max_size(self.max_size)
            .min_idle(self.min_idle)
            .connection_timeout(self.connection_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            // As the blocking pool: no ping at every checkout, which would
            // double the round trips of a one-call scope.
            .test_on_check_out(false)
            .connection_customizer(Box::new(Customizer {
                transaction_pooling: self.transaction_pooling,
            }))
            .build(manager)
            .await
            .map_err(pool_error)?;
        let pool = AsyncPool {
            inner,
            settings: Arc::new(ScopeSettings::derived(&self.names)),
            names: Arc::new(self.names.clone()),
            warnings: Arc::new([]),
        };
        let mut conn = pool.connection().await?;
        let warnings = verdict(verification(&self.names).load(&mut *conn).await?)?;
        crate::trace::warnings(&warnings);
        let defaults: ServerDefaults = diesel::sql_query(SERVER_DEFAULTS_SQL)
            .get_result(&mut *conn)
            .await?;
        let settings = ScopeSettings::for_pool(&self.names, defaults, self.statement_timeout);
        // Open and roll back one scope: what it sets, the database takes.
        begin(&mut conn, TenantId::from_uuid(uuid::Uuid::nil()), &settings).await?;
        conn.batch_execute("ROLLBACK").await?;
        super::scope::leave(&mut conn);
        drop(conn);
        Ok(AsyncPool {
            settings: Arc::new(settings),
            warnings: warnings.into(),
            ..pool
        })
    }
}

impl AsyncPool {
    /// The names the pool's scopes use, as [`Pool::names`](crate::Pool::names).
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// What the verification warned of when the pool was built, as
    /// [`Pool::warnings`](crate::Pool::warnings).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Runs the async closure `f` in a tenant scope on a pooled connection;
    /// see [`with_tenant`](super::with_tenant) and
    /// [`Pool::with_tenant`](crate::Pool::with_tenant).
    pub async fn with_tenant<T, F>(&self, tenant_id: TenantId, f: F) -> Result<T, Error>
    where
        F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, Error>,
    {
        self.with_tenant_as(tenant_id, f).await
    }

    /// [`with_tenant`](Self::with_tenant), for a closure whose error type
    /// is the service's own: any type that converts from [`Error`].
    pub async fn with_tenant_as<T, E, F>(&self, tenant_id: TenantId, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut AsyncTenantConn<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let mut conn = self.connection().await?;
        begin(&mut conn, tenant_id, &self.settings)
            .await
            .map_err(Error::from)?;
        run_begun(&mut conn, tenant_id, &self.settings, true, f).await
    }

    /// The tenant `tenant_id`, whose operations each run in a scope of
    /// their own, in one round trip.
    pub fn tenant(&self, tenant_id: TenantId) -> AsyncTenant {
        AsyncTenant {
            pool: self.clone(),
            id: tenant_id,
        }
    }

    /// Checks that the database answers, on a pooled connection.
    pub async fn health_check(&self) -> Result<(), Error> {
        self.connection().await?.batch_execute("SELECT 1").await?;
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

    /// A pooled connection that has not failed: one the server closed while
    /// it sat idle in the pool is replaced, before anything is sent on it.
    pub(super) async fn connection(
        &self,
    ) -> Result<PooledConnection<'_, AsyncPgConnection>, Error> {
        let mut retries = self.inner.state().connections;
        loop {
            let mut conn = self.inner.get().await.map_err(pool_error)?;
            if retries == 0 || !conn.is_broken() {
                return Ok(conn);
            }
            // The pool closes it when it comes back.
            break_off(&mut conn);
            retries -= 1;
        }
    }
}

/// One tenant of an [`AsyncPool`]: the operations, each in a tenant scope of
/// its own whose `BEGIN`, statement and `COMMIT` go out together, in one
/// network round trip when the operation succeeds (a refusal takes a
/// second, read-only, to say why), with the atomicity of any scope. An
/// operation refused before it reaches the database takes no connection.
/// Cloning is cheap.
#[derive(Clone, Debug)]
pub struct AsyncTenant {
    pool: AsyncPool,
    id: TenantId,
}

impl AsyncTenant {
    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.id
    }

    /// Runs `op` in a scope of its own in one round trip, unless it was
    /// refused before it could run. On Citus an operation with an event
    /// runs in a scope of three: the event goes out from the coordinator
    /// at the commit.
    pub(crate) async fn run<O: Operation>(&self, op: Result<O, Error>) -> Result<O::Output, Error>
    where
        O::SqlType: CompatibleType<O::Row, Pg>,
        <O::SqlType as CompatibleType<O::Row, Pg>>::SqlType: 'static,
        Pg: QueryMetadata<O::SqlType>,
        O::Row: FromSqlRow<<O::SqlType as CompatibleType<O::Row, Pg>>::SqlType, Pg>,
    {
        let op = op?;
        if self.pool.settings.citus() && op.event().is_some() {
            return self
                .pool
                .with_tenant(self.id, async move |tx| tx.run(Ok(op)).await)
                .await;
        }
        let span = Span::call(O::NAME);
        let answer = span
            .instrument(async {
                let mut conn = self.pool.connection().await?;
                one_call(&mut conn, &self.pool.settings.begin_sql(self.id), op).await
            })
            .await;
        span.outcome(outcome(&answer));
        answer
    }
}

/// What the pool does to each connection it opens.
#[derive(Debug)]
struct Customizer {
    transaction_pooling: bool,
}

impl bb8::CustomizeConnection<AsyncPgConnection, PoolError> for Customizer {
    fn on_acquire<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), PoolError>> + std::marker::Send + 'a>>
    {
        Box::pin(async move {
            if self.transaction_pooling {
                conn.set_prepared_statement_cache_size(CacheSize::Disabled);
            }
            // Look up the status type now: diesel-async looks a custom type
            // up before it queues a statement, which in a pipeline would let
            // the COMMIT behind it go first.
            diesel::select(
                SkillMessageStatus::Pending
                    .into_sql::<crate::schema::sql_types::SkillMessageStatus>(),
            )
            .execute(conn)
            .await
            .map(drop)
            .map_err(PoolError::QueryError)
        })
    }
}

/// The pool's failure to give a connection.
fn pool_error(error: impl std::error::Error + std::marker::Send + Sync + 'static) -> Error {
    Error::Pool(Box::new(error))
}
