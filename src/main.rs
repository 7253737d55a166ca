//! The `kupala` command line.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use kupala::config::Config;
use kupala::history::{self, Acks, ReplayOptions, Speed};
use kupala_engine::Method;
use kupala_engine::time::{Date, Timestamp};
use kupala_feeds::JsonlSource;

/// kupala: a streaming position and P&L engine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Log filter: error, warn, info, debug, trace, or per module
    /// (`kupala_engine=debug,info`); default: RUST_LOG, else info.
    #[arg(long, global = true, env = "KUPALA_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, global = true, value_enum, default_value_t, env = "KUPALA_LOG_FORMAT")]
    log_format: kupala::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a JSONL event file through the engine and print the final
    /// positions and portfolios as JSON.
    Calc(CalcArgs),
    /// Replay a store's journal through a fresh engine (a backtest) and print
    /// the same JSON as `calc`; another --method is a what-if run.
    Replay(ReplayArgs),
    /// Summarise a store: events, seq range, snapshots, EOD dates, disk use.
    Inspect {
        /// The store directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Accept that a damaged store lost acknowledged events: recover what
    /// it holds, lower its acknowledged high-water mark to that seq, and
    /// print the range lost. `serve`, `calc --data` and `replay` refuse such
    /// a store until this is run.
    AcceptLoss {
        /// The store directory.
        #[arg(long)]
        data: PathBuf,
        /// Configuration file (TOML): its [engine] method and shards are
        /// used for the recovery.
        #[arg(long, env = "KUPALA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print one day's EOD positions, closed positions and rebalancing
    /// proposals as JSON.
    Eod {
        /// The store directory.
        #[arg(long)]
        data: PathBuf,
        /// The business date, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: Date,
    },
    /// Print one series of a store's P&L history (an account's totals, one
    /// of its books, or with no --account the firm's) as JSON.
    History {
        /// The store directory.
        #[arg(long)]
        data: PathBuf,
        /// The account (default: the firm).
        #[arg(long)]
        account: Option<String>,
        /// The account's book of this strategy.
        #[arg(long)]
        strategy: Option<String>,
        /// The account's default book (trades without a strategy).
        #[arg(long)]
        default_book: bool,
        /// Points at or after this RFC 3339 time.
        #[arg(long, value_parser = parse_ts)]
        from: Option<Timestamp>,
        /// Points at or before this RFC 3339 time.
        #[arg(long, value_parser = parse_ts)]
        to: Option<Timestamp>,
    },
    /// Convert a CSV/JSONL file (trades, ticks, bars, quotes, Yahoo daily)
    /// into JSONL events on stdout, e.g. to pipe into `calc --events -`.
    Convert(kupala::convert::ConvertArgs),
    /// Run the server: the engine with its store, the WebSocket API and the
    /// dashboard on one port (with no arguments: the embedded demo on
    /// http://127.0.0.1:8080, store in ./data).
    ///
    /// Settings come from config/default.toml, then --config FILE, then
    /// KUPALA_SECTION__KEY environment variables for any key (e.g.
    /// KUPALA_SERVER__MAX_CONNECTIONS=2048, KUPALA_FEEDS__TCP__LISTEN=127.0.0.1:9100),
    /// then the flags below (each also read from its KUPALA_* variable).
    Serve(kupala::serve::ServeArgs),
    /// Benchmark the engine, journal, replay, recovery, WebSocket fan-out and TCP ingest on the
    /// standard workload (docs/benchmarks.md), each beside a baseline measured in the same run.
    Bench(BenchArgs),
    /// Compare ML models (walk-forward CV), forecast, cluster and score
    /// instruments from price files (the ML sidecar's analysis).
    Analyze(kupala::analyze::AnalyzeArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: kupala::bench::Scenario,
    /// Small sizes: finishes in under a minute on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Shard worker threads (default: chosen per mode, see docs/architecture.md "Threads").
    #[arg(long)]
    shards: Option<usize>,
}

#[derive(Args, Debug)]
struct CalcArgs {
    /// JSON Lines event file, or `-` for standard input.
    #[arg(long)]
    events: PathBuf,
    /// Cost method of every account: avg, fifo, lifo or hifo (default: each
    /// account's from the config).
    #[arg(long)]
    method: Option<Method>,
    /// Shard worker threads (default: the config's, else chosen per mode: docs/architecture.md "Threads").
    #[arg(long)]
    shards: Option<usize>,
    /// Report bad lines on stderr and go on instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// Persist to this store directory as it goes (journal, snapshots, EOD
    /// tables); a later run on the same file resumes where this one stopped.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: journal fsync policy, "always" or "periodic" (default: the config's).
    #[arg(long)]
    sync: Option<String>,
    /// With --data: every N events, wait until they are durable and print
    /// `durable SEQ LINE` on stdout.
    #[arg(long)]
    acks: Option<u64>,
    /// Configuration file (TOML, see config/default.toml).
    #[arg(long, env = "KUPALA_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The store directory.
    #[arg(long)]
    data: PathBuf,
    /// Pace from the first event at or after this RFC 3339 time (earlier
    /// events still build the state, at full speed).
    #[arg(long, value_parser = parse_ts)]
    from: Option<Timestamp>,
    /// Stop at the first event after this RFC 3339 time.
    #[arg(long, value_parser = parse_ts)]
    to: Option<Timestamp>,
    /// max, 1x (event time), or a factor such as 10 (ten times faster).
    #[arg(long, default_value = "max")]
    speed: Speed,
    /// Cost method of every account for the replay, the what-if: avg, fifo,
    /// lifo or hifo (default: each account's from the config).
    #[arg(long)]
    method: Option<Method>,
    /// Shard worker threads.
    #[arg(long)]
    shards: Option<usize>,
    /// Configuration file (TOML, see config/default.toml).
    #[arg(long, env = "KUPALA_CONFIG")]
    config: Option<PathBuf>,
}

fn parse_ts(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = kupala::logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("kupala: {e:#}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kupala: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Calc(args) => calc(args),
        Command::Replay(args) => replay(&args),
        Command::Inspect { data } => print_json(&history::inspect(&data)?),
        Command::AcceptLoss { data, config } => {
            let config = Config::load(config.as_deref())?;
            let pipeline = pipeline_config(&config, None, None)?;
            print_json(&history::accept_loss(&data, pipeline, config.store_config())?)
        }
        Command::Eod { data, date } => print_json(&history::eod(&data, date)?),
        Command::History {
            data,
            account,
            strategy,
            default_book,
            from,
            to,
        } => {
            let which = kupala::pnl_history::Which {
                account,
                strategy,
                default_book,
                from,
                to,
            };
            print_json(&kupala::pnl_history::run(&data, &which)?)
        }
        Command::Convert(args) => kupala::convert::main(&args),
        Command::Serve(args) => kupala::serve::run(args),
        Command::Bench(args) => bench(&args),
        Command::Analyze(args) => kupala::analyze::main(&args),
    }
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let opts = kupala::bench::BenchOptions {
        scenario: args.scenario,
        quick: args.quick,
        tiny: false,
        json: args.json.clone(),
        shards: args.shards,
        progress: true,
    };
    let report = kupala::bench::run(&opts)?;
    print!("{}", kupala::bench::table(&report));
    Ok(())
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

fn pipeline_config(
    config: &Config,
    method: Option<Method>,
    shards: Option<usize>,
) -> anyhow::Result<kupala_engine::PipelineConfig> {
    let mut p = config.pipeline();
    if let Some(m) = method {
        p.methods = m.into();
    }
    if let Some(n) = shards {
        anyhow::ensure!(n > 0, "--shards must be at least 1");
        p.shards = n;
    }
    p.emit_positions = false;
    // Only a store keeps the history (`calc --data` sets it back).
    p.history = None;
    Ok(p)
}

fn calc(args: CalcArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(sync) = &args.sync {
        config.store.sync.clone_from(sync);
        config.validate()?;
    }
    let pipeline = pipeline_config(&config, args.method, args.shards)?;
    let stdin = args.events.as_os_str() == "-";
    let reader: Box<dyn std::io::BufRead> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.events)
            .with_context(|| format!("opening {}", args.events.display()))?;
        Box::new(BufReader::new(file))
    };
    let source = JsonlSource::new(reader);
    let report = match &args.data {
        Some(dir) => history::calc_with_store(
            source,
            &source_id(&args.events),
            dir,
            kupala_engine::PipelineConfig {
                history: config.history.config(),
                ..pipeline
            },
            config.store_config(),
            args.skip_bad,
            args.acks.map(|every| Acks { every: every.max(1) }),
        )?,
        None => kupala::calc::run(source, pipeline, args.skip_bad)?,
    };
    for line in &report.skipped {
        tracing::warn!("skipped {line}");
    }
    if !report.skipped.is_empty() {
        tracing::warn!("skipped {} bad line(s)", report.skipped.len());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report.view.to_json_pretty())?;
    Ok(())
}

/// The name a file's resume position is stored under (stdin never resumes).
fn source_id(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return format!("stdin-{}", std::process::id());
    }
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let pipeline = pipeline_config(&config, args.method, args.shards)?;
    let opts = ReplayOptions {
        from: args.from,
        to: args.to,
        speed: args.speed,
        progress: true,
    };
    let view = history::replay(&args.data, pipeline, &opts)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", view.to_json_pretty())?;
    Ok(())
}
