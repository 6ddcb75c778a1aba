//! Applies the crate's migrations to the database `DATABASE_URL` names and
//! prints the version of each migration it applied, one a line.
//!
//! ```text
//! skill-messages-migrate                       the crate's migrations
//! skill-messages-migrate --reference-platform  the reference platform's first, then the crate's
//! skill-messages-migrate --revert N            reverts the crate's last N migrations
//! ```
//!
//! The deployment's names come from `SKILL_MESSAGES_RUNTIME_ROLE`,
//! `SKILL_MESSAGES_TENANT_SETTING` and `SKILL_MESSAGES_MAINTENANCE_ROLE`,
//! unset the defaults. For deployments that
//! migrate in a step of their own: any number of processes may run it at
//! once, and each migration is applied once.

use std::process::ExitCode;

use diesel::{Connection, PgConnection};
use skill_messages::{Error, Names, reference_platform, revert_migrations, run_migrations};

const USAGE: &str = "usage: skill-messages-migrate [--reference-platform | --revert N]";

/// What to do.
enum Task {
    Migrate { reference_platform: bool },
    Revert(usize),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Task::Migrate {
            reference_platform: false,
        },
        ["--reference-platform"] => Task::Migrate {
            reference_platform: true,
        },
        ["--revert", steps] => match steps.parse() {
            Ok(steps) => Task::Revert(steps),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skill-messages-migrate: set DATABASE_URL to the database to migrate");
        return ExitCode::from(2);
    };
    match run(&url, task) {
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

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// Does `task` on the database `url`, and returns the versions it applied
/// or reverted, or the error with its causes.
fn run(url: &str, task: Task) -> Result<Vec<String>, String> {
    let names = names().map_err(|e| chain(&e))?;
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    let versions = match task {
        Task::Migrate { reference_platform } => {
            let mut versions = Vec::new();
            if reference_platform {
                versions =
                    reference_platform::run_migrations(&mut conn, &names).map_err(|e| chain(&e))?;
            }
            versions.extend(run_migrations(&mut conn, &names).map_err(|e| chain(&e))?);
            versions
        }
        Task::Revert(steps) => {
            revert_migrations(&mut conn, &names, steps).map_err(|e| chain(&e))?
        }
    };
    Ok(versions)
}

/// The names from the environment, or the defaults.
fn names() -> Result<Names, Error> {
    let defaults = Names::default();
    let role = std::env::var("SKILL_MESSAGES_RUNTIME_ROLE")
        .unwrap_or_else(|_| defaults.runtime_role().to_owned());
    let setting = std::env::var("SKILL_MESSAGES_TENANT_SETTING")
        .unwrap_or_else(|_| defaults.tenant_setting().to_owned());
    let maintenance = std::env::var("SKILL_MESSAGES_MAINTENANCE_ROLE")
        .unwrap_or_else(|_| defaults.maintenance_role().to_owned());
    Names::new(&role, &setting)?.with_maintenance_role(&maintenance)
}

/// `error` and each of its causes, joined by `: `: the migration that
/// failed and the server's message, not only "migrations failed".
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
