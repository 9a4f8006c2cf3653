//! Persistence of model versions behind one trait, [`ModelStore`], with a SQLite and a
//! PostgreSQL implementation picked once from the database URL. Both share the SQL in
//! `sql.rs`; each owns its connection setup, migrations and change notifications.

pub mod access;
mod access_sql;
mod hub_sql;
mod postgres;
pub mod routing;
mod routing_sql;
pub mod service;
mod service_sql;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::domain::access::{Actor, ReadScope};
use crate::domain::model::{
    Change, Facet, FacetCount, IndexEntry, ModelRecord, ModelState, NewModel, Page, Relation,
    RepositoryStatus, SearchQuery, StoredModel, Tombstone,
};

pub use access::AccessStore;
pub use postgres::PgStore;
pub use routing::{RoutingStore, SqlTelemetryStore};
pub use service::ServiceStore;
pub use sqlite::SqliteStore;

/// What can go wrong in the store, in terms the domain can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("model {0} is not stored")]
    NotFound(String),
    /// Something other than a model (a user, token, grant) does not exist.
    #[error("{0} does not exist")]
    Absent(String),
    #[error("{0}")]
    Conflict(String),
    #[error("model {dtmi} cannot be deleted while other models depend on it: {}", dependents.join(", "))]
    HasDependents {
        dtmi: String,
        dependents: Vec<String>,
    },
    #[error(
        "model {dtmi} is {from} and cannot become {to}: states only move forward (published, deprecated, decommissioned)"
    )]
    InvalidTransition {
        dtmi: String,
        from: ModelState,
        to: ModelState,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The repository's storage. Writes are transactions; a batch is all-or-nothing.
#[async_trait]
pub trait ModelStore: Send + Sync {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Refreshes the query planner's statistics, after a bulk load has changed the tables
    /// far faster than autovacuum notices (PostgreSQL would otherwise plan faceted searches
    /// for empty tables for a while).
    async fn refresh_statistics(&self) -> Result<(), StoreError>;

    /// Looks a model up by its lowercase DTMI (DMR paths are lowercase).
    async fn find(&self, dtmi_lower: &str) -> Result<Option<StoredModel>, StoreError>;

    /// Records (no content) of the models whose lowercase DTMI is in `dtmis_lower`.
    async fn records(&self, dtmis_lower: &[String]) -> Result<Vec<ModelRecord>, StoreError>;

    /// Tombstones whose lowercase DTMI is in `dtmis_lower`.
    async fn tombstones(&self, dtmis_lower: &[String]) -> Result<Vec<Tombstone>, StoreError>;

    /// Contents of the models with exactly these DTMIs (case-sensitive), for the parser's resolver.
    async fn contents(&self, dtmis: &[String]) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Stores new models in dependency order (dependencies before dependents) in one transaction.
    /// The audit log records the push in the same transaction.
    async fn insert(&self, models: &[NewModel], actor: &Actor) -> Result<(), StoreError>;

    /// Moves a model to a new state.
    async fn set_state(
        &self,
        dtmi: &str,
        state: ModelState,
        actor: &Actor,
    ) -> Result<ModelRecord, StoreError>;

    /// Deletes a model and leaves a tombstone; refused while other models depend on it.
    async fn delete(&self, dtmi: &str, actor: &Actor) -> Result<(), StoreError>;

    /// Models that `model_id` references directly, or that reference it directly.
    async fn related(
        &self,
        model_id: i64,
        relation: Relation,
    ) -> Result<Vec<ModelRecord>, StoreError>;

    /// The model and every model it depends on, transitively: root first, then breadth-first
    /// in DTMI order, each once.
    async fn closure(&self, model_id: i64) -> Result<Vec<StoredModel>, StoreError>;

    /// Every version of the DTMI whose lowercase form without version is `versionless_lower`.
    async fn versions(&self, versionless_lower: &str) -> Result<Vec<ModelRecord>, StoreError>;

    async fn search(&self, query: &SearchQuery) -> Result<Page<ModelRecord>, StoreError>;

    /// How many models matching the query (paging ignored) have each facet value, plus the
    /// pseudo-facets `state` and `dtdlVersion`; ordered by facet, then count (largest first).
    async fn facet_counts(&self, query: &SearchQuery) -> Result<Vec<FacetCount>, StoreError>;

    /// Number of models per namespace (`dtmi:com:example`) under a lowercase prefix such as
    /// `dtmi:com:` (or all with `dtmi:`), ordered by namespace.
    async fn namespace_counts(
        &self,
        prefix: &str,
        scope: &ReadScope,
    ) -> Result<Vec<(String, u64)>, StoreError>;

    /// Models whose facets were never computed (stored before facets existed), oldest first.
    async fn models_without_facets(&self, limit: u64) -> Result<Vec<StoredModel>, StoreError>;

    /// Replaces a model's facets and marks it indexed, in one transaction.
    async fn set_facets(&self, model_id: i64, facets: &[Facet]) -> Result<(), StoreError>;

    /// Index entries of the models `scope` may read, in storage order.
    async fn index_entries(
        &self,
        offset: u64,
        limit: u64,
        scope: &ReadScope,
    ) -> Result<Vec<IndexEntry>, StoreError>;

    /// The revision, and the number of models `scope` may read.
    async fn status(&self, scope: &ReadScope) -> Result<RepositoryStatus, StoreError>;

    /// Changes made by any instance on the same database, for cache invalidation. `None` when
    /// the backend has no cross-process notifications (SQLite serves a single instance).
    /// A `None` item in the stream means notifications may have been missed: drop all caches.
    async fn changes(&self) -> Result<Option<BoxStream<'static, Option<Change>>>, StoreError>;
}

/// Every side of the database: models, access control, the hub's service side and routing, on one
/// pool. The device hub's storage shares the pool through [`Store::hub`] (not a supertrait:
/// its session methods would clash with the browser sessions of [`AccessStore`]).
pub trait Store: ModelStore + AccessStore + ServiceStore {
    /// The same database as the device hub's [`HubStore`](twinhub_hub::HubStore).
    fn hub(self: Arc<Self>) -> Arc<dyn twinhub_hub::HubStore>;

    /// The same database as message routing's outbox, dead letters, telemetry and routes.
    fn routing(self: Arc<Self>) -> Arc<dyn RoutingStore>;
}

impl<T> Store for T
where
    T: ModelStore + AccessStore + ServiceStore + twinhub_hub::HubStore + RoutingStore + 'static,
{
    fn hub(self: Arc<Self>) -> Arc<dyn twinhub_hub::HubStore> {
        self
    }

    fn routing(self: Arc<Self>) -> Arc<dyn RoutingStore> {
        self
    }
}

/// Opens the store named by `database_url` (`sqlite://…` or `postgres://…`) and brings its
/// schema up to date.
pub async fn open(database_url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgStore::connect(database_url, max_connections).await?,
        ))
    } else {
        Ok(Arc::new(
            SqliteStore::connect(database_url, max_connections).await?,
        ))
    }
}

/// The model side of [`open`].
pub async fn connect(
    database_url: &str,
    max_connections: u32,
) -> Result<Arc<dyn ModelStore>, StoreError> {
    Ok(open(database_url, max_connections).await?)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The lowercase text a model is searched by: DTMI, every displayName and description value.
pub(crate) fn search_text(model: &NewModel) -> String {
    let mut text = model.dtmi.as_str().to_lowercase();
    for value in [&model.display_name, &model.description]
        .into_iter()
        .flatten()
    {
        collect_strings(value, &mut text);
    }
    text
}

fn collect_strings(value: &serde_json::Value, into: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            into.push('\n');
            into.push_str(&s.to_lowercase());
        }
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, into)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(like_escape("thermostat"), "thermostat");
    }
}
