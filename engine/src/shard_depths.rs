//! How many batches wait in each shard's queue, for metrics: the router
//! stores a queue's length after each send to it, the shard worker after
//! each receive (one relaxed store per batch, never per event), so the
//! figure is at most one batch stale and reads 0 on an idle shard.

use std::sync::atomic::{AtomicU64, Ordering};

/// Per shard, the batches waiting in its queue when last looked at.
#[derive(Debug)]
pub struct ShardDepths(Box<[AtomicU64]>);

impl ShardDepths {
    /// Zero depths for `shards` shards.
    #[must_use]
    pub fn new(shards: usize) -> Self {
        Self((0..shards).map(|_| AtomicU64::new(0)).collect())
    }

    /// Records shard `shard`'s queue length.
    pub(crate) fn set(&self, shard: usize, len: usize) {
        if let Some(d) = self.0.get(shard) {
            d.store(len as u64, Ordering::Relaxed);
        }
    }

    /// Every shard's depth, by shard index.
    #[must_use]
    pub fn read(&self) -> Vec<u64> {
        self.0.iter().map(|d| d.load(Ordering::Relaxed)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_are_per_shard_and_ignore_unknown_shards() {
        let d = ShardDepths::new(2);
        d.set(1, 5);
        d.set(7, 9);
        assert_eq!(d.read(), vec![0, 5]);
    }
}
