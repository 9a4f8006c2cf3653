//! `twinhub export DEST`: writes a static DMR tree — model files byte-exact, `.expanded.json`,
//! `metadata.json` and index pages — that any static file server can host and the Azure
//! `ModelsRepositoryClient`s resolve from. The source is a store (`--database-url`, built with
//! the same code the server serves from) or any repository URL with an index (`--repo`).
//! A DEST ending in `.zip` gets a zip archive of the tree instead of a folder.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use futures_util::StreamExt;
use twinhub_client::{ClientError, DependencyResolution, RepositoryClient};

use super::progress::CliProgress;
use super::{Exit, RepoArgs, TokenArgs};
use crate::domain::access::ReadScope;
use crate::repository::publish::Progress;
use crate::repository::resolution::{DmrSettings, Resolution, expanded_document, index_name};

/// Exit codes: 0 exported, 1 the source is not a complete repository, 3 credentials refused,
/// 4 network, database or file-system error.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["repo", "database_url"]))]
pub struct ExportArgs {
    /// Folder to create (absent or empty), or a file name ending in .zip.
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
    /// Export from this repository (a twinhub server or any DMR tree with index.json).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Export from this database (`sqlite://PATH` or `postgres://…`), server stopped or not.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub token: TokenArgs,
    /// `sourceRepo` in metadata.json (with --database-url).
    #[arg(long, default_value = "twinhub", value_name = "NAME")]
    pub repository_name: String,
    /// Models per index page (with --database-url).
    #[arg(long, default_value_t = 2048, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub index_page_size: u64,
    /// With --database-url: also export models of private namespaces. Without it the tree
    /// holds what anonymous clients of the server may read, since static trees are served to
    /// anyone.
    #[arg(long)]
    pub include_private: bool,
    /// With --database-url: which namespaces are private.
    #[command(flatten)]
    pub visibility: super::VisibilityArgs,
}

/// Where the tree goes: a folder or a zip archive.
enum Sink {
    Folder(PathBuf),
    Zip(Box<zip::ZipWriter<File>>),
}

impl Sink {
    fn create(dest: &Path) -> Result<Sink, String> {
        if dest
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            let file =
                File::create(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
            return Ok(Sink::Zip(Box::new(zip::ZipWriter::new(file))));
        }
        if dest.exists() {
            let mut entries = std::fs::read_dir(dest)
                .map_err(|e| format!("cannot read {}: {e}", dest.display()))?;
            if entries.next().is_some() {
                return Err(format!(
                    "{} is not empty; export into a new or empty folder so no stale files remain",
                    dest.display()
                ));
            }
        }
        Ok(Sink::Folder(dest.to_owned()))
    }

    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot write {path}: {e}");
        match self {
            Sink::Folder(root) => {
                let file = root.join(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| failed(&e))?;
                }
                std::fs::write(&file, bytes).map_err(|e| failed(&e))
            }
            Sink::Zip(zip) => {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated);
                zip.start_file(path, options).map_err(|e| failed(&e))?;
                zip.write_all(bytes).map_err(|e| failed(&e))
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Folder(_) => Ok(()),
            Sink::Zip(zip) => zip
                .finish()
                .map(|_| ())
                .map_err(|e| format!("cannot finish the zip archive: {e}")),
        }
    }
}

pub fn run(args: ExportArgs) -> ExitCode {
    super::block_on("export", async {
        match export(&args).await {
            Ok(count) => {
                println!("exported {count} model(s) to {}", args.dest.display());
                ExitCode::SUCCESS
            }
            Err((exit, message)) => {
                eprintln!("twinhub export: {message}");
                exit.into()
            }
        }
    })
}

type Failure = (Exit, String);

async fn export(args: &ExportArgs) -> Result<usize, Failure> {
    let mut sink = Sink::create(&args.dest).map_err(|m| (Exit::Usage, m))?;
    let progress = CliProgress::new(false);
    let count = match (&args.database_url, &args.repo) {
        (Some(url), _) => from_database(args, url, &mut sink, &progress).await?,
        (None, Some(repo)) => from_repository(args, repo, &mut sink, &progress).await?,
        (None, None) => return Err((Exit::Usage, "give --repo or --database-url".to_owned())),
    };
    progress.finish();
    sink.finish().map_err(|m| (Exit::Unavailable, m))?;
    Ok(count)
}

