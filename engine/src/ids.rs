//! Interned identifiers: strings at the edges, small `Copy` indices inside.
//!
//! Accounts, instruments and currencies are named by strings in events and in
//! output; inside the engine they are dense `u32` indices, so books are `Vec`s
//! indexed directly and hashing a key costs nothing.

use rkyv::{Archive, Deserialize, Serialize};

use std::hash::BuildHasher;

use hashbrown::HashTable;

pub use crate::books::{BookKey, BookTable};
use rustc_hash::FxBuildHasher;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
        pub struct $name(pub u32);

        impl $name {
            /// The index as a `usize`, for `Vec` lookup.
            #[must_use]
            pub const fn index(self) -> usize {
                self.0 as usize
            }

            /// The id at index `i` of a table it sized (so below 2^32).
            #[allow(dead_code, reason = "generated for every id type; not every one is built from an index")]
            pub(crate) fn from_index(i: usize) -> Self {
                Self(u32::try_from(i).unwrap_or_else(|_| too_many_names()))
            }
        }
    };
}

index_type!(
    /// An account, interned.
    AccountId
);
index_type!(
    /// An instrument, interned.
    InstrumentId
);
index_type!(
    /// A currency code such as `USD`, interned; `USD` is always index 0.
    CurrencyId
);
index_type!(
    /// A trade's strategy tag, interned.
    StrategyId
);
index_type!(
    /// A book: one (account, strategy) pair, the default book of an
    /// account (no strategy) included; numbered in order of first trade
    /// (see `books`).
    BookId
);

impl CurrencyId {
    /// US dollars: the pivot of cross rates, and the default base currency.
    pub const USD: Self = Self(0);
}

/// A two-way map between names and dense indices, in order of first sight.
/// Each name is also kept as a JSON string literal, rendered once when it is
/// interned, so output that names it (a delta frame per change) copies it.
///
/// Names of up to 15 bytes (tickers, account codes) are looked up by their
/// bytes packed into one integer: a tick's lookup hashes and compares a
/// `u128`, not a string through `memcmp` (which, with the hashing, took a
/// fifth of the samples of a coalesced run's busiest window). The names and
/// their literals are stored back to back in two strings, with each one's
/// end, and the lookup tables hold ids only: ≈ 2 × its length + 40 bytes a
/// name, where two heap strings and a map of `u128` keys took ≈ 150.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    /// The ids of names of up to 15 bytes, hashed by their packed bytes
    /// (`keys`): 5 bytes a bucket where a map of `u128` keys takes 33.
    short: HashTable<u32>,
    /// Each name's packed bytes by id (unused for a longer name).
    keys: Vec<u128>,
    /// The ids of names longer than 15 bytes, hashed by their text.
    long: HashTable<u32>,
    text: String,
    /// Where each name ends in `text`.
    ends: Vec<usize>,
    quoted: String,
    /// Where each name's literal ends in `quoted`.
    quoted_ends: Vec<usize>,
}

