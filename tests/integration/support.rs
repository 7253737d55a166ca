//! Shared helpers: event lines, running `kupala::calc`, finding positions and
//! reading their fields as the strings `kupala calc` prints.

use kupala::calc::{CalcError, CalcReport};
use kupala_engine::view::{PortfolioView, PositionView, StateView};
use kupala_engine::{BaseCurrencies, Method, PipelineConfig};
use kupala_feeds::JsonlSource;

/// Timestamp used by every hand-written event (order is arrival, not time).
pub const TS: &str = "2026-12-01T10:00:00Z";

/// A trade without id or fee.
pub fn trade(account: &str, instrument: &str, side: &str, qty: &str, price: &str) -> String {
    format!(
        r#"{{"type":"trade","ts":"{TS}","account":"{account}","instrument":"{instrument}","side":"{side}","qty":"{qty}","price":"{price}"}}"#
    )
}

/// A trade with an id and a fee.
pub fn trade_id_fee(
    id: &str,
    account: &str,
    instrument: &str,
    side: &str,
    qty: &str,
    price: &str,
    fee: &str,
) -> String {
    format!(
        r#"{{"type":"trade","id":"{id}","ts":"{TS}","account":"{account}","instrument":"{instrument}","side":"{side}","qty":"{qty}","price":"{price}","fee":"{fee}"}}"#
    )
}

/// A trade with a fee and no id.
pub fn trade_fee(account: &str, instrument: &str, side: &str, qty: &str, price: &str, fee: &str) -> String {
    format!(
        r#"{{"type":"trade","ts":"{TS}","account":"{account}","instrument":"{instrument}","side":"{side}","qty":"{qty}","price":"{price}","fee":"{fee}"}}"#
    )
}

/// A market price.
pub fn tick(instrument: &str, price: &str) -> String {
    format!(r#"{{"type":"tick","ts":"{TS}","instrument":"{instrument}","price":"{price}"}}"#)
}

/// An FX rate.
pub fn fx(pair: &str, rate: &str) -> String {
    format!(r#"{{"type":"fx","ts":"{TS}","pair":"{pair}","rate":"{rate}"}}"#)
}

/// End of day.
pub fn eod(date: &str) -> String {
    format!(r#"{{"type":"eod","date":"{date}"}}"#)
}

/// A split.
pub fn split(instrument: &str, ratio: &str) -> String {
    format!(r#"{{"type":"split","ts":"{TS}","instrument":"{instrument}","ratio":"{ratio}"}}"#)
}

/// A cash dividend per unit held.
pub fn dividend(instrument: &str, amount: &str) -> String {
    format!(r#"{{"type":"dividend","ts":"{TS}","instrument":"{instrument}","amount":"{amount}"}}"#)
}

/// An instrument definition.
pub fn instrument(id: &str, currency: &str, multiplier: &str) -> String {
    format!(r#"{{"type":"instrument","id":"{id}","currency":"{currency}","multiplier":"{multiplier}"}}"#)
}

/// One shard, the given method, every other setting default.
pub fn config(method: Method) -> PipelineConfig {
    PipelineConfig {
        shards: 1,
        methods: method.into(),
        ..Default::default()
    }
}

/// A one-shard config whose listed accounts have the given base currencies.
pub fn config_with_bases(method: Method, accounts: &[(&str, &str)]) -> PipelineConfig {
    PipelineConfig {
        bases: BaseCurrencies {
            default: None,
            accounts: accounts
                .iter()
                .map(|&(a, c)| (a.to_owned(), c.to_owned()))
                .collect(),
        },
        ..config(method)
    }
}

/// Runs JSONL text through `kupala::calc::run`.
pub fn calc_text(text: &str, config: PipelineConfig, skip_bad: bool) -> Result<CalcReport, CalcError> {
    kupala::calc::run(JsonlSource::new(text.as_bytes()), config, skip_bad)
}

/// Runs event lines and returns the final view; a refused line fails the test.
pub fn run_lines(lines: &[String], config: PipelineConfig) -> StateView {
    let text = lines.join("\n");
    match calc_text(&text, config, false) {
        Ok(report) => report.view,
        Err(e) => panic!("calc refused the input: {e}\n{text}"),
    }
}

/// Runs event lines with one shard and `method`.
pub fn run(lines: &[String], method: Method) -> StateView {
    run_lines(lines, config(method))
}

/// The position of (account, instrument); fails the test when it is not listed.
pub fn pos<'a>(view: &'a StateView, account: &str, instrument: &str) -> &'a PositionView {
    match view
        .positions
        .iter()
        .find(|p| p.account == account && p.instrument == instrument)
    {
        Some(p) => p,
        None => panic!("no position {account}/{instrument} in {:#?}", view.positions),
    }
}

/// True when (account, instrument) is listed.
pub fn has_pos(view: &StateView, account: &str, instrument: &str) -> bool {
    view.positions
        .iter()
        .any(|p| p.account == account && p.instrument == instrument)
}

/// The portfolio of `account`; fails the test when there is none.
pub fn port<'a>(view: &'a StateView, account: &str) -> &'a PortfolioView {
    match view.portfolios.iter().find(|p| p.account == account) {
        Some(p) => p,
        None => panic!("no portfolio {account} in {:#?}", view.portfolios),
    }
}

/// A JSON value as the text a test compares: strings bare, `null`, `true`...
fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Asserts named fields of a serializable view (a position or a portfolio)
/// against the strings `kupala calc` would print ("null" for a missing base).
pub fn check<T: serde::Serialize>(what: &str, item: &T, expected: &[(&str, &str)]) {
    let value = match serde_json::to_value(item) {
        Ok(v) => v,
        Err(e) => panic!("{what}: cannot serialize: {e}"),
    };
    for &(field, want) in expected {
        let got = value.get(field).map(text_of);
        assert_eq!(got.as_deref(), Some(want), "{what}: field `{field}` in {value:#}");
    }
}
