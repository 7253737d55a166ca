//! The queue's counters and the results of a push.

use std::fmt;

use kupala_engine::Event;

/// Counts per event type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// `instrument` events.
    pub instrument: u64,
    /// `trade` events.
    pub trade: u64,
    /// `tick` events.
    pub tick: u64,
    /// `fx` events.
    pub fx: u64,
    /// `eod` events.
    pub eod: u64,
    /// `split` events.
    pub split: u64,
    /// `dividend` events.
    pub dividend: u64,
}

impl KindCounts {
    pub(super) fn add(&mut self, event: &Event) {
        let n = match event {
            Event::Instrument(_) => &mut self.instrument,
            Event::Trade(_) => &mut self.trade,
            Event::Tick(_) => &mut self.tick,
            Event::Fx(_) => &mut self.fx,
            Event::Eod(_) => &mut self.eod,
            Event::Split(_) => &mut self.split,
            Event::Dividend(_) => &mut self.dividend,
        };
        *n += 1;
    }

    /// The sum over all types.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.instrument + self.trade + self.tick + self.fx + self.eod + self.split + self.dividend
    }
}

/// What an [`IngestQueue`](super::IngestQueue) has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Events accepted, by type; `enqueued.tick` includes conflated ticks.
    pub enqueued: KindCounts,
    /// Ticks that replaced a waiting tick (the replaced one is never seen).
    pub conflated: u64,
    /// Events refused (busy past the wait bound, or the queue closed).
    pub refused: KindCounts,
    /// Pushes that had to wait for room.
    pub waited: u64,
    /// Events handed to the consumer.
    pub dequeued: u64,
    /// Events waiting now.
    pub depth: usize,
    /// The largest depth seen.
    pub max_depth: usize,
}

/// How a push went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The event took a slot at the end of the queue.
    Queued,
    /// The tick replaced a waiting tick of the same instrument.
    Conflated,
}

/// Why an event was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The queue stayed full for the whole wait bound.
    Busy,
    /// The queue is closed: the engine is stopping.
    Closed,
}

/// An event the queue did not take, handed back with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The event, untouched, so the producer may retry it (boxed: refusals
    /// are rare and the `Result` of a push stays small).
    pub event: Box<Event>,
    /// Why.
    pub reason: RefuseReason,
}

impl fmt::Display for Refused {
    /// `busy: engine behind, trade not accepted` or
    /// `closed: engine stopping, trade not accepted`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            RefuseReason::Busy => "busy: engine behind",
            RefuseReason::Closed => "closed: engine stopping",
        };
        write!(f, "{why}, {} not accepted", self.event.kind())
    }
}

impl std::error::Error for Refused {}
