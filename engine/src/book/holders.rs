//! The hot layout of a shard's books: what a tick reads and writes.
//!
//! Each instrument keeps its holders contiguous, one 32-byte [`Holder`] per
//! position (two to a cache line): the quantity and cost basis copied from
//! the position's ledger, its book and its conversion group. A tick is
//! one pass over that array. Everything else of a position (lots,
//! realized, fees, day baselines, flags) is in its cold record
//! (`book::Position`), which only trades, splits, EODs and snapshots touch.
//!
//! A holder does not store the base values its book's totals include:
//! they are a pure function of its quantity and cost, its instrument's
//! *applied* mark and its group's *applied* conversion (those of the last
//! flush). Each change moves the totals by the difference of two
//! valuations: a flush from the applied mark (or rate) to the current one,
//! a trade or split from the old quantity and cost to the new ones at the
//! applied mark. Every valuation is exact and deterministic, so the
//! differences telescope to exactly what storing the values gave.

use super::totals::{BookTotals, ReportedMove};
use crate::fx::Conversion;
use crate::ids::BookId;
use crate::num::{Multiplier, sub};

/// A position's index in its shard's cold records (creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SlotId(pub(crate) u32);

impl SlotId {
    /// As an index into the cold records.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot at index `i` (a shard holds far fewer than 2^32
    /// positions: the sequencer's position limit).
    pub(crate) fn from_index(i: usize) -> Self {
        Self(u32::try_from(i).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }
}

/// A conversion group's index: the positions sharing one (instrument
/// currency, base currency) conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct GroupId(pub(crate) u32);

impl GroupId {
    /// As an index into the groups.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }

    /// The group at index `i` (a shard has a handful of groups).
    pub(crate) fn from_index(i: usize) -> Self {
        Self(u32::try_from(i).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }
}

/// A holder's position in its instrument's hot array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct HolderIdx(pub(crate) u32);

impl HolderIdx {
    /// The index of the next holder of an instrument that has `len` (a
    /// shard holds fewer than 2^32 positions: the sequencer's limit).
    pub(crate) fn from_len(len: usize) -> Self {
        Self(u32::try_from(len).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }

    /// As an index into the instrument's holders.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One position as a tick sees it. `qty` and `cost` mirror the ledger (set
/// by every trade and split).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Holder {
    /// Exact signed cost basis (10^-18, before the multiplier).
    pub(crate) cost: i128,
    /// Signed quantity, raw (10^-9).
    pub(crate) qty: i64,
    /// The book whose totals it moves.
    pub(crate) book: BookId,
    /// Its conversion group.
    pub(crate) group: GroupId,
}

const _: () = assert!(size_of::<Holder>() == 32, "two holders to a cache line");

/// What a holding is worth at a mark, exact (10^-18): the one valuation
/// every figure is derived from, in instrument currency or, once
/// [`converted`](Self::converted), in base currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Valuation {
    /// `mark × qty × multiplier`.
    pub(crate) market_value: i128,
    /// `(mark × qty − cost) × multiplier`.
    pub(crate) unrealized: i128,
}

impl Valuation {
    /// The value of `qty` with cost basis `cost` at `mark`.
    #[inline]
    pub(crate) fn at(mark: i64, qty: i64, cost: i128, multiplier: Multiplier) -> Self {
        let value = i128::from(mark) * i128::from(qty);
        Self {
            market_value: multiplier.apply(value),
            unrealized: multiplier.apply(sub(value, cost)),
        }
    }

    /// Both figures converted (each rounded once).
    #[inline]
    pub(crate) fn converted(self, c: Conversion) -> Self {
        Self {
            market_value: c.apply(self.market_value),
            unrealized: c.apply(self.unrealized),
        }
    }

    /// What a holding adds to its account's totals: its value at `mark`
    /// converted to base, or nothing while its group has no rate (an
    /// unpriced position is left out of the sums).
    #[inline]
    pub(crate) fn in_base(
        mark: i64,
        qty: i64,
        cost: i128,
        multiplier: Multiplier,
        conv: Option<Conversion>,
    ) -> Self {
        conv.map_or(Self::ZERO, |c| Self::at(mark, qty, cost, multiplier).converted(c))
    }

