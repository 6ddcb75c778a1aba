//! A retention job, as a platform would run it on a schedule: the sweep
//! deletes, in every tenant, the skill messages answered or withdrawn more
//! than `RETENTION_DAYS` days ago (default 365), `BATCH` per transaction
//! (default 1,000), as the deployment's maintenance role, and prints how many
//! it deleted and how fast.
//!
//! ```sh
//! DATABASE_URL=postgres://jobs@db/platform cargo run --example retention
//! ```
//!
//! The login must be allowed the maintenance role (`GRANT
//! skill_messages_maintenance TO jobs`; a superuser is); the names come from
//! `SKILL_MESSAGES_MAINTENANCE_ROLE` as for `skill-messages-migrate`.
//! `scripts/bench-retention` runs it beside live traffic.

mod support;

use std::num::NonZeroU32;
use std::time::Instant;

use skill_messages::{DEFAULT_BATCH_SIZE, Maintenance, Names};

fn main() -> Result<(), support::Report> {
    let url = support::database_url();
    let days: i64 = std::env::var("RETENTION_DAYS").map_or(Ok(365), |days| days.parse())?;
    let batch = match std::env::var("BATCH") {
        Ok(batch) => batch.parse::<NonZeroU32>()?,
        Err(_) => DEFAULT_BATCH_SIZE,
    };
    let names = match std::env::var("SKILL_MESSAGES_MAINTENANCE_ROLE") {
        Ok(role) => Names::default().with_maintenance_role(&role)?,
        Err(_) => Names::default(),
    };
    let mut jobs = Maintenance::connect(&url, &names)?;
    let cut_off = chrono::Utc::now() - chrono::Duration::days(days);
    let started = Instant::now();
    let deleted = jobs.sweep(cut_off, batch)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "swept {deleted} messages finished before {cut_off} in {seconds:.1} s \
         ({:.0} a second, batches of {batch}), as {} taking {}",
        deleted as f64 / seconds.max(f64::EPSILON),
        jobs.login(),
        names.maintenance_role(),
    );
    Ok(())
}
