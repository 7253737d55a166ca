//! FX attribution (docs/pnl.md, "FX attribution"): the open cost kept in
//! base at the rates the lots were opened at, and the currency effect on
//! that capital, open and realized; every figure worked out by hand.

use super::METHODS;
use crate::support::{check, config_with_bases, fx, instrument, port, pos, run, run_lines, tick, trade};

fn sap(extra: &[String]) -> Vec<String> {
    let mut ev = vec![
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.10"),
        trade("U", "SAP", "buy", "10", "100"),
        fx("EUR/USD", "1.20"),
        tick("SAP", "110"),
    ];
    ev.extend_from_slice(extra);
    ev
}

#[test]
fn the_worked_example_separates_price_and_currency_effects() {
    for method in METHODS {
        let v = run(&sap(&[]), method);
        // Cost 1,000 EUR at 1.10 = 1,100 USD. At 1.20 and 110: unrealized
        // (110 − 100) × 10 = 100 EUR = 120 USD; the capital is worth
        // 1,000 × 1.20 = 1,200 USD, 100 more than it cost: fx 100. Total
        // 220 = market value 1,320 − 1,100 paid.
        check(
            &format!("open {method}"),
            pos(&v, "U", "SAP"),
            &[
                ("cost_base", "1100"),
                ("unrealized_pnl_base", "120"),
                ("fx_pnl_base", "100"),
                ("total_pnl_base", "220"),
                ("net_pnl_base", "120"),
                ("market_value_base", "1320"),
            ],
        );
        check(
            &format!("portfolio {method}"),
            port(&v, "U"),
            &[("fx_pnl", "100"), ("total_pnl", "220"), ("net_pnl", "120")],
        );
    }
}

#[test]
fn a_close_realizes_its_share_of_the_currency_effect() {
    let ev = sap(&[fx("EUR/USD", "1.25"), trade("U", "SAP", "sell", "4", "120")]);
    for method in METHODS {
        let v = run(&ev, method);
        // Realized (120 − 100) × 4 = 80 EUR at 1.25 = 100 USD. The close
        // removes 4/10 of the base cost (440); its proceeds 480 EUR are
        // 600 USD: fx realized 600 − 100 − 440 = 60. Open: 6 units cost
        // 600 EUR, now 750 USD against 660 paid: 90. fx 150 in all.
        // Unrealized (110 − 100) × 6 = 60 EUR = 75 USD. Total 100 + 75 +
        // 150 = 325 = market value 825 + proceeds 600 − 1,100 paid.
        check(
            &format!("close {method}"),
            pos(&v, "U", "SAP"),
            &[
                ("realized_pnl_base", "100"),
                ("cost_base", "660"),
                ("fx_pnl_base", "150"),
                ("unrealized_pnl_base", "75"),
                ("total_pnl_base", "325"),
            ],
        );
    }
}

#[test]
fn a_position_in_its_base_currency_has_no_currency_effect() {
    let ev = vec![
        trade("U", "AAPL", "buy", "10", "190"),
        fx("EUR/USD", "1.3"),
        tick("AAPL", "200"),
    ];
    let v = run(&ev, METHODS[0]);
    check(
        "same currency",
        pos(&v, "U", "AAPL"),
        &[
            ("cost_base", "1900"),
            ("fx_pnl_base", "0"),
            ("total_pnl_base", "100"),
        ],
    );
    check(
        "portfolio",
        port(&v, "U"),
        &[("fx_pnl", "0"), ("total_pnl", "100")],
    );
}

#[test]
fn an_unpriced_position_takes_its_base_cost_at_its_first_rate() {
    let ev = vec![
        instrument("SAP", "EUR", "1"),
        trade("G", "SAP", "buy", "10", "100"),
        fx("EUR/GBP", "0.85"),
        fx("EUR/GBP", "0.90"),
    ];
    let v = run_lines(&ev, config_with_bases(METHODS[0], &[("G", "GBP")]));
    // Bought with no EUR/GBP rate: its 1,000 EUR cost converts at the first
    // rate, 0.85 (850 GBP); at 0.90 it is worth 900: fx 50.
    check(
        "first rate",
        pos(&v, "G", "SAP"),
        &[
            ("cost_base", "850"),
            ("fx_pnl_base", "50"),
            ("total_pnl_base", "50"),
        ],
    );
}
