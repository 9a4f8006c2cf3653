//! Authentication: who is calling. A request carries an API token or the bootstrap admin
//! token (`Authorization: Bearer …`), or a browser session cookie, or nothing (anonymous).
//! [`Caller`] is an extractor, so every handler gets its caller the same way; what the
//! caller may do is decided by [`crate::authz`]. Also here: local password logins with
//! throttling, sessions (signed and encrypted cookies naming a server-side session, so
//! logout really ends them) and their CSRF tokens.

pub mod oidc;
pub mod refusals;
pub mod secrets;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha512};

use crate::config::{Secret, Settings};
use crate::domain::access::{Actor, ApiToken, AuditEntry, Outcome, Subject, User};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::Store;

use secrets::{constant_time_eq, looks_like_token, sha256_hex};
use throttle::LoginThrottle;

/// Name of the session cookie (its value is encrypted; it names a server-side session).
pub const SESSION_COOKIE: &str = "twinhub_session";
/// Header that cookie-authenticated API writes must carry, holding the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

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
            Self::Bootstrap => Some(crate::authz::BOOTSTRAP_SUBJECT.to_owned()),
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
    pub fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        match &self.session {
            Some(session)
                if constant_time_eq(presented.as_bytes(), session.csrf_token.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(ApiError::forbidden(
                "the form's CSRF token does not match your session; reload the page and try again",
            )),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = request
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::unexpected("application state is missing"))?;
            let caller = state.auth.authenticate(&request).await?;
            // Kept for what runs after the handler: refusal auditing and error pages.
            if !caller.principal.is_anonymous() {
                request.extensions_mut().insert(caller.clone());
            }
            Ok(caller)
        })
    }
}

/// Why a login failed (each becomes an audit entry; the message to the person stays vague).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the user name or password is wrong")]
    BadCredentials,
    #[error("too many failed logins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("{0}")]
    Unexpected(ApiError),
}

impl From<ApiError> for LoginError {
    fn from(error: ApiError) -> Self {
        Self::Unexpected(error)
    }
}

