//! The ingest queue's contract: proptests over interleavings of producers
//! and the consumer (single thread, every interleaving reachable), then real
//! threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kupala_engine::Event;
use kupala_feeds::queue::{IngestQueue, Pushed, QueueConfig, RefuseReason};
use proptest::prelude::*;

const INSTRUMENTS: [&str; 3] = ["A", "B", "C"];

/// An event whose identity `n` can be read back ([`id_of`]).
fn event(kind: u8, instrument: usize, n: u64) -> Event {
    let x = INSTRUMENTS[instrument % INSTRUMENTS.len()];
    let json = match kind % 7 {
        0..=2 => {
            format!(r#"{{"type":"tick","ts":"2026-11-30T14:30:00Z","instrument":"{x}","price":"{n}"}}"#)
        }
        3 => format!(
            r#"{{"type":"trade","id":"{n}","ts":"2026-11-30T14:30:00Z","account":"P","instrument":"{x}","side":"buy","qty":"1","price":"1"}}"#
        ),
        4 => format!(r#"{{"type":"fx","ts":"2026-11-30T14:30:00Z","pair":"EUR/USD","rate":"{n}"}}"#),
        6 => {
            format!(r#"{{"type":"dividend","ts":"2026-11-30T14:30:00Z","instrument":"{x}","amount":"{n}"}}"#)
        }
        _ if n.is_multiple_of(2) => {
            format!(r#"{{"type":"split","ts":"2026-11-30T00:00:00Z","instrument":"{x}","ratio":"{n}"}}"#)
        }
        _ => {
            let date = kupala_engine::time::Date(i32::try_from(n).unwrap_or(0));
            format!(r#"{{"type":"eod","date":"{date}"}}"#)
        }
    };
    Event::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// The `n` an event was built with.
fn id_of(e: &Event) -> u64 {
    let raw = match e {
        Event::Tick(t) => t.price.raw(),
        Event::Fx(f) => f.rate.raw(),
        Event::Split(s) => s.ratio.raw(),
        Event::Dividend(d) => d.amount.raw(),
        Event::Eod(d) => return u64::try_from(d.date.0).unwrap_or(0),
        Event::Trade(t) => return t.id.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0),
        Event::Instrument(_) => 0,
    };
    u64::try_from(raw / 1_000_000_000).unwrap_or(0)
}

/// Whether `e` concerns instrument `x` (an EOD concerns every instrument).
fn concerns(e: &Event, x: &str) -> bool {
    matches!(e, Event::Eod(_)) || e.instrument() == Some(x)
}

#[derive(Clone, Debug)]
enum Op {
    /// Producer `p` pushes its next event.
    Push(usize),
    /// The consumer takes up to this many events.
    Pop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => (0usize..3).prop_map(Op::Push), 1 => (1usize..5).prop_map(Op::Pop)]
}

/// Checks the contract on what the consumer saw against what was accepted
/// (in acceptance order).
fn check(accepted: &[Event], seen: &[Event]) -> Result<(), TestCaseError> {
    let order: HashMap<u64, usize> = accepted.iter().enumerate().map(|(i, e)| (id_of(e), i)).collect();
    // Every seen event was accepted, exactly once.
    let mut positions = Vec::with_capacity(seen.len());
    for e in seen {
        let at = order.get(&id_of(e)).copied();
        prop_assert!(at.is_some(), "seen but never accepted: {e:?}");
        positions.push(at.unwrap_or(0));
    }
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    prop_assert_eq!(sorted.len(), positions.len(), "an event was seen twice");
    // Every non-tick event is seen, in acceptance order.
    let non_ticks: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|&i| !matches!(accepted[i], Event::Tick(_)))
        .collect();
    let want: Vec<usize> = (0..accepted.len())
        .filter(|&i| !matches!(accepted[i], Event::Tick(_)))
        .collect();
    prop_assert_eq!(non_ticks, want);
    for x in INSTRUMENTS {
        // Per instrument, ticks, trades, splits and EODs keep their order.
        let mine: Vec<usize> = positions
            .iter()
            .copied()
            .filter(|&i| concerns(&accepted[i], x))
            .collect();
        prop_assert!(mine.windows(2).all(|w| w[0] < w[1]), "{x}: order {mine:?}");
        // The last tick of `x` before each event about `x`, and at the end, is seen.
        let mut last_tick = None;
        for (i, e) in accepted.iter().enumerate() {
            match e {
                Event::Tick(t) if t.instrument == x => last_tick = Some(i),
                _ if concerns(e, x) => {
                    if let Some(t) = last_tick.take() {
                        prop_assert!(positions.contains(&t), "{x}: tick {t} before event {i} lost");
                    }
                }
                _ => {}
            }
        }
        if let Some(t) = last_tick {
            prop_assert!(positions.contains(&t), "{x}: the last tick {t} was lost");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any interleaving of three producers' scripts and the consumer's
    /// pops, with a small capacity and no wait (a full queue refuses).
    #[test]
    fn any_interleaving_keeps_the_contract(
        scripts in proptest::collection::vec(proptest::collection::vec((0u8..7, 0usize..3), 0..40), 3),
        ops in proptest::collection::vec(op(), 0..200),
        capacity in 1usize..8,
    ) {
        let q = IngestQueue::new(QueueConfig { capacity, max_wait: Duration::ZERO });
        let mut next = [0usize; 3];
        let mut n = 0u64;
        let (mut accepted, mut seen, mut refused, mut conflated) = (Vec::new(), Vec::new(), 0u64, 0u64);
        let mut push = |p: usize, next: &mut [usize; 3], n: &mut u64, accepted: &mut Vec<Event>| {
            let Some(&(kind, instrument)) = scripts[p].get(next[p]) else { return };
            next[p] += 1;
            *n += 1;
            let e = event(kind, instrument, *n);
            match q.push(e.clone()) {
                Ok(how) => {
                    conflated += u64::from(how == Pushed::Conflated);
                    accepted.push(e);
                }
                Err(r) => {
                    assert_eq!(r.reason, RefuseReason::Busy);
                    assert_eq!(*r.event, e);
                    refused += 1;
                }
            }
        };
        for op in &ops {
            match *op {
                Op::Push(p) => push(p, &mut next, &mut n, &mut accepted),
                Op::Pop(k) => {
                    let _ = q.try_pop_batch(&mut seen, k);
                }
            }
            prop_assert!(q.depth() <= capacity);
        }
        // The rest of the scripts, then a full drain.
        for p in 0..3 {
            while next[p] < scripts[p].len() {
                push(p, &mut next, &mut n, &mut accepted);
                let _ = q.try_pop_batch(&mut seen, 1);
            }
        }
        q.close();
        while q.pop_batch(&mut seen, 3, None).is_some() {}
        check(&accepted, &seen)?;
        let stats = q.stats();
        prop_assert_eq!(stats.enqueued.total(), accepted.len() as u64);
        prop_assert_eq!(stats.refused.total(), refused);
        prop_assert_eq!(stats.conflated, conflated);
        prop_assert_eq!(stats.dequeued, seen.len() as u64);
        prop_assert_eq!(stats.dequeued + stats.conflated, stats.enqueued.total());
        prop_assert_eq!(stats.depth, 0);
    }
}

#[test]
fn ticks_conflate_in_place_until_sealed() {
    let q = IngestQueue::new(QueueConfig {
        capacity: 2,
        max_wait: Duration::ZERO,
    });
    assert_eq!(q.push(event(0, 0, 1)), Ok(Pushed::Queued)); // tick A 1
    assert_eq!(q.push(event(0, 1, 2)), Ok(Pushed::Queued)); // tick B 2
    // Full, but ticks conflate.
    assert_eq!(q.push(event(0, 0, 3)), Ok(Pushed::Conflated)); // tick A 3 replaces A 1
    assert_eq!(
        q.push(event(4, 0, 4)).map_err(|r| r.to_string()),
        Err("busy: engine behind, fx not accepted".into())
    );
    let mut out = Vec::new();
    assert_eq!(q.try_pop_batch(&mut out, 1), Some(1));
    assert_eq!(q.push(event(3, 0, 5)), Ok(Pushed::Queued)); // trade A seals nothing queued
    assert_eq!(q.try_pop_batch(&mut out, 10), Some(2));
    let ids: Vec<u64> = out.iter().map(id_of).collect();
    assert_eq!(ids, [3, 2, 5], "A 3 took A 1's place");
    // A trade seals the tick before it; an EOD seals every tick.
    let q = IngestQueue::new(QueueConfig::default());
    for (k, i, n) in [
        (0, 0, 1),
        (3, 0, 2),
        (0, 0, 3),
        (0, 1, 4),
        (5, 0, 5),
        (0, 1, 6),
        (0, 0, 7),
        (0, 0, 8),
    ] {
        assert!(q.push(event(k, i, n)).is_ok());
    }
    out.clear();
    assert_eq!(q.try_pop_batch(&mut out, 100), Some(7));
    let ids: Vec<u64> = out.iter().map(id_of).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 8]);
    let s = q.stats();
    assert_eq!(
        (s.enqueued.tick, s.enqueued.trade, s.enqueued.eod, s.conflated),
        (6, 1, 1, 1)
    );
    assert_eq!(s.max_depth, 7);
}

#[test]
fn a_full_queue_waits_then_refuses_and_a_closed_one_refuses_at_once() {
    let q = IngestQueue::new(QueueConfig {
        capacity: 1,
        max_wait: Duration::from_millis(50),
    });
    assert!(q.push(event(3, 0, 1)).is_ok());
    let t0 = Instant::now();
    let r = q.push(event(3, 0, 2)).err();
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        r.map(|r| r.to_string()).as_deref(),
        Some("busy: engine behind, trade not accepted")
    );
    // A batch shares its wait bound: three refusals in about one bound.
    let t0 = Instant::now();
    let mut lines = Vec::new();
    let ok = q.push_all((10..13).map(|l| (l, event(3, 0, l))), |l, r| {
        lines.push((l, r.reason))
    });
    assert!(t0.elapsed() < Duration::from_millis(140));
    assert_eq!((ok, lines.len()), (0, 3));
    assert_eq!(q.stats().waited, 2);
    // A consumer freeing room lets a waiting producer in.
    let q = Arc::new(q);
    let consumer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            let mut out = Vec::new();
            q.pop_batch(&mut out, 1, None)
        })
    };
    assert!(q.push_within(event(3, 0, 3), Duration::from_secs(5)).is_ok());
    assert_eq!(consumer.join().ok().flatten(), Some(1));
    q.close();
    assert_eq!(
        q.push(event(3, 0, 4)).map_err(|r| r.reason),
        Err(RefuseReason::Closed)
    );
    let mut out = Vec::new();
    assert_eq!(q.pop_batch(&mut out, 10, None), Some(1));
    assert_eq!(q.pop_batch(&mut out, 10, None), None);
    assert_eq!(q.pop_batch(&mut out, 10, Some(Duration::from_millis(1))), None);
}

