//! A page deep inside a group of messages that share one `created_at`,
//! beside page one: messages sent in one transaction all carry its start
//! time, so only the id orders them, and a page after a cursor inside the
//! group must start at the cursor rather than scan the group up to it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MessageQuery, Pool, TenantId, UserId,
    get_messages_for_user, send_skill_message,
};

use crate::calls::{pool, timing_connection};
use crate::common::{TestDb, seed_tenant};
use crate::plans::{PlanFigures, assert_index_only, explain, inbox_sql, literal};
use crate::report::{median, plan_block};
use crate::server_timed::{RLS_BLOCKS, page_micros};

/// Messages in the group, all sent in one transaction to one user.
const TIE_GROUP: usize = 10_000;
/// The deep page's cursor sits after this many messages of the group.
const DEEP_AFTER: usize = 9_900;
/// Blocks of whole calls per page, and calls per block.
const TIE_BLOCKS: usize = 41;
const TIE_BLOCK_CALLS: usize = 100;

/// Seeds [`TIE_GROUP`] messages to one user in one tenant scope, then
/// compares page one with the page after the [`DEEP_AFTER`]th message, both
/// of the default size: whole calls of `get_messages_for_user`, the query
/// alone timed by the server, and what `EXPLAIN (ANALYZE, BUFFERS)` says
/// each read.
pub fn tie_group(db: &TestDb, admin: &mut PgConnection) {
    let fixture = seed_tenant(admin, "ties");
    let (tenant, reader) = (fixture.tenant, fixture.bob);
    let pool = pool(db, 1);
    let started = Instant::now();
    pool.with_tenant(tenant, |tx| {
        for n in 1..=TIE_GROUP {
            let text = format!("Tied message #{n}");
            send_skill_message(tx, fixture.proposal(&text))?;
        }
        Ok(())
    })
    .expect("send the group in one scope");
    let seeded = started.elapsed();
    let instants: i64 = messages::table
        .filter(messages::to_user_id.eq(reader))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(DISTINCT created_at)",
        ))
        .get_result(admin)
        .expect("count the group's instants");
    assert_eq!(instants, 1, "the group shares one created_at");
    admin
        .batch_execute("VACUUM ANALYZE skill_messages")
        .expect("vacuum and analyze the group");

    let deep_cursor = walk(&pool, tenant, reader);
    let page_size = DEFAULT_PAGE_SIZE;
    let deep_page = DEEP_AFTER / page_size as usize + 1;
    let (first_call, deep_call) = whole_calls(&pool, tenant, reader, deep_cursor);

    // The query alone, timed by the server in turn.
    let mut conn = timing_connection(db);
    let (mut first_query, mut deep_query) = (Vec::new(), Vec::new());
    for _ in 0..RLS_BLOCKS {
        first_query.push(page_micros(&mut conn, tenant, reader, None, page_size, 200));
        deep_query.push(page_micros(
            &mut conn,
            tenant,
            reader,
            Some(deep_cursor),
            page_size,
            200,
        ));
    }

    let first_plan = explain(&pool, tenant, &inbox_sql(tenant, reader, None, page_size));
    let deep_plan = explain(
        &pool,
        tenant,
        &inbox_sql(tenant, reader, Some(deep_cursor), page_size),
    );
    // For contrast, not the crate's: the condition the row comparison
    // replaced, which the index serves only up to `created_at`, in the
    // crate's statement otherwise.
    let expanded_plan = explain(
        &pool,
        tenant,
        &inbox_sql(tenant, reader, Some(deep_cursor), page_size).replace(
            &row_comparison(deep_cursor),
            &format!(
                "(\"skill_messages\".\"created_at\" <= {c} AND \
                 (\"skill_messages\".\"created_at\" < {c} OR \"skill_messages\".\"id\" < {i}))",
                c = literal(format!("{:?}", deep_cursor.created_at())),
                i = literal(deep_cursor.id()),
            ),
        ),
    );
    for plan in [&first_plan, &deep_plan] {
        assert_index_only(plan);
    }
    let (first, deep, expanded) = (
        PlanFigures::of(&first_plan),
        PlanFigures::of(&deep_plan),
        PlanFigures::of(&expanded_plan),
    );
    assert_eq!(
        deep.rows_removed, 0,
        "the deep page read rows it did not return:\n{deep_plan}"
    );

    println!("\n## A page deep in a tie group\n");
    println!(
        "{TIE_GROUP} messages to one user, sent in one tenant scope in {:.1} s: one \
         transaction, so they share one `created_at` and only the id orders them. Page 1 \
         against page {deep_page}, whose cursor sits after the group's {DEEP_AFTER}th message, \
         {page_size} messages a page. Whole calls of `get_messages_for_user` through a tenant \
         scope on one pooled connection, {} blocks of {TIE_BLOCK_CALLS} each in turn; the \
         query alone, timed by the server, {RLS_BLOCKS} blocks of 200 each in turn; medians. \
         Buffers (hit and read) and rows from `EXPLAIN (ANALYZE, BUFFERS)` as the runtime \
         role; rows removed are rows read and discarded by a filter.\n",
        seeded.as_secs_f64(),
        TIE_BLOCKS - 1,
    );
    println!(
        "| page | condition | whole call ms | query in the server us | buffers | rows | rows \
         removed |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let row = |page: String, condition: &str, call: String, query: String, f: &PlanFigures| {
        println!(
            "| {page} | {condition} | {call} | {query} | {} | {} | {} |",
            f.buffers, f.rows, f.rows_removed
        );
    };
    row(
        "1".into(),
        "none",
        format!("{first_call:.3}"),
        format!("{:.1}", median(first_query)),
        &first,
    );
    row(
        deep_page.to_string(),
        "`(created_at, id) < (c, i)`",
        format!("{deep_call:.3}"),
        format!("{:.1}", median(deep_query)),
        &deep,
    );
    row(
        format!("{deep_page}, for contrast"),
        "`created_at <= c AND (created_at < c OR id < i)`",
        "n/a".into(),
        "n/a".into(),
        &expanded,
    );
    for (name, plan) in [
        ("First page".to_owned(), first_plan),
        (format!("Page {deep_page}"), deep_plan),
    ] {
        println!("\n{}", plan_block(&name, &plan));
    }
}

