//! The benchmark harness in its smallest configuration: the JSON report is
//! complete and consistent with itself. No wall-clock figure is asserted.

use kupala::bench::{BenchOptions, Scenario, run};
use serde_json::Value;

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn check_latency(name: &str, l: &Value) {
    let (p50, p99, p999, max) = (num(l, "p50"), num(l, "p99"), num(l, "p999"), num(l, "max"));
    assert!(
        l["count"].as_u64().is_some_and(|c| c > 0),
        "{name}: no latency samples"
    );
    assert!(
        0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "{name}: percentiles out of order {l}"
    );
}

#[test]
fn the_smallest_run_reports_every_scenario_consistently() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let json = dir.path().join("bench.json");
    let opts = BenchOptions {
        scenario: Scenario::All,
        quick: false,
        tiny: true,
        json: Some(json.clone()),
        shards: Some(2),
        progress: false,
    };
    let report = run(&opts)?;
    let written: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    assert_eq!(written, report, "the JSON file is the report");
    for key in [
        "engine",
        "engine_coalesced",
        "engine_at_100k",
        "engine_at_1000k",
        "journal",
        "replay",
        "recovery",
        "ws",
        "ws_at_100k",
        "ingest",
        "ingest_2x",
        "pnl_features",
    ] {
        assert_eq!(report[key]["name"], key, "scenario {key} present and named");
    }
    let pnl = &report["pnl_features"];
    for mode in ["every_tick", "coalesced"] {
        let (plain, featured, ratio) = (
            num(pnl, &format!("{mode}_plain_ticks_per_sec")),
            num(pnl, &format!("{mode}_features_ticks_per_sec")),
            num(pnl, &format!("{mode}_ratio")),
        );
        assert!(plain > 0.0 && featured > 0.0, "{mode}: {pnl}");
        assert!(
            (ratio - featured / plain).abs() <= 0.001 + 1e-9 * ratio,
            "{mode}: ratio {ratio}"
        );
        check_latency(mode, &pnl[format!("{mode}_features_latency_us")]);
    }
    for key in ["engine", "engine_coalesced", "engine_at_100k", "engine_at_1000k"] {
        let s = &report[key];
        let what = &s["what"];
        assert_eq!(what["positions"], 500, "{key}: 50 accounts × 10 positions");
        assert_eq!(what["shards"], 2);
        let (rate, base, speedup) = (
            num(s, "ticks_per_sec"),
            num(s, "baseline_ticks_per_sec"),
            num(s, "speedup"),
        );
        assert!(rate > 0.0 && base > 0.0, "{key}: {s}");
        assert!(
            (speedup - rate / base).abs() <= 0.01 + 1e-9 * speedup,
            "{key}: speedup {speedup} is not {rate}/{base}"
        );
        check_latency(key, &s["latency_us"]);
    }
    for key in ["engine", "engine_coalesced"] {
        check_reference(key, &report[key]);
    }
    assert!(
        report["engine"]["what"]["ticks"].as_u64() <= report["engine_coalesced"]["what"]["ticks"].as_u64(),
        "every tick runs on a prefix of the coalesced run's stream"
    );
    assert!(num(&report["journal"], "events_per_sec_sync_always") > 0.0);
    assert!(num(&report["journal"], "events_per_sec_sync_periodic_5ms") > 0.0);
    assert!(num(&report["replay"], "events_per_sec") > 0.0);
    let rec = &report["recovery"];
    assert_eq!(rec["what"]["positions"], 500);
    assert_eq!(
        rec["recovered_from_snapshot"], rec["what"]["positions"],
        "the snapshot is at the last event: one opening trade per position"
    );
    assert_eq!(rec["replayed_after_snapshot"], 0);
    assert!(num(rec, "snapshot_bytes") > 0.0);
    let ml = &report["ml"];
    assert_eq!(ml["name"], "ml");
    check_latency("ml idle", &ml["idle"]["latency_us"]);
    check_latency("ml with_ml", &ml["with_ml"]["latency_us"]);
    assert!(num(&ml["with_ml"], "p99_vs_idle") > 0.0, "{ml}");
    for key in ["ws", "ws_at_100k"] {
        check_ws(key, &report[key]);
    }
    for key in ["ingest", "ingest_2x"] {
        check_ingest(key, &report[key]);
    }
    check_counts("ingest baseline", &report["ingest"]["baseline_counts"]);
    Ok(())
}

