//! The test harness: every test gets its own PostgreSQL database, cloned from
//! a template that has the migrations applied, and dropped when the test
//! ends. Each test process migrates its template once and creates its own
//! login roles; it drops them when it exits. Tests run in parallel and leave
//! nothing behind; what a process that crashed left is dropped by the next.
//!
//! The server is `DATABASE_URL` (from the environment or a `.env` file),
//! by default the one `docker compose up -d` starts. Its user must be allowed
//! to create databases and roles.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part

use std::process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Text};
use skill_messages::schema::{skills, tenants, users};
use skill_messages::{NewSkillMessage, Pool, SkillId, TenantId, UserId};

/// The server `docker-compose.yml` starts.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/skill_messages";

/// What the names of every database and role the harness creates start
/// with: `<prefix><pid>_`, followed by a number or `template` for
/// databases, by `app` or `dml` for roles.
const PREFIX: &str = "skill_messages_test_";
/// Advisory-lock namespace: key 0 serialises setup, key `pid` is held by
/// each live test process for as long as it runs.
const LOCK_CLASS: i32 = 0x534d;

/// The server shared by every test of this process, and what this process
/// created on it.
struct Server {
    url: String,
    template: String,
    app_login: String,
    dml_login: String,
    admin: Mutex<PgConnection>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(Server::start)
}

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
        let pid = process::id() as i32;
        advisory_lock(&mut admin, 0);
        advisory_lock(&mut admin, pid); // held until this process exits
        sweep_leftovers(&mut admin, pid);
        let own = format!("{PREFIX}{pid}_");
        let server = Server {
            template: format!("{own}template"),
            app_login: format!("{own}app"),
            dml_login: format!("{own}dml"),
            url,
            admin: Mutex::new(admin),
        };
        // Registered before anything is created, so that it all goes.
        // SAFETY: `drop_own_leftovers` is an `extern "C"` function that
        // catches every panic.
        #[allow(unsafe_code)]
        let registered = unsafe { libc::atexit(drop_own_leftovers) };
        assert_eq!(registered, 0, "register the cleanup at exit");
        server.create_logins_and_template();
        let mut admin = server.admin.lock().unwrap();
        advisory_unlock(&mut admin, 0);
        drop(admin);
        server
    }

    fn execute(&self, sql: &str) {
        let mut admin = self
            .admin
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        admin
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Creates the two logins and the template: a database with the
    /// migrations applied and the DML login's grants.
    fn create_logins_and_template(&self) {
        let (app, dml, template) = (&self.app_login, &self.dml_login, &self.template);
        self.execute(&format!(
            "CREATE ROLE {app} LOGIN PASSWORD '{app}';
             CREATE ROLE {dml} LOGIN PASSWORD '{dml}'"
        ));
        self.execute(&format!("CREATE DATABASE \"{template}\""));
        let mut conn = connect(&with_params(&self.url, &[("dbname", template)]));
        skill_messages::run_migrations(&mut conn).expect("migrate the template database");
        conn.batch_execute(&format!(
            "GRANT skill_messages_app TO {app};
             GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, skills, skill_messages \
             TO {dml}"
        ))
        .expect("grant the test logins their roles and privileges");
    }
}

/// Drops what this process created on the server, when it exits.
extern "C" fn drop_own_leftovers() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(server) = SERVER.get() {
            let mut admin = server
                .admin
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            drop_leftovers_of(&mut admin, process::id() as i32);
        }
    });
}

