//! What each operation costs a caller, on both faces: the latency of one
//! operation through a tenant's handle (a scope of its own), on the blocking
//! pool and on the async pool, one connection each, against one database
//! seeded with `benches/pgbench/seed.sql` (200,000 messages).
//!
//! ```sh
//! cargo bench --bench operations --features bench,async
//! BENCH_DELAY_MS=1 cargo bench --bench operations --features bench,async   # through a 1 ms proxy
//! ```
//!
//! The server is `DATABASE_URL`'s, as for the tests (a Citus coordinator, or
//! logins through `SKILL_MESSAGES_TEST_POOLER`, work as they do there:
//! `scripts/bench-scale-out`). `BENCH_DELAY_MS` puts a proxy that holds
//! everything that many milliseconds each way between the pools and the
//! server. `scripts/bench-pgbench` measures the same transactions sent by
//! pgbench; BENCHMARKS.md sets them side by side.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::TestDb;
use common::proxy::Proxy;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use skill_messages::{
    Answer, MessageQuery, NewSkillMessage, ReadMark, SkillId, SkillMessageId, TenantId, UserId,
};

/// A user of the seeded data, with another of the same tenant.
#[derive(Clone, Copy, QueryableByName)]
struct Pair {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: TenantId,
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
    #[diesel(sql_type = SqlUuid)]
    other_user_id: UserId,
    #[diesel(sql_type = SqlUuid)]
    skill_id: SkillId,
    #[diesel(sql_type = SqlUuid)]
    other_skill_id: SkillId,
}

impl Pair {
    fn proposal(&self) -> NewSkillMessage<'static> {
        NewSkillMessage {
            from_user_id: self.user_id,
            to_user_id: self.other_user_id,
            subject_skill_id: self.skill_id,
            proposed_parent_skill_id: Some(self.other_skill_id),
            message: "Shall we group them?",
        }
    }
}

/// The seeded database, a pair of users to act as, and the URL the pools
/// connect to (through a delaying proxy if `BENCH_DELAY_MS` says so).
struct Seeded {
    db: TestDb,
    /// Whose lists and counts are read: the writes go to the other pair,
    /// so that what is read stays as seeded.
    reader: Pair,
    /// Who the messages that writes act on go to.
    writer: Pair,
    url: String,
    _proxy: Option<Proxy>,
}

fn seeded() -> Seeded {
    let db = TestDb::new();
    let mut admin = db.admin();
    for statement in include_str!("pgbench/seed.sql")
        .split(";\n")
        .filter(|s| !s.trim().is_empty())
    {
        admin
            .batch_execute(statement)
            .expect("seed 200,000 messages");
    }
    admin.batch_execute("VACUUM ANALYZE").expect("vacuum");
    let mut pair = |n: u32| -> Pair {
        diesel::sql_query(format!("SELECT * FROM bench_pairs WHERE n = {n}"))
            .get_result(&mut admin)
            .expect("a pair of users")
    };
    let (reader, writer) = (pair(0), pair(1));
    let delay = std::env::var("BENCH_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let (url, proxy) = match delay {
        Some(delay) => {
            let proxy = Proxy::start(&common::server_address(), delay);
            (db.app_url_through(proxy.addr()), Some(proxy))
        }
        // Without TLS, as pgbench in scripts/bench-pgbench: on loopback it
        // would measure the encryption.
        None => (
            common::with_params(&db.app_url(), &[("sslmode", "disable")]),
            None,
        ),
    };
    Seeded {
        db,
        reader,
        writer,
        url,
        _proxy: proxy,
    }
}

