//! Where offline validation finds models a batch references but does not contain: `--deps`
//! folders (DMR layout) first, then a repository; both read through `twinhub-client`.

use async_trait::async_trait;
use twinhub_client::{ClientError, DependencyResolution, RepositoryClient};

use crate::repository::publish::ReferenceSource;

/// Looks each DTMI up in every location in turn; the first that has it wins.
pub struct Locations(pub Vec<RepositoryClient>);

#[async_trait]
impl ReferenceSource for Locations {
    async fn contents(&self, dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let lookups = dtmis.iter().map(|dtmi| async move {
            for location in &self.0 {
                match location
                    .get_models(&[dtmi.as_str()], DependencyResolution::Disabled)
                    .await
                {
                    Ok(models) => {
                        return Ok(models
                            .into_iter()
                            .next()
                            .map(|m| (m.dtmi, m.content.as_bytes().to_vec())));
                    }
                    // Missing here (or stored under other casing): try the next location; the
                    // parser reports what stays unresolved.
                    Err(ClientError::NotFound { .. } | ClientError::WrongCasing { .. }) => {}
                    Err(error) => return Err(error.to_string()),
                }
            }
            Ok(None)
        });
        let found = futures_util::future::join_all(lookups).await;
        found
            .into_iter()
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()
    }
}
