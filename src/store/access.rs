//! Persistence of access control behind [`AccessStore`]: users, API tokens, browser sessions,
//! namespace visibility, grants (the casbin policy rules) and the audit log. Every write
//! records its audit entry in the same transaction, so the log never misses a change that
//! happened nor shows one that did not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::access::{
    Actor, ApiToken, AuditEntry, AuditRecord, Grant, Namespace, NamespaceSetting, NewApiToken,
    NewUser, Role, Session, Subject, User, Visibility, VisibilityMap,
};
use crate::domain::model::Page;

/// Filters of the audit log listing.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// What may change about a user.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    pub email: Option<String>,
}

/// The access-control side of the database. Writes are transactions that include their
/// audit entry and a change notification for other instances.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Creates a user together with its initial grants.
    async fn create_user(
        &self,
        user: &NewUser,
        grants: &[(Namespace, Role)],
        actor: &Actor,
    ) -> Result<User, StoreError>;

    async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError>;

    async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError>;

    async fn users(&self) -> Result<Vec<User>, StoreError>;

    async fn update_user(
        &self,
        name: &str,
        update: &UserUpdate,
        actor: &Actor,
    ) -> Result<User, StoreError>;

    /// Deletes a user, its grants and its sessions.
    async fn delete_user(&self, name: &str, actor: &Actor) -> Result<(), StoreError>;

    async fn record_login(&self, user_id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Stores a token and its grants (one per namespace, or `*` for admin tokens).
    async fn create_token(
        &self,
        token: &NewApiToken,
        actor: &Actor,
    ) -> Result<ApiToken, StoreError>;

    async fn token_by_hash(&self, secret_sha256: &str) -> Result<Option<ApiToken>, StoreError>;

    async fn token(&self, id: i64) -> Result<Option<ApiToken>, StoreError>;

    /// Tokens, newest first; only those made by `created_by` when given.
    async fn tokens(&self, created_by: Option<&str>) -> Result<Vec<ApiToken>, StoreError>;

    /// Notes a use of the token (callers throttle how often).
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Revokes a token and drops its grants.
    async fn revoke_token(&self, id: i64, actor: &Actor) -> Result<ApiToken, StoreError>;

    async fn create_session(
        &self,
        id_sha256: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        source: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The live (unexpired) session with this id hash, with its user.
    async fn session(&self, id_sha256: &str) -> Result<Option<Session>, StoreError>;

    async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError>;

    async fn namespaces(&self) -> Result<Vec<NamespaceSetting>, StoreError>;

    /// The visibility of every DTMI: the namespace settings over `default`.
    async fn visibility_map(&self, default: Visibility) -> Result<VisibilityMap, StoreError> {
        let settings = self.namespaces().await?;
        Ok(VisibilityMap::new(
            default,
            settings.into_iter().map(|s| (s.prefix, s.visibility)),
        ))
    }

    /// Sets a namespace's visibility and, when `owners` is given, replaces the owner grants
    /// on exactly this namespace.
    async fn set_namespace(
        &self,
        prefix: &Namespace,
        visibility: Visibility,
        owners: Option<&[Subject]>,
        actor: &Actor,
    ) -> Result<NamespaceSetting, StoreError>;

    /// Dependency edges (dependent, dependency) with either end in `namespace`: what a
    /// visibility change must check.
    async fn dependency_edges_touching(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<(String, String)>, StoreError>;

    /// Every grant, in creation order: the casbin policy.
    async fn grants(&self) -> Result<Vec<Grant>, StoreError>;

    async fn add_grant(
        &self,
        subject: &Subject,
        namespace: &Namespace,
        role: Role,
        actor: &Actor,
    ) -> Result<Grant, StoreError>;

    async fn remove_grant(&self, id: i64, actor: &Actor) -> Result<Grant, StoreError>;

    /// Records an entry on its own (refusals and failed logins, which change nothing else).
    async fn audit(&self, actor: &Actor, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Audit entries, newest first.
    async fn audit_log(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, StoreError>;
}
