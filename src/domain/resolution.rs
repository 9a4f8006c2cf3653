//! The DMR documents served to resolving clients (model files, `.expanded.json`, metadata and
//! index pages), built from the store and kept in memory. Model and expanded files are
//! immutable except for their lifecycle headers, so entries only leave the cache when that
//! model's state changes or it is deleted; listings change with every write. Every
//! invalidation bumps a generation counter, and an entry computed under an older generation is
//! served but not cached, so a concurrent write can never leave a stale entry behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::model::{Change, ModelState, StoredModel};
use crate::store::{ModelStore, StoreError};

/// One servable DMR file.
#[derive(Debug)]
pub struct DmrFile {
    pub body: Bytes,
    /// Hex SHA-256 of `body`; the strong entity tag.
    pub sha256: String,
    /// Model files and expanded files never change; listings do.
    pub immutable: bool,
    /// Set when the model is deprecated or decommissioned: when it happened.
    pub deprecated_since: Option<DateTime<Utc>>,
    pub state: Option<ModelState>,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl DmrFile {
    fn new(body: Vec<u8>, immutable: bool) -> Self {
        let sha256 = hex::encode(Sha256::digest(&body));
        Self::with_hash(body, sha256, immutable)
    }

    fn with_hash(body: Vec<u8>, sha256: String, immutable: bool) -> Self {
        Self {
            body: Bytes::from(body),
            sha256,
            immutable,
            deprecated_since: None,
            state: None,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    fn for_model(model: &StoredModel, body: Vec<u8>, sha256: String) -> Self {
        let mut file = Self::with_hash(body, sha256, true);
        file.state = Some(model.record.state);
        if model.record.state != ModelState::Published {
            file.deprecated_since = model
                .record
                .state_changed_at
                .or(Some(model.record.pushed_at));
        }
        file
    }

    /// The body gzip-compressed, computed once.
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                // Writing into a Vec cannot fail.
                let _ = encoder.write_all(&self.body);
                Bytes::from(encoder.finish().unwrap_or_default())
            })
            .clone()
    }

    /// The body brotli-compressed, computed once.
    pub fn brotli(&self) -> Bytes {
        self.brotli
            .get_or_init(|| {
                let mut out = Vec::new();
                let params = brotli::enc::BrotliEncoderParams {
                    quality: 9,
                    ..Default::default()
                };
                let _ = brotli::BrotliCompress(&mut self.body.as_ref(), &mut out, &params);
                Bytes::from(out)
            })
            .clone()
    }

