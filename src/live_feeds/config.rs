//! `[feeds.queue]`, `[feeds.tcp]` and `[feeds.refresher]`: the live feeds'
//! configuration, checked before anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use kupala_engine::num::Price;
use kupala_feeds::queue::QueueConfig;
use kupala_feeds::refresher::{RefresherConfig, SymbolConfig};
use kupala_feeds::tcp::TcpLimits;
use serde::Deserialize;

/// `[feeds.queue]`: the conflating queue between the live feeds and the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// Events waiting at most (ticks beyond it conflate per instrument).
    pub capacity: usize,
    /// How long a producer waits for room before a non-tick event is refused.
    pub max_wait_ms: u64,
    /// Events handed to the engine at a time.
    pub batch: usize,
}

/// `[feeds.tcp]`: the plain-TCP JSON Lines endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSection {
    /// `HOST:PORT`, or empty for no endpoint.
    pub listen: String,
    /// Connections at once.
    pub max_connections: usize,
    /// Longest line in bytes.
    pub max_line_bytes: usize,
    /// Close a connection silent for this long (0 = never).
    pub idle_timeout_secs: u64,
    /// Allow a non-loopback address (the endpoint has no authentication).
    pub allow_remote: bool,
}

/// One `[[feeds.refresher.symbols]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSymbol {
    /// The symbol in the endpoint's URL.
    pub symbol: String,
    /// The instrument its ticks are for (default: the symbol).
    #[serde(default)]
    pub instrument: Option<String>,
    /// Bar interval: intraday (`1m`...`1h`) gives ticks, `1d` and longer EOD marks.
    #[serde(default = "one_day")]
    pub interval: String,
    /// How far back each request reaches.
    #[serde(default = "five_days")]
    pub range: String,
}

fn one_day() -> String {
    "1d".into()
}

fn five_days() -> String {
    "5d".into()
}

/// `[feeds.refresher]`: the market-data refresher (Yahoo v8 chart JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefresherSection {
    /// Base URL (`{endpoint}/{symbol}?interval=..&range=..`), or empty for none.
    pub endpoint: String,
    /// Seconds between two fetches of a symbol.
    pub period_secs: u64,
    /// Connect timeout.
    pub connect_timeout_ms: u64,
    /// Read timeout.
    pub read_timeout_ms: u64,
    /// First retry delay after a failure.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// Consecutive failures before a symbol is marked stale.
    pub stale_after: u32,
    /// Largest response body.
    pub max_body_bytes: u64,
    /// Prices below this are skipped.
    pub min_price: String,
    /// Prices above this are skipped.
    pub max_price: String,
    /// The symbols.
    pub symbols: Vec<RefreshSymbol>,
}

/// The live-feed sections of `[feeds]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSections {
    /// The queue.
    pub queue: QueueSection,
    /// The TCP endpoint.
    pub tcp: TcpSection,
    /// The refresher.
    pub refresher: RefresherSection,
}

