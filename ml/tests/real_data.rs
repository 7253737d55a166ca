//! The analysis on real market data (the repository's `testdata/data`; a
//! missing file fails the test): a complete leaderboard with finite
//! metrics, forecasts, clusters and analytics.

use std::path::PathBuf;

use kupala_ml::files::{FileSpec, read_files};
use kupala_ml::{AnalyzeConfig, Control, Inputs, Report, analyze};

/// A file of `testdata/data`; panics (the test fails) when it is missing.
fn data_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/data")
        .join(name);
    assert!(
        path.is_file(),
        "test data missing: {} (see testdata/README.md)",
        path.display()
    );
    path
}

fn run(specs: &[FileSpec]) -> Report {
    let loaded = read_files(specs);
    assert!(loaded.is_ok(), "{:?}", loaded.err());
    let Ok(loaded) = loaded else { unreachable!() };
    let inputs = Inputs {
        series: loaded.series,
        ..Inputs::default()
    };
    let report = analyze(inputs, &AnalyzeConfig::default(), &Control::none());
    assert!(report.is_ok(), "{:?}", report.err());
    let Ok(report) = report else { unreachable!() };
    report
}

fn assert_complete(r: &Report, instruments: &[&str]) {
    let models: Vec<&str> = r.leaderboard.iter().map(|x| x.model.as_str()).collect();
    for m in [
        "linear",
        "ridge",
        "elastic_net",
        "decision_tree",
        "knn",
        "logistic",
    ] {
        assert!(models.contains(&m), "{m} missing from {models:?}");
    }
    let baselines: Vec<&str> = r.baselines.iter().map(|x| x.model.as_str()).collect();
    for b in ["zero_return", "last_return", "mean_return"] {
        assert!(baselines.contains(&b), "{b} missing from {baselines:?}");
    }
    for row in r.leaderboard.iter().chain(&r.baselines) {
        for (what, v) in [
            ("mae", row.mae),
            ("rmse", row.rmse),
            ("r2", row.r2),
            ("accuracy", row.accuracy),
        ] {
            assert!(v.is_finite(), "{} {what} = {v}", row.model);
        }
        assert!(row.relative_rmse.is_some_and(f64::is_finite), "{}", row.model);
        assert!((0.0..=1.0).contains(&row.accuracy));
        assert!(row.predictions > 0);
    }
    let n = r.leaderboard[0].predictions;
    assert!(
        r.leaderboard
            .iter()
            .chain(&r.baselines)
            .all(|x| x.predictions == n),
        "same rows for all"
    );
    let best = r.best.as_ref().map(|b| b.model.clone());
    assert_eq!(best.as_deref(), Some(r.leaderboard[0].model.as_str()));
    let mut forecast: Vec<&str> = r.forecasts.iter().map(|f| f.instrument.as_str()).collect();
    forecast.sort_unstable();
    assert_eq!(forecast, instruments, "a forecast per instrument");
    assert!(r.forecasts.iter().all(|f| f.forecast_return.is_finite()));
    assert_eq!(r.clusters.len(), instruments.len());
    assert_eq!(r.analytics.instruments.len(), instruments.len());
    for a in &r.analytics.instruments {
        let p = &a.performance;
        assert!(p.volatility.is_finite() && p.volatility > 0.0, "{}", a.name);
        assert!((0.0..=1.0).contains(&p.max_drawdown), "{}", a.name);
        assert!(p.sharpe.is_some_and(f64::is_finite), "{}", a.name);
    }
    assert!(serde_json::to_string(r).is_ok_and(|j| j.contains("\"leaderboard\"")));
}

#[test]
fn sp500_daily_and_monthly_stocks_give_a_complete_leaderboard() {
    let r = run(&[
        FileSpec {
            path: data_file("sp500-daily-2000-2020.csv"),
            instrument: Some("SPX".to_owned()),
            ..FileSpec::default()
        },
        FileSpec {
            path: data_file("stocks-monthly-2000-2010.csv"),
            ..FileSpec::default()
        },
    ]);
    assert_complete(&r, &["AAPL", "AMZN", "GOOG", "IBM", "MSFT", "SPX"]);
    assert_eq!(r.data.instruments, 6);
    assert!(r.data.skipped.is_empty(), "{:?}", r.data.skipped);
    assert_eq!(r.analytics.benchmark.as_deref(), Some("SPX"));
    let monthly = r.analytics.instruments.iter().find(|a| a.name == "MSFT");
    assert!(monthly.is_some_and(|m| (m.performance.periods_per_year - 12.0).abs() < 0.5));
    assert!(monthly.is_some_and(|m| m.performance.beta.is_some_and(f64::is_finite)));
    for board in &r.instruments {
        assert!(board.folds >= 2, "{}: {} folds", board.instrument, board.folds);
        assert_eq!(
            board.features.contains(&"volume_z_20"),
            board.instrument == "SPX",
            "volume only in the S&P file"
        );
        assert!(board.leaderboard.len() == 6 && board.baselines.len() == 3);
    }
    assert_eq!(r.data.observations, 5105 + 560, "every row of both files");
    let Some(spx) = r.instruments.iter().find(|b| b.instrument == "SPX") else {
        panic!("no SPX board")
    };
    assert_eq!((spx.rows, spx.folds), (5105 - 21, 5));
    // Daily index returns: an RMSE around 1 %, and no model is far off the
    // random walk (relative RMSE within 10 % of it).
    assert!(spx.leaderboard.iter().all(|x| x.rmse > 0.005 && x.rmse < 0.02));
    assert!(
        spx.leaderboard
            .iter()
            .all(|x| x.relative_rmse.is_some_and(|v| v < 1.1))
    );
    let Some(spx) = r.analytics.instruments.iter().find(|a| a.name == "SPX") else {
        panic!("no SPX analytics")
    };
    assert!((spx.performance.periods_per_year - 252.0).abs() < 3.0);
    assert_eq!(spx.performance.beta, Some(1.0));
}
