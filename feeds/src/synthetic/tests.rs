use std::collections::BTreeSet;

use kupala_engine::Event;
use kupala_engine::num::UNIT;

use super::{InstrumentSpec, SyntheticConfig, SyntheticMarket, TRADING_YEAR_SECONDS};

/// A config with no trades and no FX: only ticks.
fn ticks_only(seed: u64) -> SyntheticConfig {
    SyntheticConfig {
        trade_probability: 0.0,
        fx_probability: 0.0,
        zipf_s: 0.0,
        events_per_second: 1.0,
        time_scale: 300.0,
        ..SyntheticConfig::demo(seed)
    }
}

fn spec(id: &str, vol: f64, loading: f64) -> InstrumentSpec {
    InstrumentSpec {
        id: id.to_owned(),
        currency: "USD".to_owned(),
        multiplier: 1,
        start_price: 100.0,
        tick_size: 0.01,
        lot: 10,
        drift: 0.0,
        vol,
        factor_loading: loading,
    }
}

fn price_of(e: &Event) -> Option<f64> {
    match e {
        Event::Tick(t) => Some(t.price.raw() as f64 / UNIT as f64),
        _ => None,
    }
}

#[test]
fn the_same_seed_gives_the_same_stream() {
    let (mut a, mut b, mut c) = (
        SyntheticMarket::demo(42),
        SyntheticMarket::demo(42),
        SyntheticMarket::demo(43),
    );
    assert_eq!(a.opening_events(), b.opening_events());
    let mut differs = false;
    for _ in 0..20_000 {
        let (x, y, z) = (a.next_event(), b.next_event(), c.next_event());
        assert_eq!(x, y);
        differs |= x != z;
    }
    assert!(differs, "another seed gives another stream");
    let generated = |seed| {
        let mut m = SyntheticMarket::new(SyntheticConfig {
            instruments: 500,
            ..SyntheticConfig::demo(seed)
        });
        let mut events = m.opening_events();
        events.extend((0..2_000).map(|_| m.next_event().1));
        events
    };
    assert_eq!(generated(9), generated(9));
    assert_ne!(generated(9), generated(10));
}

#[test]
fn the_demo_has_about_fifty_instruments_in_three_currencies_with_futures() {
    let m = SyntheticMarket::demo(1);
    let specs = m.instruments();
    assert!((45..=60).contains(&specs.len()), "{} instruments", specs.len());
    let currencies: BTreeSet<&str> = specs.iter().map(|s| s.currency.as_str()).collect();
    assert_eq!(currencies, BTreeSet::from(["EUR", "JPY", "USD"]));
    assert!(specs.iter().filter(|s| s.multiplier > 1).count() >= 2, "futures");
    let ids: BTreeSet<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), specs.len(), "unique ids");
    let opening = m.opening_events();
    let declared = opening
        .iter()
        .filter(|e| matches!(e, Event::Instrument(_)))
        .count();
    assert_eq!(declared, specs.len());
    let holders: BTreeSet<(&str, &str)> = opening
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some((t.account.as_str(), t.instrument.as_str())),
            _ => None,
        })
        .collect();
    for account in ["A1", "A2", "B7"] {
        assert!(
            holders.iter().filter(|h| h.0 == account).count() >= 5,
            "{account}"
        );
    }
    assert!(holders.contains(&("A1", "AAPL")));
}

