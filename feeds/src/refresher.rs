//! The market-data refresher (the original design's yfinance timer): a
//! thread that fetches prices over HTTP from an endpoint answering in the
//! shape of Yahoo's v8 chart JSON and emits them as ticks.
//!
//! - **Requests**: `GET {endpoint}/{symbol}?interval={interval}&range={range}`
//!   per configured symbol, every [`RefresherConfig::period`], with connect
//!   and read timeouts and a body size limit.
//! - **Conversion** ([`chart`]): intraday intervals (`1m` … `90m`, `1h`)
//!   give a tick per bar close at the bar's timestamp, plus the meta's
//!   `regularMarketPrice` at `regularMarketTime` when newer; daily and longer
//!   intervals give the EOD mark, a tick at 21:00:00 UTC of the bar's
//!   exchange-local date (the [`crate::yahoo`] convention), once that time
//!   has passed. Numbers are read from the JSON text, never through `f64`.
//! - **Never a bad price**: nulls, non-numbers, zero or negative prices and
//!   prices outside [`RefresherConfig::min_price`]..=[`max_price`] are
//!   skipped (counted in [`SymbolStatus::skipped`]); a response for another
//!   symbol, an `error` object, mismatched arrays or malformed JSON fail the
//!   whole fetch.
//! - **Each timestamp once**: only points newer than the last emitted tick
//!   of the symbol are emitted, in time order.
//! - **Failures** (connection, timeout, non-2xx status, truncated or
//!   oversized body, unusable JSON): the symbol is retried after an
//!   exponential backoff (`backoff_base × 2^(n-1)`, capped at `backoff_max`,
//!   with jitter: a uniform draw in the upper half), and after
//!   [`stale_after`](RefresherConfig::stale_after) consecutive failures it is
//!   marked `stale` on the [`StatusBoard`] until a fetch succeeds again.
//!   Symbols are scheduled independently: one failing symbol does not
//!   delay the others beyond its own fetch time.
//!
//! [`max_price`]: RefresherConfig::max_price

pub mod chart;
mod status;
mod worker;

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kupala_engine::Event;
use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;

use crate::queue::IngestQueue;
pub use status::{StatusBoard, SymbolStatus};
use worker::Worker;

/// One symbol to refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolConfig {
    /// The symbol in the endpoint's URL (`^GSPC`, `EURUSD=X`).
    pub symbol: String,
    /// The instrument its ticks are for.
    pub instrument: String,
    /// Bar interval: `1m`, `2m`, `5m`, `15m`, `30m`, `60m`, `90m`, `1h`
    /// (intraday ticks) or `1d`, `5d`, `1wk`, `1mo`, `3mo` (EOD marks).
    pub interval: String,
    /// How far back each request reaches (`1d`, `5d`, `1mo`, `max`...).
    pub range: String,
}

/// What to fetch, how often, and how patiently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefresherConfig {
    /// Base URL; the symbol is appended as a path segment
    /// (`http://host/v8/finance/chart`).
    pub endpoint: String,
    /// The symbols, each fetched on its own schedule.
    pub symbols: Vec<SymbolConfig>,
    /// Time between two good fetches of a symbol.
    pub period: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for the response headers, and again for the whole body.
    pub read_timeout: Duration,
    /// First retry delay after a failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Consecutive failures after which a symbol is stale (at least 1).
    pub stale_after: u32,
    /// Largest response body read, in bytes.
    pub max_body: u64,
    /// Smallest price emitted (prices must also be > 0).
    pub min_price: Price,
    /// Largest price emitted.
    pub max_price: Price,
}

impl RefresherConfig {
    /// Defaults for `endpoint` and `symbols`: every 60 s, 5 s connect and
    /// 10 s read timeouts, backoff from 1 s to 60 s, stale after 3
    /// failures, bodies up to 16 MiB, prices from 10^-9 to 10^9.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, symbols: Vec<SymbolConfig>) -> Self {
        Self {
            endpoint: endpoint.into(),
            symbols,
            period: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stale_after: 3,
            max_body: 16 << 20,
            min_price: Price::from_raw(1),
            max_price: Price::from_int(1_000_000_000),
        }
    }
}

/// Why a refresher cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefresherError {
    /// The configuration is unusable.
    #[error("refresher: {0}")]
    Config(String),
    /// The thread could not be started.
    #[error("refresher: cannot start its thread: {0}")]
    Thread(std::io::Error),
}

impl From<std::io::Error> for RefresherError {
    fn from(e: std::io::Error) -> Self {
        Self::Thread(e)
    }
}

