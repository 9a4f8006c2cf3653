//! [`ModelSource`]: where the hub gets a device's model from. The root package resolves the
//! model id's closure in the repository and builds the [`DeviceModel`]; the hub only asks.

use std::sync::Arc;

use async_trait::async_trait;
use twinhub_twin::DeviceModel;

/// Why a model could not be loaded (the repository failed, or its documents do not parse).
pub type ModelSourceError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves a device's model id to its parsed model.
#[async_trait]
pub trait ModelSource: Send + Sync {
    /// The model with its closure; `Ok(None)` when the repository does not know the id.
    async fn model(&self, model_id: &str) -> Result<Option<Arc<DeviceModel>>, ModelSourceError>;
}

/// A source that knows no models: the hub then keeps twins without validating them.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoModels;

#[async_trait]
impl ModelSource for NoModels {
    async fn model(&self, _model_id: &str) -> Result<Option<Arc<DeviceModel>>, ModelSourceError> {
        Ok(None)
    }
}
