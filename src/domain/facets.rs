//! Facets of a model version for faceted search: computed from the parsed interface when a
//! model is stored, and, once at start, for rows stored before facets existed (backfill).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::diff::short_id;
use super::inspect;
use super::model::{Facet, FacetKind};
use crate::store::{ModelStore, StoreError};

/// `dtmi:com:Example:Thermostat;1` → `dtmi:com:example`: the DTMI without its last segment.
pub fn namespace_of(dtmi: &str) -> String {
    let versionless = dtmi.split(';').next().unwrap_or(dtmi).to_lowercase();
    match versionless.rsplit_once(':') {
        Some((namespace, _)) => namespace.to_owned(),
        None => versionless,
    }
}

/// The facet values of a root interface: namespace, capability kinds, semantic types, units
/// and component interfaces, inherited contents included.
pub fn facets_of(root: dtdl::ElementRef<'_>) -> Vec<Facet> {
    let mut facets = BTreeSet::new();
    let mut add = |kind, value: &str| {
        facets.insert(Facet {
            kind,
            value: value.to_owned(),
        });
    };
    add(FacetKind::Namespace, &namespace_of(root.id()));
    for content in root.all_contents() {
        add(FacetKind::Capability, content.class());
        for cotype in content.supplemental_types() {
            add(FacetKind::SemanticType, short_id(cotype));
        }
        if let Some(unit) = content.unit() {
            add(FacetKind::Unit, short_id(unit.id()));
        }
        if content.class() == "Component"
            && let Some(schema) = content.schema()
        {
            add(FacetKind::Component, schema.id());
        }
    }
    facets.into_iter().collect()
}

/// Computes facets for every stored model that has none yet, in small batches; returns how
/// many models were indexed. Safe to run on several instances at once (each write replaces a
/// model's facets in one transaction).
pub async fn backfill(
    store: Arc<dyn ModelStore>,
    options: &dtdl::ParsingOptions,
) -> Result<usize, StoreError> {
    let mut indexed = 0;
    loop {
        let batch = store.models_without_facets(100).await?;
        if batch.is_empty() {
            return Ok(indexed);
        }
        for model in batch {
            let facets = match inspect::load_parsed(
                store.as_ref(),
                model.record.clone(),
                model.content,
                options,
            )
            .await
            {
                Ok(parsed) => parsed
                    .root()
                    .map(facets_of)
                    .unwrap_or_else(|| namespace_only(&model.record.dtmi)),
                Err(error) => {
                    // Stored models were valid when pushed; a parser that has since grown
                    // stricter must not stop the service. The namespace is always known.
                    tracing::warn!(model.dtmi = %model.record.dtmi, error = %error, "cannot parse a stored model for its facets; indexing its namespace only");
                    namespace_only(&model.record.dtmi)
                }
            };
            store.set_facets(model.record.id, &facets).await?;
            indexed += 1;
        }
    }
}

fn namespace_only(dtmi: &str) -> Vec<Facet> {
    vec![Facet {
        kind: FacetKind::Namespace,
        value: namespace_of(dtmi),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_drop_the_last_segment_and_version() {
        assert_eq!(
            namespace_of("dtmi:com:Example:Thermostat;1"),
            "dtmi:com:example"
        );
        assert_eq!(namespace_of("dtmi:Thermostat;1"), "dtmi");
    }

    #[test]
    fn facets_cover_inherited_contents_units_and_components() {
        let base = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:Base;1", "@type": "Interface",
            "contents": [{"@type": "Command", "name": "reset"}]}"#;
        let part = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:Part;1", "@type": "Interface"}"#;
        let root = r#"{"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
            "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface", "extends": "dtmi:com:example:Base;1",
            "contents": [
              {"@type": ["Telemetry", "Temperature"], "name": "temp", "schema": "double", "unit": "degreeCelsius"},
              {"@type": "Component", "name": "part", "schema": "dtmi:com:example:Part;1"}
            ]}"#;
        let model = dtdl::parse(&[root, base, part], None, &dtdl::ParsingOptions::default())
            .expect("parses");
        let facets = facets_of(
            model
                .element("dtmi:com:example:Thermostat;1")
                .expect("root"),
        );
        let has = |kind, value: &str| facets.iter().any(|f| f.kind == kind && f.value == value);
        assert!(has(FacetKind::Namespace, "dtmi:com:example"));
        assert!(has(FacetKind::Capability, "Telemetry"));
        assert!(
            has(FacetKind::Capability, "Command"),
            "inherited: {facets:?}"
        );
        assert!(has(FacetKind::Capability, "Component"));
        assert!(has(FacetKind::SemanticType, "Temperature"));
        assert!(has(FacetKind::Unit, "degreeCelsius"));
        assert!(has(FacetKind::Component, "dtmi:com:example:Part;1"));
        assert!(!has(FacetKind::Capability, "Property"));
    }
}
