//! The TCP ingest endpoint over real loopback sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kupala_engine::Event;
use kupala_feeds::queue::{IngestQueue, QueueConfig};
use kupala_feeds::tcp::{TcpIngest, TcpLimits};

fn tick(instrument: &str, price: u64) -> String {
    format!(r#"{{"type":"tick","ts":"2026-11-30T14:30:00Z","instrument":"{instrument}","price":"{price}"}}"#)
}

fn trade(id: u64) -> String {
    format!(
        r#"{{"type":"trade","id":"t{id}","ts":"2026-11-30T14:30:00Z","account":"A","instrument":"X","side":"buy","qty":"1","price":"1"}}"#
    )
}

fn start(queue: QueueConfig, limits: TcpLimits) -> (Arc<IngestQueue>, TcpIngest) {
    let q = Arc::new(IngestQueue::new(queue));
    let server =
        TcpIngest::start("127.0.0.1:0", Arc::clone(&q), limits).unwrap_or_else(|e| panic!("bind: {e}"));
    (q, server)
}

fn connect(server: &TcpIngest) -> TcpStream {
    let s = TcpStream::connect(server.local_addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s
}

/// Sends `bytes`, closes the write side, returns every reply line.
fn exchange(server: &TcpIngest, bytes: &[u8]) -> Vec<String> {
    let mut s = connect(server);
    assert!(s.write_all(bytes).is_ok());
    assert!(s.shutdown(Shutdown::Write).is_ok());
    BufReader::new(s).lines().map_while(Result::ok).collect()
}

fn drain(q: &IngestQueue) -> Vec<Event> {
    let mut out = Vec::new();
    while q.try_pop_batch(&mut out, 1 << 20).is_some_and(|n| n > 0) {}
    out
}

/// Waits until `cond` holds (at most 10 s).
fn until(cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() && t0.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(2));
    }
    assert!(cond(), "timed out");
}

