//! The server the tests share, and what each test process creates on it.
//!
//! On plain PostgreSQL each test gets a database of its own, cloned from a
//! template the process migrates once. On a Citus cluster (the database
//! `DATABASE_URL` names has the `citus` extension) Citus keeps its metadata
//! per database, so each test gets a schema of its own in that database
//! instead, migrated for it, and its connections name that schema as their
//! search path. With `SKILL_MESSAGES_TEST_POOLER` set to `host:port`, the
//! logins connect through that pooler (in transaction mode) while the
//! harness itself connects directly.

use std::process;
use std::sync::{Mutex, MutexGuard, OnceLock};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Text};

/// The server `docker-compose.yml` starts.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/skill_messages";

/// What the names of every database, schema and role the harness creates
/// start with: `<prefix><pid>_`, followed by a number or `template` for
/// databases and schemas, by `app` or `dml` for roles.
pub const PREFIX: &str = "skill_messages_test_";
/// Advisory-lock namespace: key 0 serialises setup, key `pid` is held by
/// each live test process for as long as it runs.
const LOCK_CLASS: i32 = 0x534d;

/// How tests are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A database per test.
    Databases,
    /// A schema per test, in the one database of a Citus cluster.
    Schemas,
}

/// The server shared by every test of this process, and what this process
/// created on it.
pub struct Server {
    pub url: String,
    pub layout: Layout,
    /// `host:port` of a pooler in transaction mode the logins go through.
    pub pooler: Option<(String, String)>,
    pub template: String,
    pub app_login: String,
    pub dml_login: String,
    pub jobs_login: String,
    admin: Mutex<PgConnection>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server, connected on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(Server::start)
}

/// The URL of the server, from `DATABASE_URL` or the default.
pub fn database_url() -> String {
    dotenvy::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// `url` with libpq connection parameters added; they override the URL's own.
pub fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let is_uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (first, between) = match (is_uri, url.contains('?')) {
        (true, false) => ("?", "&"),
        (true, true) => ("&", "&"),
        (false, _) => (" ", " "),
    };
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{url}{first}{}", params.join(between))
}

