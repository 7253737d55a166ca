//! `kupala convert` end to end: real and hand-written CSV files through the
//! built binary, piped into `kupala calc`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn kupala(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kupala"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running kupala: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing stdin: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for kupala: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file of `testdata/data`; panics (the test fails) when it is missing.
fn data_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/data")
        .join(name);
    assert!(
        path.is_file(),
        "test data missing: {} (see testdata/README.md)",
        path.display()
    );
    path.display().to_string()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

#[test]
fn usdjpy_quotes_convert_and_pipe_into_calc() {
    let path = data_file("usdjpy-ticks-2013.csv");
    let conv = kupala(
        &["convert", "--format", "quotes", "--instrument", "USDJPY", &path],
        None,
    );
    assert!(conv.status.success(), "{}", text(&conv.stderr));
    let ticks = text(&conv.stdout);
    assert_eq!(ticks.lines().count(), 1000);
    let trade = r#"{"type":"trade","ts":"2013-01-01T21:59:00Z","account":"A1","instrument":"USDJPY","side":"buy","qty":"1000","price":"86.70"}"#;
    let calc = kupala(&["calc", "--events", "-"], Some(&format!("{trade}\n{ticks}")));
    assert!(calc.status.success(), "{}", text(&calc.stderr));
    let v = json(&calc);
    // last quote 86.836 / 86.854: mid 86.845; (86.845 - 86.70) x 1000 = 145
    assert_eq!(v["positions"][0]["mark"], "86.845");
    assert_eq!(v["positions"][0]["unrealized_pnl"], "145");
}

#[test]
fn a_trade_blotter_converts_to_trades_calc_accepts() {
    let blotter = "Account,Instrument,Side,Qty,Price,Fee,TS\n\
                   A1,AAPL,buy,100,189.50,1.00,2026-11-30T14:30:00Z\n\
                   A1,AAPL,sell,40,190.50,,2026-11-30T15:00:00Z\n";
    let conv = kupala(&["convert", "--format", "trades", "-"], Some(blotter));
    assert!(conv.status.success(), "{}", text(&conv.stderr));
    let calc = kupala(&["calc", "--events", "-"], Some(&text(&conv.stdout)));
    let v = json(&calc);
    assert_eq!(v["positions"][0]["qty"], "60");
    assert_eq!(v["positions"][0]["realized_pnl"], "40");
    assert_eq!(v["positions"][0]["fees"], "1");
}

#[test]
fn a_bad_row_fails_with_its_line_unless_skipped() {
    let input = "ts,instrument,price\n2026-11-30,X,1\n2026-11-30,X,1e3\n2026-11-30,X,2\n";
    let stop = kupala(&["convert", "--format", "ticks", "-"], Some(input));
    assert!(!stop.status.success());
    assert!(
        text(&stop.stderr).contains("line 3: price: \"1e3\" uses an exponent"),
        "{}",
        text(&stop.stderr)
    );
    let skip = kupala(&["convert", "--format", "ticks", "--skip-bad", "-"], Some(input));
    assert!(skip.status.success());
    assert_eq!(text(&skip.stdout).lines().count(), 2);
    let err = text(&skip.stderr);
    assert!(
        err.contains("skipped line 3: ") && err.contains("skipped 1 bad row(s)"),
        "{err}"
    );
}

#[test]
fn headerless_quotes_are_recognised_with_or_without_the_flag() {
    let row = "20200101 170000065,1.121200,1.121720,0\n";
    let tick = "{\"type\":\"tick\",\"ts\":\"2020-01-01T17:00:00.065Z\",\"instrument\":\"EURUSD\",\"price\":\"1.12146\"}\n";
    let sniffed = kupala(
        &["convert", "--format", "quotes", "--instrument", "EURUSD", "-"],
        Some(row),
    );
    assert!(sniffed.status.success(), "{}", text(&sniffed.stderr));
    assert_eq!(text(&sniffed.stdout), tick, "a first row of numbers is data");
    // A header naming no timestamp column still says how to read a bare file.
    let unnamed = kupala(
        &["convert", "--format", "quotes", "--instrument", "EURUSD", "-"],
        Some("when,bid,ask\n"),
    );
    assert!(!unnamed.status.success());
    assert!(text(&unnamed.stderr).contains("--no-header"));
    let with = kupala(
        &[
            "convert",
            "--format",
            "quotes",
            "--no-header",
            "--instrument",
            "EURUSD",
            "-",
        ],
        Some(row),
    );
    assert_eq!(text(&with.stdout), tick);
    let help = kupala(&["convert", "--help"], None);
    assert!(text(&help.stdout).contains("--no-header"));
}
