//! What the sections share to print their figures.

use diesel::prelude::*;
use diesel::sql_types::Text;

/// The median of `values`; the mean of the middle two for an even count.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// The server's version and the settings that weigh on the figures, as one
/// line of the report.
pub fn server_facts(admin: &mut PgConnection) -> String {
    #[derive(QueryableByName)]
    struct Fact {
        #[diesel(sql_type = Text)]
        fact: String,
    }
    let facts: Vec<Fact> = diesel::sql_query(
        "SELECT version() AS fact
         UNION ALL SELECT format('%s = %s', name, setting) FROM pg_settings
         WHERE name IN ('shared_buffers', 'work_mem', 'max_connections', 'fsync',
                        'synchronous_commit', 'random_page_cost', 'effective_cache_size')",
    )
    .load(admin)
    .expect("read the server's settings");
    let facts: Vec<String> = facts.into_iter().map(|f| f.fact).collect();
    format!("Server: {}.", facts.join("; "))
}

/// A query plan as a block of the report, under its name.
pub fn plan_block(name: &str, plan: &str) -> String {
    format!("{name}:\n\n```text\n{plan}\n```")
}
