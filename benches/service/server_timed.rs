//! Queries timed inside the server: PL/pgSQL functions that run one of the
//! crate's statements in a loop and return the microseconds per query, so
//! that neither round trips nor the client weigh on the figure.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use skill_messages::{APP_ROLE, Cursor, TenantId, UserId};

use crate::seed::Items;
use crate::statements::{COUNT, INBOX, INBOX_AFTER, bind};

/// Loops over a tenant's users per timed block, and blocks per variant.
pub const RLS_LOOPS: usize = 20;
pub const RLS_BLOCKS: usize = 41;

/// PL/pgSQL functions that run the crate's statements (see
/// [`statements`](crate::statements)), the values it binds as the
/// functions' variables: `bench_inbox` and `bench_count` once for each user
/// of a list, `loops` times over; `bench_page` one page, `loops` times. Each
/// returns the microseconds per query. Whether row-level security applies,
/// the role that runs them decides.
pub fn timing_functions() -> String {
    let inbox = bind(INBOX, &["t", "u", "21"]);
    let count = bind(COUNT, &["t", "u", "t", "u", "1"]);
    let count = count
        .strip_prefix("SELECT ")
        .expect("the count is a SELECT");
    let first_page = bind(INBOX, &["t", "u", "page_size + 1"]);
    let later_page = bind(
        INBOX_AFTER,
        &["t", "u", "before", "before_id", "page_size + 1"],
    );
    format!(
        "
CREATE FUNCTION bench_inbox(t uuid, user_ids uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY user_ids LOOP
    PERFORM count(*) FROM ({inbox}) page;
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(user_ids));
END $$;
CREATE FUNCTION bench_count(t uuid, user_ids uuid[], loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE u uuid; started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP FOREACH u IN ARRAY user_ids LOOP
    PERFORM {count};
  END LOOP; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / (loops * cardinality(user_ids));
END $$;
CREATE FUNCTION bench_page(t uuid, u uuid, before timestamptz, before_id uuid, page_size int,
                           loops int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..loops LOOP
    IF before IS NULL THEN
      PERFORM count(*) FROM ({first_page}) page;
    ELSE
      PERFORM count(*) FROM ({later_page}) page;
    END IF;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1e6 / loops;
END $$;
"
    )
}

#[derive(QueryableByName)]
struct Micros {
    #[diesel(sql_type = diesel::sql_types::Double)]
    micros: f64,
}

/// A tenant and its users, for the timing functions.
pub struct TenantUsers {
    tenant: TenantId,
    array: String,
    pub count: usize,
}

impl TenantUsers {
    pub fn of(items: &Items, tenant: TenantId) -> Self {
        let users: Vec<String> = items
            .pairs
            .iter()
            .filter(|p| p.tenant_id == tenant)
            .map(|p| p.user_id.to_string())
            .collect();
        TenantUsers {
            tenant,
            array: format!("'{{{}}}'::uuid[]", users.join(",")),
            count: users.len(),
        }
    }

    /// Microseconds per query of `function`, timed by the server, run as
    /// `role` with the tenant set.
    pub fn server_micros(&self, conn: &mut PgConnection, role: &str, function: &str) -> f64 {
        let tenant = self.tenant;
        conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SET LOCAL ROLE {role}; \
                 SELECT set_config('app.current_tenant_id', '{tenant}', true)"
            ))?;
            diesel::sql_query(format!(
                "SELECT {function}('{tenant}', {}, {RLS_LOOPS}) AS micros",
                self.array
            ))
            .get_result::<Micros>(conn)
        })
        .expect("a timed block")
        .micros
    }
}

/// Microseconds per query of the inbox page of `page_size` after `after`
/// (the first page for `None`), timed by the server over `loops` queries,
/// as the runtime role with the tenant set.
pub fn page_micros(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    after: Option<Cursor>,
    page_size: u32,
    loops: usize,
) -> f64 {
    let before = match after {
        Some(c) => format!("'{:?}', '{}'", c.created_at(), c.id()),
        None => "NULL, NULL".to_owned(),
    };
    conn.transaction(|conn| {
        conn.batch_execute(&format!(
            "SET LOCAL ROLE {APP_ROLE}; \
             SELECT set_config('app.current_tenant_id', '{tenant}', true)"
        ))?;
        diesel::sql_query(format!(
            "SELECT bench_page('{tenant}', '{user}', {before}, {page_size}, {loops}) AS micros"
        ))
        .get_result::<Micros>(conn)
    })
    .expect("a timed block of pages")
    .micros
}
