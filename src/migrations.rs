//! The embedded migrations and the function that applies them.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::Error;

/// The migrations of `migrations/`, compiled into the crate.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The advisory lock that serialises migration runs on one database.
const MIGRATION_LOCK: i64 = 0x736b_696c_6c5f_6d73; // "skill_ms"

/// Applies the migrations `conn`'s database has not had yet and returns
/// their versions, oldest first.
///
/// Safe to call from several processes at once: a session advisory lock
/// makes them take turns, so each migration is applied once. Each migration
/// runs in its own transaction. The connection's role must be allowed to
/// create tables and, the first time on a cluster, the role
/// `skill_messages_app`.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect());
    // Unlock even when a migration failed; closing the connection would too.
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn);
    let applied = applied.map_err(Error::Migration)?;
    unlocked?;
    Ok(applied)
}
