//! The hub's latest positions, grouped by account: a subscription or query
//! for one account reads that account's positions only, not every
//! position of the book.

use rustc_hash::FxHashMap;

use kupala_engine::ids::{AccountId, InstrumentId, Names};
use kupala_engine::state::PositionState;

use crate::protocol::AccountSel;

/// Positions by account, then instrument.
#[derive(Default)]
pub(super) struct Positions {
    by_account: FxHashMap<AccountId, FxHashMap<InstrumentId, PositionState>>,
}

impl Positions {
    /// The seq of the position held for (account, instrument), if any.
    pub(super) fn seq(&self, account: AccountId, instrument: InstrumentId) -> Option<u64> {
        self.by_account.get(&account)?.get(&instrument).map(|p| p.seq)
    }

    /// Stores `p` as its key's latest state.
    pub(super) fn insert(&mut self, p: &PositionState) {
        let of = self.by_account.entry(p.account).or_default();
        match of.get_mut(&p.instrument) {
            Some(old) => old.clone_from(p),
            None => {
                of.insert(p.instrument, p.clone());
            }
        }
    }

    /// Forgets a position (it left the book).
    pub(super) fn remove(&mut self, account: AccountId, instrument: InstrumentId) {
        if let Some(of) = self.by_account.get_mut(&account) {
            of.remove(&instrument);
        }
    }

    /// One account's positions.
    pub(super) fn of(&self, account: AccountId) -> impl Iterator<Item = &PositionState> {
        self.by_account.get(&account).into_iter().flat_map(|m| m.values())
    }

    /// Every account's positions.
    pub(super) fn all(&self) -> impl Iterator<Item = &PositionState> {
        self.by_account.values().flat_map(|m| m.values())
    }

    /// The positions a selection may cover: one account's (none if the
    /// name was never interned), or every account's. The caller still
    /// filters them by grant.
    pub(super) fn chosen<'a>(
        &'a self,
        names: &Names,
        sel: &AccountSel,
    ) -> Box<dyn Iterator<Item = &'a PositionState> + 'a> {
        match sel {
            AccountSel::All => Box::new(self.all()),
            AccountSel::One(name) => match names.accounts.get(name) {
                Some(id) => Box::new(self.of(AccountId(id))),
                None => Box::new(std::iter::empty()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kupala_engine::ids::CurrencyId;
    use kupala_engine::num::{Notional, Price, Quantity};

    fn position(account: u32, instrument: u32, seq: u64) -> PositionState {
        PositionState {
            account: AccountId(account),
            instrument: InstrumentId(instrument),
            currency: CurrencyId::USD,
            base_currency: CurrencyId::USD,
            qty: Quantity::ZERO,
            avg_cost: Price::ZERO,
            mark: Price::ZERO,
            market_value: Notional::ZERO,
            realized_pnl: Notional::ZERO,
            unrealized_pnl: Notional::ZERO,
            fees: Notional::ZERO,
            net_pnl: Notional::ZERO,
            day_pnl: Notional::ZERO,
            base: None,
            seq,
        }
    }

    #[test]
    fn keeps_the_latest_per_key_and_reads_one_account_alone() {
        let mut v = Positions::default();
        v.insert(&position(1, 1, 3));
        v.insert(&position(1, 2, 4));
        v.insert(&position(2, 1, 5));
        v.insert(&position(1, 1, 9));
        assert_eq!(v.seq(AccountId(1), InstrumentId(1)), Some(9));
        assert_eq!(v.of(AccountId(1)).count(), 2);
        assert_eq!(v.all().count(), 3);
        v.remove(AccountId(1), InstrumentId(2));
        assert_eq!(v.seq(AccountId(1), InstrumentId(2)), None);
        assert_eq!(v.of(AccountId(1)).map(|p| p.seq).collect::<Vec<_>>(), vec![9]);
        assert_eq!(v.of(AccountId(7)).count(), 0);
        let mut names = Names::default();
        names.accounts.intern("A0");
        names.accounts.intern("A1");
        assert_eq!(v.chosen(&names, &AccountSel::One("A1".into())).count(), 1);
        assert_eq!(v.chosen(&names, &AccountSel::One("nobody".into())).count(), 0);
        assert_eq!(v.chosen(&names, &AccountSel::All).count(), 2);
    }
}
