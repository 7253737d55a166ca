//! The live-feed door: how `feed`-role submits reach the engine, and how
//! clients see the state of the live feeds (TCP endpoint, market-data
//! refresher, ingest queue).
//!
//! The api crate knows no feed implementation (feeds → engine ← api): the
//! binary wires one in as a [`FeedGate`]. Unlike a `trade`/`admin` submit
//! (all or nothing, answered once durable), a `feed` submit goes through the
//! conflating ingest queue: a tick may be replaced by a later tick of the
//! same instrument before the engine sees it, and the answer means
//! "queued", not "durable".

use std::sync::Arc;

use kupala_engine::Event;
use serde_json::{Value, json};

use crate::feed_metrics::FeedMetrics;
use crate::metrics::{Metrics, Rejection};
use crate::outbox::Answer;
use crate::protocol::{ErrorCode, error_json, result_json};

/// What became of a batch offered to the feed queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// Events queued (conflated ticks included).
    pub accepted: usize,
    /// Of those, ticks that replaced a waiting tick of the same instrument.
    pub conflated: usize,
    /// Events refused: their index in the batch and why (the queue stayed
    /// full past its wait bound, or the server is stopping).
    pub refused: Vec<(usize, String)>,
    /// True when a refusal was because the server is stopping.
    pub closed: bool,
}

/// The live feeds, as the server sees them.
pub trait FeedGate: Send + Sync + std::fmt::Debug {
    /// Queues `events` in order, waiting (blocking) for room within the
    /// queue's bound; ticks may conflate, other events are never dropped.
    /// Call it off the async workers.
    fn offer(&self, events: Vec<Event>) -> Offered;

    /// The feeds' state as JSON (the `feeds` query): per refresher symbol
    /// whether it is `stale`, TCP endpoint and queue counters.
    fn status(&self) -> Value;

    /// Instruments whose market data is stale now.
    fn stale(&self) -> Vec<String>;

    /// The feeds' figures for `/metrics` (encoded by
    /// [`FeedCollector`](crate::feed_metrics::FeedCollector)).
    fn metrics(&self) -> FeedMetrics;
}

/// Offers a `feed` submit to `gate` (off the async workers) and fills the
/// client's reserved answer: a `result` with what was queued and conflated, or
/// an error naming each refused event (`busy`, or `unavailable` when the
/// server is stopping) and how many others were queued.
pub(crate) async fn offer(
    gate: Arc<dyn FeedGate>,
    events: Vec<Event>,
    answer: Answer,
    metrics: Arc<Metrics>,
) {
    let total = events.len();
    let offered = match tokio::task::spawn_blocking(move || gate.offer(events)).await {
        Ok(o) => o,
        Err(_) => {
            metrics.error(ErrorCode::Internal);
            let text = error_json(answer.id(), ErrorCode::Internal, "the feed queue failed");
            return answer.send(text);
        }
    };
    if offered.refused.is_empty() {
        let text = result_json(
            answer.id(),
            json!({ "queued": offered.accepted, "conflated": offered.conflated }),
        );
        return answer.send(text);
    }
    let (code, why) = if offered.closed {
        (ErrorCode::Unavailable, Rejection::Unavailable)
    } else {
        (ErrorCode::Busy, Rejection::Busy)
    };
    metrics.reject(why, offered.refused.len());
    let shown: Vec<String> = offered
        .refused
        .iter()
        .take(5)
        .map(|(i, why)| format!("line {}: {why}", i + 1))
        .collect();
    let more = offered.refused.len().saturating_sub(shown.len());
    let message = format!(
        "{} of {total} events refused ({}{}); the other {} were queued",
        offered.refused.len(),
        shown.join("; "),
        if more > 0 {
            format!("; {more} more")
        } else {
            String::new()
        },
        offered.accepted,
    );
    metrics.error(code);
    let text = error_json(answer.id(), code, &message);
    answer.send(text);
}
