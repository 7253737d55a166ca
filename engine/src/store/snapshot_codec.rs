//! The compact encoding of a snapshot (store format 3).
//!
//! A snapshot is one *head* and a number of *chunks* of positions, each a
//! separate value with its own checksum, so that they are encoded and
//! decoded by several threads at once and a million positions never make
//! one huge value. Numbers are varints (`store::varint`): ids, counts and
//! seqs as unsigned varints, quantities, prices and rates as folded
//! decimals, exact amounts (10^-18) as a length byte and their zigzag's
//! shortest little-endian bytes, so a zero costs one byte. A position costs 30–110 bytes instead of the 218 of a fixed-width
//! archive. The trade-id set is stored as its arena, as it is in memory.
//!
//! Layouts (each value `[3][CRC-32 of the rest][payload]`):
//! - head: seq, method, the sequencer (next seq, the three name lists,
//!   instrument info, account bases, trade-id arena), the instruments, the
//!   FX rates, the account totals, then the chunk and position counts;
//! - chunk: a position count, then each position's fields in
//!   [`PositionImage`] order.
//!
//! Decoding checks the checksum first, then refuses anything truncated,
//! overlong or out of range with a clear error; it never panics.

use crate::image::{
    BookImage, EngineImage, FxImage, InstImage, LotImage, PortfolioImage, PositionImage, Positions,
    SequencerImage,
};
use crate::store::frame::FrameError;
use crate::store::varint::{Reader, Writer};
use crate::trade_ids::TradeIdArena;

/// The frame format byte of a snapshot value.
const FORMAT: u8 = 3;
const HEADER: usize = 5;
/// Positions per chunk: values of a few MB, enough chunks to share out.
pub const CHUNK_POSITIONS: usize = 32_768;

const PRICED: u8 = 1;
const LISTED: u8 = 2;

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
    let mut w = Writer(vec![FORMAT, 0, 0, 0, 0]);
    fill(&mut w);
    let crc = crc32fast::hash(&w.0[HEADER..]);
    w.0[1..HEADER].copy_from_slice(&crc.to_le_bytes());
    w.0
}

/// The payload of a value, its format and checksum checked.
fn payload(bytes: &[u8]) -> Result<&[u8], FrameError> {
    if bytes.len() < HEADER {
        return Err(FrameError::Short(bytes.len()));
    }
    if bytes[0] != FORMAT {
        return Err(FrameError::Format(bytes[0]));
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let computed = crc32fast::hash(&bytes[HEADER..]);
    if stored != computed {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok(&bytes[HEADER..])
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
    w.0.push(image.method);
    write_sequencer(w, &image.sequencer);
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
    w.0.push(if p.priced { PRICED } else { 0 } | if p.listed { LISTED } else { 0 });
    w.uint(u128::from(p.seq));
}

impl Reader<'_> {
    fn flag(&mut self, what: &str) -> Result<bool, FrameError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.bad(&format!("{what}: {b} is not a flag"))),
        }
    }

    fn texts(&mut self, what: &str) -> Result<Vec<String>, FrameError> {
        let n: usize = self.int(what)?;
        let mut out = Vec::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            out.push(self.text()?);
        }
        Ok(out)
    }

    /// A count of items that take `min_bytes` each at least.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, FrameError> {
        let n: usize = self.int(what)?;
        if n.saturating_mul(min_bytes) > self.remaining() {
            return Err(self.bad(&format!("{what} {n} runs past the end")));
        }
        Ok(n)
    }
}

