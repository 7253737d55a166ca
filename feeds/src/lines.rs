//! Line framing shared by the JSON Lines and CSV readers: lines numbered
//! from 1, each checked before anything parses it.
//!
//! - `\n` and `\r\n` endings; surrounding spaces and tabs are trimmed, and a
//!   UTF-8 byte-order mark at the start of line 1 is dropped.
//! - Blank lines and lines whose first non-blank character is `#` are
//!   skipped (they still count in the numbering).
//! - A line longer than the limit is reported and skipped without holding
//!   more than the limit in memory; so is a line that is not UTF-8.
//!
//! Neither `serde_json` nor the `csv` crate does this part: the first reads
//! one document, the second has no line limit, no per-line recovery and
//! numbers records, not lines.

use std::io::BufRead;

use crate::FeedError;

/// A UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The length of `line` without its ending and trailing spaces and tabs.
fn trim_end(line: &[u8]) -> usize {
    line.len()
        - line
            .iter()
            .rev()
            .take_while(|&&b| matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
            .count()
}

/// Reads checked, trimmed lines from a buffered reader.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    line: u64,
    /// The line being read, ending included.
    buf: Vec<u8>,
    max_line: usize,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader refusing lines longer than `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            line: 0,
            buf: Vec::with_capacity(256),
            max_line,
            done: false,
        }
    }

    /// Sets the longest line accepted; longer lines are reported and skipped.
    pub const fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line;
    }

    /// The number of the last line read (1-based; 0 before the first).
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.line
    }

    /// The next line with content, trimmed, and its number; `None` at the
    /// end. After an I/O error the reader is finished.
    pub fn next_line(&mut self) -> Option<Result<(u64, &str), FeedError>> {
        Some(
            self.next_bytes()?
                .and_then(|(line, bytes)| match std::str::from_utf8(bytes) {
                    Ok(text) => Ok((line, text)),
                    Err(_) => Err(FeedError::NotUtf8 { line }),
                }),
        )
    }

    /// The next line with content, trimmed, as bytes. UTF-8 is left to
    /// the caller, except on comment lines (a comment that is not UTF-8 is
    /// still reported), so that a caller checking its own output anyway
    /// checks each byte once.
    pub fn next_bytes(&mut self) -> Option<Result<(u64, &[u8]), FeedError>> {
        let range = loop {
            if self.done {
                return None;
            }
            let (seen, cut) = match self.read_line() {
                Ok(r) => r,
                Err(cause) => {
                    self.done = true;
                    return Some(Err(FeedError::Io {
                        line: self.line + 1,
                        cause,
                    }));
                }
            };
            if seen == 0 {
                self.done = true;
                return None;
            }
            self.line += 1;
            let line = self.line;
            if cut {
                return Some(Err(FeedError::TooLong {
                    line,
                    limit: self.max_line,
                }));
            }
            let end = trim_end(&self.buf);
            let mut start = 0;
            while line == 1 && self.buf[start..end].starts_with(BOM) {
                start += BOM.len();
            }
            start += self.buf[start..end]
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            match self.buf.get(start..end) {
                None | Some([]) => {}
                Some([b'#', ..]) => {
                    if std::str::from_utf8(&self.buf).is_err() {
                        return Some(Err(FeedError::NotUtf8 { line }));
                    }
                }
                Some(_) => break start..end,
            }
        };
        Some(Ok((self.line, self.buf.get(range).unwrap_or_default())))
    }

    /// Reads one line into `buf` without holding more than `max_line + 1`
    /// bytes of it; returns (bytes seen, whether it was cut).
    fn read_line(&mut self) -> std::io::Result<(usize, bool)> {
        self.buf.clear();
        let mut seen = 0;
        let mut cut = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok((seen, cut));
            }
            let (take, end) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (self.max_line + 1).saturating_sub(self.buf.len());
            cut |= take > room;
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            seen += take;
            self.reader.consume(take);
            if end {
                return Ok((seen, cut));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize) -> Vec<Result<(u64, String), String>> {
        let mut lines = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(r) = lines.next_line() {
            out.push(r.map(|(n, t)| (n, t.to_owned())).map_err(|e| e.to_string()));
        }
        out
    }

    #[test]
    fn trims_skips_and_numbers_every_line() {
        let got = read(b"\xef\xbb\xbf a,b \r\n\n  # note\n\t\n\xef\xbb\xbfc\nlast", 100);
        assert_eq!(
            got,
            vec![
                Ok((1, "a,b".to_owned())),
                Ok((5, "\u{feff}c".to_owned())),
                Ok((6, "last".to_owned())),
            ]
        );
    }

    #[test]
    fn long_and_non_utf8_lines_are_reported_and_skipped() {
        let got = read(b"123456789\n12345678\n\xff\nok\n", 8);
        assert_eq!(
            got,
            vec![
                Err("line 1: longer than 8 bytes".to_owned()),
                Ok((2, "12345678".to_owned())),
                Err("line 3: not valid UTF-8".to_owned()),
                Ok((4, "ok".to_owned())),
            ]
        );
    }
}
