//! A minimal W3C WebDriver client over `std::net`: chromedriver listens on
//! loopback and speaks HTTP/1.1 with JSON bodies, so a dozen endpoints and a
//! plain HTTP exchange are all the test needs (no async runtime, no TLS).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// The key under which W3C WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One HTTP/1.1 exchange on a fresh connection; returns (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(payload.as_bytes())?;
    // Read the header, then exactly Content-Length bytes: the peer may keep
    // the socket open after answering, whatever `Connection` says.
    let context = || format!("reading the answer to {method} {path}");
    let (mut raw, mut buf) = (Vec::new(), [0u8; 16 * 1024]);
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).with_context(context)?;
        if n == 0 {
            bail!("{method} {path}: connection closed before an HTTP header");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let header = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = header
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: bad status line in {header:?}"))?;
    let length = header
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = raw.split_off(split + 4);
    if let Some(len) = length {
        while body.len() < len {
            let n = stream.read(&mut buf).with_context(context)?;
            if n == 0 {
                bail!("{method} {path}: body shorter than its Content-Length");
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(len);
    } else {
        stream.read_to_end(&mut body).with_context(context)?;
        if header.contains("transfer-encoding: chunked") {
            body = dechunk(&body)?;
        }
    }
    Ok((status, body))
}

/// Decodes a chunked HTTP body.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunked body"))?;
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = raw.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
}

/// A WebDriver session with a browser.
pub struct Session {
    addr: SocketAddr,
    id: String,
    /// The browser's process id, when the driver tells it (Chromium does).
    pub browser_pid: Option<u64>,
}

/// A reference to an element of the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element(String);

impl Session {
    /// Waits for the driver at `addr` to be ready, then opens a session.
    pub fn start(addr: SocketAddr, capabilities: &Value, within: Duration) -> Result<Self> {
        wait_for(within, "chromedriver to be ready", || {
            let (_, body) = http(addr, "GET", "/status", None).ok()?;
            let v: Value = serde_json::from_slice(&body).ok()?;
            v["value"]["ready"].as_bool().filter(|&r| r)
        })?;
        let v = call(
            addr,
            "POST",
            "/session",
            Some(&json!({ "capabilities": capabilities })),
        )?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {v}"))?
            .to_owned();
        let browser_pid = v["capabilities"]["goog:processID"].as_u64();
        Ok(Self {
            addr,
            id,
            browser_pid,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        call(self.addr, method, &format!("/session/{}{path}", self.id), body)
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(&json!({ "url": url }))).map(drop)
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element> {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .with_context(|| format!("finding {css}"))?;
        v[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| anyhow!("no element reference for {css} in {v}"))
    }

    /// Clears an input, then types `text` into it.
    pub fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css)?;
        self.cmd("POST", &format!("/element/{}/clear", el.0), Some(&json!({})))?;
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(&json!({ "text": text })),
        )
        .map(drop)
    }

    /// Clicks the first element matching a CSS selector.
    pub fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css)?;
        self.cmd("POST", &format!("/element/{}/click", el.0), Some(&json!({})))
            .map(drop)
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let v = self.cmd("GET", "/screenshot", None)?;
        base64_decode(v.as_str().ok_or_else(|| anyhow!("screenshot is not a string"))?)
    }

    /// The browser's console messages since the last call (best effort).
    pub fn console(&self) -> Vec<String> {
        let logs = self.cmd("POST", "/se/log", Some(&json!({ "type": "browser" })));
        logs.ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// Ends the session (closes the browser).
    pub fn quit(&self) -> Result<()> {
        self.cmd("DELETE", "", None).map(drop)
    }
}

/// A WebDriver command: the answer's `value`, or its error as an `Err`.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let (status, raw) = http(addr, method, path, body)?;
    let v: Value = serde_json::from_slice(&raw).with_context(|| {
        format!(
            "{method} {path}: answer is not JSON: {}",
            String::from_utf8_lossy(&raw)
        )
    })?;
    if status != 200 {
        bail!(
            "{method} {path}: HTTP {status}: {} {}",
            v["value"]["error"].as_str().unwrap_or("?"),
            v["value"]["message"].as_str().unwrap_or("")
        );
    }
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `within`.
pub fn wait_for<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if start.elapsed() > within {
            bail!("timed out after {within:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Decodes standard base64 (with or without padding; whitespace ignored).
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("invalid base64 byte {c}"),
        }
        .into())
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for group in clean.chunks(4) {
        let mut acc = 0u32;
        for &c in group {
            acc = acc << 6 | value(c)?;
        }
        acc <<= 6 * (4 - group.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Ok(out)
}

#[test]
fn base64_decodes_what_browsers_send() -> Result<()> {
    assert_eq!(base64_decode("aGVsbG8gd29ybGQ=")?, b"hello world");
    assert_eq!(base64_decode("aGk")?, b"hi");
    assert_eq!(base64_decode("iVBORw0KGgo=")?, b"\x89PNG\r\n\x1a\n");
    assert!(base64_decode("a$==").is_err());
    Ok(())
}
