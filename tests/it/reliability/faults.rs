//! Faults: server connections killed under load. A scope fails cleanly
//! (or, at its commit, with its outcome unknown), is all or nothing, and
//! the pool recovers by itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use skill_messages::Error;

use super::{Call, env_or, kind, stored};
use crate::common::{TestDb, app_login, seed_tenant};

/// How a two-message scope ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PairOutcome {
    Committed,
    Failed,
    Unknown,
}

#[test]
fn killed_connections_fail_cleanly_and_the_pool_recovers() {
    const THREADS: usize = 8;
    const POOL: u32 = 4;
    let total = env_or("RELIABILITY_FAULT_OPS", 1_200);
    let db = TestDb::new();
    let mut admin = db.admin();
    let f = seed_tenant(&mut admin, "faults");
    let pool = db.pool_of(POOL);
    let stop = AtomicBool::new(false);
    let kills = AtomicUsize::new(0);
    let started = Instant::now();

    let (pairs, outcomes) = thread::scope(|s| {
        s.spawn(|| {
            let mut killer = db.admin();
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(15));
                let killed: i64 =
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                        "count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE application_name = '{}' AND usename = '{}'",
                        db.name(),
                        app_login()
                    )))
                    .get_result(&mut killer)
                    .expect("terminate backends");
                kills.fetch_add(killed as usize, Ordering::Relaxed);
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (pool, stop) = (&pool, &stop);
                s.spawn(move || {
                    let _stop = StopOnPanic(stop);
                    let mut pairs = Vec::new();
                    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
                    for n in 0..total / THREADS {
                        // Two messages in one scope: both or neither.
                        let token = format!("fault {i}/{n}");
                        // Each a proposal of its own: one per pair is pending.
                        let send = |text: String| {
                            let new = f.proposal("");
                            Call::Send {
                                from: new.from_user_id,
                                to: new.to_user_id,
                                subject: new.subject_skill_id,
                                parent: new.proposed_parent_skill_id,
                                text,
                            }
                        };
                        let result = pool.with_tenant(f.tenant, |tx| {
                            send(format!("{token} a")).run(tx)?;
                            send(format!("{token} b")).run(tx)?;
                            Call::Count { user: f.bob }.run(tx)
                        });
                        let outcome = match &result {
                            Ok(_) => PairOutcome::Committed,
                            Err(Error::CommitOutcomeUnknown(_)) => PairOutcome::Unknown,
                            Err(Error::Database(_) | Error::Pool(_)) => PairOutcome::Failed,
                            Err(other) => {
                                panic!("not a typed failure of the connection: {other:?}")
                            }
                        };
                        let label = match &result {
                            Ok(_) => "scope ok".to_owned(),
                            Err(e) => format!("scope {}", kind(e)),
                        };
                        *outcomes.entry(label).or_default() += 1;
                        pairs.push((token, outcome));
                    }
                    (pairs, outcomes)
                })
            })
            .collect();
        let done: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let mut pairs = Vec::new();
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for (p, o) in done {
            pairs.extend(p);
            for (k, v) in o {
                *outcomes.entry(k).or_default() += v;
            }
        }
        (pairs, outcomes)
    });
    let elapsed = started.elapsed();

    // Once the killing stops, the pool serves again by itself.
    let recovery = Instant::now();
    for _ in 0..20 {
        pool.with_tenant(f.tenant, |tx| Call::Count { user: f.bob }.run(tx))
            .expect("the pool recovers");
    }
    // A pooled connection is reachable only in a scope now (`Pool::get` is
    // gone), so its session is read from inside one: POOL scopes held open
    // at once, so that every pooled connection is read, each of them the
    // login's own session acting as the app role for exactly the scope's
    // tenant. Between scopes, the server shows every backend of the
    // login idle, with no transaction left open.
    let held = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..POOL {
            s.spawn(|| {
                let (login, role, tenant): (String, String, Option<String>) = pool
                    .with_tenant(f.tenant, |tx| {
                        let session =
                            diesel::select((
                                diesel::dsl::sql::<diesel::sql_types::Text>("session_user::text"),
                                diesel::dsl::sql::<diesel::sql_types::Text>("current_user::text"),
                                diesel::dsl::sql::<
                                    diesel::sql_types::Nullable<diesel::sql_types::Text>,
                                >(
                                    "nullif(current_setting('app.current_tenant_id', true), '')"
                                ),
                            ))
                            .get_result(tx.connection())?;
                        // Hold the connection until every scope holds one
                        // (bounded, so that a failed scope cannot hang us).
                        held.fetch_add(1, Ordering::SeqCst);
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while held.load(Ordering::SeqCst) < POOL as usize
                            && Instant::now() < deadline
                        {
                            thread::sleep(Duration::from_millis(1));
                        }
                        Ok(session)
                    })
                    .expect("read the session");
                assert_eq!(
                    (login.as_str(), role.as_str(), tenant),
                    (
                        app_login(),
                        skill_messages::DEFAULT_RUNTIME_ROLE,
                        Some(f.tenant.to_string())
                    )
                );
            });
        }
    });
    let not_idle: Vec<String> = {
        #[derive(QueryableByName)]
        struct Backend {
            #[diesel(sql_type = diesel::sql_types::Text)]
            state: String,
        }
        diesel::sql_query(format!(
            "SELECT coalesce(state, '') AS state FROM pg_stat_activity \
             WHERE application_name = '{}' AND usename = '{}'",
            db.name(),
            app_login()
        ))
        .load::<Backend>(&mut admin)
        .expect("read the pooled backends")
        .into_iter()
        .map(|b| b.state)
        .filter(|state| state != "idle")
        .collect()
    };
    assert!(
        not_idle.is_empty(),
        "pooled backends not idle: {not_idle:?}"
    );
    pool.health_check().expect("the pool answers");

    // Committed pairs are whole, failed ones absent, unknown ones either.
    let rows = stored(&mut admin, &[f.tenant]);
    let texts: HashMap<&str, usize> = rows.iter().fold(HashMap::new(), |mut acc, m| {
        *acc.entry(m.message.as_str()).or_default() += 1;
        acc
    });
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    for (token, outcome) in &pairs {
        let a = texts
            .get(format!("{token} a").as_str())
            .copied()
            .unwrap_or(0);
        let b = texts
            .get(format!("{token} b").as_str())
            .copied()
            .unwrap_or(0);
        assert!(a <= 1 && b <= 1, "{token} stored twice");
        assert_eq!(a, b, "{token} half-written ({outcome:?})");
        match outcome {
            PairOutcome::Committed => assert_eq!(a, 1, "{token} committed but missing"),
            PairOutcome::Failed => assert_eq!(a, 0, "{token} failed but stored"),
            PairOutcome::Unknown => {}
        }
        let stored = if a == 1 { "stored" } else { "absent" };
        *by_outcome
            .entry(format!("{outcome:?}, {stored}"))
            .or_default() += 1;
    }
    assert_eq!(texts.len(), rows.len(), "no message stored twice");
    assert_eq!(
        rows.len(),
        2 * pairs
            .iter()
            .filter(|(t, _)| texts.contains_key(format!("{t} a").as_str()))
            .count()
    );

    println!(
        "faults: {} two-message scopes, {THREADS} threads, pool of {POOL}, {} connections \
         killed, {:.1} s; pool recovered in {:.0} ms",
        pairs.len(),
        kills.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        recovery.elapsed().as_secs_f64() * 1000.0
    );
    for (outcome, count) in outcomes.iter().chain(by_outcome.iter()) {
        println!("  {outcome:<60} {count:>6}");
    }
    assert!(
        kills.load(Ordering::Relaxed) > 0,
        "the killer killed nothing"
    );
    assert!(
        by_outcome.keys().any(|k| k.starts_with("Failed")),
        "no scope failed: the faults did not bite"
    );
}

/// Stops the killer when a worker panics, so that the test fails at once
/// instead of waiting for a stop that never comes.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
