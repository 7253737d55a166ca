//! A tally of the ML sidecar's jobs for `/metrics`, kept from the status
//! events [`Analysis::job_event`](crate::analysis::Analysis::job_event)
//! relays: jobs seen, jobs finished by final state, jobs not finished.

use rustc_hash::FxHashSet;

/// Jobs so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs seen (queued, or refused at once).
    pub submitted: u64,
    /// Jobs that finished with a result.
    pub done: u64,
    /// Jobs that failed (or were refused).
    pub failed: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Jobs queued or running now.
    pub active: u64,
}

/// The tally and the jobs not yet finished.
#[derive(Debug, Default)]
pub(crate) struct JobTally {
    counts: JobCounts,
    active: FxHashSet<u64>,
}

impl JobTally {
    /// A status event of `job` in `state` (`queued`, `running`, `done`,
    /// `failed`, `cancelled`).
    pub(crate) fn saw(&mut self, job: u64, state: &str) {
        let c = &mut self.counts;
        let finished = match state {
            "done" => &mut c.done,
            "failed" => &mut c.failed,
            "cancelled" => &mut c.cancelled,
            _ => {
                if self.active.insert(job) {
                    c.submitted += 1;
                }
                return;
            }
        };
        *finished += 1;
        if !self.active.remove(&job) {
            c.submitted += 1;
        }
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> JobCounts {
        JobCounts {
            active: self.active.len() as u64,
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_counted_once_from_first_sight_to_their_end() {
        let mut t = JobTally::default();
        for (job, state) in [
            (1, "queued"),
            (1, "running"),
            (1, "running"),
            (2, "queued"),
            (1, "done"),
            (3, "failed"),
        ] {
            t.saw(job, state);
        }
        let c = t.counts();
        assert_eq!(
            (c.submitted, c.done, c.failed, c.cancelled, c.active),
            (3, 1, 1, 0, 1)
        );
        t.saw(2, "cancelled");
        assert_eq!((t.counts().cancelled, t.counts().active), (1, 0));
    }
}