impl Interner {
    /// An empty interner.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `name`, adding it if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.get(name) {
            return i;
        }
        let i = u32::try_from(self.ends.len()).unwrap_or_else(|_| too_many_names());
        self.text.push_str(name);
        self.ends.push(self.text.len());
        push_quoted(&mut self.quoted, name);
        self.quoted_ends.push(self.quoted.len());
        let key = packed(name);
        self.keys.push(key.unwrap_or(0));
        match key {
            Some(key) => {
                let keys = &self.keys;
                self.short
                    .insert_unique(hash_key(key), i, |&j| hash_key(keys[j as usize]));
            }
            None => {
                let (text, ends) = (&self.text, &self.ends);
                self.long
                    .insert_unique(hash_name(name), i, |&j| hash_name(slice(text, ends, j)));
            }
        }
        i
    }

    /// Re-creates entry `id` (from a journal or snapshot). Returns false if
    /// that id already names something else, or leaves a gap.
    pub fn restore(&mut self, id: u32, name: &str) -> bool {
        match (id as usize).cmp(&self.len()) {
            std::cmp::Ordering::Less => self.name(id) == name,
            std::cmp::Ordering::Equal => self.intern(name) == id,
            std::cmp::Ordering::Greater => false,
        }
    }

    /// Every name in id order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).map(|i| slice(&self.text, &self.ends, i as u32))
    }

    /// The index of `name` if it was seen.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<u32> {
        match packed(name) {
            Some(key) => self
                .short
                .find(hash_key(key), |&j| self.keys[j as usize] == key)
                .copied(),
            None => self
                .long
                .find(hash_name(name), |&j| slice(&self.text, &self.ends, j) == name)
                .copied(),
        }
    }

    /// The name behind an index (empty if the index was never handed out).
    #[must_use]
    pub fn name(&self, i: u32) -> &str {
        if (i as usize) < self.ends.len() {
            slice(&self.text, &self.ends, i)
        } else {
            ""
        }
    }

    /// The name as a JSON string literal, quotes and escapes included
    /// (`""` if the index was never handed out).
    #[must_use]
    pub fn quoted(&self, i: u32) -> &str {
        if (i as usize) < self.quoted_ends.len() {
            slice(&self.quoted, &self.quoted_ends, i)
        } else {
            "\"\""
        }
    }

    /// How many names are interned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing is interned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Entry `i` of names stored back to back in `text`, each ending at
/// `ends[i]` (`i` must be below `ends.len()`).
fn slice<'a>(text: &'a str, ends: &[usize], i: u32) -> &'a str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &text[start..ends[i]]
}

/// Ids are `u32`: 2^32 names would need far more memory than a process
/// has (≥ 30 bytes each), so reaching it is a broken invariant.
#[cold]
fn too_many_names() -> ! {
    panic!("kupala invariant broken: more than 2^32 names of one kind")
}

fn hash_key(key: u128) -> u64 {
    FxBuildHasher.hash_one(key)
}

fn hash_name(name: &str) -> u64 {
    FxBuildHasher.hash_one(name.as_bytes())
}

/// A name of at most 15 bytes as one integer: its bytes, zero-padded, and
/// its length in the last byte (so `"A"` and `"A\0"` differ).
fn packed(name: &str) -> Option<u128> {
    let bytes = name.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    key[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(key))
}

/// Appends `name` as a JSON string literal to `out`.
fn push_quoted(out: &mut String, name: &str) {
    match serde_json::to_string(name) {
        Ok(literal) => out.push_str(&literal),
        Err(e) => unreachable!("a str always serialises as JSON: {e}"),
    }
}

/// The names behind every id the engine handed out, for rendering output.
#[derive(Debug, Clone)]
pub struct Names {
    /// Account names by [`AccountId`].
    pub accounts: Interner,
    /// Instrument names by [`InstrumentId`].
    pub instruments: Interner,
    /// Currency codes by [`CurrencyId`].
    pub currencies: Interner,
    /// Strategy tags by [`StrategyId`].
    pub strategies: Interner,
    /// Each book's account and strategy, by [`BookId`].
    pub books: BookTable,
}

impl Default for Names {
    fn default() -> Self {
        let mut currencies = Interner::new();
        currencies.intern("USD");
        Self {
            accounts: Interner::new(),
            instruments: Interner::new(),
            currencies,
            strategies: Interner::new(),
            books: BookTable::default(),
        }
    }
}

impl Names {
    /// Adds a name with its id (see [`Interner::restore`]).
    pub fn restore(&mut self, n: &NewName) -> bool {
        let interner = match n.kind {
            NameKind::Account => &mut self.accounts,
            NameKind::Instrument => &mut self.instruments,
            NameKind::Currency => &mut self.currencies,
        };
        interner.restore(n.id, &n.name)
    }

    /// The account's name.
    #[must_use]
    pub fn account(&self, id: AccountId) -> &str {
        self.accounts.name(id.0)
    }

    /// The instrument's name.
    #[must_use]
    pub fn instrument(&self, id: InstrumentId) -> &str {
        self.instruments.name(id.0)
    }

