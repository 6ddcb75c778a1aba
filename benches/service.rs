//! What the crate costs, against a real PostgreSQL: the five service calls
//! on 1 and 4 connections beside pgbench running the same transactions, round
//! trips counted on the wire, the overhead of row-level security, plans and
//! latency at 200,000 and at 1,000,000 messages, deep pages and memory.
//!
//! ```sh
//! cargo bench --bench service                  # 200,000 messages
//! cargo bench --bench service -- --size large  # 1,000,000 messages
//! ```
//!
//! `--calls N` sets the calls per measurement (default 1000); `--only` takes
//! a comma-separated list of throughput, round-trips, rls, scale, deep-pages;
//! `--ops` one of list, count, send, mark_read, respond.
//!
//! It seeds a database of its own on the server `DATABASE_URL` names (the
//! test harness's), prints a report, and drops the database. BENCHMARKS.md
//! records the figures.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{TestDb, with_params};
use diesel::connection::SimpleConnection;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::schema::{skill_messages as messages, users};
use skill_messages::{
    APP_ROLE, Error, InboxQuery, NewSkillMessage, Pool, SkillMessage, SkillMessageStatus,
    get_messages_for_user, get_unread_count_for_user, mark_message_read, send_skill_message,
    update_message_status,
};
use uuid::Uuid;

struct Size {
    name: &'static str,
    tenants: usize,
    users: usize,
    skills: usize,
    messages: usize,
}

const DEFAULT: Size = Size {
    name: "default",
    tenants: 100,
    users: 50,
    skills: 100,
    messages: 200_000,
};

const LARGE: Size = Size {
    name: "large",
    tenants: 1_000,
    users: 50,
    skills: 100,
    messages: 1_000_000,
};

/// Messages received by the one user of the deep-paging test.
const HEAVY_INBOX: usize = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let size = match value("--size").as_deref() {
        Some("large") => LARGE,
        Some("default") | None => DEFAULT,
        Some(other) => panic!("--size takes default or large, not {other}"),
    };
    let calls: usize = value("--calls").map_or(1_000, |c| c.parse().expect("--calls N"));
    let only = value("--only");
    let wanted = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };

    let db = TestDb::new();
    let mut admin = db.admin();
    let started = Instant::now();
    seed(&mut admin, &size);
    let items = Items::load(&mut admin);
    println!("# skill-messages benchmark, size {}", size.name);
    println!();
    println!(
        "Seeded {} tenants x {} users x {} skills, {} messages (30% unread, 70% pending, over \
         90 days), and one more user with {HEAVY_INBOX} received messages, in {:.0} s.",
        size.tenants,
        size.users,
        size.skills,
        size.messages,
        started.elapsed().as_secs_f64()
    );
    println!("{}", server_facts(&mut admin));

    let ops: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|op| value("--ops").is_none_or(|o| o.split(',').any(|n| n == op.script())))
        .collect();
    if wanted("throughput") {
        throughput(&db, &items, calls, &ops);
    }
    if wanted("round-trips") {
        round_trips(&db, &items);
    }
    if wanted("rls") {
        rls_overhead(&db, &mut admin, &items);
    }
    if wanted("scale") {
        scale(&db, &items, &size);
    }
    if wanted("deep-pages") {
        deep_pages(&db, &mut admin);
    }
    println!(
        "\nPeak resident memory of the benchmark process: {} MiB.",
        memory_kib("VmHWM") / 1024
    );
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// Fills the database with server-side SQL. Foreign-key triggers are off
/// while it runs (the data is consistent by construction); the superuser
/// is not bound by the policies.
fn seed(admin: &mut PgConnection, size: &Size) {
    let per_tenant = size.messages / size.tenants;
    let sql = format!(
        "SET session_replication_role = replica;
         SELECT setseed(0.42);
         INSERT INTO tenants (name, slug)
           SELECT 'Tenant ' || t, 'tenant-' || t FROM generate_series(1, {tenants}) t;
         INSERT INTO users (tenant_id, email, display_name)
           SELECT t.id, 'user' || u || '@' || t.slug || '.example', 'User ' || u
           FROM tenants t, generate_series(1, {users}) u;
         CREATE TEMP TABLE tu AS
           SELECT tenant_id, array_agg(id ORDER BY id) AS ids FROM users GROUP BY tenant_id;
         INSERT INTO skills (tenant_id, author_id, name, slug)
           SELECT tu.tenant_id, tu.ids[1 + (s - 1) % {users}], 'Skill ' || s, 'skill-' || s
           FROM tu, generate_series(1, {skills}) s;
         CREATE TEMP TABLE ts AS
           SELECT tenant_id, array_agg(id ORDER BY id) AS ids FROM skills GROUP BY tenant_id;
         INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                     proposed_parent_skill_id, message, status, read_at,
                                     responded_at, created_at)
           SELECT tenant_id, us[f], us[1 + (f - 1 + o) % {users}], ss[s],
                  CASE WHEN rp < 0.8 THEN ss[1 + (s - 1 + p) % {skills}] END,
                  'Would you group skill ' || s || ' under yours? #' || g,
                  (CASE WHEN rs < 0.70 THEN 'pending' WHEN rs < 0.85 THEN 'accepted'
                        ELSE 'declined' END)::skill_message_status,
                  CASE WHEN rs >= 0.30 THEN created + (now() - created) * rr END,
                  CASE WHEN rs >= 0.70 THEN created + (now() - created) * rr END,
                  created
           FROM (SELECT tu.tenant_id, tu.ids AS us, ts.ids AS ss, g,
                        1 + floor(random() * {users})::int AS f,
                        1 + floor(random() * ({users} - 1))::int AS o,
                        1 + floor(random() * {skills})::int AS s,
                        1 + floor(random() * ({skills} - 1))::int AS p,
                        random() AS rp, random() AS rs, random() AS rr,
                        now() - random() * interval '90 days' AS created
                 FROM tu JOIN ts USING (tenant_id), generate_series(1, {per_tenant}) g) m;
         -- Work items: the same for the crate and for pgbench.
         CREATE TABLE bench_pairs AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tu.tenant_id,
                  tu.ids[i] AS user_id, tu.ids[1 + i % {users}] AS other_user_id,
                  ts.ids[i] AS skill_id, ts.ids[1 + i % {skills}] AS other_skill_id
           FROM tu JOIN ts USING (tenant_id), generate_series(1, {users}) i;
         CREATE TABLE bench_unread AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tenant_id,
                  id AS message_id, to_user_id
           FROM skill_messages WHERE read_at IS NULL;
         CREATE TABLE bench_pending AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tenant_id,
                  id AS message_id, to_user_id
           FROM skill_messages WHERE status = 'pending' AND read_at IS NOT NULL;
         ALTER TABLE bench_pairs ADD PRIMARY KEY (n);
         ALTER TABLE bench_unread ADD PRIMARY KEY (n);
         ALTER TABLE bench_pending ADD PRIMARY KEY (n);
         GRANT SELECT ON bench_pairs, bench_unread, bench_pending TO skill_messages_app;
         -- One user who received {HEAVY_INBOX} messages, for deep pages.
         INSERT INTO tenants (name, slug) VALUES ('Heavy', 'heavy');
         INSERT INTO users (tenant_id, email, display_name)
           SELECT id, u || '@heavy.example', u FROM tenants, unnest(ARRAY['reader', 'writer']) u
           WHERE slug = 'heavy';
         INSERT INTO skills (tenant_id, author_id, name, slug)
           SELECT tenant_id, id, 'Skill of ' || display_name, 'skill-' || display_name
           FROM users WHERE email LIKE '%@heavy.example';
         INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                     message, created_at)
           SELECT w.tenant_id, w.id, r.id, s.id, 'Deep message #' || g,
                  now() - g * interval '1 minute'
           FROM users w, users r, skills s, generate_series(1, {HEAVY_INBOX}) g
           WHERE w.email = 'writer@heavy.example' AND r.email = 'reader@heavy.example'
             AND s.author_id = w.id;
         SET session_replication_role = DEFAULT;
         {TIMING_FUNCTIONS}",
        tenants = size.tenants,
        users = size.users,
        skills = size.skills,
    );
    admin.batch_execute(&sql).expect("seed the database");
    // Start from settled tables and an empty write-ahead log backlog.
    for sql in ["VACUUM ANALYZE", "CHECKPOINT"] {
        admin
            .batch_execute(sql)
            .expect("vacuum, analyze and checkpoint");
    }
}

