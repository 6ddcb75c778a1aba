//! What the crate costs, against a real PostgreSQL: the five service calls
//! on 1 and 4 connections beside pgbench running the same transactions, round
//! trips counted on the wire, the overhead of row-level security, plans and
//! latency at 200,000 and at 1,000,000 messages, deep pages, a page deep in a
//! group of messages sent at the same instant, and memory.
//!
//! ```sh
//! cargo bench --bench service                  # 200,000 messages
//! cargo bench --bench service -- --size large  # 1,000,000 messages
//! ```
//!
//! `--calls N` sets the calls per measurement (default 1000); `--only` takes
//! a comma-separated list of throughput, round-trips, rls, scale, deep-pages,
//! tie-group; `--ops` one of list, count, send, mark_read, respond.
//!
//! It seeds a database of its own on the server `DATABASE_URL` names (the
//! test harness's), prints a report, and drops the database. BENCHMARKS.md
//! records the figures.
//!
//! One module per part of the report, in the order it prints them:
//!
//! - [`seed`]: the data, seeded with server-side SQL, and the work items;
//! - [`calls`]: the five service calls as every section makes them, and the
//!   connections they run on;
//! - [`throughput`]: throughput and latency beside [`pgbench`], with the CPU
//!   both use ([`cpu`]);
//! - [`round_trips`]: round trips counted on the wire by a proxy;
//! - [`rls`]: the overhead of row-level security, timed in the server by the
//!   functions of [`server_timed`] and as whole calls;
//! - [`scale`]: plans ([`plans`]) and latency at both sizes;
//! - [`deep_pages`]: paging through 100,000 messages, and [`memory`];
//! - [`tie_group`]: a page deep inside 10,000 messages sharing one
//!   `created_at`, beside page one;
//! - [`report`]: what the sections share to print their figures.

#[path = "../../tests/common/mod.rs"]
mod common;

mod calls;
mod cpu;
mod deep_pages;
mod memory;
mod pgbench;
mod plans;
mod report;
mod rls;
mod round_trips;
mod scale;
mod seed;
mod server_timed;
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
    let calls: usize = value("--calls").map_or(1_000, |c| c.parse().expect("--calls N"));
    let only = value("--only");
    let wanted = |part: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p == part))
    };

    let db = TestDb::new();
    let mut admin = db.admin();
    let started = Instant::now();
    seed::seed(&mut admin, &size);
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
    println!("{}", report::server_facts(&mut admin));

    let ops: Vec<Op> = Op::ALL
        .into_iter()
        .filter(|op| value("--ops").is_none_or(|o| o.split(',').any(|n| n == op.script())))
        .collect();
    if wanted("throughput") {
        throughput::throughput(&db, &items, calls, &ops);
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
    println!(
        "\nPeak resident memory of the benchmark process: {} MiB.",
        memory::memory_kib("VmHWM") / 1024
    );
}
