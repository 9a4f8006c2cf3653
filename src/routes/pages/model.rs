//! The model page: what a device with this interface does — capabilities grouped by kind with
//! readable schemas, units and semantic types, inherited contents marked with their source —
//! plus versions, the raw JSON (highlighted on the server), the expanded closure, who uses
//! it, and its dependency graph as server-rendered SVG.

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;

use super::search::ModelRow;
use super::{Chrome, lang_text, model_path};
use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::domain::diff::{enum_value_text, short_id};
use crate::domain::model::{ModelRecord, Relation};
use crate::http::error::ApiError;
use crate::repository::inspect;
use crate::repository::publish::PushPolicy;
use crate::routes::api::models::parse_dtmi;
use crate::routes::pages::error::PageError;
use crate::store::Store;

/// One row of a schema rendered as an indented outline.
pub struct SchemaRow {
    pub depth: usize,
    pub label: String,
    pub kind: String,
    pub note: String,
}

/// A command request or response.
pub struct Payload {
    pub name: String,
    pub schema: Vec<SchemaRow>,
}

/// One telemetry, property, command, component or relationship.
pub struct Capability {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub writable: bool,
    pub unit: Option<String>,
    pub semantic_types: Vec<String>,
    pub schema: Vec<SchemaRow>,
    pub request: Option<Payload>,
    pub response: Option<Payload>,
    /// Components: the interface and its page.
    pub interface: Option<(String, String)>,
    /// Relationships: the target interface, if restricted.
    pub target: Option<String>,
    /// The interface this is inherited from, and its page.
    pub inherited: Option<(String, String)>,
}

/// Capabilities of one kind.
pub struct Group {
    pub title: &'static str,
    pub items: Vec<Capability>,
}

/// One token of the highlighted JSON.
pub struct Token {
    pub class: &'static str,
    pub text: String,
}

/// A box of the dependency graph.
pub struct Node {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub label: String,
    pub title: String,
    pub href: String,
    pub role: &'static str,
}

/// An arrow of the dependency graph (from dependent to dependency).
pub struct Edge {
    pub x1: i64,
    pub y1: i64,
    pub x2: i64,
    pub y2: i64,
}

pub struct Graph {
    pub width: i64,
    pub height: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A version in the version picker.
pub struct Version {
    pub dtmi: String,
    pub link: String,
    pub current: bool,
    pub state: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "model.html")]
pub struct ModelPage {
    chrome: Chrome,
    row: ModelRow,
    description: String,
    sha256: String,
    pushed_by: String,
    dmr_link: String,
    expanded_link: String,
    api_link: String,
    versions: Vec<Version>,
    previous: Option<String>,
    groups: Vec<Group>,
    extends: Vec<(String, String)>,
    tokens: Vec<Token>,
    closure: Vec<ModelRow>,
    dependents: Vec<ModelRow>,
    graph: Graph,
    can_deprecate: bool,
    can_decommission: bool,
    can_delete: bool,
    /// Repository conventions the model breaks (legacy imports): each message and where.
    warnings: Vec<(String, String)>,
}

