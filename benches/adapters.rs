//! Parse rate of the file adapters in MB/s: each iteration reads a whole
//! in-memory file of about 4 MB through `AnySource::open` (the same path as
//! `kupala convert`) and decodes every row into an `Event`; throughput is
//! the file's bytes. The files are generated here (deterministic, in the
//! shapes of the real market-data files the adapters read), so the bench
//! needs no data folder.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kupala_feeds::source::{AnySource, Format, SourceOptions};

/// Rows per generated file.
const ROWS: usize = 50_000;

/// A deterministic price path: 100.0000 ± a few percent.
fn price(i: usize) -> f64 {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    100.0 + (x % 5_000) as f64 / 1_000.0
}

fn ts(i: usize) -> String {
    let (s, ms) = (i / 10, (i % 10) * 100);
    format!(
        "2026-11-30 {:02}:{:02}:{:02}.{ms:03}",
        9 + s / 3600 % 12,
        s / 60 % 60,
        s % 60
    )
}

fn file(format: Format) -> String {
    let mut out = String::new();
    let mut line = |f: std::fmt::Arguments<'_>| {
        let _ = out.write_fmt(f);
        out.push('\n');
    };
    match format {
        Format::Jsonl => (0..ROWS).for_each(|i| {
            line(format_args!(
                r#"{{"type":"tick","ts":"2026-11-30T14:30:00.{i:06}Z","instrument":"I{:05}","price":"{:.4}"}}"#,
                i % 1000,
                price(i)
            ));
        }),
        Format::Trades => {
            line(format_args!("ts,account,instrument,side,qty,price,fee,id"));
            (0..ROWS).for_each(|i| {
                let side = if i % 3 == 0 { "sell" } else { "buy" };
                line(format_args!(
                    "{},A{:04},I{:05},{side},{},{:.4},1.00,t-{i}",
                    ts(i),
                    i % 1000,
                    i % 997,
                    1 + i % 100,
                    price(i)
                ));
            });
        }
        Format::Ticks => {
            line(format_args!("ts,instrument,price"));
            (0..ROWS).for_each(|i| line(format_args!("{},I{:05},{:.4}", ts(i), i % 1000, price(i))));
        }
        Format::Bars => {
            line(format_args!("ts,open,high,low,close"));
            (0..ROWS).for_each(|i| {
                let (o, c) = (price(i), price(i + 1));
                line(format_args!(
                    "2012-02-{:02} {:02}:{:02}:00+00:00,{o:.5},{:.5},{:.5},{c:.5}",
                    1 + i / 1440 % 28,
                    i / 60 % 24,
                    i % 60,
                    o.max(c) + 0.01,
                    o.min(c) - 0.01
                ));
            });
        }
        Format::Quotes => {
            line(format_args!("ts,bid,ask"));
            (0..ROWS).for_each(|i| line(format_args!("{}+00:00,{:.5},{:.5}", ts(i), price(i), price(i) + 0.002)));
        }
        Format::Yahoo => {
            line(format_args!("date,open,high,low,close,adjclose,volume"));
            (0..ROWS).for_each(|i| {
                let p = price(i);
                line(format_args!(
                    "{}-{:02}-{:02},{p:.6},{:.6},{:.6},{p:.6},{p:.6},{}",
                    1900 + i / 336,
                    1 + i / 28 % 12,
                    1 + i % 28,
                    p + 1.0,
                    p - 1.0,
                    900_000_000 + i
                ));
            });
        }
    }
    out
}

/// Decodes every row; the number of events (each must decode).
fn parse(format: Format, bytes: &[u8], opts: &SourceOptions) -> usize {
    let Ok(source) = AnySource::open(format, bytes, opts) else {
        return 0;
    };
    source.filter(Result::is_ok).count()
}

fn adapters(c: &mut Criterion) {
    let mut g = c.benchmark_group("adapters");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for format in Format::ALL {
        let text = file(format);
        let opts = SourceOptions {
            instrument: matches!(format, Format::Bars | Format::Quotes | Format::Yahoo)
                .then(|| "X".to_owned()),
            ..SourceOptions::default()
        };
        let events = parse(format, text.as_bytes(), &opts);
        assert!(events >= ROWS, "{format}: only {events} of {ROWS} rows decoded");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format.name(), |b| {
            b.iter(|| black_box(parse(format, black_box(text.as_bytes()), &opts)));
        });
    }
    g.finish();
}

criterion_group!(benches, adapters);
criterion_main!(benches);
