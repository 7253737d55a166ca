//! A connection's rate limit: a token bucket of `max_msgs_per_sec`
//! messages per second (bursts of as many); past twice that within a
//! second, the connection is closed.

use std::time::{Duration, Instant};

/// A token bucket: `rate` messages per second, bursts of `rate`.
pub(super) struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
    over: u32,
    window: Instant,
}

pub(super) enum Verdict {
    Ok,
    Limited,
    Close,
}

impl Bucket {
    pub(super) fn new(rate: u32) -> Self {
        let now = Instant::now();
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate,
            last: now,
            over: 0,
            window: now,
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> Verdict {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Ok;
        }
        if now.saturating_duration_since(self.window) > Duration::from_secs(1) {
            self.window = now;
            self.over = 0;
        }
        self.over += 1;
        if f64::from(self.over) > self.rate {
            Verdict::Close
        } else {
            Verdict::Limited
        }
    }
}
