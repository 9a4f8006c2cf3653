//! Authentication: who is calling, without HTTP. A caller presents an API token or the
//! bootstrap admin token, or a browser session, or nothing (anonymous); [`Authenticator`]
//! checks each against the store and yields a [`Caller`]. Also here: local password logins
//! with throttling, server-side sessions (so logout really ends them) and their CSRF tokens,
//! and OIDC sign-in (`oidc.rs`). Reading credentials out of requests (headers, encrypted
//! cookies, the client address) is the HTTP edge's job (`crate::http::auth`); what a caller
//! may do is decided by [`crate::authz`].

pub mod oidc;
pub mod secrets;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::{Secret, Settings};
use crate::domain::access::{Actor, ApiToken, AuditEntry, Outcome, Subject, User};
use crate::store::{AccessStore, Store, StoreError};

use secrets::{constant_time_eq, looks_like_token, sha256_hex};
use throttle::LoginThrottle;

/// Who a request comes from.
#[derive(Clone, Debug)]
pub enum Principal {
    Anonymous,
    /// The admin token from the configuration.
    Bootstrap,
    User(User),
    Token(ApiToken),
}

impl Principal {
    /// The casbin subject, `None` for anonymous callers (who hold no grants).
    pub fn subject_key(&self) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::Bootstrap => Some(crate::domain::access::BOOTSTRAP_SUBJECT.to_owned()),
            Self::User(user) => Some(Subject::User(user.name.clone()).key()),
            Self::Token(token) => Some(Subject::Token(token.id).key()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }

    /// How the audit log and `pushedBy` name this caller.
    pub fn name(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Bootstrap => "admin".to_owned(),
            Self::User(user) => user.name.clone(),
            Self::Token(token) => format!("token:{} ({})", token.id, token.name),
        }
    }
}

/// A browser session behind a request.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub id_sha256: String,
    pub csrf_token: String,
}

/// The caller of a request: principal, client address and, for browsers, the session.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub source: Option<String>,
    pub session: Option<SessionInfo>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Anonymous,
            source: None,
            session: None,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::new(self.principal.name(), self.source.clone())
    }

    /// Checks the CSRF token a form sent against the session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), AuthError> {
        match &self.session {
            Some(session) if session.csrf_matches(presented) => Ok(()),
            _ => Err(AuthError::Forbidden(
                "the form's CSRF token does not match your session; reload the page and try again"
                    .to_owned(),
            )),
        }
    }
}

impl SessionInfo {
    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.csrf_token.as_bytes())
    }
}

/// Why credentials were refused or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credentials are malformed, unknown, expired or revoked (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The request is refused whoever sends it, e.g. a missing CSRF token (403).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Checking failed for a reason that is not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

/// Why a login failed (each becomes an audit entry; the message to the person stays vague).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the user name or password is wrong")]
    BadCredentials,
    #[error("too many failed logins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error(transparent)]
    Unexpected(#[from] AuthError),
}

impl From<StoreError> for LoginError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into())
    }
}

/// Checks credentials and keeps sessions.
pub struct Authenticator {
    store: Arc<dyn Store>,
    admin_token: Option<Secret>,
    session_ttl: chrono::Duration,
    throttle: LoginThrottle,
}

