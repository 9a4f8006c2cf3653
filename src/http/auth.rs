//! Credentials out of requests: the `Authorization` header, the encrypted session cookie and
//! the client address (the peer, or what a trusted proxy reports), checked by the
//! [`Authenticator`] core. [`Caller`] is an extractor, so every handler gets its caller the
//! same way. Cookie-authenticated API writes must carry the session's CSRF token in a header.

use std::sync::Arc;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha512};

use super::error::ApiError;
use crate::auth::oidc::OidcProviders;
use crate::auth::{AuthError, Authenticator, Caller, LoginError, Principal};
use crate::config::Settings;
use crate::domain::access::User;

/// Name of the session cookie (its value is encrypted; it names a server-side session).
pub const SESSION_COOKIE: &str = "twinhub_session";
/// Header that cookie-authenticated API writes must carry, holding the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The [`Authenticator`] with what HTTP adds: cookie encryption, where clients are, and the
/// OIDC providers browsers sign in through.
pub struct HttpAuth {
    core: Arc<Authenticator>,
    oidc: OidcProviders,
    cookie_key: Key,
    secure_cookies: bool,
    behind_proxy: bool,
}

impl HttpAuth {
    pub fn new(core: Arc<Authenticator>, oidc: OidcProviders, settings: &Settings) -> Self {
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
            core,
            oidc,
            cookie_key,
            secure_cookies: settings.secure_cookies,
            behind_proxy: settings.behind_proxy,
        }
    }

    /// The configured OIDC issuers.
    pub fn oidc(&self) -> &OidcProviders {
        &self.oidc
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

    /// Who sent `request`: a bearer token wins over a session cookie; neither is anonymous.
    pub async fn authenticate(&self, request: &HttpRequest) -> Result<Caller, AuthError> {
        let source = self.source(request);
        if let Some(value) = request.headers().get(header::AUTHORIZATION) {
            let principal = self.core.bearer(value.to_str().unwrap_or_default()).await?;
            return Ok(Caller {
                principal,
                source,
                session: None,
            });
        }
        let session = match self.private_cookie(request, SESSION_COOKIE) {
            Some(id) => self.core.session(&id).await?,
            None => None,
        };
        if let Some((user, session)) = session {
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
                if !session.csrf_matches(presented) {
                    return Err(AuthError::Forbidden(format!(
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

    /// Starts a new session for `user` (ending the request's old one) and returns its cookie.
    pub async fn start_session(
        &self,
        request: &HttpRequest,
        user: &User,
    ) -> Result<Cookie<'static>, AuthError> {
        let previous = self.private_cookie(request, SESSION_COOKIE);
        let session = self
            .core
            .start_session(user, previous.as_deref(), self.source(request))
            .await?;
        Ok(self.make_private_cookie(request, SESSION_COOKIE, session.id, session.ttl))
    }

    /// Ends the request's session, if any, and returns the cookie that clears it.
    pub async fn end_session(&self, request: &HttpRequest) -> Result<Cookie<'static>, AuthError> {
        if let Some(id) = self.private_cookie(request, SESSION_COOKIE) {
            self.core.end_session(&id, self.source(request)).await?;
        }
        Ok(self.removal_cookie(request, SESSION_COOKIE))
    }

    /// Checks a local account's password from this request's client, with throttling.
    pub async fn verify_login(
        &self,
        request: &HttpRequest,
        name: &str,
        password: &str,
    ) -> Result<User, LoginError> {
        self.core
            .verify_login(name, password, self.source(request))
            .await
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let auth = request
                .app_data::<web::Data<HttpAuth>>()
                .ok_or_else(|| ApiError::unexpected("the authenticator is not registered"))?;
            let caller = auth.authenticate(&request).await?;
            // Kept for what runs after the handler: refusal auditing and error pages.
            if !caller.principal.is_anonymous() {
                request.extensions_mut().insert(caller.clone());
            }
            Ok(caller)
        })
    }
}
