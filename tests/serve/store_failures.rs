//! `kupala serve` when the store is cut short: a submit is all or nothing
//! across a SIGKILL even when small journal batches and frequent snapshots
//! fall inside it, and a full disk (a real, small tmpfs) makes the server
//! refuse writes, say why on `/health` and `/health/ready` (while
//! `/health/live` stays 200), answer only what it can guarantee
//! and exit non-zero, losing no acknowledged event.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};

use crate::support::{self, Client, trade};

const INSTRUMENTS: [&str; 7] = ["I0", "I1", "I2", "I3", "I4", "I5", "I6"];

/// A submit of one trade per instrument, all for the account `account`.
fn seven_trades(account: &str) -> Vec<Value> {
    INSTRUMENTS
        .iter()
        .map(|i| trade(&format!("{account}-{i}"), account, i, "buy", "1", "10"))
        .collect()
}

/// Number of positions per account in the server's state.
async fn positions_by_account(c: &mut Client) -> Result<BTreeMap<String, usize>> {
    let r = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    let mut by = BTreeMap::new();
    for p in r["data"].as_array().context("positions")? {
        if p["qty"] != "0" {
            *by.entry(p["account"].as_str().context("account")?.to_owned())
                .or_insert(0) += 1;
        }
    }
    Ok(by)
}

