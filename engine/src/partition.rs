//! How accounts are partitioned over shards: each account belongs to one
//! shard, which holds all its positions and its totals. Every other op
//! (ticks, FX, splits, definitions, EODs) reaches every shard, and so does
//! each trade, because before an instrument's first tick a trade's price is
//! its mark in every shard.
//!
//! Partitioning by account keeps an account's totals in one place (moved
//! in place by the tick loop, never summed across threads) and spreads the
//! holders of a hot instrument evenly over the shards.

use rustc_hash::FxHasher;
use std::hash::Hasher;

use crate::ids::AccountId;

/// The shard an account belongs to: a hash of its id, so partitioning is a
/// pure function of the journal (ids are interned in journal order).
#[must_use]
pub fn shard_of(account: AccountId, shards: usize) -> usize {
    let mut h = FxHasher::default();
    h.write_u32(account.0);
    usize::try_from(h.finish() % shards.max(1) as u64).unwrap_or(0)
}

/// Which accounts a book owns: those [`shard_of`] maps to its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// This book's shard.
    pub shard: usize,
    /// How many shards there are (≥ 1).
    pub shards: usize,
}

impl Owner {
    /// A single book owning every account.
    pub const ALL: Self = Self { shard: 0, shards: 1 };

    /// True when `account`'s positions and totals live in this book.
    #[must_use]
    #[inline]
    pub fn owns(self, account: AccountId) -> bool {
        self.shards <= 1 || shard_of(account, self.shards) == self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_spread_over_shards_and_each_has_one_owner() {
        let counts = (0..1000).fold([0usize; 4], |mut c, i| {
            c[shard_of(AccountId(i), 4)] += 1;
            c
        });
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
        for i in 0..100 {
            let owners = (0..3)
                .filter(|&s| Owner { shard: s, shards: 3 }.owns(AccountId(i)))
                .count();
            assert_eq!(owners, 1);
        }
    }
}
