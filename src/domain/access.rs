//! The nouns of access control: namespaces (DTMI prefixes matched by whole segments), their
//! visibility, roles, people, API tokens, grants and audit entries. Plain data and the rules
//! that need no database: which namespace governs a DTMI, which role outranks which.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A DTMI prefix such as `dtmi:com:acme`, matched by whole segments: it covers
/// `dtmi:com:acme;1`, `dtmi:com:acme:Sensor;1` and `dtmi:com:acme:x:Y;2`, never
/// `dtmi:com:acmesecret:Sensor;1`. Stored lowercase, because DTMIs are compared
/// case-insensitively for collisions. `*` is the whole repository and the hub; `hub` is the
/// scope of the device hub (its devices, twins and commands), which covers no model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

/// The scope name of grants on the device hub.
pub const HUB_SCOPE: &str = "hub";

/// A namespace prefix that is not `dtmi:` followed by `:`-separated segments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a namespace: write a DTMI prefix of whole segments such as dtmi:com:example (letters, digits and underscores; each segment starts with a letter), hub for the device hub, or * for everything"
)]
pub struct InvalidNamespace(pub String);

impl Namespace {
    /// The whole repository.
    pub fn everything() -> Self {
        Self("*".to_owned())
    }

    /// The device hub's scope.
    pub fn hub() -> Self {
        Self(HUB_SCOPE.to_owned())
    }

    pub fn parse(text: &str) -> Result<Self, InvalidNamespace> {
        let trimmed = text.trim();
        if trimmed == "*" {
            return Ok(Self::everything());
        }
        if trimmed.eq_ignore_ascii_case(HUB_SCOPE) {
            return Ok(Self::hub());
        }
        let lower = trimmed.trim_end_matches(':').to_lowercase();
        let bare = lower
            .strip_prefix("dtmi:")
            .ok_or_else(|| InvalidNamespace(text.to_owned()))?;
        let valid_segment = |segment: &str| {
            segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && !segment.ends_with('_')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if bare.is_empty() || !bare.split(':').all(valid_segment) {
            return Err(InvalidNamespace(text.to_owned()));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_everything(&self) -> bool {
        self.0 == "*"
    }

    /// Whether this is the device hub's scope rather than a namespace of models.
    pub fn is_hub(&self) -> bool {
        self.0 == HUB_SCOPE
    }

    /// Whether this namespace covers `dtmi` (any case, with or without version).
    pub fn covers_dtmi(&self, dtmi: &str) -> bool {
        if self.is_everything() {
            return true;
        }
        let lower = dtmi.to_ascii_lowercase();
        let versionless = lower.split(';').next().unwrap_or_default();
        self.covers_path(versionless)
    }

    /// Whether this namespace covers `other` (itself or a namespace under it).
    pub fn covers(&self, other: &Namespace) -> bool {
        self.is_everything() || (!other.is_everything() && self.covers_path(&other.0))
    }

    fn covers_path(&self, versionless_lower: &str) -> bool {
        versionless_lower
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    }

    /// Number of segments; more segments govern over fewer.
    pub fn depth(&self) -> usize {
        if self.is_everything() {
            0
        } else {
            self.0.split(':').count()
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Namespace {
    type Error = InvalidNamespace;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Namespace> for String {
    fn from(value: Namespace) -> Self {
        value.0
    }
}

/// Who may read the models of a namespace without a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, including anonymous DMR clients.
    Public,
    /// Only callers granted a role on the namespace (and admins).
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Visibility {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            other => Err(format!(
                "unknown visibility {other:?}: use public or private"
            )),
        }
    }
}

/// A namespace with a configured visibility.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceSetting {
    pub prefix: Namespace,
    pub visibility: Visibility,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The visibility of every DTMI: the setting of the deepest configured namespace covering it,
/// else the default.
#[derive(Clone, Debug)]
pub struct VisibilityMap {
    default: Visibility,
    /// Deepest first, so the first match governs.
    settings: Vec<(Namespace, Visibility)>,
}

impl VisibilityMap {
    pub fn new(
        default: Visibility,
        settings: impl IntoIterator<Item = (Namespace, Visibility)>,
    ) -> Self {
        let mut settings: Vec<_> = settings.into_iter().collect();
        settings.sort_by(|a, b| b.0.depth().cmp(&a.0.depth()).then_with(|| a.0.cmp(&b.0)));
        Self { default, settings }
    }

    pub fn default_visibility(&self) -> Visibility {
        self.default
    }

    /// Configured namespaces, deepest first.
    pub fn settings(&self) -> &[(Namespace, Visibility)] {
        &self.settings
    }

    pub fn of_dtmi(&self, dtmi: &str) -> Visibility {
        self.settings
            .iter()
            .find(|(prefix, _)| prefix.covers_dtmi(dtmi))
            .map_or(self.default, |(_, visibility)| *visibility)
    }

    /// Whether nothing at all is private, so reads need no further checks.
    pub fn all_public(&self) -> bool {
        self.default == Visibility::Public
            && self.settings.iter().all(|(_, v)| *v == Visibility::Public)
    }
}

/// What a caller may read: everything (admins, or nothing is private), or the public models
/// plus the namespaces it holds a role on.
#[derive(Clone, Debug)]
pub enum ReadScope {
    Everything,
    Restricted {
        visibility: VisibilityMap,
        /// Namespaces the caller holds any role on.
        readable: Vec<Namespace>,
    },
}

impl ReadScope {
    pub fn can_read(&self, dtmi: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::Restricted {
                visibility,
                readable,
            } => {
                visibility.of_dtmi(dtmi) == Visibility::Public
                    || readable.iter().any(|ns| ns.covers_dtmi(dtmi))
            }
        }
    }
}

/// Roles, from least to most rights. Each includes the rights of those below it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the models of private namespaces it is granted.
    Reader,
    /// Pushes and deprecates models in its namespaces.
    Publisher,
    /// Also grants roles, sets visibility, decommissions and deletes in its namespaces, and
    /// mints reader and publisher tokens for them.
    Owner,
    /// Everything, everywhere.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Publisher => "publisher",
            Self::Owner => "owner",
            Self::Admin => "admin",
        }
    }

    pub const ALL: [Role; 4] = [Role::Reader, Role::Publisher, Role::Owner, Role::Admin];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| format!("unknown role {value:?}: use reader, publisher, owner or admin"))
    }
}

