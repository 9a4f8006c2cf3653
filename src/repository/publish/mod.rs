//! Publishing a push: read the batch, apply the repository rules (one root Interface per
//! document, sub-element ids under the root DTMI, no case collisions, immutable content,
//! tombstones), validate everything with the DTDL parser resolving references from the store,
//! order the batch by its dependencies and store it in one transaction.
//!
//! The same pipeline without a store ([`validate_offline`]) is what the CLI runs before it
//! pushes and for `twinhub validate`: references outside the batch then come from a
//! [`ReferenceSource`] (folders, a remote repository). `twinhub import` runs [`push_with_progress`]
//! straight against a store, so an import and a push of the same files store the same state.
//!
//! One file per step: `rules.rs` (the repository rules of each document, pure),
//! `conflicts.rs` (against stored models and tombstones), `validation.rs` (the DTDL parser
//! with references from the push and a [`ReferenceSource`]), `dependencies.rs` (edges,
//! cycles, order) and `preview.rs` (a push checked and diffed without storing).
mod conflicts;
mod dependencies;
mod preview;
mod rules;
mod validation;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::resolution::Resolution;
use crate::domain::access::{Actor, PushAccess};
use crate::domain::batch::{Batch, BatchError};
use crate::domain::issue::Issue;
use crate::domain::model::{Change, Facet, NewModel};
use crate::store::{ModelStore, StoreError};

pub use preview::{PreviewItem, preview, previous_version};
pub use rules::{Conventions, Rules};
pub use validation::{NoReferences, ReferenceSource};

use conflicts::stored_unchanged;
use dependencies::{check_cycles, dependency_order, owner_in_push, resolve_dependencies};
use rules::check_repository_rules;
use validation::{StoreSource, validate};

/// Limits and parser settings that apply to every push.
#[derive(Clone, Debug)]
pub struct PushPolicy {
    pub max_models: usize,
    pub parsing: dtdl::ParsingOptions,
}

/// The push pipeline as the service runs it: over its store and policy, dropping the cached
/// DMR files a push makes stale. (`twinhub import` runs [`push_with_progress`] directly.)
pub struct Publisher {
    store: Arc<dyn ModelStore>,
    policy: PushPolicy,
    resolution: Arc<Resolution>,
}

impl Publisher {
    pub fn new(
        store: Arc<dyn ModelStore>,
        policy: PushPolicy,
        resolution: Arc<Resolution>,
    ) -> Self {
        Self {
            store,
            policy,
            resolution,
        }
    }

    pub fn policy(&self) -> &PushPolicy {
        &self.policy
    }

    /// Validates and stores the models of a push under `rules`.
    pub async fn push(
        &self,
        batch: Batch<'_>,
        access: Arc<dyn PushAccess>,
        actor: &Actor,
        rules: Rules,
    ) -> Result<PushOutcome, PushError> {
        let outcome = push(
            self.store.clone(),
            batch,
            access,
            actor,
            &self.policy,
            rules,
        )
        .await?;
        if !outcome.created.is_empty() {
            self.resolution.apply(&Change::ModelsAdded);
        }
        Ok(outcome)
    }

    /// Checks a push without storing it and diffs each new model against its previous version.
    pub async fn preview(
        &self,
        batch: Batch<'_>,
        access: Arc<dyn PushAccess>,
    ) -> Result<Vec<PreviewItem>, PushError> {
        preview(self.store.clone(), batch, access, &self.policy).await
    }
}

/// What a successful push did.
#[derive(Clone, Debug, Default)]
pub struct PushOutcome {
    /// DTMIs stored by this push, dependencies first.
    pub created: Vec<String>,
    /// DTMIs that were already stored with identical content.
    pub unchanged: Vec<String>,
    /// How many of the stored models carry warnings (legacy imports only).
    pub with_warnings: usize,
}

/// Why a push was refused. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("the push breaks {} rule(s); nothing was stored", .0.len())]
    Invalid(Vec<Issue>),
    #[error("the push references models that are neither in it nor stored; nothing was stored")]
    UnknownDependencies(Vec<Issue>),
    #[error("the push conflicts with stored models; nothing was stored")]
    Conflict(Vec<Issue>),
    #[error("you may not push {}; nothing was stored", .0.join(", "))]
    Forbidden(Vec<String>),
    #[error("the models of the push depend on each other in a cycle ({}); nothing was stored", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("validation could not run: {0}")]
    Internal(String),
}

/// Hears how far a long push has come (the CLI draws a progress bar from it).
pub trait Progress: Send + Sync {
    /// A stage starts with `total` steps (0 when its length is unknown).
    fn stage(&self, name: &str, total: usize);
    /// `steps` more steps of the current stage are done.
    fn advance(&self, steps: usize);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _name: &str, _total: usize) {}
    fn advance(&self, _steps: usize) {}
}

/// One pushed document that passed the repository rules.
struct Candidate<'a> {
    index: usize,
    dtmi: dtdl::Dtmi,
    text: &'a str,
    value: &'a Value,
    sha256: String,
    /// Hash of the JSON value itself (keys sorted, no whitespace): equal for texts that differ
    /// only in formatting or key order.
    canonical_sha256: String,
    /// Conventions the document breaks, admitted under [`Conventions::Warn`].
    warnings: Vec<Issue>,
}

