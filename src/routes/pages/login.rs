//! Browser sign-in and sign-out: the local password form, the OpenID Connect redirect and
//! callback, and logout. The login form is protected against CSRF by a double-submit token
//! (a random value in a cookie and in the form, which another site can neither read nor
//! set); every form after login carries the session's own CSRF token.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::oidc::{self, Flow, OidcError};
use crate::auth::{Caller, LoginError, secrets};
use crate::changes::Caches;
use crate::domain::access::{Actor, AuditEntry, Outcome};
use crate::http::Site;
use crate::http::auth::HttpAuth;
use crate::http::error::ApiError;
use crate::store::Store;

/// Cookie holding the login form's double-submit CSRF token.
const LOGIN_CSRF_COOKIE: &str = "twinhub_login_csrf";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    /// The shared layout (nobody is signed in on this page).
    chrome: super::Chrome,
    /// Set when the browser already has a session: the page offers to sign out.
    signed_in_as: Option<String>,
    session_csrf: String,
    problem: Option<String>,
    csrf_token: String,
    username: String,
    return_to: String,
    return_to_encoded: String,
    issuers: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: String,
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Only local paths, so a crafted link cannot send people elsewhere after they sign in.
fn safe_return_to(candidate: Option<&str>) -> String {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn render_login(
    request: &HttpRequest,
    caller: Option<&Caller>,
    auth: &HttpAuth,
    status: StatusCode,
    problem: Option<String>,
    username: String,
    return_to: String,
) -> Result<HttpResponse, ApiError> {
    // Public page: anyone may see the sign-in form.
    let csrf_token = secrets::random_hex();
    let signed_in = caller.and_then(|c| match (&c.principal, &c.session) {
        (crate::auth::Principal::User(user), Some(session)) => {
            Some((user.name.clone(), session.csrf_token.clone()))
        }
        _ => None,
    });
    let page = LoginPage {
        chrome: caller
            .map(|c| super::Chrome::new(request, c))
            .unwrap_or_default(),
        signed_in_as: signed_in.as_ref().map(|(name, _)| name.clone()),
        session_csrf: signed_in.map(|(_, csrf)| csrf).unwrap_or_default(),
        problem,
        csrf_token: csrf_token.clone(),
        username,
        return_to_encoded: percent_encoding::utf8_percent_encode(
            &return_to,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string(),
        return_to,
        issuers: auth.oidc().buttons(),
    };
    let cookie = auth.make_private_cookie(
        request,
        LOGIN_CSRF_COOKIE,
        csrf_token,
        chrono::Duration::hours(1),
    );
    let body = page.render().map_err(ApiError::unexpected)?;
    Ok(HttpResponse::build(status)
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub async fn login_form(
    request: HttpRequest,
    caller: Caller,
    query: web::Query<LoginQuery>,
    auth: web::Data<HttpAuth>,
) -> Result<HttpResponse, ApiError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    render_login(
        &request,
        Some(&caller),
        &auth,
        StatusCode::OK,
        None,
        String::new(),
        return_to,
    )
}

pub async fn login(
    request: HttpRequest,
    form: web::Form<LoginForm>,
    auth: web::Data<HttpAuth>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref());
    let expected = auth.private_cookie(&request, LOGIN_CSRF_COOKIE);
    let csrf_ok = expected.is_some_and(|token| {
        secrets::constant_time_eq(token.as_bytes(), form.csrf_token.as_bytes())
    });
    if !csrf_ok {
        return render_login(
            &request,
            None,
            &auth,
            StatusCode::FORBIDDEN,
            Some(
                "The form expired or did not come from this site. Please sign in again.".to_owned(),
            ),
            form.username,
            return_to,
        );
    }
    match auth
        .verify_login(&request, form.username.trim(), &form.password)
        .await
    {
        Ok(user) => {
            let session = auth.start_session(&request, &user).await?;
            Ok(HttpResponse::SeeOther()
                .cookie(session)
                .cookie(auth.removal_cookie(&request, LOGIN_CSRF_COOKIE))
                .insert_header((header::LOCATION, return_to))
                .finish())
        }
        Err(LoginError::BadCredentials) => render_login(
            &request,
            None,
            &auth,
            StatusCode::UNAUTHORIZED,
            Some(LoginError::BadCredentials.to_string()),
            form.username,
            return_to,
        ),
        Err(error @ LoginError::Throttled(wait)) => {
            let mut response = render_login(
                &request,
                None,
                &auth,
                StatusCode::TOO_MANY_REQUESTS,
                Some(error.to_string()),
                form.username,
                return_to,
            )?;
            if let Ok(value) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(LoginError::Unexpected(error)) => Err(error.into()),
    }
}

pub async fn logout(
    request: HttpRequest,
    caller: Caller,
    form: web::Form<LogoutForm>,
    auth: web::Data<HttpAuth>,
) -> Result<HttpResponse, ApiError> {
    // Signing out needs the session's own CSRF token, so no other site can sign people out.
    if caller.session.is_some() {
        caller.check_csrf(&form.csrf_token)?;
    }
    let removal = auth.end_session(&request).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(removal)
        .insert_header((header::LOCATION, "/"))
        .finish())
}

fn redirect_uri(request: &HttpRequest, site: &Site, issuer: &str) -> String {
    let base = match &site.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{base}/login/oidc/{issuer}/callback")
}

pub async fn oidc_start(
    request: HttpRequest,
    issuer: web::Path<String>,
    query: web::Query<LoginQuery>,
    auth: web::Data<HttpAuth>,
    site: web::Data<Site>,
) -> Result<HttpResponse, ApiError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let redirect = redirect_uri(&request, &site, &issuer);
    let (url, flow) = auth
        .oidc()
        .start(&issuer, &redirect, return_to)
        .await
        .map_err(oidc_problem)?;
    let flow_text = serde_json::to_string(&flow).map_err(ApiError::unexpected)?;
    let cookie = auth.make_private_cookie(
        &request,
        oidc::FLOW_COOKIE,
        flow_text,
        chrono::Duration::minutes(oidc::FLOW_TTL_MINUTES),
    );
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, url))
        .finish())
}

