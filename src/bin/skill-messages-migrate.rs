//! Applies the crate's migrations to the database `DATABASE_URL` names and
//! prints the version of each migration it applied, one a line.
//!
//! For deployments that migrate in a step of their own. Any number of
//! processes may run it at once: each migration is applied once.

use std::process::ExitCode;

use diesel::{Connection, PgConnection};

fn main() -> ExitCode {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skill-messages-migrate: set DATABASE_URL to the database to migrate");
        return ExitCode::from(2);
    };
    let applied = PgConnection::establish(&url)
        .map_err(|e| e.to_string())
        .and_then(|mut conn| skill_messages::run_migrations(&mut conn).map_err(|e| chain(&e)));
    match applied {
        Ok(versions) => {
            versions.iter().for_each(|version| println!("{version}"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("skill-messages-migrate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `error` and each of its causes, joined by `: `: the migration that
/// failed and the server's message, not only "migrations failed".
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
