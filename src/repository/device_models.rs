//! The hub's [`ModelSource`] over the repository: a device's model id resolved to its stored
//! interface with the whole dependency closure, parsed, and indexed as a
//! [`DeviceModel`]. Published model versions never change, so a built model is cached by id
//! for as long as it is used; ids the repository does not know are not cached, so a model
//! pushed after a device announced it is found from the next lookup on.

use std::sync::Arc;

use async_trait::async_trait;
use twinhub_hub::{ModelSource, ModelSourceError};
use twinhub_twin::DeviceModel;

use crate::repository::inspect;
use crate::store::ModelStore;

/// How many parsed device models are kept.
const CACHED_MODELS: usize = 1024;

/// Device models read from the repository's store.
pub struct RepositoryModels {
    store: Arc<dyn ModelStore>,
    parsing: dtdl::ParsingOptions,
    cache: quick_cache::sync::Cache<String, Arc<DeviceModel>>,
}

impl RepositoryModels {
    pub fn new(store: Arc<dyn ModelStore>, parsing: dtdl::ParsingOptions) -> RepositoryModels {
        RepositoryModels {
            store,
            parsing,
            cache: quick_cache::sync::Cache::new(CACHED_MODELS),
        }
    }
}

#[async_trait]
impl ModelSource for RepositoryModels {
    async fn model(&self, model_id: &str) -> Result<Option<Arc<DeviceModel>>, ModelSourceError> {
        if let Some(model) = self.cache.get(model_id) {
            return Ok(Some(model));
        }
        let Some(parsed) = inspect::load(self.store.as_ref(), model_id, &self.parsing).await?
        else {
            return Ok(None);
        };
        let model = Arc::new(DeviceModel::new(parsed.model, model_id)?);
        self.cache.insert(model_id.to_owned(), model.clone());
        Ok(Some(model))
    }
}
