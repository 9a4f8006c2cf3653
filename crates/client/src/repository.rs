//! [`RepositoryClient`]: resolving models (with the three dependency modes), reading metadata
//! and index pages, and reading any file of a DMR tree. Fetched models are cached by DTMI for
//! the life of the client; `metadata.json` is read at most once, as the Azure clients do.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use crate::dependencies::dependencies_of;
use crate::error::ClientError;
use crate::options::{ClientOptions, DependencyResolution};
use crate::transport::{Location, Transport};

/// One resolved model: its DTMI and its exact text as the repository serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    pub dtmi: String,
    pub content: Arc<str>,
}

/// What a repository's `metadata.json` says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepositoryMetadata {
    /// `features.expanded`: `.expanded.json` files are published.
    pub expanded: bool,
    /// `features.index`: `index.json` pages are published.
    pub index: bool,
    pub total_model_count: Option<u64>,
    /// The whole document, for fields this type does not name.
    pub document: Value,
}

/// One entry of a repository's index pages.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    pub dtmi: String,
    pub display_name: Option<Value>,
    pub description: Option<Value>,
}

/// A client for one DMR-compatible repository. Cheap to clone; clones share cache and limits.
#[derive(Clone)]
pub struct RepositoryClient {
    transport: Transport,
    cache: Arc<Mutex<Cache>>,
    metadata: Arc<OnceCell<Option<RepositoryMetadata>>>,
}

/// Fetched models by DTMI: from their own files (byte-exact), and expanded files by root DTMI
/// (whose elements are the array's element texts, so they are kept apart).
#[derive(Default)]
struct Cache {
    models: HashMap<String, Arc<str>>,
    expanded: HashMap<String, Vec<(String, Arc<str>)>>,
}

/// A model as fetched: its own file, or its expanded file (the model and its closure).
enum Fetch {
    Single(Arc<str>, Value),
    Expanded(Vec<(String, Arc<str>)>),
}

impl RepositoryClient {
    /// A client for `location`: an `http(s)://` base URL, a `file://` URL or a folder path.
    pub fn new(location: &str) -> Result<Self, ClientError> {
        Self::with_options(location, ClientOptions::default())
    }

    pub fn with_options(location: &str, options: ClientOptions) -> Result<Self, ClientError> {
        Ok(Self {
            transport: Transport::new(Location::parse(location)?, options)?,
            cache: Arc::default(),
            metadata: Arc::default(),
        })
    }

