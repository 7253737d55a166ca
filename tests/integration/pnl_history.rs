//! The P&L history end to end on the built binary: `calc --data` records
//! it in event time (docs/pnl.md, "P&L history"), `kupala history` reads
//! an account's, a book's and the firm's series, and a run resumed on the
//! same store records what one uninterrupted run records.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const FIRST: &str = r#"{"type":"trade","id":"h1","ts":"2026-12-01T10:00:00.2Z","account":"A1","instrument":"XYZ","side":"buy","qty":"10","price":"100"}
{"type":"tick","ts":"2026-12-01T10:00:00.7Z","instrument":"XYZ","price":"101"}
{"type":"tick","ts":"2026-12-01T10:00:01.1Z","instrument":"XYZ","price":"103"}
{"type":"tick","ts":"2026-12-01T10:00:00.9Z","instrument":"XYZ","price":"102"}
{"type":"trade","id":"h2","ts":"2026-12-01T10:00:01.5Z","account":"A1","instrument":"XYZ","side":"buy","qty":"5","price":"102","strategy":"s1"}
{"type":"tick","ts":"2026-12-01T10:00:03.5Z","instrument":"XYZ","price":"99"}
"#;
const LATER: &str = r#"{"type":"tick","ts":"2026-12-01T10:00:05Z","instrument":"XYZ","price":"105"}
"#;

fn kupala(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kupala"))
        .args(args)
        .env_remove("KUPALA_CONFIG")
        .output();
    let Ok(out) = out else {
        panic!("cannot start kupala")
    };
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn calc(events: &Path, store: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_kupala"))
        .args([
            "calc",
            "--events",
            &events.to_string_lossy(),
            "--data",
            &store.to_string_lossy(),
        ])
        .env_remove("KUPALA_CONFIG")
        .output();
    assert!(out.is_ok_and(|o| o.status.success()), "calc --data");
}

/// (time of day, net P&L, day P&L) of a series.
fn points(store: &Path, which: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["history", "--data"];
    let dir = store.to_string_lossy().into_owned();
    args.push(&dir);
    args.extend_from_slice(which);
    let v = kupala(&args);
    v["points"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let ts = p["ts"].as_str().unwrap_or_default();
                    let time = ts.split('T').nth(1).unwrap_or_default().trim_end_matches('Z');
                    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    (time.to_owned(), s("net_pnl"), s("day_pnl"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn p(time: &str, net: &str) -> (String, String, String) {
    (time.to_owned(), net.to_owned(), net.to_owned())
}

#[test]
fn history_is_recorded_in_event_time_and_a_resumed_run_records_the_same() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let events = dir.path().join("events.jsonl");
    let (resumed, whole) = (dir.path().join("resumed"), dir.path().join("whole"));
    assert!(std::fs::write(&events, FIRST).is_ok());
    calc(&events, &resumed);
    // Before the tick at 01.1: 10 × (101 − 100); before the tick at 03.5:
    // the late tick at 102 is in, and s1's 5 bought at 102 are flat.
    assert_eq!(
        points(&resumed, &["--account", "A1"]),
        vec![p("10:00:01", "10"), p("10:00:02", "20")]
    );
    // The file grows; the next run resumes where the first stopped.
    assert!(std::fs::write(&events, format!("{FIRST}{LATER}")).is_ok());
    calc(&events, &resumed);
    calc(&events, &whole);
    // Before the tick at 05: default book 10 × (99 − 100), s1 5 × (99 − 102).
    let account = vec![p("10:00:01", "10"), p("10:00:02", "20"), p("10:00:04", "-25")];
    assert_eq!(points(&resumed, &["--account", "A1"]), account);
    assert_eq!(points(&resumed, &[]), account, "the firm (USD) is A1");
    assert_eq!(
        points(&resumed, &["--account", "A1", "--default-book"]),
        vec![p("10:00:01", "10"), p("10:00:02", "20"), p("10:00:04", "-10")]
    );
    assert_eq!(
        points(&resumed, &["--account", "A1", "--strategy", "s1"]),
        vec![p("10:00:02", "0"), p("10:00:04", "-15")]
    );
    assert_eq!(
        points(&resumed, &["--account", "A1", "--from", "2026-12-01T10:00:01.5Z"]),
        account[1..].to_vec()
    );
    for which in [
        &["--account", "A1"][..],
        &[],
        &["--account", "A1", "--strategy", "s1"],
    ] {
        assert_eq!(points(&resumed, which), points(&whole, which), "{which:?}");
    }
}
