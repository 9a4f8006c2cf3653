//! Service SAS tokens (`SharedAccessSignature sr={host}&sig=…&se=…&skn={policy}`), checked
//! with crates/hub's token parser and signature check (hub-protocol.md §1.3: raw `sr`
//! signed, `sig` URL-decoded, constant-time comparison, any field order). What is particular
//! to the service side lives here: `skn` is required and names a shared access policy, and
//! the decoded `sr` is the hub's host *with the service port* when it is not 443
//! (`localhost:8443`), since the service SDK signs `HostName` verbatim.

use twinhub_hub::sas::{SasError, SasToken};

/// Why a token was refused. The wording goes into IoT Hub's 401 body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no Authorization header; send a SharedAccessSignature signed with a policy key")]
    Missing,
    #[error("{0}")]
    Invalid(#[from] SasError),
    #[error(
        "the token names no policy (skn); service tokens are signed with a shared access policy key"
    )]
    NoPolicy,
    #[error("the token's resource {0:?} is not this hub's service endpoint")]
    WrongHub(String),
    #[error("no shared access policy {0:?}")]
    UnknownPolicy(String),
    #[error("the token's signature does not match the keys of policy {0:?}")]
    BadSignature(String),
}

/// A parsed service token whose scope (expiry, hub) has been checked; the signature is
/// checked against the policy's keys with [`ServiceToken::signed_by_any`].
#[derive(Debug)]
pub struct ServiceToken {
    token: SasToken,
    /// The policy name (`skn`).
    pub policy: String,
}

impl ServiceToken {
    /// Parses a token and checks expiry at `now` and that `sr` is one of `host_names` (any
    /// case) with `:port` unless `port` is 443 (where it may also be absent).
    pub fn parse(
        header: &str,
        now: u64,
        host_names: &[String],
        port: u16,
    ) -> Result<ServiceToken, TokenError> {
        let token = SasToken::parse(header)?;
        let policy = token.key_name.clone().ok_or(TokenError::NoPolicy)?;
        let resource = token.decoded_resource()?;
        let host_part = resource.strip_suffix('/').unwrap_or(&resource);
        let (host, given_port) = match host_part.rsplit_once(':') {
            Some((host, p)) => (host, p.parse::<u16>().ok()),
            None => (host_part, Some(443)),
        };
        if !host_names.iter().any(|h| h.eq_ignore_ascii_case(host)) || given_port != Some(port) {
            return Err(TokenError::WrongHub(resource));
        }
        token.check_expiry(now)?;
        Ok(ServiceToken { token, policy })
    }

    /// Whether one of `keys` (base64) signed the token.
    pub fn signed_by_any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.token.verify_signature(k).is_ok())
    }
}

/// A service token as the SDK makes one, valid until `expiry` (Unix seconds).
pub fn service_token(host: &str, policy: &str, key: &str, expiry: u64) -> Result<String, SasError> {
    twinhub_hub::sas::generate_token(host, key, expiry, Some(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VydmljZS1wb2xpY3kta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5";

    /// The token the service SDK sent in hub-protocol.md §2.2 (`sig` keeps its `/`).
    const OBSERVED: &str = "SharedAccessSignature sr=localhost%3A8443&sig=t23EpVE8/q04B/ANqD4A/DXrkuXiivi6GHJ59sU3lXY%3D&se=1795881896&skn=iothubowner";

    fn hosts() -> Vec<String> {
        vec!["LOCALHOST".to_owned()]
    }

    #[test]
    fn the_observed_sdk_token_verifies_for_host_and_port() {
        let token = ServiceToken::parse(OBSERVED, 1_795_881_000, &hosts(), 8443).expect("valid");
        assert_eq!(token.policy, "iothubowner");
        assert!(token.signed_by_any(&["AAAA", KEY]));
        assert!(!token.signed_by_any(&["c2VydmljZQ=="]));
    }

    #[test]
    fn expired_tokens_and_other_hubs_are_refused() {
        assert!(matches!(
            ServiceToken::parse(OBSERVED, 1_795_881_896, &hosts(), 8443),
            Err(TokenError::Invalid(SasError::Expired { .. }))
        ));
        assert!(matches!(
            ServiceToken::parse(OBSERVED, 0, &hosts(), 9443),
            Err(TokenError::WrongHub(_))
        ));
        assert!(matches!(
            ServiceToken::parse(OBSERVED, 0, &["hub.example".to_owned()], 8443),
            Err(TokenError::WrongHub(_))
        ));
    }

    #[test]
    fn device_tokens_are_not_service_tokens() {
        let device = "SharedAccessSignature sr=localhost%2Fdevices%2Fd&sig=x&se=1795881896";
        assert!(matches!(
            ServiceToken::parse(device, 0, &hosts(), 443),
            Err(TokenError::NoPolicy)
        ));
    }

    #[test]
    fn generated_tokens_verify() {
        let text = service_token("localhost:8443", "service", KEY, 1_795_881_896).expect("token");
        let token = ServiceToken::parse(&text, 0, &hosts(), 8443).expect("valid");
        assert!(token.signed_by_any(&[KEY]));
        assert_eq!(token.policy, "service");
    }
}
