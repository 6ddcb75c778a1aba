//! The test harness: every test gets its own PostgreSQL database, cloned from
//! a template that has the migrations applied, and dropped when the test
//! ends. Tests run in parallel and leave nothing behind; databases left by a
//! run that crashed are dropped by the next run.
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
use skill_messages::{NewSkillMessage, Pool};
use uuid::Uuid;

/// The server `docker-compose.yml` starts.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/skill_messages";

/// A login role that is a member of `skill_messages_app` and nothing more:
/// what a deployment's service logs in as.
pub const APP_LOGIN: &str = "skill_messages_test_app";

/// A login role with every privilege on the four tables but no ownership, no
/// superuser, no BYPASSRLS: to show that the policies hold by themselves.
pub const DML_LOGIN: &str = "skill_messages_test_dml";

/// Names of the databases the harness creates: `<prefix><pid>_<n>`.
const TEST_DB_PREFIX: &str = "skill_messages_test_";
const TEMPLATE_PREFIX: &str = "skill_messages_tpl_";
/// Advisory-lock namespace: key 0 serialises setup, key `pid` is held by
/// each live test process for as long as it runs.
const LOCK_CLASS: i32 = 0x534d;
/// Part of the template's name: change it when the setup below changes.
const SETUP_VERSION: &str = "1";

/// The server shared by every test of this process.
struct Server {
    url: String,
    template: String,
    admin: Mutex<PgConnection>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
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
        let template = ensure_template(&url, &mut admin, pid);
        advisory_unlock(&mut admin, 0);
        Server {
            url,
            template,
            admin: Mutex::new(admin),
        }
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
            "{TEST_DB_PREFIX}{}_{}",
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
        self.login_url(APP_LOGIN)
    }

    /// A login with all table privileges, bound by nothing but the policies.
    pub fn dml_url(&self) -> String {
        self.login_url(DML_LOGIN)
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

    /// A pool logging in as [`APP_LOGIN`].
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

/// Runs the migrations on a new database, once per migration set: the
/// template stays for later runs, and templates of other sets are dropped.
fn ensure_template(url: &str, admin: &mut PgConnection, pid: i32) -> String {
    let template = format!("{TEMPLATE_PREFIX}{:016x}", migrations_fingerprint());
    let existing = database_names(admin, TEMPLATE_PREFIX);
    for stale in existing.iter().filter(|name| **name != template) {
        // In use by a run of another checkout: leave it to a later sweep.
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{stale}\""));
    }
    if existing.contains(&template) {
        ensure_login_roles(admin);
        return template;
    }

    // Built under a name the sweep removes if this process dies, then
    // renamed in one step.
    let building = format!("{TEST_DB_PREFIX}{pid}_template");
    for sql in [
        format!("DROP DATABASE IF EXISTS \"{building}\""),
        format!("CREATE DATABASE \"{building}\""),
    ] {
        admin
            .batch_execute(&sql)
            .expect("create the template database");
    }
    {
        let mut conn = connect(&with_params(url, &[("dbname", &building)]));
        skill_messages::run_migrations(&mut conn).expect("migrate the template database");
        ensure_login_roles(admin);
        conn.batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, skills, skill_messages \
             TO {DML_LOGIN}"
        ))
        .expect("grant the DML login its privileges");
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .expect("rename the template database");
    template
}

/// Creates the test logins if absent; roles are shared by the whole server.
fn ensure_login_roles(admin: &mut PgConnection) {
    for role in [APP_LOGIN, DML_LOGIN] {
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN
                   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} LOGIN PASSWORD '{role}';
                   END IF;
                 END $$"
            ))
            .expect("create a test login role");
    }
    admin
        .batch_execute(&format!("GRANT skill_messages_app TO {APP_LOGIN}"))
        .expect("grant the runtime role to the app login");
}

/// Drops the databases of test processes that are no longer running: a
/// live process holds the advisory lock of its pid.
fn sweep_leftovers(admin: &mut PgConnection, own_pid: i32) {
    for name in database_names(admin, TEST_DB_PREFIX) {
        let owner = name[TEST_DB_PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok());
        let Some(pid) = owner.filter(|pid| *pid != own_pid) else {
            continue;
        };
        if try_advisory_lock(admin, pid) {
            let _ =
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            advisory_unlock(admin, pid);
        }
    }
}

fn database_names(admin: &mut PgConnection, prefix: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    diesel::sql_query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind::<Text, _>(prefix)
        .load::<Name>(admin)
        .expect("list databases")
        .into_iter()
        .map(|n| n.datname)
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

/// FNV-1a over the migration files and the setup version.
fn migrations_fingerprint() -> u64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read migrations/")
        .flat_map(|entry| std::fs::read_dir(entry.expect("migration").path()).expect("migration"))
        .map(|entry| entry.expect("migration file").path())
        .collect();
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(SETUP_VERSION.as_bytes());
    for file in files {
        feed(file.to_string_lossy().as_bytes());
        feed(&std::fs::read(&file).expect("read a migration file"));
    }
    hash
}

/// One seeded tenant: three users and three skills.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub tenant: Uuid,
    pub alice: Uuid,
    pub bob: Uuid,
    pub carol: Uuid,
    /// Alice's skill, the usual subject.
    pub skill: Uuid,
    /// Bob's skill, the usual proposed parent.
    pub parent: Uuid,
    /// Carol's skill.
    pub other_skill: Uuid,
}

impl Fixture {
    /// Alice proposes to Bob that her skill go under his.
    pub fn proposal(&self, text: &str) -> NewSkillMessage {
        NewSkillMessage {
            from_user_id: self.alice,
            to_user_id: self.bob,
            subject_skill_id: self.skill,
            proposed_parent_skill_id: Some(self.parent),
            message: text.to_owned(),
        }
    }
}

/// Creates a tenant with users alice, bob and carol and a skill each;
/// `admin` must bypass row-level security (a superuser).
pub fn seed_tenant(admin: &mut PgConnection, slug: &str) -> Fixture {
    let tenant: Uuid = diesel::insert_into(tenants::table)
        .values((tenants::name.eq(slug), tenants::slug.eq(slug)))
        .returning(tenants::id)
        .get_result(admin)
        .expect("insert a tenant");
    let mut user = |name: &str| -> Uuid {
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
    let mut skill = |author: Uuid, name: &str| -> Uuid {
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
