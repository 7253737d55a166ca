//! The sequencer's shadow of open lots: every position of an account under
//! a lot method (fifo, lifo, hifo), its ledger as the shards keep it and
//! the trade id of each open lot, so that a trade's `close_lots` naming a
//! lot that is unknown, closed or another position's is refused before the
//! journal, and the lots it names are resolved to the seqs that opened
//! them (the names the shards know lots by).
//!
//! A live trade is resolved strictly; a journaled one (replay, recovery)
//! is resolved leniently, passing over a name that opens no lot here: the
//! live check refused such a trade, so only a what-if replay under another
//! method meets one, and the method then closes what the lot would have.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::ids::{BookId, InstrumentId};
use crate::ledger::{Ledger, Method, Order};
use crate::num::{Price, Quantity, Rate};
use crate::op::Op;

/// One position's open lots and the ids of the trades that opened them.
#[derive(Clone, Debug, Default)]
pub(super) struct Shadow {
    ledger: Ledger,
    /// The trade id of each open lot whose trade had one, by opening seq.
    named: BTreeMap<u64, Box<str>>,
}

impl Shadow {
    /// The opening seq of the open lot named `id` (a scan: only a trade
    /// with `close_lots` asks).
    fn lot(&self, id: &str) -> Option<u64> {
        self.named.iter().find(|(_, n)| &***n == id).map(|(&seq, _)| seq)
    }

    /// Applies a fill (named `id` if it opens a lot), then forgets the
    /// names of the lots it closed (`closed`: a reused buffer).
    fn fill(&mut self, method: Method, order: Order<'_>, trade: Fill<'_>, closed: &mut Vec<u64>) {
        closed.clear();
        let ledger = &mut self.ledger;
        ledger.fill_noting(method, order, trade.qty, trade.price, &|_| 0, Some(closed));
        for seq in closed.iter() {
            self.named.remove(seq);
        }
        if let Some(id) = trade.id
            && self.ledger.has_lot(order.seq)
        {
            self.named.insert(order.seq, id.into());
        }
    }

    /// Forgets the names of lots no longer open (after a split).
    fn forget_closed(&mut self) {
        let ledger = &self.ledger;
        self.named.retain(|&seq, _| ledger.has_lot(seq));
    }
}

/// What the shadow needs of a trade.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fill<'a> {
    /// The trade's id.
    pub(super) id: Option<&'a str>,
    /// Signed quantity.
    pub(super) qty: Quantity,
    /// Price.
    pub(super) price: Price,
}

/// Where a trade's position is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// The trade's book.
    pub(super) book: BookId,
    /// Its instrument.
    pub(super) instrument: InstrumentId,
}

/// One open lot with a name, as a snapshot's sequencer keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedLot {
    /// The position's book id.
    pub book: u32,
    /// Its instrument id.
    pub instrument: u32,
    /// The seq of the trade that opened the lot.
    pub opened: u64,
    /// That trade's id.
    pub id: String,
}

/// The open lots of every position under a lot method.
#[derive(Clone, Debug, Default)]
pub(super) struct LotShadow {
    positions: FxHashMap<Key, Shadow>,
    /// The picks of the last trade resolved (opening seqs, in order).
    picks: Vec<u64>,
    /// The lots a fill closed whole: a reused buffer.
    closed: Vec<u64>,
}

impl LotShadow {
    /// The picks the last trade resolved to.
    pub(super) fn picks(&self) -> &[u64] {
        &self.picks
    }

    /// Resolves `ids` for a live trade of signed `qty` at `key`: every id
    /// must name an open lot of that position, and the trade must reduce
    /// it. On success [`LotShadow::picks`] holds their opening seqs.
    pub(super) fn resolve(&mut self, key: Key, qty: Quantity, ids: &[String]) -> Result<(), String> {
        self.picks.clear();
        let shadow = self.positions.get(&key);
        resolve_into(shadow, qty, ids, &mut self.picks)
    }

    /// Resolves a journaled trade's `ids` leniently (see the module).
    pub(super) fn resolve_journaled(&mut self, key: Key, ids: &[String]) {
        self.picks.clear();
        if let Some(shadow) = self.positions.get(&key) {
            self.picks.extend(ids.iter().filter_map(|id| shadow.lot(id)));
        }
    }

    /// Forgets the picks (a trade without `close_lots`).
    pub(super) fn clear_picks(&mut self) {
        self.picks.clear();
    }

    /// Applies an accepted trade at `seq` with the picks resolved for it.
    pub(super) fn trade(&mut self, seq: u64, key: Key, method: Method, fill: Fill<'_>) {
        let shadow = self.positions.entry(key).or_default();
        shadow.fill(
            method,
            Order {
                seq,
                picks: &self.picks,
            },
            fill,
            &mut self.closed,
        );
        if shadow.ledger.qty().raw() == 0 {
            self.positions.remove(&key);
        }
    }

    /// Applies a split of `instrument`: a lot it scales to nothing closes.
    pub(super) fn split(&mut self, instrument: InstrumentId, ratio: Rate) {
        self.positions.retain(|k, s| {
            if k.instrument == instrument {
                s.ledger.split(ratio);
                s.forget_closed();
            }
            s.ledger.qty().raw() != 0
        });
    }

    /// The named open lots, ordered by opening seq (a snapshot's part).
    pub(super) fn named_lots(&self) -> Vec<NamedLot> {
        let mut out: Vec<NamedLot> = self
            .positions
            .iter()
            .flat_map(|(k, s)| {
                s.named.iter().map(move |(&seq, id)| NamedLot {
                    book: k.book.0,
                    instrument: k.instrument.0,
                    opened: seq,
                    id: id.to_string(),
                })
            })
            .collect();
        out.sort_by_key(|l| l.opened);
        out
    }

