//! A journal batch through the store's compact codec
//! (`store::journal_codec`, store format 2), as the journal writer appends
//! it and replay/recovery read it back, beside the rkyv archive + CRC32
//! frame that format 1 used (`store::encode`/`decode`, still the codec of
//! snapshots and other records), in the same run: 1,024 events of the
//! standard stream (ticks and one trade per 100 ticks), sequenced after the
//! opening book (the batch carries the few instrument names first seen in
//! it, as a live batch would). Throughput = events; the encoded size is
//! printed once.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kupala_engine::store::journal::{JournalBatch, JournalEvent};
use kupala_engine::store::{decode, encode, journal_codec};
use kupala_engine::{BaseCurrencies, Sequencer};
use kupala_feeds::workload::Workload;

const BATCH: usize = 1024;

/// A batch of the stream's events after the opening book.
fn batch() -> JournalBatch {
    let w = Workload::standard();
    let mut seq = Sequencer::new(BaseCurrencies::default());
    let _ = common::sequence(&mut seq, &w.opening_trades());
    let _ = seq.take_new_names();
    let stream: Vec<_> = w.ticks(BATCH as u64).take(BATCH).collect();
    let events = stream
        .iter()
        .filter_map(|e| JournalEvent::new(&seq.sequence(e).ok()??, e))
        .collect();
    JournalBatch {
        names: seq.take_new_names(),
        events,
        cursor: None,
    }
}

fn journal_codec(c: &mut Criterion) {
    let batch = batch();
    assert_eq!(batch.events.len(), BATCH, "every stream event sequenced");
    let Ok(rkyv) = encode(&batch) else {
        panic!("the batch does not encode");
    };
    assert_eq!(
        decode::<JournalBatch>(&rkyv).ok().as_ref(),
        Some(&batch),
        "round trip"
    );
    let compact = journal_codec::encode(&batch);
    assert_eq!(journal_codec::decode(&compact).as_ref(), Ok(&batch), "round trip");
    println!(
        "journal_codec: {BATCH} events, {} names; compact {} bytes ({:.1} per event), rkyv {} bytes ({:.1} per event)",
        batch.names.len(),
        compact.len(),
        compact.len() as f64 / BATCH as f64,
        rkyv.len(),
        rkyv.len() as f64 / BATCH as f64
    );
    let mut g = c.benchmark_group("journal_codec");
    common::short(&mut g);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("compact/encode_1024", |b| {
        b.iter(|| black_box(journal_codec::encode(black_box(&batch)).len()))
    });
    g.bench_function("compact/decode_1024", |b| {
        b.iter(|| black_box(journal_codec::decode(black_box(&compact)).map(|v| v.events.len())));
    });
    g.bench_function("rkyv/encode_1024", |b| {
        b.iter(|| black_box(encode(black_box(&batch)).map(|v| v.len())))
    });
    g.bench_function("rkyv/decode_1024", |b| {
        b.iter(|| black_box(decode::<JournalBatch>(black_box(&rkyv)).map(|v| v.events.len())));
    });
    g.finish();
}

criterion_group!(benches, journal_codec);
criterion_main!(benches);
