//! Facets of a model version for faceted search (namespace, capability kinds, semantic types,
//! units, component interfaces), computed from the parsed interface. Pure: the start-up
//! backfill over the store lives in `repository::facets`.

use std::collections::BTreeSet;

use super::diff::short_id;
use super::model::{Facet, FacetKind};

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

/// The facets of a model that cannot be parsed: its namespace, always known.
pub fn namespace_only(dtmi: &str) -> Vec<Facet> {
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
