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

use crate::domain::access::ReadScope;
use crate::domain::model::{Change, FacetCount, ModelState, SearchQuery, StoredModel};
use crate::store::{ModelStore, StoreError};

/// One servable DMR file.
#[derive(Debug)]
pub struct DmrFile {
    pub body: Bytes,
    /// Hex SHA-256 of `body`; the strong entity tag.
    pub sha256: String,
    /// The quoted entity tags of the identity, gzip and brotli representations, ready to send.
    pub etags: [Bytes; 3],
    /// Model files and expanded files never change; listings do.
    pub immutable: bool,
    /// Set when the model is deprecated or decommissioned: when it happened.
    pub deprecated_since: Option<DateTime<Utc>>,
    pub state: Option<ModelState>,
    /// The models whose content the file holds (the root first); a caller must be allowed to
    /// read all of them. Empty for listings.
    pub members: Vec<String>,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl DmrFile {
    fn new(body: Vec<u8>, immutable: bool) -> Self {
        let sha256 = hex::encode(Sha256::digest(&body));
        Self::with_hash(body, sha256, immutable)
    }

    fn with_hash(body: Vec<u8>, sha256: String, immutable: bool) -> Self {
        let etags = [
            Bytes::from(format!("\"{sha256}\"")),
            Bytes::from(format!("\"{sha256}-gzip\"")),
            Bytes::from(format!("\"{sha256}-br\"")),
        ];
        Self {
            body: Bytes::from(body),
            etags,
            sha256,
            immutable,
            deprecated_since: None,
            state: None,
            members: Vec::new(),
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

#[derive(Clone)]
struct FileWeighter;

impl quick_cache::Weighter<String, Arc<DmrFile>> for FileWeighter {
    fn weight(&self, key: &String, value: &Arc<DmrFile>) -> u64 {
        value.weight() + key.len() as u64
    }
}

/// Listings are small and change together, so they are cached as one snapshot per revision,
/// for the two views most callers share: everything, and the public models only.
#[derive(Default)]
struct Listings {
    views: [ListingView; 2],
    /// Facet counts over every model (the home page and the unfiltered search page).
    facet_counts: Option<Arc<Vec<FacetCount>>>,
}

#[derive(Default)]
struct ListingView {
    metadata: Option<Arc<DmrFile>>,
    pages: Vec<Option<Arc<DmrFile>>>,
}

/// Which cached listing view serves `scope`; `None` for callers with grants on private
/// namespaces, whose listings are built for each request.
fn view_of(scope: &ReadScope) -> Option<usize> {
    match scope {
        ReadScope::Everything => Some(0),
        ReadScope::Restricted { readable, .. } if readable.is_empty() => Some(1),
        ReadScope::Restricted { .. } => None,
    }
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
    /// Model and expanded files keyed by their lowercase DMR path, so a hit costs one lookup.
    files: quick_cache::sync::Cache<String, Arc<DmrFile>, FileWeighter>,
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

    /// The file at a lowercase DMR path such as `dtmi/com/example/thermostat-1.json` (the model
    /// byte-exact as pushed) or `…-1.expanded.json` (a JSON array of the model and its whole
    /// dependency closure). `None` when no model is stored there or the path is not the
    /// canonical path of a DTMI.
    pub async fn file(&self, path_lower: &str) -> Result<Option<Arc<DmrFile>>, StoreError> {
        if let Some(file) = self.files.get(path_lower) {
            return Ok(Some(file));
        }
        let Some((dtmi_lower, expanded)) = model_path(path_lower) else {
            return Ok(None);
        };
        let generation = self.generation.load(Ordering::Acquire);
        let Some(model) = self.store.find(&dtmi_lower).await? else {
            return Ok(None);
        };
        let file = if expanded {
            let closure = self.store.closure(model.record.id).await?;
            let body = expanded_document(closure.iter().map(|m| m.content.as_slice()));
            let sha256 = hex::encode(Sha256::digest(&body));
            let mut file = DmrFile::for_model(&model, body, sha256);
            file.members = closure.iter().map(|m| m.record.dtmi.clone()).collect();
            file
        } else {
            let sha256 = model.record.sha256.clone();
            let mut file = DmrFile::for_model(&model, model.content.clone(), sha256);
            file.members = vec![model.record.dtmi.clone()];
            file
        };
        let file = Arc::new(file);
        self.remember(path_lower.to_owned(), &file, generation);
        Ok(Some(file))
    }

    /// `/metadata.json`, counting the models `scope` may read.
    pub async fn metadata(&self, scope: &ReadScope) -> Result<Arc<DmrFile>, StoreError> {
        let view = view_of(scope);
        if let Some(file) = self.read_listings(view, |l| l.metadata.clone()) {
            return Ok(file);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let status = self.store.status(scope).await?;
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
        self.write_listings(view, generation, |l| l.metadata = Some(file.clone()));
        Ok(file)
    }

    /// Index page `number` (0 is `index.json`, N is `index.page.N.json`); `None` past the end.
    /// Only models `scope` may read are listed.
    pub async fn index_page(
        &self,
        number: usize,
        scope: &ReadScope,
    ) -> Result<Option<Arc<DmrFile>>, StoreError> {
        let view = view_of(scope);
        if let Some(file) = self.read_listings(view, |l| l.pages.get(number).cloned().flatten()) {
            return Ok(Some(file));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let size = self.settings.index_page_size;
        let total =
            usize::try_from(self.store.status(scope).await?.model_count).unwrap_or_default();
        if number > 0 && number.saturating_mul(size) >= total {
            return Ok(None);
        }
        let offset = number.saturating_mul(size) as u64;
        let entries = self.store.index_entries(offset, size as u64, scope).await?;
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
        self.write_listings(view, generation, |l| {
            if l.pages.len() <= number {
                l.pages.resize(number + 1, None);
            }
            l.pages[number] = Some(file.clone());
        });
        Ok(Some(file))
    }

    /// Facet counts of `query`: those over every model are cached with the listings (they change
    /// with the same writes); filtered ones come from the store.
    pub async fn facet_counts(
        &self,
        query: &SearchQuery,
    ) -> Result<Arc<Vec<FacetCount>>, StoreError> {
        if !query.matches_everything() {
            return Ok(Arc::new(self.store.facet_counts(query).await?));
        }
        if let Some(counts) = self
            .listings
            .read()
            .ok()
            .and_then(|l| l.facet_counts.clone())
        {
            return Ok(counts);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let counts = Arc::new(self.store.facet_counts(query).await?);
        if let Ok(mut listings) = self.listings.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            listings.facet_counts = Some(counts.clone());
        }
        Ok(counts)
    }

    /// Drops exactly what `change` makes stale.
    pub fn apply(&self, change: &Change) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::ModelsAdded => {}
            // Visibility decides who sees which file, which `file` does not cache; listings
            // depend on it and are dropped below.
            Change::AccessChanged => {}
            Change::StateChanged { dtmi_lower } | Change::Deleted { dtmi_lower } => {
                match dtdl::Dtmi::parse(dtmi_lower) {
                    Ok(dtmi) => {
                        self.files.remove(dtmi.to_dmr_path().as_str());
                        self.files.remove(dtmi.to_dmr_expanded_path().as_str());
                    }
                    Err(_) => self.files.clear(),
                }
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

    fn remember(&self, key: String, file: &Arc<DmrFile>, generation: u64) {
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.files.insert(key.clone(), file.clone());
        // An invalidation raced with the insert: the entry may be stale, so drop it again.
        if self.generation.load(Ordering::Acquire) != generation {
            self.files.remove(&key);
        }
    }

    fn read_listings<T>(
        &self,
        view: Option<usize>,
        read: impl FnOnce(&ListingView) -> Option<T>,
    ) -> Option<T> {
        let view = view?;
        self.listings.read().ok().and_then(|l| read(&l.views[view]))
    }

    fn write_listings(
        &self,
        view: Option<usize>,
        generation: u64,
        write: impl FnOnce(&mut ListingView),
    ) {
        let Some(view) = view else { return };
        if let Ok(mut listings) = self.listings.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            write(&mut listings.views[view]);
        }
    }
}

/// The lowercase DTMI a lowercase path names, and whether it asks for the expanded file, if the
/// path is exactly that DTMI's canonical DMR path (anything else is not a model path).
fn model_path(path_lower: &str) -> Option<(String, bool)> {
    let (dtmi, expanded) = match dtdl::dmr_expanded_path_to_lowercase_dtmi(path_lower) {
        Some(dtmi) => (dtmi, true),
        None => (dtdl::dmr_path_to_lowercase_dtmi(path_lower)?, false),
    };
    let parsed = dtdl::Dtmi::parse(&dtmi).ok()?;
    let canonical = if expanded {
        parsed.to_dmr_expanded_path()
    } else {
        parsed.to_dmr_path()
    };
    (parsed.fragment().is_none() && canonical == path_lower).then_some((dtmi, expanded))
}

/// The file name of index page `number`: `index.json`, then `index.page.N.json`.
pub fn index_name(number: usize) -> String {
    if number == 0 {
        "index.json".to_owned()
    } else {
        format!("index.page.{number}.json")
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// An `.expanded.json` document: the given model texts (root first), each byte-exact apart
/// from surrounding whitespace, as one JSON array.
pub fn expanded_document<'a>(models: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = b"[\n".to_vec();
    for (i, content) in models.enumerate() {
        if i > 0 {
            body.extend_from_slice(b",\n");
        }
        body.extend_from_slice(content.trim_ascii());
    }
    body.extend_from_slice(b"\n]\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_model_paths_name_a_model() {
        assert_eq!(
            model_path("dtmi/com/example/thermostat-1.json"),
            Some(("dtmi:com:example:thermostat;1".to_owned(), false))
        );
        assert_eq!(
            model_path("dtmi/com/example/thermostat-1.expanded.json"),
            Some(("dtmi:com:example:thermostat;1".to_owned(), true))
        );
        assert_eq!(
            model_path("dtmi/com/example/model-1.2.json"),
            Some(("dtmi:com:example:model;1.2".to_owned(), false))
        );
        for bad in [
            "dtmi/com/example/thermostat;1.json",
            "dtmi/com/example/thermostat-01.json",
            "dtmi/com//thermostat-1.json",
            "dtmi/../etc/passwd",
            "dtmi/com/example/thermostat-1",
        ] {
            assert_eq!(model_path(bad), None, "{bad}");
        }
    }
}
