//! The conformance-suite runner shared by the `conformance` example and the conformance cargo
//! test. It reads case files in the DTDLParser test-case format (a JSON array of cases or a
//! single case, with or without BOM), runs each case through `dtdl::parse` (or the DTMI parser
//! for `idText` cases), and judges it by the rules in the suite's format notes: the verdict
//! (`valid`) plus every expectation we can check; a case needing something we do not support
//! is skipped with a named reason, never counted as passed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dtdl::{
    Dtmi, ParseFailure, ParsingOptions, Quirks, Resolver, ResolverError, UndefinedExtensions,
};
use serde_json::Value;

/// Extension contexts the parser implements natively (for `requiredContexts`): every context
/// of the metamodel digest, since the engine is driven by its tables.
const IMPLEMENTED_CONTEXTS: &[&str] = &[
    "dtmi:dtdl:extension:mqtt;4",
    "dtmi:dtdl:extension:quantitativeTypes;3",
    "dtmi:dtdl:extension:requirement;2",
    "dtmi:iotoperations:context;4",
    "dtmi:dtdl:context;2",
    "dtmi:dtdl:context;3",
    "dtmi:dtdl:context;4",
    "dtmi:dtdl:extension:annotation;1",
    "dtmi:dtdl:extension:annotation;2",
    "dtmi:dtdl:extension:historization;1",
    "dtmi:dtdl:extension:historization;2",
    "dtmi:dtdl:extension:mqtt;1",
    "dtmi:dtdl:extension:mqtt;2",
    "dtmi:dtdl:extension:mqtt;3",
    "dtmi:dtdl:extension:overriding;1",
    "dtmi:dtdl:extension:overriding;2",
    "dtmi:dtdl:extension:quantitativeTypes;1",
    "dtmi:dtdl:extension:quantitativeTypes;2",
    "dtmi:dtdl:extension:requirement;1",
    "dtmi:dtdl:limits:onvif;1",
    "dtmi:dtdl:limits:aio;1",
    "dtmi:iotcentral:context;2",
];

/// How one case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail {
        expected: String,
        got: String,
        detail: String,
    },
    Skip(String),
}

/// One judged case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Path of the case file relative to the folder given to the runner.
    pub file: String,
    pub index: usize,
    /// Top folder (e.g. `specification`).
    pub folder: String,
    /// `v2`, `v3`, `v4`, `none` or `mixed`.
    pub version: String,
    /// `Requirement`, `Recommendation`, `Allowance`, `Completion` or `other`.
    pub prefix: String,
    pub outcome: Outcome,
}

impl CaseResult {
    /// `file#index`, the key used by the xfail list.
    pub fn key(&self) -> String {
        format!("{}#{}", self.file, self.index)
    }
}

/// Runs every case file under `root` (recursively). File names are reported relative to
/// `root`'s parent so that the top folder name is kept (`specification/X.json`).
pub fn run_folder(root: &Path) -> Vec<CaseResult> {
    let mut files = Vec::new();
    collect_files(root, &mut files);
    files.sort();
    let base = root.parent().unwrap_or(root);
    let folder = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut results = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                results.push(skip_file(&rel, &folder, format!("unreadable: {e}")));
                continue;
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let cases = match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(a)) => a,
            Ok(obj @ Value::Object(_)) => vec![obj],
            _ => {
                results.push(skip_file(&rel, &folder, "not a case file".into()));
                continue;
            }
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = ["Requirement", "Recommendation", "Allowance", "Completion"]
            .into_iter()
            .find(|p| stem.starts_with(p))
            .unwrap_or("other")
            .to_owned();
        for (index, case) in cases.iter().enumerate() {
            let outcome =
                std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|_| Outcome::Fail {
                    expected: "no panic".into(),
                    got: "panic".into(),
                    detail: String::new(),
                });
            results.push(CaseResult {
                file: rel.clone(),
                index,
                folder: folder.clone(),
                version: case_version(case),
                prefix: prefix.clone(),
                outcome,
            });
        }
    }
    results
}

