//! End to end on the built binary: `kupala calc` output shape and values,
//! stdin, bad lines, `--skip-bad`, `--method`, `--shards 0`, the demo file.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use kupala_engine::num::parse_raw;
use serde_json::Value;

use crate::support::{fx, instrument, tick, trade, trade_fee};

const POSITION_FIELDS: [&str; 24] = [
    "account",
    "instrument",
    "currency",
    "qty",
    "avg_cost",
    "mark",
    "market_value",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "income",
    "net_pnl",
    "day_pnl",
    "market_value_base",
    "realized_pnl_base",
    "unrealized_pnl_base",
    "fees_base",
    "income_base",
    "net_pnl_base",
    "cost_base",
    "fx_pnl_base",
    "total_pnl_base",
    "unpriced",
    "strategy",
];
const PORTFOLIO_FIELDS: [&str; 12] = [
    "account",
    "base_currency",
    "unpriced",
    "market_value",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "income",
    "net_pnl",
    "day_pnl",
    "fx_pnl",
    "total_pnl",
];

/// Runs `kupala` with `args`, feeding `stdin` when given.
fn kupala(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kupala"));
    cmd.args(args)
        .env_remove("KUPALA_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        panic!("cannot start kupala")
    };
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        assert!(pipe.write_all(text.as_bytes()).is_ok(), "writing stdin");
    }
    match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("waiting for kupala: {e}"),
    }
}

/// Writes `text` to a temporary file; keep the guard alive while using the path.
fn file(text: &str) -> (tempfile::TempDir, String) {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("events.jsonl");
    assert!(std::fs::write(&path, text).is_ok(), "writing {}", path.display());
    (dir, path.to_string_lossy().into_owned())
}

fn stdout_json(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "kupala failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not JSON ({e}): {text}"),
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn sorted(fields: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}

fn field<'a>(v: &'a Value, list: &str, i: usize, name: &str) -> &'a Value {
    &v[list][i][name]
}

/// Events for two accounts and three instruments, given out of order.
fn sample() -> String {
    [
        instrument("SAP", "EUR", "1"),
        trade_fee("B", "ZZ", "buy", "10", "10", "1"),
        trade("A", "MM", "buy", "100", "10"),
        trade("B", "SAP", "buy", "5", "100"),
        trade("A", "MM", "sell", "100", "12.5"),
        trade("B", "AA", "sell", "2", "30"),
        tick("ZZ", "11"),
    ]
    .join("\n")
}

#[test]
fn calc_prints_the_design_fields_as_strings_sorted() {
    let (_dir, path) = file(&sample());
    let v = stdout_json(&kupala(&["calc", "--events", &path, "--shards", "2"], None));
    assert_eq!(keys(&v), sorted(&["positions", "books", "portfolios", "firm"]));
    let Some(positions) = v["positions"].as_array() else {
        panic!("no positions: {v}")
    };
    let order: Vec<(String, String)> = positions
        .iter()
        .map(|p| (p["account"].to_string(), p["instrument"].to_string()))
        .collect();
    let want = [("A", "MM"), ("B", "AA"), ("B", "SAP"), ("B", "ZZ")]
        .map(|(a, i)| (format!("{a:?}"), format!("{i:?}")));
    assert_eq!(order, want, "sorted by (account, instrument)");
    for p in positions {
        assert_eq!(keys(p), sorted(&POSITION_FIELDS), "position fields");
        let unpriced = p["unpriced"].as_bool();
        assert!(unpriced.is_some(), "unpriced is a boolean: {p}");
        for f in &POSITION_FIELDS[3..17] {
            let base_null = f.ends_with("_base") && unpriced == Some(true) && p[*f].is_null();
            assert!(p[*f].is_string() || base_null, "{f} is not a decimal string: {p}");
        }
    }
    let Some(portfolios) = v["portfolios"].as_array() else {
        panic!("no portfolios")
    };
    assert_eq!(portfolios.len(), 2);
    for p in portfolios {
        assert_eq!(keys(p), sorted(&PORTFOLIO_FIELDS), "portfolio fields");
        assert!(p["unpriced"].is_i64(), "unpriced is a count: {p}");
        assert!(PORTFOLIO_FIELDS[3..].iter().all(|f| p[*f].is_string()), "{p}");
    }
    // A/MM: flat, realized 250; B/SAP has no EUR rate: unpriced, null base fields, counted once
    assert_eq!(field(&v, "positions", 0, "realized_pnl"), "250");
    assert_eq!(field(&v, "positions", 0, "qty"), "0");
    assert_eq!(field(&v, "positions", 2, "unpriced"), true);
    assert!(field(&v, "positions", 2, "net_pnl_base").is_null());
    // B: ZZ unreal (11 - 10) × 10 = 10, fee 1; AA short 2 at 30: mv -60
    assert_eq!(field(&v, "portfolios", 1, "unpriced"), 1);
    assert_eq!(field(&v, "portfolios", 1, "net_pnl"), "9");
    assert_eq!(field(&v, "portfolios", 1, "market_value"), "50");
    // No trade has a strategy: one default book per account, equal to it.
    assert_eq!(v["books"].as_array().map(Vec::len), Some(2));
    assert!(v["books"][1]["strategy"].is_null());
    assert_eq!(v["books"][1]["net_pnl"], v["portfolios"][1]["net_pnl"]);
    // The firm in USD: A's 250 realized and B's 9, B/SAP left out.
    assert_eq!(v["firm"]["reporting_currency"], "USD");
    assert_eq!(v["firm"]["net_pnl"], "259");
    assert_eq!(v["firm"]["market_value"], "50");
    assert_eq!(v["firm"]["unpriced"], 1);
}

