//! Previewing a push: every check of a push without storing, and each new model diffed
//! against the newest older version of its DTMI (the publish page shows these).
use std::collections::HashMap;
use std::sync::Arc;

use super::conflicts::stored_unchanged;
use super::dependencies::resolve_dependencies;
use super::validation::{PushResolver, ReferenceSource, StoreSource, validate};
use super::{Candidate, PushError, PushPolicy, Rules, Silent, admitted};
use crate::domain::access::PushAccess;
use crate::domain::batch::Batch;
use crate::store::{ModelStore, StoreError};

/// One model of a previewed push, compared with the newest stored version of its DTMI that
/// is older than it.
pub struct PreviewItem {
    pub dtmi: String,
    /// Already stored with identical content: publishing changes nothing for it.
    pub unchanged: bool,
    pub diff: Option<crate::domain::diff::Diff>,
}

/// Checks a push exactly as [`push`] does, without storing anything, and diffs each new
/// model against its previous version.
pub async fn preview(
    store: Arc<dyn ModelStore>,
    batch: Batch<'_>,
    access: Arc<dyn PushAccess>,
    policy: &PushPolicy,
) -> Result<Vec<PreviewItem>, PushError> {
    let candidates = admitted(&batch, access.as_ref(), Rules::PUSH)?;
    let unchanged = stored_unchanged(store.as_ref(), &batch, &candidates).await?;
    let new: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !unchanged.contains(c.dtmi.as_str()))
        .collect();
    if !new.is_empty() {
        let source: Arc<dyn ReferenceSource> = Arc::new(StoreSource {
            store: store.clone(),
            access: access.clone(),
        });
        let documents = validate(source, &batch, &new, &policy.parsing, Arc::new(Silent)).await?;
        resolve_dependencies(store.as_ref(), access.as_ref(), &batch, &new, &documents).await?;
    }
    let texts: Arc<HashMap<String, String>> = Arc::new(
        new.iter()
            .map(|c| (c.dtmi.to_string(), c.text.to_owned()))
            .collect(),
    );
    let mut items = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        let dtmi = candidate.dtmi.to_string();
        if unchanged.contains(&dtmi) {
            items.push(PreviewItem {
                dtmi,
                unchanged: true,
                diff: None,
            });
            continue;
        }
        let previous = previous_version(store.as_ref(), &candidate.dtmi).await?;
        let diff = match previous {
            None => None,
            Some(previous) => {
                let old =
                    crate::repository::inspect::load(store.as_ref(), &previous, &policy.parsing)
                        .await
                        .map_err(|e| PushError::Internal(e.to_string()))?;
                let Some(old) = old else {
                    items.push(PreviewItem {
                        dtmi,
                        unchanged: false,
                        diff: None,
                    });
                    continue;
                };
                let mut resolver = PushResolver {
                    batch: texts.clone(),
                    source: Arc::new(StoreSource {
                        store: store.clone(),
                        access: access.clone(),
                    }),
                    runtime: tokio::runtime::Handle::current(),
                };
                let text = candidate.text.to_owned();
                let options = policy.parsing.clone();
                let id = dtmi.clone();
                tokio::task::spawn_blocking(move || {
                    let new_model = dtdl::parse(&[text.as_str()], Some(&mut resolver), &options)
                        .map_err(|e| PushError::Internal(e.to_string()))?;
                    match (old.root(), new_model.element(&id)) {
                        (Some(old_root), Some(new_root)) => {
                            Ok::<_, PushError>(Some(crate::domain::diff::diff(old_root, new_root)))
                        }
                        _ => Ok(None),
                    }
                })
                .await
                .map_err(|e| PushError::Internal(format!("the preview task failed: {e}")))??
            }
        };
        items.push(PreviewItem {
            dtmi,
            unchanged: false,
            diff,
        });
    }
    Ok(items)
}

/// The DTMI of the newest stored version of `dtmi`'s interface older than `dtmi` itself.
pub async fn previous_version(
    store: &dyn ModelStore,
    dtmi: &dtdl::Dtmi,
) -> Result<Option<String>, StoreError> {
    let mine = (dtmi.major_version(), dtmi.minor_version());
    let versions = store.versions(&dtmi.versionless().to_lowercase()).await?;
    Ok(versions
        .into_iter()
        .filter_map(|r| {
            let parsed = dtdl::Dtmi::parse(&r.dtmi).ok()?;
            let theirs = (parsed.major_version(), parsed.minor_version());
            (theirs < mine).then_some((theirs, r.dtmi))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, dtmi)| dtmi))
}
