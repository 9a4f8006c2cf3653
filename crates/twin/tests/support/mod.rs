//! Loading real models from `../shared/models-sample` (a DMR tree) with their dependencies.

use std::path::PathBuf;

use dtdl::{Dtmi, ParsingOptions, ResolverError};
use twinhub_twin::DeviceModel;

fn sample_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models-sample")
}

/// The device model of `root` resolved from the sample tree, or `None` (with a printed notice)
/// where the sample is absent.
pub fn sample_model(root: &str) -> Option<DeviceModel> {
    let tree = sample_root();
    if !tree.is_dir() {
        eprintln!(
            "notice: {} is absent; skipping the tests on real models",
            tree.display()
        );
        return None;
    }
    let read = |dtmi: &Dtmi| {
        std::fs::read_to_string(tree.join(dtmi.to_dmr_path()))
            .map_err(|e| ResolverError::new(format!("{dtmi}: {e}")))
    };
    let root_dtmi = Dtmi::parse(root).expect("root is a DTMI");
    let text = read(&root_dtmi).expect("root model is in the sample");
    let mut resolver = |ids: &[Dtmi]| ids.iter().map(read).collect::<Result<Vec<_>, _>>();
    let model = dtdl::parse(&[&text], Some(&mut resolver), &ParsingOptions::default())
        .expect("sample model parses");
    Some(DeviceModel::new(model, root).expect("device model"))
}
