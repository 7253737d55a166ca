//! The ledger's unit tests, and its lot methods against a naive model.

use super::*;
use crate::num::EXACT_UNIT;

fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}
fn p(n: i64) -> Price {
    Price::from_int(n)
}
fn money(n: i128) -> Notional {
    Notional(n * EXACT_UNIT)
}

#[test]
fn open_add_reduce_close_avg() {
    let mut l = Ledger::default();
    assert_eq!(l.trade(Method::Avg, q(100), p(10)), Notional::ZERO);
    l.trade(Method::Avg, q(100), p(20));
    assert_eq!(l.avg_cost(), p(15));
    assert_eq!(l.trade(Method::Avg, q(-50), p(25)), money(500));
    assert_eq!(l.avg_cost(), p(15), "reducing leaves avg_cost unchanged");
    assert_eq!(l.trade(Method::Avg, q(-150), p(5)), money(-1500));
    assert_eq!(
        (l.qty(), l.cost(), l.avg_cost()),
        (q(0), Notional::ZERO, Price::ZERO)
    );
}

#[test]
fn flips_both_ways() {
    for m in [Method::Avg, Method::Fifo, Method::Lifo] {
        let mut l = Ledger::default();
        l.trade(m, q(10), p(100));
        assert_eq!(l.trade(m, q(-30), p(110)), money(100), "{m}: long→short");
        assert_eq!((l.qty(), l.avg_cost()), (q(-20), p(110)));
        assert_eq!(l.trade(m, q(25), p(100)), money(200), "{m}: short→long");
        assert_eq!((l.qty(), l.avg_cost()), (q(5), p(100)));
    }
}

#[test]
fn adding_to_a_short_averages_down_the_short_side() {
    let mut l = Ledger::default();
    l.trade(Method::Avg, q(-10), p(50));
    l.trade(Method::Avg, q(-30), p(60));
    assert_eq!(
        (l.qty(), l.avg_cost()),
        (q(-40), Price::parse("57.5").unwrap_or_default())
    );
    assert_eq!(l.trade(Method::Avg, q(20), p(55)), money(50));
}

#[test]
fn fifo_and_lifo_consume_lots_in_order() {
    let mut f = Ledger::default();
    let mut l = Ledger::default();
    for led in [&mut f, &mut l] {
        led.trade(Method::Fifo, q(10), p(10));
        led.trade(Method::Fifo, q(10), p(20));
    }
    // A sell of 15 at 30: fifo takes 10@10 + 5@20, lifo 10@20 + 5@10.
    assert_eq!(f.trade(Method::Fifo, q(-15), p(30)), money(200 + 50));
    assert_eq!(l.trade(Method::Lifo, q(-15), p(30)), money(100 + 100));
    assert_eq!((f.qty(), f.avg_cost()), (q(5), p(20)));
    assert_eq!((l.qty(), l.avg_cost()), (q(5), p(10)));
    assert_eq!(f.lots().count(), 1);
}

#[test]
fn named_lots_close_first_in_their_order_then_the_method() {
    let mut l = Ledger::default();
    let open = |l: &mut Ledger, seq: u64, price: i64| {
        let order = Order { seq, picks: &[] };
        l.fill(Method::Fifo, order, q(10), p(price), &|_| 0)
    };
    open(&mut l, 1, 100);
    open(&mut l, 2, 110);
    open(&mut l, 3, 120);
    // Sell 25 at 130 naming lots 3 then 1: 10 @ 120 (100) and 10 @ 100
    // (300), then fifo takes 5 of lot 2 (5 × 20 = 100). A pick naming no
    // open lot (9) is passed over.
    let order = Order {
        seq: 4,
        picks: &[3, 9, 1],
    };
    let fill = l.fill(Method::Fifo, order, q(-25), p(130), &|_| 0);
    assert_eq!(fill.realized, money(100 + 300 + 100));
    let left: Vec<(i64, u64)> = l.lots().map(|lot| (lot.qty, lot.opened)).collect();
    assert_eq!(left, vec![(q(5).raw(), 2)]);
    // A flip past the picks opens the rest as a lot named by its trade.
    let order = Order { seq: 5, picks: &[2] };
    l.fill(Method::Lifo, order, q(-8), p(90), &|_| 0);
    let left: Vec<(i64, u64)> = l.lots().map(|lot| (lot.qty, lot.opened)).collect();
    assert_eq!(left, vec![(q(-3).raw(), 5)]);
    assert!(l.has_lot(5) && !l.has_lot(2));
}

