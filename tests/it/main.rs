//! The integration tests, one binary with a module per area. Every test
//! gets a database of its own (see `common`), so they run in parallel and
//! leave nothing behind; the server is `DATABASE_URL`, by default the one
//! `docker compose up -d` starts.

mod common;

mod adoption;
mod api;
mod events;
mod inbox;
mod isolation;
mod lifecycle;
mod messages;
mod pgbench;
mod plans;
mod relations;
mod reliability;
mod schema;
mod scope;
mod tracing;
mod upgrade;

#[cfg(feature = "async")]
mod async_scope;
#[cfg(feature = "async")]
mod cancellation;
#[cfg(feature = "async")]
mod faces;
#[cfg(all(feature = "async", feature = "serde"))]
mod http_service;
