//! JSON Lines events (design.md): one event object per line; blank lines and
//! lines starting with `#` are skipped.

use std::io::BufRead;

use kupala_engine::Event;

use crate::FeedError;

/// Longest line accepted by default (1 MiB): an event is a few hundred bytes.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Reads events from JSON Lines, one per line, numbering lines from 1.
#[derive(Debug)]
pub struct JsonlSource<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
    max_line: usize,
    done: bool,
}

impl<R: BufRead> JsonlSource<R> {
    /// A source over a buffered reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buf: Vec::with_capacity(512),
            max_line: DEFAULT_MAX_LINE,
            done: false,
        }
    }

    /// Sets the longest line accepted; longer lines are reported and skipped.
    #[must_use]
    pub const fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }

    /// The number of the last line read.
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.line
    }

    /// Reads one line into `buf` without holding more than `max_line + 1`
    /// bytes of it; returns (bytes seen, whether it was cut).
    fn read_line(&mut self) -> std::io::Result<(usize, bool)> {
        self.buf.clear();
        let mut seen = 0;
        let mut cut = false;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok((seen, cut));
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (self.max_line + 1).saturating_sub(self.buf.len());
            if take > room {
                cut = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            seen += take;
            self.reader.consume(take);
            if end {
                return Ok((seen, cut));
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonlSource<R> {
    type Item = Result<Event, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (seen, cut) = match self.read_line() {
                Ok(r) => r,
                Err(source) => {
                    self.done = true;
                    return Some(Err(FeedError::Io {
                        line: self.line + 1,
                        source,
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
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some(Err(FeedError::NotUtf8 { line }));
            };
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return Some(Event::from_json(text).map_err(|error| FeedError::Bad { line, error }));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str, max: usize) -> Vec<Result<String, String>> {
        JsonlSource::new(input.as_bytes())
            .with_max_line(max)
            .map(|r| r.map(|e| e.kind().to_owned()).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn numbers_lines_and_skips_blank_and_comments() {
        let input = "# header\n{\"type\":\"eod\",\"date\":\"2026-11-30\"}\n\n{\"type\":\"eod\"}\n";
        let got = read(input, 1024);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Ok("eod".to_owned()));
        assert_eq!(got[1], Err("line 4: date: required field is missing".to_owned()));
    }

    #[test]
    fn long_lines_and_bad_utf8_are_reported_and_skipped() {
        let long = format!("{{\"type\":\"eod\",\"date\":\"{}\"}}\n", "x".repeat(100));
        let input = format!("{long}{{\"type\":\"eod\",\"date\":\"2026-11-30\"}}");
        let got = read(&input, 64);
        assert_eq!(
            got,
            vec![
                Err("line 1: longer than 64 bytes".to_owned()),
                Ok("eod".to_owned())
            ]
        );
        let bytes: &[u8] = b"\xff\xfe\n{\"type\":\"eod\",\"date\":\"2026-11-30\"}\n";
        let got: Vec<_> = JsonlSource::new(bytes)
            .map(|r| r.map_err(|e| e.to_string()).map(|e| e.kind()))
            .collect();
        assert_eq!(got, vec![Err("line 1: not valid UTF-8".to_owned()), Ok("eod")]);
    }
}
