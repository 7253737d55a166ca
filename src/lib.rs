//! The `kupala` binary's library half: configuration loading and the batch
//! commands (`calc`), kept here so integration tests call the same code the
//! binary runs.

#![deny(missing_docs)]

pub mod analyze;
pub mod bench;
pub mod calc;
pub mod config;
pub mod convert;
pub mod file_feeds;
pub mod history;
pub mod live_feeds;
pub mod logging;
pub mod pnl_history;
pub mod serve;
pub mod serve_banner;
pub mod serve_ml;
