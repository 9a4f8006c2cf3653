use rumqttc::{ConnectReturnCode, ConnectionError};
use twinhub_hub::{Authentication, IdentityKey, IdentityStatus, devca, tls};

use crate::support::{Device, TestHub, user_name};

fn thumbprint(pem: &str) -> tls::ClientCertificate {
    let chain = tls::parse_certificates(pem.as_bytes(), "device").expect("pem");
    tls::ClientCertificate::from_chain(&chain).expect("parsed")
}

fn refused(error: ConnectionError) -> ConnectReturnCode {
    match error {
        ConnectionError::ConnectionRefused(code) => code,
        other => panic!("expected a refused CONNECT, got {other}"),
    }
}

#[tokio::test]
async fn a_self_signed_device_authenticates_by_its_thumbprint() {
    let hub = TestHub::start(70).await;
    let cert = devca::self_signed_device_certificate("thermostat-x509").expect("cert");
    let key = IdentityKey::device("thermostat-x509").expect("id");
    let auth = Authentication::SelfSigned {
        primary_thumbprint: thumbprint(&cert.cert_pem).sha1.to_ascii_lowercase(),
        secondary_thumbprint: None,
    };
    hub.hub
        .create_identity(key.clone(), Some(auth), IdentityStatus::Enabled)
        .await
        .expect("create");
    let user = user_name(&key, None);
    let pair = Some((cert.cert_pem.as_str(), cert.key_pem.as_str()));
    let (_device, ack) = Device::connect(hub.options(&key, &user, "", pair)).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);

    // Another certificate, or none, does not prove this identity.
    let other = devca::self_signed_device_certificate("thermostat-x509").expect("cert");
    let pair = Some((other.cert_pem.as_str(), other.key_pem.as_str()));
    let mut device = Device::start(hub.options(&key, &user, "", pair));
    assert_eq!(
        refused(device.connack().await.expect_err("other cert")),
        ConnectReturnCode::NotAuthorized
    );
    let mut device = Device::start(hub.options(&key, &user, "", None));
    assert_eq!(
        refused(device.connack().await.expect_err("no cert")),
        ConnectReturnCode::NotAuthorized
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_ca_signed_device_authenticates_by_its_chain_and_cn() {
    let hub = TestHub::start(71).await;
    let key = IdentityKey::device("sensor-ca").expect("id");
    hub.hub
        .create_identity(
            key.clone(),
            Some(Authentication::CertificateAuthority),
            IdentityStatus::Enabled,
        )
        .await
        .expect("create");
    let user = user_name(&key, None);
    let cert = devca::issue_device_certificate(hub.dir.path(), "sensor-ca").expect("issued");
    let pair = Some((cert.cert_pem.as_str(), cert.key_pem.as_str()));
    let (_device, ack) = Device::connect(hub.options(&key, &user, "", pair)).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);

    let wrong_cn = devca::issue_device_certificate(hub.dir.path(), "someone-else").expect("issued");
    let pair = Some((wrong_cn.cert_pem.as_str(), wrong_cn.key_pem.as_str()));
    let mut device = Device::start(hub.options(&key, &user, "", pair));
    assert_eq!(
        refused(device.connack().await.expect_err("CN")),
        ConnectReturnCode::NotAuthorized
    );

    let untrusted = devca::self_signed_device_certificate("sensor-ca").expect("cert");
    let pair = Some((untrusted.cert_pem.as_str(), untrusted.key_pem.as_str()));
    let mut device = Device::start(hub.options(&key, &user, "", pair));
    assert_eq!(
        refused(device.connack().await.expect_err("untrusted")),
        ConnectReturnCode::NotAuthorized
    );
    hub.stop().await;
}
