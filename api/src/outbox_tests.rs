//! Unit tests of the client queue: conflation, seqs, bounds, throttling,
//! snapshots that outlive their subscription.

use super::*;
use kupala_engine::ids::CurrencyId;

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
