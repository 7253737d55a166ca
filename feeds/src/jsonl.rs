//! JSON Lines events (docs/events.md): one event object per line; blank lines and
//! lines starting with `#` are skipped.

use std::io::BufRead;

use kupala_engine::Event;

use crate::FeedError;
use crate::lines::LineReader;

/// Longest line accepted by default (1 MiB): an event is a few hundred bytes.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Reads events from JSON Lines, one per line, numbering lines from 1. Line
/// reading (length limit, UTF-8, blank and `#` lines) is [`LineReader`]'s.
#[derive(Debug)]
pub struct JsonlSource<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> JsonlSource<R> {
    /// A source over a buffered reader.
    pub fn new(reader: R) -> Self {
        Self {
            lines: LineReader::new(reader, DEFAULT_MAX_LINE),
        }
    }

    /// Sets the longest line accepted; longer lines are reported and skipped.
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.lines.set_max_line(max_line);
        self
    }

    /// The number of the last line read.
    #[must_use]
    pub const fn line(&self) -> u64 {
        self.lines.line()
    }
}

impl<R: BufRead> Iterator for JsonlSource<R> {
    type Item = Result<Event, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.lines.next_line()? {
            Ok((line, text)) => Event::from_json(text).map_err(|error| FeedError::Bad { line, error }),
            Err(e) => Err(e),
        })
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
