//! A network between client and server, for the async section: a TCP proxy
//! on `127.0.0.1` that holds what it forwards for a fixed delay in each
//! direction, and counts round trips.
//!
//! The tests' proxy (`tests/common/proxy.rs`) waits with the tokio timer,
//! whose granularity is a millisecond: it cannot add a quarter of one. This
//! one waits on a thread of its own with `std::thread::sleep`, which Linux
//! ends about 55 to 80 microseconds late (the timer slack), so it sleeps
//! until [`SPIN`] (and an eighth of the wait) before the due time and spins
//! the rest. Each chunk read is written out `delay` after it arrived, in
//! the order chunks arrived: with one delay for every chunk, that order is
//! the order of their due times, so one thread writes them all, and chunks
//! in flight do not wait for one another, as on a network. [`Proxy::calibrated`] takes off the
//! round trip the proxy adds by itself, and [`ping`] measures what it adds
//! in all.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use crate::common::{self, TestDb, with_params};
use crate::report::median;

/// How long before a chunk is due its writer stops sleeping and spins:
/// this, and an eighth of the sleep (Linux wakes a longer sleep later).
const SPIN: Duration = Duration::from_micros(80);

/// A proxy to one server, running until the process ends.
pub struct Proxy {
    port: u16,
    delay: Duration,
    counts: Arc<Counts>,
}

/// What a proxy counts, over all its connections.
#[derive(Default)]
struct Counts {
    /// A client's turn to send that came after the server answered (or
    /// first on its connection): a round trip.
    turns: AtomicU64,
    /// The server's ReadyForQuery messages: one per request cycle (a simple
    /// query, or a `Sync` of the extended protocol).
    ready: AtomicU64,
}

/// What the writer thread does next.
enum Chunk {
    Data {
        due: Instant,
        to: Arc<TcpStream>,
        bytes: Vec<u8>,
    },
    /// The other side closed: close this one's sending side, after the
    /// chunks before.
    Close { due: Instant, to: Arc<TcpStream> },
}

/// Counts of a proxy at one moment, to subtract.
#[derive(Clone, Copy)]
pub struct Snapshot {
    turns: u64,
    ready: u64,
}

impl Proxy {
    /// A proxy to `server` that adds `2 * nominal` to a round trip: it
    /// holds each direction for `nominal` less half of `hop`, the round
    /// trip a proxy that holds nothing adds by itself (its own forwarding,
    /// measured by the caller).
    pub fn calibrated(server: SocketAddr, nominal: Duration, hop: Duration) -> Self {
        let mut proxy = Self::start(server, nominal.saturating_sub(hop / 2));
        proxy.delay = nominal;
        proxy
    }

    /// A proxy to `server` that holds each direction for `delay`.
    pub fn start(server: SocketAddr, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let counts = Arc::new(Counts::default());
        let (chunks, queued) = channel::<Chunk>();
        thread::spawn(move || write_when_due(queued));
        let counted = Arc::clone(&counts);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(server) else {
                    continue;
                };
                relay(client, server, delay, &chunks, &counted);
            }
        });
        Proxy {
            port,
            delay,
            counts,
        }
    }

    /// The delay each way it was made for.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The service's login to `db` through this proxy, without TLS (nor,
    /// for libpq's clients, GSSAPI encryption): the address in the URL's
    /// own, as tokio-postgres takes a `host` parameter for a second host.
    pub fn url(&self, db: &TestDb, libpq: bool) -> String {
        let url = db.app_url_through(SocketAddr::from(([127, 0, 0, 1], self.port)));
        let mut params = vec![("sslmode", "disable")];
        if libpq {
            params.push(("gssencmode", "disable"));
        }
        with_params(&url, &params)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            turns: self.counts.turns.load(Ordering::SeqCst),
            ready: self.counts.ready.load(Ordering::SeqCst),
        }
    }

    /// Round trips and ReadyForQuery messages since `before`.
    pub fn since(&self, before: Snapshot) -> (u64, u64) {
        let now = self.snapshot();
        (now.turns - before.turns, now.ready - before.ready)
    }
}

