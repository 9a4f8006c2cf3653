//! Wiring: open the store, build the caches and parser policy, bind the listener and run the
//! HTTP server until SIGINT/SIGTERM. Tests use [`Application::build`] with port 0.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Authenticator;
use crate::auth::oidc::OidcProviders;
use crate::authz::{Authz, AuthzError};
use crate::config::{Settings, redact_url};
use crate::domain::model::Change;
use crate::domain::publish::PushPolicy;
use crate::domain::resolution::{DmrSettings, Resolution};
use crate::error::ApiError;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::{self, Metrics};
use crate::{openapi, routes};

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub resolution: Arc<Resolution>,
    pub auth: Authenticator,
    pub authz: Arc<Authz>,
    pub oidc: OidcProviders,
    pub policy: PushPolicy,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// After a write to users, tokens, grants or namespaces: reload the policy and drop what
    /// depends on visibility. (Other instances do the same when PostgreSQL tells them.)
    pub async fn access_changed(&self) -> Result<(), ApiError> {
        self.authz.reload().await.map_err(ApiError::unexpected)?;
        self.resolution.apply(&Change::AccessChanged);
        Ok(())
    }
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database {url}: {source}")]
    Database { url: String, source: StoreError },
    #[error("cannot load the access policy: {0}")]
    Authz(#[from] AuthzError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Server(#[from] std::io::Error),
}

/// A bound, ready-to-run service.
pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl Application {
    /// Opens and migrates the database and binds the listener; serving starts with
    /// [`run_until_stopped`](Self::run_until_stopped).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = crate::store::open(&settings.database_url, settings.database_max_connections)
            .await
            .map_err(|source| StartupError::Database {
                url: redact_url(&settings.database_url),
                source,
            })?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
            address: settings.bind,
            source,
        })?;
        let address = listener.local_addr()?;
        let resolution = Arc::new(Resolution::new(
            store.clone(),
            DmrSettings {
                repository_name: settings.repository_name.clone(),
                index_page_size: settings.index_page_size,
                cache_max_bytes: settings.cache_max_bytes,
            },
        ));
        let authz = Arc::new(Authz::load(store.clone(), settings.default_visibility).await?);
        follow_changes(
            store.clone(),
            Arc::new(ChangeFollower {
                resolution: resolution.clone(),
                authz: authz.clone(),
            }),
        )
        .await;
        let parsing = dtdl::ParsingOptions {
            max_dtdl_version: settings.max_dtdl_version,
            ..dtdl::ParsingOptions::default()
        };
        // Models stored before facets existed get theirs in the background; search works
        // meanwhile, with facet counts that are complete once the backfill ends.
        tokio::spawn(backfill_facets(
            store.clone(),
            resolution.clone(),
            parsing.clone(),
        ));
        let state = web::Data::new(AppState {
            policy: PushPolicy {
                max_models: settings.max_batch_models,
                parsing,
            },
            auth: Authenticator::new(store.clone(), &settings),
            oidc: OidcProviders::new(&settings.oidc),
            authz,
            settings: Arc::new(settings),
            store,
            resolution,
        });
        let metrics = web::Data::new(Metrics::default());
        let server = HttpServer::new(move || {
            let (app, api) = App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid-parameter", e.to_string()).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid-path", e.to_string()).into()
                }))
                .wrap(cors())
                .wrap(middleware::from_fn(crate::auth::refusals::audit_refusals))
                .wrap(middleware::from_fn(crate::error::error_page_chrome))
                .wrap(middleware::from_fn(metrics::record))
                .into_utoipa_app()
                .openapi(openapi::base())
                .configure(routes::configure_documented)
                .split_for_parts();
            app.configure(routes::dmr::configure)
                .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", api))
                .route("/login", web::get().to(routes::pages::login::login_form))
                .route("/login", web::post().to(routes::pages::login::login))
                .route("/logout", web::post().to(routes::pages::login::logout))
                .route(
                    "/login/oidc/{issuer}",
                    web::get().to(routes::pages::login::oidc_start),
                )
                .route(
                    "/login/oidc/{issuer}/callback",
                    web::get().to(routes::pages::login::oidc_callback),
                )
                .configure(routes::pages::configure)
                .default_service(web::to(not_found))
        })
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!(address = %address, "listening on http://{address}");
        Ok(Self { address, server })
    }

    /// The bound address (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.server.await?;
        tracing::info!("twinhub stopped");
        Ok(())
    }
}

fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allow_any_header()
        .expose_headers(["ETag", "Deprecation", "Twinhub-Model-State", "Link"])
        .max_age(86_400)
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    let error = ApiError::not_found(format!(
        "nothing is served at {}; see /api/docs/ for the API and /dtmi/… for models",
        request.path()
    ));
    // Browsers get the friendly page; API clients the problem document.
    let wants_html = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        actix_web::ResponseError::error_response(&crate::error::PageError(error))
    } else {
        actix_web::ResponseError::error_response(&error)
    }
}

async fn backfill_facets(
    store: Arc<dyn Store>,
    resolution: Arc<Resolution>,
    parsing: dtdl::ParsingOptions,
) {
    match crate::domain::facets::backfill(store, &parsing).await {
        Ok(0) => {}
        Ok(count) => {
            // Cached facet counts were taken while rows still lacked facets.
            resolution.clear();
            tracing::info!(
                models = count,
                "facets computed for models stored before facets existed"
            );
        }
        Err(error) => {
            tracing::error!(error = %error, "computing facets of stored models failed; restart to retry")
        }
    }
}

/// What other instances' writes make stale here: cached DMR files and the access policy.
struct ChangeFollower {
    resolution: Arc<Resolution>,
    authz: Arc<Authz>,
}

impl ChangeFollower {
    /// `None` means notifications may have been missed: drop and reload everything.
    async fn apply(&self, change: Option<Change>) {
        let reload = match &change {
            Some(change) => {
                self.resolution.apply(change);
                *change == Change::AccessChanged
            }
            None => {
                self.resolution.clear();
                true
            }
        };
        if reload && let Err(error) = self.authz.reload().await {
            tracing::error!(error = %error, "cannot reload the access policy after a change");
        }
    }
}

/// Keeps caches and the access policy in step with writes made by other instances. A lost
/// listener connection drops the whole cache, since notifications may have been missed.
async fn follow_changes(store: Arc<dyn Store>, follower: Arc<ChangeFollower>) {
    let first = store.changes().await;
    let mut changes = match first {
        Ok(Some(stream)) => stream,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(error = %error, "cannot listen for changes from other instances; retrying in the background");
            follower.apply(None).await;
            return spawn_follow(store, follower, None);
        }
    };
    tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            follower.apply(change).await;
        }
        tracing::warn!("change notifications ended; resubscribing");
        follower.apply(None).await;
        spawn_follow(store, follower, Some(Duration::from_secs(1)));
    });
}

fn spawn_follow(store: Arc<dyn Store>, follower: Arc<ChangeFollower>, delay: Option<Duration>) {
    tokio::spawn(async move {
        tokio::time::sleep(delay.unwrap_or(Duration::from_secs(1))).await;
        Box::pin(follow_changes(store, follower)).await;
    });
}
