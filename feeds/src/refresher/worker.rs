//! The refresher thread: scheduling, fetching, emitting, backoff.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kupala_engine::Event;
use kupala_engine::event::Tick;
use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;

use super::{RefresherConfig, StatusBoard, SymbolState, TickSink, chart};

pub(super) struct Worker<S> {
    pub(super) config: RefresherConfig,
    pub(super) symbols: Vec<SymbolState>,
    pub(super) agent: ureq::Agent,
    pub(super) board: Arc<StatusBoard>,
    pub(super) sink: S,
    pub(super) rng: u64,
}

impl<S: TickSink> Worker<S> {
    pub(super) fn run(&mut self, stopped: &mpsc::Receiver<()>) {
        loop {
            let Some((i, due)) = self
                .symbols
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.due))
                .min_by_key(|&(_, d)| d)
            else {
                return;
            };
            let wait = due.saturating_duration_since(Instant::now());
            match stopped.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => self.refresh(i),
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One fetch of symbol `i`, its ticks, its status and next due time.
    fn refresh(&mut self, i: usize) {
        let bounds = chart::Bounds {
            min: self.config.min_price,
            max: self.config.max_price,
        };
        let Some(s) = self.symbols.get(i) else { return };
        let symbol = &self.config.symbols[i];
        let fetched = fetch(&self.agent, &s.url, self.config.max_body)
            .and_then(|body| chart::parse(&body, &symbol.symbol, s.stamping, bounds));
        let now = Instant::now();
        match fetched {
            Ok(parsed) => {
                let emitted = self.emit(i, &parsed.points);
                let s = &mut self.symbols[i];
                s.failures = 0;
                s.stale = false;
                s.due = after(now, self.config.period);
                let (last_ts, stale) = (s.last_ts, s.stale);
                self.board.update(i, |st| {
                    st.fetches += 1;
                    st.consecutive_failures = 0;
                    st.stale = stale;
                    st.skipped += parsed.skipped;
                    st.emitted += emitted.0;
                    st.last_ts = last_ts;
                    st.last_price = emitted.1.or(st.last_price);
                    st.last_success_ms = unix_ms();
                    if let Some(e) = emitted.2 {
                        st.last_error = Some(e);
                    }
                });
            }
            Err(e) => {
                let delay = self.backoff(self.symbols[i].failures + 1);
                let s = &mut self.symbols[i];
                s.failures += 1;
                s.stale |= s.failures >= self.config.stale_after;
                s.due = after(now, delay);
                let (failures, stale) = (s.failures, s.stale);
                self.board.update(i, |st| {
                    st.fetches += 1;
                    st.failures += 1;
                    st.consecutive_failures = failures;
                    st.stale = stale;
                    st.last_error = Some(e);
                });
            }
        }
    }

    /// Emits the points newer than the last tick of symbol `i`, up to now;
    /// (ticks emitted, the last price, a sink error).
    fn emit(
        &mut self,
        i: usize,
        points: &BTreeMap<Timestamp, Price>,
    ) -> (u64, Option<Price>, Option<String>) {
        let now = unix_ms().map_or(i64::MAX, |ms| ms.saturating_mul(1_000_000));
        let (mut n, mut last, mut error) = (0, None, None);
        let s = &mut self.symbols[i];
        let from = s.last_ts;
        let newer = points
            .iter()
            .filter(|&(ts, _)| from.is_none_or(|l| *ts > l) && ts.nanos() <= now);
        for (&ts, &price) in newer {
            let tick = Tick {
                ts,
                instrument: self.config.symbols[i].instrument.clone(),
                price,
            };
            if let Err(e) = self.sink.emit(Event::Tick(tick)) {
                error = Some(format!("tick not taken: {e}"));
                break;
            }
            s.last_ts = Some(ts);
            (n, last) = (n + 1, Some(price));
        }
        (n, last, error)
    }

    /// The delay before attempt `failures + 1`: exponential, capped, the
    /// upper half drawn at random.
    fn backoff(&mut self, failures: u32) -> Duration {
        let doubling = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let full = self
            .config
            .backoff_base
            .saturating_mul(doubling)
            .min(self.config.backoff_max);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let draw = if nanos == 0 {
            0
        } else {
            next(&mut self.rng) % nanos
        };
        half + Duration::from_nanos(draw)
    }
}

/// GETs `url`; the body of a 2xx answer, at most `max_body` bytes.
fn fetch(agent: &ureq::Agent, url: &str, max_body: u64) -> Result<Vec<u8>, String> {
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    response
        .body_mut()
        .with_config()
        .limit(max_body)
        .read_to_vec()
        .map_err(|e| format!("reading the body: {e}"))
}

fn unix_ms() -> Option<i64> {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// A jitter seed: the clock and an address, mixed (no security needed).
pub(super) fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut s = t ^ (std::ptr::from_ref(&t) as usize as u64);
    next(&mut s)
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `now + d`, or about a century later when that overflows.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(3_155_760_000)))
        .unwrap_or(now)
}