/// The reference loop ran beside the engine: its rate, the ratio to it
/// (3 decimals) and the checksum of its final totals are reported.
fn check_reference(name: &str, s: &Value) {
    let (rate, reference, vs) = (
        num(s, "ticks_per_sec"),
        num(s, "reference_ticks_per_sec"),
        num(s, "vs_reference"),
    );
    assert!(reference > 0.0 && vs > 0.0, "{name}: {s}");
    assert!(
        (vs - rate / reference).abs() <= 0.001 + 1e-9 * vs,
        "{name}: vs_reference {vs} is not {rate}/{reference}"
    );
    assert!(
        s["reference_checksum"]
            .as_str()
            .is_some_and(|c| c.parse::<i128>().is_ok()),
        "{name}: reference checksum {s}"
    );
}

fn check_speedup(name: &str, s: &Value, rate: &str, base: &str) {
    let (rate, base, speedup) = (num(s, rate), num(s, base), num(s, "speedup"));
    assert!(rate > 0.0 && base > 0.0, "{name}: {s}");
    assert!(
        (speedup - rate / base).abs() <= 0.01 + 1e-9 * speedup,
        "{name}: speedup {speedup} is not {rate}/{base}"
    );
}

/// Every delta delivered was timed; nothing was refused, closed or
/// mis-sequenced (a wrong seq would make the latency lookup wrong).
fn check_ws(name: &str, s: &Value) {
    assert_eq!(s["what"]["clients"], 4, "{name}");
    assert_eq!(s["what"]["positions"], 500, "{name}");
    let deltas = s["deltas"].as_u64().unwrap_or(0);
    assert!(deltas > 0, "{name}: no delta delivered {s}");
    assert_eq!(
        s["latency_us"]["count"], deltas,
        "{name}: one latency sample per delta"
    );
    check_latency(name, &s["latency_us"]);
    check_latency(&format!("{name} baseline"), &s["baseline_latency_us"]);
    check_speedup(name, s, "deltas_per_sec", "baseline_deltas_per_sec");
    assert!(num(s, "ticks_per_sec") > 0.0, "{name}");
    for zero in ["seq_mismatches", "submit_errors", "clients_closed"] {
        assert_eq!(s[zero], 0, "{name}: {zero}");
    }
    assert_eq!(s["settled"], true, "{name}: deliveries did not settle");
}

/// Every tick sent is applied, conflated or refused; no trade is lost.
fn check_counts(name: &str, c: &Value) {
    let n = |k: &str| c[k].as_u64().unwrap_or(u64::MAX);
    assert!(n("ticks_sent") > 0, "{name}: {c}");
    assert_eq!(
        n("ticks_sent"),
        n("ticks_applied") + n("ticks_conflated") + n("ticks_refused"),
        "{name}: ticks sent = applied + conflated + refused: {c}"
    );
    assert_eq!(n("trades_lost"), 0, "{name}: {c}");
    assert_eq!(
        n("trades_sent"),
        n("trades_applied") + n("trades_refused"),
        "{name}: {c}"
    );
    assert_eq!(n("engine_errors"), 0, "{name}: {c}");
    assert_eq!(
        n("error_replies"),
        n("ticks_refused") + n("trades_refused"),
        "{name}: {c}"
    );
}

fn check_ingest(name: &str, s: &Value) {
    assert_eq!(s["what"]["positions"], 500, "{name}");
    check_counts(name, &s["counts"]);
    check_speedup(name, s, "ticks_per_sec", "baseline_ticks_per_sec");
    assert!(num(s, "applied_ticks_per_sec") > 0.0, "{name}");
    check_latency(name, &s["latency_us"]);
}