#[test]
fn fx_pairs_are_declared_and_move() {
    let mut m = SyntheticMarket::demo(3);
    let pairs: Vec<&str> = m.fx_pairs().iter().map(|p| p.pair.as_str()).collect();
    assert_eq!(pairs, ["EUR/USD", "USD/JPY"]);
    let opening: BTreeSet<String> = m
        .opening_events()
        .iter()
        .filter_map(|e| match e {
            Event::Fx(f) => Some(f.pair.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        opening,
        BTreeSet::from(["EUR/USD".to_owned(), "USD/JPY".to_owned()])
    );
    let mut rates: Vec<(String, i64)> = Vec::new();
    for _ in 0..10_000 {
        if let (_, Event::Fx(f)) = m.next_event() {
            assert!(f.rate.raw() > 0);
            rates.push((f.pair, f.rate.raw()));
        }
    }
    for pair in ["EUR/USD", "USD/JPY"] {
        let seen: BTreeSet<i64> = rates.iter().filter(|r| r.0 == pair).map(|r| r.1).collect();
        assert!(seen.len() > 10, "{pair} moves: {seen:?}");
    }
}

#[test]
fn a_general_config_spreads_instruments_over_its_currencies() {
    let config = SyntheticConfig {
        instruments: 30,
        currencies: ["USD", "GBP", "CHF"].map(String::from).to_vec(),
        ..SyntheticConfig::demo(5)
    };
    let m = SyntheticMarket::new(config);
    let currencies: BTreeSet<&str> = m.instruments().iter().map(|s| s.currency.as_str()).collect();
    assert_eq!(currencies, BTreeSet::from(["CHF", "GBP", "USD"]));
    let pairs: Vec<&str> = m.fx_pairs().iter().map(|p| p.pair.as_str()).collect();
    assert_eq!(pairs, ["GBP/USD", "USD/CHF"]);
    assert_eq!(m.opening().len(), 3 * 10);
}

#[test]
fn prices_stay_positive_and_events_are_valid_over_100k_steps() {
    let config = SyntheticConfig {
        vol: 1.5,
        drift: -0.5,
        time_scale: 20_000.0,
        trade_probability: 0.02,
        fx_probability: 0.1,
        fx_vol: 1.0,
        instruments: 40,
        ..SyntheticConfig::demo(11)
    };
    let mut m = SyntheticMarket::new(config);
    let opening = m.opening_events();
    for (k, e) in opening
        .into_iter()
        .chain((0..100_000).map(|_| m.next_event().1))
        .enumerate()
    {
        assert_eq!(e.validate(), Ok(()), "event {k}: {e:?}");
        let positive = match &e {
            Event::Tick(t) => t.price.raw() > 0,
            Event::Trade(t) => t.price.raw() > 0 && t.qty.raw() > 0,
            Event::Fx(f) => f.rate.raw() > 0,
            _ => true,
        };
        assert!(positive, "event {k}: {e:?}");
        if k % 997 == 0 {
            assert_eq!(Event::from_json(&e.to_json()).as_ref(), Ok(&e), "JSON round trip");
        }
    }
}

#[test]
fn trades_fx_and_waits_come_at_the_configured_rates() {
    let config = SyntheticConfig {
        trade_probability: 0.05,
        fx_probability: 0.1,
        events_per_second: 250.0,
        ..SyntheticConfig::demo(17)
    };
    let mut m = SyntheticMarket::demo(17);
    m.config = config;
    let (n, mut trades, mut fx, mut waited) = (100_000, 0, 0, 0.0);
    let mut last = m.config().start;
    for _ in 0..n {
        let (wait, e) = m.next_event();
        waited += wait.as_secs_f64();
        match e {
            Event::Trade(t) => {
                trades += 1;
                assert!(t.ts >= last);
                last = t.ts;
            }
            Event::Fx(_) => fx += 1,
            _ => {}
        }
    }
    assert!(
        (4_700..=5_300).contains(&trades),
        "{trades} trades, 5,000 expected"
    );
    assert!((9_100..=9_900).contains(&fx), "{fx} FX rates, 9,500 expected");
    let mean = waited / f64::from(n);
    assert!((mean - 0.004).abs() < 0.0002, "mean wait {mean}s, 4 ms expected");
}

#[test]
fn demo_positions_stay_within_bounds() {
    let mut m = SyntheticMarket::demo(21);
    for _ in 0..200_000 {
        m.next_event();
    }
    assert!(m.trades > 500, "{} trades", m.trades);
    for (&(a, i), &qty) in &m.holdings {
        let opened = m.opening.iter().find(|o| (o.account, o.instrument) == (a, i));
        let bound = (40 * m.specs[i].lot).max(opened.map_or(0, |o| o.qty.abs()));
        assert!(qty.abs() <= bound, "{}: {qty} beyond {bound}", m.specs[i].id);
    }
}

/// Log returns of two instruments' marks sampled every `every` events.
fn sampled_returns(m: &mut SyntheticMarket, steps: usize, every: usize) -> Vec<(f64, f64)> {
    let mut marks = [100.0, 100.0];
    let mut last = marks;
    let mut out = Vec::new();
    for k in 1..=steps {
        if let (_, Event::Tick(t)) = m.next_event() {
            let i = usize::from(t.instrument == "Y");
            marks[i] = price_of(&Event::Tick(t)).unwrap_or(marks[i]);
        }
        if k % every == 0 {
            out.push(((marks[0] / last[0]).ln(), (marks[1] / last[1]).ln()));
            last = marks;
        }
    }
    out
}

fn correlation(xy: &[(f64, f64)]) -> f64 {
    let n = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let vx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let vy: f64 = xy.iter().map(|p| (p.1 - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn a_common_factor_correlates_returns() {
    let market = |loading: f64| {
        let specs = vec![spec("X", 0.3, loading), spec("Y", 0.3, loading)];
        SyntheticMarket::with_instruments(ticks_only(7), specs)
    };
    let correlated = correlation(&sampled_returns(&mut market(0.8), 100_000, 20));
    assert!(correlated > 0.45, "correlation {correlated}, 0.64 expected");
    let independent = correlation(&sampled_returns(&mut market(0.0), 100_000, 20));
    assert!(independent.abs() < 0.08, "correlation {independent}, 0 expected");
}

#[test]
fn realized_volatility_matches_the_configured_one() {
    let specs = vec![spec("X", 0.4, 0.5), spec("Y", 0.2, 0.5)];
    let mut m = SyntheticMarket::with_instruments(ticks_only(8), specs);
    let every = 20;
    let returns = sampled_returns(&mut m, 200_000, every);
    // Years between samples: `every` events at 1 per second, sped up 300 times.
    let years = every as f64 * 300.0 / TRADING_YEAR_SECONDS;
    let vol = |f: fn(&(f64, f64)) -> f64| {
        let n = returns.len() as f64;
        let mean = returns.iter().map(f).sum::<f64>() / n;
        (returns.iter().map(|r| (f(r) - mean).powi(2)).sum::<f64>() / n / years).sqrt()
    };
    let (vx, vy) = (vol(|r| r.0), vol(|r| r.1));
    assert!((vx - 0.4).abs() < 0.03, "X volatility {vx}, 0.4 expected");
    assert!((vy - 0.2).abs() < 0.02, "Y volatility {vy}, 0.2 expected");
}

#[test]
fn a_resumed_market_starts_from_the_marks_and_holdings_it_is_given() {
    use kupala_engine::event::Side;
    use kupala_engine::num::{Price, Quantity};
    let mut m = SyntheticMarket::with_instruments(
        ticks_only(5),
        vec![spec("AAA", 0.0001, 0.0), spec("BBB", 0.0001, 0.0)],
    );
    m.resume_from(&[("AAA", Price::from_int(250)), ("ZZZ", Price::from_int(1))], &[]);
    let mut first = std::collections::HashMap::new();
    while first.len() < 2 {
        if let (_, Event::Tick(t)) = m.next_event() {
            first.entry(t.instrument.clone()).or_insert(t.price);
        }
    }
    let near = |p: Option<&Price>, want: f64| {
        p.is_some_and(|p| (p.raw() as f64 / UNIT as f64 - want).abs() < want * 0.01)
    };
    assert!(near(first.get("AAA"), 250.0), "{first:?}");
    assert!(near(first.get("BBB"), 100.0), "{first:?}");

    // Trades keep a position within 30 lots of the holding it resumes from.
    let mut t = SyntheticMarket::with_instruments(
        SyntheticConfig {
            trade_probability: 1.0,
            ..ticks_only(6)
        },
        vec![spec("AAA", 0.0001, 0.0)],
    );
    let accounts = t.config().accounts.clone();
    let held: Vec<(&str, &str, Quantity)> = accounts
        .iter()
        .map(|a| (a.as_str(), "AAA", Quantity::from_int(300)))
        .collect();
    t.resume_from(&[], &held);
    let mut pos: std::collections::HashMap<String, i64> = accounts.iter().map(|a| (a.clone(), 300)).collect();
    for _ in 0..2_000 {
        if let (_, Event::Trade(tr)) = t.next_event() {
            let q = tr.qty.raw() / UNIT;
            let entry = pos.entry(tr.account.clone()).or_insert(0);
            *entry += if tr.side == Side::Buy { q } else { -q };
            assert!(entry.abs() <= 300, "{} drifted to {entry}", tr.account);
        }
    }
}
