//! Paging through the inbox of one user with 100,000 messages: the time of
//! each page, resident memory while paging, and the plans of the first and
//! of a deep page.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use skill_messages::schema::users;
use skill_messages::{Cursor, MessageQuery, TenantId, UserId, get_messages_for_user};

use crate::calls::{pool, timing_connection};
use crate::common::TestDb;
use crate::memory::memory_kib;
use crate::plans::{assert_index_only, explain, inbox_sql};
use crate::report::{median, plan_block};
use crate::seed::HEAVY_INBOX;
use crate::server_timed::{RLS_BLOCKS, page_micros};

/// Pages through the inbox of the user with [`HEAVY_INBOX`] messages, 100
/// at a time, timing each page and sampling resident memory.
pub fn deep_pages(db: &TestDb, admin: &mut PgConnection) {
    const PAGE: u32 = 100;
    let (tenant, reader): (TenantId, UserId) = users::table
        .filter(users::email.eq("reader@heavy.example"))
        .select((users::tenant_id, users::id))
        .get_result(admin)
        .expect("the heavy reader");
    let pool = pool(db, 1);
    let query = MessageQuery::new().limit(PAGE);
    // Prepare both statements (without and with a cursor) and warm the cache.
    let mut cursor = None;
    for _ in 0..20 {
        let page = pool
            .with_tenant(tenant, |tx| {
                get_messages_for_user(tx, reader, query.after(cursor))
            })
            .expect("a warm-up page");
        cursor = page.next;
    }
    let mut cursor = None;
    let mut pages: Vec<Duration> = Vec::new();
    let mut rss = Vec::new();
    let mut deep_cursor: Option<Cursor> = None;
    let mut seen = 0usize;
    loop {
        if pages.len() % 100 == 0 {
            rss.push((pages.len(), memory_kib("VmRSS")));
        }
        let t0 = Instant::now();
        let page = pool
            .with_tenant(tenant, |tx| {
                get_messages_for_user(tx, reader, query.after(cursor))
            })
            .expect("a page");
        pages.push(t0.elapsed());
        seen += page.items.len();
        if pages.len() == 900 {
            deep_cursor = page.items.last().map(Cursor::after);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    rss.push((pages.len(), memory_kib("VmRSS")));
    assert_eq!(seen, HEAVY_INBOX);
    println!("\n## Deep pages\n");
    println!(
        "One user's {HEAVY_INBOX} messages, 100 a page, {} pages, each through a tenant scope.\n",
        pages.len()
    );
    println!("| pages | median ms per page |");
    println!("| --- | ---: |");
    for (from, to) in [(0, 100), (450, 550), (900, 1000)] {
        let window = pages[from..to.min(pages.len())]
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        println!("| {}-{} | {:.3} |", from + 1, to, median(window));
    }
    println!("\nResident memory while paging:\n");
    println!("| after page | resident KiB |");
    println!("| ---: | ---: |");
    for (page, kib) in &rss {
        println!("| {page} | {kib} |");
    }
    let deep_cursor = deep_cursor.expect("a cursor at page 900");
    let first = inbox_sql(tenant, reader, None, PAGE);
    let deep = inbox_sql(tenant, reader, Some(deep_cursor), PAGE);
    // The two queries alone, timed by the server in turn.
    let mut conn = timing_connection(db);
    let (mut first_page, mut deep_page) = (Vec::new(), Vec::new());
    for _ in 0..RLS_BLOCKS {
        first_page.push(page_micros(&mut conn, tenant, reader, None, PAGE, 200));
        deep_page.push(page_micros(
            &mut conn,
            tenant,
            reader,
            Some(deep_cursor),
            PAGE,
            200,
        ));
    }
    println!(
        "\nThe query alone, timed by the server, {RLS_BLOCKS} blocks of 200 each in turn: \
         first page {:.1} us, page 901 {:.1} us (medians).",
        median(first_page),
        median(deep_page)
    );
    for (name, sql) in [("First page", first), ("Page 901", deep)] {
        let plan = explain(&pool, tenant, &sql);
        assert_index_only(&plan);
        println!("\n{}", plan_block(name, &plan));
    }
}
