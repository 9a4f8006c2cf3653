//! Dependencies of a push: cycles refused before parsing, each new model's edges to co-pushed
//! and stored models (no new dependents for decommissioned models, no private dependency of
//! a public model), and the order that stores dependencies first.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{Candidate, PushError, new_model};
use crate::domain::access::{PushAccess, Visibility};
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;
use crate::domain::model::{Facet, ModelState, NewModel};
use crate::store::ModelStore;

/// Refuses a push whose models name each other in a cycle, before any parsing: an edge is any
/// string value in one pushed model that is exactly the DTMI of another.
pub(super) fn check_cycles(candidates: &[Candidate<'_>]) -> Result<(), PushError> {
    let roots: HashMap<&str, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.dtmi.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut found = BTreeSet::new();
            let mut stack: Vec<&Value> = vec![c.value];
            while let Some(node) = stack.pop() {
                match node {
                    Value::String(text) => {
                        if let Some(&target) = roots.get(text.as_str())
                            && target != i
                        {
                            found.insert(target);
                        }
                    }
                    Value::Array(items) => stack.extend(items),
                    Value::Object(map) => stack.extend(
                        map.iter()
                            .filter(|(k, _)| k.as_str() != "@id" && k.as_str() != "@context")
                            .map(|(_, v)| v),
                    ),
                    _ => {}
                }
            }
            found.into_iter().collect()
        })
        .collect();
    let names: Vec<String> = candidates.iter().map(|c| c.dtmi.to_string()).collect();
    match topological_order(&edges) {
        Ok(_) => Ok(()),
        Err(waiting) => Err(PushError::Cycle(find_cycle(&names, &edges, &waiting))),
    }
}

/// Builds the models to store: each with its dependency edges to co-pushed or stored models.
/// Refuses new dependencies on decommissioned models.
pub(super) async fn resolve_dependencies(
    store: &dyn ModelStore,
    access: &dyn PushAccess,
    batch: &Batch<'_>,
    new: &[&Candidate<'_>],
    documents: &[(dtdl::DocumentInfo, Vec<Facet>)],
) -> Result<Vec<NewModel>, PushError> {
    let in_push: BTreeMap<&str, usize> = new
        .iter()
        .enumerate()
        .map(|(i, c)| (c.dtmi.as_str(), i))
        .collect();
    let outside: Vec<String> = documents
        .iter()
        .flat_map(|(d, _)| d.external_references.iter())
        .filter(|r| !in_push.contains_key(r.as_str()))
        .map(|r| r.as_str().to_lowercase())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored: HashMap<String, _> = store
        .records(&outside)
        .await?
        .into_iter()
        .filter(|r| access.may_read(&r.dtmi))
        .map(|r| (r.dtmi.clone(), r))
        .collect();

    let mut conflicts = Vec::new();
    let mut models = Vec::with_capacity(new.len());
    for (candidate, (document, facets)) in new.iter().zip(documents) {
        let mut dependencies = BTreeSet::new();
        for reference in &document.external_references {
            let reference = reference.as_str();
            if in_push.contains_key(reference) {
                dependencies.insert(reference.to_owned());
            } else if let Some(record) = stored.get(reference) {
                if record.state == ModelState::Decommissioned {
                    conflicts.push(batch.locate(
                        candidate.index,
                        Issue::repository(
                            "decommissionedDependency",
                            format!("{} depends on {reference}, which is decommissioned and cannot gain new dependents; depend on a newer version", candidate.dtmi),
                        )
                        .about(candidate.dtmi.as_str()),
                    ));
                }
                dependencies.insert(reference.to_owned());
            } else if let Some(owner) = owner_in_push(reference, new) {
                // An element defined inside another pushed model (e.g. a schema in its `schemas`).
                if owner != candidate.dtmi.as_str() {
                    dependencies.insert(owner.to_owned());
                }
            }
        }
        if access.visibility(candidate.dtmi.as_str()) == Visibility::Public {
            for dependency in &dependencies {
                if access.visibility(dependency) == Visibility::Private {
                    conflicts.push(batch.locate(
                        candidate.index,
                        Issue::repository(
                            "privateDependency",
                            format!("{} is in a public namespace but depends on {dependency}, which is private: its expanded file would reveal it; make the dependency's namespace public or push this model into a private namespace", candidate.dtmi),
                        )
                        .about(candidate.dtmi.as_str()),
                    ));
                }
            }
        }
        models.push(new_model(candidate, document, facets.clone(), dependencies));
    }
    if conflicts.is_empty() {
        Ok(models)
    } else {
        Err(PushError::Conflict(conflicts))
    }
}

/// The pushed model whose DTMI labels are the longest prefix of `reference`'s labels.
pub(super) fn owner_in_push<'c>(reference: &str, new: &'c [&Candidate<'_>]) -> Option<&'c str> {
    let reference = dtdl::Dtmi::parse(reference).ok()?;
    let labels = reference.labels();
    new.iter()
        .filter(|c| labels.starts_with(&c.dtmi.labels()))
        .max_by_key(|c| c.dtmi.labels().len())
        .map(|c| c.dtmi.as_str())
}

/// Orders models so that each comes after everything it depends on (stable: push order among
/// independent models); a cycle refuses the push.
pub(super) fn dependency_order(models: Vec<NewModel>) -> Result<Vec<NewModel>, PushError> {
    let position: HashMap<String, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.dtmi.to_string(), i))
        .collect();
    let edges: Vec<Vec<usize>> = models
        .iter()
        .map(|m| {
            m.dependencies
                .iter()
                .filter_map(|d| position.get(d).copied())
                .collect()
        })
        .collect();
    match topological_order(&edges) {
        Ok(order) => {
            let mut slots: Vec<Option<NewModel>> = models.into_iter().map(Some).collect();
            Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
        }
        Err(waiting) => {
            let names: Vec<String> = models.iter().map(|m| m.dtmi.to_string()).collect();
            Err(PushError::Cycle(find_cycle(&names, &edges, &waiting)))
        }
    }
}

