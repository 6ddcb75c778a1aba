//! The calls beyond the five: a page of the messages a user sent, marking
//! every unread message of a user read up to a position, and withdrawing a
//! proposal; beside pgbench as the five are, and their plans.

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{DEFAULT_PAGE_SIZE, Error, Pool, TenantId};

use crate::calls::{Op, pool};
use crate::common::TestDb;
use crate::plans::{assert_index_only, literal};
use crate::report::plan_block;
use crate::seed::{DIGEST_UNREAD, Items};
use crate::statements::{MARK_ALL_READ, SENT, WITHDRAW, bind};
use crate::throughput;

/// Each measurement is repeated this many times, crate and pgbench in turn.
pub const REPEATS: usize = 5;

/// The largest UUID: the id of `Cursor::up_to`'s position.
pub const MAX_ID: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

pub fn beyond(db: &TestDb, items: &Items, calls: usize, ops: &[Op]) {
    println!("\n## The calls beyond the five\n");
    println!(
        "`get_sent_messages_for_user` reads the first page (20 messages, 21 rows asked) of a \
         random user's sent messages, as the inbox does of the received. `mark_all_read` marks \
         every unread message of a user up to a position: each call acts on a different user, \
         one of {} seeded for it, each the recipient of exactly {DIGEST_UNREAD} messages, all \
         unread, sent the day before the seeding, and of no others; the position is the \
         seeding's time (`Cursor::up_to`), so each call marks exactly {DIGEST_UNREAD} messages \
         in its one statement. `withdraw_message` withdraws a different pending message each \
         call, as its sender. pgbench runs the scripts `sent_list.sql`, `mark_all_read.sql` \
         and `withdraw.sql` of `benches/pgbench/`, their statements the crate's word for \
         word, on items of their own.\n",
        items.digest.len()
    );
    throughput::table(db, items, calls, ops, REPEATS);
    plans(&pool(db, 1), items);
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the three statements, their values
/// written in, as the runtime role in a tenant scope that is rolled back:
/// each statement runs once (rolled back to a savepoint) to warm the
/// cache, then under `EXPLAIN`, so that the writes' plans show the rows
/// they would write. Items from the end of each table, past those the
/// measurements take.
fn plans(pool: &Pool, items: &Items) {
    println!(
        "\nPlans as the runtime role with a tenant set, each statement's values written in, in \
         a scope rolled back afterwards: a middling user's sent messages, a digest user's \
         unread messages, a pending message.\n"
    );
    let pair = items.pairs[items.pairs.len() / 2];
    let digest = items.digest[items.digest.len() - 1];
    let sent = items.withdraw[items.withdraw.len() - 1];
    let limit = (DEFAULT_PAGE_SIZE + 1).to_string();
    let plans = [
        (
            Op::SentList,
            pair.tenant_id,
            bind(
                SENT,
                &[&literal(pair.tenant_id), &literal(pair.user_id), &limit],
            ),
            "skill_messages_sent_idx",
        ),
        (
            Op::MarkAllRead,
            digest.tenant_id,
            bind(
                MARK_ALL_READ,
                &[
                    &literal(digest.tenant_id),
                    &literal(digest.user_id),
                    &literal(format!("{:?}", digest.up_to)),
                    &literal(MAX_ID),
                ],
            ),
            "skill_messages_unread_idx",
        ),
        (
            Op::Withdraw,
            sent.tenant_id,
            bind(
                WITHDRAW,
                &[
                    "'withdrawn'",
                    &literal(sent.tenant_id),
                    &literal(sent.message_id),
                    &literal(sent.from_user_id),
                    "'pending'",
                ],
            ),
            "skill_messages_pkey",
        ),
    ];
    for (op, tenant, sql, index) in plans {
        let plan = explain_rolled_back(pool, tenant, &sql);
        assert_index_only(&plan);
        assert!(
            plan.contains(index),
            "{} does not use {index}:\n{plan}",
            op.name()
        );
        println!("{}\n", plan_block(op.name(), &plan));
    }
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of `sql` in a tenant scope, after running
/// it once and rolling that back to a savepoint; the scope is rolled back.
pub fn explain_rolled_back(pool: &Pool, tenant: TenantId, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    enum Outcome {
        Plan(Vec<Line>),
        Failed(Error),
    }
    impl From<Error> for Outcome {
        fn from(error: Error) -> Self {
            Outcome::Failed(error)
        }
    }
    let outcome = pool.with_tenant_as(tenant, |tx| -> Result<(), Outcome> {
        let run = |tx: &mut skill_messages::TenantConn<'_>| -> QueryResult<Vec<Line>> {
            diesel::sql_query("SAVEPOINT warm").execute(tx.connection())?;
            diesel::sql_query(sql).execute(tx.connection())?;
            diesel::sql_query("ROLLBACK TO SAVEPOINT warm").execute(tx.connection())?;
            diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).load(tx.connection())
        };
        let plan = run(tx).map_err(Error::from)?;
        Err(Outcome::Plan(plan))
    });
    match outcome {
        Err(Outcome::Plan(plan)) => plan
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(Outcome::Failed(error)) => panic!("explain: {error}"),
        Ok(()) => unreachable!("the scope always rolls back"),
    }
}
