//! The data lifecycle: erasing a user, forgetting a skill, purging a tenant
//! and the retention sweep, run as the maintenance role by a login made for
//! it; and the proposal rules (one pending proposal per pair, mark unread).

use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::catalog::{lines, rows};
use crate::common::reference::{skills, users};
use crate::common::{Fixture, TestDb, seed_tenant};
use ::skill_messages::{
    Answer, Erased, Erasure, Error, Forgotten, Maintenance, Names, NewSkillMessage, SkillId,
    SkillMessage, TOMBSTONE, TenantId, UserId,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};

/// Two seeded tenants and a pool of the runtime role.
struct World {
    db: TestDb,
    a: Fixture,
    b: Fixture,
}

fn world() -> World {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    World { db, a, b }
}

/// A user of `tenant` who wrote no skill, so that the platform can delete
/// their row once the crate holds nothing of them.
fn new_user(db: &TestDb, tenant: TenantId, name: &str) -> UserId {
    diesel::insert_into(users::table)
        .values((
            users::tenant_id.eq(tenant),
            users::email.eq(format!("{name}@example.test")),
            users::display_name.eq(name),
        ))
        .returning(users::id)
        .get_result(&mut db.admin())
        .expect("insert a user")
}

fn proposal<'a>(from: UserId, to: UserId, f: &Fixture, text: &'a str) -> NewSkillMessage<'a> {
    NewSkillMessage {
        from_user_id: from,
        to_user_id: to,
        subject_skill_id: f.skill,
        proposed_parent_skill_id: Some(f.parent),
        message: text,
    }
}

/// Every row of the crate's table, each as the text of all its columns.
fn messages(db: &TestDb) -> Vec<String> {
    rows(&mut db.admin(), &["skill_messages"])
}

/// The rows of the crate's table in which any column holds `needle`.
fn traces(db: &TestDb, needle: &str) -> Vec<String> {
    messages(db)
        .into_iter()
        .filter(|row| row.contains(needle))
        .collect()
}

