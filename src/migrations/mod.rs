//! The crate's embedded migrations, applied and reverted with a history of
//! their own, apart from the platform's.

use diesel::connection::SimpleConnection;
use diesel::migration::{Migration, MigrationSource};
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

use crate::error::Error;
use crate::names::Names;
use crate::verify::platform_structure;

/// The migrations of `migrations/`, compiled into the crate: the crate's
/// own objects only (the table `skill_messages`, its status type, indexes,
/// policy and trigger, and the runtime role's privileges on it).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The table in which a database records which of the crate's migrations
/// it has: the crate's own, so that the platform's migration tooling (its
/// `__diesel_schema_migrations`, say) never sees them.
pub const HISTORY_TABLE: &str = "skill_messages_schema_migrations";

/// The advisory lock that serialises migration runs on one database.
const MIGRATION_LOCK: i64 = 0x736b_696c_6c5f_6d73; // "skill_ms"

/// The versions skill-messages 1.0 recorded in `__diesel_schema_migrations`;
/// 1.1 added [`ONE_ONE`].
const ONE_ZERO: [&str; 5] = [
    "20261123000001",
    "20261123000002",
    "20261123000003",
    "20261127000004",
    "20261127000005",
];
const ONE_ONE: &str = "20261207000006";

/// What 1.x's migrations made under 2.0's versions: 1.0 the table and its
/// policy, 1.1 the status order too.
const MADE_BY_ONE_ZERO: [&str; 2] = ["20261208000001", "20261208000002"];
const MADE_BY_ONE_ONE: &str = "20261208000003";

/// The reference platform's migration that makes the tables 1.x made.
const REFERENCE_PLATFORM_VERSION: &str = "20261208000000";

/// Applies the crate's migrations that `conn`'s database has not had yet,
/// with `names` (the runtime role and the tenant setting), and returns their
/// versions, oldest first.
///
/// The platform's tables must be there first, with what the crate needs of
/// them (README, "Adding skill messages to an existing platform"): when they
/// are not, this fails with [`Error::PlatformContract`] naming what is
/// missing, before anything is written. The migrations record what they
/// applied in [`HISTORY_TABLE`], never in the platform's history, and make
/// the runtime role if it does not exist (which needs `CREATEROLE`; where
/// the migrating user lacks it, a DBA creates the role first).
///
/// A database of skill-messages 1.0 or 1.1 is taken over as it is, without
/// moving a row: its history of the crate moves out of
/// `__diesel_schema_migrations` into the crate's own, and its tables
/// `tenants`, `users` and `skills` become the reference platform's
/// ([`reference_platform`](crate::reference_platform)), recorded under that
/// migration's version in `__diesel_schema_migrations`, their policies no
/// longer binding their owner. See CHANGELOG.md.
///
/// Safe to call from several processes at once: a session advisory lock
/// makes them take turns, so each migration is applied once. Each migration
/// runs in its own transaction.
pub fn run_migrations(conn: &mut PgConnection, names: &Names) -> Result<Vec<String>, Error> {
    with_lock(conn, names, |conn| {
        if !history_exists(conn)? {
            let problems = platform_structure(conn)?;
            if !problems.is_empty() {
                return Err(Error::PlatformContract(problems));
            }
        }
        conn.transaction(|conn| {
            create_history(conn)?;
            take_over_1x(conn)
        })?;
        let applied = applied(conn)?;
        let mut run = Vec::new();
        for migration in migrations()? {
            let version = migration.name().version().to_string();
            if applied.contains(&version) {
                continue;
            }
            let name = migration.name().to_string();
            conn.transaction(|conn| {
                migration
                    .run(conn)
                    .map_err(|source| failed(&name, source))?;
                record(conn, &version)
            })?;
            run.push(version);
        }
        Ok(run)
    })
}

