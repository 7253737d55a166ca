//! The compact encoding of a journal batch (since store format 2).
//!
//! A batch is written as a stream of LEB128 varints rather than an rkyv
//! archive of fixed-width records: seqs are implicit (contiguous from the
//! first), timestamps are deltas, and every fixed-point number is stored
//! as its decimal mantissa with the trailing zeros folded into the varint
//! (`zigzag(mantissa) × 19 + zeros`), so `189.50` costs three bytes, not
//! eight. A tick is a tag byte, its instrument id, its price and its time
//! delta: about 8–10 bytes on the benchmark workload. Flags in the tag
//! byte say what follows the time delta: a trade's id, its strategy, its
//! `close_lots` (a count, then each id).
//!
//! Layout: `[2][CRC-32 of the rest][names][cursor][count][first seq]
//! [contiguous flag][events]`. Decoding checks the checksum first and then
//! refuses anything truncated, overlong or out of range with a clear error;
//! it never panics on bad bytes.

use crate::sequencer::{NameKind, NewName};
use crate::store::frame::FrameError;
use crate::store::journal::{JOp, JournalBatch, JournalEvent};
use crate::store::varint::{Reader, Writer, payload, zigzag};

/// The frame format byte of a compact journal batch.
const FORMAT: u8 = 2;

const TAG_INSTRUMENT: u8 = 0;
const TAG_TRADE: u8 = 1;
const TAG_TICK: u8 = 2;
const TAG_FX: u8 = 3;
const TAG_EOD: u8 = 4;
const TAG_SPLIT: u8 = 5;
const TAG_DIVIDEND: u8 = 6;
const HAS_ID: u8 = 1 << 3;
const HAS_STRATEGY: u8 = 1 << 4;
/// A trade's `close_lots` follows (a count, then each id).
const HAS_LOTS: u8 = 1 << 5;

/// Encodes a batch (names, cursor, events) for the journal keyspace.
#[must_use]
pub fn encode(batch: &JournalBatch) -> Vec<u8> {
    let mut w = Writer::framed(FORMAT, 16 + batch.events.len() * 12);
    w.uint(batch.names.len() as u128);
    for n in &batch.names {
        w.0.push(match n.kind {
            NameKind::Account => 0,
            NameKind::Instrument => 1,
            NameKind::Currency => 2,
        });
        w.uint(u128::from(n.id));
        w.text(&n.name);
    }
    match &batch.cursor {
        None => w.0.push(0),
        Some((source, position)) => {
            w.0.push(1);
            w.text(source);
            w.uint(u128::from(*position));
        }
    }
    w.uint(batch.events.len() as u128);
    if let Some(first) = batch.events.first() {
        w.uint(u128::from(first.seq));
        let contiguous = batch.is_contiguous();
        w.0.push(u8::from(contiguous));
        let (mut seq, mut ts) = (first.seq, 0i64);
        for e in &batch.events {
            if !contiguous {
                w.uint(u128::from(e.seq.wrapping_sub(seq)));
                seq = e.seq;
            }
            w.event(e, e.ts.wrapping_sub(ts));
            ts = e.ts;
        }
    }
    w.seal()
}

/// Decodes what [`encode`] wrote, checking the checksum first.
pub fn decode(bytes: &[u8]) -> Result<JournalBatch, FrameError> {
    let mut r = Reader::new(payload(bytes, FORMAT)?, "compact journal batch");
    let batch = r.batch()?;
    if !r.is_done() {
        return Err(bad("bytes after the last event"));
    }
    Ok(batch)
}

fn bad(what: &str) -> FrameError {
    FrameError::Archive(format!("compact journal batch: {what}"))
}

impl Writer {
    fn event(&mut self, e: &JournalEvent, ts_delta: i64) {
        let flags = if e.trade_id.is_some() { HAS_ID } else { 0 }
            | if e.strategy.is_some() { HAS_STRATEGY } else { 0 }
            | if e.close_lots.is_empty() { 0 } else { HAS_LOTS };
        match e.op {
            JOp::Instrument {
                instrument,
                currency,
                multiplier,
            } => {
                self.0.push(TAG_INSTRUMENT | flags);
                self.uint(u128::from(instrument));
                self.uint(u128::from(currency));
                self.decimal(i128::from(multiplier));
            }
            JOp::Trade {
                account,
                base,
                instrument,
                qty,
                price,
                fee,
            } => {
                self.0.push(TAG_TRADE | flags);
                self.uint(u128::from(account));
                self.uint(u128::from(base));
                self.uint(u128::from(instrument));
                self.decimal(i128::from(qty));
                self.decimal(i128::from(price));
                self.decimal(i128::from(fee));
            }
            JOp::Tick { instrument, price } => {
                self.0.push(TAG_TICK | flags);
                self.uint(u128::from(instrument));
                self.decimal(i128::from(price));
            }
            JOp::Fx { base, quote, rate } => {
                self.0.push(TAG_FX | flags);
                self.uint(u128::from(base));
                self.uint(u128::from(quote));
                self.decimal(i128::from(rate));
            }
            JOp::Eod { date } => {
                self.0.push(TAG_EOD | flags);
                self.uint(zigzag(i128::from(date)));
            }
            JOp::Split { instrument, ratio } => {
                self.0.push(TAG_SPLIT | flags);
                self.uint(u128::from(instrument));
                self.decimal(i128::from(ratio));
            }
            JOp::Dividend { instrument, amount } => {
                self.0.push(TAG_DIVIDEND | flags);
                self.uint(u128::from(instrument));
                self.decimal(i128::from(amount));
            }
        }
        self.uint(zigzag(i128::from(ts_delta)));
        if let Some(id) = &e.trade_id {
            self.text(id);
        }
        if let Some(s) = &e.strategy {
            self.text(s);
        }
        if !e.close_lots.is_empty() {
            self.uint(e.close_lots.len() as u128);
            e.close_lots.iter().for_each(|id| self.text(id));
        }
    }
}