/// A sender, a recipient and two skills of one tenant.
#[derive(QueryableByName, Clone, Copy)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    other_user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    skill_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    other_skill_id: Uuid,
}

/// A message and its recipient.
#[derive(QueryableByName, Clone, Copy)]
struct Target {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    message_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    to_user_id: Uuid,
}

/// The work items, in the order of their `n`.
struct Items {
    pairs: Vec<Pair>,
    unread: Vec<Target>,
    pending: Vec<Target>,
}

impl Items {
    fn load(admin: &mut PgConnection) -> Self {
        let pairs = diesel::sql_query("SELECT * FROM bench_pairs ORDER BY n")
            .load(admin)
            .expect("load the pairs");
        let targets = |table: &str, admin: &mut PgConnection| {
            diesel::sql_query(format!("SELECT * FROM {table} ORDER BY n"))
                .load::<Target>(admin)
                .expect("load the targets")
        };
        Items {
            pairs,
            unread: targets("bench_unread", admin),
            pending: targets("bench_pending", admin),
        }
    }
}

fn server_facts(admin: &mut PgConnection) -> String {
    #[derive(QueryableByName)]
    struct Fact {
        #[diesel(sql_type = Text)]
        fact: String,
    }
    let facts: Vec<Fact> = diesel::sql_query(
        "SELECT version() AS fact
         UNION ALL SELECT format('%s = %s', name, setting) FROM pg_settings
         WHERE name IN ('shared_buffers', 'work_mem', 'max_connections', 'fsync',
                        'synchronous_commit', 'random_page_cost', 'effective_cache_size')",
    )
    .load(admin)
    .expect("read the server's settings");
    let facts: Vec<String> = facts.into_iter().map(|f| f.fact).collect();
    format!("Server: {}.", facts.join("; "))
}

// ---------------------------------------------------------------------------
// Throughput and latency, beside pgbench
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Op {
    List,
    Count,
    Send,
    MarkRead,
    Respond,
}

impl Op {
    const ALL: [Op; 5] = [Op::List, Op::Count, Op::Send, Op::MarkRead, Op::Respond];

