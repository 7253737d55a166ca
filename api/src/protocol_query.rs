//! A `query`'s kinds from its fields (see [`crate::protocol`]): each kind
//! takes its own fields and refuses the others; and the P&L history's
//! series naming, shared by the `history` query and channel.

use kupala_engine::store::history::Series;

use crate::as_of::{AsOfQuery, AsOfWhat};
use crate::protocol::{AccountSel, HistoryQuery, Query};
use crate::protocol_decode::{QueryFields, echo};

/// A query from its fields: each kind refuses the fields it does not take.
pub(crate) fn query(f: QueryFields) -> Result<Query, String> {
    let QueryFields {
        what,
        account,
        date,
        job,
        as_of,
        strategy,
        from,
        to,
    } = f;
    let given = [
        ("account", account.is_some()),
        ("date", date.is_some()),
        ("job", job.is_some()),
        ("as_of", as_of.is_some()),
        ("strategy", strategy.is_some()),
        ("from", from.is_some()),
        ("to", to.is_some()),
    ];
    let takes = |allowed: &[&str]| match given.iter().find(|(f, given)| *given && !allowed.contains(f)) {
        Some((f, _)) => Err(format!("unknown field `{f}`")),
        None => Ok(()),
    };
    let accounts = || account.as_deref().map_or(AccountSel::All, AccountSel::parse);
    let dated = ["account", "date"];
    let as_of_what = match what.as_str() {
        "positions" => Some(AsOfWhat::Positions),
        "portfolio" => Some(AsOfWhat::Portfolio),
        "books" => Some(AsOfWhat::Books),
        "firm" => Some(AsOfWhat::Firm),
        _ => None,
    };
    if let (Some(at), Some(kind)) = (as_of, as_of_what)
        && date.is_none()
    {
        let allowed: &[&str] = if kind == AsOfWhat::Firm {
            &["as_of"]
        } else {
            &["account", "as_of"]
        };
        return takes(allowed).map(|()| {
            Query::AsOf(AsOfQuery {
                what: kind,
                accounts: accounts(),
                at,
            })
        });
    }
    match what.as_str() {
        "positions" | "portfolio" | "books" | "firm" if date.is_some() => {
            Err(format!("query {what} takes no `date`"))
        }
        "positions" => takes(&["account"]).map(|()| Query::Positions(accounts())),
        "portfolio" => takes(&["account"]).map(|()| Query::Portfolio(accounts())),
        "books" => takes(&["account"]).map(|()| Query::Books(accounts())),
        "firm" => takes(&[]).map(|()| Query::Firm),
        "eod" => takes(&dated).map(|()| Query::Eod {
            accounts: accounts(),
            date,
        }),
        "closed" => takes(&dated).map(|()| Query::Closed {
            accounts: accounts(),
            date,
        }),
        "proposals" | "rebalance" => takes(&dated).map(|()| Query::Proposals {
            accounts: accounts(),
            date,
        }),
        "analysis" => takes(&["job"]).map(|()| Query::Analysis { job: job.flatten() }),
        "feeds" => takes(&[]).map(|()| Query::Feeds),
        "history" => takes(&["account", "strategy", "from", "to"]).and_then(|()| {
            let series = history_series(account, strategy)?;
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                return Err("from is after to".to_owned());
            }
            Ok(Query::History(HistoryQuery { series, from, to }))
        }),
        other => Err(format!(
            "unknown query {:?} (positions, portfolio, books, firm, eod, closed, proposals, analysis, feeds, history)",
            echo(other)
        )),
    }
}

/// The series a history query names: no account is the firm, an account
/// alone its totals, with `strategy` one of its books (`null`: the
/// default book).
pub(crate) fn history_series(
    account: Option<String>,
    strategy: Option<Option<String>>,
) -> Result<Series, String> {
    match (account, strategy) {
        (Some(a), _) if a == "*" => Err("history takes one account (or none, for the firm)".to_owned()),
        (None, Some(_)) => Err("strategy needs an account".to_owned()),
        (None, None) => Ok(Series::Firm),
        (Some(a), None) => Ok(Series::Account(a)),
        (Some(account), Some(strategy)) => Ok(Series::Book { account, strategy }),
    }
}