/// A database of one's own, migrated, dropped on `Drop`.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// A database with the migrations applied.
    pub fn new() -> Self {
        Self::from_template(&server().template)
    }

    /// A database with nothing in it.
    pub fn empty() -> Self {
        Self::from_template("template0")
    }

    fn from_template(template: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}_{}",
            process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        server().execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ));
        TestDb { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's own user: a superuser, for seeding and inspection.
    pub fn admin_url(&self) -> String {
        with_params(&server().url, &[("dbname", &self.name)])
    }

    /// The service's login, a member of `skill_messages_app`.
    pub fn app_url(&self) -> String {
        self.login_url(app_login())
    }

    /// A login with all table privileges, bound by nothing but the policies.
    pub fn dml_url(&self) -> String {
        self.login_url(dml_login())
    }

    fn login_url(&self, role: &str) -> String {
        with_params(
            &server().url,
            &[("dbname", &self.name), ("user", role), ("password", role)],
        )
    }

    pub fn admin(&self) -> PgConnection {
        connect(&self.admin_url())
    }

    pub fn app(&self) -> PgConnection {
        connect(&self.app_url())
    }

    pub fn dml(&self) -> PgConnection {
        connect(&self.dml_url())
    }

    /// A pool logging in as [`app_login`].
    pub fn pool(&self) -> Pool {
        self.pool_of(4)
    }

    pub fn pool_of(&self, size: u32) -> Pool {
        Pool::builder()
            .max_size(size)
            .build(&self.app_url())
            .expect("pool for the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        server().execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

pub fn connect(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Drops the databases and roles of test processes that are no longer
/// running (a live process holds the advisory lock of its pid), and any of
/// an earlier process that had this one's pid.
fn sweep_leftovers(admin: &mut PgConnection, own_pid: i32) {
    let mut pids: Vec<i32> = names(admin, "SELECT datname AS name FROM pg_database")
        .into_iter()
        .chain(names(admin, "SELECT rolname AS name FROM pg_roles"))
        .filter_map(|name| name[PREFIX.len()..].split('_').next()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        if pid == own_pid {
            drop_leftovers_of(admin, pid);
        } else if try_advisory_lock(admin, pid) {
            drop_leftovers_of(admin, pid);
            advisory_unlock(admin, pid);
        }
    }
}

/// Drops the databases, then the roles, of test process `pid`; what is still
/// in use stays for a later sweep.
fn drop_leftovers_of(admin: &mut PgConnection, pid: i32) {
    let own = format!("{PREFIX}{pid}_");
    for name in names(admin, "SELECT datname AS name FROM pg_database") {
        if name.starts_with(&own) {
            let _ =
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
    for name in names(admin, "SELECT rolname AS name FROM pg_roles") {
        if name.starts_with(&own) {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""));
        }
    }
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
        .expect("list databases or roles")
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

/// One seeded tenant: three users and three skills.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub tenant: TenantId,
    pub alice: UserId,
    pub bob: UserId,
    pub carol: UserId,
    /// Alice's skill, the usual subject.
    pub skill: SkillId,
    /// Bob's skill, the usual proposed parent.
    pub parent: SkillId,
    /// Carol's skill.
    pub other_skill: SkillId,
}

impl Fixture {
    /// Alice proposes to Bob that her skill go under his.
    pub fn proposal<'a>(&self, text: &'a str) -> NewSkillMessage<'a> {
        NewSkillMessage {
            from_user_id: self.alice,
            to_user_id: self.bob,
            subject_skill_id: self.skill,
            proposed_parent_skill_id: Some(self.parent),
            message: text,
        }
    }
}

/// Creates a tenant with users alice, bob and carol and a skill each;
/// `admin` must bypass row-level security (a superuser).
pub fn seed_tenant(admin: &mut PgConnection, slug: &str) -> Fixture {
    let tenant: TenantId = diesel::insert_into(tenants::table)
        .values((tenants::name.eq(slug), tenants::slug.eq(slug)))
        .returning(tenants::id)
        .get_result(admin)
        .expect("insert a tenant");
    let mut user = |name: &str| -> UserId {
        diesel::insert_into(users::table)
            .values((
                users::tenant_id.eq(tenant),
                users::email.eq(format!("{name}@{slug}.example")),
                users::display_name.eq(name),
            ))
            .returning(users::id)
            .get_result(admin)
            .expect("insert a user")
    };
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut skill = |author: UserId, name: &str| -> SkillId {
        diesel::insert_into(skills::table)
            .values((
                skills::tenant_id.eq(tenant),
                skills::author_id.eq(author),
                skills::name.eq(name),
                skills::slug.eq(name),
            ))
            .returning(skills::id)
            .get_result(admin)
            .expect("insert a skill")
    };
    Fixture {
        tenant,
        alice,
        bob,
        carol,
        skill: skill(alice, "rust"),
        parent: skill(bob, "programming"),
        other_skill: skill(carol, "postgres"),
    }
}
