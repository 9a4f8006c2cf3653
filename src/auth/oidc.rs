//! Sign-in through OpenID Connect issuers: the authorization code flow with PKCE (through
//! the `oauth2` crate), with `state` and `nonce` kept in a short-lived encrypted cookie. The
//! issuer's metadata comes from discovery; the ID token's signature is checked against the
//! issuer's JWKS (asymmetric algorithms only) and its `iss`, `aud`, `exp` and `nonce` claims
//! against what we expect. Users are provisioned at first login and their group-based grants
//! follow their groups at every login.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::config::OidcIssuerSettings;
use crate::domain::access::{Actor, Namespace, NewUser, Role, Subject, User};
use crate::store::{Store, StoreError};

/// Name of the cookie that carries a sign-in in progress.
pub const FLOW_COOKIE: &str = "twinhub_oidc";

/// How long a person has to finish signing in at the issuer.
pub const FLOW_TTL_MINUTES: i64 = 10;

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no OpenID Connect issuer named {0:?} is configured")]
    UnknownIssuer(String),
    #[error("cannot reach the issuer {issuer}: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("the sign-in has expired or was started in another browser; start again")]
    NoFlow,
    #[error(
        "the sign-in response does not belong to the sign-in this browser started (state mismatch); start again"
    )]
    StateMismatch,
    #[error("the issuer refused the sign-in: {0}")]
    Refused(String),
    #[error("the issuer's token endpoint failed: {0}")]
    TokenExchange(String),
    #[error("the ID token is not acceptable: {0}")]
    InvalidIdToken(String),
    #[error("cannot provision the user: {0}")]
    Provisioning(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What discovery tells about an issuer.
#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The token response with the ID token OIDC adds.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenFields {
    id_token: String,
}

impl oauth2::ExtraTokenFields for IdTokenFields {}

type OidcTokenResponse = StandardTokenResponse<IdTokenFields, BasicTokenType>;

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A sign-in in progress, kept encrypted in [`FLOW_COOKIE`].
#[derive(Debug, Deserialize, Serialize)]
pub struct Flow {
    pub issuer: String,
    state: String,
    nonce: String,
    verifier: String,
    /// Local path to return to afterwards.
    pub return_to: String,
}

/// The verified identity from an ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub email: Option<String>,
    pub groups: BTreeSet<String>,
}

struct Issuer {
    settings: OidcIssuerSettings,
    metadata: RwLock<Option<Metadata>>,
    keys: RwLock<JwkSet>,
}

/// The configured issuers.
pub struct OidcProviders {
    issuers: HashMap<String, Arc<Issuer>>,
    order: Vec<String>,
    http: reqwest::Client,
}