/// Messages in `tenant`, as the superuser counts them.
fn count_in(db: &TestDb, tenant: TenantId) -> i64 {
    diesel::sql_query("SELECT count(*) AS count FROM skill_messages WHERE tenant_id = $1")
        .bind::<SqlUuid, _>(tenant)
        .get_result::<Count>(&mut db.admin())
        .expect("count")
        .count
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Dave, who wrote no skill, sends one proposal that is answered and one
/// that stays pending, and receives one that is answered; bob and carol
/// exchange one without him. Returns dave and the texts he wrote.
fn daves_history(w: &World) -> (UserId, [&'static str; 2]) {
    let a = &w.a;
    let dave = new_user(&w.db, a.tenant, "dave");
    let pool = w.db.pool();
    let t = pool.tenant(a.tenant);
    let texts = ["dave asks bob, answered", "dave asks carol, pending"];
    let to_bob = t
        .send(proposal(dave, a.bob, a, texts[0]))
        .expect("dave to bob");
    t.answer(to_bob.id, a.bob, Answer::Accept).expect("accept");
    t.send(proposal(dave, a.carol, a, texts[1]))
        .expect("dave to carol");
    let from_carol = t
        .send(proposal(a.carol, dave, a, "carol asks dave"))
        .expect("carol to dave");
    t.answer(from_carol.id, dave, Answer::Decline)
        .expect("decline");
    t.send(proposal(a.bob, a.carol, a, "bob asks carol"))
        .expect("bob to carol");
    (dave, texts)
}

/// Erasing a user deletes every message they sent or received, in one
/// tenant only; afterwards no column of the crate's table holds their id
/// or their text, and the platform deletes its user row (which the
/// messages' foreign keys refused before).
#[test]
fn erasing_a_user_deletes_their_messages_and_lets_the_platform_delete_them() {
    let w = world();
    let (dave, texts) = daves_history(&w);
    let b_before = rows_of(&w.db, w.b.tenant);
    let refused = diesel::delete(users::table.find((w.a.tenant, dave))).execute(&mut w.db.admin());
    assert!(
        refused.is_err(),
        "dave's messages refer to him: {refused:?}"
    );

    let mut jobs = w.db.maintenance();
    // The same id in another tenant is nobody there: nothing is touched.
    assert_eq!(
        jobs.erase_user(w.b.tenant, dave, Erasure::Delete)
            .expect("erase in B"),
        Erased::default()
    );
    let erased = jobs
        .erase_user(w.a.tenant, dave, Erasure::Delete)
        .expect("erase dave");
    assert_eq!((erased.deleted, erased.anonymised), (3, 0));

    assert_eq!(traces(&w.db, &dave.to_string()), Vec::<String>::new());
    for text in texts {
        assert_eq!(traces(&w.db, text), Vec::<String>::new());
    }
    assert_eq!(count_in(&w.db, w.a.tenant), 1, "bob's to carol stays");
    assert_eq!(rows_of(&w.db, w.b.tenant), b_before);
    let deleted = diesel::delete(users::table.find((w.a.tenant, dave)))
        .execute(&mut w.db.admin())
        .expect("the platform deletes dave");
    assert_eq!(deleted, 1);
}

/// Anonymising keeps the counterpart's history: the answered messages stay
/// with the user's side empty and the text they wrote replaced by the
/// tombstone; pending ones go. No column holds the user's id or text, the
/// counterpart's list and details show the tombstone, and the platform
/// deletes its user row.
#[test]
fn anonymising_a_user_keeps_the_counterparts_history_without_them() {
    let w = world();
    let a = w.a;
    let (dave, texts) = daves_history(&w);
    let b_before = rows_of(&w.db, w.b.tenant);
    let erased =
        w.db.maintenance()
            .erase_user(a.tenant, dave, Erasure::Anonymise)
            .expect("anonymise dave");
    assert_eq!((erased.deleted, erased.anonymised), (1, 2));

    assert_eq!(traces(&w.db, &dave.to_string()), Vec::<String>::new());
    for text in texts {
        assert_eq!(traces(&w.db, text), Vec::<String>::new());
    }
    assert_eq!(rows_of(&w.db, w.b.tenant), b_before);
    let pool = w.db.pool();
    let t = pool.tenant(a.tenant);
    let bobs = t
        .inbox(a.bob, Default::default())
        .expect("bob's inbox")
        .items;
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        (bobs[0].from_user_id, bobs[0].message.as_str()),
        (None, TOMBSTONE)
    );
    let details = t.details(bobs[0].id, a.bob).expect("details");
    assert_eq!(
        (details.sender.as_ref(), details.sender_name()),
        (None, TOMBSTONE)
    );
    assert_eq!(details.recipient_name(), "bob");
    let carols = t
        .outbox(a.carol, Default::default())
        .expect("carol's sent")
        .items;
    let to_dave: Vec<&SkillMessage> = carols.iter().filter(|m| m.to_user_id.is_none()).collect();
    assert_eq!(to_dave.len(), 1);
    assert_eq!(
        to_dave[0].message, "carol asks dave",
        "carol's own text stays"
    );

    // Erasing the counterpart too leaves nothing half of either.
    w.db.maintenance()
        .erase_user(a.tenant, a.carol, Erasure::Anonymise)
        .expect("anonymise carol");
    assert_eq!(traces(&w.db, "carol asks dave"), Vec::<String>::new());
    diesel::delete(users::table.find((a.tenant, dave)))
        .execute(&mut w.db.admin())
        .expect("the platform deletes dave");
}

/// Forgetting a skill deletes the messages about it and the pending
/// proposals of it as a parent, clears it from finished ones, touches no
/// other tenant, and lets the platform delete the skill.
#[test]
fn forgetting_a_skill_lets_the_platform_delete_it() {
    let w = world();
    let a = w.a;
    let pool = w.db.pool();
    let t = pool.tenant(a.tenant);
    // Under bob's skill: one pending, one declined; about it: one.
    t.send(a.proposal("pending under programming"))
        .expect("send");
    let declined = t
        .send(proposal(a.carol, a.bob, &a, "declined under programming"))
        .expect("send");
    t.answer(declined.id, a.bob, Answer::Decline)
        .expect("decline");
    let about = NewSkillMessage {
        subject_skill_id: a.parent,
        proposed_parent_skill_id: Some(a.other_skill),
        ..proposal(a.bob, a.carol, &a, "programming under postgres")
    };
    t.send(about).expect("send");
    let unrelated = t
        .send(NewSkillMessage {
            proposed_parent_skill_id: None,
            ..proposal(a.carol, a.alice, &a, "rust alone")
        })
        .expect("send");
    let b_before = rows_of(&w.db, w.b.tenant);
    let refused =
        diesel::delete(skills::table.find((a.tenant, a.parent))).execute(&mut w.db.admin());
    assert!(refused.is_err(), "messages refer to the skill: {refused:?}");

    let forgotten =
        w.db.maintenance()
            .forget_skill(a.tenant, a.parent)
            .expect("forget programming");
    assert_eq!(
        (forgotten.deleted, forgotten.cleared),
        (2, 1),
        "{forgotten:?}"
    );
    assert_eq!(traces(&w.db, &a.parent.to_string()), Vec::<String>::new());
    let kept = t
        .details(declined.id, a.bob)
        .expect("the declined one stays");
    assert_eq!(kept.message.proposed_parent_skill_id, None);
    t.details(unrelated.id, a.alice).expect("untouched");
    assert_eq!(rows_of(&w.db, w.b.tenant), b_before);
    diesel::delete(skills::table.find((a.tenant, a.parent)))
        .execute(&mut w.db.admin())
        .expect("the platform deletes the skill");
    assert_eq!(
        w.db.maintenance()
            .forget_skill(a.tenant, SkillId::from_uuid(uuid::Uuid::nil()))
            .expect("forget a skill nobody mentions"),
        Forgotten::default()
    );
}

/// `n` finished messages in `f`'s tenant, answered `age` ago, inserted by
/// the superuser.
fn seed_finished(db: &TestDb, f: &Fixture, n: i64, age: &str) {
    diesel::sql_query(format!(
        "INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id, \
                                     message, status, responded_at, created_at)
         SELECT $1, $2, $3, $4, 'seeded ' || i, 'declined', now() - interval '{age}' + i * \
                interval '1 ms', now() - interval '{age}' - interval '1 day'
         FROM generate_series(1, $5) AS i"
    ))
    .bind::<SqlUuid, _>(f.tenant)
    .bind::<SqlUuid, _>(f.alice)
    .bind::<SqlUuid, _>(f.bob)
    .bind::<SqlUuid, _>(f.skill)
    .bind::<BigInt, _>(n)
    .execute(&mut db.admin())
    .expect("seed finished messages");
}

/// The rows of one tenant, each as text.
fn rows_of(db: &TestDb, tenant: TenantId) -> Vec<String> {
    let tenant = tenant.to_string();
    messages(db)
        .into_iter()
        .filter(|row| row.contains(&tenant))
        .collect()
}

fn batch(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a batch size")
}

/// Holds a row lock on the message of `tenant` that comes last by `order`
/// (the newest id, or the latest answer) until dropped.
fn lock_last(db: &TestDb, tenant: TenantId, order: &str) -> PgConnection {
    let mut holder = db.admin();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM skill_messages WHERE tenant_id = '{tenant}' \
             ORDER BY {order} DESC LIMIT 1 FOR UPDATE"
        ))
        .expect("lock the last row");
    holder
}

