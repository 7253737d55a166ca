//! Unit tests of the client queue: conflation, seqs, bounds, throttling,
//! snapshots that outlive their subscription.

use super::*;
use kupala_engine::ids::{AccountId, CurrencyId};
use kupala_engine::state::PortfolioState;

fn port(net: i64) -> Arc<Shared<PortfolioState>> {
    let mut p = PortfolioState::new(AccountId(0), CurrencyId::USD);
    p.net_pnl = kupala_engine::num::Notional(i128::from(net) * 1_000_000_000_000_000_000);
    Shared::new(p, false)
}

fn spec(interval: Option<u64>, min_change: Option<i128>) -> SubSpec {
    SubSpec {
        id: None,
        channel: Channel::Portfolio,
        start_seq: 10,
        interval: interval.map(Duration::from_millis),
        min_change,
        batch: false,
    }
}

#[test]
fn conflates_counts_seq_and_overflows() {
    let o = Outbox::new(3, Duration::from_secs(60), Arc::new(Metrics::default()));
    let now = Instant::now();
    o.open_sub(1, spec(None, None), Item::Portfolios(vec![]));
    let k = Key::Portfolio(1, AccountId(0));
    o.push(k, Item::Portfolio(port(1)), 0, now);
    o.push(k, Item::Portfolio(port(2)), 0, now);
    let mut out = Vec::new();
    assert_eq!(o.pop(10, now, &mut out), Popped::Ready);
    let seqs: Vec<u64> = out.iter().filter_map(|x| x.tag.as_ref().map(|t| t.seq)).collect();
    assert_eq!(seqs, vec![10, 11]);
    assert!(matches!(&out[1].item, Item::Portfolio(p) if p.value.net_pnl == port(2).value.net_pnl));
    for a in 0..4 {
        o.push(Key::Portfolio(1, AccountId(a)), Item::Portfolio(port(1)), 0, now);
    }
    assert_eq!(o.pop(10, now, &mut out), Popped::Closed(CloseReason::Overflow));
}

#[test]
fn throttles_and_skips_small_changes() {
    let o = Outbox::new(100, Duration::from_secs(60), Arc::new(Metrics::default()));
    let t0 = Instant::now();
    o.open_sub(1, spec(Some(100), Some(5_000_000_000)), Item::Portfolios(vec![]));
    let k = Key::Portfolio(1, AccountId(0));
    o.push(k, Item::Portfolio(port(1)), 0, t0);
    o.push(k, Item::Portfolio(port(3)), 0, t0);
    let mut out = Vec::new();
    assert_eq!(o.pop(10, t0, &mut out), Popped::Ready);
    out.clear();
    let r = o.pop(10, t0, &mut out);
    assert!(matches!(r, Popped::Idle(Some(_))), "{r:?}");
    o.push(k, Item::Portfolio(port(9)), 0, t0);
    assert_eq!(
        o.pop(10, t0 + Duration::from_millis(200), &mut out),
        Popped::Ready
    );
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0].item, Item::Portfolio(p) if p.value.net_pnl == port(9).value.net_pnl));
}

#[test]
fn an_ended_subscription_still_answers_with_its_snapshot() {
    let o = Outbox::new(100, Duration::from_secs(60), Arc::new(Metrics::default()));
    let now = Instant::now();
    let with_id = |id: u64| SubSpec {
        id: Some(Value::from(id)),
        ..spec(None, None)
    };
    // subscribe (1), subscribe again (2, replacing 1), unsubscribe: all
    // before the connection writes anything.
    o.open_sub(1, with_id(1), Item::Portfolios(vec![]));
    o.push(Key::Portfolio(1, AccountId(0)), Item::Portfolio(port(1)), 0, now);
    o.close_sub(1);
    o.open_sub(2, with_id(2), Item::Portfolios(vec![]));
    o.close_sub(2);
    o.reply("unsubscribed".to_owned());
    let mut out = Vec::new();
    assert_eq!(o.pop(10, now, &mut out), Popped::Ready);
    let ids: Vec<Option<Value>> = out
        .iter()
        .map(|x| x.tag.as_ref().and_then(|t| t.id.clone()))
        .collect();
    assert_eq!(ids, vec![Some(Value::from(1)), Some(Value::from(2)), None]);
    assert!(out[..2].iter().all(|x| x.item.is_snapshot()));
    assert!(matches!(&out[2].item, Item::Reply(t) if t == "unsubscribed"));
}

