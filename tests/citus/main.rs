//! On a Citus cluster: every statement of every call runs on one shard, and
//! a tenant moved to a shard of its own is served unchanged. Run by
//! `scripts/test-citus`, against a cluster's coordinator (plain `cargo test`
//! leaves this file out).

#[path = "../it/common/mod.rs"]
mod common;

use std::sync::Mutex;

use common::{Fixture, TestDb, app_login, seed_tenant};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, Pool, ReadMark, SkillMessageId, TenantConn,
};

/// Citus counts executions per database: the tests of this file take
/// turns, and `scripts/test-citus` runs the file alone.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A migrated schema on the cluster, two seeded tenants, and a pool whose
/// connections count their executions.
fn cluster() -> (TestDb, Fixture, Fixture, Pool) {
    assert!(
        common::on_citus(),
        "tests/citus.rs needs a Citus cluster: run scripts/test-citus, or point DATABASE_URL \
         at a coordinator's database that has the citus extension"
    );
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    admin
        .batch_execute(&format!(
            "ALTER ROLE {} SET citus.enable_stat_counters = on",
            app_login()
        ))
        .expect("count executions");
    let pool = db.pool_of(1);
    (db, a, b, pool)
}

/// Citus's count of executions in this database so far: on one shard, on
/// several.
fn executions(admin: &mut PgConnection) -> (i64, i64) {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        single: i64,
        #[diesel(sql_type = BigInt)]
        multi: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT query_execution_single_shard AS single, query_execution_multi_shard AS multi \
         FROM citus_stat_counters WHERE name = current_database()",
    )
    .get_result(admin)
    .expect("read Citus's counters");
    (counts.single, counts.multi)
}

/// Runs `call` in a scope of `tenant` and returns what Citus counted for
/// it: executions on one shard, on several.
fn counted<T: std::fmt::Debug>(
    pool: &Pool,
    admin: &mut PgConnection,
    tenant: skill_messages::TenantId,
    call: impl FnOnce(&mut TenantConn<'_>) -> Result<T, Error>,
) -> ((i64, i64), Result<T, Error>) {
    let before = executions(admin);
    let result = pool.with_tenant(tenant, call);
    let after = executions(admin);
    ((after.0 - before.0, after.1 - before.1), result)
}

/// Each statement of each call, refused or not, runs on the tenant's shard
/// alone: Citus counts it as a single-shard execution (a plan of one task,
/// `Task Count: 1` in `EXPLAIN`) and counts no execution on several.
#[test]
fn every_statement_of_every_call_runs_on_one_shard() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (db, a, b, pool) = cluster();
    let mut admin = db.admin();
    let unknown = SkillMessageId::from(uuid::Uuid::nil());
    let (one, sent) = counted(&pool, &mut admin, a.tenant, |tx| {
        tx.send(a.proposal("one shard"))
    });
    let sent = sent.expect("send");
    assert_eq!(one, (1, 0), "send");
    let (_, to_withdraw) = counted(&pool, &mut admin, a.tenant, |tx| {
        tx.send(a.proposal("to withdraw"))
    });
    let to_withdraw = to_withdraw.expect("send");
    let seen: ReadMark = [to_withdraw.id].into_iter().collect();
    let withdrawn = to_withdraw.id;
    let cases: Vec<(
        &str,
        i64,
        Box<dyn Fn(&mut TenantConn<'_>) -> Result<(), Error>>,
    )> = vec![
        (
            "send",
            1,
            Box::new(|tx| tx.send(a.proposal("again")).map(drop)),
        ),
        (
            "send to another tenant's user (refused)",
            2,
            Box::new(|tx| {
                let refused = tx.send(NewSkillMessage {
                    to_user_id: b.bob,
                    ..a.proposal("across")
                });
                assert!(matches!(refused, Err(Error::UnknownUser(_))));
                Ok(())
            }),
        ),
        (
            "list",
            1,
            Box::new(|tx| tx.inbox(a.bob, MessageQuery::new()).map(drop)),
        ),
        (
            "list an empty inbox",
            2,
            Box::new(|tx| tx.inbox(a.carol, MessageQuery::new()).map(drop)),
        ),
        (
            "list unread",
            1,
            Box::new(|tx| tx.inbox(a.bob, MessageQuery::new().unread_only()).map(drop)),
        ),
        (
            "details",
            1,
            Box::new(move |tx| tx.details(sent.id, a.bob).map(drop)),
        ),
        ("count", 1, Box::new(|tx| tx.unread_count(a.bob).map(drop))),
        (
            "mark read",
            1,
            Box::new(move |tx| tx.mark_read(sent.id, a.bob).map(drop)),
        ),
        (
            "mark read, not the recipient (refused)",
            2,
            Box::new(move |tx| {
                let refused = tx.mark_read(sent.id, a.alice);
                assert!(matches!(refused, Err(Error::NotRecipient { .. })));
                Ok(())
            }),
        ),
        (
            "respond",
            1,
            Box::new(move |tx| tx.answer(sent.id, a.bob, Answer::Accept).map(drop)),
        ),
        (
            "respond again (refused)",
            2,
            Box::new(move |tx| {
                let refused = tx.answer(sent.id, a.bob, Answer::Decline);
                assert!(matches!(refused, Err(Error::NotPending { .. })));
                Ok(())
            }),
        ),
        (
            "list sent",
            1,
            Box::new(|tx| tx.outbox(a.alice, MessageQuery::new()).map(drop)),
        ),
        (
            "mark all read",
            1,
            Box::new(move |tx| tx.mark_all_read(a.bob, &seen).map(drop)),
        ),
        (
            "withdraw",
            1,
            Box::new(move |tx| tx.withdraw(withdrawn, a.alice).map(drop)),
        ),
        (
            "respond to a message the tenant lacks (refused)",
            2,
            Box::new(move |tx| {
                let refused = tx.answer(unknown, a.bob, Answer::Decline);
                assert!(matches!(refused, Err(Error::NotFound(_))));
                Ok(())
            }),
        ),
    ];
    for (name, statements, call) in &cases {
        let (counts, result) = counted(&pool, &mut admin, a.tenant, |tx| call(tx));
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            counts,
            (*statements, 0),
            "{name}: executions on one shard, on several"
        );
    }
}

