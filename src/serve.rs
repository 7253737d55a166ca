//! `kupala serve`: the engine with its store, the WebSocket/HTTP server, the
//! demo feed and the EOD timer, wired together.
//!
//! Threads: `kupala-ingest` owns the engine (with its journal, shard,
//! aggregator and snapshot threads behind it); `kupala-acks` waits for
//! durability; `kupala-demo`, `kupala-file-feed` and `kupala-eod` submit
//! through the same bounded channel as WebSocket clients; the live feeds
//! (TCP endpoint, refresher, `feed`-role clients) go through the
//! conflating feed queue and its pump (`crate::live_feeds`); the tokio
//! runtime runs the connections. Shutdown (SIGINT/SIGTERM): stop the feeds
//! (the feed queue is drained into the engine), stop accepting,
//! let connections flush and close with a reason, then drain the ingest
//! queue, sync the journal and write a snapshot (`Engine::finish`). A
//! restart recovers the same state; after a SIGKILL, every acknowledged
//! event is still in the journal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use tokio::sync::oneshot;

use kupala_api::auth::Auth;
use kupala_api::hub::Hub;
use kupala_api::ingest::{Ingest, IngestHandle};
use kupala_api::metrics::Metrics;
use kupala_api::server::{self, Context};
use kupala_engine::Event;
use kupala_engine::durable::{Engine, Recovery};
use kupala_engine::event::Eod;
use kupala_engine::num::{Price, Quantity};
use kupala_engine::schedule::EodSchedule;
use kupala_engine::state::EngineState;
use kupala_engine::time::Timestamp;
use kupala_engine::view::{PositionView, StateView};
use kupala_feeds::synthetic::SyntheticMarket;

use crate::config::Config;
use crate::config::server::parse_listen;
use crate::live_feeds::LiveFeeds;
use crate::serve_banner::Banner;

/// The positions recovered at start, by name (the demo resumes from them).
type Book = Vec<PositionView>;

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `kupala serve`'s flags. Each overrides its `KUPALA_*` environment
/// variable, which overrides the configuration file, which overrides the
/// built-in defaults (`config/default.toml`).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (TOML, see config/default.toml): [server], [auth],
    /// [demo], [eod] and [ml] configure the server, [engine] and [store] the
    /// engine.
    #[arg(long, env = "KUPALA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Store directory: journal, snapshots, EOD tables (default: [server]
    /// data_dir, "data"). A restart on the same directory resumes its state.
    #[arg(long, env = "KUPALA_DATA")]
    pub data: Option<PathBuf>,
    /// HOST:PORT for the dashboard, /ws, /health and /metrics (default:
    /// [server] listen, 127.0.0.1:8080; port 0 picks a free port). A
    /// non-loopback address requires [[auth.tokens]] in the config.
    #[arg(long, env = "KUPALA_LISTEN")]
    pub listen: Option<String>,
    /// The synthetic demo market: a deterministic GBM market and demo
    /// accounts trading (default: [demo] enabled, on).
    #[arg(long, env = "KUPALA_DEMO", value_enum)]
    pub demo: Option<OnOff>,
}

/// Runs `kupala serve` with its command-line arguments.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load_with_env(args.config.as_deref(), env_vars())?;
    let demo = args.demo.map(|d| d == OnOff::On);
    main(ServeOptions::new(
        config,
        args.data,
        args.listen.as_deref(),
        demo,
    )?)
}

/// The process environment, skipping variables that are not UTF-8 (they
/// cannot name a configuration key).
fn env_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// What `kupala serve` runs with (the config after flags and env vars).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The configuration.
    pub config: Config,
    /// The store directory.
    pub data: PathBuf,
    /// The listen address.
    pub listen: SocketAddr,
    /// Run the synthetic market.
    pub demo: bool,
}

impl ServeOptions {
    /// Options from a configuration, with its `[server]` and `[demo]` values;
    /// `data`, `listen` and `demo` override them when given.
    pub fn new(
        config: Config,
        data: Option<PathBuf>,
        listen: Option<&str>,
        demo: Option<bool>,
    ) -> anyhow::Result<Self> {
        let listen = parse_listen(listen.unwrap_or(&config.server.listen)).map_err(anyhow::Error::msg)?;
        Ok(Self {
            data: data.unwrap_or_else(|| config.server.data_dir.clone()),
            listen,
            demo: demo.unwrap_or(config.demo.enabled),
            config,
        })
    }
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The bound address (the real port when asked for port 0).
    pub addr: SocketAddr,
    /// What recovery found when the store was opened.
    pub recovery: Recovery,
    /// The TCP feed endpoint's address, when `[feeds.tcp]` listens.
    pub tcp_feed: Option<SocketAddr>,
    live: Option<LiveFeeds>,
    stop_server: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    ingest: Option<Ingest>,
    stop_threads: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    ml: Option<crate::serve_ml::Ml>,
}

