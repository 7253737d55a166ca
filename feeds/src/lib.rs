//! Event sources for kupala. Every source is an iterator of
//! `Result<Event, FeedError>` whose errors carry the source position, so a
//! caller can report "line 12: qty: must be > 0" and decide to stop or skip.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod bars;
pub mod csv;
pub mod csv_ticks;
pub mod csv_trades;
pub mod jsonl;
pub mod lines;
pub mod queue;
pub mod quotes;
pub mod refresher;
pub mod source;
pub mod stamp;
pub mod synthetic;
pub mod table;
pub mod tcp;
pub mod values;
pub mod workload;
pub mod yahoo;

pub use jsonl::JsonlSource;
pub use source::{AnySource, EventSource, Format, SourceOptions};

use kupala_engine::EventError;

/// Why a source could not produce an event, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// A record was read but is not a valid event.
    #[error("line {line}: {error}")]
    Bad {
        /// 1-based line number in the source.
        line: u64,
        /// What was wrong.
        error: EventError,
    },
    /// A line longer than the source's limit (it is skipped whole).
    #[error("line {line}: longer than {limit} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A line that is not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: u64,
    },
    /// A CSV row was read but a value in it is wrong (the row is skipped).
    #[error("line {line}: {reason}")]
    Row {
        /// 1-based line number in the source.
        line: u64,
        /// What was wrong, naming the column.
        reason: String,
    },
    /// The header (or the options) cannot be used: a required column is
    /// missing, a name is repeated, an option does not apply... The stream ends.
    #[error("{}", at_line(*line, reason))]
    Header {
        /// 1-based line number of the header (0 when there is none).
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// Reading the source failed; the stream ends.
    #[error("reading line {line}: {cause}")]
    Io {
        /// The line being read.
        line: u64,
        /// The I/O error (in the message, once).
        cause: std::io::Error,
    },
}

/// `reason`, prefixed by `line N: ` unless the line is 0 (no line).
fn at_line(line: u64, reason: &str) -> String {
    if line == 0 {
        reason.to_owned()
    } else {
        format!("line {line}: {reason}")
    }
}

impl FeedError {
    /// True when the error ends the stream (I/O, an unusable header), false
    /// when only one record was bad and the next may be read.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::Header { .. })
    }

    /// The 1-based line number the error is about.
    #[must_use]
    pub const fn line(&self) -> u64 {
        match self {
            Self::Bad { line, .. }
            | Self::TooLong { line, .. }
            | Self::NotUtf8 { line }
            | Self::Row { line, .. }
            | Self::Header { line, .. }
            | Self::Io { line, .. } => *line,
        }
    }
}