/// Checks credentials and keeps sessions.
pub struct Authenticator {
    store: Arc<dyn Store>,
    admin_token: Option<Secret>,
    cookie_key: Key,
    session_ttl: chrono::Duration,
    secure_cookies: bool,
    behind_proxy: bool,
    throttle: LoginThrottle,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, settings: &Settings) -> Self {
        let cookie_key = match &settings.session_secret {
            Some(secret) => Key::from(&Sha512::digest(secret.expose().as_bytes())),
            None => {
                tracing::warn!(
                    "no session_secret is set: browser sessions end when twinhub restarts and are not shared between instances"
                );
                Key::generate()
            }
        };
        Self {
            store,
            admin_token: settings.admin_token.clone(),
            cookie_key,
            session_ttl: chrono::Duration::minutes(i64::from(settings.session_ttl_minutes)),
            secure_cookies: settings.secure_cookies,
            behind_proxy: settings.behind_proxy,
            throttle: LoginThrottle::new(
                settings.login_max_failures,
                Duration::from_secs(settings.login_lockout_seconds),
            ),
        }
    }

    /// The client address: the peer, or what a trusted proxy reports.
    pub fn source(&self, request: &HttpRequest) -> Option<String> {
        if self.behind_proxy {
            request
                .connection_info()
                .realip_remote_addr()
                .map(str::to_owned)
        } else {
            request.peer_addr().map(|addr| addr.ip().to_string())
        }
    }

    /// Who sent `request`. A bearer token that is malformed, unknown, expired or revoked is
    /// refused outright (never treated as anonymous), so a broken CI secret fails loudly.
    pub async fn authenticate(&self, request: &HttpRequest) -> Result<Caller, ApiError> {
        let source = self.source(request);
        if let Some(value) = request.headers().get(header::AUTHORIZATION) {
            let principal = self.bearer(value.to_str().unwrap_or_default()).await?;
            return Ok(Caller {
                principal,
                source,
                session: None,
            });
        }
        if let Some((user, session)) = self.session_of(request).await? {
            let writes = !matches!(
                *request.method(),
                Method::GET | Method::HEAD | Method::OPTIONS
            );
            if writes && request.path().starts_with("/api/") {
                let presented = request
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !constant_time_eq(presented.as_bytes(), session.csrf_token.as_bytes()) {
                    return Err(ApiError::forbidden(format!(
                        "API writes made with a session cookie must send the session's CSRF token in the {CSRF_HEADER} header; scripts should use an API token instead"
                    )));
                }
            }
            return Ok(Caller {
                principal: Principal::User(user),
                source,
                session: Some(session),
            });
        }
        Ok(Caller {
            principal: Principal::Anonymous,
            source,
            session: None,
        })
    }

    async fn bearer(&self, value: &str) -> Result<Principal, ApiError> {
        let Some(token) = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ));
        };
        if let Some(expected) = &self.admin_token
            && constant_time_eq(token.as_bytes(), expected.expose().as_bytes())
        {
            return Ok(Principal::Bootstrap);
        }
        if !looks_like_token(token) {
            return Err(ApiError::unauthorized(
                "the bearer token is not a twinhub token (they start with thk_ followed by 64 hex digits)",
            ));
        }
        let stored = self.store.token_by_hash(&sha256_hex(token)).await?;
        let Some(stored) = stored else {
            return Err(ApiError::unauthorized("the bearer token is not valid here"));
        };
        let now = Utc::now();
        if let Some(revoked) = stored.revoked_at {
            return Err(ApiError::unauthorized(format!(
                "the bearer token {:?} was revoked at {revoked}; ask for a new one",
                stored.name
            )));
        }
        if let Some(expired) = stored.expires_at.filter(|at| *at <= now) {
            return Err(ApiError::unauthorized(format!(
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

    fn jar(&self, request: &HttpRequest) -> CookieJar {
        let mut jar = CookieJar::new();
        if let Ok(cookies) = request.cookies() {
            for cookie in cookies.iter() {
                jar.add_original(cookie.clone().into_owned());
            }
        }
        jar
    }

    /// Reads an encrypted cookie's value.
    pub fn private_cookie(&self, request: &HttpRequest, name: &str) -> Option<String> {
        self.jar(request)
            .private(&self.cookie_key)
            .get(name)
            .map(|c| c.value().to_owned())
    }

    /// An encrypted, HttpOnly, SameSite=Lax cookie (Secure when served over HTTPS).
    pub fn make_private_cookie(
        &self,
        request: &HttpRequest,
        name: &'static str,
        value: String,
        max_age: chrono::Duration,
    ) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        let mut cookie = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.is_https(request))
            .max_age(actix_web::cookie::time::Duration::seconds(
                max_age.num_seconds(),
            ))
            .finish();
        jar.private_mut(&self.cookie_key).add(cookie.clone());
        if let Some(encrypted) = jar.get(name) {
            cookie.set_value(encrypted.value().to_owned());
        }
        cookie
    }

    /// A cookie that deletes `name` in the browser.
    pub fn removal_cookie(&self, request: &HttpRequest, name: &'static str) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, "")
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.is_https(request))
            .finish();
        cookie.make_removal();
        cookie
    }

    fn is_https(&self, request: &HttpRequest) -> bool {
        self.secure_cookies || (self.behind_proxy && request.connection_info().scheme() == "https")
    }

    async fn session_of(
        &self,
        request: &HttpRequest,
    ) -> Result<Option<(User, SessionInfo)>, ApiError> {
        let Some(id) = self.private_cookie(request, SESSION_COOKIE) else {
            return Ok(None);
        };
        let id_sha256 = sha256_hex(&id);
        Ok(self.store.session(&id_sha256).await?.map(|session| {
            (
                session.user,
                SessionInfo {
                    id_sha256,
                    csrf_token: session.csrf_token,
                },
            )
        }))
    }

    /// Starts a new session for `user` (a new id every login, so a session id planted
    /// before login is worthless) and returns its cookie.
    pub async fn start_session(
        &self,
        request: &HttpRequest,
        user: &User,
    ) -> Result<Cookie<'static>, ApiError> {
        if let Some((_, old)) = self.session_of(request).await? {
            self.store.delete_session(&old.id_sha256).await?;
        }
        let id = secrets::random_hex();
        let expires_at = Utc::now() + self.session_ttl;
        let source = self.source(request);
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
        Ok(self.make_private_cookie(request, SESSION_COOKIE, id, self.session_ttl))
    }

    /// Ends the request's session, if any, and returns the cookie that clears it.
    pub async fn end_session(&self, request: &HttpRequest) -> Result<Cookie<'static>, ApiError> {
        if let Some((user, session)) = self.session_of(request).await? {
            self.store.delete_session(&session.id_sha256).await?;
            self.store
                .audit(
                    &Actor::new(user.name.clone(), self.source(request)),
                    &AuditEntry::success("logout", &user.name),
                )
                .await?;
        }
        Ok(self.removal_cookie(request, SESSION_COOKIE))
    }

    /// Checks a local account's password, with throttling; failures are audited.
    pub async fn verify_login(
        &self,
        request: &HttpRequest,
        name: &str,
        password: &str,
    ) -> Result<User, LoginError> {
        let source = self.source(request);
        if let Some(wait) = self.throttle.retry_after(name, source.as_deref()) {
            self.audit_failure(name, source.clone(), "throttled").await;
            return Err(LoginError::Throttled(wait));
        }
        let user = self
            .store
            .user_by_name(name)
            .await
            .map_err(ApiError::from)?;
        let stored_hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.clone());
        let password = password.to_owned();
        let verified = web::block(move || match stored_hash {
            Some(hash) => secrets::verify_password(&password, &hash),
            None => {
                // Same work as a real check, so timing does not tell which names exist.
                let _ = secrets::verify_password(&password, secrets::decoy_hash());
                false
            }
        })
        .await
        .map_err(|e| ApiError::unexpected(format!("password check: {e}")))?;
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
