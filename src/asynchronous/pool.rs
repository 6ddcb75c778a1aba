//! The async pool: bb8 over diesel-async, with the blocking pool's
//! settings, checks and scopes.

use std::sync::Arc;

use diesel::connection::CacheSize;
use diesel::prelude::*;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, PoolError, PoolableConnection,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use super::pipeline::one_call;
use super::scope::{AsyncTenantConn, begin, break_off, run_begun};
use crate::calls::{
    Details, List, MarkAllRead, MarkRead, MessageQuery, Received, Respond, Send, Sent, UnreadCount,
    Withdraw,
};
use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};
use crate::models::{NewSkillMessage, SkillMessage};
use crate::page::{Cursor, Page};
use crate::pool::{PoolBuilder, PoolState};
use crate::relations::SkillMessageDetails;
use crate::scope_sql::{SERVER_DEFAULTS_SQL, ScopeSettings, ServerDefaults};
use crate::status::{Response, SkillMessageStatus};
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
    pub(super) settings: Arc<ScopeSettings>,
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
            settings: Arc::new(ScopeSettings::DERIVED),
        };
        let mut conn = pool.connection().await?;
        verdict(verification().load(&mut *conn).await?)?;
        let defaults: ServerDefaults = diesel::sql_query(SERVER_DEFAULTS_SQL)
            .get_result(&mut *conn)
            .await?;
        let settings = ScopeSettings::for_pool(defaults, self.statement_timeout);
        // Open and roll back one scope: what it sets, the database takes.
        begin(&mut conn, TenantId::from_uuid(uuid::Uuid::nil()), &settings).await?;
        conn.batch_execute("ROLLBACK").await?;
        super::scope::leave(&mut conn);
        drop(conn);
        Ok(AsyncPool {
            settings: Arc::new(settings),
            ..pool
        })
    }
}

impl AsyncPool {
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
        run_begun(&mut conn, tenant_id, &self.settings, f).await
    }

    /// Sends a skill message in a scope of its own, in one round trip; see
    /// [`send_skill_message`](crate::send_skill_message). Its new-message
    /// event goes out in the same transaction.
    ///
    /// On a Citus cluster it takes the three round trips of a scope: the
    /// event must be announced by a statement of its own, which the
    /// coordinator runs once it knows the message was written.
    pub async fn send_skill_message(
        &self,
        tenant_id: TenantId,
        new: NewSkillMessage<'_>,
    ) -> Result<SkillMessage, Error> {
        if self.settings.citus() {
            return self
                .with_tenant(tenant_id, async |tx| {
                    super::send_skill_message(tx, new).await
                })
                .await;
        }
        let call = Send::new(tenant_id, new);
        one_call(self, tenant_id, call).await
    }

    /// One page of a user's messages, in a scope of its own, in one round
    /// trip; see [`get_messages_for_user`](crate::get_messages_for_user).
    pub async fn get_messages_for_user(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let call = List::<_, Received>::new(tenant_id, user_id, query);
        one_call(self, tenant_id, call).await
    }

    /// The same page with each message's users and skills, in one round
    /// trip; see
    /// [`get_message_details_for_user`](crate::get_message_details_for_user).
    pub async fn get_message_details_for_user(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessageDetails>, Error> {
        let call = List::<_, Received>::new(tenant_id, user_id, query);
        one_call(self, tenant_id, call).await
    }

    /// One message with its users and skills, in one round trip; see
    /// [`SkillMessageDetails::load`].
    pub async fn load_message_details(
        &self,
        tenant_id: TenantId,
        message_id: SkillMessageId,
    ) -> Result<SkillMessageDetails, Error> {
        let call = Ok(Details {
            tenant: tenant_id,
            id: message_id,
        });
        one_call(self, tenant_id, call).await
    }

    /// A user's unread messages, counted in one round trip; see
    /// [`get_unread_count_for_user`](crate::get_unread_count_for_user).
    pub async fn get_unread_count_for_user(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
    ) -> Result<u64, Error> {
        let call = Ok(UnreadCount {
            tenant: tenant_id,
            user: user_id,
        });
        one_call(self, tenant_id, call).await
    }

    /// Marks a message read, in one round trip (two for a message read
    /// before, which is read without a write); see
    /// [`mark_message_read`](crate::mark_message_read).
    pub async fn mark_message_read(
        &self,
        tenant_id: TenantId,
        message_id: SkillMessageId,
        acting_user_id: UserId,
    ) -> Result<SkillMessage, Error> {
        let call = Ok(MarkRead {
            tenant: tenant_id,
            message: message_id,
            user: acting_user_id,
        });
        one_call(self, tenant_id, call).await
    }

    /// Accepts or declines a proposal, in one round trip; see
    /// [`update_message_status`](crate::update_message_status).
    pub async fn update_message_status(
        &self,
        tenant_id: TenantId,
        message_id: SkillMessageId,
        acting_user_id: UserId,
        response: Response,
    ) -> Result<SkillMessage, Error> {
        let call = Ok(Respond {
            tenant: tenant_id,
            message: message_id,
            user: acting_user_id,
            response,
        });
        one_call(self, tenant_id, call).await
    }

    /// One page of the messages a user sent, in one round trip; see
    /// [`get_sent_messages_for_user`](crate::get_sent_messages_for_user).
    pub async fn get_sent_messages_for_user(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        query: MessageQuery,
    ) -> Result<Page<SkillMessage>, Error> {
        let call = List::<_, Sent>::new(tenant_id, user_id, query);
        one_call(self, tenant_id, call).await
    }

    /// Marks a user's messages read up to a position, in one round trip;
    /// see [`mark_all_read`](crate::mark_all_read).
    pub async fn mark_all_read(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        up_to: Cursor,
    ) -> Result<u64, Error> {
        let call = MarkAllRead::new(tenant_id, user_id, up_to);
        one_call(self, tenant_id, call).await
    }

    /// Withdraws a pending proposal, in one round trip; see
    /// [`withdraw_message`](crate::withdraw_message).
    pub async fn withdraw_message(
        &self,
        tenant_id: TenantId,
        message_id: SkillMessageId,
        acting_user_id: UserId,
    ) -> Result<SkillMessage, Error> {
        let call = Ok(Withdraw {
            tenant: tenant_id,
            message: message_id,
            user: acting_user_id,
        });
        one_call(self, tenant_id, call).await
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
