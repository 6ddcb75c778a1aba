//! The async face (feature `async`) beside the blocking face and pgbench:
//! the five calls through `AsyncPool`'s one-call methods (each scope's
//! `BEGIN`, statement and `COMMIT` in one round trip) and through its
//! multi-call scopes (`AsyncPool::with_tenant` and the functions of
//! `skill_messages::asynchronous`), the blocking `Pool`, pgbench sending
//! the transaction a statement a round trip and pgbench sending it in one
//! pipeline; on loopback, and through a proxy ([`net`](crate::net)) that
//! delays each direction by 0.25 ms and by 1 ms, as a network would.

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use skill_messages::asynchronous::{self, AsyncPool};
use skill_messages::{Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::calls::{MESSAGE, Op, STATEMENT_TIMEOUT, app_url};
use crate::common::{self, TestDb};
use crate::cpu::Cpu;
use crate::net::{Proxy, ping};
use crate::pgbench::{Pgbench, PgbenchRun, Sending};
use crate::report::median;
use crate::round_trips::server_address;
use crate::seed::{Digest, Items, Pair, Sent, Target};
use crate::statements::NOTIFY_IF_SENT;
use crate::throughput::{Measured, measure_on};

/// Measurements of each configuration, in turn, a different one first in
/// each round; figures are the rounds' medians.
const ROUNDS: usize = 3;

/// Calls per measurement: on loopback (unless `--calls` says), and through
/// the proxy at each delay (fewer: the blocking face's calls take three
/// round trips, pgbench's four).
const LOOPBACK_CALLS: usize = 500;
const DELAYED_CALLS: [(Duration, usize); 2] = [
    (Duration::from_micros(250), 300),
    (Duration::from_millis(1), 200),
];

/// Calls counted on the wire per operation and path.
const COUNTED_CALLS: usize = 20;

/// The targets: the one-call scope's calls per second over the blocking
/// face's on one connection, on loopback and with a delay; and over
/// pgbench's pipelined script with a delay.
const LOOPBACK_TARGET: f64 = 1.3;
const DELAYED_TARGET: f64 = 2.5;
const PIPELINED_TARGET: f64 = 0.9;

/// Which runtime an async configuration runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread => "multi_thread",
        }
    }

    fn runtime(self) -> Runtime {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
        .expect("a tokio runtime")
    }
}

/// How the async face makes a call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `AsyncPool`'s own method: a scope of its own, one round trip.
    OneCall,
    /// `AsyncPool::with_tenant` around the `asynchronous` function.
    Scope,
}

/// The configurations measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Config {
    Sync,
    Async(Path, Flavor),
    Pgbench(Sending),
}

impl Config {
    fn name(self) -> String {
        match self {
            Config::Sync => "sync Pool".to_owned(),
            Config::Async(Path::OneCall, flavor) => format!("async one-call, {}", flavor.name()),
            Config::Async(Path::Scope, flavor) => format!("async scope, {}", flavor.name()),
            Config::Pgbench(Sending::Statements) => "pgbench".to_owned(),
            Config::Pgbench(Sending::Pipelined) => "pgbench pipelined".to_owned(),
        }
    }
}

const ONE_CALL: [Config; 2] = [
    Config::Async(Path::OneCall, Flavor::CurrentThread),
    Config::Async(Path::OneCall, Flavor::MultiThread),
];

/// What one measurement found.
#[derive(Clone, Copy)]
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU microseconds per call: the client's (this process, or pgbench),
    /// and the rest of the machine's (the server's chiefly).
    client_cpu: f64,
    server_cpu: f64,
}

impl Figures {
    fn of(latencies: &mut [Duration], elapsed: Duration) -> Self {
        latencies.sort();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(i).map_or(f64::NAN, |l| l.as_secs_f64() * 1e3)
        };
        Figures {
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            client_cpu: f64::NAN,
            server_cpu: f64::NAN,
        }
    }

    fn of_sync(m: &Measured) -> Self {
        Figures {
            per_second: m.per_second,
            p50_ms: m.p50.as_secs_f64() * 1e3,
            p99_ms: m.p99.as_secs_f64() * 1e3,
            client_cpu: m.client_cpu,
            server_cpu: m.server_cpu,
        }
    }

    /// pgbench's transactions after each client's first four, as the
    /// crate's calls after the four a connection that warm it up.
    fn of_pgbench(run: PgbenchRun) -> Self {
        let (per_second, mut latencies) = run.steady(4).expect("pgbench's log");
        Figures {
            per_second,
            client_cpu: run.client_cpu,
            server_cpu: run.server_cpu,
            ..Figures::of(&mut latencies, Duration::from_secs(1))
        }
    }
}

