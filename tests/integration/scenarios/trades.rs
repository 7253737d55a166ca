//! Position arithmetic in one currency: open, add, reduce, close, flips, shorts,
//! lot consumption by method, fees and multipliers.

use kupala_engine::Method;

use super::METHODS;
use crate::support::{check, instrument, port, pos, run, tick, trade, trade_fee};

#[test]
fn open_then_tick() {
    let mut ev = vec![trade("A", "XYZ", "buy", "100", "10")];
    let v = run(&ev, Method::Avg);
    // mark = trade price 10, so nothing unrealized yet; mv = 10 × 100
    let p = pos(&v, "A", "XYZ");
    check(
        "open",
        p,
        &[
            ("qty", "100"),
            ("avg_cost", "10"),
            ("mark", "10"),
            ("market_value", "1000"),
        ],
    );
    check(
        "open",
        p,
        &[("unrealized_pnl", "0"), ("net_pnl", "0"), ("unpriced", "false")],
    );
    ev.push(tick("XYZ", "12"));
    let v = run(&ev, Method::Avg);
    // (12 - 10) × 100 = 200; mv 1200; no EOD yet so day = net = 200; USD base = same
    let p = pos(&v, "A", "XYZ");
    check(
        "tick",
        p,
        &[
            ("mark", "12"),
            ("market_value", "1200"),
            ("unrealized_pnl", "200"),
        ],
    );
    check(
        "tick",
        p,
        &[
            ("net_pnl", "200"),
            ("day_pnl", "200"),
            ("market_value_base", "1200"),
        ],
    );
    check(
        "tick",
        p,
        &[("unrealized_pnl_base", "200"), ("net_pnl_base", "200")],
    );
    let a = port(&v, "A");
    check(
        "portfolio",
        a,
        &[
            ("base_currency", "USD"),
            ("market_value", "1200"),
            ("net_pnl", "200"),
        ],
    );
    check(
        "portfolio",
        a,
        &[
            ("unrealized_pnl", "200"),
            ("realized_pnl", "0"),
            ("unpriced", "0"),
        ],
    );
}

#[test]
fn add_moves_avg_to_weighted_average() {
    let mut ev = vec![
        trade("A", "XYZ", "buy", "100", "10"),
        trade("A", "XYZ", "buy", "50", "13"),
    ];
    // (100×10 + 50×13) / 150 = 1650 / 150 = 11; mark 13 → unreal (13-11)×150 = 300
    let v = run(&ev, Method::Avg);
    check(
        "add",
        pos(&v, "A", "XYZ"),
        &[("qty", "150"), ("avg_cost", "11"), ("unrealized_pnl", "300")],
    );
    ev.push(trade("A", "XYZ", "buy", "50", "12"));
    // (1650 + 600) / 200 = 11.25; mark 12 → unreal 0.75 × 200 = 150; nothing realized
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "XYZ");
    check(
        "add",
        p,
        &[("qty", "200"), ("avg_cost", "11.25"), ("unrealized_pnl", "150")],
    );
    check("add", p, &[("realized_pnl", "0"), ("market_value", "2400")]);
}

#[test]
fn reduce_realizes_and_keeps_avg() {
    let ev = [
        trade("A", "XYZ", "buy", "100", "10"),
        trade("A", "XYZ", "buy", "50", "13"),
        trade("A", "XYZ", "sell", "60", "12"),
    ];
    // avg 11; sell 60 @ 12 realizes (12-11)×60 = 60; 90 left at 11; unreal (12-11)×90 = 90
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "XYZ");
    check(
        "reduce",
        p,
        &[("qty", "90"), ("avg_cost", "11"), ("realized_pnl", "60")],
    );
    check(
        "reduce",
        p,
        &[
            ("unrealized_pnl", "90"),
            ("net_pnl", "150"),
            ("realized_pnl_base", "60"),
        ],
    );
}

#[test]
fn close_to_flat_stays_listed_until_eod() {
    let ev = [
        trade("A", "XYZ", "buy", "100", "10"),
        trade("A", "XYZ", "sell", "100", "12.5"),
    ];
    // realized 2.5 × 100 = 250; flat: avg 0, mv 0, unreal 0; listed (no EOD yet)
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "XYZ");
    check(
        "flat",
        p,
        &[
            ("qty", "0"),
            ("avg_cost", "0"),
            ("mark", "12.5"),
            ("market_value", "0"),
        ],
    );
    check(
        "flat",
        p,
        &[
            ("realized_pnl", "250"),
            ("unrealized_pnl", "0"),
            ("net_pnl", "250"),
        ],
    );
    check(
        "flat",
        port(&v, "A"),
        &[("realized_pnl", "250"), ("market_value", "0"), ("net_pnl", "250")],
    );
}

#[test]
fn flip_long_to_short_realizes_whole_position_every_method() {
    let ev = [
        trade("A", "X", "buy", "10", "100"),
        trade("A", "X", "buy", "10", "110"),
        trade("A", "X", "sell", "30", "120"),
        tick("X", "115"),
    ];
    for m in METHODS {
        // the whole long 20 (cost 2100) closes at 120: 2400 - 2100 = 300; short 10 opens at 120;
        // tick 115: unreal (115 - 120) × -10 = 50
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m}"),
            p,
            &[("qty", "-10"), ("avg_cost", "120"), ("realized_pnl", "300")],
        );
        check(
            &format!("{m}"),
            p,
            &[("unrealized_pnl", "50"), ("market_value", "-1150")],
        );
    }
}

