//! The compact encoding of a snapshot (store format 3).
//!
//! A snapshot is one *head* and a number of *chunks* of positions, each a
//! separate value with its own checksum, so that they are encoded on
//! several threads at once, decoded one at a time as a restore reads them
//! ([`Chunks`]), and a million positions never make one huge value.
//! Numbers are varints (`store::varint`): ids, counts and seqs as unsigned
//! varints, quantities, prices and rates as folded decimals, exact amounts
//! (10^-18) as a length byte and their zigzag's shortest little-endian
//! bytes, so a zero costs one byte. A position costs 30–110 bytes instead
//! of the 218 of a fixed-width archive. The trade-id set is stored as its
//! arena, as it is in memory.
//!
//! Layouts (each value `[3][CRC-32 of the rest][payload]`):
//! - head: seq, the cost methods' byte, the sequencer (next seq, the three
//!   name lists, instrument info, account bases, trade-id arena, then, when
//!   the byte is [`PER_ACCOUNT`], one method code per account), the
//!   instruments, the FX rates, the account totals, then the chunk and
//!   position counts, then optional sections (a tag byte each; a snapshot
//!   written before a section existed simply ends before it): tag 1, the
//!   account totals' dividend income, tag 2, their currency effect (each a
//!   count, then index and amount), tag 3 (no payload), the positions
//!   carry base costs, tag 4, books (the strategy names, each book's
//!   account and strategy + 1 or 0, and each portfolio's book: the
//!   totals are then per book), tag 5, the firm's accumulated amounts
//!   (reporting currency id, realized, fees, income, baseline), tag 6,
//!   the P&L history's clock (resolution, coarse resolution and the
//!   watermark's bucket, each an amount), tag 7, the named open lots (a
//!   count, then each lot's book, instrument, opening seq and trade id).
//!   Without
//!   tag 4 every account has one book, numbered as the account.
//!   The methods' byte is otherwise the one method of every account (as
//!   every snapshot before per-account methods wrote it);
//! - chunk: a position count, then each position's fields in
//!   [`PositionImage`] order (after its flags, its income, then its base
//!   cost, realized currency effect and lots' base costs, each only when
//!   the flags say it has any, then its book when the flags say so: else
//!   its account's default book, then each lot's opening seq when the
//!   flags say so, then the position's seq).
//!
//! Decoding checks the checksum first, then refuses anything truncated,
//! overlong or out of range with a clear error; it never panics.

use crate::image::{EngineImage, PortfolioImage, PositionImage, Positions, SequencerImage};
use crate::store::frame::FrameError;
use crate::store::varint::{self, Reader, Writer};

/// The frame format byte of a snapshot value.
const FORMAT: u8 = 3;
/// Positions per chunk: values of a few MB, enough chunks to share out.
pub const CHUNK_POSITIONS: usize = 32_768;

/// The cost methods' byte saying one code per account follows.
pub const PER_ACCOUNT: u8 = 0x80;

const PRICED: u8 = 1;
const LISTED: u8 = 2;
/// The position's dividend income (local, base) follows its flags.
const INCOME: u8 = 4;
/// The position's base cost, realized currency P&L and each lot's base
/// cost follow (after its income, if any).
const FX: u8 = 8;
/// The head's optional section of account income totals.
const SECTION_INCOME: u8 = 1;
/// The head's optional section of account currency-effect totals.
const SECTION_FX: u8 = 2;
/// The head's mark that positions carry base costs (always written since
/// the FX attribution; an older snapshot lacks it).
const SECTION_FX_COSTS: u8 = 3;
/// The position's book follows (last).
const BOOK: u8 = 16;
/// Each lot's opening seq follows (after the book).
const OPENED: u8 = 32;
/// The head's books: strategies, the book table, each portfolio's book.
const SECTION_BOOKS: u8 = 4;
/// The head's firm amounts.
const SECTION_FIRM: u8 = 5;
/// The head's P&L history clock.
const SECTION_HISTORY: u8 = 6;
/// The head's named open lots (what `close_lots` names them by).
const SECTION_LOTS: u8 = 7;

