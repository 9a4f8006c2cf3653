//! The casbin adapter over our store, so one binary keeps its policy in SQLite or PostgreSQL
//! (casbin's own sqlx adapter picks one database at compile time). It loads the grants from
//! `authz_rules`, the fixed role rules from [`ROLE_RULES`](super::ROLE_RULES) and the
//! bootstrap admin rule. It is read-only on purpose: every policy change goes through the
//! store, in a transaction with its audit entry, and then every instance reloads.

use std::sync::Arc;

use async_trait::async_trait;
use casbin::error::AdapterError;
use casbin::{Adapter, Filter, Model};

use crate::domain::access::BOOTSTRAP_SUBJECT;
use crate::store::Store;

/// Loads the casbin policy from the database.
pub struct StoreAdapter {
    store: Arc<dyn Store>,
}

impl StoreAdapter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the access policy changes only through the twinhub store (grants, tokens, namespaces), so each change is audited; casbin's {0} is not used"
)]
struct ReadOnly(&'static str);

fn read_only(operation: &'static str) -> casbin::Error {
    casbin::Error::AdapterError(AdapterError(Box::new(ReadOnly(operation))))
}

#[async_trait]
impl Adapter for StoreAdapter {
    async fn load_policy(&mut self, model: &mut dyn Model) -> casbin::Result<()> {
        let grants = self
            .store
            .grants()
            .await
            .map_err(|e| casbin::Error::AdapterError(AdapterError(Box::new(e))))?;
        for grant in grants {
            model.add_policy(
                "p",
                "p",
                vec![
                    grant.subject.key(),
                    grant.namespace.as_str().to_owned(),
                    format!("role:{}", grant.role),
                ],
            );
        }
        model.add_policy(
            "p",
            "p",
            vec![
                BOOTSTRAP_SUBJECT.to_owned(),
                "*".to_owned(),
                "role:admin".to_owned(),
            ],
        );
        for (member, of) in super::ROLE_RULES {
            model.add_policy("g", "g", vec![(*member).to_owned(), (*of).to_owned()]);
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        model: &mut dyn Model,
        _filter: Filter<'a>,
    ) -> casbin::Result<()> {
        // The policy is small (one rule per grant); it is always loaded whole.
        self.load_policy(model).await
    }

    async fn save_policy(&mut self, _model: &mut dyn Model) -> casbin::Result<()> {
        Err(read_only("save_policy"))
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Err(read_only("clear_policy"))
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Err(read_only("add_policy"))
    }

    async fn add_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only("add_policies"))
    }

    async fn remove_policy(&mut self, _: &str, _: &str, _: Vec<String>) -> casbin::Result<bool> {
        Err(read_only("remove_policy"))
    }

    async fn remove_policies(
        &mut self,
        _: &str,
        _: &str,
        _: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only("remove_policies"))
    }

    async fn remove_filtered_policy(
        &mut self,
        _: &str,
        _: &str,
        _: usize,
        _: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(read_only("remove_filtered_policy"))
    }
}
