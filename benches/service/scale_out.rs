//! Scaling out: the five calls through the crate's public API and its
//! [`Pool`], on 1 and 4 connections, in four configurations, each on data of
//! its own:
//!
//! - plain PostgreSQL (`DATABASE_URL`'s server), direct, with the crate's
//!   prepared-statement cache (the default);
//! - the same, direct, with `transaction_pooling(true)`: no named prepared
//!   statements, each statement parsed and planned anew;
//! - the same server through PgBouncer in transaction mode
//!   (`BENCH_PGBOUNCER`, `host:port`), with `transaction_pooling(true)` as a
//!   pool there needs;
//! - a Citus cluster (`BENCH_CITUS_URL`, its coordinator's database as a
//!   superuser), with the cache: a schema of its own there, migrated and
//!   seeded through the coordinator, and a login of its own, a member of
//!   `skill_messages_app`.
//!
//! `scripts/bench-scale-out` starts PgBouncer and a cluster and runs this
//! section alone. It also prints, for Citus, the plan of each call's
//! statement: one task, on the tenant's shard.

use std::process;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{Pool, TenantId, run_migrations, uuid::Uuid};

use crate::calls::{MESSAGE, Op, STATEMENT_TIMEOUT, app_url};
use crate::common::{TestDb, connect, database_url, with_params};
use crate::plans::literal;
use crate::report::{median, plan_block, server_facts};
use crate::round_trips::{Proxy, server_address};
use crate::seed::{Items, Size, seed_data};
use crate::statements::{self, bind};
use crate::throughput::{Measured, item_range, measure_on};

/// The data of each configuration: 10 tenants of 50 users and 100 skills,
/// 20,000 messages.
pub const SCALE_OUT: Size = Size {
    name: "scale-out",
    tenants: 10,
    users: 50,
    skills: 100,
    messages: 20_000,
};

/// Calls per measurement unless `--calls` says otherwise: fewer than the
/// throughput section's, so that the section takes a few minutes.
pub const SCALE_OUT_CALLS: usize = 400;

/// Rounds: in each, every configuration is measured once, in turn, each
/// going first in one round of four.
const ROUNDS: usize = 5;

/// Where PgBouncer and the Citus coordinator are, from the environment.
pub struct Targets {
    pgbouncer: (String, String),
    citus_url: String,
}

impl Targets {
    /// `BENCH_PGBOUNCER` and `BENCH_CITUS_URL`; panics, saying what to set
    /// or to run, when either is missing.
    pub fn from_env() -> Self {
        let var =
            |name: &str, example: &str| {
                std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
                panic!(
                    "\n\nThe scale-out section needs {name} (e.g. {name}={example}): PgBouncer \
                     in transaction mode in front of DATABASE_URL's server (BENCH_PGBOUNCER, \
                     host:port) and the database of a Citus cluster's coordinator, as a \
                     superuser (BENCH_CITUS_URL). scripts/bench-scale-out starts both and runs \
                     this section.\n\n"
                )
            })
            };
        let pgbouncer = var("BENCH_PGBOUNCER", "127.0.0.1:6543");
        let citus_url = var(
            "BENCH_CITUS_URL",
            "postgres://postgres@127.0.0.1:9700/skill_messages",
        );
        let (host, port) = pgbouncer
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("BENCH_PGBOUNCER is host:port, not {pgbouncer}"));
        Targets {
            pgbouncer: (host.to_owned(), port.to_owned()),
            citus_url,
        }
    }
}

/// A schema of its own in the coordinator's database (Citus keeps its
/// metadata per database), migrated, and a login of its own that is a
/// member of `skill_messages_app` and starts its sessions in the schema;
/// both dropped on `Drop`.
struct CitusSchema {
    url: String,
    schema: String,
    login: String,
}