#[test]
fn events_dash_reads_stdin() {
    let (_dir, path) = file(&sample());
    let from_file = kupala(&["calc", "--events", &path, "--shards", "1"], None);
    let from_stdin = kupala(&["calc", "--events", "-", "--shards", "1"], Some(&sample()));
    assert_eq!(stdout_json(&from_stdin), stdout_json(&from_file));
    assert_eq!(from_stdin.stdout, from_file.stdout);
}

#[test]
fn a_bad_line_stops_with_its_number_and_reason() {
    let text = format!(
        "{}\n\n{}\n{}",
        trade("A", "X", "buy", "1", "1"),
        trade("A", "X", "buy", "0", "1"),
        tick("X", "2")
    );
    let (_dir, path) = file(&text);
    let o = kupala(&["calc", "--events", &path], None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "exit 0 on a bad line");
    assert!(stderr.contains("line 3: qty: must be > 0"), "stderr: {stderr}");
    assert!(o.stdout.is_empty(), "printed a state after a failure");
    let o = kupala(&["calc", "--events", "/nonexistent/kupala/events.jsonl"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("opening /nonexistent/kupala/events.jsonl"));
}

#[test]
fn skip_bad_goes_on_and_counts_the_skipped_lines() {
    let text = [
        trade("A", "X", "buy", "10", "100"),
        "{oops".to_owned(),
        trade("A", "X", "sell", "4", "abc"),
        trade("A", "X", "sell", "4", "110"),
    ]
    .join("\n");
    let (_dir, path) = file(&text);
    let o = kupala(&["calc", "--events", &path, "--skip-bad"], None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("skipped 2 bad line(s)"), "stderr: {stderr}");
    assert!(
        stderr.contains("line 2: malformed JSON") && stderr.contains("line 3: price:"),
        "{stderr}"
    );
    let v = stdout_json(&o);
    // only the two good trades: 6 left, realized (110 - 100) × 4 = 40
    assert_eq!(field(&v, "positions", 0, "qty"), "6");
    assert_eq!(field(&v, "positions", 0, "realized_pnl"), "40");
}

#[test]
fn method_fifo_changes_realized() {
    let text = [
        trade("A", "X", "buy", "10", "10"),
        trade("A", "X", "buy", "10", "20"),
        trade("A", "X", "sell", "10", "25"),
    ]
    .join("\n");
    let (_dir, path) = file(&text);
    let realized = |method: &str| {
        let v = stdout_json(&kupala(&["calc", "--events", &path, "--method", method], None));
        field(&v, "positions", 0, "realized_pnl").clone()
    };
    // avg 15 → (25 - 15) × 10 = 100; fifo takes the lot at 10 → 150;
    // lifo the lot at 20 → 50; hifo the dearest lot, at 20 → 50
    assert_eq!(realized("avg"), "100");
    assert_eq!(realized("fifo"), "150");
    assert_eq!(realized("lifo"), "50");
    assert_eq!(realized("hifo"), "50");
    let o = kupala(&["calc", "--events", &path, "--method", "wac"], None);
    assert!(!o.status.success(), "an unknown method was accepted");
}

#[test]
fn each_account_uses_its_configured_method_unless_method_overrides_all() {
    let mut lines = Vec::new();
    for account in ["FR", "DE", "CRYPTO"] {
        // Lots at 20, 10, 30, then a sale of 15 at 40.
        lines.push(trade(account, "X", "buy", "10", "20"));
        lines.push(trade(account, "X", "buy", "10", "10"));
        lines.push(trade(account, "X", "buy", "10", "30"));
        lines.push(trade(account, "X", "sell", "15", "40"));
    }
    let (dir, path) = file(&lines.join("\n"));
    let config = dir.path().join("kupala.toml");
    let toml = "[engine]\nmethod = \"avg\"\n[accounts.DE]\nmethod = \"fifo\"\n\
                [accounts.CRYPTO]\nmethod = \"hifo\"\nbase_currency = \"USD\"\n";
    assert!(std::fs::write(&config, toml).is_ok());
    let config = config.to_string_lossy().into_owned();
    let realized = |extra: &[&str]| {
        let mut args = vec!["calc", "--events", &path, "--config", &config];
        args.extend_from_slice(extra);
        let v = stdout_json(&kupala(&args, None));
        let by_account: std::collections::BTreeMap<String, String> = v["positions"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| (p["account"].to_string(), p["realized_pnl"].to_string()))
                    .collect()
            })
            .unwrap_or_default();
        by_account
    };
    let got = realized(&[]);
    // FR avg: (40 − 20) × 15 = 300. DE fifo: 10 × (40 − 20) + 5 × (40 − 10)
    // = 350. CRYPTO hifo: 10 × (40 − 30) + 5 × (40 − 20) = 200.
    assert_eq!(got.get("\"FR\"").map(String::as_str), Some("\"300\""));
    assert_eq!(got.get("\"DE\"").map(String::as_str), Some("\"350\""));
    assert_eq!(got.get("\"CRYPTO\"").map(String::as_str), Some("\"200\""));
    // The what-if: --method puts every account on one method. LIFO takes
    // 10 × (40 − 30) + 5 × (40 − 10) = 250 everywhere.
    let lifo = realized(&["--method", "lifo"]);
    assert!(lifo.values().all(|r| r == "\"250\""), "{lifo:?}");
    assert_eq!(lifo.len(), 3);
}

