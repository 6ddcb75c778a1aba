//! A TCP proxy in front of PostgreSQL: it counts the round trips that go
//! through it and can delay what flows each way, as a network would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A proxy on `127.0.0.1`, forwarding to a PostgreSQL server, running on a
/// thread of its own until the process ends.
pub struct Proxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
}

impl Proxy {
    /// A proxy to `server` (`host:port`) that holds everything it forwards
    /// for `delay`, in each direction.
    pub fn start(server: &str, delay: Duration) -> Self {
        let server = server.to_owned();
        let round_trips = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&round_trips);
        let (ready, bound) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the proxy's runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the proxy");
                ready
                    .send(listener.local_addr().expect("the proxy's address"))
                    .expect("report the address");
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let Ok(server) = TcpStream::connect(&server).await else {
                        continue;
                    };
                    tokio::spawn(relay(client, server, delay, Arc::clone(&counted)));
                }
            });
        });
        let addr = bound.recv().expect("the proxy starts");
        Proxy { addr, round_trips }
    }

    /// `host:port` to connect to instead of the server's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Round trips so far, on every connection: a client's turn to send
    /// that came after the server answered (or first on its connection).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }
}

/// Forwards both ways between `client` and `server`.
async fn relay(client: TcpStream, server: TcpStream, delay: Duration, round_trips: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Whether the server spoke last: the client's next bytes start a round
    // trip.
    let server_spoke = Arc::new(AtomicBool::new(true));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let to_server = forward(client_read, server_write, delay, {
        let server_spoke = Arc::clone(&server_spoke);
        move || {
            if server_spoke.swap(false, Ordering::SeqCst) {
                round_trips.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let to_client = forward(server_read, client_write, delay, move || {
        server_spoke.store(true, Ordering::SeqCst);
    });
    tokio::join!(to_server, to_client);
}

/// Copies `from` to `to`, each chunk `delay` after it arrived (chunks in
/// flight do not wait for one another, as on a network), calling `seen` as
/// each arrives.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    seen: impl Fn(),
) {
    let (queue, mut queued) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            seen();
            if queue
                .send((Instant::now() + delay, buffer[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}
