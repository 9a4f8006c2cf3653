//! Wiring: open the store, build the shared pieces ([`Services`]), bind the HTTP listener and
//! run it, with any other listener, until SIGINT/SIGTERM. Tests use [`Application::build`]
//! with port 0. Handlers take `web::Data<…>` of exactly the pieces they need; another
//! listener (an MQTT endpoint, a second HTTPS service) joins through
//! [`Application::with_listener`] and shares the same [`Services`].

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware;
use actix_web::{App, HttpServer, web};
use twinhub_hub::{Hub, HubConfig, devca, tls};

use crate::cluster::{ClusterError, NatsPeers, default_instance_id};
use crate::routing::{Routing, RoutingSetupError, RoutingSink};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Authenticator;
use crate::auth::oidc::OidcProviders;
use crate::authz::{Authz, AuthzError};
use crate::changes::Caches;
use crate::config::{Settings, redact_url};
use crate::http::Site;
use crate::http::auth::HttpAuth;
use crate::http::error::ApiError;
use crate::repository::device_models::RepositoryModels;
use crate::repository::publish::{Publisher, PushPolicy};
use crate::repository::resolution::{DmrSettings, Resolution};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::{self, Metrics};
use crate::{openapi, routes};

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
    #[error(transparent)]
    Routing(#[from] RoutingSetupError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot set up the device hub: {0}")]
    Hub(String),
    #[error("the {name} listener failed: {source}")]
    Listener {
        name: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The pieces that handlers and listeners share, built once per instance.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub resolution: Arc<Resolution>,
    pub authz: Arc<Authz>,
    pub caches: Arc<Caches>,
    pub authenticator: Arc<Authenticator>,
    pub http_auth: Arc<HttpAuth>,
    pub policy: Arc<PushPolicy>,
    pub publisher: Arc<Publisher>,
    pub site: Arc<Site>,
    pub metrics: Arc<Metrics>,
    /// The device hub: registry, twins and live devices, over the same database.
    pub hub: Hub,
    /// Message routing: the router the hub's events go through, and its storage.
    pub routing: Arc<Routing>,
    /// The MQTT endpoint's TLS setup, when the endpoint runs.
    pub hub_tls: Option<Arc<rustls::ServerConfig>>,
    /// Where the IoT Hub service API listens, once it does (for connection strings).
    pub service_endpoint: Arc<routes::api::hub_service::ServiceEndpoint>,
}

impl Services {
    /// Opens and migrates the database, loads the access policy and starts following other
    /// instances' changes and the facet backfill.
    pub async fn open(settings: Settings) -> Result<Self, StartupError> {
        let store = crate::store::open(&settings.database_url, settings.database_max_connections)
            .await
            .map_err(|source| StartupError::Database {
                url: redact_url(&settings.database_url),
                source,
            })?;
        let resolution = Arc::new(Resolution::new(
            store.clone(),
            DmrSettings {
                repository_name: settings.repository_name.clone(),
                index_page_size: settings.index_page_size,
                cache_max_bytes: settings.cache_max_bytes,
            },
        ));
        let authz = Arc::new(Authz::load(store.clone(), settings.default_visibility).await?);
        let caches = Arc::new(Caches::new(resolution.clone(), authz.clone()));
        crate::changes::follow(store.clone(), caches.clone()).await;
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
        let policy = PushPolicy {
            max_models: settings.max_batch_models,
            parsing,
        };
        let authenticator = Arc::new(Authenticator::new(store.clone(), &settings));
        let (hub_tls, device_ca_roots) = hub_tls(&settings)?;
        let models: Arc<dyn twinhub_hub::ModelSource> =
            Arc::new(RepositoryModels::new(store.clone(), policy.parsing.clone()));
        // The router starts before the hub, so the outbox's leftovers are being delivered
        // before any device can connect.
        let routing =
            Arc::new(Routing::start(settings.routing.clone(), store.clone().routing()).await?);
        let sink = RoutingSink::new(
            routing.router.clone(),
            store.clone().hub(),
            models.clone(),
            settings.routing.hub_name.clone(),
        );
        let instance_id = settings
            .instance_id
            .clone()
            .unwrap_or_else(|| default_instance_id(settings.hub_bind));
        let mut hub = Hub::new(
            store.clone().hub(),
            models,
            HubConfig {
                instance_id: instance_id.clone(),
                host_names: settings.hub_host_names.clone(),
                device_ca_roots,
                ..HubConfig::default()
            },
        )
        .with_events(Arc::new(sink));
        if let Some(url) = &settings.nats_url {
            let (peers, inbound) =
                NatsPeers::connect(url, &settings.routing.hub_name, &instance_id).await?;
            hub = hub.with_peers(peers.clone());
            peers.serve(hub.clone(), inbound);
        }
        // A new hub gets IoT Hub's four shared access policies, with fresh keys.
        if crate::service::policies::seed_defaults(&store)
            .await
            .map_err(|source| StartupError::Database {
                url: redact_url(&settings.database_url),
                source,
            })?
        {
            tracing::info!(
                "created the default shared access policies (iothubowner, service, registryRead, registryReadWrite)"
            );
        }
        Ok(Self {
            hub,
            routing,
            hub_tls,
            http_auth: Arc::new(HttpAuth::new(
                authenticator.clone(),
                OidcProviders::new(&settings.oidc),
                &settings,
            )),
            authenticator,
            publisher: Arc::new(Publisher::new(
                store.clone(),
                policy.clone(),
                resolution.clone(),
            )),
            policy: Arc::new(policy),
            site: Arc::new(Site::new(&settings)),
            metrics: Arc::new(Metrics::default()),
            service_endpoint: Arc::default(),
            settings: Arc::new(settings),
            store,
            resolution,
            authz,
            caches,
        })
    }

    /// Shares every piece as app data, so a handler takes `web::Data<Piece>` of what it uses.
    fn register(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(web::Data::from(self.store.clone()))
            .app_data(web::Data::from(self.resolution.clone()))
            .app_data(web::Data::from(self.authz.clone()))
            .app_data(web::Data::from(self.caches.clone()))
            .app_data(web::Data::from(self.http_auth.clone()))
            .app_data(web::Data::from(self.policy.clone()))
            .app_data(web::Data::from(self.publisher.clone()))
            .app_data(web::Data::from(self.site.clone()))
            .app_data(web::Data::from(self.metrics.clone()))
            .app_data(web::Data::new(self.hub.clone()))
            .app_data(web::Data::from(self.service_endpoint.clone()))
            .app_data(web::Data::from(self.routing.clone()));
    }
}

/// The MQTT endpoint's TLS configuration (none when the endpoint is off) and the CAs whose
/// certificates identify devices: the configured certificate, or the development CA in its
/// folder, made on first start and trusted for device certificates as well.
type HubTls = (
    Option<Arc<rustls::ServerConfig>>,
    Vec<rustls::pki_types::CertificateDer<'static>>,
);

fn hub_tls(settings: &Settings) -> Result<HubTls, StartupError> {
    let failed = |e: &dyn std::fmt::Display| StartupError::Hub(e.to_string());
    let mut roots = Vec::new();
    for path in &settings.hub_device_ca {
        let pem = tls::read(path).map_err(|e| failed(&e))?;
        roots.extend(
            tls::parse_certificates(&pem, &path.display().to_string()).map_err(|e| failed(&e))?,
        );
    }
    if !settings.hub {
        return Ok((None, roots));
    }
    let server = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            tls::server_config_from_files(cert, key).map_err(|e| failed(&e))?
        }
        _ => {
            let dir = settings.dev_certs_dir();
            let files =
                devca::ensure_dev_certs(&dir, &settings.hub_host_names).map_err(|e| failed(&e))?;
            tracing::info!(
                ca = %files.ca_cert.display(),
                hosts = ?settings.hub_host_names,
                "the device hub uses a development certificate; devices must trust the CA in {}",
                files.ca_cert.display()
            );
            let ca = tls::read(&files.ca_cert).map_err(|e| failed(&e))?;
            roots.extend(
                tls::parse_certificates(&ca, "the development CA").map_err(|e| failed(&e))?,
            );
            tls::server_config_from_files(&files.server_cert, &files.server_key)
                .map_err(|e| failed(&e))?
        }
    };
    Ok((Some(server), roots))
}

