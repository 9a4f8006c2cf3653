//! Shared access signature tokens, verified exactly as hub-protocol.md §1.3 measured the Azure
//! SDKs: fields in any order (split on `&`, each on its first `=`), the HMAC-SHA256 computed over
//! the **raw** `sr` as it appears in the token (SDKs percent-encode differently, so it is never
//! decoded and re-encoded), `sig` URL-decoded and compared in constant time, `se` in the
//! future, and the decoded `sr` naming the identity under one of the hub's host names
//! (case-insensitively). Token generation follows the device SDK (`quote(.., safe="")` of the
//! resource and of the signature), for the CLI and the tests.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use ring::hmac;

use crate::identity::IdentityKey;

/// The scheme word in front of every token (and of the MQTT password).
pub const SAS_PREFIX: &str = "SharedAccessSignature ";

/// What Python's `urllib.parse.quote(s, safe="")` leaves alone: letters, digits and `_.-~`.
const QUOTE_SAFE_NOTHING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Why a token was refused. The wording never repeats the signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SasError {
    #[error("the token does not start with \"SharedAccessSignature \"")]
    MissingPrefix,
    #[error("the token field {field:?} has no '='; fields are name=value joined by '&'")]
    MalformedField { field: String },
    #[error("the token has field {0:?} twice")]
    DuplicateField(String),
    #[error("the token lacks its {0:?} field")]
    MissingField(&'static str),
    #[error("the token's se {0:?} is not a Unix time in seconds")]
    BadExpiry(String),
    #[error("the token's sig is not base64 after URL-decoding")]
    BadSignatureEncoding,
    #[error("the token's sr is not valid percent-encoded UTF-8")]
    BadResourceEncoding,
    #[error("the signing key is not base64")]
    BadKey,
    #[error("the token's signature does not match any of the identity's keys")]
    SignatureMismatch,
    #[error("the token expired at {expiry} (now {now}); get a new one")]
    Expired { expiry: u64, now: u64 },
    #[error("the token is for host {host:?}, which is not one of this hub's names")]
    WrongHost { host: String },
    #[error("the token is for {resource:?}, not for {expected:?}")]
    WrongResource { resource: String, expected: String },
    #[error("the token names policy {0:?}; this hub accepts device and module keys only")]
    PolicyNotAccepted(String),
}

/// A parsed token. `resource` is `sr` exactly as it appeared (still percent-encoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasToken {
    pub resource: String,
    /// The signature, URL-decoded (base64 text).
    pub signature: String,
    pub expiry: u64,
    pub key_name: Option<String>,
}

impl SasToken {
    /// Parses `SharedAccessSignature sr=..&sig=..&se=..[&skn=..]`, fields in any order.
    pub fn parse(token: &str) -> Result<SasToken, SasError> {
        let fields = token
            .trim()
            .strip_prefix(SAS_PREFIX.trim_end())
            .ok_or(SasError::MissingPrefix)?
            .trim_start();
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for field in fields.split('&') {
            let (name, value) = field
                .split_once('=')
                .ok_or_else(|| SasError::MalformedField {
                    field: field.chars().take(16).collect(),
                })?;
            let slot = match name {
                "sr" => &mut sr,
                "sig" => &mut sig,
                "se" => &mut se,
                "skn" => &mut skn,
                // Unknown fields are tolerated, as IoT Hub does.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(SasError::DuplicateField(name.to_owned()));
            }
        }
        let resource = sr.ok_or(SasError::MissingField("sr"))?.to_owned();
        let sig = sig.ok_or(SasError::MissingField("sig"))?;
        let se = se.ok_or(SasError::MissingField("se"))?;
        let signature = percent_decode_str(sig)
            .decode_utf8()
            .map_err(|_| SasError::BadSignatureEncoding)?
            .into_owned();
        let expiry = se
            .parse::<u64>()
            .map_err(|_| SasError::BadExpiry(se.chars().take(24).collect()))?;
        let key_name = skn
            .map(|k| percent_decode_str(k).decode_utf8_lossy().into_owned())
            .filter(|k| !k.is_empty());
        Ok(SasToken {
            resource,
            signature,
            expiry,
            key_name,
        })
    }

    /// The resource URI, percent-decoded (`localhost/devices/thermostat-01`).
    pub fn decoded_resource(&self) -> Result<String, SasError> {
        percent_decode_str(&self.resource)
            .decode_utf8()
            .map(Cow::into_owned)
            .map_err(|_| SasError::BadResourceEncoding)
    }

    /// Checks the signature against one base64 key, in constant time.
    pub fn verify_signature(&self, key_base64: &str) -> Result<(), SasError> {
        let signature = BASE64
            .decode(self.signature.as_bytes())
            .map_err(|_| SasError::BadSignatureEncoding)?;
        let key = signing_key(key_base64)?;
        hmac::verify(&key, &signed_text(&self.resource, self.expiry), &signature)
            .map_err(|_| SasError::SignatureMismatch)
    }