/// A tenant isolated to a shard of its own, as a platform isolates its
/// largest customer, and that shard then moved to another worker, both with
/// the documented `shard_transfer_mode => 'block_writes'` (see
/// DEPLOYMENT.md: the default, logical replication, cannot write into
/// tables whose row-level security is forced), while callers of both
/// tenants send and read throughout. A scope always reads what it wrote;
/// the only calls that fail are sends in flight at the switch-over, which
/// fail as the transient errors DEPLOYMENT.md names (a send refused with
/// `SendRaced`, or Citus's "could not find valid entry for shard"), and
/// the callers go on. Every acknowledged send is there afterwards, the
/// moved shard still forces its policy, and every statement still runs on
/// one shard. With `--nocapture` it prints what the moves cost callers.
#[test]
fn a_tenant_isolated_and_moved_under_load_is_served_unchanged() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (db, a, b, pool) = cluster();
    let mut admin = db.admin();
    let load_pool = db.pool_of(4);
    let stop = AtomicBool::new(false);
    let (acknowledged, failures) = std::thread::scope(|s| {
        let callers: Vec<_> = [a, b, a, b]
            .into_iter()
            .map(|f| {
                let (pool, stop) = (&load_pool, &stop);
                s.spawn(move || {
                    let (mut sent, mut failed, mut slowest) =
                        (Vec::new(), Vec::new(), Duration::ZERO);
                    // Bounded: the moves take seconds, not tens of thousands of calls.
                    for _ in 0..20_000 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let started = Instant::now();
                        let call = pool.with_tenant(f.tenant, |tx| {
                            let message = tx.send(f.proposal("under load"))?;
                            tx.inbox(f.bob, MessageQuery::new().limit(5))?;
                            // The scope reads what it wrote.
                            let read = tx.details(message.id, f.alice)?;
                            assert_eq!(read.message, message);
                            Ok(message)
                        });
                        slowest = slowest.max(started.elapsed());
                        match call {
                            Ok(message) => sent.push(message.id),
                            Err(error) => failed.push(error),
                        }
                    }
                    (sent, failed, slowest)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let isolated = isolate(&mut admin, &a);
        let isolation = started.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        move_to_other_worker(&mut admin, isolated);
        let moving = started.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        let (mut acknowledged, mut failures, mut slowest) =
            (Vec::new(), Vec::new(), Duration::ZERO);
        for caller in callers {
            let (sent, failed, slow) = caller.join().expect("no panic");
            acknowledged.extend(sent);
            failures.extend(failed);
            slowest = slowest.max(slow);
        }
        eprintln!(
            "isolation {isolation:?}, move {moving:?}: {} calls acknowledged, {} failed, \
             the slowest took {slowest:?}",
            acknowledged.len(),
            failures.len()
        );
        (acknowledged, failures)
    });
    for failure in &failures {
        let transient = matches!(failure, Error::SendRaced)
            || matches!(failure, Error::Database(e)
                if e.to_string().starts_with("could not find valid entry for shard"));
        assert!(
            transient,
            "a call failed otherwise than transiently: {failure:?}"
        );
    }
    assert!(
        failures.len() <= 8,
        "{} calls failed: {failures:?}",
        failures.len()
    );
    let stored: Vec<SkillMessageId> = skill_messages::schema::skill_messages::table
        .select(skill_messages::schema::skill_messages::id)
        .load(&mut admin)
        .expect("every stored message");
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged sends missing: {missing:?}"
    );
    assert!(acknowledged.len() > 4, "{} sends", acknowledged.len());

    let shard = shard_of(&mut admin, &a);
    assert_ne!(shard_of(&mut admin, &b), shard, "B is elsewhere");
    let forced: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM run_command_on_placements('skill_messages', \
             $$SELECT relrowsecurity AND relforcerowsecurity FROM pg_class \
               WHERE oid = '%s'::regclass$$) \
         WHERE shardid = {shard} AND success AND result = 't'"
    ))
    .get_result(&mut admin)
    .expect("the moved shard's row-level security");
    assert_eq!(forced.n, 1, "the moved shard forces its policy");

    for f in [a, b] {
        let (counts, seen) = counted(&pool, &mut admin, f.tenant, |tx| {
            let later = tx.send(f.proposal("after"))?;
            let inbox = tx.inbox(f.bob, MessageQuery::new())?;
            let read = tx.mark_read(later.id, f.bob)?;
            Ok((later, inbox, read, tx.unread_count(f.bob)?))
        });
        let (later, inbox, read, unread) = seen.expect("served after the moves");
        assert_eq!(inbox.items[0].id, later.id, "newest first");
        assert!(inbox.items.iter().all(|m| m.tenant_id == f.tenant));
        assert!(read.read_at.is_some());
        assert!(unread > 0);
        assert_eq!(counts, (4, 0), "each statement on one shard");
    }
}

