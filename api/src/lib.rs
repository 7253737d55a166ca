//! kupala's client-facing side: `kupala serve`'s WebSocket + HTTP server.
//!
//! - [`protocol`]: the WebSocket messages and error codes (docs/protocol.md),
//!   decoded in one scan by `protocol_decode`.
//! - [`server`]: the accept loop (mini-redis layout: a semaphore cap,
//!   backoff, a shutdown signal and a drop-guard channel), serving each
//!   socket with hyper and the axum router of `http` (routes, the `Host`
//!   rule, the WebSocket upgrade).
//! - `connection` / `session`: one task per WebSocket and its protocol
//!   state; `context`: what they share.
//! - [`hub`]: the engine's `DeltaSink` — latest portfolios and ticks, the
//!   interest that decides which position deltas the engine builds, and
//!   fan-out to per-client queues (`outbox`: bounded, conflated by key,
//!   never blocking); and the `history` channel's [`hub::HistoryFeed`],
//!   the store's listener of the P&L history's new points.
//! - [`ingest`]: the thread that owns the engine; durable acks; cuts.
//! - [`feed_gate`]: how `feed`-role submits and feed status reach the
//!   live feeds the binary wires in.
//! - [`analysis`]: the ML sidecar's ops and `analysis` channel, over an
//!   [`analysis::Analyzer`] the binary provides.
//! - [`metrics`] (counters, latency histograms) and [`exposition`] (the
//!   `/metrics` text through prometheus-client); [`health`] (liveness and
//!   readiness).
//! - [`auth`], [`shutdown`]; [`render`] and [`json_out`]: JSON written by
//!   hand from fixed-point values.
//!
//! The views clients receive are the engine's ([`PositionView`],
//! [`PortfolioView`]), so the CLI and the server render positions alike.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod analysis;
mod analysis_jobs;
pub mod as_of;
pub mod auth;
mod client_id;
mod connection;
mod context;
pub mod error;
pub mod exposition;
mod fanout;
pub mod feed_gate;
pub mod feed_metrics;
pub mod health;
mod history_out;
mod http;
pub mod hub;
pub mod ingest;
mod ingest_acks;
mod ingest_progress;
pub mod json_out;
mod messages;
pub mod metrics;
mod outbox;
pub mod process;
mod prom;
pub mod protocol;
mod protocol_decode;
mod protocol_query;
mod queries;
pub mod render;
pub mod server;
mod session;
pub mod shutdown;
mod store_metrics;
mod tick_view;
mod watermark;

pub use analysis_jobs::JobCounts;
pub use error::ApiError;
pub use kupala_engine::view::{PortfolioView, PositionView, StateView};
