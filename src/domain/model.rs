//! The nouns of the repository: a stored model version, its lifecycle state, what a push
//! brings in, and the listings built from them. Plain data; no HTTP and no SQL.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::issue::Issue;

/// Lifecycle of a model version. Transitions only go forward:
/// published → deprecated → decommissioned (published → decommissioned is allowed too).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Resolvable and usable as a dependency.
    Published,
    /// Still resolvable (with a `Deprecation` header); new models may still depend on it.
    Deprecated,
    /// Still resolvable, but no new model may depend on it.
    Decommissioned,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Deprecated => "deprecated",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Whether a model in `self` may move to `next`.
    pub fn can_become(self, next: ModelState) -> bool {
        next > self
    }
}

impl fmt::Display for ModelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of `published`, `deprecated`, `decommissioned`.
#[derive(Debug, thiserror::Error)]
#[error("unknown model state {0:?}: use published, deprecated or decommissioned")]
pub struct UnknownState(pub String);

impl FromStr for ModelState {
    type Err = UnknownState;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "published" => Ok(Self::Published),
            "deprecated" => Ok(Self::Deprecated),
            "decommissioned" => Ok(Self::Decommissioned),
            other => Err(UnknownState(other.to_owned())),
        }
    }
}

/// What is known about one stored model version, without its content.
#[derive(Clone, Debug)]
pub struct ModelRecord {
    pub id: i64,
    pub dtmi: String,
    pub sha256: String,
    /// Hash of the model's JSON value (formatting-independent).
    pub canonical_sha256: String,
    pub size_bytes: i64,
    pub dtdl_version: u8,
    /// The model's `displayName` exactly as written (a string or a language map), if any.
    pub display_name: Option<serde_json::Value>,
    /// The model's `description` exactly as written, if any.
    pub description: Option<serde_json::Value>,
    pub state: ModelState,
    pub pushed_by: String,
    pub pushed_at: DateTime<Utc>,
    pub state_changed_at: Option<DateTime<Utc>>,
    /// Repository conventions the model breaks, admitted by a legacy import.
    pub warnings: Vec<Issue>,
}

/// A stored model version with its exact bytes.
#[derive(Clone, Debug)]
pub struct StoredModel {
    pub record: ModelRecord,
    pub content: Vec<u8>,
}

/// A model version about to be stored, after validation.
#[derive(Clone, Debug)]
pub struct NewModel {
    pub dtmi: dtdl::Dtmi,
    /// The exact bytes pushed for this model.
    pub content: Vec<u8>,
    pub sha256: String,
    pub canonical_sha256: String,
    pub dtdl_version: u8,
    pub display_name: Option<serde_json::Value>,
    pub description: Option<serde_json::Value>,
    /// DTMIs (exact casing) of the stored or co-pushed models this one references.
    pub dependencies: Vec<String>,
    /// What faceted search finds the model by.
    pub facets: Vec<Facet>,
    /// Repository conventions the model breaks, admitted by a legacy import.
    pub warnings: Vec<Issue>,
}

/// A dimension of faceted search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FacetKind {
    /// The DTMI without its last segment and version, lowercase (`dtmi:com:example`).
    Namespace,
    /// A kind of content the interface has, own or inherited (`Telemetry`, `Command`, ...).
    Capability,
    /// A semantic type of a content (`Temperature`).
    SemanticType,
    /// A unit of a content (`degreeCelsius`).
    Unit,
    /// The interface DTMI of a component.
    Component,
}

impl FacetKind {
    pub const ALL: [FacetKind; 5] = [
        Self::Namespace,
        Self::Capability,
        Self::SemanticType,
        Self::Unit,
        Self::Component,
    ];

    /// The name stored in the database and used in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Capability => "capability",
            Self::SemanticType => "semanticType",
            Self::Unit => "unit",
            Self::Component => "component",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One facet value of a model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Facet {
    pub kind: FacetKind,
    pub value: String,
}

/// How many models of a search have a facet value. The pseudo-facets `state` and
/// `dtdlVersion` come from the model rows themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetCount {
    pub facet: String,
    pub value: String,
    pub count: u64,
}

