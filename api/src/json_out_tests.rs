//! The hand-written JSON equals serde's form of the same views, byte for
//! byte, for any figures and for names that need escaping.

use super::*;
use crate::render::{BookOut, PortfolioOut, PositionOut};
use kupala_engine::ids::{AccountId, BookId, BookKey, CurrencyId, InstrumentId, StrategyId};
use kupala_engine::num::{Price, Quantity};
use kupala_engine::state::BookState;
use proptest::prelude::*;

fn names() -> Names {
    let mut n = Names::default();
    n.accounts.intern("ACC-1");
    n.accounts.intern("quote\"back\\slash\u{1}ü");
    n.instruments.intern("AAPL");
    n.instruments.intern("7203.T");
    n.currencies.intern("JPY");
    n.strategies.intern("carry");
    n.strategies.intern("mé\"an");
    for (account, strategy) in [(0, None), (0, Some(0)), (1, Some(1))] {
        n.books.intern(BookKey {
            account: AccountId(account),
            strategy: strategy.map(StrategyId),
        });
    }
    n
}

fn notional() -> impl Strategy<Value = Notional> {
    prop_oneof![
        any::<i128>().prop_map(Notional),
        any::<i64>().prop_map(|v| Notional(i128::from(v))),
        (any::<i64>(), 0u32..40).prop_map(|(v, s)| Notional(i128::from(v) << s)),
        Just(Notional(0)),
    ]
}

/// A net or currency-effect figure within the engine's bound (`±i128::MAX
/// / 4`), so their sum, the total P&L, is one too.
fn bounded() -> impl Strategy<Value = Notional> {
    prop_oneof![
        (-(i128::MAX / 4)..=i128::MAX / 4).prop_map(Notional),
        any::<i64>().prop_map(|v| Notional(i128::from(v))),
        Just(Notional(0)),
    ]
}

fn base() -> impl Strategy<Value = Option<BaseValues>> {
    proptest::option::of(
        (
            proptest::array::uniform5(notional()),
            bounded(),
            notional(),
            bounded(),
        )
            .prop_map(
                |([market_value, realized_pnl, unrealized_pnl, fees, income], net_pnl, cost, fx_pnl)| {
                    BaseValues {
                        market_value,
                        realized_pnl,
                        unrealized_pnl,
                        fees,
                        income,
                        net_pnl,
                        cost,
                        fx_pnl,
                    }
                },
            ),
    )
}

prop_compose! {
    fn position_state()(
        ids in (0u32..3, 0u32..3, 0u32..3),
        book in 0u32..4,
        qty in any::<i64>(), avg in any::<i64>(), mark in any::<i64>(),
        amounts in proptest::array::uniform7(notional()),
        base in base(),
        seq in any::<u64>(),
    ) -> PositionState {
        PositionState {
            account: AccountId(ids.0),
            book: BookId(book),
            instrument: InstrumentId(ids.1),
            currency: CurrencyId(ids.2),
            base_currency: CurrencyId::USD,
            qty: Quantity::from_raw(qty),
            avg_cost: Price::from_raw(avg),
            mark: Price::from_raw(mark),
            market_value: amounts[0],
            realized_pnl: amounts[1],
            unrealized_pnl: amounts[2],
            fees: amounts[3],
            income: amounts[6],
            net_pnl: amounts[4],
            day_pnl: amounts[5],
            base,
            seq,
        }
    }
}

prop_compose! {
    fn portfolio_state()(
        ids in (0u32..3, 0u32..3),
        unpriced in any::<i64>(),
        amounts in proptest::array::uniform7(notional()),
        net_fx in (bounded(), bounded()),
        seq in any::<u64>(),
    ) -> PortfolioState {
        PortfolioState {
            account: AccountId(ids.0),
            base_currency: CurrencyId(ids.1),
            unpriced,
            market_value: amounts[0],
            realized_pnl: amounts[1],
            unrealized_pnl: amounts[2],
            fees: amounts[3],
            income: amounts[6],
            fx_pnl: net_fx.1,
            net_pnl: net_fx.0,
            day_pnl: amounts[5],
            seq,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn positions_match_serde(p in position_state(), closed in any::<bool>()) {
        let names = names();
        let serde = serde_json::to_string(&PositionOut::new(&p, &names, closed)).unwrap_or_default();
        prop_assert_eq!(position_text(&p, &names, closed), serde);
    }

    #[test]
    fn portfolios_match_serde(p in portfolio_state()) {
        let names = names();
        let serde = serde_json::to_string(&PortfolioOut::new(&p, &names)).unwrap_or_default();
        prop_assert_eq!(portfolio_text(&p, &names), serde);
    }

    #[test]
    fn books_match_serde(totals in portfolio_state(), book in 0u32..4) {
        // Books 1 and 2 have strategies (one needing escapes), 0 is a
        // default book, 3 is unknown to the names.
        let names = names();
        let b = BookState { book: BookId(book), totals };
        let serde = serde_json::to_string(&BookOut::new(&b, &names)).unwrap_or_default();
        prop_assert_eq!(book_text(&b, &names), serde);
    }
}

#[test]
fn an_unknown_id_renders_as_the_views_do() {
    let names = names();
    let mut p = PortfolioState::new(AccountId(99), CurrencyId(99));
    p.seq = 7;
    let serde = serde_json::to_string(&PortfolioOut::new(&p, &names)).unwrap_or_default();
    assert_eq!(portfolio_text(&p, &names), serde);
    assert!(
        serde.starts_with(r#"{"account":"","base_currency":"","#),
        "{serde}"
    );
}
