//! [`MemoryHubStore`]: the whole hub state behind one mutex, for tests and for embedding the
//! hub where nothing needs to survive a restart. Behaves as the SQL stores do, which the
//! shared conformance checks in [`crate::conformance`] hold both to.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio::sync::Mutex;
use twinhub_twin::Timestamp;

use crate::identity::{ConnectionState, Identity, IdentityKey};
use crate::store::{
    C2dMessage, HubStore, HubStoreError, IdentityPage, IdentityQuery, SessionRecord, TwinRecord,
};

#[derive(Default)]
struct State {
    identities: BTreeMap<IdentityKey, Identity>,
    twins: BTreeMap<IdentityKey, TwinRecord>,
    messages: BTreeMap<IdentityKey, Vec<C2dMessage>>,
    sessions: BTreeMap<String, SessionRecord>,
    /// The instance serving each connected identity.
    owners: BTreeMap<IdentityKey, String>,
}

impl State {
    /// Every key that goes with `key`: itself, and a device's modules.
    fn family(&self, key: &IdentityKey) -> Vec<IdentityKey> {
        self.identities
            .keys()
            .filter(|k| *k == key || (key.module_id.is_none() && k.device_id == key.device_id))
            .cloned()
            .collect()
    }
}

#[derive(Default)]
pub struct MemoryHubStore {
    state: Mutex<State>,
}

impl MemoryHubStore {
    pub fn new() -> MemoryHubStore {
        MemoryHubStore::default()
    }
}

#[async_trait]
impl HubStore for MemoryHubStore {
    async fn create_identity(
        &self,
        identity: &Identity,
        twin: &TwinRecord,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        if state.identities.contains_key(&identity.key) {
            return Err(HubStoreError::AlreadyExists(identity.key.clone()));
        }
        let device = identity.key.device_key();
        if identity.key.is_module() && !state.identities.contains_key(&device) {
            return Err(HubStoreError::NotFound(device));
        }
        state
            .identities
            .insert(identity.key.clone(), identity.clone());
        state.twins.insert(identity.key.clone(), twin.clone());
        Ok(())
    }

    async fn identity(&self, key: &IdentityKey) -> Result<Option<Identity>, HubStoreError> {
        Ok(self.state.lock().await.identities.get(key).cloned())
    }

    async fn update_identity(
        &self,
        identity: &Identity,
        expected_etag: u64,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        let stored = state
            .identities
            .get_mut(&identity.key)
            .ok_or_else(|| HubStoreError::NotFound(identity.key.clone()))?;
        if stored.etag != expected_etag {
            return Err(HubStoreError::Conflict(identity.key.clone()));
        }
        // The connection fields belong to claim/release: a registry change made from an
        // older read must not undo a connection.
        let connection = (
            stored.connection_state,
            stored.connection_state_updated,
            stored.last_activity,
        );
        *stored = identity.clone();
        (
            stored.connection_state,
            stored.connection_state_updated,
            stored.last_activity,
        ) = connection;
        Ok(())
    }

    async fn delete_identity(&self, key: &IdentityKey) -> Result<bool, HubStoreError> {
        let mut state = self.state.lock().await;
        let family = state.family(key);
        for member in &family {
            state.identities.remove(member);
            state.twins.remove(member);
            state.messages.remove(member);
            state.sessions.remove(&member.to_string());
            state.owners.remove(member);
        }
        Ok(!family.is_empty())
    }

    async fn list_identities(&self, query: &IdentityQuery) -> Result<IdentityPage, HubStoreError> {
        let state = self.state.lock().await;
        let listed_id = |identity: &Identity| match &query.modules_of {
            None => identity.key.device_id.clone(),
            Some(_) => identity.key.module_id.clone().unwrap_or_default(),
        };
        let mut matching = state.identities.values().filter(|identity| {
            let scope = match &query.modules_of {
                None => !identity.key.is_module(),
                Some(device) => identity.key.is_module() && identity.key.device_id == *device,
            };
            let model = query.model_id.as_deref().is_none_or(|wanted| {
                state
                    .twins
                    .get(&identity.key)
                    .and_then(|record| record.twin.model_id())
                    == Some(wanted)
            });
            let connection = query
                .connection_state
                .is_none_or(|wanted| identity.connection_state == wanted);
            let after = query
                .after
                .as_deref()
                .is_none_or(|after| listed_id(identity).as_str() > after);
            scope && model && connection && after
        });
        let identities: Vec<Identity> = matching.by_ref().take(query.limit).cloned().collect();
        let next_after = match (matching.next(), identities.last()) {
            (Some(_), Some(last)) => Some(listed_id(last)),
            _ => None,
        };
        Ok(IdentityPage {
            identities,
            next_after,
        })
    }

    async fn claim_connection(
        &self,
        key: &IdentityKey,
        instance: &str,
        at: Timestamp,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        set_connection(&mut state, key, ConnectionState::Connected, at)?;
        state.owners.insert(key.clone(), instance.to_owned());
        Ok(())
    }