impl CitusSchema {
    fn new(url: &str) -> Self {
        let name = format!("skill_messages_bench_{}", process::id());
        let this = CitusSchema {
            url: url.to_owned(),
            schema: name.clone(),
            login: format!("{name}_app"),
        };
        let mut admin = connect(url);
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE;
                 DROP ROLE IF EXISTS {login};
                 CREATE SCHEMA {schema};
                 CREATE ROLE {login} LOGIN;
                 GRANT skill_messages_app TO {login};
                 GRANT USAGE ON SCHEMA {schema} TO skill_messages_app, {login}",
                schema = this.schema,
                login = this.login,
            ))
            .expect("create the benchmark's schema and login on the coordinator");
        run_migrations(&mut this.admin()).expect("migrate the benchmark's schema on Citus");
        this
    }

    /// The session options that put the schema on the search path.
    fn options(&self) -> String {
        format!("-csearch_path%3D{}", self.schema)
    }

    /// The superuser's connection, in the schema: for migrating and seeding.
    fn admin(&self) -> PgConnection {
        connect(&with_params(&self.url, &[("options", &self.options())]))
    }

    /// The login's URL: the crate's pools log in as it.
    fn login_url(&self) -> String {
        with_params(
            &self.url,
            &[
                ("user", &self.login),
                ("options", &self.options()),
                ("application_name", &self.schema),
                ("sslmode", "disable"),
            ],
        )
    }
}

impl Drop for CitusSchema {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.url).and_then(|mut admin| {
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE; DROP ROLE IF EXISTS {}",
                    self.schema, self.login
                ))
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
        });
        if let Err(error) = dropped {
            eprintln!(
                "could not drop schema {} and role {} on the Citus coordinator: {error}",
                self.schema, self.login
            );
        }
    }
}

/// The data a configuration runs on: a database of its own on the plain
/// server, or a schema of its own on the cluster.
enum Data {
    Plain(TestDb),
    Citus(CitusSchema),
}

/// One configuration: its data and work items, and how its pools connect.
struct Config {
    label: &'static str,
    data: Data,
    items: Items,
    url: String,
    transaction_pooling: bool,
}

impl Config {
    fn pool(&self, size: usize) -> Pool {
        Pool::builder()
            .max_size(size as u32)
            .statement_timeout(Some(STATEMENT_TIMEOUT))
            .transaction_pooling(self.transaction_pooling)
            .build(&self.url)
            .unwrap_or_else(|e| panic!("a pool for {}: {e}", self.label))
    }

    fn admin(&self) -> PgConnection {
        match &self.data {
            Data::Plain(db) => db.admin(),
            Data::Citus(schema) => schema.admin(),
        }
    }
}

/// A database of its own on the plain server, seeded.
fn plain(label: &'static str, transaction_pooling: bool, through: Option<&Targets>) -> Config {
    let db = TestDb::new();
    let mut admin = db.admin();
    seed_data(&mut admin, &SCALE_OUT, false);
    let items = Items::load(&mut admin);
    let url = match through {
        Some(targets) => {
            let (host, port) = &targets.pgbouncer;
            with_params(&app_url(&db), &[("host", host), ("port", port)])
        }
        None => app_url(&db),
    };
    Config {
        label,
        data: Data::Plain(db),
        items,
        url,
        transaction_pooling,
    }
}

/// A schema of its own on the cluster, seeded through the coordinator.
fn citus(targets: &Targets) -> Config {
    let schema = CitusSchema::new(&targets.citus_url);
    let mut admin = schema.admin();
    seed_data(&mut admin, &SCALE_OUT, true);
    let items = Items::load(&mut admin);
    Config {
        label: "Citus",
        url: schema.login_url(),
        data: Data::Citus(schema),
        items,
        transaction_pooling: false,
    }
}

/// Medians of one operation on one pool size, per configuration, and of
/// the rounds' ratios to the first configuration.
struct Row {
    per_second: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    ratio: Vec<f64>,
}