#[test]
fn flip_short_to_long_realizes_whole_position_every_method() {
    let ev = [
        trade("A", "X", "sell", "10", "50"),
        trade("A", "X", "sell", "10", "40"),
        trade("A", "X", "buy", "25", "30"),
    ];
    for m in METHODS {
        // short 20 sold for 900 is covered at 30 (600): +300; long 5 opens at 30; mark 30
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m}"),
            p,
            &[("qty", "5"), ("avg_cost", "30"), ("realized_pnl", "300")],
        );
        check(
            &format!("{m}"),
            p,
            &[("unrealized_pnl", "0"), ("market_value", "150")],
        );
    }
}

#[test]
fn add_to_a_short_then_cover_part() {
    let ev = [
        trade("A", "X", "sell", "10", "50"),
        trade("A", "X", "sell", "30", "60"),
        trade("A", "X", "buy", "20", "55"),
    ];
    // avg: short 40 at (500 + 1800) / 40 = 57.5; cover 20 @ 55: (57.5 - 55) × 20 = 50;
    //      20 left at 57.5, unreal (55 - 57.5) × -20 = 50
    // fifo: covers -10@50 (-50) and 10 of -30@60 (+50) = 0; left -20@60: unreal 100
    // lifo: covers 20 of -30@60: +100; left -10@50, -10@60: avg 55, unreal 0
    let cases = [
        (Method::Avg, "57.5", "50", "50"),
        (Method::Fifo, "60", "0", "100"),
        (Method::Lifo, "55", "100", "0"),
    ];
    for (m, avg, realized, unreal) in cases {
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m}"),
            p,
            &[("qty", "-20"), ("avg_cost", avg), ("mark", "55")],
        );
        check(
            &format!("{m}"),
            p,
            &[("realized_pnl", realized), ("unrealized_pnl", unreal)],
        );
    }
}

#[test]
fn fifo_and_lifo_consume_lots_partially() {
    let ev = [
        trade("A", "X", "buy", "10", "10"),
        trade("A", "X", "buy", "10", "20"),
        trade("A", "X", "buy", "10", "30"),
        trade("A", "X", "sell", "15", "25"),
    ];
    // fifo: 10@10 + 5@20 = 200 cost vs 375 → 175; left 5@20 + 10@30 = 400 / 15 = 26.666666667
    // lifo: 10@30 + 5@20 = 400 cost → -25; left 10@10 + 5@20 = 200 / 15 = 13.333333333
    // avg : 20 per unit → 75, avg 20
    let cases = [
        (Method::Fifo, "175", "26.666666667", "-25"),
        (Method::Lifo, "-25", "13.333333333", "175"),
        (Method::Avg, "75", "20", "75"),
    ];
    for (m, realized, avg, unreal) in cases {
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m}"),
            p,
            &[("qty", "15"), ("realized_pnl", realized), ("avg_cost", avg)],
        );
        check(&format!("{m}"), p, &[("unrealized_pnl", unreal)]);
    }
    // sell 8 @ 40 more, cutting into the middle of a lot:
    // fifo: 5@20 + 3@30 = 190 vs 320 → +130 (305 total); left 7@30, unreal 70
    // lifo: 5@20 + 3@10 = 130 vs 320 → +190 (165 total); left 7@10, unreal 210
    // avg : (40 - 20) × 8 = 160 (235 total); left 7@20, unreal 140   (all total 375)
    let mut ev = ev.to_vec();
    ev.push(trade("A", "X", "sell", "8", "40"));
    let cases = [
        (Method::Fifo, "305", "30", "70"),
        (Method::Lifo, "165", "10", "210"),
        (Method::Avg, "235", "20", "140"),
    ];
    for (m, realized, avg, unreal) in cases {
        let v = run(&ev, m);
        let p = pos(&v, "A", "X");
        check(
            &format!("{m}"),
            p,
            &[("qty", "7"), ("realized_pnl", realized), ("avg_cost", avg)],
        );
        check(&format!("{m}"), p, &[("unrealized_pnl", unreal), ("mark", "40")]);
    }
}

#[test]
fn fees_accumulate_separately_and_net_subtracts_them() {
    let ev = [
        trade_fee("A", "X", "buy", "100", "10", "1.25"),
        trade_fee("A", "X", "sell", "40", "11", "0.75"),
        tick("X", "10.5"),
    ];
    // realized gross (11-10)×40 = 40; fees 2; unreal 0.5 × 60 = 30; net 40 + 30 - 2 = 68
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "X");
    check(
        "fees",
        p,
        &[("realized_pnl", "40"), ("fees", "2"), ("unrealized_pnl", "30")],
    );
    check(
        "fees",
        p,
        &[("net_pnl", "68"), ("fees_base", "2"), ("net_pnl_base", "68")],
    );
    check(
        "fees",
        port(&v, "A"),
        &[("fees", "2"), ("realized_pnl", "40"), ("net_pnl", "68")],
    );
}

#[test]
fn multiplier_scales_every_money_amount() {
    let ev = [
        instrument("ES", "USD", "50"),
        trade("A", "ES", "buy", "2", "5900.25"),
        trade("A", "ES", "sell", "1", "5910.5"),
        tick("ES", "5895"),
    ];
    // realized 10.25 × 1 × 50 = 512.5; unreal (5895 - 5900.25) × 1 × 50 = -262.5; mv 5895 × 50
    let v = run(&ev, Method::Avg);
    let p = pos(&v, "A", "ES");
    check(
        "x50",
        p,
        &[("qty", "1"), ("avg_cost", "5900.25"), ("realized_pnl", "512.5")],
    );
    check(
        "x50",
        p,
        &[
            ("unrealized_pnl", "-262.5"),
            ("market_value", "294750"),
            ("net_pnl", "250"),
        ],
    );
}
