//! A process-wide monotonic clock in nanoseconds, for latency stamps that
//! travel with batches (`ShardOutput::t_in`) and are read on other threads;
//! and the wall clock in milliseconds, for the times `/metrics` shows.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call in this process (never 0 after it).
#[must_use]
pub fn now_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Milliseconds since the Unix epoch by the wall clock (0 for a clock set
/// before 1970): when something last happened, as `/metrics` shows it.
#[must_use]
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}
