//! Bad lines: the exact message of `Event::from_json`, the "line N: " prefix
//! through `kupala::calc`, and proof that a skipped line changed nothing.

use kupala_engine::{Event, Method};

use crate::support::{calc_text, check, config, fx, instrument, pos, split, tick, trade, trade_id_fee};

const TYPES: &str = "(instrument, trade, tick, fx, eod, split or dividend)";
const STRING: &str = r#"expected a JSON string (decimals are strings, e.g. "189.50")"#;

/// A trade of account A on X whose fields after `instrument` are `rest`.
fn t(rest: &str) -> String {
    format!(
        r#"{{"type":"trade","id":"bad","ts":"2026-12-01T10:00:00Z","account":"A","instrument":"X",{rest}}}"#
    )
}

/// (what, line, message of `Event::from_json`, or `None` when the line
/// decodes and the sequencer refuses it; then the message is calc's).
fn table() -> Vec<(&'static str, String, Option<String>, String)> {
    let ts = r#""ts":"2026-12-01T10:00:00Z""#;
    let decode = |what, line: String, msg: String| (what, line, Some(msg.clone()), msg);
    vec![
        decode(
            "malformed",
            "{not json".into(),
            "malformed JSON: key must be a string".into(),
        ),
        decode(
            "truncated",
            r#"{"type":"trade","id":"b","#.into(),
            "malformed JSON: EOF while parsing a value".into(),
        ),
        decode(
            "trailing",
            format!(r#"{{"type":"tick",{ts},"instrument":"X","price":"1"}} x"#),
            "malformed JSON: trailing characters".into(),
        ),
        decode(
            "unknown type",
            format!(r#"{{"type":"order",{ts},"instrument":"X","price":"1"}}"#),
            format!(r#"type: unknown event type "order" {TYPES}"#),
        ),
        decode(
            "no type",
            format!(r#"{{{ts},"instrument":"X"}}"#),
            format!("type: missing {TYPES}"),
        ),
        decode(
            "qty 0",
            t(r#""side":"buy","qty":"0","price":"1""#),
            "qty: must be > 0".into(),
        ),
        decode(
            "qty -1",
            t(r#""side":"sell","qty":"-1","price":"1""#),
            "qty: must be > 0".into(),
        ),
        decode(
            "exponent",
            t(r#""side":"buy","qty":"1e5","price":"1""#),
            r#"qty: "1e5" uses an exponent; write a plain decimal such as "100000""#.into(),
        ),
        decode(
            "not a number",
            t(r#""side":"buy","qty":"1","price":"abc""#),
            r#"price: "abc" is not a decimal number"#.into(),
        ),
        decode(
            "JSON number",
            t(r#""side":"buy","qty":100,"price":"1""#),
            format!("qty: invalid type: integer `100`, {STRING}"),
        ),
        decode(
            "missing field",
            t(r#""side":"buy","qty":"1""#),
            "price: required field is missing".into(),
        ),
        decode(
            "unknown field",
            t(r#""side":"buy","qty":"1","price":"1","color":"red""#),
            "color: unknown field `color`".into(),
        ),
        decode(
            "field of another type",
            r#"{"type":"eod","date":"2026-12-01","price":"1"}"#.into(),
            "price: is not a field of an eod event".into(),
        ),
        decode(
            "bad side",
            t(r#""side":"hold","qty":"1","price":"1""#),
            r#"side: "hold" is not "buy" or "sell""#.into(),
        ),
        decode(
            "bad pair",
            format!(r#"{{"type":"fx",{ts},"pair":"EURUSD","rate":"1.5"}}"#),
            r#"pair: must look like "EUR/USD""#.into(),
        ),
        decode(
            "bad date",
            r#"{"type":"eod","date":"2026-13-01"}"#.into(),
            r#"date: "2026-13-01" is not a date such as "2026-11-30""#.into(),
        ),
        decode(
            "bad timestamp",
            r#"{"type":"tick","ts":"2026-12-01 10:00:00","instrument":"X","price":"1"}"#.into(),
            r#"ts: "2026-12-01 10:00:00" is not an RFC 3339 timestamp such as "2026-11-30T14:30:00Z""#.into(),
        ),
        decode(
            "too many decimals",
            t(r#""side":"buy","qty":"1","price":"1.0000000001""#),
            r#"price: "1.0000000001" has more than 9 decimal places"#.into(),
        ),
        decode(
            "rate 0",
            format!(r#"{{"type":"fx",{ts},"pair":"EUR/USD","rate":"0"}}"#),
            "rate: must be > 0".into(),
        ),
        decode(
            "ratio 0",
            format!(r#"{{"type":"split",{ts},"instrument":"X","ratio":"0"}}"#),
            "ratio: must be > 0".into(),
        ),
        decode(
            "dividend 0",
            format!(r#"{{"type":"dividend",{ts},"instrument":"X","amount":"0"}}"#),
            "amount: must be > 0".into(),
        ),
        decode(
            "dividend with a ratio",
            format!(r#"{{"type":"dividend",{ts},"instrument":"X","amount":"1","ratio":"2"}}"#),
            "ratio: is not a field of a dividend event".into(),
        ),
        decode(
            "dividend without an amount",
            format!(r#"{{"type":"dividend",{ts},"instrument":"X"}}"#),
            "amount: required field is missing".into(),
        ),
        (
            "redefined after trading",
            instrument("X", "EUR", "1"),
            None,
            r#"instrument "X" is already in use as USD × 1; redefining it would rewrite existing positions"#
                .into(),
        ),
    ]
}

/// Good lines around the bad one (which goes in at line 6).
fn before() -> Vec<String> {
    vec![
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.1"),
        trade_id_fee("g1", "A", "X", "buy", "10", "100", "1"),
        trade_id_fee("g2", "A", "SAP", "buy", "10", "50", "0"),
        tick("X", "105"),
    ]
}

fn after() -> Vec<String> {
    vec![
        trade_id_fee("g3", "A", "X", "sell", "5", "110", "0"),
        fx("EUR/USD", "1.2"),
    ]
}

#[test]
fn from_json_names_the_field_and_the_reason() {
    for (what, line, decode, _) in table() {
        let got = Event::from_json(&line).err().map(|e| e.to_string());
        match decode {
            Some(msg) => assert_eq!(got.as_deref(), Some(msg.as_str()), "{what}: {line}"),
            None => assert_eq!(got, None, "{what}: decodes, the sequencer refuses it: {line}"),
        }
    }
}

#[test]
fn calc_stops_at_the_bad_line_with_its_number() {
    for (what, bad, _, msg) in table() {
        let mut lines = before();
        lines.push(bad);
        lines.extend(after());
        let got = calc_text(&lines.join("\n"), config(Method::Avg), false).map(|r| r.view);
        let Err(e) = got else { panic!("{what}: accepted") };
        assert_eq!(e.to_string(), format!("line 6: {msg}"), "{what}");
    }
}

#[test]
fn a_skipped_line_changes_nothing() {
    let view = |lines: &[String], skip| match calc_text(&lines.join("\n"), config(Method::Avg), skip) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let good_prefix = view(&before(), false).view;
    let mut good_all = before();
    good_all.extend(after());
    let good_all = view(&good_all, false).view;
    // the lines after the bad one still apply: X 5 left, realized (110 - 100) × 5; SAP at 1.2
    check(
        "good",
        pos(&good_all, "A", "X"),
        &[("qty", "5"), ("realized_pnl", "50")],
    );
    check(
        "good",
        pos(&good_all, "A", "SAP"),
        &[("market_value_base", "600")],
    );
    for (what, bad, _, msg) in table() {
        let mut lines = before();
        lines.push(bad);
        let prefix = view(&lines, true);
        assert_eq!(prefix.skipped, vec![format!("line 6: {msg}")], "{what}");
        assert_eq!(prefix.view, good_prefix, "{what}: the bad line changed the state");
        lines.extend(after());
        let all = view(&lines, true);
        assert_eq!(all.skipped.len(), 1, "{what}");
        assert_eq!(
            all.view, good_all,
            "{what}: the stream after the bad line differs"
        );
    }
}

#[test]
fn a_json_array_is_not_an_event() {
    let nulls = |n| vec!["null"; n].join(",");
    let trade = format!(
        r#"["trade",null,"2026-12-01T10:00:00Z","A","X","buy","1","1",{}]"#,
        nulls(8)
    );
    let eod = format!(r#"["eod",{},"2026-12-01",null]"#, nulls(13));
    for line in [trade, eod] {
        let got = Event::from_json(&line);
        assert!(got.is_err(), "an array was accepted as {got:?}: {line}");
    }
}

/// Runs `lines` (skipping bad ones) on another thread; `None` if it hangs.
fn calc_with_deadline(lines: &[String]) -> Option<Result<kupala::calc::CalcReport, String>> {
    let text = lines.join("\n");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(calc_text(&text, config(Method::Avg), true).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
}

#[test]
fn a_position_beyond_the_quantity_range_is_refused_not_a_hang() {
    let lines = [
        trade_id_fee("o1", "A", "X", "buy", "5000000000", "1", "0"),
        trade_id_fee("o2", "A", "X", "buy", "5000000000", "1", "0"),
    ];
    let Some(result) = calc_with_deadline(&lines) else {
        panic!("calc hung: a shard thread died")
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    // either the second trade is refused with its line number, or the position holds 1e10 exactly
    let qty = pos(&report.view, "A", "X").qty.to_string();
    let refused =
        report.skipped.len() == 1 && report.skipped[0].starts_with("line 2: ") && qty == "5000000000";
    assert!(
        refused || qty == "10000000000",
        "qty {qty}, skipped {:?}",
        report.skipped
    );
}

#[test]
fn a_split_beyond_the_quantity_range_does_not_move_pnl() {
    let lines = [
        trade("A", "X", "buy", "3000000000", "10"),
        tick("X", "10"),
        split("X", "4"),
    ];
    let Some(Ok(report)) = calc_with_deadline(&lines) else {
        panic!("calc failed or hung")
    };
    // refused or applied, P&L must not move: mv 3e9 × 10, unrealized 0
    check(
        "split",
        pos(&report.view, "A", "X"),
        &[("unrealized_pnl", "0"), ("market_value", "30000000000")],
    );
}
