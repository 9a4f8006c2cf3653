//! Administration pages over the access-control API: API tokens (the secret shown once),
//! namespaces (visibility and owners), users and grants, and the audit log. Each write goes
//! through the same function the JSON API uses, which makes the authorization call, so the
//! pages can do nothing the API would refuse.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::{Chrome, check_form, encode, page_number, see_other, sign_in_first};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::changes::Caches;
use crate::domain::access::{AuditRecord, Role, Visibility};
use crate::http::error::ApiError;
use crate::routes::api::{audit, namespaces, tokens, users};
use crate::routes::pages::error::PageError;
use crate::store::Store;
use crate::store::access::AuditQuery;

/// A token as listed.
pub struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    role: String,
    namespaces: String,
    created_by: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

/// A user with the grants the caller may see.
pub struct UserRow {
    name: String,
    source: String,
    disabled: bool,
    last_login: String,
}

pub struct GrantRow {
    id: i64,
    subject: String,
    role: String,
    namespace: String,
}

pub struct NamespaceRow {
    prefix: String,
    visibility: &'static str,
    owners: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    chrome: Chrome,
    problem: Option<String>,
    /// A token minted just now: (name, secret). Shown on this response only.
    new_token: Option<(String, String)>,
    is_admin: bool,
    tokens: Vec<TokenRow>,
    namespaces: Vec<NamespaceRow>,
    users: Vec<UserRow>,
    grants: Vec<GrantRow>,
}

fn day(at: Option<chrono::DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "—".to_owned())
}

/// Renders the overview, with a problem from a refused form or a token minted just now.
async fn overview(
    request: &HttpRequest,
    caller: &Caller,
    store: &dyn Store,
    authz: &Authz,
    status: StatusCode,
    problem: Option<String>,
    new_token: Option<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let is_admin = authz.is_admin(caller);
    let tokens = tokens::visible_tokens(store, authz, caller).await?;
    let grants = users::visible_grants(store, authz, caller).await?;
    let namespaces = namespaces::visible_namespaces(store, authz, caller).await?;
    let users = if is_admin {
        store.users().await?
    } else {
        Vec::new()
    };
    let page = AdminPage {
        chrome: Chrome::new(request, caller),
        problem,
        new_token,
        is_admin,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                role: t.role.to_string(),
                namespaces: if t.role == Role::Admin {
                    "everything".to_owned()
                } else {
                    t.namespaces
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                created_by: t.created_by,
                expires: day(t.expires_at),
                last_used: day(t.last_used_at),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        namespaces: namespaces
            .into_iter()
            .map(|n| NamespaceRow {
                prefix: n.prefix,
                visibility: n.visibility.as_str(),
                owners: n.owners.join(", "),
                updated: match (n.updated_by, n.updated_at) {
                    (Some(by), Some(at)) => format!("{} by {by}", at.format("%Y-%m-%d")),
                    _ => String::new(),
                },
            })
            .collect(),
        users: users
            .into_iter()
            .map(|u| UserRow {
                source: u.issuer.clone().unwrap_or_else(|| "local".to_owned()),
                name: u.name,
                disabled: u.disabled,
                last_login: day(u.last_login_at),
            })
            .collect(),
        grants: grants
            .into_iter()
            .map(|g| GrantRow {
                id: g.id,
                subject: g.subject.key(),
                role: g.role.to_string(),
                namespace: g.namespace.to_string(),
            })
            .collect(),
    };
    let body = page.render().map_err(ApiError::unexpected)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // The page may carry a token secret: never store it anywhere.
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body))
}

