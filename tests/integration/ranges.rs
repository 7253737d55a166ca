//! Totals that cannot wrap (issue 11, defect 2), over the real binary: an
//! event whose effects could leave the representable range is refused with
//! its line number before it is applied, and the rest adds up exactly.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::trade;

fn calc(text: &str, extra: &[&str]) -> Output {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("no temp dir")
    };
    let path = dir.path().join("events.jsonl");
    assert!(std::fs::write(&path, text).is_ok());
    let path = path.to_string_lossy().into_owned();
    let mut args = vec!["calc", "--events", path.as_str()];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_kupala"))
        .args(&args)
        .env_remove("KUPALA_CONFIG")
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run kupala: {e}"),
    }
}

/// Three long positions of 3 × 10^9 units at 5 × 10^9 (1.5 × 10^19 each):
/// the third would take the firm-wide bound past ≈ 4.25 × 10^19.
fn three() -> String {
    ["X1", "X2", "X3"]
        .iter()
        .map(|i| trade("A", i, "buy", "3000000000", "5000000000"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_trade_that_could_wrap_totals_stops_calc_with_its_line() {
    let o = calc(&three(), &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(r#"line 3: trade of account "A" in "X3" refused"#)
            && stderr.contains("beyond the limit of ±42535295865117307932.921825928 units"),
        "stderr: {stderr}"
    );
    assert!(o.stdout.is_empty(), "printed a state after a failure");
}

#[test]
fn with_skip_bad_the_totals_of_the_rest_are_exact() {
    let o = calc(&three(), &["--skip-bad"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("line 3: trade"), "stderr: {stderr}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let p = &v["portfolios"][0];
    assert_eq!(p["market_value"], "30000000000000000000", "{v}");
    assert_eq!(p["unrealized_pnl"], "0", "{v}");
    assert_eq!(v["positions"].as_array().map(Vec::len), Some(2), "{v}");
}

#[test]
fn the_issue_example_is_refused_not_wrapped() {
    // 9 × 10^9 at 9 × 10^9 is 8.1 × 10^19 per position: already beyond the
    // bound, so the first is refused; before, the third wrapped the total.
    let text = ["X1", "X2", "X3"]
        .iter()
        .map(|i| trade("A", i, "buy", "9000000000", "9000000000"))
        .collect::<Vec<_>>()
        .join("\n");
    let o = calc(&text, &["--skip-bad"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stderr: {stderr}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let mv = v["portfolios"][0]["market_value"]
        .as_str()
        .unwrap_or("0")
        .to_owned();
    assert!(!mv.starts_with('-'), "wrapped: {v}");
    assert!(
        stderr.contains("line 1: ") && stderr.contains("line 3: "),
        "{stderr}"
    );
}
