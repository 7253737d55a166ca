//! `/metrics` as a Prometheus server reads it (every family with HELP and
//! TYPE, histograms with ordered cumulative buckets, `+Inf` = `_count`),
//! rejections labelled by reason, and `/health/live` / `/health/ready`,
//! including a server not ready because its durable lag is over the bound.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};

use super::support::{self, Client, server, tick, trade};

/// One sample line: its name, labels (in order) and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// `{a="x",b="y\"z"}` → pairs (escapes undone).
fn parse_labels(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").context("label without =\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => bail!("dangling escape in {text}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => bail!("unterminated label value in {text}"),
            }
        };
        out.push((key.to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample> {
    let (series, value) = line.rsplit_once(' ').context("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().with_context(|| format!("value of {line:?}"))?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((n, l)) => (n, parse_labels(l.strip_suffix('}').context("no closing brace")?)?),
        None => (series, Vec::new()),
    };
    ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name in {line:?}"
    );
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The family a sample belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
}

/// Parses an exposition, checking what a Prometheus scraper relies on; the
/// samples and each family's type.
fn parse_exposition(text: &str) -> Result<(Vec<Sample>, BTreeMap<String, String>)> {
    let (mut types, mut helps) = (BTreeMap::new(), BTreeMap::new());
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').context("HELP without text")?;
            ensure!(
                helps.insert(name.to_owned(), help.to_owned()).is_none(),
                "two HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').context("TYPE without type")?;
            ensure!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            ensure!(helps.contains_key(name), "TYPE before HELP for {name}");
            ensure!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "two TYPE for {name}"
            );
        } else {
            ensure!(!line.starts_with('#'), "unexpected comment {line:?}");
            let s = parse_sample(line)?;
            let family = family_of(&s.name, &types).with_context(|| format!("no TYPE before {line:?}"))?;
            if types[family] == "counter" {
                ensure!(s.name.ends_with("_total") && s.value >= 0.0, "{line}");
            }
            samples.push(s);
        }
    }
    for (name, kind) in &types {
        if kind == "histogram" {
            check_histogram(name, &samples)?;
        }
    }
    Ok((samples, types))
}

/// Buckets ordered by `le`, cumulative (never decreasing), ending in
/// `+Inf` equal to `_count`, with a `_sum`.
fn check_histogram(name: &str, samples: &[Sample]) -> Result<()> {
    let bucket = format!("{name}_bucket");
    let mut last = (f64::NEG_INFINITY, 0.0);
    for s in samples.iter().filter(|s| s.name == bucket) {
        let le = s
            .labels
            .iter()
            .find(|(k, _)| k == "le")
            .context("bucket without le")?;
        let le: f64 = if le.1 == "+Inf" {
            f64::INFINITY
        } else {
            le.1.parse()?
        };
        ensure!(
            le > last.0 && s.value >= last.1,
            "{bucket}: le={le} after {last:?}"
        );
        last = (le, s.value);
    }
    ensure!(last.0 == f64::INFINITY, "{name}: no +Inf bucket");
    let one = |suffix: &str| {
        let n = format!("{name}{suffix}");
        samples.iter().find(|s| s.name == n).map(|s| s.value)
    };
    ensure!(
        one("_count") == Some(last.1),
        "{name}: _count is not the +Inf bucket"
    );
    ensure!(one("_sum").is_some_and(|s| s >= 0.0), "{name}: no _sum");
    Ok(())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
}