/// Validates and stores the models of a push under `rules`.
pub async fn push(
    store: Arc<dyn ModelStore>,
    batch: Batch<'_>,
    access: Arc<dyn PushAccess>,
    actor: &Actor,
    policy: &PushPolicy,
    rules: Rules,
) -> Result<PushOutcome, PushError> {
    push_with_progress(store, batch, access, actor, policy, rules, Arc::new(Silent)).await
}

/// [`push`], telling `progress` about each stage (rules, validation, storing).
pub async fn push_with_progress(
    store: Arc<dyn ModelStore>,
    batch: Batch<'_>,
    access: Arc<dyn PushAccess>,
    actor: &Actor,
    policy: &PushPolicy,
    rules: Rules,
    progress: Arc<dyn Progress>,
) -> Result<PushOutcome, PushError> {
    progress.stage("checking repository rules", 0);
    let candidates = admitted(&batch, access.as_ref(), rules)?;
    let unchanged = stored_unchanged(store.as_ref(), &batch, &candidates).await?;
    let new: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !unchanged.contains(c.dtmi.as_str()))
        .collect();
    let mut outcome = PushOutcome {
        created: Vec::new(),
        unchanged: candidates
            .iter()
            .filter(|c| unchanged.contains(c.dtmi.as_str()))
            .map(|c| c.dtmi.to_string())
            .collect(),
        with_warnings: 0,
    };
    if new.is_empty() {
        return Ok(outcome);
    }

    progress.stage("validating", new.len());
    let source = Arc::new(StoreSource {
        store: store.clone(),
        access: access.clone(),
    });
    let documents = validate(source, &batch, &new, &policy.parsing, progress.clone()).await?;
    let models =
        resolve_dependencies(store.as_ref(), access.as_ref(), &batch, &new, &documents).await?;
    let ordered = dependency_order(models)?;
    progress.stage("storing", 0);
    store.insert(&ordered, actor).await?;
    outcome.created = ordered.iter().map(|m| m.dtmi.to_string()).collect();
    outcome.with_warnings = ordered.iter().filter(|m| !m.warnings.is_empty()).count();
    Ok(outcome)
}

/// Validates a batch without storing anything: the repository rules in `rules`, cycles, and
/// every document parsed with references resolved from the batch, then from `source`. Returns
/// the models in dependency order (dependencies first), with their batch dependencies.
pub async fn validate_offline(
    batch: &Batch<'_>,
    source: Arc<dyn ReferenceSource>,
    options: &dtdl::ParsingOptions,
    rules: Rules,
    progress: Arc<dyn Progress>,
) -> Result<Vec<NewModel>, PushError> {
    let candidates = check_repository_rules(batch, rules)?;
    check_cycles(&candidates)?;
    let all: Vec<&Candidate> = candidates.iter().collect();
    progress.stage("validating", all.len());
    let documents = validate(source, batch, &all, options, progress).await?;
    let in_batch: BTreeSet<&str> = all.iter().map(|c| c.dtmi.as_str()).collect();
    let models = all
        .iter()
        .zip(&documents)
        .map(|(candidate, (document, facets))| {
            let mut dependencies = BTreeSet::new();
            for reference in &document.external_references {
                let reference = reference.as_str();
                if in_batch.contains(reference) {
                    dependencies.insert(reference.to_owned());
                } else if let Some(owner) = owner_in_push(reference, &all) {
                    if owner != candidate.dtmi.as_str() {
                        dependencies.insert(owner.to_owned());
                    }
                } else {
                    dependencies.insert(reference.to_owned());
                }
            }
            new_model(candidate, document, facets.clone(), dependencies)
        })
        .collect();
    dependency_order(models)
}

fn new_model(
    candidate: &Candidate<'_>,
    document: &dtdl::DocumentInfo,
    facets: Vec<Facet>,
    dependencies: BTreeSet<String>,
) -> NewModel {
    let object = candidate.value.as_object();
    NewModel {
        dtmi: candidate.dtmi.clone(),
        content: candidate.text.as_bytes().to_vec(),
        sha256: candidate.sha256.clone(),
        canonical_sha256: candidate.canonical_sha256.clone(),
        dtdl_version: document.dtdl_version,
        display_name: object.and_then(|o| o.get("displayName")).cloned(),
        description: object.and_then(|o| o.get("description")).cloned(),
        dependencies: dependencies.into_iter().collect(),
        facets,
        warnings: candidate.warnings.clone(),
    }
}

/// The first checks of a push and of its preview: repository rules, the caller's right to push
/// each model, no dependency cycle inside the push.
fn admitted<'a>(
    batch: &'a Batch<'_>,
    access: &dyn PushAccess,
    rules: Rules,
) -> Result<Vec<Candidate<'a>>, PushError> {
    let candidates = check_repository_rules(batch, rules)?;
    let forbidden: Vec<String> = candidates
        .iter()
        .filter(|c| !access.may_push(c.dtmi.as_str()))
        .map(|c| c.dtmi.to_string())
        .collect();
    if !forbidden.is_empty() {
        return Err(PushError::Forbidden(forbidden));
    }
    check_cycles(&candidates)?;
    Ok(candidates)
}
