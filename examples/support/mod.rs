//! What the examples share: a database created if it is missing,
//! tenants, users and skills provisioned the way a platform would, and
//! errors reported with every cause.
#![allow(dead_code)] // each example uses a part

use std::error::Error as StdError;
use std::fmt;

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::schema::{skills, tenants, users};
use skill_messages::uuid::Uuid;
use skill_messages::{SkillId, TenantId, UserId, run_migrations};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/skill_messages";

/// What an example's `main` fails with: any error, reported with the
/// chain of its causes (`Error: migrations failed: Failed to run ... with:
/// relation "tenants" already exists`), not as a debug dump.
pub struct Report(Box<dyn StdError>);

impl<E: Into<Box<dyn StdError>>> From<E> for Report {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&chain(&*self.0))
    }
}

/// `error` and each of its causes, joined by `: `.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// `DATABASE_URL`, from the environment or a `.env` file, or the server
/// `docker-compose.yml` starts.
pub fn database_url() -> String {
    dotenvy::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into())
}

/// Migrates the database at `url` (creating it if it is missing) and
/// provisions the examples' two tenants, Acme and Globex.
pub fn migrate_and_provision(url: &str) -> Result<(Provisioned, Provisioned), Box<dyn StdError>> {
    let mut admin = connect_creating_database(url)?;
    let applied = run_migrations(&mut admin)?;
    println!(
        "Migrations: {} applied now, schema up to date.",
        applied.len()
    );
    // Tenants, users and skills belong to the platform: it provisions them
    // with its own role. Fixed ids make the examples repeatable.
    let acme = provision(
        &mut admin,
        "Acme",
        TenantId::from_uuid(Uuid::from_u128(0x0a11ce00_0000_4000_8000_00000000ac3e)),
        [
            ("ada", "Ada Lovelace", "Analytical Engines"),
            ("grace", "Grace Hopper", "Compilers"),
        ],
    )?;
    let globex = provision(
        &mut admin,
        "Globex",
        TenantId::from_uuid(Uuid::from_u128(0x0b0b0000_0000_4000_8000_0000000910be)),
        [
            ("hank", "Hank Scorpio", "Volcano Lairs"),
            ("frank", "Frank Grimes", "Nuclear Safety"),
        ],
    )?;
    println!(
        "Tenants: {} and {}, two authors and two skills each.\n",
        acme.name, globex.name
    );
    Ok((acme, globex))
}

/// A tenant with two authors, each with one skill.
pub struct Provisioned {
    pub name: &'static str,
    pub id: TenantId,
    /// The authors' handles, in the order of `authors`.
    pub handles: [&'static str; 2],
    pub authors: [(UserId, SkillId); 2],
}

/// Creates (or updates) a tenant, its users and their skills. Run with the
/// tenant set, so that it works for the tables' owner, whom the forced
/// policies bind, as well as for a superuser.
pub fn provision(
    conn: &mut PgConnection,
    name: &'static str,
    id: TenantId,
    people: [(&'static str, &str, &str); 2],
) -> QueryResult<Provisioned> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT set_config('app.current_tenant_id', $1, true)")
            .bind::<Text, _>(id.to_string())
            .execute(conn)?;
        let slug = name.to_lowercase();
        diesel::insert_into(tenants::table)
            .values((
                tenants::id.eq(id),
                tenants::name.eq(name),
                tenants::slug.eq(&slug),
            ))
            .on_conflict(tenants::id)
            .do_update()
            .set(tenants::name.eq(name))
            .execute(conn)?;
        let mut authors = Vec::new();
        for (handle, display_name, skill) in people {
            let user: UserId = diesel::insert_into(users::table)
                .values((
                    users::tenant_id.eq(id),
                    users::email.eq(format!("{handle}@{slug}.example")),
                    users::display_name.eq(display_name),
                ))
                .on_conflict((users::tenant_id, users::email))
                .do_update()
                .set(users::display_name.eq(display_name))
                .returning(users::id)
                .get_result(conn)?;
            let skill: SkillId = diesel::insert_into(skills::table)
                .values((
                    skills::tenant_id.eq(id),
                    skills::author_id.eq(user),
                    skills::name.eq(skill),
                    skills::slug.eq(skill.to_lowercase().replace(' ', "-")),
                ))
                .on_conflict((skills::tenant_id, skills::slug))
                .do_update()
                .set(skills::name.eq(skill))
                .returning(skills::id)
                .get_result(conn)?;
            authors.push((user, skill));
        }
        Ok(Provisioned {
            name,
            id,
            handles: [people[0].0, people[1].0],
            authors: [authors[0], authors[1]],
        })
    })
}

/// Connects to `url`, first creating its database if the server lacks it.
pub fn connect_creating_database(url: &str) -> Result<PgConnection, Box<dyn StdError>> {
    match PgConnection::establish(url) {
        Err(ConnectionError::BadConnection(message)) if message.contains("does not exist") => {
            let database = url
                .rsplit('/')
                .next()
                .and_then(|tail| tail.split('?').next())
                .filter(|name| !name.is_empty())
                .ok_or("DATABASE_URL names no database")?;
            let separator = if url.contains('?') { '&' } else { '?' };
            let mut server = PgConnection::establish(&format!("{url}{separator}dbname=postgres"))?;
            diesel::sql_query(format!("CREATE DATABASE \"{database}\"")).execute(&mut server)?;
            println!("Created database {database}.");
            Ok(PgConnection::establish(url)?)
        }
        connected => Ok(connected.map_err(|e| format!("cannot connect to {url}: {e}"))?),
    }
}
