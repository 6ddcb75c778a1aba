//! Async scopes cancelled at every point: with the server's answers
//! delayed by a proxy, scopes are dropped after timeouts of every length
//! from nothing to longer than they take, measured first. No connection goes back to the
//! pool in a transaction, with a tenant or role set, or with an answer
//! half read, and every cancelled scope's writes are all there or none.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::proxy::Proxy;
use crate::common::{TestDb, seed_tenant};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use skill_messages::asynchronous::AsyncPool;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{Error, MessageQuery, TenantId};

/// What a scope's connection shows inside the scope.
#[derive(Debug, PartialEq, QueryableByName)]
struct Inside {
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<Text>)]
    tenant: Option<String>,
    /// Whether the transaction has written before this statement: a scope
    /// that reads first has not, unless it runs in a leftover transaction.
    #[diesel(sql_type = Bool)]
    wrote: bool,
    /// Milliseconds since the transaction began.
    #[diesel(sql_type = BigInt)]
    age_ms: i64,
}

const INSIDE: &str = "SELECT current_user::text AS role, \
     current_setting('app.current_tenant_id', true) AS tenant, \
     pg_current_xact_id_if_assigned() IS NOT NULL AS wrote, \
     (extract(epoch FROM statement_timestamp() - transaction_timestamp()) * 1000)::bigint AS age_ms";

/// How many scopes of each kind must finish, and how many scopes be cut
/// short, for the run to have cancelled scopes at every point and checked
/// some of each kind that finished.
const FINISHED: usize = 10;
const CANCELLED: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_scopes_leave_no_dirty_connection_and_no_half_written_scope() {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    // Every request and every answer arrives a millisecond late (or two,
    // with the timer's granularity): a scope takes a few milliseconds for
    // each of its round trips.
    let proxy = Proxy::start(&crate::common::server_address(), Duration::from_millis(1));
    let pool: AsyncPool = db
        .pool_builder()
        .max_size(3)
        .min_idle(Some(3))
        .build_async(&db.app_url_through(proxy.addr()))
        .await
        .expect("a pool through the proxy");

    // Each scope writes messages tagged with its number: two in a scope of
    // two calls, one in a one-call scope.
    let scope = async |i: usize| {
        let tag = format!("scope {i}");
        if i % 2 == 0 {
            pool.with_tenant(a.tenant, async |tx| {
                tx.send(a.proposal(&tag)).await?;
                tx.send(a.proposal(&tag)).await?;
                Ok(2)
            })
            .await
        } else {
            pool.tenant(a.tenant)
                .send(a.proposal(&tag))
                .await
                .map(|_| 1)
        }
    };
    // How long a scope of two calls takes on this machine, the median of
    // three (their messages, tagged "calibration", are not checked).
    let mut took = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        pool.with_tenant(a.tenant, async |tx| {
            tx.send(a.proposal("calibration")).await?;
            tx.send(a.proposal("calibration")).await
        })
        .await
        .expect("a scope through the proxy");
        took.push(started.elapsed());
    }
    took.sort();
    // Timeouts grow from nothing in steps of a two-hundredth of that, so
    // cancellations fall at every await point, that of a connection's
    // checkout included, until enough scopes have finished.
    let step = took[1] / 200;
    let mut completed = BTreeMap::new();
    let finished = |completed: &BTreeMap<String, i64>, whole: i64| {
        completed.values().filter(|&&w| w == whole).count()
    };
    let mut scopes = 0;
    while (finished(&completed, 1) < FINISHED || finished(&completed, 2) < FINISHED)
        && scopes < 4000
    {
        let i = scopes;
        scopes += 1;
        match tokio::time::timeout(step * i as u32, scope(i)).await {
            Ok(Ok(written)) => {
                completed.insert(format!("scope {i}"), written);
            }
            Ok(Err(error)) => panic!("scope {i} failed rather than being cancelled: {error}"),
            Err(_elapsed) => {}
        }
    }
    let cancelled = scopes - completed.len();
    println!(
        "a scope of two calls took {:?}; of {scopes} scopes, {cancelled} cancelled",
        took[1]
    );
    assert!(
        finished(&completed, 1) >= FINISHED && finished(&completed, 2) >= FINISHED,
        "{} of {scopes} scopes finished",
        completed.len()
    );
    assert!(
        cancelled >= CANCELLED,
        "{cancelled} of {scopes} scopes were cancelled (a scope took {:?})",
        took[1]
    );

    // Every scope's writes are all there or none; a finished one's all there.
    let texts: Vec<String> = messages::table
        .select(messages::message)
        .load(&mut admin)
        .expect("read the messages");
    let mut written: BTreeMap<String, i64> = BTreeMap::new();
    for text in texts {
        *written.entry(text).or_default() += 1;
    }
    for i in 0..scopes {
        let tag = format!("scope {i}");
        let whole = if i % 2 == 0 { 2 } else { 1 };
        let found = written.get(&tag).copied().unwrap_or(0);
        assert!(
            found == 0 || found == whole,
            "{tag}: {found} of {whole} messages"
        );
        if let Some(&done) = completed.get(&tag) {
            assert_eq!(found, done, "{tag} finished, so all of it is there");
        }
    }

    // No backend of the pool's is left in a transaction once the broken
    // connections are closed.
    let mut in_transaction = i64::MAX;
    for _ in 0..100 {
        in_transaction = diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "count(*) FROM pg_stat_activity WHERE application_name = '{}' \
             AND usename = '{}' AND state LIKE 'idle in transaction%'",
            db.name(),
            crate::common::app_login()
        )))
        .get_result(&mut admin)
        .expect("read the pool's backends");
        if in_transaction == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(in_transaction, 0, "a connection was left in a transaction");

    // Every connection the pool hands out now: a fresh transaction, the
    // runtime role, the scope's tenant, and answers that belong to it.
    for round in 0..30 {
        let tenant = if round % 2 == 0 { b } else { a };
        let (inside, unread, page) = pool
            .with_tenant(tenant.tenant, async |tx| {
                let inside: Inside = diesel_async::RunQueryDsl::get_result(
                    diesel::sql_query(INSIDE),
                    tx.connection(),
                )
                .await?;
                let unread = tx.unread_count(tenant.bob).await?;
                let page = tx.inbox(tenant.bob, MessageQuery::new()).await?;
                Ok::<_, Error>((inside, unread, page))
            })
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(inside.role, "skill_messages_app", "round {round}");
        assert_eq!(
            inside.tenant,
            Some(tenant.tenant.to_string()),
            "round {round}"
        );
        assert!(
            !inside.wrote,
            "round {round}: inside an older transaction that wrote"
        );
        assert!(
            inside.age_ms < 1000,
            "round {round}: inside an older transaction"
        );
        assert_eq!(
            unread,
            expected_unread(&mut admin, tenant.tenant),
            "round {round}"
        );
        assert!(page.items.iter().all(|m| m.tenant_id == tenant.tenant));
        let one_call = pool
            .tenant(tenant.tenant)
            .unread_count(tenant.bob)
            .await
            .expect("one call");
        assert_eq!(one_call, unread, "round {round}");
    }
    assert!(pool.state().connections <= 3);
}

/// The unread messages of the fixture's bob in `tenant`, as the superuser
/// counts them.
fn expected_unread(admin: &mut PgConnection, tenant: TenantId) -> u64 {
    let n: i64 = messages::table
        .filter(messages::tenant_id.eq(tenant))
        .filter(messages::read_at.is_null())
        .count()
        .get_result(admin)
        .expect("count");
    n.unsigned_abs()
}
