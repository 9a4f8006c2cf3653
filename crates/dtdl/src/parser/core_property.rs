//! The values of one core-language property: references and inline child elements (with the
//! segment property that names them in generated identifiers), literals, language strings and
//! identifier values, followed by the property's count rules.

use super::element::{Range, Site};
use super::identifiers::is_valid_reference;
use super::json::{Json as Value, Obj};
use super::scope::{Resolution, Scope};
use super::values;
use super::{Session, Val, Vals};
use crate::dtmi::Dtmi;
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, PropertyFacts, PropertyVersion};

/// The position of item `i` of a property value: its array index, or none for a single value.
pub(crate) fn item_index(value: &Value<'_>, i: usize) -> Option<u32> {
    matches!(value, Value::Array(_)).then(|| u32::try_from(i).unwrap_or(u32::MAX))
}

/// The segment property of a child object, written as a term or as its property DTMI.
fn segment_member<'v, 'a>(child: &'v Obj<'a>, prop: &str, version: u8) -> Option<&'v Value<'a>> {
    child.get(prop).or_else(|| {
        child.iter().find_map(|(k, v)| {
            let rest = k.strip_prefix("dtmi:dtdl:property:")?;
            let (name, ver) = rest.split_once(';')?;
            (name == prop && ver.parse::<u8>().ok() == Some(version)).then_some(v)
        })
    })
}

/// The scalar inside a segment property value: the value itself, the only item of an array,
/// or the `@value` of a value object.
fn segment_value<'v, 'a>(v: &'v Value<'a>) -> Option<&'v Value<'a>> {
    match v {
        Value::String(_) | Value::Number(_) => Some(v),
        Value::Array(items) if items.len() == 1 => segment_value(&items[0]),
        Value::Object(o) => o.get("@value").and_then(segment_value),
        _ => None,
    }
}

