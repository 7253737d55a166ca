use super::*;
use crate::history::HistoryImage;
use crate::image::{BookImage, FirmImage, FxImage, InstImage, LotImage, PortfolioImage};
use crate::ledger::Method;
use crate::trade_ids::TradeIds;

fn position(i: u32) -> PositionImage {
    let big = i128::MAX / 4 - i128::from(i);
    PositionImage {
        account: i % 97,
        book: i % 131,
        instrument: i % 1_013,
        base: i % 3,
        qty: if i.is_multiple_of(2) {
            -i64::from(i) * 1_000
        } else {
            i64::MAX - i64::from(i)
        },
        cost: -big,
        lots: (0..i % 3)
            .map(|k| LotImage {
                qty: i64::from(k) - 1,
                cost: i128::MIN / 8 + i128::from(k),
                cost_base: if i.is_multiple_of(5) {
                    0
                } else {
                    i128::from(k) * 3 - 1
                },
                opened: if i.is_multiple_of(7) {
                    0
                } else {
                    u64::from(i) * 100 + u64::from(k)
                },
            })
            .collect(),
        realized: i128::from(i) * 1_000_000_000_000,
        fees: 0,
        realized_base: match i {
            0 => i128::MIN,
            1 => i128::MAX,
            _ => -7,
        },
        fees_base: i128::from(i % 5),
        baseline: big,
        baseline_base: -big,
        income: if i.is_multiple_of(5) {
            0
        } else {
            -i128::from(i) * 7
        },
        income_base: if i.is_multiple_of(10) { 0 } else { i128::MAX / 8 },
        cost_base: if i.is_multiple_of(7) {
            0
        } else {
            i128::MIN / 9 + i128::from(i)
        },
        fx_realized: if i.is_multiple_of(3) { 0 } else { -i128::from(i) },
        mv_base: 12_345_000_000_000_000_000,
        unreal_base: -1,
        priced: !i.is_multiple_of(3),
        listed: !i.is_multiple_of(4),
        seq: u64::from(i) * 3,
    }
}

fn image(positions: u32) -> EngineImage {
    let trade_ids = ["t-1", "t-2", "ünï-3"].into_iter().collect::<TradeIds>().arena();
    EngineImage {
        seq: 9_000_000_000,
        sequencer: SequencerImage {
            next_seq: 9_000_000_001,
            accounts: vec!["A1".into(), "ACC-Ω".into()],
            instruments: vec!["AAPL".into(), "7203.T".into()],
            currencies: vec!["USD".into(), "JPY".into()],
            inst_info: vec![(0, 1_000_000_000, true), (1, 100_000_000_000, false)],
            account_base: vec![0, 1],
            account_method: vec![Method::Lifo; 2],
            trade_ids,
            strategies: vec!["carry".into(), "mean-révert".into()],
            books: vec![(0, None), (1, Some(1)), (1, None), (0, Some(0))],
            books_known: true,
            named_lots: vec![
                crate::sequencer::NamedLot {
                    book: 3,
                    instrument: 1,
                    opened: 12,
                    id: "t-1".into(),
                },
                crate::sequencer::NamedLot {
                    book: 0,
                    instrument: 0,
                    opened: 8_999_999_999,
                    id: "ünï-3".into(),
                },
            ],
        },
        books: BookImage {
            instruments: vec![InstImage {
                id: 1,
                currency: 1,
                multiplier: 100_000_000_000,
                mark: -5_250_000_000,
                has_mark: true,
                has_tick: false,
                holders: 1_000_000,
                seq: 77,
            }],
            positions: (0..positions).map(position).collect(),
            fx: vec![FxImage {
                base: 0,
                quote: 1,
                rate: 149_500_000_000,
            }],
            fx_costs: true,
        },
        portfolios: vec![PortfolioImage {
            account: 1,
            book: 1,
            base: 1,
            unpriced: -2,
            market_value: i128::MIN / 4,
            realized_pnl: 3,
            unrealized_pnl: -4,
            fees: 5,
            income: -6,
            fx_pnl: 11,
            day_pnl: i128::MAX / 4,
            seq: 8,
        }],
        firm: Some(FirmImage {
            reporting: 1,
            realized: i128::MIN / 4,
            fees: 7,
            income: 0,
            baseline: -9,
        }),
        history: Some(HistoryImage {
            resolution_ns: 1_000_000_000,
            coarse_ns: 60_000_000_000,
            bucket: -3,
        }),
    }
}

fn round_trip(image: &EngineImage, threads: usize) -> Result<(EncodedSnapshot, EngineImage), FrameError> {
    let enc = encode(image, threads);
    let back = decode_chunks(decode_head(&enc.head)?, enc.chunks.clone())?;
    Ok((enc, back))
}

#[test]
fn an_image_round_trips_across_chunks_and_threads() -> Result<(), FrameError> {
    let img = image(u32::try_from(2 * CHUNK_POSITIONS + 17).unwrap_or(u32::MAX));
    let (one, back) = round_trip(&img, 1)?;
    assert_eq!(one.chunks.len(), 3);
    assert_eq!(back, img);
    let (two, back2) = round_trip(&img, 2)?;
    assert_eq!(back2, img);
    assert_eq!(one.head, two.head, "the thread count does not change the bytes");
    assert_eq!(one.chunks, two.chunks);
    let empty = image(0);
    let (enc, back) = round_trip(&empty, 2)?;
    assert!(enc.chunks.is_empty());
    assert_eq!(back, empty);
    Ok(())
}