/// A message from `pair`'s other user to its user, pending and unread,
/// written by the superuser: what a write operation acts on.
fn fresh_message(admin: &mut PgConnection, pair: &Pair) -> SkillMessageId {
    diesel::insert_into(skill_messages::schema::skill_messages::table)
        .values((
            skill_messages::schema::skill_messages::id
                .eq(SkillMessageId::from(uuid::Uuid::now_v7())),
            skill_messages::schema::skill_messages::tenant_id.eq(pair.tenant_id),
            skill_messages::schema::skill_messages::from_user_id.eq(pair.other_user_id),
            skill_messages::schema::skill_messages::to_user_id.eq(pair.user_id),
            skill_messages::schema::skill_messages::subject_skill_id.eq(pair.other_skill_id),
            skill_messages::schema::skill_messages::message.eq("to act on"),
        ))
        .returning(skill_messages::schema::skill_messages::id)
        .get_result(admin)
        .expect("a message to act on")
}

fn operations(c: &mut Criterion) {
    let seeded = seeded();
    let (reader, writer) = (seeded.reader, seeded.writer);
    let admin = std::cell::RefCell::new(seeded.db.admin());
    let fresh = || fresh_message(&mut admin.borrow_mut(), &writer);
    let read_target = fresh_message(&mut admin.borrow_mut(), &reader);

    let pool = seeded
        .db
        .pool_builder()
        .max_size(1)
        .build(&seeded.url)
        .expect("a blocking pool");
    let blocking = pool.tenant(reader.tenant_id);
    let mut group = c.benchmark_group("blocking");
    group.bench_function("send", |b| {
        b.iter(|| blocking.send(writer.proposal()).unwrap())
    });
    group.bench_function("inbox", |b| {
        b.iter(|| blocking.inbox(reader.user_id, MessageQuery::new()).unwrap())
    });
    group.bench_function("outbox", |b| {
        b.iter(|| {
            blocking
                .outbox(reader.user_id, MessageQuery::new())
                .unwrap()
        })
    });
    group.bench_function("unread_count", |b| {
        b.iter(|| blocking.unread_count(reader.user_id).unwrap())
    });
    group.bench_function("details", |b| {
        b.iter(|| blocking.details(read_target, reader.user_id).unwrap())
    });
    group.bench_function("mark_read", |b| {
        b.iter_batched(
            fresh,
            |m| blocking.mark_read(m, writer.user_id).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("mark_all_read", |b| {
        b.iter_batched(
            || [fresh()].into_iter().collect::<ReadMark>(),
            |seen| blocking.mark_all_read(writer.user_id, &seen).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("answer", |b| {
        b.iter_batched(
            fresh,
            |m| blocking.answer(m, writer.user_id, Answer::Accept).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("withdraw", |b| {
        b.iter_batched(
            fresh,
            |m| blocking.withdraw(m, writer.other_user_id).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    async_operations(c, &seeded, read_target, &fresh);
    drop(pool);
    four_clients(c, &seeded);
}

/// Time per send and per inbox page with four clients at once, each on a
/// connection of its own: the sends and pages of an iteration are shared
/// among four threads (blocking) or four tasks (async).
fn four_clients(c: &mut Criterion, seeded: &Seeded) {
    const CLIENTS: u64 = 4;
    let (reader, writer) = (seeded.reader, seeded.writer);
    let pool = seeded
        .db
        .pool_builder()
        .max_size(CLIENTS as u32)
        .build(&seeded.url)
        .expect("a blocking pool");
    let tenant = pool.tenant(reader.tenant_id);
    let mut group = c.benchmark_group("4 clients");
    let blocking = |iters: u64, op: &(dyn Fn() + Sync)| {
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..CLIENTS {
                s.spawn(|| (0..iters.div_ceil(CLIENTS)).for_each(|_| op()));
            }
        });
        started.elapsed()
    };
    group.bench_function("blocking/send", |b| {
        b.iter_custom(|iters| blocking(iters, &|| drop(tenant.send(writer.proposal()).unwrap())))
    });
    group.bench_function("blocking/inbox", |b| {
        b.iter_custom(|iters| {
            blocking(iters, &|| {
                drop(tenant.inbox(reader.user_id, MessageQuery::new()).unwrap())
            })
        })
    });
    four_async_clients(&mut group, seeded);
    group.finish();
}

#[cfg(feature = "async")]
fn four_async_clients(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    seeded: &Seeded,
) {
    let (reader, writer) = (seeded.reader, seeded.writer);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let pool = runtime
        .block_on(
            seeded
                .db
                .pool_builder()
                .max_size(4)
                .build_async(&seeded.url),
        )
        .expect("an async pool");
    let tenant = pool.tenant(reader.tenant_id);
    let run = |iters: u64, send: bool| {
        let started = std::time::Instant::now();
        runtime.block_on(async {
            let clients: Vec<_> = (0..4)
                .map(|_| {
                    let tenant = tenant.clone();
                    tokio::spawn(async move {
                        for _ in 0..iters.div_ceil(4) {
                            if send {
                                tenant.send(writer.proposal()).await.unwrap();
                            } else {
                                tenant
                                    .inbox(reader.user_id, MessageQuery::new())
                                    .await
                                    .unwrap();
                            }
                        }
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
        });
        started.elapsed()
    };
    group.bench_function("async/send", |b| b.iter_custom(|iters| run(iters, true)));
    group.bench_function("async/inbox", |b| b.iter_custom(|iters| run(iters, false)));
}

#[cfg(not(feature = "async"))]
fn four_async_clients(
    _: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    _: &Seeded,
) {
}

#[cfg(feature = "async")]
fn async_operations(
    c: &mut Criterion,
    seeded: &Seeded,
    read_target: SkillMessageId,
    fresh: &dyn Fn() -> SkillMessageId,
) {
    let (reader, writer) = (seeded.reader, seeded.writer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let pool = runtime
        .block_on(
            seeded
                .db
                .pool_builder()
                .max_size(1)
                .build_async(&seeded.url),
        )
        .expect("an async pool");
    let tenant = pool.tenant(reader.tenant_id);
    let tenant = &tenant;
    let mut group = c.benchmark_group("async");
    group.bench_function("send", |b| {
        b.to_async(&runtime)
            .iter(|| async { tenant.send(writer.proposal()).await.unwrap() })
    });
    group.bench_function("inbox", |b| {
        b.to_async(&runtime).iter(|| async {
            tenant
                .inbox(reader.user_id, MessageQuery::new())
                .await
                .unwrap()
        })
    });
    group.bench_function("outbox", |b| {
        b.to_async(&runtime).iter(|| async {
            tenant
                .outbox(reader.user_id, MessageQuery::new())
                .await
                .unwrap()
        })
    });
    group.bench_function("unread_count", |b| {
        b.to_async(&runtime)
            .iter(|| async { tenant.unread_count(reader.user_id).await.unwrap() })
    });
    group.bench_function("details", |b| {
        b.to_async(&runtime)
            .iter(|| async { tenant.details(read_target, reader.user_id).await.unwrap() })
    });
    group.bench_function("mark_read", |b| {
        b.to_async(&runtime).iter_batched(
            fresh,
            |m| async move { tenant.mark_read(m, writer.user_id).await.unwrap() },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("mark_all_read", |b| {
        b.to_async(&runtime).iter_batched(
            || [fresh()].into_iter().collect::<ReadMark>(),
            |seen| async move { tenant.mark_all_read(writer.user_id, &seen).await.unwrap() },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("answer", |b| {
        b.to_async(&runtime).iter_batched(
            fresh,
            |m| async move {
                tenant
                    .answer(m, writer.user_id, Answer::Accept)
                    .await
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("withdraw", |b| {
        b.to_async(&runtime).iter_batched(
            fresh,
            |m| async move { tenant.withdraw(m, writer.other_user_id).await.unwrap() },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

#[cfg(not(feature = "async"))]
fn async_operations(
    _: &mut Criterion,
    _: &Seeded,
    _: SkillMessageId,
    _: &dyn Fn() -> SkillMessageId,
) {
    println!("(the async face needs --features async)");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = operations
}
criterion_main!(benches);
