//! Unit tests of `workload.rs`.

use super::*;
use std::collections::HashSet;

#[test]
fn standard_shape_matches_the_documented_workload() {
    let w = Workload::standard();
    let c = w.config();
    assert_eq!(w.positions().len(), c.accounts * c.per_account);
    assert_eq!(w.positions().len(), 100_000);
    for a in 0..c.accounts {
        let mine: HashSet<u32> = w.positions()[a * 100..(a + 1) * 100]
            .iter()
            .inspect(|&&(acc, _)| assert_eq!(acc as usize, a))
            .map(|&(_, i)| i)
            .collect();
        assert_eq!(mine.len(), 100, "account {a} holds an instrument twice");
    }
    assert!(
        w.holders(0) * 10 > c.accounts * 9,
        "hottest held by {}",
        w.holders(0)
    );
    let total: usize = (0..c.instruments).map(|i| w.holders(i)).sum();
    assert_eq!(total, 100_000);
    let mean = w.mean_positions_per_tick();
    assert!((300.0..800.0).contains(&mean), "{mean} positions per tick");
    assert_eq!(w.opening_trades().len(), 100_000);
}

#[test]
fn one_trade_per_hundred_ticks() {
    let w = Workload::small();
    let events: Vec<Event> = w.ticks(10_000).collect();
    let ticks = events.iter().filter(|e| matches!(e, Event::Tick(_))).count();
    let trades = events.iter().filter(|e| matches!(e, Event::Trade(_))).count();
    assert_eq!((ticks, trades), (10_000, 100));
    assert!(matches!(events[100], Event::Trade(_)), "a trade follows tick 100");
    for e in &events {
        assert!(e.validate().is_ok(), "{e:?}");
        if let Event::Tick(t) = e {
            assert!(t.price.raw() > 0 && t.price.raw() % PRICE_STEP == 0, "{t:?}");
        }
    }
}

#[test]
fn same_seed_same_stream() {
    let (a, b) = (Workload::small(), Workload::small());
    assert_eq!(a.positions(), b.positions());
    assert_eq!(a.opening_trades(), b.opening_trades());
    let s: Vec<Event> = a.ticks(3_000).collect();
    assert_eq!(s, b.ticks(3_000).collect::<Vec<_>>());
    assert_eq!(
        s,
        a.ticks(3_000).collect::<Vec<_>>(),
        "each stream restarts from the seed"
    );
    let other = Workload::new(WorkloadConfig {
        seed: 1,
        ..WorkloadConfig::small()
    });
    assert_ne!(s, other.ticks(3_000).collect::<Vec<_>>());
}

#[test]
fn zipf_is_exact() {
    let z = Zipf::new(10_000, 1.1);
    let ratio = z.probability(0) / z.probability(1);
    assert!((ratio - 2f64.powf(1.1)).abs() < 1e-9);
    assert_eq!((z.sample(0.0), z.sample(0.999_999_999_999)), (0, 9_999));
    let sum: f64 = (0..10_000).map(|k| z.probability(k)).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let full = WorkloadConfig {
        instruments: 50,
        accounts: 2,
        per_account: 60,
        ..WorkloadConfig::small()
    };
    assert_eq!(
        Workload::new(full).positions().len(),
        100,
        "every instrument, in bounded time"
    );
}

#[test]
fn writes_csv() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let (p, t) = (dir.path().join("positions.csv"), dir.path().join("ticks.csv"));
    Workload::small().write_csv(&p, &t, 1_000)?;
    let positions = std::fs::read_to_string(&p)?;
    let ticks = std::fs::read_to_string(&t)?;
    assert_eq!(positions.lines().count(), 1 + 500);
    assert_eq!(ticks.lines().count(), 1 + 1_000 + 10);
    assert!(
        ticks
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("tick,2026-11-30T14:30:00.000001Z,I"))
    );
    assert!(
        ticks
            .lines()
            .any(|l| l.starts_with("trade,") && l.ends_with(",w-1"))
    );
    Ok(())
}
