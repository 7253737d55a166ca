//! Helpers for `tests/serve.rs`: an in-process server, a WebSocket client
//! that keeps updates apart from replies, raw HTTP, and a `kupala serve`
//! child process.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use kupala::config::Config;
use kupala::serve::{Running, ServeOptions};
use kupala_api::auth::{Role, TokenConfig};

/// How long any single expected message may take.
const WAIT: Duration = Duration::from_secs(10);

pub const ADMIN: &str = "admin-token-0123456789";
pub const READER: &str = "reader-token-0123456789";
pub const TRADER: &str = "trader-token-0123456789";
pub const FEEDER: &str = "feeder-token-0123456789";

/// An admin over everything, a reader, a trader and a feed of A1.
pub fn tokens() -> Vec<TokenConfig> {
    let t = |token: &str, role, accounts: &[&str]| TokenConfig {
        token: token.into(),
        role,
        accounts: accounts.iter().map(|&a| a.to_owned()).collect(),
    };
    vec![
        t(ADMIN, Role::Admin, &["*"]),
        t(READER, Role::Read, &["A1"]),
        t(TRADER, Role::Trade, &["A1"]),
        t(FEEDER, Role::Feed, &["A1"]),
    ]
}

/// Starts a server on 127.0.0.1:0 with a store in `dir`: no demo, no EOD
/// timer, two shards, a generous rate limit; `tweak` adjusts the rest.
pub async fn server(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Result<Running> {
    let mut config = Config::default_config()?;
    config.demo.enabled = false;
    config.eod.enabled = false;
    config.engine.shards = 2;
    config.server.listen = "127.0.0.1:0".into();
    config.server.max_msgs_per_sec = 10_000;
    tweak(&mut config);
    config.validate()?;
    let opts = ServeOptions::new(config, Some(dir.to_path_buf()), None, None)?;
    kupala::serve::start(opts).await
}

pub fn trade(id: &str, account: &str, instrument: &str, side: &str, qty: &str, price: &str) -> Value {
    json!({"type":"trade","id":id,"ts":"2026-11-30T14:30:00Z","account":account,
           "instrument":instrument,"side":side,"qty":qty,"price":price})
}

pub fn tick(instrument: &str, price: &str) -> Value {
    json!({"type":"tick","ts":"2026-11-30T14:30:01Z","instrument":instrument,"price":price})
}

/// An event of `kind` at `ts` with the fields of `rest`.
pub fn ev(kind: &str, ts: &str, rest: Value) -> Value {
    let mut e = json!({"type": kind, "ts": ts});
    if let (Some(e), Some(r)) = (e.as_object_mut(), rest.as_object()) {
        e.extend(r.clone());
    }
    e
}

/// A connection authenticated with `token`.
pub async fn authed(addr: SocketAddr, token: &str) -> Result<Client> {
    let mut c = Client::connect(addr).await?;
    let r = c.request(json!({"op":"auth","token":token})).await?;
    anyhow::ensure!(r["type"] == "result", "{r}");
    Ok(c)
}

/// The distinct `account` fields of a list, sorted.
pub fn accounts_of(data: &Value) -> Vec<String> {
    let mut v: Vec<String> = data
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["account"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// A WebSocket client. Updates (snapshots, deltas) met while waiting for a
/// reply are kept for [`Client::next_update`].
pub struct Client {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
    updates: VecDeque<Value>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        Self::over(TcpStream::connect(addr).await?, addr).await
    }

    /// A client whose socket receive buffer is tiny (for stalling).
    pub async fn connect_small_buffer(addr: SocketAddr) -> Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(2048)?;
        Self::over(socket.connect(addr).await?, addr).await
    }

    async fn over(stream: TcpStream, addr: SocketAddr) -> Result<Self> {
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await?;
        Ok(Self {
            ws,
            next_id: 1000,
            updates: VecDeque::new(),
        })
    }

    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        Ok(self.ws.send(Message::text(text)).await?)
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        Ok(self.ws.send(Message::binary(bytes)).await?)
    }

    async fn recv_within(&mut self, within: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("connection closed"),
                Ok(Some(m)) => m?,
            };
            match msg {
                Message::Text(t) => return Ok(Some(serde_json::from_str(t.as_str())?)),
                Message::Close(f) => bail!("closed by the server: {f:?}"),
                _ => {}
            }
        }
    }

    async fn recv(&mut self) -> Result<Value> {
        self.recv_within(WAIT).await?.context("no message within 10 s")
    }

    /// Sends `req` with a fresh id; its answer (snapshot, result, ack or
    /// error).
    pub async fn request(&mut self, mut req: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        req["id"] = json!(id);
        self.send_text(&req.to_string()).await?;
        loop {
            let m = self.recv().await?;
            let update = m["type"] == "delta" || m["type"] == "deltas";
            if m["id"] == json!(id) && !update || m["type"] == "error" && m["id"].is_null() {
                return Ok(m);
            }
            self.updates.push_back(m);
        }
    }

    /// Submits events and waits for the ack (or error).
    pub async fn submit(&mut self, events: Vec<Value>) -> Result<Value> {
        let r = self.request(json!({"op":"submit","events":events})).await?;
        if r["type"] != "ack" && r["code"] != "forbidden" && r["code"] != "bad_request" {
            bail!("submit failed: {r}");
        }
        Ok(r)
    }

    /// The next reply (ack, result, error), keeping updates.
    pub async fn next_reply(&mut self) -> Result<Value> {
        loop {
            let m = self.recv().await?;
            if m["type"] == "snapshot" || m["type"] == "delta" || m["type"] == "deltas" {
                self.updates.push_back(m);
            } else {
                return Ok(m);
            }
        }
    }

    /// The next snapshot, delta or deltas message.
    pub async fn next_update(&mut self) -> Result<Value> {
        self.try_update(WAIT).await?.context("no update within 10 s")
    }

    /// The next snapshot or delta, if one comes within `within`.
    pub async fn try_update(&mut self, within: Duration) -> Result<Option<Value>> {
        if let Some(m) = self.updates.pop_front() {
            return Ok(Some(m));
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await? {
                None => return Ok(None),
                Some(m) if m["type"] == "snapshot" || m["type"] == "delta" || m["type"] == "deltas" => {
                    return Ok(Some(m));
                }
                Some(_) => {}
            }
        }
    }

    /// The next message (kept updates first) for which `pred` holds, within
    /// `within`; the others are kept for [`Client::next_update`].
    pub async fn wait_for(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        if let Some(i) = self.updates.iter().position(&pred) {
            return self.updates.remove(i).context("kept message");
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await? {
                None => bail!("no such message within {within:?}"),
                Some(m) if pred(&m) => return Ok(m),
                Some(m) => self.updates.push_back(m),
            }
        }
    }

    /// Repeats a request until `done` holds for its answer (5 s at most).
    pub async fn poll(&mut self, req: Value, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.request(req.clone()).await?;
            if done(&r) {
                return Ok(r);
            }
            if Instant::now() > deadline {
                bail!("still {r} after 5 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads until the server's close frame; its code and reason.
    pub async fn wait_close(&mut self) -> Result<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await? {
                Some(Ok(Message::Close(Some(f)))) => {
                    return Ok((f.code.into(), f.reason.as_str().to_owned()));
                }
                Some(Ok(Message::Close(None))) | None => bail!("closed without a reason"),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("{e}"),
            }
        }
    }
}