    /// Checks that the token is unexpired at `now` (Unix seconds).
    pub fn check_expiry(&self, now: u64) -> Result<(), SasError> {
        if self.expiry > now {
            Ok(())
        } else {
            Err(SasError::Expired {
                expiry: self.expiry,
                now,
            })
        }
    }

    /// Checks that the decoded `sr` is `{host}/devices/{id}[/modules/{mid}]` for one of
    /// `host_names` (case-insensitively) and the identity `key`.
    pub fn check_resource(&self, key: &IdentityKey, host_names: &[String]) -> Result<(), SasError> {
        let resource = self.decoded_resource()?;
        let trimmed = resource.strip_suffix('/').unwrap_or(&resource);
        let expected = key.resource_path();
        let (host, path) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if !host_names.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(SasError::WrongHost {
                host: host.to_owned(),
            });
        }
        if path != expected {
            return Err(SasError::WrongResource {
                resource: resource.clone(),
                expected: format!("{host}/{expected}"),
            });
        }
        Ok(())
    }
}

/// Verifies a device or module token fully: parse, resource, signature against either key,
/// expiry. Policy tokens (`skn`) are refused: the hub has no shared access policies.
pub fn verify_identity_token(
    token: &str,
    key: &IdentityKey,
    keys: &[&str],
    host_names: &[String],
    now: u64,
) -> Result<SasToken, SasError> {
    let token = SasToken::parse(token)?;
    if let Some(name) = &token.key_name {
        return Err(SasError::PolicyNotAccepted(name.clone()));
    }
    token.check_resource(key, host_names)?;
    if !keys.iter().any(|k| token.verify_signature(k).is_ok()) {
        return Err(SasError::SignatureMismatch);
    }
    token.check_expiry(now)?;
    Ok(token)
}

/// A token for `resource_uri` (unencoded, e.g. `localhost/devices/d1`) signed with a base64
/// key, encoded as the device SDK does.
pub fn generate_token(
    resource_uri: &str,
    key_base64: &str,
    expiry: u64,
    key_name: Option<&str>,
) -> Result<String, SasError> {
    let sr = utf8_percent_encode(resource_uri, QUOTE_SAFE_NOTHING).to_string();
    let key = signing_key(key_base64)?;
    let tag = hmac::sign(&key, &signed_text(&sr, expiry));
    let sig = BASE64.encode(tag.as_ref());
    let sig = utf8_percent_encode(&sig, QUOTE_SAFE_NOTHING);
    let mut token = format!("{SAS_PREFIX}sr={sr}&sig={sig}&se={expiry}");
    if let Some(name) = key_name {
        token.push_str("&skn=");
        token.push_str(&utf8_percent_encode(name, QUOTE_SAFE_NOTHING).to_string());
    }
    Ok(token)
}

/// A device or module token for `host`, valid until `expiry` (Unix seconds).
pub fn identity_token(
    host: &str,
    key: &IdentityKey,
    key_base64: &str,
    expiry: u64,
) -> Result<String, SasError> {
    generate_token(
        &format!("{host}/{}", key.resource_path()),
        key_base64,
        expiry,
        None,
    )
}

