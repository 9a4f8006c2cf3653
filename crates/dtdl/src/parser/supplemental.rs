//! The values of one supplemental (extension) property: literals with the extension's
//! constraints, references, and inline elements of the property's range, followed by counts.

use super::core_property::item_index;
use super::element::{Range, Site};
use super::json::Json as Value;
use super::scope::Scope;
use super::values;
use super::{Session, Val, Vals};
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, TermTarget};

pub(crate) fn has_property(supplemental: &str, pid: &str) -> bool {
    let mm = Metamodel::get();
    let mut t = Some(supplemental);
    let mut guard = 0;
    while let Some(name) = t {
        let Some(st) = mm.facts.supplemental_types.get(name) else {
            return false;
        };
        if st.properties.contains_key(pid) {
            return true;
        }
        guard += 1;
        if guard > 16 {
            return false;
        }
        t = st.parent.as_deref();
    }
    false
}

impl Session<'_> {
    /// Checks and records the values of one supplemental (extension) property.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    pub(crate) fn supplemental_property(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        class: &str,
        pid: &str,
        value: &Value,
        scope: &Scope,
    ) -> Vals {
        let mm = Metamodel::get();
        let Some(owner) = mm.supplemental_property_owner.get(pid) else {
            return Vals::Empty;
        };
        let Some(sp) = mm
            .facts
            .supplemental_types
            .get(owner)
            .and_then(|t| t.properties.get(pid))
        else {
            return Vals::Empty;
        };
        let name = sp.property_name.as_str();
        let mut out = Vals::Empty;
        let items = values::items(ptr, value);
        // Every item is checked, so that one bad value does not hide errors in the others.
        let mut failed = false;
        for (i, (p, v)) in items.iter().enumerate() {
            let dt = match sp.type_id.as_deref() {
                Some(t) if t.starts_with("http://www.w3.org/2001/XMLSchema#") => {
                    Some(t.trim_start_matches("http://www.w3.org/2001/XMLSchema#"))
                }
                None if sp.type_name == "IRI" => Some("IRI"),
                _ => None,
            };
            match dt {
                Some("IRI") => match v {
                    Value::String(t) => out.push(Val::Str(t.to_string())),
                    _ => {
                        self.error(
                            source,
                            p.clone(),
                            ParsingError::new("identifierNotString")
                                .primary(id)
                                .property(name),
                        );
                        failed = true;
                        continue;
                    }
                },
                Some(dt) => match values::literal(self, source, p, id, name, v, dt) {
                    Some(val) => {
                        if let Val::Str(t) = &val {
                            if let Some(pat) = &sp.pattern
                                && !values::matches(pat, t)
                            {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("stringInvalid")
                                        .primary(id)
                                        .property(name)
                                        .value(t.clone())
                                        .restriction(pat.clone()),
                                );
                                failed = true;
                                continue;
                            }
                            if let Some(max) = sp.max_length
                                && t.chars().count() as u64 > max
                            {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("stringTooLong")
                                        .primary(id)
                                        .property(name)
                                        .value(t.clone())
                                        .restriction(max.to_string()),
                                );
                                failed = true;
                                continue;
                            }
                        }
                        if let Some(min) = sp.min_inclusive {
                            let n = match &val {
                                Val::Int(n) => Some(*n as f64),
                                Val::Num(n) => Some(*n),
                                _ => None,
                            };
                            if n.is_some_and(|n| n < min) {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("valueBelowMin")
                                        .primary(id)
                                        .property(name)
                                        .value(v.to_string())
                                        .restriction(min.to_string()),
                                );
                                failed = true;
                                continue;
                            }
                        }
                        out.push(val);
                    }
                    None => {
                        failed = true;
                        continue;
                    }
                },
                None => {
                    let Some(type_id) = sp.type_id.clone() else {
                        continue;
                    };
                    match v {
                        Value::String(t) => match self.reference(source, p, id, name, t, scope) {
                            Some((target, standard)) => out.push(Val::Ref {
                                target,
                                pointer: item_index(value, i),
                                inline: false,
                                standard,
                                arena_index: None,
                            }),
                            None => {
                                failed = true;
                                continue;
                            }
                        },
                        Value::Object(child) => {
                            let range_class = match mm.classify(&type_id) {
                                TermTarget::Class(c, _) => c,
                                _ => "Entity",
                            };
                            let seg_index;
                            let segment = if sp.plural && items.len() > 1 {
                                seg_index = i.to_string();
                                Some(seg_index.as_str())
                            } else {
                                None
                            };
                            let site = Site {
                                parent_id: Some(id),
                                parent_class: Some(class),
                                property: Some(name),
                                segment,
                                range: Range {
                                    class: range_class,
                                    supplemental: None,
                                    id_required: sp.id_required,
                                    type_required: sp.type_required,
                                },
                                top_level: false,
                            };
                            // The child is pushed at the arena's current end when it is accepted.
                            let arena_index = u32::try_from(self.elements.len()).ok();
                            match self.walk_element(source, p, child, scope, &site) {
                                Some(cid) => out.push(Val::Ref {
                                    target: cid,
                                    pointer: item_index(value, i),
                                    inline: true,
                                    standard: false,
                                    arena_index,
                                }),
                                None => {
                                    failed = true;
                                    continue;
                                }
                            }
                        }
                        _ => {
                            self.error(
                                source,
                                p.clone(),
                                ParsingError::new("refNotStringOrObject")
                                    .primary(id)
                                    .property(name),
                            );
                            failed = true;
                            continue;
                        }
                    }
                }
            }
        }
        if failed {
            return Vals::Empty;
        }
        let count = out.len() as u64;
        let max = sp.max_count.or(if sp.plural { None } else { Some(1) });
        if let Some(max) = max
            && count > max
        {
            self.error(
                source,
                ptr,
                ParsingError::new("objectCountAboveMax")
                    .primary(id)
                    .property(name)
                    .restriction(max.to_string()),
            );
            return Vals::Empty;
        }
        if let Some(min) = sp.min_count
            && count < min
        {
            self.error(
                source,
                ptr,
                ParsingError::new("objectCountBelowMin")
                    .primary(id)
                    .property(name)
                    .restriction(min.to_string()),
            );
            return Vals::Empty;
        }
        out
    }
}