    async fn release_connection(
        &self,
        key: &IdentityKey,
        instance: &str,
        at: Timestamp,
    ) -> Result<bool, HubStoreError> {
        let mut state = self.state.lock().await;
        if !state.identities.contains_key(key) {
            return Err(HubStoreError::NotFound(key.clone()));
        }
        if state.owners.get(key).map(String::as_str) != Some(instance) {
            return Ok(false);
        }
        state.owners.remove(key);
        set_connection(&mut state, key, ConnectionState::Disconnected, at)?;
        Ok(true)
    }

    async fn connection_owner(&self, key: &IdentityKey) -> Result<Option<String>, HubStoreError> {
        Ok(self.state.lock().await.owners.get(key).cloned())
    }

    async fn release_connections_of(
        &self,
        instance: &str,
        at: Timestamp,
    ) -> Result<u64, HubStoreError> {
        let mut state = self.state.lock().await;
        let owned: Vec<IdentityKey> = state
            .owners
            .iter()
            .filter(|(_, owner)| owner.as_str() == instance)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &owned {
            state.owners.remove(key);
            set_connection(&mut state, key, ConnectionState::Disconnected, at)?;
        }
        Ok(owned.len() as u64)
    }

    async fn record_activity(&self, key: &IdentityKey, at: Timestamp) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        let identity = state
            .identities
            .get_mut(key)
            .ok_or_else(|| HubStoreError::NotFound(key.clone()))?;
        identity.last_activity = Some(at);
        Ok(())
    }

    async fn twin(&self, key: &IdentityKey) -> Result<Option<TwinRecord>, HubStoreError> {
        Ok(self.state.lock().await.twins.get(key).cloned())
    }

    async fn update_twin(
        &self,
        key: &IdentityKey,
        expected_version: u64,
        record: &TwinRecord,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        let stored = state
            .twins
            .get_mut(key)
            .ok_or_else(|| HubStoreError::NotFound(key.clone()))?;
        if stored.twin.version() != expected_version {
            return Err(HubStoreError::Conflict(key.clone()));
        }
        *stored = record.clone();
        Ok(())
    }

    async fn enqueue_c2d(
        &self,
        key: &IdentityKey,
        message: &C2dMessage,
        limit: usize,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        if !state.identities.contains_key(key) {
            return Err(HubStoreError::NotFound(key.clone()));
        }
        let queue = state.messages.entry(key.clone()).or_default();
        let pending = queue
            .iter()
            .filter(|m| m.expires > message.enqueued)
            .count();
        if pending >= limit {
            return Err(HubStoreError::QueueFull {
                key: key.clone(),
                limit,
            });
        }
        queue.push(message.clone());
        Ok(())
    }

    async fn pending_c2d(
        &self,
        key: &IdentityKey,
        now: Timestamp,
    ) -> Result<Vec<C2dMessage>, HubStoreError> {
        let state = self.state.lock().await;
        Ok(state
            .messages
            .get(key)
            .map(|queue| queue.iter().filter(|m| m.expires > now).cloned().collect())
            .unwrap_or_default())
    }

    async fn mark_c2d_sent(
        &self,
        key: &IdentityKey,
        message_id: &str,
    ) -> Result<(), HubStoreError> {
        let mut state = self.state.lock().await;
        if let Some(message) = state
            .messages
            .get_mut(key)
            .and_then(|queue| queue.iter_mut().find(|m| m.message_id == message_id))
        {
            message.delivery_count += 1;
        }
        Ok(())
    }

    async fn complete_c2d(
        &self,
        key: &IdentityKey,
        message_id: &str,
    ) -> Result<bool, HubStoreError> {
        let mut state = self.state.lock().await;
        let Some(queue) = state.messages.get_mut(key) else {
            return Ok(false);
        };
        let before = queue.len();
        queue.retain(|m| m.message_id != message_id);
        Ok(queue.len() < before)
    }

    async fn purge_expired_c2d(&self, now: Timestamp) -> Result<u64, HubStoreError> {
        let mut state = self.state.lock().await;
        let mut purged = 0;
        for queue in state.messages.values_mut() {
            let before = queue.len();
            queue.retain(|m| m.expires > now);
            purged += (before - queue.len()) as u64;
        }
        Ok(purged)
    }

    async fn session(&self, client_id: &str) -> Result<Option<SessionRecord>, HubStoreError> {
        Ok(self.state.lock().await.sessions.get(client_id).cloned())
    }

    async fn save_session(
        &self,
        client_id: &str,
        session: &SessionRecord,
    ) -> Result<(), HubStoreError> {
        self.state
            .lock()
            .await
            .sessions
            .insert(client_id.to_owned(), session.clone());
        Ok(())
    }

    async fn delete_session(&self, client_id: &str) -> Result<(), HubStoreError> {
        self.state.lock().await.sessions.remove(client_id);
        Ok(())
    }
}

/// Records a connection state change (and, with it, activity) without touching the etag.
fn set_connection(
    state: &mut State,
    key: &IdentityKey,
    connection: ConnectionState,
    at: Timestamp,
) -> Result<(), HubStoreError> {
    let identity = state
        .identities
        .get_mut(key)
        .ok_or_else(|| HubStoreError::NotFound(key.clone()))?;
    identity.connection_state = connection;
    identity.connection_state_updated = Some(at);
    identity.last_activity = Some(at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_passes_the_conformance_checks() {
        crate::conformance::run_all(&MemoryHubStore::new()).await;
    }
}
