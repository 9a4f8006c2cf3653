//! twinhub-client: a client for any repository that follows the Device Models Repository (DMR)
//! convention — a twinhub server, a static DMR tree served over HTTP(S), or a local folder — and
//! for twinhub's own push API.
//!
//! Resolution follows the Azure `ModelsRepositoryClient` algorithm: models are fetched by their
//! DMR path (`dtmi/com/example/thermostat-1.json`); with dependency resolution enabled, the
//! client reads `metadata.json` once, prefers `.expanded.json` files where the repository
//! advertises them, and otherwise walks `extends` and component schemas breadth-first. Every
//! fetched model is cached for the life of the client, fetches run concurrently up to a bound,
//! and transient failures (connection errors, timeouts, 408/429/5xx) are retried with
//! exponential backoff. A bearer token, when given, is sent with every request.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), twinhub_client::ClientError> {
//! use twinhub_client::{DependencyResolution, RepositoryClient};
//!
//! // A local DMR folder with a thermostat and a controller that uses it as a component.
//! let root = tempfile::tempdir().expect("temp dir");
//! let folder = root.path().join("dtmi/com/example");
//! std::fs::create_dir_all(&folder).expect("mkdir");
//! std::fs::write(folder.join("thermostat-1.json"), r#"{"@context": "dtmi:dtdl:context;2",
//!   "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface"}"#).expect("write");
//! std::fs::write(folder.join("controller-1.json"), r#"{"@context": "dtmi:dtdl:context;2",
//!   "@id": "dtmi:com:example:Controller;1", "@type": "Interface", "contents": [
//!   {"@type": "Component", "name": "t1", "schema": "dtmi:com:example:Thermostat;1"}]}"#).expect("write");
//!
//! let client = RepositoryClient::new(root.path().to_str().expect("UTF-8 path"))?;
//! let models = client
//!     .get_models(&["dtmi:com:example:Controller;1"], DependencyResolution::Enabled)
//!     .await?;
//! let dtmis: Vec<&str> = models.iter().map(|m| m.dtmi.as_str()).collect();
//! assert_eq!(dtmis, ["dtmi:com:example:Controller;1", "dtmi:com:example:Thermostat;1"]);
//!
//! // Without dependency resolution only the requested model comes back, byte-exact.
//! let one = client
//!     .get_models(&["dtmi:com:example:Thermostat;1"], DependencyResolution::Disabled)
//!     .await?;
//! assert!(one[0].content.starts_with("{\"@context\""));
//! # Ok(())
//! # }
//! ```

mod dependencies;
mod error;
mod options;
mod push;
mod repository;
mod transport;

pub use dependencies::dependencies_of;
pub use error::{ClientError, Problem, ProblemIssue};
pub use options::{ClientOptions, DependencyResolution};
pub use push::{ImportFile, ImportOptions, PushOutcome};
pub use repository::{IndexEntry, RepositoryClient, RepositoryMetadata, ResolvedModel};

/// Makes ring the process's TLS crypto provider unless one was chosen already. reqwest is built
/// without a bundled provider (ring keeps aws-lc out of the build), so every
/// `reqwest::Client` in a process that uses this crate needs a provider first; the
/// [`RepositoryClient`] constructors call this themselves.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one in between, which is then used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
