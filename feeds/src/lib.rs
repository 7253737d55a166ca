//! Event sources for kupala. Every source is an iterator of
//! `Result<Event, FeedError>` whose errors carry the source position, so a
//! caller can report "line 12: qty: must be > 0" and decide to stop or skip.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod jsonl;

pub use jsonl::JsonlSource;

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
    /// Reading the source failed; the stream ends.
    #[error("reading line {line}: {source}")]
    Io {
        /// The line being read.
        line: u64,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl FeedError {
    /// True when the error ends the stream (I/O), false when only one record
    /// was bad and the next may be read.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}
