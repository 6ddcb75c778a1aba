//! The async face (feature `async`): the same tenant scopes and service
//! calls over [diesel-async](https://docs.rs/diesel-async), for services
//! that run on tokio.
//!
//! - [`AsyncPool`] is a pool of `AsyncPgConnection`s, built with the same
//!   [`PoolBuilder`](crate::PoolBuilder) as the blocking [`Pool`](crate::Pool)
//!   and checked the same way.
//! - [`AsyncPool::with_tenant`] (and [`with_tenant`] on a connection you
//!   bring) runs an async closure in a tenant scope; the functions of this
//!   module take the [`AsyncTenantConn`] it hands out, as the blocking ones
//!   take a [`TenantConn`](crate::TenantConn), so calling one without a
//!   tenant does not compile.
//! - The pool's own methods ([`AsyncPool::send_skill_message`] and the
//!   others) each open a scope of their own for one call and send its
//!   `BEGIN`, statement and `COMMIT` together: one network round trip
//!   when the call succeeds, with the same atomicity.
//!
//! Each call runs the same statement and gives the same answers and
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
//! use skill_messages::asynchronous::{AsyncPool, get_unread_count_for_user};
//! use skill_messages::{MessageQuery, Pool};
//!
//! let pool: AsyncPool = Pool::builder().max_size(8).build_async(url).await?;
//! // One call, one round trip:
//! let inbox = pool.get_messages_for_user(tenant, user, MessageQuery::new()).await?;
//! // Several calls in one scope, committed together:
//! let unread = pool
//!     .with_tenant(tenant, async |tx| get_unread_count_for_user(tx, user).await)
//!     .await?;
//! # Ok(()) }
//! ```

mod listener;
mod pipeline;
mod pool;
mod scope;
mod service;

pub use listener::AsyncListener;
pub use pool::AsyncPool;
pub use scope::{AsyncTenantConn, with_tenant, with_tenant_as};
pub use service::{
    get_message_details_for_user, get_messages_for_user, get_sent_messages_for_user,
    get_unread_count_for_user, load_message_details, mark_all_read, mark_message_read,
    send_skill_message, update_message_status, withdraw_message,
};

/// The connection type of the async face, re-exported.
pub use diesel_async::AsyncPgConnection;
