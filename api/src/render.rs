//! Rendering queued updates as JSON text, on the connection task (never on
//! the engine's threads): names replace ids, decimals are strings.

use serde::Serialize;

use kupala_engine::ids::Names;
use kupala_engine::state::{BookState, FirmState, PortfolioState, PositionState};
use kupala_engine::view::{BookView, FirmView, PortfolioView, PositionView, strategy_of};

use std::fmt::Write as _;
use std::sync::Arc;

use crate::json_out;
use crate::outbox::{Item, Outgoing, Part, Shared, SubTag};
use crate::protocol::Update;

/// A position as the server sends it: the `kupala calc` fields, the journal
/// seq of its last change and, in a delta, `closed: true` when an EOD moved
/// it to the closed history.
#[derive(Serialize)]
pub struct PositionOut {
    /// The position.
    #[serde(flatten)]
    pub view: PositionView,
    /// The journal seq of the position's last change.
    pub journal_seq: u64,
    /// Present (true) when the position left the book.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

impl PositionOut {
    /// Renders a position.
    #[must_use]
    pub fn new(p: &PositionState, names: &Names, closed: bool) -> Self {
        Self {
            view: PositionView::new(p, names),
            journal_seq: p.seq,
            closed,
        }
    }
}

/// A portfolio as the server sends it.
#[derive(Serialize)]
pub struct PortfolioOut {
    /// The totals.
    #[serde(flatten)]
    pub view: PortfolioView,
    /// The journal seq of the last change.
    pub journal_seq: u64,
}

impl PortfolioOut {
    /// Renders a portfolio.
    #[must_use]
    pub fn new(p: &PortfolioState, names: &Names) -> Self {
        Self {
            view: PortfolioView::new(p, names),
            journal_seq: p.seq,
        }
    }
}

/// A book as the server sends it.
#[derive(Serialize)]
pub struct BookOut {
    /// The totals and the strategy.
    #[serde(flatten)]
    pub view: BookView,
    /// The journal seq of the last change.
    pub journal_seq: u64,
}

impl BookOut {
    /// Renders a book.
    #[must_use]
    pub fn new(b: &BookState, names: &Names) -> Self {
        Self {
            view: BookView::new(b, names),
            journal_seq: b.totals.seq,
        }
    }
}

/// The firm as the server sends it.
#[derive(Serialize)]
pub struct FirmOut {
    /// The totals.
    #[serde(flatten)]
    pub view: FirmView,
    /// The journal seq they reflect.
    pub journal_seq: u64,
}

impl FirmOut {
    /// Renders the firm.
    #[must_use]
    pub fn new(f: &FirmState, names: &Names) -> Self {
        Self {
            view: FirmView::new(f, names),
            journal_seq: f.seq,
        }
    }
}

/// Positions rendered and sorted by (account, strategy, instrument) names,
/// each account's default book first.
#[must_use]
pub fn positions(list: &[PositionState], names: &Names) -> Vec<PositionOut> {
    let mut v: Vec<PositionOut> = list.iter().map(|p| PositionOut::new(p, names, false)).collect();
    v.sort_by(|a, b| {
        (&a.view.account, &a.view.strategy, &a.view.instrument).cmp(&(
            &b.view.account,
            &b.view.strategy,
            &b.view.instrument,
        ))
    });
    v
}

/// Books rendered and sorted by (account, strategy) names, each
/// account's default book first.
#[must_use]
pub fn books(list: &[BookState], names: &Names) -> Vec<BookOut> {
    let mut v: Vec<BookOut> = list.iter().map(|b| BookOut::new(b, names)).collect();
    v.sort_by(|a, b| {
        (&a.view.totals.account, &a.view.strategy).cmp(&(&b.view.totals.account, &b.view.strategy))
    });
    v
}

/// Portfolios rendered and sorted by account name.
#[must_use]
pub fn portfolios(list: &[PortfolioState], names: &Names) -> Vec<PortfolioOut> {
    let mut v: Vec<PortfolioOut> = list.iter().map(|p| PortfolioOut::new(p, names)).collect();
    v.sort_by(|a, b| a.view.account.cmp(&b.view.account));
    v
}

fn update<T: Serialize>(kind: &'static str, tag: &SubTag, data: T) -> String {
    serde_json::to_string(&Update {
        kind,
        id: tag.id.as_ref(),
        channel: tag.channel.as_str(),
        seq: tag.seq,
        data,
    })
    .unwrap_or_default()
}

/// The text of one outgoing update.
#[must_use]
pub(crate) fn render(out: Outgoing, names: &Names) -> String {
    let Some(tag) = &out.tag else {
        return match out.item {
            Item::Reply(text) => text,
            _ => String::new(),
        };
    };
    match out.item {
        Item::Reply(text) => text,
        Item::Positions(list) => raw_update("snapshot", tag, &positions_array(list, names)),
        Item::Portfolios(list) => raw_update("snapshot", tag, &portfolios_array(list, names)),
        Item::Books(list) => raw_update("snapshot", tag, &books_array(list, names)),
        Item::FirmNow(f) => update("snapshot", tag, f.map(|f| FirmOut::new(&f, names))),
        Item::Ticks(last) => update("snapshot", tag, last.into_iter().collect::<Vec<_>>()),
        Item::Position(p) => delta(tag, &p, |v| json_out::position_text(v, names, p.closed)),
        Item::Portfolio(p) => delta(tag, &p, |v| json_out::portfolio_text(v, names)),
        Item::Book(b) => delta(tag, &b, |v| json_out::book_text(v, names)),
        Item::Firm(f) => delta(tag, &f, |v| firm_text(v, names)),
        Item::Tick(t) => delta(tag, &t, |v| serde_json::to_string(v).unwrap_or_default()),
        Item::Analysis { snapshot, data } => {
            raw_update(if snapshot { "snapshot" } else { "delta" }, tag, &data)
        }
        Item::HistoryNow(data) => raw_update("snapshot", tag, &data),
        Item::HistoryPoint(p) => delta(tag, &p, crate::history_out::point_text),
    }
}

/// A `delta` message around a shared change's `data`, rendered once for
/// every subscription it goes to. Same shape as [`Update`].
fn delta<T>(tag: &SubTag, shared: &Shared<T>, text: impl FnOnce(&T) -> String) -> String {
    let data = shared.text.get_or_init(|| text(&shared.value));
    raw_update("delta", tag, data)
}

/// The messages of a batch of updates taken off a client's queue, in
/// order: one per update, except that the deltas of a `batch`
/// subscription taken together share one `deltas` message.
pub(crate) fn messages(items: Vec<Outgoing>, names: &Names, out: &mut Vec<String>) {
    let mut open: Option<String> = None;
    // How many deltas join each update's `deltas` message after it.
    let mut joining = vec![0; items.len()];
    let mut run = 0;
    for (n, o) in joining.iter_mut().zip(&items).rev() {
        *n = run;
        run = if o.part == Part::Joins { run + 1 } else { 0 };
    }
    for (o, follow) in items.into_iter().zip(joining) {
        // Only changes are ever batched; anything else is its own message.
        let part = if o.item.is_change() { o.part } else { Part::Own };
        match part {
            Part::Joins => {
                if let Some(frame) = open.as_mut() {
                    frame.push(',');
                    delta_data(frame, &o.item, names);
                }
            }
            Part::Opens => {
                out.extend(open.take().map(close_deltas));
                if let Some(tag) = &o.tag {
                    // About 500 bytes a position: sized once, not regrown.
                    let mut frame = String::with_capacity(128 + 512 * (follow + 1));
                    head(&mut frame, "deltas", tag);
                    frame.push('[');
                    delta_data(&mut frame, &o.item, names);
                    open = Some(frame);
                }
            }
            Part::Own => {
                out.extend(open.take().map(close_deltas));
                out.push(render(o, names));
            }
        }
    }
    out.extend(open.map(close_deltas));
}

fn close_deltas(mut frame: String) -> String {
    frame.push_str("]}");
    frame
}

/// Appends a change's `data` to a `deltas` message: copied from the shared
/// text when another subscription rendered (or will render) it too,
/// written in place when this queue holds the only reference. Writes
/// nothing for an item that is not a change (`messages` never asks).
fn delta_data(out: &mut String, item: &Item, names: &Names) {
    match item {
        Item::Position(p) => shared_into(out, p, |o, v| json_out::position(o, v, names, p.closed)),
        Item::Portfolio(p) => shared_into(out, p, |o, v| json_out::portfolio(o, v, names)),
        Item::Book(b) => shared_into(out, b, |o, v| json_out::book(o, v, names)),
        Item::Firm(f) => shared_into(out, f, |o, v| o.push_str(&firm_text(v, names))),
        Item::Tick(t) => shared_into(out, t, |o, v| {
            o.push_str(&serde_json::to_string(v).unwrap_or_default());
        }),
        Item::Analysis { data, .. } => out.push_str(data),
        Item::HistoryPoint(p) => shared_into(out, p, |o, v| o.push_str(&crate::history_out::point_text(v))),
        Item::HistoryNow(_)
        | Item::Reply(_)
        | Item::Positions(_)
        | Item::Portfolios(_)
        | Item::Books(_)
        | Item::FirmNow(_)
        | Item::Ticks(_) => {}
    }
}

/// Writes a shared change's `data`: in place when this queue holds the
/// only reference (nobody else will need the text), else rendered once
/// into the shared text and copied.
fn shared_into<T>(out: &mut String, shared: &Arc<Shared<T>>, write: impl Fn(&mut String, &T)) {
    if let Some(text) = shared.text.get() {
        out.push_str(text);
    } else if Arc::strong_count(shared) == 1 {
        write(out, &shared.value);
    } else {
        let text = shared.text.get_or_init(|| {
            let mut s = String::with_capacity(512);
            write(&mut s, &shared.value);
            s
        });
        out.push_str(text);
    }
}

/// The firm's JSON object (one per change: serde is fast enough).
fn firm_text(f: &FirmState, names: &Names) -> String {
    serde_json::to_string(&FirmOut::new(f, names)).unwrap_or_default()
}

/// A snapshot's positions as a JSON array, sorted by (account, strategy,
/// instrument) names as [`positions`] sorts them.
fn positions_array(mut list: Vec<PositionState>, names: &Names) -> String {
    let key = |p: &PositionState| {
        (
            names.account(p.account),
            strategy_of(p.book, names),
            names.instrument(p.instrument),
        )
    };
    list.sort_by(|a, b| key(a).cmp(&key(b)));
    array(&list, 512, |out, p| json_out::position(out, p, names, false))
}

/// A snapshot's portfolios as a JSON array, sorted by account name.
fn portfolios_array(mut list: Vec<PortfolioState>, names: &Names) -> String {
    list.sort_by(|a, b| names.account(a.account).cmp(names.account(b.account)));
    array(&list, 256, |out, p| json_out::portfolio(out, p, names))
}

/// A snapshot's books as a JSON array, sorted as [`books`] sorts them.
fn books_array(mut list: Vec<BookState>, names: &Names) -> String {
    let key = |b: &BookState| (names.account(b.totals.account), strategy_of(b.book, names));
    list.sort_by(|a, b| key(a).cmp(&key(b)));
    array(&list, 288, |out, b| json_out::book(out, b, names))
}

fn array<T>(list: &[T], each: usize, write: impl Fn(&mut String, &T)) -> String {
    let mut out = String::with_capacity(2 + list.len() * each);
    out.push('[');
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(&mut out, item);
    }
    out.push(']');
    out
}

/// An update message around `data` already rendered as JSON text.
fn raw_update(kind: &str, tag: &SubTag, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 96);
    head(&mut s, kind, tag);
    s.push_str(data);
    s.push('}');
    s
}

/// An update message's fields up to `"data":`.
fn head(s: &mut String, kind: &str, tag: &SubTag) {
    s.push_str(r#"{"type":""#);
    s.push_str(kind);
    s.push_str(r#"","#);
    if let Some(id) = &tag.id {
        let _ = write!(s, r#""id":{id},"#);
    }
    s.push_str(r#""channel":""#);
    s.push_str(tag.channel.as_str());
    s.push_str(r#"","seq":"#);
    s.push_str(itoa::Buffer::new().format(tag.seq));
    s.push_str(r#","data":"#);
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
