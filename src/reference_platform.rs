//! The reference platform: a small stand-in for the platform's own
//! `tenants`, `users` and `skills`, for standing alone (the quickstart, the
//! tests, `docker compose`). A platform that adopts skill messages has its
//! own tables and runs none of this: see the README, "Adding skill messages
//! to an existing platform".
//!
//! Its one migration, in `reference_platform/migrations/`, makes the three
//! tables with what the crate needs of a platform (keys `(tenant_id, id)`,
//! a user's display name, a skill's name and author) and a little more
//! (emails, slugs, times), lets the runtime role read the contract's
//! columns, and keeps each tenant's rows apart with a policy on the tenant
//! setting that binds every role but the tables' owner. It is recorded as a
//! platform's migrations are, in diesel's `__diesel_schema_migrations`.

use diesel::pg::PgConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use diesel::Connection;

use crate::error::Error;
use crate::migrations::{take_over_1x, with_lock};
use crate::names::Names;

/// The reference platform's migrations, compiled into the crate.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("reference_platform/migrations");

/// Applies the reference platform's migrations that `conn`'s database has
/// not had yet, with `names` (the runtime role it grants, created if
/// missing, and the tenant setting of its policies), and returns their
/// versions. Run it before [`run_migrations`](crate::run_migrations).
///
/// A database of skill-messages 1.x, whose migrations made these tables, is
/// taken over first, as [`run_migrations`](crate::run_migrations) takes it
/// over, so that this migration is not run on the tables it would make.
pub fn run_migrations(conn: &mut PgConnection, names: &Names) -> Result<Vec<String>, Error> {
    with_lock(conn, names, |conn| {
        conn.transaction(take_over_1x)?;
        let applied = conn.run_pending_migrations(MIGRATIONS);
        applied
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(Error::Migration)
    })
}
