//! A tiny HTTP/1.1 server on loopback for the refresher's tests: each
//! request is answered by a script function of (request number, path), with
//! good bodies, error statuses, delays, truncated and malformed bodies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(String),
    /// This status with a short body.
    Status(u16),
    /// Wait, then answer 200 with this body (past the client's timeout).
    Slow(Duration, String),
    /// 200 announcing the whole body's length, sending only `cut` bytes.
    Truncated(String, usize),
}

type Script = dyn Fn(u64, &str) -> Reply + Send + Sync;

/// The running server.
pub struct ChartServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    paths: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl ChartServer {
    /// Starts serving `script` on a free loopback port.
    pub fn start(script: impl Fn(u64, &str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let _ = listener.set_nonblocking(true);
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let thread = {
            let (stop, requests, paths) = (Arc::clone(&stop), Arc::clone(&requests), Arc::clone(&paths));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((stream, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                    let (script, paths) = (Arc::clone(&script), Arc::clone(&paths));
                    thread::spawn(move || serve(stream, n, &*script, &paths));
                }
            })
        };
        Self {
            addr,
            stop,
            requests,
            paths,
            thread: Some(thread),
        }
    }

    /// The endpoint to configure: `http://127.0.0.1:PORT/v8/finance/chart`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v8/finance/chart", self.addr)
    }

    /// Requests (connections) served so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The request paths seen.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, n: u64, script: &Script, paths: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
    paths
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(path.clone());
    let ok = |body: &str, len: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}"
        )
    };
    let response = match script(n, &path) {
        Reply::Json(body) => ok(&body, body.len()),
        Reply::Status(code) => {
            format!("HTTP/1.1 {code} Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops")
        }
        Reply::Slow(wait, body) => {
            thread::sleep(wait);
            ok(&body, body.len())
        }
        Reply::Truncated(body, cut) => ok(&body[..cut.min(body.len())], body.len()),
    };
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// A v8 chart body for `symbol`: `rows` are (Unix seconds, close token as
/// JSON text: a number, `null`, or anything else to test refusals).
pub fn chart_json(symbol: &str, gmtoffset: i64, rows: &[(i64, String)]) -> String {
    let ts: Vec<String> = rows.iter().map(|(t, _)| t.to_string()).collect();
    let close: Vec<&str> = rows.iter().map(|(_, c)| c.as_str()).collect();
    let ohl: Vec<&str> = rows.iter().map(|_| "1.5").collect();
    let volume: Vec<&str> = rows.iter().map(|_| "1000").collect();
    let (ts, close, ohl, volume) = (ts.join(","), close.join(","), ohl.join(","), volume.join(","));
    format!(
        r#"{{"chart":{{"result":[{{"meta":{{"currency":"USD","symbol":"{symbol}","exchangeName":"SNP","instrumentType":"INDEX","gmtoffset":{gmtoffset},"timezone":"EDT","exchangeTimezoneName":"America/New_York","regularMarketPrice":2836.74,"regularMarketTime":1587758400,"dataGranularity":"1d","range":"max"}},"timestamp":[{ts}],"indicators":{{"quote":[{{"open":[{ohl}],"high":[{ohl}],"low":[{ohl}],"close":[{close}],"volume":[{volume}]}}],"adjclose":[{{"adjclose":[{close}]}}]}}}}],"error":null}}}}"#
    )
}