impl OidcProviders {
    pub fn new(settings: &[OidcIssuerSettings]) -> Self {
        // Issuers are reached over HTTPS with rustls on ring (the one crypto provider in the
        // build); install it unless something else did.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            // Following redirects from the token endpoint could leak the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            issuers: settings
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        Arc::new(Issuer {
                            settings: s.clone(),
                            metadata: RwLock::new(None),
                            keys: RwLock::new(JwkSet { keys: Vec::new() }),
                        }),
                    )
                })
                .collect(),
            order: settings.iter().map(|s| s.name.clone()).collect(),
            http,
        }
    }

    /// (name, button text) of each issuer, in configuration order.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .filter_map(|name| self.issuers.get(name))
            .map(|issuer| {
                let s = &issuer.settings;
                (
                    s.name.clone(),
                    s.display_name.clone().unwrap_or_else(|| s.name.clone()),
                )
            })
            .collect()
    }

    fn issuer(&self, name: &str) -> Result<Arc<Issuer>, OidcError> {
        self.issuers
            .get(name)
            .cloned()
            .ok_or_else(|| OidcError::UnknownIssuer(name.to_owned()))
    }

    async fn metadata(&self, issuer: &Issuer) -> Result<Metadata, OidcError> {
        if let Some(metadata) = issuer.metadata.read().await.clone() {
            return Ok(metadata);
        }
        let configured = issuer.settings.issuer.trim_end_matches('/');
        let url = format!("{configured}/.well-known/openid-configuration");
        let discovery_error = |reason: String| OidcError::Discovery {
            issuer: configured.to_owned(),
            reason,
        };
        let metadata: Metadata = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| discovery_error(e.to_string()))?
            .json()
            .await
            .map_err(|e| discovery_error(format!("{url} is not OpenID provider metadata: {e}")))?;
        if metadata.issuer.trim_end_matches('/') != configured {
            return Err(discovery_error(format!(
                "its metadata names the issuer {:?}, not the configured {configured:?}",
                metadata.issuer
            )));
        }
        *issuer.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    fn client(
        issuer: &Issuer,
        metadata: &Metadata,
        redirect_uri: &str,
    ) -> Result<OidcClient, OidcError> {
        let invalid = |what: &str, e: oauth2::url::ParseError| OidcError::Discovery {
            issuer: issuer.settings.issuer.clone(),
            reason: format!("{what} is not a URL: {e}"),
        };
        let mut client = oauth2::Client::new(ClientId::new(issuer.settings.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(metadata.authorization_endpoint.clone())
                    .map_err(|e| invalid("authorization_endpoint", e))?,
            )
            .set_token_uri(
                TokenUrl::new(metadata.token_endpoint.clone())
                    .map_err(|e| invalid("token_endpoint", e))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned())
                    .map_err(|e| invalid("redirect URI", e))?,
            );
        if let Some(secret) = &issuer.settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// Starts a sign-in: the issuer's authorization URL and the flow to keep in a cookie.
    pub async fn start(
        &self,
        name: &str,
        redirect_uri: &str,
        return_to: String,
    ) -> Result<(String, Flow), OidcError> {
        let issuer = self.issuer(name)?;
        let metadata = self.metadata(&issuer).await?;
        let client = Self::client(&issuer, &metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = super::secrets::random_hex();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".to_owned()))
            .add_extra_param("nonce", nonce.clone())
            .set_pkce_challenge(challenge);
        for scope in &issuer.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state) = request.url();
        Ok((
            url.to_string(),
            Flow {
                issuer: name.to_owned(),
                state: state.secret().clone(),
                nonce,
                verifier: verifier.secret().clone(),
                return_to,
            },
        ))
    }

    /// Finishes a sign-in: checks `state`, exchanges the code and verifies the ID token.
    pub async fn finish(
        &self,
        flow: Flow,
        redirect_uri: &str,
        code: &str,
        state: &str,
    ) -> Result<(Identity, OidcIssuerSettings), OidcError> {
        if !super::secrets::constant_time_eq(state.as_bytes(), flow.state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        let issuer = self.issuer(&flow.issuer)?;
        let metadata = self.metadata(&issuer).await?;
        let client = Self::client(&issuer, &metadata, redirect_uri)?;
        let http = self.http.clone();
        let send = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move { send(&http, request).await }
        };
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&send)
            .await
            .map_err(|e| OidcError::TokenExchange(describe_token_error(&e)))?;
        // The access token is not needed: everything comes from the verified ID token.
        let _ = response.access_token();
        let id_token = &response.extra_fields().id_token;
        let claims = self
            .verify(&issuer, &metadata, id_token, &flow.nonce)
            .await?;
        let identity = identity(&issuer.settings, &metadata, &claims)?;
        Ok((identity, issuer.settings.clone()))
    }

    /// Verifies an ID token issued by the issuer named `name` for this client with `nonce`
    /// (signature against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`).
    pub async fn verify_id_token(
        &self,
        name: &str,
        id_token: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let issuer = self.issuer(name)?;
        let metadata = self.metadata(&issuer).await?;
        let claims = self.verify(&issuer, &metadata, id_token, nonce).await?;
        identity(&issuer.settings, &metadata, &claims)
    }

    async fn verify(
        &self,
        issuer: &Issuer,
        metadata: &Metadata,
        id_token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let invalid = |reason: String| OidcError::InvalidIdToken(reason);
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| invalid(format!("{e}")))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(invalid(format!(
                "it is signed with {:?}; only the issuer's public-key algorithms are accepted",
                header.alg
            )));
        }
        let key = self.key(issuer, metadata, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[metadata.issuer.as_str()]);
        validation.set_audience(&[issuer.settings.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            id_token,
            &key,
            &validation,
        )
        .map_err(|e| invalid(format!("{e}")))?;
        let claims = data.claims;
        let presented = claims
            .get("nonce")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        if !super::secrets::constant_time_eq(presented.as_bytes(), nonce.as_bytes()) {
            return Err(invalid("its nonce does not match this sign-in".to_owned()));
        }
        Ok(claims)
    }

    /// The issuer's key for `kid`, fetching the JWKS again when the key is unknown (the
    /// issuer may have rotated its keys).
    async fn key(
        &self,
        issuer: &Issuer,
        metadata: &Metadata,
        kid: Option<&str>,
    ) -> Result<DecodingKey, OidcError> {
        let find = |keys: &JwkSet| match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        };
        let cached = find(&*issuer.keys.read().await);
        let jwk = match cached {
            Some(jwk) => jwk,
            None => {
                let keys: JwkSet = self
                    .http
                    .get(&metadata.jwks_uri)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| {
                        OidcError::InvalidIdToken(format!("cannot fetch the issuer's keys: {e}"))
                    })?
                    .json()
                    .await
                    .map_err(|e| {
                        OidcError::InvalidIdToken(format!("the issuer's JWKS is not readable: {e}"))
                    })?;
                let found = find(&keys);
                *issuer.keys.write().await = keys;
                found.ok_or_else(|| {
                    OidcError::InvalidIdToken(format!(
                        "it is signed with key {kid:?}, which the issuer does not publish"
                    ))
                })?
            }
        };
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| OidcError::InvalidIdToken(format!("the issuer's key is unusable: {e}")))
    }
}

