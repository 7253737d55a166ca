//! Read-only access to a store through a private copy.
//!
//! fjall 3.1 has no read-only open: opening a database recovers it, which
//! truncates the preallocated active journal to its valid length (or seals
//! and rotates it), persists, deletes superseded version files, and may
//! flush memtables into new tables. So `kupala inspect` opening the store
//! itself changed it. Instead, [`Store::open_read_only`] copies the
//! directory into a fresh temporary directory and opens fjall there; the
//! original is only read.
//!
//! What is copied: every file, except the tables (`…/tables/<id>`), which
//! lsm-tree creates with `create_new` and never writes again (compaction
//! writes new tables and unlinks old ones); a table is hard-linked when the
//! temporary directory is on the same filesystem, else copied. Journals,
//! version pointers and everything else fjall may rewrite on open are
//! copied, holes skipped (a journal is preallocated, mostly zeros).
//!
//! On a running server the copy is a point-in-time read of files that may
//! change under it: a torn journal tail in the copy is cut by fjall's own
//! recovery (in the copy); a compaction that removes a table between
//! reading the version and linking the table makes the open fail, and it is
//! retried.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{MARKER, Store, StoreError, check_marker, dir_size, io};

/// Attempts to copy and open a store that changes under the copy.
const ATTEMPTS: usize = 3;

/// A store opened read-only (see the module docs): derefs to a [`Store`]
/// over a private copy, removed when this is dropped. Writes through it
/// change only the copy.
pub struct ReadOnlyStore {
    // Fields drop in order: fjall closes before its copy is removed.
    store: Store,
    source: PathBuf,
    copy: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::fmt::Debug for ReadOnlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyStore")
            .field("source", &self.source)
            .field("copy", &self.copy.0)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for ReadOnlyStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// These shadow [`Store::path`] and [`Store::disk_space`], which would
/// describe the copy.
impl ReadOnlyStore {
    /// The original store's directory (not the copy's).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.source
    }

    /// Bytes the original store occupies on disk.
    #[must_use]
    pub fn disk_space(&self) -> u64 {
        dir_size(&self.source)
    }
}

impl Store {
    /// Opens the store in `dir` without changing anything in `dir`: through
    /// a private copy in the temporary directory (`TMPDIR`; on the store's
    /// filesystem, tables are linked rather than copied). Fails, writing
    /// nothing, when `dir` holds no kupala store.
    pub fn open_read_only(dir: &Path) -> Result<ReadOnlyStore, StoreError> {
        let marker = dir.join(MARKER);
        if !marker.exists() {
            return Err(StoreError::NoStore { path: dir.to_owned() });
        }
        check_marker(dir, &marker)?;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let copy = TempDir(fresh_temp_dir()?);
            match copy_tree(dir, &copy.0).and_then(|()| Store::open(&copy.0)) {
                Ok(store) => {
                    return Ok(ReadOnlyStore {
                        store,
                        source: dir.to_owned(),
                        copy,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Db("copying the store for reading failed".into())))
    }
}

/// A new, empty directory under the temporary directory.
fn fresh_temp_dir() -> Result<PathBuf, StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("kupala-read-{}-{nanos}-{n}", std::process::id()));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {}
            Err(e) => return Err(io(format!("creating {}", path.display()))(e)),
        }
    }
}

/// Copies the tree under `from` into the existing directory `to`. Files
/// that vanish while it walks (a compaction on a running server) are
/// skipped; a table the copied version still names then makes the open fail
/// (and the caller retry).
fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = match entry.file_type() {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("reading {}", src.display()))(e)),
        };
        if kind.is_dir() {
            std::fs::create_dir(&dst).map_err(io(format!("creating {}", dst.display())))?;
            copy_tree(&src, &dst)?;
            continue;
        }
        let is_table = from.file_name().is_some_and(|n| n == "tables");
        let copied = if is_table && std::fs::hard_link(&src, &dst).is_ok() {
            Ok(())
        } else {
            copy_sparse(&src, &dst)
        };
        match copied {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("copying {}", src.display()))(e)),
        }
    }
    Ok(())
}

/// Copies a file, leaving holes where it reads blocks of zeros.
fn copy_sparse(src: &Path, dst: &Path) -> std::io::Result<()> {
    const BLOCK: usize = 64 * 1024;
    let mut input = File::open(src)?;
    let mut output = File::create(dst)?;
    let mut buf = vec![0u8; BLOCK];
    let mut len: u64 = 0;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        let block = &buf[..n];
        if block.iter().all(|&b| b == 0) {
            output.seek(SeekFrom::Current(
                i64::try_from(n).map_err(std::io::Error::other)?,
            ))?;
        } else {
            output.write_all(block)?;
        }
        len += n as u64;
    }
    output.set_len(len)
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(input: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
