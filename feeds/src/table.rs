//! The shared half of every CSV adapter: columns found by name in the
//! header (or a documented default layout when the file has none), typed
//! cell access that names the column in its errors, and [`CsvSource`], the
//! iterator that turns rows into events through an adapter's [`Decode`].
//!
//! Header names match case-insensitively, ignoring spaces, `_` and `-`
//! (`Adj Close` = `adjclose`). Columns no adapter asks for are ignored. With a
//! header every row must have as many fields as the header; without one, at
//! least as many as the layout (extra trailing fields are ignored).

use std::collections::VecDeque;
use std::io::BufRead;

use kupala_engine::Event;
use kupala_engine::num::{Fee, Price, Quantity};
use kupala_engine::time::Timestamp;

use crate::csv::{CsvReader, Record};
use crate::source::{EventSource, SourceOptions};
use crate::stamp::{self, Stamp};
use crate::{FeedError, values};

/// Names a timestamp column may have.
pub const TS_NAMES: &[&str] = &["ts", "timestamp", "time", "date", "datetime"];
/// Names an instrument column may have.
pub const INSTRUMENT_NAMES: &[&str] = &["instrument", "symbol", "ticker"];

/// The column names of a file: its header, or a default layout.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    keys: Vec<String>,
    from_file: bool,
    layout_hint: bool,
}

impl Header {
    /// The header read from a file; `layout_hint` when the format could
    /// read the file without one (errors then mention `--no-header`).
    #[must_use]
    pub fn from_record(rec: Record<'_>, layout_hint: bool) -> Self {
        Self::new(rec.fields(), true, layout_hint)
    }

    /// The layout of a file without a header.
    #[must_use]
    pub fn from_layout(layout: &[&str]) -> Self {
        Self::new(layout.iter().copied(), false, false)
    }

    fn new<'a>(names: impl Iterator<Item = &'a str>, from_file: bool, layout_hint: bool) -> Self {
        let names: Vec<String> = names.map(str::to_owned).collect();
        let keys = names.iter().map(|n| key(n)).collect();
        Self {
            names,
            keys,
            from_file,
            layout_hint,
        }
    }

    /// The column called one of `aliases` (normalised names), if any;
    /// an error when two columns match.
    pub fn find(&self, aliases: &[&str]) -> Result<Option<Column>, String> {
        let mut hits = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| aliases.contains(&k.as_str()));
        let Some((index, _)) = hits.next() else {
            return Ok(None);
        };
        if let Some((other, _)) = hits.next() {
            return Err(format!(
                "columns `{}` and `{}` could both be the {} column",
                self.names[index], self.names[other], aliases[0]
            ));
        }
        Ok(Some(Column {
            index,
            name: self.names[index].clone(),
        }))
    }

    /// The column called one of `aliases`, which must exist.
    pub fn require(&self, aliases: &[&str]) -> Result<Column, String> {
        self.find(aliases)?.ok_or_else(|| {
            let mut msg = format!("no `{}` column", aliases[0]);
            if aliases.len() > 1 {
                msg += &format!(" (nor {})", aliases[1..].join(", "));
            }
            if self.from_file {
                msg += &format!(" in the header `{}`", self.names.join(","));
            }
            if self.layout_hint {
                msg += "; a file without a header needs --no-header";
            }
            msg
        })
    }

    /// The names, comma-separated.
    #[must_use]
    pub fn joined(&self) -> String {
        self.names.join(",")
    }

    fn check_unique(&self) -> Result<(), String> {
        for (i, k) in self.keys.iter().enumerate() {
            if !k.is_empty() && self.keys[..i].contains(k) {
                return Err(format!("column `{}` appears twice", self.names[i]));
            }
        }
        Ok(())
    }
}

/// A header name as matched: lowercase, without spaces, `_` and `-`.
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A column found in the header: its position and its name as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// 0-based position in the row.
    pub index: usize,
    /// The name as written in the header (used in error messages).
    pub name: String,
}