async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TransportError> {
    let request = reqwest::Request::try_from(request).map_err(|e| TransportError(e.to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| TransportError(e.to_string()))?;
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| TransportError(e.to_string()))?;
    builder
        .body(body.to_vec())
        .map_err(|e| TransportError(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

fn describe_token_error<E: std::error::Error>(
    error: &oauth2::RequestTokenError<E, BasicErrorResponse>,
) -> String {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            let mut text = response.error().to_string();
            if let Some(description) = response.error_description() {
                text.push_str(": ");
                text.push_str(description);
            }
            text
        }
        other => other.to_string(),
    }
}

fn identity(
    settings: &OidcIssuerSettings,
    metadata: &Metadata,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<Identity, OidcError> {
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let subject =
        text("sub").ok_or_else(|| OidcError::InvalidIdToken("it has no sub claim".to_owned()))?;
    let username = text(&settings.username_claim).unwrap_or_else(|| subject.clone());
    let groups = match claims.get(&settings.groups_claim) {
        Some(serde_json::Value::String(one)) => BTreeSet::from([one.clone()]),
        Some(serde_json::Value::Array(many)) => many
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    };
    Ok(Identity {
        issuer: metadata.issuer.clone(),
        subject,
        username,
        email: text("email"),
        groups,
    })
}

/// Finds or creates the user of `identity`, gives first-login grants, and makes the
/// group-based grants match the groups the issuer reports now.
pub async fn provision(
    store: &dyn Store,
    settings: &OidcIssuerSettings,
    identity: &Identity,
) -> Result<User, OidcError> {
    // Grants that follow groups are recorded as made by this actor, which is how they are told
    // apart from first-login grants and from grants people made by hand.
    let actor = Actor::local(format!("oidc:{}", settings.name));
    let user = match store
        .user_by_identity(&identity.issuer, &identity.subject)
        .await?
    {
        Some(user) => user,
        None => {
            let mut name = sanitize_username(&identity.username);
            if store.user_by_name(&name).await?.is_some() {
                name = format!("{name}@{}", settings.name);
                if store.user_by_name(&name).await?.is_some() {
                    return Err(OidcError::Provisioning(format!(
                        "the names {:?} and {name:?} are both taken by other accounts; an admin must resolve this",
                        identity.username
                    )));
                }
            }
            let grants = expand_grants(
                settings
                    .default_grants
                    .iter()
                    .map(|g| (g.role, g.namespaces.as_slice())),
            );
            store
                .create_user(
                    &NewUser {
                        name,
                        password_hash: None,
                        issuer: Some(identity.issuer.clone()),
                        subject: Some(identity.subject.clone()),
                        email: identity.email.clone(),
                    },
                    &grants,
                    &Actor::local(format!("oidc:{} first login", settings.name)),
                )
                .await?
        }
    };
    if user.disabled {
        return Err(OidcError::Provisioning(format!(
            "the account {:?} is disabled",
            user.name
        )));
    }
    let wanted: BTreeSet<(Namespace, Role)> = expand_grants(
        settings
            .group_grants
            .iter()
            .filter(|g| identity.groups.contains(&g.group))
            .map(|g| (g.role, g.namespaces.as_slice())),
    )
    .into_iter()
    .collect();
    let subject = Subject::User(user.name.clone());
    let held: Vec<_> = store
        .grants()
        .await?
        .into_iter()
        .filter(|g| g.subject == subject && g.created_by == actor.name)
        .collect();
    for grant in &held {
        if !wanted.contains(&(grant.namespace.clone(), grant.role)) {
            store.remove_grant(grant.id, &actor).await?;
        }
    }
    for (namespace, role) in &wanted {
        if !held
            .iter()
            .any(|g| &g.namespace == namespace && g.role == *role)
        {
            match store.add_grant(&subject, namespace, *role, &actor).await {
                // Granted by someone else already: nothing to add.
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(user)
}

/// (namespace, role) pairs of configured grants; admin always covers everything.
fn expand_grants<'a>(
    grants: impl Iterator<Item = (Role, &'a [Namespace])>,
) -> Vec<(Namespace, Role)> {
    let mut expanded = Vec::new();
    for (role, namespaces) in grants {
        if role == Role::Admin {
            expanded.push((Namespace::everything(), role));
        } else {
            expanded.extend(namespaces.iter().map(|ns| (ns.clone(), role)));
        }
    }
    expanded
}

/// User names are shown in pages and logs: keep them to a safe, readable alphabet.
fn sanitize_username(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "user".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_from_issuers_are_sanitized() {
        assert_eq!(sanitize_username("alice"), "alice");
        assert_eq!(sanitize_username("<script>bob</script>"), "scriptbobscript");
        assert_eq!(sanitize_username("   "), "user");
    }

    #[test]
    fn admin_grants_cover_everything_and_others_their_namespaces() {
        let acme = Namespace::parse("dtmi:com:acme").expect("ns");
        let grants = expand_grants(
            [
                (Role::Admin, &[][..]),
                (Role::Publisher, std::slice::from_ref(&acme)),
            ]
            .into_iter(),
        );
        assert_eq!(
            grants,
            vec![
                (Namespace::everything(), Role::Admin),
                (acme, Role::Publisher)
            ]
        );
    }
}
