//! The development CA: without a real certificate, twinhub makes its own CA and a server
//! certificate for the hub's host names and IP addresses (rcgen, ECDSA P-256), so devices can
//! connect after trusting `ca.pem`. The same CA also issues device certificates (CN = device
//! id) for CA-authenticated devices in tests and from the CLI.
//!
//! Files in the folder: `ca.pem`, `ca.key`, `server.pem` (the server certificate followed by
//! the CA, so clients get the chain) and `server.key`. Keys are written readable by the owner
//! only.

use std::collections::BTreeSet;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::Datelike as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";

/// Why the development certificates could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum DevCaError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0} is not a certificate this CA can use")]
    Unusable(String),
    #[error("no host names given; name at least one DNS name or IP address")]
    NoHosts,
}

/// Where the files of a development CA are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevCerts {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl DevCerts {
    pub fn in_dir(dir: &Path) -> DevCerts {
        DevCerts {
            dir: dir.to_owned(),
            ca_cert: dir.join(CA_CERT),
            ca_key: dir.join(CA_KEY),
            server_cert: dir.join(SERVER_CERT),
            server_key: dir.join(SERVER_KEY),
        }
    }
}

/// A certificate with its private key, both PEM.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Writes a new CA and server certificate for `hosts` (DNS names or IP addresses) into `dir`,
/// replacing what is there.
pub fn write_dev_ca(dir: &Path, hosts: &[String]) -> Result<DevCerts, DevCaError> {
    if hosts.is_empty() {
        return Err(DevCaError::NoHosts);
    }
    create_dir(dir)?;
    let files = DevCerts::in_dir(dir);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params().self_signed(&ca_key)?;
    write(&files.ca_cert, &ca.pem(), false)?;
    write(&files.ca_key, &ca_key.serialize_pem(), true)?;
    write_server(&files, &ca.pem(), &ca_key, hosts)?;
    Ok(files)
}

/// Reuses the development certificates in `dir` when they are there: the CA as it is, the
/// server certificate if it names exactly `hosts` (otherwise a new one from the same CA, so
/// devices keep trusting it; also when it expires within 30 days). Makes everything that is
/// missing.
pub fn ensure_dev_certs(dir: &Path, hosts: &[String]) -> Result<DevCerts, DevCaError> {
    if hosts.is_empty() {
        return Err(DevCaError::NoHosts);
    }
    let files = DevCerts::in_dir(dir);
    if !(files.ca_cert.exists() && files.ca_key.exists()) {
        return write_dev_ca(dir, hosts);
    }
    let ca_pem = read(&files.ca_cert)?;
    let ca_key = KeyPair::from_pem(&read(&files.ca_key)?)?;
    let current = files.server_cert.exists()
        && files.server_key.exists()
        && server_is_current(&read(&files.server_cert)?, hosts);
    if !current {
        tracing::info!(dir = %dir.display(), "issuing a new development server certificate");
        write_server(&files, &ca_pem, &ca_key, hosts)?;
    }
    Ok(files)
}

/// A device certificate signed by the CA in `dir`: subject CN = `device_id`, client-auth usage.
pub fn issue_device_certificate(
    dir: &Path,
    device_id: &str,
) -> Result<IssuedCertificate, DevCaError> {
    let files = DevCerts::in_dir(dir);
    let ca_pem = read(&files.ca_cert)?;
    let ca_key = KeyPair::from_pem(&read(&files.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)
        .map_err(|_| DevCaError::Unusable(files.ca_cert.display().to_string()))?;
    let key = KeyPair::generate()?;
    let cert = device_params(device_id)?.signed_by(&key, &issuer)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A self-signed device certificate (CN = `device_id`), registered by its thumbprint.
pub fn self_signed_device_certificate(device_id: &str) -> Result<IssuedCertificate, DevCaError> {
    let key = KeyPair::generate()?;
    let cert = device_params(device_id)?.self_signed(&key)?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn validity(params: &mut CertificateParams, years: i32) {
    let year = chrono::Utc::now().year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 1, 1);
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "twinhub development CA");
    name.push(DnType::OrganizationName, "twinhub");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, 20);
    params
}

fn device_params(device_id: &str) -> Result<CertificateParams, DevCaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, device_id);
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, 10);
    Ok(params)
}

fn write_server(
    files: &DevCerts,
    ca_pem: &str,
    ca_key: &KeyPair,
    hosts: &[String],
) -> Result<(), DevCaError> {
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key)
        .map_err(|_| DevCaError::Unusable(files.ca_cert.display().to_string()))?;
    let mut params = CertificateParams::new(hosts.to_vec())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hosts[0].as_str());
    params.distinguished_name = name;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut params, 5);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write(
        &files.server_cert,
        &format!("{}{ca_pem}", cert.pem()),
        false,
    )?;
    write(&files.server_key, &key.serialize_pem(), true)?;
    Ok(())
}

