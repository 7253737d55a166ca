//! The aggregator: one thread that hands every shard's changes to the
//! [`DeltaSink`] in order (the shards own the account totals, see
//! `partition`), tracks how far every shard is complete, and assembles
//! consistent snapshots and EODs from the shards' parts.

use crossbeam_channel::{Receiver, Sender};

use crate::book::{FirmSums, MarkCapture, ShardOutput};
use crate::history::{HistoryMark, PnlPoint};
use crate::ids::CurrencyId;
use crate::image::BookImage;
use crate::messages::{AggMsg, BarrierPart, Cut, Report};
use crate::state::{
    BookChanges, ClosedPosition, EngineState, FirmState, PortfolioState, PositionDelta, PositionState,
};
use crate::time::Date;
use rustc_hash::FxHashMap;

/// Receives every change the engine publishes, on the aggregator thread.
/// Implementations must not block for long: the engine waits on them.
pub trait DeltaSink: Send + 'static {
    /// Positions and portfolios changed by one shard flush, with the last
    /// `seq` the shard had applied.
    fn publish(&mut self, seq: u64, positions: &[PositionDelta], portfolios: &[PortfolioState]);

    /// [`publish`](Self::publish) with the latency stamp of the batch behind
    /// the flush: when its oldest op entered the engine (`clock::now_ns`,
    /// 0 = not measured; see `Pipeline::set_latency_stamps`). The aggregator
    /// calls this one; the default forwards to `publish`, so sinks that do not
    /// measure latency implement only that.
    fn publish_stamped(
        &mut self,
        seq: u64,
        t_in: u64,
        positions: &[PositionDelta],
        portfolios: &[PortfolioState],
    ) {
        let _ = t_in;
        self.publish(seq, positions, portfolios);
    }

    /// Books whose totals one shard flush changed (after the `publish` of
    /// that flush). A sink that wraps another must forward it, like every
    /// method here.
    fn books(&mut self, _seq: u64, _books: BookChanges<'_>) {}

    /// The firm's totals changed (after the `publish` that changed them):
    /// every shard's latest part summed.
    fn firm(&mut self, _firm: &FirmState) {}

    /// Whether `publish` wants the changed account totals. A sink that
    /// returns false (batch runs, benchmarks) saves the aggregator a copy of
    /// every changed total on every flush.
    fn wants_totals(&self) -> bool {
        true
    }

    /// An EOD at `seq`: every listed position of every shard as of that EOD
    /// (day P&L not yet reset), sorted by (account, instrument).
    fn eod(&mut self, _date: Date, _seq: u64, _positions: &[PositionState]) {}

    /// Positions an EOD moved to the closed history.
    fn closed(&mut self, _closed: &[ClosedPosition]) {}

    /// A P&L history mark: every series it changed, as of its seq (see
    /// `history`), once every shard's part is in.
    fn history(&mut self, _mark: &HistoryMark) {}

    /// Every op up to `seq` has been applied by every shard, and all it
    /// changed has been handed to this sink (`publish`, `eod`, `closed`):
    /// the published state is complete up to `seq`. Called each time that
    /// watermark moves, after the calls carrying the changes. A sink that
    /// wraps another must forward it.
    fn complete(&mut self, _seq: u64) {}
}

/// A sink that discards everything (batch runs such as `kupala calc`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl DeltaSink for NullSink {
    fn publish(&mut self, _: u64, _: &[PositionDelta], _: &[PortfolioState]) {}

    fn wants_totals(&self) -> bool {
        false
    }
}

/// The aggregator's state.
pub(crate) struct Aggregator {
    sink: Box<dyn DeltaSink>,
    shards: usize,
    /// Shards that reached the current barrier, and their parts.
    at_barrier: Vec<bool>,
    parts: EngineState,
    image: Option<BookImage>,
    reply: Option<Sender<Cut>>,
    /// Outputs of shards already past the barrier, held until it completes.
    held: Vec<Report>,
    /// How far each shard is complete, and the least of them (published
    /// through `DeltaSink::complete`).
    done: Vec<u64>,
    complete: u64,
    /// Where each shard's emptied outputs go back for reuse.
    returns: Vec<Sender<ShardOutput>>,
    /// EOD parts by seq: (shards reported, date, positions).
    eods: FxHashMap<u64, (usize, Date, Vec<PositionState>)>,
    /// History mark parts by seq: shards reported, the mark so far and
    /// the firm's parts.
    marks: FxHashMap<u64, (usize, HistoryMark, FirmSums)>,
    /// The firm's reporting currency, each shard's latest part of the
    /// firm, and the parts of the cut in progress.
    reporting: CurrencyId,
    firm: Vec<FirmSums>,
    cut_firm: FirmSums,
    /// The highest seq of the shards' parts summed so far: the firm's
    /// seq, which never goes back though the shards' flushes interleave.
    firm_seq: u64,
}

impl Aggregator {
    pub(crate) fn new(
        shards: usize,
        sink: Box<dyn DeltaSink>,
        returns: Vec<Sender<ShardOutput>>,
        reporting: CurrencyId,
    ) -> Self {
        Self {
            sink,
            shards,
            at_barrier: vec![false; shards],
            parts: EngineState::default(),
            image: None,
            reply: None,
            held: Vec::new(),
            done: vec![0; shards],
            complete: 0,
            returns,
            eods: FxHashMap::default(),
            marks: FxHashMap::default(),
            reporting,
            firm: vec![FirmSums::default(); shards],
            cut_firm: FirmSums::default(),
            firm_seq: 0,
        }
    }

