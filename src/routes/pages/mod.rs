//! Server-rendered HTML pages; each askama template struct sits beside its handler. Pages read
//! through the same store and domain code as the API, render errors as friendly pages
//! ([`PageError`]) and decide who may write in one place, [`page_caller`].

pub mod admin;
pub mod diff;
pub mod error;
pub mod home;
pub mod lifecycle;
pub mod login;
pub mod model;
pub mod namespaces;
pub mod publish;
pub mod search;

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use crate::auth::Caller;
use crate::routes::pages::error::PageError;

/// Our stylesheet and script, compiled in so the binary serves them from any directory.
const SITE_CSS: &str = include_str!("../../../static/site.css");
const SITE_JS: &str = include_str!("../../../static/site.js");

/// Registers every page route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(home::home))
        .route("/login", web::get().to(login::login_form))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/login/oidc/{issuer}", web::get().to(login::oidc_start))
        .route(
            "/login/oidc/{issuer}/callback",
            web::get().to(login::oidc_callback),
        )
        .route("/search", web::get().to(search::search))
        .route("/namespaces", web::get().to(namespaces::root))
        .route("/namespaces/{prefix}", web::get().to(namespaces::namespace))
        .route("/diff", web::get().to(diff::pick))
        .route("/models/{dtmi}", web::get().to(model::model))
        .route("/models/{dtmi}/diff/{other}", web::get().to(diff::diff))
        .route(
            "/models/{dtmi}/lifecycle",
            web::get().to(lifecycle::confirm),
        )
        .route("/models/{dtmi}/lifecycle", web::post().to(lifecycle::apply))
        .route("/publish", web::get().to(publish::form))
        .route("/publish", web::post().to(publish::submit))
        .route("/admin", web::get().to(admin::index))
        .route("/admin/audit", web::get().to(admin::audit_log))
        .route("/admin/tokens", web::post().to(admin::create_token))
        .route(
            "/admin/tokens/{id}/revoke",
            web::post().to(admin::revoke_token),
        )
        .route("/admin/namespaces", web::post().to(admin::set_namespace))
        .route("/admin/users", web::post().to(admin::create_user))
        .route(
            "/admin/users/{name}/update",
            web::post().to(admin::update_user),
        )
        .route("/admin/grants", web::post().to(admin::create_grant))
        .route(
            "/admin/grants/{id}/revoke",
            web::post().to(admin::revoke_grant),
        )
        .route("/static/site.css", web::get().to(site_css))
        .route("/static/site.js", web::get().to(site_js));
}

/// What the shared layout shows around every page: the flash message, who is signed in, the
/// session's CSRF token for the forms, and where to come back to after signing in.
#[derive(Default)]
pub struct Chrome {
    /// A one-time message after a write (see [`flash_message`]).
    pub flash: Option<&'static str>,
    /// The signed-in user (or token) name; `None` for anonymous visitors.
    pub user: Option<String>,
    /// The session's CSRF token, sent back by every form that changes something.
    pub csrf_token: String,
    /// This page's path and query, percent-encoded, for the sign-in link.
    pub return_to: String,
}

impl Chrome {
    /// The layout for a request, with the flash message its `done` parameter names.
    pub fn new(request: &HttpRequest, caller: &Caller) -> Self {
        let done = web::Query::<std::collections::HashMap<String, String>>::from_query(
            request.query_string(),
        )
        .ok()
        .and_then(|q| q.get("done").cloned());
        let here = match request.query_string() {
            "" => request.path().to_owned(),
            query => format!("{}?{query}", request.path()),
        };
        Self {
            flash: done.as_deref().and_then(flash_message),
            user: (!caller.principal.is_anonymous()).then(|| caller.principal.name()),
            csrf_token: caller
                .session
                .as_ref()
                .map(|s| s.csrf_token.clone())
                .unwrap_or_default(),
            return_to: encode(&here),
        }
    }
}

