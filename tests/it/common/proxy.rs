//! A TCP proxy in front of PostgreSQL: it counts the round trips that go
//! through it, can delay what flows each way, as a network would, can
//! record what clients send, and can cut a connection the moment a client
//! sends a given statement, as a failing network or server would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// A proxy on `127.0.0.1`, forwarding to a PostgreSQL server, running on a
/// thread of its own until the process ends.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// What the proxy's connections share with the test.
#[derive(Default)]
struct Shared {
    round_trips: AtomicU64,
    /// The client's turns, when recording: what a client sent between two
    /// answers of the server.
    turns: Mutex<Option<Vec<Vec<u8>>>>,
    /// A one-shot trap: cut the connection whose client sends these bytes.
    cut: Mutex<Option<Cut>>,
}

/// Where a connection is cut: when the client sends `pattern`, or when the
/// server answers with it.
#[derive(Debug, Clone)]
struct Cut {
    pattern: Vec<u8>,
    from_server: bool,
}

impl Shared {
    /// Whether `chunk`, from the server or the client, springs the trap,
    /// which it disarms.
    fn springs(&self, chunk: &[u8], from_server: bool) -> bool {
        let mut trap = self.cut.lock().expect("cut");
        let sprung = trap.as_ref().is_some_and(|trap| {
            trap.from_server == from_server
                && chunk
                    .windows(trap.pattern.len())
                    .any(|window| window == trap.pattern)
        });
        if sprung {
            *trap = None;
        }
        sprung
    }
}

impl Proxy {
    /// A proxy to `server` (`host:port`) that holds everything it forwards
    /// for `delay`, in each direction.
    pub fn start(server: &str, delay: Duration) -> Self {
        let server = server.to_owned();
        let shared = Arc::new(Shared::default());
        let relayed = Arc::clone(&shared);
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
                    tokio::spawn(relay(client, server, delay, Arc::clone(&relayed)));
                }
            });
        });
        let addr = bound.recv().expect("the proxy starts");
        Proxy { addr, shared }
    }

    /// `host:port` to connect to instead of the server's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Round trips so far, on every connection: a client's turn to send
    /// that came after the server answered (or first on its connection).
    pub fn round_trips(&self) -> u64 {
        self.shared.round_trips.load(Ordering::SeqCst)
    }

    /// Records every client turn from now on, forgetting earlier ones.
    pub fn record(&self) {
        *self.shared.turns.lock().expect("turns") = Some(Vec::new());
    }

    /// The client turns recorded since [`record`](Self::record), each as
    /// the frontend messages it held.
    pub fn turns(&self) -> Vec<Vec<Message>> {
        let turns = self.shared.turns.lock().expect("turns");
        turns
            .iter()
            .flatten()
            .map(|turn| Message::parse_all(turn))
            .collect()
    }

    /// Cuts, once, the connection whose client next sends `pattern`, before
    /// it reaches the server: the server sees the connection end, the
    /// client sees it closed.
    pub fn cut_when_sent(&self, pattern: &str) {
        self.arm(pattern, false);
    }

    /// Cuts, once, the connection whose server next answers with
    /// `pattern` (a command tag such as `COMMIT`), before the answer
    /// reaches the client: the server ran what it answers, the client sees
    /// its connection closed.
    pub fn cut_when_answered(&self, pattern: &str) {
        self.arm(pattern, true);
    }

    fn arm(&self, pattern: &str, from_server: bool) {
        *self.shared.cut.lock().expect("cut") = Some(Cut {
            pattern: pattern.as_bytes().to_vec(),
            from_server,
        });
    }
}

/// A frontend message of PostgreSQL's protocol, as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type: `Q` a simple query, `P` a parse, `B` a bind, `E`
    /// an execute, `S` a sync, ...
    pub kind: char,
    /// The prepared statement a parse names, or a bind runs; empty for the
    /// others (and for the unnamed statement).
    pub statement: String,
    /// The SQL text of a simple query or a parse; empty for the others.
    pub sql: String,
}