/// Kahn's algorithm over `edges[node] = nodes it depends on`, lowest index first among the
/// ready ones. On a cycle, returns how many unmet dependencies each node still has.
pub(super) fn topological_order(edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut waiting: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    for (node, deps) in edges.iter().enumerate() {
        for &dep in deps {
            dependents[dep].push(node);
        }
    }
    let mut ready: BTreeSet<usize> = (0..edges.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(edges.len());
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for &dependent in &dependents[next] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == edges.len() {
        Ok(order)
    } else {
        Err(waiting)
    }
}

/// Walks dependency edges among the nodes left unordered until one repeats.
pub(super) fn find_cycle(names: &[String], edges: &[Vec<usize>], waiting: &[usize]) -> Vec<String> {
    let Some(start) = (0..names.len()).find(|&i| waiting[i] > 0) else {
        return Vec::new();
    };
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = edges[current].iter().find(|&&d| waiting[d] > 0) {
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| names[i].clone()).collect();
            cycle.push(names[next].clone());
            return cycle;
        }
        path.push(next);
        current = next;
    }
    path.iter().map(|&i| names[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dtmi: &str, dependencies: &[&str]) -> NewModel {
        NewModel {
            dtmi: dtdl::Dtmi::parse(dtmi).expect("valid dtmi"),
            content: Vec::new(),
            sha256: String::new(),
            canonical_sha256: String::new(),
            dtdl_version: 2,
            display_name: None,
            description: None,
            dependencies: dependencies.iter().map(|d| (*d).to_owned()).collect(),
            facets: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn dependencies_come_before_their_dependents() {
        let ordered = dependency_order(vec![
            model("dtmi:a:Top;1", &["dtmi:a:Middle;1", "dtmi:a:Stored;1"]),
            model("dtmi:a:Middle;1", &["dtmi:a:Base;1"]),
            model("dtmi:a:Base;1", &[]),
        ])
        .expect("acyclic");
        let names: Vec<String> = ordered.iter().map(|m| m.dtmi.to_string()).collect();
        assert_eq!(names, ["dtmi:a:Base;1", "dtmi:a:Middle;1", "dtmi:a:Top;1"]);
    }

    #[test]
    fn a_cycle_is_refused_and_named() {
        let error = dependency_order(vec![
            model("dtmi:a:Free;1", &[]),
            model("dtmi:a:One;1", &["dtmi:a:Two;1"]),
            model("dtmi:a:Two;1", &["dtmi:a:One;1"]),
        ])
        .expect_err("cycle");
        match error {
            PushError::Cycle(cycle) => {
                assert_eq!(cycle, ["dtmi:a:One;1", "dtmi:a:Two;1", "dtmi:a:One;1"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
