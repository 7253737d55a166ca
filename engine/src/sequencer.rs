//! The sequencer: validates and interns events, drops repeated trade ids,
//! and assigns the global `seq`.
//!
//! It is single-threaded and deterministic: the same events in the same order
//! get the same ids and the same seqs, which is what makes replay and
//! recovery reproduce the live books. It records the names it interns so the
//! journal can carry them, and can be rebuilt from a journal or an image.

use rustc_hash::FxHashMap;

use crate::books::BookKey;
use crate::event::Event;
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId, Names, StrategyId};
use crate::lean::grow_to;
use crate::ledger::{CostMethods, Method};
use crate::num::{Multiplier, Rate};
use crate::op::{Op, SeqOp};
use crate::trade_ids::TradeIds;

#[path = "sequencer_check.rs"]
mod check;
#[path = "sequencer_image.rs"]
mod image;
#[path = "sequencer_lots.rs"]
mod lots;
pub use lots::NamedLot;
#[path = "sequencer_replay.rs"]
mod replay;
#[path = "sequencer_op.rs"]
mod translate;
use check::out_of_range;

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
    /// Accepting the event would take a quantity or a price out of range.
    #[error("{0}")]
    OutOfRange(String),
    /// A trade's `close_lots` names a lot that is not open in its
    /// position, or its account keeps no lots (`avg`).
    #[error("{0}")]
    CloseLots(String),
    /// A journal uses an id that no name introduced (a corrupt store).
    #[error("journal uses {kind} id {id}, which no name before it introduced")]
    UnknownId {
        /// Which namespace.
        kind: &'static str,
        /// The id.
        id: u32,
    },
    /// A journal or image names ids inconsistently (a corrupt store).
    #[error("journal names {kind} id {id} {name:?}, which conflicts with what came before")]
    NameConflict {
        /// Which namespace.
        kind: &'static str,
        /// The id.
        id: u32,
        /// The name.
        name: String,
    },
}

pub use crate::ids::{NameKind, NewName};

#[derive(Clone, Copy, Debug)]
struct InstInfo {
    currency: CurrencyId,
    multiplier: Multiplier,
    used: bool,
}

/// What the journal keeps of an event beside its op: a trade's id and
/// strategy (what a replay needs to drop repeats and find the trade's
/// book), and the event's timestamp (the P&L history's clock).
#[derive(Clone, Copy, Debug, Default)]
pub struct TradeTags<'a> {
    /// The trade's id.
    pub trade_id: Option<&'a str>,
    /// The trade's strategy.
    pub strategy: Option<&'a str>,
    /// The trade's `close_lots`.
    pub close_lots: &'a [String],
    /// The event's journaled timestamp (`store::journal::event_ts`).
    pub ts: i64,
}

/// Account base currencies: one default and per-account overrides.
#[derive(Clone, Debug, Default)]
pub struct BaseCurrencies {
    /// Base currency of accounts not listed (default `USD`).
    pub default: Option<String>,
    /// Per-account base currency.
    pub accounts: FxHashMap<String, String>,
}

pub use crate::image::SequencerImage;

/// The base of an account id that has not traded yet (its name was
/// interned by an event the sequencer then refused), in `account_base`.
const NO_BASE: CurrencyId = CurrencyId(u32::MAX);

/// Assigns `seq`s and turns edge events into ops.
#[derive(Debug)]
pub struct Sequencer {
    names: Names,
    instruments: Vec<InstInfo>,
    /// Each account's base currency once it has traded, by account id
    /// ([`NO_BASE`] for an id interned by an event that was refused).
    account_base: Vec<CurrencyId>,
    bases: BaseCurrencies,
    /// The cost method of every account id so far, resolved from
    /// `methods` by name when first asked.
    account_method: Vec<Method>,
    methods: CostMethods,
    trade_ids: TradeIds,
    /// The open lots of positions under a lot method (`close_lots`).
    lots: lots::LotShadow,
    next_seq: u64,
    new_names: Vec<NewName>,
    limits: crate::limits::Limits,
}

impl Sequencer {
    /// An empty sequencer.
    #[must_use]
    pub fn new(bases: BaseCurrencies) -> Self {
        Self {
            names: Names::default(),
            instruments: Vec::new(),
            account_base: Vec::new(),
            bases,
            account_method: Vec::new(),
            methods: CostMethods::default(),
            trade_ids: TradeIds::default(),
            lots: lots::LotShadow::default(),
            next_seq: 1,
            new_names: Vec::new(),
            limits: crate::limits::Limits::default(),
        }
    }

