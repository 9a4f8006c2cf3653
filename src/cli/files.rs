//! Reading model files for `push`, `validate` and `import`: single files, folders walked
//! recursively (DMR trees or any layout) and zip archives. Listing files of a DMR tree
//! (`.expanded.json`, `index.json`, `index.page.N.json`, `metadata.json`) and hidden entries are
//! skipped; everything is read as UTF-8 and kept byte-exact.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why model files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name} is not UTF-8 text; model files must be UTF-8 JSON")]
    NotUtf8 { name: String },
    #[error("{} is not a readable zip archive: {message}", .path.display())]
    Zip { path: PathBuf, message: String },
    #[error("{0} holds no .json model files")]
    NoFiles(String),
}

/// One model file: the name issues are reported under, and its text.
pub type ModelFile = (String, String);

/// Reads every model file under `paths`: files as given, folders recursively (names relative to
/// the folder, so a DMR tree's files are named by their DMR path), zips by entry name. Sorted
/// by name within each path, for a stable order.
pub fn read(paths: &[PathBuf]) -> Result<Vec<ModelFile>, FilesError> {
    let mut found = Vec::new();
    for path in paths {
        let before = found.len();
        if path.is_dir() {
            walk(path, path, &mut found)?;
        } else if is_zip(path) {
            read_zip(path, &mut found)?;
        } else {
            let text = read_text(path, &path.display().to_string())?;
            found.push((path.display().to_string(), text));
        }
        found[before..].sort_by(|a, b| a.0.cmp(&b.0));
    }
    if found.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(FilesError::NoFiles(names.join(", ")));
    }
    Ok(found)
}

/// Whether a file name is a model file (and not a DMR listing or expanded file).
pub fn is_model_file_name(name: &str) -> bool {
    let is_index_page = name
        .strip_prefix("index.page.")
        .and_then(|rest| rest.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    name.ends_with(".json")
        && !name.starts_with('.')
        && !name.ends_with(".expanded.json")
        && name != "index.json"
        && name != "metadata.json"
        && !is_index_page
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<ModelFile>) -> Result<(), FilesError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FilesError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| FilesError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') {
                walk(root, &path, found)?;
            }
        } else if is_model_file_name(&name) {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let text = read_text(&path, &relative)?;
            found.push((relative, text));
        }
    }
    Ok(())
}

fn read_text(path: &Path, name: &str) -> Result<String, FilesError> {
    let bytes = std::fs::read(path).map_err(|source| FilesError::Read {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| FilesError::NotUtf8 {
        name: name.to_owned(),
    })
}

fn read_zip(path: &Path, found: &mut Vec<ModelFile>) -> Result<(), FilesError> {
    let zip_error = |message: String| FilesError::Zip {
        path: path.to_owned(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|source| FilesError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_error(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| zip_error(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| zip_error(e.to_string()))?
            .into_owned();
        let file_name = name.rsplit('/').next().unwrap_or_default();
        let hidden = name.split('/').any(|part| part.starts_with('.'));
        if entry.is_dir() || hidden || !is_model_file_name(file_name) {
            continue;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| zip_error(format!("{name}: {e}")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| FilesError::NotUtf8 { name: name.clone() })?;
        found.push((name, text));
    }
    Ok(())
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
        std::fs::write(models.join("index-1.json"), "{ }").expect("write");
        std::fs::write(models.join("thermostat-1.expanded.json"), "[]").expect("write");
        std::fs::write(dir.path().join("index.json"), "{}").expect("write");
        std::fs::write(dir.path().join("index.page.2.json"), "{}").expect("write");
        std::fs::write(dir.path().join("metadata.json"), "{}").expect("write");
        std::fs::write(dir.path().join("README.md"), "#").expect("write");
        let files = read(&[dir.path().to_owned()]).expect("files");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        // A model named Index keeps its file; only the root listings are skipped.
        assert_eq!(
            names,
            [
                "dtmi/com/example/index-1.json",
                "dtmi/com/example/thermostat-1.json"
            ]
        );
        assert!(matches!(
            read(&[dir.path().join("dtmi/com/none")]),
            Err(FilesError::Read { .. })
        ));
    }

    #[test]
    fn zips_are_read_by_entry_name() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("models.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("dtmi/a/b-1.json", options).expect("entry");
        zip.write_all(b"{\"x\": 1}").expect("write");
        zip.start_file("dtmi/a/b-1.expanded.json", options)
            .expect("entry");
        zip.write_all(b"[]").expect("write");
        zip.finish().expect("finish");
        let files = read(&[path]).expect("files");
        assert_eq!(
            files,
            [("dtmi/a/b-1.json".to_owned(), "{\"x\": 1}".to_owned())]
        );
    }
}