    fn name(self) -> &'static str {
        match self {
            Op::List => "get_messages_for_user",
            Op::Count => "get_unread_count_for_user",
            Op::Send => "send_skill_message",
            Op::MarkRead => "mark_message_read",
            Op::Respond => "update_message_status",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Count => "count",
            Op::Send => "send",
            Op::MarkRead => "mark_read",
            Op::Respond => "respond",
        }
    }

    /// Calls the crate once: `n` picks the work item.
    fn call(self, pool: &Pool, items: &Items, n: usize) -> Result<(), Error> {
        let pair = items.pairs[n % items.pairs.len()];
        match self {
            Op::List => pool
                .with_tenant(pair.tenant_id, |tx| {
                    get_messages_for_user(tx, pair.user_id, InboxQuery::default())
                })
                .map(drop),
            Op::Count => pool
                .with_tenant(pair.tenant_id, |tx| {
                    get_unread_count_for_user(tx, pair.user_id)
                })
                .map(drop),
            Op::Send => pool
                .with_tenant(pair.tenant_id, |tx| {
                    send_skill_message(
                        tx,
                        NewSkillMessage {
                            from_user_id: pair.user_id,
                            to_user_id: pair.other_user_id,
                            subject_skill_id: pair.skill_id,
                            proposed_parent_skill_id: Some(pair.other_skill_id),
                            message: "Would you group this skill under yours?".into(),
                        },
                    )
                })
                .map(drop),
            Op::MarkRead => {
                let t = items.unread[n];
                pool.with_tenant(t.tenant_id, |tx| {
                    mark_message_read(tx, t.message_id, t.to_user_id)
                })
                .map(drop)
            }
            Op::Respond => {
                let t = items.pending[n];
                pool.with_tenant(t.tenant_id, |tx| {
                    update_message_status(
                        tx,
                        t.message_id,
                        t.to_user_id,
                        SkillMessageStatus::Accepted,
                    )
                })
                .map(drop)
            }
        }
    }

    /// Work items that must not repeat (a message read or answered once).
    fn consumes_items(self) -> bool {
        matches!(self, Op::MarkRead | Op::Respond)
    }
}

/// The service's login, without TLS: as the crate's pools and pgbench both
/// connect here (PostgreSQL's Docker image has no TLS either).
fn app_url(db: &TestDb) -> String {
    with_params(&db.app_url(), &[("sslmode", "disable")])
}

fn pool(db: &TestDb, size: usize) -> Pool {
    Pool::builder()
        .max_size(size as u32)
        .build(&app_url(db))
        .expect("a pool for the benchmark")
}

/// CPU time, in microseconds, from Linux's /proc (in units of 10 ms): the
/// whole machine's, and this process's own and its waited-for children's.
#[derive(Clone, Copy)]
struct Cpu {
    machine: f64,
    own: f64,
    children: f64,
}

impl Cpu {
    fn now() -> Self {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // After the command name in parentheses: utime, stime, cutime and
        // cstime are the 12th to 15th fields.
        let fields: Vec<f64> = own
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0.0) * 10_000.0;
        Cpu {
            machine: machine_cpu(),
            own: field(11) + field(12),
            children: field(13) + field(14),
        }
    }

    /// (client, server and the rest) used since `self`, per call: the client
    /// is this process for the crate, its children for pgbench.
    fn per_call(self, calls: usize, client_is_child: bool) -> (f64, f64) {
        let now = Cpu::now();
        let client = if client_is_child {
            now.children - self.children
        } else {
            now.own - self.own
        };
        let machine = now.machine - self.machine;
        (client / calls as f64, (machine - client) / calls as f64)
    }
}

/// CPU time the whole machine has spent, client and server, in
/// microseconds: /proc/stat (Linux), in units of 10 ms.
fn machine_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        // user, nice, system, idle, iowait, irq, softirq: all but idle and iowait.
        .take(7)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    ticks as f64 * 10_000.0
}

struct Measured {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    /// CPU microseconds per call: the client's, and the rest of the
    /// machine's (the server, chiefly).
    client_cpu: f64,
    server_cpu: f64,
}

