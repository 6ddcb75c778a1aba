//! The inbox page and the unread count at both sizes: their plans, and
//! their latency measured in turn.

use std::time::Instant;

use skill_messages::{APP_ROLE, DEFAULT_PAGE_SIZE};

use crate::calls::{Op, pool, timing_connection};
use crate::common::TestDb;
use crate::plans::{assert_index_only, count_sql, explain, inbox_sql};
use crate::report::{median, plan_block};
use crate::seed::{DEFAULT, Items, LARGE, Size, seed};
use crate::server_timed::{RLS_LOOPS, TenantUsers};

/// Rounds of the scale comparison, each timing both sizes, and whole calls
/// of each kind per size and round.
const SCALE_ROUNDS: usize = 40;
const SCALE_CALLS: usize = 200;

/// The inbox page and the unread count on the benchmark's database and on
/// one of the other size, seeded for this: their plans, and their latency
/// measured in turn on both, so that the server's state weighs on both
/// alike.
pub fn scale(db: &TestDb, items: &Items, size: &Size) {
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
        let inbox = inbox_sql(pair.tenant_id, pair.user_id, None, DEFAULT_PAGE_SIZE);
        let count = count_sql(pair.tenant_id, pair.user_id);
        for (name, sql) in [("Inbox page", inbox), ("Unread count", count)] {
            let plan = explain(&pool, pair.tenant_id, &sql);
            assert_index_only(&plan);
            let name = format!("{name}, {} messages", size.messages);
            println!("{}\n", plan_block(&name, &plan));
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
                users.server_micros(conn, APP_ROLE, "bench_inbox"),
                users.server_micros(conn, APP_ROLE, "bench_count"),
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
