//! Skill messages for a multi-tenant skills platform: one author proposes to
//! another to group a skill under a parent skill ("please group my skill
//! under yours"), and PostgreSQL's row-level security keeps every tenant's
//! messages apart.
//!
//! - The platform owns its tenants, users and skills; the crate owns its
//!   table `skill_messages`, which refers to them. [`run_migrations`] makes
//!   the crate's objects only (the table, its policy, its trigger, the
//!   runtime role's privileges), with a history of its own and the names of
//!   the deployment ([`Names`]: the runtime role, by default
//!   `skill_messages_app`, and the tenant setting, by default
//!   `app.current_tenant_id`). [`reference_platform`] is a small stand-in
//!   for the platform's tables, for standing alone.
//! - [`schema`] (the crate's table), [`platform`] (the platform's, as far as
//!   the crate reads them) and the models ([`SkillMessage`], [`User`],
//!   [`Skill`], [`TenantRow`]) describe them to diesel, with an id type per
//!   table ([`TenantId`], [`UserId`], [`SkillId`], [`SkillMessageId`]) so
//!   that ids cannot be swapped.
//! - A [`TenantConn`] is a transaction in which one tenant is set: the
//!   database itself hides every other tenant's rows.
//!   [`Pool::with_tenant`] (and [`with_tenant`] on a connection you bring,
//!   or [`with_tenant_in_transaction`] inside a transaction of the
//!   platform's own) opens one; nothing else can, so an operation cannot
//!   run without a tenant.
//! - The operations are its methods: [`send`](TenantConn::send),
//!   [`inbox`](TenantConn::inbox), [`outbox`](TenantConn::outbox),
//!   [`unread_count`](TenantConn::unread_count),
//!   [`details`](TenantConn::details), [`mark_read`](TenantConn::mark_read),
//!   [`mark_unread`](TenantConn::mark_unread),
//!   [`mark_all_read`](TenantConn::mark_all_read),
//!   [`answer`](TenantConn::answer) and [`withdraw`](TenantConn::withdraw).
//!   A tenant's handle, [`Pool::tenant`], has the same methods, each in a
//!   scope of its own. Each returns an [`Error`] a caller can `match`: a
//!   refusal ([`Error::is_refusal`]) writes nothing and leaves the scope
//!   usable; only a database failure aborts it.
//! - Jobs that are not a tenant's request run on the admin path,
//!   [`Maintenance`], as the deployment's maintenance role: erasing a user
//!   ([`Erasure`]), forgetting a skill, purging a tenant, the retention sweep.
//! - A send that commits announces a [`NewMessageEvent`] on its tenant's
//!   channel, which a [`Listener`] hears.
//! - With the `async` feature, `skill_messages::asynchronous` is the same
//!   over diesel-async, with the same method names, and operations of one
//!   round trip.
//!
//! The crate re-exports [`diesel`], [`uuid`] and [`chrono`], whose types its
//! API uses. Features, all off by default: `async` (the async face), `serde`
//! (serialization of the models, ids, statuses, pages, cursors, read marks
//! and events) and `tracing` (spans for scopes and operations).
//!
//! ```
//! use skill_messages::{
//!     Answer, Error, MessageQuery, Names, NewSkillMessage, Pool, SkillMessageStatus, TenantId,
//!     reference_platform, run_migrations,
//! };
//! # use skill_messages::diesel::prelude::*;
//! # use skill_messages::{SkillId, UserId};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A database of its own, dropped at the end; DATABASE_URL names the server.
//! # let server = dotenvy::var("DATABASE_URL")
//! #     .unwrap_or_else(|_| "postgres://postgres:postgres@localhost:5432/skill_messages".into());
//! # let param = |p: &str| format!("{server}{}{p}", if server.contains('?') { '&' } else { '?' });
//! # struct Dropped(String, String);
//! # impl Drop for Dropped {
//! #     fn drop(&mut self) {
//! #         let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.1);
//! #         let _ = PgConnection::establish(&self.0).map(|mut c| diesel::sql_query(sql).execute(&mut c));
//! #     }
//! # }
//! # let name = format!("skill_messages_doctest_{}", std::process::id());
//! # let mut server_conn = PgConnection::establish(&param("dbname=postgres"))
//! #     .map_err(|e| format!("the example needs PostgreSQL at {server} (docker compose up -d): {e}"))?;
//! # diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut server_conn)?;
//! # diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut server_conn)?;
//! # let _dropped = Dropped(param("dbname=postgres"), name.clone());
//! # let database_url = param(&format!("dbname={name}"));
//! # let mut admin = PgConnection::establish(&database_url)?;
//! // At deployment, with a role that may create tables: the platform's tables
//! // (here the reference platform's stand-in), then the crate's.
//! let names = Names::default();
//! reference_platform::run_migrations(&mut admin, &names)?;
//! run_migrations(&mut admin, &names)?;
//! # #[derive(QueryableByName)]
//! # struct Ids {
//! #     #[diesel(sql_type = diesel::sql_types::Uuid)] tenant: TenantId,
//! #     #[diesel(sql_type = diesel::sql_types::Uuid)] ada: UserId,
//! #     #[diesel(sql_type = diesel::sql_types::Uuid)] grace: UserId,
//! #     #[diesel(sql_type = diesel::sql_types::Uuid)] engines: SkillId,
//! #     #[diesel(sql_type = diesel::sql_types::Uuid)] compilers: SkillId,
//! # }
//! # let Ids { tenant: tenant_id, ada, grace, engines, compilers } = diesel::sql_query(
//! #     "WITH t AS (INSERT INTO tenants (name, slug) VALUES ('Acme', 'acme') RETURNING id),
//! #      a AS (INSERT INTO users (tenant_id, email, display_name)
//! #            SELECT id, 'ada@acme.example', 'Ada' FROM t RETURNING id, tenant_id),
//! #      g AS (INSERT INTO users (tenant_id, email, display_name)
//! #            SELECT id, 'grace@acme.example', 'Grace' FROM t RETURNING id, tenant_id),
//! #      e AS (INSERT INTO skills (tenant_id, author_id, name, slug)
//! #            SELECT tenant_id, id, 'Analytical Engines', 'engines' FROM a RETURNING id),
//! #      c AS (INSERT INTO skills (tenant_id, author_id, name, slug)
//! #            SELECT tenant_id, id, 'Compilers', 'compilers' FROM g RETURNING id)
//! #      SELECT t.id AS tenant, a.id AS ada, g.id AS grace, e.id AS engines, c.id AS compilers
//! #      FROM t, a, g, e, c",
//! # ).get_result(&mut admin)?;
//!
//! // In the service: a pool, and a tenant scope around every operation.
//! let pool = Pool::new(&database_url)?;
//! let proposal = NewSkillMessage {
//!     from_user_id: ada,
//!     to_user_id: grace,
//!     subject_skill_id: engines,
//!     proposed_parent_skill_id: Some(compilers),
//!     message: "Shall we group Analytical Engines under Compilers?",
//! };
//! let acme = pool.tenant(tenant_id); // one operation, one scope
//! let sent = acme.send(proposal)?;
//! assert_eq!(sent.status, SkillMessageStatus::Pending);
//!
//! // Several operations in one scope commit together; a refusal among them
//! // leaves the scope usable.
//! let accepted = pool.with_tenant(tenant_id, |tx| {
//!     assert_eq!(tx.unread_count(grace)?, 1);
//!     let inbox = tx.inbox(grace, MessageQuery::new())?;
//!     assert_eq!(inbox.items, [sent.clone()]);
//!     let refused = tx.mark_read(sent.id, ada); // Ada is the sender
//!     assert!(matches!(refused, Err(Error::NotRecipient { .. })));
//!     tx.answer(sent.id, grace, Answer::Accept)
//! })?;
//! assert!(accepted.responded_at.is_some());
//!
//! // In any other tenant's scope the message does not exist.
//! let other_tenant = TenantId::from(skill_messages::uuid::Uuid::from_u128(7));
//! let elsewhere = pool.tenant(other_tenant).mark_read(sent.id, grace);
//! assert!(matches!(elsewhere, Err(Error::NotFound(_))));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "async")]
pub mod asynchronous;
mod error;
mod events;
mod ids;
mod maintenance;
mod migrations;
mod models;
mod names;
mod operation;
mod operations;
mod page;
pub mod platform;
mod pool;
pub mod reference_platform;
mod relations;
/// The crate's own table, as `diesel print-schema` generates it from the
/// migrations.
pub mod schema;
mod scope;
mod settings;
mod statement;
mod status;
mod trace;
mod verify;

