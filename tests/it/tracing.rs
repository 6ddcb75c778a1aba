//! With the `tracing` feature: a span for each scope and each call, with
//! what a service's logs need and never a message's text.
#![cfg(feature = "tracing")]

use std::io;
use std::sync::{Arc, Mutex};

use crate::common::{TestDb, seed_tenant};
use skill_messages::{DEFAULT_BATCH_SIZE, Erasure, Error, MessageQuery};
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What `f` logs at debug level and above, closed spans included.
fn logged(f: impl FnOnce()) -> String {
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = log.0.lock().expect("log").clone();
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn scopes_and_calls_are_spans_that_never_carry_message_text() {
    let db = TestDb::new();
    let a = seed_tenant(&mut db.admin(), "tenant-a");
    let pool = db.pool_of(1);
    let text = logged(|| {
        pool.with_tenant(a.tenant, |tx| {
            tx.send(a.proposal("a secret proposal"))?;
            let refused = tx.inbox(a.bob, MessageQuery::new().limit(0));
            assert!(matches!(refused, Err(Error::InvalidPageSize(0))));
            tx.inbox(a.bob, MessageQuery::new())
        })
        .expect("a scope");
    });
    let closed = |span: &str| -> Vec<&str> {
        text.lines()
            .filter(|line| line.contains(&format!("{span}{{")) && line.contains("close"))
            .collect()
    };
    let calls = closed("skill_messages_call");
    assert_eq!(calls.len(), 3, "{text}");
    assert!(calls[0].contains("operation=\"send\""), "{text}");
    assert!(
        calls[0].contains("rows=1") && calls[0].contains("outcome=\"ok\""),
        "{text}"
    );
    assert!(calls[1].contains("operation=\"inbox\""), "{text}");
    assert!(calls[1].contains("outcome=\"refused\""), "{text}");
    assert!(
        calls[2].contains("rows=1") && calls[2].contains("outcome=\"ok\""),
        "{text}"
    );
    let scopes: Vec<&str> = closed("tenant_scope")
        .into_iter()
        .filter(|line| !line.contains("skill_messages_call{"))
        .collect();
    assert_eq!(scopes.len(), 1, "{text}");
    assert!(
        scopes[0].contains(&format!("tenant_id={}", a.tenant)),
        "{text}"
    );
    assert!(scopes[0].contains("outcome=\"committed\""), "{text}");
    assert!(!text.contains("secret"), "message text was logged: {text}");
}

/// Every maintenance action is attributable: an event per committed
/// transaction names the action, the login, the role it ran as, the tenant
/// and the rows, and batched actions report their progress.
#[test]
fn maintenance_actions_name_who_did_what_where() {
    let db = TestDb::new();
    let a = seed_tenant(&mut db.admin(), "tenant-a");
    let pool = db.pool_of(1);
    let sent = pool
        .tenant(a.tenant)
        .send(a.proposal("a secret proposal"))
        .expect("send");
    let mut jobs = db.maintenance();
    let text = logged(|| {
        jobs.erase_user(a.tenant, a.alice, Erasure::Anonymise)
            .expect("erase");
        jobs.purge_tenant(a.tenant, DEFAULT_BATCH_SIZE)
            .expect("purge");
    });
    let login = crate::common::jobs_login();
    let erase = text
        .lines()
        .find(|line| line.contains("action=\"erase_user_anonymise\""))
        .unwrap_or_else(|| panic!("no erase event: {text}"));
    for part in [
        format!("login=\"{login}\""),
        "role=\"skill_messages_maintenance\"".to_owned(),
        format!("tenant_id={}", a.tenant),
        "rows=1".to_owned(),
        "skill_messages::maintenance".to_owned(),
    ] {
        assert!(erase.contains(&part), "{part} missing: {erase}");
    }
    assert!(
        text.lines()
            .any(|line| line.contains("action=\"purge_tenant\"") && line.contains("deleted=0")),
        "{text}"
    );
    assert!(!text.contains("secret"), "message text was logged: {text}");
    assert!(!text.contains(&sent.id.to_string()), "{text}");
}
