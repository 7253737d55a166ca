//! Consistent cuts of a running pipeline: a barrier travels down every
//! shard channel behind the ops before it, so each shard answers at the
//! same seq; the aggregator joins the parts. Snapshots, queries' first
//! views, totals-only waits and persisted images all go through one cut.

use crossbeam_channel::{Receiver, bounded};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Downstream, Pipeline};
use crate::ids::AccountId;
use crate::image::{EngineImage, FirmImage, PortfolioImage};
use crate::journal_writer::JournalMsg;
use crate::messages::{Cut, CutKind};
use crate::state::{EngineState, PortfolioState};

impl Pipeline {
    fn cut(&mut self, kind: CutKind) -> Cut {
        let (tx, rx): (_, Receiver<Cut>) = bounded(1);
        match &mut self.down {
            Downstream::Direct(r) => r.barrier(&tx, kind),
            Downstream::Journal(j) => {
                j.send();
                let _ = j.tx.send(JournalMsg::Barrier(tx.clone(), kind));
            }
            Downstream::Closed => return Cut::default(),
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(cut) => return cut,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Cut::default(),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => self.check_workers(),
            }
        }
    }

    /// A worker that ended while the pipeline runs means a bug: its books
    /// are gone and waiting for it would hang. Stop the process loudly; the
    /// journal makes a restart safe.
    fn check_workers(&self) {
        let dead = self.workers.iter().any(JoinHandle::is_finished)
            || self.aggregator.as_ref().is_some_and(JoinHandle::is_finished);
        if dead {
            tracing::error!(
                "fatal: an engine thread stopped unexpectedly; aborting (restart recovers from the journal)"
            );
            std::process::abort();
        }
    }

    /// A consistent snapshot of every shard and the totals, all at the
    /// current `seq`: a barrier travels through each shard channel in order.
    pub fn snapshot(&mut self) -> EngineState {
        self.cut(CutKind::State).state
    }

    /// The listed positions of `accounts` (and every account's totals) at
    /// the current `seq`, through the same barrier as
    /// [`Pipeline::snapshot`]: a server's first view of accounts it starts
    /// to want (see [`Interest`](crate::interest::Interest)).
    pub fn positions_of(&mut self, accounts: &[AccountId]) -> EngineState {
        self.cut(CutKind::Accounts(accounts.into())).state
    }

    /// The account totals at the current `seq`, through the same barrier as
    /// [`Pipeline::snapshot`] but copying nothing per position: the way to
    /// wait until every submitted event is applied.
    pub fn totals(&mut self) -> Vec<PortfolioState> {
        self.cut(CutKind::Totals).state.portfolios
    }

    /// The complete engine image at the current `seq`, for a persisted
    /// snapshot (taken through the same barrier).
    pub fn image(&mut self) -> EngineImage {
        let sequencer = self.seq.image();
        let cut = self.cut(CutKind::Image);
        EngineImage {
            seq: self.seq.last_seq(),
            sequencer,
            books: cut.books.unwrap_or_default(),
            portfolios: cut
                .state
                .books
                .iter()
                .map(|b| PortfolioImage::of(b.book, &b.totals))
                .collect(),
            firm: Some(FirmImage {
                reporting: cut.state.firm.reporting_currency.0,
                realized: cut.state.firm.realized_pnl.0,
                fees: cut.state.firm.fees.0,
                income: cut.state.firm.income.0,
                baseline: cut.state.firm.net_pnl.0 - cut.state.firm.day_pnl.0,
            }),
            history: self.history.image(),
        }
    }
}