#[test]
fn zero_shards_is_refused() {
    let (_dir, path) = file(&sample());
    let o = kupala(&["calc", "--events", &path, "--shards", "0"], None);
    assert!(!o.status.success(), "--shards 0 accepted");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--shards must be at least 1"), "stderr: {stderr}");
}

#[test]
fn the_demo_file_runs_and_adds_up() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
    let one = kupala(&["calc", "--events", demo, "--shards", "1"], None);
    let three = kupala(&["calc", "--events", demo, "--shards", "3"], None);
    assert_eq!(one.stdout, three.stdout, "1 and 3 shards differ on the demo");
    let v = stdout_json(&one);
    let num = |x: &Value| x.as_str().map_or(0, |s| parse_raw(s).unwrap_or(i128::MAX));
    let Some(positions) = v["positions"].as_array() else {
        panic!("no positions")
    };
    assert!(positions.len() >= 5, "{v}");
    // net = realized + unrealized + income - fees, each rounded to 1e-9:
    // allow 4 units
    let adds_up = |o: &Value, sfx: &str| {
        let f = |n: &str| num(&o[format!("{n}{sfx}")]);
        (f("realized_pnl") + f("unrealized_pnl") + f("income") - f("fees") - f("net_pnl")).abs() <= 4
    };
    for p in positions {
        assert!(adds_up(p, ""), "{p}");
        assert!(p["unpriced"] == true || adds_up(p, "_base"), "{p}");
    }
    let Some(portfolios) = v["portfolios"].as_array() else {
        panic!("no portfolios")
    };
    assert!(
        !portfolios.is_empty() && portfolios.iter().all(|p| adds_up(p, "")),
        "{v}"
    );
}