/// Opens the store, recovers, and starts everything. Fails before touching
/// the store when the listener is refused (a non-loopback address without
/// tokens, a port in use).
pub async fn start(opts: ServeOptions) -> anyhow::Result<Running> {
    let ServeOptions {
        config,
        data,
        listen,
        demo,
    } = opts;
    let auth = Auth::new(&config.auth.tokens, &listen)?;
    let listener = server::bind(listen).await?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(Arc::clone(&metrics));
    let (mut pipeline, store_config) = (config.pipeline(), config.store_config());
    // Position deltas for the accounts clients watch (see Hub::want).
    pipeline.interest = hub.interest();
    let history_on = pipeline.history.is_some();
    let (sink, eods) = crate::serve_ml::eod_tap(hub.sink());
    let opened = {
        let hub = Arc::clone(&hub);
        let data = data.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Engine, Recovery, Book)> {
            let (mut engine, recovery) = Engine::open(&data, pipeline, store_config, sink)
                .with_context(|| format!("opening the store in {}", data.display()))?;
            engine.pipeline().set_latency_stamps(true);
            hub.set_names(engine.pipeline().shared_names());
            // The `history` channel: the history thread tells the hub of
            // each new point as it makes it readable.
            if history_on {
                engine
                    .store()
                    .set_history_listener(hub.history_listener())
                    .context("registering the history channel")?;
            }
            let state = engine.state();
            hub.seed(&state);
            let book = engine
                .store()
                .names()
                .map(|names| StateView::new(&state, &names).positions)
                .unwrap_or_default();
            Ok((engine, recovery, book))
        })
        .await??
    };
    let (engine, recovery, book) = opened;
    for w in &recovery.warnings {
        tracing::warn!("recovery: {w}");
    }
    let store = Arc::clone(engine.store());
    let ml = if config.ml.enabled {
        let recovered = recovery.last_seq;
        Some(crate::serve_ml::start(
            &config.ml,
            Arc::clone(&store),
            eods,
            recovered,
        )?)
    } else {
        None
    };
    let ingest = Ingest::start(
        engine,
        Arc::clone(&hub),
        Arc::clone(&metrics),
        config.server.ingest_queue,
    )?;
    let live = match LiveFeeds::start(&config.feeds.live(), ingest.handle()) {
        Ok(live) => live,
        Err(e) => {
            tokio::task::spawn_blocking(move || {
                ingest.shutdown();
                if let Some(ml) = ml {
                    ml.stop();
                }
            })
            .await?;
            return Err(e);
        }
    };
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let mut threads = Vec::new();
    if demo {
        // On a store that has events the stream continues with a fresh seed,
        // so its trade ids are new; the opening book is always the
        // configured seed's (its trades are ignored repeats when present).
        let opening = config.demo.seed;
        let stream = opening.wrapping_add(recovery.last_seq);
        let (h, rx, speed) = (ingest.handle(), stop_rx.clone(), config.demo.speed);
        threads.push(spawn("kupala-demo", move || {
            demo_feed(&h, opening, stream, speed, &book, &rx);
        })?);
    }
    for feed in config.feeds.files.clone() {
        let (h, rx) = (ingest.handle(), stop_rx.clone());
        threads.push(spawn("kupala-file-feed", move || feed.run(&h, &rx))?);
    }
    if config.eod.enabled {
        let schedule =
            EodSchedule::new(&config.eod.time, &config.eod.timezone).map_err(anyhow::Error::msg)?;
        let (h, rx) = (ingest.handle(), stop_rx);
        threads.push(spawn("kupala-eod", move || eod_timer(&h, &schedule, &rx))?);
    }
    let ctx = Arc::new(Context {
        hub,
        ingest: ingest.handle(),
        auth,
        metrics,
        store,
        config: config.server.server_config(),
        feeds: Some(live.gate()),
        analysis: ml.as_ref().map(|m| Arc::clone(&m.analysis)),
        as_of: kupala_api::as_of::AsOfReader::new(config.pipeline(), config.server.as_of_max_events),
    });
    let (stop_server, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, ctx, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        recovery,
        tcp_feed: live.tcp_addr(),
        live: Some(live),
        stop_server: Some(stop_server),
        server,
        ingest: Some(ingest),
        stop_threads: Some(stop_tx),
        threads,
        ml,
    })
}

fn spawn(name: &'static str, f: impl FnOnce() + Send + 'static) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .with_context(|| format!("starting thread {name}"))
}

impl Running {
    /// Why the store failed (a full disk, an I/O error), once it has: the
    /// server then answers writes `unavailable` and `/health` 503.
    #[must_use]
    pub fn store_failure(&self) -> Option<String> {
        self.ingest.as_ref().and_then(|i| i.handle().store_failure())
    }

