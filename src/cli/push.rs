//! `twinhub push PATH…`: imports model files and folders (DMR layout or any layout) into a
//! repository as one all-or-nothing push, keeping each single-model file's exact bytes. Meant
//! for CI pipelines; the exit code says what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

/// Why a push could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PushCommandError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no .json model files")]
    NoFiles(String),
    #[error("cannot reach the repository at {url}: {source}")]
    Request { url: String, source: reqwest::Error },
}

/// Collects `.json` files under `paths` (files as given, folders recursively, skipping
/// `.expanded.json`, `index*.json` and `metadata.json`), sorted for a stable push.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, PushCommandError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, path, &mut found)?;
        } else {
            found.push((path.display().to_string(), read(path)?));
        }
    }
    if found.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(PushCommandError::NoFiles(names.join(", ")));
    }
    Ok(found)
}

fn walk(
    root: &Path,
    dir: &Path,
    found: &mut Vec<(String, String)>,
) -> Result<(), PushCommandError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PushCommandError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            walk(root, &path, found)?;
        } else if name.ends_with(".json")
            && !name.ends_with(".expanded.json")
            && !name.starts_with("index")
            && name != "metadata.json"
        {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            found.push((relative, read(&path)?));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, PushCommandError> {
    std::fs::read_to_string(path).map_err(|source| PushCommandError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Sends the files and prints the outcome: 0 stored (or already stored), 2 refused by the
/// repository (the problem is printed), 1 anything else.
pub async fn run(url: &str, token: Option<&str>, paths: &[PathBuf]) -> ExitCode {
    match push(url, token, paths).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("twinhub push: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn push(
    url: &str,
    token: Option<&str>,
    paths: &[PathBuf],
) -> Result<ExitCode, PushCommandError> {
    let files = collect_files(paths)?;
    let body = json!({
        "files": files.iter().map(|(path, content)| json!({"path": path, "content": content})).collect::<Vec<_>>()
    });
    let endpoint = format!("{}/api/v1/imports", url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&endpoint).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let request_error = |source| PushCommandError::Request {
        url: endpoint.clone(),
        source,
    };
    let response = request.send().await.map_err(request_error)?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(request_error)?;
    if status.is_success() {
        let created = answer["created"].as_array().map_or(0, Vec::len);
        let unchanged = answer["unchanged"].as_array().map_or(0, Vec::len);
        for model in answer["created"].as_array().into_iter().flatten() {
            println!("stored    {}", model["dtmi"].as_str().unwrap_or_default());
        }
        println!(
            "{created} stored, {unchanged} already stored identically ({} file(s))",
            files.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "twinhub push: refused ({status}): {}",
        answer["detail"].as_str().unwrap_or_default()
    );
    for issue in answer["errors"].as_array().into_iter().flatten() {
        let place = match (
            issue["file"].as_str(),
            issue["line"].as_u64(),
            issue["column"].as_u64(),
        ) {
            (Some(file), Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            (Some(file), _, _) => file.to_owned(),
            _ => String::from("-"),
        };
        eprintln!(
            "  {place}: {} [{}]",
            issue["message"].as_str().unwrap_or_default(),
            issue["code"].as_str().unwrap_or_default()
        );
    }
    Ok(if status.is_client_error() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_for_model_files_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let models = dir.path().join("dtmi/com/example");
        std::fs::create_dir_all(&models).expect("mkdir");
        std::fs::write(models.join("thermostat-1.json"), "{}\n").expect("write");
        std::fs::write(models.join("thermostat-1.expanded.json"), "[]").expect("write");
        std::fs::write(dir.path().join("index.json"), "{}").expect("write");
        std::fs::write(dir.path().join("README.md"), "#").expect("write");
        let files = collect_files(&[dir.path().to_owned()]).expect("files");
        assert_eq!(
            files,
            [(
                "dtmi/com/example/thermostat-1.json".to_owned(),
                "{}\n".to_owned()
            )]
        );
        assert!(collect_files(&[dir.path().join("dtmi/com/none")]).is_err());
    }
}
