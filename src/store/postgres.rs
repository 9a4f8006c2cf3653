//! PostgreSQL backend: for production and for several instances on one database. Every write
//! announces what it changed with `NOTIFY twinhub_changes` inside its transaction, so other
//! instances hear about it exactly when it commits.

use futures_util::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::StoreError;
use crate::domain::model::Change;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The channel every instance listens on.
const CHANNEL: &str = "twinhub_changes";

/// The PostgreSQL-backed [`ModelStore`](super::ModelStore).
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(database_url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Where writes go: the same pool as reads (PostgreSQL locks rows, not the database).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn notify_in(
        tx: &mut Transaction<'_, Postgres>,
        change: &Change,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(change)
            .map_err(|e| StoreError::Corrupt(format!("change notification: {e}")))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn change_stream(
        &self,
    ) -> Result<Option<BoxStream<'static, Option<Change>>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        // `try_recv` yields `Ok(None)` after the connection dropped and was re-established:
        // notifications sent meanwhile are lost, which the stream reports as `None`.
        let changes = stream::unfold(listener, |mut listener| async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Change>(notification.payload()) {
                            Ok(change) => return Some((Some(change), listener)),
                            Err(error) => {
                                tracing::warn!(error = %error, payload = notification.payload(), "ignoring an unreadable change notification");
                            }
                        }
                    }
                    Ok(None) => return Some((None, listener)),
                    Err(error) => {
                        tracing::warn!(error = %error, "change listener lost its connection; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        return Some((None, listener));
                    }
                }
            }
        });
        Ok(Some(changes.boxed()))
    }
}

super::sql::impl_model_store!(PgStore, Postgres);
super::access_sql::impl_access_store!(PgStore, Postgres);
super::hub_sql::impl_hub_store!(PgStore, Postgres);
super::service_sql::impl_service_store!(PgStore, Postgres, twinhub_query::SqlDialect::Postgres);
super::routing_sql::impl_routing_store!(PgStore, Postgres);
