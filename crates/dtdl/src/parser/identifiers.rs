//! Element identifiers: the generated identifiers of elements without `@id` (as the reference
//! parser makes them), the per-version identifier and reference syntax, reserved prefixes, and
//! whether solecisms are tolerated for a document.

use super::Session;
use super::scope::Scope;
use crate::metamodel::Metamodel;

/// Generates the identifier of an element without `@id` (see the format notes, §6.5).
pub(crate) fn generated_id(parent: &str, property: &str, segment: Option<&str>) -> String {
    let (before_frag, frag) = match parent.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (parent, None),
    };
    let (path, version) = match before_frag.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (before_frag, None),
    };
    let mut id = String::with_capacity(parent.len() + property.len() + 16);
    id.push_str(path);
    id.push_str(":_");
    id.push_str(property);
    if let Some(seg) = segment {
        id.push_str(":__");
        id.push_str(seg);
    }
    if let Some(v) = version {
        id.push(';');
        id.push_str(v);
    }
    if let Some(f) = frag {
        id.push('#');
        id.push_str(f);
    }
    id
}

pub(crate) fn is_valid_identifier(text: &str, version: u8) -> bool {
    let Some(d) = crate::dtmi::syntax(text) else {
        return false;
    };
    if d.has_fragment || d.reserved {
        return false;
    }
    match version {
        2 => d.major != 0 && d.minor == 0,
        _ => true,
    }
}

/// Whether a reference DTMI has the syntax the DTDL version requires of identifiers it refers to.
pub(crate) fn is_valid_reference(d: &str, version: u8) -> bool {
    let Some(dtmi) = crate::dtmi::syntax(d) else {
        return false;
    };
    if dtmi.has_fragment {
        return false;
    }
    match version {
        2 => dtmi.major != 0 && dtmi.minor == 0,
        _ => true,
    }
}

impl Session<'_> {
    /// Whether the solecism quirk applies to an element of `version` in document `source`:
    /// the quirks tolerate the mistakes of DTDL v2 models only.
    pub(crate) fn tolerates_solecisms(&self, source: usize, version: u8) -> bool {
        if version >= 3 {
            return false;
        }
        match self.sources[source].doc {
            crate::error::DocumentRef::Input(_) => self.options.quirks.tolerate_solecisms_in_parse,
            crate::error::DocumentRef::Resolved(_) => {
                self.options.quirks.tolerate_solecisms_in_resolve
            }
        }
    }

    pub(crate) fn is_reserved_id(&self, text: &str, scope: &Scope) -> bool {
        if self.building_standard {
            return false;
        }
        let mm = Metamodel::get();
        mm.facts.reserved_id_prefixes.iter().any(|(ctx, prefixes)| {
            (scope.has_context(ctx) || ctx.starts_with("dtmi:dtdl:context;"))
                && prefixes.iter().any(|p| text.starts_with(p.as_str()))
        })
    }
}