impl Reader<'_> {
    fn batch(&mut self) -> Result<JournalBatch, FrameError> {
        let count: usize = self.int("name count")?;
        let mut names = Vec::with_capacity(count.min(self.remaining()));
        for _ in 0..count {
            let kind = match self.byte()? {
                0 => NameKind::Account,
                1 => NameKind::Instrument,
                2 => NameKind::Currency,
                k => return Err(bad(&format!("unknown name kind {k}"))),
            };
            let id = self.int("name id")?;
            names.push(NewName {
                kind,
                id,
                name: self.text()?,
            });
        }
        let cursor = match self.byte()? {
            0 => None,
            1 => {
                let source = self.text()?;
                Some((source, self.int("cursor position")?))
            }
            c => return Err(bad(&format!("unknown cursor flag {c}"))),
        };
        let count: usize = self.int("event count")?;
        let mut events = Vec::with_capacity(count.min(self.remaining()));
        if count > 0 {
            let mut seq: u64 = self.int("first seq")?;
            let contiguous = match self.byte()? {
                0 => false,
                1 => true,
                f => return Err(bad(&format!("unknown seq flag {f}"))),
            };
            let mut ts = 0i64;
            for i in 0..count {
                if !contiguous {
                    let d: u64 = self.int("seq delta")?;
                    seq = seq.wrapping_add(d);
                } else if i > 0 {
                    seq = seq.checked_add(1).ok_or_else(|| bad("seq out of range"))?;
                }
                let e = self.event(seq, &mut ts)?;
                events.push(e);
            }
        }
        Ok(JournalBatch {
            names,
            events,
            cursor,
        })
    }

    fn event(&mut self, seq: u64, ts: &mut i64) -> Result<JournalEvent, FrameError> {
        let tag = self.byte()?;
        let op = match tag & 0x07 {
            TAG_INSTRUMENT => JOp::Instrument {
                instrument: self.int("instrument id")?,
                currency: self.int("currency id")?,
                multiplier: self.decimal("multiplier")?,
            },
            TAG_TRADE => JOp::Trade {
                account: self.int("account id")?,
                base: self.int("currency id")?,
                instrument: self.int("instrument id")?,
                qty: self.decimal("quantity")?,
                price: self.decimal("price")?,
                fee: self.decimal("fee")?,
            },
            TAG_TICK => JOp::Tick {
                instrument: self.int("instrument id")?,
                price: self.decimal("price")?,
            },
            TAG_FX => JOp::Fx {
                base: self.int("currency id")?,
                quote: self.int("currency id")?,
                rate: self.decimal("rate")?,
            },
            TAG_EOD => JOp::Eod {
                date: self.signed("date")?,
            },
            TAG_SPLIT => JOp::Split {
                instrument: self.int("instrument id")?,
                ratio: self.decimal("ratio")?,
            },
            TAG_DIVIDEND => JOp::Dividend {
                instrument: self.int("instrument id")?,
                amount: self.decimal("amount")?,
            },
            t => return Err(bad(&format!("unknown event tag {t}"))),
        };
        if tag & !(0x07 | HAS_ID | HAS_STRATEGY | HAS_LOTS) != 0 {
            return Err(bad(&format!("unknown event flags {tag:#04x}")));
        }
        let delta: i64 = self.signed("timestamp delta")?;
        *ts = ts.wrapping_add(delta);
        let trade_id = if tag & HAS_ID != 0 {
            Some(self.text()?)
        } else {
            None
        };
        let strategy = if tag & HAS_STRATEGY != 0 {
            Some(self.text()?)
        } else {
            None
        };
        let close_lots = if tag & HAS_LOTS != 0 {
            let n: usize = self.int("close_lots count")?;
            if n == 0 || n > crate::event::MAX_CLOSE_LOTS {
                return Err(bad(&format!("close_lots count {n} out of range")));
            }
            (0..n).map(|_| self.text()).collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        Ok(JournalEvent {
            seq,
            ts: *ts,
            op,
            trade_id,
            strategy,
            close_lots,
        })
    }
}