/// Runs `job` on a maintenance connection until it waits for a lock, then
/// kills its backend, as a crash would, and returns what the job returned.
fn killed_while_waiting(
    db: &TestDb,
    job: impl FnOnce(&mut Maintenance) -> Result<u64, Error> + Send + 'static,
) -> Result<u64, Error> {
    let mut jobs = db.maintenance();
    let login = jobs.login().to_owned();
    let running = std::thread::spawn(move || job(&mut jobs));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admin = db.admin();
    loop {
        assert!(
            Instant::now() < deadline,
            "the job never waited for the lock"
        );
        let killed: Vec<bool> =
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = '{login}' AND wait_event_type = 'Lock'"
            )))
            .load(&mut admin)
            .expect("look for the waiting job");
        if killed.contains(&true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    running.join().expect("the job's thread")
}

/// A purge killed in the middle of a batch has deleted whole batches only
/// (the killed one rolled back), and run again deletes the rest; the other
/// tenant keeps everything.
#[test]
fn a_purge_killed_mid_way_has_deleted_whole_batches_and_finishes_when_run_again() {
    let w = world();
    seed_finished(&w.db, &w.a, 250, "1 hour");
    seed_finished(&w.db, &w.b, 20, "1 hour");
    let b_before = rows_of(&w.db, w.b.tenant);
    let holder = lock_last(&w.db, w.a.tenant, "id");
    let tenant = w.a.tenant;
    let killed = killed_while_waiting(&w.db, move |jobs| jobs.purge_tenant(tenant, batch(100)));
    assert!(killed.is_err(), "{killed:?}");
    assert_eq!(count_in(&w.db, w.a.tenant), 50, "two whole batches of 100");
    drop(holder);

    let purged =
        w.db.maintenance()
            .purge_tenant(w.a.tenant, batch(100))
            .expect("purge the rest");
    assert_eq!(purged, 50);
    assert_eq!(count_in(&w.db, w.a.tenant), 0);
    assert_eq!(rows_of(&w.db, w.b.tenant), b_before);
}

