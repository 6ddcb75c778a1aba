//! What the examples share: a database created if it is missing,
//! tenants, users and skills provisioned the way a platform would, and
//! errors reported with every cause.
#![allow(dead_code)] // each example uses a part

use std::error::Error as StdError;
use std::fmt;

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid};
use skill_messages::{Names, SkillId, TenantId, UserId, reference_platform, run_migrations};

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

/// Migrates the database at `url` (creating it if it is missing): the
/// reference platform, standing in for a platform's own tables, then the
/// crate; and provisions the examples' two tenants, Acme and Globex.
pub fn migrate_and_provision(url: &str) -> Result<(Provisioned, Provisioned), Box<dyn StdError>> {
    let mut admin = connect_creating_database(url)?;
    let names = Names::default();
    let platform = reference_platform::run_migrations(&mut admin, &names)?;
    let applied = run_migrations(&mut admin, &names)?;
    println!(
        "Migrations: {} of the reference platform and {} of skill messages applied now, \
         schema up to date.",
        platform.len(),
        applied.len()
    );
    // Tenants, users and skills belong to the platform: it provisions them
    // with its own role. Fixed ids make the examples repeatable.
    let acme = provision(
        &mut admin,
        "Acme",
        TenantId::from_uuid(skill_messages::uuid::Uuid::from_u128(
            0x0a11ce00_0000_4000_8000_00000000ac3e,
        )),
        [
            ("ada", "Ada Lovelace", "Analytical Engines"),
            ("grace", "Grace Hopper", "Compilers"),
        ],
    )?;
    let globex = provision(
        &mut admin,
        "Globex",
        TenantId::from_uuid(skill_messages::uuid::Uuid::from_u128(
            0x0b0b0000_0000_4000_8000_0000000910be,
        )),
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

/// Creates (or updates) a tenant, its users and their skills in the
/// reference platform's tables, as the tables' owner, whom their policies
/// do not bind. A platform of its own provisions its own way.
pub fn provision(
    conn: &mut PgConnection,
    name: &'static str,
    id: TenantId,
    people: [(&'static str, &str, &str); 2],
) -> QueryResult<Provisioned> {
    #[derive(QueryableByName)]
    struct Author {
        #[diesel(sql_type = Uuid)]
        user: UserId,
        #[diesel(sql_type = Uuid)]
        skill: SkillId,
    }
    conn.transaction(|conn| {
        let slug = name.to_lowercase();
        diesel::sql_query(
            "INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind::<Uuid, _>(id)
        .bind::<Text, _>(name)
        .bind::<Text, _>(&slug)
        .execute(conn)?;
        let mut authors = Vec::new();
        for (handle, display_name, skill) in people {
            let author: Author = diesel::sql_query(
                "WITH u AS (
                     INSERT INTO users (tenant_id, email, display_name) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, email) DO UPDATE SET display_name = excluded.display_name
                     RETURNING tenant_id, id
                 ), s AS (
                     INSERT INTO skills (tenant_id, author_id, name, slug)
                     SELECT tenant_id, id, $4, $5 FROM u
                     ON CONFLICT (tenant_id, slug) DO UPDATE SET name = excluded.name
                     RETURNING id
                 )
                 SELECT u.id AS user, s.id AS skill FROM u, s",
            )
            .bind::<Uuid, _>(id)
            .bind::<Text, _>(format!("{handle}@{slug}.example"))
            .bind::<Text, _>(display_name)
            .bind::<Text, _>(skill)
            .bind::<Text, _>(skill.to_lowercase().replace(' ', "-"))
            .get_result(conn)?;
            authors.push((author.user, author.skill));
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
