//! Unit tests of `event.rs`.

use super::*;

fn err(s: &str) -> String {
    Event::from_json(s)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn decodes_every_example_of_the_event_reference() {
    let lines = [
        r#"{"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}"#,
        r#"{"type":"trade","id":"t-1","ts":"2026-11-30T14:30:00Z","account":"A1","instrument":"AAPL","side":"buy","qty":"100","price":"189.50","fee":"1.00"}"#,
        r#"{"type":"tick","ts":"2026-11-30T14:30:00.250Z","instrument":"AAPL","price":"190.10"}"#,
        r#"{"type":"fx","ts":"2026-11-30T14:30:00Z","pair":"EUR/USD","rate":"1.0850"}"#,
        r#"{"type":"eod","date":"2026-11-30"}"#,
        r#"{"type":"split","ts":"2026-11-30T00:00:00Z","instrument":"AAPL","ratio":"4"}"#,
        r#"{"type":"dividend","ts":"2026-11-30T00:00:00Z","instrument":"AAPL","amount":"0.24"}"#,
    ];
    for line in lines {
        let e = Event::from_json(line);
        assert!(e.is_ok(), "{line}: {e:?}");
        let again = e.map(|e| Event::from_json(&e.to_json()));
        assert!(matches!(again, Ok(Ok(_))), "round trip of {line}");
    }
    let Ok(Event::Trade(t)) = Event::from_json(lines[1]) else {
        panic!("not a trade")
    };
    assert_eq!(t.qty, Quantity::from_int(100));
    assert_eq!(t.fee.to_string(), "1");
    assert_eq!(t.side, Side::Buy);
}

#[test]
fn refuses_bad_input_with_a_clear_message() {
    let trade = |qty: &str| {
        format!(
            r#"{{"type":"trade","ts":"2026-11-30T14:30:00Z","account":"A1","instrument":"X","side":"buy","qty":{qty},"price":"1"}}"#
        )
    };
    assert!(err("{not json").starts_with("malformed JSON"));
    assert!(err(r#"{"type":"bogus"}"#).starts_with("type: unknown event type \"bogus\""));
    assert_eq!(err(&trade("\"0\"")), "qty: must be > 0");
    assert_eq!(err(&trade("\"-5\"")), "qty: must be > 0");
    assert!(err(&trade("\"1e5\"")).contains("exponent"));
    assert!(err(&trade("\"abc\"")).contains("\"abc\" is not a decimal number"));
    assert!(err(&trade("100")).starts_with("qty: invalid type: integer `100`, expected a JSON string"));
    assert!(
        err(r#"{"type":"tick","ts":"2026-11-30T14:30:00Z","price":"1"}"#)
            .starts_with("instrument: required field is missing")
    );
    assert!(err(r#"{"type":"eod","date":"2026-11-30","x":1}"#).contains("unknown field `x`"));
    assert!(
        err(r#"{"type":"fx","ts":"2026-11-30T14:30:00Z","pair":"EURUSD","rate":"1"}"#).starts_with("pair:")
    );
    assert!(err(r#"{"type":"eod","date":"2026-13-30"}"#).starts_with("date: "));
    assert!(
        err(r#"{"type":"eod","date":"2026-11-30","price":"1"}"#)
            .starts_with("price: is not a field of an eod event")
    );
    assert!(
        err(r#"{"type":"tick","ts":"yesterday","instrument":"X","price":"1"}"#)
            .starts_with("ts: \"yesterday\" is not an RFC 3339")
    );
    // A fee is held in 64 bits at 10^-9, as prices are.
    let fee = |fee: &str| {
        format!(
            r#"{{"type":"trade","ts":"2026-11-30T14:30:00Z","account":"A1","instrument":"X","side":"buy","qty":"1","price":"1","fee":"{fee}"}}"#
        )
    };
    assert!(Event::from_json(&fee("9223372036.854775807")).is_ok());
    let beyond = err(&fee("9223372036.854775808"));
    assert!(
        beyond.starts_with("fee: ") && beyond.contains("out of range"),
        "{beyond}"
    );
}
