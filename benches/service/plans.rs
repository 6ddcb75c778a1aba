//! The crate's statements as SQL text, the values written in, and their
//! plans as the runtime role sees them.

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{Cursor, Pool, TenantId, UserId};

use crate::statements::{COUNT, INBOX, INBOX_AFTER, bind};

/// `text` as an SQL string literal (ids and timestamps: nothing to escape).
pub fn literal(text: impl std::fmt::Display) -> String {
    format!("'{text}'")
}

/// The statement of `get_messages_for_user` with its values written in: a
/// page of `page_size` messages (and one more row, to know whether a page
/// follows) after `after`, or the first page.
pub fn inbox_sql(tenant: TenantId, user: UserId, after: Option<Cursor>, page_size: u32) -> String {
    let (tenant, user, limit) = (literal(tenant), literal(user), (page_size + 1).to_string());
    match after {
        Some(c) => bind(
            INBOX_AFTER,
            &[
                &tenant,
                &user,
                &literal(format!("{:?}", c.created_at())),
                &literal(c.id()),
                &limit,
            ],
        ),
        None => bind(INBOX, &[&tenant, &user, &limit]),
    }
}

/// The statement of `get_unread_count_for_user` with its values written in.
pub fn count_sql(tenant: TenantId, user: UserId) -> String {
    let (tenant, user) = (literal(tenant), literal(user));
    bind(COUNT, &[&tenant, &user, &tenant, &user, "1"])
}

/// Runs `EXPLAIN (ANALYZE, BUFFERS)` of `sql` in a tenant scope, as the
/// runtime role, after running `sql` once to warm the cache; returns the
/// plan.
pub fn explain(pool: &Pool, tenant: TenantId, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan = pool
        .with_tenant(tenant, |tx| {
            diesel::sql_query(sql).execute(tx.connection())?;
            Ok(
                diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                    .load::<Line>(tx.connection())?,
            )
        })
        .expect("explain");
    plan.into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn assert_index_only(plan: &str) {
    assert!(
        !plan.contains("Seq Scan on skill_messages"),
        "a sequential scan of skill_messages:\n{plan}"
    );
}

/// What a plan of `EXPLAIN (ANALYZE, BUFFERS)` says the query cost.
pub struct PlanFigures {
    /// Buffers the whole query touched (its top node's), hit and read.
    pub buffers: u64,
    /// Rows the query returned.
    pub rows: u64,
    /// Rows its nodes read and then discarded: removed by a filter or by an
    /// index recheck.
    pub rows_removed: u64,
}

impl PlanFigures {
    pub fn of(plan: &str) -> Self {
        let number_after = |line: &str, key: &str| -> Option<u64> {
            let rest = &line[line.find(key)? + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        // The first Buffers line is the top node's, which counts its
        // children's; the planner's own come after the plan.
        let buffers = plan
            .lines()
            .find(|l| l.trim_start().starts_with("Buffers:"))
            .map_or(0, |l| {
                number_after(l, " hit=").unwrap_or(0) + number_after(l, " read=").unwrap_or(0)
            });
        // The top node's actual rows: what the query returned.
        let rows = plan
            .lines()
            .next()
            .and_then(|top| top.find("(actual ").map(|at| &top[at..]))
            .and_then(|actual| number_after(actual, " rows="))
            .unwrap_or(0);
        let rows_removed = plan
            .lines()
            .filter_map(|l| {
                number_after(l, "Rows Removed by Filter: ")
                    .or_else(|| number_after(l, "Rows Removed by Index Recheck: "))
            })
            .sum();
        PlanFigures {
            buffers,
            rows,
            rows_removed,
        }
    }
}
