//! Round trips per call, counted on the wire by a proxy between the pool
//! and the server.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use skill_messages::{Error, Pool, Response, mark_message_read, update_message_status};

use crate::calls::Op;
use crate::common::{self, TestDb, with_params};
use crate::seed::Items;

/// A TCP proxy between the pool and the server that counts the
/// ReadyForQuery messages the server sends: one per request cycle, that is
/// per round trip.
pub struct Proxy {
    pub port: u16,
    cycles: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cycles = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&cycles);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let (client_in, server_out) = (client.try_clone(), server.try_clone());
                let (Ok(client_in), Ok(server_out)) = (client_in, server_out) else {
                    continue;
                };
                thread::spawn(move || copy_raw(client_in, server_out));
                let counted = Arc::clone(&counted);
                thread::spawn(move || copy_counting(server, client, &counted));
            }
        });
        Proxy { port, cycles }
    }

    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::SeqCst)
    }
}

fn copy_raw(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Forwards the server's messages (a type byte and a length each) one by
/// one, counting ReadyForQuery ('Z').
fn copy_counting(mut from: TcpStream, mut to: TcpStream, cycles: &AtomicU64) {
    let mut header = [0u8; 5];
    while from.read_exact(&mut header).is_ok() {
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length.saturating_sub(4)];
        if from.read_exact(&mut body).is_err() {
            break;
        }
        if header[0] == b'Z' {
            cycles.fetch_add(1, Ordering::SeqCst);
        }
        if to
            .write_all(&header)
            .and_then(|()| to.write_all(&body))
            .is_err()
        {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The server's address, from the URL's host and port.
pub fn server_address(url: &str) -> std::net::SocketAddr {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host_port = if host_port.is_empty() {
        "127.0.0.1:5432"
    } else {
        host_port
    };
    let with_port = if host_port
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .expect("resolve the server")
        .find(|a| a.is_ipv4())
        .expect("an IPv4 address for the server")
}

pub fn round_trips(db: &TestDb, items: &Items) {
    const CALLS: u64 = 100;
    let proxy = Proxy::start(server_address(&common::database_url()));
    let url = with_params(
        &db.app_url(),
        &[
            ("host", "127.0.0.1"),
            ("port", &proxy.port.to_string()),
            ("sslmode", "disable"),
            ("gssencmode", "disable"),
        ],
    );
    let pool = Pool::builder()
        .max_size(1)
        .build(&url)
        .expect("a pool through the proxy");
    println!("\n## Round trips per call\n");
    println!(
        "Counted on the wire: the ReadyForQuery messages the server sent, one per request \
         cycle, over {CALLS} calls on one pooled connection whose statements were prepared.\n"
    );
    println!("| operation | round trips per call |");
    println!("| --- | ---: |");
    // Items past every range `throughput` may have used.
    let base = items.unread.len().min(items.pending.len()) - 400;
    for op in Op::ALL {
        for i in 0..4 {
            op.call(&pool, items, base + 200 + i).expect("warm-up call");
        }
        let before = proxy.cycles();
        for i in 0..CALLS as usize {
            op.call(&pool, items, base + i).expect("a counted call");
        }
        let per_call = (proxy.cycles() - before) as f64 / CALLS as f64;
        println!("| {} | {per_call:.2} |", op.name());
    }
    // A message already read (one statement, as the first time) and one
    // already answered (an error found by a second look). Each runs once
    // first, so that its statements are prepared.
    for i in [0, 1] {
        let t = items.unread[base + i];
        let before = proxy.cycles();
        pool.with_tenant(t.tenant_id, |tx| {
            mark_message_read(tx, t.message_id, t.to_user_id)
        })
        .expect("mark read again");
        let t = items.pending[base + i];
        let between = proxy.cycles();
        let again = pool.with_tenant(t.tenant_id, |tx| {
            update_message_status(tx, t.message_id, t.to_user_id, Response::Declined)
        });
        assert!(matches!(again, Err(Error::AlreadyResponded { .. })));
        if i == 1 {
            println!("| mark_message_read, already read | {} |", between - before);
            println!(
                "| update_message_status, already answered (an error) | {} |",
                proxy.cycles() - between
            );
        }
    }
}