    /// Rebuilds the shadow from a snapshot: each lot-method position's
    /// ledger (`add`), then the names of its lots (`name`).
    pub(super) fn add(&mut self, key: Key, ledger: Ledger) {
        if ledger.qty().raw() != 0 {
            self.positions.insert(
                key,
                Shadow {
                    ledger,
                    named: BTreeMap::new(),
                },
            );
        }
    }

    /// Names an open lot restored from a snapshot; a name whose lot is not
    /// open is dropped.
    pub(super) fn name(&mut self, lot: &NamedLot) {
        let key = Key {
            book: BookId(lot.book),
            instrument: InstrumentId(lot.instrument),
        };
        if let Some(s) = self.positions.get_mut(&key)
            && s.ledger.has_lot(lot.opened)
        {
            s.named.insert(lot.opened, lot.id.as_str().into());
        }
    }

    /// The position at `key`, if it has open lots (for a batch check).
    pub(super) fn get(&self, key: Key) -> Option<&Shadow> {
        self.positions.get(&key)
    }

    /// Forgets every position (a restore starts over).
    pub(super) fn clear(&mut self) {
        self.positions.clear();
        self.picks.clear();
    }
}

/// Why `close_lots` is refused for an account under `method` (avg),
/// which keeps no lots to name.
pub(super) fn pooled(account: &str, method: Method) -> String {
    format!(
        "close_lots needs a lot method (fifo, lifo or hifo), and account {account:?} uses {method}, which pools its lots"
    )
}

/// Resolves `ids` against `shadow` (the position's open lots, if any) for
/// a trade of signed `qty`, into `out`.
fn resolve_into(
    shadow: Option<&Shadow>,
    qty: Quantity,
    ids: &[String],
    out: &mut Vec<u64>,
) -> Result<(), String> {
    let held = shadow.map_or(0, |s| s.ledger.qty().raw());
    if held == 0 || (held > 0) == (qty.raw() > 0) {
        return Err(format!(
            "close_lots names {:?}, but the trade does not reduce the position (it holds {})",
            ids.first().map_or("", String::as_str),
            Quantity::from_raw(held)
        ));
    }
    for id in ids {
        match shadow.and_then(|s| s.lot(id)) {
            Some(seq) => out.push(seq),
            None => {
                return Err(format!(
                    "close_lots names lot {id:?}, which is not open in this position \
                     (no trade with that id opened a lot of this account, strategy and \
                     instrument, or it is closed)"
                ));
            }
        }
    }
    Ok(())
}

/// A batch check's view of the shadow: positions the batch trades in are
/// copied on first use and moved by its trades, so a later trade of the
/// batch sees the lots an earlier one opened or closed.
pub(super) struct LotOverlay<'a> {
    base: &'a LotShadow,
    moved: FxHashMap<Key, Shadow>,
    picks: Vec<u64>,
    closed: Vec<u64>,
}

impl<'a> LotOverlay<'a> {
    /// An overlay of `base` that nothing moved yet.
    pub(super) fn new(base: &'a LotShadow) -> Self {
        Self {
            base,
            moved: FxHashMap::default(),
            picks: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn position(&mut self, key: Key) -> &mut Shadow {
        let base = self.base;
        self.moved
            .entry(key)
            .or_insert_with(|| base.get(key).cloned().unwrap_or_default())
    }

    /// Checks and applies a trade of the batch at provisional `seq`.
    pub(super) fn trade(
        &mut self,
        seq: u64,
        key: Key,
        method: Method,
        fill: Fill<'_>,
        ids: &[String],
    ) -> Result<(), String> {
        let mut picks = std::mem::take(&mut self.picks);
        picks.clear();
        if !ids.is_empty() {
            let shadow = self.moved.get(&key).or_else(|| self.base.get(key));
            resolve_into(shadow, fill.qty, ids, &mut picks)?;
        }
        let mut closed = std::mem::take(&mut self.closed);
        self.position(key)
            .fill(method, Order { seq, picks: &picks }, fill, &mut closed);
        (self.picks, self.closed) = (picks, closed);
        Ok(())
    }

    /// Applies a split of the batch.
    pub(super) fn split(&mut self, instrument: InstrumentId, ratio: Rate) {
        let keys: FxHashSet<Key> = self
            .base
            .positions
            .keys()
            .chain(self.moved.keys())
            .filter(|k| k.instrument == instrument)
            .copied()
            .collect();
        for key in keys {
            let s = self.position(key);
            s.ledger.split(ratio);
            s.forget_closed();
        }
    }
}

impl super::Sequencer {
    /// The lots a live trade's `close_lots` names, as opening seqs (in
    /// [`Sequencer::picks`]), or why they are refused.
    pub(super) fn resolve_lots(&mut self, op: &Op, account: &str, ids: &[String]) -> Result<(), String> {
        let Op::Trade {
            book,
            instrument,
            qty,
            method,
            ..
        } = *op
        else {
            return Ok(());
        };
        if !method.keeps_lots() {
            return Err(pooled(account, method));
        }
        self.lots.resolve(Key { book, instrument }, qty, ids)
    }

    /// The lots the op last sequenced or replayed closes first, by the
    /// seqs of the trades that opened them (empty but for a trade with
    /// `close_lots`): what the pipeline sends as [`Op::Pick`]s before it.
    #[must_use]
    pub fn picks(&self) -> &[u64] {
        self.lots.picks()
    }
}
