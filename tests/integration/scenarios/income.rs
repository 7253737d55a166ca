//! Dividend income (docs/pnl.md, "Dividends"): cash per unit on the
//! quantity held when it is paid, received long and paid short, in net and
//! day P&L, converted to base at the rate of the moment.

use super::METHODS;
use crate::support::{
    check, config_with_bases, dividend, eod, fx, instrument, port, pos, run, run_lines, tick, trade,
};

#[test]
fn a_dividend_is_received_long_and_paid_short_and_offsets_the_ex_date_drop() {
    let ev = vec![
        trade("L", "AAPL", "buy", "100", "190"),
        trade("S", "AAPL", "sell", "50", "191"),
        dividend("AAPL", "0.24"),
        tick("AAPL", "189.76"),
    ];
    for method in METHODS {
        let v = run(&ev, method);
        // L: 100 × 0.24 = 24 received; (189.76 − 190) × 100 = −24
        // unrealized: the price drop by the dividend leaves net 0.
        check(
            &format!("long {method}"),
            pos(&v, "L", "AAPL"),
            &[
                ("income", "24"),
                ("unrealized_pnl", "-24"),
                ("net_pnl", "0"),
                ("income_base", "24"),
            ],
        );
        // S: −50 × 0.24 = −12 paid; (191 − 189.76) × 50 = 62 unrealized;
        // net 62 − 12 = 50.
        check(
            &format!("short {method}"),
            pos(&v, "S", "AAPL"),
            &[("income", "-12"), ("unrealized_pnl", "62"), ("net_pnl", "50")],
        );
        check(
            &format!("portfolio {method}"),
            port(&v, "S"),
            &[("income", "-12"), ("net_pnl", "50"), ("day_pnl", "50")],
        );
    }
}

#[test]
fn a_flat_position_gets_nothing_and_income_survives_the_close_and_the_rollover() {
    let mut ev = vec![
        trade("A", "X", "buy", "10", "50"),
        dividend("X", "1.5"),
        trade("A", "X", "sell", "10", "50"),
        dividend("X", "9"),
    ];
    let v = run(&ev, METHODS[0]);
    // 10 × 1.5 = 15 while held; the second dividend finds it flat.
    check(
        "flat",
        pos(&v, "A", "X"),
        &[("qty", "0"), ("income", "15"), ("net_pnl", "15")],
    );
    ev.push(eod("2026-12-01"));
    let v = run(&ev, METHODS[0]);
    assert!(v.positions.is_empty(), "the flat position rolled into history");
    // The account keeps what the position received.
    check(
        "after eod",
        port(&v, "A"),
        &[("income", "15"), ("net_pnl", "15"), ("day_pnl", "0")],
    );
}

#[test]
fn income_counts_in_day_pnl_from_the_day_it_is_paid() {
    let ev = vec![
        trade("A", "X", "buy", "10", "50"),
        dividend("X", "1"),
        eod("2026-12-01"),
        dividend("X", "2"),
    ];
    let v = run(&ev, METHODS[0]);
    // Net 10 + 20 = 30; the EOD's baseline was 10, so the day made 20.
    check(
        "day",
        pos(&v, "A", "X"),
        &[("income", "30"), ("net_pnl", "30"), ("day_pnl", "20")],
    );
    check(
        "day portfolio",
        port(&v, "A"),
        &[("income", "30"), ("day_pnl", "20")],
    );
}

#[test]
fn income_in_another_currency_converts_at_the_rate_when_paid() {
    let ev = vec![
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.10"),
        trade("U", "SAP", "buy", "10", "100"),
        dividend("SAP", "2"),
        fx("EUR/USD", "1.20"),
        // Paid while unpriced: an account in GBP with no EUR/GBP rate yet.
        trade("G", "SAP", "buy", "5", "100"),
        dividend("SAP", "1"),
        fx("EUR/GBP", "0.85"),
    ];
    let cfg = config_with_bases(METHODS[0], &[("G", "GBP")]);
    let v = run_lines(&ev, cfg);
    // U: 10 × 2 = 20 EUR at 1.10 = 22 USD; then 10 × 1 = 10 EUR at 1.20 =
    // 12 USD. The later rate does not move what was paid: 30 EUR, 34 USD.
    check(
        "usd",
        pos(&v, "U", "SAP"),
        &[("income", "30"), ("income_base", "34")],
    );
    check("usd portfolio", port(&v, "U"), &[("income", "34")]);
    // G: 5 × 1 = 5 EUR paid while no rate existed, converted at the first
    // rate, 0.85: 4.25 GBP.
    check(
        "gbp",
        pos(&v, "G", "SAP"),
        &[("income", "5"), ("income_base", "4.25")],
    );
    check("gbp portfolio", port(&v, "G"), &[("income", "4.25")]);
}

#[test]
fn a_multiplier_scales_the_cash() {
    let ev = vec![
        instrument("OPT", "USD", "100"),
        trade("A", "OPT", "buy", "2", "3"),
        dividend("OPT", "0.5"),
    ];
    let v = run(&ev, METHODS[0]);
    // 2 contracts × 100 units × 0.5 = 100.
    check(
        "multiplier",
        pos(&v, "A", "OPT"),
        &[("income", "100"), ("net_pnl", "100")],
    );
}
