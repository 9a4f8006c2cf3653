//! What writes make stale, kept in step: the cached DMR files and facet counts
//! ([`Resolution`]) and the loaded access policy ([`Authz`]). Writes made here call
//! [`Caches`] directly; writes made by other instances arrive as PostgreSQL notifications,
//! which [`follow`] applies. A lost notification stream drops the whole cache, since
//! notifications may have been missed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::authz::{Authz, AuthzError};
use crate::domain::model::Change;
use crate::repository::resolution::Resolution;
use crate::store::Store;

/// The derived state of one instance.
pub struct Caches {
    resolution: Arc<Resolution>,
    authz: Arc<Authz>,
}

impl Caches {
    pub fn new(resolution: Arc<Resolution>, authz: Arc<Authz>) -> Self {
        Self { resolution, authz }
    }

    /// After a write to users, tokens, grants or namespaces: reload the policy and drop what
    /// depends on visibility.
    pub async fn access_changed(&self) -> Result<(), AuthzError> {
        self.authz.reload().await?;
        self.resolution.apply(&Change::AccessChanged);
        Ok(())
    }

    /// Applies another instance's change; `None` means notifications may have been missed:
    /// drop and reload everything.
    async fn apply(&self, change: Option<Change>) {
        let reload = match &change {
            Some(change) => {
                self.resolution.apply(change);
                *change == Change::AccessChanged
            }
            None => {
                self.resolution.clear();
                true
            }
        };
        if reload && let Err(error) = self.authz.reload().await {
            tracing::error!(error = %error, "cannot reload the access policy after a change");
        }
    }
}

/// Keeps `caches` in step with writes made by other instances, resubscribing in the
/// background whenever the notification stream ends.
pub async fn follow(store: Arc<dyn Store>, caches: Arc<Caches>) {
    let first = store.changes().await;
    let mut changes = match first {
        Ok(Some(stream)) => stream,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(error = %error, "cannot listen for changes from other instances; retrying in the background");
            caches.apply(None).await;
            return follow_later(store, caches);
        }
    };
    tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            caches.apply(change).await;
        }
        tracing::warn!("change notifications ended; resubscribing");
        caches.apply(None).await;
        follow_later(store, caches);
    });
}

fn follow_later(store: Arc<dyn Store>, caches: Arc<Caches>) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Box::pin(follow(store, caches)).await;
    });
}
