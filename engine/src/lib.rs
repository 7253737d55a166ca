//! kupala's engine: fixed-point domain types, exact P&L maths, the sharded
//! books and the pipeline that feeds them. It knows no sockets and no files
//! other than its store.
//!
//! Data flow: [`Sequencer`](pipeline::Sequencer) → one bounded channel and one
//! worker thread per shard ([`Book`]) → the aggregator (account totals moved
//! by deltas) → a [`DeltaSink`](pipeline::DeltaSink).

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

mod aggregator;
pub mod as_of;
pub mod book;
mod book_index;
pub mod books;
pub mod clock;
pub mod durable;
mod durable_history;
pub mod event;
pub mod fx;
pub mod histogram;
pub mod history;
pub mod ids;
pub mod image;
pub mod interest;
pub mod journal_writer;
mod lean;
pub mod ledger;
mod limits;
mod messages;
pub mod num;
pub mod op;
pub mod partition;
pub mod pipeline;
pub mod rebalance;
pub mod reference;
pub mod router;
pub mod schedule;
pub mod sequencer;
pub mod shard_depths;
mod snapshot_pick;
pub mod state;
pub mod store;
pub mod time;
pub mod trade_ids;
pub mod view;
mod worker;
pub use worker::MAX_OUTPUT_ENTRIES;

pub use aggregator::{DeltaSink, NullSink};
pub use book::Book;
pub use book::{Segment, ShardOutput};
pub use event::{Event, EventError};
pub use ledger::Method;
pub use pipeline::{Cut, Pipeline, PipelineConfig, PipelineStats, SharedNames, default_shards};
pub use sequencer::{BaseCurrencies, SequenceError, Sequencer};
pub use state::EngineState;
