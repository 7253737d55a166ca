//! Every real market-data file of the repository's `testdata/data` loads
//! with its adapter: event counts, and first/last values read from the
//! files by hand (testdata/README.md says how each was trimmed). A missing
//! file fails the test.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use kupala_engine::Event;
use kupala_feeds::{AnySource, EventSource, Format, SourceOptions};

/// A file of `testdata/data`; panics (the test fails) when it is missing.
fn data_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/data")
        .join(name);
    assert!(
        path.is_file(),
        "test data missing: {} (see testdata/README.md)",
        path.display()
    );
    path
}

/// The file's ticks as `(ts, instrument, price)` strings; panics (the test
/// fails) on any error, naming it.
fn ticks(file: &str, format: Format, opts: &SourceOptions) -> Vec<(String, String, String)> {
    let path = data_file(file);
    let reader = BufReader::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut source = AnySource::open(format, reader, opts).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = Vec::new();
    while let Some(item) = source.next() {
        match item {
            Ok(Event::Tick(t)) => out.push((t.ts.to_string(), t.instrument, t.price.to_string())),
            Ok(other) => panic!("{file} line {}: not a tick: {other:?}", source.position()),
            Err(e) => panic!("{file}: {e}"),
        }
    }
    out
}

fn instrument(name: &str) -> SourceOptions {
    SourceOptions {
        instrument: Some(name.to_owned()),
        ..SourceOptions::default()
    }
}

fn tick(ts: &str, instrument: &str, price: &str) -> (String, String, String) {
    (ts.to_owned(), instrument.to_owned(), price.to_owned())
}

#[test]
fn usdjpy_quotes_become_mid_ticks() {
    let t = ticks("usdjpy-ticks-2013.csv", Format::Quotes, &instrument("USDJPY"));
    assert_eq!(t.len(), 1000);
    // 2013-01-01 22:00:00.295000+00:00,86.655,86.728
    assert_eq!(t[0], tick("2013-01-01T22:00:00.295Z", "USDJPY", "86.6915"));
    // 2013-01-01 22:35:13.494000+00:00,86.836,86.854
    assert_eq!(t[999], tick("2013-01-01T22:35:13.494Z", "USDJPY", "86.845"));
}

#[test]
fn eurusd_headerless_quotes_load_with_no_header() {
    let opts = SourceOptions {
        no_header: true,
        ..instrument("EURUSD")
    };
    let t = ticks("eurusd-quotes-2020.csv", Format::Quotes, &opts);
    assert_eq!(t.len(), 9500);
    // 20200101 170000065,1.121200,1.121720,0 (times read as UTC by default)
    assert_eq!(t[0], tick("2020-01-01T17:00:00.065Z", "EURUSD", "1.12146"));
    // 20200101 230052125,1.121300,1.121320,0
    assert_eq!(t[9499], tick("2020-01-01T23:00:52.125Z", "EURUSD", "1.12131"));
}

#[test]
fn gbpusd_minute_bars_become_four_ticks_each() {
    // 1 Feb 2012 (1,433 bars: the minutes FXCM has for that day)
    let bid = ticks(
        "gbpusd-m1-bid-2012-02-01.csv",
        Format::Bars,
        &instrument("GBPUSD"),
    );
    assert_eq!(bid.len(), 4 * 1_433);
    // 2012-02-01 00:00:00+00:00,1.57597,1.57606,1.57576,1.57576: a down bar, high first
    let first: Vec<_> = bid[..4].iter().map(|(ts, _, p)| format!("{ts} {p}")).collect();
    assert_eq!(
        first,
        [
            "2012-02-01T00:00:00Z 1.57597",
            "2012-02-01T00:00:15Z 1.57606",
            "2012-02-01T00:00:30Z 1.57576",
            "2012-02-01T00:00:45Z 1.57576"
        ]
    );
    // 2012-02-01 23:59:00+00:00,1.58429,1.58464,1.58429,1.58453: an up bar, low first
    let last: Vec<_> = bid[bid.len() - 4..].iter().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(last, ["1.58429", "1.58429", "1.58464", "1.58453"]);
    assert_eq!(bid[bid.len() - 1].0, "2012-02-01T23:59:45Z");

    let ask = ticks(
        "gbpusd-m1-ask-2012-02-01.csv",
        Format::Bars,
        &instrument("GBPUSD"),
    );
    assert_eq!(ask.len(), 4 * 1_433);
    // 2012-02-01 00:00:00+00:00,1.57608,1.57610,1.57585,1.57585
    assert_eq!(ask[1], tick("2012-02-01T00:00:15Z", "GBPUSD", "1.5761"));
    // 2012-02-01 23:59:00+00:00,1.58439,1.58474,1.58439,1.58462
    assert_eq!(
        ask[ask.len() - 1],
        tick("2012-02-01T23:59:45Z", "GBPUSD", "1.58462")
    );
}

#[test]
fn btcusd_bars_with_volume_load() {
    // 31 Dec 2021 23:01 to 1 Jan 2022 23:59: 1,499 bars
    let t = ticks(
        "btcusd-perp-m1-2022-01-01.csv",
        Format::Bars,
        &instrument("BTCUSD"),
    );
    assert_eq!(t.len(), 4 * 1_499);
    // 2021-12-31 23:01:00.000000,46319.0,46385.0,46319.0,46377.0,2300413.7295: up, low first
    let first: Vec<_> = t[..4].iter().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(first, ["46319", "46319", "46385", "46377"]);
    assert_eq!(t[0].0, "2021-12-31T23:01:00Z");
    // 2022-01-01 23:59:00.000000,47806.0,47806.0,47753.0,47760.0,1266572.0451: down, high first
    let last: Vec<_> = t[t.len() - 4..].iter().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(last, ["47806", "47806", "47753", "47760"]);
    assert_eq!(t[t.len() - 1], tick("2022-01-01T23:59:45Z", "BTCUSD", "47760"));
}

#[test]
fn sp500_daily_gives_one_close_per_day() {
    let t = ticks("sp500-daily-2000-2020.csv", Format::Yahoo, &instrument("SPX"));
    // 5,105 data rows (the README's 5,104 misses the unterminated last line)
    assert_eq!(t.len(), 5105);
    // 2000-01-03,1469.250000,1478.000000,1438.359985,1455.219971,...
    assert_eq!(t[0], tick("2000-01-03T21:00:00Z", "SPX", "1455.219971"));
    // 2020-04-17,2842.429932,2879.219971,2830.879883,2874.560059,...
    assert_eq!(t[5104], tick("2020-04-17T21:00:00Z", "SPX", "2874.560059"));
}

#[test]
fn monthly_stocks_become_ticks_per_symbol() {
    let t = ticks(
        "stocks-monthly-2000-2010.csv",
        Format::Ticks,
        &SourceOptions::default(),
    );
    // 560 data rows (the README's 559 misses the unterminated last line)
    assert_eq!(t.len(), 560);
    assert_eq!(t[0], tick("2000-01-01T21:00:00Z", "MSFT", "39.81"));
    assert_eq!(t[559], tick("2010-03-01T21:00:00Z", "AAPL", "223.02"));
    let count = |s: &str| t.iter().filter(|x| x.1 == s).count();
    assert_eq!(
        [
            count("MSFT"),
            count("AMZN"),
            count("IBM"),
            count("GOOG"),
            count("AAPL")
        ],
        [123, 123, 123, 68, 123]
    );
    // GOOG,Aug 1 2004,102.37
    assert!(t.contains(&tick("2004-08-01T21:00:00Z", "GOOG", "102.37")));
}
