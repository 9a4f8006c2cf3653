//! TLS for the MQTT endpoint: a rustls [`ServerConfig`] from PEM (TLS 1.2, which the Python
//! device SDK insists on, and 1.3; ring), and X.509 device authentication.
//!
//! The server asks every client for a certificate but requires none, because SAS devices send
//! none. The handshake only checks that a client holds the key of the certificate it shows
//! (`OptionalClientCert`); which identity the certificate proves is decided at CONNECT, when
//! the client id is known: a self-signed certificate by its SHA-1 or SHA-256 thumbprint
//! registered for that identity, a CA-signed one by its chain to one of the configured device
//! CAs ([`DeviceCaVerifier`]) and its subject CN equal to the device id.

use std::path::Path;
use std::sync::Arc;

use ring::digest;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

/// A TLS setup that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} holds no PEM certificate")]
    NoCertificate { what: String },
    #[error("{what} is not valid PEM: {reason}")]
    BadPem { what: String, reason: String },
    #[error("{what} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { what: String },
    #[error("the TLS configuration is refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("the device CA certificates cannot be used: {0}")]
    Roots(String),
}

/// The ring provider, shared by everything the hub builds (no process-wide default needed).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM text, in order.
pub fn parse_certificates(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM text.
pub fn parse_private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| TlsError::NoKey {
        what: what.to_owned(),
    })
}

/// The endpoint's server configuration: the certificate chain and key (served whatever the
/// SNI, and without SNI, which the device SDK omits for IP addresses), TLS 1.2 and 1.3, an
/// optional client certificate.
pub fn server_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = parse_certificates(cert_chain_pem, "the server certificate")?;
    let key = parse_private_key(key_pem, "the server key")?;
    let provider = provider();
    let verifier = Arc::new(OptionalClientCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// A device's client configuration trusting the CAs in `ca_pem` (a hub's development CA, say),
/// TLS 1.2 only, as the Azure device SDKs connect; for Rust devices, tests and benches.
pub fn device_client_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in parse_certificates(ca_pem, "the CA")? {
        roots.add(cert)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// [`server_config`] from PEM files.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(&read(cert)?, &read(key)?)
}

/// Reads a file for the TLS setup.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Asks for a client certificate, accepts any well-formed one, and checks the handshake
/// signature with its key, so a client can only show a certificate whose key it holds.
#[derive(Debug)]
struct OptionalClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: clients then send whatever certificate they have (self-signed included).
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        x509_parser::parse_x509_certificate(end_entity)
            .map(|_| ClientCertVerified::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificate a client showed in its handshake, with what authentication needs of it.
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    pub chain: Vec<CertificateDer<'static>>,
    /// Upper-case hex SHA-1 of the DER (IoT Hub's usual thumbprint).
    pub sha1: String,
    /// Upper-case hex SHA-256 of the DER.
    pub sha256: String,
    /// The subject's common name.
    pub common_name: Option<String>,
}

impl ClientCertificate {
    /// The certificate of a chain as the client sent it (end entity first).
    pub fn from_chain(chain: &[CertificateDer<'_>]) -> Option<ClientCertificate> {
        let end_entity = chain.first()?;
        let (_, parsed) = x509_parser::parse_x509_certificate(end_entity).ok()?;
        let common_name = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        Some(ClientCertificate {
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
            sha1: thumbprint(&digest::SHA1_FOR_LEGACY_USE_ONLY, end_entity),
            sha256: thumbprint(&digest::SHA256, end_entity),
            common_name,
        })
    }

    /// Whether `thumbprint` (hex, any case, `:` separators allowed) is this certificate's
    /// SHA-1 or SHA-256 thumbprint.
    pub fn has_thumbprint(&self, thumbprint: &str) -> bool {
        let bare: String = thumbprint
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_uppercase();
        bare == self.sha1 || bare == self.sha256
    }
}

/// The upper-case hex digest of a certificate.
pub fn thumbprint(algorithm: &'static digest::Algorithm, der: &[u8]) -> String {
    digest::digest(algorithm, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Checks client certificate chains against the configured device CAs.
#[derive(Clone, Debug)]
pub struct DeviceCaVerifier {
    inner: Option<Arc<dyn ClientCertVerifier>>,
}

impl DeviceCaVerifier {
    /// A verifier that trusts no CA.
    pub fn none() -> DeviceCaVerifier {
        DeviceCaVerifier { inner: None }
    }

    /// A verifier trusting `roots`; with none, no chain verifies.
    pub fn new(roots: &[CertificateDer<'static>]) -> Result<DeviceCaVerifier, TlsError> {
        if roots.is_empty() {
            return Ok(DeviceCaVerifier { inner: None });
        }
        let mut store = RootCertStore::empty();
        for root in roots {
            store
                .add(root.clone())
                .map_err(|e| TlsError::Roots(e.to_string()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .build()
            .map_err(|e| TlsError::Roots(e.to_string()))?;
        Ok(DeviceCaVerifier {
            inner: Some(verifier),
        })
    }

    /// Whether the certificate chains to a device CA (validity period and client-auth usage
    /// included).
    pub fn verify(&self, certificate: &ClientCertificate) -> Result<(), String> {
        let Some(inner) = &self.inner else {
            return Err("no device CA is configured".into());
        };
        let Some((end_entity, intermediates)) = certificate.chain.split_first() else {
            return Err("no certificate".into());
        };
        inner
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