fn read_head(r: &mut Reader<'_>) -> Result<Head, FrameError> {
    let seq = r.int("seq")?;
    let method = r.byte()?;
    let sequencer = read_sequencer(r)?;
    let n = r.count("instrument count", 7)?;
    let mut instruments = Vec::with_capacity(n);
    for _ in 0..n {
        let (id, currency) = (r.int("instrument id")?, r.int("currency id")?);
        let (multiplier, mark) = (r.decimal("multiplier")?, r.decimal("mark")?);
        let flags = r.byte()?;
        if flags > 3 {
            return Err(r.bad(&format!("unknown instrument flags {flags}")));
        }
        instruments.push(InstImage {
            id,
            currency,
            multiplier,
            mark,
            has_mark: flags & 1 != 0,
            has_tick: flags & 2 != 0,
            holders: r.int("holder count")?,
            seq: r.int("instrument seq")?,
        });
    }
    let n = r.count("rate count", 3)?;
    let mut fx = Vec::with_capacity(n);
    for _ in 0..n {
        fx.push(FxImage {
            base: r.int("currency id")?,
            quote: r.int("currency id")?,
            rate: r.decimal("rate")?,
        });
    }
    let n = r.count("portfolio count", 9)?;
    let mut portfolios = Vec::with_capacity(n);
    for _ in 0..n {
        let (account, base) = (r.int("account id")?, r.int("currency id")?);
        let unpriced = i64::try_from(r.amount("unpriced")?).map_err(|_| r.bad("unpriced out of range"))?;
        portfolios.push(PortfolioImage {
            account,
            base,
            unpriced,
            market_value: r.amount("market value")?,
            realized_pnl: r.amount("realized")?,
            unrealized_pnl: r.amount("unrealized")?,
            fees: r.amount("fees")?,
            day_pnl: r.amount("day")?,
            seq: r.int("portfolio seq")?,
        });
    }
    let chunks = r.int("chunk count")?;
    let positions = r.int("position count")?;
    let image = EngineImage {
        seq,
        method,
        sequencer,
        books: BookImage {
            instruments,
            positions: Vec::new(),
            fx,
        },
        portfolios,
    };
    Ok(Head {
        image,
        chunks,
        positions,
    })
}

fn read_sequencer(r: &mut Reader<'_>) -> Result<SequencerImage, FrameError> {
    let next_seq = r.int("next seq")?;
    let accounts = r.texts("account count")?;
    let instruments = r.texts("instrument count")?;
    let currencies = r.texts("currency count")?;
    let n = r.count("instrument info count", 3)?;
    let mut inst_info = Vec::with_capacity(n);
    for _ in 0..n {
        inst_info.push((r.int("currency id")?, r.decimal("multiplier")?, r.flag("used")?));
    }
    let n = r.count("account base count", 1)?;
    let mut account_base = Vec::with_capacity(n);
    for _ in 0..n {
        account_base.push(r.int("currency id")?);
    }
    let len: usize = r.int("trade-id arena length")?;
    let arena = r.bytes(len)?.to_vec();
    let trade_ids = TradeIdArena::from_bytes(arena).ok_or_else(|| r.bad("malformed trade-id arena"))?;
    Ok(SequencerImage {
        next_seq,
        accounts,
        instruments,
        currencies,
        inst_info,
        account_base,
        trade_ids,
    })
}

fn read_position(r: &mut Reader<'_>) -> Result<PositionImage, FrameError> {
    let (account, instrument, base) = (
        r.int("account id")?,
        r.int("instrument id")?,
        r.int("currency id")?,
    );
    let (qty, cost) = (r.decimal("quantity")?, r.amount("cost")?);
    let n = r.count("lot count", 2)?;
    let mut lots = Vec::with_capacity(n);
    for _ in 0..n {
        lots.push(LotImage {
            qty: r.decimal("lot quantity")?,
            cost: r.amount("lot cost")?,
        });
    }
    let mut amounts = [0i128; 8];
    for a in &mut amounts {
        *a = r.amount("amount")?;
    }
    let [
        realized,
        fees,
        realized_base,
        fees_base,
        baseline,
        baseline_base,
        mv_base,
        unreal_base,
    ] = amounts;
    let flags = r.byte()?;
    if flags > (PRICED | LISTED) {
        return Err(r.bad(&format!("unknown position flags {flags}")));
    }
    Ok(PositionImage {
        account,
        instrument,
        base,
        qty,
        cost,
        lots,
        realized,
        fees,
        realized_base,
        fees_base,
        baseline,
        baseline_base,
        mv_base,
        unreal_base,
        priced: flags & PRICED != 0,
        listed: flags & LISTED != 0,
        seq: r.int("position seq")?,
    })
}

#[cfg(test)]
mod tests;