fn signing_key(key_base64: &str) -> Result<hmac::Key, SasError> {
    let bytes = BASE64
        .decode(key_base64.trim())
        .map_err(|_| SasError::BadKey)?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

fn signed_text(raw_resource: &str, expiry: u64) -> Vec<u8> {
    format!("{raw_resource}\n{expiry}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const DEVICE_TOKEN: &str = "SharedAccessSignature sr=localhost%2Fdevices%2Fthermostat-01\
        &sig=419m5DGHGecFY8y6cvTaUAj3jrEqIty2sjBQOjLP%2Bwo%3D&se=1795881845";
    const SERVICE_KEY: &str = "c2VydmljZS1wb2xpY3kta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5";

    fn hosts() -> Vec<String> {
        vec!["localhost".into(), "hub.example.com".into()]
    }

    fn thermostat() -> IdentityKey {
        IdentityKey::device("thermostat-01").expect("valid")
    }

    #[test]
    fn the_observed_device_token_verifies() {
        let token = verify_identity_token(
            DEVICE_TOKEN,
            &thermostat(),
            &[DEVICE_KEY],
            &hosts(),
            1_795_881_000,
        )
        .expect("valid token");
        assert_eq!(
            token.signature,
            "419m5DGHGecFY8y6cvTaUAj3jrEqIty2sjBQOjLP+wo="
        );
        assert_eq!(token.expiry, 1_795_881_845);
    }

    #[test]
    fn the_service_vector_signs_the_raw_sr_and_takes_a_literal_slash_in_sig() {
        let token = SasToken::parse(
            "SharedAccessSignature sr=localhost%3A8443\
             &sig=t23EpVE8/q04B/ANqD4A/DXrkuXiivi6GHJ59sU3lXY%3D&se=1795881896&skn=iothubowner",
        )
        .expect("parses");
        assert_eq!(token.key_name.as_deref(), Some("iothubowner"));
        token.verify_signature(SERVICE_KEY).expect("signature");
        assert_eq!(
            token.verify_signature(DEVICE_KEY),
            Err(SasError::SignatureMismatch)
        );
    }

    #[test]
    fn field_order_does_not_matter() {
        let reordered = "SharedAccessSignature se=1795881845\
            &sig=419m5DGHGecFY8y6cvTaUAj3jrEqIty2sjBQOjLP%2Bwo%3D&sr=localhost%2Fdevices%2Fthermostat-01";
        verify_identity_token(reordered, &thermostat(), &[DEVICE_KEY], &hosts(), 1).expect("valid");
    }

    #[test]
    fn the_secondary_key_is_tried_too() {
        let other = crate::generate_symmetric_key();
        verify_identity_token(
            DEVICE_TOKEN,
            &thermostat(),
            &[&other, DEVICE_KEY],
            &hosts(),
            1,
        )
        .expect("valid with the second key");
        assert_eq!(
            verify_identity_token(DEVICE_TOKEN, &thermostat(), &[&other], &hosts(), 1),
            Err(SasError::SignatureMismatch)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        assert_eq!(
            verify_identity_token(
                DEVICE_TOKEN,
                &thermostat(),
                &[DEVICE_KEY],
                &hosts(),
                1_795_881_845
            ),
            Err(SasError::Expired {
                expiry: 1_795_881_845,
                now: 1_795_881_845
            })
        );
    }

    #[test]
    fn a_token_for_another_device_or_host_is_refused() {
        let other = IdentityKey::device("thermostat-02").expect("valid");
        assert!(matches!(
            verify_identity_token(DEVICE_TOKEN, &other, &[DEVICE_KEY], &hosts(), 1),
            Err(SasError::WrongResource { .. })
        ));
        assert_eq!(
            verify_identity_token(
                DEVICE_TOKEN,
                &thermostat(),
                &[DEVICE_KEY],
                &["hub.example.com".to_owned()],
                1
            ),
            Err(SasError::WrongHost {
                host: "localhost".into()
            })
        );
    }

    #[test]
    fn host_names_compare_case_insensitively() {
        let token = identity_token("LocalHost", &thermostat(), DEVICE_KEY, 99).expect("token");
        verify_identity_token(&token, &thermostat(), &[DEVICE_KEY], &hosts(), 1).expect("valid");
    }

    #[test]
    fn a_tampered_signature_or_expiry_is_refused() {
        let tampered = DEVICE_TOKEN.replace("se=1795881845", "se=1795881846");
        assert_eq!(
            verify_identity_token(&tampered, &thermostat(), &[DEVICE_KEY], &hosts(), 1),
            Err(SasError::SignatureMismatch)
        );
        let bad_sig = DEVICE_TOKEN.replace("419m", "419n");
        assert_eq!(
            verify_identity_token(&bad_sig, &thermostat(), &[DEVICE_KEY], &hosts(), 1),
            Err(SasError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        assert_eq!(
            SasToken::parse("sr=a&sig=b&se=1"),
            Err(SasError::MissingPrefix)
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&se=1"),
            Err(SasError::MissingField("sig"))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sr=b&sig=c&se=1"),
            Err(SasError::DuplicateField("sr".into()))
        );
        assert!(matches!(
            SasToken::parse("SharedAccessSignature sr=a&sig=c&se=soon"),
            Err(SasError::BadExpiry(_))
        ));
        assert!(matches!(
            SasToken::parse("SharedAccessSignature sr=a&junk&se=1"),
            Err(SasError::MalformedField { .. })
        ));
    }

    #[test]
    fn policy_tokens_are_not_device_credentials() {
        let token = generate_token(
            "localhost/devices/thermostat-01",
            DEVICE_KEY,
            1_795_881_845,
            Some("iothubowner"),
        )
        .expect("token");
        assert_eq!(
            verify_identity_token(&token, &thermostat(), &[DEVICE_KEY], &hosts(), 1),
            Err(SasError::PolicyNotAccepted("iothubowner".into()))
        );
    }

    #[test]
    fn generation_reproduces_the_device_sdk_token_byte_for_byte() {
        let token =
            identity_token("localhost", &thermostat(), DEVICE_KEY, 1_795_881_845).expect("token");
        assert_eq!(token, DEVICE_TOKEN);
        let module = IdentityKey::module("edge-01", "filter").expect("valid");
        let token = identity_token("localhost", &module, DEVICE_KEY, 5).expect("token");
        assert!(token.contains("sr=localhost%2Fdevices%2Fedge-01%2Fmodules%2Ffilter&"));
        verify_identity_token(&token, &module, &[DEVICE_KEY], &hosts(), 1).expect("valid");
    }
}
