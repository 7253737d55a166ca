//! `Sequencer::check`: a whole batch checked in order without changing the
//! sequencer (names not interned yet get provisional ids), and the message of
//! a range refusal.

use rustc_hash::{FxHashMap, FxHashSet};

use super::lots::{Fill, Key, LotOverlay, pooled};
use super::{NameKind, SequenceError, Sequencer};
use crate::books::BookKey;
use crate::event::Event;
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId, StrategyId};
use crate::limits::Overlay;
use crate::num::Rate;
use crate::op::Op;

/// A range refusal naming the event.
pub(super) fn out_of_range(event: &Event, why: &str) -> SequenceError {
    SequenceError::OutOfRange(refusal(event, why))
}

/// "`event` refused: `why`", naming the event.
pub(super) fn refusal(event: &Event, why: &str) -> String {
    let what = match event {
        Event::Trade(t) => format!(
            "trade{} of account {:?} in {:?}",
            t.id.as_deref().map(|id| format!(" {id:?}")).unwrap_or_default(),
            t.account,
            t.instrument
        ),
        Event::Tick(t) => format!("tick of {:?}", t.instrument),
        Event::Split(s) => format!("split of {:?}", s.instrument),
        Event::Dividend(d) => format!("dividend of {:?}", d.instrument),
        Event::Fx(f) => format!("fx {:?}", f.pair),
        Event::Instrument(d) => format!("instrument {:?}", d.id),
        Event::Eod(_) => "eod".to_owned(),
    };
    format!("{what} refused: {why}")
}

/// Ids for a batch being checked: the interned ones, else provisional ones
/// numbered as interning would number them.
struct Provisional<'a> {
    seq: &'a Sequencer,
    extra: [FxHashMap<&'a str, u32>; 4],
    books: FxHashMap<BookKey, BookId>,
    trade_ids: FxHashSet<&'a str>,
}

impl<'a> Provisional<'a> {
    fn new(seq: &'a Sequencer) -> Self {
        Self {
            seq,
            extra: Default::default(),
            books: FxHashMap::default(),
            trade_ids: FxHashSet::default(),
        }
    }

    fn id(&mut self, kind: NameKind, name: &'a str) -> u32 {
        let seq: &'a Sequencer = self.seq;
        let (interner, slot) = match kind {
            NameKind::Account => (&seq.names.accounts, 0),
            NameKind::Instrument => (&seq.names.instruments, 1),
            NameKind::Currency => (&seq.names.currencies, 2),
        };
        self.provisional(interner, slot, name)
    }

    /// The id `name` has in `interner`, else the next one interning would
    /// give it after this batch's earlier new names (`slot`: the kind).
    fn provisional(&mut self, interner: &crate::ids::Interner, slot: usize, name: &'a str) -> u32 {
        if let Some(id) = interner.get(name) {
            return id;
        }
        let extra = &mut self.extra[slot];
        let next = InstrumentId::from_index(interner.len() + extra.len()).0;
        *extra.entry(name).or_insert(next)
    }

    fn instrument(&mut self, name: &'a str) -> InstrumentId {
        InstrumentId(self.id(NameKind::Instrument, name))
    }

    fn currency(&mut self, code: &'a str) -> CurrencyId {
        CurrencyId(self.id(NameKind::Currency, code))
    }

    /// The op `event` would become; `None` for a repeated trade id (or a
    /// bad pair, which the check refuses before asking).
    fn op(&mut self, event: &'a Event) -> Option<Op> {
        if let Event::Trade(t) = event
            && let Some(id) = t.id.as_deref()
            && (self.seq.trade_ids.contains(id) || !self.trade_ids.insert(id))
        {
            return None;
        }
        super::translate::op_of(self, event).ok()
    }
}

