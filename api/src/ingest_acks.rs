//! The ack thread (`kupala-acks`): waits (blocking, off the tokio workers
//! and off the ingest thread) until the journal's durable watermark covers
//! a submit's last seq, then answers it: `ack`, or `unavailable` when the
//! store failed or durability took longer than [`ACK_TIMEOUT`].

use std::time::Duration;

use tokio::sync::oneshot;

use kupala_engine::journal_writer::Watermarks;

use crate::metrics::{Metrics, add};
use crate::protocol::ErrorCode;

/// How long an ack waits for durability before answering `unavailable`.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer to a submit: each event's seq (`None` for an ignored repeated
/// trade id), or why the batch was refused.
pub type SubmitResult = Result<Vec<Option<u64>>, (ErrorCode, String)>;

/// A submit waiting for durability: its last seq, its seqs, where to answer.
pub(crate) type AckJob = (u64, Vec<Option<u64>>, oneshot::Sender<SubmitResult>);

/// Answers each job once durable (or failed, or timed out), until the
/// ingest thread drops its sender.
pub(crate) fn acker(rx: &crossbeam_channel::Receiver<AckJob>, marks: Option<&Watermarks>, metrics: &Metrics) {
    while let Ok((last, seqs, reply)) = rx.recv() {
        let result = match marks {
            None => Ok(seqs),
            Some(m) if m.wait_durable(last, ACK_TIMEOUT) => Ok(seqs),
            // The write may or may not have reached the disk before it
            // failed: only the client can make the outcome certain, by
            // resubmitting (repeated trade ids are ignored).
            Some(m) if m.failed() => Err((
                ErrorCode::Unavailable,
                format!(
                    "outcome unknown: the store failed before these events were durable ({}); they may or may not be stored. Resubmit with the same trade ids once the server is back: repeats are ignored",
                    m.failure().unwrap_or_default()
                ),
            )),
            Some(_) => Err((
                ErrorCode::Unavailable,
                format!(
                    "outcome unknown: the events were not durable within {} s; resubmit with the same trade ids (repeats are ignored)",
                    ACK_TIMEOUT.as_secs()
                ),
            )),
        };
        if result.is_ok() {
            add(&metrics.acks, 1);
        }
        let _ = reply.send(result);
    }
}