/// A listener beside the HTTP server; it runs until it fails or the application stops.
type ListenerTask = Pin<Box<dyn Future<Output = Result<(), StartupError>> + Send>>;

/// A bound, ready-to-run service.
pub struct Application {
    address: SocketAddr,
    hub_address: Option<SocketAddr>,
    server: Server,
    services: Services,
    listeners: Vec<(&'static str, ListenerTask)>,
    /// Set when the HTTP server has stopped, so listeners close their connections too.
    stopping: tokio::sync::watch::Sender<bool>,
    service_address: Option<SocketAddr>,
}

impl Application {
    /// Opens and migrates the database and binds the listener; serving starts with
    /// [`run_until_stopped`](Self::run_until_stopped).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let services = Services::open(settings).await?;
        let application = Self::with_services(services)?;
        application.with_hub().await?.with_default_service_api()
    }

    /// The IoT Hub service API beside the hub (when both are on), with the hub's certificate:
    /// the configured one, or the development CA's server certificate.
    fn with_default_service_api(self) -> Result<Self, StartupError> {
        let settings = self.services.settings.clone();
        if !(settings.hub && settings.service_enabled) {
            return Ok(self);
        }
        let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            _ => {
                let files =
                    devca::ensure_dev_certs(&settings.dev_certs_dir(), &settings.hub_host_names)
                        .map_err(|e| StartupError::Hub(e.to_string()))?;
                (files.server_cert, files.server_key)
            }
        };
        let tls = crate::service::tls_config(&cert, &key).map_err(StartupError::Hub)?;
        let hub = self.services.hub.clone();
        self.with_service_api(hub, tls)
    }

    /// Binds the device hub's MQTT endpoint (when it is on) and runs it beside the HTTP server.
    async fn with_hub(mut self) -> Result<Self, StartupError> {
        let Some(tls) = self.services.hub_tls.clone() else {
            return Ok(self);
        };
        let bind = self.services.settings.hub_bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| StartupError::Bind {
                address: bind,
                source,
            })?;
        let address = listener.local_addr()?;
        tracing::info!(address = %address, "device hub listening on mqtts://{address}");
        self.hub_address = Some(address);
        let hub = self.services.hub.clone();
        let mut stopping = self.stopping.subscribe();
        let shutdown = async move {
            // An error means the application is gone: stop as well.
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        Ok(self.with_listener("mqtt", async move {
            hub.serve_mqtt(listener, tls, shutdown)
                .await
                .map_err(|source| StartupError::Listener {
                    name: "mqtt",
                    source: Box::new(source),
                })
        }))
    }

    /// Binds the HTTP listener over services that are already open.
    pub fn with_services(services: Services) -> Result<Self, StartupError> {
        let bind = services.settings.bind;
        let listener = TcpListener::bind(bind).map_err(|source| StartupError::Bind {
            address: bind,
            source,
        })?;
        let address = listener.local_addr()?;
        let shared = services.clone();
        let server = HttpServer::new(move || {
            let (app, api) = App::new()
                .configure(|config| shared.register(config))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid-parameter", e.to_string()).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid-path", e.to_string()).into()
                }))
                .wrap(cors())
                .wrap(middleware::from_fn(crate::http::refusals::audit_refusals))
                .wrap(middleware::from_fn(routes::pages::error::error_page_chrome))
                .wrap(middleware::from_fn(metrics::record))
                .into_utoipa_app()
                .openapi(openapi::base())
                .configure(routes::configure_documented)
                .split_for_parts();
            app.configure(routes::configure_undocumented)
                .service(
                    SwaggerUi::new("/api/docs/{_:.*}")
                        .url("/api/openapi.json", openapi::complete(api)),
                )
                .default_service(web::to(routes::not_found))
        })
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!(address = %address, "listening on http://{address}");
        Ok(Self {
            address,
            hub_address: None,
            server,
            services,
            listeners: Vec::new(),
            stopping: tokio::sync::watch::Sender::new(false),
            service_address: None,
        })
    }

    /// Binds the IoT Hub service API (`settings.service_bind`) over `hub` with the hub's
    /// certificate, unless it is disabled; it runs with [`run_until_stopped`](Self::run_until_stopped).
    pub fn with_service_api(
        mut self,
        hub: twinhub_hub::Hub,
        tls: rustls::ServerConfig,
    ) -> Result<Self, StartupError> {
        if !self.services.settings.service_enabled {
            return Ok(self);
        }
        let bind = self.services.settings.service_bind;
        let listener = TcpListener::bind(bind).map_err(|source| StartupError::Bind {
            address: bind,
            source,
        })?;
        let address = listener.local_addr()?;
        let host_names = hub.config().host_names.clone();
        self.services.service_endpoint.set(
            host_names
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".to_owned()),
            address.port(),
        );
        let state = Arc::new(crate::service::ServiceState {
            hub,
            hub_store: self.services.store.clone().hub(),
            store: self.services.store.clone(),
            host_names,
            port: address.port(),
        });
        let server = crate::service::server(state, listener, tls)?;
        // Stop with the HTTP server (a failed listener stops everything).
        let handle = server.handle();
        let mut stopping = self.stopping.subscribe();
        tokio::spawn(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
            handle.stop(true).await;
        });
        tracing::info!(address = %address, "IoT Hub service API listening on https://{address}");
        self.service_address = Some(address);
        Ok(self.with_listener("service", async move {
            server.await.map_err(|source| StartupError::Listener {
                name: "service",
                source: Box::new(source),
            })
        }))
    }

    /// Where the IoT Hub service API listens, when it does.
    pub fn service_address(&self) -> Option<SocketAddr> {
        self.service_address
    }

    /// The shared pieces, for building another listener over the same store and policy.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Runs `listener` beside the HTTP server: it starts with
    /// [`run_until_stopped`](Self::run_until_stopped), and its failure stops the application.
    pub fn with_listener(
        mut self,
        name: &'static str,
        listener: impl Future<Output = Result<(), StartupError>> + Send + 'static,
    ) -> Self {
        self.listeners.push((name, Box::pin(listener)));
        self
    }

    /// The bound address (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address of the device hub's MQTT endpoint, when it runs.
    pub fn hub_address(&self) -> Option<SocketAddr> {
        self.hub_address
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests. A listener that
    /// fails stops the HTTP server too, and its error is returned.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let handle = self.server.handle();
        let mut tasks = tokio::task::JoinSet::new();
        for (name, listener) in self.listeners {
            tasks.spawn(async move { (name, listener.await) });
        }
        let failed = async {
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((_, Ok(()))) => {}
                    Ok((_, Err(error))) => return error,
                    Err(join) => {
                        return StartupError::Listener {
                            name: "spawned",
                            source: Box::new(join),
                        };
                    }
                }
            }
            std::future::pending().await
        };
        tokio::select! {
            served = self.server => served?,
            error = failed => {
                tracing::error!(error = %error, "a listener failed; stopping");
                self.stopping.send_replace(true);
                handle.stop(true).await;
                return Err(error);
            }
        }
        self.stopping.send_replace(true);
        // Listeners close their connections; give them the HTTP server's grace period.
        let drained = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            tracing::warn!("listeners did not stop within 10 s; leaving them");
        }
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

async fn backfill_facets(
    store: Arc<dyn Store>,
    resolution: Arc<Resolution>,
    parsing: dtdl::ParsingOptions,
) {
    match crate::repository::facets::backfill(store, &parsing).await {
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