#[test]
fn bad_lines_get_a_reply_and_the_connection_goes_on() {
    let limits = TcpLimits {
        max_line: 200,
        read_buffer: 512,
        ..TcpLimits::default()
    };
    let (q, server) = start(QueueConfig::default(), limits);
    let mut input = Vec::new();
    input.extend_from_slice(format!("{}\n", tick("A", 1)).as_bytes()); // 1
    input.extend_from_slice(b"garbage\n"); // 2
    input.extend_from_slice(b"\xff\xfe{\"type\"\n"); // 3
    input.extend_from_slice(format!("{}\r\n", tick("B", 2)).as_bytes()); // 4
    input.extend_from_slice(format!("{{\"x\":\"{}\"}}\n", "y".repeat(10_000)).as_bytes()); // 5: longer than a read
    input.extend_from_slice(b"\n# comment\n"); // 6, 7
    input.extend_from_slice(br#"{"type":"trade","qty":"0"}"#); // 8
    input.extend_from_slice(
        b"\n{\"type\":\"tick\",\"ts\":\"2026-11-30T14:30:00Z\",\"instrument\":\"X\",\"price\":\"1e5\"}\n",
    ); // 9
    input.extend_from_slice(format!("{}\n", "z".repeat(201)).as_bytes()); // 10: just too long
    input.extend_from_slice(trade(1).as_bytes()); // 11, no line break
    let replies = exchange(&server, &input);
    assert_eq!(replies.len(), 6, "{replies:#?}");
    assert_eq!(replies[0], "error 2: an event must be a JSON object");
    assert_eq!(replies[1], "error 3: not valid UTF-8");
    assert_eq!(replies[2], "error 5: longer than 200 bytes");
    assert!(replies[3].starts_with("error 8: "), "{}", replies[3]);
    assert!(
        replies[4].starts_with("error 9: price:") && replies[4].contains("exponent"),
        "{}",
        replies[4]
    );
    assert_eq!(replies[5], "error 10: longer than 200 bytes");
    let got: Vec<String> = drain(&q).iter().map(Event::to_json).collect();
    assert_eq!(got.len(), 3);
    assert!(got[0].contains(r#""instrument":"A""#) && got[1].contains(r#""instrument":"B""#));
    assert!(got[2].contains(r#""id":"t1""#));
    let stats = server.stats();
    assert_eq!(
        (stats.lines, stats.accepted, stats.rejected, stats.refused),
        (11, 3, 6, 0)
    );
    assert_eq!(stats.bytes, input.len() as u64);
    server.stop();
}

#[test]
fn a_line_too_long_at_the_end_of_the_stream_is_reported() {
    let limits = TcpLimits {
        max_line: 10,
        read_buffer: 512,
        ..TcpLimits::default()
    };
    let (_q, server) = start(QueueConfig::default(), limits);
    let replies = exchange(&server, "x".repeat(5_000).as_bytes());
    assert_eq!(replies, ["error 1: longer than 10 bytes"]);
}

#[test]
fn random_bytes_never_stop_the_server() {
    let (q, server) = start(
        QueueConfig::default(),
        TcpLimits {
            max_line: 256,
            ..TcpLimits::default()
        },
    );
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut junk = Vec::with_capacity(1 << 16);
    for _ in 0..(1 << 16) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        junk.push(match state % 7 {
            0 => b'\n',
            1 => b'{',
            2 => b'"',
            _ => (state >> 8) as u8,
        });
    }
    let replies = exchange(&server, &junk);
    assert!(!replies.is_empty());
    assert!(replies.iter().all(|r| r.starts_with("error ")));
    // Still serving, with good lines after the junk on a new connection.
    assert!(exchange(&server, format!("{}\n", trade(7)).as_bytes()).is_empty());
    assert_eq!(drain(&q).len(), 1);
}

#[test]
fn a_full_queue_answers_busy_and_a_closed_one_closes() {
    let queue = QueueConfig {
        capacity: 1,
        max_wait: Duration::from_millis(20),
    };
    let (q, server) = start(queue, TcpLimits::default());
    let input = format!("{}\n{}\n{}\n{}\n", trade(1), trade(2), tick("X", 5), tick("Y", 6));
    let replies = exchange(&server, input.as_bytes());
    assert_eq!(
        replies,
        [
            "error 2: busy: engine behind, trade not accepted",
            "error 3: busy: engine behind, tick not accepted",
            "error 4: busy: engine behind, tick not accepted"
        ]
    );
    assert_eq!(server.stats().refused, 3);
    assert_eq!(drain(&q).len(), 1);
    q.close();
    let mut s = connect(&server);
    assert!(s.write_all(format!("{}\n", trade(3)).as_bytes()).is_ok());
    // No shutdown from our side: the server closes after the reply.
    let mut text = String::new();
    assert!(s.read_to_string(&mut text).is_ok());
    assert_eq!(text, "error 1: closed: engine stopping, trade not accepted\n");
}

#[test]
fn connections_over_the_cap_are_turned_away() {
    let limits = TcpLimits {
        max_connections: 1,
        ..TcpLimits::default()
    };
    let (q, server) = start(QueueConfig::default(), limits);
    let mut first = connect(&server);
    assert!(first.write_all(format!("{}\n", tick("A", 1)).as_bytes()).is_ok());
    until(|| q.depth() == 1);
    let mut second = connect(&server);
    let mut text = String::new();
    assert!(second.read_to_string(&mut text).is_ok());
    assert_eq!(text, "error 0: busy: too many connections (at most 1)\n");
    assert_eq!(server.stats().connections_refused, 1);
    // Once the first is gone, a new one is served.
    drop(first.shutdown(Shutdown::Both));
    until(|| server.stats().active == 0);
    assert!(exchange(&server, format!("{}\n", tick("B", 2)).as_bytes()).is_empty());
    assert_eq!(drain(&q).len(), 2);
}

#[test]
fn stop_drains_what_was_received_and_closes_connections() {
    let (q, server) = start(QueueConfig::default(), TcpLimits::default());
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let lines: String = (0..100)
            .map(|n| format!("{}\n", tick(&format!("I{i}-{n}"), 1)))
            .collect();
        assert!(c.write_all(lines.as_bytes()).is_ok());
    }
    until(|| q.depth() == 300);
    until(|| server.stats().active == 3);
    let t0 = Instant::now();
    server.stop();
    assert!(t0.elapsed() < Duration::from_secs(2));
    for mut c in clients {
        let mut rest = Vec::new();
        // The server closed: EOF (or a reset), never a hang.
        let _ = c.read_to_end(&mut rest);
        assert!(rest.is_empty());
    }
    assert_eq!(drain(&q).len(), 300);
}

#[test]
fn concurrent_connections_with_a_consumer() {
    const CLIENTS: u64 = 4;
    const TICKS: u64 = 20_000;
    let (q, server) = start(
        QueueConfig {
            capacity: 256,
            max_wait: Duration::from_secs(10),
        },
        TcpLimits::default(),
    );
    let consumer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let (mut n, mut last) = (0u64, Vec::new());
            let mut batch = Vec::new();
            while q.pop_batch(&mut batch, 512, None).is_some() {
                n += batch.len() as u64;
                last.extend(batch.drain(..).filter(|e| matches!(e, Event::Trade(_))));
            }
            (n, last)
        })
    };
    let addr = server.local_addr();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut text = String::new();
                for i in 1..=TICKS {
                    text.push_str(&tick(&format!("C{c}"), i));
                    text.push('\n');
                }
                text.push_str(&trade(c));
                text.push('\n');
                let mut s = TcpStream::connect(addr).ok()?;
                s.write_all(text.as_bytes()).ok()?;
                s.shutdown(Shutdown::Write).ok()?;
                let mut replies = String::new();
                s.read_to_string(&mut replies).ok()?;
                Some(replies)
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().ok().flatten().as_deref(), Some(""));
    }
    until(|| server.stats().active == 0);
    server.stop();
    q.close();
    let (seen, trades) = consumer.join().unwrap_or_default();
    let s = q.stats();
    assert_eq!(s.enqueued.tick, CLIENTS * TICKS);
    assert_eq!(trades.len() as u64, CLIENTS);
    assert_eq!(seen, s.dequeued);
    assert_eq!(seen + s.conflated, CLIENTS * (TICKS + 1));
}
