//! Snapshots in the store: each one a head under its seq (8 bytes) and its
//! position chunks under the seq and the chunk's index (12 bytes), all
//! written in one atomic batch (see `snapshot_codec` for the encoding).

use super::records::corrupt;
use super::snapshot_codec::{self, Chunks, EncodedSnapshot, Head};
use super::{Store, StoreError};
use crate::image::EngineImage;

/// The key of chunk `index` of the snapshot at `seq`.
fn chunk_key(seq: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&seq.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Threads for encoding a snapshot's chunks: the cores.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Store {
    /// Writes a snapshot image under its seq and makes it durable; returns
    /// its size in bytes. The chunks are encoded on every core.
    pub fn put_snapshot(&self, image: &EngineImage) -> Result<usize, StoreError> {
        let EncodedSnapshot { head, chunks } = snapshot_codec::encode(image, threads());
        let bytes = head.len() + chunks.iter().map(Vec::len).sum::<usize>();
        let mut w = self.db().batch();
        for (i, c) in chunks.into_iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| corrupt("snapshots", image.seq, "too many chunks"))?;
            w.insert(&self.snapshots, chunk_key(image.seq, index), c);
        }
        w.insert(&self.snapshots, image.seq.to_be_bytes(), head);
        w.commit()?;
        self.sync()?;
        self.stats().snapshot_written(image.seq, bytes as u64);
        Ok(bytes)
    }

    /// Seqs of the stored snapshots, oldest first.
    pub fn snapshot_seqs(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for g in self.snapshots.iter() {
            if let Ok(b) = <[u8; 8]>::try_from(g.key()?.as_ref()) {
                out.push(u64::from_be_bytes(b));
            }
        }
        Ok(out)
    }

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

    /// Reads the snapshot taken at `seq`, every position decoded.
    pub fn snapshot(&self, seq: u64) -> Result<EngineImage, StoreError> {
        let (head, chunks) = self.read_snapshot(seq)?;
        snapshot_codec::decode_chunks(head, chunks).map_err(|e| corrupt("snapshots", seq, e))
    }

    /// Reads the snapshot taken at `seq` for a restore: the image without
    /// its positions, and the chunks they are read from as the restore goes
    /// (see [`Chunks`]).
    pub fn snapshot_parts(&self, seq: u64) -> Result<(EngineImage, Chunks), StoreError> {
        let (head, chunks) = self.read_snapshot(seq)?;
        let chunks = Chunks::new(&head, chunks).map_err(|e| corrupt("snapshots", seq, e))?;
        Ok((head.image, chunks))
    }

    /// A snapshot's head, decoded, and its chunks as stored.
    fn read_snapshot(&self, seq: u64) -> Result<(Head, Vec<Vec<u8>>), StoreError> {
        let bytes = self
            .snapshots
            .get(seq.to_be_bytes())?
            .ok_or_else(|| corrupt("snapshots", seq, "missing"))?;
        let head = snapshot_codec::decode_head(&bytes).map_err(|e| corrupt("snapshots", seq, e))?;
        let mut chunks = Vec::with_capacity(head.chunks as usize);
        for i in 0..head.chunks {
            let c = self
                .snapshots
                .get(chunk_key(seq, i))?
                .ok_or_else(|| corrupt("snapshots", seq, format!("chunk {i} missing")))?;
            chunks.push(c.to_vec());
        }
        Ok((head, chunks))
    }

    /// Deletes snapshots (heads and chunks), oldest first, keeping the
    /// newest `keep`.
    pub fn retain_snapshots(&self, keep: usize) -> Result<Vec<u64>, StoreError> {
        let seqs = self.snapshot_seqs()?;
        let drop_n = seqs.len().saturating_sub(keep.max(1));
        for s in &seqs[..drop_n] {
            let mut w = self.db().batch();
            for g in self.snapshots.prefix(s.to_be_bytes()) {
                w.remove(&self.snapshots, g.key()?);
            }
            w.commit()?;
        }
        Ok(seqs[..drop_n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::PositionImage;
    use crate::store::snapshot_codec::CHUNK_POSITIONS;

    fn image(seq: u64, positions: usize) -> EngineImage {
        let mut img = EngineImage {
            seq,
            ..EngineImage::default()
        };
        img.books.positions = (0..positions)
            .map(|i| PositionImage {
                account: u32::try_from(i % 1000).unwrap_or(0),
                book: u32::try_from(i % 1000).unwrap_or(0),
                instrument: u32::try_from(i / 1000).unwrap_or(0),
                base: 0,
                qty: 5,
                cost: 50,
                lots: Vec::new(),
                realized: 0,
                fees: 0,
                realized_base: 0,
                fees_base: 0,
                baseline: 0,
                baseline_base: 0,
                income: 0,
                income_base: 0,
                cost_base: 0,
                fx_realized: 0,
                mv_base: 0,
                unreal_base: 0,
                priced: true,
                listed: true,
                seq,
            })
            .collect();
        img
    }

    fn keys(store: &Store) -> usize {
        store.snapshots.iter().count()
    }

    #[test]
    fn snapshots_are_written_read_and_pruned_with_their_chunks() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let (a, b) = (image(10, CHUNK_POSITIONS + 1), image(20, 3));
        store.put_snapshot(&a)?;
        store.put_snapshot(&b)?;
        assert_eq!(keys(&store), (1 + 2) + (1 + 1), "two heads, three chunks");
        assert_eq!(store.snapshot_seqs()?, [10, 20]);
        assert_eq!(store.readable_snapshot_seqs().0, [10, 20]);
        assert_eq!(store.snapshot(10)?, a);
        assert_eq!(store.snapshot(20)?, b);
        assert_eq!(store.retain_snapshots(1)?, [10]);
        assert_eq!(keys(&store), 2, "the old snapshot's chunks went with it");
        assert!(store.snapshot(10).is_err());
        assert_eq!(store.snapshot(20)?, b);
        Ok(())
    }

    #[test]
    fn a_missing_chunk_makes_the_snapshot_unreadable() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        store.put_snapshot(&image(7, CHUNK_POSITIONS + 1))?;
        store.snapshots.remove(chunk_key(7, 1))?;
        let err = store.snapshot(7).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("chunk 1 missing"), "{err}");
        Ok(())
    }
}