/// The sweep deletes answered and withdrawn messages finished before the
/// cut-off, in every tenant, and nothing pending or newer; killed in a
/// batch, it has deleted whole batches, and run again it finishes.
#[test]
fn the_sweep_deletes_only_what_finished_before_the_cut_off_and_resumes() {
    let w = world();
    seed_finished(&w.db, &w.a, 150, "40 days");
    seed_finished(&w.db, &w.b, 30, "39 days");
    seed_finished(&w.db, &w.a, 7, "10 days");
    let pool = w.db.pool();
    let old_pending: SkillMessage = pool
        .tenant(w.a.tenant)
        .send(w.a.proposal("pending for ever"))
        .expect("send");
    diesel::sql_query("UPDATE skill_messages SET created_at = now() - interval '400 days'")
        .execute(&mut w.db.admin())
        .expect("age everything");
    let cut_off = chrono::Utc::now() - chrono::Duration::days(30);

    // Oldest first: A's 150 go in three whole batches of 50, and the fourth,
    // B's 30, waits for B's newest.
    let holder = lock_last(&w.db, w.b.tenant, "responded_at");
    let killed = killed_while_waiting(&w.db, move |jobs| jobs.sweep(cut_off, batch(50)));
    assert!(killed.is_err(), "{killed:?}");
    assert_eq!(messages(&w.db).len(), 1 + 7 + 30);
    drop(holder);

    let swept =
        w.db.maintenance()
            .sweep(cut_off, batch(50))
            .expect("sweep the rest");
    assert_eq!(swept, 30);
    assert_eq!(count_in(&w.db, w.b.tenant), 0);
    assert_eq!(count_in(&w.db, w.a.tenant), 1 + 7);
    pool.tenant(w.a.tenant)
        .details(old_pending.id, w.a.alice)
        .expect("pending messages are never swept");
}

