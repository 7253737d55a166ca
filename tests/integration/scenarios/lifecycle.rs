//! Events around the trades: splits, repeated trade ids, EODs with day P&L and
//! the closed history, and where the mark comes from.

use kupala_engine::Method;

use super::METHODS;
use crate::support::{check, eod, has_pos, port, pos, run, split, tick, trade, trade_id_fee};

#[test]
fn split_four_for_one_and_reverse_one_for_two() {
    let ev = [
        trade("A", "X", "buy", "10", "200"),
        trade("A", "X", "sell", "4", "205"),
        tick("X", "210"),
        split("X", "4"),
    ];
    for m in METHODS {
        // before: 6 @ 200, realized 20, mark 210, unreal 60, mv 1260
        // after 4:1: 24 @ 50, mark 52.5, unreal (52.5-50) × 24 = 60, mv 1260, realized 20
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m} 4:1"),
            p,
            &[("qty", "24"), ("avg_cost", "50"), ("mark", "52.5")],
        );
        check(
            &format!("{m} 4:1"),
            p,
            &[("unrealized_pnl", "60"), ("market_value", "1260")],
        );
        check(
            &format!("{m} 4:1"),
            p,
            &[("realized_pnl", "20"), ("net_pnl", "80")],
        );
        // then sell 8 @ 53 at the new scale: (53 - 50) × 8 = 24 more; mark stays 52.5
        let mut more = ev.to_vec();
        more.push(trade("A", "X", "sell", "8", "53"));
        let v = run(&more, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m} after"),
            p,
            &[("qty", "16"), ("realized_pnl", "44"), ("mark", "52.5")],
        );
    }
    let ev = [
        trade("A", "Y", "buy", "10", "20"),
        tick("Y", "21"),
        split("Y", "0.5"),
    ];
    for m in METHODS {
        // 1:2: 10 @ 20 → 5 @ 40, mark 21 → 42, unreal stays 1 × 10 = 2 × 5 = 10, mv 210
        let v = run(&ev, m);
        let p = pos(&v, "A", "Y");
        check(
            &format!("{m} 1:2"),
            p,
            &[("qty", "5"), ("avg_cost", "40"), ("mark", "42")],
        );
        check(
            &format!("{m} 1:2"),
            p,
            &[("unrealized_pnl", "10"), ("market_value", "210")],
        );
    }
}

#[test]
fn duplicate_trade_id_is_ignored() {
    let text = [
        trade_id_fee("t1", "A", "X", "buy", "10", "10", "1"),
        trade_id_fee("t1", "A", "X", "buy", "10", "10", "1"),
        trade_id_fee("t1", "A", "X", "buy", "999", "1", "5"),
        trade_id_fee("t2", "A", "X", "sell", "5", "12", "0.5"),
        trade_id_fee("t2", "B", "X", "sell", "5", "12", "0.5"),
    ]
    .join("\n");
    let report = match crate::support::calc_text(&text, crate::support::config(Method::Avg), false) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    // only t1 (buy 10 @ 10) and the first t2 (sell 5 @ 12) count: qty 5, realized 10, fees 1.5
    assert_eq!((report.events, report.duplicates), (2, 3));
    let p = pos(&report.view, "A", "X");
    check(
        "dup",
        p,
        &[
            ("qty", "5"),
            ("avg_cost", "10"),
            ("realized_pnl", "10"),
            ("fees", "1.5"),
        ],
    );
    assert!(
        !has_pos(&report.view, "B", "X"),
        "the repeated t2 opened a position for B"
    );
}

