//! Live ingest over plain TCP: JSON Lines events (docs/events.md), one per line,
//! into an [`IngestQueue`], for feeds that produce more than a WebSocket
//! should carry.
//!
//! # Protocol
//!
//! A client connects and writes events, one JSON object per line (`\n` or
//! `\r\n`). Blank lines and lines starting with `#` are skipped (and
//! counted as lines). Lines are numbered from 1 per connection.
//!
//! - **Accepted lines are not acknowledged**: silence means the event was
//!   queued (it may still be conflated away if it is a tick, see
//!   [`crate::queue`]). A sender that needs a per-event answer and
//!   durability uses the WebSocket `submit`.
//! - **A rejected line gets one reply line** on the same connection,
//!   `error LINE: reason`, and the connection stays open: a line longer than
//!   [`TcpLimits::max_line`] bytes (skipped whole), invalid UTF-8, malformed
//!   JSON or an invalid event (the reason is [`Event::from_json`](kupala_engine::Event::from_json)'s).
//! - **Backpressure**: an event the queue refuses gets
//!   `error LINE: busy: engine behind, trade not accepted` (the sender may
//!   resend it); while the queue is full the connection's reader waits, so
//!   TCP flow control slows the sender down.
//! - When the queue is closed (the server is stopping) the line gets
//!   `error LINE: closed: ...` and the connection is closed.
//! - Over [`TcpLimits::max_connections`], a new connection gets
//!   `error 0: busy: too many connections (at most N)` and is closed.
//! - A client that does not read its replies while they pile up is
//!   disconnected after [`TcpLimits::write_timeout`].
//!
//! # Threads
//!
//! One accept thread (`kupala-tcp-accept`) and one thread per connection
//! (`kupala-tcp-conn`). Each read is decoded and pushed to the queue as one
//! batch (one lock for up to a read buffer of lines). [`TcpIngest::stop`]
//! stops accepting, shuts the read side of every connection (the lines
//! already received are still decoded, queued and answered) and joins every
//! thread.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::queue::IngestQueue;

mod connection;
use connection::Connection;

/// Limits of a [`TcpIngest`] endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest line accepted, in bytes, without its line break (1 to 64 MiB).
    pub max_line: usize,
    /// Bytes read from a connection at a time, and so the largest batch
    /// (512 B to 16 MiB).
    pub read_buffer: usize,
    /// How long a reply may wait for the client to read before the
    /// connection is dropped.
    pub write_timeout: Duration,
    /// Close a connection that sends nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl Default for TcpLimits {
    /// 64 connections, 64 KiB lines, 64 KiB reads, 5 s write timeout, no
    /// idle timeout.
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_line: 64 << 10,
            read_buffer: 64 << 10,
            write_timeout: Duration::from_secs(5),
            idle_timeout: None,
        }
    }
}

/// What a [`TcpIngest`] has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Connections served.
    pub connections: u64,
    /// Connections turned away (over the cap).
    pub connections_refused: u64,
    /// Connections open now.
    pub active: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Lines received (blank and comment lines included).
    pub lines: u64,
    /// Events accepted by the queue.
    pub accepted: u64,
    /// Lines rejected as bad (too long, not UTF-8, not a valid event).
    pub rejected: u64,
    /// Events the queue refused (busy or closed).
    pub refused: u64,
    /// When the queue last accepted an event from a connection, in
    /// milliseconds since the Unix epoch (`None`: never).
    pub last_accepted_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    connections_refused: AtomicU64,
    active: AtomicU64,
    bytes: AtomicU64,
    lines: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    refused: AtomicU64,
    /// Milliseconds since the Unix epoch of the last accepted batch (0: never).
    last_accepted_ms: AtomicI64,
}

