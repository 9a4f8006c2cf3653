//! Service SAS tokens as the Azure IoT service SDKs send them
//! (`SharedAccessSignature sr={host}&sig=…&se=…&skn={policy}`), verified as
//! hub-protocol.md §1.3 says: fields in any order, the signature computed over the raw `sr`
//! text and compared in constant time with the URL-decoded `sig`, `se` in the future, the
//! decoded `sr` naming this hub (host, with the service port when one is given), `skn`
//! naming the policy whose key signed it. crates/hub verifies device tokens; the service
//! side needs policy lookups and host-with-port resources, so it has this small verifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::Sha256;

/// A token read from an `Authorization` header, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceToken {
    /// `sr` exactly as sent (the signature covers this text).
    pub raw_resource: String,
    /// `sr` URL-decoded.
    pub resource: String,
    /// `sig` URL-decoded: base64 of the HMAC.
    pub signature: String,
    /// `se`: expiry in seconds since the Unix epoch.
    pub expiry: i64,
    /// `skn`: the policy name.
    pub policy: String,
}

/// Why a token was refused. The wording goes into IoT Hub's 401 body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no Authorization header; send a SharedAccessSignature signed with a policy key")]
    Missing,
    #[error("the Authorization header is not a SharedAccessSignature token: {0}")]
    Malformed(String),
    #[error("the token expired at {0} (seconds since 1970)")]
    Expired(i64),
    #[error("the token's resource {0:?} is not this hub")]
    WrongHub(String),
    #[error("no shared access policy {0:?}")]
    UnknownPolicy(String),
    #[error("the token's signature does not match the policy's keys")]
    BadSignature,
}

impl ServiceToken {
    /// Reads a header value; refuses a token without `skn`, which service tokens need.
    pub fn parse(header: &str) -> Result<ServiceToken, TokenError> {
        let rest = header
            .trim()
            .strip_prefix("SharedAccessSignature ")
            .ok_or_else(|| TokenError::Malformed("it must start with \"SharedAccessSignature \"".into()))?;
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for field in rest.trim().split('&') {
            let Some((name, value)) = field.split_once('=') else {
                return Err(TokenError::Malformed(format!("field {field:?} has no '='")));
            };
            let slot = match name {
                "sr" => &mut sr,
                "sig" => &mut sig,
                "se" => &mut se,
                "skn" => &mut skn,
                // Unknown fields are ignored, as IoT Hub ignores them.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(TokenError::Malformed(format!("field {name} appears twice")));
            }
        }
        let missing = |name: &str| TokenError::Malformed(format!("field {name} is missing"));
        let raw_resource = sr.ok_or_else(|| missing("sr"))?;
        let decode = |name: &str, text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| TokenError::Malformed(format!("field {name} is not UTF-8 once decoded")))
        };
        let expiry_text = se.ok_or_else(|| missing("se"))?;
        let expiry = expiry_text
            .parse::<i64>()
            .map_err(|_| TokenError::Malformed(format!("se {expiry_text:?} is not a whole number")))?;
        Ok(ServiceToken {
            resource: decode("sr", raw_resource)?,
            raw_resource: raw_resource.to_owned(),
            signature: decode("sig", sig.ok_or_else(|| missing("sig"))?)?,
            expiry,
            policy: decode("skn", skn.ok_or_else(|| missing("skn (the policy name)"))?)?,
        })
    }

    /// Checks expiry and resource: `sr` is one of `host_names` (any case), alone or with
    /// `:port` equal to the port the service listens on (443 when absent from `sr`), and
    /// nothing after it but an optional path the SDKs never send.
    pub fn check_scope(&self, now: i64, host_names: &[String], port: u16) -> Result<(), TokenError> {
        if self.expiry <= now {
            return Err(TokenError::Expired(self.expiry));
        }
        let host_part = self.resource.split('/').next().unwrap_or_default();
        let (host, given_port) = match host_part.rsplit_once(':') {
            Some((host, p)) => (host, p.parse::<u16>().ok()),
            None => (host_part, Some(443)),
        };
        let host_known = host_names.iter().any(|h| h.eq_ignore_ascii_case(host));
        if host_known && given_port == Some(port) {
            Ok(())
        } else {
            Err(TokenError::WrongHub(self.resource.clone()))
        }
    }

    /// Whether the signature is `base64(HMAC-SHA256(base64decode(key), raw sr + "\n" + se))`
    /// for one of `keys` (constant-time comparison).
    pub fn signed_by_any(&self, keys: &[&str]) -> bool {
        let Ok(given) = BASE64.decode(self.signature.as_bytes()) else {
            return false;
        };
        keys.iter().any(|key| {
            let Ok(key) = BASE64.decode(key.as_bytes()) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
                return false;
            };
            mac.update(format!("{}\n{}", self.raw_resource, self.expiry).as_bytes());
            mac.verify_slice(&given).is_ok()
        })
    }
}

