//! Queries answered from the store (EOD positions, closed positions,
//! rebalancing proposals, the P&L history): blocking reads, run on tokio's blocking pool,
//! filtered by the client's grant and rendered like live positions.

use serde::Serialize;
use serde_json::Value;

use kupala_engine::SharedNames;
use kupala_engine::ids::AccountId;
use kupala_engine::num::{Money, Notional, Price, Quantity, Rate};
use kupala_engine::store::Store;
use kupala_engine::store::records::PositionRecord;
use kupala_engine::time::{Date, Timestamp};

use crate::auth::Grant;
use crate::fanout::selected;
use crate::history_out::{self, HistoryOut};
use crate::protocol::{AccountSel, ErrorCode, HistoryQuery, Query, result_json};
use crate::render;

#[derive(Serialize)]
struct Positions {
    date: Option<String>,
    positions: Vec<render::PositionOut>,
}

/// A rebalancing proposal as clients see it.
#[derive(Serialize)]
struct ProposalOut<'a> {
    account: &'a str,
    instrument: &'a str,
    qty: Quantity,
    price: Price,
    value_base: Money,
    weight_now: Rate,
    weight_target: Rate,
}

#[derive(Serialize)]
struct Proposals<'a> {
    date: String,
    proposals: Vec<ProposalOut<'a>>,
}

/// Answers a history query: the series' points in the range (see
/// [`history_out::read`]).
fn history(store: &Store, h: &HistoryQuery, id: Option<&Value>) -> Result<String, (ErrorCode, String)> {
    let from = h.from.unwrap_or(Timestamp(i64::MIN));
    let to = h.to.unwrap_or(Timestamp(i64::MAX));
    let points = history_out::read(store, &h.series, (from, to), "query (narrow from/to)")?;
    Ok(result_json(id, HistoryOut::new(&h.series, &points)))
}

/// Answers an EOD, closed-positions or proposals query from the store
/// (blocking: runs on the blocking pool): the `result` message's text.
pub(crate) fn stored(
    store: &Store,
    names: Option<&SharedNames>,
    grant: &Grant,
    q: &Query,
    id: Option<&Value>,
) -> Result<String, (ErrorCode, String)> {
    if let Query::History(h) = q {
        return history(store, h, id);
    }
    let internal = |e: kupala_engine::store::StoreError| (ErrorCode::Internal, format!("store: {e}"));
    let names = names
        .and_then(|n| n.read().ok())
        .ok_or((ErrorCode::Internal, "names unavailable".to_owned()))?;
    let eod_date = |date: Option<Date>| -> Result<Date, (ErrorCode, String)> {
        let dates = store.eod_dates().map_err(internal)?;
        match date {
            Some(d) if dates.contains(&d) => Ok(d),
            Some(d) => Err((ErrorCode::NotFound, format!("no EOD recorded for {d}"))),
            None => dates
                .last()
                .copied()
                .ok_or((ErrorCode::NotFound, "no EOD recorded yet".to_owned())),
        }
    };
    let visible = |sel: &AccountSel, account: &str| selected(sel, grant, account);
    let positions = |sel: &AccountSel, recs: Vec<PositionRecord>| -> Vec<render::PositionOut> {
        // The records name their strategies: their books are numbered in
        // a copy of the names.
        let mut books = names.clone();
        recs.iter()
            .filter(|r| visible(sel, names.account(AccountId(r.account))))
            .map(|r| {
                let state = r.state(&mut books);
                render::PositionOut::new(&state, &books, false)
            })
            .collect()
    };
    match q {
        Query::Eod { accounts, date } => {
            let date = eod_date(*date)?;
            let positions = positions(accounts, store.eod(date).map_err(internal)?);
            let date = Some(date.to_string());
            Ok(result_json(id, Positions { date, positions }))
        }
        Query::Closed { accounts, date } => {
            let positions = positions(accounts, store.closed(*date).map_err(internal)?);
            let date = date.map(|d| d.to_string());
            Ok(result_json(id, Positions { date, positions }))
        }
        Query::Proposals { accounts, date } => {
            let date = eod_date(*date)?;
            let stored = store.proposals(date).map_err(internal)?;
            let proposals = stored
                .iter()
                .filter(|p| visible(accounts, &p.account))
                .map(|p| ProposalOut {
                    account: &p.account,
                    instrument: &p.instrument,
                    qty: Quantity::from_raw(p.qty),
                    price: Price::from_raw(p.price),
                    value_base: Notional(p.value_base).to_money(),
                    weight_now: Rate::from_raw(p.weight_now),
                    weight_target: Rate::from_raw(p.weight_target),
                })
                .collect();
            let date = date.to_string();
            Ok(result_json(id, Proposals { date, proposals }))
        }
        _ => Err((ErrorCode::BadRequest, "not a stored query".to_owned())),
    }
}
