//! The acknowledged high-water mark: the highest seq kupala has reported
//! durable (an `ack`, a `durable SEQ LINE` line), kept in `DIR/ACKED`,
//! outside the LSM and written after each journal fsync, before the durable
//! watermark moves. Recovery compares it with how far the journal really
//! reaches: the LSM's own log recovery cuts silently at a damaged byte, and
//! this file is how kupala knows independently that acknowledged events are
//! missing (and refuses to start until the loss is accepted explicitly).
//!
//! Format: two 24-byte slots written alternately, each `"KACK"`, a format
//! byte, three zero bytes, the seq (u64 LE), the CRC-32 of the 16 bytes
//! before it and four zero bytes. A torn write damages at most the slot
//! being written; the mark is the highest valid slot.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The file's name in the store directory.
pub const ACKED_FILE: &str = "ACKED";
const MAGIC: &[u8; 4] = b"KACK";
const FORMAT: u8 = 1;
const SLOT: usize = 24;

fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = format!("{what} {}", path.display());
    move |cause| StoreError::Io { context, cause }
}

fn encode(seq: u64) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[..4].copy_from_slice(MAGIC);
    slot[4] = FORMAT;
    slot[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&slot[..16]);
    slot[16..20].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode(slot: &[u8]) -> Option<u64> {
    let crc = u32::from_le_bytes(slot.get(16..20)?.try_into().ok()?);
    if slot.get(..4)? != MAGIC || slot[4] != FORMAT || crc32fast::hash(&slot[..16]) != crc {
        return None;
    }
    Some(u64::from_le_bytes(slot[8..16].try_into().ok()?))
}

/// Reads the mark of the store in `dir` without writing anything: `None`
/// when there is no file (a new store, or one written before the mark
/// existed), an error when the file exists and no slot is valid.
pub fn read_acked(dir: &Path) -> Result<Option<u64>, StoreError> {
    let path = dir.join(ACKED_FILE);
    let mut bytes = Vec::with_capacity(2 * SLOT);
    match File::open(&path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(io(&path, "reading"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, "opening")(e)),
    };
    let best = bytes.chunks(SLOT).filter_map(decode).max();
    match best {
        Some(seq) => Ok(Some(seq)),
        None if bytes.is_empty() => Ok(None),
        None => Err(StoreError::Corrupt {
            keyspace: "ACKED",
            key: path.display().to_string(),
            reason: "no valid slot: how far acknowledgements went is unknown".into(),
        }),
    }
}

/// The writer of the mark (the journal thread owns it).
#[derive(Debug)]
pub struct AckMark {
    path: PathBuf,
    file: File,
    next_slot: u64,
    seq: u64,
}

impl AckMark {
    /// Opens (creating) the mark of the store in `dir`, starting at `seq`
    /// (what recovery reached, which is never below the stored mark).
    pub fn open(dir: &Path, seq: u64) -> Result<Self, StoreError> {
        let path = dir.join(ACKED_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path, "opening"))?;
        let mut mark = Self {
            path,
            file,
            next_slot: 0,
            seq: 0,
        };
        mark.write_both(seq)?;
        Ok(mark)
    }

    /// The seq last made durable in the file.
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// Records that every seq up to `seq` is durable and may be
    /// acknowledged; returns once the file is fsynced. A `seq` at or below
    /// the current mark writes nothing.
    pub fn advance(&mut self, seq: u64) -> Result<(), StoreError> {
        if seq <= self.seq {
            return Ok(());
        }
        self.write_slot(self.next_slot, seq)?;
        self.next_slot ^= 1;
        self.sync()?;
        self.seq = seq;
        Ok(())
    }

    /// Sets the mark to `seq` in both slots, also downwards (recovery after
    /// a loss was accepted: the mark must not claim the lost events).
    pub fn write_both(&mut self, seq: u64) -> Result<(), StoreError> {
        self.write_slot(0, seq)?;
        self.write_slot(1, seq)?;
        self.file
            .set_len(2 * SLOT as u64)
            .map_err(io(&self.path, "sizing"))?;
        self.sync()?;
        self.seq = seq;
        Ok(())
    }

    fn write_slot(&mut self, slot: u64, seq: u64) -> Result<(), StoreError> {
        self.file
            .seek(SeekFrom::Start(slot * SLOT as u64))
            .map_err(io(&self.path, "seeking in"))?;
        self.file
            .write_all(&encode(seq))
            .map_err(io(&self.path, "writing"))
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io(&self.path, "fsyncing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_survives_reopening_and_a_torn_slot() -> Result<(), StoreError> {
        let Ok(dir) = tempfile::tempdir() else {
            return Ok(());
        };
        assert_eq!(read_acked(dir.path())?, None, "no file, no claim");
        let mut mark = AckMark::open(dir.path(), 5)?;
        mark.advance(9)?;
        mark.advance(12)?;
        mark.advance(7)?; // never backwards
        assert_eq!(read_acked(dir.path())?, Some(12));
        // Tear the slot holding 12: the other (9) still bounds the acks.
        let path = dir.path().join(ACKED_FILE);
        let mut bytes = std::fs::read(&path).map_err(io(&path, "reading"))?;
        bytes[SLOT + 9] ^= 0xff;
        std::fs::write(&path, &bytes).map_err(io(&path, "writing"))?;
        assert_eq!(read_acked(dir.path())?, Some(9));
        // Both slots damaged: unknown, which is an error, not a zero.
        bytes[9] ^= 0xff;
        std::fs::write(&path, &bytes).map_err(io(&path, "writing"))?;
        assert!(read_acked(dir.path()).is_err());
        let mut mark = AckMark::open(dir.path(), 3)?;
        assert_eq!(read_acked(dir.path())?, Some(3), "an accepted loss lowers it");
        mark.advance(4)?;
        assert_eq!(read_acked(dir.path())?, Some(4));
        Ok(())
    }
}
