//! What can go wrong talking to a repository, as data a caller can act on: a missing model,
//! refused credentials, a refused push with its problem document, or a transport failure
//! (which [`ClientError::is_retryable`] tells apart from permanent ones).

use std::path::PathBuf;

use serde::Deserialize;

/// An RFC 9457 problem document as twinhub answers refusals.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Problem {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    /// Each validation issue, when the refusal is about model content.
    #[serde(default)]
    pub errors: Vec<ProblemIssue>,
}

/// One issue of a refused push: what is wrong and where, in the pushed content.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProblemIssue {
    pub code: String,
    pub message: String,
    pub element: Option<String>,
    /// Index of the model in the request (counting across files).
    pub document: Option<usize>,
    pub file: Option<String>,
    pub pointer: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Why a repository request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{location:?} is not a repository location: {reason}")]
    InvalidLocation { location: String, reason: String },
    #[error("{0:?} is not a valid DTMI (expected e.g. dtmi:com:example:Thermostat;1)")]
    InvalidDtmi(String),
    #[error("{dtmi} was not found in the repository at {location}")]
    NotFound { dtmi: String, location: String },
    #[error(
        "{url} holds a model whose @id is {found}, not the requested {expected}; DTMIs are case-sensitive"
    )]
    WrongCasing {
        url: String,
        expected: String,
        found: String,
    },
    #[error("{url} answered {status}: the credentials were refused{}", detail_suffix(.detail))]
    Unauthorized {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{url} refused the request with {status}: {}", .problem.detail)]
    Refused {
        url: String,
        status: u16,
        problem: Box<Problem>,
    },
    #[error("{url} answered {status}{}", detail_suffix(.detail))]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("request to {url} failed: {message}")]
    Transport {
        url: String,
        message: String,
        retryable: bool,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url} is not the JSON expected: {message}")]
    InvalidContent { url: String, message: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl ClientError {
    /// Whether trying again later may succeed: transport failures, timeouts, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { retryable, .. } => *retryable,
            Self::Status { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    /// Whether the repository refused the caller's credentials (401 or 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}

pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}
