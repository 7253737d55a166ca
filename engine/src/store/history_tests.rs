//! Tests of the `history` keyspace: points round trip, pruning, tiers,
//! book series, and the listener told of each new fine point.

use super::*;
use crate::history::{AccountPoint, BookPoint};
use crate::history::{HistoryConfig, HistoryMark};
use crate::ids::Names;
use crate::ids::{AccountId, BookId, NameKind, NewName};
use crate::store::history_writer::HistoryWriter;

const S: i64 = 1_000_000_000;

fn names() -> Names {
    let mut n = Names::default();
    for (kind, id, name) in [(NameKind::Account, 0, "A1"), (NameKind::Account, 1, "B2")] {
        n.restore(&NewName {
            kind,
            id,
            name: name.into(),
        });
    }
    n
}

fn mark(at: i64, net: i128, coarse: bool) -> HistoryMark {
    let pnl = PnlPoint {
        net_pnl: Notional(net),
        day_pnl: Notional(-net),
    };
    HistoryMark {
        at: Timestamp(at * S),
        seq: at.cast_unsigned(),
        coarse,
        accounts: vec![AccountPoint {
            account: AccountId(0),
            pnl,
        }],
        books: Vec::new(),
        firm: pnl,
    }
}

fn config() -> HistoryConfig {
    HistoryConfig {
        resolution_ns: S,
        coarse_ns: 10 * S,
        retention_ns: 5 * S,
        coarse_retention_ns: 100 * S,
    }
}

fn times(points: &[StoredPoint]) -> Vec<i64> {
    points.iter().map(|p| p.at.0 / S).collect()
}

#[test]
fn points_round_trip_in_time_order_and_old_chunks_are_pruned() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let all = (Timestamp(i64::MIN), Timestamp(i64::MAX));
    let a1 = Series::Account("A1".into());
    let names = names();
    let fine = {
        let store = Store::open(dir.path())?;
        let mut w = HistoryWriter::new(config());
        for t in 1..=200 {
            w.write(&store, &mark(t, i128::from(t) * 7, t % 10 == 0), &names)?;
        }
        let fine = store.history_points(Tier::Fine, &a1, all.0, all.1)?;
        // Chunks of 64 start at 1, 65 and 129; when the one from 129
        // was written (at 192) the retention's start was 187, so the
        // two before it went; 193..=200 are in progress.
        assert_eq!(times(&fine), (129..=200).collect::<Vec<_>>());
        assert_eq!(fine[0].pnl.net_pnl, Notional(129 * 7));
        assert_eq!(fine[0].pnl.day_pnl, Notional(-129 * 7));
        assert_eq!(fine[0].seq, 129);
        let ranged = store.history_points(Tier::Fine, &a1, Timestamp(150 * S), Timestamp(195 * S))?;
        assert_eq!(times(&ranged), (150..=195).collect::<Vec<_>>());
        // An unchanged value, or a mark already written (a recovery
        // replaying), writes nothing; a new writer reads the newest
        // point from the chunk in progress.
        w.write(&store, &mark(201, 200 * 7, false), &names)?;
        w.write(&store, &mark(150, 1, false), &names)?;
        HistoryWriter::new(config()).write(&store, &mark(199, 5, false), &names)?;
        assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
        store.flush_history()?;
        fine
    };
    // After a restart the chunks in progress were written, and a new
    // writer reads the newest point from the store.
    let store = Store::open(dir.path())?;
    assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
    let mut w = HistoryWriter::new(config());
    w.write(&store, &mark(200, 5, false), &names)?;
    assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
    w.write(&store, &mark(202, 3, false), &names)?;
    let merged = store.history(&a1, all.0, all.1)?;
    let mut want: Vec<i64> = (1..=12).map(|t| t * 10).collect();
    want.extend(129..=200);
    want.push(202);
    assert_eq!(
        times(&merged),
        want,
        "coarse before the first fine point, then fine"
    );
    let ranged = store.history(&Series::Firm, Timestamp(15 * S), Timestamp(30 * S))?;
    assert_eq!(times(&ranged), vec![20, 30]);
    assert!(
        store
            .history(&Series::Account("B2".into()), all.0, all.1)?
            .is_empty()
    );
    Ok(())
}

#[test]
fn book_series_are_apart_from_their_account_s() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let store = Store::open(dir.path())?;
    let mut names = names();
    names.books.intern(crate::books::BookKey {
        account: AccountId(1),
        strategy: None,
    });
    let mut m = mark(3, 5, false);
    m.books.push(BookPoint {
        book: BookId(0),
        pnl: PnlPoint {
            net_pnl: Notional(11),
            day_pnl: Notional(0),
        },
    });
    HistoryWriter::new(config()).write(&store, &m, &names)?;
    let book = Series::Book {
        account: "B2".into(),
        strategy: None,
    };
    let got = store.history(&book, Timestamp(0), Timestamp(i64::MAX))?;
    assert_eq!(
        got.iter().map(|p| p.pnl.net_pnl).collect::<Vec<_>>(),
        vec![Notional(11)]
    );
    let got = store.history(&Series::Account("B2".into()), Timestamp(0), Timestamp(i64::MAX))?;
    assert!(got.is_empty(), "B2's account series was not in the mark");
    Ok(())
}

/// Keeps every point it is told.
#[derive(Default)]
struct Told(std::sync::Mutex<Vec<NewPoint>>);

impl HistoryListener for Told {
    fn points(&self, points: &[NewPoint]) {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(points);
        }
    }
}

#[test]
fn the_listener_is_told_each_new_fine_point_once_as_a_query_returns_it() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
    let store = Store::open(dir.path())?;
    let names = names();
    let mut w = HistoryWriter::new(config());
    // Before a listener is set nothing is told.
    w.write(&store, &mark(1, 7, false), &names)?;
    let told = Arc::new(Told::default());
    store.set_history_listener(Arc::clone(&told) as Arc<dyn HistoryListener>)?;
    // 2..=100: a value every mark but 40 (unchanged: no point), across
    // full chunks and coarse marks.
    for t in 2..=100 {
        let net = if t == 40 { 39 * 7 } else { i128::from(t) * 7 };
        w.write(&store, &mark(t, net, t % 10 == 0), &names)?;
    }
    // A replayed mark (already written) tells nothing.
    w.write(&store, &mark(50, 1, false), &names)?;
    let got = told.0.lock().map(|v| v.clone()).unwrap_or_default();
    let a1 = Series::Account("A1".into());
    let of = |series: &Series| -> Vec<StoredPoint> {
        got.iter()
            .filter(|p| *p.series == *series)
            .map(|p| p.point)
            .collect()
    };
    let fine = store.history_points(Tier::Fine, &a1, Timestamp(2 * S), Timestamp(i64::MAX))?;
    assert_eq!(
        of(&a1),
        fine,
        "told = what a query of the fine tier returns after it"
    );
    assert_eq!(fine.len(), 98, "2..=100 but 40");
    assert_eq!(of(&Series::Firm).len(), 98);
    assert!(
        got.iter()
            .all(|p| matches!(*p.series, Series::Firm | Series::Account(_))),
        "only the series the marks held"
    );
    Ok(())
}
