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
    /// Reads: WAL lets any number run beside the writer.
    pool: SqlitePool,
    /// Writes, on one connection. SQLite has one write lock; several connections contending
    /// for it wait in its busy handler, which sleeps (up to 100 ms a try) however soon the lock
    /// is free, while one connection makes writers queue in the pool and start the moment the
    /// previous transaction ends.
    writer: SqlitePool,
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self { pool, writer })
    }

    /// Where writes go: the one writer connection.
    fn writer(&self) -> &SqlitePool {
        &self.writer
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