impl Counters {
    /// Records that a batch was just accepted (one store per batch read).
    fn accepted_now(&self) {
        self.last_accepted_ms
            .store(kupala_engine::clock::unix_ms(), Ordering::Relaxed);
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Open connections, by id: the read halves [`TcpIngest::stop`] shuts.
type Registry = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running TCP ingest endpoint; stop it with [`stop`](Self::stop) (or
/// by dropping it).
#[derive(Debug)]
pub struct TcpIngest {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    accept: Option<JoinHandle<()>>,
}

impl TcpIngest {
    /// Binds `addr` (port 0 picks a free port, see
    /// [`local_addr`](Self::local_addr)) and starts accepting connections
    /// whose events go to `queue`.
    pub fn start(addr: impl ToSocketAddrs, queue: Arc<IngestQueue>, limits: TcpLimits) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        // Non-blocking accept, polled, so that `stop` needs no wake-up connection.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let limits = TcpLimits {
            max_connections: limits.max_connections.max(1),
            max_line: limits.max_line.clamp(1, 1 << 26),
            read_buffer: limits.read_buffer.clamp(512, 1 << 24),
            ..limits
        };
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let accept = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            std::thread::Builder::new()
                .name("kupala-tcp-accept".into())
                .spawn(move || accept_loop(&listener, &queue, limits, &stop, &counters))?
        };
        Ok(Self {
            addr,
            stop,
            counters,
            accept: Some(accept),
        })
    }

    /// The address actually bound.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> TcpStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TcpStats {
            connections: get(&c.connections),
            connections_refused: get(&c.connections_refused),
            active: get(&c.active),
            bytes: get(&c.bytes),
            lines: get(&c.lines),
            accepted: get(&c.accepted),
            rejected: get(&c.rejected),
            refused: get(&c.refused),
            last_accepted_ms: Some(c.last_accepted_ms.load(Ordering::Relaxed)).filter(|&t| t > 0),
        }
    }

    /// Stops accepting, lets every connection finish the lines it has
    /// received (answering errors), closes them and joins every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TcpIngest {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How often the accept loop looks at the stop flag when idle.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

fn accept_loop(
    listener: &TcpListener,
    queue: &Arc<IngestQueue>,
    limits: TcpLimits,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
) {
    let registry: Registry = Arc::default();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            // Out of descriptors, a connection reset before accept...: go on.
            Err(_) => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        let open = registry.lock().unwrap_or_else(PoisonError::into_inner).len();
        if open >= limits.max_connections {
            add(&counters.connections_refused, 1);
            let _ = stream.set_nonblocking(true);
            let msg = format!(
                "error 0: busy: too many connections (at most {})\n",
                limits.max_connections
            );
            let _ = (&stream).write_all(msg.as_bytes());
            continue;
        }
        next_id += 1;
        if let Some(t) = spawn_connection(next_id, stream, queue, limits, &registry, counters) {
            threads.push(t);
        }
    }
    // Stop: no more reads; each connection drains what it has, then ends.
    for stream in registry.lock().unwrap_or_else(PoisonError::into_inner).values() {
        let _ = stream.shutdown(Shutdown::Read);
    }
    for t in threads {
        let _ = t.join();
    }
}

fn spawn_connection(
    id: u64,
    stream: TcpStream,
    queue: &Arc<IngestQueue>,
    limits: TcpLimits,
    registry: &Registry,
    counters: &Arc<Counters>,
) -> Option<JoinHandle<()>> {
    let setup = || -> io::Result<TcpStream> {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(limits.write_timeout))?;
        stream.set_read_timeout(limits.idle_timeout)?;
        stream.try_clone()
    };
    let handle = setup().ok()?;
    registry
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, handle);
    add(&counters.connections, 1);
    add(&counters.active, 1);
    let (queue, registry, counters) = (Arc::clone(queue), Arc::clone(registry), Arc::clone(counters));
    let done = move |registry: &Registry, counters: &Counters| {
        registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        counters.active.fetch_sub(1, Ordering::Relaxed);
    };
    let (reg, cnt) = (Arc::clone(&registry), Arc::clone(&counters));
    let spawned = std::thread::Builder::new()
        .name("kupala-tcp-conn".into())
        .spawn(move || {
            let mut conn = Connection::new(stream, limits);
            conn.run(&queue, &counters);
            done(&registry, &counters);
        });
    if spawned.is_err() {
        // The stream was moved into the failed closure and is closed.
        done(&reg, &cnt);
    }
    spawned.ok()
}
