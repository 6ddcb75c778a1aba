//! The overhead of row-level security: the crate's statements as the
//! runtime role, with the policies, against the same statements as a role
//! that bypasses them.

use std::time::Instant;

use diesel::connection::{AnsiTransactionManager, SimpleConnection};
use diesel::dsl::exists;
use diesel::prelude::*;
use skill_messages::schema::{skill_messages as messages, users};
use skill_messages::{
    APP_ROLE, Error, MessageQuery, SkillMessage, get_messages_for_user, get_unread_count_for_user,
};

use crate::calls::{Op, timing_connection};
use crate::common::{self, TestDb};
use crate::report::median;
use crate::seed::{Items, Pair};
use crate::server_timed::{RLS_BLOCKS, RLS_LOOPS, TenantUsers};
use crate::statements;

/// Whole calls timed with and without row-level security, in blocks.
const RLS_CALLS: usize = 3_000;
const RLS_BLOCK_CALLS: usize = 100;

/// A role like the runtime role, but with BYPASSRLS: the baseline that pays
/// the same privilege checks and no policy. Named after this process's test
/// login, so that the harness drops it with the rest if the run is cut short.
fn bypass_role() -> String {
    format!("{}_bypass", common::app_login())
}

/// The inbox page and the unread count with row-level security in force
/// (the runtime role, the tenant set, the policy adding its condition to the
/// statement's own `tenant_id = t`) against the same statements run as a
/// role that bypasses row-level security but holds the same privileges.
/// Both run in turn on one connection (one server process), on the same
/// users: inside the server, timed by the server; and as whole calls, round
/// trips included.
pub fn rls_overhead(db: &TestDb, admin: &mut PgConnection, items: &Items) {
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
        "Both sides run the crate's statements, which name the tenant themselves \
         (`tenant_id = t`). With RLS: as the runtime role with the tenant set, the policy adding \
         its condition. Without: as `{bypass}`, a member of `skill_messages_app` with \
         BYPASSRLS, so that both pay the same privilege checks. Both in turn on one connection. \
         Inside the server: each query {per_block} times in a PL/pgSQL loop over one tenant's \
         users, timed by the server, {RLS_BLOCKS} blocks of each; microseconds per query. Whole \
         calls: the crate's scope and service call, against the same transaction (opened and \
         closed by the same batches, the tenant set the same way) as `{bypass}`, {RLS_CALLS} of \
         each in blocks of {RLS_BLOCK_CALLS}; microseconds per call. Medians; each ratio is the \
         median of the ratios of neighbouring blocks.\n"
    );
    println!("| query | policy expression | measured | with RLS us | without RLS us | ratio |");
    println!("| --- | --- | --- | ---: | ---: | ---: |");
    let mut conn = timing_connection(db);
    let inline = "nullif(current_setting('app.current_tenant_id', true), '')::uuid";
    let subselect = "(SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid)";
    for (label, expression) in [
        ("inline (the migrations')", inline),
        ("scalar subquery", subselect),
    ] {
        set_policies(admin, expression);
        for (name, function) in [
            ("inbox page", "bench_inbox"),
            ("unread count", "bench_count"),
        ] {
            let (mut rls, mut plain, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RLS_BLOCKS {
                let scoped = users.server_micros(&mut conn, APP_ROLE, function);
                let bypassing = users.server_micros(&mut conn, &bypass, function);
                rls.push(scoped);
                plain.push(bypassing);
                ratios.push(scoped / bypassing);
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
/// call, and the same transaction, opened and closed by the same batches
/// and running the same statement, as the bypassing role. Medians of
/// microseconds per call and of the blocks' ratios.
fn whole_calls(conn: &mut PgConnection, items: &Items, op: Op) -> (f64, f64, f64) {
    let bypass = bypass_role();
    let crate_call = |conn: &mut PgConnection, pair: Pair| -> Result<(), Error> {
        skill_messages::with_tenant(conn, pair.tenant_id, |tx| match op {
            Op::List => get_messages_for_user(tx, pair.user_id, MessageQuery::new()).map(drop),
            _ => get_unread_count_for_user(tx, pair.user_id).map(drop),
        })
    };
    let explicit = |conn: &mut PgConnection, pair: Pair| -> QueryResult<()> {
        // The batch `with_tenant` opens a scope with on a connection of the
        // caller's (the form that works on Citus too), the role aside.
        AnsiTransactionManager::begin_transaction_sql(
            conn,
            &format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; DO $scope$BEGIN \
                 SET LOCAL citus.propagate_set_commands = 'local'; \
                 SET LOCAL app.current_tenant_id = '{}'; SET LOCAL search_path TO DEFAULT; \
                 PERFORM set_config('search_path', concat_ws(', ', \
                     nullif(current_setting('search_path'), ''), 'pg_temp'), true); \
                 SET LOCAL ROLE {bypass}; END$scope$",
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
                        .filter(users::id.eq(pair.user_id)),
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
        // The crate's own commit batch, in the same form; diesel follows the
        // end of the transaction from libpq's status.
        conn.batch_execute(
            "DO $scope$BEGIN RESET ROLE; RESET app.current_tenant_id; END$scope$; COMMIT",
        )
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
                    explicit(conn, *pair).expect("a call bypassing row-level security");
                }
            }
            t0.elapsed().as_secs_f64() * 1e6 / RLS_BLOCK_CALLS as f64
        };
        // Each side goes first in half the rounds.
        let (scoped, bypassing) = if round % 2 == 0 {
            let scoped = time(conn, true);
            (scoped, time(conn, false))
        } else {
            let bypassing = time(conn, false);
            (time(conn, true), bypassing)
        };
        // The first round prepares the statements: the crate's, and the same
        // text again, built here (diesel keys its cache by the type here, by
        // the text in the crate).
        if round == 0 {
            let expected = op.statement();
            let prepared = statements::prepared(conn).expect("the prepared statements");
            assert!(
                prepared.iter().filter(|s| *s == expected).count() == 2,
                "the statement built here differs from the crate's:\n{}",
                prepared.join("\n")
            );
        }
        if round > 0 {
            rls.push(scoped);
            plain.push(bypassing);
            ratios.push(scoped / bypassing);
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