/// Maintenance runs only as a login allowed the maintenance role: the
/// service's login is refused before anything runs, with the reason. And
/// the runtime role cannot delete, whatever it tries.
#[test]
fn maintenance_refuses_a_login_that_cannot_take_its_role() {
    let w = world();
    match Maintenance::new(w.db.app(), &Names::default()) {
        Err(Error::MaintenanceNotReady(reasons)) => {
            assert!(
                reasons[0].contains("cannot take role skill_messages_maintenance"),
                "{reasons:?}"
            );
        }
        other => panic!("expected MaintenanceNotReady, got {other:?}"),
    }
    let other_names = Names::default()
        .with_maintenance_role("skill_messages_no_such_role")
        .expect("names");
    assert!(matches!(
        Maintenance::new(w.db.app(), &other_names),
        Err(Error::MaintenanceNotReady(reasons)) if reasons[0].contains("does not exist")
    ));
    let denied = lines(
        &mut w.db.app(),
        "SELECT 'x' FROM (SELECT has_table_privilege('skill_messages_app', 'skill_messages', \
         'DELETE') AS may) AS p WHERE may",
    );
    assert_eq!(
        denied,
        Vec::<String>::new(),
        "the runtime role may not delete"
    );
}

/// Without its policy the maintenance role would see no rows and delete
/// none, silently: maintenance refuses to start instead, naming the policy.
#[test]
fn maintenance_refuses_a_database_without_its_policy() {
    let w = world();
    w.db.admin()
        .batch_execute("DROP POLICY maintenance ON skill_messages")
        .expect("drop the policy");
    let jobs = crate::common::connect(&w.db.url_as(crate::common::jobs_login(), &[]));
    match Maintenance::new(jobs, &Names::default()) {
        Err(Error::MaintenanceNotReady(reasons)) => assert_eq!(
            reasons,
            ["table skill_messages has no policy maintenance for role \
              skill_messages_maintenance: run the migrations"]
        ),
        other => panic!("expected MaintenanceNotReady, got {other:?}"),
    }
}

/// The maintenance policy widens nothing for tenant scopes: a runtime role
/// that could take the maintenance role would see every tenant, and the
/// pool refuses such a database. (The test's own maintenance role, in this
/// database's policy: roles belong to the cluster, and the default one
/// serves the tests running beside it.)
#[test]
fn a_runtime_role_that_can_take_the_maintenance_role_is_refused() {
    let w = world();
    let jobs = format!("{}_jobs", w.db.name());
    w.db.admin()
        .batch_execute(&format!(
            "CREATE ROLE {jobs} NOLOGIN;
             DROP POLICY maintenance ON skill_messages;
             CREATE POLICY maintenance ON skill_messages TO {jobs} USING (true) WITH CHECK (true)"
        ))
        .expect("a maintenance role of the test's own");
    let names = Names::default()
        .with_maintenance_role(&jobs)
        .expect("a plain name");
    let build = || {
        w.db.pool_builder()
            .names(names.clone())
            .build(&w.db.app_url())
    };
    build().expect("the policy of the test's own role passes");
    w.db.admin()
        .batch_execute(&format!("GRANT {jobs} TO skill_messages_app"))
        .expect("grant");
    let refused = build();
    w.db.admin()
        .batch_execute(&format!("REVOKE {jobs} FROM skill_messages_app"))
        .expect("revoke");
    match refused {
        Err(Error::RlsNotEnforced(reasons)) => assert!(
            reasons
                .iter()
                .any(|r| r.contains("can take the maintenance role")),
            "{reasons:?}"
        ),
        other => panic!("expected RlsNotEnforced, got {other:?}"),
    }
}