/// The ids of what was popped (snapshots, deltas: their subscribe's id;
/// replies: their text).
fn popped(o: &Outbox, now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    let _ = o.pop(100, now, &mut out);
    out.iter()
        .map(|x| match (&x.item, &x.tag) {
            (Item::Reply(t), _) => t.clone(),
            (i, Some(t)) if i.is_snapshot() => format!("snapshot {}", t.id.clone().unwrap_or_default()),
            (_, Some(t)) => format!("delta {} {}", t.id.clone().unwrap_or_default(), t.seq),
            (_, None) => "?".to_owned(),
        })
        .collect()
}

#[test]
fn answers_wait_behind_a_reserved_one_and_deltas_behind_their_snapshot() {
    let o = Arc::new(Outbox::new(
        100,
        Duration::from_secs(60),
        Arc::new(Metrics::default()),
    ));
    let now = Instant::now();
    o.reply("a".to_owned());
    let ack = o.reserve(None);
    o.reply("c".to_owned());
    let sub = SubSpec {
        id: Some(Value::from(4)),
        ..spec(None, None)
    };
    o.open_sub(1, sub, Item::Portfolios(vec![]));
    o.push(Key::Portfolio(1, AccountId(0)), Item::Portfolio(port(1)), 0, now);
    o.notice("progress".to_owned());
    // Only what precedes the reserved answer goes out (the delta waits
    // for its snapshot); the notice does not count as a request awaiting
    // its answer.
    assert_eq!(o.awaiting(), 3);
    assert_eq!(popped(&o, now), vec!["a"]);
    let ticket = ack.ticket();
    assert!(!o.released(ticket));
    ack.send("b".to_owned());
    assert!(o.released(ticket));
    assert_eq!(o.awaiting(), 0);
    assert_eq!(
        popped(&o, now),
        vec!["b", "c", "snapshot 4", "delta 4 11", "progress"]
    );
    // Nothing waits: deltas flow at once.
    o.push(Key::Portfolio(1, AccountId(0)), Item::Portfolio(port(2)), 0, now);
    assert_eq!(popped(&o, now), vec!["delta 4 12"]);
}

#[test]
fn a_later_snapshot_drops_the_deltas_it_covers_and_a_lost_answer_is_internal() {
    let o = Arc::new(Outbox::new(
        100,
        Duration::from_secs(60),
        Arc::new(Metrics::default()),
    ));
    let now = Instant::now();
    let first = o.reserve(Some(&Value::from(1)));
    let sub = SubSpec {
        id: Some(Value::from(2)),
        ..spec(None, None)
    };
    let snap = o.open_sub_later(1, sub);
    o.reply("after".to_owned());
    o.push(Key::Portfolio(1, AccountId(0)), Item::Portfolio(port(1)), 0, now);
    let tag = SubTag {
        id: Some(Value::from(2)),
        channel: Channel::Portfolio,
        seq: 20,
    };
    snap.snapshot(1, tag, Item::Portfolios(vec![]));
    o.push(Key::Portfolio(1, AccountId(1)), Item::Portfolio(port(2)), 0, now);
    assert!(popped(&o, now).is_empty());
    drop(first);
    let out = popped(&o, now);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out[0].contains("internal") && out[0].contains("\"id\":1"),
        "{out:?}"
    );
    // The held delta follows its snapshot at once, not the later answer.
    assert_eq!(&out[1..], ["snapshot 2", "delta 2 21", "after"]);
}

