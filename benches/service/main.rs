//! What the crate costs, against a real PostgreSQL: the five service calls
//! on 1 and 4 connections beside pgbench running the same transactions, and
//! the three beyond them likewise, round trips counted on the wire, the
//! overhead of row-level security, plans and latency at 200,000 and at
//! 1,000,000 messages, deep pages, a page deep in a group of messages sent at
//! the same instant, memory, and (feature `async`) the async face beside the
//! blocking one and pgbench, on loopback and through a delaying proxy.
//!
//! ```sh
//! cargo bench --bench service                  # 200,000 messages
//! cargo bench --bench service -- --size large  # 1,000,000 messages
//! ```
//!
//! `--calls N` sets the calls per measurement (default 1000; 400 in
//! scale-out, 500 in async); `--only` takes a comma-separated list of
//! throughput, beyond, round-trips, rls, scale, deep-pages, tie-group,
//! scale-out, async; `--ops` a comma-separated list of list, count, send,
//! mark_read, respond, sent_list, mark_all_read, withdraw.
//!
//! It seeds a database of its own on the server `DATABASE_URL` names (the
//! test harness's), checks that the statements it mirrors are the ones the
//! crate prepares ([`statements`]), prints a report, and drops the database.
//! The scale-out section runs only when `--only` names it: it needs PgBouncer
//! and a Citus cluster (`BENCH_PGBOUNCER`, `BENCH_CITUS_URL`), which
//! `scripts/bench-scale-out` starts. So does the async section, which needs
//! the `async` feature (`cargo bench --bench service --features async --
//! --only async`) and takes several minutes. BENCHMARKS.md records the
//! figures.
//!
//! One module per part of the report, in the order it prints them:
//!
//! - [`seed`]: the data, seeded with server-side SQL, and the work items;
//! - [`calls`]: the five service calls as every section makes them, and the
//!   connections they run on;
//! - [`throughput`]: throughput and latency beside [`pgbench`], with the CPU
//!   both use ([`cpu`]);
//! - [`beyond`]: the same for the three calls beyond the five, and their
//!   plans;
//! - [`round_trips`]: round trips counted on the wire by a proxy;
//! - [`rls`]: the overhead of row-level security, timed in the server by the
//!   functions of [`server_timed`] and as whole calls;
//! - [`scale`]: plans ([`plans`]) and latency at both sizes;
//! - [`deep_pages`]: paging through 100,000 messages, and [`memory`];
//! - [`tie_group`]: a page deep inside 10,000 messages sharing one
//!   `created_at`, beside page one;
//! - [`scale_out`]: the calls on plain PostgreSQL with and without the
//!   prepared-statement cache, through PgBouncer, and on Citus;
//! - `async_face` (feature `async`): the async face's one-call methods and
//!   scopes beside the blocking face and pgbench, its scripts pipelined and
//!   not, on loopback and through a proxy that delays each direction
//!   (`net`);
//! - [`statements`]: the crate's statements, which every mirror is made from;
//! - [`report`]: what the sections share to print their figures.

#[path = "../../tests/common/mod.rs"]
mod common;

#[cfg(feature = "async")]
mod async_face;
mod beyond;
mod calls;
mod cpu;
mod deep_pages;
mod memory;
#[cfg(feature = "async")]
mod net;
mod pgbench;
mod plans;
mod report;
mod rls;
mod round_trips;
mod scale;
mod scale_out;
mod seed;
mod server_timed;
mod statements;
mod throughput;
mod tie_group;

use std::time::Instant;

use common::TestDb;