    /// The currency's code.
    #[must_use]
    pub fn currency(&self, id: CurrencyId) -> &str {
        self.currencies.name(id.0)
    }

    /// The strategy's tag.
    #[must_use]
    pub fn strategy(&self, id: StrategyId) -> &str {
        self.strategies.name(id.0)
    }

    /// Copies the strategies and books `from` has beyond these (the
    /// sequencer's names to a shared copy: both only ever grow).
    pub fn sync_books(&mut self, from: &Self) {
        for i in self.strategies.len()..from.strategies.len() {
            let id = u32::try_from(i).unwrap_or_else(|_| too_many_names());
            self.strategies.intern(from.strategies.name(id));
        }
        self.books.sync(&from.books);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let mut i = Interner::new();
        assert_eq!(i.intern("A1"), 0);
        assert_eq!(i.intern("B7"), 1);
        assert_eq!(i.intern("A1"), 0);
        assert_eq!(i.name(1), "B7");
        assert_eq!(i.quoted(1), "\"B7\"");
        assert_eq!(i.quoted(9), "\"\"");
        let odd = i.intern("a\"b\\c\n");
        assert_eq!(i.quoted(odd), r#""a\"b\\c\n""#);
        assert_eq!(i.get("Z"), None);
        assert_eq!(Names::default().currency(CurrencyId::USD), "USD");
    }

    #[test]
    fn short_and_long_names_and_padding_lookalikes_stay_apart() {
        let mut i = Interner::new();
        let names = [
            "",
            "A",
            "A\0",
            "A\0\0",
            "fifteen-bytes-x",
            "sixteen-bytes-xy",
            "sixteen-bytes-xz",
            "é",
        ];
        let ids: Vec<u32> = names.iter().map(|n| i.intern(n)).collect();
        assert_eq!(ids, (0..8).collect::<Vec<u32>>(), "each name is new");
        for (n, id) in names.iter().zip(&ids) {
            assert_eq!(i.get(n), Some(*id), "{n:?}");
            assert_eq!(i.intern(n), *id);
            assert_eq!(i.name(*id), *n);
        }
        assert_eq!(i.get("sixteen-bytes-x"), None);
        assert_eq!(i.get("A\0\0\0"), None);
    }

    #[test]
    fn many_names_back_to_back_survive_growth_and_restore_in_order() {
        let mut i = Interner::new();
        let names: Vec<String> = (0..5_000)
            .map(|k| match k % 3 {
                0 => format!("S{k}"),
                1 => format!("a-long-instrument-name-{k}"),
                _ => format!("q\"{k}\u{e9}"),
            })
            .collect();
        for (k, n) in names.iter().enumerate() {
            assert_eq!(i.intern(n) as usize, k);
        }
        for (k, n) in names.iter().enumerate() {
            let id = u32::try_from(k).unwrap_or(u32::MAX);
            assert_eq!(i.get(n), Some(id), "{n}");
            assert_eq!(i.name(id), n);
            assert_eq!(i.quoted(id), serde_json::to_string(n).unwrap_or_default());
        }
        assert!(i.iter().eq(names.iter().map(String::as_str)));
        let mut copy = Interner::new();
        for (k, n) in names.iter().enumerate() {
            assert!(copy.restore(u32::try_from(k).unwrap_or(u32::MAX), n));
        }
        assert!(copy.restore(7, &names[7]), "a known entry restores as itself");
        assert!(
            !copy.restore(7, &names[8]),
            "an id naming something else is refused"
        );
        assert!(!copy.restore(5_001, "gap"), "a gap is refused");
        assert_eq!(copy.len(), names.len());
    }
}

/// Which namespace a journaled name belongs to.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// An account.
    Account,
    /// An instrument.
    Instrument,
    /// A currency.
    Currency,
}

/// A name first interned since the last journal batch.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NewName {
    /// Namespace.
    pub kind: NameKind,
    /// The id it got.
    pub id: u32,
    /// The name.
    pub name: String,
}
