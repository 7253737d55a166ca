//! A connection's rate limit: `max_msgs_per_sec` messages per second in
//! bursts of as many (governor's GCRA, a token bucket without timers);
//! past twice that within a second, the connection is closed.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// One connection's limiter and its count of refusals in the last second
/// (on the monotonic clock; the tests drive a fake one).
pub(super) struct Bucket<C: Clock = MonotonicClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    rate: u32,
    over: u32,
    window: Instant,
}

/// What the limiter says of one message.
pub(super) enum Verdict {
    /// Within the rate: handle it.
    Ok,
    /// Over the rate: refuse it (`rate_limited`), keep the connection.
    Limited,
    /// Refused more than `rate` times within a second: close.
    Close,
}

impl Bucket {
    pub(super) fn new(rate: u32) -> Self {
        Self::with_clock(rate, MonotonicClock)
    }
}

impl<C: Clock> Bucket<C> {
    fn with_clock(rate: u32, clock: C) -> Self {
        // A rate of 0 is refused by the config; 1 is the least.
        let per_sec = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct_with_clock(Quota::per_second(per_sec), clock),
            rate: per_sec.get(),
            over: 0,
            window: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> Verdict {
        if self.limiter.check().is_ok() {
            return Verdict::Ok;
        }
        if now.saturating_duration_since(self.window) > Duration::from_secs(1) {
            self.window = now;
            self.over = 0;
        }
        self.over += 1;
        if self.over > self.rate {
            Verdict::Close
        } else {
            Verdict::Limited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_burst_of_the_rate_passes_then_refusals_then_a_close() {
        let clock = FakeRelativeClock::default();
        let mut b = Bucket::with_clock(5, clock.clone());
        let now = Instant::now();
        let ok = (0..5).filter(|_| matches!(b.take(now), Verdict::Ok)).count();
        assert_eq!(ok, 5, "a burst of the rate is allowed");
        let limited = (0..5).filter(|_| matches!(b.take(now), Verdict::Limited)).count();
        assert_eq!(limited, 5, "the next ones are refused, the connection kept");
        assert!(
            matches!(b.take(now), Verdict::Close),
            "past twice the rate: closed"
        );
        // A fifth of a second later one more message is within the rate.
        clock.advance(Duration::from_millis(200));
        assert!(matches!(b.take(now), Verdict::Ok));
        assert!(!matches!(b.take(now), Verdict::Ok), "and only one");
    }
}
