//! Tests of the update messages: frames, batches, and the `history`
//! channel's data.

use super::*;
use crate::protocol::Channel;
use serde_json::{Value, json};

#[test]
fn a_batch_run_is_one_deltas_message_between_the_others() {
    let tag = |seq| SubTag {
        id: Some(json!(7)),
        channel: Channel::Analysis,
        seq,
    };
    let delta = |text: &str, tag, part| Outgoing {
        tag,
        item: Item::Analysis {
            snapshot: false,
            data: Arc::from(text),
        },
        t_in: 0,
        part,
    };
    let items = vec![
        delta(r#"{"a":1}"#, Some(tag(3)), Part::Opens),
        delta(r#"{"a":2}"#, None, Part::Joins),
        Outgoing {
            tag: None,
            item: Item::Reply("ack".into()),
            t_in: 0,
            part: Part::Own,
        },
        delta(r#"{"a":3}"#, Some(tag(4)), Part::Opens),
    ];
    let mut out = Vec::new();
    messages(items, &Names::default(), &mut out);
    assert_eq!(
        out,
        [
            r#"{"type":"deltas","id":7,"channel":"analysis","seq":3,"data":[{"a":1},{"a":2}]}"#,
            "ack",
            r#"{"type":"deltas","id":7,"channel":"analysis","seq":4,"data":[{"a":3}]}"#,
        ]
    );
}

#[test]
fn an_update_frame_is_the_documented_message() {
    let data = r#"{"account":"A","journal_seq":7}"#;
    let tag = |id: Option<Value>| SubTag {
        id,
        channel: Channel::Positions,
        seq: 42,
    };
    let with_id: Value =
        serde_json::from_str(&raw_update("delta", &tag(Some(json!("s-1"))), data)).unwrap_or_default();
    assert_eq!(
        with_id,
        json!({"type":"delta","id":"s-1","channel":"positions","seq":42,"data":{"account":"A","journal_seq":7}})
    );
    let text = raw_update("snapshot", &tag(None), "[]");
    assert_eq!(
        text,
        r#"{"type":"snapshot","channel":"positions","seq":42,"data":[]}"#
    );
}

#[test]
fn a_history_delta_carries_its_series_and_point() {
    use kupala_engine::history::PnlPoint;
    use kupala_engine::num::Notional;
    use kupala_engine::store::history::{NewPoint, Series, StoredPoint};
    use kupala_engine::time::Timestamp;

    let point = NewPoint {
        series: Arc::new(Series::Book {
            account: "A1".into(),
            strategy: None,
        }),
        point: StoredPoint {
            at: Timestamp::parse("2026-11-30T14:30:01Z").unwrap_or_default(),
            seq: 4,
            pnl: PnlPoint {
                net_pnl: Notional(60 * 1_000_000_000_000_000_000),
                day_pnl: Notional(-5 * 100_000_000_000_000_000),
            },
        },
    };
    let out = Outgoing {
        tag: Some(SubTag {
            id: Some(json!(3)),
            channel: Channel::History,
            seq: 9,
        }),
        item: Item::HistoryPoint(crate::outbox::Shared::new(point, false)),
        t_in: 0,
        part: Part::Own,
    };
    let v: Value = serde_json::from_str(&render(out, &Names::default())).unwrap_or_default();
    assert_eq!(
        v,
        json!({"type":"delta","id":3,"channel":"history","seq":9,"data":{
            "series":"book","account":"A1","strategy":null,
            "ts":"2026-11-30T14:30:01Z","seq":4,"net_pnl":"60","day_pnl":"-0.5"}})
    );
}
