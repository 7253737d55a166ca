//! The input the `csv` crate reads: the checked lines of a [`LineReader`],
//! one record per line, each tagged with its line number in a queue.
//! A line that is not a record (too long, not UTF-8, badly quoted) is
//! handed on as a placeholder record tagged with its error, so records and
//! tags never part.
//!
//! The `csv` crate parses RFC 4180 leniently: a quoted field may run on
//! over the following lines, text after a closing quote is kept, a quote
//! inside an unquoted field is data, and a quote is only a quote at the
//! very start of a field (so `a, "b, c"` would split inside the quotes).
//! A line that holds a quote is therefore checked here first, and handed
//! on with the spaces around its fields removed, which the crate then
//! reads as this reader's rules say.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use crate::FeedError;
use crate::lines::LineReader;

/// What the next record read by the `csv` crate stands for.
#[derive(Debug)]
pub(super) enum Mark {
    /// Line `line`; `trim`: its fields still carry their surrounding blanks.
    Line {
        /// 1-based line number.
        line: u64,
        /// Whether the fields are to be trimmed of spaces and tabs.
        trim: bool,
    },
    /// A line refused before parsing; its record is a placeholder.
    Refused(FeedError),
}

/// What a refused line becomes for the `csv` crate: one record, no quote.
const PLACEHOLDER: &[u8] = b"!\n";

/// A byte-order mark put ahead of the first line: the `csv` crate drops one
/// at the start of its input, so it never drops a real one (which, past
/// line 1, is data).
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Lines as a byte stream for `csv::Reader`, with a [`Mark`] per record.
#[derive(Debug)]
pub(super) struct Framed<R> {
    pub(super) lines: LineReader<R>,
    /// Bytes of the current line not yet handed to the `csv` crate.
    out: Vec<u8>,
    pos: usize,
    /// One mark per line handed over and not yet taken back as a record.
    pub(super) marks: VecDeque<Mark>,
    /// The I/O error that ended the input (the `csv` crate sees a stand-in).
    pub(super) failed: Option<FeedError>,
    eof: bool,
}

impl<R: BufRead> Framed<R> {
    pub(super) fn new(lines: LineReader<R>) -> Self {
        Self {
            lines,
            out: BOM.to_vec(),
            pos: 0,
            marks: VecDeque::new(),
            failed: None,
            eof: false,
        }
    }

    /// Hands over the next line (or a refused line's placeholder):
    /// straight into `room` when it fits, else into `out`, which `read`
    /// then copies from. Returns the bytes written to `room`.
    fn next_into(&mut self, room: &mut [u8]) -> usize {
        self.out.clear();
        self.pos = 0;
        match self.lines.next_bytes() {
            None => {
                self.eof = true;
                0
            }
            Some(Err(e)) if e.is_fatal() => {
                self.failed = Some(e);
                0
            }
            Some(Err(e)) => {
                self.marks.push_back(Mark::Refused(e));
                put(PLACEHOLDER, room, &mut self.out)
            }
            // No quote: the common case, passed on as it is (the reader
            // checks UTF-8 on the record and trims the fields).
            Some(Ok((line, bytes))) if memchr::memchr(b'"', bytes).is_none() => {
                self.marks.push_back(Mark::Line { line, trim: true });
                put(bytes, room, &mut self.out)
            }
            Some(Ok((line, bytes))) => {
                let checked = match std::str::from_utf8(bytes) {
                    Ok(text) => {
                        unpadded(text, &mut self.out).map_err(|reason| FeedError::Row { line, reason })
                    }
                    Err(_) => Err(FeedError::NotUtf8 { line }),
                };
                match checked {
                    Ok(()) => {
                        self.out.push(b'\n');
                        self.marks.push_back(Mark::Line { line, trim: false });
                    }
                    Err(e) => {
                        self.out.clear();
                        self.out.extend_from_slice(PLACEHOLDER);
                        self.marks.push_back(Mark::Refused(e));
                    }
                }
                0
            }
        }
    }
}

/// Writes `line` and a `\n` to `room` if they fit (returning their
/// length), else to `out` (returning 0).
fn put(line: &[u8], room: &mut [u8], out: &mut Vec<u8>) -> usize {
    let len = line.len() + 1;
    match room.get_mut(..len) {
        Some(room) => {
            room[..line.len()].copy_from_slice(line);
            room[line.len()] = b'\n';
            len
        }
        None => {
            out.extend_from_slice(line);
            out.push(b'\n');
            0
        }
    }
}

impl<R: BufRead> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        loop {
            let pending = self.out.get(self.pos..).unwrap_or_default();
            let k = pending.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&pending[..k]);
            n += k;
            self.pos += k;
            if n == buf.len() || self.eof {
                return Ok(n);
            }
            if self.failed.is_some() {
                // The cause is in `failed`; the csv crate only needs to stop.
                return if n > 0 {
                    Ok(n)
                } else {
                    Err(io::Error::other("reading the input failed"))
                };
            }
            n += self.next_into(&mut buf[n..]);
        }
    }
}

/// Checks a line holding a quote and writes it to `out` with the spaces
/// and tabs around each field removed (a quoted field as written, quotes
/// included). Refused: an unterminated quote (a field cannot span lines),
/// text after a closing quote, a quote inside an unquoted field.
fn unpadded(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = text;
    let mut field = 1;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(body) = rest.strip_prefix('"') {
            let len = quoted_len(body)
                .ok_or_else(|| "unterminated quote (a field cannot span lines)".to_owned())?;
            out.extend_from_slice(&rest.as_bytes()[..len + 1]);
            rest = body[len..].trim_start_matches([' ', '\t']);
            if !(rest.is_empty() || rest.starts_with(',')) {
                return Err(format!("field {field}: text after the closing quote"));
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim_end_matches([' ', '\t']);
            if value.contains('"') {
                return Err(format!("field {field}: a quote inside an unquoted field"));
            }
            out.extend_from_slice(value.as_bytes());
            rest = &rest[end..];
        }
        match rest.strip_prefix(',') {
            Some(next) => {
                out.push(b',');
                rest = next;
                field += 1;
            }
            None => return Ok(()),
        }
    }
}

/// The length of a quoted field's body (after the opening quote) up to and
/// including its closing quote (`""` inside stands for a quote).
fn quoted_len(body: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        at += body.get(at..)?.find('"')? + 1;
        if body.as_bytes().get(at) != Some(&b'"') {
            return Some(at);
        }
        at += 1;
    }
}