impl<'a> super::translate::Ids<'a> for Provisional<'a> {
    fn instrument_id(&mut self, name: &'a str) -> InstrumentId {
        self.instrument(name)
    }

    fn currency_id(&mut self, code: &'a str) -> CurrencyId {
        self.currency(code)
    }

    fn trade_ids(&mut self, name: &'a str, strategy: Option<&'a str>) -> super::translate::TradeKeys {
        let account = AccountId(self.id(NameKind::Account, name));
        let seq: &'a Sequencer = self.seq;
        let strategy = strategy.map(|s| StrategyId(self.provisional(&seq.names.strategies, 3, s)));
        let key = BookKey { account, strategy };
        let next = self.seq.names.books.len() + self.books.len();
        let book = match self.seq.names.books.get(key) {
            Some(b) => b,
            None => *self.books.entry(key).or_insert_with(|| BookId::from_index(next)),
        };
        let base = match seq.fixed_base(account) {
            Some(b) => b,
            None => {
                let code = seq.bases.accounts.get(name).or(seq.bases.default.as_ref());
                self.currency(code.map_or("USD", String::as_str))
            }
        };
        super::translate::TradeKeys {
            account,
            book,
            base,
            method: seq.methods.of(name),
        }
    }
}

impl Sequencer {
    /// Checks a batch without changing anything: every event in order must
    /// be accepted (instrument redefinitions and the range checks see the
    /// batch's earlier events), so submitting it right after cannot fail half-way.
    pub fn check(&self, events: &[Event]) -> Result<(), (usize, SequenceError)> {
        let mut used: Vec<&str> = Vec::new();
        let mut defined: Vec<(&str, &str, Rate)> = Vec::new();
        let mut limits = Overlay::new(&self.limits);
        let mut ids = Provisional::new(self);
        // Lots matter only to a batch naming some: it sees the lots its
        // earlier trades open and close.
        let mut lots = events
            .iter()
            .any(|e| matches!(e, Event::Trade(t) if !t.close_lots.is_empty()))
            .then(|| LotOverlay::new(&self.lots));
        let mut seq = self.next_seq;
        for (i, e) in events.iter().enumerate() {
            match e {
                Event::Instrument(d) => {
                    let info = self
                        .names
                        .instruments
                        .get(&d.id)
                        .and_then(|id| self.instruments.get(id as usize))
                        .map(|info| {
                            (
                                info.used,
                                self.names.currency(info.currency).to_owned(),
                                info.multiplier.rate(),
                            )
                        });
                    let (was_used, cur_ccy, cur_mult) = match defined.iter().rev().find(|x| x.0 == d.id) {
                        Some(&(_, c, m)) => (info.as_ref().is_some_and(|x| x.0), c.to_owned(), m),
                        None => info.unwrap_or((false, "USD".into(), Rate::from_int(1))),
                    };
                    let in_use = was_used || used.contains(&d.id.as_str());
                    if in_use && (cur_ccy != d.currency || cur_mult != d.multiplier) {
                        return Err((
                            i,
                            SequenceError::InstrumentRedefined {
                                instrument: d.id.clone(),
                                currency: cur_ccy,
                                multiplier: cur_mult,
                            },
                        ));
                    }
                    defined.push((&d.id, &d.currency, d.multiplier));
                }
                Event::Fx(f) if f.currencies().is_none() => {
                    return Err((i, SequenceError::BadPair(f.pair.clone())));
                }
                Event::Trade(t) => used.push(&t.instrument),
                Event::Tick(t) => used.push(&t.instrument),
                Event::Split(s) => used.push(&s.instrument),
                Event::Dividend(d) => used.push(&d.instrument),
                _ => {}
            }
            if let Some(op) = ids.op(e) {
                if let Some(lots) = lots.as_mut() {
                    check_lots(lots, seq, e, &op)
                        .map_err(|why| (i, SequenceError::CloseLots(refusal(e, &why))))?;
                }
                limits.accept(&op).map_err(|why| (i, out_of_range(e, &why)))?;
                seq += 1;
            }
        }
        Ok(())
    }
}

/// Checks a batch event's `close_lots` against the lots of the batch so
/// far, and moves them by its trade or split.
fn check_lots(lots: &mut LotOverlay<'_>, seq: u64, event: &Event, op: &Op) -> Result<(), String> {
    match (event, *op) {
        (
            Event::Trade(t),
            Op::Trade {
                book,
                instrument,
                qty,
                price,
                method,
                ..
            },
        ) => {
            if !method.keeps_lots() {
                if t.close_lots.is_empty() {
                    return Ok(());
                }
                return Err(pooled(&t.account, method));
            }
            let fill = Fill {
                id: t.id.as_deref(),
                qty,
                price,
            };
            lots.trade(seq, Key { book, instrument }, method, fill, &t.close_lots)
        }
        (_, Op::Split { instrument, ratio }) => {
            lots.split(instrument, ratio);
            Ok(())
        }
        _ => Ok(()),
    }
}
