//! The `ticks` channel's value: an instrument's last price. A leaf type,
//! shared by the hub (which keeps the latest per instrument) and the client
//! queues (which carry it), so neither depends on the other for it.

use serde::Serialize;

use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;

/// The last price of an instrument, as the `ticks` channel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TickView {
    /// Instrument name.
    pub instrument: String,
    /// Last price.
    pub price: Price,
    /// The tick's time (absent for a mark restored from a snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// The journal seq of the tick.
    pub seq: u64,
}
