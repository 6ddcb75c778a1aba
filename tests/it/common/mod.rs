//! The test harness: every test gets a database of its own (on a Citus
//! cluster, a schema of its own), migrated, and dropped when the test ends.
//! Each test process creates its own login roles and drops them, and all it
//! created, when it exits. Tests run in parallel and leave nothing behind;
//! what a process that crashed left is dropped by the next.
//!
//! The server is `DATABASE_URL` (from the environment or a `.env` file),
//! by default the one `docker compose up -d` starts. Its user must be allowed
//! to create databases and roles. See `server.rs` for Citus and poolers.
#![allow(dead_code, unused_imports, clippy::unwrap_used)] // each test binary uses a part

pub mod catalog;
mod fixture;
pub mod proxy;
pub mod reference;
mod server;

use std::process;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::CacheSize;
use diesel::prelude::*;
use skill_messages::{MessageQuery, Page, Pool, PoolBuilder};

pub use fixture::{Fixture, TOPICS, seed_tenant};
pub use server::{DEFAULT_DATABASE_URL, Layout, connect, database_url, with_params};
use server::{PREFIX, server};

/// This process's login that is a member of `skill_messages_app` and nothing
/// more: what a deployment's service logs in as.
pub fn app_login() -> &'static str {
    &server().app_login
}

/// This process's login with every privilege on the four tables but no
/// ownership, no superuser, no BYPASSRLS: to show that the policies hold by
/// themselves.
pub fn dml_login() -> &'static str {
    &server().dml_login
}

/// This process's login that is a member of `skill_messages_maintenance`
/// and nothing more: what a deployment's maintenance jobs log in as.
pub fn jobs_login() -> &'static str {
    &server().jobs_login
}

/// The server's address, `host:port`, as it reports it.
pub fn server_address() -> String {
    let (host, port): (String, i32) = diesel::select((
        diesel::dsl::sql::<diesel::sql_types::Text>("host(inet_server_addr())"),
        diesel::dsl::sql::<diesel::sql_types::Integer>("inet_server_port()"),
    ))
    .get_result(&mut *server().admin())
    .expect("the server's address: connect over TCP");
    format!("{host}:{port}")
}

/// Whether the tests run on a Citus cluster.
pub fn on_citus() -> bool {
    server().layout == Layout::Schemas
}

/// Whether the logins connect through a pooler in transaction mode.
pub fn through_pooler() -> bool {
    server().pooler.is_some()
}

/// `error` and each of its causes, joined by `: `.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The pages of a list from `query` on, each from `page`, following each
/// page's cursor: at most `max_pages`, so that a cursor that does not move
/// on fails the test instead of hanging it.
pub fn paged<T, E>(
    max_pages: usize,
    mut query: MessageQuery,
    mut page: impl FnMut(MessageQuery) -> Result<Page<T>, E>,
) -> Result<Vec<Page<T>>, E> {
    let mut pages = Vec::new();
    for _ in 0..max_pages {
        let next = page(query)?;
        query = query.after(next.next);
        let last = next.next.is_none();
        pages.push(next);
        if last {
            return Ok(pages);
        }
    }
    panic!("the list went on past {max_pages} pages: does its cursor move on?");
}

/// A database (on Citus, a schema) of one's own, dropped on `Drop`.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// With the migrations applied.
    pub fn new() -> Self {
        Self::create(true)
    }

    /// With nothing in it.
    pub fn empty() -> Self {
        Self::create(false)
    }

    fn create(migrated: bool) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}_{}",
            process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        server().create(&name, migrated);
        TestDb { name }
    }

    /// The name of the database (on Citus, of the schema).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's own user: a superuser, for seeding and inspection.
    pub fn admin_url(&self) -> String {
        server().url(&self.name, None, &[])
    }

    /// The service's login, a member of `skill_messages_app`.
    pub fn app_url(&self) -> String {
        self.app_url_with(&[])
    }

    /// The service's login, its sessions starting with `settings`.
    pub fn app_url_with(&self, settings: &[(&str, &str)]) -> String {
        server().url(&self.name, Some(app_login()), settings)
    }

    /// The service's login, connecting through `addr` (a proxy's) instead
    /// of to the server, without TLS, so that the proxy sees the protocol.
    pub fn app_url_through(&self, addr: std::net::SocketAddr) -> String {
        // In the URL's own address: tokio-postgres would take a `host`
        // parameter for a second host, not instead of the first. The proxy
        // forwards to the server itself, never to a pooler.
        let direct = server().url_direct(&self.name, Some(app_login()), &[]);
        let url = with_params(&direct, &[("sslmode", "disable")]);
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let credentials = authority.rsplit_once('@').map_or("", |(c, _)| c);
        let at = if credentials.is_empty() { "" } else { "@" };
        format!("{scheme}://{credentials}{at}{addr}{path}")
    }

    /// `login` (whose password is its name), its sessions starting with
    /// `settings`.
    pub fn url_as(&self, login: &str, settings: &[(&str, &str)]) -> String {
        server().url(&self.name, Some(login), settings)
    }

    /// A login with all table privileges, bound by nothing but the policies.
    pub fn dml_url(&self) -> String {
        server().url(&self.name, Some(dml_login()), &[])
    }

    /// The crate's search path for this database's logins: their default
    /// search path, `pg_temp` last.
    pub fn crate_search_path(&self) -> String {
        match server().layout {
            Layout::Databases => "\"$user\", public, pg_temp".to_owned(),
            Layout::Schemas => format!("{}, pg_temp", self.name),
        }
    }

    pub fn admin(&self) -> PgConnection {
        connect(&self.admin_url())
    }

    /// Maintenance jobs as [`jobs_login`], with the default names.
    pub fn maintenance(&self) -> skill_messages::Maintenance {
        skill_messages::Maintenance::new(
            login(&server().url(&self.name, Some(jobs_login()), &[])),
            &skill_messages::Names::default(),
        )
        .expect("maintenance as the jobs login")
    }

    pub fn app(&self) -> PgConnection {
        login(&self.app_url())
    }

    pub fn dml(&self) -> PgConnection {
        login(&self.dml_url())
    }

    /// Grants the logins what they need on tables migrated after the
    /// database was created empty.
    pub fn grant_logins(&self) {
        server().grant(&mut self.admin());
    }

    /// A pool logging in as [`app_login`].
    pub fn pool(&self) -> Pool {
        self.pool_of(4)
    }

    pub fn pool_of(&self, size: u32) -> Pool {
        self.pool_builder()
            .max_size(size)
            .build(&self.app_url())
            .expect("pool for the test database")
    }

    /// Pool settings fit for the server: no prepared statements through a
    /// pooler in transaction mode.
    pub fn pool_builder(&self) -> PoolBuilder {
        Pool::builder().transaction_pooling(through_pooler())
    }
}

/// A login's connection: through a pooler in transaction mode, one that
/// prepares no named statements, as the crate's pools do there.
fn login(url: &str) -> PgConnection {
    let mut conn = connect(url);
    if through_pooler() {
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    }
    conn
}

impl Drop for TestDb {
    fn drop(&mut self) {
        server().drop_named(&self.name);
    }
}