/// `calls` calls over `connections` threads sharing a pool of as many
/// connections; consuming operations take items `base..base + calls`.
fn measure(
    db: &TestDb,
    items: &Items,
    op: Op,
    connections: usize,
    calls: usize,
    base: usize,
) -> Measured {
    let pool = pool(db, connections);
    let per_thread = calls / connections;
    // Warm up: connections open, statements prepared.
    for i in 0..(connections * 4) {
        let n = if op.consumes_items() {
            base + calls + i
        } else {
            i * 7919
        };
        op.call(&pool, items, n).expect("warm-up call");
    }
    let cpu = Cpu::now();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|t| {
                let pool = &pool;
                s.spawn(move || {
                    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ (t as u64 + 1);
                    (0..per_thread)
                        .map(|i| {
                            let n = if op.consumes_items() {
                                base + t * per_thread + i
                            } else {
                                rng ^= rng << 13;
                                rng ^= rng >> 7;
                                rng ^= rng << 17;
                                rng as usize
                            };
                            let t0 = Instant::now();
                            op.call(pool, items, n).expect("a benchmarked call");
                            t0.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("benchmark thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let (client_cpu, server_cpu) = cpu.per_call(latencies.len(), false);
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Measured {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        client_cpu,
        server_cpu,
    }
}

/// pgbench running the same transaction as four statements, as the same
/// login: transactions per second, and the client's and the rest of the
/// machine's CPU microseconds per transaction; `None` when pgbench is not
/// installed.
fn pgbench(
    db: &TestDb,
    items: &Items,
    op: Op,
    clients: usize,
    calls: usize,
    base: usize,
) -> Option<(f64, f64, f64)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/pgbench")
        .join(format!("{}.sql", op.script()));
    let per_client = calls / clients;
    let cpu = Cpu::now();
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared"])
        .args(["-c", &clients.to_string(), "-j", &clients.to_string()])
        .args(["-t", &per_client.to_string()])
        .args(["-D", &format!("pairs={}", items.pairs.len())])
        .args(["-D", &format!("base={base}")])
        .args(["-D", &format!("per_client={per_client}")])
        .args(["-D", "i=0", "-f"])
        .arg(&script)
        .arg(app_url(db))
        .output();
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

/// Measurements are repeated this many times, crate and pgbench in turn,
/// each going first in half of them.
const REPEATS: usize = 10;

/// Items reserved for one measurement of a consuming operation.
fn item_range(calls: usize) -> usize {
    calls + 64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn throughput(db: &TestDb, items: &Items, calls: usize, ops: &[Op]) {
    println!("\n## Throughput and latency\n");
    println!(
        "{calls} calls per measurement, each measurement {REPEATS} times with the crate and \
         pgbench taking turns. The crate's calls each open a tenant scope from a pool of as many \
         connections as threads. pgbench runs the same transaction as four statements \
         (`BEGIN`, the tenant, the statement, `COMMIT`), prepared, as the same login. Figures \
         are medians of the repetitions; the ratio is the median of the repetitions' ratios, \
         crate over pgbench. CPU is per call, in microseconds: the client's (this process, or \
         pgbench), and the rest of the machine's, which is the server's chiefly.\n"
    );
    println!(
        "| operation | connections | calls/s | p50 ms | p99 ms | pgbench tx/s | ratio \
         | server CPU, crate / pgbench | client CPU, crate / pgbench |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let range = item_range(calls);
    for &op in ops {
        for (k, connections) in [1usize, 4].into_iter().enumerate() {
            let mut runs = Vec::new();
            let mut floors = Vec::new();
            let mut ratios = Vec::new();
            for repeat in 0..REPEATS {
                // Consuming operations take disjoint ranges of items.
                let crate_base = 2 * range * (2 * repeat + k);
                let pgbench_base = crate_base + range;
                // Each goes first in half the repetitions.
                let (run, floor) = if repeat % 2 == 0 {
                    let run = measure(db, items, op, connections, calls, crate_base);
                    (
                        run,
                        pgbench(db, items, op, connections, calls, pgbench_base),
                    )
                } else {
                    let floor = pgbench(db, items, op, connections, calls, pgbench_base);
                    (
                        measure(db, items, op, connections, calls, crate_base),
                        floor,
                    )
                };
                if let Some(floor) = floor {
                    ratios.push(run.per_second / floor.0);
                    floors.push(floor);
                }
                runs.push(run);
            }
            let of_runs = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
            let (per_second, client, server) = (
                of_runs(|m| m.per_second),
                of_runs(|m| m.client_cpu),
                of_runs(|m| m.server_cpu),
            );
            let p50 = of_runs(|m| m.p50.as_secs_f64() * 1e3);
            let p99 = of_runs(|m| m.p99.as_secs_f64() * 1e3);
            let floor = if floors.is_empty() {
                format!("n/a | n/a | {server:.0} / n/a | {client:.0} / n/a")
            } else {
                let of_floors =
                    |f: fn(&(f64, f64, f64)) -> f64| median(floors.iter().map(f).collect());
                format!(
                    "{:.0} | {:.2} | {server:.0} / {:.0} | {client:.0} / {:.0}",
                    of_floors(|f| f.0),
                    median(ratios),
                    of_floors(|f| f.2),
                    of_floors(|f| f.1),
                )
            };
            println!(
                "| {} | {connections} | {per_second:.0} | {p50:.2} | {p99:.2} | {floor} |",
                op.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Round trips, counted on the wire
// ---------------------------------------------------------------------------

/// A TCP proxy between the pool and the server that counts the
/// ReadyForQuery messages the server sends: one per request cycle, that is
/// per round trip.
struct Proxy {
    port: u16,
    cycles: Arc<AtomicU64>,
}

impl Proxy {
    fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cycles = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&cycles);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (client_in, server_out) = (client.try_clone(), server.try_clone());
                let (Ok(client_in), Ok(server_out)) = (client_in, server_out) else {
                    continue;
                };
                thread::spawn(move || copy_raw(client_in, server_out));
                let counted = Arc::clone(&counted);
                thread::spawn(move || copy_counting(server, client, &counted));
            }
        });
        Proxy { port, cycles }
    }

    fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::SeqCst)
    }
}

fn copy_raw(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Forwards the server's messages (a type byte and a length each) one by
/// one, counting ReadyForQuery ('Z').
fn copy_counting(mut from: TcpStream, mut to: TcpStream, cycles: &AtomicU64) {
    let mut header = [0u8; 5];
    while from.read_exact(&mut header).is_ok() {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length.saturating_sub(4)];
        if from.read_exact(&mut body).is_err() {
            break;
        }
        if header[0] == b'Z' {
            cycles.fetch_add(1, Ordering::SeqCst);
        }
        if to
            .write_all(&header)
            .and_then(|()| to.write_all(&body))
            .is_err()
        {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The server's address, from the URL's host and port.
fn server_address(url: &str) -> std::net::SocketAddr {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host_port = if host_port.is_empty() {
        "127.0.0.1:5432"
    } else {
        host_port
    };
    let with_port = if host_port
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .expect("resolve the server")
        .find(|a| a.is_ipv4())
        .expect("an IPv4 address for the server")
}

fn round_trips(db: &TestDb, items: &Items) {
    const CALLS: u64 = 100;
    let proxy = Proxy::start(server_address(&common::database_url()));
    let url = with_params(
        &db.app_url(),
        &[
            ("host", "127.0.0.1"),
            ("port", &proxy.port.to_string()),
            ("sslmode", "disable"),
            ("gssencmode", "disable"),
        ],
    );
    let pool = Pool::builder()
        .max_size(1)
        .build(&url)
        .expect("a pool through the proxy");
    println!("\n## Round trips per call\n");
    println!(
        "Counted on the wire: the ReadyForQuery messages the server sent, one per request \
         cycle, over {CALLS} calls on one pooled connection whose statements were prepared.\n"
    );
    println!("| operation | round trips per call |");
    println!("| --- | ---: |");
    // Items past every range `throughput` may have used.
    let base = items.unread.len().min(items.pending.len()) - 400;
    for op in Op::ALL {
        for i in 0..4 {
            op.call(&pool, items, base + 200 + i).expect("warm-up call");
        }
        let before = proxy.cycles();
        for i in 0..CALLS as usize {
            op.call(&pool, items, base + i).expect("a counted call");
        }
        let per_call = (proxy.cycles() - before) as f64 / CALLS as f64;
        println!("| {} | {per_call:.2} |", op.name());
    }
    // A message already read (one statement, as the first time) and one
    // already answered (an error found by a second look). Each runs once
    // first, so that its statements are prepared.
    for i in [0, 1] {
        let t = items.unread[base + i];
        let before = proxy.cycles();
        pool.with_tenant(t.tenant_id, |tx| {
            mark_message_read(tx, t.message_id, t.to_user_id)
        })
        .expect("mark read again");
        let t = items.pending[base + i];
        let between = proxy.cycles();
        let again = pool.with_tenant(t.tenant_id, |tx| {
            update_message_status(tx, t.message_id, t.to_user_id, SkillMessageStatus::Declined)
        });
        assert!(matches!(again, Err(Error::AlreadyResponded { .. })));
        if i == 1 {
            println!("| mark_message_read, already read | {} |", between - before);
            println!(
                "| update_message_status, already answered (an error) | {} |",
                proxy.cycles() - between
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Row-level security overhead
// ---------------------------------------------------------------------------

/// Loops over a tenant's users per timed block, and blocks per variant.
const RLS_LOOPS: usize = 20;
const RLS_BLOCKS: usize = 41;

/// Whole calls timed with and without row-level security, in blocks.
const RLS_CALLS: usize = 3_000;
const RLS_BLOCK_CALLS: usize = 100;

/// A role like the runtime role, but with BYPASSRLS: the baseline that pays
/// the same privilege checks and no policy. Named after this process's test
/// login, so that the harness drops it with the rest if the run is cut short.
fn bypass_role() -> String {
    format!("{}_bypass", common::app_login())
}

/// PL/pgSQL functions that run a query once for each user of a list,
/// `loops` times over, and return the microseconds per query. The `rls_`
/// ones leave the tenant to the policies; the `explicit_` ones write
/// `tenant_id = t` into the query.
const TIMING_FUNCTIONS: &str = "
CREATE FUNCTION bench_rls_inbox(t uuid, users uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY users LOOP
    PERFORM count(*) FROM (SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id,
      proposed_parent_skill_id, message, status, read_at, responded_at, created_at
      FROM skill_messages WHERE to_user_id = u ORDER BY created_at DESC, id DESC LIMIT 21) page;
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(users));
END $$;
CREATE FUNCTION bench_explicit_inbox(t uuid, users uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY users LOOP
    PERFORM count(*) FROM (SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id,
      proposed_parent_skill_id, message, status, read_at, responded_at, created_at
      FROM skill_messages WHERE tenant_id = t AND to_user_id = u
      ORDER BY created_at DESC, id DESC LIMIT 21) page;
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(users));
END $$;
CREATE FUNCTION bench_rls_count(t uuid, users uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY users LOOP
    PERFORM (SELECT EXISTS (SELECT id FROM users WHERE id = u)),
            (SELECT count(*) FROM skill_messages WHERE to_user_id = u AND read_at IS NULL);
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(users));
END $$;
CREATE FUNCTION bench_explicit_count(t uuid, users uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY users LOOP
    PERFORM (SELECT EXISTS (SELECT id FROM users WHERE tenant_id = t AND id = u)),
            (SELECT count(*) FROM skill_messages
             WHERE tenant_id = t AND to_user_id = u AND read_at IS NULL);
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(users));
END $$;
CREATE FUNCTION bench_page(u uuid, before timestamptz, before_id uuid, loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP
    IF before IS NULL THEN
      PERFORM count(*) FROM (SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id,
        proposed_parent_skill_id, message, status, read_at, responded_at, created_at
        FROM skill_messages WHERE to_user_id = u
        ORDER BY created_at DESC, id DESC LIMIT 101) page;
    ELSE
      PERFORM count(*) FROM (SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id,
        proposed_parent_skill_id, message, status, read_at, responded_at, created_at
        FROM skill_messages WHERE to_user_id = u
          AND created_at <= before AND (created_at < before OR id < before_id)
        ORDER BY created_at DESC, id DESC LIMIT 101) page;
    END IF;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / loops;
END $$;
";

/// A tenant and its users, for the timing functions.
struct TenantUsers {
    tenant: Uuid,
    array: String,
    count: usize,
}

impl TenantUsers {
    fn of(items: &Items, tenant: Uuid) -> Self {
        let users: Vec<String> = items
            .pairs
            .iter()
            .filter(|p| p.tenant_id == tenant)
            .map(|p| p.user_id.to_string())
            .collect();
        TenantUsers {
            tenant,
            array: format!("'{{{}}}'::uuid[]", users.join(",")),
            count: users.len(),
        }
    }

    /// Microseconds per query of `function`, timed by the server, run as
    /// `role` with the tenant set.
    fn server_micros(&self, conn: &mut PgConnection, role: &str, function: &str) -> f64 {
        #[derive(QueryableByName)]
        struct Micros {
            #[diesel(sql_type = diesel::sql_types::Double)]
            micros: f64,
        }
        let tenant = self.tenant;
        conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SET LOCAL ROLE {role}; \
                 SELECT set_config('app.current_tenant_id', '{tenant}', true)"
            ))?;
            diesel::sql_query(format!(
                "SELECT {function}('{tenant}', {}, {RLS_LOOPS}) AS micros",
                self.array
            ))
            .get_result::<Micros>(conn)
        })
        .expect("a timed block")
        .micros
    }
}

/// The superuser's connection, without TLS like the pools': it takes the
/// role each timing needs in its transaction.
fn timing_connection(db: &TestDb) -> PgConnection {
    common::connect(&with_params(&db.admin_url(), &[("sslmode", "disable")]))
}

/// The inbox page and the unread count with row-level security in force
/// (the runtime role, the tenant set, the policy adding the tenant) against
/// the same queries with the tenant filter written out, run as a role that
/// bypasses row-level security but holds the same privileges. Both run in
/// turn on one connection (one server process), on the same users: inside
/// the server, timed by the server; and as whole calls, round trips
/// included.
fn rls_overhead(db: &TestDb, admin: &mut PgConnection, items: &Items) {
    let bypass = bypass_role();
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{bypass}') THEN
                 CREATE ROLE {bypass} NOLOGIN BYPASSRLS;
               END IF;
             END $$;
             GRANT skill_messages_app TO {bypass}"
        ))
        .expect("create the bypassing role");
    let tenant = items.pairs[0].tenant_id;
    let users = TenantUsers::of(items, tenant);
    let per_block = RLS_LOOPS * users.count;
    println!("\n## Row-level security overhead\n");
    println!(
        "With RLS: as the runtime role with the tenant set, the policy adding the tenant. \
         Without: `tenant_id = t` written into the query, as `{bypass}`, a member of \
         `skill_messages_app` with BYPASSRLS, so that both pay the same privilege checks. Both \
         in turn on one connection. Inside the server: each query {per_block} times in a \
         PL/pgSQL loop over one tenant's users, timed by the server, {RLS_BLOCKS} blocks of \
         each; microseconds per query. Whole calls: the crate's scope and service call, \
         against the same transaction (tenant and role set the same way) with the filter \
         written out, {RLS_CALLS} of each in blocks of {RLS_BLOCK_CALLS}; microseconds per \
         call. Medians; each ratio is the median of the ratios of neighbouring blocks.\n"
    );
    println!("| query | policy expression | measured | with RLS us | explicit filter us | ratio |");
    println!("| --- | --- | --- | ---: | ---: | ---: |");
    let mut conn = timing_connection(db);
    let inline = "nullif(current_setting('app.current_tenant_id', true), '')::uuid";
    let subselect = "(SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid)";
    for (label, expression) in [
        ("inline (the migrations')", inline),
        ("scalar subquery", subselect),
    ] {
        set_policies(admin, expression);
        for (name, query) in [("inbox page", "inbox"), ("unread count", "count")] {
            let (mut rls, mut plain, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RLS_BLOCKS {
                let scoped =
                    users.server_micros(&mut conn, APP_ROLE, &format!("bench_rls_{query}"));
                let written_out =
                    users.server_micros(&mut conn, &bypass, &format!("bench_explicit_{query}"));
                rls.push(scoped);
                plain.push(written_out);
                ratios.push(scoped / written_out);
            }
            println!(
                "| {name} | {label} | in the server | {:.1} | {:.1} | {:.3} |",
                median(rls),
                median(plain),
                median(ratios)
            );
        }
    }
    set_policies(admin, inline);
    for (name, op) in [("inbox page", Op::List), ("unread count", Op::Count)] {
        let (rls, plain, ratio) = whole_calls(&mut conn, items, op);
        println!(
            "| {name} | inline (the migrations') | whole calls | {rls:.1} | {plain:.1} | \
             {ratio:.3} |"
        );
    }
    drop(conn);
    admin
        .batch_execute(&format!("DROP ROLE {bypass}"))
        .expect("drop the bypassing role");
}

/// Whole calls on one connection: the crate's scope around its service
/// call, and the same transaction, opened and closed by the same batches,
/// as the bypassing role with the tenant written into the query. Medians
/// of microseconds per call and of the blocks' ratios.
fn whole_calls(conn: &mut PgConnection, items: &Items, op: Op) -> (f64, f64, f64) {
    use diesel::connection::AnsiTransactionManager;
    let bypass = bypass_role();
    let crate_call = |conn: &mut PgConnection, pair: Pair| -> Result<(), Error> {
        skill_messages::with_tenant(conn, pair.tenant_id, |tx| match op {
            Op::List => get_messages_for_user(tx, pair.user_id, InboxQuery::default()).map(drop),
            _ => get_unread_count_for_user(tx, pair.user_id).map(drop),
        })
    };
    let explicit = |conn: &mut PgConnection, pair: Pair| -> QueryResult<()> {
        AnsiTransactionManager::begin_transaction_sql(
            conn,
            &format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; \
                 SELECT set_config('app.current_tenant_id', '{}', true); \
                 SET LOCAL ROLE {bypass}",
                pair.tenant_id
            ),
        )?;
        match op {
            Op::List => messages::table
                .filter(messages::tenant_id.eq(pair.tenant_id))
                .filter(messages::to_user_id.eq(pair.user_id))
                .order((messages::created_at.desc(), messages::id.desc()))
                .limit(21)
                .select(SkillMessage::as_select())
                .load::<SkillMessage>(conn)
                .map(drop)?,
            _ => diesel::select((
                exists(
                    users::table
                        .filter(users::tenant_id.eq(pair.tenant_id))
                        .find(pair.user_id),
                ),
                messages::table
                    .filter(messages::tenant_id.eq(pair.tenant_id))
                    .filter(messages::to_user_id.eq(pair.user_id))
                    .filter(messages::read_at.is_null())
                    .count()
                    .single_value(),
            ))
            .get_result::<(bool, Option<i64>)>(conn)
            .map(drop)?,
        }
        // The crate's own commit batch; diesel follows the end of the
        // transaction from libpq's status.
        conn.batch_execute("RESET ROLE; RESET app.current_tenant_id; COMMIT")
    };
    let (mut rls, mut plain, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=RLS_CALLS / RLS_BLOCK_CALLS {
        let block: Vec<Pair> = (round * RLS_BLOCK_CALLS..(round + 1) * RLS_BLOCK_CALLS)
            .map(|n| items.pairs[n * 7919 % items.pairs.len()])
            .collect();
        // Read the block's pages once first, so that neither side pays for
        // the cache misses the other would spare it.
        for pair in &block {
            explicit(conn, *pair).expect("a warming call");
        }
        let time = |conn: &mut PgConnection, scoped: bool| {
            let t0 = Instant::now();
            for pair in &block {
                if scoped {
                    crate_call(conn, *pair).expect("a call with row-level security");
                } else {
                    explicit(conn, *pair).expect("a call with the filter written out");
                }
            }
            t0.elapsed().as_secs_f64() * 1e6 / RLS_BLOCK_CALLS as f64
        };
        // Each side goes first in half the rounds.
        let (scoped, written_out) = if round % 2 == 0 {
            let scoped = time(conn, true);
            (scoped, time(conn, false))
        } else {
            let written_out = time(conn, false);
            (time(conn, true), written_out)
        };
        // The first round prepares the statements.
        if round > 0 {
            rls.push(scoped);
            plain.push(written_out);
            ratios.push(scoped / written_out);
        }
    }
    (median(rls), median(plain), median(ratios))
}

fn set_policies(admin: &mut PgConnection, tenant: &str) {
    for (table, column) in [
        ("tenants", "id"),
        ("users", "tenant_id"),
        ("skills", "tenant_id"),
        ("skill_messages", "tenant_id"),
    ] {
        admin
            .batch_execute(&format!(
                "ALTER POLICY tenant_isolation ON {table} USING ({column} = {tenant}) \
                 WITH CHECK ({column} = {tenant})"
            ))
            .expect("alter a policy");
    }
}

// ---------------------------------------------------------------------------
// Plans at scale, deep pages, memory
// ---------------------------------------------------------------------------

const COLUMNS: &str = "id, tenant_id, from_user_id, to_user_id, subject_skill_id, \
                       proposed_parent_skill_id, message, status, read_at, responded_at, created_at";

/// Runs `EXPLAIN (ANALYZE, BUFFERS)` of `sql` in a tenant scope, as the
/// runtime role, after running `sql` once to warm the cache; returns the
/// plan.
fn explain(pool: &Pool, tenant: Uuid, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan = pool
        .with_tenant(tenant, |tx| {
            diesel::sql_query(sql).execute(tx.connection())?;
            diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                .load::<Line>(tx.connection())
                .map_err(Error::from)
        })
        .expect("explain");
    plan.into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_index_only(plan: &str) {
    assert!(
        !plan.contains("Seq Scan on skill_messages"),
        "a sequential scan of skill_messages:\n{plan}"
    );
}

/// Rounds of the scale comparison, each timing both sizes, and whole calls
/// of each kind per size and round.
const SCALE_ROUNDS: usize = 40;
const SCALE_CALLS: usize = 200;

/// The inbox page and the unread count on the benchmark's database and on
/// one of the other size, seeded for this: their plans, and their latency
/// measured in turn on both, so that the server's state weighs on both
/// alike.
fn scale(db: &TestDb, items: &Items, size: &Size) {
    let other_size = if size.name == LARGE.name {
        DEFAULT
    } else {
        LARGE
    };
    let other = TestDb::new();
    seed(&mut other.admin(), &other_size);
    let other_items = Items::load(&mut other.admin());
    let mut sizes = [(size, db, items), (&other_size, &other, &other_items)];
    sizes.sort_by_key(|(size, _, _)| size.messages);

    println!("\n## Scale\n");
    println!(
        "Plans as the runtime role with a tenant set, for a user of a middling tenant; the \
         seeded messages only, without the deep-paging user's.\n"
    );
    for (size, db, items) in sizes {
        let pool = pool(db, 1);
        let pair = items.pairs[items.pairs.len() / 2];
        let inbox = format!(
            "SELECT {COLUMNS} FROM skill_messages WHERE to_user_id = '{}' \
             ORDER BY created_at DESC, id DESC LIMIT 21",
            pair.user_id
        );
        let count = format!(
            "SELECT EXISTS (SELECT id FROM users WHERE id = '{0}'), \
             (SELECT count(*) FROM skill_messages WHERE to_user_id = '{0}' AND read_at IS NULL)",
            pair.user_id
        );
        for (name, sql) in [("Inbox page", inbox), ("Unread count", count)] {
            let plan = explain(&pool, pair.tenant_id, &sql);
            assert_index_only(&plan);
            println!(
                "{name}, {} messages:\n\n```text\n{plan}\n```\n",
                size.messages
            );
        }
    }

    println!(
        "Latency, {SCALE_ROUNDS} rounds, each timing both sizes in turn: the query alone, timed \
         by the server as in the RLS section (the users of one tenant, {RLS_LOOPS} times over); \
         and whole calls of the crate on one pooled connection, {SCALE_CALLS} users of all \
         tenants a round. Medians.\n"
    );
    let mut timings: Vec<[Vec<f64>; 4]> = vec![Default::default(), Default::default()];
    let mut setups: Vec<_> = sizes
        .iter()
        .map(|(_, db, items)| {
            let tenant = items.pairs[items.pairs.len() / 2].tenant_id;
            (
                TenantUsers::of(items, tenant),
                timing_connection(db),
                pool(db, 1),
            )
        })
        .collect();
    for round in 0..=SCALE_ROUNDS {
        for (k, (users, conn, pool)) in setups.iter_mut().enumerate() {
            let items = sizes[k].2;
            let calls = |op: Op| {
                let t0 = Instant::now();
                for i in 0..SCALE_CALLS {
                    op.call(pool, items, (round * SCALE_CALLS + i) * 7919)
                        .expect("a call");
                }
                t0.elapsed().as_secs_f64() * 1e3 / SCALE_CALLS as f64
            };
            let measured = [
                users.server_micros(conn, APP_ROLE, "bench_rls_inbox"),
                users.server_micros(conn, APP_ROLE, "bench_rls_count"),
                calls(Op::List),
                calls(Op::Count),
            ];
            // The first round warms the caches and prepares the statements.
            if round > 0 {
                for (series, value) in timings[k].iter_mut().zip(measured) {
                    series.push(value);
                }
            }
        }
    }
    let [small, large] = [&timings[0], &timings[1]];
    println!(
        "| measure | {} messages | {} messages | growth |",
        sizes[0].0.messages, sizes[1].0.messages
    );
    println!("| --- | ---: | ---: | ---: |");
    for (i, name) in [
        "inbox page, query in the server, us",
        "unread count, query in the server, us",
        "get_messages_for_user, whole call, ms",
        "get_unread_count_for_user, whole call, ms",
    ]
    .into_iter()
    .enumerate()
    {
        let (a, b) = (median(small[i].clone()), median(large[i].clone()));
        println!(
            "| {name} | {a:.3} | {b:.3} | {:+.0}% |",
            (b / a - 1.0) * 100.0
        );
    }
}

/// Pages through the inbox of the user with [`HEAVY_INBOX`] messages, 100
/// at a time, timing each page and sampling resident memory.
fn deep_pages(db: &TestDb, admin: &mut PgConnection) {
    let (tenant, reader): (Uuid, Uuid) = users::table
        .filter(users::email.eq("reader@heavy.example"))
        .select((users::tenant_id, users::id))
        .get_result(admin)
        .expect("the heavy reader");
    let pool = pool(db, 1);
    let query = InboxQuery {
        limit: 100,
        ..InboxQuery::default()
    };
    // Prepare both statements (without and with a cursor) and warm the cache.
    let mut cursor = None;
    for _ in 0..20 {
        let page = pool
            .with_tenant(tenant, |tx| {
                get_messages_for_user(tx, reader, query.after(cursor))
            })
            .expect("a warm-up page");
        cursor = page.next;
    }
    let mut cursor = None;
    let mut pages: Vec<Duration> = Vec::new();
    let mut rss = Vec::new();
    let mut deep_cursor: Option<(DateTime<Utc>, Uuid)> = None;
    let mut seen = 0usize;
    loop {
        if pages.len() % 100 == 0 {
            rss.push((pages.len(), memory_kib("VmRSS")));
        }
        let t0 = Instant::now();
        let page = pool
            .with_tenant(tenant, |tx| {
                get_messages_for_user(tx, reader, query.after(cursor))
            })
            .expect("a page");
        pages.push(t0.elapsed());
        seen += page.items.len();
        if pages.len() == 900 {
            deep_cursor = page.items.last().map(|m| (m.created_at, m.id));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    rss.push((pages.len(), memory_kib("VmRSS")));
    assert_eq!(seen, HEAVY_INBOX);
    println!("\n## Deep pages\n");
    println!(
        "One user's {HEAVY_INBOX} messages, 100 a page, {} pages, each through a tenant scope.\n",
        pages.len()
    );
    println!("| pages | median ms per page |");
    println!("| --- | ---: |");
    for (from, to) in [(0, 100), (450, 550), (900, 1000)] {
        let window = pages[from..to.min(pages.len())]
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        println!("| {}-{} | {:.3} |", from + 1, to, median(window));
    }
    println!("\nResident memory while paging:\n");
    println!("| after page | resident KiB |");
    println!("| ---: | ---: |");
    for (page, kib) in &rss {
        println!("| {page} | {kib} |");
    }
    let (created_at, id) = deep_cursor.expect("a cursor at page 900");
    let first = format!(
        "SELECT {COLUMNS} FROM skill_messages WHERE to_user_id = '{reader}' \
         ORDER BY created_at DESC, id DESC LIMIT 101"
    );
    let deep = format!(
        "SELECT {COLUMNS} FROM skill_messages WHERE to_user_id = '{reader}' \
         AND created_at <= '{created_at:?}' AND (created_at < '{created_at:?}' OR id < '{id}') \
         ORDER BY created_at DESC, id DESC LIMIT 101"
    );
    // The two queries alone, timed by the server in turn.
    #[derive(QueryableByName)]
    struct Micros {
        #[diesel(sql_type = diesel::sql_types::Double)]
        micros: f64,
    }
    let mut conn = timing_connection(db);
    let mut page_micros = |before: &str| {
        conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SET LOCAL ROLE {APP_ROLE}; \
                 SELECT set_config('app.current_tenant_id', '{tenant}', true)"
            ))?;
            diesel::sql_query(format!(
                "SELECT bench_page('{reader}', {before}, 200) AS micros"
            ))
            .get_result::<Micros>(conn)
        })
        .expect("a timed block of pages")
        .micros
    };
    let (mut first_page, mut deep_page) = (Vec::new(), Vec::new());
    for _ in 0..RLS_BLOCKS {
        first_page.push(page_micros("NULL, NULL"));
        deep_page.push(page_micros(&format!("'{created_at:?}', '{id}'")));
    }
    println!(
        "\nThe query alone, timed by the server, {RLS_BLOCKS} blocks of 200 each in turn: \
         first page {:.1} us, page 901 {:.1} us (medians).",
        median(first_page),
        median(deep_page)
    );
    for (name, sql) in [("First page", first), ("Page 901", deep)] {
        let plan = explain(&pool, tenant, &sql);
        assert_index_only(&plan);
        println!("\n{name}:\n\n```text\n{plan}\n```");
    }
}

/// A line of /proc/self/status, in KiB (Linux).
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}
