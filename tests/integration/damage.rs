//! A store whose LSM write-ahead log lost a flipped byte: the LSM's own
//! recovery cuts its log at the damage without a word, so kupala must know
//! from its acknowledged high-water mark (`DIR/ACKED`) that acknowledged
//! events are gone, and refuse — `replay`, `calc --data` and `serve` — until
//! `accept-loss` records the loss; `inspect` reports it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kupala");
const EVENTS: usize = 30_000;

/// Trades with unique ids and ticks: line n gets seq n.
fn stream() -> String {
    let mut out = String::new();
    for i in 0..EVENTS {
        let line = if i % 3 == 0 {
            format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"I{}","price":"{}.5"}}"#,
                i % 7,
                100 + i % 13
            )
        } else {
            format!(
                r#"{{"type":"trade","id":"t{i}","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"I{}","side":"buy","qty":"1","price":"{}.25"}}"#,
                i % 5,
                i % 7,
                100 + i % 11
            )
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn run(args: &[&str]) -> std::io::Result<Output> {
    Command::new(BIN).args(args).output()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The LSM's write-ahead log files (`*.jnl`) of a store.
fn wal_files(store: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(store.join("db"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Where to flip a byte of the log: at a fraction of its used length, or
/// on the first byte of the first write batch that starts after that
/// fraction (the LSM log's batch start marker: tag 1, a little-endian item
/// count below 256, the seqno, then an item, tag 2, at +13).
#[derive(Clone, Copy, Debug)]
enum FlipAt {
    Percent(usize),
    BatchStart(usize),
}

/// Flips one byte of the written part of the largest log file (the files
/// are preallocated: the written part ends at the last non-zero byte).
fn flip(store: &Path, at: FlipAt) -> Result<(), Box<dyn std::error::Error>> {
    let wal = wal_files(store)?
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .ok_or("no .jnl file in the store")?;
    let mut bytes = std::fs::read(&wal)?;
    let used = bytes.iter().rposition(|&b| b != 0).ok_or("empty log")? + 1;
    let at = match at {
        FlipAt::Percent(p) => used * p / 100,
        FlipAt::BatchStart(p) => (used * p / 100..used.saturating_sub(14))
            .find(|&i| bytes[i] == 1 && bytes[i + 2..i + 5] == [0, 0, 0] && bytes[i + 13] == 2)
            .ok_or("no batch start marker in the log")?,
    };
    bytes[at] ^= 0x5a;
    std::fs::write(&wal, bytes)?;
    Ok(())
}

/// `kupala serve` on `data` must exit by itself (refusing the store) with
/// the loss in its message; a server that starts is killed and fails.
fn serve_refuses(data: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            &data.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "off",
        ])
        .env("KUPALA_EOD__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err("serve started on a store that lost acknowledged events".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    assert!(!out.status.success(), "serve must exit non-zero");
    Ok(text(&out))
}

/// The store in `data` lost acknowledged events up to `acked`: `inspect`
/// reports it, `calc --data` and `serve` refuse, `accept-loss` records it,
/// and then the store holds exactly the recovered prefix of `events`.
fn lost_flow(
    data: &Path,
    file: &str,
    events: &str,
    acked: u64,
    prefix: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let d = data.to_string_lossy().to_string();
    let inspect: Value = serde_json::from_slice(&run(&["inspect", "--data", &d])?.stdout)?;
    assert_eq!(inspect["acknowledged_seq"], acked, "{inspect}");
    let recovered = inspect["seq_range"][1].as_u64().ok_or("no journal end")?;
    assert!(recovered < acked, "{inspect}");
    assert_eq!(inspect["lost_acknowledged"]["first"], recovered + 1, "{inspect}");
    assert_eq!(inspect["lost_acknowledged"]["last"], acked, "{inspect}");

    let again = run(&["calc", "--events", file, "--data", &d])?;
    assert!(!again.status.success(), "calc --data must refuse");
    assert!(
        text(&again).contains("lost acknowledged events"),
        "{}",
        text(&again)
    );
    let served = serve_refuses(data)?;
    assert!(served.contains("lost acknowledged events"), "{served}");
    assert!(
        served.contains(&format!("events {} to {acked} are missing", recovered + 1)),
        "{served}"
    );

    let accepted = run(&["accept-loss", "--data", &d])?;
    assert!(accepted.status.success(), "{}", text(&accepted));
    let report: Value = serde_json::from_slice(&accepted.stdout)?;
    assert_eq!(report["recovered_seq"], recovered, "{report}");
    assert_eq!(report["lost"]["first"], recovered + 1, "{report}");
    assert_eq!(report["lost"]["last"], acked, "{report}");
    let after = run(&["replay", "--data", &d])?;
    assert!(after.status.success(), "after accept-loss: {}", text(&after));
    let lines: String = events
        .lines()
        .take(usize::try_from(recovered)?)
        .flat_map(|l| [l, "\n"])
        .collect();
    std::fs::write(prefix, lines)?;
    let expected = run(&["calc", "--events", &prefix.to_string_lossy()])?;
    assert_eq!(
        after.stdout, expected.stdout,
        "the accepted store holds exactly the first {recovered} events"
    );
    Ok(())
}

#[test]
fn a_flipped_log_byte_that_loses_acknowledged_events_stops_every_command_until_accepted()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.jsonl");
    let events = stream();
    std::fs::write(&file, &events)?;
    let clean = dir.path().join("clean");
    let (f, c) = (
        file.to_string_lossy().to_string(),
        clean.to_string_lossy().to_string(),
    );
    let calc = run(&[
        "calc", "--events", &f, "--data", &c, "--sync", "always", "--acks", "1000",
    ])?;
    assert!(calc.status.success(), "{}", text(&calc));
    let acked: u64 = String::from_utf8_lossy(&calc.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("durable ")?.split(' ').next()?.parse().ok())
        .max()
        .ok_or("no durable line")?;
    assert_eq!(acked, EVENTS as u64);
    let full = run(&["replay", "--data", &c])?;
    assert!(full.status.success(), "{}", text(&full));

    // A flipped byte inside an LSM log entry's value fails the LSM's
    // checksum (it refuses to open: every command must say so); one in an
    // entry's framing makes the LSM cut its log there without a word: the
    // case kupala must catch itself. Offsets are tried until both are seen.
    // Most bytes are values (refused); the framing bytes that make the LSM
    // cut are few, so after the spread of fractions the start markers of
    // batches past the middle are flipped.
    let (mut losses, mut refusals) = (0, 0);
    let spread = [
        25, 50, 75, 10, 20, 30, 40, 60, 70, 80, 90, 5, 15, 35, 45, 55, 65, 85, 95,
    ]
    .map(FlipAt::Percent);
    for (n, at) in spread
        .into_iter()
        .chain([50, 75, 90].map(FlipAt::BatchStart))
        .enumerate()
    {
        if (losses >= 2 && refusals >= 1) || (losses >= 1 && refusals >= 1 && n >= spread.len()) {
            break;
        }
        let percent = format!("{at:?}");
        let data = dir.path().join(format!("flip{n}"));
        copy_dir(&clean, &data)?;
        flip(&data, at)?;
        let d = data.to_string_lossy().to_string();
        let replay = run(&["replay", "--data", &d])?;
        if replay.status.success() {
            // The byte fell where nothing acknowledged depends on it (an
            // entry the LSM had already flushed to a table): no loss, and
            // the replay must then be complete.
            assert_eq!(
                replay.stdout, full.stdout,
                "flip at {percent}: replay exits 0 only when whole"
            );
            continue;
        }
        let why = text(&replay);
        if why.contains("write-ahead log") {
            refusals += 1;
            assert!(
                why.contains("is damaged") && why.contains(&format!("up to seq {acked} were acknowledged")),
                "{percent}: {why}"
            );
            let inspect = run(&["inspect", "--data", &d])?;
            assert!(
                !inspect.status.success() && text(&inspect).contains("is damaged"),
                "{}",
                text(&inspect)
            );
            continue;
        }
        losses += 1;
        assert!(
            why.contains(&format!("seq {acked} was acknowledged")),
            "{percent}: {why}"
        );
        lost_flow(
            &data,
            &f,
            &events,
            acked,
            &dir.path().join(format!("prefix{n}.jsonl")),
        )?;
    }
    eprintln!("flipped bytes: {losses} cut the log, {refusals} refused by the LSM");
    assert!(
        losses >= 1,
        "no flipped byte made the LSM cut its log (refused {refusals} times)"
    );
    Ok(())
}