/// A snapshot as stored: the head and the chunks, in order.
#[derive(Debug)]
pub struct EncodedSnapshot {
    /// Everything but the positions, and how many chunks follow.
    pub head: Vec<u8>,
    /// The positions, [`CHUNK_POSITIONS`] per chunk.
    pub chunks: Vec<Vec<u8>>,
}

/// What a head holds: the image without its positions, and how many chunks
/// and positions make up the rest.
#[derive(Debug)]
pub struct Head {
    /// The image, its `books.positions` still empty.
    pub image: EngineImage,
    /// How many chunks the snapshot has.
    pub chunks: u32,
    /// How many positions they hold in all.
    pub positions: u64,
}

/// Encodes `image`, its position chunks on up to `threads` threads.
#[must_use]
pub fn encode(image: &EngineImage, threads: usize) -> EncodedSnapshot {
    let parts: Vec<&[PositionImage]> = image.books.positions.chunks(CHUNK_POSITIONS).collect();
    let chunks = in_parallel(&parts, threads, |p| encode_chunk(p));
    let head = framed(|w| write_head(w, image, chunks.len()));
    EncodedSnapshot { head, chunks }
}

/// Decodes a head.
pub fn decode_head(bytes: &[u8]) -> Result<Head, FrameError> {
    let mut r = Reader::new(payload(bytes)?, "snapshot head");
    let head = read_head(&mut r)?;
    if !r.is_done() {
        return Err(r.bad("bytes after the chunk count"));
    }
    Ok(head)
}

/// A snapshot's position chunks, read from the store and decoded only as
/// a restore reads them (each restoring thread one chunk at a time, into a
/// buffer it reuses), so the positions never all sit decoded in memory.
#[derive(Debug)]
pub struct Chunks {
    chunks: Vec<Vec<u8>>,
    positions: u64,
}

impl Chunks {
    /// The chunks of a snapshot whose head is `head`; their number must be
    /// the head's.
    pub fn new(head: &Head, chunks: Vec<Vec<u8>>) -> Result<Self, FrameError> {
        if chunks.len() != head.chunks as usize {
            return Err(bad(&format!(
                "{} chunks, the head says {}",
                chunks.len(),
                head.chunks
            )));
        }
        Ok(Self {
            chunks,
            positions: head.positions,
        })
    }
}

impl Positions for Chunks {
    type Error = FrameError;

    fn each(&self, f: &mut dyn FnMut(&PositionImage)) -> Result<(), FrameError> {
        let mut buffer = Vec::new();
        let mut seen = 0u64;
        for c in &self.chunks {
            buffer.clear();
            decode_chunk_into(c, &mut buffer)?;
            seen += buffer.len() as u64;
            buffer.iter().for_each(&mut *f);
        }
        if seen != self.positions {
            return Err(bad(&format!(
                "{seen} positions in the chunks, the head says {}",
                self.positions
            )));
        }
        Ok(())
    }
}

/// The whole image of a head and its chunks, every position decoded.
pub fn decode_chunks(mut head: Head, chunks: Vec<Vec<u8>>) -> Result<EngineImage, FrameError> {
    let chunks = Chunks::new(&head, chunks)?;
    let positions = &mut head.image.books.positions;
    positions.reserve_exact(usize::try_from(chunks.positions).unwrap_or(0).min(1 << 24));
    chunks.each(&mut |p| positions.push(p.clone()))?;
    Ok(head.image)
}

fn bad(what: &str) -> FrameError {
    FrameError::Archive(format!("snapshot: {what}"))
}

