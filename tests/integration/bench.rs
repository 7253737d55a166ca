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
    ] {
        assert_eq!(report[key]["name"], key, "scenario {key} present and named");
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
    assert_eq!(
        report["engine"]["what"]["ticks"],
        report["engine_coalesced"]["what"]["ticks"]
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
    Ok(())
}
