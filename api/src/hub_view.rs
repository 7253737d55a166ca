//! The hub's latest positions, grouped by account: a subscription or query
//! for one account reads that account's positions only, not every
//! position of the book.

use std::collections::hash_map::Entry;

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
    #[cfg(test)]
    fn seq(&self, account: AccountId, instrument: InstrumentId) -> Option<u64> {
        self.by_account.get(&account)?.get(&instrument).map(|p| p.seq)
    }

    /// Takes `p` as its key's latest state (or, `closed`, forgets the key)
    /// unless the state held is newer; false when it was. One lookup per
    /// map: the view is far larger than the caches, and each lookup of a
    /// delta's key is a miss.
    pub(super) fn update(&mut self, p: &PositionState, closed: bool) -> bool {
        let of = self.by_account.entry(p.account).or_default();
        match of.entry(p.instrument) {
            Entry::Occupied(old) if old.get().seq > p.seq => false,
            Entry::Occupied(old) if closed => {
                old.remove();
                true
            }
            Entry::Occupied(mut old) => {
                old.get_mut().clone_from(p);
                true
            }
            Entry::Vacant(_) if closed => true,
            Entry::Vacant(slot) => {
                slot.insert(p.clone());
                true
            }
        }
    }

    /// Drops `account`'s entries at or before `seq` (a cut at `seq` is
    /// about to replace them; newer ones came from deltas after it).
    pub(super) fn drop_older(&mut self, account: AccountId, seq: u64) {
        if let Some(of) = self.by_account.get_mut(&account) {
            of.retain(|_, p| p.seq > seq);
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
        assert!(v.update(&position(1, 1, 3), false));
        assert!(v.update(&position(1, 2, 4), false));
        assert!(v.update(&position(2, 1, 5), false));
        assert!(v.update(&position(1, 1, 9), false));
        assert!(!v.update(&position(1, 1, 8), false), "an older state is refused");
        assert_eq!(v.seq(AccountId(1), InstrumentId(1)), Some(9));
        assert_eq!(v.of(AccountId(1)).count(), 2);
        assert_eq!(v.all().count(), 3);
        assert!(!v.update(&position(1, 2, 3), true), "an older close is refused");
        assert!(v.update(&position(1, 2, 6), true));
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
