//! The market-data refresher against a local HTTP server serving Yahoo v8
//! chart JSON built from `testdata/data/sp500-daily-2000-2020.csv`, plus
//! 500s, timeouts, truncated bodies and malformed JSON.

#[path = "support/chart_server.rs"]
mod chart_server;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chart_server::{ChartServer, Reply, chart_json};
use kupala_engine::Event;
use kupala_engine::time::Date;
use kupala_feeds::queue::{IngestQueue, QueueConfig};
use kupala_feeds::refresher::{Refresher, RefresherConfig, SymbolConfig, SymbolStatus};
use kupala_feeds::{AnySource, Format, SourceOptions};

const CSV: &str = "sp500-daily-2000-2020.csv";

/// The CSV in the repository's `testdata/data`; panics (the test fails)
/// when it is missing.
fn csv_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/data")
        .join(CSV);
    assert!(
        path.is_file(),
        "test data missing: {} (see testdata/README.md)",
        path.display()
    );
    path
}

/// The CSV's rows as (Unix seconds of 09:30 New York standard time, close text).
fn rows(path: &PathBuf) -> Vec<(i64, String)> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(file)
        .lines()
        .skip(1)
        .map(|line| {
            let line = line.unwrap_or_else(|e| panic!("{e}"));
            let cols: Vec<&str> = line.split(',').collect();
            let day = Date::parse(cols[0]).unwrap_or_else(|e| panic!("{e}"));
            (i64::from(day.0) * 86_400 + 14 * 3600 + 1800, cols[4].to_owned())
        })
        .collect()
}

