//! Listing snapshots when the keyspace itself may be damaged.

use super::{Store, StoreError};

impl Store {
    /// The snapshot seqs that can be listed, oldest first, and the error
    /// that stopped the listing, if any. Newest first, so damage in a table
    /// (a flipped byte fails its block checksum) still leaves the snapshots
    /// stored after it: recovery then warns instead of silently finding none.
    #[must_use]
    pub fn readable_snapshot_seqs(&self) -> (Vec<u64>, Option<StoreError>) {
        let mut seqs = Vec::new();
        let mut damage = None;
        for g in self.snapshots.iter().rev() {
            match g.key() {
                Ok(k) => {
                    if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                        seqs.push(u64::from_be_bytes(b));
                    }
                }
                Err(e) => {
                    damage = Some(e.into());
                    break;
                }
            }
        }
        seqs.reverse();
        (seqs, damage)
    }
}
