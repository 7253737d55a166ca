//! The compact journal encoding (store format 2): every op round-trips
//! exactly, a tick costs at most 16 bytes, and damaged bytes are refused
//! with an error, never a panic.

use kupala_engine::sequencer::{NameKind, NewName};
use kupala_engine::store::journal::{JOp, JournalBatch, JournalEvent};
use kupala_engine::store::journal_codec::{decode, encode};
use proptest::prelude::*;

fn ev(seq: u64, ts: i64, op: JOp) -> JournalEvent {
    JournalEvent {
        seq,
        ts,
        op,
        trade_id: None,
        strategy: None,
        close_lots: Vec::new(),
    }
}

fn every_op() -> JournalBatch {
    let mut trade = ev(
        11,
        1_700_000_000_000_000_001,
        JOp::Trade {
            account: 3,
            base: 1,
            instrument: 9_999,
            qty: -150_000_000_000,
            price: 189_500_000_000,
            fee: -1_234_567,
        },
    );
    trade.trade_id = Some("t-17".into());
    trade.strategy = Some("momentum ☀".into());
    trade.close_lots = vec!["t-9".into(), "lot ☀ 3".into()];
    JournalBatch {
        names: vec![
            NewName {
                kind: NameKind::Account,
                id: 3,
                name: "A3".into(),
            },
            NewName {
                kind: NameKind::Currency,
                id: 1,
                name: "JPY".into(),
            },
        ],
        events: vec![
            ev(
                10,
                0,
                JOp::Instrument {
                    instrument: 9_999,
                    currency: 1,
                    multiplier: 100_000_000_000,
                },
            ),
            trade,
            ev(
                12,
                1_699_999_999_000_000_000,
                JOp::Tick {
                    instrument: 0,
                    price: i64::MIN,
                },
            ),
            ev(
                13,
                i64::MAX,
                JOp::Fx {
                    base: 0,
                    quote: 1,
                    rate: 152_340_000_000,
                },
            ),
            ev(14, i64::MIN, JOp::Eod { date: -719_162 }),
            ev(
                15,
                5,
                JOp::Split {
                    instrument: 7,
                    ratio: 2_000_000_000,
                },
            ),
            ev(
                16,
                6,
                JOp::Dividend {
                    instrument: 7,
                    amount: 240_000_000,
                },
            ),
            ev(
                17,
                6,
                JOp::Trade {
                    account: u32::MAX,
                    base: u32::MAX,
                    instrument: u32::MAX,
                    qty: i64::MAX,
                    price: 1,
                    fee: i64::MIN,
                },
            ),
            ev(
                18,
                7,
                JOp::Trade {
                    account: 0,
                    base: 0,
                    instrument: 0,
                    qty: 0,
                    price: 0,
                    fee: i64::MAX,
                },
            ),
        ],
        cursor: Some(("feed.jsonl".into(), u64::MAX)),
    }
}

#[test]
fn every_op_and_extreme_value_round_trips() {
    let b = every_op();
    assert_eq!(decode(&encode(&b)), Ok(b));
    let empty = JournalBatch::default();
    assert_eq!(decode(&encode(&empty)), Ok(empty));
}

#[test]
fn a_non_contiguous_batch_round_trips_too() {
    let mut b = every_op();
    b.events[3].seq = 40;
    b.events[4].seq = 2;
    assert_eq!(decode(&encode(&b)), Ok(b));
}

#[test]
fn a_workload_tick_costs_at_most_16_bytes() {
    // Prices at 10^-4 around 100-400, ids up to 10,000, ~10 µs apart.
    let events: Vec<JournalEvent> = (0..1024u64)
        .map(|i| {
            ev(
                1 + i,
                1_700_000_000_000_000_000 + i as i64 * 10_000,
                JOp::Tick {
                    instrument: (i * 7_919 % 10_000) as u32,
                    price: 100_000_000_000 + (i as i64 * 3_000_017 % 300_000_000_000) / 100_000 * 100_000,
                },
            )
        })
        .collect();
    let b = JournalBatch {
        names: Vec::new(),
        events,
        cursor: None,
    };
    let bytes = encode(&b).len();
    assert!(bytes <= 16 * 1024, "{bytes} bytes for 1,024 ticks");
    assert_eq!(decode(&encode(&b)), Ok(b));
}

#[test]
fn every_truncation_and_every_flipped_byte_is_an_error() {
    let bytes = encode(&every_op());
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "a batch cut at {n} bytes decoded");
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x41;
        assert!(decode(&b).is_err(), "a flip at byte {i} decoded");
    }
}

#[test]
fn bytes_with_a_valid_checksum_but_no_valid_batch_are_refused() {
    for payload in [&[0x80u8; 30][..], &[1, 0xff, 0xff], &[0, 0, 1, 5, 1, 7]] {
        let mut b = vec![2, 0, 0, 0, 0];
        b.extend_from_slice(payload);
        let crc = crc32fast::hash(payload).to_le_bytes();
        b[1..5].copy_from_slice(&crc);
        assert!(decode(&b).is_err(), "{payload:?}");
    }
}

proptest! {
    #[test]
    fn ticks_and_trades_round_trip(rows in proptest::collection::vec((any::<u32>(), any::<i64>(), any::<i64>(), any::<i64>(), any::<bool>()), 0..50)) {
        let events = rows
            .iter()
            .enumerate()
            .map(|(i, &(id, a, b, fee, trade))| {
                let op = if trade {
                    JOp::Trade { account: id, base: id / 3, instrument: id / 7, qty: a, price: b, fee }
                } else {
                    JOp::Tick { instrument: id, price: a }
                };
                ev(100 + i as u64, b, op)
            })
            .collect();
        let batch = JournalBatch { names: Vec::new(), events, cursor: None };
        prop_assert_eq!(decode(&encode(&batch)), Ok(batch));
    }
}
