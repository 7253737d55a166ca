//! Positions and portfolios written as JSON text by hand, byte for byte the
//! serde form of [`PositionOut`](crate::render::PositionOut) and
//! [`PortfolioOut`](crate::render::PortfolioOut): a delta's `data` is
//! rendered on every change, so it skips what serde costs here (three name
//! copies into a view, `collect_str` through a formatter per figure).
//! Names are copied as the JSON literals the interner rendered once; figures
//! go through [`write_global`].

use kupala_engine::ids::{BookId, Names};
use kupala_engine::num::{Notional, div_round_billion, write_global};
use kupala_engine::state::{BaseValues, BookState, PortfolioState, PositionState};

/// Writes `"text"` of a raw at the global scale.
fn decimal(out: &mut String, raw: i128) {
    out.push('"');
    // Writing to a String cannot fail.
    let _ = write_global(out, raw);
    out.push('"');
}

/// Writes an exact amount rounded to money, as the views show it.
fn money(out: &mut String, n: Notional) {
    decimal(out, div_round_billion(n.0));
}

fn field_money(out: &mut String, key: &str, n: Notional) {
    out.push_str(key);
    money(out, n);
}

fn int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// The nine base-currency figures, `null` each while unpriced.
fn base_fields(out: &mut String, base: Option<&BaseValues>) {
    const KEYS: [&str; 9] = [
        r#","market_value_base":"#,
        r#","realized_pnl_base":"#,
        r#","unrealized_pnl_base":"#,
        r#","fees_base":"#,
        r#","income_base":"#,
        r#","net_pnl_base":"#,
        r#","cost_base":"#,
        r#","fx_pnl_base":"#,
        r#","total_pnl_base":"#,
    ];
    match base {
        Some(b) => {
            let values = [
                b.market_value,
                b.realized_pnl,
                b.unrealized_pnl,
                b.fees,
                b.income,
                b.net_pnl,
                b.cost,
                b.fx_pnl,
                b.total_pnl(),
            ];
            for (key, v) in KEYS.iter().zip(values) {
                field_money(out, key, v);
            }
        }
        None => {
            for key in KEYS {
                out.push_str(key);
                out.push_str("null");
            }
        }
    }
}

/// Appends a position's JSON object (the `calc` fields, `journal_seq`, and
/// `closed: true` when an EOD moved it to the closed history).
pub fn position(out: &mut String, p: &PositionState, names: &Names, closed: bool) {
    out.push_str(r#"{"account":"#);
    out.push_str(names.accounts.quoted(p.account.0));
    out.push_str(r#","strategy":"#);
    strategy(out, p.book, names);
    out.push_str(r#","instrument":"#);
    out.push_str(names.instruments.quoted(p.instrument.0));
    out.push_str(r#","currency":"#);
    out.push_str(names.currencies.quoted(p.currency.0));
    out.push_str(r#","qty":"#);
    decimal(out, i128::from(p.qty.raw()));
    out.push_str(r#","avg_cost":"#);
    decimal(out, i128::from(p.avg_cost.raw()));
    out.push_str(r#","mark":"#);
    decimal(out, i128::from(p.mark.raw()));
    field_money(out, r#","market_value":"#, p.market_value);
    field_money(out, r#","realized_pnl":"#, p.realized_pnl);
    field_money(out, r#","unrealized_pnl":"#, p.unrealized_pnl);
    field_money(out, r#","fees":"#, p.fees);
    field_money(out, r#","income":"#, p.income);
    field_money(out, r#","net_pnl":"#, p.net_pnl);
    field_money(out, r#","day_pnl":"#, p.day_pnl);
    base_fields(out, p.base.as_ref());
    out.push_str(if p.base.is_none() {
        r#","unpriced":true,"journal_seq":"#
    } else {
        r#","unpriced":false,"journal_seq":"#
    });
    int(out, p.seq);
    if closed {
        out.push_str(r#","closed":true"#);
    }
    out.push('}');
}

/// Appends a book's strategy tag as a JSON string, or `null` for an
/// account's default book.
fn strategy(out: &mut String, book: BookId, names: &Names) {
    match names.books.key(book).and_then(|k| k.strategy) {
        Some(s) => out.push_str(names.strategies.quoted(s.0)),
        None => out.push_str("null"),
    }
}

/// Appends a portfolio's JSON object (its totals and `journal_seq`).
pub fn portfolio(out: &mut String, p: &PortfolioState, names: &Names) {
    portfolio_fields(out, p, names);
    out.push_str(r#","journal_seq":"#);
    int(out, p.seq);
    out.push('}');
}

/// Appends a book's JSON object (its totals, its strategy and
/// `journal_seq`).
pub fn book(out: &mut String, b: &BookState, names: &Names) {
    portfolio_fields(out, &b.totals, names);
    out.push_str(r#","strategy":"#);
    strategy(out, b.book, names);
    out.push_str(r#","journal_seq":"#);
    int(out, b.totals.seq);
    out.push('}');
}

/// A portfolio's object up to (not including) its `journal_seq`.
fn portfolio_fields(out: &mut String, p: &PortfolioState, names: &Names) {
    out.push_str(r#"{"account":"#);
    out.push_str(names.accounts.quoted(p.account.0));
    out.push_str(r#","base_currency":"#);
    out.push_str(names.currencies.quoted(p.base_currency.0));
    out.push_str(r#","unpriced":"#);
    int(out, p.unpriced);
    field_money(out, r#","market_value":"#, p.market_value);
    field_money(out, r#","realized_pnl":"#, p.realized_pnl);
    field_money(out, r#","unrealized_pnl":"#, p.unrealized_pnl);
    field_money(out, r#","fees":"#, p.fees);
    field_money(out, r#","income":"#, p.income);
    field_money(out, r#","net_pnl":"#, p.net_pnl);
    field_money(out, r#","day_pnl":"#, p.day_pnl);
    field_money(out, r#","fx_pnl":"#, p.fx_pnl);
    field_money(out, r#","total_pnl":"#, p.total_pnl());
}

/// A position's JSON object as a new string.
#[must_use]
pub fn position_text(p: &PositionState, names: &Names, closed: bool) -> String {
    let mut out = String::with_capacity(512);
    position(&mut out, p, names, closed);
    out
}

/// A book's JSON object as a new string.
#[must_use]
pub fn book_text(b: &BookState, names: &Names) -> String {
    let mut out = String::with_capacity(288);
    book(&mut out, b, names);
    out
}

/// A portfolio's JSON object as a new string.
#[must_use]
pub fn portfolio_text(p: &PortfolioState, names: &Names) -> String {
    let mut out = String::with_capacity(256);
    portfolio(&mut out, p, names);
    out
}

#[cfg(test)]
#[path = "json_out_tests.rs"]
mod tests;
