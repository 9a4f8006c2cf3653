//! The model in the reference parser's object-model form: a JSON object from element
//! identifier to element, each element carrying every property of its class's object model
//! (`Id`, `EntityKind`, `ClassId`, `ChildOf`, `DefinedIn`, the supplemental and undefined
//! types and properties, and one member per DTDL property, with the object model's defaults
//! for absent ones). Interfaces show inherited contents and their by-class breakouts
//! (`telemetries`, `properties`, ...), and referenced elements show inverse relations
//! (`extendedBy`). Standard elements the model references are included, as in the reference
//! parser's model. This is what conformance cases (`expect.elements`) and differential runs
//! against the reference parser compare.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::metamodel::{Metamodel, unalias};
use crate::model::{ElementRef, Model};
use crate::parser::{PropKind, Val};

impl Model {
    /// The model as the reference parser's object-model JSON (element id → element).
    pub fn to_reference_json(&self) -> Value {
        let mut inverse: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
        let mm = Metamodel::get();
        for el in &self.elements {
            for p in &el.props {
                let Some((pf, _)) = p.facts else { continue };
                let Some(reverse) = pf.common.reverse_as.as_deref() else {
                    continue;
                };
                for v in &p.values {
                    if let Val::Ref { target, .. } = v {
                        inverse
                            .entry(target.as_str())
                            .or_default()
                            .entry(reverse)
                            .or_default()
                            .push(el.id.as_str());
                    }
                }
            }
        }
        let mut out = Map::new();
        let mut standard: BTreeSet<&str> = BTreeSet::new();
        for e in self.elements() {
            collect_standard(self, e, &mut standard);
            out.insert(e.id().to_owned(), self.render(e, &inverse, mm));
        }
        for id in standard {
            if let Some(e) = self.element(id) {
                out.insert(id.to_owned(), self.render(e, &inverse, mm));
            }
        }
        Value::Object(out)
    }

