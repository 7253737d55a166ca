//! Base-currency conversion: direct, inverse and cross rates, realized at the
//! rate when realized, unrealized at the current one, unpriced positions.

use kupala_engine::Method;

use crate::support::{
    check, config_with_bases, fx, instrument, port, pos, run, run_lines, tick, trade, trade_fee,
};

#[test]
fn eur_instrument_in_usd_base_via_direct_pair() {
    let ev = [
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.08"),
        trade_fee("A", "SAP", "buy", "10", "200", "1"),
        tick("SAP", "205"),
        fx("EUR/USD", "1.10"),
        trade_fee("A", "SAP", "sell", "4", "206", "1"),
        fx("EUR/USD", "1.12"),
    ];
    // EUR: realized 6 × 4 = 24; fees 2; mark stays 205 (a tick came); unreal 5 × 6 = 30; mv 1230
    // USD: realized 24 × 1.10 = 26.4; fees 1.08 + 1.10 = 2.18; unreal 30 × 1.12 = 33.6;
    //      mv 1230 × 1.12 = 1377.6; net 26.4 + 33.6 - 2.18 = 57.82
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "SAP");
    check(
        "EUR",
        p,
        &[
            ("currency", "EUR"),
            ("realized_pnl", "24"),
            ("fees", "2"),
            ("mark", "205"),
        ],
    );
    check(
        "EUR",
        p,
        &[
            ("unrealized_pnl", "30"),
            ("market_value", "1230"),
            ("net_pnl", "52"),
        ],
    );
    check("USD", p, &[("realized_pnl_base", "26.4"), ("fees_base", "2.18")]);
    check(
        "USD",
        p,
        &[("unrealized_pnl_base", "33.6"), ("market_value_base", "1377.6")],
    );
    check("USD", p, &[("net_pnl_base", "57.82")]);
    check(
        "USD",
        port(&v, "A"),
        &[("realized_pnl", "26.4"), ("net_pnl", "57.82"), ("fees", "2.18")],
    );
}

#[test]
fn jpy_instrument_via_inverse_pair() {
    let ev = [
        instrument("7203", "JPY", "100"),
        fx("USD/JPY", "150"),
        trade("A", "7203", "buy", "3", "2600"),
        tick("7203", "2650"),
        trade("A", "7203", "sell", "1", "2660"),
        fx("USD/JPY", "152"),
    ];
    // realized (2660-2600) × 1 × 100 = 6000 JPY at 150 → 40 USD
    // left 2: unreal 50 × 2 × 100 = 10000 JPY / 152 = 65.789473684(21) USD
    //         mv 2650 × 200 = 530000 JPY / 152 = 3486.842105263(157) USD
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "7203");
    check(
        "JPY",
        p,
        &[
            ("realized_pnl", "6000"),
            ("unrealized_pnl", "10000"),
            ("market_value", "530000"),
        ],
    );
    check(
        "USD",
        p,
        &[
            ("realized_pnl_base", "40"),
            ("unrealized_pnl_base", "65.789473684"),
        ],
    );
    check(
        "USD",
        p,
        &[
            ("market_value_base", "3486.842105263"),
            ("net_pnl_base", "105.789473684"),
        ],
    );
}

#[test]
fn cross_rate_through_usd_for_a_eur_base_account() {
    let cfg = || config_with_bases(Method::Avg, &[("E", "EUR")]);
    let mut ev = vec![
        instrument("7203", "JPY", "100"),
        fx("EUR/USD", "1.08"),
        trade("E", "7203", "buy", "3", "2600"),
    ];
    // only EUR/USD known: no way from JPY to EUR yet
    let v = run_lines(&ev, cfg());
    check(
        "no cross yet",
        pos(&v, "E", "7203"),
        &[("unpriced", "true"), ("market_value_base", "null")],
    );
    check(
        "no cross yet",
        port(&v, "E"),
        &[("base_currency", "EUR"), ("unpriced", "1")],
    );
    ev.push(fx("USD/JPY", "150"));
    ev.push(tick("7203", "2700"));
    // JPY → USD → EUR: mv 810000 / 150 / 1.08 = 5000; unreal 30000 / 150 / 1.08 = 185.185185185(185)
    let v = run_lines(&ev, cfg());
    let p = pos(&v, "E", "7203");
    check(
        "cross",
        p,
        &[("unpriced", "false"), ("market_value_base", "5000")],
    );
    check(
        "cross",
        p,
        &[
            ("unrealized_pnl_base", "185.185185185"),
            ("unrealized_pnl", "30000"),
        ],
    );
    check(
        "cross",
        port(&v, "E"),
        &[("unpriced", "0"), ("market_value", "5000")],
    );
}

