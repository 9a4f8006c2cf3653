//! The 850 real public models of ../shared/models-sample: pushed in one batch through the API,
//! each then resolved byte-exact, with its expanded closure. Skipped with a notice where the
//! sample is absent.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use crate::helpers::{Backend, on_both_backends, spawn_app_with};

fn sample_root() -> Option<PathBuf> {
    let root = std::env::var_os("TWINHUB_MODELS_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models-sample"));
    root.join("dtmi").is_dir().then_some(root)
}

fn model_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            model_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "json") {
            into.push(path);
        }
    }
}

on_both_backends! {
    async fn the_public_sample_models_import_in_one_batch_and_resolve_byte_exact(backend: Backend) {
        let Some(root) = sample_root() else {
            eprintln!("../shared/models-sample is absent: skipping the sample import test");
            return;
        };
        let mut files = Vec::new();
        model_files(&root.join("dtmi"), &mut files);
        let texts: Vec<String> = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).expect("read model");
                text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text)
            })
            .collect();
        let app = spawn_app_with(backend, |s| s.max_body_bytes = 32 * 1024 * 1024).await;
        let body = format!("[{}]", texts.join(","));
        let response = app.push(body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, StatusCode::CREATED, "{}", &text[..text.len().min(4000)]);
        assert_eq!(app.model_count().await, files.len() as u64);

        for (file, content) in files.iter().zip(&texts) {
            let relative = file.strip_prefix(&root).expect("under root").to_string_lossy().replace('\\', "/");
            let served = app.get(&format!("/{relative}")).await;
            assert_eq!(served.status(), StatusCode::OK, "{relative}");
            // In an array each model is stored as the exact text of its element.
            assert_eq!(served.text().await.expect("body"), content.trim(), "{relative}");
            let expanded = app.get(&format!("/{}", relative.replace(".json", ".expanded.json"))).await;
            assert_eq!(expanded.status(), StatusCode::OK, "{relative}");
            let models: Vec<serde_json::Value> = expanded.json().await.expect("array");
            let own: serde_json::Value = serde_json::from_str(content).expect("model JSON");
            assert_eq!(models.first(), Some(&own), "{relative}: root first");
        }
    }
}
