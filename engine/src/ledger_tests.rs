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
    //! `(opened, qty, price)` and closed in the order a sort gives.
    use proptest::prelude::*;

    use super::*;
    use crate::num::EXACT_UNIT;

    /// Realized P&L (whole currency units) of each fill, and the open lots.
    fn naive(method: Method, fills: &[(i64, i64)]) -> (Vec<i128>, Vec<(i64, i64)>) {
        let mut lots: Vec<(usize, i64, i64)> = Vec::new();
        let mut realized = Vec::new();
        for (n, &(qty, price)) in fills.iter().enumerate() {
            let mut left = qty;
            let mut r = 0i128;
            while left != 0 && lots.first().is_some_and(|l| (l.1 > 0) != (left > 0)) {
                let pick = match method {
                    Method::Fifo => lots.iter().enumerate().min_by_key(|(_, l)| l.0),
                    Method::Lifo => lots.iter().enumerate().max_by_key(|(_, l)| l.0),
                    _ => lots
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, l)| (std::cmp::Reverse(l.2), l.0)),
                };
                let Some((i, _)) = pick else { break };
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
            fills in prop::collection::vec((-20i64..=20, -50i64..=200), 1..60)
        ) {
            let fills: Vec<_> = fills.into_iter().filter(|f| f.0 != 0).collect();
            for method in [Method::Fifo, Method::Lifo, Method::Hifo] {
                let (want, open) = naive(method, &fills);
                let mut l = Ledger::default();
                for (&(qty, price), want) in fills.iter().zip(&want) {
                    let got = l.trade(method, Quantity::from_int(qty), Price::from_int(price));
                    prop_assert_eq!(got.0, want * EXACT_UNIT, "{} realized", method);
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