/// Reverts the last `steps` of the crate's migrations that the database
/// has, newest first, with `names`, and returns their versions. Each
/// migration's `down.sql` removes only what its `up.sql` made: the
/// platform's tables and rows stay as they are, and so does the runtime
/// role, which belongs to the cluster. Reverting every step drops
/// [`HISTORY_TABLE`] too, leaving the database as it was before the
/// crate's first migration.
pub fn revert_migrations(
    conn: &mut PgConnection,
    names: &Names,
    steps: usize,
) -> Result<Vec<String>, Error> {
    with_lock(conn, names, |conn| {
        if !history_exists(conn)? {
            return Ok(Vec::new());
        }
        let applied = applied(conn)?;
        let mut reverted = Vec::new();
        for migration in migrations()?.iter().rev() {
            if reverted.len() == steps {
                break;
            }
            let version = migration.name().version().to_string();
            if !applied.contains(&version) {
                continue;
            }
            let name = migration.name().to_string();
            conn.transaction(|conn| {
                migration
                    .revert(conn)
                    .map_err(|source| failed(&name, source))?;
                diesel::sql_query(format!("DELETE FROM {HISTORY_TABLE} WHERE version = $1"))
                    .bind::<Text, _>(&version)
                    .execute(conn)
                    .map_err(Error::from)
            })?;
            reverted.push(version);
        }
        if reverted.len() == applied.len() {
            conn.batch_execute(&format!("DROP TABLE {HISTORY_TABLE}"))?;
        }
        Ok(reverted)
    })
}

/// Runs `f` under the migration lock, with `names` set for the session,
/// where the migrations' SQL reads them.
pub(crate) fn with_lock<T>(
    conn: &mut PgConnection,
    names: &Names,
    f: impl FnOnce(&mut PgConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)?;
    let outcome = set_names(conn, names).and_then(|()| f(conn));
    // Unlock and forget the names even when a migration failed; closing the
    // connection would too.
    let reset = conn
        .batch_execute(
            "RESET skill_messages.runtime_role; RESET skill_messages.tenant_setting; \
             RESET skill_messages.maintenance_role",
        )
        .and_then(|()| {
            diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK)
                .execute(conn)
        });
    let value = outcome?;
    reset?;
    Ok(value)
}

/// Sets `names` for the session, where the migrations' SQL reads them.
fn set_names(conn: &mut PgConnection, names: &Names) -> Result<(), Error> {
    diesel::sql_query(
        "SELECT set_config('skill_messages.runtime_role', $1, false), \
                set_config('skill_messages.tenant_setting', $2, false), \
                set_config('skill_messages.maintenance_role', $3, false)",
    )
    .bind::<Text, _>(names.runtime_role())
    .bind::<Text, _>(names.tenant_setting())
    .bind::<Text, _>(names.maintenance_role())
    .execute(conn)?;
    Ok(())
}

/// Whether the database has the crate's history.
fn history_exists(conn: &mut PgConnection) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::sql::<Bool>(&format!(
        "to_regclass('{HISTORY_TABLE}') IS NOT NULL"
    )))
    .get_result(conn)?)
}

/// Makes the crate's history table, unless it exists.
fn create_history(conn: &mut PgConnection) -> Result<(), Error> {
    conn.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
             version varchar(50) PRIMARY KEY,
             run_on timestamp NOT NULL DEFAULT current_timestamp
         );
         COMMENT ON TABLE {HISTORY_TABLE} IS
             'The migrations of skill-messages this database has had (its own history, \
              apart from the platform''s).'"
    ))?;
    Ok(())
}

