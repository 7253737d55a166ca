//! The set of trade ids the sequencer has accepted, so that a trade sent
//! twice (a client's retry, a feed's replay) is applied once.
//!
//! A million ids as `Box<str>` in a hash set cost ≈ 60 bytes each (a
//! 16-byte pointer per bucket and a heap block per id); here every id's
//! bytes follow one another in a single arena, each behind its length
//! byte (event validation keeps ids to 1–128 bytes), and the table holds
//! only each id's offset: ≈ 10 bytes per id plus its text. The arena keeps
//! the order ids were first accepted, which the journal fixes, so the set
//! is the same however the state was reached (live, replayed, restored).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

/// The accepted trade ids, in the order they were first accepted.
#[derive(Clone, Default)]
pub struct TradeIds {
    /// Each id as its length byte, then its bytes.
    arena: Vec<u8>,
    /// The offset in `arena` of each id's length byte.
    table: HashTable<u64>,
}

impl std::fmt::Debug for TradeIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradeIds")
            .field("len", &self.len())
            .field("arena_bytes", &self.arena.len())
            .finish()
    }
}

/// Two sets are equal when they accepted the same ids in the same order
/// (the journal's order, so equal states have equal sets).
impl PartialEq for TradeIds {
    fn eq(&self, other: &Self) -> bool {
        self.arena == other.arena
    }
}

impl Eq for TradeIds {}

impl TradeIds {
    /// How many ids the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Whether `id` was accepted before.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        let hash = FxBuildHasher.hash_one(id.as_bytes());
        self.table
            .find(hash, |&at| id_at(&self.arena, at) == id.as_bytes())
            .is_some()
    }

    /// Adds `id`; returns false if it was there already. An id must be 1 to
    /// 255 bytes (event validation allows 128); a longer one is an
    /// invariant broken upstream and panics.
    pub fn insert(&mut self, id: &str) -> bool {
        let bytes = id.as_bytes();
        let Ok(len) = u8::try_from(bytes.len()) else {
            too_long(bytes.len())
        };
        let hash = FxBuildHasher.hash_one(bytes);
        let at = self.arena.len() as u64;
        let arena = &self.arena;
        match self.table.entry(
            hash,
            |&o| id_at(arena, o) == bytes,
            |&o| FxBuildHasher.hash_one(id_at(arena, o)),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(at);
                self.arena.push(len);
                self.arena.extend_from_slice(bytes);
                true
            }
        }
    }

    /// Every id, in the order first accepted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        Ids {
            arena: &self.arena,
            at: 0,
        }
    }

    /// The arena as stored in a snapshot: each id as its length byte, then
    /// its bytes, in acceptance order.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.arena
    }

    /// The set an arena of [`TradeIds::as_bytes`] describes; `None` if the
    /// bytes are not such an arena (a length running past the end, an id
    /// that is empty, not UTF-8, or repeated).
    #[must_use]
    pub fn from_bytes(arena: Vec<u8>) -> Option<Self> {
        // One pass to check and count (the table is then sized once), one
        // to index.
        let (mut at, mut count) = (0usize, 0usize);
        while at < arena.len() {
            let len = usize::from(arena[at]);
            let id = arena.get(at + 1..at + 1 + len)?;
            if len == 0 || std::str::from_utf8(id).is_err() {
                return None;
            }
            (at, count) = (at + 1 + len, count + 1);
        }
        let mut table = HashTable::with_capacity(count);
        at = 0;
        while at < arena.len() {
            let id = id_at(&arena, at as u64);
            let hash = FxBuildHasher.hash_one(id);
            match table.entry(
                hash,
                |&o| id_at(&arena, o) == id,
                |&o| FxBuildHasher.hash_one(id_at(&arena, o)),
            ) {
                Entry::Occupied(_) => return None,
                Entry::Vacant(slot) => {
                    slot.insert(at as u64);
                }
            }
            at += 1 + id.len();
        }
        Some(Self { arena, table })
    }
}

impl<'a> FromIterator<&'a str> for TradeIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut ids = Self::default();
        for id in iter {
            ids.insert(id);
        }
        ids
    }
}

/// An id longer than a length byte holds reached the set: event validation
/// (1–128 bytes) was bypassed, an invariant broken upstream.
#[cold]
#[inline(never)]
fn too_long(len: usize) -> ! {
    panic!("kupala invariant broken: a {len}-byte trade id passed validation (at most 128 bytes)")
}

/// The bytes of the id whose length byte is at `at`.
fn id_at(arena: &[u8], at: u64) -> &[u8] {
    let at = at as usize;
    let len = usize::from(arena[at]);
    &arena[at + 1..at + 1 + len]
}

/// Iterator over an arena's ids.
struct Ids<'a> {
    arena: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Ids<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.at >= self.arena.len() {
            return None;
        }
        let id = id_at(self.arena, self.at as u64);
        self.at += 1 + id.len();
        // Only valid UTF-8 enters the arena (insert takes a str, from_bytes
        // checks).
        std::str::from_utf8(id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_and_finds_what_it_holds() {
        let mut ids = TradeIds::default();
        assert!(ids.insert("t-1"));
        assert!(ids.insert("t-2"));
        assert!(!ids.insert("t-1"));
        assert!(ids.contains("t-1") && ids.contains("t-2"));
        assert!(!ids.contains("t-3") && !ids.contains("t-"));
        assert_eq!(ids.len(), 2);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["t-1", "t-2"]);
    }

    #[test]
    fn many_ids_survive_table_growth_and_a_round_trip() {
        let all: Vec<String> = (0..50_000).map(|i| format!("trade-{i}-é")).collect();
        let ids: TradeIds = all.iter().map(String::as_str).collect();
        assert_eq!(ids.len(), all.len());
        assert!(all.iter().all(|id| ids.contains(id)));
        let back = TradeIds::from_bytes(ids.as_bytes().to_vec()).expect("a valid arena");
        assert_eq!(back.iter().collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
        assert!(back.contains("trade-49999-é") && !back.contains("trade-50000-é"));
    }

    #[test]
    fn a_bad_arena_is_refused() {
        assert!(
            TradeIds::from_bytes(vec![3, b'a', b'b']).is_none(),
            "runs past the end"
        );
        assert!(TradeIds::from_bytes(vec![0]).is_none(), "empty id");
        assert!(TradeIds::from_bytes(vec![1, 0xff]).is_none(), "not UTF-8");
        assert!(TradeIds::from_bytes(vec![1, b'a', 1, b'a']).is_none(), "repeated");
        assert!(TradeIds::from_bytes(Vec::new()).is_some_and(|t| t.is_empty()));
    }
}
