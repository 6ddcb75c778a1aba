//! The pgbench scripts of `benches/pgbench/` run the crate's statements
//! word for word: each script's `PREPARE` is a statement the crate
//! prepares for that operation. A change to a statement fails this test
//! instead of leaving a stale script.

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{Answer, MessageQuery, Names, ReadMark, TenantConn};

use crate::common::{TestDb, seed_tenant};

/// The scripts, by operation.
const SCRIPTS: [(&str, &str); 9] = [
    ("send", include_str!("../../benches/pgbench/send.sql")),
    ("inbox", include_str!("../../benches/pgbench/inbox.sql")),
    ("outbox", include_str!("../../benches/pgbench/outbox.sql")),
    (
        "unread_count",
        include_str!("../../benches/pgbench/unread_count.sql"),
    ),
    ("details", include_str!("../../benches/pgbench/details.sql")),
    (
        "mark_read",
        include_str!("../../benches/pgbench/mark_read.sql"),
    ),
    (
        "mark_all_read",
        include_str!("../../benches/pgbench/mark_all_read.sql"),
    ),
    ("answer", include_str!("../../benches/pgbench/answer.sql")),
    (
        "withdraw",
        include_str!("../../benches/pgbench/withdraw.sql"),
    ),
];

/// The statement `operation` prepares on a fresh connection, run once in a
/// scope, succeeding.
fn prepared_by(db: &TestDb, operation: &str) -> Vec<String> {
    let mut admin = db.admin();
    let f = seed_tenant(&mut admin, operation);
    let mut conn = db.app();
    let sent = skill_messages::with_tenant(&mut conn, &Names::default(), f.tenant, |tx| {
        tx.send(f.proposal("m"))
    })
    .expect("a message");
    let mut conn = db.app();
    let run = |tx: &mut TenantConn<'_>| -> Result<(), skill_messages::Error> {
        match operation {
            "send" => tx.send(f.proposal("again")).map(drop),
            "inbox" => tx.inbox(f.bob, MessageQuery::new()).map(drop),
            "outbox" => tx.outbox(f.alice, MessageQuery::new()).map(drop),
            "unread_count" => tx.unread_count(f.bob).map(drop),
            "details" => tx.details(sent.id, f.bob).map(drop),
            "mark_read" => tx.mark_read(sent.id, f.bob).map(drop),
            "mark_all_read" => {
                let seen: ReadMark = [sent.id].into_iter().collect();
                tx.mark_all_read(f.bob, &seen).map(drop)
            }
            "answer" => tx.answer(sent.id, f.bob, Answer::Accept).map(drop),
            "withdraw" => tx.withdraw(sent.id, f.alice).map(drop),
            other => panic!("no operation {other}"),
        }
    };
    skill_messages::with_tenant(&mut conn, &Names::default(), f.tenant, run)
        .expect("the operation");
    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = Text)]
        statement: String,
    }
    diesel::sql_query("SELECT statement FROM pg_prepared_statements")
        .load::<Prepared>(&mut conn)
        .expect("the prepared statements")
        .into_iter()
        .map(|p| p.statement)
        .collect()
}

#[test]
fn each_pgbench_script_prepares_the_statement_the_crate_sends() {
    let db = TestDb::new();
    let mut stale = Vec::new();
    for (operation, script) in SCRIPTS {
        let prepared = prepared_by(&db, operation);
        let statement = script
            .lines()
            .find_map(|line| line.strip_prefix("PREPARE crate_statement AS "))
            .and_then(|sql| sql.strip_suffix(';'))
            .unwrap_or_else(|| panic!("{operation}.sql prepares no crate_statement"));
        if !prepared.iter().any(|p| p == statement) {
            stale.push(format!("{operation}:\n{}", prepared.join("\n")));
        }
    }
    assert!(
        stale.is_empty(),
        "these scripts of benches/pgbench run a statement the crate does not send; the crate \
         prepares:\n\n{}",
        stale.join("\n\n")
    );
}