/// The median time of a `SELECT 1` on one connection to `url`.
pub fn ping(url: &str, pings: usize) -> Duration {
    let mut conn = common::connect(url);
    let mut times: Vec<f64> = (0..pings + 50)
        .map(|_| {
            let t0 = Instant::now();
            conn.batch_execute("SELECT 1").expect("SELECT 1");
            t0.elapsed().as_secs_f64()
        })
        .skip(50)
        .collect();
    times.sort_by(f64::total_cmp);
    Duration::from_secs_f64(median(times))
}

/// Forwards both ways between `client` and `server`, each direction read
/// by a thread of its own and written by the proxy's writer.
fn relay(
    client: TcpStream,
    server: TcpStream,
    delay: Duration,
    chunks: &Sender<Chunk>,
    counts: &Arc<Counts>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (client, server) = (Arc::new(client), Arc::new(server));
    // Whether the server spoke last: the client's next bytes start a round
    // trip.
    let server_spoke = Arc::new(AtomicBool::new(true));
    {
        let (chunks, counts, server_spoke) = (
            chunks.clone(),
            Arc::clone(counts),
            Arc::clone(&server_spoke),
        );
        let to = Arc::clone(&server);
        thread::spawn(move || {
            read_chunks(client_read, to, delay, &chunks, |_| {
                if server_spoke.swap(false, Ordering::SeqCst) {
                    counts.turns.fetch_add(1, Ordering::SeqCst);
                }
            })
        });
    }
    let (chunks, counts) = (chunks.clone(), Arc::clone(counts));
    thread::spawn(move || {
        let mut messages = Messages::default();
        read_chunks(server_read, client, delay, &chunks, |bytes| {
            server_spoke.store(true, Ordering::SeqCst);
            let ready = messages.ready_for_query(bytes);
            counts.ready.fetch_add(ready, Ordering::SeqCst);
        })
    });
}

/// Reads `from` until it closes, queueing each chunk for `to`, due `delay`
/// after it arrived; `seen` is called with each as it arrives.
fn read_chunks(
    mut from: TcpStream,
    to: Arc<TcpStream>,
    delay: Duration,
    chunks: &Sender<Chunk>,
    mut seen: impl FnMut(&[u8]),
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = Instant::now() + delay;
        seen(&buffer[..n]);
        let chunk = Chunk::Data {
            due,
            to: Arc::clone(&to),
            bytes: buffer[..n].to_vec(),
        };
        if chunks.send(chunk).is_err() {
            break;
        }
    }
    let _ = chunks.send(Chunk::Close {
        due: Instant::now() + delay,
        to,
    });
}

/// Writes each chunk when it is due, in the order they were queued.
/// A chunk whose socket failed is dropped; the rest go on.
fn write_when_due(queued: Receiver<Chunk>) {
    while let Ok(chunk) = queued.recv() {
        let due = match &chunk {
            Chunk::Data { due, .. } | Chunk::Close { due, .. } => *due,
        };
        wait_until(due);
        match chunk {
            Chunk::Data { to, bytes, .. } => {
                let _ = (&*to).write_all(&bytes);
            }
            Chunk::Close { to, .. } => {
                let _ = to.shutdown(Shutdown::Write);
            }
        }
    }
}

/// Sleeps until shortly before `due` (see [`SPIN`]), then spins until it.
fn wait_until(due: Instant) {
    let now = Instant::now();
    if due > now + SPIN {
        let sleep = due - now - SPIN;
        thread::sleep(sleep - sleep / 8);
    }
    while Instant::now() < due {
        std::hint::spin_loop();
    }
}

/// The server's messages, parsed as they stream by: a type byte and a
/// length each, after the startup (the proxy's clients ask for no TLS, so
/// the server's first byte starts a message).
#[derive(Default)]
struct Messages {
    /// Bytes of a message header read so far, when a chunk ended inside
    /// one.
    header: Vec<u8>,
    /// Bytes of the current message's body still to skip.
    skip: usize,
}

impl Messages {
    /// The ReadyForQuery messages that begin in `bytes`.
    fn ready_for_query(&mut self, mut bytes: &[u8]) -> u64 {
        let mut ready = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
            }
            if bytes.is_empty() {
                return ready;
            }
            let n = (5 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 5 {
                if self.header[0] == b'Z' {
                    ready += 1;
                }
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.skip = length.saturating_sub(4);
                self.header.clear();
            }
        }
    }
}