#[test]
fn the_exposition_checker_refuses_what_a_scraper_would() {
    let good = "# HELP h_seconds H.\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 1\n\
                h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 3.5\nh_seconds_count 2\n";
    assert!(parse_exposition(good).is_ok());
    for bad in [
        good.replace("{le=\"1\"} 1", "{le=\"1\"} 3"),
        good.replace("h_seconds_count 2", "h_seconds_count 5"),
        good.replace("# TYPE h_seconds histogram\n", ""),
        "# HELP c C.\n# TYPE c counter\nc 1\n".to_owned(),
        "# HELP g G.\n# TYPE g gauge\ng{a=\"x} 1\n".to_owned(),
    ] {
        assert!(parse_exposition(&bad).is_err(), "accepted:\n{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_prometheus_text_and_count_rejections_by_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut c = Client::connect(srv.addr).await?;
    let ack = c
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
            trade("t1", "A1", "AAPL", "buy", "10", "100"),
            tick("AAPL", "101"),
        ])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");
    // The engine refuses to redefine a traded instrument: both events go.
    let refused = c
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"EUR","multiplier":"1"}),
            trade("t2", "A1", "AAPL", "buy", "1", "1"),
        ])
        .await?;
    ensure!(refused["code"] == "bad_request", "{refused}");
    // The hub records tick→delta once the tick's deltas arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (samples, types) = loop {
        let (samples, types) = parse_exposition(&support::http_get(srv.addr, "/metrics").await?)?;
        if value(&samples, "kupala_tick_to_delta_seconds_count", &[]).is_some_and(|n| n >= 1.0) {
            break (samples, types);
        }
        ensure!(Instant::now() < deadline, "no tick→delta latency recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rejected = |reason| value(&samples, "kupala_events_rejected_total", &[("reason", reason)]);
    ensure!(
        rejected("invalid") == Some(2.0),
        "invalid: {:?}",
        rejected("invalid")
    );
    ensure!(
        rejected("forbidden") == Some(0.0),
        "forbidden: {:?}",
        rejected("forbidden")
    );
    for (name, kind) in [
        ("kupala_tick_to_delta_seconds", "histogram"),
        ("kupala_tick_to_send_seconds", "histogram"),
        ("kupala_journal_fsync_seconds", "histogram"),
        ("kupala_events_in_total", "counter"),
        ("kupala_journal_bytes_total", "counter"),
        ("kupala_shard_queue_depth", "gauge"),
        ("kupala_durable_lag_events", "gauge"),
        ("kupala_build_info", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        ensure!(
            types.get(name).map(String::as_str) == Some(kind),
            "{name}: {:?}",
            types.get(name)
        );
    }
    let got = |name, labels: &[(&str, &str)]| value(&samples, name, labels).unwrap_or(-1.0);
    ensure!(got("kupala_events_in_total", &[("type", "trade")]) == 1.0);
    ensure!(got("kupala_journal_bytes_total", &[]) > 0.0);
    ensure!(got("kupala_journal_fsync_seconds_count", &[]) >= 1.0);
    ensure!(got("kupala_shard_queue_depth", &[("shard", "1")]) >= 0.0);
    ensure!(got("kupala_ready", &[]) == 1.0 && got("kupala_store_writable", &[]) == 1.0);
    ensure!(
        got("kupala_accepted_seq", &[]) == 3.0,
        "{}",
        got("kupala_accepted_seq", &[])
    );
    ensure!(got("process_open_fds", &[]) > 0.0);
    srv.stop().await?;
    Ok(())
}

/// Status code and JSON body of a GET.
async fn get_json(addr: std::net::SocketAddr, path: &str) -> Result<(u16, Value)> {
    let raw = support::http_raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")).await?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no header end")?;
    let code = head.get(9..12).context("no status")?.parse()?;
    Ok((code, serde_json::from_str(body)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_until_the_durable_lag_passes_its_bound_and_live_throughout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // fsync at most every 4 s, and ready only with nothing waiting for it.
    let srv = server(dir.path(), |c| {
        c.store.sync_interval_ms = 4000;
        c.server.ready_max_durable_lag = 0;
    })
    .await?;
    ensure!(get_json(srv.addr, "/health/live").await? == (200, json!({"status":"live"})));
    // Ready once the ingest thread runs (it starts as the server does).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, ready) = get_json(srv.addr, "/health/ready").await?;
        if code == 200 {
            ensure!(ready["status"] == "ready", "{ready}");
            break;
        }
        ensure!(Instant::now() < deadline, "never ready: {code} {ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = Client::connect(srv.addr).await?;
    let defs = vec![json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"})];
    ensure!(c.submit(defs).await?["type"] == "ack");
    // Just after that fsync, the next one is 4 s away: this trade is
    // accepted at once and durable only then.
    let submit = json!({"op":"submit","id":"late","events":[trade("t1","A1","AAPL","buy","1","10")]});
    c.send_text(&submit.to_string()).await?;
    let deadline = Instant::now() + Duration::from_secs(3);
    let (code, body) = loop {
        let (code, body) = get_json(srv.addr, "/health/ready").await?;
        if code != 200 || Instant::now() > deadline {
            break (code, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ensure!(code == 503 && body["status"] == "not_ready", "{code} {body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    ensure!(reason.starts_with("durable lag 1 events is over 0"), "{body}");
    ensure!(get_json(srv.addr, "/health/live").await?.0 == 200);
    let (code, summary) = get_json(srv.addr, "/health").await?;
    ensure!(
        code == 200 && summary["status"] == "ok",
        "/health stays the summary: {summary}"
    );
    let ack = c.next_reply().await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let (code, body) = get_json(srv.addr, "/health/ready").await?;
    ensure!(
        code == 200 && body["durable_lag"] == 0,
        "after the fsync: {code} {body}"
    );
    srv.stop().await?;
    Ok(())
}
