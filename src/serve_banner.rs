//! What `kupala serve` says when it is up: one block of lines naming where
//! it listens, its store and what recovery found, the demo, the EOD
//! schedule, each feed, auth, the ML sidecar, and how to stop it.

use std::path::PathBuf;

use crate::config::Config;
use crate::serve::{Running, ServeOptions};

/// The settings the block names, taken before the server starts.
#[derive(Debug)]
pub struct Banner {
    data: PathBuf,
    demo: Option<(u64, f64)>,
    eod: Option<(String, String)>,
    files: Vec<String>,
    refresher: Option<String>,
    tokens: usize,
    ml: Option<bool>,
}

impl Banner {
    /// What `opts` will run.
    #[must_use]
    pub fn of(opts: &ServeOptions) -> Self {
        let c: &Config = &opts.config;
        let refresh = &c.feeds.refresher;
        Self {
            data: opts.data.clone(),
            demo: opts.demo.then_some((c.demo.seed, c.demo.speed)),
            eod: c
                .eod
                .enabled
                .then(|| (c.eod.time.clone(), c.eod.timezone.clone())),
            files: c
                .feeds
                .files
                .iter()
                .map(|f| format!("file {} ({}, speed {})", f.path.display(), f.format, f.speed))
                .collect(),
            refresher: (!refresh.endpoint.is_empty()).then(|| {
                format!(
                    "refresher {} ({} symbol(s), every {} s)",
                    refresh.endpoint,
                    refresh.symbols.len(),
                    refresh.period_secs
                )
            }),
            tokens: c.auth.tokens.len(),
            ml: c.ml.enabled.then_some(c.ml.on_eod),
        }
    }

    /// The block's lines, once `running` is up.
    #[must_use]
    pub fn lines(&self, running: &Running) -> Vec<String> {
        let addr = running.addr;
        let r = &running.recovery;
        let from = r
            .snapshot
            .map_or_else(|| "no snapshot".to_owned(), |s| format!("snapshot at seq {s}"));
        let mut out = vec![
            format!(
                "listening on http://{addr} (dashboard http://{addr}/, WebSocket ws://{addr}/ws, /health, /health/live, /health/ready, /metrics)"
            ),
            format!(
                "store {}: recovered to seq {} ({from}, {} journal events replayed)",
                self.data.display(),
                r.last_seq,
                r.replayed
            ),
            match self.demo {
                Some((seed, speed)) => format!("demo: on (synthetic market, seed {seed}, speed {speed}x)"),
                None => "demo: off".to_owned(),
            },
            match &self.eod {
                Some((time, tz)) => format!("EOD: every day at {time} {tz}"),
                None => "EOD: off".to_owned(),
            },
        ];
        let mut feeds: Vec<String> = self.files.clone();
        if let Some(addr) = running.tcp_feed {
            feeds.push(format!("TCP JSON Lines on {addr}"));
        }
        feeds.extend(self.refresher.clone());
        if feeds.is_empty() {
            out.push("feeds: none".to_owned());
        }
        out.extend(feeds.into_iter().map(|f| format!("feed: {f}")));
        out.push(if self.tokens == 0 {
            "auth: off (no tokens: loopback clients only, each with every right)".to_owned()
        } else {
            format!("auth: on ({} token(s); clients authenticate first)", self.tokens)
        });
        out.push(match self.ml {
            Some(true) => "ML sidecar: on (an analysis after each EOD)".to_owned(),
            Some(false) => "ML sidecar: on (analyses on request)".to_owned(),
            None => "ML sidecar: off".to_owned(),
        });
        out.push("Ctrl-C to stop".to_owned());
        out
    }
}