/// A second identical pending proposal is refused with the first's id;
/// once the first is answered, the same proposal may be sent again; other
/// proposals of the pair (another parent, none) are other proposals.
#[test]
fn a_second_pending_proposal_of_the_same_pair_is_refused_naming_the_first() {
    let w = world();
    let a = w.a;
    let pool = w.db.pool();
    let t = pool.tenant(a.tenant);
    let proposal = a.proposal("first");
    let again = |text| NewSkillMessage {
        message: text,
        ..proposal
    };
    let first = t.send(proposal).expect("first");
    match t.send(again("second")) {
        Err(Error::AlreadyPending(id)) => assert_eq!(id, first.id),
        other => panic!("expected AlreadyPending, got {other:?}"),
    }
    let no_parent = NewSkillMessage {
        proposed_parent_skill_id: None,
        ..again("no parent")
    };
    let alone = t.send(no_parent).expect("no parent is another proposal");
    assert!(matches!(t.send(no_parent), Err(Error::AlreadyPending(id)) if id == alone.id));
    t.send(NewSkillMessage {
        proposed_parent_skill_id: Some(a.other_skill),
        ..again("another parent")
    })
    .expect("another parent is another proposal");
    // Refused in a scope that goes on and commits.
    pool.with_tenant(a.tenant, |tx| {
        assert!(matches!(
            tx.send(again("again")),
            Err(Error::AlreadyPending(_))
        ));
        tx.answer(first.id, a.bob, Answer::Decline)
    })
    .expect("decline the first in the same scope");
    t.send(again("after the answer"))
        .expect("once answered, it may be proposed again");
}

/// Sixteen senders racing with the same proposal: exactly one is stored,
/// and every other is refused with its id.
#[test]
fn sixteen_concurrent_identical_proposals_store_exactly_one() {
    let w = world();
    let a = w.a;
    let pool = w.db.pool_of(16);
    let barrier = Arc::new(Barrier::new(16));
    let racing = a.proposal("racing");
    let results: Vec<Result<SkillMessage, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (pool, barrier) = (&pool, barrier.clone());
                s.spawn(move || {
                    pool.with_tenant(a.tenant, |tx| {
                        barrier.wait();
                        tx.send(racing)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender"))
            .collect()
    });
    let stored: Vec<&SkillMessage> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(stored.len(), 1, "{results:?}");
    for result in &results {
        match result {
            Ok(_) => {}
            Err(Error::AlreadyPending(id)) => assert_eq!(*id, stored[0].id),
            Err(other) => panic!("expected AlreadyPending, got {other:?}"),
        }
    }
    assert_eq!(count_in(&w.db, a.tenant), 1);
}

/// Mark unread clears `read_at`, counts the message as unread again, and a
/// later read sets a new `read_at`; only the recipient may, and marking an
/// unread message unread writes nothing.
#[test]
fn marking_unread_clears_read_at_and_a_later_read_sets_it_anew() {
    let w = world();
    let a = w.a;
    let pool = w.db.pool();
    let t = pool.tenant(a.tenant);
    let sent = t.send(a.proposal("read me twice")).expect("send");
    let first = t.mark_read(sent.id, a.bob).expect("read");
    let first_read = first.read_at.expect("read_at");
    assert_eq!(t.unread_count(a.bob).expect("count"), 0);

    let unread = t.mark_unread(sent.id, a.bob).expect("unread");
    assert_eq!(unread.read_at, None);
    assert_eq!(t.unread_count(a.bob).expect("count"), 1);
    let xmin = |db: &TestDb| {
        lines(
            &mut db.admin(),
            "SELECT xmin::text AS line FROM skill_messages",
        )
    };
    let before = xmin(&w.db);
    let again = t.mark_unread(sent.id, a.bob).expect("unread again");
    assert_eq!(again.read_at, None);
    assert_eq!(xmin(&w.db), before, "no new row version");

    let second = t.mark_read(sent.id, a.bob).expect("read again");
    assert!(second.read_at.expect("read_at") > first_read);
    assert!(matches!(
        t.mark_unread(sent.id, a.alice),
        Err(Error::NotRecipient { .. })
    ));
    assert!(matches!(
        pool.tenant(w.b.tenant).mark_unread(sent.id, a.bob),
        Err(Error::NotFound(_))
    ));
    // A set read_at still never moves to another time, whoever writes.
    let moved =
        diesel::sql_query("UPDATE skill_messages SET read_at = read_at + interval '1 second'")
            .execute(&mut w.db.admin());
    assert!(
        matches!(&moved, Err(e) if e.to_string().contains("skill_messages_status_order")),
        "{moved:?}"
    );
}