    /// The location as given (URL without trailing slash, or folder).
    pub fn location(&self) -> String {
        self.transport.location.describe()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The requested models (first, in the order asked) and, unless `mode` is `Disabled`, every
    /// model they depend on, each once. Fails if any of them cannot be found.
    pub async fn get_models(
        &self,
        dtmis: &[&str],
        mode: DependencyResolution,
    ) -> Result<Vec<ResolvedModel>, ClientError> {
        for dtmi in dtmis {
            check_dtmi(dtmi)?;
        }
        let try_expanded = match mode {
            DependencyResolution::Disabled => false,
            DependencyResolution::TryFromExpanded => true,
            DependencyResolution::Enabled => self.metadata().await?.is_some_and(|m| m.expanded),
        };
        let mut result: Vec<ResolvedModel> = Vec::new();
        let mut have: HashSet<String> = HashSet::new();
        let mut wave: Vec<String> = Vec::new();
        for dtmi in dtmis {
            if !wave.iter().any(|d| d == dtmi) {
                wave.push((*dtmi).to_owned());
            }
        }
        while !wave.is_empty() {
            let fetches = futures_util::future::join_all(
                wave.iter().map(|dtmi| self.fetch_model(dtmi, try_expanded)),
            )
            .await;
            let mut next = Vec::new();
            for (dtmi, fetched) in wave.iter().zip(fetches) {
                match fetched? {
                    Fetch::Expanded(models) => {
                        for (id, content) in models {
                            if have.insert(id.clone()) {
                                result.push(ResolvedModel { dtmi: id, content });
                            }
                        }
                    }
                    Fetch::Single(content, value) => {
                        if have.insert(dtmi.clone()) {
                            result.push(ResolvedModel {
                                dtmi: dtmi.clone(),
                                content,
                            });
                        }
                        if mode != DependencyResolution::Disabled {
                            for dependency in dependencies_of(&value) {
                                if !have.contains(&dependency)
                                    && !next.contains(&dependency)
                                    && !wave.contains(&dependency)
                                {
                                    check_dtmi(&dependency)?;
                                    next.push(dependency);
                                }
                            }
                        }
                    }
                }
            }
            wave = next;
        }
        Ok(result)
    }

    /// Fetches one model, from the cache when it was fetched before.
    async fn fetch_model(&self, dtmi: &str, try_expanded: bool) -> Result<Fetch, ClientError> {
        if try_expanded && let Some(models) = self.lock_cache().expanded.get(dtmi).cloned() {
            return Ok(Fetch::Expanded(models));
        }
        let cached = self.lock_cache().models.get(dtmi).cloned();
        if let Some(content) = cached {
            let value = parse_json(&self.location(), &content)?;
            return Ok(Fetch::Single(content, value));
        }
        let parsed = dtdl::Dtmi::parse(dtmi).map_err(|_| ClientError::InvalidDtmi(dtmi.into()))?;
        if try_expanded {
            let path = parsed.to_dmr_expanded_path();
            // Any failure of the expanded file falls back to the model file, as the SDKs do.
            if let Ok(Some(text)) = self.transport.get(&path).await
                && let Ok(models) = split_expanded(&text)
                && models.first().is_some_and(|(id, _)| id == dtmi)
            {
                self.lock_cache()
                    .expanded
                    .insert(dtmi.to_owned(), models.clone());
                return Ok(Fetch::Expanded(models));
            }
        }
        let path = parsed.to_dmr_path();
        let Some(text) = self.transport.get(&path).await? else {
            return Err(ClientError::NotFound {
                dtmi: dtmi.to_owned(),
                location: self.location(),
            });
        };
        let url = format!("{}/{path}", self.location());
        let value = parse_json(&url, &text)?;
        let found = value.get("@id").and_then(Value::as_str).unwrap_or_default();
        if found != dtmi {
            return Err(ClientError::WrongCasing {
                url,
                expected: dtmi.to_owned(),
                found: found.to_owned(),
            });
        }
        let content: Arc<str> = Arc::from(text);
        self.lock_cache()
            .models
            .insert(dtmi.to_owned(), content.clone());
        Ok(Fetch::Single(content, value))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `metadata.json`, read once per client; `None` when the repository has none (or it is
    /// unreadable — like the Azure clients, a broken metadata file only disables expanded use).
    pub async fn metadata(&self) -> Result<Option<RepositoryMetadata>, ClientError> {
        let metadata = self
            .metadata
            .get_or_try_init(|| async {
                let text = match self.transport.get("metadata.json").await {
                    Ok(Some(text)) => text,
                    Ok(None) => return Ok(None),
                    Err(error) if error.is_unauthorized() => return Err(error),
                    Err(_) => return Ok(None),
                };
                let Ok(document) = serde_json::from_str::<Value>(&text) else {
                    return Ok(None);
                };
                let feature = |name: &str| document["features"][name].as_bool() == Some(true);
                Ok(Some(RepositoryMetadata {
                    expanded: feature("expanded"),
                    index: feature("index"),
                    total_model_count: document["totalModelCount"].as_u64(),
                    document,
                }))
            })
            .await?;
        Ok(metadata.clone())
    }

    /// Every entry of `index.json` and the pages it links to, in page order.
    pub async fn index(&self) -> Result<Vec<IndexEntry>, ClientError> {
        let mut entries = Vec::new();
        let mut visited = HashSet::new();
        let mut page = Some("index.json".to_owned());
        while let Some(name) = page.take() {
            if !visited.insert(name.clone()) || name.contains('/') || name.contains("..") {
                break;
            }
            let url = format!("{}/{name}", self.location());
            let Some(text) = self.transport.get(&name).await? else {
                return Err(ClientError::Status {
                    url,
                    status: 404,
                    detail: "the index page does not exist".to_owned(),
                });
            };
            let document = parse_json(&url, &text)?;
            let Some(models) = document["models"].as_object() else {
                return Err(ClientError::InvalidContent {
                    url,
                    message: "an index page needs a \"models\" object".to_owned(),
                });
            };
            entries.extend(models.iter().map(|(dtmi, fields)| IndexEntry {
                dtmi: dtmi.clone(),
                display_name: fields.get("displayName").cloned(),
                description: fields.get("description").cloned(),
            }));
            page = document["links"]["next"].as_str().map(str::to_owned);
        }
        Ok(entries)
    }

    /// Any file of the tree by its relative path (e.g. `dtmi/com/example/thermostat-1.json`),
    /// exactly as served; `None` when it does not exist.
    pub async fn get_file(&self, path: &str) -> Result<Option<String>, ClientError> {
        self.transport.get(path).await
    }
}

fn check_dtmi(dtmi: &str) -> Result<(), ClientError> {
    match dtdl::Dtmi::parse(dtmi) {
        Ok(parsed) if parsed.fragment().is_none() => Ok(()),
        _ => Err(ClientError::InvalidDtmi(dtmi.to_owned())),
    }
}

fn parse_json(url: &str, text: &str) -> Result<Value, ClientError> {
    serde_json::from_str(text).map_err(|e| ClientError::InvalidContent {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// The elements of an expanded file with their `@id`s, each element's exact text.
fn split_expanded(text: &str) -> Result<Vec<(String, Arc<str>)>, serde_json::Error> {
    let elements: Vec<&RawValue> = serde_json::from_str(text)?;
    let mut models = Vec::with_capacity(elements.len());
    for element in elements {
        #[derive(serde::Deserialize)]
        struct Id {
            #[serde(rename = "@id")]
            id: Option<String>,
        }
        // Elements that are not objects with an @id are skipped, as the SDKs do.
        if let Ok(Id { id: Some(id) }) = serde_json::from_str::<Id>(element.get()) {
            models.push((id, Arc::from(element.get())));
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanded_files_split_into_exact_element_texts() {
        let text = "[\n{\"@id\": \"dtmi:a:B;1\", \"x\": 1},\n 7, {\"@id\":\"dtmi:a:C;1\"}\n]";
        let models = split_expanded(text).expect("array");
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].0, "dtmi:a:B;1");
        assert_eq!(&*models[0].1, "{\"@id\": \"dtmi:a:B;1\", \"x\": 1}");
        assert_eq!(&*models[1].1, "{\"@id\":\"dtmi:a:C;1\"}");
    }
}
