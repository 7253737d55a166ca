//! Books and the firm (docs/pnl.md, "Books and the firm"): a trade's
//! strategy makes its own book, an account's totals sum its books, the
//! firm's sum every book in the reporting currency; every figure worked
//! out by hand.

use kupala_engine::PipelineConfig;
use kupala_engine::view::StateView;

use super::METHODS;
use crate::support::{check, config, config_with_bases, eod, fx, instrument, port, run_lines, tick, trade};

fn tagged(account: &str, instrument: &str, side: &str, qty: &str, price: &str, strategy: &str) -> String {
    let t = trade(account, instrument, side, qty, price);
    format!(r#"{},"strategy":"{strategy}"}}"#, t.trim_end_matches('}'))
}

fn book<'a>(v: &'a StateView, account: &str, strategy: Option<&str>) -> &'a kupala_engine::view::BookView {
    match v
        .books
        .iter()
        .find(|b| b.totals.account == account && b.strategy.as_deref() == strategy)
    {
        Some(b) => b,
        None => panic!("no book {account}/{strategy:?} in {:#?}", v.books),
    }
}

#[test]
fn a_strategy_is_its_own_book_and_the_account_sums_its_books() {
    let ev = vec![
        trade("A1", "AAPL", "buy", "100", "10"),
        tagged("A1", "AAPL", "buy", "50", "12", "carry"),
        tagged("A1", "AAPL", "sell", "20", "14", "carry"),
        trade("A1", "AAPL", "sell", "10", "15"),
        tick("AAPL", "13"),
    ];
    for method in METHODS {
        let v = run_lines(&ev, config(method));
        // Default book: 100 at 10, 10 sold at 15: realized 50, 90 left,
        // unrealized (13 − 10) × 90 = 270. Carry: 50 at 12, 20 sold at 14:
        // realized 40, 30 left, unrealized (13 − 12) × 30 = 30. Each book
        // closes only its own lots.
        let positions: Vec<(&str, Option<&str>, String)> = v
            .positions
            .iter()
            .map(|p| (p.account.as_str(), p.strategy.as_deref(), p.qty.to_string()))
            .collect();
        assert_eq!(
            positions,
            [("A1", None, "90".into()), ("A1", Some("carry"), "30".into())],
            "{method}: the default book first"
        );
        check(
            &format!("default {method}"),
            book(&v, "A1", None),
            &[
                ("realized_pnl", "50"),
                ("unrealized_pnl", "270"),
                ("net_pnl", "320"),
            ],
        );
        check(
            &format!("carry {method}"),
            book(&v, "A1", Some("carry")),
            &[
                ("realized_pnl", "40"),
                ("unrealized_pnl", "30"),
                ("net_pnl", "70"),
            ],
        );
        check(
            &format!("account {method}"),
            port(&v, "A1"),
            &[
                ("realized_pnl", "90"),
                ("unrealized_pnl", "300"),
                ("net_pnl", "390"),
                ("market_value", "1560"),
            ],
        );
        check(
            &format!("firm {method}"),
            &v.firm,
            &[
                ("net_pnl", "390"),
                ("market_value", "1560"),
                ("reporting_currency", "USD"),
            ],
        );
    }
    // After an EOD, a tick to 14 moves the 120 units by 1 each: the firm's
    // day P&L is 120, as the account's.
    let mut ev = ev;
    ev.extend([eod("2026-12-01"), tick("AAPL", "14")]);
    let v = run_lines(&ev, config(kupala_engine::Method::Fifo));
    check("account day", port(&v, "A1"), &[("day_pnl", "120")]);
    check("firm day", &v.firm, &[("day_pnl", "120"), ("net_pnl", "510")]);
}

#[test]
fn the_firm_converts_each_book_like_a_base_currency() {
    let ev = vec![
        instrument("SAP", "EUR", "1"),
        tagged("B", "SAP", "buy", "10", "100", "x"),
        tick("SAP", "110"),
    ];
    let cfg = || config_with_bases(kupala_engine::Method::Avg, &[("B", "EUR")]);
    // B's book is in EUR, with no EUR/USD rate yet: the firm leaves its
    // one position out.
    let v = run_lines(&ev, cfg());
    check(
        "B/x",
        book(&v, "B", Some("x")),
        &[("unrealized_pnl", "100"), ("market_value", "1100")],
    );
    check(
        "unpriced",
        &v.firm,
        &[("unpriced", "1"), ("market_value", "0"), ("net_pnl", "0")],
    );
    // EUR/USD 1.20 prices it: 1,100 EUR = 1,320 USD, unrealized 120. A
    // sale of 5 at 120 realizes (120 − 100) × 5 = 100 EUR, 120 USD at that
    // rate; EUR/USD then moves to 1.25: the realized stays 120, the 5 left
    // (marked 110) are worth 550 EUR = 687.5 USD, unrealized 50 EUR = 62.5.
    let mut ev = ev;
    ev.extend([
        fx("EUR/USD", "1.20"),
        tagged("B", "SAP", "sell", "5", "120", "x"),
        fx("EUR/USD", "1.25"),
    ]);
    let v = run_lines(&ev, cfg());
    check(
        "firm",
        &v.firm,
        &[
            ("unpriced", "0"),
            ("market_value", "687.5"),
            ("realized_pnl", "120"),
            ("unrealized_pnl", "62.5"),
            ("net_pnl", "182.5"),
        ],
    );
    // Reported in EUR, B's book is as it is; a USD account's 10 AAPL
    // bought at 100 and marked 110 add 100 USD = 80 EUR at 1.25.
    ev.extend([trade("U", "AAPL", "buy", "10", "100"), tick("AAPL", "110")]);
    let v = run_lines(
        &ev,
        PipelineConfig {
            reporting_currency: Some("EUR".into()),
            ..cfg()
        },
    );
    check(
        "firm in EUR",
        &v.firm,
        &[
            ("reporting_currency", "EUR"),
            ("realized_pnl", "100"),
            ("unrealized_pnl", "130"),
            ("market_value", "1430"),
        ],
    );
}
