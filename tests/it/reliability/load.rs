//! Load: many threads on a smaller pool, every operation mixed, nothing
//! lost and no tenant crossed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use skill_messages::{
    Answer, Error, MessageQuery, Pool, SkillMessageId, SkillMessageStatus, TenantId, UserId,
};

use super::{Call, Returned, env_or, kind, stored, users};
use crate::common::{Fixture, TOPICS, TestDb, seed_tenant};

use SkillMessageStatus::{Accepted, Declined, Pending};

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A message some thread sent, for others to act on.
#[derive(Clone, Copy)]
struct Sent {
    tenant: usize,
    id: SkillMessageId,
    from: UserId,
    to: UserId,
}

/// What one load thread did.
#[derive(Default)]
struct Tally {
    ops: usize,
    sent: Vec<SkillMessageId>,
    read: Vec<SkillMessageId>,
    responded: Vec<(SkillMessageId, SkillMessageStatus)>,
    outcomes: BTreeMap<String, usize>,
    foreign_rows: usize,
}

impl Tally {
    /// Runs `call` in a scope of `tenant`, and counts its outcome.
    fn run(&mut self, pool: &Pool, tenant: TenantId, call: &Call) -> Result<Returned, Error> {
        let result = pool.with_tenant(tenant, |tx| call.run(tx));
        let outcome = match &result {
            Ok(_) => format!("{} ok", call.name()),
            Err(e) => format!("{} {}", call.name(), kind(e)),
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        self.ops += 1;
        result
    }
}

fn load_thread(
    seed: u64,
    ops: usize,
    pool: &Pool,
    tenants: &[Fixture],
    shared: &Mutex<Vec<Sent>>,
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    // Counted in `Tally::count`: a turn that finds nothing to act on yet
    // makes no call. Bounded all the same.
    for n in 0..ops * 10 {
        if tally.ops == ops {
            break;
        }
        let t = rng.below(tenants.len());
        let f = tenants[t];
        let people = users(&f);
        match rng.below(100) {
            0..=39 => {
                let from = rng.below(3);
                let to = (from + 1 + rng.below(2)) % 3;
                let blank = rng.below(20) == 0;
                let text = if blank {
                    "  ".to_owned()
                } else {
                    format!("load {seed}/{n}")
                };
                // About a topic, under another or none: a send repeats a
                // pending proposal of its pair only now and then (and is
                // refused with AlreadyPending).
                let subject = rng.below(TOPICS);
                let parent = (subject + 1 + rng.below(TOPICS - 1)) % TOPICS;
                let call = Call::Send {
                    from: people[from],
                    to: people[to],
                    subject: f.topics[subject],
                    parent: Some(f.topics[parent]).filter(|_| rng.below(2) == 0),
                    text,
                };
                let result = tally.run(pool, f.tenant, &call).map(Returned::message);
                if let Ok(m) = &result {
                    tally.foreign_rows += usize::from(m.tenant_id != f.tenant);
                    tally.sent.push(m.id);
                    let sent = Sent {
                        tenant: t,
                        id: m.id,
                        from: m.from_user_id.expect("a sent message names its sender"),
                        to: m.to_user_id.expect("a sent message names its recipient"),
                    };
                    shared.lock().expect("shared").push(sent);
                }
            }
            40..=54 => {
                let call = Call::List {
                    outbox: rng.below(3) == 0,
                    user: rng.pick(&people),
                    query: MessageQuery::default().limit(100),
                };
                let result = tally.run(pool, f.tenant, &call).map(Returned::messages);
                if let Ok(listed) = &result {
                    tally.foreign_rows += listed.iter().filter(|m| m.tenant_id != f.tenant).count();
                }
            }
            55..=69 => {
                let call = Call::Count {
                    user: rng.pick(&people),
                };
                let _ = tally.run(pool, f.tenant, &call);
            }
            roll => {
                let Some(target) = ({
                    let sent = shared.lock().expect("shared");
                    (!sent.is_empty()).then(|| sent[rng.below(sent.len())])
                }) else {
                    continue;
                };
                // Mostly in the message's own tenant, by its recipient (by
                // its sender for a withdrawal).
                let withdraw = roll >= 94;
                let scope = if rng.below(10) == 0 {
                    rng.below(tenants.len())
                } else {
                    target.tenant
                };
                let actor = if rng.below(4) == 0 {
                    rng.pick(&people)
                } else if withdraw {
                    target.from
                } else {
                    target.to
                };
                let scope_tenant = tenants[scope].tenant;
                let (message, user) = (target.id, actor);
                let call = if roll < 82 {
                    Call::MarkRead { message, user }
                } else if withdraw {
                    Call::Withdraw { message, user }
                } else {
                    let answer = if rng.below(2) == 0 {
                        Answer::Accept
                    } else {
                        Answer::Decline
                    };
                    Call::Answer {
                        message,
                        user,
                        answer,
                    }
                };
                let result = tally.run(pool, scope_tenant, &call).map(Returned::message);
                if let Ok(m) = &result {
                    tally.foreign_rows += usize::from(m.tenant_id != scope_tenant);
                    if roll < 82 {
                        tally.read.push(m.id);
                    } else {
                        tally.responded.push((m.id, m.status));
                    }
                }
            }
        }
    }
    tally
}

#[test]
fn a_load_of_mixed_operations_loses_nothing_and_crosses_no_tenant() {
    const THREADS: usize = 8;
    const POOL: u32 = 4;
    let total = env_or("RELIABILITY_LOAD_OPS", 20_000);
    let db = TestDb::new();
    let mut admin = db.admin();
    let tenants: Vec<Fixture> = (0..4)
        .map(|t| seed_tenant(&mut admin, &format!("load-{t}")))
        .collect();
    let pool = db.pool_of(POOL);
    let shared = Mutex::new(Vec::new());
    let started = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (pool, tenants, shared) = (&pool, &tenants, &shared);
                s.spawn(move || load_thread(i as u64 + 1, total / THREADS, pool, tenants, shared))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("load thread"))
            .collect()
    });
    let elapsed = started.elapsed();

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for tally in &tallies {
        for (outcome, count) in &tally.outcomes {
            *outcomes.entry(outcome.clone()).or_default() += count;
        }
    }
    let ops: usize = tallies.iter().map(|t| t.ops).sum();
    println!(
        "load: {ops} operations, {THREADS} threads, pool of {POOL}, {:.1} s, {:.0} operations/s",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64()
    );
    for (outcome, count) in &outcomes {
        println!("  {outcome:<40} {count:>6}");
    }

    // AlreadyPending: a proposal of the same pair is pending; SendRaced: it
    // was, while the send looked, and was answered before its follow-up.
    let expected_errors = [
        "AlreadyPending",
        "SendRaced",
        "InvalidMessage",
        "NotFound",
        "NotRecipient",
        "NotSender",
        "NotPending",
    ];
    let unexpected: Vec<&String> = outcomes
        .keys()
        .filter(|o| !o.ends_with(" ok") && !expected_errors.iter().any(|e| o.ends_with(e)))
        .collect();
    assert!(unexpected.is_empty(), "unexpected errors: {unexpected:?}");
    assert_eq!(tallies.iter().map(|t| t.foreign_rows).sum::<usize>(), 0);

    // Every message sent is stored, exactly once, as the calls left it.
    let ids: Vec<TenantId> = tenants.iter().map(|f| f.tenant).collect();
    let rows = stored(&mut admin, &ids);
    let sent: HashSet<SkillMessageId> = tallies
        .iter()
        .flat_map(|t| t.sent.iter().copied())
        .collect();
    assert_eq!(
        sent.len(),
        tallies.iter().map(|t| t.sent.len()).sum::<usize>()
    );
    assert_eq!(rows.len(), sent.len(), "stored rows and sent messages");
    assert!(rows.iter().all(|m| sent.contains(&m.id)));

    let mut responses: HashMap<SkillMessageId, Vec<SkillMessageStatus>> = HashMap::new();
    for (id, status) in tallies.iter().flat_map(|t| t.responded.iter()) {
        responses.entry(*id).or_default().push(*status);
    }
    let read: HashSet<SkillMessageId> = tallies
        .iter()
        .flat_map(|t| t.read.iter().copied())
        .collect();
    for m in &rows {
        let won = responses.get(&m.id).map(Vec::as_slice).unwrap_or_default();
        assert!(won.len() <= 1, "{} answered {} times", m.id, won.len());
        assert_eq!(m.status, won.first().copied().unwrap_or(Pending));
        // An answer reads the message; a withdrawal does not.
        let answered = won.iter().any(|s| matches!(s, Accepted | Declined));
        let was_read = read.contains(&m.id) || answered;
        assert_eq!(m.read_at.is_some(), was_read, "read_at of {}", m.id);
    }
    // And the unread counts agree with the rows.
    for f in &tenants {
        for user in users(f) {
            let count = pool
                .with_tenant(f.tenant, |tx| Call::Count { user }.run(tx))
                .expect("count")
                .count();
            let unread = rows
                .iter()
                .filter(|m| m.to_user_id == Some(user) && m.read_at.is_none())
                .count() as u64;
            assert_eq!(count, unread);
        }
    }
    println!(
        "  stored {} messages, {} read, {} answered or withdrawn; every one accounted for",
        rows.len(),
        rows.iter().filter(|m| m.read_at.is_some()).count(),
        responses.len()
    );
}
