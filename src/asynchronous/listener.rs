//! The async listener: a tenant's new-message events as a stream.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::{Stream, StreamExt};

use crate::error::Error;
use crate::events::{NewMessageEvent, listen_sql, of_tenant};
use crate::ids::TenantId;

/// A connection listening for one tenant's new-message events, as a
/// stream: the async [`Listener`](crate::Listener), with the same
/// guarantees and the same caveats.
pub struct AsyncListener {
    conn: AsyncPgConnection,
    tenant_id: TenantId,
}

impl AsyncListener {
    /// Connects to `database_url` and listens for `tenant_id`'s events.
    pub async fn connect(database_url: &str, tenant_id: TenantId) -> Result<Self, Error> {
        let conn = AsyncPgConnection::establish(database_url).await?;
        Self::listen(conn, tenant_id).await
    }

    /// Listens for `tenant_id`'s events on `conn`, a connection of the
    /// listener's own.
    pub async fn listen(mut conn: AsyncPgConnection, tenant_id: TenantId) -> Result<Self, Error> {
        conn.batch_execute(&listen_sql(tenant_id)).await?;
        Ok(Self { conn, tenant_id })
    }

    /// The tenant whose events this listener receives.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The events as they arrive: as their sends commit, in commit order,
    /// each once. The stream ends if the connection does.
    pub fn events(&mut self) -> impl Stream<Item = Result<NewMessageEvent, Error>> + '_ {
        let tenant = self.tenant_id;
        self.conn
            .notifications_stream()
            .filter_map(move |notification| {
                let event = match notification {
                    Ok(n) => of_tenant(tenant, &n.channel, &n.payload).map(Ok),
                    Err(error) => Some(Err(Error::from(error))),
                };
                std::future::ready(event)
            })
    }
}
