//! The refresher's per-symbol status, shared with whoever shows it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;
use serde::Serialize;

/// How one symbol's refreshing is going.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SymbolStatus {
    /// The symbol asked of the endpoint (`^GSPC`).
    pub symbol: String,
    /// The instrument its ticks are for.
    pub instrument: String,
    /// True after [`stale_after`](super::RefresherConfig::stale_after)
    /// consecutive failed fetches, until the next good one: the last price
    /// of this instrument may be old.
    pub stale: bool,
    /// Failed fetches since the last good one.
    pub consecutive_failures: u32,
    /// Fetches attempted.
    pub fetches: u64,
    /// Fetches that failed (connection, timeout, HTTP status, body, JSON).
    pub failures: u64,
    /// Ticks emitted.
    pub emitted: u64,
    /// Points skipped as unusable (null, not a positive price in bounds).
    pub skipped: u64,
    /// Why the last failure happened (kept after recovery).
    pub last_error: Option<String>,
    /// When the last good fetch ended, in milliseconds since the Unix epoch.
    pub last_success_ms: Option<i64>,
    /// The last price emitted.
    pub last_price: Option<Price>,
    /// The timestamp of the last tick emitted.
    pub last_ts: Option<Timestamp>,
}

/// Every symbol's [`SymbolStatus`], readable from any thread while the
/// refresher updates it.
#[derive(Debug, Default)]
pub struct StatusBoard {
    symbols: RwLock<Vec<SymbolStatus>>,
    changes: AtomicU64,
}

impl StatusBoard {
    pub(super) fn new(symbols: Vec<SymbolStatus>) -> Self {
        Self {
            symbols: RwLock::new(symbols),
            changes: AtomicU64::new(0),
        }
    }

    /// Every symbol's status, in configuration order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<SymbolStatus> {
        self.symbols
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One symbol's status.
    #[must_use]
    pub fn get(&self, symbol: &str) -> Option<SymbolStatus> {
        let symbols = self.symbols.read().unwrap_or_else(PoisonError::into_inner);
        symbols.iter().find(|s| s.symbol == symbol).cloned()
    }

    /// The instruments currently stale.
    #[must_use]
    pub fn stale_instruments(&self) -> Vec<String> {
        let symbols = self.symbols.read().unwrap_or_else(PoisonError::into_inner);
        symbols
            .iter()
            .filter(|s| s.stale)
            .map(|s| s.instrument.clone())
            .collect()
    }

    /// How many times a symbol became stale or recovered: poll it to learn
    /// cheaply that [`stale_instruments`](Self::stale_instruments) changed.
    #[must_use]
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Updates symbol `i`; counts a change when its `stale` flag flips.
    pub(super) fn update(&self, i: usize, f: impl FnOnce(&mut SymbolStatus)) {
        let mut symbols = self.symbols.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = symbols.get_mut(i) {
            let was = s.stale;
            f(s);
            if s.stale != was {
                self.changes.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}
