//! Live feeds in `kupala serve`: one conflating [`IngestQueue`] fed by the
//! plain-TCP JSON Lines endpoint (`[feeds.tcp]`), the market-data refresher
//! (`[feeds.refresher]`) and WebSocket clients of role `feed`, and the pump
//! thread (`kupala-feed-pump`) that moves its batches to the ingest thread.
//!
//! Backpressure runs end to end: when the engine is behind, the ingest
//! channel fills, the pump blocks, the queue fills; ticks then conflate to
//! the latest per instrument while trades (and every other event) wait up
//! to `feeds.queue.max_wait_ms` and are then refused with an error their
//! sender sees (`error LINE: busy: ...` on TCP, `busy` on the WebSocket).
//! An accepted event is never dropped. The pump hands events over as
//! [`kupala_api::ingest::Command::Feed`]: each is checked on its own, so
//! one the engine refuses (counted in `kupala_events_rejected_total`,
//! logged) does not take its neighbours with it.

mod config;
mod gate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use kupala_api::feed_gate::FeedGate;
use kupala_api::ingest::IngestHandle;
use kupala_feeds::queue::IngestQueue;
use kupala_feeds::refresher::Refresher;
use kupala_feeds::tcp::TcpIngest;

pub use config::{LiveSections, QueueSection, RefreshSymbol, RefresherSection, TcpSection};
use gate::Gate;

/// The running live feeds.
#[derive(Debug)]
pub struct LiveFeeds {
    gate: Arc<Gate>,
    refresher: Option<Refresher>,
    pump: Option<JoinHandle<()>>,
}

impl LiveFeeds {
    /// Starts the queue and its pump into `ingest`, then the TCP endpoint
    /// and the refresher when configured.
    pub fn start(sections: &LiveSections, ingest: IngestHandle) -> anyhow::Result<Self> {
        let queue = Arc::new(IngestQueue::new(sections.queue_config()));
        let batch = sections.queue.batch.max(1);
        let pump = {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("kupala-feed-pump".into())
                .spawn(move || pump(&queue, &ingest, batch))
                .context("starting thread kupala-feed-pump")?
        };
        let tcp = match sections.tcp_addr().map_err(anyhow::Error::msg)? {
            Some(addr) => Some(
                TcpIngest::start(addr, Arc::clone(&queue), sections.tcp_limits())
                    .with_context(|| format!("binding the TCP feed on {addr}"))?,
            ),
            None => None,
        };
        let refresher = match sections.refresher_config().map_err(anyhow::Error::msg)? {
            Some(config) => Some(Refresher::start(config, Arc::clone(&queue))?),
            None => None,
        };
        let gate = Arc::new(Gate::new(
            queue,
            sections.queue.capacity,
            tcp,
            refresher.as_ref().map(Refresher::status),
            sections.refresher.endpoint.trim().to_owned(),
        ));
        Ok(Self {
            gate,
            refresher,
            pump: Some(pump),
        })
    }

    /// The door for `feed`-role submits and the `feeds` query.
    #[must_use]
    pub fn gate(&self) -> Arc<dyn FeedGate> {
        Arc::clone(&self.gate) as Arc<dyn FeedGate>
    }

    /// The TCP endpoint's bound address (the real port when asked for 0).
    #[must_use]
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.gate.tcp_addr()
    }

    /// Stops the producers (TCP endpoint, refresher), closes the queue,
    /// and waits for the pump to hand everything queued to the engine.
    pub fn stop(mut self) {
        self.gate.stop_tcp();
        if let Some(r) = self.refresher.take() {
            r.stop();
        }
        self.gate.queue().close();
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

/// Moves the queue's batches to the ingest thread until the queue is
/// closed and drained (or the ingest thread is gone).
fn pump(queue: &IngestQueue, ingest: &IngestHandle, batch: usize) {
    let mut events = Vec::with_capacity(batch);
    loop {
        match queue.pop_batch(&mut events, batch, Some(Duration::from_millis(200))) {
            None => return,
            Some(0) => {}
            Some(_) => {
                if !ingest.feed_each_blocking(std::mem::replace(&mut events, Vec::with_capacity(batch))) {
                    return;
                }
            }
        }
    }
}
