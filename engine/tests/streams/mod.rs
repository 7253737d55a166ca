//! The random event streams the property tests draw: trades (half of
//! them in a strategy's book, some naming lots to close), ticks, FX, EODs,
//! splits, dividends, round trips and specific-lot closes, over USD, EUR
//! and JPY accounts.

#![allow(dead_code, reason = "each test file uses a part")]

use kupala_engine::BaseCurrencies;
use kupala_engine::event::{Dividend, Eod, Event, Fx, InstrumentDef, Side, Split, Tick, Trade};
use kupala_engine::num::{Fee, Price, Quantity, Rate};
use kupala_engine::time::{Date, Timestamp};
use proptest::prelude::*;

pub const INSTRUMENTS: [(&str, &str, i64); 5] = [
    ("X", "USD", 1),
    ("E", "EUR", 1),
    ("J", "JPY", 100),
    ("F", "USD", 50),
    ("G", "GBP", 1),
];
pub const ACCOUNTS: [&str; 3] = ["A", "B", "C"];
/// A trade's strategy: its account's default book half of the time.
pub const STRATEGIES: [Option<&str>; 4] = [None, Some("carry"), None, Some("mr")];
pub const PAIRS: [(&str, i64); 4] = [
    ("EUR/USD", 108),
    ("USD/JPY", 15_000),
    ("GBP/USD", 127),
    ("EUR/GBP", 85),
];

pub fn bases() -> BaseCurrencies {
    let mut b = BaseCurrencies::default();
    b.accounts.insert("B".into(), "EUR".into());
    b.accounts.insert("C".into(), "JPY".into());
    b
}

pub fn ts() -> Timestamp {
    Timestamp(1_764_513_000_000_000_000)
}

/// A leg of a generated round trip: no id, no fee, `q` half units at `p`
/// cents of `INSTRUMENTS[i]` in the book of `STRATEGIES[s]`.
fn leg(account: &str, i: usize, s: usize, side: Side, q: i64, p: i64) -> Trade {
    Trade {
        id: None,
        ts: ts(),
        account: account.into(),
        instrument: INSTRUMENTS[i].0.into(),
        side,
        qty: Quantity::from_raw(q * 500_000_000),
        price: Price::from_raw(p * 10_000_000),
        fee: Fee::ZERO,
        strategy: STRATEGIES[s].map(str::to_owned),
        close_lots: Vec::new(),
    }
}

pub fn event() -> impl Strategy<Value = Vec<Event>> {
    let trade = (
        0..3usize,
        0..5usize,
        any::<bool>(),
        1i64..60,
        8_000i64..12_000,
        0i64..300,
        0u8..14,
        0..4usize,
        0u8..60,
    )
        .prop_map(|(a, i, buy, q, p, fee, id, s, pick)| {
            Event::Trade(Trade {
                id: (id < 10).then(|| format!("t{id}")),
                ts: ts(),
                account: ACCOUNTS[a].into(),
                instrument: INSTRUMENTS[i].0.into(),
                side: if buy { Side::Buy } else { Side::Sell },
                // halves, so splits and reverse splits hit fractions
                qty: Quantity::from_raw(q * 500_000_000),
                price: Price::from_raw(p * 10_000_000),
                fee: Fee::from_raw(fee * 10_000_000),
                strategy: STRATEGIES[s].map(str::to_owned),
                // now and then a lot by an id some earlier trade may have
                // opened in this position (else the trade is refused)
                close_lots: (pick < 10).then(|| format!("t{pick}")).into_iter().collect(),
            })
        });
    // Two named lots on account L, then a sale naming them newest first
    // (refused when L is on avg; past them, the method closes the rest).
    let lot_close = (
        0..5usize,
        (1i64..40, 1i64..40, 1i64..90),
        (8_000i64..12_000, 8_000i64..12_000, 8_000i64..12_000),
        any::<u32>(),
        0..4usize,
    )
        .prop_map(|(i, (q1, q2, q3), (p1, p2, p3), n, s)| {
            let leg = |id: Option<String>, side, q: i64, p: i64, close_lots: Vec<String>| {
                Event::Trade(Trade {
                    id,
                    close_lots,
                    ..leg("L", i, s, side, q, p)
                })
            };
            let (a, b) = (format!("L{n}a"), format!("L{n}b"));
            vec![
                leg(Some(a.clone()), Side::Buy, q1, p1, Vec::new()),
                leg(Some(b.clone()), Side::Buy, q2, p2, Vec::new()),
                leg(None, Side::Sell, q3, p3, vec![b, a]),
            ]
        });
    let tick = (0..5usize, 8_000i64..12_000).prop_map(|(i, p)| {
        Event::Tick(Tick {
            ts: ts(),
            instrument: INSTRUMENTS[i].0.into(),
            price: Price::from_raw(p * 10_000_000),
        })
    });
    let fx = (0..4usize, 90i64..110).prop_map(|(k, pct)| {
        let (pair, base) = PAIRS[k];
        Event::Fx(Fx {
            ts: ts(),
            pair: pair.into(),
            rate: Rate::from_raw(base * pct * 100_000),
        })
    });
    let eod = (0i32..30).prop_map(|d| {
        Event::Eod(Eod {
            date: Date(20_000 + d),
        })
    });
    let split = (0..5usize, 0..4usize).prop_map(|(i, r)| {
        Event::Split(Split {
            ts: ts(),
            instrument: INSTRUMENTS[i].0.into(),
            ratio: Rate::parse(["2", "0.5", "4", "3"][r]).unwrap_or(Rate::from_int(2)),
        })
    });
    let dividend = (0..5usize, 1i64..300).prop_map(|(i, cents)| {
        Event::Dividend(Dividend {
            ts: ts(),
            instrument: INSTRUMENTS[i].0.into(),
            amount: Price::from_raw(cents * 10_000_000),
        })
    });
    // A round trip on account D (buy then sell the same quantity) leaves a
    // flat position for the next EOD to roll into history.
    let round_trip =
        (0..5usize, 1i64..60, 8_000i64..12_000, 8_000i64..12_000, 0..4usize).prop_map(|(i, q, p1, p2, s)| {
            let leg = |side, p: i64| Event::Trade(leg("D", i, s, side, q, p));
            vec![leg(Side::Buy, p1), leg(Side::Sell, p2)]
        });
    let one = |s: BoxedStrategy<Event>| s.prop_map(|e| vec![e]).boxed();
    prop_oneof![
        10 => one(trade.boxed()),
        6 => one(tick.boxed()),
        3 => one(fx.boxed()),
        1 => one(eod.boxed()),
        1 => one(split.boxed()),
        1 => one(dividend.boxed()),
        2 => round_trip.boxed(),
        2 => lot_close.boxed(),
    ]
}

pub fn stream(max: usize) -> impl Strategy<Value = Vec<Event>> {
    let decls: Vec<Event> = INSTRUMENTS
        .iter()
        .map(|&(id, ccy, mult)| {
            Event::Instrument(InstrumentDef {
                id: id.into(),
                currency: ccy.into(),
                multiplier: Rate::from_int(mult),
            })
        })
        .collect();
    proptest::collection::vec(event(), 1..max).prop_map(move |evs| {
        let mut all = decls.clone();
        all.extend(evs.into_iter().flatten());
        all
    })
}