#[test]
fn a_cut_snapshot_drops_the_held_deltas_it_covers_and_keeps_later_ones() {
    let o = Arc::new(Outbox::new(
        100,
        Duration::from_secs(60),
        Arc::new(Metrics::default()),
    ));
    let now = Instant::now();
    let snap = o.open_sub_later(
        1,
        SubSpec {
            id: Some(Value::from(3)),
            ..spec(None, None)
        },
    );
    let at = |a: u32, seq: u64| {
        let mut p = PortfolioState::new(AccountId(a), CurrencyId::USD);
        p.seq = seq;
        Shared::new(p, false)
    };
    // Held while the cut is taken: account 0 changed at seq 5 (in the cut),
    // account 1 at seq 9 (after it).
    o.push(Key::Portfolio(1, AccountId(0)), Item::Portfolio(at(0, 5)), 0, now);
    o.push(Key::Portfolio(1, AccountId(1)), Item::Portfolio(at(1, 9)), 0, now);
    let tag = SubTag {
        id: Some(Value::from(3)),
        channel: Channel::Portfolio,
        seq: 30,
    };
    snap.snapshot_covering(1, tag, Item::Portfolios(vec![]), 7);
    let mut out = Vec::new();
    assert_eq!(o.pop(10, now, &mut out), Popped::Ready);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].item.is_snapshot());
    assert!(matches!(&out[1].item, Item::Portfolio(p) if p.value.account == AccountId(1)));
    assert_eq!(out[1].tag.as_ref().map(|t| t.seq), Some(31));
}

#[test]
fn a_batch_subscription_takes_its_deltas_in_one_message_per_run() {
    let o = Outbox::new(100, Duration::from_secs(60), Arc::new(Metrics::default()));
    let now = Instant::now();
    let batch = SubSpec {
        batch: true,
        ..spec(None, None)
    };
    o.open_sub(1, batch, Item::Portfolios(vec![]));
    o.open_sub(2, spec(None, None), Item::Portfolios(vec![]));
    let items = (0..3).map(|a| (Key::Portfolio(1, AccountId(a)), Item::Portfolio(port(1))));
    o.push_all(items, 0, now);
    o.push(Key::Portfolio(2, AccountId(0)), Item::Portfolio(port(1)), 0, now);
    o.push(Key::Portfolio(1, AccountId(5)), Item::Portfolio(port(1)), 0, now);
    // A conflated key keeps its place: still one run of three.
    o.push(Key::Portfolio(1, AccountId(1)), Item::Portfolio(port(7)), 0, now);
    let mut out = Vec::new();
    assert_eq!(o.pop(100, now, &mut out), Popped::Ready);
    let parts: Vec<(Part, Option<u64>)> = out
        .iter()
        .map(|x| (x.part, x.tag.as_ref().map(|t| t.seq)))
        .collect();
    assert_eq!(
        parts,
        vec![
            (Part::Own, Some(10)),
            (Part::Own, Some(10)),
            (Part::Opens, Some(11)),
            (Part::Joins, None),
            (Part::Joins, None),
            (Part::Own, Some(11)),
            (Part::Opens, Some(12)),
        ],
        "the batch subscription counts one seq per message; the other one per delta"
    );
    assert!(matches!(&out[3].item, Item::Portfolio(p) if p.value.net_pnl == port(7).value.net_pnl));
    // A message never spans two pops: the next one opens a new message.
    o.push(Key::Portfolio(1, AccountId(6)), Item::Portfolio(port(1)), 0, now);
    out.clear();
    assert_eq!(o.pop(100, now, &mut out), Popped::Ready);
    assert_eq!(out[0].part, Part::Opens);
    assert_eq!(out[0].tag.as_ref().map(|t| t.seq), Some(13));
}
