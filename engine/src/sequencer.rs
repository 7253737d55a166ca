//! The sequencer: validates and interns events, drops repeated trade ids,
//! assigns the global `seq`, and prepares the routed ops.
//!
//! It is single-threaded and deterministic: the same events in the same order
//! get the same ids, the same seqs and the same shards, which is what makes
//! replay and recovery reproduce the live books.

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use std::hash::Hasher;

use crate::event::Event;
use crate::ids::{AccountId, CurrencyId, InstrumentId, Names};
use crate::num::{Multiplier, Quantity, Rate};
use crate::op::{Op, SeqOp};

/// Why the sequencer refused an event that decoded fine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceError {
    /// An instrument already traded may not change currency or multiplier.
    #[error(
        "instrument {instrument:?} is already in use as {currency} × {multiplier}; \
         redefining it would rewrite existing positions"
    )]
    InstrumentRedefined {
        /// The instrument.
        instrument: String,
        /// Its current currency.
        currency: String,
        /// Its current multiplier.
        multiplier: Rate,
    },
    /// The FX pair is not `BASE/QUOTE`.
    #[error("pair {0:?} must look like \"EUR/USD\"")]
    BadPair(String),
}

#[derive(Clone, Copy, Debug)]
struct InstInfo {
    currency: CurrencyId,
    multiplier: Multiplier,
    used: bool,
    shard: u16,
}

/// Account base currencies: one default and per-account overrides.
#[derive(Clone, Debug, Default)]
pub struct BaseCurrencies {
    /// Base currency of accounts not listed (default `USD`).
    pub default: Option<String>,
    /// Per-account base currency.
    pub accounts: FxHashMap<String, String>,
}

/// Assigns `seq`s and turns edge events into routed ops.
#[derive(Debug)]
pub struct Sequencer {
    names: Names,
    instruments: Vec<InstInfo>,
    account_base: Vec<CurrencyId>,
    bases: BaseCurrencies,
    trade_ids: FxHashSet<Box<str>>,
    next_seq: u64,
    shards: u16,
}

impl Sequencer {
    /// A sequencer routing to `shards` shards (at least 1).
    #[must_use]
    pub fn new(shards: usize, bases: BaseCurrencies) -> Self {
        Self {
            names: Names::default(),
            instruments: Vec::new(),
            account_base: Vec::new(),
            bases,
            trade_ids: FxHashSet::default(),
            next_seq: 1,
            shards: u16::try_from(shards.clamp(1, usize::from(u16::MAX))).unwrap_or(1),
        }
    }

    /// The names behind the ids handed out so far.
    #[must_use]
    pub const fn names(&self) -> &Names {
        &self.names
    }

    /// The last `seq` assigned (0 before any).
    #[must_use]
    pub const fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The shard an instrument is routed to.
    #[must_use]
    pub fn shard_of(&self, instrument: InstrumentId) -> usize {
        self.instruments
            .get(instrument.index())
            .map_or(0, |i| usize::from(i.shard))
    }

    /// Validates, interns and numbers one event. `Ok(None)` means a repeated
    /// trade id: the event is ignored, as design.md requires.
    pub fn sequence(&mut self, event: &Event) -> Result<Option<SeqOp>, SequenceError> {
        let Some(op) = self.prepare(event)? else {
            return Ok(None);
        };
        if let Event::Trade(t) = event
            && let Some(id) = &t.id
        {
            self.trade_ids.insert(id.as_str().into());
        }
        if let Op::Instrument {
            instrument,
            currency,
            multiplier,
        } = op
        {
            let info = &mut self.instruments[instrument.index()];
            (info.currency, info.multiplier) = (currency, multiplier);
        }
        if let Op::Trade { instrument, .. } | Op::Tick { instrument, .. } | Op::Split { instrument, .. } = op
        {
            self.instruments[instrument.index()].used = true;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Some(SeqOp { seq, op }))
    }

    /// Checks and interns an event without numbering it (no state that
    /// matters changes: only names are interned).
    fn prepare(&mut self, event: &Event) -> Result<Option<Op>, SequenceError> {
        Ok(Some(match event {
            Event::Instrument(d) => {
                let instrument = self.instrument(&d.id);
                let currency = self.currency(&d.currency);
                let multiplier = Multiplier::new(d.multiplier);
                let info = self.instruments[instrument.index()];
                if info.used && (info.currency != currency || info.multiplier != multiplier) {
                    return Err(SequenceError::InstrumentRedefined {
                        instrument: d.id.clone(),
                        currency: self.names.currency(info.currency).to_owned(),
                        multiplier: info.multiplier.rate(),
                    });
                }
                Op::Instrument {
                    instrument,
                    currency,
                    multiplier,
                }
            }
            Event::Trade(t) => {
                if t.id.as_deref().is_some_and(|id| self.trade_ids.contains(id)) {
                    return Ok(None);
                }
                let account = self.account(&t.account);
                Op::Trade {
                    account,
                    base: self.account_base[account.index()],
                    instrument: self.instrument(&t.instrument),
                    qty: Quantity::from_raw(t.qty.raw() * t.side.sign()),
                    price: t.price,
                    fee: t.fee,
                }
            }
            Event::Tick(t) => Op::Tick {
                instrument: self.instrument(&t.instrument),
                price: t.price,
            },
            Event::Fx(f) => {
                let (b, q) = f
                    .currencies()
                    .ok_or_else(|| SequenceError::BadPair(f.pair.clone()))?;
                Op::Fx {
                    base: self.currency(b),
                    quote: self.currency(q),
                    rate: f.rate,
                }
            }
            Event::Eod(e) => Op::Eod { date: e.date },
            Event::Split(s) => Op::Split {
                instrument: self.instrument(&s.instrument),
                ratio: s.ratio,
            },
        }))
    }

    fn currency(&mut self, code: &str) -> CurrencyId {
        CurrencyId(self.names.currencies.intern(code))
    }

    fn instrument(&mut self, name: &str) -> InstrumentId {
        let id = InstrumentId(self.names.instruments.intern(name));
        if self.instruments.len() <= id.index() {
            let mut h = FxHasher::default();
            h.write(name.as_bytes());
            let shard = u16::try_from(h.finish() % u64::from(self.shards)).unwrap_or(0);
            self.instruments.push(InstInfo {
                currency: CurrencyId::USD,
                multiplier: Multiplier::ONE,
                used: false,
                shard,
            });
        }
        id
    }

    fn account(&mut self, name: &str) -> AccountId {
        let id = AccountId(self.names.accounts.intern(name));
        if self.account_base.len() <= id.index() {
            let code = self
                .bases
                .accounts
                .get(name)
                .or(self.bases.default.as_ref())
                .map_or("USD", String::as_str)
                .to_owned();
            let base = self.currency(&code);
            self.account_base.push(base);
        }
        id
    }
}
