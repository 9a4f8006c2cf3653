//! SQLite backend: the embedded default. One file, WAL mode, foreign keys on. Serves a single
//! instance, so it has no cross-process change notifications.

use std::str::FromStr;
use std::time::Duration;

use futures_util::stream::BoxStream;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::StoreError;
use crate::domain::model::Change;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite-backed [`ModelStore`](super::ModelStore).
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file of a `sqlite://PATH` URL and migrates it.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    async fn notify_in(
        _tx: &mut Transaction<'_, Sqlite>,
        _change: &Change,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn change_stream(
        &self,
    ) -> Result<Option<BoxStream<'static, Option<Change>>>, StoreError> {
        Ok(None)
    }
}

super::sql::impl_model_store!(SqliteStore, Sqlite);
super::access_sql::impl_access_store!(SqliteStore, Sqlite);
super::hub_sql::impl_hub_store!(SqliteStore, Sqlite);
super::service_sql::impl_service_store!(SqliteStore, Sqlite, twinhub_query::SqlDialect::Sqlite);
super::routing_sql::impl_routing_store!(SqliteStore, Sqlite);