#[test]
fn realized_at_rate_when_realized_unrealized_at_current_rate() {
    let ev = [
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.10"),
        trade("A", "SAP", "buy", "10", "100"),
        trade("A", "SAP", "sell", "5", "110"),
        fx("EUR/USD", "1.20"),
        trade("A", "SAP", "sell", "3", "120"),
        fx("EUR/USD", "1.30"),
    ];
    // realized 50 EUR at 1.10 = 55 USD, then 60 EUR at 1.20 = 72 USD: 127 (not 110 × 1.3 = 143)
    // left 2 @ 100, mark 120: unreal 40 EUR × 1.30 = 52 USD; mv 240 × 1.30 = 312
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "SAP");
    check(
        "rates",
        p,
        &[("realized_pnl", "110"), ("realized_pnl_base", "127")],
    );
    check(
        "rates",
        p,
        &[
            ("unrealized_pnl_base", "52"),
            ("market_value_base", "312"),
            ("net_pnl_base", "179"),
        ],
    );
    check(
        "rates",
        port(&v, "A"),
        &[
            ("realized_pnl", "127"),
            ("unrealized_pnl", "52"),
            ("net_pnl", "179"),
        ],
    );
}

#[test]
fn unpriced_until_first_rate_then_priced_at_it() {
    let mut ev = vec![
        instrument("SAP", "EUR", "1"),
        trade("A", "XYZ", "buy", "1", "50"),
        tick("XYZ", "55"),
        trade_fee("A", "SAP", "buy", "10", "100", "2"),
        trade_fee("A", "SAP", "sell", "4", "110", "1"),
    ];
    // SAP has no EUR rate: unpriced, base fields null, left out of the totals (only XYZ: mv 55, unreal 5)
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "SAP");
    check(
        "unpriced",
        p,
        &[("unpriced", "true"), ("realized_pnl", "40"), ("fees", "3")],
    );
    for f in [
        "market_value_base",
        "realized_pnl_base",
        "unrealized_pnl_base",
        "fees_base",
        "net_pnl_base",
    ] {
        check("unpriced", p, &[(f, "null")]);
    }
    let a = port(&v, "A");
    check(
        "unpriced",
        a,
        &[("unpriced", "1"), ("market_value", "55"), ("unrealized_pnl", "5")],
    );
    check(
        "unpriced",
        a,
        &[("realized_pnl", "0"), ("fees", "0"), ("net_pnl", "5")],
    );
    ev.push(fx("EUR/USD", "1.1"));
    ev.push(fx("EUR/USD", "1.2"));
    // priced at the first rate 1.1: realized 40 → 44, fees 3 → 3.3;
    // unreal/mv at the current 1.2: (110 - 100) × 6 = 60 → 72, mv 660 → 792
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "SAP");
    check(
        "priced",
        p,
        &[
            ("unpriced", "false"),
            ("realized_pnl_base", "44"),
            ("fees_base", "3.3"),
        ],
    );
    check(
        "priced",
        p,
        &[("unrealized_pnl_base", "72"), ("market_value_base", "792")],
    );
    // totals: mv 792 + 55 = 847, unreal 72 + 5 = 77, net 44 + 77 - 3.3 = 117.7
    let a = port(&v, "A");
    check(
        "priced",
        a,
        &[("unpriced", "0"), ("market_value", "847"), ("realized_pnl", "44")],
    );
    check(
        "priced",
        a,
        &[("fees", "3.3"), ("unrealized_pnl", "77"), ("net_pnl", "117.7")],
    );
}