/// One client submitting seven-trade batches until its connection dies:
/// the accounts whose submit was acknowledged.
async fn submit_until_gone(addr: std::net::SocketAddr, prefix: String) -> Vec<String> {
    let mut acked = Vec::new();
    let Ok(mut c) = Client::connect(addr).await else {
        return acked;
    };
    for k in 0.. {
        let account = format!("{prefix}N{k}");
        match c
            .request(json!({"op":"submit","events":seven_trades(&account)}))
            .await
        {
            Ok(r) if r["type"] == "ack" => acked.push(account),
            _ => break,
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_is_whole_or_absent_after_sigkill_with_snapshots_inside_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("store");
    // Journal batches of 5 events and a snapshot every 400: without care,
    // a 7-event submit is written in two journal appends.
    let config = "[engine]\nbatch_size = 5\n[store]\nsnapshot_every_events = 400\n\
                  [server]\nmax_msgs_per_sec = 100000\n";
    let mut acked = Vec::new();
    let mut seed = 17u64;
    for round in 0..8 {
        let mut child = support::Child::spawn_with(&data, config)?;
        let mut setup = Client::connect(child.addr).await?;
        let defs: Vec<Value> = INSTRUMENTS
            .iter()
            .map(|i| json!({"type":"instrument","id":i,"currency":"USD","multiplier":"1"}))
            .collect();
        setup.submit(defs).await?;
        let clients: Vec<_> = (0..3)
            .map(|c| tokio::spawn(submit_until_gone(child.addr, format!("R{round}C{c}"))))
            .collect();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(300 + (seed >> 33) % 500)).await;
        child.kill9()?;
        for c in clients {
            acked.extend(c.await?);
        }
    }
    ensure!(acked.len() > 50, "only {} submits were acknowledged", acked.len());
    let child = support::Child::spawn_with(&data, config)?;
    let mut c = Client::connect(child.addr).await?;
    let present = positions_by_account(&mut c).await?;
    let partial: Vec<_> = present.iter().filter(|&(_, &n)| n != INSTRUMENTS.len()).collect();
    ensure!(
        partial.is_empty(),
        "submits applied in part after a crash: {partial:?}"
    );
    let missing: Vec<_> = acked.iter().filter(|a| !present.contains_key(*a)).collect();
    ensure!(missing.is_empty(), "acknowledged submits lost: {missing:?}");
    Ok(())
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Self> {
        std::fs::create_dir_all(at)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()?;
        if !out.status.success() {
            bail!(
                "mounting a tmpfs failed (this test needs root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Self(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem holding `dir` until a write fails for lack of space.
fn fill(dir: &Path) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(dir.join("filler"))?;
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_data()) {
            ensure!(e.raw_os_error() == Some(28), "filling: {e}");
            return Ok(());
        }
    }
}

/// How a submit on a full disk was answered.
#[derive(Debug, Default)]
struct Answers {
    acked: Vec<String>,
    unknown: Vec<String>,
    refused: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: mounts a 24 MB tmpfs and fills it (.ci/run runs it)"]
async fn a_full_disk_refuses_writes_reports_why_and_loses_no_acknowledged_event() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mnt = dir.path().join("mnt");
    let _tmpfs = Tmpfs::mount(&mnt, "24m")?;
    let config = "[server]\nmax_msgs_per_sec = 100000\nstore_failure_exit_secs = 3\n";
    let mut child = support::Child::spawn_with(&mnt, config)?;
    let mut c = Client::connect(child.addr).await?;
    c.submit(vec![
        json!({"type":"instrument","id":"I0","currency":"USD","multiplier":"1"}),
    ])
    .await?;
    fill(&mnt)?;
    let mut answers = Answers::default();
    let mut health = None;
    for k in 0..20_000 {
        let account = format!("F{k}");
        let events = vec![trade(&format!("f{k}"), &account, "I0", "buy", "1", "10")];
        let Ok(r) = c.request(json!({"op":"submit","events":events})).await else {
            break; // the server went away
        };
        let message = r["message"].as_str().unwrap_or_default();
        match (r["type"].as_str(), r["code"].as_str()) {
            (Some("ack"), _) => answers.acked.push(account),
            (_, Some("unavailable")) if message.starts_with("outcome unknown") => {
                answers.unknown.push(account)
            }
            (_, Some("unavailable")) if message.contains("nothing was applied") => {
                answers.refused.push(account)
            }
            _ => bail!("submit {k} on a full disk answered {r}"),
        }
        if !answers.refused.is_empty() && health.is_none() {
            let get = |path| format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", child.addr);
            health = Some((
                support::http_raw(child.addr, &get("/health")).await?,
                support::http_raw(child.addr, &get("/health/ready")).await?,
                support::http_raw(child.addr, &get("/health/live")).await?,
                support::http_raw(child.addr, &get("/metrics")).await?,
            ));
        }
        if answers.refused.len() >= 20 {
            break;
        }
    }
    ensure!(
        !answers.refused.is_empty(),
        "the full disk was never noticed: {answers:?}"
    );
    let (health, ready, live, metrics) = health.context("no /health")?;
    ensure!(health.starts_with("HTTP/1.1 503"), "{health}");
    ensure!(
        health.contains("\"unavailable\"") && health.contains("No space left"),
        "{health}"
    );
    ensure!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    ensure!(
        ready.contains("\"not_ready\"")
            && ready.contains("the journal is not writable")
            && ready.contains("No space left"),
        "{ready}"
    );
    ensure!(
        live.starts_with("HTTP/1.1 200") && live.contains("\"live\""),
        "{live}"
    );
    for line in [
        "kupala_ready 0",
        "kupala_store_writable 0",
        "kupala_events_rejected_total{reason=\"store_failed\"}",
    ] {
        ensure!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let (status, log) = child.wait_exit(Duration::from_secs(60))?;
    ensure!(!status.success(), "exit {status}:\n{log}");
    ensure!(log.contains("the store failed"), "{log}");
    ensure!(!log.contains("snapshot written"), "{log}");

    std::fs::remove_file(mnt.join("filler"))?;
    let child = support::Child::spawn_with(&mnt, config)?;
    let mut c = Client::connect(child.addr).await?;
    let present: BTreeSet<String> = positions_by_account(&mut c).await?.into_keys().collect();
    for a in &answers.acked {
        ensure!(present.contains(a), "acknowledged {a} lost: {answers:?}");
    }
    for a in &answers.refused {
        ensure!(
            !present.contains(a),
            "{a} was refused as not applied, yet it is stored"
        );
    }
    // What the server could not know, the client settles by resubmitting.
    for a in &answers.unknown {
        let k = a.trim_start_matches('F');
        let r = c
            .submit(vec![trade(&format!("f{k}"), a, "I0", "buy", "1", "10")])
            .await?;
        ensure!(r["type"] == "ack", "{r}");
    }
    let r = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    for p in r["data"].as_array().context("positions")? {
        ensure!(p["qty"] == "1", "a trade applied twice or half: {p}");
    }
    Ok(())
}

#[test]
#[ignore = "needs root: mounts a 24 MB tmpfs and fills it (.ci/run runs it)"]
fn calc_data_on_a_full_disk_fails_with_the_reason_and_resumes_once_space_returns() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.jsonl");
    let lines: String = (0..20_000)
        .map(|k| {
            format!(
                "{{\"type\":\"trade\",\"id\":\"c{k}\",\"ts\":\"2026-12-01T10:00:00Z\",\"account\":\"A{}\",\"instrument\":\"I{}\",\"side\":\"buy\",\"qty\":\"1\",\"price\":\"10\"}}\n",
                k % 7,
                k % 5
            )
        })
        .collect();
    std::fs::write(&file, lines)?;
    let mnt = dir.path().join("mnt");
    let _tmpfs = Tmpfs::mount(&mnt, "24m")?;
    let data = mnt.join("store");
    let calc = || {
        Command::new(env!("CARGO_BIN_EXE_kupala"))
            .args(["calc", "--events"])
            .arg(&file)
            .arg("--data")
            .arg(&data)
            .args(["--sync", "always"])
            .output()
    };
    // A store with something in it, then a full disk.
    let opening = dir.path().join("opening.jsonl");
    std::fs::write(
        &opening,
        "{\"type\":\"instrument\",\"id\":\"I0\",\"currency\":\"USD\",\"multiplier\":\"1\"}\n",
    )?;
    let first = Command::new(env!("CARGO_BIN_EXE_kupala"))
        .args(["calc", "--events"])
        .arg(&opening)
        .arg("--data")
        .arg(&data)
        .output()?;
    ensure!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    fill(&mnt)?;
    let full = calc()?;
    let stderr = String::from_utf8_lossy(&full.stderr);
    ensure!(!full.status.success(), "calc on a full disk exited 0:\n{stderr}");
    ensure!(
        stderr.contains("the store failed") && stderr.contains("No space left"),
        "{stderr}"
    );
    ensure!(
        full.stdout.is_empty(),
        "a state was printed although events were not stored"
    );
    std::fs::remove_file(mnt.join("filler"))?;
    let resumed = calc()?;
    ensure!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let plain = Command::new(env!("CARGO_BIN_EXE_kupala"))
        .args(["calc", "--events"])
        .arg(&file)
        .output()?;
    ensure!(
        resumed.stdout == plain.stdout,
        "the resumed store is not the file's state"
    );
    Ok(())
}
