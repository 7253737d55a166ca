//! The store end to end: `calc --data` then `replay` print the same bytes; a
//! child ingesting a file is killed with SIGKILL at 20 random moments and
//! every restart recovers exactly a prefix that holds everything it had
//! acknowledged as durable.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::view::StateView;
use kupala_engine::{NullSink, PipelineConfig};
use kupala_feeds::JsonlSource;

const BIN: &str = env!("CARGO_BIN_EXE_kupala");

/// A valid stream where every line is accepted (unique trade ids), so the
/// n-th line gets seq n.
fn stream(n: usize, seed: u64) -> String {
    let mut x = seed;
    let mut rnd = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut out = String::from(
        "{\"type\":\"instrument\",\"id\":\"SAP\",\"currency\":\"EUR\",\"multiplier\":\"1\"}\n\
         {\"type\":\"fx\",\"ts\":\"2026-12-01T09:00:00Z\",\"pair\":\"EUR/USD\",\"rate\":\"1.08\"}\n",
    );
    for i in 2..n {
        let inst = ["AAPL", "MSFT", "SAP", "ES", "IBM"][usize::try_from(rnd(5)).unwrap_or(0)];
        let line = match rnd(40) {
            0..=13 => format!(
                r#"{{"type":"trade","id":"t{i}","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"{inst}","side":"{}","qty":"{}","price":"{}.{:02}","fee":"0.5"}}"#,
                rnd(4),
                ["buy", "sell"][usize::try_from(rnd(2)).unwrap_or(0)],
                1 + rnd(40),
                90 + rnd(20),
                rnd(100)
            ),
            14..=36 => format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"{inst}","price":"{}.{:02}"}}"#,
                90 + rnd(20),
                rnd(100)
            ),
            37 | 38 => format!(
                r#"{{"type":"fx","ts":"2026-12-01T10:00:02Z","pair":"EUR/USD","rate":"1.{:03}"}}"#,
                50 + rnd(100)
            ),
            _ => format!(r#"{{"type":"eod","date":"2026-12-{:02}"}}"#, 1 + (i / 1000) % 28),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn calc_prefix(text: &str, lines: usize) -> Result<StateView, Box<dyn std::error::Error>> {
    let prefix: String = text.lines().take(lines).flat_map(|l| [l, "\n"]).collect();
    let config = PipelineConfig {
        shards: 2,
        emit_positions: false,
        ..PipelineConfig::default()
    };
    Ok(kupala::calc::run(JsonlSource::new(prefix.as_bytes()), config, false)?.view)
}

fn recover(dir: &Path) -> Result<(StateView, u64), Box<dyn std::error::Error>> {
    let config = StoreConfig {
        sync: SyncMode::Always,
        ..StoreConfig::default()
    };
    let pipeline = PipelineConfig {
        shards: 3,
        emit_positions: false,
        ..PipelineConfig::default()
    };
    let (mut engine, recovery) = Engine::open(dir, pipeline, config, Box::new(NullSink))?;
    let names = engine.pipeline().names().clone();
    let state = engine.finish();
    Ok((StateView::new(&state, &names), recovery.last_seq))
}

#[test]
fn calc_with_data_and_replay_print_the_same_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, stream(3000, 7))?;
    let data = dir.path().join("store");
    let run = |args: &[&str]| Command::new(BIN).args(args).output();
    let (f, d) = (
        file.to_string_lossy().to_string(),
        data.to_string_lossy().to_string(),
    );
    let calc = run(&["calc", "--events", &f, "--data", &d, "--method", "fifo"])?;
    assert!(calc.status.success(), "{}", String::from_utf8_lossy(&calc.stderr));
    let replay = run(&["replay", "--data", &d, "--method", "fifo"])?;
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(calc.stdout, replay.stdout, "byte for byte");
    let plain = run(&["calc", "--events", &f, "--method", "fifo"])?;
    assert_eq!(plain.stdout, calc.stdout, "persisting changes nothing");
    let what_if = run(&["replay", "--data", &d, "--method", "lifo"])?;
    assert_ne!(what_if.stdout, calc.stdout, "another method is another result");
    let inspect = run(&["inspect", "--data", &d])?;
    let summary: serde_json::Value = serde_json::from_slice(&inspect.stdout)?;
    assert_eq!(summary["events"], 3000);
    assert_eq!(summary["seq_range"], serde_json::json!([1, 3000]));
    assert!(
        summary["eod_dates"].as_array().is_some_and(|d| d.len() == 3),
        "{summary}"
    );
    let eod = run(&["eod", "--data", &d, "--date", "2026-12-02"])?;
    let day: serde_json::Value = serde_json::from_slice(&eod.stdout)?;
    assert!(
        day["positions"].as_array().is_some_and(|p| !p.is_empty()),
        "{day}"
    );
    let missing = run(&["eod", "--data", &d, "--date", "2020-01-01"])?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no EOD recorded for 2020-01-01"));
    Ok(())
}

#[test]
fn sigkill_at_20_random_moments_loses_nothing_acknowledged() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let total = 40_000;
    let text = stream(total, 11);
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &text)?;
    let data = dir.path().join("store");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["calc", "--events"].iter().map(|s| (*s).to_owned()).collect();
        a.push(file.to_string_lossy().into());
        a.extend([
            "--data".to_owned(),
            data.to_string_lossy().into(),
            "--sync".into(),
            "always".into(),
        ]);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let mut seed: u64 = 99;
    let mut acked_max = 0u64;
    for round in 0..20 {
        let mut child = Command::new(BIN)
            .args(args(&["--acks", "7"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            let mut acked = 0u64;
            if let Some(out) = stdout {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(seq) = line.strip_prefix("durable ").and_then(|r| r.split(' ').next()) {
                        acked = acked.max(seq.parse().unwrap_or(0));
                        let _ = tx.send(acked);
                    }
                }
            }
            acked
        });
        // Kill at a random moment once ingest is under way (the first ack).
        let _ = rx.recv_timeout(Duration::from_secs(30));
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_millis((seed >> 33) % 120));
        child.kill()?; // SIGKILL
        child.wait()?;
        let acked = reader.join().unwrap_or(0);
        acked_max = acked_max.max(acked);
        let (state, recovered) = recover(&data)?;
        eprintln!("round {round}: acknowledged {acked}, recovered {recovered}");
        assert!(
            recovered >= acked_max,
            "round {round}: recovered {recovered} < acknowledged {acked_max}"
        );
        let expected = calc_prefix(&text, usize::try_from(recovered)?)?;
        assert_eq!(state, expected, "round {round}: state after {recovered} events");
    }
    assert!(acked_max > 0, "the child acknowledged something");
    let done = Command::new(BIN)
        .args(args(&[]))
        .stdout(Stdio::piped())
        .output()?;
    assert!(done.status.success());
    let (state, recovered) = recover(&data)?;
    assert_eq!(recovered, total as u64);
    assert_eq!(state, calc_prefix(&text, total)?);
    Ok(())
}