    fn render(
        &self,
        e: ElementRef<'_>,
        inverse: &BTreeMap<&str, BTreeMap<&str, Vec<&str>>>,
        mm: &'static Metamodel,
    ) -> Value {
        let el = e.raw();
        let mut o = Map::new();
        o.insert("Id".into(), el.id.clone().into());
        o.insert("EntityKind".into(), el.class.into());
        o.insert(
            "ClassId".into(),
            format!("dtmi:dtdl:class:{};{}", el.class, el.version).into(),
        );
        o.insert(
            "ChildOf".into(),
            e.parent().map_or(Value::Null, |(p, _)| p.id().into()),
        );
        o.insert(
            "DefinedIn".into(),
            self.defined_in(e).map_or(Value::Null, Value::from),
        );
        o.insert(
            "SupplementalTypes".into(),
            el.cotypes.iter().cloned().map(Value::from).collect(),
        );
        o.insert(
            "UndefinedTypes".into(),
            el.undefined_types
                .iter()
                .cloned()
                .map(Value::from)
                .collect(),
        );
        let mut supplemental = Map::new();
        let mut undefined = Map::new();
        for p in &el.props {
            match p.kind {
                PropKind::Supplemental => {
                    let plural = el
                        .cotypes
                        .iter()
                        .find_map(|t| mm.supplemental_property(t, &p.name))
                        .is_some_and(|sp| sp.plural);
                    let vals: Vec<Value> = p.values.iter().map(value).collect();
                    let v = match (plural, vals.len()) {
                        (false, 1) => vals.into_iter().next().unwrap_or(Value::Null),
                        _ => Value::Array(vals),
                    };
                    supplemental.insert(p.name.to_string(), v);
                }
                PropKind::Undefined => {
                    let v = p.values.first().map_or(Value::Null, value);
                    undefined.insert(p.name.to_string(), v);
                }
                PropKind::Core => {}
            }
        }
        o.insert("SupplementalProperties".into(), Value::Object(supplemental));
        o.insert("UndefinedProperties".into(), Value::Object(undefined));
        let Some(class) = mm.class(el.class) else {
            return Value::Object(o);
        };
        for (name, pf) in &class.properties {
            let common = &pf.common;
            let own = el.prop(name);
            let rendered = if name == "languageMajorVersion" {
                Value::from(el.version)
            } else if common.datatype.as_deref() == Some("langString") {
                let mut m = Map::new();
                for v in own.into_iter().flat_map(|p| p.values.iter()) {
                    if let Val::Lang(pairs) = v {
                        for (l, t) in pairs {
                            m.insert(l.clone(), t.clone().into());
                        }
                    }
                }
                Value::Object(m)
            } else if name == "contents" && el.class == "Interface" {
                let all = e.all_contents();
                for (view, classes) in &common.breakout {
                    let m: Map<String, Value> = all
                        .iter()
                        .filter(|c| classes.iter().any(|k| mm.is_subclass(c.class(), k)))
                        .filter_map(|c| Some((c.name()?.to_owned(), c.id().into())))
                        .collect();
                    o.insert(view.clone(), Value::Object(m));
                }
                all.iter()
                    .filter_map(|c| Some((c.name()?.to_owned(), Value::from(c.id()))))
                    .collect::<Map<String, Value>>()
                    .into()
            } else {
                let vals: Vec<Value> = own
                    .into_iter()
                    .flat_map(|p| p.values.iter())
                    .map(value)
                    .collect();
                match (&common.dictionary_key, common.plural) {
                    (Some(key), true) => {
                        let mut m = Map::new();
                        for target in el.refs(name) {
                            if let Some(child) = self.element(target)
                                && let Some(k) = child.string(key)
                            {
                                m.insert(k.to_owned(), unalias(target).into());
                            }
                        }
                        Value::Object(m)
                    }
                    (None, true) => Value::Array(vals),
                    _ => match vals.into_iter().next() {
                        Some(v) => v,
                        None if common.datatype.as_deref() == Some("boolean") => false.into(),
                        None => Value::Null,
                    },
                }
            };
            o.insert(name.clone(), rendered);
        }
        // Inverse relations (e.g. `extendedBy`) on the classes that can be their targets.
        for other in mm.facts.material_classes.values() {
            for pf in other.properties.values() {
                let (Some(reverse), Some(range)) =
                    (pf.common.reverse_as.as_deref(), pf.common.class.as_deref())
                else {
                    continue;
                };
                if mm.is_subclass(el.class, range) && !o.contains_key(reverse) {
                    let by = inverse
                        .get(el.id.as_str())
                        .and_then(|m| m.get(reverse))
                        .map(|v| v.iter().map(|s| Value::from(*s)).collect())
                        .unwrap_or_default();
                    o.insert(reverse.to_owned(), Value::Array(by));
                }
            }
        }
        Value::Object(o)
    }

    /// The Interface (partition) an element is defined in; none for an Interface itself and
    /// for standard elements.
    fn defined_in<'m>(&'m self, e: ElementRef<'m>) -> Option<&'m str> {
        if e.raw().standard {
            return None;
        }
        // The partition enclosing the element's parent: an Interface defined inline (a
        // Component schema) is defined in the Interface holding it.
        let (parent, _) = e.parent()?;
        let i = parent.raw().partition?;
        self.elements.get(i).map(|root| root.id.as_str())
    }
}

/// Standard elements an element references, followed through their own references.
fn collect_standard<'m>(model: &'m Model, e: ElementRef<'m>, out: &mut BTreeSet<&'m str>) {
    for p in &e.raw().props {
        for v in &p.values {
            let Val::Ref { target, .. } = v else { continue };
            if let Some(t) = model.element(unalias(target))
                && t.is_standard()
                && out.insert(t.id())
            {
                collect_standard(model, t, out);
            }
        }
    }
}

fn value(v: &Val) -> Value {
    match v {
        Val::Ref { target, .. } => unalias(target).into(),
        Val::Str(s) => s.clone().into(),
        Val::Int(n) => (*n).into(),
        Val::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Val::Bool(b) => (*b).into(),
        Val::Lang(pairs) => pairs
            .iter()
            .map(|(l, t)| (l.clone(), Value::from(t.clone())))
            .collect::<Map<String, Value>>()
            .into(),
        Val::Json(j) => j.clone(),
    }
}