pub async fn model(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    policy: web::Data<PushPolicy>,
) -> Result<ModelPage, PageError> {
    let dtmi = parse_dtmi(&path).map_err(|_| {
        ApiError::not_found(format!(
            "{:?} is not a DTMI, so no model has it",
            path.as_str()
        ))
    })?;
    authz.require(&caller, Action::Read, &Target::Model(dtmi.as_str()))?;
    let scope = authz.read_scope(&caller);
    let may = |action| authz.allows(&caller, action, &Target::Model(dtmi.as_str()));
    let parsed = inspect::load(store.get_ref(), dtmi.as_str(), &policy.parsing)
        .await?
        .ok_or_else(|| ApiError::model_not_found(dtmi.as_str()))?;
    let root = parsed.root().ok_or_else(|| {
        ApiError::unexpected(format!("stored model {dtmi} has no root interface"))
    })?;
    let record = parsed.record.clone();
    let mut versions = store.versions(&dtmi.versionless().to_lowercase()).await?;
    versions.retain(|v| scope.can_read(&v.dtmi));
    let previous = crate::repository::publish::previous_version(store.get_ref(), &dtmi)
        .await?
        .filter(|p| scope.can_read(p));
    let mut dependents = store.related(record.id, Relation::Dependents).await?;
    dependents.retain(|d| scope.can_read(&d.dtmi));
    let mut edges = Vec::new();
    for member in &parsed.closure {
        for dependency in store
            .related(member.record.id, Relation::Dependencies)
            .await?
        {
            edges.push((member.record.dtmi.clone(), dependency.dtmi));
        }
    }
    // A public model never depends on a private one; filtering keeps the page within the
    // caller's rights even if visibility changed since the push.
    edges.retain(|(from, to)| scope.can_read(from) && scope.can_read(to));
    let closure_records: Vec<ModelRecord> = parsed
        .closure
        .iter()
        .filter(|m| scope.can_read(&m.record.dtmi))
        .map(|m| m.record.clone())
        .collect();
    let graph = layout(&record.dtmi, &closure_records, &edges, &dependents);

    let mut groups = vec![
        Group {
            title: "Telemetry",
            items: Vec::new(),
        },
        Group {
            title: "Properties",
            items: Vec::new(),
        },
        Group {
            title: "Commands",
            items: Vec::new(),
        },
        Group {
            title: "Components",
            items: Vec::new(),
        },
        Group {
            title: "Relationships",
            items: Vec::new(),
        },
    ];
    for content in root.all_contents() {
        let slot = match content.class() {
            "Telemetry" => 0,
            "Property" => 1,
            "Command" => 2,
            "Component" => 3,
            _ => 4,
        };
        groups[slot].items.push(capability(root, content));
    }
    groups.retain(|g| !g.items.is_empty());
    let content_text = String::from_utf8_lossy(&parsed.content).into_owned();
    let (dmr_link, expanded_link) = (
        format!("/{}", dtmi.to_dmr_path()),
        format!("/{}", dtmi.to_dmr_expanded_path()),
    );
    let warnings = record
        .warnings
        .iter()
        .map(|w| (w.message.clone(), w.pointer.clone().unwrap_or_default()))
        .collect();
    Ok(ModelPage {
        warnings,
        chrome: Chrome::new(&request, &caller),
        description: lang_text(&root.description()),
        sha256: record.sha256.clone(),
        pushed_by: record.pushed_by.clone(),
        api_link: format!("/api/v1/models/{}", super::escape_dtmi(&record.dtmi)),
        dmr_link,
        expanded_link,
        versions: versions
            .iter()
            .map(|v| Version {
                current: v.dtmi == record.dtmi,
                link: model_path(&v.dtmi),
                state: v.state.as_str(),
                dtmi: v.dtmi.clone(),
            })
            .collect(),
        previous,
        groups,
        extends: root
            .extends()
            .iter()
            .map(|e| (e.id().to_owned(), model_path(e.id())))
            .collect(),
        tokens: highlight(&content_text),
        closure: closure_records
            .into_iter()
            .skip(1)
            .map(ModelRow::from)
            .collect(),
        dependents: dependents.into_iter().map(ModelRow::from).collect(),
        graph,
        can_deprecate: record.state == crate::domain::model::ModelState::Published
            && may(Action::Deprecate),
        can_decommission: record.state != crate::domain::model::ModelState::Decommissioned
            && may(Action::Decommission),
        can_delete: may(Action::Delete),
        row: ModelRow::from(record),
    })
}

fn capability(root: dtdl::ElementRef<'_>, content: dtdl::ElementRef<'_>) -> Capability {
    let payload = |p: Option<dtdl::ElementRef<'_>>| {
        p.map(|p| Payload {
            name: p.name().unwrap_or_default().to_owned(),
            schema: p
                .schema()
                .map(|s| schema_rows(s, p.name().unwrap_or("payload"), 0))
                .unwrap_or_default(),
        })
    };
    let inherited = if root.contents().iter().any(|c| c.id() == content.id()) {
        None
    } else {
        let (parent, _) = content.parent().unzip();
        parent.map(|p| (p.id().to_owned(), model_path(p.id())))
    };
    let is_component = content.class() == "Component";
    Capability {
        name: content.name().unwrap_or_default().to_owned(),
        display_name: lang_text(&content.display_name()),
        description: lang_text(&content.description()),
        writable: content.class() == "Property" && content.writable(),
        unit: content.unit().map(|u| short_id(u.id()).to_owned()),
        semantic_types: content
            .supplemental_types()
            .iter()
            .map(|t| short_id(t).to_owned())
            .collect(),
        schema: if is_component {
            Vec::new()
        } else {
            content
                .schema()
                .map(|s| schema_rows(s, "schema", 0))
                .unwrap_or_default()
        },
        request: payload(content.request()),
        response: payload(content.response()),
        interface: if is_component {
            content
                .schema()
                .map(|s| (s.id().to_owned(), model_path(s.id())))
        } else {
            None
        },
        target: content.target().map(str::to_owned),
        inherited,
    }
}

