//! Authorization: who may do what where. Grants live in the database (`authz_rules`) and are
//! evaluated by casbin with the model in `model.conf`; namespace visibility decides what
//! anonymous callers and callers without a grant can read. [`Authz::require`] is the one
//! call every handler makes before acting, and the only place that decides between 401, 403
//! and the 404 that hides a private model.

mod adapter;

use std::sync::{Arc, RwLock};

use casbin::function_map::OperatorFunction;
use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi};

use crate::auth::Caller;
use crate::domain::access::{Namespace, PushAccess, ReadScope, Role, Visibility, VisibilityMap};
use crate::store::{Store, StoreError};

pub use adapter::StoreAdapter;

/// What a caller wants to do. Each role holds the actions listed in [`ROLE_RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read models of a private namespace.
    Read,
    /// Push new models.
    Push,
    /// Mark models deprecated.
    Deprecate,
    /// Mark models decommissioned.
    Decommission,
    /// Delete models.
    Delete,
    /// Set a namespace's visibility and owners.
    ManageNamespace,
    /// Grant and revoke roles on a namespace.
    Grant,
    /// Mint API tokens for a namespace.
    MintToken,
    /// Manage users and read the audit log (the whole repository).
    Administer,
    /// Update desired properties, send cloud-to-device messages and invoke commands (hub).
    OperateDevices,
    /// Create, change and delete device and module identities and their keys (hub).
    ManageDevices,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Push => "push",
            Self::Deprecate => "deprecate",
            Self::Decommission => "decommission",
            Self::Delete => "delete",
            Self::ManageNamespace => "manage-namespace",
            Self::Grant => "grant",
            Self::MintToken => "mint-token",
            Self::Administer => "administer",
            Self::OperateDevices => "operate-devices",
            Self::ManageDevices => "manage-devices",
        }
    }
}

/// The fixed `g` rules: role inheritance, then the actions each role adds.
pub const ROLE_RULES: &[(&str, &str)] = &[
    ("role:publisher", "role:reader"),
    ("role:owner", "role:publisher"),
    ("role:admin", "role:owner"),
    ("role:reader", "read"),
    ("role:publisher", "push"),
    ("role:publisher", "deprecate"),
    ("role:owner", "decommission"),
    ("role:owner", "delete"),
    ("role:owner", "manage-namespace"),
    ("role:owner", "grant"),
    ("role:owner", "mint-token"),
    ("role:admin", "administer"),
    ("role:publisher", "operate-devices"),
    ("role:owner", "manage-devices"),
];

/// What an action is about.
#[derive(Clone, Debug)]
pub enum Target<'a> {
    /// A model, stored or about to be pushed (its DTMI in any case).
    Model(&'a str),
    /// A namespace.
    Namespace(&'a Namespace),
    /// The repository as a whole (users, audit log).
    Repository,
    /// The device hub: its registry, twins and devices (grants on the scope `hub`).
    Hub,
}

impl Target<'_> {
    fn key(&self) -> String {
        match self {
            Self::Model(dtmi) => {
                let lower = dtmi.to_ascii_lowercase();
                lower.split(';').next().unwrap_or_default().to_owned()
            }
            Self::Namespace(namespace) => namespace.as_str().to_owned(),
            Self::Repository => "*".to_owned(),
            Self::Hub => crate::domain::access::HUB_SCOPE.to_owned(),
        }
    }
}