/// A person: a local account (with a password) or an identity from an OIDC issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub password_hash: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub email: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A user about to be created.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub name: String,
    pub password_hash: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub email: Option<String>,
}

/// An API token as stored: only the hash of its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters of the secret, so people can tell their tokens apart.
    pub prefix: String,
    pub role: Role,
    pub namespaces: Vec<Namespace>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token about to be stored.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub name: String,
    pub secret_sha256: String,
    pub prefix: String,
    pub role: Role,
    pub namespaces: Vec<Namespace>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who holds a grant: the casbin subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    User(String),
    Token(i64),
}

/// The casbin subject of the configured bootstrap admin token.
pub const BOOTSTRAP_SUBJECT: &str = "bootstrap";

impl Subject {
    /// The casbin subject string: `user:<lowercase name>` or `token:<id>`.
    pub fn key(&self) -> String {
        match self {
            Self::User(name) => format!("user:{}", name.to_lowercase()),
            Self::Token(id) => format!("token:{id}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(name) = key.strip_prefix("user:") {
            Some(Self::User(name.to_owned()))
        } else {
            key.strip_prefix("token:")
                .and_then(|id| id.parse().ok())
                .map(Self::Token)
        }
    }
}

/// A role held on a namespace: one casbin `p` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub subject: Subject,
    pub namespace: Namespace,
    pub role: Role,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Who did something and from where, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    /// The client address, when the action came over the network.
    pub source: Option<String>,
}

impl Actor {
    pub fn new(name: impl Into<String>, source: Option<String>) -> Self {
        Self {
            name: name.into(),
            source,
        }
    }

