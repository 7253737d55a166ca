//! The P&L-features scenario (issue 14's bar): the standard workload with
//! a strategy on half the opening trades and a EUR base on a tenth of the
//! accounts (so a tenth of the positions convert USD → EUR on every tick,
//! with their currency effect kept), beside the same run without them,
//! every tick and coalesced, in the same process: the ratio is the cost of
//! the features.

use kupala_engine::event::{Event, Fx};
use kupala_engine::num::Rate;
use kupala_engine::time::Timestamp;
use kupala_feeds::workload::Workload;
use serde_json::{Value, json};

use super::scenarios::{Book, Context, engine_run_on, rate, what};

/// The plain book and the one with the features, both with an EUR/USD
/// rate first (the featured accounts in EUR are priced by it).
fn books(ctx: &Context, w: &Workload, coalesce: bool) -> [(&'static str, Book); 2] {
    let fx = Event::Fx(Fx {
        ts: Timestamp(1_764_513_000_000_000_000),
        pair: "EUR/USD".into(),
        rate: Rate::from_raw(1_085_000_000),
    });
    let plain: Vec<Event> = std::iter::once(fx).chain(w.opening_trades()).collect();
    let mut featured = plain.clone();
    for (i, e) in featured.iter_mut().enumerate() {
        if let Event::Trade(t) = e
            && i % 2 == 0
        {
            t.strategy = Some(format!("strat-{}", i % 7));
        }
    }
    let mut eur = ctx.pipeline(coalesce);
    for a in (0..w.config().accounts).step_by(10) {
        eur.bases
            .accounts
            .insert(w.account_name(a).to_owned(), "EUR".into());
    }
    [
        (
            "plain",
            Book {
                pipeline: ctx.pipeline(coalesce),
                opening: plain,
            },
        ),
        (
            "features",
            Book {
                pipeline: eur,
                opening: featured,
            },
        ),
    ]
}

/// Rounds of the two runs in a full bench: on a shared machine one pair
/// can land on a busy or a quiet moment, so each variant runs this many
/// times, alternating which goes first, and the ratio is of the medians.
const ROUNDS: usize = 5;

/// Ticks/s with and without the features, every tick and coalesced.
pub(crate) fn pnl(ctx: &Context) -> anyhow::Result<Value> {
    let w = ctx.workload(None);
    let ticks: Vec<Event> = w.ticks(ctx.ticks()).collect();
    let rounds = if ctx.quick || ctx.tiny { 1 } else { ROUNDS };
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!("pnl_features"));
    out.insert("rounds".into(), json!(rounds));
    for (mode, coalesce) in [("every_tick", false), ("coalesced", true)] {
        let run_ticks = if coalesce {
            &ticks[..]
        } else {
            &ticks[..ticks.len() / 5]
        };
        let tick_count = run_ticks.iter().filter(|e| matches!(e, Event::Tick(_))).count() as u64;
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            let mut order = books(ctx, &w, coalesce).map(Some);
            let first = round % 2;
            for k in [first, 1 - first] {
                let Some((variant, book)) = order[k].take() else {
                    continue;
                };
                ctx.say(&format!(
                    "pnl {mode} round {}: {variant}, {tick_count} ticks",
                    round + 1
                ));
                let label = format!("pnl-{mode}-{variant}");
                let run = engine_run_on(ctx, &book, run_ticks, None, &label)?;
                rates[k].push(rate(tick_count, run.elapsed));
                out.insert(format!("{mode}_{variant}_latency_us"), run.latency);
            }
        }
        let [plain, features] = rates.map(|mut r| {
            r.sort_by(f64::total_cmp);
            r
        });
        let (p, f) = (median(&plain), median(&features));
        out.insert(format!("{mode}_plain_ticks_per_sec"), json!(p));
        out.insert(format!("{mode}_features_ticks_per_sec"), json!(f));
        out.insert(format!("{mode}_ratio"), json!(round3(f / p.max(1.0))));
        let each: Vec<f64> = plain
            .iter()
            .zip(&features)
            .map(|(p, f)| round3(f / p.max(1.0)))
            .collect();
        out.insert(format!("{mode}_plain_runs"), json!(plain));
        out.insert(format!("{mode}_features_runs"), json!(features));
        out.insert(format!("{mode}_sorted_pair_ratios"), json!(each));
        out.insert(
            format!("{mode}_what"),
            what(&w, tick_count, ctx.shards(coalesce), "periodic 5 ms"),
        );
    }
    out.insert(
        "features".into(),
        json!("a strategy on every other opening trade, a EUR base on every tenth account (EUR/USD 1.085)"),
    );
    out.insert(
        "aim".into(),
        json!("each ratio >= 0.9 (features within 10% of the plain run)"),
    );
    Ok(Value::Object(out))
}

/// The middle of sorted figures (the mean of the two middle ones).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
