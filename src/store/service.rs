//! Persistence of the hub's service side behind [`ServiceStore`]: shared access policies
//! (with their audit entries, in the same transaction) and device queries, which run as SQL
//! over the hub's identity and twin tables (see `service_sql.rs` for how the query language
//! maps onto them).

use async_trait::async_trait;
use twinhub_hub::{Identity, TwinRecord};
use twinhub_query::{CompileError, DeviceQuery, GroupValue};

use super::StoreError;
use crate::domain::access::Actor;
use crate::domain::policy::SharedAccessPolicy;

/// Where a page of query results starts, and how long it may be.
#[derive(Clone, Debug, Default)]
pub struct TwinQueryPage {
    /// Continue after this `(device id, module id)`; the module id is `""` for devices.
    pub after: Option<(String, String)>,
    pub limit: usize,
}

/// One twin a query matched, with what the REST twin shows beside the twin itself.
#[derive(Clone, Debug)]
pub struct MatchedTwin {
    pub identity: Identity,
    pub twin: TwinRecord,
    /// Pending cloud-to-device messages.
    pub c2d_count: u64,
}

/// What a query returned.
#[derive(Clone, Debug)]
pub enum TwinQueryRows {
    /// Twins in `(device id, module id)` order, and where the next page starts.
    Twins {
        twins: Vec<MatchedTwin>,
        next: Option<(String, String)>,
    },
    /// The groups of an aggregate query and their counts (all of them, unpaged).
    Groups(Vec<(Vec<GroupValue>, u64)>),
}

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum TwinQueryError {
    /// The query uses something the tables cannot answer.
    #[error("{0}")]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TwinQueryError {
    fn from(error: sqlx::Error) -> Self {
        TwinQueryError::Store(StoreError::Database(error))
    }
}

/// The service side of the database.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// Every policy, by name.
    async fn policies(&self) -> Result<Vec<SharedAccessPolicy>, StoreError>;

    async fn policy(&self, name: &str) -> Result<Option<SharedAccessPolicy>, StoreError>;

    /// Adds a policy; [`StoreError::Conflict`] when the name (in any case) is taken.
    async fn create_policy(
        &self,
        policy: &SharedAccessPolicy,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Replaces the keys and rights of a policy; [`StoreError::Absent`] when there is none.
    async fn update_policy(
        &self,
        policy: &SharedAccessPolicy,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Removes a policy; returns whether it existed.
    async fn delete_policy(&self, name: &str, actor: &Actor) -> Result<bool, StoreError>;

    /// Stores `defaults` when there are no policies at all (a new hub), in one transaction;
    /// returns whether it did.
    async fn seed_policies(&self, defaults: &[SharedAccessPolicy]) -> Result<bool, StoreError>;

    /// Runs a device or module query: one page of twins, or every group of an aggregate.
    async fn query_twins(
        &self,
        query: &DeviceQuery,
        page: &TwinQueryPage,
    ) -> Result<TwinQueryRows, TwinQueryError>;
}
