//! The fan-out that lets one thread decode a snapshot's positions for
//! every restoring thread: the sequencer's restore reads the source
//! ([`Positions`]) once through a [`Tee`], which passes each batch of
//! positions to the shards' restores ([`Batches`]), so a stored snapshot
//! is decoded once however many threads restore from it.

use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;

use crate::image::{PositionImage, Positions};

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