/// Where the refresher's ticks go.
pub trait TickSink: Send + 'static {
    /// Takes one tick; an error means it was not taken (the refresher
    /// offers it again after the next fetch).
    fn emit(&mut self, event: Event) -> Result<(), String>;
}

impl TickSink for Arc<IngestQueue> {
    fn emit(&mut self, event: Event) -> Result<(), String> {
        self.push(event).map(|_| ()).map_err(|r| r.to_string())
    }
}

impl TickSink for mpsc::Sender<Event> {
    fn emit(&mut self, event: Event) -> Result<(), String> {
        self.send(event).map_err(|_| "the receiver is gone".to_owned())
    }
}

/// The running refresher; stop it with [`stop`](Self::stop) (or by dropping it).
#[derive(Debug)]
pub struct Refresher {
    board: Arc<StatusBoard>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Checks `config` and starts the refresher thread; the first fetch of
    /// every symbol happens at once.
    pub fn start(config: RefresherConfig, sink: impl TickSink) -> Result<Self, RefresherError> {
        let symbols = check(&config)?;
        let board = Arc::new(StatusBoard::new(
            config
                .symbols
                .iter()
                .map(|s| SymbolStatus {
                    symbol: s.symbol.clone(),
                    instrument: s.instrument.clone(),
                    ..SymbolStatus::default()
                })
                .collect(),
        ));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            .user_agent("kupala-refresher")
            .build()
            .into();
        let (stop, stopped) = mpsc::channel();
        let mut worker = Worker {
            config,
            symbols,
            agent,
            board: Arc::clone(&board),
            sink,
            rng: worker::seed(),
        };
        let thread = std::thread::Builder::new()
            .name("kupala-refresher".into())
            .spawn(move || worker.run(&stopped))?;
        Ok(Self {
            board,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The status of every symbol, shared.
    #[must_use]
    pub fn status(&self) -> Arc<StatusBoard> {
        Arc::clone(&self.board)
    }

    /// Stops the thread (a fetch in flight ends within its timeouts).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Checks a configuration as [`Refresher::start`] would, without starting
/// anything, so a server can refuse a bad one before it opens its store.
pub fn check_config(config: &RefresherConfig) -> Result<(), RefresherError> {
    check(config).map(drop)
}

const INTRADAY: &[&str] = &["1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h"];
const DAILY: &[&str] = &["1d", "5d", "1wk", "1mo", "3mo"];

/// A symbol's schedule and progress.
struct SymbolState {
    url: String,
    stamping: chart::Stamping,
    due: Instant,
    failures: u32,
    stale: bool,
    last_ts: Option<Timestamp>,
}

fn check(config: &RefresherConfig) -> Result<Vec<SymbolState>, RefresherError> {
    let bad = |m: String| Err(RefresherError::Config(m));
    let endpoint = config.endpoint.trim_end_matches('/');
    let https = endpoint.starts_with("https://");
    if !(endpoint.starts_with("http://") || https) {
        return bad(format!(
            "endpoint {:?} is not an http:// or https:// URL",
            config.endpoint
        ));
    }
    if https && !cfg!(feature = "https") {
        return bad("https endpoints need kupala-feeds' `https` feature".to_owned());
    }
    if config.symbols.is_empty() || config.stale_after == 0 || config.period.is_zero() {
        return bad("needs at least one symbol, a period > 0 and stale_after >= 1".to_owned());
    }
    let mut out = Vec::with_capacity(config.symbols.len());
    for s in &config.symbols {
        let stamping = if INTRADAY.contains(&s.interval.as_str()) {
            chart::Stamping::Intraday
        } else if DAILY.contains(&s.interval.as_str()) {
            chart::Stamping::Daily
        } else {
            return bad(format!("{}: unknown interval {:?}", s.symbol, s.interval));
        };
        if s.symbol.is_empty() || s.instrument.is_empty() {
            return bad("a symbol and its instrument must not be empty".to_owned());
        }
        if s.range.is_empty() || !s.range.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return bad(format!("{}: range {:?} is not like \"5d\"", s.symbol, s.range));
        }
        if config.symbols.iter().filter(|o| o.symbol == s.symbol).count() > 1 {
            return bad(format!("{}: listed twice", s.symbol));
        }
        let url = format!(
            "{endpoint}/{}?interval={}&range={}",
            encode(&s.symbol),
            s.interval,
            s.range
        );
        out.push(SymbolState {
            url,
            stamping,
            due: Instant::now(),
            failures: 0,
            stale: false,
            last_ts: None,
        });
    }
    Ok(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