    /// An action taken on this machine (CLI), not over the network.
    pub fn local(name: impl Into<String>) -> Self {
        Self::new(name, None)
    }
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    /// Refused by access control.
    Denied,
    /// Refused for another reason (bad credentials, invalid input).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One audit log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub detail: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn success(action: &str, target: impl Into<String>) -> Self {
        Self {
            action: action.to_owned(),
            target: target.into(),
            outcome: Outcome::Success,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// An audit entry as stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// Client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// A browser session as stored (the cookie holds its id; the database only a hash of it).
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// What access control says about a push's models, so publishing stays free of HTTP and
/// casbin. Models the pusher may not read are treated as absent, exactly as elsewhere.
pub trait PushAccess: Send + Sync {
    /// Whether the pusher may push `dtmi`.
    fn may_push(&self, dtmi: &str) -> bool;
    /// Whether the pusher may see the stored model `dtmi`.
    fn may_read(&self, dtmi: &str) -> bool;
    /// The visibility of `dtmi`'s namespace.
    fn visibility(&self, dtmi: &str) -> Visibility;
}

/// Every model may be pushed and read: for imports run on the server machine.
pub struct Unrestricted(pub VisibilityMap);

impl PushAccess for Unrestricted {
    fn may_push(&self, _: &str) -> bool {
        true
    }

    fn may_read(&self, _: &str) -> bool {
        true
    }

    fn visibility(&self, dtmi: &str) -> Visibility {
        self.0.of_dtmi(dtmi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> Namespace {
        Namespace::parse(text).expect("namespace")
    }

    #[test]
    fn namespaces_cover_whole_segments_only() {
        let acme = ns("dtmi:com:acme");
        assert!(acme.covers_dtmi("dtmi:com:acme:Sensor;1"));
        assert!(acme.covers_dtmi("dtmi:com:ACME:deep:Sensor;2"));
        assert!(acme.covers_dtmi("dtmi:com:acme;1"));
        assert!(!acme.covers_dtmi("dtmi:com:acmesecret:Sensor;1"));
        assert!(!acme.covers_dtmi("dtmi:com:acm;1"));
        assert!(!acme.covers_dtmi("dtmi:com:Sensor;1"));
        assert!(acme.covers(&ns("dtmi:com:acme:sub")));
        assert!(!acme.covers(&ns("dtmi:com:acmesecret")));
        assert!(!acme.covers(&Namespace::everything()));
        assert!(Namespace::everything().covers_dtmi("dtmi:x:Y;1"));
    }

    #[test]
    fn namespaces_are_normalized_and_validated() {
        assert_eq!(ns("DTMI:Com:Acme:").as_str(), "dtmi:com:acme");
        assert!(ns("hub").is_hub());
        assert!(!ns("hub").covers_dtmi("dtmi:hub:Thing;1"));
        assert!(!ns("dtmi:hub").is_hub());
        for bad in [
            "com:acme",
            "dtmi:",
            "dtmi:com::acme",
            "dtmi:1com",
            "dtmi:com:ac-me",
            "dtmi:com;1",
        ] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_deepest_configured_namespace_governs_visibility() {
        let map = VisibilityMap::new(
            Visibility::Public,
            [
                (ns("dtmi:com:acme"), Visibility::Private),
                (ns("dtmi:com:acme:open"), Visibility::Public),
            ],
        );
        assert_eq!(map.of_dtmi("dtmi:com:acme:Secret;1"), Visibility::Private);
        assert_eq!(
            map.of_dtmi("dtmi:com:acme:open:Thing;1"),
            Visibility::Public
        );
        assert_eq!(
            map.of_dtmi("dtmi:com:acmesecret:Thing;1"),
            Visibility::Public
        );
        assert!(!map.all_public());
        let private_default = VisibilityMap::new(Visibility::Private, []);
        assert_eq!(private_default.of_dtmi("dtmi:a:B;1"), Visibility::Private);
    }

    #[test]
    fn roles_are_ordered_by_rights_and_subjects_round_trip() {
        assert!(Role::Reader < Role::Publisher && Role::Owner < Role::Admin);
        assert_eq!("owner".parse::<Role>(), Ok(Role::Owner));
        assert!("root".parse::<Role>().is_err());
        for subject in [Subject::User("alice".into()), Subject::Token(7)] {
            assert_eq!(Subject::from_key(&subject.key()), Some(subject));
        }
    }
}