impl Session<'_> {
    /// Checks and records the values of one core-language property.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    pub(crate) fn core_property(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        class: &str,
        name: &'static str,
        pf: &PropertyFacts,
        pv: &PropertyVersion,
        value: &Value,
        scope: &Scope,
        obj: &Obj<'_>,
    ) -> Vals {
        let range_class = pv.class.as_deref().or(pf.common.class.as_deref());
        let datatype = pf.common.datatype.as_deref();
        let mut out = Vals::Empty;
        // Every item is checked, so that one bad value does not hide errors in the others.
        let mut failed = false;
        if let Some(range_class) = range_class.filter(|_| !pf.common.literal) {
            let items = values::items(ptr, value);
            let segment_prop = pf.common.dtmi_segment.as_deref();
            for (i, (p, v)) in items.iter().enumerate() {
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
                        // An object holding only `@id` is a reference written as an object: a
                        // solecism tolerated in DTDL v2 under the quirks, an error otherwise.
                        if child.len() == 1
                            && let Some(at_id) = child.get("@id")
                        {
                            let text = at_id
                                .as_str()
                                .filter(|_| self.tolerates_solecisms(source, scope.version));
                            let Some(t) = text else {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("idReference")
                                        .primary(id)
                                        .property(name)
                                        .value(at_id.to_string()),
                                );
                                failed = true;
                                continue;
                            };
                            match self.reference(source, p, id, name, t, scope) {
                                Some((target, standard)) => out.push(Val::Ref {
                                    target,
                                    pointer: item_index(value, i),
                                    inline: false,
                                    standard,
                                    arena_index: None,
                                }),
                                None => failed = true,
                            }
                            continue;
                        }
                        // The segment property (usually `name`) names the child in its
                        // generated identifier, so it must be present (unless the child has
                        // an @id) and be a string (or a number).
                        if let Some(sp) = segment_prop
                            && segment_member(child, sp, scope.version).is_none()
                            && !child.contains_key("@id")
                        {
                            self.segment_error(
                                source,
                                p,
                                child,
                                scope,
                                ParsingError::new("missingDtmiSegPropertyValue")
                                    .primary(id)
                                    .property(name)
                                    .value(sp),
                            );
                            failed = true;
                            continue;
                        }
                        let number_seg;
                        let segment = match segment_prop
                            .and_then(|sp| segment_member(child, sp, scope.version))
                            .map(segment_value)
                        {
                            None => None,
                            Some(Some(Value::String(s))) => Some(s.as_ref()),
                            Some(Some(Value::Number(n))) => {
                                number_seg = n.as_f64().map(|f| f.to_string()).unwrap_or_default();
                                Some(number_seg.as_str())
                            }
                            Some(other) => {
                                let other = other.map(ToString::to_string).unwrap_or_default();
                                self.segment_error(
                                    source,
                                    p,
                                    child,
                                    scope,
                                    ParsingError::new("dtmiSegPropertyNotStringOrNumber")
                                        .primary(id)
                                        .property(segment_prop.unwrap_or_default())
                                        .value(other),
                                );
                                failed = true;
                                continue;
                            }
                        };
                        let index_seg;
                        let segment = match segment {
                            Some(s) => Some(s),
                            None if pf.common.plural && items.len() > 1 => {
                                index_seg = i.to_string();
                                Some(index_seg.as_str())
                            }
                            None => None,
                        };
                        let site = Site {
                            parent_id: Some(id),
                            parent_class: Some(class),
                            property: Some(name),
                            segment,
                            range: Range {
                                class: range_class,
                                supplemental: None,
                                id_required: pv.id_required,
                                type_required: pv.type_required,
                            },
                            top_level: false,
                        };
                        // The child is pushed at the arena's current end when it is accepted.
                        let arena_index = u32::try_from(self.elements.len()).ok();
                        let errors_before = self.errors.len();
                        match self.walk_element(source, p, child, scope, &site) {
                            Some(cid) => out.push(Val::Ref {
                                target: cid,
                                pointer: item_index(value, i),
                                inline: true,
                                standard: false,
                                arena_index,
                            }),
                            // A child skipped without error (a duplicate name tolerated as a
                            // solecism) leaves its siblings in place.
                            None => {
                                failed |=
                                    self.errors.len() > errors_before || self.building_standard;
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
                                .property(name)
                                .value(v.to_string()),
                        );
                        failed = true;
                        continue;
                    }
                }
            }
        } else if datatype == Some("langString") {
            match values::lang_string(self, source, ptr, id, name, value, pv, scope.limits) {
                Some(v) => out.push(v),
                None => failed = true,
            }
        } else if let Some(dt) = datatype {
            for (p, v) in values::items(ptr, value).iter() {
                match values::literal(self, source, p, id, name, v, dt) {
                    Some(val) => {
                        if !values::constraints(self, source, p, id, name, &val, pv, scope.limits) {
                            failed = true;
                            continue;
                        }
                        out.push(val);
                    }
                    None => {
                        failed = true;
                        continue;
                    }
                }
            }
        } else if pf.common.literal {
            // A literal whose datatype depends on another property (EnumValue.enumValue).
            for (p, v) in values::items(ptr, value).iter() {
                match v {
                    Value::String(t) => out.push(Val::Str(t.to_string())),
                    Value::Number(n) if n.is_i64() => {
                        out.push(Val::Int(n.as_i64().unwrap_or_default()))
                    }
                    // Other scalars are judged against the datatype once it is known
                    // (`nonConformantDatatype` in the whole-model checks).
                    Value::Number(n) => out.push(Val::Num(n.as_f64().unwrap_or_default())),
                    Value::Bool(b) => out.push(Val::Bool(*b)),
                    Value::Object(o) => {
                        let datatype = if o.get("@value").is_some_and(Value::is_number) {
                            "integer"
                        } else {
                            "string"
                        };
                        match values::literal(self, source, p, id, name, v, datatype) {
                            Some(val) => out.push(val),
                            None => {
                                failed = true;
                                continue;
                            }
                        }
                    }
                    _ => {
                        self.error(
                            source,
                            p.as_ref(),
                            ParsingError::new("literalNotValid")
                                .primary(id)
                                .property(name)
                                .value(v.to_string()),
                        );
                        failed = true;
                        continue;
                    }
                }
            }
        } else {
            // An identifier-valued property (Relationship.target).
            for (p, v) in values::items(ptr, value).iter() {
                let Value::String(t) = v else {
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new("identifierNotString")
                            .primary(id)
                            .property(name),
                    );
                    failed = true;
                    continue;
                };
                // A term stands for the DTMI it is defined as (JSON-LD expansion).
                let expanded;
                let t = match scope.resolve(t) {
                    Resolution::Dtmi(d) if !t.contains(':') => {
                        expanded = d.to_owned();
                        expanded.as_str()
                    }
                    _ => t.as_ref(),
                };
                let pattern_ok = pv
                    .pattern
                    .as_deref()
                    .is_none_or(|pat| values::matches(pat, t));
                if !pattern_ok || !Dtmi::is_valid(t) {
                    let vid = if Dtmi::is_valid(t) {
                        "identifierInvalid"
                    } else {
                        "identifierNotDtmi"
                    };
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new(vid).primary(id).property(name).value(t),
                    );
                    failed = true;
                    continue;
                }
                if let Some(max) = Metamodel::limit(&pv.max_length, scope.limits)
                    && t.chars().count() as u64 > max
                {
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new("identifierTooLong")
                            .primary(id)
                            .property(name)
                            .value(t),
                    );
                    failed = true;
                    continue;
                }
                out.push(Val::Str(t.to_string()));
            }
        }
        if failed {
            return Vals::Empty;
        }
        let _ = obj;
        let count = out
            .iter()
            .map(|v| {
                if let Val::Lang(l) = v {
                    l.len().min(1)
                } else {
                    1
                }
            })
            .sum::<usize>() as u64;
        let max = pv
            .max_count
            .or(if pf.common.plural { None } else { Some(1) });
        if let Some(max) = max
            && count > max
            && datatype != Some("langString")
        {
            let vid = if pf.common.literal {
                "literalMultipleValues"
            } else if max == 1 {
                "objectMultipleValues"
            } else {
                "objectCountAboveMax"
            };
            self.error(
                source,
                ptr,
                ParsingError::new(vid)
                    .primary(id)
                    .property(name)
                    .restriction(max.to_string()),
            );
            return Vals::Empty;
        }
        let min = pv
            .min_count
            .unwrap_or(if pf.common.optional { 0 } else { 1 });
        if count < min {
            let vid = if pf.common.literal {
                "literalCountBelowMin"
            } else {
                "objectCountBelowMin"
            };
            self.error(
                source,
                ptr,
                ParsingError::new(vid)
                    .primary(id)
                    .property(name)
                    .restriction(min.to_string()),
            );
            return Vals::Empty;
        }
        out
    }

    /// Reports a problem with a child's segment property, unless the child's own `@context`
    /// is wrong: that is judged first, as the reference does.
    fn segment_error(
        &mut self,
        source: usize,
        ptr: &str,
        child: &Obj<'_>,
        scope: &Scope,
        error: ParsingError,
    ) {
        if let Some(ctx) = child.get("@context") {
            let at = super::join(ptr, "@context");
            if super::scope::apply_context(self, source, &at, ctx, scope, false).is_none() {
                return;
            }
        }
        self.error(source, ptr, error);
    }

    /// Resolves a string used as a reference to an element.
    pub(crate) fn reference(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        name: &str,
        text: &str,
        scope: &Scope,
    ) -> Option<(String, bool)> {
        match scope.resolve(text) {
            Resolution::Dtmi(d) => {
                let mm = Metamodel::get();
                // Metamodel DTMIs (classes, properties, extension types) are elements of the
                // language too: a reference to one is resolved, and has the wrong type.
                if mm.is_metamodel_term(d) && !self.building_standard {
                    self.error(
                        source,
                        ptr,
                        ParsingError::new("badType")
                            .primary(id)
                            .property(name)
                            .secondary(d),
                    );
                    return None;
                }
                let is_std = mm.standard_ids.contains_key(d);
                if !is_std && !self.building_standard && !is_valid_reference(d, scope.version) {
                    self.error(
                        source,
                        ptr,
                        ParsingError::new("idRefBadDtmiOrTerm")
                            .primary(id)
                            .property(name)
                            .value(text)
                            .restriction(format!("DTDL v{}", scope.version)),
                    );
                    return None;
                }
                Some((d.to_owned(), is_std))
            }
            _ => {
                self.error(
                    source,
                    ptr,
                    ParsingError::new("badDtmiOrTerm")
                        .primary(id)
                        .property(name)
                        .value(text)
                        .restriction(format!("DTDL v{}", scope.version)),
                );
                None
            }
        }
    }
}
