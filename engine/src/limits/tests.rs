//! The range bounds: refusals at the limit, batches checked in order, and
//! realistic books far inside it.

use super::*;
use crate::event::Event;
use crate::ids::{AccountId, BookId};
use crate::num::{Fee, Price, Quantity};
use crate::sequencer::{BaseCurrencies, SequenceError, Sequencer};

fn trade(account: &str, instrument: &str, qty: &str, price: &str) -> Event {
    let line = format!(
        r#"{{"type":"trade","ts":"2026-12-01T10:00:00Z","account":"{account}","instrument":"{instrument}","side":"buy","qty":"{qty}","price":"{price}"}}"#
    );
    Event::from_json(&line).unwrap_or_else(|e| panic!("{e}"))
}

fn op(account: u32, instrument: u32, qty: i64, price: i64) -> Op {
    Op::Trade {
        account: AccountId(account),
        book: BookId(account),
        base: CurrencyId::USD,
        instrument: InstrumentId(instrument),
        qty: Quantity::from_int(qty),
        price: Price::from_int(price),
        fee: Fee::ZERO,
        method: crate::ledger::Method::Avg,
    }
}

#[test]
fn the_trade_that_would_wrap_totals_is_refused_by_sequence_and_check() {
    // 3 × 10^9 units at 5 × 10^9: 1.5 × 10^19 each; the third passes 4.25 × 10^19.
    let events: Vec<Event> = ["X1", "X2", "X3"]
        .iter()
        .map(|i| trade("A", i, "3000000000", "5000000000"))
        .collect();
    let s = Sequencer::new(BaseCurrencies::default());
    match s.check(&events) {
        Err((2, SequenceError::OutOfRange(m))) => {
            assert!(m.starts_with(r#"trade of account "A" in "X3" refused"#), "{m}");
            assert!(m.contains("beyond the limit of ±42535295865117307932.9"), "{m}");
        }
        other => panic!("batch check: {other:?}"),
    }
    let mut s = Sequencer::new(BaseCurrencies::default());
    assert!(s.sequence(&events[0]).is_ok() && s.sequence(&events[1]).is_ok());
    assert!(matches!(
        s.sequence(&events[2]),
        Err(SequenceError::OutOfRange(_))
    ));
    assert_eq!(s.last_seq(), 2, "the refused trade got no seq");
    assert!(matches!(
        s.check(&events[2..]),
        Err((0, SequenceError::OutOfRange(_)))
    ));
}

#[test]
fn each_trade_alone_passes_check_but_not_the_batch() {
    // The server's old path: check() saw one event at a time.
    let a = trade("A", "X", "5000000000", "1");
    let b = trade("A", "X", "5000000000", "1");
    let s = Sequencer::new(BaseCurrencies::default());
    assert!(s.check(std::slice::from_ref(&a)).is_ok());
    assert!(matches!(s.check(&[a, b]), Err((1, SequenceError::OutOfRange(_)))));
}

#[test]
fn ticks_fx_multipliers_splits_and_fees_count() {
    let tick = |i, p| Op::Tick {
        instrument: InstrumentId(i),
        price: Price::from_int(p),
    };
    let mut l = Limits::default();
    assert!(l.accept(&op(0, 0, 1_000_000_000, 1_000)).is_ok());
    assert!(
        l.accept(&tick(0, 5_000_000_000)).is_ok(),
        "10^9 × 5·10^9 = 5·10^18 fits"
    );
    assert!(l.accept(&tick(0, 1_000)).is_ok(), "below the peak: the hot path");
    assert!(
        l.accept(&op(1, 0, 8_000_000_000, 1_000)).is_err(),
        "9·10^9 × 5·10^9 at the peak"
    );
    // A multiplier scales everything.
    let mut l = Limits::default();
    let def = Op::Instrument {
        instrument: InstrumentId(0),
        currency: CurrencyId::USD,
        multiplier: crate::num::Multiplier::new(crate::num::Rate::from_int(1_000_000)),
    };
    assert!(l.accept(&def).is_ok());
    assert!(
        l.accept(&op(0, 0, 100_000, 100_000_000)).is_ok(),
        "10^13 × 10^6 = 10^19"
    );
    assert!(l.accept(&op(0, 0, 400_000, 100_000_000)).is_err(), "5·10^19");
    // A rate that converts a held currency into a larger base is an event too.
    let eur = CurrencyId(1);
    let mut l = Limits::default();
    let def = Op::Instrument {
        instrument: InstrumentId(0),
        currency: eur,
        multiplier: crate::num::Multiplier::ONE,
    };
    assert!(l.accept(&def).is_ok() && l.accept(&op(0, 0, 1_000_000_000, 10_000_000)).is_ok());
    let fx = |r| Op::Fx {
        base: eur,
        quote: CurrencyId::USD,
        rate: crate::num::Rate::from_int(r),
    };
    assert!(l.accept(&fx(2_000)).is_ok(), "10^16 × 2000 = 2·10^19");
    assert!(l.accept(&fx(5_000)).is_err(), "5·10^19");
    assert!(l.accept(&fx(1)).is_ok(), "a smaller rate is fine");
    // The largest fee a trade can carry counts, far inside the range.
    let mut l = Limits::default();
    let mut t = op(0, 0, 1, 1);
    if let Op::Trade { fee, .. } = &mut t {
        *fee = Fee::from_raw(i64::MAX);
    }
    assert!(l.accept(&t).is_ok());
    // A reverse split raises the peak with the mark.
    let mut l = Limits::default();
    assert!(l.accept(&op(0, 0, 1_000_000, 1_000)).is_ok(), "10^9");
    let split = Op::Split {
        instrument: InstrumentId(0),
        ratio: crate::num::Rate::parse("0.001").unwrap_or_default(),
    };
    assert!(l.accept(&split).is_ok(), "qty 1000, mark 10^6: value unchanged");
    assert!(
        l.bound_units() < ethnum::U256::from(1_000_001_000u64),
        "{}",
        l.bound_units()
    );
}

#[test]
fn a_realistic_book_is_far_from_refused() {
    // 10^6 positions of 10^6 units at 10^5 (USD), held by JPY accounts at 400:
    // 4 × 10^19 units of base.
    let jpy = CurrencyId(1);
    let mut l = Limits::default();
    let fx = Op::Fx {
        base: CurrencyId::USD,
        quote: jpy,
        rate: crate::num::Rate::from_int(400),
    };
    assert!(l.accept(&fx).is_ok());
    for a in 0..10_000u32 {
        for i in 0..100u32 {
            let mut t = op(a, i, 1_000_000, 100_000);
            if let Op::Trade { base, fee, .. } = &mut t {
                (*base, *fee) = (jpy, Fee::from_int(1));
            }
            if let Err(e) = l.accept(&t) {
                panic!("position {a}/{i}: {e}");
            }
        }
    }
    for i in 0..100u32 {
        assert!(
            l.accept(&Op::Tick {
                instrument: InstrumentId(i),
                price: Price::from_int(90_000)
            })
            .is_ok()
        );
    }
    let units = l.bound_units();
    assert!(
        units <= ethnum::U256::from(40_001_000_000_000_000_000u128),
        "{units}"
    );
}

#[test]
fn a_held_quantity_keeps_every_i64_in_twelve_byte_entries() {
    for q in [
        0,
        1,
        -1,
        7_000_000_000,
        -7_000_000_000,
        i64::MAX,
        i64::MIN,
        1 << 32,
        -(1 << 32),
    ] {
        assert_eq!(Held::new(q).get(), q, "{q}");
    }
    assert_eq!(size_of::<(InstrumentId, Held)>(), 12);
}

#[test]
fn an_account_whose_first_trade_was_refused_still_gets_its_configured_base() {
    let mut bases = BaseCurrencies::default();
    bases.accounts.insert("E".into(), "EUR".into());
    let mut s = Sequencer::new(bases);
    assert!(s.sequence(&trade("Z", "X1", "3000000000", "5000000000")).is_ok());
    assert!(s.sequence(&trade("Z", "X2", "3000000000", "5000000000")).is_ok());
    // Refused, but "E" is interned (id 1) before the bounds refuse it.
    assert!(s.sequence(&trade("E", "X3", "3000000000", "5000000000")).is_err());
    // "U" (id 2) trades: the sequencer records bases up to its id.
    assert!(s.sequence(&trade("U", "Y", "1", "1")).is_ok_and(|o| o.is_some()));
    let op = s.sequence(&trade("E", "Y", "1", "1"));
    let Ok(Some(crate::op::SeqOp {
        op: Op::Trade { base, .. },
        ..
    })) = op
    else {
        panic!("accepted: {op:?}");
    };
    assert_eq!(s.names().currency(base), "EUR");
}