/// Flattens a schema into indented rows: objects list their fields, enums their values,
/// maps their key and value, arrays their items.
pub fn schema_rows(schema: dtdl::ElementRef<'_>, label: &str, depth: usize) -> Vec<SchemaRow> {
    let mut rows = Vec::new();
    push_schema(schema, label, depth, &mut rows);
    rows
}

fn push_schema(schema: dtdl::ElementRef<'_>, label: &str, depth: usize, rows: &mut Vec<SchemaRow>) {
    if depth > 8 {
        return;
    }
    let note = lang_text(&schema.description());
    match schema.class() {
        "Object" => {
            rows.push(SchemaRow {
                depth,
                label: label.to_owned(),
                kind: "object".to_owned(),
                note,
            });
            for field in schema.fields() {
                if let Some(s) = field.schema() {
                    push_schema(s, field.name().unwrap_or_default(), depth + 1, rows);
                }
            }
        }
        "Enum" => {
            let base = schema
                .value_schema()
                .map(|v| crate::domain::diff::schema_text(v))
                .unwrap_or_default();
            rows.push(SchemaRow {
                depth,
                label: label.to_owned(),
                kind: format!("enum of {base}"),
                note,
            });
            for value in schema.enum_values() {
                rows.push(SchemaRow {
                    depth: depth + 1,
                    label: String::new(),
                    kind: enum_value_text(value),
                    note: lang_text(&value.display_name()),
                });
            }
        }
        "Map" => {
            let key = schema.map_key();
            let key_name = key.and_then(|k| k.name()).unwrap_or("key");
            let key_schema = key
                .and_then(|k| k.schema())
                .map(crate::domain::diff::schema_text)
                .unwrap_or_else(|| "string".to_owned());
            rows.push(SchemaRow {
                depth,
                label: label.to_owned(),
                kind: format!("map from {key_schema} ({key_name})"),
                note,
            });
            if let Some(value) = schema.map_value()
                && let Some(s) = value.schema()
            {
                push_schema(s, &format!("{{{key_name}}}"), depth + 1, rows);
            }
        }
        "Array" => {
            rows.push(SchemaRow {
                depth,
                label: label.to_owned(),
                kind: "array".to_owned(),
                note,
            });
            if let Some(s) = schema.element_schema() {
                push_schema(s, "item", depth + 1, rows);
            }
        }
        _ => rows.push(SchemaRow {
            depth,
            label: label.to_owned(),
            kind: crate::domain::diff::schema_text(schema),
            note,
        }),
    }
}

/// Splits JSON text into tokens for highlighting; the text is kept exactly (whitespace too).
pub fn highlight(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut plain = String::new();
    let flush = |plain: &mut String, tokens: &mut Vec<Token>| {
        if !plain.is_empty() {
            tokens.push(Token {
                class: "p",
                text: std::mem::take(plain),
            });
        }
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' {
            flush(&mut plain, &mut tokens);
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            let rest = text[i..].trim_start();
            let class = if rest.starts_with(':') { "k" } else { "s" };
            tokens.push(Token {
                class,
                text: text[start..i].to_owned(),
            });
        } else if c == b'-' || c.is_ascii_digit() {
            flush(&mut plain, &mut tokens);
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
            {
                i += 1;
            }
            tokens.push(Token {
                class: "n",
                text: text[start..i].to_owned(),
            });
        } else if text[i..].starts_with("true")
            || text[i..].starts_with("false")
            || text[i..].starts_with("null")
        {
            flush(&mut plain, &mut tokens);
            let len = if text[i..].starts_with("false") { 5 } else { 4 };
            tokens.push(Token {
                class: "l",
                text: text[i..i + len].to_owned(),
            });
            i += len;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            plain.push(ch);
            i += ch.len_utf8();
        }
    }
    flush(&mut plain, &mut tokens);
    tokens
}

const NODE_HEIGHT: i64 = 34;
const ROW_GAP: i64 = 56;
const COLUMN_GAP: i64 = 16;
const CHAR_WIDTH: i64 = 7;
const MAX_PER_ROW: usize = 6;

