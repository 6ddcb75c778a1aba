//! pgbench running the crate's transactions from the scripts in
//! `benches/pgbench/`, as the crate's login: the floor the crate is compared
//! with. Each script's statement is checked to be the crate's, as
//! [`statements`](crate::statements) holds it.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::calls::{MESSAGE, Op, STATEMENT_TIMEOUT, app_url};
use crate::common::{self, TestDb};
use crate::cpu::Cpu;
use crate::seed::Items;
use crate::statements::script_statement;

/// The script of `op`.
fn script(op: Op) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/pgbench")
        .join(format!("{}.sql", op.script()))
}

/// Panics unless the statement of each script (the line before its
/// `COMMIT`), as pgbench prepares it, is the crate's.
fn check_scripts() {
    for op in Op::ALL {
        let path = script(op);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let lines: Vec<&str> = text.lines().collect();
        let commit = lines
            .iter()
            .position(|l| l.trim() == "COMMIT;")
            .unwrap_or_else(|| panic!("{} has no COMMIT", path.display()));
        let statement = script_statement(lines[commit - 1]);
        assert!(
            statement == op.statement(),
            "the statement of {} is not the crate's:\n\n{statement}\n\nThe crate's:\n\n{}",
            path.display(),
            op.statement()
        );
    }
}

/// pgbench against one database, with the values the scripts take from the
/// command line: what the crate's scopes set and the values it binds.
pub struct Pgbench {
    url: String,
    variables: Vec<(&'static str, String)>,
}

impl Pgbench {
    pub fn new(db: &TestDb, items: &Items) -> Self {
        check_scripts();
        #[derive(QueryableByName)]
        struct SearchPath {
            #[diesel(sql_type = Text)]
            search_path: String,
        }
        let url = app_url(db);
        // The search path a pool's scopes set: the login's, `pg_temp` last,
        // read as the crate reads it when the pool is built.
        let search_path = diesel::sql_query(
            "SELECT concat_ws(', ', nullif(reset_val, ''), 'pg_temp') AS search_path \
             FROM pg_settings WHERE name = 'search_path'",
        )
        .get_result::<SearchPath>(&mut common::connect(&url))
        .expect("read the login's search path")
        .search_path;
        let variables = vec![
            ("pairs", items.pairs.len().to_string()),
            ("search_path", search_path),
            (
                "statement_timeout",
                STATEMENT_TIMEOUT.as_millis().to_string(),
            ),
            ("message", MESSAGE.to_owned()),
            ("accepted", "accepted".to_owned()),
            ("pending", "pending".to_owned()),
        ];
        Pgbench { url, variables }
    }

    /// pgbench running the same transaction as four statements, as the same
    /// login: transactions per second, and the client's and the rest of the
    /// machine's CPU microseconds per transaction; `None` when pgbench is not
    /// installed.
    pub fn run(
        &self,
        op: Op,
        clients: usize,
        calls: usize,
        base: usize,
    ) -> Option<(f64, f64, f64)> {
        let script = script(op);
        let per_client = calls / clients;
        let mut command = Command::new("pgbench");
        command
            .args(["-n", "-M", "prepared"])
            .args(["-c", &clients.to_string(), "-j", &clients.to_string()])
            .args(["-t", &per_client.to_string()]);
        for (name, value) in &self.variables {
            command.args(["-D", &format!("{name}={value}")]);
        }
        command
            .args(["-D", &format!("base={base}")])
            .args(["-D", &format!("per_client={per_client}")])
            .args(["-D", "i=0", "-f"])
            .arg(&script)
            .arg(&self.url);
        let cpu = Cpu::now();
        let output = command.output();
        let (client_cpu, server_cpu) = cpu.per_call(per_client * clients, true);
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                println!("(pgbench could not run: {error}; install PostgreSQL's client tools)");
                return None;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("number of failed transactions: 0"),
            "pgbench failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tps = stdout
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|tps| tps.parse().ok())?;
        Some((tps, client_cpu, server_cpu))
    }
}
