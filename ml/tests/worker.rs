//! The worker over a real store built by the engine: jobs run at the lowest
//! priority, write `job/<id>` and `latest`, report progress, and stop when
//! cancelled without writing anything; account analytics match a
//! hand-computed fixture.

use std::sync::Arc;
use std::time::Duration;

use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::store::Store;
use kupala_engine::time::Timestamp;
use kupala_engine::{Event, NullSink, PipelineConfig};
use kupala_ml::analytics::performance;
use kupala_ml::{AnalyzeRequest, JobStatus, PriceSeries, Worker, WorkerConfig};

const MINUTE: i64 = 60_000_000_000;
const T0: i64 = 1_704_207_600_000_000_000; // 2024-01-02T15:00:00Z

fn event(json: &str) -> Event {
    match Event::from_json(json) {
        Ok(e) => e,
        Err(e) => panic!("{json}: {e}"),
    }
}

fn ts(nanos: i64) -> String {
    Timestamp(nanos).to_string()
}

fn tick(at: i64, instrument: &str, price: f64) -> Event {
    event(&format!(
        r#"{{"type":"tick","ts":"{}","instrument":"{instrument}","price":"{price:.4}"}}"#,
        ts(at)
    ))
}

fn trade(at: i64, account: &str, instrument: &str, side: &str, qty: u32, price: &str) -> Event {
    event(&format!(
        r#"{{"type":"trade","ts":"{}","account":"{account}","instrument":"{instrument}","side":"{side}","qty":"{qty}","price":"{price}"}}"#,
        ts(at)
    ))
}

fn eod(date: &str) -> Event {
    event(&format!(r#"{{"type":"eod","date":"{date}"}}"#))
}

/// Runs events through the engine with a store in `dir`; returns the store.
fn store_with(dir: &std::path::Path, events: &[Event]) -> Arc<Store> {
    let pipeline = PipelineConfig {
        shards: 1,
        ..PipelineConfig::default()
    };
    let opened = Engine::open(dir, pipeline, StoreConfig::default(), Box::new(NullSink));
    let Ok((mut engine, _)) = opened else {
        panic!("open: {:?}", opened.err())
    };
    for e in events {
        assert!(engine.submit(e).is_ok(), "{e:?}");
    }
    let store = Arc::clone(engine.store());
    let _ = engine.finish();
    store
}

/// A deterministic random walk of `n` prices.
#[allow(clippy::cast_precision_loss, reason = "test data")]
fn walk(seed: u64, n: usize, start: f64) -> Vec<f64> {
    let mut x = seed;
    let mut p = start;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            p *= 1.0 + 0.004 * u;
            p
        })
        .collect()
}

fn config() -> WorkerConfig {
    let mut c = WorkerConfig::default();
    c.analyze.folds = 3;
    c
}

