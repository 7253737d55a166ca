//! kupala's client-facing side. Today it holds the shapes clients receive
//! (re-exported from the engine's views) so the CLI and the future
//! WebSocket/HTTP server (`kupala serve`) render positions identically.

#![deny(missing_docs)]

pub use kupala_engine::view::{PortfolioView, PositionView, StateView};