pub fn scale_out(targets: &Targets, calls: usize, ops: &[Op]) {
    let started = std::time::Instant::now();
    // The order of the tables' columns: the baseline first.
    let configs = [
        plain("plain, cache on", false, None),
        plain("plain, cache off", true, None),
        plain("PgBouncer, cache off", true, Some(targets)),
        citus(targets),
    ];
    let seeded = started.elapsed();
    let range = item_range(calls);
    let needed = 2 * ROUNDS * range;
    for config in &configs {
        // And 60 more for counting round trips, and one for the plans.
        let have = config
            .items
            .unread
            .len()
            .min(config.items.pending.len())
            .saturating_sub(61);
        assert!(
            have >= needed,
            "{}: {have} unread and pending messages, {needed} needed for {calls} calls a \
             measurement: pass fewer --calls",
            config.label
        );
    }

    println!("\n## Scaling out\n");
    let mut plain_admin = configs[0].admin();
    let mut citus_admin = configs[3].admin();
    println!("Plain: {}", server_facts(&mut plain_admin));
    println!(
        "\nCitus: {} {}",
        citus_facts(&mut citus_admin),
        server_facts(&mut citus_admin)
    );
    println!(
        "\nEach configuration on data of its own, seeded in {:.0} s in all: {} tenants x {} \
         users x {} skills, {} messages. The crate's calls through its Pool, {calls} calls a \
         measurement on 1 and on 4 connections (a pool of as many connections as threads), \
         {ROUNDS} rounds in which each configuration is measured in turn, a different one \
         first in each. Medians of the rounds; each ratio is the median of the rounds' ratios \
         to the first configuration's calls per second.",
        seeded.as_secs_f64(),
        SCALE_OUT.tenants,
        SCALE_OUT.users,
        SCALE_OUT.skills,
        SCALE_OUT.messages,
    );

    // The statements the crate prepares, on plain PostgreSQL and on Citus,
    // are the mirrors' (the check rolls back what it wrote).
    statements::check(&configs[0].pool(1), &configs[0].items);
    statements::check(&configs[3].pool(1), &configs[3].items);
    explain_on_citus(&configs[3]);

    round_trips(&configs[..2], ops, needed);

    let mut rows: Vec<(Op, usize, Vec<Row>)> = Vec::new();
    for (k, connections) in [1usize, 4].into_iter().enumerate() {
        let pools: Vec<Pool> = configs.iter().map(|c| c.pool(connections)).collect();
        for &op in ops {
            let mut runs: Vec<Vec<Measured>> = configs.iter().map(|_| Vec::new()).collect();
            for round in 0..ROUNDS {
                // Consuming operations take disjoint ranges of items.
                let base = range * (2 * round + k);
                for i in 0..configs.len() {
                    let c = (round + i) % configs.len();
                    runs[c].push(measure_on(
                        &pools[c],
                        &configs[c].items,
                        op,
                        connections,
                        calls,
                        base,
                    ));
                }
            }
            let row = |c: usize| Row {
                per_second: runs[c].iter().map(|m| m.per_second).collect(),
                p50: runs[c].iter().map(|m| m.p50.as_secs_f64() * 1e3).collect(),
                p99: runs[c].iter().map(|m| m.p99.as_secs_f64() * 1e3).collect(),
                ratio: runs[c]
                    .iter()
                    .zip(&runs[0])
                    .map(|(m, base)| m.per_second / base.per_second)
                    .collect(),
            };
            rows.push((op, connections, (0..configs.len()).map(row).collect()));
        }
    }
    rows.sort_by_key(|(op, connections, _)| {
        (ops.iter().position(|o| o.name() == op.name()), *connections)
    });

    let figures = |r: &Row| {
        format!(
            "{:.0} | {:.2} | {:.2}",
            median(r.per_second.clone()),
            median(r.p50.clone()),
            median(r.p99.clone())
        )
    };
    println!("\n### Plain PostgreSQL and Citus\n");
    println!("Both direct, with the prepared-statement cache.\n");
    println!(
        "| operation | connections | plain calls/s | p50 ms | p99 ms | Citus calls/s | p50 ms \
         | p99 ms | Citus / plain |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (op, connections, r) in &rows {
        println!(
            "| {} | {connections} | {} | {} | {:.2} |",
            op.name(),
            figures(&r[0]),
            figures(&r[3]),
            median(r[3].ratio.clone())
        );
    }
    println!("\n### The prepared-statement cache, and PgBouncer\n");
    println!(
        "Plain PostgreSQL: direct with the cache (the default), direct without it \
         (`transaction_pooling(true)`), and through PgBouncer in transaction mode without it.\n"
    );
    println!(
        "| operation | connections | cache on calls/s | p50 ms | p99 ms | cache off calls/s | \
         p50 ms | p99 ms | PgBouncer calls/s | p50 ms | p99 ms | off / on | PgBouncer / on |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | \
         ---: |"
    );
    for (op, connections, r) in &rows {
        println!(
            "| {} | {connections} | {} | {} | {} | {:.2} | {:.2} |",
            op.name(),
            figures(&r[0]),
            figures(&r[1]),
            figures(&r[2]),
            median(r[1].ratio.clone()),
            median(r[2].ratio.clone())
        );
    }
    println!(
        "\nThe scale-out section took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
}

/// Round trips per call of the pools of `configs` (plain PostgreSQL, with
/// the cache and without), counted on the wire as the round-trips section
/// counts them, on one connection: 50 calls of each operation after 4 to
/// warm up, on items from `first` on (past those the measurements take).
fn round_trips(configs: &[Config], ops: &[Op], first: usize) {
    const CALLS: usize = 50;
    let proxy = Proxy::start(server_address(&database_url()));
    let port = proxy.port.to_string();
    let counted: Vec<Vec<f64>> = configs
        .iter()
        .map(|config| {
            let url = with_params(
                &config.url,
                &[
                    ("host", "127.0.0.1"),
                    ("port", &port),
                    ("sslmode", "disable"),
                    ("gssencmode", "disable"),
                ],
            );
            let pool = Pool::builder()
                .max_size(1)
                .statement_timeout(Some(STATEMENT_TIMEOUT))
                .transaction_pooling(config.transaction_pooling)
                .build(&url)
                .expect("a pool through the counting proxy");
            ops.iter()
                .map(|&op| {
                    for i in 0..4 {
                        op.call(&pool, &config.items, first + CALLS + i)
                            .expect("a warm-up call");
                    }
                    let before = proxy.cycles();
                    for i in 0..CALLS {
                        op.call(&pool, &config.items, first + i)
                            .expect("a counted call");
                    }
                    (proxy.cycles() - before) as f64 / CALLS as f64
                })
                .collect()
        })
        .collect();
    println!("\n### Round trips per call\n");
    println!(
        "Counted on the wire (the server's ReadyForQuery messages) over {CALLS} calls on one \
         connection, as in the round-trips section. Without the cache, diesel sends each \
         statement, parse and parameters together, in one round trip (an unnamed statement, \
         `PQsendQueryParams`): as many round trips as with it, and a parse and plan in the \
         server each time.\n"
    );
    println!(
        "| operation | {} | {} |",
        configs[0].label, configs[1].label
    );
    println!("| --- | ---: | ---: |");
    for (i, op) in ops.iter().enumerate() {
        println!(
            "| {} | {:.2} | {:.2} |",
            op.name(),
            counted[0][i],
            counted[1][i]
        );
    }
}

/// Citus's version and the cluster's nodes and shards, as one line.
fn citus_facts(admin: &mut PgConnection) -> String {
    #[derive(QueryableByName)]
    struct Fact {
        #[diesel(sql_type = Text)]
        fact: String,
    }
    let fact: Fact = diesel::sql_query(
        "SELECT format('%s; %s workers; %s shards per table (citus.shard_count)',
                      citus_version(),
                      (SELECT count(*) FROM pg_dist_node WHERE groupid <> 0),
                      current_setting('citus.shard_count')) AS fact",
    )
    .get_result(admin)
    .expect("read Citus's version and nodes");
    format!("{}.", fact.fact)
}