#[test]
fn a_job_reads_the_journal_and_writes_its_result_to_the_store() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut events = vec![
        trade(T0, "A1", "AAA", "buy", 10, "100"),
        trade(T0, "A2", "BBB", "buy", 5, "50"),
    ];
    let names = ["AAA", "BBB", "CCC"];
    let walks: Vec<Vec<f64>> = (0..3).map(|i| walk(i + 1, 240, 100.0)).collect();
    for (m, at) in (0..240).map(|m| (m, T0 + m * MINUTE)) {
        for (name, w) in names.iter().zip(&walks) {
            // Two ticks a minute: the bar keeps the second (its close).
            let p = w[usize::try_from(m).unwrap_or(0)];
            events.push(tick(at, name, p * 0.999));
            events.push(tick(at + 30_000_000_000, name, p));
        }
    }
    events.push(eod("2024-01-02"));
    let store = store_with(dir.path(), &events);
    let worker = Worker::spawn(Arc::clone(&store), config());
    let Ok(worker) = worker else {
        panic!("spawn: {:?}", worker.err())
    };
    let progress = worker.subscribe();
    let id = worker.submit(AnalyzeRequest::default());
    let status = worker.wait(id, Duration::from_secs(300));
    assert_eq!(status, Some(JobStatus::Done));
    eprintln!("worker priority: {}", worker.priority());
    if cfg!(target_os = "linux") {
        assert_ne!(
            worker.priority(),
            "normal",
            "the worker runs at the lowest priority"
        );
    }
    let stored = store.analysis(&format!("job/{id}"));
    let Ok(Some(bytes)) = stored else {
        panic!("no job/{id}: {stored:?}")
    };
    assert_eq!(store.analysis("latest").ok().flatten().as_ref(), Some(&bytes));
    assert_eq!(
        worker.result(id).ok().flatten().map(|b| b.to_vec()),
        Some(bytes.clone())
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(json["job"], id);
    assert_eq!(json["trigger"]["kind"], "request");
    assert_eq!(json["leaderboard"].as_array().map(Vec::len), Some(6));
    assert_eq!(json["baselines"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["forecasts"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["data"]["observations"], 720, "one bar per instrument-minute");
    let events: Vec<_> = progress.try_iter().collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.status, JobStatus::Running { stage, .. } if stage.contains("fold")))
    );
    assert!(
        events
            .last()
            .is_some_and(|e| e.job == id && e.status == JobStatus::Done)
    );
    let eod_job = worker.on_eod(kupala_engine::time::Date(19_724));
    let Some(eod_job) = eod_job else {
        panic!("on_eod is on by default")
    };
    assert_eq!(
        worker.wait(eod_job, Duration::from_secs(300)),
        Some(JobStatus::Done)
    );
    let latest = store.analysis("latest").ok().flatten().unwrap_or_default();
    let latest: serde_json::Value = serde_json::from_slice(&latest).unwrap_or_default();
    assert_eq!(latest["trigger"]["kind"], "eod");
    assert_eq!(latest["trigger"]["date"], "2024-01-02");
    drop(worker);
    // Job ids keep counting across restarts of the worker.
    let Ok(again) = Worker::spawn(Arc::clone(&store), config()) else {
        panic!("respawn")
    };
    assert!(again.submit(AnalyzeRequest::default()) > eod_job);
}

#[test]
fn cancel_stops_a_running_job_and_writes_nothing() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let store = store_with(dir.path(), &[]);
    let Ok(worker) = Worker::spawn(Arc::clone(&store), config()) else {
        panic!("spawn")
    };
    let series: Vec<PriceSeries> = (0..8)
        .map(|i| {
            let p = walk(i + 7, 4_000, 50.0);
            PriceSeries::new(format!("S{i}"), (0..4_000).map(|t| T0 + t * MINUTE).collect(), p)
        })
        .collect();
    let big = AnalyzeRequest {
        series: Some(series),
        folds: Some(10),
        ..AnalyzeRequest::default()
    };
    let events = worker.subscribe();
    let running = worker.submit(big.clone());
    let queued = worker.submit(big);
    // Wait until the first job is inside the walk-forward folds.
    let started = events.iter().find(|e| {
        e.job == running && matches!(&e.status, JobStatus::Running { stage, .. } if stage.contains("fold"))
    });
    assert!(started.is_some(), "the job never reached the folds");
    assert_eq!(worker.status(queued), Some(JobStatus::Queued));
    assert!(worker.cancel(queued));
    assert_eq!(
        worker.status(queued),
        Some(JobStatus::Cancelled),
        "a queued job is cancelled at once"
    );
    assert!(worker.cancel(running));
    assert_eq!(
        worker.wait(running, Duration::from_secs(120)),
        Some(JobStatus::Cancelled)
    );
    assert!(!worker.cancel(running), "already final");
    for key in [
        format!("job/{running}"),
        format!("job/{queued}"),
        "latest".to_owned(),
    ] {
        assert_eq!(store.analysis(&key).ok().flatten(), None, "{key} was written");
    }
    assert!(worker.result(running).is_ok_and(|r| r.is_none()));
    // The worker goes on serving.
    let small = AnalyzeRequest {
        series: Some(vec![PriceSeries::new(
            "X",
            (0..200).map(|t| T0 + t * MINUTE).collect(),
            walk(3, 200, 10.0),
        )]),
        ..AnalyzeRequest::default()
    };
    let next = worker.submit(small);
    assert_eq!(worker.wait(next, Duration::from_secs(120)), Some(JobStatus::Done));
    assert!(store.analysis("latest").is_ok_and(|v| v.is_some()));
    let bad = worker.submit(AnalyzeRequest {
        folds: Some(0),
        ..AnalyzeRequest::default()
    });
    let failed = worker.wait(bad, Duration::from_secs(60));
    assert!(matches!(failed, Some(JobStatus::Failed { reason }) if reason.contains("folds")));
}

