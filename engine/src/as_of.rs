//! The state as of an earlier point: after the event of a given seq, or
//! after the last event at or before a given time. Answered from the store
//! alone, never from the live engine: the newest snapshot at or before that
//! point, then the journal up to it, replayed offline (the engine's own
//! sequencer, books and aggregator as a [`Replayer`]), so the result is
//! exactly what the live engine showed then.
//!
//! A time is resolved to a seq as `kupala replay --to` reads it: the
//! journal in seq order up to the first event stamped after it.

use crate::ids::Names;
use crate::pipeline::{PipelineConfig, Replayer};
use crate::sequencer::SequenceError;
use crate::snapshot_pick::restore_newest;
use crate::state::EngineState;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// The point of an as-of read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// After the event of this seq (0: before any event).
    Seq(u64),
    /// After the last event before the first one stamped after this time.
    Ts(Timestamp),
}

/// The engine's state at an earlier point, and how it was computed.
#[derive(Debug)]
pub struct AsOfState {
    /// The seq it is the state after.
    pub seq: u64,
    /// Positions, totals and closed history (the closed positions of the
    /// replayed part only: earlier ones are in the store's history).
    pub state: EngineState,
    /// The names of its ids.
    pub names: Names,
    /// The snapshot it started from (`None`: the journal from seq 1).
    pub snapshot: Option<u64>,
    /// Journal events replayed after the snapshot.
    pub replayed: u64,
}

/// Why an as-of read was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsOfError {
    /// The seq has not been reached.
    #[error("seq {wanted} is beyond the journal, which ends at seq {last}")]
    Beyond {
        /// The seq asked for.
        wanted: u64,
        /// The last journaled seq.
        last: u64,
    },
    /// The journal no longer holds the events between the nearest snapshot
    /// and the point.
    #[error(
        "the journal was pruned: it starts at seq {first}, and no snapshot at or before seq {wanted} \
         covers the events before it"
    )]
    Pruned {
        /// The first journaled seq.
        first: u64,
        /// The seq asked for.
        wanted: u64,
    },
    /// More events to replay than the configured bound.
    #[error(
        "answering needs {needed} journal events replayed after the nearest snapshot (seq {from}), \
         more than the limit of {limit}"
    )]
    TooFar {
        /// Events between the snapshot and the point.
        needed: u64,
        /// The snapshot's seq (0: none).
        from: u64,
        /// The bound.
        limit: u64,
    },
    /// The store could not be read.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A journaled event did not replay (a corrupt store).
    #[error("journal: {0}")]
    Replay(#[from] SequenceError),
}

/// The state of the store in `store` as of `at`, replaying at most
/// `max_replay` journal events after the nearest snapshot.
pub fn state_as_of(
    store: &Store,
    mut config: PipelineConfig,
    at: AsOf,
    max_replay: u64,
) -> Result<AsOfState, AsOfError> {
    // Nothing reads per-position deltas of an offline replay.
    config.emit_positions = false;
    let keys = store.journal_keys()?;
    let last = match keys.last() {
        Some(&k) => store.journal_batch(k)?.last_seq().unwrap_or(k),
        None => 0,
    };
    let target = match at {
        AsOf::Seq(wanted) if wanted > last => return Err(AsOfError::Beyond { wanted, last }),
        AsOf::Seq(seq) => seq,
        AsOf::Ts(ts) => seq_at(store, &keys, ts, last)?,
    };
    let mut warnings = Vec::new();
    let (restored, snapshot) = restore_newest(store, &config, target, &mut warnings);
    let from = snapshot.unwrap_or(0);
    if let Some(&first) = keys.first()
        && first > from + 1
        && target > from
    {
        return Err(AsOfError::Pruned {
            first,
            wanted: target,
        });
    }
    let needed = target - from;
    if needed > max_replay {
        return Err(AsOfError::TooFar {
            needed,
            from,
            limit: max_replay,
        });
    }
    let mut replayer = Replayer::from_restored(config, restored);
    let start = keys.iter().rposition(|&k| k <= from + 1).unwrap_or(0);
    let mut replayed = 0;
    'batches: for &key in keys.iter().skip(start) {
        if key > target {
            break;
        }
        let batch = store.journal_batch(key)?;
        let mut names = batch.names.as_slice();
        for ev in batch.events.iter().filter(|e| e.seq > from) {
            if ev.seq > target {
                break 'batches;
            }
            replayer.replay(names, ev.seq_op(), ev.tags())?;
            names = &[];
            replayed += 1;
        }
    }
    let names = replayer.names().clone();
    let state = replayer.finish();
    Ok(AsOfState {
        seq: target,
        state,
        names,
        snapshot,
        replayed,
    })
}

/// The seq of the last event before the first one stamped after `ts` (the
/// journal's end when none is); an EOD counts as the last instant of its
/// date, a definition (stamped 0) as no time at all.
fn seq_at(store: &Store, keys: &[u64], ts: Timestamp, last: u64) -> Result<u64, AsOfError> {
    for &key in keys {
        let batch = store.journal_batch(key)?;
        if let Some(e) = batch.events.iter().find(|e| e.ts > ts.0 && e.ts != 0) {
            return Ok(e.seq - 1);
        }
    }
    Ok(last)
}
