//! Reading a store over the real binary (issue 11, defect 9): `inspect`
//! changes no file of the store, and a snapshot that cannot be read (a
//! flipped byte in its table) is skipped with a warning on stderr at every
//! start, never silently.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kupala_engine::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_kupala");

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A stream of trades and ticks with an EOD every 400 lines.
fn stream(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let inst = ["AAPL", "MSFT", "IBM"][i % 3];
        let line = match i % 400 {
            399 => format!(r#"{{"type":"eod","date":"2026-12-{:02}"}}"#, 1 + i / 400),
            k if k % 3 == 0 => format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"{inst}","price":"{}.25"}}"#,
                90 + i % 17
            ),
            _ => format!(
                r#"{{"type":"trade","id":"t{i}","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"{inst}","side":"{}","qty":"{}","price":"{}.50"}}"#,
                i % 4,
                ["buy", "sell"][i % 2],
                1 + i % 5,
                90 + i % 13
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A store in `dir/store` fed `lines` events by `calc --data`, with a
/// snapshot every 500 events; the files and calc's output.
struct Fixture {
    _dir: tempfile::TempDir,
    events: PathBuf,
    data: PathBuf,
    config: PathBuf,
    calc: Output,
}

fn fixture(lines: usize) -> Res<Fixture> {
    let dir = tempfile::tempdir()?;
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, stream(lines))?;
    let config = dir.path().join("kupala.toml");
    std::fs::write(
        &config,
        "[store]\nsnapshot_every_events = 500\nkeep_snapshots = 5\n[eod]\nenabled = false\n",
    )?;
    let data = dir.path().join("store");
    let calc = kupala(
        &config,
        [
            os("calc"),
            os("--events"),
            events.as_os_str(),
            os("--data"),
            data.as_os_str(),
        ],
    )?;
    assert!(calc.status.success(), "{}", String::from_utf8_lossy(&calc.stderr));
    Ok(Fixture {
        _dir: dir,
        events,
        data,
        config,
        calc,
    })
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The binary with `args` and `--config config`.
fn kupala<'a>(config: &Path, args: impl IntoIterator<Item = &'a OsStr>) -> Res<Output> {
    Ok(Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("KUPALA_CONFIG")
        .output()?)
}

/// A file's size, modification time and contents (a directory's: 0, its
/// time, nothing).
type Stamp = (u64, SystemTime, Vec<u8>);

/// Every file and directory under `dir`, by relative path.
fn tree(dir: &Path) -> Res<BTreeMap<PathBuf, Stamp>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let rel = entry.path().strip_prefix(dir)?.to_path_buf();
            if meta.is_dir() {
                todo.push(entry.path());
                out.insert(rel, (0, meta.modified()?, Vec::new()));
            } else {
                out.insert(rel, (meta.len(), meta.modified()?, std::fs::read(entry.path())?));
            }
        }
    }
    Ok(out)
}

#[test]
fn inspect_changes_no_file_of_the_store() -> Res<()> {
    let f = fixture(3000)?;
    let tmp = tempfile::tempdir()?;
    let before = tree(&f.data)?;
    assert!(before.keys().any(|p| p.ends_with("0.jnl")), "{:?}", before.keys());
    let inspect = || {
        Command::new(BIN)
            .args(["inspect", "--data"])
            .arg(&f.data)
            .env("TMPDIR", tmp.path())
            .output()
    };
    for _ in 0..2 {
        let out = inspect()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(summary["events"], 3000, "{summary}");
        assert_eq!(summary["seq_range"], serde_json::json!([1, 3000]));
        assert_eq!(
            summary["eod_dates"].as_array().map(Vec::len),
            Some(7),
            "{summary}"
        );
        assert!(
            summary["snapshots"].as_array().is_some_and(|s| s.len() >= 5),
            "{summary}"
        );
        let after = tree(&f.data)?;
        let changed: Vec<_> = before
            .iter()
            .filter(|(p, v)| after.get(*p) != Some(v))
            .map(|(p, _)| p)
            .chain(after.keys().filter(|p| !before.contains_key(*p)))
            .collect();
        assert!(changed.is_empty(), "inspect changed {changed:?}");
        let disk: u64 = before.values().map(|v| v.0).sum();
        assert_eq!(
            summary["bytes_on_disk"], disk,
            "the original's size, not the copy's"
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())?.collect();
    assert!(left.is_empty(), "the private copy is removed: {left:?}");
    let none = Command::new(BIN)
        .args(["inspect", "--data"])
        .arg(tmp.path().join("absent"))
        .output()?;
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("holds no kupala store"));
    assert!(!tmp.path().join("absent").exists(), "nothing created");
    Ok(())
}

/// Flushes the snapshots into a table and flips one byte in its middle
/// (once: a second flip of the same byte would repair it).
fn damage_snapshots(data: &Path) -> Res<()> {
    let tables = Store::open(data)?.flush_snapshots_to_table()?;
    let table = std::fs::read_dir(&tables)?
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .ok_or("no snapshot table")?;
    let mut bytes = std::fs::read(&table)?;
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&table, bytes)?;
    Ok(())
}

/// `kupala serve` on `data` until it listens (or exits): its stderr so far.
fn serve_log(data: &Path, config: &Path) -> Res<String> {
    let mut child: Child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--demo", "off", "--data"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env_remove("KUPALA_LISTEN")
        .env_remove("KUPALA_DATA")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Some(err) = child.stderr.take() {
        let mut lines = BufReader::new(err);
        let mut line = String::new();
        while Instant::now() < deadline && lines.read_line(&mut line)? > 0 {
            log.push_str(&line);
            if line.contains("listening on") {
                break;
            }
            line.clear();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = lines.read_to_string(&mut log);
    }
    let status = child.wait()?;
    assert!(status.success(), "serve exited {status}:\n{log}");
    Ok(log)
}

#[test]
fn an_unreadable_snapshot_is_skipped_with_a_warning_at_every_start() -> Res<()> {
    let f = fixture(3000)?;
    damage_snapshots(&f.data)?;
    let warned = |stderr: &str| {
        stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("snapshot") && l.contains("unreadable"))
    };
    // calc --data: recovers (from the journal), warns, and, every line
    // already in the store, prints the same state as the first run.
    let calc = kupala(
        &f.config,
        [
            os("calc"),
            os("--events"),
            f.events.as_os_str(),
            os("--data"),
            f.data.as_os_str(),
        ],
    )?;
    let stderr = String::from_utf8_lossy(&calc.stderr);
    assert!(calc.status.success(), "{stderr}");
    assert!(warned(&stderr), "calc --data: {stderr}");
    assert_eq!(calc.stdout, f.calc.stdout, "the journal rebuilt the same state");

    // The damaged table stays (nothing new to snapshot): serve warns too.
    let log = serve_log(&f.data, &f.config)?;
    assert!(
        log.lines()
            .any(|l| l.contains("snapshot") && l.contains("unreadable")),
        "serve: {log}"
    );

    // replay never reads snapshots: the damage changes nothing for it.
    let replay = kupala(&f.config, [os("replay"), os("--data"), f.data.as_os_str()])?;
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(replay.stdout, f.calc.stdout);
    Ok(())
}