    pub(crate) fn run(mut self, rx: &Receiver<AggMsg>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                AggMsg::Output(r) if self.at_barrier[r.shard] => self.held.push(r),
                AggMsg::Output(r) => self.apply(r),
                AggMsg::Barrier(BarrierPart {
                    shard,
                    seq,
                    mut positions,
                    mut portfolios,
                    mut books,
                    firm,
                    mut closed,
                    image,
                    reply,
                }) => {
                    self.parts.books.append(&mut books);
                    self.cut_firm.add(&firm);
                    if let Some(image) = image {
                        self.image.get_or_insert_with(BookImage::default).merge(image);
                    }
                    self.at_barrier[shard] = true;
                    self.parts.seq = self.parts.seq.max(seq);
                    self.parts.positions.append(&mut positions);
                    self.parts.portfolios.append(&mut portfolios);
                    self.parts.closed.append(&mut closed);
                    self.reply = Some(reply);
                    if self.at_barrier.iter().all(|&b| b) {
                        self.complete_barrier();
                    }
                }
            }
        }
    }

    fn apply(&mut self, report: Report) {
        let Report {
            shard,
            output: mut out,
            through,
        } = report;
        if !out.is_empty() {
            self.publish(shard, &out);
        }
        if let Some(back) = self.returns.get(shard) {
            out.clear();
            let _ = back.try_send(out);
        }
        if let Some(d) = self.done.get_mut(shard) {
            *d = (*d).max(through);
        }
        let complete = self.done.iter().copied().min().unwrap_or(0);
        if complete > self.complete {
            self.complete = complete;
            self.sink.complete(complete);
        }
    }

    /// Publishes an output's EOD parts and closed positions, then each of
    /// its flushes in order (an EOD is always the last op of an output's
    /// only segment, see `worker`).
    fn publish(&mut self, shard: usize, out: &ShardOutput) {
        for e in &out.eod {
            self.eod_part(e.date, e.seq, &e.states);
        }
        if !out.closed.is_empty() {
            self.sink.closed(&out.closed);
        }
        for m in &out.marks {
            self.mark_part(m);
        }
        let (mut a0, mut b0, mut s0, mut p0) = (0, 0, 0, 0);
        let mut firms = out.firm.iter();
        for seg in &out.segments {
            let portfolios = &out.portfolios[a0..seg.portfolios];
            let books = BookChanges {
                listed: &out.books[b0..seg.books],
                sole: &out.sole[s0..seg.sole],
                portfolios: &out.portfolios,
            };
            let positions = &out.positions[p0..seg.positions];
            (a0, b0, s0, p0) = (seg.portfolios, seg.books, seg.sole, seg.positions);
            let firm = if seg.firm { firms.next() } else { None };
            if seg.changed == 0 && positions.is_empty() && firm.is_none() && out.segments.len() > 1 {
                continue;
            }
            self.sink
                .publish_stamped(seg.seq, out.t_in, positions, portfolios);
            if !books.is_empty() {
                self.sink.books(seg.seq, books);
            }
            if let Some(&f) = firm {
                self.firm[shard] = f;
                self.firm_seq = self.firm_seq.max(seg.seq);
                let mut sum = FirmSums::default();
                self.firm.iter().for_each(|p| sum.add(p));
                self.sink.firm(&sum.state(self.reporting, self.firm_seq));
            }
        }
    }

    /// Collects one shard's part of an EOD; with all parts in, hands the
    /// whole day to the sink.
    fn eod_part(&mut self, date: Date, seq: u64, positions: &[PositionState]) {
        let entry = self.eods.entry(seq).or_insert_with(|| (0, date, Vec::new()));
        entry.0 += 1;
        entry.2.extend_from_slice(positions);
        if entry.0 == self.shards
            && let Some((_, date, mut all)) = self.eods.remove(&seq)
        {
            all.sort_by_key(|p| (p.account, p.book, p.instrument));
            self.sink.eod(date, seq, &all);
        }
    }

    /// Collects one shard's part of a history mark; with all parts in,
    /// hands the mark to the sink.
    fn mark_part(&mut self, part: &MarkCapture) {
        let entry = self.marks.entry(part.seq).or_insert_with(|| {
            let mark = HistoryMark {
                at: part.at,
                seq: part.seq,
                coarse: part.coarse,
                accounts: Vec::new(),
                books: Vec::new(),
                firm: PnlPoint::default(),
            };
            (0, mark, FirmSums::default())
        });
        entry.0 += 1;
        entry.1.accounts.extend_from_slice(&part.accounts);
        entry.1.books.extend_from_slice(&part.books);
        entry.2.add(&part.firm);
        if entry.0 == self.shards
            && let Some((_, mut mark, firm)) = self.marks.remove(&part.seq)
        {
            mark.accounts.sort_unstable_by_key(|p| p.account);
            mark.books.sort_unstable_by_key(|p| p.book);
            let firm = firm.state(self.reporting, mark.seq);
            mark.firm = PnlPoint {
                net_pnl: firm.net_pnl,
                day_pnl: firm.day_pnl,
            };
            self.sink.history(&mark);
        }
    }

    fn complete_barrier(&mut self) {
        let mut state = std::mem::take(&mut self.parts);
        state.positions.sort_by_key(|p| (p.account, p.book, p.instrument));
        state.books.sort_by_key(|b| (b.totals.account, b.book));
        state.firm = std::mem::take(&mut self.cut_firm).state(self.reporting, state.seq);
        state.closed.sort_by_key(|c| {
            let p = &c.position;
            (c.date, p.seq, p.account, p.book, p.instrument)
        });
        state.portfolios.sort_by_key(|p| p.account);
        let books = self.image.take();
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(Cut { state, books });
        }
        self.at_barrier.iter_mut().for_each(|b| *b = false);
        for r in std::mem::take(&mut self.held) {
            self.apply(r);
        }
        debug_assert_eq!(self.at_barrier.len(), self.shards);
    }
}