/// Lays the graph out in rows: direct dependents above, the model, then its dependencies by
/// distance. Rows wider than the page wrap; arrows point from dependent to dependency.
fn layout(
    root: &str,
    closure: &[ModelRecord],
    edges: &[(String, String)],
    dependents: &[ModelRecord],
) -> Graph {
    use std::collections::{BTreeMap, VecDeque};
    let mut level: BTreeMap<&str, usize> = BTreeMap::from([(root, 0)]);
    let mut queue = VecDeque::from([root]);
    while let Some(at) = queue.pop_front() {
        let depth = level.get(at).copied().unwrap_or(0);
        for (_, to) in edges.iter().filter(|(from, _)| from == at) {
            if !level.contains_key(to.as_str()) {
                level.insert(to.as_str(), depth + 1);
                queue.push_back(to.as_str());
            }
        }
    }
    let mut rows: Vec<Vec<(String, &'static str)>> = Vec::new();
    let shown_dependents: Vec<(String, &'static str)> = dependents
        .iter()
        .take(MAX_PER_ROW)
        .map(|d| (d.dtmi.clone(), "dependent"))
        .collect();
    if !shown_dependents.is_empty() {
        rows.push(shown_dependents);
    }
    let deepest = level.values().copied().max().unwrap_or(0);
    for depth in 0..=deepest {
        let members: Vec<(String, &'static str)> = closure
            .iter()
            .filter(|m| level.get(m.dtmi.as_str()) == Some(&depth))
            .map(|m| {
                (
                    m.dtmi.clone(),
                    if depth == 0 { "root" } else { "dependency" },
                )
            })
            .collect();
        for chunk in members.chunks(MAX_PER_ROW) {
            rows.push(chunk.to_vec());
        }
    }
    let width_of = |dtmi: &str| (short_label(dtmi).chars().count() as i64) * CHAR_WIDTH + 24;
    let row_widths: Vec<i64> = rows
        .iter()
        .map(|r| r.iter().map(|(d, _)| width_of(d) + COLUMN_GAP).sum::<i64>() - COLUMN_GAP)
        .collect();
    let width = row_widths.iter().copied().max().unwrap_or(200).max(200) + 20;
    let mut nodes = Vec::new();
    let mut position: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (r, row) in rows.iter().enumerate() {
        let mut x = (width - row_widths[r]) / 2;
        let y = 10 + r as i64 * (NODE_HEIGHT + ROW_GAP);
        for (dtmi, role) in row {
            let w = width_of(dtmi);
            position.insert(dtmi.clone(), (x, y, w));
            nodes.push(Node {
                x,
                y,
                width: w,
                label: short_label(dtmi),
                title: dtmi.clone(),
                href: model_path(dtmi),
                role,
            });
            x += w + COLUMN_GAP;
        }
    }
    let mut lines = Vec::new();
    let dependent_edges = dependents
        .iter()
        .take(MAX_PER_ROW)
        .map(|d| (d.dtmi.clone(), root.to_owned()));
    for (from, to) in edges.iter().cloned().chain(dependent_edges) {
        if let (Some(a), Some(b)) = (position.get(&from), position.get(&to)) {
            let (x1, y1) = (a.0 + a.2 / 2, a.1 + NODE_HEIGHT);
            let (x2, y2) = (b.0 + b.2 / 2, b.1);
            // Edges within one row or upwards (a dependency drawn above) go box to box anyway.
            lines.push(Edge {
                x1,
                y1,
                x2,
                y2: if y2 > y1 { y2 - 4 } else { y2 + NODE_HEIGHT },
            });
        }
    }
    Graph {
        width,
        height: 20 + rows.len() as i64 * (NODE_HEIGHT + ROW_GAP) - ROW_GAP,
        nodes,
        edges: lines,
    }
}

/// `dtmi:com:example:Thermostat;1` → `Thermostat;1`: enough to tell boxes apart.
fn short_label(dtmi: &str) -> String {
    dtmi.rsplit(':').next().unwrap_or(dtmi).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_keeps_the_text_and_classifies_tokens() {
        let text = "{\n  \"a\": \"x\\\"y\", \"n\": -1.5e3, \"t\": true, \"z\": null\n}";
        let tokens = highlight(text);
        let joined: String = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(joined, text);
        let class_of = |s: &str| tokens.iter().find(|t| t.text == s).map(|t| t.class);
        assert_eq!(class_of("\"a\""), Some("k"));
        assert_eq!(class_of("\"x\\\"y\""), Some("s"));
        assert_eq!(class_of("-1.5e3"), Some("n"));
        assert_eq!(class_of("true"), Some("l"));
        assert_eq!(class_of("null"), Some("l"));
    }
}
