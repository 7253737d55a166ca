//! A copy-on-write view of the range checks' state, so that a whole batch
//! can be checked in order (each event seeing the effects of the ones before
//! it) without changing the sequencer: what `Sequencer::check` uses, so that
//! a submit it passes cannot be refused half-way.

use ethnum::U256;
use rustc_hash::FxHashMap;

use super::{CurLimit, InstLimit, Limits, Table, step};
use crate::fx::FxRates;
use crate::ids::{BookId, CurrencyId, InstrumentId};
use crate::num::{Rate, split_qty};
use crate::op::Op;

/// The batch's changes over borrowed [`Limits`].
#[derive(Debug)]
pub(crate) struct Overlay<'a> {
    base: &'a Limits,
    held: FxHashMap<(BookId, InstrumentId), i128>,
    inst: FxHashMap<InstrumentId, InstLimit>,
    cur: FxHashMap<CurrencyId, CurLimit>,
    groups: Vec<(CurrencyId, CurrencyId)>,
    fx: Option<FxRates>,
    total: U256,
}

impl<'a> Overlay<'a> {
    /// An overlay with no changes yet.
    pub(crate) fn new(base: &'a Limits) -> Self {
        Self {
            base,
            held: FxHashMap::default(),
            inst: FxHashMap::default(),
            cur: FxHashMap::default(),
            groups: Vec::new(),
            fx: None,
            total: base.total,
        }
    }

    /// Like [`Limits::accept`], on the overlay.
    pub(crate) fn accept(&mut self, op: &Op) -> Result<(), String> {
        step::step(self, op, true)
    }
}

impl Table for Overlay<'_> {
    fn held(&self, key: (BookId, InstrumentId)) -> i128 {
        self.held
            .get(&key)
            .copied()
            .unwrap_or_else(|| self.base.held(key))
    }

    fn set_held(&mut self, key: (BookId, InstrumentId), qty: i128) {
        self.held.insert(key, qty);
    }

    fn inst(&self, i: InstrumentId) -> InstLimit {
        self.inst.get(&i).copied().unwrap_or_else(|| self.base.inst(i))
    }

    fn set_inst(&mut self, i: InstrumentId, l: InstLimit) {
        self.inst.insert(i, l);
    }

    fn cur(&self, c: CurrencyId) -> CurLimit {
        self.cur.get(&c).copied().unwrap_or_else(|| self.base.cur(c))
    }

    fn set_cur(&mut self, c: CurrencyId, l: CurLimit) {
        self.cur.insert(c, l);
    }

    fn has_group(&self, g: (CurrencyId, CurrencyId)) -> bool {
        self.groups.contains(&g) || self.base.has_group(g)
    }

    fn add_group(&mut self, g: (CurrencyId, CurrencyId)) {
        self.groups.push(g);
    }

    fn groups(&self) -> Vec<(CurrencyId, CurrencyId)> {
        let mut all = self.base.groups();
        all.extend(self.groups.iter().copied());
        all
    }

    fn fx(&self) -> &FxRates {
        self.fx.as_ref().unwrap_or(&self.base.fx)
    }

    fn fx_mut(&mut self) -> &mut FxRates {
        self.fx.get_or_insert_with(|| self.base.fx.clone())
    }

    fn total(&self) -> U256 {
        self.total
    }

    fn set_total(&mut self, t: U256) {
        self.total = t;
    }

    fn split_held(&mut self, i: InstrumentId, ratio: Rate) -> i128 {
        let mut keys: Vec<(BookId, InstrumentId)> = self.base.held.books_of(i).map(|a| (a, i)).collect();
        keys.extend(
            self.held
                .keys()
                .filter(|k| k.1 == i && self.base.held.get(k.0, k.1).is_none()),
        );
        let mut sum = 0i128;
        for k in keys {
            let q = split_qty(self.held(k), ratio);
            self.held.insert(k, q);
            sum = sum.saturating_add(q.abs());
        }
        sum
    }
}