#[test]
fn account_analytics_match_a_hand_computed_fixture() {
    let Ok(dir) = tempfile::tempdir() else { return };
    let day = 86_400_000_000_000i64;
    let d = |n: i64| T0 + n * day;
    let events = vec![
        // Day 1: 10 X at 100 and 10 Y at 50: exposure 1500, no P&L yet.
        trade(d(0), "A1", "X", "buy", 10, "100"),
        trade(d(0), "A1", "Y", "buy", 10, "50"),
        eod("2024-01-02"),
        // Day 2: X to 110: +100 on an exposure of 1500. Exposure 1600.
        tick(d(1), "X", 110.0),
        eod("2024-01-03"),
        // Day 3: X to 99: -110 on 1600. Exposure 1490.
        tick(d(2), "X", 99.0),
        eod("2024-01-04"),
        // Day 4: sell X at 104.5 (+55 on the day, realized 45 in all) and Y
        // to 55 (+50): +105 on 1490. X is flat: closed at this EOD.
        trade(d(3), "A1", "X", "sell", 10, "104.5"),
        tick(d(3), "Y", 55.0),
        eod("2024-01-05"),
        // Day 5: a fresh X position, bought at 100, marked at 102: +20 (its
        // baseline is 0, not the closed one's 45) on an exposure of 550.
        trade(d(4), "A1", "X", "buy", 10, "100"),
        tick(d(4), "X", 102.0),
        eod("2024-01-06"),
    ];
    let store = store_with(dir.path(), &events);
    let loaded = kupala_ml::accounts::load(&store);
    let Ok((accounts, closes)) = loaded else {
        panic!("{:?}", loaded.err())
    };
    assert_eq!(accounts.len(), 1);
    let a = &accounts[0];
    assert_eq!(a.account, "A1");
    let want = [100.0 / 1500.0, -110.0 / 1600.0, 105.0 / 1490.0, 20.0 / 550.0];
    assert_eq!(a.returns.len(), 4, "{a:?}");
    for (got, want) in a.returns.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert_eq!(a.pnl, vec![100.0, -110.0, 105.0, 20.0]);
    // Benchmark Y's EOD closes: 50, 50, 50, 55, 55 -> returns 0, 0, 0.1, 0.
    let Some(y) = closes.get("Y") else {
        panic!("no Y closes")
    };
    let b = kupala_ml::accounts::returns_on(y, &a.dates);
    assert_eq!(b.len(), 4);
    for (got, want) in b.iter().zip([0.0, 0.0, 0.1, 0.0]) {
        assert!((got - want).abs() < 1e-12, "{b:?}");
    }
    let Some(p) = performance(&a.returns, 252.0, Some(&b)) else {
        panic!("no analytics")
    };
    // By hand: equity 1 -> (1 + r1)(1 + r2)(1 + r3)(1 + r4).
    let equity: f64 = want.iter().map(|r| 1.0 + r).product();
    assert!((p.total_return - (equity - 1.0)).abs() < 1e-12);
    // The only fall is day 3's, from the day-2 peak: drawdown = -r2.
    assert!((p.max_drawdown - 110.0 / 1600.0).abs() < 1e-12);
    // beta = cov(r, b) / var(b): mean b = 0.025, var b = 0.0075 / 3;
    // cov = (0.075 r3 - 0.025 (r1 + r2 + r4)) / 3.
    let cov = (0.075 * want[2] - 0.025 * (want[0] + want[1] + want[3])) / 3.0;
    assert!((p.beta.unwrap_or(f64::NAN) - cov / (0.0075 / 3.0)).abs() < 1e-9);
    let mean = want.iter().sum::<f64>() / 4.0;
    let var = want.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 3.0;
    assert!((p.sharpe.unwrap_or(f64::NAN) - mean / var.sqrt() * 252f64.sqrt()).abs() < 1e-9);
}
