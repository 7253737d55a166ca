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
        let whole_journal = store.first_journal_seq().ok().flatten() == Some(1);
        if image.firm.is_none() && whole_journal {
            warnings.push(format!(
                "snapshot {seq} predates books (its positions are all in default books); \
                 rebuilt from the journal instead"
            ));
            continue;
        }
        match reporting_changed(&image, config) {
            Some(None) => warnings.push(format!(
                "snapshot {seq} predates books and the journal before it was pruned: positions of \
                 earlier strategy trades stay in their accounts' default books, and the firm's \
                 figures so far convert at the rates of this restart"
            )),
            Some(Some(was)) => warnings.push(format!(
                "snapshot {seq} reported the firm in {was}: its figures so far convert into the \
                 new reporting currency at the rates of this restart"
            )),
            None => {}
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

/// Whether the firm of `image` cannot continue as it was: `Some(None)` for
/// a snapshot from before books, `Some(Some(code))` for one reporting in
/// another currency than `config` (its accumulated amounts are then
/// converted again at the restored rates), `None` when it continues.
fn reporting_changed<'a>(
    image: &'a crate::image::EngineImage,
    config: &PipelineConfig,
) -> Option<Option<&'a str>> {
    let Some(firm) = &image.firm else {
        return Some(None);
    };
    let was = image
        .sequencer
        .currencies
        .get(firm.reporting as usize)
        .map_or("", String::as_str);
    (was != config.reporting_currency.as_deref().unwrap_or("USD")).then_some(Some(was))
}