fn skip_file(rel: &str, folder: &str, reason: String) -> CaseResult {
    CaseResult {
        file: rel.to_owned(),
        index: 0,
        folder: folder.to_owned(),
        version: "none".into(),
        prefix: "other".into(),
        outcome: Outcome::Skip(reason),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// DTDL version of a case: the last `dtmi:dtdl:context;N` of each top-level `@context`.
fn case_version(case: &Value) -> String {
    if case.get("idText").is_some() {
        return "dtmi".into();
    }
    let mut versions = BTreeSet::new();
    let inputs = case
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for input in &inputs {
        let tops: Vec<&Value> = match input {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for top in tops {
            let ctxs: Vec<&Value> = match top.get("@context") {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            };
            if let Some(v) = ctxs
                .iter()
                .rev()
                .find_map(|c| {
                    c.as_str()
                        .and_then(|s| s.strip_prefix("dtmi:dtdl:context;"))
                })
                .map(|v| v.split('#').next().unwrap_or(v))
            {
                versions.insert(format!("v{v}"));
            }
        }
    }
    match versions.len() {
        0 => "none".into(),
        1 => versions.into_iter().next().unwrap_or_default(),
        _ => "mixed".into(),
    }
}

/// A resolver answering from a script of request/response rounds.
struct Scripted {
    rounds: Vec<(BTreeSet<String>, Option<Vec<String>>)>,
    calls: usize,
    mismatch: Option<String>,
}

impl Resolver for Scripted {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        let asked: BTreeSet<String> = dtmis.iter().map(|d| d.as_str().to_owned()).collect();
        let round = self.calls;
        self.calls += 1;
        let Some((request, response)) = self.rounds.get(round) else {
            self.mismatch = Some(format!(
                "unexpected resolver call {} for {asked:?}",
                round + 1
            ));
            return Ok(Vec::new());
        };
        if *request != asked {
            self.mismatch = Some(format!(
                "resolver call {} asked {asked:?}, script expects {request:?}",
                round + 1
            ));
        }
        match response {
            Some(docs) => Ok(docs.clone()),
            None => Err(ResolverError::new(
                "the script cannot resolve these identifiers",
            )),
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(valid: bool) -> String {
    if valid {
        "valid".into()
    } else {
        "invalid".into()
    }
}

/// Judges one case.
pub fn run_case(case: &Value) -> Outcome {
    if let Some(id_text) = case.get("idText").and_then(Value::as_str) {
        return run_dtmi_case(case, id_text);
    }
    let Some(valid) = case.get("valid").and_then(Value::as_bool) else {
        return Outcome::Skip("case without `valid`".into());
    };
    let mut options = ParsingOptions::default();
    for opt in strings(case.get("options")) {
        options.undefined_extensions = match opt.as_str() {
            "AllowUndefinedExtensions" => UndefinedExtensions::Always,
            "DisallowUndefinedExtensions" => UndefinedExtensions::Never,
            other => return Outcome::Skip(format!("unknown option {other}")),
        };
    }
    let mut quirks = Quirks::default();
    for q in strings(case.get("quirks")) {
        match q.as_str() {
            "TolerateSolecismsInParse" => quirks.tolerate_solecisms_in_parse = true,
            "TolerateSolecismsInResolve" => quirks.tolerate_solecisms_in_resolve = true,
            other => return Outcome::Skip(format!("unknown quirk {other}")),
        }
    }
    options.quirks = quirks;
    if let Some(max) = case.get("maxDtdlVersion").and_then(Value::as_u64) {
        options.max_dtdl_version = u8::try_from(max).unwrap_or(u8::MAX);
    }
    for limit in strings(case.get("acceptableLimits")) {
        match Dtmi::parse(&limit) {
            Ok(d) => options.acceptable_limit_contexts.push(d),
            Err(_) => return Outcome::Skip(format!("unparsable acceptable limit {limit}")),
        }
    }
    if case
        .get("partialResolution")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Outcome::Skip("partialResolution (layering extension not implemented)".into());
    }
    for ctx in strings(case.get("requiredContexts")) {
        if !IMPLEMENTED_CONTEXTS.contains(&ctx.as_str()) {
            return Outcome::Skip(format!("requires context {ctx}"));
        }
    }
    let expect = case.get("expect");
    if case.get("extensions").is_some() {
        return Outcome::Skip("dynamic extensions".into());
    }
    let texts: Vec<String> = case
        .get("input")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(pretty).collect())
        .unwrap_or_default();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let mut scripted = case
        .get("resolution")
        .and_then(Value::as_array)
        .map(|rounds| Scripted {
            rounds: rounds
                .iter()
                .map(|r| {
                    let request = strings(r.get("request")).into_iter().collect();
                    let response = r
                        .get("response")
                        .and_then(Value::as_array)
                        .map(|docs| docs.iter().map(pretty).collect());
                    (request, response)
                })
                .collect(),
            calls: 0,
            mismatch: None,
        });
    let result = match scripted.as_mut() {
        Some(s) => dtdl::parse(&refs, Some(s as &mut dyn Resolver), &options),
        None => dtdl::parse(&refs, None, &options),
    };
    let got_valid = result.is_ok();
    let first_error = match &result {
        Ok(_) => String::new(),
        Err(ParseFailure::Invalid(errors)) => errors
            .first()
            .map(|e| format!("{}: {e}", e.name()))
            .unwrap_or_default(),
        Err(other) => other.to_string(),
    };
    if got_valid != valid {
        return Outcome::Fail {
            expected: verdict(valid),
            got: verdict(got_valid),
            detail: first_error,
        };
    }
    if let Some(s) = &scripted {
        if let Some(m) = &s.mismatch {
            return Outcome::Fail {
                expected: "scripted resolution".into(),
                got: "different requests".into(),
                detail: m.clone(),
            };
        }
        if valid && s.calls != s.rounds.len() {
            return Outcome::Fail {
                expected: format!("{} resolver calls", s.rounds.len()),
                got: format!("{} calls", s.calls),
                detail: String::new(),
            };
        }
    }
    if let (Ok(model), Some(instances)) = (&result, case.get("instances").and_then(Value::as_array))
    {
        for (i, inst) in instances.iter().enumerate() {
            if let Some(fail) = check_instance(model, i, inst) {
                return fail;
            }
        }
    }
    if let (Ok(model), Some(e)) = (&result, expect)
        && let Some(fail) = check_object_model(model, e)
    {
        return fail;
    }
    if let Some(expected) = expect.and_then(|e| e.get("unresolvedIdentifiers")) {
        let want: BTreeSet<String> = strings(Some(expected)).into_iter().collect();
        let Err(ParseFailure::Unresolved(u)) = &result else {
            return Outcome::Fail {
                expected: format!("unresolved {want:?}"),
                got: "another failure".into(),
                detail: first_error,
            };
        };
        let got: BTreeSet<String> = u.unresolved.iter().map(|d| d.as_str().to_owned()).collect();
        if got != want {
            return Outcome::Fail {
                expected: format!("unresolved {want:?}"),
                got: format!("unresolved {got:?}"),
                detail: String::new(),
            };
        }
    }
    if let Some(expected) = expect
        .and_then(|e| e.get("unresolvedIdentifierReferences"))
        .and_then(Value::as_array)
    {
        let Err(ParseFailure::Unresolved(u)) = &result else {
            return Outcome::Fail {
                expected: "unresolved identifier references".into(),
                got: "another failure".into(),
                detail: first_error,
            };
        };
        if let Some(fail) = check_references(u, expected) {
            return fail;
        }
    }
    let mut not_compared = BTreeSet::new();
    if let Some(expected) = expect
        .and_then(|e| e.get("parsingErrors"))
        .and_then(Value::as_array)
    {
        let Err(ParseFailure::Invalid(errors)) = &result else {
            return Outcome::Fail {
                expected: "parsing errors".into(),
                got: "another failure".into(),
                detail: first_error,
            };
        };
        if let Some(fail) = check_parsing_errors(errors, expected, &mut not_compared) {
            return fail;
        }
    }
    if !not_compared.is_empty() {
        let fields: Vec<String> = not_compared.into_iter().collect();
        return Outcome::Skip(format!(
            "expect.parsingErrors fields not reported by this parser: {}",
            fields.join(", ")
        ));
    }
    Outcome::Pass
}

/// Fields of an expected parsing error that are compared with ours (as strings), and how to
/// read ours. The others are the reference's own message parameters or end lines, which this
/// parser does not reproduce; a case relying on them is skipped with their names.
fn error_field(e: &dtdl::ParsingError, field: &str) -> Option<Option<String>> {
    let location = e.location.as_ref();
    Some(match field {
        "SecondaryID" => e.secondary_id.clone(),
        "Property" => e.property.clone(),
        "Value" => e.value.clone(),
        "PrimaryIndex" => location.and_then(|l| match &l.document {
            dtdl::DocumentRef::Input(i) => Some(i.to_string()),
            dtdl::DocumentRef::Resolved(_) => None,
        }),
        "PrimaryDtmi" => location.and_then(|l| match &l.document {
            dtdl::DocumentRef::Resolved(d) => Some(d.as_str().to_owned()),
            dtdl::DocumentRef::Input(_) => None,
        }),
        "PrimaryStart" => location.map(|l| l.line.to_string()),
        _ => return None,
    })
}

/// Keys of an expected parsing error that carry no comparison (identity keys, prose, layers,
/// and typos the reference runner ignores).
const IGNORED_ERROR_KEYS: &[&str] = &[
    "ValidationID",
    "PrimaryID",
    "Layer",
    "Cause",
    "Action",
    "SecandaryID",
    "SecondaryId",
];

/// The reference's matching rule (format notes §6.1): every reported error matches an
/// expected entry by validation ID and primary element (the first such entry), and on that
/// entry every field present equals ours.
fn check_parsing_errors(
    errors: &[dtdl::ParsingError],
    expected: &[Value],
    not_compared: &mut BTreeSet<String>,
) -> Option<Outcome> {
    if errors.is_empty() {
        return Some(Outcome::Fail {
            expected: "at least one parsing error".into(),
            got: "none".into(),
            detail: String::new(),
        });
    }
    for e in errors {
        let Some(entry) = expected.iter().find(|x| {
            x.get("ValidationID").and_then(Value::as_str) == Some(e.validation_id.as_str())
                && match x.get("PrimaryID") {
                    None => true,
                    Some(Value::Null) => e.primary_id.is_none(),
                    Some(v) => v.as_str() == e.primary_id.as_deref(),
                }
        }) else {
            return Some(Outcome::Fail {
                expected: "errors among the expected list".into(),
                got: format!("{} on {:?}", e.validation_id, e.primary_id),
                detail: e.to_string(),
            });
        };
        let Some(fields) = entry.as_object() else {
            continue;
        };
        for (field, want) in fields {
            if IGNORED_ERROR_KEYS.contains(&field.as_str()) {
                continue;
            }
            let Some(got) = error_field(e, field) else {
                not_compared.insert(field.clone());
                continue;
            };
            let matches = |w: &Value| match w {
                Value::Null => got.is_none(),
                Value::String(s) => got.as_deref() == Some(s.as_str()),
                other => got.as_deref() == Some(other.to_string().as_str()),
            };
            let ok = match want {
                Value::Array(options) => options.iter().any(matches),
                w => matches(w),
            };
            if !ok {
                return Some(Outcome::Fail {
                    expected: format!("{field} {want}"),
                    got: format!("{got:?}"),
                    detail: e.to_string(),
                });
            }
        }
    }
    None
}

/// `expect.unresolvedIdentifierReferences`: each `{ID, Index|Dtmi, Line}` is among the
/// reported references, and there are as many.
fn check_references(u: &dtdl::ResolutionError, expected: &[Value]) -> Option<Outcome> {
    let reported: Vec<(String, String, String)> = u
        .references
        .iter()
        .map(|(id, l)| {
            let doc = match &l.document {
                dtdl::DocumentRef::Input(i) => i.to_string(),
                dtdl::DocumentRef::Resolved(d) => d.as_str().to_owned(),
            };
            (id.as_str().to_owned(), doc, l.line.to_string())
        })
        .collect();
    if reported.len() != expected.len() {
        return Some(Outcome::Fail {
            expected: format!("{} unresolved references", expected.len()),
            got: format!("{}", reported.len()),
            detail: format!("{reported:?}"),
        });
    }
    for x in expected {
        let text = |k: &str| {
            x.get(k).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let id = text("ID").unwrap_or_default();
        let doc = text("Index").or_else(|| text("Dtmi")).unwrap_or_default();
        let line = text("Line");
        let found = reported.iter().any(|(rid, rdoc, rline)| {
            *rid == id && *rdoc == doc && line.as_ref().is_none_or(|l| l == rline)
        });
        if !found {
            return Some(Outcome::Fail {
                expected: format!("reference to {id} in {doc} line {line:?}"),
                got: format!("{reported:?}"),
                detail: String::new(),
            });
        }
    }
    None
}

/// `expect.elementCount` and `expect.elements` (format notes §6.3), against the reference
/// object-model form of the parsed model.
fn check_object_model(model: &dtdl::Model, expect: &Value) -> Option<Outcome> {
    let om = model.to_reference_json();
    let all = om.as_object()?;
    if let Some(count) = expect.get("elementCount").and_then(Value::as_u64)
        && all.len() as u64 != count
    {
        let mut ids: Vec<&String> = all.keys().collect();
        ids.sort();
        return Some(Outcome::Fail {
            expected: format!("{count} elements"),
            got: format!("{}", all.len()),
            detail: format!("{ids:?}"),
        });
    }
    for want in expect
        .get("elements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = want.get("id").and_then(Value::as_str).unwrap_or_default();
        let Some(got) = all.get(id) else {
            return Some(Outcome::Fail {
                expected: format!("element {id}"),
                got: "absent".into(),
                detail: String::new(),
            });
        };
        let fail = |what: &str, w: &Value, g: &Value| {
            Some(Outcome::Fail {
                expected: format!("{id} {what} {w}"),
                got: g.to_string(),
                detail: String::new(),
            })
        };
        if let Some(t) = want.get("type") {
            let g = &got["EntityKind"];
            if !om_equal(t, g) {
                return fail("type", t, g);
            }
        }
        for (key, om_key) in [
            ("supplementalTypes", "SupplementalTypes"),
            ("supplementalProperties", "SupplementalProperties"),
            ("undefinedTypes", "UndefinedTypes"),
            ("undefinedProperties", "UndefinedProperties"),
        ] {
            if let Some(w) = want.get(key) {
                let g = &got[om_key];
                if !om_equal(w, g) {
                    return fail(key, w, g);
                }
            }
        }
        for (name, w) in want
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let g = om_property(got, name);
            if !om_equal(w, &g) {
                return fail(name, w, &g);
            }
        }
    }
    None
}

/// A property of an object-model element by the case's name (first letter lower-cased, as
/// in `definedIn` for `DefinedIn`).
fn om_property(element: &Value, name: &str) -> Value {
    if let Some(v) = element.get(name) {
        return v.clone();
    }
    let mut upper = name.to_owned();
    if let Some(first) = upper.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    element.get(&upper).cloned().unwrap_or(Value::Null)
}

/// Expected versus object-model values: scalars as strings (booleans as .NET renders them),
/// arrays as unordered lists, objects as maps; an absent value equals an empty one.
fn om_equal(want: &Value, got: &Value) -> bool {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(true) => Some("True".into()),
            Value::Bool(false) => Some("False".into()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match (want, got) {
        (Value::Array(w), Value::Array(g)) => {
            let mut ws: Vec<String> = w
                .iter()
                .map(|v| scalar(v).unwrap_or(v.to_string()))
                .collect();
            let mut gs: Vec<String> = g
                .iter()
                .map(|v| scalar(v).unwrap_or(v.to_string()))
                .collect();
            ws.sort();
            gs.sort();
            ws == gs
        }
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|x| om_equal(v, x)))
        }
        (Value::Array(w), Value::Null) | (Value::Array(w), Value::Object(_)) if w.is_empty() => {
            got.as_object().is_none_or(|o| o.is_empty())
        }
        (Value::Object(w), Value::Null) => w.is_empty(),
        (Value::Null, g) => g.is_null(),
        (w, g) => match (scalar(w), scalar(g)) {
            (Some(a), Some(b)) => {
                a == b
                    || a.parse::<f64>()
                        .ok()
                        .zip(b.parse::<f64>().ok())
                        .is_some_and(|(x, y)| x == y)
            }
            _ => false,
        },
    }
}

/// One `instances` check: validate `submit` against element `subject`.
fn check_instance(model: &dtdl::Model, i: usize, inst: &Value) -> Option<Outcome> {
    let subject = inst
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let submit = inst
        .get("submit")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let conforms = inst
        .get("conforms")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let throws = inst.get("throws").and_then(Value::as_bool).unwrap_or(false);
    let Some(element) = model.element(subject) else {
        return Some(Outcome::Fail {
            expected: format!("instance {i}: element {subject}"),
            got: "no such element".into(),
            detail: String::new(),
        });
    };
    let (got_throws, got_conforms) = match element.validate_instance(submit) {
        Ok(violations) => (false, violations.is_empty()),
        Err(_) => (true, false),
    };
    if got_throws != throws || (!throws && got_conforms != conforms) {
        return Some(Outcome::Fail {
            expected: format!("instance {i}: conforms={conforms} throws={throws}"),
            got: format!("conforms={got_conforms} throws={got_throws}"),
            detail: format!("{subject} <- {submit}"),
        });
    }
    None
}

fn run_dtmi_case(case: &Value, id_text: &str) -> Outcome {
    let valid = case.get("valid").and_then(Value::as_bool).unwrap_or(false);
    let parsed = Dtmi::parse(id_text);
    if parsed.is_ok() != valid {
        return Outcome::Fail {
            expected: verdict(valid),
            got: verdict(parsed.is_ok()),
            detail: parsed.err().map(|e| e.to_string()).unwrap_or_default(),
        };
    }
    let (Ok(d), Some(expect)) = (parsed, case.get("expect")) else {
        return Outcome::Pass;
    };
    let mut wrong = Vec::new();
    let mut check = |name: &str, got: Value| {
        if let Some(want) = expect.get(name) {
            let same = match (want.as_f64(), got.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => *want == got,
            };
            if !same {
                wrong.push(format!("{name}: expected {want}, got {got}"));
            }
        }
    };
    check("MajorVersion", d.major_version().unwrap_or(0).into());
    check("MinorVersion", d.minor_version().unwrap_or(0).into());
    check("CompleteVersion", d.complete_version().into());
    check("Versionless", d.versionless().into());
    check("Labels", d.labels().into());
    check("IsReserved", d.is_reserved().into());
    check(
        "Fragment",
        d.fragment()
            .map(|f| format!("#{f}"))
            .unwrap_or_default()
            .into(),
    );
    if wrong.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail {
            expected: "accessor values".into(),
            got: "different values".into(),
            detail: wrong.join("; "),
        }
    }
}

