//! Integration tests of the engine core, run through `kupala::calc` and the
//! built `kupala` binary: P&L rules, golden files, sharding invariance, the
//! command line, bad input and a real USD/JPY tick file.

mod bad_input;
mod bench;
mod cli;
mod crash_loop;
mod damage;
mod feeds;
mod golden;
mod pnl_history;
mod ranges;
mod recovery;
mod scenarios;
mod sharding;
mod store_reads;
mod support;
mod usdjpy;
