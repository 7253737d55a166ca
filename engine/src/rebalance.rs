//! Rebalancing proposals (the original design's EOD maintenance): at each EOD,
//! the trades that would bring each account with targets to its target
//! weights at the EOD marks. Proposals are stored, never applied unless a
//! user submits them (`Proposal::to_event`).
//!
//! Sizing: NAV is the sum of the account's priced market values in base
//! currency; an instrument's target value is `NAV × weight`; instruments held
//! but not in the targets have weight 0. The quantity is the value gap over
//! the instrument's value per unit in base (from the account's own position,
//! else from any position in it held in the same base currency), rounded
//! toward zero to the lot size; trades worth less than `min_trade` are dropped.

use rkyv::{Archive, Deserialize, Serialize};

use crate::event::{Event, Side, Trade};
use crate::ids::{AccountId, InstrumentId, Names};
use crate::num::{EXACT_UNIT, Fee, Money, Price, Quantity, Rate, UNIT, mul_div_round};
use crate::state::PositionState;
use crate::time::{Date, Timestamp};

/// Target weights per account, with the trade filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// (account, [(instrument, weight)]); weights are fractions of NAV.
    pub accounts: Vec<(String, Vec<(String, Rate)>)>,
    /// Smallest trade worth proposing, in the account's base currency.
    pub min_trade: Money,
    /// Quantities are rounded toward zero to a multiple of this (0 = none).
    pub lot: Quantity,
}

/// One proposed trade.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// EOD date (days since epoch).
    pub date: i32,
    /// Account name.
    pub account: String,
    /// Instrument name.
    pub instrument: String,
    /// Signed quantity to trade, raw (buy > 0).
    pub qty: i64,
    /// The EOD mark it was sized at, raw.
    pub price: i64,
    /// Trade value in base currency, exact scale.
    pub value_base: i128,
    /// Weight before, raw rate.
    pub weight_now: i64,
    /// Target weight, raw rate.
    pub weight_target: i64,
}

impl Proposal {
    /// The proposal as a trade event, to submit if a user decides to.
    #[must_use]
    pub fn to_event(&self, ts: Timestamp) -> Event {
        Event::Trade(Trade {
            id: Some(format!(
                "rebalance-{}-{}-{}",
                Date(self.date),
                self.account,
                self.instrument
            )),
            ts,
            account: self.account.clone(),
            instrument: self.instrument.clone(),
            side: if self.qty > 0 { Side::Buy } else { Side::Sell },
            qty: Quantity::from_raw(self.qty.abs()),
            price: Price::from_raw(self.price),
            fee: Fee::ZERO,
            close_lots: Vec::new(),
            strategy: Some("rebalance".into()),
        })
    }
}

/// Computes and stores proposals at each EOD.
#[derive(Clone, Debug, Default)]
pub struct Rebalancer {
    targets: Targets,
}

/// Value of one unit of quantity in base currency, exact scale.
fn unit_value(p: &PositionState) -> Option<i128> {
    let b = p.base?;
    let q = i128::from(p.qty.raw());
    (q != 0).then(|| mul_div_round(b.market_value.0, i128::from(UNIT), q))
}

impl Rebalancer {
    /// A rebalancer for `targets`.
    #[must_use]
    pub const fn new(targets: Targets) -> Self {
        Self { targets }
    }

    /// The proposals for one EOD's positions (sorted by account, instrument).
    #[must_use]
    pub fn propose(&self, date: Date, names: &Names, positions: &[PositionState]) -> Vec<Proposal> {
        let mut out = Vec::new();
        for (account, weights) in &self.targets.accounts {
            let Some(a) = names.accounts.get(account).map(AccountId) else {
                continue;
            };
            let own: Vec<&PositionState> = positions
                .iter()
                .filter(|p| p.account == a && p.base.is_some())
                .collect();
            let Some(base_ccy) = own.first().map(|p| p.base_currency) else {
                continue;
            };
            let nav: i128 = own.iter().filter_map(|p| p.base).map(|b| b.market_value.0).sum();
            if nav <= 0 {
                continue;
            }
            let mut instruments: Vec<(InstrumentId, i64)> = own.iter().map(|p| (p.instrument, 0)).collect();
            for (name, w) in weights {
                if let Some(i) = names.instruments.get(name).map(InstrumentId) {
                    instruments.retain(|x| x.0 != i);
                    instruments.push((i, w.raw()));
                }
            }
            instruments.sort_unstable();
            for (inst, weight) in instruments {
                let mine = own.iter().find(|p| p.instrument == inst);
                let pricing = mine.copied().or_else(|| {
                    positions.iter().find(|p| {
                        p.instrument == inst && p.base_currency == base_ccy && unit_value(p).is_some()
                    })
                });
                let Some((unit, mark)) = pricing.and_then(|p| unit_value(p).map(|u| (u, p.mark))) else {
                    continue;
                };
                if let Some(p) = self.size(date, names, a, inst, nav, weight, mine.copied(), unit, mark) {
                    out.push(p);
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments, reason = "the inputs of one sizing")]
    fn size(
        &self,
        date: Date,
        names: &Names,
        account: AccountId,
        inst: InstrumentId,
        nav: i128,
        weight: i64,
        mine: Option<&PositionState>,
        unit: i128,
        mark: Price,
    ) -> Option<Proposal> {
        let now = mine.and_then(|p| p.base).map_or(0, |b| b.market_value.0);
        let target = mul_div_round(nav, i128::from(weight), i128::from(UNIT));
        let mut qty = mul_div_round(target - now, i128::from(UNIT), unit);
        let lot = i128::from(self.targets.lot.raw());
        if lot > 0 {
            qty = qty / lot * lot;
        }
        let value = mul_div_round(qty, unit, i128::from(UNIT));
        let min = self.targets.min_trade.raw() * (EXACT_UNIT / i128::from(UNIT));
        if qty == 0 || value.abs() < min {
            return None;
        }
        Some(Proposal {
            date: date.0,
            account: names.account(account).to_owned(),
            instrument: names.instrument(inst).to_owned(),
            qty: i64::try_from(qty).ok()?,
            price: mark.raw(),
            value_base: value,
            weight_now: i64::try_from(mul_div_round(now, i128::from(UNIT), nav)).ok()?,
            weight_target: weight,
        })
    }

    /// True when no account has targets (an EOD proposes nothing).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.targets.accounts.is_empty()
    }
}
