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

/// Ticks/s with and without the features, every tick and coalesced.
pub(crate) fn pnl(ctx: &Context) -> anyhow::Result<Value> {
    let w = ctx.workload(None);
    let ticks: Vec<Event> = w.ticks(ctx.ticks()).collect();
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!("pnl_features"));
    for (mode, coalesce) in [("every_tick", false), ("coalesced", true)] {
        let run_ticks = if coalesce {
            &ticks[..]
        } else {
            &ticks[..ticks.len() / 5]
        };
        let tick_count = run_ticks.iter().filter(|e| matches!(e, Event::Tick(_))).count() as u64;
        let mut rates = Vec::new();
        for (variant, book) in books(ctx, &w, coalesce) {
            ctx.say(&format!("pnl {mode}: {variant}, {tick_count} ticks"));
            let run = engine_run_on(ctx, &book, run_ticks, None, &format!("pnl-{mode}-{variant}"))?;
            let r = rate(tick_count, run.elapsed);
            out.insert(format!("{mode}_{variant}_ticks_per_sec"), json!(r));
            out.insert(format!("{mode}_{variant}_latency_us"), run.latency);
            rates.push(r);
        }
        let ratio = rates[1] / rates[0].max(1.0);
        out.insert(format!("{mode}_ratio"), json!((ratio * 1000.0).round() / 1000.0));
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
