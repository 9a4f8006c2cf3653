//! `/api/v1/tokens…`: API tokens for CI pipelines and scripts. A token's secret is shown once,
//! at creation, and stored only as a hash. Nobody mints a token with more rights than they
//! hold: admins mint any; owners mint reader and publisher tokens for namespaces they own.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, secrets};
use crate::authz::{Action, Authz, Target};
use crate::changes::Caches;
use crate::domain::access::{ApiToken, Namespace, NewApiToken, Role};
use crate::http::error::ApiError;
use crate::store::Store;

/// A token as listed (never its secret).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    id: i64,
    name: String,
    /// The first characters of the secret, to tell tokens apart.
    prefix: String,
    role: Role,
    namespaces: Vec<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> Self {
        Self {
            id: token.id,
            name: token.name,
            prefix: token.prefix,
            role: token.role,
            namespaces: token.namespaces.iter().map(ToString::to_string).collect(),
            created_by: token.created_by,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
            revoked_at: token.revoked_at,
        }
    }
}

/// A new token, with its secret: the only time the secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`. Store it now; it cannot be shown again.
    token: String,
    #[serde(flatten)]
    details: TokenView,
}

/// Tokens the caller may see.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    items: Vec<TokenView>,
}

/// What a new token may do.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. `ci-acme-sensors`.
    pub(crate) name: String,
    pub(crate) role: Role,
    /// Namespaces the token works in (ignored for admin tokens, which cover everything).
    #[serde(default)]
    pub(crate) namespaces: Vec<String>,
    /// When the token stops working (RFC 3339); omit for no expiry.
    #[serde(default)]
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// Checks a token request against the caller's own rights.
fn authorize_mint(
    authz: &Authz,
    caller: &Caller,
    request: &TokenRequest,
) -> Result<Vec<Namespace>, ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "invalid-token-name",
            "name must be 1 to 100 characters, e.g. \"ci-acme-sensors\"",
        ));
    }
    if let Some(expires_at) = request.expires_at
        && expires_at <= Utc::now()
    {
        return Err(ApiError::bad_request(
            "invalid-expiry",
            format!("expires_at {expires_at} is in the past; give a future time or omit it"),
        ));
    }
    if request.role == Role::Admin {
        authz.require(caller, Action::Administer, &Target::Repository)?;
        return Ok(Vec::new());
    }
    if request.namespaces.is_empty() {
        return Err(ApiError::bad_request(
            "missing-namespaces",
            "a reader, publisher or owner token needs namespaces, e.g. [\"dtmi:com:acme\"]",
        ));
    }
    let namespaces = request
        .namespaces
        .iter()
        .map(|text| {
            Namespace::parse(text)
                .map_err(|e| ApiError::bad_request("invalid-namespace", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let admin = authz.is_admin(caller);
    for namespace in &namespaces {
        authz.require(caller, Action::MintToken, &Target::Namespace(namespace))?;
        if request.role == Role::Owner && !admin {
            return Err(ApiError::forbidden(
                "owners mint reader and publisher tokens; only admins mint owner tokens",
            ));
        }
    }
    Ok(namespaces)
}

/// Mint a token. Admins mint any; owners mint reader and publisher tokens for namespaces
/// they own. The secret is in the answer and nowhere else.
#[utoipa::path(
    tag = "access",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The token, with its secret", body = CreatedToken),
        (status = 400, description = "Bad name, namespaces or expiry", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token would hold rights the caller does not", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/tokens")]
pub async fn create_token(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    let wanted: TokenRequest = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"name": "ci", "role": "publisher", "namespaces": ["dtmi:com:acme"], "expires_at": "2027-01-01T00:00:00Z"}"#,
    )
    .await?;
    let (secret, stored) = mint(store.get_ref(), &authz, &caches, &caller, &wanted).await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        token: secret,
        details: stored.into(),
    }))
}

/// Mints a token the caller may mint (the one authorization step of the API and the admin
/// page); returns its secret, which exists nowhere else, and the stored token.
pub(crate) async fn mint(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    wanted: &TokenRequest,
) -> Result<(String, ApiToken), ApiError> {
    authz.require_signed_in(caller)?;
    let namespaces = authorize_mint(authz, caller, wanted)?;
    let minted = secrets::mint_token();
    let stored = store
        .create_token(
            &NewApiToken {
                name: wanted.name.trim().to_owned(),
                secret_sha256: minted.sha256,
                prefix: minted.display_prefix,
                role: wanted.role,
                namespaces,
                expires_at: wanted.expires_at,
            },
            &caller.actor(),
        )
        .await?;
    caches.access_changed().await?;
    tracing::info!(token.id = stored.id, token.role = %stored.role, principal = %caller.principal.name(), "API token created");
    Ok((minted.secret, stored))
}

/// Tokens: all of them for admins, the caller's own for everyone else.
#[utoipa::path(
    tag = "access",
    responses(
        (status = 200, description = "Tokens, newest first", body = TokenList),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/tokens")]
pub async fn list_tokens(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<TokenList>, ApiError> {
    Ok(web::Json(TokenList {
        items: visible_tokens(store.get_ref(), &authz, &caller)
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect(),
    }))
}

/// The tokens the caller may see: all for admins, their own for everyone else.
pub(crate) async fn visible_tokens(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
) -> Result<Vec<ApiToken>, ApiError> {
    authz.require_signed_in(caller)?;
    let created_by = (!authz.is_admin(caller)).then(|| caller.principal.name());
    Ok(store.tokens(created_by.as_deref()).await?)
}

/// Revoke a token at once. Admins revoke any; others the tokens they made.
#[utoipa::path(
    tag = "access",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The revoked token", body = TokenView),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token among those the caller may revoke", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    caller: Caller,
    path: web::Path<i64>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<web::Json<TokenView>, ApiError> {
    Ok(web::Json(
        revoke(store.get_ref(), &authz, &caches, &caller, path.into_inner())
            .await?
            .into(),
    ))
}

/// Revokes a token the caller may revoke: admins any, others the tokens they made.
pub(crate) async fn revoke(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    id: i64,
) -> Result<ApiToken, ApiError> {
    authz.require_signed_in(caller)?;
    let token = store.token(id).await?;
    let allowed = token
        .as_ref()
        .is_some_and(|t| authz.is_admin(caller) || t.created_by == caller.principal.name());
    if !allowed {
        return Err(ApiError::not_found(format!(
            "token {id} does not exist among the tokens you may revoke"
        )));
    }
    let revoked = store.revoke_token(id, &caller.actor()).await?;
    caches.access_changed().await?;
    tracing::info!(token.id = id, principal = %caller.principal.name(), "API token revoked");
    Ok(revoked)
}
