//! The start-up facet backfill: models stored before facets existed get theirs computed
//! (with `domain::facets`) from their stored, parsed content.

use std::sync::Arc;

use super::inspect;
use crate::domain::facets::{facets_of, namespace_only};
use crate::store::{ModelStore, StoreError};

/// Computes facets for every stored model that has none yet, in small batches; returns how
/// many models were indexed. Safe to run on several instances at once (each write replaces a
/// model's facets in one transaction).
pub async fn backfill(
    store: Arc<dyn ModelStore>,
    options: &dtdl::ParsingOptions,
) -> Result<usize, StoreError> {
    let mut indexed = 0;
    loop {
        let batch = store.models_without_facets(100).await?;
        if batch.is_empty() {
            return Ok(indexed);
        }
        for model in batch {
            let facets = match inspect::load_parsed(
                store.as_ref(),
                model.record.clone(),
                model.content,
                options,
            )
            .await
            {
                Ok(parsed) => parsed
                    .root()
                    .map(facets_of)
                    .unwrap_or_else(|| namespace_only(&model.record.dtmi)),
                Err(error) => {
                    // Stored models were valid when pushed; a parser that has since grown
                    // stricter must not stop the service. The namespace is always known.
                    tracing::warn!(model.dtmi = %model.record.dtmi, error = %error, "cannot parse a stored model for its facets; indexing its namespace only");
                    namespace_only(&model.record.dtmi)
                }
            };
            store.set_facets(model.record.id, &facets).await?;
            indexed += 1;
        }
    }
}