#[test]
fn a_consumer_waiting_with_a_timeout_returns_zero() {
    let q = IngestQueue::new(QueueConfig::default());
    let mut out = Vec::new();
    assert_eq!(q.pop_batch(&mut out, 10, Some(Duration::from_millis(5))), Some(0));
}

/// Real threads: four producers (each with its own instruments' trades and
/// ticks), a slow consumer, a small queue: every trade arrives once, in
/// each producer's order, and each producer's last tick arrives.
#[test]
fn threads_keep_every_trade_and_the_last_ticks() {
    const PRODUCERS: u64 = 4;
    const EVENTS: u64 = 5_000;
    let q = Arc::new(IngestQueue::new(QueueConfig {
        capacity: 64,
        max_wait: Duration::from_secs(30),
    }));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let x = INSTRUMENTS[usize::try_from(p).unwrap_or(0) % 3];
                for i in 0..EVENTS {
                    let n = p * 1_000_000 + i + 1;
                    let json = if i % 10 == 9 {
                        format!(
                            r#"{{"type":"trade","id":"{n}","ts":"2026-11-30T14:30:00Z","account":"P{p}","instrument":"{x}","side":"buy","qty":"1","price":"1"}}"#
                        )
                    } else {
                        format!(r#"{{"type":"tick","ts":"2026-11-30T14:30:00Z","instrument":"{x}{p}","price":"{n}"}}"#)
                    };
                    let e = Event::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
                    assert!(q.push(e).is_ok());
                }
            })
        })
        .collect();
    let consumer = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut batch = Vec::new();
            while q.pop_batch(&mut batch, 16, None).is_some() {
                seen.append(&mut batch);
                thread::sleep(Duration::from_micros(20));
            }
            seen
        })
    };
    for p in producers {
        assert!(p.join().is_ok());
    }
    q.close();
    let seen = consumer.join().unwrap_or_default();
    let stats = q.stats();
    assert_eq!(stats.refused.total(), 0);
    assert_eq!(stats.enqueued.total(), PRODUCERS * EVENTS);
    assert_eq!(stats.dequeued, seen.len() as u64);
    for p in 0..PRODUCERS {
        let trades: Vec<u64> = seen
            .iter()
            .filter(|e| matches!(e, Event::Trade(t) if t.account == format!("P{p}")))
            .map(id_of)
            .collect();
        let want: Vec<u64> = (0..EVENTS)
            .filter(|i| i % 10 == 9)
            .map(|i| p * 1_000_000 + i + 1)
            .collect();
        assert_eq!(trades, want, "producer {p}");
        let ticks: Vec<u64> = seen
            .iter()
            .filter(|e| matches!(e, Event::Tick(t) if t.instrument.ends_with(&p.to_string())))
            .map(id_of)
            .collect();
        assert!(ticks.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ticks.last().copied(), Some(p * 1_000_000 + EVENTS - 1));
    }
}

/// Names from the network must not grow the conflation map without bound;
/// after it is purged, conflation still follows the contract.
#[test]
fn many_distinct_instruments_then_conflation_still_works() {
    let q = IngestQueue::new(QueueConfig {
        capacity: 4,
        max_wait: Duration::ZERO,
    });
    let mut out = Vec::new();
    for n in 1..=20_000u64 {
        let json =
            format!(r#"{{"type":"tick","ts":"2026-11-30T14:30:00Z","instrument":"I{n}","price":"{n}"}}"#);
        assert_eq!(
            q.push(Event::from_json(&json).unwrap_or_else(|e| panic!("{e}"))),
            Ok(Pushed::Queued)
        );
        let _ = q.try_pop_batch(&mut out, 1);
    }
    assert_eq!(out.len(), 20_000);
    out.clear();
    for (k, i, n) in [(0, 0, 1), (0, 0, 2), (3, 0, 3), (0, 0, 4)] {
        assert!(q.push(event(k, i, n)).is_ok());
    }
    let _ = q.try_pop_batch(&mut out, 10);
    assert_eq!(out.iter().map(id_of).collect::<Vec<_>>(), [2, 3, 4]);
}