    fn weight(&self) -> u64 {
        u64::try_from(self.body.len() * 2 + 256).unwrap_or(u64::MAX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Model,
    Expanded,
}

#[derive(Clone)]
struct FileWeighter;

impl quick_cache::Weighter<(Kind, String), Arc<DmrFile>> for FileWeighter {
    fn weight(&self, key: &(Kind, String), value: &Arc<DmrFile>) -> u64 {
        value.weight() + key.1.len() as u64
    }
}

/// Listings are small and change together, so they are cached as one snapshot per revision.
#[derive(Default)]
struct Listings {
    metadata: Option<Arc<DmrFile>>,
    pages: Vec<Option<Arc<DmrFile>>>,
}

/// Settings of the DMR tree.
#[derive(Clone, Debug)]
pub struct DmrSettings {
    pub repository_name: String,
    pub index_page_size: usize,
    pub cache_max_bytes: u64,
}

/// Builds and caches the DMR documents.
pub struct Resolution {
    store: Arc<dyn ModelStore>,
    settings: DmrSettings,
    files: quick_cache::sync::Cache<(Kind, String), Arc<DmrFile>, FileWeighter>,
    listings: RwLock<Listings>,
    generation: AtomicU64,
}

impl Resolution {
    pub fn new(store: Arc<dyn ModelStore>, settings: DmrSettings) -> Self {
        let estimated_items = usize::try_from(settings.cache_max_bytes / 4096)
            .unwrap_or(1024)
            .max(16);
        Self {
            files: quick_cache::sync::Cache::with_weighter(
                estimated_items,
                settings.cache_max_bytes,
                FileWeighter,
            ),
            store,
            settings,
            listings: RwLock::new(Listings::default()),
            generation: AtomicU64::new(0),
        }
    }

    /// The model file for a lowercase DTMI, byte-exact as pushed.
    pub async fn model(&self, dtmi_lower: &str) -> Result<Option<Arc<DmrFile>>, StoreError> {
        let key = (Kind::Model, dtmi_lower.to_owned());
        if let Some(file) = self.files.get(&key) {
            return Ok(Some(file));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(model) = self.store.find(dtmi_lower).await? else {
            return Ok(None);
        };
        let sha256 = model.record.sha256.clone();
        let file = Arc::new(DmrFile::for_model(&model, model.content.clone(), sha256));
        self.remember(key, &file, generation);
        Ok(Some(file))
    }

    /// The expanded file: a JSON array of the model and its whole dependency closure.
    pub async fn expanded(&self, dtmi_lower: &str) -> Result<Option<Arc<DmrFile>>, StoreError> {
        let key = (Kind::Expanded, dtmi_lower.to_owned());
        if let Some(file) = self.files.get(&key) {
            return Ok(Some(file));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(root) = self.store.find(dtmi_lower).await? else {
            return Ok(None);
        };
        let closure = self.store.closure(root.record.id).await?;
        let body = expanded_body(&closure);
        let sha256 = hex::encode(Sha256::digest(&body));
        let file = Arc::new(DmrFile::for_model(&root, body, sha256));
        self.remember(key, &file, generation);
        Ok(Some(file))
    }

    /// `/metadata.json`.
    pub async fn metadata(&self) -> Result<Arc<DmrFile>, StoreError> {
        if let Some(file) = self.read_listings(|l| l.metadata.clone()) {
            return Ok(file);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let status = self.store.status().await?;
        let published = status.updated_at.unwrap_or_else(Utc::now);
        // Keys in sorted order, as the public repository's pipeline wrote them.
        let document = json!({
            "commitId": format!("twinhub-revision-{}", status.revision),
            "features": { "expanded": true, "index": true },
            "publishDateUtc": published.to_rfc3339_opts(SecondsFormat::Micros, false),
            "sourceRepo": self.settings.repository_name,
            "totalModelCount": status.model_count,
        });
        let file = Arc::new(DmrFile::new(pretty(&document), false));
        self.write_listings(generation, |l| l.metadata = Some(file.clone()));
        Ok(file)
    }

    /// Index page `number` (0 is `index.json`, N is `index.page.N.json`); `None` past the end.
    pub async fn index_page(&self, number: usize) -> Result<Option<Arc<DmrFile>>, StoreError> {
        if let Some(file) = self.read_listings(|l| l.pages.get(number).cloned().flatten()) {
            return Ok(Some(file));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let size = self.settings.index_page_size;
        let total = usize::try_from(self.store.status().await?.model_count).unwrap_or_default();
        if number > 0 && number.saturating_mul(size) >= total {
            return Ok(None);
        }
        let offset = number.saturating_mul(size) as u64;
        let entries = self.store.index_entries(offset, size as u64).await?;
        let mut models = Map::new();
        for entry in entries {
            let mut fields = Map::new();
            if let Some(name) = entry.display_name {
                fields.insert("displayName".to_owned(), name);
            }
            if let Some(description) = entry.description {
                fields.insert("description".to_owned(), description);
            }
            models.insert(entry.dtmi, Value::Object(fields));
        }
        let mut links = Map::new();
        if (number + 1).saturating_mul(size) < total {
            links.insert("next".to_owned(), json!(index_name(number + 1)));
        }
        if number > 0 {
            links.insert("prev".to_owned(), json!(index_name(number - 1)));
        }
        links.insert("self".to_owned(), json!(index_name(number)));
        let document = json!({ "links": links, "models": models, "version": "1.0" });
        let file = Arc::new(DmrFile::new(pretty(&document), false));
        self.write_listings(generation, |l| {
            if l.pages.len() <= number {
                l.pages.resize(number + 1, None);
            }
            l.pages[number] = Some(file.clone());
        });
        Ok(Some(file))
    }

    /// Drops exactly what `change` makes stale.
    pub fn apply(&self, change: &Change) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::ModelsAdded => {}
            Change::StateChanged { dtmi_lower } | Change::Deleted { dtmi_lower } => {
                self.files.remove(&(Kind::Model, dtmi_lower.clone()));
                self.files.remove(&(Kind::Expanded, dtmi_lower.clone()));
            }
        }
        self.clear_listings();
    }

    /// Drops everything (after missed notifications).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.files.clear();
        self.clear_listings();
    }

    fn clear_listings(&self) {
        if let Ok(mut listings) = self.listings.write() {
            *listings = Listings::default();
        }
    }

    fn remember(&self, key: (Kind, String), file: &Arc<DmrFile>, generation: u64) {
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.files.insert(key.clone(), file.clone());
        // An invalidation raced with the insert: the entry may be stale, so drop it again.
        if self.generation.load(Ordering::Acquire) != generation {
            self.files.remove(&key);
        }
    }

    fn read_listings<T>(&self, read: impl FnOnce(&Listings) -> Option<T>) -> Option<T> {
        self.listings.read().ok().and_then(|l| read(&l))
    }

    fn write_listings(&self, generation: u64, write: impl FnOnce(&mut Listings)) {
        if let Ok(mut listings) = self.listings.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            write(&mut listings);
        }
    }
}

fn index_name(number: usize) -> String {
    if number == 0 {
        "index.json".to_owned()
    } else {
        format!("index.page.{number}.json")
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// The closure as a JSON array of the stored documents, each byte-exact.
fn expanded_body(closure: &[StoredModel]) -> Vec<u8> {
    let mut body =
        Vec::with_capacity(closure.iter().map(|m| m.content.len() + 2).sum::<usize>() + 4);
    body.extend_from_slice(b"[\n");
    for (i, model) in closure.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",\n");
        }
        body.extend_from_slice(model.content.trim_ascii());
    }
    body.extend_from_slice(b"\n]\n");
    body
}
