//! File feeds for `kupala serve` (`[[feeds.files]]`): each listed file is
//! read on its own thread with the feeds adapters and submitted to the
//! engine, paced by the events' timestamps (`speed = "max"`, `"1x"` or a
//! factor such as `"10x"`), optionally looping.
//!
//! Looping replays the file's events again as they are: ticks simply move
//! the marks again; trades with an `id` are ignored as repeats; trades
//! without one are applied again.

use std::io::BufReader;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use kupala_api::ingest::IngestHandle;
use kupala_engine::Event;
use kupala_feeds::{AnySource, Format, SourceOptions};
use serde::Deserialize;

use crate::history::Speed;

/// `[[feeds.files]]`: one file to feed into the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFeed {
    /// The file.
    pub path: PathBuf,
    /// jsonl, trades, ticks, bars, quotes or yahoo.
    #[serde(default = "jsonl")]
    pub format: String,
    /// The instrument of every row, for files without an instrument column.
    #[serde(default)]
    pub instrument: Option<String>,
    /// "max", "1x" (event time) or a factor such as "10x".
    #[serde(default = "max")]
    pub speed: String,
    /// Start again at the end of the file.
    #[serde(default, rename = "loop")]
    pub repeat: bool,
}

fn jsonl() -> String {
    "jsonl".into()
}

fn max() -> String {
    "max".into()
}

/// `[feeds]`: file feeds and the live feeds (queue, TCP endpoint, refresher).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsSection {
    /// The files to feed.
    #[serde(default)]
    pub files: Vec<FileFeed>,
    /// The live-feed queue.
    pub queue: crate::live_feeds::QueueSection,
    /// The TCP JSON Lines endpoint.
    pub tcp: crate::live_feeds::TcpSection,
    /// The market-data refresher.
    pub refresher: crate::live_feeds::RefresherSection,
}

impl FeedsSection {
    /// The live-feed sections together.
    #[must_use]
    pub fn live(&self) -> crate::live_feeds::LiveSections {
        crate::live_feeds::LiveSections {
            queue: self.queue.clone(),
            tcp: self.tcp.clone(),
            refresher: self.refresher.clone(),
        }
    }
}

impl FileFeed {
    /// Reports what is wrong with this entry.
    pub fn validate(&self, problems: &mut Vec<String>) {
        let at = self.path.display();
        if let Err(e) = self.format.parse::<Format>() {
            problems.push(format!("feeds.files {at}: {e}"));
        }
        if let Err(e) = self.speed.parse::<Speed>() {
            problems.push(format!("feeds.files {at}: {e}"));
        }
    }

    /// Feeds the file until it ends (or forever with `loop`), or `stop`.
    pub fn run(&self, ingest: &IngestHandle, stop: &Receiver<()>) {
        let (Ok(format), Ok(speed)) = (self.format.parse::<Format>(), self.speed.parse::<Speed>()) else {
            return;
        };
        loop {
            match self.once(format, speed, ingest, stop) {
                Ok(true) if self.repeat => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::error!("feed {}: {e}", self.path.display());
                    return;
                }
            }
        }
    }

    /// One pass over the file; Ok(false) when told to stop.
    fn once(
        &self,
        format: Format,
        speed: Speed,
        ingest: &IngestHandle,
        stop: &Receiver<()>,
    ) -> Result<bool, String> {
        let file = std::fs::File::open(&self.path).map_err(|e| e.to_string())?;
        let opts = SourceOptions {
            instrument: self.instrument.clone(),
            ..SourceOptions::default()
        };
        let source = AnySource::open(format, BufReader::new(file), &opts).map_err(|e| e.to_string())?;
        let mut batch: Vec<Event> = Vec::new();
        let mut start: Option<(i64, Instant)> = None;
        for item in source {
            let event = match item {
                Ok(e) => e,
                Err(e) if e.is_fatal() => return Err(e.to_string()),
                Err(e) => {
                    tracing::warn!("feed {}: skipped {e}", self.path.display());
                    continue;
                }
            };
            if let Speed::Times(factor) = speed {
                let ts = kupala_engine::store::journal::event_ts(&event);
                let (t0, wall0) = *start.get_or_insert((ts, Instant::now()));
                #[allow(clippy::cast_precision_loss, reason = "pacing only")]
                let due = Duration::from_secs_f64(((ts - t0).max(0) as f64 / 1e9) / factor);
                let now = wall0.elapsed();
                if due > now {
                    if !batch.is_empty() && !ingest.feed_blocking(std::mem::take(&mut batch)) {
                        return Ok(false);
                    }
                    if !matches!(stop.recv_timeout(due - now), Err(RecvTimeoutError::Timeout)) {
                        return Ok(false);
                    }
                }
            }
            batch.push(event);
            if batch.len() >= 1024 && !ingest.feed_blocking(std::mem::take(&mut batch)) {
                return Ok(false);
            }
            if !matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Empty)) {
                return Ok(false);
            }
        }
        Ok(batch.is_empty() || ingest.feed_blocking(batch))
    }
}