pub async fn oidc_callback(
    request: HttpRequest,
    issuer: web::Path<String>,
    query: web::Query<CallbackQuery>,
    store: web::Data<dyn Store>,
    auth: web::Data<HttpAuth>,
    site: web::Data<Site>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    let result = finish_oidc(
        &request,
        &issuer,
        &query,
        store.get_ref(),
        &auth,
        &site,
        &caches,
    )
    .await;
    match result {
        Ok((user, return_to)) => {
            let session = auth.start_session(&request, &user).await?;
            Ok(HttpResponse::SeeOther()
                .cookie(session)
                .cookie(auth.removal_cookie(&request, oidc::FLOW_COOKIE))
                .insert_header((header::LOCATION, return_to))
                .finish())
        }
        Err(error) => {
            let entry = AuditEntry {
                action: "login".to_owned(),
                target: format!("oidc:{}", issuer.as_str()),
                outcome: Outcome::Failed,
                detail: Some(serde_json::json!({ "reason": error.to_string() })),
            };
            if let Err(audit_error) = store
                .audit(&Actor::new("anonymous", auth.source(&request)), &entry)
                .await
            {
                tracing::warn!(error = %audit_error, "could not record a failed sign-in");
            }
            Err(oidc_problem(error))
        }
    }
}

async fn finish_oidc(
    request: &HttpRequest,
    issuer: &str,
    query: &CallbackQuery,
    store: &dyn Store,
    auth: &HttpAuth,
    site: &Site,
    caches: &Caches,
) -> Result<(crate::domain::access::User, String), OidcError> {
    if let Some(error) = &query.error {
        let description = query.error_description.clone().unwrap_or_default();
        return Err(OidcError::Refused(
            format!("{error} {description}").trim().to_owned(),
        ));
    }
    let flow: Flow = auth
        .private_cookie(request, oidc::FLOW_COOKIE)
        .and_then(|text| serde_json::from_str(&text).ok())
        .filter(|flow: &Flow| flow.issuer == issuer)
        .ok_or(OidcError::NoFlow)?;
    let (code, returned_state) = match (&query.code, &query.state) {
        (Some(code), Some(returned_state)) => (code, returned_state),
        _ => {
            return Err(OidcError::Refused(
                "the response has no code or state".to_owned(),
            ));
        }
    };
    let return_to = flow.return_to.clone();
    let redirect = redirect_uri(request, site, issuer);
    let (identity, settings) = auth
        .oidc()
        .finish(flow, &redirect, code, returned_state)
        .await?;
    let user = oidc::provision(store, &settings, &identity).await?;
    caches
        .access_changed()
        .await
        .map_err(|e| OidcError::Provisioning(e.to_string()))?;
    Ok((user, return_to))
}

fn oidc_problem(error: OidcError) -> ApiError {
    match error {
        OidcError::UnknownIssuer(_) => ApiError::not_found(error.to_string()),
        OidcError::Store(store) => store.into(),
        OidcError::Discovery { .. } | OidcError::TokenExchange(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "identity-provider-unavailable",
            "Identity provider unavailable",
            error.to_string(),
        ),
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign-in-failed",
            "Sign-in failed",
            error.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return_to(Some("/models/x")), "/models/x");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