/// The keyset condition of the crate's statement after `cursor`, its values
/// written in.
fn row_comparison(cursor: Cursor) -> String {
    let condition = format!(
        "(\"skill_messages\".\"created_at\", \"skill_messages\".\"id\") < ({}, {})",
        literal(format!("{:?}", cursor.created_at())),
        literal(cursor.id()),
    );
    assert!(
        crate::statements::INBOX_AFTER
            .contains("(\"skill_messages\".\"created_at\", \"skill_messages\".\"id\") < ($3, $4)"),
        "the keyset condition of the crate's statement changed"
    );
    condition
}

/// Pages through the whole group through the public API, the largest pages
/// the crate serves, checking that every message comes once; returns the
/// cursor after the [`DEEP_AFTER`]th.
fn walk(pool: &Pool, tenant: TenantId, reader: UserId) -> Cursor {
    let query = MessageQuery::new().limit(MAX_PAGE_SIZE);
    let (mut cursor, mut deep_cursor) = (None, None);
    let mut seen = HashSet::new();
    loop {
        let page = pool
            .with_tenant(tenant, |tx| {
                get_messages_for_user(tx, reader, query.after(cursor))
            })
            .expect("a page of the group");
        for message in &page.items {
            assert!(seen.insert(message.id), "a message listed twice");
            if seen.len() == DEEP_AFTER {
                deep_cursor = Some(Cursor::after(message));
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), TIE_GROUP, "every message of the group, once");
    deep_cursor.expect("a cursor inside the group")
}

/// Whole calls of page one and of the page after `deep`, in blocks taken in
/// turn, each going first in half of them; the first block of each warms the
/// cache and prepares the statements. Median milliseconds per call.
fn whole_calls(pool: &Pool, tenant: TenantId, reader: UserId, deep: Cursor) -> (f64, f64) {
    let block = |after: Option<Cursor>| -> Vec<Duration> {
        let query = MessageQuery::new().after(after);
        (0..TIE_BLOCK_CALLS)
            .map(|_| {
                let t0 = Instant::now();
                let page = pool
                    .with_tenant(tenant, |tx| get_messages_for_user(tx, reader, query))
                    .expect("a timed page");
                let elapsed = t0.elapsed();
                assert_eq!(page.items.len(), DEFAULT_PAGE_SIZE as usize);
                elapsed
            })
            .collect()
    };
    let (mut first, mut deep_calls) = (Vec::new(), Vec::new());
    for round in 0..TIE_BLOCKS {
        let (a, b) = if round % 2 == 0 {
            let a = block(None);
            (a, block(Some(deep)))
        } else {
            let b = block(Some(deep));
            (block(None), b)
        };
        if round > 0 {
            first.extend(a);
            deep_calls.extend(b);
        }
    }
    let millis =
        |calls: Vec<Duration>| median(calls.iter().map(|d| d.as_secs_f64() * 1e3).collect());
    (millis(first), millis(deep_calls))
}