impl Column {
    /// The raw cell (empty when the row is short).
    #[must_use]
    pub fn text<'a>(&self, rec: Record<'a>) -> &'a str {
        rec.get(self.index).unwrap_or_default()
    }

    /// The cell as a non-empty string.
    pub fn name_value(&self, rec: Record<'_>) -> Result<String, String> {
        match self.text(rec) {
            "" => Err(format!("{}: is empty", self.name)),
            s => Ok(s.to_owned()),
        }
    }

    /// The cell as a price (rounded beyond 9 decimals, see [`values`]).
    pub fn price(&self, rec: Record<'_>) -> Result<Price, String> {
        values::price(self.text(rec)).map_err(|e| self.err(e))
    }

    /// The cell as an exact quantity.
    pub fn quantity(&self, rec: Record<'_>) -> Result<Quantity, String> {
        values::quantity(self.text(rec)).map_err(|e| self.err(e))
    }

    /// The cell as an exact fee.
    pub fn fee(&self, rec: Record<'_>) -> Result<Fee, String> {
        values::fee(self.text(rec)).map_err(|e| self.err(e))
    }

    /// The cell as a timestamp or a date (naive times at `utc_offset` seconds).
    pub fn stamp(&self, rec: Record<'_>, utc_offset: i32) -> Result<Stamp, String> {
        stamp::parse(self.text(rec), utc_offset).map_err(|e| self.err(e))
    }

    /// The cell as an instant; a date alone stands for its close (21:00 UTC).
    pub fn instant(&self, rec: Record<'_>, utc_offset: i32) -> Result<Timestamp, String> {
        self.stamp(rec, utc_offset)?.at_close().map_err(|e| self.err(e))
    }

    /// `reason` prefixed by the column's name.
    #[must_use]
    pub fn err(&self, reason: impl std::fmt::Display) -> String {
        format!("{}: {reason}", self.name)
    }
}

/// Where a row's instrument comes from: a column or `--instrument`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstrumentOf {
    /// Every row has this instrument.
    Fixed(String),
    /// The instrument is in this column.
    Column(Column),
}

impl InstrumentOf {
    /// Binds the instrument: the option when the file has no instrument
    /// column, the column when it has one; an error if both or neither.
    pub fn bind(header: &Header, opts: &SourceOptions) -> Result<Self, String> {
        match (header.find(INSTRUMENT_NAMES)?, &opts.instrument) {
            (Some(col), None) => Ok(Self::Column(col)),
            (None, Some(name))
                if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) =>
            {
                Err(format!(
                    "--instrument {name:?} must be 1 to 128 printable characters"
                ))
            }
            (None, Some(name)) => Ok(Self::Fixed(name.clone())),
            (Some(col), Some(_)) => Err(format!(
                "the file names instruments in column `{}`; drop --instrument",
                col.name
            )),
            (None, None) => Err(format!(
                "no instrument column (instrument, symbol, ticker) in `{}`; pass --instrument NAME",
                header.joined()
            )),
        }
    }

    /// The row's instrument.
    pub fn of(&self, rec: Record<'_>) -> Result<String, String> {
        match self {
            Self::Fixed(name) => Ok(name.clone()),
            Self::Column(col) => col.name_value(rec),
        }
    }
}

/// Items waiting to be returned: decoded events and row errors, in file
/// order, each with its source line.
pub type Ready = VecDeque<(u64, Result<Event, FeedError>)>;

/// An adapter's row decoding.
pub trait Decode: std::fmt::Debug {
    /// Decodes row `line` (its fields already counted), pushing its events —
    /// checked against the engine's rules — onto `out`; or says what is wrong.
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String>;

    /// Queues the error of a row that could not be decoded. An adapter that
    /// holds an earlier row back keeps the error behind it, so items stay in
    /// file order.
    fn reject(&mut self, error: FeedError, out: &mut Ready) {
        out.push_back((error.line(), Err(error)));
    }

    /// Pushes whatever is held back; called at the end of the input.
    fn flush(&mut self, _out: &mut Ready) {}
}

impl Decode for Box<dyn Decode + Send> {
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String> {
        (**self).decode(line, rec, out)
    }

    fn reject(&mut self, error: FeedError, out: &mut Ready) {
        (**self).reject(error, out);
    }

    fn flush(&mut self, out: &mut Ready) {
        (**self).flush(out);
    }
}

/// Events from a CSV file, decoded row by row by `D`.
#[derive(Debug)]
pub struct CsvSource<R, D> {
    csv: CsvReader<R>,
    decoder: D,
    width: usize,
    exact_width: bool,
    ready: Ready,
    position: u64,
    done: bool,
}

