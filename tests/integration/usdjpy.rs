//! Real USD/JPY ticks (`testdata/data/usdjpy-ticks-2013.csv`): every row
//! becomes a tick of a JPY-quoted instrument and a USD/JPY rate at the exact
//! mid; a few trades at real mids; the engine's JPY and USD figures are held
//! to an independent i128 computation (to 0.01).

use std::path::Path;

use kupala_engine::Method;
use kupala_engine::view::StateView;

use crate::support::{calc_text, config_with_bases, fx, instrument, port, pos, tick, trade_id_fee};

/// Raw units of 10^-9 and 10^-18.
const NANO: i128 = 1_000_000_000;

/// Parses a non-negative or negative plain decimal (≤ 9 places) into 10^-9 units.
fn dec(s: &str) -> i128 {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    assert!(frac.len() <= 9, "{s}: too many places");
    let digits = |p: &str| {
        assert!(p.bytes().all(|b| b.is_ascii_digit()), "{s} is not a decimal");
        p.bytes().fold(0i128, |acc, b| acc * 10 + i128::from(b - b'0'))
    };
    let v = digits(int) * NANO + digits(frac) * 10i128.pow(9 - u32::try_from(frac.len()).unwrap_or(9));
    if neg { -v } else { v }
}

/// Formats 10^-9 units as a plain decimal.
fn fmt9(raw: i128) -> String {
    let sign = if raw < 0 { "-" } else { "" };
    let (int, frac) = (raw.abs() / NANO, raw.abs() % NANO);
    let frac = format!("{frac:09}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// `n / d` rounded half away from zero.
fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

/// One position under the avg rule, kept exactly: qty at 10^-9, cost and P&L at 10^-18.
#[derive(Default)]
struct Model {
    qty: i128,
    cost: i128,
    realized_jpy: i128,
    realized_usd: i128,
    fees_jpy: i128,
    fees_usd: i128,
}

impl Model {
    /// A signed trade of `q` at `p` (10^-9 each), a fee of whole JPY, at USD/JPY `rate` (10^-9).
    fn trade(&mut self, q: i128, p: i128, fee: i128, rate: i128) {
        let mut realized = 0;
        let mut open = q;
        if self.qty != 0 && self.qty.signum() != q.signum() {
            let closed = q.abs().min(self.qty.abs());
            // (price - avg) × closed × sign, with avg = cost / qty kept as a ratio;
            // cost × closed overflows i128, so split cost = whole × |qty| + rest
            let (whole, rest) = (self.cost / self.qty.abs(), self.cost % self.qty.abs());
            let removed = whole * closed + div_round(rest * closed, self.qty.abs());
            realized = self.qty.signum() * closed * p - removed;
            self.cost -= removed;
            self.qty -= self.qty.signum() * closed;
            open = q - q.signum() * closed;
        }
        self.qty += open;
        self.cost += open * p;
        self.realized_jpy += realized;
        // JPY → USD: divide by the rate in force now
        self.realized_usd += div_round(realized * NANO, rate);
        let fee = fee * NANO * NANO;
        self.fees_jpy += fee;
        self.fees_usd += div_round(fee * NANO, rate);
    }
}

/// Asserts an engine money string equals an exact 10^-18 amount to 0.01.
fn near(what: &str, got: &str, exact: i128) {
    let diff = dec(got) * NANO - exact;
    assert!(
        diff.abs() <= NANO * NANO / 100,
        "{what}: engine {got}, independent {}",
        fmt9(div_round(exact, NANO))
    );
}

fn some(what: &str, v: Option<kupala_engine::num::Money>) -> String {
    match v {
        Some(m) => m.to_string(),
        None => panic!("{what}: unpriced"),
    }
}

#[test]
fn usdjpy_ticks_trades_and_fx_match_an_exact_recomputation() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/data/usdjpy-ticks-2013.csv");
    let csv = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test data missing: {}: {e} (see testdata/README.md)",
            path.display()
        )
    });
    let mut rows = Vec::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 3, "row {n}: {line}");
        let (bid, ask) = (dec(cols[1]), dec(cols[2]));
        assert!(bid > 0 && ask >= bid, "row {n}: {line}");
        assert_eq!((bid + ask) % 2, 0, "row {n}: the mid needs a 10th decimal");
        rows.push((cols[0].replacen(' ', "T", 1), (bid + ask) / 2));
    }
    assert!(rows.len() >= 901, "only {} rows", rows.len());
    // (row, signed qty): open long 1M, reduce, flip to short 300k, cover 100k
    let trades: [(usize, i128); 4] = [(10, 1_000_000), (500, -400_000), (700, -900_000), (900, 100_000)];
    let fee = 250;
    let mut lines = vec![instrument("USDJPY", "JPY", "1")];
    let mut model = Model::default();
    for (i, (ts, mid)) in rows.iter().enumerate() {
        let m = fmt9(*mid);
        lines.push(tick("USDJPY", &m).replace(crate::support::TS, ts));
        lines.push(fx("USD/JPY", &m).replace(crate::support::TS, ts));
        for &(row, q) in trades.iter().filter(|t| t.0 == i) {
            let side = if q > 0 { "buy" } else { "sell" };
            for account in ["U", "J"] {
                let id = format!("{account}-{row}");
                lines.push(trade_id_fee(
                    &id,
                    account,
                    "USDJPY",
                    side,
                    &q.abs().to_string(),
                    &m,
                    &fee.to_string(),
                ));
            }
            model.trade(q * NANO, *mid, fee, *mid);
        }
    }
    let (last_mid, rate) = (rows[rows.len() - 1].1, rows[rows.len() - 1].1);
    let mv_jpy = last_mid * model.qty;
    let unreal_jpy = mv_jpy - model.cost;
    let (mv_usd, unreal_usd) = (div_round(mv_jpy * NANO, rate), div_round(unreal_jpy * NANO, rate));
    let config = config_with_bases(Method::Avg, &[("J", "JPY")]);
    let view: StateView = match calc_text(&lines.join("\n"), config, false) {
        Ok(r) => r.view,
        Err(e) => panic!("{e}"),
    };

    for account in ["U", "J"] {
        let p = pos(&view, account, "USDJPY");
        // exact: the short opened at row 700's mid, marked at the last mid
        assert_eq!(p.qty.to_string(), "-200000");
        assert_eq!(p.mark.to_string(), fmt9(last_mid));
        assert_eq!(p.avg_cost.to_string(), fmt9(rows[700].1));
        assert_eq!(p.fees.to_string(), "1000");
        near("realized JPY", &p.realized_pnl.to_string(), model.realized_jpy);
        near("unrealized JPY", &p.unrealized_pnl.to_string(), unreal_jpy);
        near("market value JPY", &p.market_value.to_string(), mv_jpy);
        near(
            "day JPY (no EOD)",
            &p.day_pnl.to_string(),
            model.realized_jpy + unreal_jpy - model.fees_jpy,
        );
    }
    let u = pos(&view, "U", "USDJPY");
    near(
        "realized USD",
        &some("r", u.realized_pnl_base),
        model.realized_usd,
    );
    near("fees USD", &some("f", u.fees_base), model.fees_usd);
    near("unrealized USD", &some("u", u.unrealized_pnl_base), unreal_usd);
    near("market value USD", &some("mv", u.market_value_base), mv_usd);
    let net_usd = model.realized_usd + unreal_usd - model.fees_usd;
    near("net USD", &some("n", u.net_pnl_base), net_usd);
    // realizing at the last rate instead would differ by more than a cent
    let at_last_rate = div_round(model.realized_jpy * NANO, rate);
    assert!(
        (at_last_rate - model.realized_usd).abs() > NANO * NANO / 100,
        "the rate never moved"
    );

    let pu = port(&view, "U");
    assert_eq!(pu.base_currency, "USD");
    near(
        "portfolio realized USD",
        &pu.realized_pnl.to_string(),
        model.realized_usd,
    );
    near("portfolio mv USD", &pu.market_value.to_string(), mv_usd);
    near("portfolio net USD", &pu.net_pnl.to_string(), net_usd);
    let pj = port(&view, "J");
    assert_eq!(pj.base_currency, "JPY");
    near(
        "portfolio realized JPY",
        &pj.realized_pnl.to_string(),
        model.realized_jpy,
    );
    near(
        "portfolio unrealized JPY",
        &pj.unrealized_pnl.to_string(),
        unreal_jpy,
    );
    near("portfolio fees JPY", &pj.fees.to_string(), model.fees_jpy);
}

#[test]
fn the_exact_helpers_are_exact() {
    assert_eq!(dec("86.655") + dec("86.728"), 2 * dec("86.6915"));
    assert_eq!(fmt9(dec("-0.000000001")), "-0.000000001");
    assert_eq!(fmt9(dec("120")), "120");
    assert_eq!(
        (div_round(15, 10), div_round(-15, 10), div_round(14, 10)),
        (2, -2, 1)
    );
}
