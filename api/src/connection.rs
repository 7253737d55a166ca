//! One WebSocket connection's task: `select!` between the client's frames,
//! its outgoing queue (and throttle timer) and the shutdown signal.
//!
//! Writes are bounded in time: a client that does not take a batch within
//! `slow_client_secs` is dropped (closed as slow). On shutdown the task
//! stops reading, waits briefly for its in-flight submits to be acked,
//! writes what is queued, and sends a close frame with the reason.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};

use crate::context::Context;
use crate::metrics::add;
use crate::outbox::{Outbox, Outgoing, Popped};
use crate::protocol::CloseReason;
use crate::render::messages;
use crate::session::Session;
use crate::shutdown::Shutdown;

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

/// Updates written per batch (one flush each).
const BATCH: usize = 256;
/// How long shutdown waits for in-flight submits of one connection.
const DRAIN: Duration = Duration::from_secs(3);
/// Client messages handled between two write batches when the queue is busy.
const READ_BETWEEN_WRITES: usize = 16;
/// How long a close handshake may take.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Runs a connection until the client leaves, the server closes it, or
/// the server shuts down.
pub(crate) async fn serve(ws: WebSocket, ctx: Arc<Context>, mut shutdown: Shutdown) {
    ctx.metrics.clients.fetch_add(1, Ordering::Relaxed);
    let cfg = &ctx.config;
    let outbox = Arc::new(Outbox::new(
        cfg.client_queue,
        cfg.slow_client,
        Arc::clone(&ctx.metrics),
    ));
    let client = ctx.hub.register(Arc::clone(&outbox));
    let mut session = Session::new(Arc::clone(&ctx), client, Arc::clone(&outbox));
    let (mut sink, mut source) = ws.split();
    let reason = run(&ctx, &outbox, &mut session, &mut sink, &mut source, &mut shutdown).await;
    if let Some(reason) = reason {
        ctx.metrics.closed(reason);
        if reason == CloseReason::Shutdown {
            drain(&ctx, &outbox, &mut session, &mut sink).await;
        }
        if reason != CloseReason::Slow {
            close(&mut sink, &mut source, reason).await;
        }
    }
    session.tasks.abort_all();
    ctx.hub.unregister(client);
    if let Some(ml) = &ctx.analysis {
        ml.unregister(client);
    }
    ctx.metrics.clients.fetch_sub(1, Ordering::Relaxed);
}

async fn run(
    ctx: &Context,
    outbox: &Outbox,
    session: &mut Session,
    sink: &mut Sink,
    source: &mut Source,
    shutdown: &mut Shutdown,
) -> Option<CloseReason> {
    let mut batch = Vec::with_capacity(BATCH);
    let auth_deadline = tokio::time::Instant::now() + ctx.config.auth_timeout;
    let mut beat = Heartbeat::new(ctx.config.ping_interval);
    loop {
        // Reap finished submits and queries (their answers are queued).
        while session.tasks.try_join_next().is_some() {}
        let due = match outbox.pop(BATCH, Instant::now(), &mut batch) {
            Popped::Closed(r) => return Some(r),
            Popped::Ready => {
                tokio::select! {
                    r = tokio::time::timeout(ctx.config.slow_client, write(ctx, sink, &mut batch)) => match r {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => return Some(CloseReason::Slow),
                    },
                    () = shutdown.recv() => return Some(CloseReason::Shutdown),
                }
                // A client whose queue never empties still gets its
                // requests read: take what has already arrived, then write on.
                for _ in 0..READ_BETWEEN_WRITES {
                    let Some(msg) = source.next().now_or_never() else {
                        break;
                    };
                    beat.heard();
                    if let Flow::Stop(r) = on_message(session, msg).await {
                        return r;
                    }
                }
                continue;
            }
            Popped::Idle(due) => due.map(tokio::time::Instant::from_std),
        };
        tokio::select! {
            () = shutdown.recv() => return Some(CloseReason::Shutdown),
            () = outbox.changed() => {}
            () = sleep_until(due), if due.is_some() => {}
            () = tokio::time::sleep_until(auth_deadline), if !session.authenticated() => {
                return Some(CloseReason::AuthTimeout);
            }
            () = tokio::time::sleep_until(beat.due()), if beat.on() => match beat.check() {
                Beat::Dead => return Some(CloseReason::NoPong),
                Beat::Ping => {
                    let ping = sink.send(Message::Ping(Default::default()));
                    match tokio::time::timeout(ctx.config.slow_client, ping).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => return Some(CloseReason::Slow),
                    }
                }
                Beat::Wait => {}
            },
            msg = source.next() => {
                beat.heard();
                if let Flow::Stop(r) = on_message(session, msg).await {
                    return r;
                }
            }
        }
    }
}