impl<R: BufRead, D: Decode> CsvSource<R, D> {
    /// Reads the header (unless `opts.no_header`, then `layout` names the
    /// columns; an empty layout means a header is required) and binds the
    /// decoder to it with `bind`.
    pub fn open(
        reader: R,
        opts: &SourceOptions,
        layout: &[&str],
        bind: impl FnOnce(&Header) -> Result<D, String>,
    ) -> Result<Self, FeedError> {
        let mut csv = CsvReader::new(reader);
        let mut first_row = None;
        let header = if opts.no_header {
            Header::from_layout(layout)
        } else {
            match csv.next_record() {
                // A first row of numbers is data: the file has no header
                // and is read in the format's default layout.
                Some(Ok(rec)) if !layout.is_empty() && looks_like_data(rec) => {
                    first_row = Some(rec.to_owned_record());
                    Header::from_layout(layout)
                }
                Some(Ok(rec)) => Header::from_record(rec, !layout.is_empty()),
                Some(Err(e)) => return Err(e),
                None => return Err(header_error(0, "the file is empty: no header".to_owned())),
            }
        };
        let line = csv.line();
        header.check_unique().map_err(|r| header_error(line, r))?;
        let decoder = bind(&header).map_err(|r| header_error(line, r))?;
        let mut source = Self {
            csv,
            decoder,
            width: header.names.len(),
            exact_width: header.from_file,
            ready: VecDeque::new(),
            position: if first_row.is_some() { 0 } else { line },
            done: false,
        };
        if let Some(row) = first_row {
            source.take_row(row.as_record());
        }
        Ok(source)
    }

    /// The same source with its decoder changed by `f` (e.g. boxed).
    pub fn map_decoder<E: Decode>(self, f: impl FnOnce(D) -> E) -> CsvSource<R, E> {
        CsvSource {
            csv: self.csv,
            decoder: f(self.decoder),
            width: self.width,
            exact_width: self.exact_width,
            ready: self.ready,
            position: self.position,
            done: self.done,
        }
    }

    /// Reads one record and decodes it into `ready`, or queues its error.
    fn step(&mut self) {
        let error = match self.csv.next_record() {
            None => {
                self.done = true;
                self.decoder.flush(&mut self.ready);
                return;
            }
            Some(Err(e)) => e,
            Some(Ok(rec)) => {
                let shape = (self.width, self.exact_width);
                match decode_row(&mut self.decoder, shape, rec, &mut self.ready) {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
        };
        self.fail(error);
    }

    /// Decodes a record read before the source existed (a first row of data).
    fn take_row(&mut self, rec: Record<'_>) {
        let shape = (self.width, self.exact_width);
        if let Err(e) = decode_row(&mut self.decoder, shape, rec, &mut self.ready) {
            self.fail(e);
        }
    }

    /// Queues a row's error (a fatal one ends the source).
    fn fail(&mut self, error: FeedError) {
        if error.is_fatal() {
            self.done = true;
            self.decoder.flush(&mut self.ready);
        }
        self.decoder.reject(error, &mut self.ready);
    }
}

/// Checks a row's width against the header's (`width`, and whether it must
/// match exactly) and decodes it.
fn decode_row<D: Decode>(
    decoder: &mut D,
    (width, exact): (usize, bool),
    rec: Record<'_>,
    out: &mut Ready,
) -> Result<(), FeedError> {
    let (line, fields) = (rec.line(), rec.len());
    let result = if fields != width && (exact || fields < width) {
        Err(format!("{fields} fields where {width} are expected"))
    } else {
        decoder.decode(line, rec, out)
    };
    result.map_err(|reason| FeedError::Row { line, reason })
}

/// Whether a first row is data rather than a header: two or more fields,
/// each starting like a number or a date (`20200101 170000065`, `1.1212`,
/// `-3`); a header's names start with letters.
fn looks_like_data(rec: Record<'_>) -> bool {
    rec.len() >= 2
        && rec
            .fields()
            .all(|f| f.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')))
}

fn header_error(line: u64, reason: String) -> FeedError {
    FeedError::Header { line, reason }
}

impl<R: BufRead, D: Decode> Iterator for CsvSource<R, D> {
    type Item = Result<Event, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((line, item)) = self.ready.pop_front() {
                self.position = line;
                return Some(item);
            }
            if self.done {
                return None;
            }
            self.step();
        }
    }
}

impl<R: BufRead, D: Decode> EventSource for CsvSource<R, D> {
    fn position(&self) -> u64 {
        self.position
    }
}