/// Prints the plan Citus makes for each call's statement, its values
/// written in, as the runtime role in a tenant scope: `EXPLAIN` without
/// `ANALYZE`, so nothing is written. Panics unless each runs as one task.
fn explain_on_citus(config: &Config) {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let pool = config.pool(1);
    let items = &config.items;
    let pair = items.pairs[0];
    let (unread, pending) = (
        items.unread[items.unread.len() - 1],
        items.pending[items.pending.len() - 1],
    );
    let plans: Vec<(Op, TenantId, String)> =
        Op::ALL
            .into_iter()
            .map(|op| {
                let (t, from, to) = (
                    literal(pair.tenant_id),
                    literal(pair.user_id),
                    literal(pair.other_user_id),
                );
                let (subject, parent) = (literal(pair.skill_id), literal(pair.other_skill_id));
                let (tenant, sql) = match op {
                    Op::List => (pair.tenant_id, bind(op.statement(), &[&t, &to, "21"])),
                    Op::Count => (
                        pair.tenant_id,
                        bind(op.statement(), &[&t, &to, &t, &to, "1"]),
                    ),
                    Op::Send => (
                        pair.tenant_id,
                        bind(
                            op.statement(),
                            &[
                                &literal(Uuid::now_v7()),
                                &from,
                                &subject,
                                &parent,
                                &literal(MESSAGE),
                                &t,
                                &to,
                                &t,
                                &from,
                                &t,
                                &subject,
                                &t,
                                &parent,
                            ],
                        ),
                    ),
                    Op::MarkRead => (
                        unread.tenant_id,
                        bind(
                            op.statement(),
                            &[
                                &literal(unread.tenant_id),
                                &literal(unread.message_id),
                                &literal(unread.to_user_id),
                            ],
                        ),
                    ),
                    Op::Respond => (
                        pending.tenant_id,
                        bind(
                            op.statement(),
                            &[
                                "'accepted'",
                                &literal(pending.tenant_id),
                                &literal(pending.message_id),
                                &literal(pending.to_user_id),
                                "'pending'",
                            ],
                        ),
                    ),
                    Op::SentList | Op::MarkAllRead | Op::Withdraw => {
                        unreachable!("the five calls only")
                    }
                };
                let plan = pool
                    .with_tenant(tenant, |tx| {
                        Ok(diesel::sql_query(format!("EXPLAIN {sql}"))
                            .load::<Line>(tx.connection())?)
                    })
                    .unwrap_or_else(|e| panic!("EXPLAIN of {} on Citus: {e}", op.name()));
                let plan = plan.into_iter().map(|l| l.line).collect::<Vec<_>>();
                (op, tenant, plan.join("\n"))
            })
            .collect();
    println!("\n### Plans on Citus\n");
    println!(
        "`EXPLAIN` of each call's statement on the coordinator, its values written in, as the \
         runtime role in a tenant scope: a router plan of one task, sent to the worker that \
         holds the tenant's shard.\n"
    );
    println!("| operation | Task Count |");
    println!("| --- | ---: |");
    for (op, _, plan) in &plans {
        let tasks = task_count(plan);
        assert_eq!(
            tasks,
            Some(1),
            "{} is not one task on Citus:\n{plan}",
            op.name()
        );
        println!("| {} | {} |", op.name(), tasks.unwrap_or(0));
    }
    for (op, tenant, plan) in &plans {
        println!(
            "\n{}",
            plan_block(&format!("{}, tenant {tenant}", op.name()), plan)
        );
    }
}

/// The `Task Count` of a Citus plan.
fn task_count(plan: &str) -> Option<u64> {
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("Task Count: "))
        .and_then(|n| n.trim().parse().ok())
}
