//! Reading a snapshot's head and positions (the layouts are in the parent
//! module's documentation).

use super::{
    BOOK, FX, Head, INCOME, LISTED, OPENED, PRICED, SECTION_BOOKS, SECTION_FIRM, SECTION_FX,
    SECTION_FX_COSTS, SECTION_HISTORY, SECTION_INCOME, SECTION_LOTS,
};
use crate::history::HistoryImage;
use crate::image::{
    BookImage, EngineImage, FirmImage, FxImage, InstImage, LotImage, PortfolioImage, PositionImage,
    SequencerImage,
};
use crate::ledger::Method;
use crate::sequencer::NamedLot;
use crate::store::frame::FrameError;
use crate::store::varint::Reader;
use crate::trade_ids::TradeIdArena;

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
    pub(super) fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, FrameError> {
        let n: usize = self.int(what)?;
        if n.saturating_mul(min_bytes) > self.remaining() {
            return Err(self.bad(&format!("{what} {n} runs past the end")));
        }
        Ok(n)
    }
}

pub(super) fn read_head(r: &mut Reader<'_>) -> Result<Head, FrameError> {
    let seq = r.int("seq")?;
    let methods = r.byte()?;
    let mut sequencer = read_sequencer(r)?;
    sequencer.account_method = read_methods(r, methods, sequencer.accounts.len())?;
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
            book: account,
            base,
            unpriced,
            market_value: r.amount("market value")?,
            realized_pnl: r.amount("realized")?,
            unrealized_pnl: r.amount("unrealized")?,
            fees: r.amount("fees")?,
            income: 0,
            fx_pnl: 0,
            day_pnl: r.amount("day")?,
            seq: r.int("portfolio seq")?,
        });
    }
    let chunks = r.int("chunk count")?;
    let positions = r.int("position count")?;
    let mut fx_costs = false;
    let mut firm = None;
    let mut history = None;
    while !r.is_done() {
        match r.byte()? {
            SECTION_FX_COSTS => fx_costs = true,
            SECTION_BOOKS => read_books(r, &mut sequencer, &mut portfolios)?,
            SECTION_FIRM => {
                firm = Some(FirmImage {
                    reporting: r.int("currency id")?,
                    realized: r.amount("firm realized")?,
                    fees: r.amount("firm fees")?,
                    income: r.amount("firm income")?,
                    baseline: r.amount("firm baseline")?,
                });
            }
            SECTION_HISTORY => {
                let mut field = |what| {
                    r.amount(what)
                        .and_then(|v| i64::try_from(v).map_err(|_| r.bad(&format!("{what} out of range"))))
                };
                history = Some(HistoryImage {
                    resolution_ns: field("history resolution")?,
                    coarse_ns: field("history coarse resolution")?,
                    bucket: field("history bucket")?,
                });
            }
            SECTION_LOTS => {
                let n = r.count("named lot count", 4)?;
                let mut lots = Vec::with_capacity(n);
                for _ in 0..n {
                    lots.push(NamedLot {
                        book: r.int("book id")?,
                        instrument: r.int("instrument id")?,
                        opened: r.int("lot opening seq")?,
                        id: r.text()?,
                    });
                }
                sequencer.named_lots = lots;
            }
            SECTION_INCOME => read_section(r, &mut portfolios, |p, v| p.income = v)?,
            SECTION_FX => read_section(r, &mut portfolios, |p, v| p.fx_pnl = v)?,
            tag => return Err(r.bad(&format!("unknown head section {tag}"))),
        }
    }
    let image = EngineImage {
        seq,
        sequencer,
        books: BookImage {
            instruments,
            positions: Vec::new(),
            fx,
            fx_costs,
        },
        portfolios,
        firm,
        history,
    };
    Ok(Head {
        image,
        chunks,
        positions,
    })
}

/// The books section: the strategies, the book table, each portfolio's
/// book.
fn read_books(
    r: &mut Reader<'_>,
    sequencer: &mut SequencerImage,
    portfolios: &mut [PortfolioImage],
) -> Result<(), FrameError> {
    sequencer.strategies = r.texts("strategy count")?;
    let n = r.count("book count", 2)?;
    let mut books = Vec::with_capacity(n);
    for _ in 0..n {
        let account = r.int("account id")?;
        let strategy: u32 = r.int("strategy id")?;
        books.push((account, strategy.checked_sub(1)));
    }
    sequencer.books = books;
    sequencer.books_known = true;
    for p in portfolios.iter_mut() {
        p.book = r.int("book id")?;
    }
    Ok(())
}

/// Every account's cost method: one code each after the sequencer when the
/// head's byte says so, else the byte's one method for all.
fn read_methods(r: &mut Reader<'_>, byte: u8, accounts: usize) -> Result<Vec<Method>, FrameError> {
    let code = |r: &mut Reader<'_>, c: u8| {
        Method::from_code(c).ok_or_else(|| r.bad(&format!("unknown cost method {c}")))
    };
    if byte != super::PER_ACCOUNT {
        let m = code(r, byte)?;
        return Ok(vec![m; accounts]);
    }
    (0..accounts)
        .map(|_| {
            let c = r.byte()?;
            code(r, c)
        })
        .collect()
}

/// An optional head section: a count, then index and amount, each set by
/// `set` on its portfolio.
fn read_section(
    r: &mut Reader<'_>,
    portfolios: &mut [PortfolioImage],
    set: fn(&mut PortfolioImage, i128),
) -> Result<(), FrameError> {
    let n = r.count("section count", 2)?;
    for _ in 0..n {
        let i: usize = r.int("portfolio index")?;
        let v = r.amount("amount")?;
        let p = portfolios
            .get_mut(i)
            .ok_or_else(|| r.bad(&format!("section entry of portfolio {i}, beyond the portfolios")))?;
        set(p, v);
    }
    Ok(())
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
        account_method: Vec::new(),
        trade_ids,
        strategies: Vec::new(),
        books: Vec::new(),
        books_known: false,
        named_lots: Vec::new(),
    })
}

pub(super) fn read_position(r: &mut Reader<'_>) -> Result<PositionImage, FrameError> {
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
            cost_base: 0,
            opened: 0,
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
    if flags > (PRICED | LISTED | INCOME | FX | BOOK | OPENED) {
        return Err(r.bad(&format!("unknown position flags {flags}")));
    }
    let (income, income_base) = if flags & INCOME != 0 {
        (r.amount("income")?, r.amount("income in base")?)
    } else {
        (0, 0)
    };
    let (cost_base, fx_realized) = if flags & FX != 0 {
        let parts = (r.amount("base cost")?, r.amount("realized currency effect")?);
        for lot in &mut lots {
            lot.cost_base = r.amount("lot base cost")?;
        }
        parts
    } else {
        (0, 0)
    };
    let book = if flags & BOOK != 0 {
        r.int("book id")?
    } else {
        account
    };
    if flags & OPENED != 0 {
        for lot in &mut lots {
            lot.opened = r.int("lot opening seq")?;
        }
    }
    Ok(PositionImage {
        account,
        book,
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
        income,
        income_base,
        cost_base,
        fx_realized,
        mv_base,
        unreal_base,
        priced: flags & PRICED != 0,
        listed: flags & LISTED != 0,
        seq: r.int("position seq")?,
    })
}