pub fn connect(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

impl Server {
    fn start() -> Self {
        let url = database_url();
        let mut admin = PgConnection::establish(&url)
            .or_else(|_| PgConnection::establish(&with_params(&url, &[("dbname", "postgres")])))
            .unwrap_or_else(|error| {
                panic!(
                    "\n\nThe tests need PostgreSQL and could not connect to {url}: {error}\n\
                     Start one with `docker compose up -d`, or set DATABASE_URL (environment or \
                     .env) to a server whose user may create databases and roles.\n\n"
                )
            });
        let citus: bool = diesel::select(diesel::dsl::sql::<Bool>(
            "EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')",
        ))
        .get_result(&mut admin)
        .expect("look for Citus");
        let pooler = dotenvy::var("SKILL_MESSAGES_TEST_POOLER")
            .ok()
            .map(|pooler| {
                let (host, port) = pooler
                    .rsplit_once(':')
                    .expect("SKILL_MESSAGES_TEST_POOLER is host:port");
                (host.to_owned(), port.to_owned())
            });
        let pid = process::id() as i32;
        advisory_lock(&mut admin, 0);
        advisory_lock(&mut admin, pid); // held until this process exits
        let own = format!("{PREFIX}{pid}_");
        let server = Server {
            url,
            layout: if citus {
                Layout::Schemas
            } else {
                Layout::Databases
            },
            pooler,
            template: format!("{own}template"),
            app_login: format!("{own}app"),
            dml_login: format!("{own}dml"),
            jobs_login: format!("{own}jobs"),
            admin: Mutex::new(admin),
        };
        server.sweep_leftovers(pid);
        // Registered before anything is created, so that it all goes.
        // SAFETY: `drop_own_leftovers` is an `extern "C"` function that
        // catches every panic.
        #[allow(unsafe_code)]
        let registered = unsafe { libc::atexit(drop_own_leftovers) };
        assert_eq!(registered, 0, "register the cleanup at exit");
        server.create_logins();
        if server.layout == Layout::Databases {
            server.create_template();
        }
        advisory_unlock(&mut server.admin(), 0);
        server
    }

    /// The harness's own connection, a superuser's.
    pub fn admin(&self) -> MutexGuard<'_, PgConnection> {
        self.admin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn execute(&self, sql: &str) {
        self.admin()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The URL of the database or schema `name`, as the server's user or,
    /// with `login`, as that login (through the pooler, if there is one),
    /// with `settings` as the session's defaults.
    pub fn url(&self, name: &str, login: Option<&str>, settings: &[(&str, &str)]) -> String {
        self.url_via(name, login, settings, self.pooler.as_ref())
    }

    /// [`url`](Self::url), connecting to the server itself, never through
    /// the pooler.
    pub fn url_direct(&self, name: &str, login: Option<&str>, settings: &[(&str, &str)]) -> String {
        self.url_via(name, login, settings, None)
    }

    fn url_via(
        &self,
        name: &str,
        login: Option<&str>,
        settings: &[(&str, &str)],
        pooler: Option<&(String, String)>,
    ) -> String {
        let mut settings = settings.to_vec();
        // The application name tells this database's (or schema's)
        // connections from those of the other tests on the server.
        let mut params = vec![("application_name", name)];
        match self.layout {
            Layout::Databases => params.push(("dbname", name)),
            Layout::Schemas => settings.push(("search_path", name)),
        }
        let options: Vec<String> = settings
            .iter()
            .map(|(setting, value)| format!("-c{setting}%3D{value}"))
            .collect();
        let options = options.join("%20");
        if !options.is_empty() {
            params.push(("options", &options));
        }
        if let Some(login) = login {
            params.extend([("user", login), ("password", login)]);
            if let Some((host, port)) = pooler {
                params.extend([("host", host.as_str()), ("port", port.as_str())]);
            }
        }
        with_params(&self.url, &params)
    }

    /// The logins: `app`, a member of `skill_messages_app` and nothing
    /// more, what a deployment's service logs in as; `dml`, with every
    /// privilege on the tables (granted per database or schema) but neither
    /// owner nor superuser nor `BYPASSRLS`.
    fn create_logins(&self) {
        let (app, dml, jobs) = (&self.app_login, &self.dml_login, &self.jobs_login);
        self.execute(&format!(
            "CREATE ROLE {app} LOGIN PASSWORD '{app}';
             CREATE ROLE {dml} LOGIN PASSWORD '{dml}';
             CREATE ROLE {jobs} LOGIN PASSWORD '{jobs}'"
        ));
    }

    /// The template database: the reference platform's migrations and the
    /// crate's applied, the logins' grants.
    fn create_template(&self) {
        self.execute(&format!("CREATE DATABASE \"{}\"", self.template));
        let mut conn = connect(&self.url(&self.template, None, &[]));
        self.migrate(&mut conn);
    }

    /// Applies the reference platform's migrations and the crate's on
    /// `conn`, and grants the logins what they need there.
    pub fn migrate(&self, conn: &mut PgConnection) {
        let names = skill_messages::Names::default();
        skill_messages::reference_platform::run_migrations(conn, &names)
            .expect("migrate the reference platform");
        skill_messages::run_migrations(conn, &names).expect("migrate");
        self.grant(conn);
    }

    /// Grants the logins their roles and privileges on `conn`'s tables.
    pub fn grant(&self, conn: &mut PgConnection) {
        conn.batch_execute(&format!(
            "GRANT skill_messages_app TO {app};
             GRANT skill_messages_maintenance TO {jobs};
             GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, skills, skill_messages \
             TO {dml}",
            app = self.app_login,
            dml = self.dml_login,
            jobs = self.jobs_login,
        ))
        .expect("grant the test logins their roles and privileges");
    }

    /// Creates the database or schema `name`, empty, or as a copy of the
    /// template when the layout has one.
    pub fn create(&self, name: &str, migrated: bool) {
        match self.layout {
            Layout::Databases => {
                let template = if migrated {
                    &self.template
                } else {
                    "template0"
                };
                self.execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ));
            }
            Layout::Schemas => {
                self.execute(&format!(
                    "CREATE SCHEMA \"{name}\";
                     GRANT USAGE ON SCHEMA \"{name}\" TO skill_messages_app, {}, {}",
                    self.app_login, self.dml_login
                ));
                if migrated {
                    self.migrate(&mut connect(&self.url(name, None, &[])));
                }
            }
        }
    }

    /// Drops the database or schema `name`.
    pub fn drop_named(&self, name: &str) {
        self.execute(&self.drop_sql(name));
    }

    /// Drops the databases, schemas and roles of test processes that are no
    /// longer running (a live process holds the advisory lock of its pid),
    /// and any of an earlier process that had this one's pid.
    fn sweep_leftovers(&self, own_pid: i32) {
        let mut admin = self.admin();
        let mut pids: Vec<i32> = names(&mut admin, self.containers())
            .into_iter()
            .chain(names(&mut admin, ROLES))
            .filter_map(|name| name[PREFIX.len()..].split('_').next()?.parse().ok())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            if pid == own_pid {
                self.drop_leftovers_of(&mut admin, pid);
            } else if try_advisory_lock(&mut admin, pid) {
                self.drop_leftovers_of(&mut admin, pid);
                advisory_unlock(&mut admin, pid);
            }
        }
    }

    /// Drops the databases or schemas, then the roles, of test process
    /// `pid`; what is still in use stays for a later sweep.
    fn drop_leftovers_of(&self, admin: &mut PgConnection, pid: i32) {
        let own = format!("{PREFIX}{pid}_");
        for name in names(admin, self.containers()) {
            if name.starts_with(&own) {
                let _ = admin.batch_execute(&self.drop_sql(&name));
            }
        }
        for name in names(admin, ROLES) {
            if name.starts_with(&own) {
                let _ = admin.batch_execute(&format!(
                    "DROP OWNED BY \"{name}\"; DROP ROLE IF EXISTS \"{name}\""
                ));
            }
        }
    }

    /// The names of the databases, or of the schemas.
    fn containers(&self) -> &'static str {
        match self.layout {
            Layout::Databases => "SELECT datname AS name FROM pg_database",
            Layout::Schemas => "SELECT nspname AS name FROM pg_namespace",
        }
    }

    /// Drops the database or schema `name`.
    fn drop_sql(&self, name: &str) -> String {
        match self.layout {
            Layout::Databases => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            Layout::Schemas => format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
        }
    }
}