/// Pass/fail/skip counts.
#[derive(Default, Clone, Copy, Debug)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail { .. } => self.failed += 1,
            Outcome::Skip(_) => self.skipped += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let judged = self.passed + self.failed;
        let pct = if judged == 0 {
            100.0
        } else {
            100.0 * self.passed as f64 / judged as f64
        };
        write!(
            f,
            "{:6.2}% agreement ({} passed, {} failed, {} skipped)",
            pct, self.passed, self.failed, self.skipped
        )
    }
}

/// The printed report: per folder, version and prefix, skip reasons, failures, final line.
pub fn report(results: &[CaseResult]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut total = Tally::default();
    let mut groups: BTreeMap<(&str, String), Tally> = BTreeMap::new();
    let mut skips: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        total.add(&r.outcome);
        groups
            .entry(("folder", r.folder.clone()))
            .or_default()
            .add(&r.outcome);
        groups
            .entry(("version", r.version.clone()))
            .or_default()
            .add(&r.outcome);
        groups
            .entry(("prefix", r.prefix.clone()))
            .or_default()
            .add(&r.outcome);
        if let Outcome::Skip(reason) = &r.outcome {
            *skips.entry(reason.as_str()).or_default() += 1;
        }
    }
    for ((kind, name), t) in &groups {
        let _ = writeln!(out, "{kind:8} {name:16} {t}");
    }
    for (reason, n) in &skips {
        let _ = writeln!(out, "skipped  {n:6}  {reason}");
    }
    for r in results {
        if let Outcome::Fail {
            expected,
            got,
            detail,
        } = &r.outcome
        {
            let _ = writeln!(
                out,
                "FAIL {} expected {expected}, got {got}: {detail}",
                r.key()
            );
        }
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    out
}
