//! `kupala analyze`: the ML sidecar's analysis (kupala-ml) over price files
//! read with the feeds adapters, optionally with a store's account history.
//!
//! Each `--prices FILE` is read with its `--format` (given once for all
//! files, or once per file in order; when absent it is guessed from the
//! header). A file without an instrument column takes `--instrument` (same
//! rule) or, failing that, the file's stem. See `kupala_ml::files` for the
//! rest (one observation per row, volumes, bad rows skipped and counted).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use kupala_feeds::Format;
use kupala_ml::files::{FileSpec, Loaded, read_files};
use kupala_ml::{AnalyzeConfig, Control, Inputs, Report, analyze};

/// Arguments of `kupala analyze`.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// Price file (CSV or JSONL; `-` for stdin); repeat for several files.
    #[arg(long, required = true)]
    pub prices: Vec<PathBuf>,
    /// Format of the files (jsonl, ticks, bars, quotes, yahoo; see `kupala
    /// convert --help`): once for all, or once per --prices. Default: guessed.
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
    pub format: Vec<Format>,
    /// Instrument of a file without an instrument column: once for all, or
    /// once per --prices (ignored for files with an instrument or symbol
    /// column). Default: the file's stem.
    #[arg(long)]
    pub instrument: Vec<String>,
    /// The files have no header row (columns in the format's default order).
    #[arg(long)]
    pub no_header: bool,
    /// Benchmark instrument for betas (default: the longest series).
    #[arg(long)]
    pub benchmark: Option<String>,
    /// Walk-forward folds per instrument.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub folds: u16,
    /// Also analyse the accounts' EOD history of this store directory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Write the JSON report to this file (stdout then gets a summary).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Picks the i-th of a repeated option: one value applies to every file.
fn nth<T: Clone>(v: &[T], i: usize) -> Option<T> {
    if v.len() == 1 {
        v.first().cloned()
    } else {
        v.get(i).cloned()
    }
}

/// Reads every `--prices` file (and the `--data` store's accounts).
pub fn load(args: &AnalyzeArgs) -> anyhow::Result<(Inputs, Loaded)> {
    if args.format.len() > 1 && args.format.len() != args.prices.len() {
        bail!("give --format once, or once per --prices");
    }
    if args.instrument.len() > 1 && args.instrument.len() != args.prices.len() {
        bail!("give --instrument once, or once per --prices");
    }
    let specs: Vec<FileSpec> = args
        .prices
        .iter()
        .enumerate()
        .map(|(i, path)| FileSpec {
            path: path.clone(),
            format: nth(&args.format, i),
            instrument: nth(&args.instrument, i),
            no_header: args.no_header,
        })
        .collect();
    let mut loaded = read_files(&specs)?;
    let mut inputs = Inputs {
        series: std::mem::take(&mut loaded.series),
        ..Inputs::default()
    };
    if let Some(dir) = &args.data {
        if !dir.join(kupala_engine::store::MARKER).exists() {
            bail!("{} is not a kupala store", dir.display());
        }
        let store = kupala_engine::store::Store::open(dir)?;
        let (accounts, closes) = kupala_ml::accounts::load(&store)?;
        inputs.accounts = accounts;
        inputs.closes = closes;
    }
    Ok((inputs, loaded))
}

/// Runs the analysis of the arguments' files (the report's `seconds` counts
/// reading them too).
pub fn run(args: &AnalyzeArgs) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let (inputs, loaded) = load(args)?;
    let cfg = AnalyzeConfig {
        folds: usize::from(args.folds),
        benchmark: args.benchmark.clone(),
        ..AnalyzeConfig::default()
    };
    let mut report = analyze(inputs, &cfg, &Control::none())?;
    if loaded.skipped > 0 {
        report
            .warnings
            .insert(0, format!("{} bad row(s) skipped", loaded.skipped));
    }
    report.warnings.extend(loaded.warnings);
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// A short human-readable leaderboard.
#[must_use]
pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "{:<14} {:>8} {:>10} {:>10} {:>8} {:>7}\n",
        "model", "rel_rmse", "mae", "rmse", "r2", "acc"
    );
    for row in r.leaderboard.iter().chain(&r.baselines) {
        let rel = row
            .relative_rmse
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
        s.push_str(&format!(
            "{:<14} {:>8} {:>10.6} {:>10.6} {:>8.4} {:>7.4}\n",
            row.model, rel, row.mae, row.rmse, row.r2, row.accuracy
        ));
    }
    if let Some(b) = &r.best {
        s.push_str(&format!(
            "best: {} (beats every baseline: {})\n",
            b.model, b.beats_baselines
        ));
    }
    for f in &r.forecasts {
        s.push_str(&format!(
            "forecast {} for the period after {}: {:+.3e} ({})\n",
            f.instrument, f.as_of, f.forecast_return, f.direction
        ));
    }
    s.push_str(&format!("{:.2} s\n", r.seconds));
    s
}

/// `kupala analyze`: prints the JSON report, or writes it to `--json` and
/// logs a summary; stdout holds JSON or nothing. Each warning and each
/// instrument left out is logged on stderr.
pub fn main(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let report = run(args)?;
    for s in &report.data.skipped {
        tracing::warn!("left out: {s}");
    }
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    let json = serde_json::to_string_pretty(&report)?;
    let mut out = std::io::stdout().lock();
    match &args.json {
        Some(path) => {
            std::fs::write(path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            for line in summary(&report).lines() {
                tracing::info!("{line}");
            }
        }
        None => std::io::Write::write_all(&mut out, format!("{json}\n").as_bytes())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::cast_precision_loss, reason = "test data")]
    fn analyzes_a_ticks_file_with_two_instruments_and_writes_json() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let csv = dir.path().join("prices.csv");
        let mut text = String::from("symbol,date,price\n");
        for d in 0..120u32 {
            let day = kupala_engine::time::Date(18_262 + i32::try_from(d).unwrap_or(0));
            let a = 100.0 + f64::from(d % 7) - 0.05 * f64::from(d);
            let b = 50.0 * (1.0 + 0.01 * f64::from((d * 13) % 5));
            text.push_str(&format!("AAA,{day},{a:.2}\nBBB,{day},{b:.2}\n"));
        }
        text.push_str("BBB,2021-01-01,oops\n");
        assert!(text.starts_with("symbol,date,price\nAAA,2020-01-01,"));
        assert!(std::fs::write(&csv, text).is_ok());
        let json = dir.path().join("out.json");
        let args = AnalyzeArgs {
            prices: vec![csv],
            format: vec![],
            instrument: vec![],
            no_header: false,
            benchmark: Some("AAA".to_owned()),
            folds: 3,
            data: None,
            json: Some(json.clone()),
        };
        let report = run(&args);
        assert!(report.is_ok(), "{:?}", report.err());
        let Ok(report) = report else { return };
        assert_eq!(report.leaderboard.len(), 6);
        assert_eq!(report.forecasts.len(), 2);
        assert_eq!(
            report.warnings.first().map(String::as_str),
            Some("1 bad row(s) skipped")
        );
        assert!(summary(&report).contains("best: "));
        assert!(main(&args).is_ok());
        let written = std::fs::read_to_string(&json).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&written).unwrap_or_default();
        for key in [
            "leaderboard",
            "baselines",
            "best",
            "forecasts",
            "clusters",
            "analytics",
            "seconds",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        let missing = AnalyzeArgs {
            prices: vec![dir.path().join("absent.csv")],
            json: None,
            ..args
        };
        assert!(run(&missing).is_err_and(|e| e.to_string().contains("absent.csv")));
    }
}