/// Which direct neighbours of a model to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The models it references.
    Dependencies,
    /// The models that reference it.
    Dependents,
}

/// A deleted DTMI: it may come back only with the same content.
#[derive(Clone, Debug)]
pub struct Tombstone {
    pub dtmi: String,
    pub sha256: String,
    pub canonical_sha256: String,
}

/// One entry of the DMR index.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    pub dtmi: String,
    pub display_name: Option<serde_json::Value>,
    pub description: Option<serde_json::Value>,
}

/// The repository-wide revision: bumped by every write, reported as `commitId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepositoryStatus {
    pub revision: i64,
    pub model_count: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl SearchQuery {
    /// A search for everything `scope` may read, unfiltered, first page of 50, by DTMI.
    pub fn within(scope: crate::domain::access::ReadScope) -> Self {
        Self {
            text: None,
            namespace_prefix: None,
            state: None,
            dependencies_of: None,
            dtdl_version: None,
            facets: Vec::new(),
            newest_first: false,
            scope,
            offset: 0,
            limit: 50,
        }
    }

    /// Whether the search matches every stored model: no filter, and a caller who may read
    /// everything.
    pub fn matches_everything(&self) -> bool {
        self.text.is_none()
            && self.namespace_prefix.is_none()
            && self.state.is_none()
            && self.dependencies_of.is_none()
            && self.dtdl_version.is_none()
            && self.facets.is_empty()
            && matches!(self.scope, crate::domain::access::ReadScope::Everything)
    }
}

/// Filters and paging of a model search.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// Case-insensitive text matched against DTMI, displayName and description.
    pub text: Option<String>,
    /// Lowercase DTMI prefix such as `dtmi:com:example:` (segment-aware, ends with `:`).
    pub namespace_prefix: Option<String>,
    pub state: Option<ModelState>,
    /// Only models in the dependency closure of this model (excluding itself); database id.
    pub dependencies_of: Option<i64>,
    pub dtdl_version: Option<u8>,
    /// Only models having every one of these facet values.
    pub facets: Vec<Facet>,
    /// Newest first instead of by DTMI.
    pub newest_first: bool,
    /// Only models the caller may read.
    pub scope: crate::domain::access::ReadScope,
    pub offset: u64,
    pub limit: u64,
}

/// One page of results and the number of results in all.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// What a write changed, as told to every instance's caches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// New models were stored: listings change, nothing stored before does.
    ModelsAdded,
    /// A model's state changed: its headers change.
    StateChanged { dtmi_lower: String },
    /// A model was deleted.
    Deleted { dtmi_lower: String },
    /// Users, tokens, grants or namespace visibility changed: reload the policy, and drop
    /// listings, whose content depends on visibility.
    AccessChanged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_only_move_forward() {
        use ModelState::*;
        assert!(Published.can_become(Deprecated));
        assert!(Published.can_become(Decommissioned));
        assert!(Deprecated.can_become(Decommissioned));
        assert!(!Deprecated.can_become(Published));
        assert!(!Decommissioned.can_become(Deprecated));
        assert!(!Published.can_become(Published));
    }

    #[test]
    fn state_names_round_trip_and_unknown_names_are_refused() {
        for state in [
            ModelState::Published,
            ModelState::Deprecated,
            ModelState::Decommissioned,
        ] {
            assert_eq!(state.as_str().parse::<ModelState>().ok(), Some(state));
        }
        assert!("retired".parse::<ModelState>().is_err());
    }

    #[test]
    fn changes_serialise_as_tagged_json() {
        let change = Change::Deleted {
            dtmi_lower: "dtmi:com:example:thermostat;1".to_owned(),
        };
        let text = serde_json::to_string(&change).expect("serialise");
        assert_eq!(
            text,
            r#"{"kind":"deleted","dtmi_lower":"dtmi:com:example:thermostat;1"}"#
        );
        assert_eq!(serde_json::from_str::<Change>(&text).ok(), Some(change));
    }
}