    /// This sequencer with every account's cost method taken from
    /// `methods` (default: all `avg`).
    #[must_use]
    pub fn with_methods(mut self, methods: CostMethods) -> Self {
        self.methods = methods;
        self.account_method.clear();
        self
    }

    /// The cost method of `account`, resolved by its name on first use.
    fn method_of(&mut self, account: AccountId) -> Method {
        while self.account_method.len() <= account.index() {
            let next = AccountId::from_index(self.account_method.len());
            let method = self.methods.of(self.names.account(next));
            self.account_method.push(method);
        }
        self.account_method[account.index()]
    }

    /// The id of the firm's reporting currency `code` (default USD),
    /// interned if new (its name then goes with the next journal batch).
    pub fn reporting_currency(&mut self, code: Option<&str>) -> CurrencyId {
        self.currency(code.unwrap_or("USD"))
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

    /// Names interned since the last call (for the next journal batch).
    pub fn take_new_names(&mut self) -> Vec<NewName> {
        std::mem::take(&mut self.new_names)
    }

    /// Validates, interns and numbers one event. `Ok(None)` means a repeated
    /// trade id: the event is ignored (docs/events.md, "Repeated trade ids").
    pub fn sequence(&mut self, event: &Event) -> Result<Option<SeqOp>, SequenceError> {
        self.lots.clear_picks();
        let Some(op) = self.prepare(event)? else {
            return Ok(None);
        };
        if let (Event::Trade(t), Op::Trade { .. }) = (event, op)
            && !t.close_lots.is_empty()
        {
            self.resolve_lots(&op, &t.account, &t.close_lots)
                .map_err(|why| SequenceError::CloseLots(check::refusal(event, &why)))?;
        }
        self.limits.accept(&op).map_err(|why| out_of_range(event, &why))?;
        let seq = self.next_seq;
        let (trade_id, strategy) = match event {
            Event::Trade(t) => (t.id.as_deref(), t.strategy.as_deref()),
            _ => (None, None),
        };
        self.commit(seq, &op, trade_id, strategy);
        Ok(Some(SeqOp { seq, op }))
    }

    /// Records an accepted op (its range bounds already recorded): registry,
    /// trade id, the trade's book, next seq.
    fn commit(&mut self, seq: u64, op: &Op, trade_id: Option<&str>, strategy: Option<&str>) {
        if let Some(id) = trade_id {
            self.trade_ids.insert(id);
        }
        if let Op::Trade { account, book, .. } = *op {
            let numbered = self.intern_book(account, strategy);
            debug_assert_eq!(numbered, book, "a trade's book is numbered as it was prepared");
        }
        match *op {
            Op::Instrument {
                instrument,
                currency,
                multiplier,
            } => {
                self.ensure_instrument(instrument);
                let info = &mut self.instruments[instrument.index()];
                (info.currency, info.multiplier) = (currency, multiplier);
            }
            Op::Trade {
                instrument,
                account,
                base,
                book,
                qty,
                price,
                method,
                ..
            } => {
                if method.keeps_lots() {
                    let fill = lots::Fill {
                        id: trade_id,
                        qty,
                        price,
                    };
                    self.lots.trade(seq, lots::Key { book, instrument }, method, fill);
                }
                self.ensure_instrument(instrument);
                self.instruments[instrument.index()].used = true;
                if self.account_base.len() <= account.index() {
                    self.account_base.resize(account.index() + 1, NO_BASE);
                }
                self.account_base[account.index()] = base;
            }
            Op::Split { instrument, ratio } => {
                self.lots.split(instrument, ratio);
                self.ensure_instrument(instrument);
            }
            Op::Tick { instrument, .. } | Op::Dividend { instrument, .. } => {
                // A price alone does not fix an instrument's currency: only
                // a trade (a position) does.
                self.ensure_instrument(instrument);
            }
            Op::Fx { .. } | Op::Eod { .. } | Op::Mark { .. } | Op::Pick { .. } => {}
        }
        self.next_seq = seq + 1;
    }

    /// The book of `account` for `strategy`: its id, or the one its first
    /// trade's commit will give it.
    fn next_book(&self, account: AccountId, strategy: Option<&str>) -> BookId {
        let strategy = match strategy {
            None => None,
            Some(s) => match self.names.strategies.get(s) {
                Some(id) => Some(StrategyId(id)),
                None => return BookId::from_index(self.names.books.len()),
            },
        };
        self.names
            .books
            .get(BookKey { account, strategy })
            .unwrap_or_else(|| BookId::from_index(self.names.books.len()))
    }

    /// Numbers the book of `account` for `strategy` (and the strategy)
    /// if it is new.
    fn intern_book(&mut self, account: AccountId, strategy: Option<&str>) -> BookId {
        let strategy = strategy.map(|s| StrategyId(self.names.strategies.intern(s)));
        self.names.books.intern(BookKey { account, strategy }).0
    }

    fn ensure_instrument(&mut self, id: InstrumentId) {
        if self.instruments.len() <= id.index() {
            grow_to(&mut self.instruments, id.index() + 1, || InstInfo {
                currency: CurrencyId::USD,
                multiplier: Multiplier::ONE,
                used: false,
            });
        }
    }

    /// Checks and interns an event without numbering it (only names are
    /// interned; nothing else changes).
    fn prepare(&mut self, event: &Event) -> Result<Option<Op>, SequenceError> {
        if let Event::Trade(t) = event
            && t.id.as_deref().is_some_and(|id| self.trade_ids.contains(id))
        {
            return Ok(None);
        }
        let op = translate::op_of(self, event)?;
        if let (
            Event::Instrument(d),
            Op::Instrument {
                instrument,
                currency,
                multiplier,
            },
        ) = (event, op)
        {
            let info = self.instruments[instrument.index()];
            if info.used && (info.currency != currency || info.multiplier != multiplier) {
                return Err(SequenceError::InstrumentRedefined {
                    instrument: d.id.clone(),
                    currency: self.names.currency(info.currency).to_owned(),
                    multiplier: info.multiplier.rate(),
                });
            }
        }
        Ok(Some(op))
    }

    fn intern(&mut self, kind: NameKind, name: &str) -> u32 {
        let interner = match kind {
            NameKind::Account => &mut self.names.accounts,
            NameKind::Instrument => &mut self.names.instruments,
            NameKind::Currency => &mut self.names.currencies,
        };
        let before = interner.len();
        let id = interner.intern(name);
        if interner.len() > before {
            self.new_names.push(NewName {
                kind,
                id,
                name: name.to_owned(),
            });
        }
        id
    }

    fn currency(&mut self, code: &str) -> CurrencyId {
        CurrencyId(self.intern(NameKind::Currency, code))
    }

    fn instrument(&mut self, name: &str) -> InstrumentId {
        let id = InstrumentId(self.intern(NameKind::Instrument, name));
        self.ensure_instrument(id);
        id
    }

    fn account(&mut self, name: &str) -> AccountId {
        AccountId(self.intern(NameKind::Account, name))
    }

    /// The base currency of an account: fixed when it first trades.
    fn account_base_of(&mut self, account: AccountId, name: &str) -> CurrencyId {
        if let Some(b) = self.fixed_base(account) {
            return b;
        }
        let code = self
            .bases
            .accounts
            .get(name)
            .or(self.bases.default.as_ref())
            .map_or("USD", String::as_str)
            .to_owned();
        self.currency(&code)
    }

    /// The base currency `account` was fixed to by its first trade, if it
    /// has traded.
    fn fixed_base(&self, account: AccountId) -> Option<CurrencyId> {
        self.account_base
            .get(account.index())
            .copied()
            .filter(|&b| b != NO_BASE)
    }
}

impl<'a> translate::Ids<'a> for Sequencer {
    fn instrument_id(&mut self, name: &'a str) -> InstrumentId {
        self.instrument(name)
    }

    fn currency_id(&mut self, code: &'a str) -> CurrencyId {
        self.currency(code)
    }

    fn trade_ids(&mut self, name: &'a str, strategy: Option<&'a str>) -> translate::TradeKeys {
        let account = self.account(name);
        translate::TradeKeys {
            account,
            book: self.next_book(account, strategy),
            base: self.account_base_of(account, name),
            method: self.method_of(account),
        }
    }
}
