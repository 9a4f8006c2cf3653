//! Publishing a push: read the batch, apply the repository rules (one root Interface per
//! document, sub-element ids under the root DTMI, no case collisions, immutable content,
//! tombstones), validate everything with the DTDL parser resolving references from the store,
//! order the batch by its dependencies and store it in one transaction.
//!
//! The same pipeline without a store ([`validate_offline`]) is what the CLI runs before it
//! pushes and for `twinhub validate`: references outside the batch then come from a
//! [`ReferenceSource`] (folders, a remote repository). `twinhub import` runs [`push_with_progress`]
//! straight against a store, so an import and a push of the same files store the same state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::resolution::Resolution;
use crate::domain::access::{Actor, PushAccess, Visibility};
use crate::domain::batch::{Batch, BatchError};
use crate::domain::issue::Issue;
use crate::domain::model::{Change, Facet, ModelState, NewModel};
use crate::store::{ModelStore, StoreError};

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

    /// Validates and stores the models of a push.
    pub async fn push(
        &self,
        batch: Batch<'_>,
        access: Arc<dyn PushAccess>,
        actor: &Actor,
    ) -> Result<PushOutcome, PushError> {
        let outcome = push(self.store.clone(), batch, access, actor, &self.policy).await?;
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

/// Supplies models a batch references but does not contain (stored ones, or for offline
/// validation ones found in folders or another repository).
#[async_trait]
pub trait ReferenceSource: Send + Sync {
    /// Texts of the models with exactly these DTMIs (case-sensitive); unknown ones are left out.
    async fn contents(&self, dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, String>;
}

/// The store as a reference source: what a push on the server resolves against, limited to
/// the models the pusher may read.
struct StoreSource {
    store: Arc<dyn ModelStore>,
    access: Arc<dyn PushAccess>,
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

/// Which repository rules apply beyond "each document is an Interface with a DTMI".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Nested `@id`s must lie under the root DTMI (always on for pushes).
    pub sub_ids_under_root: bool,
}

impl Rules {
    /// The rules every push must meet.
    pub const PUSH: Rules = Rules {
        sub_ids_under_root: true,
    };
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
}

/// Validates and stores the models of a push.
pub async fn push(
    store: Arc<dyn ModelStore>,
    batch: Batch<'_>,
    access: Arc<dyn PushAccess>,
    actor: &Actor,
    policy: &PushPolicy,
) -> Result<PushOutcome, PushError> {
    push_with_progress(store, batch, access, actor, policy, Arc::new(Silent)).await
}

/// [`push`], telling `progress` about each stage (rules, validation, storing).
pub async fn push_with_progress(
    store: Arc<dyn ModelStore>,
    batch: Batch<'_>,
    access: Arc<dyn PushAccess>,
    actor: &Actor,
    policy: &PushPolicy,
    progress: Arc<dyn Progress>,
) -> Result<PushOutcome, PushError> {
    progress.stage("checking repository rules", 0);
    let candidates = admitted(&batch, access.as_ref())?;
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
    Ok(outcome)
}

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
    let candidates = admitted(&batch, access.as_ref())?;
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
                let old = super::inspect::load(store.as_ref(), &previous, &policy.parsing)
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
    }
}

/// The first checks of a push and of its preview: repository rules, the caller's right to push
/// each model, no dependency cycle inside the push.
fn admitted<'a>(
    batch: &'a Batch<'_>,
    access: &dyn PushAccess,
) -> Result<Vec<Candidate<'a>>, PushError> {
    let candidates = check_repository_rules(batch, Rules::PUSH)?;
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