/// The same file through the Yahoo CSV adapter: the ticks to expect.
fn expected(path: &PathBuf) -> Vec<(String, String)> {
    let opts = SourceOptions {
        instrument: Some("SPX".to_owned()),
        ..SourceOptions::default()
    };
    let file = BufReader::new(File::open(path).unwrap_or_else(|e| panic!("{e}")));
    let source = AnySource::open(Format::Yahoo, file, &opts).unwrap_or_else(|e| panic!("{e}"));
    source
        .map(|e| key(&e.unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn key(e: &Event) -> (String, String) {
    match e {
        Event::Tick(t) => (t.ts.to_string(), t.price.to_string()),
        other => panic!("not a tick: {other:?}"),
    }
}

/// Bad points a flaky upstream may send, an hour after real bars (same
/// date, so a good one there would replace the real close).
const BAD: [&str; 8] = [
    "null",
    "-1",
    "0",
    "1e400",
    "\"NaN\"",
    "true",
    "99999999999999",
    "{}",
];

fn with_bad_points(rows: &[(i64, String)]) -> Vec<(i64, String)> {
    let mut out = Vec::with_capacity(rows.len() + BAD.len());
    for (i, (t, c)) in rows.iter().enumerate() {
        out.push((*t, c.clone()));
        if let Some(bad) = BAD.get(i % 50) {
            out.push((t + 3600, (*bad).to_owned()));
        }
    }
    out
}

fn config(endpoint: String, symbol: &str, interval: &str) -> RefresherConfig {
    let mut c = RefresherConfig::new(
        endpoint,
        vec![SymbolConfig {
            symbol: symbol.to_owned(),
            instrument: "SPX".to_owned(),
            interval: interval.to_owned(),
            range: "max".to_owned(),
        }],
    );
    c.period = Duration::from_millis(20);
    c.connect_timeout = Duration::from_millis(500);
    // Generous: a loaded CI machine must not turn a good answer into a
    // failure; the failure test shortens it.
    c.read_timeout = Duration::from_secs(5);
    c.backoff_base = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(40);
    c
}

/// Polls `f` every millisecond until it returns `Some` (at most 30 s).
fn until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn twenty_years_in_overlapping_windows_equal_the_csv_closes() {
    let path = csv_path();
    let rows = rows(&path);
    let want = expected(&path);
    assert_eq!(rows.len(), 5_105);
    let server = {
        let rows = rows.clone();
        ChartServer::start(move |n, _| {
            // Request n sees up to 1,500 × n rows, the last 2,000 of them:
            // windows overlap, as repeated fetches of a range do.
            let end = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_mul(1_500)
                .min(rows.len());
            let window = &rows[end.saturating_sub(2_000)..end];
            Reply::Json(chart_json("^GSPC", -18_000, &with_bad_points(window)))
        })
    };
    let (tx, rx) = mpsc::channel();
    let refresher =
        Refresher::start(config(server.endpoint(), "^GSPC", "1d"), tx).unwrap_or_else(|e| panic!("{e}"));
    let board = refresher.status();
    let mut got = Vec::new();
    until(|| {
        got.extend(rx.try_iter().map(|e| key(&e)));
        (got.len() >= want.len()).then_some(())
    });
    // A few more fetches of the same last window: nothing new.
    let seen = server.requests();
    until(|| (server.requests() >= seen + 3).then_some(()));
    refresher.stop();
    got.extend(rx.try_iter().map(|e| key(&e)));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "tick {i}");
    }
    assert_eq!(got.len(), want.len(), "{:?}", &got[want.len().min(got.len())..]);
    assert!(got == want, "the ticks differ from the CSV closes");
    assert_eq!(
        got[0],
        ("2000-01-03T21:00:00Z".to_owned(), "1455.219971".to_owned())
    );
    let status = board.get("^GSPC").unwrap_or_default();
    assert_eq!((status.emitted, status.failures, status.stale), (5_105, 0, false));
    assert!(
        status.skipped >= 8,
        "bad points were seen and skipped: {status:?}"
    );
    assert_eq!(
        status.last_price.map(|p| p.to_string()).as_deref(),
        Some("2874.560059")
    );
    assert_eq!(
        server.paths()[0],
        "/v8/finance/chart/%5EGSPC?interval=1d&range=max"
    );
}

#[test]
fn failures_make_the_symbol_stale_until_a_fetch_succeeds() {
    let path = csv_path();
    let sample: Vec<(i64, String)> = rows(&path).into_iter().take(50).collect();
    let want: Vec<(String, String)> = expected(&path).into_iter().take(50).collect();
    let good = chart_json("^GSPC", -18_000, &with_bad_points(&sample));
    let server = {
        let good = good.clone();
        ChartServer::start(move |n, _| {
            match n {
            1 => Reply::Status(500),
            2 => Reply::Status(503),
            3 => Reply::Slow(Duration::from_millis(2_500), good.clone()),
            4 => Reply::Truncated(good.clone(), good.len() / 2),
            5 => Reply::Json(good[..good.len() - 3].to_owned()),
            6 => Reply::Json(r#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#.to_owned()),
            7 => Reply::Json(chart_json("AAPL", -18_000, &sample)),
            8 => Reply::Json("<html>rate limited</html>".to_owned()),
            _ => Reply::Json(good.clone()),
        }
        })
    };
    let mut c = config(server.endpoint(), "^GSPC", "1d");
    c.read_timeout = Duration::from_millis(500);
    let (tx, rx) = mpsc::channel();
    let refresher = Refresher::start(c, tx).unwrap_or_else(|e| panic!("{e}"));
    let board = refresher.status();
    let mut observed: Vec<SymbolStatus> = Vec::new();
    let mut got = Vec::new();
    until(|| {
        let s = board.get("^GSPC").unwrap_or_default();
        let ticks: Vec<_> = rx.try_iter().map(|e| key(&e)).collect();
        assert!(
            ticks.is_empty() || s.failures == 8,
            "ticks during failures: {s:?}"
        );
        got.extend(ticks);
        let done = s.emitted == 50;
        observed.push(s);
        done.then_some(())
    });
    refresher.stop();
    assert_eq!(got, want);
    for s in &observed {
        assert_eq!(s.stale, (3..=8).contains(&s.consecutive_failures), "{s:?}");
    }
    assert!(observed.iter().any(|s| s.stale), "stale was never seen");
    let last = board.snapshot().pop().unwrap_or_default();
    assert_eq!(
        (last.stale, last.consecutive_failures, last.failures),
        (false, 0, 8)
    );
    assert_eq!(board.changes(), 2, "stale once, recovered once");
    assert!(board.stale_instruments().is_empty());
    assert!(
        last.last_error
            .is_some_and(|e| e.starts_with("malformed chart JSON"))
    );
}

/// 2020-04-24 13:30Z (09:30 New York daylight time), one bar a minute;
/// the meta's price is at 20:00Z.
fn intraday_server() -> ChartServer {
    let t0 = 1_587_735_000;
    let rows: Vec<(i64, String)> = ["2800.5", "2.8011e3", "null", "2802.1234567891", "-5", "2803"]
        .iter()
        .enumerate()
        .map(|(i, c)| (t0 + 60 * i as i64, (*c).to_owned()))
        .collect();
    ChartServer::start(move |_, _| Reply::Json(chart_json("^GSPC", -14_400, &rows)))
}

#[test]
fn intraday_bars_and_the_market_price_become_ticks() {
    let server = intraday_server();
    let (tx, rx) = mpsc::channel();
    let refresher =
        Refresher::start(config(server.endpoint(), "^GSPC", "1m"), tx).unwrap_or_else(|e| panic!("{e}"));
    let board = refresher.status();
    let s = until(|| board.get("^GSPC").filter(|s| s.fetches >= 3));
    refresher.stop();
    assert_eq!((s.emitted, s.skipped % 2, s.failures), (5, 0, 0), "{s:?}");
    let events: Vec<Event> = rx.try_iter().collect();
    let got: Vec<(String, String)> = events.iter().map(key).collect();
    let want = [
        ("2020-04-24T13:30:00Z", "2800.5"),
        ("2020-04-24T13:31:00Z", "2801.1"),
        ("2020-04-24T13:33:00Z", "2802.123456789"),
        ("2020-04-24T13:35:00Z", "2803"),
        ("2020-04-24T20:00:00Z", "2836.74"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(got, want);
    assert!(events.iter().all(|e| e.instrument() == Some("SPX")));
}

#[test]
fn into_the_ingest_queue_ticks_conflate_while_nobody_drains() {
    let server = intraday_server();
    let queue = Arc::new(IngestQueue::new(QueueConfig::default()));
    let refresher = Refresher::start(config(server.endpoint(), "^GSPC", "1m"), Arc::clone(&queue))
        .unwrap_or_else(|e| panic!("{e}"));
    let board = refresher.status();
    until(|| board.get("^GSPC").filter(|s| s.fetches >= 2));
    refresher.stop();
    let stats = queue.stats();
    assert_eq!((stats.enqueued.tick, stats.conflated, stats.depth), (5, 4, 1));
    let mut events = Vec::new();
    let _ = queue.try_pop_batch(&mut events, 10);
    let got: Vec<(String, String)> = events.iter().map(key).collect();
    assert_eq!(got, [("2020-04-24T20:00:00Z".to_owned(), "2836.74".to_owned())]);
}

#[test]
fn an_oversized_body_is_a_failure_and_stop_is_prompt() {
    let body = chart_json("X", 0, &[(1_000_000_000, "1".to_owned())]);
    let server = ChartServer::start(move |_, _| Reply::Json(body.clone()));
    let mut c = config(server.endpoint(), "X", "1d");
    c.max_body = 100;
    c.stale_after = 1;
    c.backoff_base = Duration::from_secs(3_600);
    c.backoff_max = Duration::from_secs(3_600);
    let (tx, rx) = mpsc::channel();
    let refresher = Refresher::start(c, tx).unwrap_or_else(|e| panic!("{e}"));
    let board = refresher.status();
    let s = until(|| board.get("X").filter(|s| s.stale));
    assert!(
        s.last_error.is_some_and(|e| e.starts_with("reading the body")),
        "{:?}",
        board.get("X")
    );
    let t0 = Instant::now();
    refresher.stop();
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(rx.try_recv().is_err());
}

#[test]
fn unusable_configurations_are_refused() {
    let mut c = config("http://127.0.0.1:9".to_owned(), "X", "7m");
    let err = |c: &RefresherConfig| {
        let (tx, _rx) = mpsc::channel::<Event>();
        Refresher::start(c.clone(), tx)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(err(&c), "refresher: X: unknown interval \"7m\"");
    c.symbols[0].interval = "1d".to_owned();
    c.symbols[0].range = "5d&x=1".to_owned();
    assert!(err(&c).contains("range"));
    c.symbols[0].range = "5d".to_owned();
    c.symbols.push(c.symbols[0].clone());
    assert_eq!(err(&c), "refresher: X: listed twice");
    c.symbols.clear();
    assert!(err(&c).contains("at least one symbol"));
    let c = config("ftp://x".to_owned(), "X", "1d");
    assert!(err(&c).contains("not an http"));
}
