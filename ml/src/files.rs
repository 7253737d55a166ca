//! Price files through the `kupala-feeds` adapters (CSV trades, ticks,
//! bars, quotes, Yahoo daily, JSONL events) into [`PriceSeries`].
//!
//! One observation per source row: a bar's four ticks count as its close.
//! A file without an instrument column takes its spec's instrument, else the
//! file's stem. Volumes come from a `volume` column when the file has one
//! (Yahoo's 7th column without a header). Bad rows are skipped and counted;
//! an unreadable file or header is an error.

use std::io::Read;
use std::path::{Path, PathBuf};

use kupala_feeds::{AnySource, EventSource, FeedError, Format, SourceOptions};

use crate::MlError;
use crate::series::{PriceSeries, SeriesBuilder};

/// One file to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSpec {
    /// The path (`-` for stdin).
    pub path: PathBuf,
    /// Its format; `None` guesses it from the first line.
    pub format: Option<Format>,
    /// Instrument for a file without an instrument column.
    pub instrument: Option<String>,
    /// The file has no header row.
    pub no_header: bool,
}

/// What reading gave.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// One series per instrument, cleaned.
    pub series: Vec<PriceSeries>,
    /// Bad rows skipped.
    pub skipped: u64,
    /// The first few skipped rows' reasons.
    pub warnings: Vec<String>,
}

/// A column name as the feeds match it: lower case, no spaces or `_`.
fn normal(s: &str) -> String {
    s.trim()
        .trim_matches('"')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Guesses a file's format from its first line (a JSON object: jsonl; else
/// by the CSV header's column names).
#[must_use]
pub fn guess_format(first_line: &str) -> Option<Format> {
    if first_line.trim_start().starts_with('{') {
        return Some(Format::Jsonl);
    }
    let cols: Vec<String> = first_line.split(',').map(normal).collect();
    let has = |c: &str| cols.iter().any(|x| x == c);
    if has("bid") && has("ask") {
        Some(Format::Quotes)
    } else if has("side") && has("qty") {
        Some(Format::Trades)
    } else if has("close") && has("date") {
        Some(Format::Yahoo)
    } else if has("close") {
        Some(Format::Bars)
    } else if has("price") {
        Some(Format::Ticks)
    } else {
        None
    }
}

/// Volumes by 1-based line number.
fn volumes(text: &str, format: Format, no_header: bool) -> Option<Vec<Option<f64>>> {
    let mut lines = text.lines();
    let col = if no_header {
        (format == Format::Yahoo).then_some(6)?
    } else {
        lines.next()?.split(',').map(normal).position(|c| c == "volume")?
    };
    let mut out = vec![None];
    if !no_header {
        out.push(None);
    }
    out.extend(lines.map(|l| l.split(',').nth(col).and_then(|v| v.trim().parse::<f64>().ok())));
    Some(out)
}

/// Reads one file's text into `b`; `file` numbers the file so that its
/// rows never merge with another file's.
pub fn read_text(
    b: &mut SeriesBuilder,
    text: &str,
    spec: &FileSpec,
    file: u32,
    out: &mut Loaded,
) -> Result<(), MlError> {
    let name = spec.path.display();
    let first = text.lines().next().unwrap_or("");
    let format = match spec.format {
        Some(f) => f,
        None => guess_format(first)
            .ok_or_else(|| MlError::Source(format!("{name}: cannot tell the format from its first line")))?,
    };
    let cols: Vec<String> = first.split(',').map(normal).collect();
    let named = !spec.no_header && cols.iter().any(|c| c == "instrument" || c == "symbol");
    let needs_name = !named && format != Format::Jsonl && format != Format::Trades;
    let stem = || {
        spec.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty() && s != "-")
            .unwrap_or_else(|| "PRICES".to_owned())
    };
    let opts = SourceOptions {
        instrument: needs_name.then(|| spec.instrument.clone().unwrap_or_else(stem)),
        no_header: spec.no_header,
        ..SourceOptions::default()
    };
    let vols = volumes(text, format, spec.no_header);
    let mut source = AnySource::open(format, text.as_bytes(), &opts)
        .map_err(|e| MlError::Source(format!("{name}: {e}")))?;
    while let Some(item) = source.next() {
        match item {
            Ok(event) => {
                let line = source.position();
                let at = usize::try_from(line).unwrap_or(usize::MAX);
                let vol = vols.as_ref().and_then(|v| v.get(at).copied().flatten());
                let row = (i64::from(file) << 40) | i64::try_from(line).unwrap_or(0);
                b.event(&event, vol, Some(row));
            }
            Err(e @ (FeedError::Io { .. } | FeedError::Header { .. })) => {
                return Err(MlError::Source(format!("{name}: {e}")));
            }
            Err(e) => {
                out.skipped += 1;
                if out.warnings.len() < 10 {
                    out.warnings.push(format!("{name}: skipped {e}"));
                }
            }
        }
    }
    Ok(())
}

fn read_all(path: &Path) -> Result<String, MlError> {
    let mut text = String::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    result.map_err(|e| MlError::Source(format!("reading {}: {e}", path.display())))?;
    Ok(text)
}

/// Reads every file into series (one per instrument across all files).
pub fn read_files(specs: &[FileSpec]) -> Result<Loaded, MlError> {
    let mut out = Loaded::default();
    let mut b = SeriesBuilder::new();
    for (i, spec) in specs.iter().enumerate() {
        let text = read_all(&spec.path)?;
        read_text(
            &mut b,
            &text,
            spec,
            u32::try_from(i).unwrap_or(u32::MAX),
            &mut out,
        )?;
    }
    out.series = b.finish();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_formats_and_reads_bars_as_one_close_per_row_with_volume() {
        assert_eq!(
            guess_format("date,open,high,low,close,adjclose,volume"),
            Some(Format::Yahoo)
        );
        assert_eq!(guess_format("symbol,date,price"), Some(Format::Ticks));
        assert_eq!(guess_format("timestamp,bid,ask"), Some(Format::Quotes));
        assert_eq!(
            guess_format("timestamp,open,high,low,close,volume"),
            Some(Format::Bars)
        );
        assert_eq!(guess_format("{\"type\":\"eod\"}"), Some(Format::Jsonl));
        assert_eq!(guess_format("a,b"), None);
        let text = "timestamp,open,high,low,close,volume\n\
                    2022-01-01 00:00:00,10,12,9,11,5\n\
                    2022-01-01 00:01:00,11,13,10,12.5,7\n\
                    2022-01-01 00:02:00,12.5,13,bad,12,7\n";
        let spec = FileSpec {
            path: "btc.csv".into(),
            ..FileSpec::default()
        };
        let mut b = SeriesBuilder::new();
        let mut out = Loaded::default();
        assert!(read_text(&mut b, text, &spec, 0, &mut out).is_ok());
        let s = b.finish();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].instrument, "btc");
        assert_eq!(s[0].price, vec![11.0, 12.5]);
        assert_eq!(s[0].volume, Some(vec![5.0, 7.0]));
        assert_eq!(out.skipped, 1);
        let bad = read_text(&mut SeriesBuilder::new(), "x,y\n1,2\n", &spec, 0, &mut out);
        assert!(matches!(bad, Err(MlError::Source(m)) if m.contains("cannot tell the format")));
    }
}