#[test]
fn hifo_closes_the_dearest_lot_first_long_and_short() {
    let mut long = Ledger::default();
    for (n, price) in [(10, 20), (10, 30), (10, 25)] {
        long.trade(Method::Hifo, q(n), p(price));
    }
    // A sell of 15 at 40: 10@30, then 5@25.
    assert_eq!(long.trade(Method::Hifo, q(-15), p(40)), money(100 + 75));
    let left: Vec<_> = long.lots().map(|l| (l.qty, l.cost)).collect();
    assert_eq!(
        left,
        [(q(10).raw(), 200 * EXACT_UNIT), (q(5).raw(), 125 * EXACT_UNIT)]
    );
    let mut short = Ledger::default();
    for (n, price) in [(-10, 20), (-10, 30), (-10, 25)] {
        short.trade(Method::Hifo, q(n), p(price));
    }
    // A buy of 15 at 10 covers the short sold at 30 first, then 25.
    assert_eq!(short.trade(Method::Hifo, q(15), p(10)), money(200 + 75));
    assert_eq!((short.qty(), short.cost()), (q(-15), money(-325)));
}

#[test]
fn hifo_takes_the_oldest_of_equal_lots_and_handles_negative_prices() {
    let mut l = Ledger::default();
    l.trade(Method::Hifo, q(1), p(-5));
    l.trade(Method::Hifo, q(2), p(7));
    l.trade(Method::Hifo, q(3), p(7));
    l.trade(Method::Hifo, q(4), p(-2));
    assert_eq!(l.trade(Method::Hifo, q(-2), p(0)), money(-14), "the first 7-lot");
    assert_eq!(
        l.trade(Method::Hifo, q(-4), p(0)),
        money(-21 + 2),
        "the second, then -2"
    );
    assert_eq!(l.trade(Method::Hifo, q(-4), p(0)), money(6 + 5), "-2 before -5");
    assert_eq!((l.qty(), l.cost()), (q(0), Notional::ZERO));
}

#[test]
fn methods_resolve_per_account_and_round_trip_their_codes() {
    let mut m = CostMethods::all(Method::Fifo);
    m.accounts.insert("DE1".into(), Method::Hifo);
    assert_eq!((m.of("DE1"), m.of("X")), (Method::Hifo, Method::Fifo));
    for method in Method::ALL {
        assert_eq!(Method::from_code(method.code()), Some(method));
        assert_eq!(method.to_string().parse::<Method>(), Ok(method));
    }
    assert_eq!(Method::from_code(4), None);
    assert!("HIFO".parse::<Method>().is_err());
}

#[test]
fn splits_scale_quantity_and_keep_cost() {
    for m in [Method::Avg, Method::Fifo] {
        let mut l = Ledger::default();
        l.trade(m, q(6), p(200));
        l.split(Rate::from_int(4));
        assert_eq!((l.qty(), l.avg_cost(), l.cost()), (q(24), p(50), money(1200)));
        l.split(Rate::parse("0.5").unwrap_or_default());
        assert_eq!((l.qty(), l.avg_cost(), l.cost()), (q(12), p(100), money(1200)));
    }
}