    /// Resolves once the store failed, with the reason.
    pub async fn store_failed(&self) -> String {
        loop {
            if let Some(reason) = self.store_failure() {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Graceful shutdown: feeds stop, connections flush and close with a
    /// reason, the journal is synced and a snapshot written. The final state.
    pub async fn stop(mut self) -> anyhow::Result<EngineState> {
        drop(self.stop_threads.take());
        let threads = std::mem::take(&mut self.threads);
        let live = self.live.take();
        tokio::task::spawn_blocking(move || {
            threads.into_iter().for_each(|t| drop(t.join()));
            if let Some(live) = live {
                live.stop();
            }
        })
        .await?;
        if let Some(tx) = self.stop_server.take() {
            let _ = tx.send(());
        }
        (&mut self.server).await?;
        if let Some(ml) = self.ml.take() {
            tokio::task::spawn_blocking(move || ml.stop()).await?;
        }
        let ingest = self.ingest.take().context("already stopped")?;
        let state = tokio::task::spawn_blocking(move || ingest.shutdown()).await?;
        state.context("the ingest thread stopped before shutdown")
    }
}

/// `kupala serve` in the foreground: runs until SIGINT or SIGTERM.
pub fn main(opts: ServeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kupala-tokio")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let exit_after = Duration::from_secs(opts.config.server.store_failure_exit_secs);
        let banner = Banner::of(&opts);
        let running = start(opts).await?;
        // Registered before the server says it listens: a SIGTERM sent as
        // soon as that line is read must stop it cleanly, not kill it.
        let mut signals = StopSignals::register();
        for line in banner.lines(&running) {
            tracing::info!("{line}");
        }
        let failure = tokio::select! {
            () = signals.recv() => None,
            reason = running.store_failed() => Some(reason),
        };
        if let Some(reason) = &failure {
            // Writes are refused and /health says why; a restart (once the
            // disk has room) recovers every acknowledged event from the
            // journal, which an in-process retry of a poisoned store could
            // not promise. Exit non-zero so a supervisor restarts us.
            tracing::error!(
                "the store failed: {reason}; not ready, refusing writes, exiting in {} s",
                exit_after.as_secs()
            );
            tokio::select! {
                () = signals.recv() => {}
                () = tokio::time::sleep(exit_after) => {}
            }
            tracing::warn!("shutting down without a snapshot (the store failed)");
        } else {
            tracing::info!("shutting down (a second signal exits at once)");
        }
        tokio::spawn(async move {
            signals.recv().await;
            std::process::exit(130);
        });
        let state = running.stop().await?;
        if let Some(reason) = failure {
            anyhow::bail!(
                "stopped at seq {} because the store failed ({reason}); fix the cause (e.g. free disk space) and start again: recovery replays the journal",
                state.seq
            );
        }
        tracing::info!("stopped at seq {}; snapshot written", state.seq);
        Ok(())
    })
}

/// SIGTERM and SIGINT (Ctrl-C), registered at once so none is missed
/// between start-up and the first wait.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the next stop signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sleeps `wait` unless told to stop; false when stopping.
fn pause(stop: &Receiver<()>, wait: Duration) -> bool {
    matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
}

/// The synthetic market, paced by its own waits (÷ `speed`); events closer
/// than a millisecond are sent together. On a store that has positions
/// (`book`), the stream resumes from their marks and quantities. Events are
/// stamped with the wall clock as they are sent (the stream's own times
/// start again at every restart), so the P&L history's event time moves
/// with the demo, across restarts too.
fn demo_feed(
    ingest: &IngestHandle,
    opening: u64,
    stream: u64,
    speed: f64,
    book: &[PositionView],
    stop: &Receiver<()>,
) {
    let mut opening = SyntheticMarket::demo(opening).opening_events();
    opening.iter_mut().for_each(|e| e.restamp(wall_clock()));
    if !ingest.feed_blocking(opening) {
        return;
    }
    let mut market = SyntheticMarket::demo(stream);
    if !book.is_empty() {
        let marks: Vec<(&str, Price)> = book.iter().map(|p| (p.instrument.as_str(), p.mark)).collect();
        let holdings: Vec<(&str, &str, Quantity)> = book
            .iter()
            .map(|p| (p.account.as_str(), p.instrument.as_str(), p.qty))
            .collect();
        market.resume_from(&marks, &holdings);
    }
    let mut batch = Vec::new();
    loop {
        let (wait, event) = market.next_event();
        let wait = Duration::try_from_secs_f64(wait.as_secs_f64() / speed).unwrap_or(Duration::from_secs(1));
        if wait >= Duration::from_millis(1) || batch.len() >= 256 {
            if !batch.is_empty() && !ingest.feed_blocking(std::mem::take(&mut batch)) {
                return;
            }
            if !pause(stop, wait) {
                return;
            }
        }
        let mut event = event;
        event.restamp(wall_clock());
        batch.push(event);
    }
}

/// Now, as an event timestamp.
fn wall_clock() -> Timestamp {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0);
    Timestamp(ns)
}

/// Journals an `eod` event at each occurrence of the schedule.
fn eod_timer(ingest: &IngestHandle, schedule: &EodSchedule, stop: &Receiver<()>) {
    loop {
        let now = wall_clock().0;
        let Some((at, date)) = schedule.next_after(Timestamp(now)) else {
            return;
        };
        let wait = Duration::from_nanos(u64::try_from(at.0.saturating_sub(now)).unwrap_or(0));
        if !pause(stop, wait) {
            return;
        }
        if !ingest.feed_blocking(vec![Event::Eod(Eod { date })]) {
            return;
        }
        tracing::info!("EOD {date} journaled");
    }
}
