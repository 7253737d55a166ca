//! One connection's reader: line splitting, decoding, queueing, replies.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use kupala_engine::Event;

use super::{Counters, TcpLimits, add};
use crate::queue::{IngestQueue, RefuseReason};

/// One connection's reader: line splitting, decoding, replies.
pub(super) struct Connection {
    stream: TcpStream,
    limits: TcpLimits,
    /// Received bytes; `buf[..filled]` is the start of an unfinished line.
    buf: Vec<u8>,
    filled: usize,
    /// The number of the last line seen.
    line: u64,
    /// Inside a line already known to be too long: drop bytes up to its end.
    skipping: bool,
    events: Vec<(u64, Event)>,
    replies: Vec<u8>,
    /// The queue was closed: finish this read, then close.
    closed: bool,
}

impl Connection {
    pub(super) fn new(stream: TcpStream, limits: TcpLimits) -> Self {
        Self {
            stream,
            limits,
            // Room for a whole line of max_line bytes (and its `\r`) plus a read.
            buf: vec![0; limits.max_line + 2 + limits.read_buffer],
            filled: 0,
            line: 0,
            skipping: false,
            events: Vec::with_capacity(1024),
            replies: Vec::new(),
            closed: false,
        }
    }

    /// Reads until EOF (or an error, the idle timeout, a closed queue);
    /// each read's complete lines are decoded, queued as one batch, and
    /// the bad ones answered.
    pub(super) fn run(&mut self, queue: &IngestQueue, counters: &Counters) {
        loop {
            let n = match self.stream.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Idle timeout, reset...: the connection is over.
                Err(_) => 0,
            };
            add(&counters.bytes, n as u64);
            let end = self.filled + n;
            let mut start = 0;
            while let Some(i) = self.buf[start..end].iter().position(|&b| b == b'\n') {
                self.take_line(start, start + i, counters);
                start += i + 1;
            }
            let at_eof = n == 0;
            if at_eof && (start < end || self.skipping) {
                // A last line without a line break.
                self.take_line(start, end, counters);
                start = end;
            }
            self.keep_tail(start, end);
            self.push(queue, counters);
            if !self.replies.is_empty() {
                if self.stream.write_all(&self.replies).is_err() {
                    return;
                }
                self.replies.clear();
            }
            if at_eof || self.closed {
                let _ = self.stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }

    /// Keeps the unfinished line `buf[start..end]` for the next read, or
    /// starts skipping it when it is already too long.
    fn keep_tail(&mut self, start: usize, end: usize) {
        let tail = end - start;
        // +1: the tail may end in the `\r` of a `\r\n` cut by the read.
        if self.skipping || tail > self.limits.max_line + 1 {
            self.skipping = true;
            self.filled = 0;
        } else {
            self.buf.copy_within(start..end, 0);
            self.filled = tail;
        }
    }

    /// Handles the line `buf[from..to]` (without its `\n`).
    fn take_line(&mut self, from: usize, to: usize, counters: &Counters) {
        self.line += 1;
        add(&counters.lines, 1);
        let line = self.line;
        let bytes = &self.buf[from..to];
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let limit = self.limits.max_line;
        let decoded = if std::mem::take(&mut self.skipping) || bytes.len() > limit {
            Err(format!("longer than {limit} bytes"))
        } else {
            match std::str::from_utf8(bytes).map(str::trim) {
                Err(_) => Err("not valid UTF-8".to_owned()),
                Ok(text) if text.is_empty() || text.starts_with('#') => return,
                Ok(text) => Event::from_json(text).map_err(|e| e.to_string()),
            }
        };
        match decoded {
            Ok(event) => self.events.push((line, event)),
            Err(reason) => {
                add(&counters.rejected, 1);
                reply(&mut self.replies, line, format_args!("{reason}"));
            }
        }
    }

    /// Queues the events decoded from this read, as one batch.
    fn push(&mut self, queue: &IngestQueue, counters: &Counters) {
        if self.events.is_empty() {
            return;
        }
        let (replies, closed) = (&mut self.replies, &mut self.closed);
        let accepted = queue.push_all(self.events.drain(..), |line, refused| {
            add(&counters.refused, 1);
            *closed |= refused.reason == RefuseReason::Closed;
            reply(replies, line, format_args!("{refused}"));
        });
        add(&counters.accepted, accepted as u64);
        if accepted > 0 {
            counters.accepted_now();
        }
    }
}

/// Appends `error LINE: reason\n`.
fn reply(out: &mut Vec<u8>, line: u64, reason: std::fmt::Arguments<'_>) {
    let _ = writeln!(out, "error {line}: {reason}");
}
