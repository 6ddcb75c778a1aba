//! The example HTTP service (`examples/http_service.rs`), started on
//! `127.0.0.1:0` and driven over real HTTP: two tenants, every route, the
//! statuses an API client expects, and clients that go away mid-request.

#[allow(dead_code)]
#[path = "../../examples/http_service.rs"]
mod service;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::proxy::Proxy;
use crate::common::{Fixture, TestDb, seed_tenant};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::{Value, json};
use service::{App, Caller, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one request and reads the whole answer: its status and JSON body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: impl AsRef<str>,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the service");
    stream
        .write_all(raw(method, path.as_ref(), token, body).as_bytes())
        .await
        .expect("send the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("read the answer");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// An HTTP/1.1 request that closes its connection after the answer.
fn raw(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> String {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The service on `127.0.0.1:0`, its pool reaching PostgreSQL through a
/// proxy that delays each way by `delay`, with a token per user of `a`
/// and `b`.
async fn serve(db: &TestDb, a: &Fixture, b: &Fixture, delay: Duration) -> SocketAddr {
    let proxy = Proxy::start(&crate::common::server_address(), delay);
    let pool = db
        .pool_builder()
        .max_size(4)
        .min_idle(Some(4))
        .build_async(&db.app_url_through(proxy.addr()))
        .await
        .expect("pool");
    let mut tokens = HashMap::new();
    for (name, f) in [("a", a), ("b", b)] {
        for (who, user) in [("alice", f.alice), ("bob", f.bob), ("carol", f.carol)] {
            let caller = Caller {
                tenant: f.tenant,
                user,
            };
            tokens.insert(format!("{name}-{who}"), caller);
        }
    }
    let app = App {
        pool,
        tokens: Arc::new(tokens),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("the service's address");
    tokio::spawn(async move {
        axum::serve(listener, router(app)).await.expect("serve");
    });
    addr
}

/// Alice's proposal to Bob as JSON, each a proposal of its own
/// ([`Fixture::proposal`]: one of a pair is pending at a time).
fn proposal(f: &Fixture, text: &str) -> Value {
    let new = f.proposal(text);
    json!({
        "to_user_id": new.to_user_id,
        "subject_skill_id": new.subject_skill_id,
        "proposed_parent_skill_id": new.proposed_parent_skill_id,
        "message": text,
    })
}

#[tokio::test]
async fn every_route_answers_with_the_status_a_client_expects() {
    let db = TestDb::new();
    let (a, b) = {
        let mut admin = db.admin();
        (
            seed_tenant(&mut admin, "tenant-a"),
            seed_tenant(&mut admin, "tenant-b"),
        )
    };
    let service = serve(&db, &a, &b, Duration::ZERO).await;
    let call = |method, path: String, token, body| request(service, method, path, token, body);

    // Alice of A proposes to Bob of A.
    let (status, sent) = call(
        "POST",
        "/messages".into(),
        Some("a-alice"),
        Some(proposal(&a, "  group it?  ")),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["message"], "group it?");
    assert_eq!(sent["status"], "pending");
    let id = sent["id"].as_str().expect("an id").to_owned();

    let (status, inbox) = call("GET", "/messages?limit=10".into(), Some("a-bob"), None).await;
    assert_eq!(status, 200);
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    assert_eq!(inbox["next"], Value::Null);
    let (status, unread) = call("GET", "/messages/unread_count".into(), Some("a-bob"), None).await;
    assert_eq!((status, unread["unread"].as_u64()), (200, Some(1)));

    // Tenant B sees none of it, whatever ids it is given.
    let (status, inbox) = call("GET", "/messages".into(), Some("b-bob"), None).await;
    assert_eq!(
        (status, inbox["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, _) = call("POST", format!("/messages/{id}/read"), Some("b-bob"), None).await;
    assert_eq!(status, 404, "another tenant's message is unknown");
    let (status, _) = call(
        "POST",
        "/messages".into(),
        Some("b-alice"),
        Some(proposal(&a, "across")),
    )
    .await;
    assert_eq!(status, 404, "another tenant's user is unknown");

    // Only the recipient reads and answers, once.
    let (status, _) = call(
        "POST",
        format!("/messages/{id}/read"),
        Some("a-alice"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, read) = call("POST", format!("/messages/{id}/read"), Some("a-bob"), None).await;
    assert_eq!(status, 200);
    assert!(read["read_at"].is_string());
    let answer = |r: &str| Some(json!({ "answer": r }));
    let (status, accepted) = call(
        "POST",
        format!("/messages/{id}/answer"),
        Some("a-bob"),
        answer("accept"),
    )
    .await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted"))
    );
    let (status, again) = call(
        "POST",
        format!("/messages/{id}/answer"),
        Some("a-bob"),
        answer("decline"),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    let missing = uuid::Uuid::nil();
    let (status, _) = call(
        "POST",
        format!("/messages/{missing}/answer"),
        Some("a-bob"),
        answer("decline"),
    )
    .await;
    assert_eq!(status, 404);

    // Bad input.
    let (status, refused) = call(
        "POST",
        "/messages".into(),
        Some("a-alice"),
        Some(proposal(&a, " ")),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"], "invalid message: the message is blank");
    let to_self = json!({ "to_user_id": a.alice, "subject_skill_id": a.skill, "message": "me" });
    let (status, _) = call("POST", "/messages".into(), Some("a-alice"), Some(to_self)).await;
    assert_eq!(status, 422);
    let (status, _) = call(
        "GET",
        "/messages?after=nonsense".into(),
        Some("a-bob"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call("GET", "/messages?limit=0".into(), Some("a-bob"), None).await;
    assert_eq!(status, 400);

    // No token, or one the service does not know.
    let (status, _) = call("GET", "/messages".into(), None, None).await;
    assert_eq!(status, 401);
    let (status, _) = call("GET", "/messages".into(), Some("a-mallory"), None).await;
    assert_eq!(status, 401);
}

/// Clients that send a request and go away before the answer: the
/// service drops the request's work wherever it stood, and its pool
/// keeps no connection in a transaction; later requests see a consistent
/// state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_disconnect_mid_request_leave_nothing_dirty() {
    let db = TestDb::new();
    let (a, b) = {
        let mut admin = db.admin();
        (
            seed_tenant(&mut admin, "tenant-a"),
            seed_tenant(&mut admin, "tenant-b"),
        )
    };
    // Every answer from PostgreSQL takes 5 ms more: requests are in flight
    // when their clients go.
    let service = serve(&db, &a, &b, Duration::from_millis(5)).await;
    for i in 0..40u64 {
        let mut stream = TcpStream::connect(service).await.expect("connect");
        let text = format!("gone {i}");
        stream
            .write_all(
                raw(
                    "POST",
                    "/messages",
                    Some("a-alice"),
                    Some(proposal(&a, &text)),
                )
                .as_bytes(),
            )
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(i)).await;
        drop(stream);
    }
    // The pool's backends leave their transactions.
    let mut admin = db.admin();
    let mut in_transaction = i64::MAX;
    for _ in 0..100 {
        in_transaction = diesel::select(diesel::dsl::sql::<BigInt>(&format!(
            "count(*) FROM pg_stat_activity WHERE application_name = '{}' \
             AND state LIKE 'idle in transaction%'",
            db.name()
        )))
        .get_result(&mut admin)
        .expect("read the backends");
        if in_transaction == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(in_transaction, 0, "a connection was left in a transaction");

    // The service goes on, and what it says matches what is stored.
    let stored: i64 = skill_messages::schema::skill_messages::table
        .count()
        .get_result(&mut admin)
        .expect("count");
    let (status, unread) = request(
        service,
        "GET",
        "/messages/unread_count",
        Some("a-bob"),
        None,
    )
    .await;
    assert_eq!((status, unread["unread"].as_i64()), (200, Some(stored)));
    let (status, _) = request(
        service,
        "POST",
        "/messages",
        Some("a-alice"),
        Some(proposal(&a, "after")),
    )
    .await;
    assert_eq!(status, 201);
    let (status, inbox) = request(service, "GET", "/messages?limit=100", Some("a-bob"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        inbox["items"].as_array().map(Vec::len),
        Some(stored as usize + 1)
    );
    let (status, inbox) = request(service, "GET", "/messages", Some("b-bob"), None).await;
    assert_eq!(
        (status, inbox["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}