/// The candidates already stored with identical content (conflicting ones are refused).
async fn stored_unchanged(
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

/// The rules of `dmr-client validate --strict`: each document is one Interface object with a
/// valid `@id`, and (with `rules.sub_ids_under_root`) every nested `@id` lies under the root
/// DTMI (segment-aware).
fn check_repository_rules<'a>(
    batch: &'a Batch<'_>,
    rules: Rules,
) -> Result<Vec<Candidate<'a>>, PushError> {
    let mut issues = Vec::new();
    let mut candidates = Vec::new();
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    for item in &batch.items {
        let mut local = Vec::new();
        let value = &item.value;
        let Some(object) = value.as_object() else {
            local.push(
                Issue::repository(
                    "notAnObject",
                    "each model must be a single JSON object (a DTDL Interface); nested arrays are not accepted",
                )
                .at(""),
            );
            issues.extend(local.into_iter().map(|i| batch.locate(item.index, i)));
            continue;
        };
        let dtmi = match object.get("@id") {
            Some(Value::String(id)) => match dtdl::Dtmi::parse(id) {
                Ok(dtmi) if dtmi.fragment().is_none() => Some(dtmi),
                Ok(_) => {
                    local.push(
                        Issue::repository(
                            "invalidRootId",
                            format!("the root @id {id:?} has a fragment; a model's DTMI must not"),
                        )
                        .at("/@id"),
                    );
                    None
                }
                Err(error) => {
                    local.push(
                        Issue::repository(
                            "invalidRootId",
                            format!("the root @id {id:?} is not a valid DTMI: {error}"),
                        )
                        .at("/@id"),
                    );
                    None
                }
            },
            Some(_) => {
                local.push(Issue::repository("invalidRootId", "the root @id must be a string holding the model's DTMI, such as \"dtmi:com:example:Thermostat;1\"").at("/@id"));
                None
            }
            None => {
                local.push(Issue::repository("missingRootId", "the model has no @id; give the root Interface its DTMI, such as \"dtmi:com:example:Thermostat;1\"").at(""));
                None
            }
        };
        if !is_interface(object.get("@type")) {
            local.push(
                Issue::repository(
                    "rootNotInterface",
                    "the root element must have \"@type\": \"Interface\"; only interfaces can be stored as models",
                )
                .at("/@type"),
            );
        }
        if let Some(dtmi) = &dtmi {
            if rules.sub_ids_under_root {
                check_sub_ids(dtmi, value, &mut local);
            }
            let lower = dtmi.as_str().to_lowercase();
            if let Some((first, first_dtmi)) = seen.get(&lower) {
                let message = if first_dtmi == dtmi.as_str() {
                    format!(
                        "{dtmi} appears twice in the push (models {first} and {}); send each model once",
                        item.index
                    )
                } else {
                    format!(
                        "{dtmi} and {first_dtmi} (model {first}) differ only in letter case; they would share one DMR path, so only one can be stored"
                    )
                };
                local.push(Issue::repository("duplicateInPush", message).at("/@id"));
            } else {
                seen.insert(lower, (item.index, dtmi.to_string()));
            }
        }
        let clean = local.is_empty();
        issues.extend(local.into_iter().map(|issue| {
            let issue = match &dtmi {
                Some(dtmi) => issue.about(dtmi.as_str()),
                None => issue,
            };
            batch.locate(item.index, issue)
        }));
        if let (true, Some(dtmi)) = (clean, dtmi) {
            candidates.push(Candidate {
                index: item.index,
                dtmi,
                text: item.text,
                sha256: hex::encode(Sha256::digest(item.text.as_bytes())),
                canonical_sha256: canonical_sha256(value),
                value,
            });
        }
    }
    if issues.is_empty() {
        Ok(candidates)
    } else {
        Err(PushError::Invalid(issues))
    }
}

fn is_interface(types: Option<&Value>) -> bool {
    match types {
        Some(Value::String(t)) => t == "Interface",
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some("Interface")),
        _ => false,
    }
}

