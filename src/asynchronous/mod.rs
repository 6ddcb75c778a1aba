//! The async face (feature `async`): the same tenant scopes and
//! operations over [diesel-async](https://docs.rs/diesel-async), for
//! services that run on tokio.
//!
//! - [`AsyncPool`] is a pool of `AsyncPgConnection`s, built with the same
//!   [`PoolBuilder`](crate::PoolBuilder) as the blocking
//!   [`Pool`](crate::Pool) and checked the same way.
//! - [`AsyncPool::with_tenant`] (and [`with_tenant`] on a connection you
//!   bring) runs an async closure in a tenant scope, whose
//!   [`AsyncTenantConn`] has the operations as async methods, with the
//!   blocking scope's names: calling one without a tenant does not compile.
//! - [`AsyncPool::tenant`] is a tenant's [`AsyncTenant`], with the same
//!   methods, each in a scope of its own whose `BEGIN`, statement and
//!   `COMMIT` go out together: one network round trip when the operation
//!   succeeds, with the same atomicity.
//!
//! Each operation runs the same statement and gives the same answers and
//! refusals as its blocking form: both faces run one definition of it.
//!
//! A future dropped at any point (a timeout, a client gone away) never
//! returns its connection to the pool in a transaction, with a tenant or a
//! role set, or with a reply half read: a connection whose scope did not
//! finish counts as broken, and the pool closes it, which ends the
//! transaction on the server (rolled back, unless its `COMMIT` had already
//! been sent).
//!
//! ```no_run
//! # async fn demo(
//! #     url: &str,
//! #     tenant: skill_messages::TenantId,
//! #     user: skill_messages::UserId,
//! # ) -> Result<(), skill_messages::Error> {
//! use skill_messages::asynchronous::AsyncPool;
//! use skill_messages::{MessageQuery, Pool};
//!
//! let pool: AsyncPool = Pool::builder().max_size(8).build_async(url).await?;
//! // One operation, one round trip:
//! let inbox = pool.tenant(tenant).inbox(user, MessageQuery::new()).await?;
//! // Several operations in one scope, committed together:
//! let unread = pool
//!     .with_tenant(tenant, async |tx| {
//!         tx.mark_all_read(user, &inbox.read_mark()).await?;
//!         tx.unread_count(user).await
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

mod listener;
mod pipeline;
mod pool;
mod scope;

pub use listener::AsyncListener;
pub use pool::{AsyncPool, AsyncTenant};
pub use scope::{AsyncTenantConn, with_tenant, with_tenant_as, with_tenant_in_transaction};

/// The connection type of the async face, re-exported.
pub use diesel_async::AsyncPgConnection;
