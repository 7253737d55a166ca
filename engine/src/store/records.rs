//! Reading and writing the store's records: journal batches (with tail
//! repair), snapshots, EOD and closed positions, names and source cursors.

use super::journal::JournalBatch;
use super::journal_codec;
use super::{Store, StoreError, decode, encode};
use crate::ids::Names;
use crate::sequencer::{NameKind, NewName};
use crate::state::PositionState;

pub use super::position_record::{BaseRecord, PositionRecord};
use crate::time::Date;

/// A date as a key prefix that sorts in date order.
#[must_use]
pub fn date_key(date: Date) -> [u8; 4] {
    (date.0.cast_unsigned() ^ 0x8000_0000).to_be_bytes()
}

fn position_key(date: Date, account: u32, instrument: u32) -> Vec<u8> {
    let mut k = date_key(date).to_vec();
    k.extend_from_slice(&account.to_be_bytes());
    k.extend_from_slice(&instrument.to_be_bytes());
    k
}

fn name_key(kind: NameKind, id: u32) -> Vec<u8> {
    let tag = match kind {
        NameKind::Account => b'a',
        NameKind::Instrument => b'i',
        NameKind::Currency => b'c',
    };
    let mut k = b"name/".to_vec();
    k.push(tag);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(crate) fn corrupt(
    keyspace: &'static str,
    key: impl std::fmt::Display,
    reason: impl std::fmt::Display,
) -> StoreError {
    StoreError::Corrupt {
        keyspace,
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

impl Store {
    /// Appends batches to the journal, with their names and source cursor,
    /// in one atomic write (not yet fsynced: see [`Store::sync`]).
    pub fn append<'a>(&self, batches: impl IntoIterator<Item = &'a JournalBatch>) -> Result<(), StoreError> {
        let mut w = self.db().batch();
        let mut bytes = 0;
        for b in batches {
            let Some(first) = b.first_seq() else { continue };
            let value = journal_codec::encode(b);
            bytes += value.len() as u64;
            w.insert(&self.journal, first.to_be_bytes(), value);
            for n in &b.names {
                w.insert(&self.meta, name_key(n.kind, n.id), n.name.as_bytes());
            }
            if let Some((source, pos)) = &b.cursor {
                w.insert(&self.meta, format!("cursor/{source}"), pos.to_be_bytes());
            }
        }
        w.commit()?;
        self.stats().journal_written(bytes);
        Ok(())
    }

    /// The first seq the journal holds (`None` when it is empty).
    pub fn first_journal_seq(&self) -> Result<Option<u64>, StoreError> {
        match self.journal.iter().next() {
            None => Ok(None),
            Some(g) => {
                let k = g.key()?;
                seq_of(&k)
                    .map(Some)
                    .ok_or_else(|| corrupt("journal", format!("{k:?}"), "key is not a seq"))
            }
        }
    }

    /// Every journal batch key (first seq), in order.
    pub fn journal_keys(&self) -> Result<Vec<u64>, StoreError> {
        let mut keys = Vec::new();
        for g in self.journal.iter() {
            let k = g.key()?;
            keys.push(seq_of(&k).ok_or_else(|| corrupt("journal", format!("{k:?}"), "key is not a seq"))?);
        }
        Ok(keys)
    }

    /// The stored size in bytes of each journal batch, by first seq (its
    /// encoding, before fjall's own framing).
    pub fn journal_sizes(&self) -> Result<Vec<(u64, usize)>, StoreError> {
        let mut out = Vec::new();
        for g in self.journal.iter() {
            let (k, v) = g.into_inner()?;
            let seq = seq_of(&k).ok_or_else(|| corrupt("journal", format!("{k:?}"), "key is not a seq"))?;
            out.push((seq, v.len()));
        }
        Ok(out)
    }

    /// Reads the batch stored under `first_seq`.
    pub fn journal_batch(&self, first_seq: u64) -> Result<JournalBatch, StoreError> {
        let bytes = self
            .journal
            .get(first_seq.to_be_bytes())?
            .ok_or_else(|| corrupt("journal", first_seq, "missing"))?;
        let b = journal_codec::decode(&bytes).map_err(|e| corrupt("journal", first_seq, e))?;
        if b.first_seq() != Some(first_seq) || !b.is_contiguous() {
            return Err(corrupt(
                "journal",
                first_seq,
                "seqs do not match the key or are not contiguous",
            ));
        }
        Ok(b)
    }

    /// Removes journal batches (tail repair, pruning).
    pub fn remove_journal(&self, keys: &[u64]) -> Result<(), StoreError> {
        let mut w = self.db().batch();
        for k in keys {
            w.remove(&self.journal, k.to_be_bytes());
        }
        w.commit()?;
        self.sync()
    }

    /// The position a source reached (see [`JournalBatch::cursor`]).
    pub fn cursor(&self, source: &str) -> Result<Option<u64>, StoreError> {
        let v = self.meta.get(format!("cursor/{source}"))?;
        Ok(v.and_then(|v| seq_of(&v)))
    }

    /// The names recorded with the journal (for rendering stored records).
    pub fn names(&self) -> Result<Names, StoreError> {
        let mut names = Names::default();
        let mut all: Vec<NewName> = Vec::new();
        for g in self.meta.prefix("name/") {
            let (k, v) = g.into_inner()?;
            if k.len() != 10 {
                continue;
            }
            let kind = match k[5] {
                b'a' => NameKind::Account,
                b'i' => NameKind::Instrument,
                _ => NameKind::Currency,
            };
            let id = u32::from_be_bytes([k[6], k[7], k[8], k[9]]);
            all.push(NewName {
                kind,
                id,
                name: String::from_utf8_lossy(&v).into_owned(),
            });
        }
        for n in all {
            let interner = match n.kind {
                NameKind::Account => &mut names.accounts,
                NameKind::Instrument => &mut names.instruments,
                NameKind::Currency => &mut names.currencies,
            };
            let _ = interner.restore(n.id, &n.name);
        }
        Ok(names)
    }

    /// Deletes journal batches whose events all precede `seq` (they are in
    /// a snapshot at or after `seq - 1`). Returns how many.
    pub fn prune_journal_before(&self, seq: u64) -> Result<usize, StoreError> {
        let keys = self.journal_keys()?;
        let dead: Vec<u64> = keys.windows(2).filter(|w| w[1] <= seq).map(|w| w[0]).collect();
        self.remove_journal(&dead)?;
        Ok(dead.len())
    }

    /// Writes a day's EOD positions.
    pub fn put_eod(&self, date: Date, positions: &[PositionState], names: &Names) -> Result<(), StoreError> {
        let mut w = self.db().batch();
        for p in positions {
            let rec = PositionRecord::new(date, p, names);
            let value = rec.encode().map_err(|e| corrupt("eod_positions", date, e))?;
            let mut key = position_key(date, rec.account, rec.instrument);
            if let Some(s) = &rec.strategy {
                // A strategy book's position of the same instrument.
                key.extend_from_slice(s.as_bytes());
            }
            w.insert(&self.eod_positions, key, value);
        }
        let mut marker = b"eod/".to_vec();
        marker.extend_from_slice(&date_key(date));
        w.insert(&self.meta, marker, (positions.len() as u64).to_be_bytes());
        w.commit()?;
        self.stats().eod_written(date);
        Ok(())
    }

    /// Records positions an EOD closed.
    pub fn put_closed(
        &self,
        date: Date,
        positions: &[PositionState],
        names: &Names,
    ) -> Result<(), StoreError> {
        let mut w = self.db().batch();
        for p in positions {
            let rec = PositionRecord::new(date, p, names);
            let mut key = position_key(date, rec.account, rec.instrument);
            key.extend_from_slice(&rec.seq.to_be_bytes());
            if let Some(s) = &rec.strategy {
                key.extend_from_slice(s.as_bytes());
            }
            let value = rec.encode().map_err(|e| corrupt("closed_positions", date, e))?;
            w.insert(&self.closed_positions, key, value);
        }
        w.commit()?;
        Ok(())
    }

    fn records(
        &self,
        ks: &fjall::Keyspace,
        name: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<PositionRecord>, StoreError> {
        let mut out = Vec::new();
        for g in ks.prefix(prefix) {
            let (k, v) = g.into_inner()?;
            out.push(PositionRecord::decode(&v).map_err(|e| corrupt(name, format!("{k:?}"), e))?);
        }
        Ok(out)
    }

    /// The EOD positions of `date`.
    pub fn eod(&self, date: Date) -> Result<Vec<PositionRecord>, StoreError> {
        self.records(&self.eod_positions, "eod_positions", &date_key(date))
    }

    /// Closed positions, all or of one date.
    pub fn closed(&self, date: Option<Date>) -> Result<Vec<PositionRecord>, StoreError> {
        let prefix = date.map(date_key).map_or_else(Vec::new, |k| k.to_vec());
        self.records(&self.closed_positions, "closed_positions", &prefix)
    }

    /// Dates an EOD was recorded for, oldest first.
    pub fn eod_dates(&self) -> Result<Vec<Date>, StoreError> {
        let mut dates = Vec::new();
        for g in self.meta.prefix("eod/") {
            let k = g.key()?;
            if k.len() == 8 {
                dates.push(Date(
                    (u32::from_be_bytes([k[4], k[5], k[6], k[7]]) ^ 0x8000_0000).cast_signed(),
                ));
            }
        }
        Ok(dates)
    }
}

impl Store {
    /// Stores an EOD's rebalancing proposals (replacing that date's).
    pub fn put_proposals(
        &self,
        date: Date,
        proposals: &[crate::rebalance::Proposal],
    ) -> Result<(), StoreError> {
        let mut w = self.db().batch();
        for g in self.proposals.prefix(date_key(date)) {
            w.remove(&self.proposals, g.key()?);
        }
        for (i, p) in proposals.iter().enumerate() {
            let mut key = date_key(date).to_vec();
            let index = u32::try_from(i).map_err(|e| corrupt("proposals", date, e))?;
            key.extend_from_slice(&index.to_be_bytes());
            let value = encode(p).map_err(|e| corrupt("proposals", date, e))?;
            w.insert(&self.proposals, key, value);
        }
        w.commit()?;
        Ok(())
    }

    /// The proposals stored for an EOD date.
    pub fn proposals(&self, date: Date) -> Result<Vec<crate::rebalance::Proposal>, StoreError> {
        let mut out = Vec::new();
        for g in self.proposals.prefix(date_key(date)) {
            let (k, v) = g.into_inner()?;
            out.push(decode(&v).map_err(|e| corrupt("proposals", format!("{k:?}"), e))?);
        }
        Ok(out)
    }
}

impl Store {
    /// Stores an analysis result (the ML sidecar's output) under `key`.
    pub fn put_analysis(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.analysis.insert(key, value)?;
        Ok(())
    }

    /// Reads an analysis result.
    pub fn analysis(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.analysis.get(key)?.map(|v| v.to_vec()))
    }
}

impl Store {
    /// Writes raw bytes as a journal value: only for tests and fixtures that
    /// must produce a damaged journal.
    #[doc(hidden)]
    pub fn put_raw_journal(&self, key: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.journal.insert(key.to_be_bytes(), bytes)?;
        self.sync()
    }
}
