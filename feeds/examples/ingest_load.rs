//! TCP ingest load: JSONL ticks (and a trade every 100 lines) over loopback
//! into a [`TcpIngest`] and its [`IngestQueue`], drained by a consumer
//! thread standing in for the engine.
//!
//! Two phases:
//! 1. `max`: the consumer drains as fast as it can; the figure is the
//!    sustained ingest rate (lines decoded and queued per second).
//! 2. `2x`: the consumer is limited to half the rate phase 1 measured, the
//!    senders still send as fast as they can: what conflation does (ticks
//!    replaced, the rate the consumer sees, trades refused: must be 0).
//!
//! ```text
//! cargo run --release -p kupala-feeds --example ingest_load -- [LINES_PER_CONNECTION] [CONNECTIONS] [INSTRUMENTS]
//! ```
//! Defaults: 2,000,000 lines per connection, 2 connections, 1,000 instruments.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kupala_engine::Event;
use kupala_feeds::queue::{IngestQueue, QueueConfig, QueueStats};
use kupala_feeds::tcp::{TcpIngest, TcpLimits};

/// One connection's stream: ticks over `instruments`, a trade every 100 lines.
fn payload(conn: usize, lines: usize, instruments: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 110);
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ conn as u64;
    for i in 0..lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let sym = x as usize % instruments;
        let line = if i % 100 == 99 {
            format!(
                r#"{{"type":"trade","id":"c{conn}-{i}","ts":"2026-11-30T14:30:00.000000123Z","account":"ACC{}","instrument":"SYM{sym:04}","side":"buy","qty":"10","price":"101.25"}}"#,
                x % 50
            )
        } else {
            let price = 100 + (x >> 40) % 100;
            let frac = (x >> 20) % 10_000;
            format!(
                r#"{{"type":"tick","ts":"2026-11-30T14:30:00.{:09}Z","instrument":"SYM{sym:04}","price":"{price}.{frac:04}"}}"#,
                i % 1_000_000_000
            )
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

struct Outcome {
    elapsed: Duration,
    stats: QueueStats,
    trades_seen: u64,
    replies: usize,
}

/// Runs one phase; `consumer_rate` events/s (`None`: unlimited).
fn phase(payloads: &[Arc<Vec<u8>>], consumer_rate: Option<f64>) -> Outcome {
    let queue = Arc::new(IngestQueue::new(QueueConfig {
        capacity: 1 << 16,
        max_wait: Duration::from_secs(5),
    }));
    let server = match TcpIngest::start("127.0.0.1:0", Arc::clone(&queue), TcpLimits::default()) {
        Ok(s) => s,
        Err(e) => panic!("bind: {e}"),
    };
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
        thread::spawn(move || {
            let mut batch = Vec::with_capacity(4096);
            let (mut seen, mut trades) = (0u64, 0u64);
            let t0 = Instant::now();
            loop {
                match queue.pop_batch(&mut batch, 4096, Some(Duration::from_millis(10))) {
                    None => break,
                    Some(0) if done.load(Ordering::SeqCst) => break,
                    Some(_) => {}
                }
                seen += batch.len() as u64;
                trades += batch.iter().filter(|e| matches!(e, Event::Trade(_))).count() as u64;
                batch.clear();
                if let Some(rate) = consumer_rate {
                    let due = Duration::from_secs_f64(seen as f64 / rate);
                    if let Some(ahead) = due.checked_sub(t0.elapsed()) {
                        thread::sleep(ahead);
                    }
                }
            }
            trades
        })
    };
    let addr = server.local_addr();
    let t0 = Instant::now();
    let senders: Vec<_> = payloads
        .iter()
        .map(|p| {
            let p = Arc::clone(p);
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).ok()?;
                s.write_all(&p).ok()?;
                s.shutdown(Shutdown::Write).ok()?;
                let mut replies = String::new();
                s.read_to_string(&mut replies).ok()?;
                Some(replies.lines().count())
            })
        })
        .collect();
    let replies = senders
        .into_iter()
        .map(|t| t.join().ok().flatten().unwrap_or(usize::MAX))
        .sum();
    // Every line is decoded and queued once its connection has answered EOF.
    let elapsed = t0.elapsed();
    done.store(true, Ordering::SeqCst);
    server.stop();
    queue.close();
    let trades_seen = consumer.join().unwrap_or(0);
    Outcome {
        elapsed,
        stats: queue.stats(),
        trades_seen,
        replies,
    }
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (lines, conns, instruments) = (arg(1, 2_000_000), arg(2, 2), arg(3, 1_000));
    let payloads: Vec<Arc<Vec<u8>>> = (0..conns)
        .map(|c| Arc::new(payload(c, lines, instruments)))
        .collect();
    let total = (lines * conns) as f64;
    let bytes: usize = payloads.iter().map(|p| p.len()).sum();
    println!(
        "{conns} connections × {lines} lines ({} MB, {instruments} instruments, 1 trade per 100 lines)",
        bytes / 1_000_000
    );
    let report = |name: &str, o: &Outcome| {
        let s = &o.stats;
        let secs = o.elapsed.as_secs_f64();
        println!(
            "{name}: {:.2} s, ingest {:.0} lines/s ({:.0} MB/s); consumer saw {} events ({:.0}/s); \
             conflated {} ticks ({:.1}% of ticks); trades sent {} seen {} refused {}; max depth {}; error replies {}",
            secs,
            total / secs,
            bytes as f64 / secs / 1e6,
            s.dequeued,
            s.dequeued as f64 / secs,
            s.conflated,
            100.0 * s.conflated as f64 / s.enqueued.tick.max(1) as f64,
            s.enqueued.trade,
            o.trades_seen,
            s.refused.total(),
            s.max_depth,
            o.replies,
        );
    };
    // The per-line decoding cost alone, one thread: the ceiling per core.
    let t0 = Instant::now();
    let decoded = payloads[0]
        .split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter(|l| Event::from_json(l).is_ok())
        .count();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "decode only, one thread: {decoded} lines in {secs:.2} s = {:.0} lines/s",
        decoded as f64 / secs
    );
    let max = phase(&payloads, None);
    report("max", &max);
    let rate = total / max.elapsed.as_secs_f64() / 2.0;
    println!("2x: consumer limited to {rate:.0} events/s (half the measured ingest rate)");
    let half = phase(&payloads, Some(rate));
    report("2x ", &half);
}