pub async fn index(
    request: HttpRequest,
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, PageError> {
    if let Some(redirect) = sign_in_first(&request, &caller) {
        return Ok(redirect);
    }
    overview(
        &request,
        &caller,
        store.get_ref(),
        &authz,
        StatusCode::OK,
        None,
        None,
    )
    .await
}

/// Runs a form's action; a refusal re-renders the overview with the reason.
async fn after(
    request: &HttpRequest,
    caller: &Caller,
    store: &dyn Store,
    authz: &Authz,
    outcome: Result<&'static str, ApiError>,
) -> Result<HttpResponse, PageError> {
    match outcome {
        Ok(done) => Ok(see_other(&format!("/admin?done={done}"))),
        Err(error) if !error.status().is_server_error() => {
            let status = error.status();
            overview(
                request,
                caller,
                store,
                authz,
                status,
                Some(error.detail().to_owned()),
                None,
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

/// A list typed in a text field: commas or whitespace between entries.
fn list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
    role: Role,
    #[serde(default)]
    namespaces: String,
    /// `YYYY-MM-DD` from a date input; empty for no expiry.
    #[serde(default)]
    expires_on: String,
}

pub async fn create_token(
    request: HttpRequest,
    caller: Caller,
    form: web::Form<TokenForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let minted = match expiry(&form.expires_on) {
        Ok(expires_at) => {
            let wanted = tokens::TokenRequest {
                name: form.name.clone(),
                role: form.role,
                namespaces: list(&form.namespaces),
                expires_at,
            };
            tokens::mint(store.get_ref(), &authz, &caches, &caller, &wanted).await
        }
        Err(error) => Err(error),
    };
    match minted {
        // The secret is shown in this response and never again.
        Ok((secret, token)) => {
            let shown = Some((token.name, secret));
            overview(
                &request,
                &caller,
                store.get_ref(),
                &authz,
                StatusCode::CREATED,
                None,
                shown,
            )
            .await
        }
        Err(error) => after(&request, &caller, store.get_ref(), &authz, Err(error)).await,
    }
}

/// A date input's value as the start of that day (UTC); empty for none.
fn expiry(text: &str) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        text => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|t| Some(Utc.from_utc_datetime(&t)))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid-expiry",
                    format!("expiry {text:?} is not a date; use YYYY-MM-DD or leave it empty"),
                )
            }),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn revoke_token(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let outcome = tokens::revoke(store.get_ref(), &authz, &caches, &caller, path.into_inner())
        .await
        .map(|_| "token-revoked");
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

#[derive(Deserialize)]
pub struct UserUpdateForm {
    #[serde(default)]
    csrf_token: String,
    /// A new password; empty to keep the current one.
    #[serde(default)]
    password: String,
    /// `true` or `false` from the disable/enable button; absent from the password form.
    #[serde(default)]
    disabled: Option<bool>,
}

pub async fn update_user(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<UserUpdateForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let form = form.into_inner();
    let patch = users::UserPatch {
        password: (!form.password.is_empty()).then_some(form.password),
        disabled: form.disabled,
        email: None,
    };
    let outcome = users::update_user(store.get_ref(), &authz, &caches, &caller, &path, patch)
        .await
        .map(|_| "user-updated");
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

#[derive(Deserialize)]
pub struct NamespaceForm {
    #[serde(default)]
    csrf_token: String,
    prefix: String,
    visibility: Visibility,
    #[serde(default)]
    owners: String,
}

pub async fn set_namespace(
    request: HttpRequest,
    caller: Caller,
    form: web::Form<NamespaceForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let owners = list(&form.owners);
    let update = namespaces::NamespaceUpdate {
        visibility: form.visibility,
        owners: (!owners.is_empty()).then_some(owners),
    };
    let outcome = namespaces::set_namespace(
        store.get_ref(),
        &authz,
        &caches,
        &caller,
        form.prefix.trim(),
        &update,
    )
    .await
    .map(|_| "namespace-saved");
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
    #[serde(default)]
    password: String,
    /// Empty for a user without a first grant.
    #[serde(default)]
    role: String,
    #[serde(default)]
    namespace: String,
}

pub async fn create_user(
    request: HttpRequest,
    caller: Caller,
    form: web::Form<UserForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let outcome = match first_grant(&form.role, &form.namespace) {
        Ok(grants) => {
            let wanted = users::NewUserRequest {
                name: form.name.trim().to_owned(),
                password: (!form.password.is_empty()).then(|| form.password.clone()),
                email: None,
                grants,
            };
            users::add_user(store.get_ref(), &authz, &caches, &caller, wanted)
                .await
                .map(|_| "user-created")
        }
        Err(error) => Err(error),
    };
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

/// The first grant of a new user: none when no role is chosen.
fn first_grant(role: &str, namespace: &str) -> Result<Vec<users::GrantSpec>, ApiError> {
    if role.is_empty() {
        return Ok(Vec::new());
    }
    let role = serde_json::from_value::<Role>(serde_json::Value::String(role.to_owned())).map_err(
        |_| {
            ApiError::bad_request(
                "invalid-role",
                format!("{role:?} is not a role; use reader, publisher, owner or admin"),
            )
        },
    )?;
    Ok(vec![users::GrantSpec {
        role,
        namespace: namespace.trim().to_owned(),
    }])
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    csrf_token: String,
    user: String,
    role: Role,
    namespace: String,
}

pub async fn create_grant(
    request: HttpRequest,
    caller: Caller,
    form: web::Form<GrantForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let wanted = users::GrantRequest {
        user: form.user.trim().to_owned(),
        role: form.role,
        namespace: form.namespace.trim().to_owned(),
    };
    let outcome = users::add_grant(store.get_ref(), &authz, &caches, &caller, &wanted)
        .await
        .map(|_| "grant-added");
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

pub async fn revoke_grant(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let outcome = users::remove_grant(store.get_ref(), &authz, &caches, &caller, path.into_inner())
        .await
        .map(|_| "grant-revoked");
    after(&request, &caller, store.get_ref(), &authz, outcome).await
}

#[derive(Deserialize)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    chrome: Chrome,
    actor: String,
    action: String,
    entries: Vec<AuditRecord>,
    total: u64,
    next_link: Option<String>,
    prev_link: Option<String>,
}

const AUDIT_PER_PAGE: u64 = 50;

pub async fn audit_log(
    request: HttpRequest,
    caller: Caller,
    params: web::Query<AuditParams>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, PageError> {
    if let Some(redirect) = sign_in_first(&request, &caller) {
        return Ok(redirect);
    }
    let (page, _) = page_number(params.page.as_deref());
    let actor = params.actor.clone().unwrap_or_default().trim().to_owned();
    let action = params.action.clone().unwrap_or_default().trim().to_owned();
    let found = audit::entries(
        store.get_ref(),
        &authz,
        &caller,
        AuditQuery {
            actor: (!actor.is_empty()).then(|| actor.clone()),
            action: (!action.is_empty()).then(|| action.clone()),
            offset: (page - 1) * AUDIT_PER_PAGE,
            limit: AUDIT_PER_PAGE,
        },
    )
    .await?;
    let link = |p: u64| {
        format!(
            "/admin/audit?actor={}&action={}&page={p}",
            encode(&actor),
            encode(&action)
        )
    };
    let page = AuditPage {
        chrome: Chrome::new(&request, &caller),
        next_link: (page * AUDIT_PER_PAGE < found.total).then(|| link(page + 1)),
        prev_link: (page > 1).then(|| link(page - 1)),
        total: found.total,
        entries: found.items,
        actor,
        action,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render().map_err(ApiError::unexpected)?))
}