/// The work items of the consuming operations among the five, handed out
/// in disjoint ranges: of the unread messages (marked read) and of the
/// pending ones (answered), each from its own counter.
struct Allocator {
    next: [usize; 2],
    limit: [usize; 2],
}

impl Allocator {
    /// From `first` on, leaving the last 400 of each table to the
    /// round-trips section.
    fn new(items: &Items, first: usize) -> Self {
        Allocator {
            next: [first; 2],
            limit: [items.unread.len() - 400, items.pending.len() - 400],
        }
    }

    /// The first of `n` items of `op`'s that no other measurement takes;
    /// 0 for an operation that consumes none.
    fn take(&mut self, op: Op, n: usize) -> usize {
        let table = match op {
            Op::MarkRead => 0,
            Op::Respond => 1,
            _ => return 0,
        };
        let base = self.next[table];
        self.next[table] += n;
        assert!(
            self.next[table] <= self.limit[table],
            "the async section ran out of messages for {} ({} of them): run it alone, or with \
             fewer --calls",
            op.name(),
            self.limit[table]
        );
        base
    }
}

/// What a call acts on, owned, for a task of its own.
#[derive(Clone, Copy)]
enum Args {
    Pair(Pair),
    Target(Target),
    Digest(Digest),
    Sent(Sent),
}

/// What call `n` of `op` acts on, as [`Op::call`] picks it.
fn args(op: Op, items: &Items, n: usize) -> Args {
    match op {
        Op::List | Op::Count | Op::Send | Op::SentList => {
            Args::Pair(items.pairs[n % items.pairs.len()])
        }
        Op::MarkRead => Args::Target(items.unread[n]),
        Op::Respond => Args::Target(items.pending[n]),
        Op::MarkAllRead => Args::Digest(items.digest[n]),
        Op::Withdraw => Args::Sent(items.withdraw[n]),
    }
}

/// One call of `op` on the async face.
async fn call(pool: &AsyncPool, op: Op, path: Path, args: Args) -> Result<(), Error> {
    let new = |p: &Pair| NewSkillMessage {
        from_user_id: p.user_id,
        to_user_id: p.other_user_id,
        subject_skill_id: p.skill_id,
        proposed_parent_skill_id: Some(p.other_skill_id),
        message: MESSAGE,
    };
    match (path, args) {
        (Path::OneCall, Args::Pair(p)) => match op {
            Op::List => pool
                .get_messages_for_user(p.tenant_id, p.user_id, MessageQuery::new())
                .await
                .map(drop),
            Op::Count => pool
                .get_unread_count_for_user(p.tenant_id, p.user_id)
                .await
                .map(drop),
            Op::Send => pool
                .send_skill_message(p.tenant_id, new(&p))
                .await
                .map(drop),
            _ => pool
                .get_sent_messages_for_user(p.tenant_id, p.user_id, MessageQuery::new())
                .await
                .map(drop),
        },
        (Path::OneCall, Args::Target(t)) => match op {
            Op::MarkRead => pool
                .mark_message_read(t.tenant_id, t.message_id, t.to_user_id)
                .await
                .map(drop),
            _ => pool
                .update_message_status(t.tenant_id, t.message_id, t.to_user_id, Response::Accepted)
                .await
                .map(drop),
        },
        (Path::OneCall, Args::Digest(d)) => pool
            .mark_all_read(d.tenant_id, d.user_id, Cursor::up_to(d.up_to))
            .await
            .map(drop),
        (Path::OneCall, Args::Sent(s)) => pool
            .withdraw_message(s.tenant_id, s.message_id, s.from_user_id)
            .await
            .map(drop),
        (Path::Scope, Args::Pair(p)) => match op {
            Op::List => pool
                .with_tenant(p.tenant_id, async |tx| {
                    asynchronous::get_messages_for_user(tx, p.user_id, MessageQuery::new()).await
                })
                .await
                .map(drop),
            Op::Count => pool
                .with_tenant(p.tenant_id, async |tx| {
                    asynchronous::get_unread_count_for_user(tx, p.user_id).await
                })
                .await
                .map(drop),
            Op::Send => pool
                .with_tenant(p.tenant_id, async |tx| {
                    asynchronous::send_skill_message(tx, new(&p)).await
                })
                .await
                .map(drop),
            _ => pool
                .with_tenant(p.tenant_id, async |tx| {
                    asynchronous::get_sent_messages_for_user(tx, p.user_id, MessageQuery::new())
                        .await
                })
                .await
                .map(drop),
        },
        (Path::Scope, Args::Target(t)) => match op {
            Op::MarkRead => pool
                .with_tenant(t.tenant_id, async |tx| {
                    asynchronous::mark_message_read(tx, t.message_id, t.to_user_id).await
                })
                .await
                .map(drop),
            _ => pool
                .with_tenant(t.tenant_id, async |tx| {
                    asynchronous::update_message_status(
                        tx,
                        t.message_id,
                        t.to_user_id,
                        Response::Accepted,
                    )
                    .await
                })
                .await
                .map(drop),
        },
        (Path::Scope, Args::Digest(d)) => pool
            .with_tenant(d.tenant_id, async |tx| {
                asynchronous::mark_all_read(tx, d.user_id, Cursor::up_to(d.up_to)).await
            })
            .await
            .map(drop),
        (Path::Scope, Args::Sent(s)) => pool
            .with_tenant(s.tenant_id, async |tx| {
                asynchronous::withdraw_message(tx, s.message_id, s.from_user_id).await
            })
            .await
            .map(drop),
    }
}

