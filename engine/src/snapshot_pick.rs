//! Choosing the snapshot a restore starts from: the newest one that reads
//! whole and was taken under the configuration in force (recovery, and an
//! as-of query, which wants the newest at or before a seq).

use crate::pipeline::{PipelineConfig, Restored};
use crate::store::Store;

/// The books and sequencer of the newest snapshot at or before seq
/// `at_most` that reads and restores whole (taken with the configured cost
/// methods), and its seq; an older one, with a warning, for each that does
/// not; empty (the journal alone) if none does.
pub(crate) fn restore_newest(
    store: &Store,
    config: &PipelineConfig,
    at_most: u64,
    warnings: &mut Vec<String>,
) -> (Restored, Option<u64>) {
    let (mut seqs, damage) = store.readable_snapshot_seqs();
    seqs.retain(|&s| s <= at_most);
    if let Some(e) = damage {
        warnings.push(match seqs.first() {
            Some(oldest) => format!("snapshots before seq {oldest} unreadable, not used: {e}"),
            None => format!("snapshots unreadable, recovering from the journal alone: {e}"),
        });
    }
    for seq in seqs.into_iter().rev() {
        let (image, chunks) = match store.snapshot_parts(seq) {
            Ok(parts) => parts,
            Err(e) => {
                warnings.push(format!("snapshot {seq} unreadable, trying an older one: {e}"));
                continue;
            }
        };
        if !image.books.fx_costs && store.first_journal_seq().ok().flatten() == Some(1) {
            warnings.push(format!(
                "snapshot {seq} predates the FX attribution (its positions have no base costs); \
                 rebuilt from the journal instead"
            ));
            continue;
        }
        if !image.books.fx_costs {
            warnings.push(format!(
                "snapshot {seq} predates the FX attribution and the journal before it was pruned: \
                 the currency effect of positions held in another currency counts from this restart"
            ));
        }
        if let Some(account) = method_changed(&image.sequencer, config) {
            warnings.push(format!(
                "snapshot {seq} was taken with another cost method for account {account:?}; not used"
            ));
            continue;
        }
        match Restored::from(config, &image, &chunks) {
            Ok(restored) => return (restored, Some(seq)),
            Err(e) => warnings.push(format!("snapshot {seq} unreadable, trying an older one: {e}")),
        }
    }
    (Restored::empty(config), None)
}

/// The first account of `image` whose cost method `config` changes: its
/// lots (or their absence under `avg`) were built under the old one.
pub(crate) fn method_changed<'a>(
    image: &'a crate::image::SequencerImage,
    config: &PipelineConfig,
) -> Option<&'a str> {
    image
        .accounts
        .iter()
        .zip(&image.account_method)
        .find(|(name, m)| config.methods.of(name) != **m)
        .map(|(name, _)| name.as_str())
}