impl LiveSections {
    /// Reports what is wrong, with the key's name.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if self.queue.capacity == 0 || self.queue.batch == 0 {
            problems.push("feeds.queue.capacity and feeds.queue.batch must be > 0".into());
        }
        if let Err(e) = self.tcp_addr() {
            problems.push(e);
        }
        if let Err(e) = self.refresher_config() {
            problems.push(e);
        }
    }

    /// The queue's settings.
    #[must_use]
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            capacity: self.queue.capacity.max(1),
            max_wait: Duration::from_millis(self.queue.max_wait_ms),
        }
    }

    /// The TCP endpoint's address, `None` when off; refused when not
    /// loopback unless `allow_remote`.
    pub fn tcp_addr(&self) -> Result<Option<SocketAddr>, String> {
        let listen = self.tcp.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().map_err(|_| {
            format!("feeds.tcp.listen {listen:?} is not HOST:PORT (an IP address and a port)")
        })?;
        if !addr.ip().is_loopback() && !self.tcp.allow_remote {
            return Err(format!(
                "feeds.tcp.listen {addr} is not a loopback address: the TCP feed has no \
                 authentication; set feeds.tcp.allow_remote = true behind a firewall"
            ));
        }
        Ok(Some(addr))
    }

    /// The TCP endpoint's limits.
    #[must_use]
    pub fn tcp_limits(&self) -> TcpLimits {
        TcpLimits {
            max_connections: self.tcp.max_connections,
            max_line: self.tcp.max_line_bytes,
            idle_timeout: (self.tcp.idle_timeout_secs > 0)
                .then(|| Duration::from_secs(self.tcp.idle_timeout_secs)),
            ..TcpLimits::default()
        }
    }

    /// The refresher's settings, `None` when no endpoint is configured.
    pub fn refresher_config(&self) -> Result<Option<RefresherConfig>, String> {
        let r = &self.refresher;
        if r.endpoint.trim().is_empty() {
            return Ok(None);
        }
        let price = |key: &str, v: &str| {
            v.parse::<Price>()
                .map_err(|e| format!("feeds.refresher.{key} {v:?}: {e}"))
        };
        let symbols = r
            .symbols
            .iter()
            .map(|s| SymbolConfig {
                symbol: s.symbol.clone(),
                instrument: s.instrument.clone().unwrap_or_else(|| s.symbol.clone()),
                interval: s.interval.clone(),
                range: s.range.clone(),
            })
            .collect();
        let ms = Duration::from_millis;
        let config = RefresherConfig {
            period: Duration::from_secs(r.period_secs),
            connect_timeout: ms(r.connect_timeout_ms),
            read_timeout: ms(r.read_timeout_ms),
            backoff_base: ms(r.backoff_base_ms),
            backoff_max: ms(r.backoff_max_ms),
            stale_after: r.stale_after,
            max_body: r.max_body_bytes,
            min_price: price("min_price", &r.min_price)?,
            max_price: price("max_price", &r.max_price)?,
            ..RefresherConfig::new(r.endpoint.trim(), symbols)
        };
        kupala_feeds::refresher::check_config(&config).map_err(|e| format!("feeds.refresher: {e}"))?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(edit: impl FnOnce(&mut Config)) -> Vec<String> {
        let Ok(mut c) = Config::default_config() else {
            return vec!["defaults do not parse".into()];
        };
        edit(&mut c);
        let mut out = Vec::new();
        c.feeds.live().validate(&mut out);
        out
    }

    #[test]
    fn defaults_start_no_live_endpoint() {
        let Ok(c) = Config::default_config() else {
            panic!("defaults do not parse")
        };
        let live = c.feeds.live();
        assert_eq!(live.tcp_addr(), Ok(None));
        assert!(matches!(live.refresher_config(), Ok(None)));
    }

    #[test]
    fn a_remote_tcp_feed_needs_allow_remote() {
        let remote = problems(|c| c.feeds.tcp.listen = "0.0.0.0:9100".into());
        assert!(remote.iter().any(|p| p.contains("allow_remote")), "{remote:?}");
        let allowed = problems(|c| {
            c.feeds.tcp.listen = "0.0.0.0:9100".into();
            c.feeds.tcp.allow_remote = true;
        });
        assert!(allowed.is_empty(), "{allowed:?}");
        let bad = problems(|c| c.feeds.tcp.listen = "localhost".into());
        assert!(bad.iter().any(|p| p.contains("feeds.tcp.listen")), "{bad:?}");
    }

    #[test]
    fn refresher_settings_are_checked() {
        let no_symbols = problems(|c| c.feeds.refresher.endpoint = "http://127.0.0.1:1/chart".into());
        assert!(
            no_symbols.iter().any(|p| p.contains("feeds.refresher")),
            "{no_symbols:?}"
        );
        let bad_price = problems(|c| {
            c.feeds.refresher.endpoint = "http://127.0.0.1:1/chart".into();
            c.feeds.refresher.max_price = "lots".into();
        });
        assert!(bad_price.iter().any(|p| p.contains("max_price")), "{bad_price:?}");
        let bad_url = problems(|c| {
            c.feeds.refresher.endpoint = "ftp://x".into();
            c.feeds.refresher.symbols = vec![super::RefreshSymbol {
                symbol: "^GSPC".into(),
                instrument: None,
                interval: "1d".into(),
                range: "5d".into(),
            }];
        });
        assert!(bad_url.iter().any(|p| p.contains("http")), "{bad_url:?}");
    }
}