#[test]
fn fx_rate_reaches_the_cli_output() {
    let text = [
        instrument("SAP", "EUR", "1"),
        fx("EUR/USD", "1.25"),
        trade("A", "SAP", "buy", "4", "10"),
    ]
    .join("\n");
    let (_dir, path) = file(&text);
    let v = stdout_json(&kupala(&["calc", "--events", &path], None));
    // 4 × 10 EUR = 40 EUR at 1.25 = 50 USD
    assert_eq!(field(&v, "positions", 0, "market_value"), "40");
    assert_eq!(field(&v, "positions", 0, "market_value_base"), "50");
    assert_eq!(field(&v, "portfolios", 0, "market_value"), "50");
}

#[test]
fn an_error_names_its_cause_once() {
    let (dir, path) = file("not a directory\n");
    let under = format!("{path}/store");
    let out = kupala(&["calc", "--events", &path, "--data", &under], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("Not a directory").count(),
        1,
        "one cause, once: {err}"
    );
    drop(dir);
}

#[test]
fn a_store_another_process_holds_is_refused_by_name() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let data = dir.path().join("store");
    let Ok(held) = kupala_engine::store::Store::open(&data) else {
        panic!("opening the store")
    };
    let (events, path) = file("");
    let out = kupala(
        &["calc", "--events", &path, "--data", &data.to_string_lossy()],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another kupala holds"), "{err}");
    assert!(err.contains(&*data.to_string_lossy()), "{err}");
    drop((held, events));
}

#[test]
fn logs_can_be_json_lines() {
    let (dir, path) = file("{\"type\":\"tick\"}\n");
    let out = kupala(
        &["--log-format", "json", "calc", "--events", &path, "--skip-bad"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["level"] == "WARN"
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("skipped 1 bad line(s)"))),
        "{err}"
    );
    let quiet = kupala(
        &["--log-level", "error", "calc", "--events", &path, "--skip-bad"],
        None,
    );
    assert!(
        String::from_utf8_lossy(&quiet.stderr).trim().is_empty(),
        "{quiet:?}"
    );
    drop(dir);
}

#[test]
fn analyze_warns_when_the_series_are_too_short_and_stdout_stays_json() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");
    let out = kupala(&["analyze", "--prices", demo], None);
    assert!(out.status.success(), "{out:?}");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON: {e}"));
    assert_eq!(report["leaderboard"].as_array().map(Vec::len), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARN") && err.contains("no model was compared"),
        "{err}"
    );
    assert!(
        err.contains("annualised figures") && err.contains("not meaningful"),
        "{err}"
    );
    assert!(err.contains("left out: AAPL"), "{err}");
    let long = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/data/sp500-daily-2000-2020.csv"
    );
    let quiet = kupala(&["analyze", "--prices", long], None);
    assert!(quiet.status.success(), "{quiet:?}");
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(
        !err.contains("not meaningful") && !err.contains("no model was compared"),
        "{err}"
    );
    // With --json FILE the report goes to the file, and stdout stays empty.
    let (dir, _) = file("");
    let path = dir.path().join("report.json");
    let to_file = kupala(
        &["analyze", "--prices", long, "--json", &path.to_string_lossy()],
        None,
    );
    assert!(to_file.status.success(), "{to_file:?}");
    assert!(
        to_file.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&to_file.stdout)
    );
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    let report: Value = serde_json::from_str(&written).unwrap_or_else(|e| panic!("not JSON: {e}"));
    assert!(report["best"].is_object(), "{report}");
    assert!(String::from_utf8_lossy(&to_file.stderr).contains("best: "));
}
