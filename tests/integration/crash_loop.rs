//! `kupala calc --data` under repeated SIGKILL with a snapshot every few
//! hundred events and small journal batches: a file of trades without ids
//! (so a line applied twice is not caught as a repeat) must end exactly as
//! an uninterrupted run, byte for byte. Guards the source cursor written
//! with each journal batch (it must point just past the batch's last
//! event, also when a full batch or a snapshot sends it mid-submit).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kupala");

/// Id-less trades and ticks of a few instruments over a few accounts.
fn idless_stream(n: usize, seed: u64) -> String {
    let mut x = seed;
    let mut rnd = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut out = String::new();
    for _ in 0..n {
        let inst = ["AAPL", "MSFT", "IBM"][usize::try_from(rnd(3)).unwrap_or(0)];
        let line = if rnd(3) == 0 {
            format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"{inst}","price":"{}.{:02}"}}"#,
                90 + rnd(20),
                rnd(100)
            )
        } else {
            format!(
                r#"{{"type":"trade","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"{inst}","side":"buy","qty":"1","price":"{}.{:02}"}}"#,
                rnd(3),
                90 + rnd(20),
                rnd(100)
            )
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn calc_args(file: &Path, data: &Path, config: &Path) -> Vec<String> {
    [
        "calc",
        "--events",
        &file.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--config",
        &config.to_string_lossy(),
        "--sync",
        "always",
        // Wait for durability every 20 lines: slow enough that the kills
        // land mid-file, and more cursor writes to get wrong.
        "--acks",
        "20",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn calc_data_under_sigkill_with_frequent_snapshots_ends_as_an_uninterrupted_run()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, idless_stream(60_000, 5))?;
    let config = dir.path().join("kupala.toml");
    std::fs::write(
        &config,
        "[engine]\nbatch_size = 7\nshards = 2\n[store]\nsnapshot_every_events = 300\nkeep_snapshots = 2\n",
    )?;
    let data = dir.path().join("store");
    let mut seed: u64 = 3;
    let mut killed = 0;
    for _ in 0..25 {
        let log = dir.path().join("calc.log");
        let mut child = Command::new(BIN)
            .args(calc_args(&file, &data, &config))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_millis(30 + (seed >> 33) % 150));
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log)?;
            assert!(status.success(), "calc --data failed after {killed} kills: {log}");
            break; // the file was done before the kill
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        killed += 1;
    }
    assert!(killed >= 3, "the child was killed mid-run {killed} times");
    let resumed = Command::new(BIN)
        .args(calc_args(&file, &data, &config))
        .output()?;
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let plain = Command::new(BIN)
        .args(["calc", "--events", &file.to_string_lossy()])
        .output()?;
    assert!(plain.status.success());
    let state: String = String::from_utf8_lossy(&resumed.stdout)
        .lines()
        .filter(|l| !l.starts_with("durable "))
        .flat_map(|l| [l, "\n"])
        .collect();
    assert_eq!(
        state,
        String::from_utf8_lossy(&plain.stdout),
        "after {killed} SIGKILLs the store holds every line exactly once"
    );
    Ok(())
}
