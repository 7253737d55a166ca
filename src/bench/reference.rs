//! The scale reference (docs/benchmarks.md, "The workload"), measured in
//! the same run as the engine (by `kupala bench`'s `engine` scenarios and
//! by the criterion bench `tick_apply/zipf/.../reference_loop`, both with
//! this code): a tight single-thread loop over positions stored
//! contiguously per instrument, exact i128 fixed point, account totals
//! moved by deltas. It does only what a tick must do (market value and
//! unrealized P&L of each holder, the change added to its account's
//! totals); no FX, no fees, no dirty tracking, no output records. It is the
//! yardstick the engine's hot path should stay within 2× of.

use std::time::{Duration, Instant};

use kupala_engine::op::{Op, SeqOp};
use kupala_engine::{BaseCurrencies, Event, Sequencer, ids::InstrumentId};

/// One holder of an instrument.
#[derive(Clone, Copy, Debug)]
struct Holder {
    account: u32,
    qty: i64,
    cost: i128,
    mv: i128,
    unreal: i128,
}

/// Positions grouped by instrument, marks, and per-account totals.
#[derive(Debug, Default)]
pub struct RefBook {
    by_instrument: Vec<Vec<Holder>>,
    marks: Vec<i64>,
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
    /// (market value, unrealized P&L) per account, exact.
    totals: Vec<[i128; 2]>,
}

impl RefBook {
    /// Builds the book from opening trades, with the ids `names` gave them.
    #[must_use]
    pub fn new(names: &Sequencer, opening: &[Event]) -> Self {
        let mut b = Self::default();
        for e in opening {
            let Event::Trade(t) = e else { continue };
            let (Some(i), Some(a)) = (
                names.names().instruments.get(&t.instrument),
                names.names().accounts.get(&t.account),
            ) else {
                continue;
            };
            let (i, a) = (i as usize, a as usize);
            if b.by_instrument.len() <= i {
                b.by_instrument.resize_with(i + 1, Vec::new);
                b.marks.resize(i + 1, 0);
                b.dirty.resize(i + 1, false);
            }
            if b.totals.len() <= a {
                b.totals.resize(a + 1, [0; 2]);
            }
            let qty = t.qty.raw() * t.side.sign();
            b.by_instrument[i].push(Holder {
                account: a as u32,
                qty,
                cost: i128::from(qty) * i128::from(t.price.raw()),
                mv: 0,
                unreal: 0,
            });
        }
        b
    }

    /// Reprices every holder of `instrument` at `mark`.
    fn reprice(&mut self, instrument: usize, mark: i64) {
        let Some(holders) = self.by_instrument.get_mut(instrument) else {
            return;
        };
        for h in holders {
            let mv = i128::from(mark) * i128::from(h.qty);
            let unreal = mv - h.cost;
            let t = &mut self.totals[h.account as usize];
            t[0] += mv - h.mv;
            t[1] += unreal - h.unreal;
            h.mv = mv;
            h.unreal = unreal;
        }
    }

    /// Every tick repriced at once (every-tick mode).
    pub fn every_tick(&mut self, ops: &[SeqOp]) {
        for op in ops {
            if let Op::Tick { instrument, price } = op.op {
                self.reprice(instrument.index(), price.raw());
            }
        }
    }

    /// The window's marks set, then each ticked instrument repriced once.
    pub fn coalesced(&mut self, ops: &[SeqOp]) {
        for op in ops {
            if let Op::Tick { instrument, price } = op.op
                && let Some(m) = self.marks.get_mut(instrument.index())
            {
                *m = price.raw();
                if !std::mem::replace(&mut self.dirty[instrument.index()], true) {
                    self.dirty_list.push(instrument.0);
                }
            }
        }
        let list = std::mem::take(&mut self.dirty_list);
        for &i in &list {
            let i = InstrumentId(i).index();
            self.dirty[i] = false;
            self.reprice(i, self.marks[i]);
        }
        self.dirty_list = list;
        self.dirty_list.clear();
    }

    /// A checksum of the totals, so the work cannot be optimised away.
    #[must_use]
    pub fn checksum(&self) -> i128 {
        self.totals
            .iter()
            .map(|t| t[0] ^ t[1])
            .fold(0, i128::wrapping_add)
    }
}

/// One timed pass of the reference over a stream, as `kupala bench` runs it.
#[derive(Clone, Copy, Debug)]
pub struct RefRun {
    /// Ticks repriced (the stream's trades are sequenced but skipped).
    pub ticks: u64,
    /// Time of the loop alone (sequencing and the book build are untimed).
    pub elapsed: Duration,
    /// [`RefBook::checksum`] after the stream.
    pub checksum: i128,
}

/// Builds the reference book from `opening`, sequences `stream` untimed,
/// then times the loop over it: every tick repriced (`window: None`), or
/// marks coalesced per window of `window` sequenced events.
#[must_use]
pub fn run(opening: &[Event], stream: &[Event], window: Option<usize>) -> RefRun {
    let mut seq = Sequencer::new(BaseCurrencies::default());
    for e in opening {
        let _ = seq.sequence(e);
    }
    let mut book = RefBook::new(&seq, opening);
    let ops: Vec<SeqOp> = stream
        .iter()
        .filter_map(|e| seq.sequence(e).ok().flatten())
        .collect();
    let ticks = ops.iter().filter(|o| matches!(o.op, Op::Tick { .. })).count() as u64;
    let start = Instant::now();
    match window {
        None => book.every_tick(&ops),
        Some(n) => ops.chunks(n.max(1)).for_each(|w| book.coalesced(w)),
    }
    let checksum = std::hint::black_box(book.checksum());
    RefRun {
        ticks,
        elapsed: start.elapsed(),
        checksum,
    }
}
