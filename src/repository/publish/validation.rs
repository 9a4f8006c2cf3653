//! Validation through the DTDL parser: each new document parsed on its own, its references
//! resolved from the rest of the push and then from a [`ReferenceSource`] (the store, or for
//! offline validation folders and remote repositories); documents are spread over the cores.
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Candidate, Progress, PushError};
use crate::domain::access::PushAccess;
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;
use crate::domain::model::Facet;
use crate::store::ModelStore;

/// Supplies models a batch references but does not contain (stored ones, or for offline
/// validation ones found in folders or another repository).
#[async_trait]
pub trait ReferenceSource: Send + Sync {
    /// Texts of the models with exactly these DTMIs (case-sensitive); unknown ones are left out.
    async fn contents(&self, dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, String>;
}

/// The store as a reference source: what a push on the server resolves against, limited to
/// the models the pusher may read.
pub(super) struct StoreSource {
    pub(super) store: Arc<dyn ModelStore>,
    pub(super) access: Arc<dyn PushAccess>,
}

#[async_trait]
impl ReferenceSource for StoreSource {
    async fn contents(&self, dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut found = self
            .store
            .contents(dtmis)
            .await
            .map_err(|e| e.to_string())?;
        found.retain(|(dtmi, _)| self.access.may_read(dtmi));
        Ok(found)
    }
}

/// Nothing beyond the batch: every reference must be in it.
pub struct NoReferences;

#[async_trait]
impl ReferenceSource for NoReferences {
    async fn contents(&self, _dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
        Ok(Vec::new())
    }
}

/// Answers the parser's requests for referenced DTMIs: from the other documents of the push
/// first, then from the store.
pub(super) struct PushResolver {
    pub(super) batch: Arc<HashMap<String, String>>,
    pub(super) source: Arc<dyn ReferenceSource>,
    pub(super) runtime: tokio::runtime::Handle,
}

impl dtdl::Resolver for PushResolver {
    fn resolve(&mut self, dtmis: &[dtdl::Dtmi]) -> Result<Vec<String>, dtdl::ResolverError> {
        let mut texts = Vec::with_capacity(dtmis.len());
        let mut wanted = Vec::new();
        for dtmi in dtmis {
            match self.batch.get(dtmi.as_str()) {
                Some(text) => texts.push(text.clone()),
                None => wanted.push(dtmi.to_string()),
            }
        }
        if wanted.is_empty() {
            return Ok(texts);
        }
        let found = self
            .runtime
            .block_on(self.source.contents(&wanted))
            .map_err(dtdl::ResolverError::new)?;
        for (dtmi, content) in found {
            texts.push(String::from_utf8(content).map_err(|_| {
                dtdl::ResolverError::new(format!("stored model {dtmi} is not UTF-8"))
            })?);
        }
        Ok(texts)
    }
}

/// Validates each new document on its own, as `dmr-client validate` does per file, resolving
/// its references from the rest of the push and the store. (Parsing the whole push as one model
/// would wrongly refuse unrelated models that happen to define the same nested identifier.)
pub(super) async fn validate(
    source: Arc<dyn ReferenceSource>,
    batch: &Batch<'_>,
    new: &[&Candidate<'_>],
    options: &dtdl::ParsingOptions,
    progress: Arc<dyn Progress>,
) -> Result<Vec<(dtdl::DocumentInfo, Vec<Facet>)>, PushError> {
    let texts: Arc<HashMap<String, String>> = Arc::new(
        new.iter()
            .map(|c| (c.dtmi.to_string(), c.text.to_owned()))
            .collect(),
    );
    let order: Vec<String> = new.iter().map(|c| c.dtmi.to_string()).collect();
    let options = options.clone();
    let runtime = tokio::runtime::Handle::current();
    // Documents are parsed independently, so large batches (imports) use every core.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, order.len().div_ceil(64).max(1));
    let results = tokio::task::spawn_blocking(move || {
        let chunk = order.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = order
                .chunks(chunk)
                .map(|dtmis| {
                    let (texts, source, runtime) = (texts.clone(), source.clone(), runtime.clone());
                    let (options, progress) = (&options, progress.clone());
                    scope.spawn(move || {
                        let mut resolver = PushResolver {
                            batch: texts.clone(),
                            source,
                            runtime,
                        };
                        dtmis
                            .iter()
                            .map(|dtmi| {
                                let text = texts.get(dtmi).map(String::as_str).unwrap_or_default();
                                // Only the document's facts are kept: holding every parsed
                                // object model until the end would cost gigabytes on imports.
                                let result = dtdl::parse(&[text], Some(&mut resolver), options)
                                    .map(|model| {
                                        let facets = model
                                            .element(dtmi.as_str())
                                            .map(crate::domain::facets::facets_of)
                                            .unwrap_or_default();
                                        model.documents().first().cloned().map(|d| (d, facets))
                                    });
                                progress.advance(1);
                                result
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join())
                .collect::<Result<Vec<_>, _>>()
                .map(|parts| parts.into_iter().flatten().collect::<Vec<_>>())
        })
    })
    .await
    .map_err(|e| PushError::Internal(format!("the validation task failed: {e}")))?
    .map_err(|_| PushError::Internal("a validation thread panicked".to_owned()))?;

    let in_push: BTreeSet<&str> = new.iter().map(|c| c.dtmi.as_str()).collect();
    let mut documents = Vec::with_capacity(new.len());
    let mut invalid = Vec::new();
    let mut unresolved = Vec::new();
    for (candidate, result) in new.iter().zip(results) {
        match result {
            Ok(document) => match document {
                Some(document) => documents.push(document),
                None => {
                    return Err(PushError::Internal(format!(
                        "the parser described no document for {}",
                        candidate.dtmi
                    )));
                }
            },
            Err(dtdl::ParseFailure::Invalid(errors)) => {
                for error in &errors {
                    let issue = Issue::from(error);
                    match error.location.as_ref().map(|l| &l.document) {
                        Some(dtdl::DocumentRef::Input(_)) | None => {
                            invalid.push(batch.locate(candidate.index, issue))
                        }
                        // Reported by that model's own validation.
                        Some(dtdl::DocumentRef::Resolved(dtmi))
                            if in_push.contains(dtmi.as_str()) => {}
                        Some(dtdl::DocumentRef::Resolved(dtmi)) => invalid.push(Issue {
                            message: format!(
                                "in stored model {dtmi}, needed by {}: {}",
                                candidate.dtmi, issue.message
                            ),
                            pointer: None,
                            line: None,
                            column: None,
                            ..issue
                        }),
                    }
                }
            }
            Err(dtdl::ParseFailure::Unresolved(failure)) => {
                for (dtmi, location) in &failure.references {
                    let issue = Issue::repository(
                        "unknownDependency",
                        format!("{dtmi} is referenced here but is neither in this push nor stored; include it in the push or push it first"),
                    )
                    .about(dtmi.as_str());
                    unresolved.push(match &location.document {
                        dtdl::DocumentRef::Input(_) => batch.locate(
                            candidate.index,
                            issue
                                .at(location.pointer.clone())
                                .position(location.line, location.column),
                        ),
                        dtdl::DocumentRef::Resolved(owner) => Issue {
                            message: format!(
                                "{} (in {owner}, needed by {})",
                                issue.message, candidate.dtmi
                            ),
                            ..issue
                        },
                    });
                }
                if failure.references.is_empty() {
                    unresolved.extend(failure.unresolved.iter().map(|dtmi| {
                        batch.locate(
                            candidate.index,
                            Issue::repository(
                                "unknownDependency",
                                format!(
                                    "{dtmi} is referenced but is neither in this push nor stored"
                                ),
                            )
                            .about(dtmi.as_str()),
                        )
                    }));
                }
            }
            Err(dtdl::ParseFailure::Resolver(error)) => {
                return Err(PushError::Internal(error.to_string()));
            }
        }
    }
    if !invalid.is_empty() {
        invalid.extend(unresolved);
        return Err(PushError::Invalid(invalid));
    }
    if !unresolved.is_empty() {
        unresolved.dedup();
        return Err(PushError::UnknownDependencies(unresolved));
    }
    Ok(documents)
}