/// `f` over each item, the items shared out in contiguous runs over up to
/// `threads` scoped threads; results in item order.
fn in_parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|run| s.spawn(|| run.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// A value: the format byte, the checksum, then what `fill` writes.
fn framed(fill: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::framed(FORMAT, 0);
    fill(&mut w);
    w.seal()
}

/// The payload of a value, its format and checksum checked.
fn payload(bytes: &[u8]) -> Result<&[u8], FrameError> {
    varint::payload(bytes, FORMAT)
}

fn encode_chunk(positions: &[PositionImage]) -> Vec<u8> {
    framed(|w| {
        // About 70 bytes a position on the benchmark book: grown once at most.
        w.0.reserve(positions.len() * 80);
        w.uint(positions.len() as u128);
        for p in positions {
            write_position(w, p);
        }
    })
}

#[cfg(test)]
fn decode_chunk(bytes: &[u8]) -> Result<Vec<PositionImage>, FrameError> {
    let mut out = Vec::new();
    decode_chunk_into(bytes, &mut out)?;
    Ok(out)
}

/// Decodes a chunk's positions onto the end of `out`.
fn decode_chunk_into(bytes: &[u8], out: &mut Vec<PositionImage>) -> Result<(), FrameError> {
    let mut r = Reader::new(payload(bytes)?, "snapshot chunk");
    // A position takes 16 bytes at least (16 fields of one byte).
    let count: usize = r.count("position count", 16)?;
    out.reserve(count);
    for _ in 0..count {
        out.push(read_position(&mut r)?);
    }
    if !r.is_done() {
        return Err(r.bad("bytes after the last position"));
    }
    Ok(())
}

impl Writer {
    fn flag(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    fn texts(&mut self, list: &[String]) {
        self.uint(list.len() as u128);
        list.iter().for_each(|s| self.text(s));
    }
}

fn write_head(w: &mut Writer, image: &EngineImage, chunks: usize) {
    w.uint(u128::from(image.seq));
    let methods = &image.sequencer.account_method;
    let uniform = methods.first().filter(|&&m| methods.iter().all(|&x| x == m));
    w.0.push(match (methods.is_empty(), uniform) {
        (true, _) => crate::ledger::Method::Avg.code(),
        (false, Some(m)) => m.code(),
        (false, None) => PER_ACCOUNT,
    });
    write_sequencer(w, &image.sequencer);
    if uniform.is_none() && !methods.is_empty() {
        methods.iter().for_each(|m| w.0.push(m.code()));
    }
    let books = &image.books;
    w.uint(books.instruments.len() as u128);
    for i in &books.instruments {
        w.uint(u128::from(i.id));
        w.uint(u128::from(i.currency));
        w.decimal(i128::from(i.multiplier));
        w.decimal(i128::from(i.mark));
        w.0.push(u8::from(i.has_mark) | (u8::from(i.has_tick) << 1));
        w.uint(u128::from(i.holders));
        w.uint(u128::from(i.seq));
    }
    w.uint(books.fx.len() as u128);
    for f in &books.fx {
        w.uint(u128::from(f.base));
        w.uint(u128::from(f.quote));
        w.decimal(i128::from(f.rate));
    }
    w.uint(image.portfolios.len() as u128);
    for p in &image.portfolios {
        w.uint(u128::from(p.account));
        w.uint(u128::from(p.base));
        w.amount(i128::from(p.unpriced));
        for v in [
            p.market_value,
            p.realized_pnl,
            p.unrealized_pnl,
            p.fees,
            p.day_pnl,
        ] {
            w.amount(v);
        }
        w.uint(u128::from(p.seq));
    }
    w.uint(chunks as u128);
    w.uint(books.positions.len() as u128);
    // Sections a snapshot written before them lacks (its head ends here).
    write_section(w, SECTION_INCOME, image, |p| p.income);
    write_section(w, SECTION_FX, image, |p| p.fx_pnl);
    if image.books.fx_costs {
        w.0.push(SECTION_FX_COSTS);
    }
    let s = &image.sequencer;
    if s.books_known {
        w.0.push(SECTION_BOOKS);
        w.texts(&s.strategies);
        w.uint(s.books.len() as u128);
        for &(account, strategy) in &s.books {
            w.uint(u128::from(account));
            w.uint(strategy.map_or(0, |x| u128::from(x) + 1));
        }
        image.portfolios.iter().for_each(|p| w.uint(u128::from(p.book)));
    }
    if let Some(f) = &image.firm {
        w.0.push(SECTION_FIRM);
        w.uint(u128::from(f.reporting));
        [f.realized, f.fees, f.income, f.baseline]
            .into_iter()
            .for_each(|v| w.amount(v));
    }
    if let Some(h) = &image.history {
        w.0.push(SECTION_HISTORY);
        [h.resolution_ns, h.coarse_ns, h.bucket]
            .into_iter()
            .for_each(|v| w.amount(i128::from(v)));
    }
    if !s.named_lots.is_empty() {
        w.0.push(SECTION_LOTS);
        w.uint(s.named_lots.len() as u128);
        for l in &s.named_lots {
            w.uint(u128::from(l.book));
            w.uint(u128::from(l.instrument));
            w.uint(u128::from(l.opened));
            w.text(&l.id);
        }
    }
}

/// An optional head section: the accounts whose `field` is not zero, by
/// index, with its value (nothing at all when every one is zero).
fn write_section(w: &mut Writer, tag: u8, image: &EngineImage, field: fn(&PortfolioImage) -> i128) {
    let values: Vec<(usize, i128)> = image
        .portfolios
        .iter()
        .enumerate()
        .filter(|(_, p)| field(p) != 0)
        .map(|(i, p)| (i, field(p)))
        .collect();
    if values.is_empty() {
        return;
    }
    w.0.push(tag);
    w.uint(values.len() as u128);
    for (i, v) in values {
        w.uint(i as u128);
        w.amount(v);
    }
}

fn write_sequencer(w: &mut Writer, s: &SequencerImage) {
    w.uint(u128::from(s.next_seq));
    w.texts(&s.accounts);
    w.texts(&s.instruments);
    w.texts(&s.currencies);
    w.uint(s.inst_info.len() as u128);
    for &(currency, multiplier, used) in &s.inst_info {
        w.uint(u128::from(currency));
        w.decimal(i128::from(multiplier));
        w.flag(used);
    }
    w.uint(s.account_base.len() as u128);
    s.account_base.iter().for_each(|&c| w.uint(u128::from(c)));
    let arena = s.trade_ids.as_bytes();
    w.uint(arena.len() as u128);
    w.0.extend_from_slice(arena);
}

fn write_position(w: &mut Writer, p: &PositionImage) {
    w.uint(u128::from(p.account));
    w.uint(u128::from(p.instrument));
    w.uint(u128::from(p.base));
    w.decimal(i128::from(p.qty));
    w.amount(p.cost);
    w.uint(p.lots.len() as u128);
    for l in &p.lots {
        w.decimal(i128::from(l.qty));
        w.amount(l.cost);
    }
    for v in [
        p.realized,
        p.fees,
        p.realized_base,
        p.fees_base,
        p.baseline,
        p.baseline_base,
        p.mv_base,
        p.unreal_base,
    ] {
        w.amount(v);
    }
    let income = p.income != 0 || p.income_base != 0;
    let fx = p.cost_base != 0 || p.fx_realized != 0 || p.lots.iter().any(|l| l.cost_base != 0);
    let opened = p.lots.iter().any(|l| l.opened != 0);
    w.0.push(
        if p.priced { PRICED } else { 0 }
            | if p.listed { LISTED } else { 0 }
            | if income { INCOME } else { 0 }
            | if fx { FX } else { 0 }
            | if opened { OPENED } else { 0 }
            | BOOK,
    );
    if income {
        w.amount(p.income);
        w.amount(p.income_base);
    }
    if fx {
        w.amount(p.cost_base);
        w.amount(p.fx_realized);
        p.lots.iter().for_each(|l| w.amount(l.cost_base));
    }
    w.uint(u128::from(p.book));
    if opened {
        p.lots.iter().for_each(|l| w.uint(u128::from(l.opened)));
    }
    w.uint(u128::from(p.seq));
}

mod read;

use read::{read_head, read_position};

#[cfg(test)]
mod tests;
