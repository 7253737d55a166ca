//! The dashboard in real headless Chromium, against the real `kupala serve`.
//!
//! `#[ignore]`d, so a plain `cargo test` lists it as ignored with the
//! reason; `.ci/run` installs Debian's `chromium` and `chromium-driver` and
//! runs it with `cargo test --test dashboard -- --ignored`. It starts
//! `kupala serve --demo on` on a free port with a fresh data dir, starts
//! chromedriver, and checks through the page that:
//! position rows appear and their values change; a trade entered in the
//! ticket is acknowledged and shows in the blotter (a new row, then the same
//! row updated in place by a second trade); a trade the server refuses shows
//! its error code; after the server is killed and restarted the page
//! reconnects by itself and a fresh snapshot shows the same positions; the
//! chart draws the server's P&L history, so a reload after the restart
//! still shows the points from before it. It ends with a screenshot in
//! `target/dashboard.png`.
//!
//! `KUPALA_CHROMIUM` and `KUPALA_CHROMEDRIVER` override the browser paths.

#[path = "dashboard/webdriver.rs"]
mod webdriver;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use webdriver::{Session, http, wait_for};

/// A child process killed when dropped, with its output in a log file.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Self> {
        let out = File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { name, child, log })
    }

    /// The last lines the process wrote, for failure reports.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Fails if the process has exited.
    fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("{} exited ({status}):\n{}", self.name, self.tail()),
            None => Ok(()),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn elapsed(start: Instant) -> String {
    format!("[{:5.1}s]", start.elapsed().as_secs_f64())
}

/// Starts `kupala serve` with the demo and waits for `/health`.
fn start_server(data: &Path, port: u16, log: PathBuf) -> Result<Proc> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kupala"));
    cmd.arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", &local(port).to_string(), "--demo", "on"])
        // A refresher whose endpoint refuses connections: AAPL turns stale
        // after its first failed fetch (set through KUPALA_* overrides).
        .env("KUPALA_FEEDS__REFRESHER__ENDPOINT", "http://127.0.0.1:1/chart")
        .env("KUPALA_FEEDS__REFRESHER__STALE_AFTER", "1")
        .env("KUPALA_FEEDS__REFRESHER__SYMBOLS", r#"[{symbol = "AAPL"}]"#);
    let mut server = Proc::spawn("kupala serve", &mut cmd, log)?;
    wait_for(Duration::from_secs(60), "kupala serve to answer /health", || {
        if let Err(e) = server.check_alive() {
            return Some(Err(e));
        }
        let (status, _) = http(local(port), "GET", "/health", None).ok()?;
        (status == 200).then_some(Ok(()))
    })??;
    Ok(server)
}

fn chrome_capabilities(profile: &Path) -> Value {
    let binary = std::env::var("KUPALA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    json!({
        "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1440,1500",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }
    })
}

/// Every row of the blotter: key → the raw values of qty, mark and net P&L.
const ROWS_JS: &str = "const out = {};
for (const tr of document.querySelectorAll('#positions tbody tr')) {
  const v = (f) => tr.querySelector('[data-field=\"' + f + '\"]').dataset.value;
  out[tr.dataset.key] = { qty: v('qty'), mark: v('mark'), net: v('net_pnl') };
}
return out;";

fn rows(s: &Session) -> Result<serde_json::Map<String, Value>> {
    match s.execute(ROWS_JS, &[])? {
        Value::Object(m) => Ok(m),
        other => Err(anyhow!("rows are not an object: {other}")),
    }
}