/// A session just started: its secret id (for the cookie) and how long it lasts.
pub struct NewSession {
    pub id: String,
    pub ttl: chrono::Duration,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, settings: &Settings) -> Self {
        Self {
            store,
            admin_token: settings.admin_token.clone(),
            session_ttl: chrono::Duration::minutes(i64::from(settings.session_ttl_minutes)),
            throttle: LoginThrottle::new(
                settings.login_max_failures,
                Duration::from_secs(settings.login_lockout_seconds),
            ),
        }
    }

    /// The principal of an `Authorization` header value. A bearer token that is malformed,
    /// unknown, expired or revoked is refused outright (never treated as anonymous), so a
    /// broken CI secret fails loudly.
    pub async fn bearer(&self, value: &str) -> Result<Principal, AuthError> {
        let unauthenticated = |detail: String| AuthError::Unauthenticated(detail);
        let Some(token) = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(unauthenticated(
                "the Authorization header must be `Bearer <token>`".to_owned(),
            ));
        };
        if let Some(expected) = &self.admin_token
            && constant_time_eq(token.as_bytes(), expected.expose().as_bytes())
        {
            return Ok(Principal::Bootstrap);
        }
        if !looks_like_token(token) {
            return Err(unauthenticated(
                "the bearer token is not a twinhub token (they start with thk_ followed by 64 hex digits)".to_owned(),
            ));
        }
        let stored = self.store.token_by_hash(&sha256_hex(token)).await?;
        let Some(stored) = stored else {
            return Err(unauthenticated(
                "the bearer token is not valid here".to_owned(),
            ));
        };
        let now = Utc::now();
        if let Some(revoked) = stored.revoked_at {
            return Err(unauthenticated(format!(
                "the bearer token {:?} was revoked at {revoked}; ask for a new one",
                stored.name
            )));
        }
        if let Some(expired) = stored.expires_at.filter(|at| *at <= now) {
            return Err(unauthenticated(format!(
                "the bearer token {:?} expired at {expired}; ask for a new one",
                stored.name
            )));
        }
        // Recording every use would turn each read into a write; a minute's precision is
        // plenty for "last used".
        if stored
            .last_used_at
            .is_none_or(|at| now - at > chrono::Duration::seconds(60))
        {
            self.store.touch_token(stored.id, now).await?;
        }
        Ok(Principal::Token(stored))
    }

    /// The live session with this secret id, if any, and its user.
    pub async fn session(&self, id: &str) -> Result<Option<(User, SessionInfo)>, AuthError> {
        let id_sha256 = sha256_hex(id);
        Ok(AccessStore::session(self.store.as_ref(), &id_sha256)
            .await?
            .map(|session| {
                (
                    session.user,
                    SessionInfo {
                        id_sha256,
                        csrf_token: session.csrf_token,
                    },
                )
            }))
    }

    /// Starts a new session for `user`, ending `previous` (a new id every login, so a session
    /// id planted before login is worthless).
    pub async fn start_session(
        &self,
        user: &User,
        previous: Option<&str>,
        source: Option<String>,
    ) -> Result<NewSession, AuthError> {
        if let Some(previous) = previous
            && let Some((_, old)) = self.session(previous).await?
        {
            AccessStore::delete_session(self.store.as_ref(), &old.id_sha256).await?;
        }
        let id = secrets::random_hex();
        let expires_at = Utc::now() + self.session_ttl;
        self.store
            .create_session(
                &sha256_hex(&id),
                user.id,
                &secrets::random_hex(),
                expires_at,
                source.as_deref(),
            )
            .await?;
        self.store.record_login(user.id, Utc::now()).await?;
        self.store
            .audit(
                &Actor::new(user.name.clone(), source),
                &AuditEntry::success("login", &user.name),
            )
            .await?;
        Ok(NewSession {
            id,
            ttl: self.session_ttl,
        })
    }

    /// Ends the session with this secret id, if it is live.
    pub async fn end_session(&self, id: &str, source: Option<String>) -> Result<(), AuthError> {
        if let Some((user, session)) = self.session(id).await? {
            AccessStore::delete_session(self.store.as_ref(), &session.id_sha256).await?;
            self.store
                .audit(
                    &Actor::new(user.name.clone(), source),
                    &AuditEntry::success("logout", &user.name),
                )
                .await?;
        }
        Ok(())
    }

    /// Checks a local account's password, with throttling; failures are audited.
    pub async fn verify_login(
        &self,
        name: &str,
        password: &str,
        source: Option<String>,
    ) -> Result<User, LoginError> {
        if let Some(wait) = self.throttle.retry_after(name, source.as_deref()) {
            self.audit_failure(name, source.clone(), "throttled").await;
            return Err(LoginError::Throttled(wait));
        }
        let user = self.store.user_by_name(name).await?;
        let stored_hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.clone());
        let password = password.to_owned();
        // Argon2 takes tens of milliseconds of CPU: off the async workers.
        let verified = tokio::task::spawn_blocking(move || match stored_hash {
            Some(hash) => secrets::verify_password(&password, &hash),
            None => {
                // Same work as a real check, so timing does not tell which names exist.
                let _ = secrets::verify_password(&password, secrets::decoy_hash());
                false
            }
        })
        .await
        .map_err(|e| AuthError::Internal(format!("password check: {e}")))?;
        match user {
            Some(user) if verified => {
                self.throttle.record_success(name);
                Ok(user)
            }
            _ => {
                self.throttle.record_failure(name, source.as_deref());
                self.audit_failure(name, source, "bad credentials").await;
                Err(LoginError::BadCredentials)
            }
        }
    }

    async fn audit_failure(&self, name: &str, source: Option<String>, reason: &str) {
        let entry = AuditEntry {
            action: "login".to_owned(),
            target: name.to_owned(),
            outcome: Outcome::Failed,
            detail: Some(serde_json::json!({ "reason": reason })),
        };
        if let Err(error) = self.store.audit(&Actor::new(name, source), &entry).await {
            tracing::warn!(error = %error, "could not record a failed login in the audit log");
        }
    }
}
