//! Throughput and latency of the five calls on 1 and 4 connections, beside
//! pgbench running the same transactions.

use std::thread;
use std::time::{Duration, Instant};

use skill_messages::Pool;

use crate::calls::{Op, pool};
use crate::common::TestDb;
use crate::cpu::Cpu;
use crate::pgbench::Pgbench;
use crate::report::median;
use crate::seed::Items;

pub struct Measured {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// CPU microseconds per call: the client's, and the rest of the
    /// machine's (the server, chiefly).
    pub client_cpu: f64,
    pub server_cpu: f64,
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
    measure_on(&pool(db, connections), items, op, connections, calls, base)
}

/// `calls` calls over `connections` threads sharing `pool`, which holds as
/// many connections, after a few to warm up (connections open, statements
/// prepared); consuming operations take items `base..base + calls + 64`.
pub fn measure_on(
    pool: &Pool,
    items: &Items,
    op: Op,
    connections: usize,
    calls: usize,
    base: usize,
) -> Measured {
    let per_thread = calls / connections;
    // Warm up: connections open, statements prepared.
    for i in 0..(connections * 4) {
        let n = if op.consumes_items() {
            base + calls + i
        } else {
            i * 7919
        };
        op.call(pool, items, n).expect("warm-up call");
    }
    let cpu = Cpu::now();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|t| {
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

/// Measurements are repeated this many times, crate and pgbench in turn,
/// each going first in half of them.
pub const REPEATS: usize = 10;

/// Items reserved for one measurement of a consuming operation.
pub fn item_range(calls: usize) -> usize {
    calls + 64
}

/// Items the measurements of [`table`] take from each consuming
/// operation's, from the first on: `repeats` of each connection count,
/// the crate's and pgbench's.
pub fn items_needed(calls: usize, repeats: usize) -> usize {
    2 * item_range(calls) * 2 * repeats
}

pub fn throughput(db: &TestDb, items: &Items, calls: usize, ops: &[Op]) {
    println!("\n## Throughput and latency\n");
    table(db, items, calls, ops, REPEATS);
}

/// The table of the throughput section for `ops`, each measurement
/// `repeats` times.
pub fn table(db: &TestDb, items: &Items, calls: usize, ops: &[Op], repeats: usize) {
    for &op in ops.iter().filter(|op| op.consumes_items()) {
        assert!(
            op.items_len(items) >= items_needed(calls, repeats) + 400,
            "{}: {} work items, {} needed for {calls} calls a measurement: pass fewer --calls",
            op.name(),
            op.items_len(items),
            items_needed(calls, repeats) + 400
        );
    }
    println!(
        "{calls} calls per measurement, each measurement {repeats} times with the crate and \
         pgbench taking turns. The crate's calls each open a tenant scope from a pool of as many \
         connections as threads. pgbench runs the same transaction as four statements \
         (`BEGIN`, the tenant with the scope's other settings, the statement, `COMMIT`), \
         prepared, as the same login. Figures are medians of the repetitions; the ratio is the \
         median of the repetitions' ratios, crate over pgbench. CPU is per call, in \
         microseconds: the client's (this process, or pgbench), and the rest of the machine's, \
         which is the server's chiefly.\n"
    );
    println!(
        "| operation | connections | calls/s | p50 ms | p99 ms | pgbench tx/s | ratio \
         | server CPU, crate / pgbench | client CPU, crate / pgbench |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let pgbench = Pgbench::new(db, items);
    let range = item_range(calls);
    for &op in ops {
        for (k, connections) in [1usize, 4].into_iter().enumerate() {
            let mut runs = Vec::new();
            let mut floors = Vec::new();
            let mut ratios = Vec::new();
            for repeat in 0..repeats {
                // Consuming operations take disjoint ranges of items.
                let crate_base = 2 * range * (2 * repeat + k);
                let pgbench_base = crate_base + range;
                // Each goes first in half the repetitions.
                let (run, floor) = if repeat % 2 == 0 {
                    let run = measure(db, items, op, connections, calls, crate_base);
                    (run, pgbench.run(op, connections, calls, pgbench_base))
                } else {
                    let floor = pgbench.run(op, connections, calls, pgbench_base);
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
