//! The `kupala` command line.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kupala::config::Config;
use kupala_engine::Method;
use kupala_feeds::JsonlSource;

/// kupala: a streaming position and P&L engine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a JSONL event file through the engine and print the final
    /// positions and portfolios as JSON.
    Calc {
        /// JSON Lines event file, or `-` for standard input.
        #[arg(long)]
        events: PathBuf,
        /// Cost method: avg, fifo or lifo (default: the config's).
        #[arg(long)]
        method: Option<Method>,
        /// Shard worker threads (default: the config's, else one per core).
        #[arg(long)]
        shards: Option<usize>,
        /// Report bad lines on stderr and go on instead of stopping.
        #[arg(long)]
        skip_bad: bool,
        /// Configuration file (TOML, see config/default.toml).
        #[arg(long, env = "KUPALA_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kupala: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Calc {
            events,
            method,
            shards,
            skip_bad,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            let mut pipeline = config.pipeline();
            if let Some(m) = method {
                pipeline.method = m;
            }
            if let Some(n) = shards {
                anyhow::ensure!(n > 0, "--shards must be at least 1");
                pipeline.shards = n;
            }
            pipeline.emit_positions = false;
            let report = if events.as_os_str() == "-" {
                kupala::calc::run(JsonlSource::new(std::io::stdin().lock()), pipeline, skip_bad)
            } else {
                let file =
                    std::fs::File::open(&events).with_context(|| format!("opening {}", events.display()))?;
                kupala::calc::run(JsonlSource::new(BufReader::new(file)), pipeline, skip_bad)
            }?;
            for line in &report.skipped {
                eprintln!("skipped {line}");
            }
            if !report.skipped.is_empty() {
                eprintln!("kupala: skipped {} bad line(s)", report.skipped.len());
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report.view.to_json_pretty())?;
            Ok(())
        }
    }
}
