//! The SQL of the device hub's [`HubStore`](twinhub_hub::HubStore), shared by both backends
//! like the model SQL: `impl_hub_store!` stamps it out per pool type. Identities, twins,
//! messages and sessions are JSON documents beside the columns that are filtered, ordered or
//! changed without reading the document (connection state, twin version and model id,
//! message expiry and delivery count). A device's `module_id` column is `''`.
//!
//! Every method is one transaction. Writes that first check something (a module's device, a
//! queue's length) begin by writing the row they depend on, which takes its lock on
//! PostgreSQL and the database's write lock on SQLite, so two writers never both pass the
//! check.

use chrono::DateTime;
use twinhub_hub::{
    C2dMessage, ConnectionState, HubStoreError, Identity, IdentityKey, SessionRecord, TwinRecord,
};
use twinhub_twin::Timestamp;

/// The `module_id` column of a key.
pub(super) fn module_column(key: &IdentityKey) -> &str {
    key.module_id.as_deref().unwrap_or("")
}

pub(super) fn backend(error: sqlx::Error) -> HubStoreError {
    HubStoreError::Backend(Box::new(error))
}

pub(super) fn micros(t: &Timestamp) -> i64 {
    t.timestamp_micros()
}

fn from_micros(what: &str, us: i64) -> Result<Timestamp, HubStoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| HubStoreError::Corrupt(format!("{what} {us} is out of range")))
}

pub(super) fn connection_column(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connected => "connected",
        ConnectionState::Disconnected => "disconnected",
    }
}

