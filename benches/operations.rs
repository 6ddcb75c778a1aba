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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::TestDb;
use common::proxy::Proxy;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use skill_messages::{
    Answer, MessageQuery, NewSkillMessage, ReadMark, SkillId, SkillMessageId, SkillMessageStatus,
    TenantId, UserId,
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
}

/// Proposals for the sends, in the writer's tenant, each one none of the
/// seeded messages and none of the earlier sends makes (one proposal per
/// pair is pending): sender and recipient among users 1 to 49 (user 0's
/// lists are read), the subject never the sender's own skill (as every
/// seeded one is), about 5.6 million before they repeat.
struct Proposals {
    users: Vec<UserId>,
    skills: Vec<SkillId>,
    next: AtomicUsize,
}

/// An id of the seeded data, by its number.
#[derive(QueryableByName)]
struct SeededId {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
}

impl Proposals {
    /// Tenant 0's users and skills, by number, as seed.sql derives them.
    fn load(admin: &mut PgConnection) -> Self {
        let mut ids = |kind: &str| -> Vec<uuid::Uuid> {
            diesel::sql_query(format!(
                "SELECT md5('{kind} 0 ' || i)::uuid AS id FROM generate_series(0, 49) i ORDER BY i"
            ))
            .load::<SeededId>(admin)
            .expect("the seeded ids")
            .into_iter()
            .map(|row| row.id)
            .collect()
        };
        Self {
            users: ids("user").into_iter().map(UserId::from).collect(),
            skills: ids("skill").into_iter().map(SkillId::from).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next proposal.
    fn next(&self) -> NewSkillMessage<'static> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let (from, k) = (1 + k % 49, k / 49);
        let (to, k) = (1 + k % 48, k / 48);
        let to = if to >= from { to + 1 } else { to };
        let (subject, k) = ((from + 1 + k % 49) % 50, k / 49);
        let parent = (subject + 1 + k % 49) % 50;
        NewSkillMessage {
            from_user_id: self.users[from],
            to_user_id: self.users[to],
            subject_skill_id: self.skills[subject],
            proposed_parent_skill_id: Some(self.skills[parent]),
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
    /// What the sends send.
    proposals: Arc<Proposals>,
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
    let proposals = Arc::new(Proposals::load(&mut admin));
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
        proposals,
        url,
        _proxy: proxy,
    }
}

/// A message from `pair`'s other user to its user, pending and unread,
/// written by the superuser: what a write operation acts on. The `k`th is
/// about one of `skills` under another, so that the messages of a batch
/// differ (one proposal per pair is pending); a twin from 2,450 messages
/// before, left pending by an operation that did not answer it, is
/// withdrawn first.
fn fresh_message(
    admin: &mut PgConnection,
    pair: &Pair,
    skills: &[SkillId],
    k: usize,
) -> SkillMessageId {
    use skill_messages::schema::skill_messages as m;
    let subject = skills[k % 50];
    let parent = skills[(k % 50 + 1 + (k / 50) % 49) % 50];
    let twin = m::table
        .filter(m::tenant_id.eq(pair.tenant_id))
        .filter(m::from_user_id.eq(pair.other_user_id))
        .filter(m::to_user_id.eq(pair.user_id))
        .filter(m::subject_skill_id.eq(subject))
        .filter(m::proposed_parent_skill_id.eq(parent))
        .filter(m::status.eq(SkillMessageStatus::Pending));
    diesel::update(twin)
        .set((
            m::status.eq(SkillMessageStatus::Withdrawn),
            m::responded_at.eq(diesel::dsl::now),
        ))
        .execute(admin)
        .expect("withdraw the twin");
    diesel::insert_into(m::table)
        .values((
            m::id.eq(SkillMessageId::from(uuid::Uuid::now_v7())),
            m::tenant_id.eq(pair.tenant_id),
            m::from_user_id.eq(pair.other_user_id),
            m::to_user_id.eq(pair.user_id),
            m::subject_skill_id.eq(subject),
            m::proposed_parent_skill_id.eq(parent),
            m::message.eq("to act on"),
        ))
        .returning(m::id)
        .get_result(admin)
        .expect("a message to act on")
}

fn operations(c: &mut Criterion) {
    let seeded = seeded();
    let (reader, writer) = (seeded.reader, seeded.writer);
    let proposals = &seeded.proposals;
    let admin = std::cell::RefCell::new(seeded.db.admin());
    let made = std::cell::Cell::new(0);
    let fresh = || {
        made.set(made.get() + 1);
        fresh_message(
            &mut admin.borrow_mut(),
            &writer,
            &proposals.skills,
            made.get(),
        )
    };
    let read_target = fresh_message(&mut admin.borrow_mut(), &reader, &proposals.skills, 0);

    let pool = seeded
        .db
        .pool_builder()
        .max_size(1)
        .build(&seeded.url)
        .expect("a blocking pool");
    let blocking = pool.tenant(reader.tenant_id);
    let mut group = c.benchmark_group("blocking");
    group.bench_function("send", |b| {
        b.iter(|| blocking.send(proposals.next()).unwrap())
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
    let (reader, proposals) = (seeded.reader, &seeded.proposals);
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
        b.iter_custom(|iters| blocking(iters, &|| drop(tenant.send(proposals.next()).unwrap())))
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
    let reader = seeded.reader;
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
                    let (tenant, proposals) = (tenant.clone(), seeded.proposals.clone());
                    tokio::spawn(async move {
                        for _ in 0..iters.div_ceil(4) {
                            if send {
                                tenant.send(proposals.next()).await.unwrap();
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
    let proposals = &seeded.proposals;
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
            .iter(|| async { tenant.send(proposals.next()).await.unwrap() })
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
