//! The embedded store (fjall): the journal (the source of truth), snapshots,
//! EOD positions, closed positions, rebalancing proposals, analysis results,
//! metadata and the P&L history, each in its own keyspace; every value framed and checksummed
//! (`frame`), archived with rkyv.
//!
//! The directory holds a `KUPALA_STORE` marker with the format version. Opening
//! a directory without it (and not empty), or of another version, fails before
//! anything is written.

pub mod acked;
mod copy;
mod fixtures;
mod frame;
pub mod history;
pub mod history_writer;
pub mod journal;
pub mod journal_codec;
mod position_record;
pub mod records;
pub mod snapshot_codec;
mod snapshots;
pub mod stats;
mod varint;

pub use copy::ReadOnlyStore;
pub use frame::{FrameError, decode, encode};
pub use stats::{SideWrite, StoreStats};

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// The on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;
/// The marker file's name.
pub const MARKER: &str = "KUPALA_STORE";

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory holds something that is not a kupala store.
    #[error(
        "{path} is not a kupala store (no {MARKER} file, and the directory is not empty); refusing to touch it"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
    /// Nothing to read: the directory holds no store (read-only opens).
    #[error("{path} holds no kupala store")]
    NoStore {
        /// The directory.
        path: PathBuf,
    },
    /// The store was written by a build with another format.
    #[error("{path} holds a kupala store of format {found}; this build reads format {FORMAT_VERSION}")]
    Version {
        /// The directory.
        path: PathBuf,
        /// The format found.
        found: String,
    },
    /// A filesystem error (its cause is in the message, once).
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Another process has the store open.
    #[error(
        "another kupala holds {path} (its store is locked): stop it first, or give this one another --data"
    )]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
    /// The LSM's write-ahead log (`DIR/db/*.jnl`) fails its own checks in
    /// the middle, and the LSM refuses to open it.
    #[error(
        "the store's write-ahead log in {path}/db is damaged ({reason}); refusing to open it{}. Restore the directory from a backup",
        acknowledged.map(|a| format!(": events up to seq {a} were acknowledged as durable and some of them may be lost")).unwrap_or_default()
    )]
    DamagedLog {
        /// The store directory.
        path: PathBuf,
        /// What the LSM reported.
        reason: String,
        /// The acknowledged high-water mark, when readable.
        acknowledged: Option<u64>,
    },
    /// An error from fjall.
    #[error("store: {0}")]
    Db(String),
    /// A stored value that cannot be read.
    #[error("{keyspace} record {key}: {reason}")]
    Corrupt {
        /// The keyspace.
        keyspace: &'static str,
        /// The key, rendered.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// An open store.
pub struct Store {
    path: PathBuf,
    db: Database,
    pub(crate) journal: Keyspace,
    pub(crate) snapshots: Keyspace,
    pub(crate) eod_positions: Keyspace,
    pub(crate) closed_positions: Keyspace,
    pub(crate) proposals: Keyspace,
    pub(crate) analysis: Keyspace,
    pub(crate) meta: Keyspace,
    pub(crate) history: Keyspace,
    /// The P&L history's chunks in progress (see `history`).
    pub(crate) history_open: std::sync::Mutex<history::OpenChunks>,
    stats: StoreStats,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |cause| StoreError::Io { context, cause }
}

/// The store's keyspaces, in the order of the fields of [`Store`].
const KEYSPACES: [&str; 8] = [
    "journal",
    "snapshots",
    "eod_positions",
    "closed_positions",
    "proposals",
    "analysis",
    "meta",
    "history",
];

/// Opens the fjall database at `path`. Its write-ahead log is not
/// compressed: journal batches are compact already, and lz4 over a
/// snapshot costs seconds of the writing thread (and again at recovery).
fn open_database(path: &Path) -> Result<Database, fjall::Error> {
    Database::builder(path)
        .journal_compression(fjall::CompressionType::None)
        .open()
}

/// Creates the database of a new store aside (`DIR/db.new`) with every
/// keyspace, and moves it into place only then. A process killed while
/// fjall creates the keyspaces (each a directory and a log entry) would
/// otherwise leave a database that refuses to open ("File exists"); killed
/// here, it leaves only the aside copy, which holds nothing yet and is
/// rebuilt at the next open.
fn create_database(dir: &Path, db_path: &Path) -> Result<(), StoreError> {
    let staging = dir.join("db.new");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(format!("removing {}", staging.display())))?;
    }
    {
        let db = open_database(&staging)?;
        for name in KEYSPACES {
            db.keyspace(name, KeyspaceCreateOptions::default)?;
        }
        db.persist(PersistMode::SyncAll)?;
    }
    std::fs::rename(&staging, db_path).map_err(io(format!("moving {} into place", staging.display())))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

