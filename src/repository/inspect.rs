//! Reading a stored model as DTDL: its record, bytes, dependency closure and the parsed object
//! model (references resolved from the closure), for the pages, the diff and facet indexing.

use std::collections::HashMap;

use crate::domain::model::{ModelRecord, StoredModel};
use crate::store::{ModelStore, StoreError};

/// A stored model, its closure and its parse.
pub struct ParsedModel {
    pub record: ModelRecord,
    pub content: Vec<u8>,
    /// The model and every model it depends on, root first.
    pub closure: Vec<StoredModel>,
    pub model: dtdl::Model,
}

impl ParsedModel {
    /// The model's root interface.
    pub fn root(&self) -> Option<dtdl::ElementRef<'_>> {
        self.model.element(&self.record.dtmi)
    }
}

/// Why a stored model could not be read as DTDL.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored model {dtmi} no longer parses: {reason}")]
    Unparsable { dtmi: String, reason: String },
}

/// Loads the model with exactly this DTMI (case-sensitive) and parses it.
pub async fn load(
    store: &dyn ModelStore,
    dtmi: &str,
    options: &dtdl::ParsingOptions,
) -> Result<Option<ParsedModel>, InspectError> {
    let Some(found) = store
        .find(&dtmi.to_lowercase())
        .await?
        .filter(|m| m.record.dtmi == dtmi)
    else {
        return Ok(None);
    };
    load_parsed(store, found.record, found.content, options)
        .await
        .map(Some)
}

/// Parses a stored model, resolving its references from its stored closure.
pub async fn load_parsed(
    store: &dyn ModelStore,
    record: ModelRecord,
    content: Vec<u8>,
    options: &dtdl::ParsingOptions,
) -> Result<ParsedModel, InspectError> {
    let closure = store.closure(record.id).await?;
    let unparsable = |reason: String| InspectError::Unparsable {
        dtmi: record.dtmi.clone(),
        reason,
    };
    let texts: HashMap<&str, &str> = closure
        .iter()
        .filter_map(|m| {
            std::str::from_utf8(&m.content)
                .ok()
                .map(|t| (m.record.dtmi.as_str(), t))
        })
        .collect();
    let root = std::str::from_utf8(&content).map_err(|e| unparsable(e.to_string()))?;
    let mut resolver = |dtmis: &[dtdl::Dtmi]| -> Result<Vec<String>, dtdl::ResolverError> {
        Ok(dtmis
            .iter()
            .filter_map(|d| texts.get(d.as_str()).map(|t| (*t).to_owned()))
            .collect())
    };
    let model = dtdl::parse(&[root], Some(&mut resolver), options)
        .map_err(|e| unparsable(e.to_string()))?;
    Ok(ParsedModel {
        record,
        content,
        closure,
        model,
    })
}