pub(super) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, HubStoreError> {
    serde_json::to_string(value)
        .map_err(|e| HubStoreError::Corrupt(format!("cannot write {what} as JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, HubStoreError> {
    serde_json::from_str(text).map_err(|e| HubStoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) const IDENTITY_COLUMNS: &str = "i.device_id, i.module_id, i.etag, i.document, i.connection_state, \
     i.connection_state_updated_us, i.last_activity_us";

#[derive(sqlx::FromRow)]
pub(super) struct IdentityRow {
    device_id: String,
    module_id: String,
    etag: i64,
    document: String,
    connection_state: String,
    connection_state_updated_us: Option<i64>,
    last_activity_us: Option<i64>,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = HubStoreError;

    /// The document holds what only changes with the identity; the columns win for what
    /// changes without it (connection, activity) and for the etag the updates compare.
    fn try_from(row: IdentityRow) -> Result<Identity, HubStoreError> {
        let name = if row.module_id.is_empty() {
            row.device_id.clone()
        } else {
            format!("{}/{}", row.device_id, row.module_id)
        };
        let mut identity: Identity = from_json(&format!("identity {name}"), &row.document)?;
        identity.etag = u64::try_from(row.etag)
            .map_err(|_| HubStoreError::Corrupt(format!("etag {} of {name}", row.etag)))?;
        identity.connection_state = match row.connection_state.as_str() {
            "connected" => ConnectionState::Connected,
            "disconnected" => ConnectionState::Disconnected,
            other => {
                return Err(HubStoreError::Corrupt(format!(
                    "connection state {other:?} of {name}"
                )));
            }
        };
        identity.connection_state_updated = row
            .connection_state_updated_us
            .map(|us| from_micros("connection time", us))
            .transpose()?;
        identity.last_activity = row
            .last_activity_us
            .map(|us| from_micros("activity time", us))
            .transpose()?;
        Ok(identity)
    }
}

pub(super) fn twin_record(key: &IdentityKey, document: &str) -> Result<TwinRecord, HubStoreError> {
    from_json(&format!("twin of {key}"), document)
}

pub(super) fn version_column(record: &TwinRecord) -> Result<i64, HubStoreError> {
    i64::try_from(record.twin.version())
        .map_err(|_| HubStoreError::Corrupt("twin version beyond 2^63".into()))
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    delivery_count: i64,
    document: String,
}

impl MessageRow {
    pub(super) fn into_message(self, key: &IdentityKey) -> Result<C2dMessage, HubStoreError> {
        let mut message: C2dMessage =
            from_json(&format!("cloud-to-device message of {key}"), &self.document)?;
        message.delivery_count = u32::try_from(self.delivery_count).unwrap_or(u32::MAX);
        Ok(message)
    }
}

pub(super) fn session_record(
    client_id: &str,
    document: &str,
) -> Result<SessionRecord, HubStoreError> {
    from_json(&format!("session of {client_id}"), document)
}

/// Converts an `i64` bound to the limit SQL expects.
pub(super) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

macro_rules! impl_hub_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl twinhub_hub::HubStore for $store {
            async fn create_identity(
                &self,
                identity: &twinhub_hub::Identity,
                twin: &twinhub_hub::TwinRecord,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                use twinhub_hub::HubStoreError;
                let key = &identity.key;
                let mut tx = self.writer().begin().await.map_err(backend)?;
                if key.is_module() {
                    // Locks the device row: it cannot be deleted until the module is in.
                    let device = sqlx::query(
                        "UPDATE hub_identities SET etag = etag WHERE device_id = $1 AND module_id = ''",
                    )
                    .bind(&key.device_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if device.rows_affected() == 0 {
                        return Err(HubStoreError::NotFound(key.device_key()));
                    }
                }
                let inserted = sqlx::query(
                    "INSERT INTO hub_identities (device_id, module_id, etag, document, connection_state, \
                     connection_state_updated_us, last_activity_us) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (device_id, module_id) DO NOTHING",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(i64::try_from(identity.etag).unwrap_or(i64::MAX))
                .bind(to_json("identity", identity)?)
                .bind(connection_column(identity.connection_state))
                .bind(identity.connection_state_updated.as_ref().map(micros))
                .bind(identity.last_activity.as_ref().map(micros))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if inserted.rows_affected() == 0 {
                    return Err(HubStoreError::AlreadyExists(key.clone()));
                }
                sqlx::query(
                    "INSERT INTO hub_twins (device_id, module_id, model_id, version, document) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(twin.twin.model_id())
                .bind(version_column(twin)?)
                .bind(to_json("twin", twin)?)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn identity(
                &self,
                key: &twinhub_hub::IdentityKey,
            ) -> Result<Option<twinhub_hub::Identity>, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let row: Option<IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {IDENTITY_COLUMNS} FROM hub_identities i WHERE i.device_id = $1 AND i.module_id = $2"
                )))
                .bind(&key.device_id)
                .bind(module_column(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                row.map(twinhub_hub::Identity::try_from).transpose()
            }

            async fn update_identity(
                &self,
                identity: &twinhub_hub::Identity,
                expected_etag: u64,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                use twinhub_hub::HubStoreError;
                let key = &identity.key;
                let mut tx = self.writer().begin().await.map_err(backend)?;
                let updated = sqlx::query(
                    // The connection columns belong to claim/release: a registry change
                    // made from an older read must not undo a connection.
                    "UPDATE hub_identities SET etag = $1, document = $2 \
                     WHERE device_id = $3 AND module_id = $4 AND etag = $5",
                )
                .bind(i64::try_from(identity.etag).unwrap_or(i64::MAX))
                .bind(to_json("identity", identity)?)
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(i64::try_from(expected_etag).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if updated.rows_affected() == 0 {
                    let exists: Option<i64> = sqlx::query_scalar(
                        "SELECT etag FROM hub_identities WHERE device_id = $1 AND module_id = $2",
                    )
                    .bind(&key.device_id)
                    .bind(module_column(key))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    return Err(match exists {
                        Some(_) => HubStoreError::Conflict(key.clone()),
                        None => HubStoreError::NotFound(key.clone()),
                    });
                }
                tx.commit().await.map_err(backend)
            }

            async fn delete_identity(
                &self,
                key: &twinhub_hub::IdentityKey,
            ) -> Result<bool, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let mut tx = self.writer().begin().await.map_err(backend)?;
                // Twins and messages go with their identity (ON DELETE CASCADE); sessions
                // are keyed by client id, which is `device` or `device/module`.
                let deleted = match &key.module_id {
                    None => {
                        let deleted = sqlx::query("DELETE FROM hub_identities WHERE device_id = $1")
                            .bind(&key.device_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        let prefix = format!("{}/", key.device_id);
                        sqlx::query(
                            "DELETE FROM hub_sessions WHERE client_id = $1 \
                             OR substr(client_id, 1, length($2)) = $2",
                        )
                        .bind(&key.device_id)
                        .bind(&prefix)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        deleted.rows_affected()
                    }
                    Some(module) => {
                        let deleted = sqlx::query(
                            "DELETE FROM hub_identities WHERE device_id = $1 AND module_id = $2",
                        )
                        .bind(&key.device_id)
                        .bind(module)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                        sqlx::query("DELETE FROM hub_sessions WHERE client_id = $1")
                            .bind(key.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        deleted.rows_affected()
                    }
                };
                tx.commit().await.map_err(backend)?;
                Ok(deleted > 0)
            }

            async fn list_identities(
                &self,
                query: &twinhub_hub::IdentityQuery,
            ) -> Result<twinhub_hub::IdentityPage, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                // Devices are listed by device id, a device's modules by module id.
                let (scope, listed) = match &query.modules_of {
                    None => ("$1 IS NULL AND i.module_id = ''", "i.device_id"),
                    Some(_) => ("i.device_id = $1 AND i.module_id <> ''", "i.module_id"),
                };
                let sql = format!(
                    "SELECT {IDENTITY_COLUMNS} FROM hub_identities i \
                     JOIN hub_twins t ON t.device_id = i.device_id AND t.module_id = i.module_id \
                     WHERE {scope} AND ($2 IS NULL OR t.model_id = $2) \
                     AND ($3 IS NULL OR i.connection_state = $3) AND ($4 IS NULL OR {listed} > $4) \
                     ORDER BY {listed} LIMIT $5"
                );
                let rows: Vec<IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(query.modules_of.as_deref())
                    .bind(query.model_id.as_deref())
                    .bind(query.connection_state.map(connection_column))
                    .bind(query.after.as_deref())
                    .bind(sql_limit(query.limit.saturating_add(1)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                let more = rows.len() > query.limit;
                let identities = rows
                    .into_iter()
                    .take(query.limit)
                    .map(twinhub_hub::Identity::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                let next_after = match (more, identities.last()) {
                    (true, Some(last)) => Some(match &query.modules_of {
                        None => last.key.device_id.clone(),
                        Some(_) => last.key.module_id.clone().unwrap_or_default(),
                    }),
                    _ => None,
                };
                Ok(twinhub_hub::IdentityPage {
                    identities,
                    next_after,
                })
            }

            async fn claim_connection(
                &self,
                key: &twinhub_hub::IdentityKey,
                instance: &str,
                at: twinhub_twin::Timestamp,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let updated = sqlx::query(
                    "UPDATE hub_identities SET connection_state = 'connected', connection_owner = $1, \
                     connection_state_updated_us = $2, last_activity_us = $2 \
                     WHERE device_id = $3 AND module_id = $4",
                )
                .bind(instance)
                .bind(micros(&at))
                .bind(&key.device_id)
                .bind(module_column(key))
                .execute(self.writer())
                .await
                .map_err(backend)?;
                if updated.rows_affected() == 0 {
                    return Err(twinhub_hub::HubStoreError::NotFound(key.clone()));
                }
                Ok(())
            }

            async fn release_connection(
                &self,
                key: &twinhub_hub::IdentityKey,
                instance: &str,
                at: twinhub_twin::Timestamp,
            ) -> Result<bool, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let released = sqlx::query(
                    "UPDATE hub_identities SET connection_state = 'disconnected', connection_owner = NULL, \
                     connection_state_updated_us = $1, last_activity_us = $1 \
                     WHERE device_id = $2 AND module_id = $3 AND connection_owner = $4",
                )
                .bind(micros(&at))
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(instance)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                if released.rows_affected() > 0 {
                    return Ok(true);
                }
                let exists: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM hub_identities WHERE device_id = $1 AND module_id = $2",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                match exists {
                    Some(_) => Ok(false),
                    None => Err(twinhub_hub::HubStoreError::NotFound(key.clone())),
                }
            }

            async fn connection_owner(
                &self,
                key: &twinhub_hub::IdentityKey,
            ) -> Result<Option<String>, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let owner: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT connection_owner FROM hub_identities \
                     WHERE device_id = $1 AND module_id = $2 AND connection_state = 'connected'",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                Ok(owner.flatten())
            }

            async fn release_connections_of(
                &self,
                instance: &str,
                at: twinhub_twin::Timestamp,
            ) -> Result<u64, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let released = sqlx::query(
                    "UPDATE hub_identities SET connection_state = 'disconnected', connection_owner = NULL, \
                     connection_state_updated_us = $1 WHERE connection_owner = $2",
                )
                .bind(micros(&at))
                .bind(instance)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(released.rows_affected())
            }

            async fn record_activity(
                &self,
                key: &twinhub_hub::IdentityKey,
                at: twinhub_twin::Timestamp,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let updated = sqlx::query(
                    "UPDATE hub_identities SET last_activity_us = $1 WHERE device_id = $2 AND module_id = $3",
                )
                .bind(micros(&at))
                .bind(&key.device_id)
                .bind(module_column(key))
                .execute(self.writer())
                .await
                .map_err(backend)?;
                if updated.rows_affected() == 0 {
                    return Err(twinhub_hub::HubStoreError::NotFound(key.clone()));
                }
                Ok(())
            }

            async fn twin(
                &self,
                key: &twinhub_hub::IdentityKey,
            ) -> Result<Option<twinhub_hub::TwinRecord>, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let document: Option<String> = sqlx::query_scalar(
                    "SELECT document FROM hub_twins WHERE device_id = $1 AND module_id = $2",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                document.map(|d| twin_record(key, &d)).transpose()
            }

            async fn update_twin(
                &self,
                key: &twinhub_hub::IdentityKey,
                expected_version: u64,
                record: &twinhub_hub::TwinRecord,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                use twinhub_hub::HubStoreError;
                let mut tx = self.writer().begin().await.map_err(backend)?;
                let updated = sqlx::query(
                    "UPDATE hub_twins SET model_id = $1, version = $2, document = $3 \
                     WHERE device_id = $4 AND module_id = $5 AND version = $6",
                )
                .bind(record.twin.model_id())
                .bind(version_column(record)?)
                .bind(to_json("twin", record)?)
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(i64::try_from(expected_version).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if updated.rows_affected() == 0 {
                    let exists: Option<i64> = sqlx::query_scalar(
                        "SELECT version FROM hub_twins WHERE device_id = $1 AND module_id = $2",
                    )
                    .bind(&key.device_id)
                    .bind(module_column(key))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    return Err(match exists {
                        Some(_) => HubStoreError::Conflict(key.clone()),
                        None => HubStoreError::NotFound(key.clone()),
                    });
                }
                tx.commit().await.map_err(backend)
            }

            async fn enqueue_c2d(
                &self,
                key: &twinhub_hub::IdentityKey,
                message: &twinhub_hub::C2dMessage,
                limit: usize,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                use twinhub_hub::HubStoreError;
                let mut tx = self.writer().begin().await.map_err(backend)?;
                // Locks the identity's row first, so concurrent senders count in turn.
                let exists = sqlx::query(
                    "UPDATE hub_identities SET etag = etag WHERE device_id = $1 AND module_id = $2",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if exists.rows_affected() == 0 {
                    return Err(HubStoreError::NotFound(key.clone()));
                }
                let pending: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM hub_c2d_messages \
                     WHERE device_id = $1 AND module_id = $2 AND expires_us > $3",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(micros(&message.enqueued))
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                if usize::try_from(pending).unwrap_or(usize::MAX) >= limit {
                    return Err(HubStoreError::QueueFull {
                        key: key.clone(),
                        limit,
                    });
                }
                sqlx::query(
                    "INSERT INTO hub_c2d_messages (device_id, module_id, message_id, enqueued_us, \
                     expires_us, delivery_count, document) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(&message.message_id)
                .bind(micros(&message.enqueued))
                .bind(micros(&message.expires))
                .bind(i64::from(message.delivery_count))
                .bind(to_json("cloud-to-device message", message)?)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn pending_c2d(
                &self,
                key: &twinhub_hub::IdentityKey,
                now: twinhub_twin::Timestamp,
            ) -> Result<Vec<twinhub_hub::C2dMessage>, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let rows: Vec<MessageRow> = sqlx::query_as(
                    "SELECT delivery_count, document FROM hub_c2d_messages \
                     WHERE device_id = $1 AND module_id = $2 AND expires_us > $3 ORDER BY seq",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(micros(&now))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.into_iter().map(|row| row.into_message(key)).collect()
            }

            async fn mark_c2d_sent(
                &self,
                key: &twinhub_hub::IdentityKey,
                message_id: &str,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                sqlx::query(
                    "UPDATE hub_c2d_messages SET delivery_count = delivery_count + 1 \
                     WHERE device_id = $1 AND module_id = $2 AND message_id = $3",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(message_id)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn complete_c2d(
                &self,
                key: &twinhub_hub::IdentityKey,
                message_id: &str,
            ) -> Result<bool, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let deleted = sqlx::query(
                    "DELETE FROM hub_c2d_messages WHERE device_id = $1 AND module_id = $2 AND message_id = $3",
                )
                .bind(&key.device_id)
                .bind(module_column(key))
                .bind(message_id)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(deleted.rows_affected() > 0)
            }

            async fn purge_expired_c2d(
                &self,
                now: twinhub_twin::Timestamp,
            ) -> Result<u64, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let deleted = sqlx::query("DELETE FROM hub_c2d_messages WHERE expires_us <= $1")
                    .bind(micros(&now))
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                Ok(deleted.rows_affected())
            }

            async fn session(
                &self,
                client_id: &str,
            ) -> Result<Option<twinhub_hub::SessionRecord>, twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                let document: Option<String> =
                    sqlx::query_scalar("SELECT document FROM hub_sessions WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(backend)?;
                document.map(|d| session_record(client_id, &d)).transpose()
            }

            async fn save_session(
                &self,
                client_id: &str,
                session: &twinhub_hub::SessionRecord,
            ) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                sqlx::query(
                    "INSERT INTO hub_sessions (client_id, document) VALUES ($1, $2) \
                     ON CONFLICT (client_id) DO UPDATE SET document = excluded.document",
                )
                .bind(client_id)
                .bind(to_json("session", session)?)
                .execute(self.writer())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn delete_session(&self, client_id: &str) -> Result<(), twinhub_hub::HubStoreError> {
                use $crate::store::hub_sql::*;
                sqlx::query("DELETE FROM hub_sessions WHERE client_id = $1")
                    .bind(client_id)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_hub_store;
