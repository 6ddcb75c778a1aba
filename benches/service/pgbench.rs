//! pgbench running the crate's transactions from the scripts in
//! `benches/pgbench/`, as the crate's login: the floor the crate is compared
//! with. Each script's statement is checked to be the crate's, as
//! [`statements`](crate::statements) holds it.
//!
//! Two sets of scripts: `benches/pgbench/*.sql` send the transaction one
//! statement a round trip, as prepared statements; those of
//! `benches/pgbench/pipelined/` send it whole in one pipeline, one round
//! trip (the async face's one-call scopes do the same).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::beyond::MAX_ID;
use crate::calls::{MESSAGE, Op, STATEMENT_TIMEOUT, app_url};
use crate::common::{self, TestDb};
use crate::cpu::Cpu;
use crate::seed::Items;
use crate::statements::{NOTIFY_IF_SENT, script_statement};

/// How a script sends its transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sending {
    /// One statement a round trip, each prepared (`-M prepared`).
    Statements,
    /// The whole transaction in one pipeline (`\startpipeline` ...
    /// `\endpipeline`), one round trip, each of its statements prepared
    /// too (`-M prepared`, which pgbench's pipelines take as
    /// `-M extended`); the crate's statement prepared once per connection
    /// by the script's `PREPARE` and run by `EXECUTE`.
    Pipelined,
}

/// The operations with a pipelined script.
pub const PIPELINED: [Op; 5] = Op::ALL;

/// The script of `op`.
fn script(op: Op, sending: Sending) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pgbench");
    let dir = match sending {
        Sending::Statements => dir,
        Sending::Pipelined => dir.join("pipelined"),
    };
    dir.join(format!("{}.sql", op.script()))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Panics unless the statement of each script, as pgbench prepares it, is
