//! The sequencer as plain data (a snapshot's part) and back.

use super::{BaseCurrencies, InstInfo, NamedLot, Sequencer, lots};
use crate::books::BookKey;
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId, Interner, Names, StrategyId};
use crate::image::SequencerImage;
use crate::ledger::CostMethods;
use crate::num::{Multiplier, Rate};
use crate::trade_ids::TradeIds;

impl Sequencer {
    /// The state as plain data.
    #[must_use]
    pub fn image(&self) -> SequencerImage {
        let names = |i: &Interner| i.iter().map(str::to_owned).collect();
        SequencerImage {
            next_seq: self.next_seq,
            accounts: names(&self.names.accounts),
            instruments: names(&self.names.instruments),
            currencies: names(&self.names.currencies),
            inst_info: self
                .instruments
                .iter()
                .map(|i| (i.currency.0, i.multiplier.rate().raw(), i.used))
                .collect(),
            account_base: self.account_base.iter().map(|c| c.0).collect(),
            account_method: self.names.accounts.iter().map(|n| self.methods.of(n)).collect(),
            trade_ids: self.trade_ids.arena(),
            strategies: names(&self.names.strategies),
            books: self
                .names
                .books
                .iter()
                .map(|k| (k.account.0, k.strategy.map(|s| s.0)))
                .collect(),
            books_known: true,
            named_lots: self.lots.named_lots(),
        }
    }

    /// A sequencer holding exactly the state of `image`, resolving cost
    /// methods from `methods` (which the caller checked against the
    /// image's). The open lots come with the positions, through
    /// [`Sequencer::rebuild_limits`].
    #[must_use]
    pub fn from_image(image: &SequencerImage, bases: BaseCurrencies, methods: CostMethods) -> Self {
        let mut s = Self::new(bases).with_methods(methods);
        let mut names = Names {
            accounts: Interner::new(),
            instruments: Interner::new(),
            currencies: Interner::new(),
            strategies: Interner::new(),
            books: crate::books::BookTable::default(),
        };
        image.accounts.iter().for_each(|n| _ = names.accounts.intern(n));
        image
            .instruments
            .iter()
            .for_each(|n| _ = names.instruments.intern(n));
        image
            .currencies
            .iter()
            .for_each(|n| _ = names.currencies.intern(n));
        if names.currencies.is_empty() {
            names.currencies.intern("USD");
        }
        image
            .strategies
            .iter()
            .for_each(|n| _ = names.strategies.intern(n));
        let books: Vec<BookKey> = if !image.books_known {
            // Before books: each account's default book, numbered as it.
            (0..image.accounts.len())
                .map(|a| BookKey {
                    account: AccountId::from_index(a),
                    strategy: None,
                })
                .collect()
        } else {
            image
                .books
                .iter()
                .map(|&(a, s)| BookKey {
                    account: AccountId(a),
                    strategy: s.map(StrategyId),
                })
                .collect()
        };
        for key in books {
            names.books.intern(key);
        }
        s.names = names;
        s.instruments = image
            .inst_info
            .iter()
            .map(|&(c, m, used)| InstInfo {
                currency: CurrencyId(c),
                multiplier: Multiplier::new(Rate::from_raw(m)),
                used,
            })
            .collect();
        s.account_base = image.account_base.iter().map(|&c| CurrencyId(c)).collect();
        s.trade_ids = TradeIds::from_arena(&image.trade_ids);
        s.next_seq = image.next_seq.max(1);
        s
    }

    /// Rebuilds the range checks' memory and the open lots of positions
    /// under a lot method from a snapshot's books (their positions read
    /// from `positions`), its account totals and its named lots.
    pub fn rebuild_limits<P: crate::image::Positions + ?Sized>(
        &mut self,
        books: &crate::image::BookImage,
        positions: &P,
        portfolios: &[crate::image::PortfolioImage],
        named: &[NamedLot],
    ) -> Result<(), P::Error> {
        let lot_accounts: Vec<bool> = (0..self.names.accounts.len())
            .map(|a| self.method_of(AccountId::from_index(a)).keeps_lots())
            .collect();
        let mut shadow = std::mem::take(&mut self.lots);
        shadow.clear();
        let result = self.limits.rebuild(books, positions, portfolios, &mut |p| {
            if lot_accounts.get(p.account as usize).copied().unwrap_or(false) {
                let key = lots::Key {
                    book: BookId(p.book),
                    instrument: InstrumentId(p.instrument),
                };
                shadow.add(key, p.ledger());
            }
        });
        named.iter().for_each(|lot| shadow.name(lot));
        self.lots = shadow;
        result
    }
}
