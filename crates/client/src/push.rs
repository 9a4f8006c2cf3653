//! twinhub's push API: `POST /api/v1/imports` with files, stored all-or-nothing per request.

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Problem};
use crate::repository::RepositoryClient;
use crate::transport::status_error;

/// One file of an import: a name used in error locations, and its exact text (one interface
/// object or an array of them).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ImportFile {
    pub path: String,
    pub content: String,
}

/// How the server applies its rules to an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Admit models that break only the repository's conventions, stored with warnings
    /// (`allowLegacy`; the server accepts it from admins only).
    pub allow_legacy: bool,
}

/// What one import request stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// DTMIs stored by this request, dependencies first.
    pub created: Vec<String>,
    /// DTMIs that were already stored with identical content.
    pub unchanged: Vec<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    created: Vec<Created>,
    #[serde(default)]
    unchanged: Vec<String>,
}

#[derive(Deserialize)]
struct Created {
    dtmi: String,
}

impl RepositoryClient {
    /// Stores `files` on a twinhub server as one all-or-nothing push. Re-sending content that is
    /// already stored identically succeeds and lists it as unchanged. A refusal (invalid model,
    /// conflict with stored content, limits) is [`ClientError::Refused`] with the server's
    /// problem document, whose `errors` locate each issue in the files as sent.
    pub async fn import_files(&self, files: &[ImportFile]) -> Result<PushOutcome, ClientError> {
        self.import_files_with(files, ImportOptions::default())
            .await
    }

    /// [`import_files`](Self::import_files) with `options`.
    pub async fn import_files_with(
        &self,
        files: &[ImportFile],
        options: ImportOptions,
    ) -> Result<PushOutcome, ClientError> {
        let body = if options.allow_legacy {
            serde_json::json!({ "files": files, "allowLegacy": true })
        } else {
            serde_json::json!({ "files": files })
        };
        let (status, text) = self.transport().post_json("api/v1/imports", &body).await?;
        let url = format!("{}/api/v1/imports", self.location());
        match status {
            200 | 201 => {
                let answer: Answer =
                    serde_json::from_str(&text).map_err(|e| ClientError::InvalidContent {
                        url,
                        message: e.to_string(),
                    })?;
                Ok(PushOutcome {
                    created: answer.created.into_iter().map(|c| c.dtmi).collect(),
                    unchanged: answer.unchanged,
                })
            }
            400..=499 => match serde_json::from_str::<Problem>(&text) {
                Ok(problem) => Err(ClientError::Refused {
                    url,
                    status,
                    problem: Box::new(problem),
                }),
                Err(_) => Err(status_error(&url, status, &text)),
            },
            _ => Err(status_error(&url, status, &text)),
        }
    }
}