/// the crate's: the line before its `COMMIT` in the scripts that send a
/// statement a round trip; in the pipelined ones, the statement of their
/// `PREPARE bench_statement AS` (and, for the send, of `PREPARE
/// bench_notify AS`, the async face's notification).
fn check_scripts() {
    for op in Op::ALL.into_iter().chain(Op::BEYOND) {
        let path = script(op, Sending::Statements);
        let text = read(&path);
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
    for op in PIPELINED {
        let path = script(op, Sending::Pipelined);
        let text = read(&path);
        let prepared = |name: &str| -> Option<String> {
            let prefix = format!("PREPARE {name} AS ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(|s| s.trim_end_matches(';').to_owned())
        };
        let statement = prepared("bench_statement")
            .unwrap_or_else(|| panic!("{} prepares no bench_statement", path.display()));
        assert!(
            statement == op.statement(),
            "the statement of {} is not the crate's:\n\n{statement}\n\nThe crate's:\n\n{}",
            path.display(),
            op.statement()
        );
        if op == Op::Send {
            assert_eq!(
                prepared("bench_notify").as_deref(),
                Some(NOTIFY_IF_SENT),
                "the notification of {} is not the async face's",
                path.display()
            );
        }
        for needed in ["\\startpipeline", "\\endpipeline", "COMMIT;"] {
            assert!(
                text.lines().any(|l| l.trim() == needed),
                "{} has no {needed}",
                path.display()
            );
        }
    }
}

/// pgbench against one database, with the values the scripts take from the
/// command line: what the crate's scopes set and the values it binds.
pub struct Pgbench {
    url: String,
    variables: Vec<(&'static str, String)>,
}

/// What one pgbench run measured.
pub struct PgbenchRun {
    /// Transactions per second, without the connections' setup.
    pub tps: f64,
    /// CPU microseconds per transaction: pgbench's, and the rest of the
    /// machine's.
    pub client_cpu: f64,
    pub server_cpu: f64,
    /// Each transaction, from pgbench's log; empty unless asked.
    #[cfg_attr(not(feature = "async"), allow(dead_code))] // read by the async section
    pub logged: Vec<Logged>,
}

/// A transaction in pgbench's log.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "async"), allow(dead_code))] // read by the async section
pub struct Logged {
    pub client: u32,
    pub number: u64,
    pub latency: Duration,
    /// When it ended, in microseconds since the epoch.
    pub ended_micros: u64,
}

impl PgbenchRun {
    /// Transactions per second and latencies of the logged transactions
    /// after the first `warm` of each client (its connection's first
    /// statements: prepared, and the backend's caches filled), as the
    /// crate's measurements leave out their warm-up calls: each client's
    /// from the start of its first counted transaction to the end of its
    /// last, summed over the clients. `None` without a log.
    #[cfg_attr(not(feature = "async"), allow(dead_code))] // read by the async section
    pub fn steady(&self, warm: usize) -> Option<(f64, Vec<Duration>)> {
        let mut per_second = 0.0;
        let mut latencies = Vec::new();
        let mut clients: Vec<u32> = self.logged.iter().map(|l| l.client).collect();
        clients.sort_unstable();
        clients.dedup();
        for client in clients {
            let mut own: Vec<&Logged> = self.logged.iter().filter(|l| l.client == client).collect();
            own.sort_by_key(|l| l.number);
            own.drain(..own.len().min(warm));
            let (Some(first), Some(last)) = (own.first(), own.last()) else {
                continue;
            };
            let started = first.ended_micros - first.latency.as_micros() as u64;
            let span = (last.ended_micros - started) as f64 / 1e6;
            per_second += own.len() as f64 / span;
            latencies.extend(own.iter().map(|l| l.latency));
        }
        (!latencies.is_empty()).then_some((per_second, latencies))
    }
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
            ("withdrawn", "withdrawn".to_owned()),
            ("max_id", MAX_ID.to_owned()),
            // Whether the pipelined scripts have prepared their statements
            // on the client's connection.
            ("prepared", "0".to_owned()),
        ];
        Pgbench { url, variables }
    }

    /// The URL pgbench connects to.
    #[cfg_attr(not(feature = "async"), allow(dead_code))] // read by the async section
    pub fn url(&self) -> &str {
        &self.url
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
        self.run_on(
            &self.url,
            op,
            Sending::Statements,
            clients,
            calls,
            base,
            false,
        )
        .map(|run| (run.tps, run.client_cpu, run.server_cpu))
    }

    /// pgbench running `op`'s script sent as `sending` says, connected to
    /// `url` (this database's, or a proxy in front of it), `clients`
    /// clients sharing `calls` transactions; consuming operations take the
    /// items from `base` on. With `log`, each transaction's latency from
    /// pgbench's log of transactions. `None` when pgbench is not installed.
    #[allow(clippy::too_many_arguments)]
    pub fn run_on(
        &self,
        url: &str,
        op: Op,
        sending: Sending,
        clients: usize,
        calls: usize,
        base: usize,
        log: bool,
    ) -> Option<PgbenchRun> {
        let script = script(op, sending);
        let per_client = calls / clients;
        let mut command = Command::new("pgbench");
        command
            .args(["-n", "-M", "prepared"])
            .args(["-c", &clients.to_string(), "-j", &clients.to_string()])
            .args(["-t", &per_client.to_string()]);
        for (name, value) in &self.variables {
            command.args(["-D", &format!("{name}={value}")]);
        }
        let logs = log.then(|| {
            let dir = std::env::temp_dir().join(format!(
                "skill-messages-bench-{}-pgbench-log",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a directory for pgbench's logs");
            dir
        });
        if let Some(dir) = &logs {
            command
                .arg("--log")
                .arg(format!("--log-prefix={}", dir.join("tx").display()));
        }
        command
            .args(["-D", &format!("base={base}")])
            .args(["-D", &format!("per_client={per_client}")])
            .args(["-D", "i=0", "-f"])
            .arg(&script)
            .arg(url);
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
        let logged = logs.map(|dir| read_logs(&dir)).unwrap_or_default();
        Some(PgbenchRun {
            tps,
            client_cpu,
            server_cpu,
            logged,
        })
    }
}

/// The transactions of pgbench's logs in `dir` (one file per thread; a
/// line per transaction: client, transaction number, latency in
/// microseconds, script, and the time it ended, in seconds and
/// microseconds), which it then removes.
fn read_logs(dir: &Path) -> Vec<Logged> {
    let mut logged = Vec::new();
    for entry in std::fs::read_dir(dir).expect("pgbench's logs").flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        logged.extend(text.lines().filter_map(|line| {
            let fields: Vec<u64> = line
                .split_whitespace()
                .take(6)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            let [client, number, latency, _, seconds, micros] = fields[..] else {
                return None;
            };
            Some(Logged {
                client: client as u32,
                number,
                latency: Duration::from_micros(latency),
                ended_micros: seconds * 1_000_000 + micros,
            })
        }));
    }
    let _ = std::fs::remove_dir_all(dir);
    logged
}
