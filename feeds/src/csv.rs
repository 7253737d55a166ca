//! A small CSV reader: one record per line, numbered from 1.
//!
//! - Fields are separated by `,` and trimmed of surrounding spaces and tabs.
//! - A field may be quoted (`"a, b"`, `""` for a quote inside); a quoted
//!   field cannot span lines.
//! - Blank lines and lines starting with `#` are skipped; `\r\n` endings and a
//!   UTF-8 byte-order mark on the first line are accepted.
//! - A line longer than the limit, or not UTF-8, is reported and skipped
//!   (the line framing is [`LineReader`]'s, shared with JSON Lines).

use std::io::BufRead;
use std::ops::Range;

use crate::FeedError;
use crate::lines::LineReader;

/// Longest line accepted by default (64 KiB): a CSV row is a few dozen bytes.
pub const DEFAULT_MAX_LINE: usize = 1 << 16;

/// One record: its fields, trimmed and unquoted.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    line: u64,
    text: &'a str,
    spans: &'a [Range<usize>],
}

impl<'a> Record<'a> {
    /// A record over `text` split at `spans` (a row kept aside and decoded
    /// later, such as a first row that turned out to be data).
    pub(crate) const fn from_parts(line: u64, text: &'a str, spans: &'a [Range<usize>]) -> Self {
        Self { line, text, spans }
    }

    /// The record's text and field spans, owned.
    pub(crate) fn to_parts(self) -> (u64, String, Vec<Range<usize>>) {
        (self.line, self.text.to_owned(), self.spans.to_vec())
    }

    /// The record's 1-based line number.
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.line
    }

    /// The number of fields.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the record has no field (never the case for a read record).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Field `i` (0-based), if the record has it.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.spans.get(i).and_then(|r| self.text.get(r.clone()))
    }

    /// Every field in order.
    pub fn fields(&self) -> impl Iterator<Item = &'a str> + 'a {
        let text = self.text;
        self.spans
            .iter()
            .map(move |r| text.get(r.clone()).unwrap_or_default())
    }
}

/// Reads CSV records from a buffered reader.
#[derive(Debug)]
pub struct CsvReader<R> {
    lines: LineReader<R>,
    unquoted: String,
    spans: Vec<Range<usize>>,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader with the default line limit.
    pub fn new(reader: R) -> Self {
        Self {
            lines: LineReader::new(reader, DEFAULT_MAX_LINE),
            unquoted: String::new(),
            spans: Vec::with_capacity(16),
        }
    }

    /// Sets the longest line accepted; longer lines are reported and skipped.
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.lines.set_max_line(max_line);
        self
    }

    /// The number of the last line read (1-based; 0 before the first).
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.lines.line()
    }

    /// The next record, skipping blank and comment lines; `None` at the end.
    /// After an I/O error the reader is finished.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, FeedError>> {
        let (line, text) = match self.lines.next_line()? {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        self.spans.clear();
        let text = if text.contains('"') {
            if let Err(reason) = split_quoted(text, &mut self.unquoted, &mut self.spans) {
                return Some(Err(FeedError::Row { line, reason }));
            }
            self.unquoted.as_str()
        } else {
            split_plain(text, &mut self.spans);
            text
        };
        Some(Ok(Record {
            line,
            text,
            spans: &self.spans,
        }))
    }
}

/// Splits a line with no quote on commas, trimming each field.
fn split_plain(text: &str, spans: &mut Vec<Range<usize>>) {
    let mut start = 0;
    for field in text.split(',') {
        let end = start + field.len();
        let lead = field.len() - field.trim_start_matches([' ', '\t']).len();
        let trail = field.len() - field.trim_end_matches([' ', '\t']).len();
        let from = start + lead;
        spans.push(from..(end - trail).max(from));
        start = end + 1;
    }
}

/// Splits a line with quoted fields, writing the unquoted fields to `out`.
fn split_quoted(text: &str, out: &mut String, spans: &mut Vec<Range<usize>>) -> Result<(), String> {
    out.clear();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let from = out.len();
        if let Some(body) = rest.strip_prefix('"') {
            rest = unquote(body, out)?;
            rest = rest.trim_start_matches([' ', '\t']);
            if !(rest.is_empty() || rest.starts_with(',')) {
                return Err(format!("field {}: text after the closing quote", spans.len() + 1));
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let field = rest[..end].trim_end_matches([' ', '\t']);
            if field.contains('"') {
                return Err(format!(
                    "field {}: a quote inside an unquoted field",
                    spans.len() + 1
                ));
            }
            out.push_str(field);
            rest = &rest[end..];
        }
        spans.push(from..out.len());
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(()),
        }
    }
}

/// Copies a quoted field's body (after the opening quote) to `out`; returns
/// the text after the closing quote.
fn unquote<'t>(mut body: &'t str, out: &mut String) -> Result<&'t str, String> {
    loop {
        let Some(q) = body.find('"') else {
            return Err("unterminated quote (a field cannot span lines)".to_owned());
        };
        out.push_str(&body[..q]);
        body = &body[q + 1..];
        match body.strip_prefix('"') {
            Some(after) => {
                out.push('"');
                body = after;
            }
            None => return Ok(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize) -> Vec<Result<(u64, Vec<String>), String>> {
        let mut csv = CsvReader::new(input).with_max_line(max);
        let mut out = Vec::new();
        while let Some(r) = csv.next_record() {
            let r = r.map(|rec| (rec.line(), rec.fields().map(str::to_owned).collect::<Vec<_>>()));
            out.push(r.map_err(|e| e.to_string()));
        }
        out
    }

    fn ok(line: u64, fields: &[&str]) -> Result<(u64, Vec<String>), String> {
        Ok((line, fields.iter().map(|&f| f.to_owned()).collect()))
    }

    #[test]
    fn splits_trims_and_numbers_lines() {
        let got = read(b"\xef\xbb\xbfa, b ,c\r\n\n# note\n1,,3\n  x  \n,", 100);
        assert_eq!(
            got,
            vec![
                ok(1, &["a", "b", "c"]),
                ok(4, &["1", "", "3"]),
                ok(5, &["x"]),
                ok(6, &["", ""]),
            ]
        );
    }

    #[test]
    fn unquotes_fields() {
        let got = read(br#""a, b", "say ""hi""" ,"",c"#, 100);
        assert_eq!(got, vec![ok(1, &["a, b", "say \"hi\"", "", "c"])]);
        let got = read(b"\"open,1\n\"x\" y,2\nab\"c,3\n4\n", 100);
        assert_eq!(
            got,
            vec![
                Err("line 1: unterminated quote (a field cannot span lines)".to_owned()),
                Err("line 2: field 1: text after the closing quote".to_owned()),
                Err("line 3: field 1: a quote inside an unquoted field".to_owned()),
                ok(4, &["4"]),
            ]
        );
    }

    #[test]
    fn reports_long_and_non_utf8_lines_and_goes_on() {
        let got = read(b"1234567890,1\n\xff,2\nok\n", 8);
        assert_eq!(
            got,
            vec![
                Err("line 1: longer than 8 bytes".to_owned()),
                Err("line 2: not valid UTF-8".to_owned()),
                ok(3, &["ok"]),
            ]
        );
    }
}