pub use error::{Error, MessageProblem};
pub use events::{Listener, NewMessageEvent};
pub use ids::{SkillId, SkillMessageId, TenantId, UserId};
pub use maintenance::{DEFAULT_BATCH_SIZE, Erased, Erasure, Forgotten, Maintenance, TOMBSTONE};
pub use migrations::{HISTORY_TABLE, MIGRATIONS, revert_migrations, run_migrations};
pub use models::{Skill, SkillMessage, Tenant as TenantRow, User};
pub use names::{DEFAULT_MAINTENANCE_ROLE, DEFAULT_RUNTIME_ROLE, DEFAULT_TENANT_SETTING, Names};
pub use operations::{
    Answer, MAX_MESSAGE_CHARS, MAX_READ_MARK, NewSkillMessage, ReadMark, SkillMessageDetails,
    UnknownAnswer,
};
pub use page::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MessageQuery, Page};
pub use pool::{Pool, PoolBuilder, PoolState, Tenant};
pub use relations::Related;
pub use scope::{TenantConn, with_tenant, with_tenant_as, with_tenant_in_transaction};
pub use status::{SkillMessageStatus, UnknownStatus};
pub use verify::verify_database;

/// The crates whose types the API exposes, re-exported so that a service
/// uses the same versions without matching them by hand.
pub use {chrono, diesel, uuid};

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
