//! A push against what is stored: identical content is "unchanged", changed content, case
//! collisions and DTMIs whose tombstone holds other content are refused.
use std::collections::{BTreeSet, HashMap};

use super::{Candidate, PushError};
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;
use crate::store::ModelStore;

/// The candidates already stored with identical content (conflicting ones are refused).
pub(super) async fn stored_unchanged(
    store: &dyn ModelStore,
    batch: &Batch<'_>,
    candidates: &[Candidate<'_>],
) -> Result<BTreeSet<String>, PushError> {
    let lowers: Vec<String> = candidates
        .iter()
        .map(|c| c.dtmi.as_str().to_lowercase())
        .collect();
    check_against_store(store, batch, candidates, &lowers).await
}

/// Returns the DTMIs already stored with identical content; refuses changed content, case
/// collisions and DTMIs whose tombstone holds other content.
pub(super) async fn check_against_store(
    store: &dyn ModelStore,
    batch: &Batch<'_>,
    candidates: &[Candidate<'_>],
    lowers: &[String],
) -> Result<BTreeSet<String>, PushError> {
    let stored: HashMap<String, _> = store
        .records(lowers)
        .await?
        .into_iter()
        .map(|r| (r.dtmi.to_lowercase(), r))
        .collect();
    let tombstones: HashMap<String, _> = store
        .tombstones(lowers)
        .await?
        .into_iter()
        .map(|t| (t.dtmi.to_lowercase(), t))
        .collect();
    let mut unchanged = BTreeSet::new();
    let mut conflicts = Vec::new();
    for (candidate, lower) in candidates.iter().zip(lowers) {
        let dtmi = candidate.dtmi.as_str();
        let conflict = if let Some(record) = stored.get(lower) {
            if record.dtmi != dtmi {
                Some(Issue::repository(
                    "caseCollision",
                    format!(
                        "{dtmi} differs only in letter case from the stored model {}; both would share the DMR path {}, so it cannot be stored",
                        record.dtmi,
                        candidate.dtmi.to_dmr_path()
                    ),
                ))
            } else if record.sha256 != candidate.sha256
                && record.canonical_sha256 != candidate.canonical_sha256
            {
                Some(Issue::repository(
                    "contentChanged",
                    format!(
                        "{dtmi} is already stored with different content (stored sha256 {}, pushed sha256 {}); published models are immutable, so publish the change under a new version",
                        record.sha256, candidate.sha256
                    ),
                ))
            } else {
                unchanged.insert(dtmi.to_owned());
                None
            }
        } else if let Some(tombstone) = tombstones.get(lower) {
            if tombstone.dtmi != dtmi {
                Some(Issue::repository(
                    "caseCollision",
                    format!(
                        "{dtmi} differs only in letter case from the deleted model {}, whose DMR path stays reserved",
                        tombstone.dtmi
                    ),
                ))
            } else if tombstone.sha256 != candidate.sha256
                && tombstone.canonical_sha256 != candidate.canonical_sha256
            {
                Some(Issue::repository(
                    "deletedWithOtherContent",
                    format!(
                        "{dtmi} was deleted and can only come back with its original content (sha256 {}), not {}; use a new version",
                        tombstone.sha256, candidate.sha256
                    ),
                ))
            } else {
                None
            }
        } else {
            None
        };
        if let Some(issue) = conflict {
            conflicts.push(batch.locate(candidate.index, issue.about(dtmi).at("/@id")));
        }
    }
    if conflicts.is_empty() {
        Ok(unchanged)
    } else {
        Err(PushError::Conflict(conflicts))
    }
}