/// A raw HTTP exchange: the whole response.
pub async fn http_raw(addr: SocketAddr, request: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `GET path`: the body of a 200 response.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    let r = http_raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")).await?;
    let (head, body) = r.split_once("\r\n\r\n").context("no header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {head}");
    }
    Ok(body.to_owned())
}

/// The last seq in the journal of a store (the server must be stopped).
pub fn journal_last_seq(dir: &Path) -> Result<u64> {
    let store = kupala_engine::store::Store::open(dir)?;
    let keys = store.journal_keys()?;
    let last = keys.last().context("empty journal")?;
    Ok(store.journal_batch(*last)?.last_seq().unwrap_or(0))
}

/// A `kupala serve` child process (no demo, no EOD timer).
pub struct Child {
    child: std::process::Child,
    pub addr: SocketAddr,
    /// Its stderr so far.
    pub log: String,
    log_path: PathBuf,
}

impl Child {
    pub fn spawn(dir: &Path) -> Result<Self> {
        Self::spawn_with(dir, "")
    }

    /// Like [`spawn`](Self::spawn), with more configuration (TOML; no
    /// `[eod]` section: the timer is always off).
    pub fn spawn_with(dir: &Path, extra_config: &str) -> Result<Self> {
        let config = dir.with_extension("toml");
        std::fs::write(&config, format!("[eod]\nenabled = false\n{extra_config}"))?;
        let log_path = dir.with_extension(format!("{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(env!("CARGO_BIN_EXE_kupala"))
            .args(["serve", "--listen", "127.0.0.1:0", "--demo", "off", "--data"])
            .arg(dir)
            .arg("--config")
            .arg(&config)
            .env_remove("KUPALA_LISTEN")
            .env_remove("KUPALA_DATA")
            .env_remove("KUPALA_DEMO")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut me = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: String::new(),
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            me.log = std::fs::read_to_string(&me.log_path).unwrap_or_default();
            let addr = me
                .log
                .lines()
                .find_map(|l| l.split("listening on http://").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = addr {
                me.addr = addr;
                // The rest of the start block follows the address line.
                me.wait_log("Ctrl-C to stop", Duration::from_secs(10))?;
                return Ok(me);
            }
            if let Some(status) = me.child.try_wait()? {
                bail!("kupala serve exited ({status}):\n{}", me.log);
            }
            if Instant::now() > deadline {
                bail!("kupala serve did not start:\n{}", me.log);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `within` for `text` to appear in the log; the log.
    pub fn wait_log(&mut self, text: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            self.log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            if self.log.contains(text) {
                return Ok(self.log.clone());
            }
            if Instant::now() > deadline {
                bail!("no {text:?} within {within:?}:\n{}", self.log);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `within` for the process to exit by itself: its status
    /// and log.
    pub fn wait_exit(&mut self, within: Duration) -> Result<(std::process::ExitStatus, String)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((
                    status,
                    std::fs::read_to_string(&self.log_path).unwrap_or_default(),
                ));
            }
            if Instant::now() > deadline {
                bail!("still running after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM; waits for a clean exit and returns the log.
    pub fn terminate(&mut self) -> Result<String> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                if !status.success() {
                    bail!("exit {status}:\n{log}");
                }
                return Ok(log);
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("no exit 20 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
