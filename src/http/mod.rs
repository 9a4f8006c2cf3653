//! The HTTP edge shared by every handler: errors as RFC 9457 problem responses (`error`),
//! credentials read from requests and the [`Caller`](crate::auth::Caller) extractor (`auth`),
//! JSON bodies within limits (`body`) and the audit of refused writes (`refusals`). Nothing
//! below this layer imports actix-web.

pub mod auth;
pub mod body;
pub mod error;
pub mod refusals;

use crate::config::Settings;

/// What handlers read from the settings, shared as `web::Data<Site>`.
#[derive(Clone, Debug)]
pub struct Site {
    /// Shown on the home page.
    pub repository_name: String,
    /// The externally visible base URL, when set (OIDC redirect URIs).
    pub public_url: Option<String>,
    /// The largest request body a push or import may send.
    pub max_body_bytes: usize,
    /// How long clients may cache DMR listings (`Cache-Control: max-age`).
    pub listing_max_age_seconds: u32,
}

impl Site {
    pub fn new(settings: &Settings) -> Self {
        Self {
            repository_name: settings.repository_name.clone(),
            public_url: settings.public_url.clone(),
            max_body_bytes: settings.max_body_bytes,
            listing_max_age_seconds: settings.listing_max_age_seconds,
        }
    }
}