/// Every nested `@id` must name the root or something under it: its labels (without version
/// and fragment) must start with all of the root's labels.
fn check_sub_ids(root: &dtdl::Dtmi, value: &Value, issues: &mut Vec<Issue>) {
    let root_labels = root.labels();
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), value)];
    while let Some((path, node)) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = format!("{path}/{}", escape_pointer(key));
                    if key == "@id"
                        && !path.is_empty()
                        && let Some(Ok(id)) = child.as_str().map(dtdl::Dtmi::parse)
                        && !id.labels().starts_with(&root_labels)
                    {
                        issues.push(
                            Issue::repository(
                                "idOutsideRoot",
                                format!(
                                    "@id {id} is not under the model's DTMI {root}; nested ids must start with {}: so that the model owns them",
                                    root.versionless()
                                ),
                            )
                            .at(child_path.clone()),
                        );
                    }
                    if key != "@context" {
                        stack.push((child_path, child));
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    stack.push((format!("{path}/{i}"), child));
                }
            }
            _ => {}
        }
    }
    issues.sort_by(|a, b| a.pointer.cmp(&b.pointer));
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Returns the DTMIs already stored with identical content; refuses changed content, case
/// collisions and DTMIs whose tombstone holds other content.
async fn check_against_store(
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

/// Answers the parser's requests for referenced DTMIs: from the other documents of the push
/// first, then from the store.
struct PushResolver {
    batch: Arc<HashMap<String, String>>,
    source: Arc<dyn ReferenceSource>,
    runtime: tokio::runtime::Handle,
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
async fn validate(
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

/// SHA-256 of the value written compactly with object keys sorted, so that re-pushing the same
/// model with other whitespace or key order counts as identical.
fn canonical_sha256(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(child) = map.get(key) {
                        write(child, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = String::new();
    write(value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Refuses a push whose models name each other in a cycle, before any parsing: an edge is any
/// string value in one pushed model that is exactly the DTMI of another.
fn check_cycles(candidates: &[Candidate<'_>]) -> Result<(), PushError> {
    let roots: HashMap<&str, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.dtmi.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut found = BTreeSet::new();
            let mut stack: Vec<&Value> = vec![c.value];
            while let Some(node) = stack.pop() {
                match node {
                    Value::String(text) => {
                        if let Some(&target) = roots.get(text.as_str())
                            && target != i
                        {
                            found.insert(target);
                        }
                    }
                    Value::Array(items) => stack.extend(items),
                    Value::Object(map) => stack.extend(
                        map.iter()
                            .filter(|(k, _)| k.as_str() != "@id" && k.as_str() != "@context")
                            .map(|(_, v)| v),
                    ),
                    _ => {}
                }
            }
            found.into_iter().collect()
        })
        .collect();
    let names: Vec<String> = candidates.iter().map(|c| c.dtmi.to_string()).collect();
    match topological_order(&edges) {
        Ok(_) => Ok(()),
        Err(waiting) => Err(PushError::Cycle(find_cycle(&names, &edges, &waiting))),
    }
}

/// Builds the models to store: each with its dependency edges to co-pushed or stored models.
/// Refuses new dependencies on decommissioned models.
async fn resolve_dependencies(
    store: &dyn ModelStore,
    access: &dyn PushAccess,
    batch: &Batch<'_>,
    new: &[&Candidate<'_>],
    documents: &[(dtdl::DocumentInfo, Vec<Facet>)],
) -> Result<Vec<NewModel>, PushError> {
    let in_push: BTreeMap<&str, usize> = new
        .iter()
        .enumerate()
        .map(|(i, c)| (c.dtmi.as_str(), i))
        .collect();
    let outside: Vec<String> = documents
        .iter()
        .flat_map(|(d, _)| d.external_references.iter())
        .filter(|r| !in_push.contains_key(r.as_str()))
        .map(|r| r.as_str().to_lowercase())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored: HashMap<String, _> = store
        .records(&outside)
        .await?
        .into_iter()
        .filter(|r| access.may_read(&r.dtmi))
        .map(|r| (r.dtmi.clone(), r))
        .collect();

    let mut conflicts = Vec::new();
    let mut models = Vec::with_capacity(new.len());
    for (candidate, (document, facets)) in new.iter().zip(documents) {
        let mut dependencies = BTreeSet::new();
        for reference in &document.external_references {
            let reference = reference.as_str();
            if in_push.contains_key(reference) {
                dependencies.insert(reference.to_owned());
            } else if let Some(record) = stored.get(reference) {
                if record.state == ModelState::Decommissioned {
                    conflicts.push(batch.locate(
                        candidate.index,
                        Issue::repository(
                            "decommissionedDependency",
                            format!("{} depends on {reference}, which is decommissioned and cannot gain new dependents; depend on a newer version", candidate.dtmi),
                        )
                        .about(candidate.dtmi.as_str()),
                    ));
                }
                dependencies.insert(reference.to_owned());
            } else if let Some(owner) = owner_in_push(reference, new) {
                // An element defined inside another pushed model (e.g. a schema in its `schemas`).
                if owner != candidate.dtmi.as_str() {
                    dependencies.insert(owner.to_owned());
                }
            }
        }
        if access.visibility(candidate.dtmi.as_str()) == Visibility::Public {
            for dependency in &dependencies {
                if access.visibility(dependency) == Visibility::Private {
                    conflicts.push(batch.locate(
                        candidate.index,
                        Issue::repository(
                            "privateDependency",
                            format!("{} is in a public namespace but depends on {dependency}, which is private: its expanded file would reveal it; make the dependency's namespace public or push this model into a private namespace", candidate.dtmi),
                        )
                        .about(candidate.dtmi.as_str()),
                    ));
                }
            }
        }
        models.push(new_model(candidate, document, facets.clone(), dependencies));
    }
    if conflicts.is_empty() {
        Ok(models)
    } else {
        Err(PushError::Conflict(conflicts))
    }
}

/// The pushed model whose DTMI labels are the longest prefix of `reference`'s labels.
fn owner_in_push<'c>(reference: &str, new: &'c [&Candidate<'_>]) -> Option<&'c str> {
    let reference = dtdl::Dtmi::parse(reference).ok()?;
    let labels = reference.labels();
    new.iter()
        .filter(|c| labels.starts_with(&c.dtmi.labels()))
        .max_by_key(|c| c.dtmi.labels().len())
        .map(|c| c.dtmi.as_str())
}

/// Orders models so that each comes after everything it depends on (stable: push order among
/// independent models); a cycle refuses the push.
fn dependency_order(models: Vec<NewModel>) -> Result<Vec<NewModel>, PushError> {
    let position: HashMap<String, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.dtmi.to_string(), i))
        .collect();
    let edges: Vec<Vec<usize>> = models
        .iter()
        .map(|m| {
            m.dependencies
                .iter()
                .filter_map(|d| position.get(d).copied())
                .collect()
        })
        .collect();
    match topological_order(&edges) {
        Ok(order) => {
            let mut slots: Vec<Option<NewModel>> = models.into_iter().map(Some).collect();
            Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
        }
        Err(waiting) => {
            let names: Vec<String> = models.iter().map(|m| m.dtmi.to_string()).collect();
            Err(PushError::Cycle(find_cycle(&names, &edges, &waiting)))
        }
    }
}

/// Kahn's algorithm over `edges[node] = nodes it depends on`, lowest index first among the
/// ready ones. On a cycle, returns how many unmet dependencies each node still has.
fn topological_order(edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut waiting: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    for (node, deps) in edges.iter().enumerate() {
        for &dep in deps {
            dependents[dep].push(node);
        }
    }
    let mut ready: BTreeSet<usize> = (0..edges.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(edges.len());
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for &dependent in &dependents[next] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == edges.len() {
        Ok(order)
    } else {
        Err(waiting)
    }
}

/// Walks dependency edges among the nodes left unordered until one repeats.
fn find_cycle(names: &[String], edges: &[Vec<usize>], waiting: &[usize]) -> Vec<String> {
    let Some(start) = (0..names.len()).find(|&i| waiting[i] > 0) else {
        return Vec::new();
    };
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = edges[current].iter().find(|&&d| waiting[d] > 0) {
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| names[i].clone()).collect();
            cycle.push(names[next].clone());
            return cycle;
        }
        path.push(next);
        current = next;
    }
    path.iter().map(|&i| names[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dtmi: &str, dependencies: &[&str]) -> NewModel {
        NewModel {
            dtmi: dtdl::Dtmi::parse(dtmi).expect("valid dtmi"),
            content: Vec::new(),
            sha256: String::new(),
            canonical_sha256: String::new(),
            dtdl_version: 2,
            display_name: None,
            description: None,
            dependencies: dependencies.iter().map(|d| (*d).to_owned()).collect(),
            facets: Vec::new(),
        }
    }

    #[test]
    fn dependencies_come_before_their_dependents() {
        let ordered = dependency_order(vec![
            model("dtmi:a:Top;1", &["dtmi:a:Middle;1", "dtmi:a:Stored;1"]),
            model("dtmi:a:Middle;1", &["dtmi:a:Base;1"]),
            model("dtmi:a:Base;1", &[]),
        ])
        .expect("acyclic");
        let names: Vec<String> = ordered.iter().map(|m| m.dtmi.to_string()).collect();
        assert_eq!(names, ["dtmi:a:Base;1", "dtmi:a:Middle;1", "dtmi:a:Top;1"]);
    }

    #[test]
    fn a_cycle_is_refused_and_named() {
        let error = dependency_order(vec![
            model("dtmi:a:Free;1", &[]),
            model("dtmi:a:One;1", &["dtmi:a:Two;1"]),
            model("dtmi:a:Two;1", &["dtmi:a:One;1"]),
        ])
        .expect_err("cycle");
        match error {
            PushError::Cycle(cycle) => {
                assert_eq!(cycle, ["dtmi:a:One;1", "dtmi:a:Two;1", "dtmi:a:One;1"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nested_ids_must_lie_under_the_root_segment_by_segment() {
        let root = dtdl::Dtmi::parse("dtmi:com:ex:Thermo;1").expect("valid");
        let value = serde_json::json!({
            "@id": "dtmi:com:ex:Thermo;1",
            "contents": [
                {"@id": "dtmi:com:ex:Thermo:temp;1"},
                {"@id": "dtmi:com:ex:Thermostat:temp;1"},
                {"schema": {"@id": "dtmi:com:other:thing;1"}}
            ]
        });
        let mut issues = Vec::new();
        check_sub_ids(&root, &value, &mut issues);
        let pointers: Vec<_> = issues.iter().filter_map(|i| i.pointer.clone()).collect();
        assert_eq!(pointers, ["/contents/1/@id", "/contents/2/schema/@id"]);
    }
}
