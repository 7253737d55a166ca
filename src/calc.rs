//! `kupala calc`: run an event file through the engine and print the final
//! state as JSON.

use std::io::BufRead;

use kupala_engine::view::StateView;
use kupala_engine::{NullSink, Pipeline, PipelineConfig};
use kupala_feeds::{FeedError, JsonlSource};

/// What a calc run produced.
#[derive(Debug)]
pub struct CalcReport {
    /// The final positions and portfolios.
    pub view: StateView,
    /// Events accepted into the engine.
    pub events: u64,
    /// Repeated trade ids ignored.
    pub duplicates: u64,
    /// Bad lines skipped (only with `skip_bad`), with their errors.
    pub skipped: Vec<String>,
}

/// A calc run that stopped at a bad line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CalcError(pub String);

/// Feeds every event of `source` to a fresh pipeline and returns the final
/// state. A bad line stops the run with its line number, unless `skip_bad`,
/// in which case it is recorded and the run goes on; an I/O error always stops.
pub fn run<R: BufRead>(
    mut source: JsonlSource<R>,
    config: PipelineConfig,
    skip_bad: bool,
) -> Result<CalcReport, CalcError> {
    let mut pipeline = Pipeline::start(config, Box::new(NullSink));
    let mut skipped = Vec::new();
    while let Some(item) = source.next() {
        let error = match item {
            Ok(event) => match pipeline.submit(&event) {
                Ok(_) => continue,
                Err(e) => format!("line {}: {e}", source.line()),
            },
            Err(e @ FeedError::Io { .. }) => return Err(CalcError(e.to_string())),
            Err(e) => e.to_string(),
        };
        if !skip_bad {
            return Err(CalcError(error));
        }
        skipped.push(error);
    }
    let stats = pipeline.stats();
    let names = pipeline.names().clone();
    let state = pipeline.finish();
    Ok(CalcReport {
        view: StateView::new(&state, &names),
        events: stats.sequenced,
        duplicates: stats.duplicates,
        skipped,
    })
}
