//! Hooks for tests that must damage a store's files the way a disk would.

use std::path::PathBuf;

use super::{Store, StoreError};

impl Store {
    /// Writes the snapshots held in memory (and fjall's log) into a table
    /// file and returns the directory of the snapshots keyspace's tables:
    /// only for tests that flip bytes in a stored snapshot.
    #[doc(hidden)]
    pub fn flush_snapshots_to_table(&self) -> Result<PathBuf, StoreError> {
        self.snapshots.rotate_memtable_and_wait()?;
        self.sync()?;
        Ok(self.snapshots.path().join("tables"))
    }
}