impl Store {
    /// Opens the store in `dir`, creating it if `dir` is absent or empty.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let marker = dir.join(MARKER);
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(format!("reading {}", dir.display()))(e)),
        };
        if fresh {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            std::fs::write(&marker, format!("kupala store format {FORMAT_VERSION}\n"))
                .map_err(io(format!("writing {}", marker.display())))?;
        } else {
            check_marker(dir, &marker)?;
        }
        let db_path = dir.join("db");
        if !db_path.exists() {
            create_database(dir, &db_path)?;
        }
        let db = open_database(&db_path).map_err(|e| match e {
            fjall::Error::Locked => StoreError::Locked { path: dir.to_owned() },
            fjall::Error::JournalRecovery(reason) => StoreError::DamagedLog {
                path: dir.to_owned(),
                reason: reason.to_string(),
                acknowledged: acked::read_acked(dir).ok().flatten(),
            },
            e => e.into(),
        })?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let store = Self {
            path: dir.to_owned(),
            journal: ks(KEYSPACES[0])?,
            snapshots: ks(KEYSPACES[1])?,
            eod_positions: ks(KEYSPACES[2])?,
            closed_positions: ks(KEYSPACES[3])?,
            proposals: ks(KEYSPACES[4])?,
            analysis: ks(KEYSPACES[5])?,
            meta: ks(KEYSPACES[6])?,
            history: ks(KEYSPACES[7])?,
            history_open: std::sync::Mutex::default(),
            db,
            stats: StoreStats::default(),
        };
        store.check_meta_version()?;
        if let Some(&last) = store.eod_dates()?.iter().max() {
            store.stats.eod_written(last);
        }
        Ok(store)
    }

    fn check_meta_version(&self) -> Result<(), StoreError> {
        match self.meta.get("format")? {
            None => {
                self.meta.insert("format", FORMAT_VERSION.to_be_bytes())?;
                self.db.persist(PersistMode::SyncAll)?;
                Ok(())
            }
            Some(v) if v.as_ref() == FORMAT_VERSION.to_be_bytes() => Ok(()),
            Some(v) => Err(StoreError::Version {
                path: self.path.clone(),
                found: format!("{:?}", v.as_ref()),
            }),
        }
    }

    /// The store's directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fjall database (for atomic multi-keyspace batches).
    pub(crate) const fn db(&self) -> &Database {
        &self.db
    }

    /// What the store has done (journal bytes, fsync latency, snapshots,
    /// EODs), for metrics.
    #[must_use]
    pub const fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Makes everything written so far durable (fsync).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    #[must_use]
    pub fn disk_space(&self) -> u64 {
        dir_size(&self.path)
    }
}

fn check_marker(dir: &Path, marker: &Path) -> Result<(), StoreError> {
    let text = match std::fs::read_to_string(marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NotAStore { path: dir.to_owned() });
        }
        Err(e) => return Err(io(format!("reading {}", marker.display()))(e)),
    };
    let found = text
        .trim()
        .strip_prefix("kupala store format ")
        .unwrap_or(text.trim());
    if found == FORMAT_VERSION.to_string() {
        Ok(())
    } else {
        Err(StoreError::Version {
            path: dir.to_owned(),
            found: found.to_owned(),
        })
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_killed_while_its_database_was_created_opens() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s");
        // The state a kill leaves mid-creation: the marker, a half-built
        // database aside, none in place.
        std::fs::create_dir_all(path.join("db.new").join("keyspaces"))?;
        std::fs::write(path.join("db.new").join("junk"), b"half written")?;
        std::fs::write(
            path.join(MARKER),
            format!("kupala store format {FORMAT_VERSION}\n"),
        )?;
        let store = Store::open(&path)?;
        assert!(!path.join("db.new").exists(), "the half-built copy was discarded");
        assert!(store.journal_keys()?.is_empty());
        drop(store);
        assert!(Store::open(&path).is_ok(), "and the store reopens");
        Ok(())
    }

    #[test]
    fn refuses_foreign_and_future_directories_without_touching_them() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let foreign = dir.path().join("foreign");
        let _ = std::fs::create_dir_all(&foreign);
        let _ = std::fs::write(foreign.join("notes.txt"), "mine");
        let err = Store::open(&foreign)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is not a kupala store"), "{err}");
        let listing: Vec<_> = std::fs::read_dir(&foreign)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        assert_eq!(listing.len(), 1, "nothing was written");

        let future = dir.path().join("future");
        let _ = std::fs::create_dir_all(&future);
        let _ = std::fs::write(future.join(MARKER), "kupala store format 99\n");
        let err = Store::open(&future)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("format 99"), "{err}");
        assert!(!future.join("db").exists(), "nothing was written");
    }

    #[test]
    fn reopens_in_a_loop() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let path = dir.path().join("s");
        for i in 0..5u8 {
            let store = Store::open(&path);
            assert!(store.is_ok(), "open #{i}: {store:?}");
            if let Ok(s) = store {
                assert!(s.meta.insert([b'k', i], [i]).is_ok());
                assert!(s.sync().is_ok());
                for j in 0..=i {
                    assert_eq!(
                        s.meta.get([b'k', j]).ok().flatten().map(|v| v.to_vec()),
                        Some(vec![j])
                    );
                }
            }
        }
    }
}
