//! CSV records through the `csv` crate, one per line, numbered from 1.
//!
//! - Fields are separated by `,` and trimmed of surrounding spaces and tabs.
//! - A field may be quoted (`"a, b"`, `""` for a quote inside; blanks
//!   around the quotes are allowed, blanks inside are kept); a quoted field
//!   cannot span lines, and text after a closing quote or a quote inside an
//!   unquoted field is refused.
//! - Blank lines and lines starting with `#` are skipped; `\r\n` endings and a
//!   UTF-8 byte-order mark on the first line are accepted.
//! - A line longer than the limit, or not UTF-8, is reported and skipped.
//! - Rows may have any number of fields; [`crate::table`] checks widths.
//!
//! Lines come from [`LineReader`] (shared with JSON Lines); the `csv` crate
//! splits and unquotes them (see `framed.rs` for what is checked before it).

mod framed;

use std::io::{self, BufRead};

use ::csv::{ByteRecord, ReaderBuilder, Terminator};

use self::framed::{Framed, Mark};
use crate::FeedError;
use crate::lines::LineReader;

/// Longest line accepted by default (64 KiB): a CSV row is a few dozen bytes.
pub const DEFAULT_MAX_LINE: usize = 1 << 16;

/// One record: its fields, trimmed and unquoted.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    line: u64,
    /// Every field's bytes, end to end (checked UTF-8).
    text: &'a str,
    /// Where each field lies in `text`.
    fields: &'a ByteRecord,
    /// Whether fields are still to be trimmed (false once the framing did).
    trim: bool,
}

impl<'a> Record<'a> {
    /// The record, owned (a row kept aside and decoded later, such as a
    /// first row that turned out to be data).
    pub(crate) fn to_owned_record(self) -> OwnedRecord {
        OwnedRecord {
            line: self.line,
            text: self.text.to_owned(),
            fields: self.fields.clone(),
            trim: self.trim,
        }
    }

    /// The record's 1-based line number.
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.line
    }

    /// The number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the record has no field (never the case for a read record).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i` (0-based), if the record has it.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let field = self.text.get(self.fields.range(i)?)?;
        Some(if self.trim { trim(field) } else { field })
    }

    /// Every field in order.
    pub fn fields(self) -> impl Iterator<Item = &'a str> + 'a {
        (0..self.len()).map(move |i| self.get(i).unwrap_or_default())
    }
}

/// `field` without surrounding spaces and tabs.
fn trim(field: &str) -> &str {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let b = field.as_bytes();
    match (b.first(), b.last()) {
        // Most fields: nothing to trim.
        (Some(first), Some(last)) if !blank(first) && !blank(last) => field,
        _ => field.trim_matches([' ', '\t']),
    }
}

/// A [`Record`] that owns its fields.
#[derive(Debug, Clone)]
pub(crate) struct OwnedRecord {
    line: u64,
    text: String,
    fields: ByteRecord,
    trim: bool,
}

impl OwnedRecord {
    /// The record, borrowed.
    pub(crate) fn as_record(&self) -> Record<'_> {
        Record {
            line: self.line,
            text: &self.text,
            fields: &self.fields,
            trim: self.trim,
        }
    }
}

/// Reads CSV records from a buffered reader.
#[derive(Debug)]
pub struct CsvReader<R> {
    /// Boxed: the parser's tables make it a few kilobytes, and sources
    /// are moved around by value.
    csv: Box<::csv::Reader<Framed<R>>>,
    record: ByteRecord,
    line: u64,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader with the default line limit.
    pub fn new(reader: R) -> Self {
        let framed = Framed::new(LineReader::new(reader, DEFAULT_MAX_LINE));
        let csv = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(Terminator::Any(b'\n'))
            .from_reader(framed);
        Self {
            csv: Box::new(csv),
            record: ByteRecord::new(),
            line: 0,
            done: false,
        }
    }

    /// Sets the longest line accepted; longer lines are reported and skipped.
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.csv.get_mut().lines.set_max_line(max_line);
        self
    }

    /// The line of the last record or error returned (1-based; 0 before
    /// the first).
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.line
    }

    /// The next record, skipping blank and comment lines; `None` at the end.
    /// After an I/O error the reader is finished.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, FeedError>> {
        if self.done {
            return None;
        }
        match self.csv.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(self.failure(e)));
            }
        }
        let (line, trim) = match self.csv.get_mut().marks.pop_front() {
            Some(Mark::Line { line, trim }) => (line, trim),
            Some(Mark::Refused(e)) => {
                self.line = e.line();
                return Some(Err(e));
            }
            None => {
                self.done = true;
                let cause = io::Error::other("CSV records and lines out of step");
                return Some(Err(FeedError::Io {
                    line: self.line + 1,
                    cause,
                }));
            }
        };
        self.line = line;
        // The one UTF-8 check of a line without quotes (the framing checks
        // the others): the record is the line's bytes less the commas.
        let Ok(text) = std::str::from_utf8(self.record.as_slice()) else {
            return Some(Err(FeedError::NotUtf8 { line }));
        };
        Some(Ok(Record {
            line,
            text,
            fields: &self.record,
            trim,
        }))
    }

    /// The error that ended the input: the framing's, which holds the
    /// cause, or the `csv` crate's own.
    fn failure(&mut self, e: ::csv::Error) -> FeedError {
        if let Some(failed) = self.csv.get_mut().failed.take() {
            return failed;
        }
        let cause = match e.into_kind() {
            ::csv::ErrorKind::Io(cause) => cause,
            kind => io::Error::other(format!("{kind:?}")),
        };
        FeedError::Io {
            line: self.csv.get_ref().lines.line() + 1,
            cause,
        }
    }
}

#[cfg(test)]
mod tests;