impl Message {
    /// The messages of `bytes`, a client turn after the startup.
    fn parse_all(mut bytes: &[u8]) -> Vec<Message> {
        let mut messages = Vec::new();
        while bytes.len() >= 5 {
            let kind = bytes[0] as char;
            let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
            let Some(body) = bytes.get(5..1 + length) else {
                break;
            };
            let mut strings = body.split(|&b| b == 0).map(String::from_utf8_lossy);
            let mut next = || strings.next().map(|s| s.into_owned()).unwrap_or_default();
            let (statement, sql) = match kind {
                'Q' => (String::new(), next()),
                // A parse: the statement's name, then its text.
                'P' => (next(), next()),
                // A bind: the portal's name, then the statement's.
                'B' => {
                    next();
                    (next(), String::new())
                }
                _ => (String::new(), String::new()),
            };
            messages.push(Message {
                kind,
                statement,
                sql,
            });
            bytes = &bytes[1 + length..];
        }
        messages
    }
}

/// Forwards both ways between `client` and `server`.
async fn relay(client: TcpStream, server: TcpStream, delay: Duration, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Whether the server spoke last: the client's next bytes start a round
    // trip.
    let server_spoke = Arc::new(AtomicBool::new(true));
    // Set when the client's side is cut: the server's answers stop at once.
    let (cut, cut_seen) = watch::channel(false);
    let shared_answers = Arc::clone(&shared);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let to_server = forward(client_read, server_write, delay, None, {
        let server_spoke = Arc::clone(&server_spoke);
        move |chunk: &[u8]| {
            let new_turn = server_spoke.swap(false, Ordering::SeqCst);
            if new_turn {
                shared.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(turns) = shared.turns.lock().expect("turns").as_mut() {
                match turns.last_mut() {
                    Some(turn) if !new_turn => turn.extend_from_slice(chunk),
                    _ => turns.push(chunk.to_vec()),
                }
            }
            if shared.springs(chunk, false) {
                let _ = cut.send(true);
                return Pass::Stop;
            }
            Pass::Forward
        }
    });
    let to_client = forward(
        server_read,
        client_write,
        delay,
        Some(cut_seen),
        move |chunk: &[u8]| {
            server_spoke.store(true, Ordering::SeqCst);
            if shared_answers.springs(chunk, true) {
                return Pass::Stop;
            }
            Pass::Forward
        },
    );
    tokio::join!(to_server, to_client);
}

/// What becomes of a chunk, and of the direction it came on.
enum Pass {
    /// Forwarded.
    Forward,
    /// Dropped, and the direction closes.
    Stop,
}

/// Copies `from` to `to`, each chunk `delay` after it arrived (chunks in
/// flight do not wait for one another, as on a network), as `seen` says of
/// each when it arrives, then closes `to`. With `cut`, it stops at once,
/// dropping what is in flight, when the cut is set.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    cut: Option<watch::Receiver<bool>>,
    seen: impl Fn(&[u8]) -> Pass,
) {
    let cut_set = |cut: Option<watch::Receiver<bool>>| async move {
        match cut {
            Some(mut cut) => drop(cut.wait_for(|cut| *cut).await),
            None => std::future::pending().await,
        }
    };
    let (queue, mut queued) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer_cut = cut_set(cut.clone());
    let writer = async move {
        tokio::pin!(writer_cut);
        loop {
            tokio::select! {
                biased;
                () = &mut writer_cut => break,
                next = queued.recv() => {
                    let Some((due, chunk)) = next else { break };
                    tokio::time::sleep_until(due).await;
                    if to.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown().await;
    };
    let reader_cut = cut_set(cut);
    let reader = async move {
        tokio::pin!(reader_cut);
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = tokio::select! {
                biased;
                () = &mut reader_cut => break,
                read = from.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
            };
            let chunk = buffer[..n].to_vec();
            match seen(&chunk) {
                Pass::Forward => {
                    if queue.send((Instant::now() + delay, chunk)).is_err() {
                        break;
                    }
                }
                Pass::Stop => break,
            }
        }
        // Dropping the queue lets the writer finish what is queued, then
        // close.
    };
    tokio::join!(reader, writer);
}