/// Server-side keepalive: a client heard nothing from for `interval` is
/// pinged; one silent for twice that (no pong either) is gone (a vanished
/// peer, a dead NAT mapping) and its connection is closed. Browsers and WS
/// libraries answer pings by themselves.
struct Heartbeat {
    interval: Duration,
    last_heard: tokio::time::Instant,
    pinged: bool,
}

/// What the heartbeat timer says.
enum Beat {
    /// Send a ping now.
    Ping,
    /// Silent past twice the interval: close.
    Dead,
    /// Nothing to do yet (the timer fired early or a message came first).
    Wait,
}

impl Heartbeat {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_heard: tokio::time::Instant::now(),
            pinged: false,
        }
    }

    const fn on(&self) -> bool {
        !self.interval.is_zero()
    }

    fn heard(&mut self) {
        self.last_heard = tokio::time::Instant::now();
        self.pinged = false;
    }

    fn due(&self) -> tokio::time::Instant {
        let wait = if self.pinged {
            self.interval * 2
        } else {
            self.interval
        };
        self.last_heard + wait
    }

    fn check(&mut self) -> Beat {
        let silent = self.last_heard.elapsed();
        if silent >= self.interval * 2 {
            Beat::Dead
        } else if silent >= self.interval && !self.pinged {
            self.pinged = true;
            Beat::Ping
        } else {
            Beat::Wait
        }
    }
}

/// Whether the connection goes on after a client message.
enum Flow {
    Go,
    /// Stop, with the reason to close (none: the client left or failed).
    Stop(Option<CloseReason>),
}

async fn on_message(session: &mut Session, msg: Option<Result<Message, axum::Error>>) -> Flow {
    let msg = match msg {
        None => return Flow::Stop(None),
        Some(Ok(m)) => m,
        Some(Err(e)) => return Flow::Stop(read_failure(e)),
    };
    let close = match msg {
        Message::Text(t) => session.text(t.as_str()).await,
        Message::Binary(_) => session.binary(),
        Message::Close(_) => return Flow::Stop(None),
        Message::Ping(_) | Message::Pong(_) => None,
    };
    match close {
        Some(r) => Flow::Stop(Some(r)),
        None => Flow::Go,
    }
}

/// Why a read failed, as the close reason to send: an oversized frame
/// (1009) or a protocol violation (1002); `None` when the socket itself
/// failed (nothing can be sent).
fn read_failure(e: axum::Error) -> Option<CloseReason> {
    match e.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(CapacityError::MessageTooLong { .. })) => Some(CloseReason::TooBig),
        Some(WsError::Protocol(_) | WsError::Utf8(_)) => Some(CloseReason::Protocol),
        _ => None,
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    if let Some(d) = due {
        tokio::time::sleep_until(d).await;
    }
}

/// Renders and writes a batch, then flushes.
async fn write(ctx: &Context, sink: &mut Sink, batch: &mut Vec<Outgoing>) -> Result<(), axum::Error> {
    let items = std::mem::take(batch);
    let mut stamps: Vec<u64> = items.iter().map(|o| o.t_in).filter(|&t| t != 0).collect();
    let mut texts = Vec::with_capacity(items.len());
    ctx.hub.with_names(|names| messages(items, names, &mut texts));
    let (mut bytes, messages) = (0, texts.len() as u64);
    for t in texts {
        bytes += t.len() as u64;
        sink.feed(Message::Text(Utf8Bytes::from(t))).await?;
    }
    sink.flush().await?;
    let now = kupala_engine::clock::now_ns();
    for s in &mut stamps {
        *s = now.saturating_sub(*s);
    }
    ctx.metrics.record_sends(&stamps);
    add(&ctx.metrics.messages_sent, messages);
    add(&ctx.metrics.bytes_sent, bytes);
    Ok(())
}

/// On shutdown: waits for in-flight submits, then writes what is queued.
async fn drain(ctx: &Context, outbox: &Outbox, session: &mut Session, sink: &mut Sink) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    while !session.tasks.is_empty() {
        match tokio::time::timeout_at(deadline, session.tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if outbox.pop(BATCH, Instant::now(), &mut batch) != Popped::Ready {
            break;
        }
        match tokio::time::timeout_at(deadline, write(ctx, sink, &mut batch)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
}

/// Sends a close frame with the reason and waits briefly for the client's
/// answer, so the frame is read before the socket goes away.
async fn close(sink: &mut Sink, source: &mut Source, reason: CloseReason) {
    let frame = CloseFrame {
        code: reason.code(),
        reason: Utf8Bytes::from_static(reason.text()),
    };
    let sent = tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = source.next().await {}
        })
        .await;
    }
}