/// Why a request is refused. Mapped to 401, 404 (a model the caller may not see answers as
/// if it did not exist) and 403 at the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error(
        "sign in or send an API token as Authorization: Bearer <token> (create one with POST /api/v1/tokens)"
    )]
    Unauthenticated,
    #[error("no model {0} is stored")]
    ModelHidden(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Why the policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("cannot read the access policy: {0}")]
    Store(#[from] StoreError),
    #[error("the access model is invalid: {0}")]
    Casbin(#[from] casbin::Error),
}

struct Policy {
    enforcer: Enforcer,
    visibility: Arc<VisibilityMap>,
}

/// The loaded policy, reloaded whole whenever access changes (on this instance or, through
/// PostgreSQL notifications, on another).
pub struct Authz {
    store: Arc<dyn Store>,
    default_visibility: Visibility,
    policy: RwLock<Arc<Policy>>,
}

impl Authz {
    pub async fn load(
        store: Arc<dyn Store>,
        default_visibility: Visibility,
    ) -> Result<Self, AuthzError> {
        let policy = Self::build(&store, default_visibility).await?;
        Ok(Self {
            store,
            default_visibility,
            policy: RwLock::new(Arc::new(policy)),
        })
    }

    /// Reads grants and namespaces again; callers see the new policy from their next check.
    pub async fn reload(&self) -> Result<(), AuthzError> {
        let policy = Self::build(&self.store, self.default_visibility).await?;
        if let Ok(mut current) = self.policy.write() {
            *current = Arc::new(policy);
        }
        Ok(())
    }

    async fn build(
        store: &Arc<dyn Store>,
        default_visibility: Visibility,
    ) -> Result<Policy, AuthzError> {
        let model = DefaultModel::from_str(include_str!("model.conf")).await?;
        let mut enforcer = Enforcer::new(model, StoreAdapter::new(store.clone())).await?;
        enforcer.add_function(
            "namespaceCovers",
            OperatorFunction::Arg2(|granted, requested| {
                let granted = casbin::function_map::dynamic_to_str(&granted);
                let requested = casbin::function_map::dynamic_to_str(&requested);
                namespace_covers(&granted, &requested).into()
            }),
        );
        let visibility = store.visibility_map(default_visibility).await?;
        Ok(Policy {
            enforcer,
            visibility: Arc::new(visibility),
        })
    }

    fn current(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(policy) => policy.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Namespace visibility as currently configured.
    pub fn visibility(&self) -> Arc<VisibilityMap> {
        self.current().visibility.clone()
    }

    /// Whether `caller` may take `action` on `target` by its grants alone.
    pub fn allows(&self, caller: &Caller, action: Action, target: &Target<'_>) -> bool {
        let Some(subject) = caller.principal.subject_key() else {
            return false;
        };
        self.current()
            .enforcer
            .enforce((subject.as_str(), target.key().as_str(), action.as_str()))
            .unwrap_or_else(|error| {
                tracing::error!(error = %error, "access check failed; denying");
                false
            })
    }

    /// Whether `caller` may read the model `dtmi` (public, or granted).
    pub fn can_read(&self, caller: &Caller, dtmi: &str) -> bool {
        self.visibility().of_dtmi(dtmi) == Visibility::Public
            || self.allows(caller, Action::Read, &Target::Model(dtmi))
    }

    /// The one authorization call of a handler. Reading a model needs only that it be
    /// visible to the caller. Any other action on a model the caller cannot see answers 404,
    /// exactly as for a model that does not exist; otherwise 401 for anonymous callers and 403
    /// for the rest.
    pub fn require(
        &self,
        caller: &Caller,
        action: Action,
        target: &Target<'_>,
    ) -> Result<(), Denied> {
        if let Target::Model(dtmi) = target {
            if !self.can_read(caller, dtmi) {
                return Err(match action {
                    // Pushing names a model that may not exist yet: refusing says nothing
                    // about what is stored.
                    Action::Push if caller.principal.is_anonymous() => Denied::Unauthenticated,
                    Action::Push => Denied::Forbidden(format!(
                        "you may not push {dtmi}: ask an owner of its namespace for the publisher role"
                    )),
                    _ => Denied::ModelHidden((*dtmi).to_owned()),
                });
            }
            if action == Action::Read {
                return Ok(());
            }
        }
        if self.allows(caller, action, target) {
            return Ok(());
        }
        if caller.principal.is_anonymous() {
            return Err(Denied::Unauthenticated);
        }
        Err(Denied::Forbidden(match target {
            Target::Model(dtmi) => format!(
                "you may not {} {dtmi}: it needs a role on its namespace that holds this right",
                action.as_str()
            ),
            Target::Namespace(namespace) => format!(
                "you may not {} in {namespace}: it needs the owner role on it (or admin)",
                action.as_str()
            ),
            Target::Repository => {
                format!("only admins may {} the repository", action.as_str())
            }
            Target::Hub => format!(
                "you may not {} on the device hub: it needs a role on the scope hub \
                 (reader reads, publisher operates devices, owner manages identities)",
                match action {
                    Action::Read => "read devices",
                    Action::OperateDevices => "operate devices",
                    Action::ManageDevices => "manage identities",
                    other => other.as_str(),
                }
            ),
        }))
    }

    /// What `caller` may read, for filtering listings in the database.
    pub fn read_scope(&self, caller: &Caller) -> ReadScope {
        let policy = self.current();
        if policy.visibility.all_public() {
            return ReadScope::Everything;
        }
        let readable = self.granted_namespaces(caller, Role::Reader);
        if readable.iter().any(Namespace::is_everything) {
            return ReadScope::Everything;
        }
        ReadScope::Restricted {
            visibility: (*policy.visibility).clone(),
            readable,
        }
    }

    /// The namespaces on which `caller` holds at least `role`.
    pub fn granted_namespaces(&self, caller: &Caller, role: Role) -> Vec<Namespace> {
        let Some(subject) = caller.principal.subject_key() else {
            return Vec::new();
        };
        let policy = self.current();
        policy
            .enforcer
            .get_filtered_policy(0, vec![subject])
            .into_iter()
            .filter_map(|rule| {
                let held = rule.get(2)?.strip_prefix("role:")?.parse::<Role>().ok()?;
                let namespace = Namespace::parse(rule.get(1)?).ok()?;
                (held >= role).then_some(namespace)
            })
            .collect()
    }

    /// The authorization call of handlers open to any signed-in caller, which then limit
    /// what they show or do to the caller's own rights.
    pub fn require_signed_in(&self, caller: &Caller) -> Result<(), Denied> {
        if caller.principal.is_anonymous() {
            Err(Denied::Unauthenticated)
        } else {
            Ok(())
        }
    }

    /// The authorization call of push handlers: pushing needs a signed-in caller, and then
    /// each model of the push is checked against the caller's grants.
    pub fn push_access(self: &Arc<Self>, caller: &Caller) -> Result<Arc<dyn PushAccess>, Denied> {
        if caller.principal.is_anonymous() {
            return Err(Denied::Unauthenticated);
        }
        Ok(Arc::new(CallerPushAccess {
            authz: self.clone(),
            caller: caller.clone(),
            visibility: self.visibility(),
            scope: self.read_scope(caller),
        }))
    }

    pub fn is_admin(&self, caller: &Caller) -> bool {
        self.allows(caller, Action::Administer, &Target::Repository)
    }
}

/// [`PushAccess`] for one caller.
struct CallerPushAccess {
    authz: Arc<Authz>,
    caller: Caller,
    visibility: Arc<VisibilityMap>,
    /// Taken once per push: references are checked against it without casbin.
    scope: ReadScope,
}

impl PushAccess for CallerPushAccess {
    fn may_push(&self, dtmi: &str) -> bool {
        self.authz
            .allows(&self.caller, Action::Push, &Target::Model(dtmi))
    }

    fn may_read(&self, dtmi: &str) -> bool {
        self.scope.can_read(dtmi)
    }

    fn visibility(&self, dtmi: &str) -> Visibility {
        self.visibility.of_dtmi(dtmi)
    }
}

/// Casbin's `namespaceCovers(p.ns, r.ns)`: `granted` covers `requested` by whole segments.
fn namespace_covers(granted: &str, requested: &str) -> bool {
    if granted == "*" {
        return true;
    }
    requested
        .strip_prefix(granted)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casbin_namespace_matching_is_by_whole_segments() {
        assert!(namespace_covers("*", "*"));
        assert!(namespace_covers("*", "dtmi:a:b"));
        assert!(namespace_covers("dtmi:com:acme", "dtmi:com:acme"));
        assert!(namespace_covers("dtmi:com:acme", "dtmi:com:acme:sensor"));
        assert!(!namespace_covers(
            "dtmi:com:acme",
            "dtmi:com:acmesecret:sensor"
        ));
        assert!(!namespace_covers("dtmi:com:acme", "*"));
    }
}