mod model {
    //! The lot methods against a naive model: whole units at whole prices
    //! (so a lot's cost per unit is its trade price), lots kept as
    //! `(opened, qty, price)` and closed, after the lots a fill names
    //! (`close_lots`), in the order a sort gives.
    use proptest::prelude::*;

    use super::*;
    use crate::num::EXACT_UNIT;

    /// A fill of the naive model: signed whole units, a whole price, and
    /// the fills (by index) whose lots it closes first.
    type NaiveFill = (i64, i64, Vec<usize>);

    /// Realized P&L (whole currency units) of each fill, and the open lots.
    fn naive(method: Method, fills: &[NaiveFill]) -> (Vec<i128>, Vec<(i64, i64)>) {
        let mut lots: Vec<(usize, i64, i64)> = Vec::new();
        let mut realized = Vec::new();
        for (n, (qty, price, picks)) in fills.iter().enumerate() {
            let (qty, price) = (*qty, *price);
            let mut left = qty;
            let mut r = 0i128;
            let mut picks = picks.iter();
            while left != 0 && lots.first().is_some_and(|l| (l.1 > 0) != (left > 0)) {
                let picked = picks.by_ref().find_map(|&p| lots.iter().position(|l| l.0 == p));
                let pick = match method {
                    _ if picked.is_some() => picked,
                    Method::Fifo => lots.iter().enumerate().min_by_key(|(_, l)| l.0).map(|(i, _)| i),
                    Method::Lifo => lots.iter().enumerate().max_by_key(|(_, l)| l.0).map(|(i, _)| i),
                    _ => lots
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, l)| (std::cmp::Reverse(l.2), l.0))
                        .map(|(i, _)| i),
                };
                let Some(i) = pick else { break };
                let lot = &mut lots[i];
                let take = left.abs().min(lot.1.abs()) * lot.1.signum();
                r += i128::from(take) * i128::from(price - lot.2);
                lot.1 -= take;
                left += take;
                if lot.1 == 0 {
                    lots.remove(i);
                }
            }
            if left != 0 {
                lots.push((n, left, price));
            }
            realized.push(r);
        }
        lots.sort_by_key(|l| l.0);
        (realized, lots.into_iter().map(|l| (l.1, l.2)).collect())
    }

    proptest! {
        #[test]
        fn lot_methods_match_the_naive_model(
            fills in prop::collection::vec((-20i64..=20, -50i64..=200, prop::collection::vec(0usize..60, 0..3)), 1..60)
        ) {
            // Picks name earlier fills only (a later one opened no lot yet).
            let fills: Vec<NaiveFill> = fills
                .into_iter()
                .filter(|f| f.0 != 0)
                .enumerate()
                .map(|(n, (q, p, picks))| (q, p, picks.into_iter().filter(|&i| i < n).collect()))
                .collect();
            for method in [Method::Fifo, Method::Lifo, Method::Hifo] {
                let (want, open) = naive(method, &fills);
                let mut l = Ledger::default();
                for (n, ((qty, price, picks), want)) in fills.iter().zip(&want).enumerate() {
                    // A lot is named by its fill's seq: index + 1.
                    let seqs: Vec<u64> = picks.iter().map(|&i| i as u64 + 1).collect();
                    let order = Order { seq: n as u64 + 1, picks: &seqs };
                    let got = l.fill(method, order, Quantity::from_int(*qty), Price::from_int(*price), &|_| 0);
                    prop_assert_eq!(got.realized.0, want * EXACT_UNIT, "{} realized", method);
                }
                let lots: Vec<(i64, i64)> = l
                    .lots()
                    .map(|lot| (lot.qty / 1_000_000_000, i64::try_from(lot.cost / i128::from(lot.qty)).unwrap_or(i64::MAX)))
                    .collect();
                let open: Vec<(i64, i64)> = open.into_iter().map(|(q, p)| (q, p * 1_000_000_000)).collect();
                prop_assert_eq!(lots, open, "{} open lots", method);
            }
        }
    }
}
