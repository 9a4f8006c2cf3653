//! Who is calling: the bootstrap admin token (`Authorization: Bearer …`) is the only credential
//! until role-based access control lands. Reads of the DMR tree and the API are anonymous;
//! every write asks for an admin here, in one explicit call per handler.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::config::Secret;
use crate::error::ApiError;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Recorded as `pushedBy` and in logs.
    pub name: String,
}

/// The credentials this instance accepts.
#[derive(Clone, Debug)]
pub struct Authenticator {
    admin_token: Option<Secret>,
}

impl Authenticator {
    pub fn new(admin_token: Option<Secret>) -> Self {
        Self { admin_token }
    }

    /// The caller, who must hold full rights.
    pub fn require_admin(&self, request: &HttpRequest) -> Result<Principal, ApiError> {
        let Some(expected) = &self.admin_token else {
            return Err(ApiError::unauthorized(
                "this instance accepts no writes: start it with --admin-token (or TWINHUB_ADMIN_TOKEN) and send that token as Authorization: Bearer <token>",
            ));
        };
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            None => Err(ApiError::unauthorized(
                "this request changes the repository: send the admin token as Authorization: Bearer <token>",
            )),
            Some(token) if constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) => {
                Ok(Principal {
                    name: "admin".to_owned(),
                })
            }
            Some(_) => Err(ApiError::unauthorized(
                "the bearer token is not valid for this instance",
            )),
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_the_configured_token_grants_admin_rights() {
        let auth = Authenticator::new(Some(Secret::new("0123456789abcdef")));
        let good = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer 0123456789abcdef"))
            .to_http_request();
        assert_eq!(
            auth.require_admin(&good).map(|p| p.name).ok().as_deref(),
            Some("admin")
        );
        let wrong = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer 0123456789abcdeX"))
            .to_http_request();
        assert!(auth.require_admin(&wrong).is_err());
        assert!(
            auth.require_admin(&TestRequest::default().to_http_request())
                .is_err()
        );
    }

    #[test]
    fn without_a_configured_token_nobody_can_write() {
        let auth = Authenticator::new(None);
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer anything-at-all-here"))
            .to_http_request();
        assert!(auth.require_admin(&request).is_err());
    }
}