/// The SAN entries a certificate for `hosts` gets, normalised for comparison.
fn wanted_names(hosts: &[String]) -> BTreeSet<String> {
    hosts
        .iter()
        .map(|h| match h.parse::<IpAddr>() {
            Ok(ip) => format!("ip:{ip}"),
            Err(_) => format!("dns:{}", h.to_ascii_lowercase()),
        })
        .collect()
}

/// Reissue a server certificate this close to its expiry.
const RENEW_BEFORE_SECONDS: i64 = 30 * 24 * 3600;

/// Whether a server certificate names exactly `hosts` and stays valid for a while.
fn server_is_current(pem: &str, hosts: &[String]) -> bool {
    let Ok((_, pem_block)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem_block.parse_x509() else {
        return false;
    };
    let expires = cert.validity().not_after.timestamp();
    expires - chrono::Utc::now().timestamp() > RENEW_BEFORE_SECONDS
        && server_names(pem) == Some(wanted_names(hosts))
}

/// The SAN entries of the first certificate in a PEM text.
fn server_names(pem: &str) -> Option<BTreeSet<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let san = cert.subject_alternative_name().ok()??;
    Some(
        san.value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(format!("dns:{}", dns.to_ascii_lowercase())),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?),
                        16 => IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?),
                        _ => return None,
                    };
                    Some(format!("ip:{ip}"))
                }
                _ => None,
            })
            .collect(),
    )
}

fn create_dir(dir: &Path) -> Result<(), DevCaError> {
    fs::create_dir_all(dir).map_err(|source| DevCaError::Io {
        path: dir.display().to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<String, DevCaError> {
    fs::read_to_string(path).map_err(|source| DevCaError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), DevCaError> {
    let io = |source| DevCaError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    use std::io::Write as _;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ClientCertificate, DeviceCaVerifier, parse_certificates, server_config};

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_dev_ca_gives_a_usable_server_config_with_dns_and_ip_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_dev_ca(dir.path(), &hosts(&["localhost", "127.0.0.9"])).expect("ca");
        let cert = std::fs::read(&files.server_cert).expect("cert");
        let key = std::fs::read(&files.server_key).expect("key");
        server_config(&cert, &key).expect("server config");
        assert_eq!(parse_certificates(&cert, "chain").expect("pem").len(), 2);
        let names = server_names(&String::from_utf8_lossy(&cert)).expect("names");
        assert!(
            names.contains("ip:127.0.0.9") && names.contains("dns:localhost"),
            "{names:?}"
        );
    }

    #[test]
    fn ensure_reuses_the_ca_and_reissues_the_server_cert_only_when_hosts_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ensure_dev_certs(dir.path(), &hosts(&["localhost"])).expect("first");
        let ca = read(&first.ca_cert).expect("ca");
        let server = read(&first.server_cert).expect("server");
        ensure_dev_certs(dir.path(), &hosts(&["LOCALHOST"])).expect("again");
        assert_eq!(read(&first.server_cert).expect("server"), server);
        ensure_dev_certs(dir.path(), &hosts(&["localhost", "10.1.2.3"])).expect("new host");
        assert_eq!(read(&first.ca_cert).expect("ca"), ca);
        assert_ne!(read(&first.server_cert).expect("server"), server);
    }

    #[test]
    fn device_certificates_chain_to_the_dev_ca_and_self_signed_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_dev_ca(dir.path(), &hosts(&["localhost"])).expect("ca");
        let roots =
            parse_certificates(read(&files.ca_cert).expect("ca").as_bytes(), "ca").expect("roots");
        let verifier = DeviceCaVerifier::new(&roots).expect("verifier");

        let issued = issue_device_certificate(dir.path(), "sensor-7").expect("issued");
        let chain = parse_certificates(issued.cert_pem.as_bytes(), "device").expect("pem");
        let cert = ClientCertificate::from_chain(&chain).expect("parsed");
        assert_eq!(cert.common_name.as_deref(), Some("sensor-7"));
        verifier.verify(&cert).expect("chains to the CA");

        let own = self_signed_device_certificate("sensor-7").expect("self-signed");
        let chain = parse_certificates(own.cert_pem.as_bytes(), "device").expect("pem");
        let cert = ClientCertificate::from_chain(&chain).expect("parsed");
        assert!(verifier.verify(&cert).is_err());
        assert_eq!(cert.sha1.len(), 40);
        assert!(cert.has_thumbprint(&cert.sha256.to_ascii_lowercase()));
    }
}