/// A service token as the SDK makes one: `sr` is `quote_plus(host)`, `sig` keeps `/`.
pub fn service_token(host: &str, policy: &str, key: &str, expiry: i64) -> Result<String, TokenError> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SR: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    const SIG: &AsciiSet = &SR.remove(b'/');
    let raw_resource = utf8_percent_encode(host, SR).to_string();
    let key = BASE64
        .decode(key.as_bytes())
        .map_err(|_| TokenError::Malformed("the key is not base64".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| TokenError::BadSignature)?;
    mac.update(format!("{raw_resource}\n{expiry}").as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    Ok(format!(
        "SharedAccessSignature sr={raw_resource}&sig={}&se={expiry}&skn={}",
        utf8_percent_encode(&signature, SIG),
        utf8_percent_encode(policy, SR)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VydmljZS1wb2xpY3kta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5";

    /// The observed token of hub-protocol.md §1.3 / §2.2.
    const OBSERVED: &str = "SharedAccessSignature sr=localhost%3A8443&sig=t23EpVE8/q04B/ANqD4A/DXrkuXiivi6GHJ59sU3lXY%3D&se=1795881896&skn=iothubowner";

    #[test]
    fn the_observed_sdk_token_verifies() {
        let token = ServiceToken::parse(OBSERVED).expect("parses");
        assert_eq!(token.resource, "localhost:8443");
        assert_eq!(token.policy, "iothubowner");
        assert!(token.signed_by_any(&[KEY]));
        let hosts = vec!["LOCALHOST".to_owned()];
        assert_eq!(token.check_scope(1_795_881_000, &hosts, 8443), Ok(()));
        assert_eq!(
            token.check_scope(1_795_881_896, &hosts, 8443),
            Err(TokenError::Expired(1_795_881_896))
        );
        assert!(token.check_scope(0, &hosts, 9443).is_err());
        assert!(token.check_scope(0, &["other".to_owned()], 8443).is_err());
    }

    #[test]
    fn field_order_does_not_matter_and_tampering_does() {
        let reordered = "SharedAccessSignature skn=iothubowner&se=1795881896&sr=localhost%3A8443&sig=t23EpVE8%2Fq04B%2FANqD4A%2FDXrkuXiivi6GHJ59sU3lXY%3D";
        assert!(ServiceToken::parse(reordered).expect("parses").signed_by_any(&[KEY]));
        let later = OBSERVED.replace("1795881896", "1795881897");
        assert!(!ServiceToken::parse(&later).expect("parses").signed_by_any(&[KEY]));
        // The signature is over the raw sr: an equivalent but differently encoded sr fails.
        let recoded = OBSERVED.replace("localhost%3A8443", "localhost%3a8443");
        assert!(!ServiceToken::parse(&recoded).expect("parses").signed_by_any(&[KEY]));
    }

    #[test]
    fn generated_tokens_match_the_sdk_format() {
        let token = service_token("localhost:8443", "iothubowner", KEY, 1_795_881_896).expect("token");
        assert_eq!(token, OBSERVED);
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        assert!(matches!(ServiceToken::parse("Bearer x"), Err(TokenError::Malformed(_))));
        let no_skn = "SharedAccessSignature sr=h&sig=x&se=1";
        assert!(ServiceToken::parse(no_skn).expect_err("no skn").to_string().contains("skn"));
        let bad_se = "SharedAccessSignature sr=h&sig=x&se=soon&skn=p";
        assert!(ServiceToken::parse(bad_se).expect_err("bad se").to_string().contains("soon"));
    }
}