/// The tree exactly as a server on this database serves it.
async fn from_database(
    args: &ExportArgs,
    url: &str,
    sink: &mut Sink,
    progress: &CliProgress,
) -> Result<usize, Failure> {
    let store_error = |e: crate::store::StoreError| (Exit::Unavailable, e.to_string());
    let write_error = |m: String| (Exit::Unavailable, m);
    let store = crate::store::open(url, 4).await.map_err(store_error)?;
    let scope = if args.include_private {
        ReadScope::Everything
    } else {
        let visibility = store
            .visibility_map(args.visibility.default_visibility)
            .await
            .map_err(store_error)?;
        // The anonymous view: what the server shows to callers without grants.
        if visibility.all_public() {
            ReadScope::Everything
        } else {
            ReadScope::Restricted {
                visibility,
                readable: Vec::new(),
            }
        }
    };
    let resolution = Resolution::new(
        store,
        DmrSettings {
            repository_name: args.repository_name.clone(),
            index_page_size: usize::try_from(args.index_page_size).unwrap_or(usize::MAX),
            // Every file is read once: keep the cache small.
            cache_max_bytes: 1 << 20,
        },
    );
    let metadata = resolution.metadata(&scope).await.map_err(store_error)?;
    let mut dtmis = Vec::new();
    let mut number = 0;
    while let Some(page) = resolution
        .index_page(number, &scope)
        .await
        .map_err(store_error)?
    {
        dtmis.extend(page_models(&page.body).map_err(|m| (Exit::Unavailable, m))?);
        sink.write(&index_name(number), &page.body)
            .map_err(write_error)?;
        number += 1;
    }
    progress.stage("exporting models", dtmis.len());
    for dtmi in &dtmis {
        let parsed = dtdl::Dtmi::parse(dtmi)
            .map_err(|e| (Exit::Unavailable, format!("stored DTMI {dtmi}: {e}")))?;
        for path in [parsed.to_dmr_path(), parsed.to_dmr_expanded_path()] {
            let file = resolution.file(&path).await.map_err(store_error)?;
            // An expanded file may reach into a namespace the index does not show.
            let Some(file) = file.filter(|f| f.members.iter().all(|m| scope.can_read(m))) else {
                return Err((
                    Exit::Unavailable,
                    format!("{dtmi} vanished during the export; run it again"),
                ));
            };
            sink.write(&path, &file.body).map_err(write_error)?;
        }
        progress.advance(1);
    }
    sink.write("metadata.json", &metadata.body)
        .map_err(write_error)?;
    Ok(dtmis.len())
}

/// The DTMIs listed on one index page, in page order.
fn page_models(body: &[u8]) -> Result<Vec<String>, String> {
    let page: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("an index page is not JSON: {e}"))?;
    Ok(page["models"]
        .as_object()
        .map(|models| models.keys().cloned().collect())
        .unwrap_or_default())
}

/// Copies a repository's tree through its index: listings and model files byte-exact;
/// expanded files as served, or built from the resolved closure where the repository has none.
async fn from_repository(
    args: &ExportArgs,
    repo: &str,
    sink: &mut Sink,
    progress: &CliProgress,
) -> Result<usize, Failure> {
    let client_error = |e: ClientError| (Exit::for_client_error(&e), e.to_string());
    let write_error = |m: String| (Exit::Unavailable, m);
    let client = RepoArgs::for_location(repo, &args.token)
        .client()
        .map_err(client_error)?;
    let mut dtmis = Vec::new();
    let mut name = Some(index_name(0));
    let mut seen = std::collections::HashSet::new();
    while let Some(page_name) = name.take() {
        if !seen.insert(page_name.clone()) || page_name.contains('/') {
            break;
        }
        let Some(body) = client.get_file(&page_name).await.map_err(client_error)? else {
            return Err((
                Exit::Invalid,
                format!("{repo} has no {page_name}; exporting a repository needs its index pages"),
            ));
        };
        dtmis.extend(page_models(body.as_bytes()).map_err(|m| (Exit::Invalid, m))?);
        let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        name = page["links"]["next"].as_str().map(str::to_owned);
        sink.write(&page_name, body.as_bytes())
            .map_err(write_error)?;
    }
    let metadata = client
        .get_file("metadata.json")
        .await
        .map_err(client_error)?
        .ok_or_else(|| (Exit::Invalid, format!("{repo} has no metadata.json")))?;

    progress.stage("exporting models", dtmis.len());
    let fetches = futures_util::stream::iter(dtmis.iter().map(|dtmi| {
        let client = client.clone();
        async move { fetch_model(&client, dtmi).await.map_err(client_error) }
    }))
    .buffered(16);
    futures_util::pin_mut!(fetches);
    while let Some(fetched) = fetches.next().await {
        let files = fetched?;
        for (path, body) in files {
            sink.write(&path, &body).map_err(write_error)?;
        }
        progress.advance(1);
    }
    sink.write("metadata.json", metadata.as_bytes())
        .map_err(write_error)?;
    Ok(dtmis.len())
}

/// A model's file and expanded file: paths and bodies.
async fn fetch_model(
    client: &RepositoryClient,
    dtmi: &str,
) -> Result<[(String, Vec<u8>); 2], ClientError> {
    let parsed = dtdl::Dtmi::parse(dtmi).map_err(|_| ClientError::InvalidDtmi(dtmi.to_owned()))?;
    let (path, expanded_path) = (parsed.to_dmr_path(), parsed.to_dmr_expanded_path());
    let not_found = || ClientError::NotFound {
        dtmi: dtmi.to_owned(),
        location: client.location(),
    };
    let model = client.get_file(&path).await?.ok_or_else(not_found)?;
    let expanded = match client.get_file(&expanded_path).await? {
        Some(expanded) => expanded.into_bytes(),
        None => {
            let closure = client
                .get_models(&[dtmi], DependencyResolution::Enabled)
                .await?;
            expanded_document(closure.iter().map(|m| m.content.as_bytes()))
        }
    };
    Ok([(path, model.into_bytes()), (expanded_path, expanded)])
}
