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

    /// The ids as a snapshot stores them (see [`TradeIdArena`]).
    #[must_use]
    pub fn arena(&self) -> TradeIdArena {
        TradeIdArena(self.arena.clone())
    }

    /// The set of the ids in `arena`, indexed (each id hashed once); an id
    /// repeated in the arena, which no writer produces, is kept once.
    #[must_use]
    pub fn from_arena(arena: &TradeIdArena) -> Self {
        // The table is filled in the order of the ids' home buckets (their
        // hash's low bits), so the inserts sweep it front to back instead
        // of missing the cache (and the TLB) once per id: on this machine
        // a million ids index in a third of the time.
        let mut order: Vec<(u64, u64)> = Vec::with_capacity(arena.count());
        let mut at = 0usize;
        for id in arena.iter() {
            order.push((FxBuildHasher.hash_one(id.as_bytes()), at as u64));
            at += 1 + id.len();
        }
        let mut table = HashTable::with_capacity(order.len());
        let buckets = (table.capacity() * 8 / 7).next_power_of_two().max(1) as u64;
        order.sort_unstable_by_key(|&(hash, _)| hash & (buckets - 1));
        let bytes = &arena.0;
        let mut repeated = false;
        for &(hash, at) in &order {
            match table.entry(
                hash,
                |&o| id_at(bytes, o) == id_at(bytes, at),
                |&o| FxBuildHasher.hash_one(id_at(bytes, o)),
            ) {
                Entry::Occupied(_) => repeated = true,
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
        }
        if !repeated {
            return Self {
                arena: bytes.clone(),
                table,
            };
        }
        // An id repeated in the arena (no writer produces one): rebuilt
        // one by one, keeping the first.
        arena.iter().collect()
    }
}

/// Accepted trade ids as plain data, as a snapshot stores them: each id as
/// its length byte, then its bytes, in acceptance order. Reading one only
/// checks its form; hashing every id into a [`TradeIds`] is left to the
/// sequencer's restore, which runs beside the books' restore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TradeIdArena(Vec<u8>);

impl TradeIdArena {
    /// The arena in `bytes`; `None` if a length runs past the end or an id
    /// is empty or not UTF-8.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let mut at = 0usize;
        while at < bytes.len() {
            let len = usize::from(bytes[at]);
            let id = bytes.get(at + 1..at + 1 + len)?;
            if len == 0 || std::str::from_utf8(id).is_err() {
                return None;
            }
            at += 1 + len;
        }
        Some(Self(bytes))
    }

    /// The bytes, as stored.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Every id, in acceptance order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        Ids {
            arena: &self.0,
            at: 0,
        }
    }

    /// How many ids it holds.
    #[must_use]
    pub fn count(&self) -> usize {
        self.iter().count()
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

/// Iterator over an arena's ids (well formed: built by `insert`, or
/// checked by `TradeIdArena::from_bytes`).
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
        // Only valid UTF-8 enters an arena (insert takes a str, from_bytes
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
        let Some(arena) = TradeIdArena::from_bytes(ids.arena().as_bytes().to_vec()) else {
            panic!("a set's own arena is refused")
        };
        assert_eq!(arena.count(), all.len());
        let back = TradeIds::from_arena(&arena);
        assert_eq!(back.iter().collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
        assert_eq!(back, ids);
        assert!(back.contains("trade-49999-é") && !back.contains("trade-50000-é"));
    }

    #[test]
    fn a_bad_arena_is_refused_and_a_repeat_kept_once() {
        assert!(
            TradeIdArena::from_bytes(vec![3, b'a', b'b']).is_none(),
            "runs past the end"
        );
        assert!(TradeIdArena::from_bytes(vec![0]).is_none(), "empty id");
        assert!(TradeIdArena::from_bytes(vec![1, 0xff]).is_none(), "not UTF-8");
        assert!(TradeIdArena::from_bytes(Vec::new()).is_some_and(|a| a.count() == 0));
        let Some(repeated) = TradeIdArena::from_bytes(vec![1, b'a', 1, b'a', 1, b'b']) else {
            panic!("a well-formed arena is refused")
        };
        let ids = TradeIds::from_arena(&repeated);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
