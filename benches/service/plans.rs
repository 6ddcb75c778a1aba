//! The crate's statements as SQL text, the values written in, and their
//! plans as the runtime role sees them.

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{Cursor, Pool, TenantId, UserId};

/// The columns of a message, as the crate selects them.
pub const COLUMNS: &str = "id, tenant_id, from_user_id, to_user_id, subject_skill_id, \
                           proposed_parent_skill_id, message, status, read_at, responded_at, \
                           created_at";

/// The statement of `get_messages_for_user`: a page of `page_size` messages
/// (and one more row, to know whether a page follows) after `after`, or the
/// first page.
pub fn inbox_sql(tenant: TenantId, user: UserId, after: Option<Cursor>, page_size: u32) -> String {
    let before = match after {
        Some(c) => format!(
            " AND (created_at, id) < ('{:?}', '{}')",
            c.created_at(),
            c.id()
        ),
        None => String::new(),
    };
    format!(
        "SELECT {COLUMNS} FROM skill_messages WHERE tenant_id = '{tenant}' \
         AND to_user_id = '{user}'{before} ORDER BY created_at DESC, id DESC LIMIT {}",
        page_size + 1
    )
}

/// The statement of `get_unread_count_for_user`.
pub fn count_sql(tenant: TenantId, user: UserId) -> String {
    format!(
        "SELECT EXISTS (SELECT id, tenant_id, email, display_name, created_at FROM users \
         WHERE tenant_id = '{tenant}' AND id = '{user}'), \
         (SELECT count(*) FROM skill_messages WHERE tenant_id = '{tenant}' \
         AND to_user_id = '{user}' AND read_at IS NULL LIMIT 1)"
    )
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