/// The shard that holds `f`'s tenant's messages.
fn shard_of(admin: &mut PgConnection, f: &Fixture) -> i64 {
    diesel::sql_query(format!(
        "SELECT get_shard_id_for_distribution_column('skill_messages', '{}') AS n",
        f.tenant
    ))
    .get_result::<Count>(admin)
    .expect("the tenant's shard")
    .n
}

/// Isolates `f`'s tenant to a shard of its own, blocking writes to it
/// meanwhile, and returns the new shard.
fn isolate(admin: &mut PgConnection, f: &Fixture) -> i64 {
    let before = shard_of(admin, f);
    admin
        .batch_execute(&format!(
            "SELECT isolate_tenant_to_new_shard('skill_messages', '{}', 'CASCADE', \
                 shard_transfer_mode => 'block_writes')",
            f.tenant
        ))
        .expect("isolate the tenant");
    let isolated = shard_of(admin, f);
    assert_ne!(isolated, before, "a new shard");
    let only_one: Count = diesel::sql_query(format!(
        "SELECT (shardminvalue = shardmaxvalue)::int::bigint AS n FROM pg_dist_shard \
         WHERE shardid = {isolated}"
    ))
    .get_result(admin)
    .expect("the new shard's hash range");
    assert_eq!(only_one.n, 1, "the new shard holds one tenant's hash value");
    isolated
}

/// Moves `shard` (and the shards co-located with it) to the worker that
/// does not hold it, blocking writes to it meanwhile.
fn move_to_other_worker(admin: &mut PgConnection, shard: i64) {
    #[derive(QueryableByName)]
    struct Nodes {
        #[diesel(sql_type = diesel::sql_types::Text)]
        from_host: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        from_port: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        to_host: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        to_port: i32,
    }
    let nodes: Nodes = diesel::sql_query(format!(
        "SELECT s.nodename AS from_host, s.nodeport AS from_port, \
                n.nodename AS to_host, n.nodeport AS to_port \
         FROM citus_shards s, pg_dist_node n \
         WHERE s.shardid = {shard} AND n.shouldhaveshards AND n.noderole = 'primary' \
           AND (n.nodename, n.nodeport) <> (s.nodename, s.nodeport) \
         LIMIT 1"
    ))
    .get_result(admin)
    .expect("the shard's worker and another");
    admin
        .batch_execute(&format!(
            "SELECT citus_move_shard_placement({shard}, '{}', {}, '{}', {}, \
                 shard_transfer_mode => 'block_writes')",
            nodes.from_host, nodes.from_port, nodes.to_host, nodes.to_port
        ))
        .expect("move the shard");
    let moved: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM citus_shards WHERE shardid = {shard} \
         AND nodeport = {}",
        nodes.to_port
    ))
    .get_result(admin)
    .expect("where the shard is now");
    assert_eq!(moved.n, 1, "moved to the other worker");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