#[test]
fn two_eods_day_pnl_and_closed_history() {
    let day1 = vec![
        trade("A", "XYZ", "buy", "10", "100"),
        tick("XYZ", "105"),
        trade("A", "QQQ", "buy", "10", "50"),
        trade("A", "QQQ", "sell", "10", "55"),
    ];
    // before EOD 1: QQQ flat with realized 50 is still listed
    let v = run(&day1, Method::Avg);
    check(
        "day1",
        pos(&v, "A", "QQQ"),
        &[("qty", "0"), ("realized_pnl", "50"), ("day_pnl", "50")],
    );
    check("day1", port(&v, "A"), &[("day_pnl", "100"), ("net_pnl", "100")]);
    let mut ev = day1;
    ev.push(eod("2026-12-01"));
    let v = run(&ev, Method::Avg);
    // EOD 1 rolls QQQ into history; XYZ baseline = net 50, so its day P&L is 0
    assert!(!has_pos(&v, "A", "QQQ"), "a flat position survived its EOD");
    check(
        "eod1",
        pos(&v, "A", "XYZ"),
        &[("net_pnl", "50"), ("day_pnl", "0")],
    );
    check(
        "eod1",
        port(&v, "A"),
        &[("realized_pnl", "50"), ("day_pnl", "0"), ("net_pnl", "100")],
    );
    ev.extend([
        tick("XYZ", "108"),
        trade("A", "ABC", "buy", "5", "20"),
        tick("ABC", "22"),
    ]);
    ev.push(trade("A", "XYZ", "sell", "10", "110"));
    let v = run(&ev, Method::Avg);
    // XYZ: realized 100, flat, net 100 - baseline 50 = day 50; ABC opened today: baseline 0, day 10
    check(
        "day2",
        pos(&v, "A", "XYZ"),
        &[("qty", "0"), ("realized_pnl", "100"), ("day_pnl", "50")],
    );
    check(
        "day2",
        pos(&v, "A", "ABC"),
        &[("unrealized_pnl", "10"), ("day_pnl", "10")],
    );
    check(
        "day2",
        port(&v, "A"),
        &[("day_pnl", "60"), ("realized_pnl", "150")],
    );
    ev.push(eod("2026-12-02"));
    ev.push(tick("ABC", "23"));
    let v = run(&ev, Method::Avg);
    // XYZ gone; realized stays cumulative (50 + 100); ABC day (23 - 22) × 5 = 5; unreal 15; mv 115
    assert!(!has_pos(&v, "A", "XYZ"), "XYZ survived EOD 2");
    assert_eq!(v.positions.len(), 1, "{:#?}", v.positions);
    check(
        "eod2",
        pos(&v, "A", "ABC"),
        &[("day_pnl", "5"), ("unrealized_pnl", "15")],
    );
    let a = port(&v, "A");
    check(
        "eod2",
        a,
        &[
            ("realized_pnl", "150"),
            ("unrealized_pnl", "15"),
            ("market_value", "115"),
        ],
    );
    check("eod2", a, &[("net_pnl", "165"), ("day_pnl", "5")]);
}

#[test]
fn mark_is_last_trade_until_a_tick_then_ticks_only() {
    let mut ev = vec![
        trade("A", "X", "buy", "10", "100"),
        trade("B", "X", "buy", "5", "104"),
    ];
    // no tick yet: the last trade (B's, 104) marks A's position too: unreal 4 × 10 = 40
    let v = run(&ev, Method::Avg);
    check(
        "trade mark",
        pos(&v, "A", "X"),
        &[("mark", "104"), ("unrealized_pnl", "40")],
    );
    ev.extend([
        tick("X", "101"),
        trade("A", "X", "buy", "10", "105"),
        trade("B", "X", "sell", "5", "99"),
    ]);
    // after the tick, trades at 105 and 99 leave the mark at 101
    // A: 20 @ 102.5 → unreal (101 - 102.5) × 20 = -30; B: flat, realized (99 - 104) × 5 = -25
    let v = run(&ev, Method::Avg);
    check(
        "tick mark",
        pos(&v, "A", "X"),
        &[("mark", "101"), ("avg_cost", "102.5"), ("unrealized_pnl", "-30")],
    );
    check(
        "tick mark",
        pos(&v, "B", "X"),
        &[("mark", "101"), ("realized_pnl", "-25")],
    );
}