#[test]
fn cost_methods_are_one_byte_when_uniform_and_one_per_account_otherwise() -> Result<(), FrameError> {
    let uniform = image(3);
    let (enc, back) = round_trip(&uniform, 1)?;
    assert_eq!(back.sequencer.account_method, [Method::Lifo, Method::Lifo]);
    // The layout of every snapshot before per-account methods: the seq,
    // then the one method's code.
    let seq_len = 5;
    assert_eq!(enc.head[varint::HEADER + seq_len], Method::Lifo.code());
    let mut mixed = image(3);
    mixed.sequencer.account_method = vec![Method::Avg, Method::Hifo];
    let (enc, back) = round_trip(&mixed, 1)?;
    assert_eq!(back, mixed);
    assert_eq!(enc.head[varint::HEADER + seq_len], PER_ACCOUNT);
    let mut none = image(0);
    none.sequencer.accounts.clear();
    none.sequencer.account_base.clear();
    none.sequencer.account_method.clear();
    assert_eq!(round_trip(&none, 1)?.1, none);
    Ok(())
}

#[test]
fn a_head_without_the_income_section_reads_as_no_income() -> Result<(), FrameError> {
    // A head as written before dividend income: no section after the counts.
    let mut old = image(2);
    old.portfolios[0].income = 0;
    let enc = encode(&old, 1);
    let with = encode(&image(2), 1);
    assert!(
        with.head.len() > enc.head.len(),
        "the section costs bytes only when used"
    );
    assert_eq!(decode_head(&enc.head)?.image.portfolios[0].income, 0);
    assert_eq!(decode_head(&with.head)?.image.portfolios[0].income, -6);
    // Without the mark of base costs (a snapshot before the FX attribution).
    let mut older = image(2);
    older.books.fx_costs = false;
    let enc = encode(&older, 1);
    assert!(!decode_head(&enc.head)?.image.books.fx_costs);
    assert!(decode_head(&with.head)?.image.books.fx_costs);
    // Without books and the firm (a snapshot before books): every
    // portfolio is its account's default book, numbered as the account.
    let mut before = image(2);
    before.sequencer.books.clear();
    before.sequencer.books_known = false;
    before.sequencer.strategies.clear();
    before.firm = None;
    let read = decode_head(&encode(&before, 1).head)?.image;
    assert_eq!((read.portfolios[0].book, read.portfolios[0].account), (1, 1));
    assert!(read.sequencer.books.is_empty() && !read.sequencer.books_known && read.firm.is_none());
    // An empty book table (accounts interned by refused trades only) is
    // a table, not a snapshot from before books.
    let mut empty = image(0);
    empty.sequencer.books.clear();
    empty.portfolios.clear();
    let read = decode_head(&encode(&empty, 1).head)?.image;
    assert!(read.sequencer.books.is_empty() && read.sequencer.books_known);
    // Without the history clock (a snapshot before P&L history).
    let mut unclocked = image(2);
    unclocked.history = None;
    assert_eq!(decode_head(&encode(&unclocked, 1).head)?.image.history, None);
    assert_eq!(decode_head(&with.head)?.image.history.map(|h| h.bucket), Some(-3));
    Ok(())
}

#[test]
fn an_unknown_cost_method_code_is_refused() {
    let enc = encode(&image(1), 1);
    let mut head = enc.head;
    head[varint::HEADER + 5] = 9;
    let body = head[varint::HEADER..].to_vec();
    head[1..varint::HEADER].copy_from_slice(&crc32fast::hash(&body).to_le_bytes());
    let err = decode_head(&head).map(|_| ());
    assert!(
        err.is_err_and(|e| e.to_string().contains("unknown cost method 9")),
        "refused by name"
    );
}

#[test]
fn every_truncation_is_refused_without_a_panic() {
    let enc = encode(&image(40), 1);
    for cut in 0..enc.head.len() {
        assert!(decode_head(&enc.head[..cut]).is_err(), "head cut at {cut}");
    }
    let chunk = &enc.chunks[0];
    for cut in 0..chunk.len() {
        assert!(decode_chunk(&chunk[..cut]).is_err(), "chunk cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_fails_the_checksum() -> Result<(), FrameError> {
    let enc = encode(&image(10), 1);
    let mut head = enc.head.clone();
    let last = head.len() - 1;
    head[last] ^= 0x40;
    assert!(matches!(decode_head(&head), Err(FrameError::Checksum { .. })));
    let mut chunk = enc.chunks[0].clone();
    chunk[varint::HEADER + 3] ^= 1;
    assert!(matches!(decode_chunk(&chunk), Err(FrameError::Checksum { .. })));
    let mut old = enc.head;
    old[0] = 1;
    assert!(matches!(decode_head(&old), Err(FrameError::Format(1))));
    Ok(())
}

#[test]
fn chunks_must_match_their_head() -> Result<(), FrameError> {
    let enc = encode(&image(10), 1);
    let missing = decode_chunks(decode_head(&enc.head)?, Vec::new());
    assert!(missing.is_err_and(|e| e.to_string().contains("0 chunks, the head says 1")));
    let other = encode(&image(11), 1);
    let wrong = decode_chunks(decode_head(&enc.head)?, other.chunks);
    assert!(wrong.is_err_and(|e| {
        e.to_string()
            .contains("11 positions in the chunks, the head says 10")
    }));
    Ok(())
}
