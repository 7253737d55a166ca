//! The hub: the engine's [`DeltaSink`] on the server side. It keeps the
//! latest totals (portfolios by account, books, the firm) and the last tick per instrument
//! for snapshots and queries, and fans every change out to the subscribed
//! clients' queues. Positions are not copied here: their snapshots and
//! queries are engine cuts (`hub_interest.rs`).
//!
//! One mutex guards the view and the subscriber lists. The publisher (the
//! aggregator thread) holds it while it updates the view and pushes to the
//! queues; a subscription takes its snapshot and registers under the same
//! lock (or, for positions, registers and later queues a cut that says
//! which held deltas it covers), so a subscriber gets every change after
//! its snapshot exactly once.
//! Pushing to a queue never waits (see `outbox`), so the engine never waits
//! on a client. The P&L history's points come from the history thread,
//! not the aggregator: the [`HistoryFeed`] fans them out under its own
//! lock (`hub_history.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use rustc_hash::FxHashMap;

use kupala_engine::event::Tick;
use kupala_engine::ids::{AccountId, BookId, Names};
use kupala_engine::interest::Interest;
use kupala_engine::state::{
    BookChanges, BookState, EngineState, FirmState, PortfolioState, PositionDelta, PositionState,
};
use kupala_engine::{DeltaSink, SharedNames};

use crate::auth::Grant;
pub use crate::client_id::ClientId;
use crate::fanout::{Subs, selected};
use crate::metrics::{Metrics, add};
use crate::outbox::{Item, Key, Outbox, Shared};
use crate::protocol::AccountSel;
pub use crate::tick_view::TickView;
use crate::watermark::Published;

#[derive(Default)]
struct State {
    seq: u64,
    portfolios: FxHashMap<AccountId, PortfolioState>,
    /// Books of accounts with several books; an account's only book is
    /// its portfolio (`sole_books`, book → account).
    books: FxHashMap<BookId, BookState>,
    sole_books: FxHashMap<BookId, AccountId>,
    firm: Option<FirmState>,
    ticks: FxHashMap<String, TickView>,
    account_names: Vec<Option<Arc<str>>>,
    position_subs: Subs,
    portfolio_subs: Subs,
    book_subs: Subs,
    /// The `firm` subscriptions (only grants of every account make them).
    firm_subs: Vec<crate::fanout::SubRef>,
    tick_subs: Subs,
    clients: FxHashMap<ClientId, Arc<Outbox>>,
    /// A publish's position deltas by account: (account, index), reused.
    by_account: Vec<(AccountId, usize)>,
    /// One account's deltas, shared by its subscriptions; reused.
    shared: Vec<Arc<Shared<PositionState>>>,
}

/// The latest portfolios and ticks, the interest and the fan-out.
pub struct Hub {
    state: Mutex<State>,
    /// The accounts whose position deltas the engine sends.
    interest: Arc<Interest>,
    names: OnceLock<SharedNames>,
    metrics: Arc<Metrics>,
    next_client: AtomicU64,
    /// How far the view is complete (read-your-writes).
    pub(crate) published: Published,
    /// The `history` subscriptions, fed by the store's history thread.
    pub(crate) history: Arc<HistoryFeed>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

struct HubSink(Arc<Hub>);

impl DeltaSink for HubSink {
    fn publish(&mut self, seq: u64, positions: &[PositionDelta], portfolios: &[PortfolioState]) {
        self.0.publish(seq, 0, positions, portfolios);
    }

    fn publish_stamped(&mut self, seq: u64, t_in: u64, p: &[PositionDelta], f: &[PortfolioState]) {
        self.0.publish(seq, t_in, p, f);
    }

    fn books(&mut self, _seq: u64, books: BookChanges<'_>) {
        self.0.publish_books(books);
    }

    fn firm(&mut self, firm: &FirmState) {
        self.0.publish_firm(firm);
    }