/// Moves a 1.x database's history of the crate (1.0's five migrations or
/// 1.1's six, in `__diesel_schema_migrations`) into the crate's own: the
/// 2.0 migrations that make what those made are recorded as applied,
/// `tenants`, `users` and `skills` become the reference platform's, and
/// 1.x's versions leave `__diesel_schema_migrations`. A database with only
/// some of 1.0's migrations is refused. Nothing happens to a database
/// without 1.x's history. Run in a transaction.
pub(crate) fn take_over_1x(conn: &mut PgConnection) -> Result<(), Error> {
    let diesel_history: bool = diesel::select(diesel::dsl::sql::<Bool>(
        "to_regclass('__diesel_schema_migrations') IS NOT NULL",
    ))
    .get_result(conn)?;
    if !diesel_history {
        return Ok(());
    }
    let one_x: Vec<&str> = ONE_ZERO.iter().copied().chain([ONE_ONE]).collect();
    let found: Vec<String> = diesel::sql_query(
        "SELECT version::text AS version FROM __diesel_schema_migrations \
         WHERE version = ANY($1) ORDER BY version",
    )
    .bind::<Array<Text>, _>(&one_x)
    .load::<Version>(conn)?
    .into_iter()
    .map(|v| v.version)
    .collect();
    let has_1_1 = found.iter().any(|version| version == ONE_ONE);
    let has_1_0 = ONE_ZERO
        .iter()
        .all(|version| found.iter().any(|f| f == version));
    if found.is_empty() {
        return Ok(());
    }
    if !has_1_0 {
        return Err(Error::Migration(
            format!(
                "the database has only some of skill-messages 1.0's migrations ({}): run 1.1's \
                 migrations to the end first",
                found.join(", ")
            )
            .into(),
        ));
    }
    let made: Vec<&str> = MADE_BY_ONE_ZERO
        .iter()
        .copied()
        .chain(has_1_1.then_some(MADE_BY_ONE_ONE))
        .collect();
    create_history(conn)?;
    for version in made {
        record(conn, version)?;
    }
    conn.batch_execute(include_str!("take_over_1x.sql"))?;
    diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = ANY($1)")
        .bind::<Array<Text>, _>(&one_x)
        .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(REFERENCE_PLATFORM_VERSION)
    .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// The versions the crate's history holds.
fn applied(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    Ok(diesel::sql_query(format!(
        "SELECT version FROM {HISTORY_TABLE} ORDER BY version"
    ))
    .load::<Version>(conn)?
    .into_iter()
    .map(|v| v.version)
    .collect())
}

/// Records `version` as applied, unless it is.
fn record(conn: &mut PgConnection, version: &str) -> Result<(), Error> {
    diesel::sql_query(format!(
        "INSERT INTO {HISTORY_TABLE} (version) VALUES ($1) ON CONFLICT DO NOTHING"
    ))
    .bind::<Text, _>(version)
    .execute(conn)?;
    Ok(())
}

/// The crate's migrations, oldest first.
fn migrations() -> Result<Vec<Box<dyn Migration<Pg>>>, Error> {
    let mut migrations =
        MigrationSource::<Pg>::migrations(&MIGRATIONS).map_err(Error::Migration)?;
    migrations.sort_by_key(|m| m.name().version().to_string());
    Ok(migrations)
}

/// The error of migration `name`, which failed with `source`.
fn failed(name: &str, source: Box<dyn std::error::Error + Send + Sync>) -> Error {
    Error::Migration(format!("migration {name} failed: {source}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_taken_over_are_2_0s_first_migrations_and_the_reference_platforms() {
        let versions: Vec<String> = migrations()
            .expect("the embedded migrations")
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        let made: Vec<&str> = MADE_BY_ONE_ZERO
            .iter()
            .copied()
            .chain([MADE_BY_ONE_ONE])
            .collect();
        assert_eq!(versions[..made.len()], made, "2.0's migrations come first");
        let reference: Vec<String> =
            MigrationSource::<Pg>::migrations(&crate::reference_platform::MIGRATIONS)
                .expect("the reference platform's migrations")
                .iter()
                .map(|m| m.name().version().to_string())
                .collect();
        assert_eq!(reference, [REFERENCE_PLATFORM_VERSION]);
    }
}