    /// No value (an unpriced or empty holding).
    pub(crate) const ZERO: Self = Self {
        market_value: 0,
        unrealized: 0,
    };
}

/// How a conversion group values its holders in the tick loop, a byte per
/// group read instead of comparing its [`Conversion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvKind {
    /// Instrument currency = base: a value in base is the value.
    Identity,
    /// Another currency: its holders are the instrument's [`CrossHolder`]s,
    /// repriced from the base values they keep.
    Cross,
}

/// The applied conversions of a shard's groups, and their kinds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Applied<'a> {
    /// Each group's applied conversion (`None`: no rate yet).
    pub(crate) convs: &'a [Option<Conversion>],
    /// Each group's [`ConvKind`].
    pub(crate) kinds: &'a [ConvKind],
    /// Every group is [`ConvKind::Identity`].
    pub(crate) all_identity: bool,
}

/// A holder in another currency than its account's base, with the base
/// values its book's totals include for it: [`Valuation::in_base`] at its
/// instrument's applied mark and its group's applied conversion, kept so a
/// tick converts only the new values (two conversions, not four). Every
/// change of those inputs stores the new values (`Book::set_holding`,
/// `Book::reprice_group`, the tick loop, a restore).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrossHolder {
    /// The holder, in its instrument's array.
    pub(crate) holder: HolderIdx,
    /// Its base values as the totals include them.
    pub(crate) value: Valuation,
}

/// An instrument's holders as a tick moves them: the array, and the
/// entries of those in another currency than their base.
pub(crate) struct Run<'a> {
    /// Every holder.
    pub(crate) holders: &'a [Holder],
    /// The cross-currency ones, with their base values.
    pub(crate) cross: &'a mut [CrossHolder],
}

/// Moves an instrument's holders from the applied mark `from` to `to` and
/// records each change in its book's pending totals: the tick loop.
/// `applied` is the shard's applied conversions by group (an unpriced
/// position is left out of the totals).
#[inline]
pub(crate) fn reprice_holders(
    run: Run<'_>,
    from: i64,
    to: i64,
    multiplier: Multiplier,
    applied: Applied<'_>,
    totals: &mut BookTotals,
) {
    if from == to {
        return;
    }
    if multiplier == Multiplier::ONE && applied.all_identity {
        reprice_plain(run.holders, from, to, totals);
        return;
    }
    let mut moved = ReportedMove::default();
    if multiplier == Multiplier::ONE {
        reprice_local(run.holders, from, to, applied.kinds, totals, &mut moved);
    } else {
        for h in run.holders {
            if applied.kinds[h.group.index()] == ConvKind::Identity {
                let before = Valuation::at(from, h.qty, h.cost, multiplier);
                let after = Valuation::at(to, h.qty, h.cost, multiplier);
                totals.shift_into(h.book, before, after, &mut moved);
            }
        }
    }
    for c in run.cross {
        let h = &run.holders[c.holder.index()];
        let Some(conv) = applied.convs[h.group.index()] else {
            continue;
        };
        let after = Valuation::at(to, h.qty, h.cost, multiplier).converted(conv);
        totals.shift_into(h.book, c.value, after, &mut moved);
        c.value = after;
    }
    totals.apply_reported(moved);
}

/// The tick loop's pass over the holders in their base currency when the
/// multiplier is 1: each moves by `(to − from) × qty` as in
/// [`reprice_plain`]; the cross-currency ones are left to their entries.
fn reprice_local(
    holders: &[Holder],
    from: i64,
    to: i64,
    kinds: &[ConvKind],
    totals: &mut BookTotals,
    moved: &mut ReportedMove,
) {
    let step = i128::from(to) - i128::from(from);
    for h in holders {
        if h.qty != 0 && kinds[h.group.index()] == ConvKind::Identity {
            let d = step * i128::from(h.qty);
            totals.revalue_into(h.book, d, d, moved);
        }
    }
}

/// The tick loop when every position of the shard is in its account's
/// currency and the multiplier is 1 (the common book): both figures move
/// by `(to − from) × qty`, exactly the difference of the two valuations of
/// [`Valuation::at`] (the cost cancels).
fn reprice_plain(holders: &[Holder], from: i64, to: i64, totals: &mut BookTotals) {
    let step = i128::from(to) - i128::from(from);
    let mut moved = ReportedMove::default();
    for h in holders {
        // |mark × qty| is within the sequencer's bound T ≤ i128::MAX / 4
        // at both marks (`limits`), so the difference cannot overflow.
        if h.qty == 0 {
            continue;
        }
        let d = step * i128::from(h.qty);
        totals.revalue_into(h.book, d, d, &mut moved);
    }
    totals.apply_reported(moved);
}
