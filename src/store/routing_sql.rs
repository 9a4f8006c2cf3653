//! The SQL of message routing, shared by both backends: `impl_routing_store!` stamps out
//! [`Outbox`](twinhub_routing::Outbox), [`DeadLetters`](twinhub_routing::DeadLetters) and
//! [`RoutingStore`](super::routing::RoutingStore) per pool type, like the model and hub SQL.
//! Every method is one transaction. Envelopes, dead letters, routes and endpoints are JSON
//! documents; the columns beside them are what is filtered and ordered.

use chrono::{DateTime, Utc};
use twinhub_routing::{EndpointName, Envelope, OutboxEntry, StorageError};

pub(super) fn storage(error: sqlx::Error) -> StorageError {
    StorageError(format!("database: {error}"))
}

pub(super) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError(format!("cannot write {what}: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError(format!("stored {what} is corrupt: {e}")))
}

pub(super) fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Outbox ids are positive identity values; anything else is corruption.
pub(super) fn entry_id(id: i64) -> Result<u64, StorageError> {
    u64::try_from(id).map_err(|_| StorageError(format!("outbox id {id} is negative")))
}

/// Ids beyond `i64::MAX` were never handed out, so they match nothing.
pub(super) fn id_column(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    id: i64,
    endpoint: String,
    envelope: String,
    enqueued_us: i64,
}

impl OutboxRow {
    pub(super) fn into_entry(self) -> Result<OutboxEntry, StorageError> {
        let id = entry_id(self.id)?;
        Ok(OutboxEntry {
            id,
            endpoint: EndpointName::new(self.endpoint)
                .map_err(|e| StorageError(format!("outbox entry {id}: {e}")))?,
            envelope: from_json::<Envelope>(&format!("outbox entry {id}"), &self.envelope)?,
            enqueued_at: DateTime::<Utc>::from_timestamp_micros(self.enqueued_us).ok_or_else(
                || {
                    StorageError(format!(
                        "outbox entry {id}: time {} out of range",
                        self.enqueued_us
                    ))
                },
            )?,
        })
    }
}

/// Ids per `DELETE … IN (…)` statement, well below SQLite's bound-variable limit.
pub(super) const DELETE_CHUNK: usize = 500;

macro_rules! impl_routing_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl twinhub_routing::Outbox for $store {
            async fn enqueue(
                &self,
                entries: &[twinhub_routing::NewEntry],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<twinhub_routing::EntryId>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let mut tx = self.writer().begin().await.map_err(storage)?;
                let mut ids = Vec::with_capacity(entries.len());
                // One row at a time: the order of a multi-row RETURNING is not promised.
                for entry in entries {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO routing_outbox (endpoint, envelope, enqueued_us) \
                         VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(entry.endpoint.as_str())
                    .bind(to_json("envelope", &entry.envelope)?)
                    .bind(now.timestamp_micros())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(storage)?;
                    ids.push(entry_id(id)?);
                }
                tx.commit().await.map_err(storage)?;
                Ok(ids)
            }

            async fn pending(
                &self,
                endpoint: &twinhub_routing::EndpointName,
            ) -> Result<Vec<twinhub_routing::OutboxEntry>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let rows: Vec<OutboxRow> = sqlx::query_as(
                    "SELECT id, endpoint, envelope, enqueued_us FROM routing_outbox \
                     WHERE endpoint = $1 ORDER BY id",
                )
                .bind(endpoint.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
                rows.into_iter().map(OutboxRow::into_entry).collect()
            }

            async fn complete(
                &self,
                ids: &[twinhub_routing::EntryId],
            ) -> Result<(), twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let ids: Vec<i64> = ids.iter().filter_map(|id| id_column(*id)).collect();
                if ids.is_empty() {
                    return Ok(());
                }
                let mut tx = self.writer().begin().await.map_err(storage)?;
                for chunk in ids.chunks(DELETE_CHUNK) {
                    let mut query =
                        sqlx::QueryBuilder::<$db>::new("DELETE FROM routing_outbox WHERE id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    list.push_unseparated(")");
                    query.build().execute(&mut *tx).await.map_err(storage)?;
                }
                tx.commit().await.map_err(storage)
            }
        }

        #[async_trait::async_trait]
        impl twinhub_routing::DeadLetters for $store {
            /// Records the letter and removes its outbox entry in one transaction, so the
            /// copy is never both queued and dead.
            async fn record(
                &self,
                letter: twinhub_routing::DeadLetter,
            ) -> Result<(), twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let mut tx = self.writer().begin().await.map_err(storage)?;
                sqlx::query(
                    "INSERT INTO routing_dead_letters (endpoint, entry_id, document, at_us) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(letter.entry.endpoint.as_str())
                .bind(id_column(letter.entry.id).unwrap_or(i64::MAX))
                .bind(to_json("dead letter", &letter)?)
                .bind(letter.at.timestamp_micros())
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
                if let Some(id) = id_column(letter.entry.id) {
                    sqlx::query("DELETE FROM routing_outbox WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(storage)?;
                }
                tx.commit().await.map_err(storage)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::routing::RoutingStore for $store {
            async fn append_telemetry(
                &self,
                envelopes: &[twinhub_routing::Envelope],
                keep: usize,
            ) -> Result<(), twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let mut tx = self.writer().begin().await.map_err(storage)?;
                // Each device whose list grew is trimmed once, after all its inserts.
                let mut grown: Vec<&str> = Vec::new();
                for envelope in envelopes {
                    let device = envelope.device_id();
                    let inserted = sqlx::query(
                        "INSERT INTO routing_telemetry \
                         (device_id, envelope_id, envelope, enqueued_us) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, envelope_id) DO NOTHING",
                    )
                    .bind(device)
                    .bind(&envelope.id)
                    .bind(to_json("envelope", envelope)?)
                    .bind(envelope.system_properties.enqueued_time.timestamp_micros())
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
                    if inserted.rows_affected() > 0 && !grown.contains(&device) {
                        grown.push(device);
                    }
                }
                for device in grown {
                    sqlx::query(
                        "DELETE FROM routing_telemetry WHERE device_id = $1 AND seq NOT IN \
                         (SELECT seq FROM routing_telemetry WHERE device_id = $1 \
                          ORDER BY enqueued_us DESC, seq DESC LIMIT $2)",
                    )
                    .bind(device)
                    .bind(sql_count(keep.max(1)))
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
                }
                tx.commit().await.map_err(storage)
            }

            async fn latest_telemetry(
                &self,
                device_id: &str,
                limit: usize,
            ) -> Result<Vec<twinhub_routing::Envelope>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT envelope FROM routing_telemetry WHERE device_id = $1 \
                     ORDER BY enqueued_us DESC, seq DESC LIMIT $2",
                )
                .bind(device_id)
                .bind(sql_count(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
                rows.iter()
                    .map(|text| from_json("telemetry", text))
                    .collect()
            }

            async fn dead_letters(
                &self,
                limit: usize,
            ) -> Result<Vec<twinhub_routing::DeadLetter>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT document FROM routing_dead_letters ORDER BY id DESC LIMIT $1",
                )
                .bind(sql_count(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
                rows.iter()
                    .map(|text| from_json("dead letter", text))
                    .collect()
            }

            async fn routes(
                &self,
            ) -> Result<Vec<twinhub_routing::Route>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT name, document FROM routing_routes ORDER BY position, name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
                rows.iter()
                    .map(|(name, text)| from_json(&format!("route {name}"), text))
                    .collect()
            }

            async fn put_route(
                &self,
                route: &twinhub_routing::Route,
            ) -> Result<bool, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let document = to_json("route", route)?;
                let mut tx = self.writer().begin().await.map_err(storage)?;
                let updated = sqlx::query("UPDATE routing_routes SET document = $1 WHERE name = $2")
                    .bind(&document)
                    .bind(route.name())
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
                let created = updated.rows_affected() == 0;
                if created {
                    sqlx::query(
                        "INSERT INTO routing_routes (name, position, document) VALUES \
                         ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM routing_routes), $2)",
                    )
                    .bind(route.name())
                    .bind(&document)
                    .execute(&mut *tx)
                    .await
                    .map_err(storage)?;
                }
                tx.commit().await.map_err(storage)?;
                Ok(created)
            }

            async fn delete_route(&self, name: &str) -> Result<bool, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let deleted = sqlx::query("DELETE FROM routing_routes WHERE name = $1")
                    .bind(name)
                    .execute(self.writer())
                    .await
                    .map_err(storage)?;
                Ok(deleted.rows_affected() > 0)
            }

            async fn endpoints(
                &self,
            ) -> Result<Vec<(String, serde_json::Value)>, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT name, document FROM routing_endpoints ORDER BY name")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(storage)?;
                rows.into_iter()
                    .map(|(name, text)| {
                        let doc = from_json(&format!("endpoint {name}"), &text)?;
                        Ok((name, doc))
                    })
                    .collect()
            }

            async fn put_endpoint(
                &self,
                name: &str,
                document: &serde_json::Value,
            ) -> Result<bool, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let document = to_json("endpoint", document)?;
                let mut tx = self.writer().begin().await.map_err(storage)?;
                let updated =
                    sqlx::query("UPDATE routing_endpoints SET document = $1 WHERE name = $2")
                        .bind(&document)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(storage)?;
                let created = updated.rows_affected() == 0;
                if created {
                    sqlx::query("INSERT INTO routing_endpoints (name, document) VALUES ($1, $2)")
                        .bind(name)
                        .bind(&document)
                        .execute(&mut *tx)
                        .await
                        .map_err(storage)?;
                }
                tx.commit().await.map_err(storage)?;
                Ok(created)
            }

            async fn delete_endpoint(
                &self,
                name: &str,
            ) -> Result<bool, twinhub_routing::StorageError> {
                use $crate::store::routing_sql::*;
                let deleted = sqlx::query("DELETE FROM routing_endpoints WHERE name = $1")
                    .bind(name)
                    .execute(self.writer())
                    .await
                    .map_err(storage)?;
                Ok(deleted.rows_affected() > 0)
            }
        }
    };
}

pub(super) use impl_routing_store;
