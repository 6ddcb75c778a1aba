//! Query plans, on the 200,000 messages of `benches/pgbench/seed.sql`: every
//! statement of every operation (refusals' follow-ups included) reads
//! `skill_messages` through the index made for it, and never by a
//! sequential scan. Each statement is explained as the crate prepared it,
//! with PostgreSQL's generic plan, the one a prepared statement settles on.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use serde_json::Value;
use skill_messages::{
    Answer, MessageQuery, Names, NewSkillMessage, ReadMark, SkillId, SkillMessageId, TenantConn,
    TenantId, UserId,
};

use crate::common::TestDb;

/// A seeded user, with another of the same tenant.
#[derive(Clone, Copy, QueryableByName)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    other_user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    skill_id: SkillId,
}

/// A statement the connection holds prepared.
#[derive(QueryableByName)]
struct Prepared {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    statement: String,
    #[diesel(sql_type = Integer)]
    parameters: i32,
}

/// Each plan node that reads `skill_messages`: its node type and index.
fn reads_of_messages(plan: &Value, reads: &mut Vec<(String, String)>) {
    if plan["Relation Name"] == "skill_messages" {
        reads.push((
            plan["Node Type"].as_str().unwrap_or("").to_owned(),
            plan["Index Name"].as_str().unwrap_or("").to_owned(),
        ));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        reads_of_messages(child, reads);
    }
}

#[test]
fn every_statement_reads_messages_through_its_index_never_by_a_sequential_scan() {
    let db = TestDb::new();
    let mut admin = db.admin();
    for statement in include_str!("../../benches/pgbench/seed.sql")
        .split(";\n")
        .filter(|s| !s.trim().is_empty())
    {
        admin.batch_execute(statement).expect("seed");
    }
    admin.batch_execute("VACUUM ANALYZE").expect("vacuum");
    let pair: Pair = diesel::sql_query("SELECT * FROM bench_pairs WHERE n = 0")
        .get_result(&mut admin)
        .expect("a pair of users");
    let target: SkillMessageId = diesel::sql_query(format!(
        "SELECT message_id AS id FROM bench_targets WHERE tenant_id = '{}' LIMIT 1",
        pair.tenant_id
    ))
    .get_result::<Id>(&mut admin)
    .expect("a pending message")
    .id;
    let unknown = SkillMessageId::from(uuid::Uuid::nil());
    let nobody = UserId::from(uuid::Uuid::nil());
    type Operation = Box<dyn Fn(&mut TenantConn<'_>) -> Result<(), skill_messages::Error>>;
    let operations: Vec<(&str, &[&str], Operation)> = vec![
        (
            "inbox",
            &["skill_messages_inbox_idx"],
            Box::new(move |tx| tx.inbox(pair.user_id, MessageQuery::new()).map(drop)),
        ),
        (
            "unread inbox",
            &["skill_messages_unread_idx", "skill_messages_inbox_idx"],
            Box::new(move |tx| {
                tx.inbox(pair.user_id, MessageQuery::new().unread_only())
                    .map(drop)
            }),
        ),
        (
            "outbox",
            &["skill_messages_sent_idx"],
            Box::new(move |tx| tx.outbox(pair.user_id, MessageQuery::new()).map(drop)),
        ),
        (
            "unread_count",
            &["skill_messages_unread_idx"],
            Box::new(move |tx| tx.unread_count(pair.user_id).map(drop)),
        ),
        (
            "details",
            &["skill_messages_pkey"],
            Box::new(move |tx| tx.details(target, pair.other_user_id).map(drop).or(Ok(()))),
        ),
        (
            "mark_read, and its follow-up",
            &["skill_messages_pkey"],
            Box::new(move |tx| {
                let _ = tx.mark_read(unknown, pair.user_id);
                Ok(())
            }),
        ),
        (
            "mark_all_read",
            &["skill_messages_pkey"],
            Box::new(move |tx| {
                let seen: ReadMark = [target, unknown].into_iter().collect();
                tx.mark_all_read(pair.user_id, &seen).map(drop)
            }),
        ),
        (
            "answer, and its follow-up",
            &["skill_messages_pkey"],
            Box::new(move |tx| {
                let _ = tx.answer(unknown, pair.user_id, Answer::Accept);
                Ok(())
            }),
        ),
        (
            "withdraw, and its follow-up",
            &["skill_messages_pkey"],
            Box::new(move |tx| {
                let _ = tx.withdraw(unknown, pair.user_id);
                Ok(())
            }),
        ),
        (
            "send, and its follow-up",
            &[],
            Box::new(move |tx| {
                tx.send(NewSkillMessage {
                    from_user_id: pair.user_id,
                    to_user_id: pair.other_user_id,
                    subject_skill_id: pair.skill_id,
                    // Without a parent: every seeded pending proposal has one.
                    proposed_parent_skill_id: None,
                    message: "a plan",
                })?;
                let _ = tx.send(NewSkillMessage {
                    to_user_id: nobody,
                    subject_skill_id: pair.skill_id,
                    from_user_id: pair.user_id,
                    proposed_parent_skill_id: None,
                    message: "to nobody",
                });
                Ok(())
            }),
        ),
        (
            "an empty outbox's follow-up",
            &["skill_messages_sent_idx"],
            Box::new(move |tx| {
                tx.outbox(
                    pair.other_user_id,
                    MessageQuery::new().status(skill_messages::SkillMessageStatus::Withdrawn),
                )
                .map(drop)
            }),
        ),
    ];
    let mut explained = 0;
    for (name, indexes, operation) in &operations {
        // A connection of its own: its prepared statements are the
        // operation's.
        let mut conn = db.app();
        skill_messages::with_tenant(&mut conn, &Names::default(), pair.tenant_id, |tx| {
            operation(tx)?;
            let prepared: Vec<Prepared> = diesel::sql_query(
                "SELECT name, statement, cardinality(parameter_types) AS parameters \
                 FROM pg_prepared_statements",
            )
            .load(tx.connection())?;
            tx.connection()
                .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")?;
            let mut used = Vec::new();
            for statement in &prepared {
                let nulls = vec!["NULL"; statement.parameters as usize].join(", ");
                let plan: String = diesel::sql_query(format!(
                    "EXPLAIN (FORMAT JSON) EXECUTE {}({nulls})",
                    statement.name
                ))
                .get_result::<Plan>(tx.connection())?
                .plan;
                let plan: Value = serde_json::from_str(&plan).expect("a JSON plan");
                let mut reads = Vec::new();
                reads_of_messages(&plan[0]["Plan"], &mut reads);
                for (node, index) in &reads {
                    assert_ne!(
                        node, "Seq Scan",
                        "{name}: a sequential scan of skill_messages in {}",
                        statement.statement
                    );
                    used.push(index.clone());
                }
                explained += 1;
            }
            assert!(
                indexes.is_empty() || used.iter().any(|u| indexes.contains(&u.as_str())),
                "{name}: none of {indexes:?} is used, but {used:?}"
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(
        explained >= operations.len(),
        "{explained} statements explained"
    );
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: SkillMessageId,
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}