/// Runs each list of calls on a task of its own, the calls of a list one
/// after another; returns every call's latency.
async fn run_tasks(pool: &AsyncPool, op: Op, path: Path, work: Vec<Vec<Args>>) -> Vec<Duration> {
    let mut tasks = JoinSet::new();
    for list in work {
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(list.len());
            for args in list {
                let t0 = Instant::now();
                call(&pool, op, path, args)
                    .await
                    .expect("a benchmarked call");
                latencies.push(t0.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("a benchmark task"));
    }
    latencies
}

/// `calls` calls over `connections` tasks sharing `pool` (as many
/// connections), after four a task to warm up (connections open,
/// statements prepared); consuming operations take items `base..base +
/// calls + 64`, as [`measure_on`] does.
#[allow(clippy::too_many_arguments)]
fn measure_async(
    runtime: &Runtime,
    pool: &AsyncPool,
    items: &Items,
    op: Op,
    path: Path,
    connections: usize,
    calls: usize,
    base: usize,
) -> Figures {
    let per_task = calls / connections;
    let warm: Vec<Vec<Args>> = (0..connections)
        .map(|t| {
            (0..4)
                .map(|i| {
                    let n = if op.consumes_items() {
                        base + calls + t * 4 + i
                    } else {
                        (t * 4 + i) * 7919
                    };
                    args(op, items, n)
                })
                .collect()
        })
        .collect();
    let work: Vec<Vec<Args>> = (0..connections)
        .map(|t| {
            let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ (t as u64 + 1);
            (0..per_task)
                .map(|i| {
                    let n = if op.consumes_items() {
                        base + t * per_task + i
                    } else {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng as usize
                    };
                    args(op, items, n)
                })
                .collect()
        })
        .collect();
    let (mut latencies, elapsed, (client_cpu, server_cpu)) = runtime.block_on(async {
        run_tasks(pool, op, path, warm).await;
        let cpu = Cpu::now();
        let started = Instant::now();
        let latencies = run_tasks(pool, op, path, work).await;
        let elapsed = started.elapsed();
        (
            latencies,
            elapsed,
            cpu.per_call(per_task * connections, false),
        )
    });
    Figures {
        client_cpu,
        server_cpu,
        ..Figures::of(&mut latencies, elapsed)
    }
}

/// The pools and runtimes of one network (direct, or through a proxy) and
/// one connection count.
struct Setup {
    connections: usize,
    sync: Pool,
    /// Per runtime: the runtime and a pool built on it.
    runtimes: Vec<(Flavor, Runtime, AsyncPool)>,
    /// pgbench's URL: the database's, or the proxy's.
    pgbench_url: String,
}

impl Setup {
    fn new(db: &TestDb, proxy: Option<&Proxy>, pgbench: &Pgbench, connections: usize) -> Self {
        let (libpq_url, tokio_url) = match proxy {
            Some(proxy) => (proxy.url(db, true), proxy.url(db, false)),
            None => (app_url(db), app_url(db)),
        };
        let sync = Pool::builder()
            .max_size(connections as u32)
            .statement_timeout(Some(STATEMENT_TIMEOUT))
            .build(&libpq_url)
            .expect("a pool for the benchmark");
        let runtimes = [Flavor::CurrentThread, Flavor::MultiThread]
            .into_iter()
            .map(|flavor| {
                let runtime = flavor.runtime();
                let pool = runtime
                    .block_on(
                        Pool::builder()
                            .max_size(connections as u32)
                            .statement_timeout(Some(STATEMENT_TIMEOUT))
                            .build_async(&tokio_url),
                    )
                    .expect("an async pool for the benchmark");
                (flavor, runtime, pool)
            })
            .collect();
        let pgbench_url = match proxy {
            Some(_) => libpq_url,
            None => pgbench.url().to_owned(),
        };
        Setup {
            connections,
            sync,
            runtimes,
            pgbench_url,
        }
    }

    fn measure(
        &self,
        config: Config,
        pgbench: &Pgbench,
        items: &Items,
        op: Op,
        calls: usize,
        base: usize,
    ) -> Option<Figures> {
        let connections = self.connections;
        match config {
            Config::Sync => Some(Figures::of_sync(&measure_on(
                &self.sync,
                items,
                op,
                connections,
                calls,
                base,
            ))),
            Config::Async(path, flavor) => {
                let (_, runtime, pool) = self
                    .runtimes
                    .iter()
                    .find(|(f, _, _)| *f == flavor)
                    .expect("a runtime of each flavor");
                Some(measure_async(
                    runtime,
                    pool,
                    items,
                    op,
                    path,
                    connections,
                    calls,
                    base,
                ))
            }
            Config::Pgbench(sending) => pgbench
                .run_on(
                    &self.pgbench_url,
                    op,
                    sending,
                    connections,
                    calls,
                    base,
                    true,
                )
                .map(Figures::of_pgbench),
        }
    }
}

/// Each configuration's figures, round by round.
struct Rounds {
    configs: Vec<Config>,
    figures: Vec<Vec<Figures>>,
}

impl Rounds {
    fn of(&self, config: Config) -> &[Figures] {
        let i = self
            .configs
            .iter()
            .position(|c| *c == config)
            .expect("a measured configuration");
        &self.figures[i]
    }

    /// Median calls per second, p50 and p99 of `config`.
    fn medians(&self, config: Config) -> Option<Figures> {
        let runs = self.of(config);
        if runs.is_empty() {
            return None;
        }
        let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
        Some(Figures {
            per_second: m(|f| f.per_second),
            p50_ms: m(|f| f.p50_ms),
            p99_ms: m(|f| f.p99_ms),
            client_cpu: m(|f| f.client_cpu),
            server_cpu: m(|f| f.server_cpu),
        })
    }

    /// The median of the rounds' ratios of `a`'s calls per second to
    /// `b`'s.
    fn ratio(&self, a: Config, b: Config) -> Option<f64> {
        let (a, b) = (self.of(a), self.of(b));
        (!a.is_empty() && a.len() == b.len()).then(|| {
            median(
                a.iter()
                    .zip(b)
                    .map(|(a, b)| a.per_second / b.per_second)
                    .collect(),
            )
        })
    }

    /// The one-call configuration with the higher median calls per second.
    fn best_one_call(&self) -> Config {
        let rate = |c: Config| self.medians(c).map_or(0.0, |f| f.per_second);
        if rate(ONE_CALL[1]) > rate(ONE_CALL[0]) {
            ONE_CALL[1]
        } else {
            ONE_CALL[0]
        }
    }
}

/// Measures `configs` for each of `ops` on 1 and 4 connections,
/// [`ROUNDS`] times in turn.
#[allow(clippy::too_many_arguments)]
fn measure_network(
    db: &TestDb,
    items: &Items,
    pgbench: &Pgbench,
    proxy: Option<&Proxy>,
    ops: &[Op],
    configs: &[Config],
    calls: usize,
    allocator: &mut Allocator,
) -> Vec<(Op, usize, Rounds)> {
    let mut results = Vec::new();
    for connections in [1usize, 4] {
        let setup = Setup::new(db, proxy, pgbench, connections);
        for &op in ops {
            let mut rounds = Rounds {
                configs: configs.to_vec(),
                figures: vec![Vec::new(); configs.len()],
            };
            for round in 0..ROUNDS {
                for i in 0..configs.len() {
                    let c = (round + i) % configs.len();
                    let base = allocator.take(op, calls + 64);
                    if let Some(figures) =
                        setup.measure(configs[c], pgbench, items, op, calls, base)
                    {
                        rounds.figures[c].push(figures);
                    }
                }
            }
            results.push((op, connections, rounds));
        }
    }
    results
}

pub fn async_face(db: &TestDb, items: &Items, calls: Option<usize>, ops: &[Op], first_item: usize) {
    let started = Instant::now();
    println!("\n## The async face\n");
    let mut allocator = Allocator::new(items, first_item);
    check_statements(db, items, &mut allocator);
    let pgbench = Pgbench::new(db, items);
    let proxies = network(db);
    count_round_trips(
        db,
        items,
        &pgbench,
        &proxies[proxies.len() - 1].0,
        &mut allocator,
    );

    let loopback_calls = calls.unwrap_or(LOOPBACK_CALLS);
    let loopback_configs = [
        Config::Sync,
        ONE_CALL[0],
        ONE_CALL[1],
        Config::Async(Path::Scope, Flavor::CurrentThread),
        Config::Async(Path::Scope, Flavor::MultiThread),
        Config::Pgbench(Sending::Statements),
        Config::Pgbench(Sending::Pipelined),
    ];
    let delayed_configs = [
        Config::Sync,
        ONE_CALL[0],
        ONE_CALL[1],
        Config::Pgbench(Sending::Statements),
        Config::Pgbench(Sending::Pipelined),
    ];
    println!(
        "\nEach call on 1 and 4 connections (a pool of as many connections as tasks or \
         threads, or as many pgbench clients), {ROUNDS} rounds in which each configuration is \
         measured in turn, a different one first in each; figures are the rounds' medians, \
         ratios the medians of the rounds' ratios. The async face runs its calls as tasks on a \
         tokio runtime, current_thread or multi_thread (as many workers as CPUs); \"async \
         one-call\" in the ratios is the better of the two by median calls per second. The sync \
         Pool runs them on as many threads. pgbench sends the transaction a statement a round \
         trip (`benches/pgbench/*.sql`, prepared) or whole in one pipeline \
         (`benches/pgbench/pipelined/*.sql`, the crate's statement prepared once per \
         connection and run by `EXECUTE`); its latencies are from its log of transactions."
    );
    let mut verdicts: Vec<Verdict> = Vec::new();

    let loopback = measure_network(
        db,
        items,
        &pgbench,
        None,
        ops,
        &loopback_configs,
        loopback_calls,
        &mut allocator,
    );
    print_network("Loopback", loopback_calls, &loopback, true);
    print_runtimes(&loopback);
    for (op, connections, rounds) in &loopback {
        if *connections == 1 {
            verdicts.push((
                "loopback".to_owned(),
                *op,
                rounds.ratio(rounds.best_one_call(), Config::Sync),
                rounds.ratio(rounds.best_one_call(), Config::Pgbench(Sending::Pipelined)),
                rounds.ratio(Config::Pgbench(Sending::Pipelined), Config::Sync),
            ));
        }
    }
    for (proxy, calls) in &proxies {
        let label = format!("{} ms each way", proxy.delay().as_secs_f64() * 1e3);
        let delayed = measure_network(
            db,
            items,
            &pgbench,
            Some(proxy),
            ops,
            &delayed_configs,
            *calls,
            &mut allocator,
        );
        print_network(
            &format!("Through the proxy, {label}"),
            *calls,
            &delayed,
            false,
        );
        for (op, connections, rounds) in &delayed {
            if *connections == 1 {
                verdicts.push((
                    label.clone(),
                    *op,
                    rounds.ratio(rounds.best_one_call(), Config::Sync),
                    rounds.ratio(rounds.best_one_call(), Config::Pgbench(Sending::Pipelined)),
                    rounds.ratio(Config::Pgbench(Sending::Pipelined), Config::Sync),
                ));
            }
        }
    }
    print_verdicts(&verdicts);
    println!(
        "\nThe async section took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
}

/// Pings for each figure of the network table.
const PINGS: usize = 2_000;

/// The proxies, one per delay in [`DELAYED_CALLS`] with its calls a
/// measurement, calibrated so that each adds twice its delay to a round
/// trip: the round trip a proxy that holds nothing adds (its own
/// forwarding) is measured first, and half of it taken off each direction's
/// hold. Prints what they add, measured: a `SELECT 1` on one connection,
/// direct and through each, medians of [`PINGS`].
fn network(db: &TestDb) -> Vec<(Proxy, usize)> {
    let server = server_address(&common::database_url());
    let direct = ping(&app_url(db), PINGS);
    let bare = Proxy::start(server, Duration::ZERO);
    let hop = ping(&bare.url(db, true), PINGS).saturating_sub(direct);
    let proxies: Vec<(Proxy, usize)> = DELAYED_CALLS
        .into_iter()
        .map(|(delay, calls)| (Proxy::calibrated(server, delay, hop), calls))
        .collect();
    println!(
        "The network: a TCP proxy on 127.0.0.1 (`benches/service/net.rs`) holds each chunk it \
         forwards, in each direction, and counts round trips (a client's turn to send after the \
         server spoke) and the server's ReadyForQuery messages. Its waits sleep with \
         `std::thread::sleep` and spin the last 80 us or so (the tokio timer's millisecond \
         cannot make 0.25 ms); each direction's hold is the delay less half the round trip a \
         proxy that holds nothing adds by itself ({:.3} ms, measured first). What they add, a \
         `SELECT 1` on one connection ({PINGS} pings, medians):\n",
        hop.as_secs_f64() * 1e3
    );
    println!("| path | delay each way ms | SELECT 1 ms | added to the round trip ms |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| direct (loopback) | 0 | {:.3} | 0 |",
        direct.as_secs_f64() * 1e3
    );
    let row = |name: &str, delay: Duration, url: &str| {
        let through = ping(url, PINGS);
        println!(
            "| {name} | {} | {:.3} | {:.3} |",
            delay.as_secs_f64() * 1e3,
            through.as_secs_f64() * 1e3,
            (through.as_secs_f64() - direct.as_secs_f64()) * 1e3
        );
    };
    row("proxy holding nothing", Duration::ZERO, &bare.url(db, true));
    for (proxy, _) in &proxies {
        row("proxy", proxy.delay(), &proxy.url(db, true));
    }
    proxies
}

/// Round trips per call, counted by the 1 ms proxy (where a reply cannot
/// overtake a request still being written): the blocking face, the async
/// face's two paths and pgbench's two scripts, on one connection.
fn count_round_trips(
    db: &TestDb,
    items: &Items,
    pgbench: &Pgbench,
    proxy: &Proxy,
    allocator: &mut Allocator,
) {
    println!(
        "\n### Round trips per call\n\nCounted by the proxy at {} ms each way: {COUNTED_CALLS} \
         calls of each operation on one connection, after 4 to warm up. Round trips are the \
         client's turns to send after the server spoke; ReadyForQuery messages are what the \
         round-trips section counts, one per request cycle (a simple query, or an extended \
         query's Sync), which a pipeline sends several of in one round trip. pgbench's figures \
         are the difference between a run of {} and one of {} transactions, so that its \
         connection's start does not count.\n",
        proxy.delay().as_secs_f64() * 1e3,
        COUNTED_CALLS + 10,
        10
    );
    let setup = Setup::new(db, Some(proxy), pgbench, 1);
    println!(
        "| operation | sync Pool round trips | ReadyForQuery | async one-call round trips | \
         ReadyForQuery | async scope round trips | ReadyForQuery | pgbench round trips | \
         pgbench pipelined round trips |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut beyond_base = (
        items.digest.len().saturating_sub(400),
        items.withdraw.len().saturating_sub(400),
    );
    let ops: Vec<Op> = Op::ALL
        .into_iter()
        .chain(Op::BEYOND.into_iter().filter(|_| !items.digest.is_empty()))
        .collect();
    let (_, runtime, pool) = &setup.runtimes[0];
    for op in ops {
        // Items for the warm-up and the counted calls.
        let mut next = |n: usize| match op {
            Op::MarkAllRead => {
                beyond_base.0 += n;
                beyond_base.0 - n
            }
            Op::Withdraw => {
                beyond_base.1 += n;
                beyond_base.1 - n
            }
            _ => allocator.take(op, n),
        };
        let per_call = |(turns, ready): (u64, u64)| {
            (
                turns as f64 / COUNTED_CALLS as f64,
                ready as f64 / COUNTED_CALLS as f64,
            )
        };
        let base = next(COUNTED_CALLS + 4);
        for i in 0..4 {
            op.call(&setup.sync, items, base + COUNTED_CALLS + i)
                .expect("warm-up call");
        }
        let before = proxy.snapshot();
        for i in 0..COUNTED_CALLS {
            op.call(&setup.sync, items, base + i)
                .expect("a counted call");
        }
        let sync = per_call(proxy.since(before));
        let mut paths = Vec::new();
        for path in [Path::OneCall, Path::Scope] {
            let base = next(COUNTED_CALLS + 4);
            let counted = runtime.block_on(async {
                for i in 0..4 {
                    call(pool, op, path, args(op, items, base + COUNTED_CALLS + i))
                        .await
                        .expect("warm-up call");
                }
                let before = proxy.snapshot();
                for i in 0..COUNTED_CALLS {
                    call(pool, op, path, args(op, items, base + i))
                        .await
                        .expect("a counted call");
                }
                proxy.since(before)
            });
            paths.push(per_call(counted));
        }
        let mut scripts = Vec::new();
        for sending in [Sending::Statements, Sending::Pipelined] {
            if Op::BEYOND.contains(&op) && sending == Sending::Pipelined {
                scripts.push("n/a".to_owned());
                continue;
            }
            let mut turns = |transactions: usize| {
                let base = next(transactions);
                let before = proxy.snapshot();
                pgbench.run_on(
                    &setup.pgbench_url,
                    op,
                    sending,
                    1,
                    transactions,
                    base,
                    false,
                )?;
                Some(proxy.since(before).0 as f64)
            };
            let (short, long) = (turns(10), turns(10 + COUNTED_CALLS));
            scripts.push(match (short, long) {
                (Some(short), Some(long)) => {
                    format!("{:.2}", (long - short) / COUNTED_CALLS as f64)
                }
                _ => "n/a".to_owned(),
            });
        }
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            op.name(),
            sync.0,
            sync.1,
            paths[0].0,
            paths[0].1,
            paths[1].0,
            paths[1].1,
            scripts[0],
            scripts[1]
        );
    }
}

/// Each operation and connection count: every configuration's figures,
/// and on loopback the CPU per call (through the proxy, the proxy's own
/// counts as this process's).
fn print_network(title: &str, calls: usize, results: &[(Op, usize, Rounds)], cpu: bool) {
    println!("\n### {title}\n");
    println!("{calls} calls a measurement.\n");
    if cpu {
        println!(
            "| operation | connections | configuration | calls/s | p50 ms | p99 ms | client CPU \
             us/call | server and rest CPU us/call |"
        );
        println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    } else {
        println!("| operation | connections | configuration | calls/s | p50 ms | p99 ms |");
        println!("| --- | ---: | --- | ---: | ---: | ---: |");
    }
    for (op, connections, rounds) in results {
        for &config in &rounds.configs {
            if let Some(f) = rounds.medians(config) {
                let cpu = if cpu {
                    format!(" {:.0} | {:.0} |", f.client_cpu, f.server_cpu)
                } else {
                    String::new()
                };
                println!(
                    "| {} | {connections} | {} | {:.0} | {:.2} | {:.2} |{cpu}",
                    op.name(),
                    config.name(),
                    f.per_second,
                    f.p50_ms,
                    f.p99_ms
                );
            }
        }
    }
    println!(
        "\nRatios of calls per second, medians of the rounds' ratios; the last column is what a \
         client that sends the transaction in one round trip (pgbench's pipelined script) gains \
         over the sync face, the most the one-call scope can be expected to.\n"
    );
    println!(
        "| operation | connections | async one-call runtime | one-call / sync | one-call / \
         pgbench | one-call / pgbench pipelined | pgbench pipelined / sync |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for (op, connections, rounds) in results {
        let best = rounds.best_one_call();
        let ratio = |b: Config| {
            rounds
                .ratio(best, b)
                .map_or("n/a".to_owned(), |r| format!("{r:.2}"))
        };
        let runtime = match best {
            Config::Async(_, flavor) => flavor.name(),
            _ => "",
        };
        let ceiling = rounds
            .ratio(Config::Pgbench(Sending::Pipelined), Config::Sync)
            .map_or("n/a".to_owned(), |r| format!("{r:.2}"));
        println!(
            "| {} | {connections} | {runtime} | {} | {} | {} | {ceiling} |",
            op.name(),
            ratio(Config::Sync),
            ratio(Config::Pgbench(Sending::Statements)),
            ratio(Config::Pgbench(Sending::Pipelined)),
        );
    }
}

/// The two runtimes side by side, per path.
fn print_runtimes(results: &[(Op, usize, Rounds)]) {
    println!(
        "\nThe runtimes, on loopback: calls per second of each path on current_thread and on \
         multi_thread, and the ratio of the rounds (multi_thread over current_thread).\n"
    );
    println!(
        "| operation | connections | one-call current_thread | one-call multi_thread | ratio | \
         scope current_thread | scope multi_thread | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (op, connections, rounds) in results {
        let mut cells = Vec::new();
        for path in [Path::OneCall, Path::Scope] {
            let (ct, mt) = (
                Config::Async(path, Flavor::CurrentThread),
                Config::Async(path, Flavor::MultiThread),
            );
            let rate = |c: Config| rounds.medians(c).map_or(0.0, |f| f.per_second);
            cells.push(format!(
                "{:.0} | {:.0} | {:.2}",
                rate(ct),
                rate(mt),
                rounds.ratio(mt, ct).unwrap_or(f64::NAN)
            ));
        }
        println!(
            "| {} | {connections} | {} | {} |",
            op.name(),
            cells[0],
            cells[1]
        );
    }
}

/// A network, an operation, and on one connection the one-call scope's
/// calls per second over the sync face's and over pgbench's pipelined
/// script's, and the pipelined script's over the sync face's.
type Verdict = (String, Op, Option<f64>, Option<f64>, Option<f64>);

/// The targets, per call, on one connection.
fn print_verdicts(verdicts: &[Verdict]) {
    println!(
        "\n### Targets\n\nOn one connection: the async one-call scope's calls per second over \
         the sync face's (at least {LOOPBACK_TARGET} on loopback, {DELAYED_TARGET} with a \
         delay) and over pgbench's pipelined script (with a delay, within 10%: at least \
         {PIPELINED_TARGET}).\n"
    );
    println!(
        "| network | operation | one-call / sync | target | met | one-call / pgbench pipelined \
         | target | met | pgbench pipelined / sync |"
    );
    println!("| --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: |");
    for (network, op, over_sync, over_pipelined, ceiling) in verdicts {
        let loopback = network == "loopback";
        let sync_target = if loopback {
            LOOPBACK_TARGET
        } else {
            DELAYED_TARGET
        };
        let cell = |ratio: Option<f64>, target: f64| match ratio {
            Some(r) => format!(
                "{r:.2} | {target} | {}",
                if r >= target { "yes" } else { "no" }
            ),
            None => format!("n/a | {target} | n/a"),
        };
        let pipelined = if loopback {
            format!(
                "{} | none | -",
                over_pipelined.map_or("n/a".to_owned(), |r| format!("{r:.2}"))
            )
        } else {
            cell(*over_pipelined, PIPELINED_TARGET)
        };
        println!(
            "| {network} | {} | {} | {pipelined} | {} |",
            op.name(),
            cell(*over_sync, sync_target),
            ceiling.map_or("n/a".to_owned(), |r| format!("{r:.2}"))
        );
    }
}

/// Makes each of the five calls once through the async face's one-call
/// methods on a pool of one connection, and panics unless the statements
/// it prepared hold the five the benchmark mirrors and the notification
/// the pipelined send script mirrors ([`NOTIFY_IF_SENT`]).
fn check_statements(db: &TestDb, items: &Items, allocator: &mut Allocator) {
    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = Text)]
        statement: String,
    }
    let runtime = Flavor::CurrentThread.runtime();
    let prepared: Vec<String> = runtime.block_on(async {
        let pool = Pool::builder()
            .max_size(1)
            .build_async(&app_url(db))
            .await
            .expect("an async pool");
        for op in Op::ALL {
            let n = allocator.take(op, 1);
            call(&pool, op, Path::OneCall, args(op, items, n))
                .await
                .expect("a call");
        }
        let tenant = items.pairs[0].tenant_id;
        pool.with_tenant(tenant, async |tx| {
            diesel::sql_query("SELECT statement FROM pg_prepared_statements ORDER BY prepare_time")
                .load::<Prepared>(tx.connection())
                .await
                .map_err(Error::from)
        })
        .await
        .expect("read the prepared statements")
        .into_iter()
        .map(|p| p.statement)
        .collect()
    });
    for statement in Op::ALL
        .into_iter()
        .map(Op::statement)
        .chain([NOTIFY_IF_SENT])
    {
        assert!(
            prepared.iter().any(|p| p == statement),
            "the async face did not prepare\n\n{statement}\n\nIt prepared:\n\n{}",
            prepared.join("\n\n")
        );
    }
    println!(
        "The async face prepares the statements the blocking face does (and its one-call send \
         the notification the pipelined send script mirrors)."
    );
}
