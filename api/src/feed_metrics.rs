//! The live feeds' figures ([`FeedMetrics`], which the binary's
//! [`FeedGate`](crate::feed_gate::FeedGate) fills in) and their encoding
//! for `/metrics`: the feed queue, the TCP endpoint, the refresher's
//! symbols, and each feed's data age.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::prom::{self, Encoded};

/// Counts by event type (`instrument`, `trade`, `tick`, `fx`, `eod`,
/// `split`).
pub type KindCounts = Vec<(&'static str, u64)>;

/// The TCP feed endpoint's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpFeedMetrics {
    /// Lines whose event the queue accepted.
    pub accepted: u64,
    /// Lines rejected as bad.
    pub rejected: u64,
    /// Events the queue refused (busy, closing).
    pub refused: u64,
    /// Open connections.
    pub connections: u64,
}

/// One refreshed symbol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolMetrics {
    /// The symbol asked of the endpoint.
    pub symbol: String,
    /// The instrument its ticks are for.
    pub instrument: String,
    /// Stale now (failed `stale_after` times in a row).
    pub stale: bool,
    /// Failed fetches so far.
    pub failures: u64,
    /// When its last good fetch ended (ms since the Unix epoch).
    pub last_success_ms: Option<i64>,
}

/// Everything `/metrics` shows of the live feeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedMetrics {
    /// Events waiting in the feed queue.
    pub queue_depth: usize,
    /// Events accepted into the queue, by type.
    pub enqueued: KindCounts,
    /// Ticks replaced in the queue by a later one of the same instrument.
    pub conflated: u64,
    /// Events the queue refused, by type.
    pub refused: KindCounts,
    /// The TCP endpoint, when it listens.
    pub tcp: Option<TcpFeedMetrics>,
    /// The refresher's symbols (empty without a refresher).
    pub symbols: Vec<SymbolMetrics>,
    /// Per feed (`tcp`, `websocket`, `refresher`), when it last delivered
    /// data (ms since the Unix epoch); a feed that never did is left out.
    pub last_data_ms: Vec<(&'static str, i64)>,
}

/// Encodes [`FeedMetrics`] as read at `now_ms`.
#[derive(Debug)]
pub struct FeedCollector {
    /// The figures.
    pub metrics: FeedMetrics,
    /// The scrape's time, ms since the Unix epoch (ages are relative to it).
    pub now_ms: i64,
}

#[allow(clippy::cast_precision_loss, reason = "ages shown as float seconds")]
fn age(now_ms: i64, then_ms: i64) -> f64 {
    now_ms.saturating_sub(then_ms).max(0) as f64 / 1000.0
}

fn by_type(k: &KindCounts) -> impl Iterator<Item = ([(&'static str, &'static str); 1], u64)> + '_ {
    k.iter().map(|&(t, n)| ([("type", t)], n))
}

impl FeedCollector {
    fn queue(&self, e: &mut DescriptorEncoder) -> Encoded {
        let m = &self.metrics;
        prom::gauge(
            e,
            "kupala_feed_queue_depth",
            "Events waiting in the live-feed queue.",
            m.queue_depth as u64,
        )?;
        prom::counters(
            e,
            "kupala_feed_enqueued_total",
            "Events accepted into the live-feed queue, by type.",
            by_type(&m.enqueued),
        )?;
        prom::counter(
            e,
            "kupala_feed_conflated_total",
            "Ticks replaced in the live-feed queue by a later tick of the same instrument.",
            m.conflated,
        )?;
        prom::counters(
            e,
            "kupala_feed_refused_total",
            "Events the live-feed queue refused (busy past its wait bound, or closing), by type.",
            by_type(&m.refused),
        )
    }

    fn tcp(e: &mut DescriptorEncoder, t: &TcpFeedMetrics) -> Encoded {
        let outcomes = [
            ("accepted", t.accepted),
            ("rejected", t.rejected),
            ("refused", t.refused),
        ];
        prom::counters(
            e,
            "kupala_tcp_feed_lines_total",
            "Lines read by the TCP feed, by outcome.",
            outcomes.map(|(o, n)| ([("outcome", o)], n)),
        )?;
        prom::gauge(
            e,
            "kupala_tcp_feed_connections",
            "Open TCP feed connections.",
            t.connections,
        )
    }

    fn symbols(&self, e: &mut DescriptorEncoder) -> Encoded {
        let s = &self.metrics.symbols;
        let pair = |x: &SymbolMetrics| [("symbol", x.symbol.clone()), ("instrument", x.instrument.clone())];
        prom::gauges(
            e,
            "kupala_refresher_stale",
            "1 while a refreshed symbol is stale (failed stale_after times in a row).",
            s.iter().map(|x| (pair(x), u64::from(x.stale))),
        )?;
        prom::counters(
            e,
            "kupala_refresher_failures_total",
            "Failed fetches per refreshed symbol.",
            s.iter().map(|x| ([("symbol", x.symbol.clone())], x.failures)),
        )?;
        prom::gauges(
            e,
            "kupala_refresher_data_age_seconds",
            "Seconds since a refreshed symbol's last good fetch.",
            s.iter()
                .filter_map(|x| Some((pair(x), age(self.now_ms, x.last_success_ms?)))),
        )
    }
}

impl Collector for FeedCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        let e = &mut e;
        self.queue(e)?;
        if let Some(t) = &self.metrics.tcp {
            Self::tcp(e, t)?;
        }
        if !self.metrics.symbols.is_empty() {
            self.symbols(e)?;
        }
        if self.metrics.last_data_ms.is_empty() {
            return Ok(());
        }
        prom::gauges(
            e,
            "kupala_feed_data_age_seconds",
            "Seconds since a live feed last delivered data, by feed (absent until it has).",
            self.metrics
                .last_data_ms
                .iter()
                .map(|&(f, t)| ([("feed", f)], age(self.now_ms, t))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn feeds_render_with_their_labels_and_ages() {
        let metrics = FeedMetrics {
            queue_depth: 2,
            enqueued: vec![("trade", 4), ("tick", 9)],
            conflated: 1,
            refused: vec![("trade", 0)],
            tcp: Some(TcpFeedMetrics {
                accepted: 3,
                connections: 1,
                ..TcpFeedMetrics::default()
            }),
            symbols: vec![SymbolMetrics {
                symbol: "^GSPC".into(),
                instrument: "SPX".into(),
                stale: true,
                failures: 5,
                last_success_ms: Some(1_000),
            }],
            last_data_ms: vec![("tcp", 9_500)],
        };
        let mut r = Registry::default();
        r.register_collector(Box::new(FeedCollector {
            metrics,
            now_ms: 10_000,
        }));
        let text = prom::render(&r);
        for line in [
            "kupala_feed_queue_depth 2",
            "kupala_feed_enqueued_total{type=\"tick\"} 9",
            "kupala_feed_conflated_total 1",
            "kupala_tcp_feed_lines_total{outcome=\"accepted\"} 3",
            "kupala_tcp_feed_connections 1",
            "kupala_refresher_stale{symbol=\"^GSPC\",instrument=\"SPX\"} 1",
            "kupala_refresher_failures_total{symbol=\"^GSPC\"} 5",
            "kupala_refresher_data_age_seconds{symbol=\"^GSPC\",instrument=\"SPX\"} 9.0",
            "kupala_feed_data_age_seconds{feed=\"tcp\"} 0.5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
    }
}
