//! A process-wide monotonic clock in nanoseconds, for latency stamps that
//! travel with batches (`ShardOutput::t_in`) and are read on other threads.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call in this process (never 0 after it).
#[must_use]
pub fn now_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}