    fn complete(&mut self, seq: u64) {
        self.0.published.advance(seq);
    }
}

fn account_name(names: Option<&SharedNames>, cache: &mut Vec<Option<Arc<str>>>, id: AccountId) -> Arc<str> {
    if let Some(Some(n)) = cache.get(id.index()) {
        return Arc::clone(n);
    }
    let name: Arc<str> = names
        .and_then(|n| n.read().ok())
        .map_or_else(|| Arc::from(""), |n| Arc::from(n.account(id)));
    if !name.is_empty() {
        if cache.len() <= id.index() {
            cache.resize(id.index() + 1, None);
        }
        cache[id.index()] = Some(Arc::clone(&name));
    }
    name
}

/// Queues a publish's position deltas: grouped by account, so that each
/// subscription takes its account's deltas under one lock of its queue.
fn publish_positions(
    st: &mut State,
    names: Option<&SharedNames>,
    positions: &[PositionDelta],
    t_in: u64,
    now: Instant,
) {
    let State {
        position_subs,
        account_names,
        by_account,
        shared,
        ..
    } = st;
    by_account.clear();
    by_account.extend(positions.iter().enumerate().map(|(i, d)| (d.state.account, i)));
    by_account.sort_unstable();
    for run in by_account.chunk_by(|a, b| a.0 == b.0) {
        let account_id = run[0].0;
        let account = account_name(names, account_names, account_id);
        let mut subs = position_subs.matching(&account).peekable();
        if subs.peek().is_none() {
            continue;
        }
        shared.clear();
        shared.extend(run.iter().map(|&(_, i)| {
            let d = &positions[i];
            Shared::new(d.state.clone(), d.closed)
        }));
        for r in subs {
            let items = shared.iter().map(|s| {
                let key = Key::Position(r.sub, s.value.book, s.value.instrument);
                (key, Item::Position(Arc::clone(s)))
            });
            r.outbox.push_all(items, t_in, now);
        }
    }
    shared.clear();
}

#[path = "hub_subscribe.rs"]
mod subscribe;

#[path = "hub_interest.rs"]
mod interest;

#[path = "hub_books.rs"]
mod books;

#[path = "hub_history.rs"]
mod history;

pub(crate) use history::Backfill;
pub use history::HistoryFeed;

impl Hub {
    /// An empty hub.
    #[must_use]
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            interest: Arc::new(Interest::none()),
            names: OnceLock::new(),
            metrics,
            next_client: AtomicU64::new(1),
            published: Published::new(),
            history: Arc::new(HistoryFeed::default()),
        })
    }

    /// What the store tells of the P&L history's new points (hand it to
    /// `Store::set_history_listener`): the `history` channel's source.
    /// Until it is asked for, the server samples no history and a
    /// `history` subscription is answered `unavailable`.
    #[must_use]
    pub fn history_listener(&self) -> Arc<dyn kupala_engine::store::history::HistoryListener> {
        self.history.go_live();
        Arc::clone(&self.history) as Arc<dyn kupala_engine::store::history::HistoryListener>
    }

    /// The sink to hand to `Engine::open`.
    #[must_use]
    pub fn sink(self: &Arc<Self>) -> Box<dyn DeltaSink> {
        Box::new(HubSink(Arc::clone(self)))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives the hub the engine's names (after `Engine::open`).
    pub fn set_names(&self, names: SharedNames) {
        let _ = self.names.set(names);
    }

    /// The engine's names, once set.
    #[must_use]
    pub fn names(&self) -> Option<&SharedNames> {
        self.names.get()
    }

    /// The last seq the hub saw.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Fills the view's totals and last prices from a consistent engine
    /// state (after recovery): per key the entry with the higher seq wins,
    /// because deltas may race it. Positions enter the view per account,
    /// once a client wants it (`hub_interest.rs`).
    pub fn seed(&self, state: &EngineState) {
        let names = self.names.get().and_then(|n| n.read().ok().map(|n| n.clone()));
        let mut st = self.lock();
        st.seq = st.seq.max(state.seq);
        for p in &state.positions {
            if let Some(names) = &names {
                let inst = names.instrument(p.instrument);
                if !st.ticks.contains_key(inst) {
                    let view = TickView {
                        instrument: inst.to_owned(),
                        price: p.mark,
                        ts: None,
                        seq: p.seq,
                    };
                    st.ticks.insert(inst.to_owned(), view);
                }
            }
        }
        for p in &state.portfolios {
            if st.portfolios.get(&p.account).is_none_or(|old| old.seq <= p.seq) {
                st.portfolios.insert(p.account, p.clone());
            }
        }
        for b in &state.books {
            if st
                .books
                .get(&b.book)
                .is_none_or(|old| old.totals.seq <= b.totals.seq)
            {
                st.books.insert(b.book, b.clone());
            }
        }
        if st.firm.as_ref().is_none_or(|f| f.seq <= state.firm.seq) {
            st.firm = Some(state.firm.clone());
        }
        drop(st);
        // The view now holds a consistent state at `state.seq`.
        self.published.advance(state.seq);
    }

    fn publish(&self, seq: u64, t_in: u64, positions: &[PositionDelta], portfolios: &[PortfolioState]) {
        if t_in != 0 {
            self.metrics
                .record_delta(kupala_engine::clock::now_ns().saturating_sub(t_in));
        }
        add(&self.metrics.position_deltas, positions.len() as u64);
        add(&self.metrics.portfolio_deltas, portfolios.len() as u64);
        let names = self.names.get();
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        st.seq = st.seq.max(seq);
        if !st.position_subs.is_empty() {
            publish_positions(st, names, positions, t_in, now);
        }
        for p in portfolios {
            if st.portfolios.get(&p.account).is_some_and(|old| old.seq > p.seq) {
                continue;
            }
            st.portfolios.insert(p.account, p.clone());
            if st.portfolio_subs.is_empty() {
                continue;
            }
            let account = account_name(names, &mut st.account_names, p.account);
            let mut shared = None;
            for r in st.portfolio_subs.matching(&account) {
                let s = shared.get_or_insert_with(|| Shared::new(p.clone(), false));
                let item = Item::Portfolio(Arc::clone(s));
                r.outbox.push(Key::Portfolio(r.sub, p.account), item, t_in, now);
            }
        }
    }

    /// Relays an accepted tick to the `ticks` subscribers of its instrument
    /// (called by the ingest thread once the tick has its seq).
    pub fn tick(&self, t: &Tick, seq: u64) {
        let view = TickView {
            instrument: t.instrument.clone(),
            price: t.price,
            ts: Some(t.ts),
            seq,
        };
        let now = Instant::now();
        let mut st = self.lock();
        if let Some(list) = st.tick_subs.by_key.get(&t.instrument) {
            let shared = Shared::new(view.clone(), false);
            for r in list {
                r.outbox
                    .push(Key::Tick(r.sub), Item::Tick(Arc::clone(&shared)), 0, now);
            }
        }
        match st.ticks.get_mut(&t.instrument) {
            Some(old) => *old = view,
            None => {
                st.ticks.insert(t.instrument.clone(), view);
            }
        }
    }

    /// Registers a connection's queue; its id.
    pub(crate) fn register(&self, outbox: Arc<Outbox>) -> ClientId {
        let id = ClientId(self.next_client.fetch_add(1, Ordering::Relaxed));
        self.lock().clients.insert(id, outbox);
        id
    }

    /// Forgets a connection and all its subscriptions.
    pub(crate) fn unregister(&self, client: ClientId) {
        let mut guard = self.lock();
        let st = &mut *guard;
        st.clients.remove(&client);
        for subs in [
            &mut st.position_subs,
            &mut st.portfolio_subs,
            &mut st.book_subs,
            &mut st.tick_subs,
        ] {
            subs.remove(|r| r.client == client);
        }
        st.firm_subs.retain(|r| r.client != client);
        drop(guard);
        self.history.unregister(client);
    }

    /// Current portfolios visible to `grant`.
    #[must_use]
    pub fn portfolios(&self, grant: &Grant, sel: &AccountSel) -> Vec<PortfolioState> {
        let st = self.lock();
        let Some(names) = self.names.get().and_then(|n| n.read().ok()) else {
            return Vec::new();
        };
        st.portfolios
            .values()
            .filter(|p| selected(sel, grant, names.account(p.account)))
            .cloned()
            .collect()
    }

    /// Connected clients, and updates waiting in their queues (sum, max).
    #[must_use]
    pub fn queue_depths(&self) -> (usize, usize, usize) {
        let st = self.lock();
        let lens = st.clients.values().map(|o| o.len());
        let (sum, max) = lens.fold((0, 0), |(s, m), l| (s + l, m.max(l)));
        (st.clients.len(), sum, max)
    }

    /// Renders states with the engine's names (empty until names are set).
    pub(crate) fn with_names<R>(&self, f: impl FnOnce(&Names) -> R) -> Option<R> {
        let names = self.names.get()?.read().ok()?;
        Some(f(&names))
    }
}