use crate::calls::Op;
use crate::seed::{DEFAULT, HEAVY_INBOX, Items, LARGE};

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
    let calls: Option<usize> = value("--calls").map(|c| c.parse().expect("--calls N"));
    let only = value("--only");
    const SECTIONS: [&str; 7] = [
        "throughput",
        "beyond",
        "round-trips",
        "rls",
        "scale",
        "deep-pages",
        "tie-group",
    ];
    if let Some(only) = &only {
        for part in only.split(',') {
            assert!(
                SECTIONS.contains(&part) || part == "scale-out" || part == "async",
                "--only takes a comma-separated list of {}, scale-out, async; not {part}",
                SECTIONS.join(", ")
            );
        }
    }
    let wanted = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };
    // Only when named: it needs PgBouncer and a Citus cluster.
    let scale_out = only
        .as_deref()
        .is_some_and(|o| o.split(',').any(|p| p == "scale-out"));
    // Before anything is seeded: fails at once when they are missing.
    let targets = scale_out.then(scale_out::Targets::from_env);
    // Only when named too: it takes several minutes, and the work items of
    // the throughput section.
    let async_face = only
        .as_deref()
        .is_some_and(|o| o.split(',').any(|p| p == "async"));
    assert!(
        !async_face || cfg!(feature = "async"),
        "the async section needs the async feature: cargo bench --bench service --features \
         async -- --only async"
    );

    if let Some(names) = value("--ops") {
        for name in names.split(',') {
            assert!(
                Op::ALL
                    .into_iter()
                    .chain(Op::BEYOND)
                    .any(|op| op.script() == name),
                "--ops takes a comma-separated list of list, count, send, mark_read, respond, \
                 sent_list, mark_all_read, withdraw; not {name}"
            );
        }
    }
    let chosen = |all: &[Op]| -> Vec<Op> {
        all.iter()
            .copied()
            .filter(|op| value("--ops").is_none_or(|o| o.split(',').any(|n| n == op.script())))
            .collect()
    };
    let ops = chosen(&Op::ALL);
    let beyond_ops = chosen(&Op::BEYOND);
    if SECTIONS.into_iter().any(wanted) || async_face {
        let db = TestDb::new();
        let mut admin = db.admin();
        let started = Instant::now();
        seed::seed(&mut admin, &size);
        if wanted("beyond") || async_face {
            seed::seed_beyond(&mut admin, &size);
        }
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
        if !items.digest.is_empty() {
            println!(
                "For the calls beyond the five: {} more users, each the recipient of {} unread \
                 messages.",
                items.digest.len(),
                seed::DIGEST_UNREAD
            );
        }
        println!("{}", report::server_facts(&mut admin));
        statements::check(&calls::pool(&db, 1), &items);
        println!("The statements the benchmark mirrors are the ones the crate prepares.");

        if wanted("throughput") {
            throughput::throughput(&db, &items, calls.unwrap_or(1_000), &ops);
        }
        if wanted("beyond") {
            beyond::beyond(&db, &items, calls.unwrap_or(1_000), &beyond_ops);
        }
        if wanted("round-trips") {
            round_trips::round_trips(&db, &items);
        }
        if wanted("rls") {
            rls::rls_overhead(&db, &mut admin, &items);
        }
        if wanted("scale") {
            scale::scale(&db, &items, &size);
        }
        if wanted("deep-pages") {
            deep_pages::deep_pages(&db, &mut admin);
        }
        if wanted("tie-group") {
            tie_group::tie_group(&db, &mut admin);
        }
        #[cfg(feature = "async")]
        if async_face {
            // After the items the throughput section took, if it ran.
            let first = if wanted("throughput") {
                throughput::items_needed(calls.unwrap_or(1_000), throughput::REPEATS)
            } else {
                0
            };
            async_face::async_face(&db, &items, calls, &ops, first);
        }
    }
    if let Some(targets) = &targets {
        println!("# skill-messages benchmark, scaling out");
        scale_out::scale_out(targets, calls.unwrap_or(scale_out::SCALE_OUT_CALLS), &ops);
    }
    println!(
        "\nPeak resident memory of the benchmark process: {} MiB.",
        memory::memory_kib("VmHWM") / 1024
    );
}
