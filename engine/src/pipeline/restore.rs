//! Restoring the books and the sequencer from an image before the pipeline
//! starts ([`Restored`]), and the fan-out that lets one thread decode a
//! snapshot's positions for every restoring thread: the sequencer's restore
//! reads the source ([`Positions`]) once through a [`Tee`], which passes
//! each batch of positions to the shards' restores ([`Batches`]), so a
//! stored snapshot is decoded once however many threads restore from it.

use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;

use super::config::PipelineConfig;
use crate::book::{Book, FirmSums};
use crate::history::HistoryClock;
use crate::ids::{BookId, CurrencyId};
use crate::image::{EngineImage, PositionImage, Positions, Shape};
use crate::partition::Owner;
use crate::sequencer::Sequencer;

/// Each shard's book and the sequencer, restored from an image (or empty)
/// and not yet running: the fallible half of [`Pipeline::resume`], so a
/// snapshot whose positions fail to decode can be set aside for an older
/// one before any thread starts.
#[derive(Debug)]
pub struct Restored {
    pub(super) books: Vec<Book>,
    pub(super) seq: Sequencer,
    /// The firm's reporting currency.
    pub(super) reporting: CurrencyId,
    /// The P&L history's clock.
    pub(super) history: HistoryClock,
}

impl Restored {
    /// Empty books and a new sequencer (no snapshot).
    #[must_use]
    pub fn empty(config: &PipelineConfig) -> Self {
        let shards = config.shards.max(1);
        let mut seq = Sequencer::new(config.bases.clone()).with_methods(config.methods.clone());
        let reporting = seq.reporting_currency(config.reporting_currency.as_deref());
        let books = (0..shards)
            .map(|shard| {
                Book::new(config.emit_positions)
                    .owning(Owner { shard, shards })
                    .reporting_in(reporting)
            })
            .collect();
        Self {
            books,
            seq,
            reporting,
            history: HistoryClock::new(config.history, None),
        }
    }

    /// Restores from `img`, its positions read once from `positions` (the
    /// image's own list, or a stored snapshot's chunks) by the sequencer's
    /// restore on this thread, which passes them on to one scoped thread
    /// per shard.
    pub fn from<P: Positions + ?Sized>(
        config: &PipelineConfig,
        img: &EngineImage,
        positions: &P,
    ) -> Result<Self, P::Error> {
        let shards = config.shards.max(1);
        let owners = (0..shards).map(|shard| Owner { shard, shards });
        let mut seq = Sequencer::from_image(&img.sequencer, config.bases.clone(), config.methods.clone());
        let reporting = seq.reporting_currency(config.reporting_currency.as_deref());
        // What the firm accumulated, kept by shard 0 (the sums add up);
        // without it (an older snapshot, or another reporting currency),
        // the books' amounts so far convert at the restored rates.
        let flows = img.firm.filter(|f| f.reporting == reporting.0).map(|f| FirmSums {
            realized: f.realized,
            fees: f.fees,
            income: f.income,
            baseline: f.baseline,
            ..FirmSums::default()
        });
        let book = move |owner: Owner, batches: Batches| {
            let shape = Shape {
                owner,
                seq: img.seq,
                emit_positions: config.emit_positions,
                reporting,
            };
            let Ok(book) = Book::from_image(&img.books, &batches, shape);
            let flows = flows.map(|f| if owner.shard == 0 { f } else { FirmSums::default() });
            book.with_books(
                img.portfolios
                    .iter()
                    .map(|p| (BookId(p.book), p.state()))
                    .filter(|(_, p)| owner.owns(p.account)),
                flows,
            )
        };
        std::thread::scope(|s| {
            // This thread decodes the positions once, for the sequencer's
            // bounds and (in batches, two in flight per shard) for every
            // shard's restore.
            let mut to = Vec::with_capacity(shards);
            let handles: Vec<_> = owners
                .map(|o| {
                    let (tx, rx) = bounded(2);
                    to.push(tx);
                    s.spawn(move || book(o, Batches(rx)))
                })
                .collect();
            let limits = seq.rebuild_limits(
                &img.books,
                &Tee::new(positions, to),
                &img.portfolios,
                &img.sequencer.named_lots,
            );
            let books = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect();
            limits.map(|()| Self {
                books,
                seq,
                reporting,
                history: HistoryClock::new(config.history, img.history),
            })
        })
    }
}

/// Positions as they are decoded: a batch is at most this many.
const BATCH: usize = 8_192;

/// A source read through, its positions also sent in shared batches to
/// every receiver (a shard's restore reading [`Batches`]).
pub(crate) struct Tee<'a, P: ?Sized> {
    source: &'a P,
    to: Vec<Sender<Arc<Vec<PositionImage>>>>,
}

impl<'a, P: Positions + ?Sized> Tee<'a, P> {
    /// `source`, teed to `to`.
    pub(crate) const fn new(source: &'a P, to: Vec<Sender<Arc<Vec<PositionImage>>>>) -> Self {
        Self { source, to }
    }

    fn send(&self, batch: Vec<PositionImage>) {
        let batch = Arc::new(batch);
        for tx in &self.to {
            // A receiver gone has failed its restore; the error is its.
            let _ = tx.send(Arc::clone(&batch));
        }
    }
}

impl<P: Positions + ?Sized> Positions for Tee<'_, P> {
    type Error = P::Error;

    fn each(&self, f: &mut dyn FnMut(&PositionImage)) -> Result<(), P::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        self.source.each(&mut |p| {
            f(p);
            batch.push(p.clone());
            if batch.len() == BATCH {
                self.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        })?;
        if !batch.is_empty() {
            self.send(batch);
        }
        Ok(())
    }
}

/// The positions a [`Tee`] sends, read until it is done (its senders
/// dropped). A source that failed part way ends early; the tee's reader
/// reports the failure.
pub(crate) struct Batches(pub(crate) Receiver<Arc<Vec<PositionImage>>>);

impl Positions for Batches {
    type Error = std::convert::Infallible;

    fn each(&self, f: &mut dyn FnMut(&PositionImage)) -> Result<(), Self::Error> {
        for batch in &self.0 {
            batch.iter().for_each(&mut *f);
        }
        Ok(())
    }
}