/// The names of the roles.
const ROLES: &str = "SELECT rolname AS name FROM pg_roles";

/// Drops what this process created on the server, when it exits.
extern "C" fn drop_own_leftovers() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(server) = SERVER.get() {
            let mut admin = server.admin();
            server.drop_leftovers_of(&mut admin, process::id() as i32);
        }
    });
}

/// The names `query` returns that start with [`PREFIX`].
fn names(admin: &mut PgConnection, query: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    diesel::sql_query(query)
        .load::<Name>(admin)
        .expect("list databases, schemas or roles")
        .into_iter()
        .map(|n| n.name)
        .filter(|name| name.starts_with(PREFIX))
        .collect()
}

fn advisory_lock(admin: &mut PgConnection, key: i32) {
    diesel::sql_query("SELECT pg_advisory_lock($1, $2)")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(key)
        .execute(admin)
        .expect("take an advisory lock");
}

fn try_advisory_lock(admin: &mut PgConnection, key: i32) -> bool {
    diesel::select(diesel::dsl::sql::<Bool>(&format!(
        "pg_try_advisory_lock({LOCK_CLASS}, {key})"
    )))
    .get_result(admin)
    .expect("try an advisory lock")
}

fn advisory_unlock(admin: &mut PgConnection, key: i32) {
    diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(key)
        .execute(admin)
        .expect("release an advisory lock");
}
