//! `@type` of an element: each entry classified as its material class, a supplemental
//! (extension) co-type or a tolerated undefined co-type, and the extensible material class an
//! extension type (units, semantic unit kinds) derives from.

use super::Session;
use super::scope::{Resolution, Scope};
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, TermTarget, vkey};

pub(crate) fn apocrypha_ok(version: u8, key: &str, scope: &Scope) -> bool {
    let mm = Metamodel::get();
    match mm
        .facts
        .apocrypha
        .get(vkey(version))
        .and_then(|m| m.get(key))
        .map(String::as_str)
    {
        Some("valid") => true,
        Some("tenable") => scope.undefined_extension,
        _ => false,
    }
}

/// Where an `@type` entry sits: the element pointer and, for arrays, the entry index. The
/// pointer text is only built when an error is reported.
#[derive(Clone, Copy)]
pub(crate) struct TypeAt<'a>(pub(crate) &'a str, pub(crate) Option<usize>);

impl TypeAt<'_> {
    pub(crate) fn render(self) -> String {
        match self.1 {
            Some(i) => super::join_index(&super::join(self.0, "@type"), i),
            None => super::join(self.0, "@type"),
        }
    }
}

/// The extensible material class (e.g. `Unit`) an extension type derives from, if any.
pub(crate) fn extended_class(supplemental: &str, version: u8) -> Option<&'static str> {
    let mm = Metamodel::get();
    let mut t = mm
        .facts
        .supplemental_types
        .get(supplemental)?
        .parent
        .as_deref();
    for _ in 0..16 {
        let name = t?;
        if let TermTarget::Class(c, v) = mm.classify(name) {
            let extensible = mm
                .facts
                .extensible_material_classes
                .get(vkey(version))
                .is_some_and(|l| l.iter().any(|x| x == c));
            return (v == version && extensible).then_some(c);
        }
        t = mm.facts.supplemental_types.get(name)?.parent.as_deref();
    }
    None
}

impl Session<'_> {
    /// Classifies one `@type` entry; returns false after recording an error.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    pub(crate) fn classify_type(
        &mut self,
        source: usize,
        at: TypeAt<'_>,
        text: &str,
        scope: &Scope,
        pid: &str,
        class: &mut Option<&'static str>,
        cotypes: &mut Vec<String>,
        undefined: &mut Vec<String>,
    ) -> bool {
        let mm = Metamodel::get();
        let version = scope.version;
        let term = scope.resolve(text);
        let category = match &term {
            Resolution::Dtmi(d) => match mm.classify(d) {
                TermTarget::Class(name, v) if v == version => {
                    let concrete = mm.class(name).is_some_and(|c| !c.is_abstract);
                    if !concrete {
                        self.error(
                            source,
                            at.render(),
                            ParsingError::new("cotypeNotConcreteMaterial")
                                .primary(pid)
                                .type_name(name),
                        );
                        return false;
                    }
                    match class {
                        Some(existing) if *existing != name => {
                            self.error(
                                source,
                                at.render(),
                                ParsingError::new("multipleMaterialTypes")
                                    .primary(pid)
                                    .value(text),
                            );
                            return false;
                        }
                        _ => *class = Some(name),
                    }
                    return true;
                }
                TermTarget::Supplemental => {
                    let st = &mm.facts.supplemental_types[*d];
                    if scope.has_context(&st.extension_context) || self.building_standard {
                        if !cotypes.iter().any(|c| c == d) {
                            cotypes.push((*d).to_owned());
                        }
                        return true;
                    }
                    "irrelevantDtmiOrTerm"
                }
                _ => "irrelevantDtmiOrTerm",
            },
            Resolution::Undefined => "undefinedTerm",
            Resolution::InvalidDtmi => "invalidDtmi",
            Resolution::NotDtmiNorTerm => "notDtmiNorTerm",
        };
        if apocrypha_ok(version, &format!("{category}AsCotype"), scope) {
            if !undefined.iter().any(|u| u == text) {
                undefined.push(text.to_owned());
            }
            return true;
        }
        let vid = match category {
            "undefinedTerm" => "typeUndefinedTerm",
            "invalidDtmi" => "typeInvalidDtmi",
            "notDtmiNorTerm" => "typeNotDtmiNorTerm",
            _ => "typeIrrelevantDtmiOrTerm",
        };
        self.error(
            source,
            at.render(),
            ParsingError::new(vid).primary(pid).value(text),
        );
        false
    }
}