fn text_of(s: &Session, css: &str, attr: Option<&str>) -> Result<String> {
    let script = "const el = document.querySelector(arguments[0]);
        if (!el) return null;
        return arguments[1] ? (el.getAttribute(arguments[1]) || '') : el.textContent;";
    let v = s.execute(script, &[json!(css), json!(attr)])?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

fn status(s: &Session) -> String {
    text_of(s, "#status", Some("data-state")).unwrap_or_default()
}

fn qty_of(s: &Session, key: &str) -> Option<String> {
    rows(s).ok()?.get(key)?["qty"].as_str().map(str::to_owned)
}

/// Fills the ticket, submits it, and waits for the answer: Ok(text) on an
/// ack, Err(text) on an error.
fn submit(s: &Session, fields: &[(&str, &str)], side: &str) -> Result<std::result::Result<String, String>> {
    for (name, value) in fields {
        s.fill(&format!("#ticket-{name}"), value)?;
    }
    s.click(&format!("#ticket-side option[value=\"{side}\"]"))?;
    s.click("#ticket-submit")?;
    wait_for(Duration::from_secs(20), "an answer in #ticket-result", || {
        let state = text_of(s, "#ticket-result", Some("data-state")).ok()?;
        let text = text_of(s, "#ticket-result", None).ok()?;
        match state.as_str() {
            "ack" => Some(Ok(text)),
            "error" => Some(Err(text)),
            _ => None,
        }
    })
}

/// The whole scenario, step by step.
fn scenario(
    s: &Session,
    server: &mut Proc,
    data: &Path,
    port: u16,
    log_dir: &Path,
    t0: Instant,
) -> Result<()> {
    s.goto(&format!("http://{}/", local(port)))?;
    wait_for(
        Duration::from_secs(30),
        "the page to go live with position rows",
        || {
            let n = rows(s).ok()?.len();
            (status(s) == "live" && n >= 5).then_some(n)
        },
    )
    .map(|n| eprintln!("{} live with {n} position rows", elapsed(t0)))?;

    let before = rows(s)?;
    let changed = wait_for(Duration::from_secs(30), "a mark or P&L to change", || {
        let now = rows(s).ok()?;
        now.iter()
            .find(|(k, v)| {
                before
                    .get(*k)
                    .is_some_and(|b| b["mark"] != v["mark"] || b["net"] != v["net"])
            })
            .map(|(k, v)| format!("{k}: {} → {}", before[k], v))
    })?;
    eprintln!("{} values update in place: {changed}", elapsed(t0));
    for account in ["A1", "A2", "B7"] {
        let css = format!("#portfolios .card[data-account=\"{account}\"] [data-field=\"net_pnl\"]");
        let net = text_of(s, &css, Some("data-value"))?;
        if net.is_empty() {
            bail!("no portfolio card with a net P&L for {account}");
        }
    }
    wait_for(
        Duration::from_secs(10),
        "the chart to draw a line per account",
        || {
            let lines = s.execute("return document.querySelectorAll('#chart polyline').length", &[]);
            (lines.ok()?.as_u64()? >= 3).then_some(())
        },
    )?;

    // A trade for an account the demo never trades, so the expected
    // quantity is exact: a new row, then the same row updated in place.
    let mark = rows(s)?
        .iter()
        .find(|(k, _)| k.ends_with("|AAPL"))
        .and_then(|(_, v)| v["mark"].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow!("no AAPL position in the demo"))?;
    let buy = [
        ("account", "T1"),
        ("instrument", "AAPL"),
        ("qty", "7"),
        ("price", mark.as_str()),
        ("fee", "1.25"),
    ];
    let ack = submit(s, &buy, "buy")?.map_err(|e| anyhow!("buy 7 refused: {e}"))?;
    eprintln!("{} ticket acknowledged: {ack}", elapsed(t0));
    wait_for(Duration::from_secs(15), "row T1|AAPL with qty 7", || {
        (qty_of(s, "T1|AAPL")? == "7").then_some(())
    })?;
    let row = s.find("tr[data-key=\"T1|AAPL\"]")?;

    let sell = [("qty", "3"), ("fee", "")];
    let ack = submit(s, &sell, "sell")?.map_err(|e| anyhow!("sell 3 refused: {e}"))?;
    eprintln!("{} ticket acknowledged: {ack}", elapsed(t0));
    wait_for(Duration::from_secs(15), "row T1|AAPL with qty 4", || {
        (qty_of(s, "T1|AAPL")? == "4").then_some(())
    })?;
    if s.find("tr[data-key=\"T1|AAPL\"]")? != row {
        bail!("the T1|AAPL row was replaced, not updated in place");
    }
    eprintln!("{} T1|AAPL: 7 then 4, same row", elapsed(t0));

    // The server refuses an instrument name over 128 characters.
    let long = "X".repeat(200);
    let bad = [("instrument", long.as_str()), ("qty", "1"), ("price", "1")];
    match submit(s, &bad, "buy")? {
        Err(text) if text.contains("bad_request") => eprintln!("{} refusal shown: {text}", elapsed(t0)),
        other => bail!("expected a bad_request error in the ticket, got {other:?}"),
    }

    // The refresher cannot reach its endpoint: the page marks AAPL stale.
    wait_for(Duration::from_secs(20), "AAPL shown as stale", || {
        let v = s
            .execute(
                "return [document.querySelector('#stale').textContent, \
                 [...document.querySelectorAll('#positions tr.stale')].map(r => r.dataset.key)]",
                &[],
            )
            .ok()?;
        let header = v[0].as_str()?.contains("AAPL");
        let rows = v[1].as_array()?;
        (header
            && !rows.is_empty()
            && rows
                .iter()
                .all(|k| k.as_str().is_some_and(|k| k.ends_with("|AAPL"))))
        .then_some(())
    })?;
    eprintln!("{} stale market data shown for AAPL", elapsed(t0));

    // The chart draws the server's P&L history: note A1's oldest point.
    let oldest = wait_for(Duration::from_secs(20), "two history points for A1", || {
        let v = s.execute("return window.kupala.history().A1 || []", &[]).ok()?;
        let points = v.as_array()?;
        (points.len() >= 2).then(|| points[0][0].as_f64()).flatten()
    })?;
    eprintln!("{} A1's history starts at {oldest}", elapsed(t0));

    // Kill the server; the page notices, and reconnects to its successor.
    server.kill();
    wait_for(
        Duration::from_secs(15),
        "the page to notice the server is gone",
        || (status(s) == "reconnecting").then_some(()),
    )?;
    eprintln!("{} server killed; page is reconnecting", elapsed(t0));
    *server = start_server(data, port, log_dir.join("serve-2.log"))?;
    wait_for(
        Duration::from_secs(40),
        "the page to be live again with T1|AAPL at 4",
        || (status(s) == "live" && qty_of(s, "T1|AAPL")? == "4").then_some(()),
    )?;
    eprintln!("{} reconnected; fresh snapshot keeps T1|AAPL at 4", elapsed(t0));

    // A reload after the restart draws the history from before it: the
    // server's, not the page's.
    s.execute("location.reload(); return 1", &[])?;
    wait_for(
        Duration::from_secs(40),
        "the reloaded page to draw A1's history from before the restart",
        || {
            let v = s
                .execute(
                    "return window.kupala ? (window.kupala.history().A1 || []) : []",
                    &[],
                )
                .ok()?;
            v.as_array()?
                .iter()
                .any(|p| p[0].as_f64() == Some(oldest))
                .then_some(())
        },
    )?;
    eprintln!("{} reloaded; A1's history still starts at {oldest}", elapsed(t0));
    Ok(())
}

/// Ends a browser that outlived its session (after a failed quit), once
/// sure the process is still our Chromium: its profile is in its command line.
fn end_browser(pid: Option<u64>, profile: &Path) {
    let Some(pid) = pid else { return };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains(&*profile.to_string_lossy()) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

#[test]
#[ignore = "needs Chromium and chromedriver (.ci/run installs them and runs it)"]
fn dashboard_in_headless_chromium() -> Result<()> {
    let start = Instant::now();
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let port = free_port()?;
    let mut server = start_server(&data, port, tmp.path().join("serve-1.log"))?;
    eprintln!("{} kupala serve up on {}", elapsed(start), local(port));

    let driver_bin = std::env::var("KUPALA_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let driver_port = free_port()?;
    let mut cmd = Command::new(&driver_bin);
    cmd.arg(format!("--port={driver_port}"));
    let mut driver = Proc::spawn("chromedriver", &mut cmd, tmp.path().join("chromedriver.log"))?;
    let profile = tmp.path().join("chromium-profile");
    let caps = chrome_capabilities(&profile);
    let session = Session::start(local(driver_port), &caps, Duration::from_secs(30))
        .with_context(|| format!("opening a Chromium session\n{}", driver.tail()))?;
    eprintln!("{} headless Chromium session open", elapsed(start));

    let outcome = scenario(&session, &mut server, &data, port, tmp.path(), start);
    let png = session.screenshot();
    let shot = target_dir().join(if outcome.is_ok() {
        "dashboard.png"
    } else {
        "dashboard-failure.png"
    });
    if let Ok(png) = &png {
        std::fs::create_dir_all(target_dir())?;
        std::fs::write(&shot, png)?;
        eprintln!("{} screenshot: {}", elapsed(start), shot.display());
    }
    if outcome.is_err() {
        eprintln!("browser console:\n{}", session.console().join("\n"));
        eprintln!("server log:\n{}", server.tail());
    }
    let _ = session.quit();
    end_browser(session.browser_pid, &profile);
    driver.check_alive().ok();
    outcome?;
    png.context("taking the screenshot")?;
    eprintln!("{} dashboard test passed", elapsed(start));
    Ok(())
}
