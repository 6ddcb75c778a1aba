//! On a Citus cluster: every statement of every call runs on one shard, and
//! a tenant moved to a shard of its own is served unchanged. Run by
//! `scripts/test-citus`, against a cluster's coordinator (plain `cargo test`
//! leaves this file out).

mod common;

use std::sync::Mutex;

use common::{Fixture, TestDb, app_login, seed_tenant};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response, SkillMessageDetails,
    SkillMessageId, TenantConn, get_message_details_for_user, get_messages_for_user,
    get_sent_messages_for_user, get_unread_count_for_user, mark_all_read, mark_message_read,
    send_skill_message, update_message_status, withdraw_message,
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
        send_skill_message(tx, a.proposal("one shard"))
    });
    let sent = sent.expect("send");
    assert_eq!(one, (1, 0), "send");
    let (_, to_withdraw) = counted(&pool, &mut admin, a.tenant, |tx| {
        send_skill_message(tx, a.proposal("to withdraw"))
    });
    let to_withdraw = to_withdraw.expect("send");
    let (seen, withdrawn) = (Cursor::after(&to_withdraw), to_withdraw.id);
    let cases: Vec<(
        &str,
        i64,
        Box<dyn Fn(&mut TenantConn<'_>) -> Result<(), Error>>,
    )> = vec![
        (
            "send",
            1,
            Box::new(|tx| send_skill_message(tx, a.proposal("again")).map(drop)),
        ),
        (
            "send to another tenant's user (refused)",
            2,
            Box::new(|tx| {
                let refused = send_skill_message(
                    tx,
                    NewSkillMessage {
                        to_user_id: b.bob,
                        ..a.proposal("across")
                    },
                );
                assert!(matches!(refused, Err(Error::UnknownUser(_))));
                Ok(())
            }),
        ),
        (
            "list",
            1,
            Box::new(|tx| get_messages_for_user(tx, a.bob, MessageQuery::new()).map(drop)),
        ),
        (
            "list an empty inbox",
            2,
            Box::new(|tx| get_messages_for_user(tx, a.carol, MessageQuery::new()).map(drop)),
        ),
        (
            "list with details",
            1,
            Box::new(|tx| {
                get_message_details_for_user(tx, a.bob, MessageQuery::new().unread_only()).map(drop)
            }),
        ),
        (
            "load details",
            1,
            Box::new(move |tx| SkillMessageDetails::load(tx, sent.id).map(drop)),
        ),
        (
            "count",
            1,
            Box::new(|tx| get_unread_count_for_user(tx, a.bob).map(drop)),
        ),
        (
            "mark read",
            1,
            Box::new(move |tx| mark_message_read(tx, sent.id, a.bob).map(drop)),
        ),
        (
            "mark read, not the recipient (refused)",
            2,
            Box::new(move |tx| {
                let refused = mark_message_read(tx, sent.id, a.alice);
                assert!(matches!(refused, Err(Error::NotRecipient { .. })));
                Ok(())
            }),
        ),
        (
            "respond",
            1,
            Box::new(move |tx| {
                update_message_status(tx, sent.id, a.bob, Response::Accepted).map(drop)
            }),
        ),
        (
            "respond again (refused)",
            2,
            Box::new(move |tx| {
                let refused = update_message_status(tx, sent.id, a.bob, Response::Declined);
                assert!(matches!(refused, Err(Error::AlreadyResponded { .. })));
                Ok(())
            }),
        ),
        (
            "list sent",
            1,
            Box::new(|tx| get_sent_messages_for_user(tx, a.alice, MessageQuery::new()).map(drop)),
        ),
        (
            "mark all read",
            1,
            Box::new(move |tx| mark_all_read(tx, a.bob, seen).map(drop)),
        ),
        (
            "withdraw",
            1,
            Box::new(move |tx| withdraw_message(tx, withdrawn, a.alice).map(drop)),
        ),
        (
            "respond to a message the tenant lacks (refused)",
            2,
            Box::new(move |tx| {
                let refused = update_message_status(tx, unknown, a.bob, Response::Declined);
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

/// A tenant moved to a shard of its own, as a platform isolates its
/// largest customer, is served unchanged, and so is everyone else.
#[test]
fn a_tenant_isolated_to_a_shard_of_its_own_is_served_unchanged() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (db, a, b, pool) = cluster();
    let mut admin = db.admin();
    let before: Vec<_> = [a, b]
        .iter()
        .map(|f| {
            pool.with_tenant(f.tenant, |tx| send_skill_message(tx, f.proposal("before")))
                .expect("send before the move")
        })
        .collect();
    let shard_of = |admin: &mut PgConnection, f: &Fixture| -> i64 {
        diesel::sql_query(format!(
            "SELECT get_shard_id_for_distribution_column('skill_messages', '{}') AS n",
            f.tenant
        ))
        .get_result::<Count>(admin)
        .expect("the tenant's shard")
        .n
    };
    let a_shard = shard_of(&mut admin, &a);
    admin
        .batch_execute(&format!(
            "SELECT isolate_tenant_to_new_shard('skill_messages', '{}', 'CASCADE', \
                 shard_transfer_mode => 'block_writes')",
            a.tenant
        ))
        .expect("isolate tenant A");
    let isolated = shard_of(&mut admin, &a);
    assert_ne!(isolated, a_shard, "A moved to a new shard");
    assert_ne!(shard_of(&mut admin, &b), isolated, "B is elsewhere");
    let only_a: Count = diesel::sql_query(format!(
        "SELECT (shardminvalue = shardmaxvalue)::int::bigint AS n FROM pg_dist_shard \
         WHERE shardid = {isolated}"
    ))
    .get_result(&mut admin)
    .expect("the new shard's hash range");
    assert_eq!(
        only_a.n, 1,
        "the new shard holds one tenant's hash value only"
    );

    for (f, earlier) in [(a, &before[0]), (b, &before[1])] {
        let (counts, seen) = counted(&pool, &mut admin, f.tenant, |tx| {
            let later = send_skill_message(tx, f.proposal("after"))?;
            let inbox = get_messages_for_user(tx, f.bob, MessageQuery::new())?;
            let read = mark_message_read(tx, earlier.id, f.bob)?;
            Ok((later, inbox, read, get_unread_count_for_user(tx, f.bob)?))
        });
        let (later, inbox, read, unread) = seen.expect("served after the move");
        let listed: Vec<SkillMessageId> = inbox.items.iter().map(|m| m.id).collect();
        assert_eq!(listed, [later.id, earlier.id], "newest first, nothing lost");
        assert!(inbox.items.iter().all(|m| m.tenant_id == f.tenant));
        assert!(read.read_at.is_some());
        assert_eq!(unread, 1);
        assert_eq!(counts, (4, 0), "each statement on one shard");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