/// Flash messages are named by a fixed key in the redirect after a write, so no text from the
/// request ever reaches the page through them.
fn flash_message(key: &str) -> Option<&'static str> {
    Some(match key {
        "published" => "Published. The new model versions are stored and resolvable.",
        "deprecated" => "The model is now deprecated.",
        "decommissioned" => "The model is now decommissioned: no new model may depend on it.",
        "deleted" => "The model was deleted. Its DTMI stays reserved for the same content.",
        "token-revoked" => "The token was revoked; it stops working at once.",
        "namespace-saved" => "The namespace settings were saved.",
        "user-created" => "The user was created.",
        "user-updated" => {
            "The user was updated; a new password or a disabled account ends their sessions."
        }
        "grant-added" => "The role was granted.",
        "grant-revoked" => "The grant was revoked.",
        _ => return None,
    })
}

/// The first step of every page write: a browser session must send its CSRF token back.
/// Callers without a session authenticated with a bearer token, which browsers never attach
/// on their own, so a forged cross-site form cannot carry it.
pub fn check_form(caller: &Caller, csrf_token: &str) -> Result<(), PageError> {
    if caller.session.is_some() {
        caller.check_csrf(csrf_token)?;
    }
    Ok(())
}

/// Anonymous visitors of a page that needs a user go to the sign-in form and come back.
pub fn sign_in_first(request: &HttpRequest, caller: &Caller) -> Option<HttpResponse> {
    caller.principal.is_anonymous().then(|| {
        let chrome = Chrome::new(request, caller);
        see_other(&format!("/login?return_to={}", chrome.return_to))
    })
}

/// The path of a model's page (`;` and `#` escaped so that every client keeps them).
pub fn model_path(dtmi: &str) -> String {
    format!("/models/{}", escape_dtmi(dtmi))
}

pub fn escape_dtmi(dtmi: &str) -> String {
    dtmi.replace('%', "%25")
        .replace(';', "%3B")
        .replace('#', "%23")
        .replace('?', "%3F")
}

/// A query-string value, percent-encoded.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A displayName as text: the string itself, or the English (else first) entry of a language map.
pub fn display_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .find(|(lang, _)| lang.starts_with("en"))
            .or_else(|| map.iter().next())
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// A language map from the object model as text (English, else the first language).
pub fn lang_text(map: &std::collections::BTreeMap<&str, &str>) -> String {
    map.iter()
        .find(|(lang, _)| lang.starts_with("en"))
        .or_else(|| map.iter().next())
        .map(|(_, text)| (*text).to_owned())
        .unwrap_or_default()
}

/// Parses a page number, falling back to the first page with a notice.
pub fn page_number(text: Option<&str>) -> (u64, Option<String>) {
    match text.map(str::parse::<u64>) {
        None => (1, None),
        Some(Ok(n)) if (1..=1_000_000).contains(&n) => (n, None),
        Some(_) => (
            1,
            Some("That page number is not valid; showing the first page.".to_owned()),
        ),
    }
}

pub async fn site_css() -> HttpResponse {
    static_file("text/css; charset=utf-8", SITE_CSS)
}

pub async fn site_js() -> HttpResponse {
    static_file("text/javascript; charset=utf-8", SITE_JS)
}

fn static_file(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// A redirect after a successful form post (303, so the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_prefer_english_in_language_maps() {
        assert_eq!(
            display_text(Some(&serde_json::json!("Thermostat"))),
            "Thermostat"
        );
        assert_eq!(
            display_text(Some(
                &serde_json::json!({"de": "Thermostat DE", "en-US": "Thermostat"})
            )),
            "Thermostat"
        );
        assert_eq!(
            display_text(Some(&serde_json::json!({"fr": "Thermostat FR"}))),
            "Thermostat FR"
        );
        assert_eq!(display_text(None), "");
    }

    #[test]
    fn model_paths_escape_what_would_end_a_path_segment() {
        assert_eq!(
            model_path("dtmi:com:example:Thermostat;1"),
            "/models/dtmi:com:example:Thermostat%3B1"
        );
        assert!(flash_message("deprecated").is_some());
        assert_eq!(flash_message("<script>"), None);
    }
}
