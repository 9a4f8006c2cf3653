//! Device and module twin queries: `SELECT … FROM devices | devices.modules [WHERE …]
//! [GROUP BY …]`, parsed into a [`DeviceQuery`], evaluated over twin documents in memory
//! (filter, projection, `COUNT()` and grouping), and compiled to SQL by [`crate::sql`].
//!
//! The documents are twins as the REST API shows them: registry fields at the top level under
//! their canonical names (`deviceId`, `status`, …; omitted when unknown), `tags`, and
//! `properties.desired` / `properties.reported` with `$version`. Keywords, function names and
//! the top-level names (`DeviceId`, `TAGS`, `Properties.Desired`) are case-insensitive; keys
//! below them are case-sensitive, as twin keys are.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

use crate::ast::{Expr, Function, Path, Segment};
use crate::error::{QueryError, QueryErrorKind};
use crate::lexer::Tok;
use crate::parser::{Dialect, Parser, RawSegment};
use crate::value::{Resolve, Val, eval, follow, number_json};

/// A registry field of a twin document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TwinField {
    DeviceId,
    ModuleId,
    ModelId,
    Etag,
    DeviceEtag,
    Status,
    StatusReason,
    StatusUpdateTime,
    ConnectionState,
    LastActivityTime,
    CloudToDeviceMessageCount,
    AuthenticationType,
    Version,
}

impl TwinField {
    pub const ALL: [TwinField; 13] = [
        TwinField::DeviceId,
        TwinField::ModuleId,
        TwinField::ModelId,
        TwinField::Etag,
        TwinField::DeviceEtag,
        TwinField::Status,
        TwinField::StatusReason,
        TwinField::StatusUpdateTime,
        TwinField::ConnectionState,
        TwinField::LastActivityTime,
        TwinField::CloudToDeviceMessageCount,
        TwinField::AuthenticationType,
        TwinField::Version,
    ];

    /// The field's name in twin documents.
    pub fn name(self) -> &'static str {
        match self {
            TwinField::DeviceId => "deviceId",
            TwinField::ModuleId => "moduleId",
            TwinField::ModelId => "modelId",
            TwinField::Etag => "etag",
            TwinField::DeviceEtag => "deviceEtag",
            TwinField::Status => "status",
            TwinField::StatusReason => "statusReason",
            TwinField::StatusUpdateTime => "statusUpdateTime",
            TwinField::ConnectionState => "connectionState",
            TwinField::LastActivityTime => "lastActivityTime",
            TwinField::CloudToDeviceMessageCount => "cloudToDeviceMessageCount",
            TwinField::AuthenticationType => "authenticationType",
            TwinField::Version => "version",
        }
    }

    fn by_name(name: &str) -> Option<TwinField> {
        TwinField::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// Where a device-query path starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TwinRoot {
    Field(TwinField),
    Tags,
    Desired,
    Reported,
}

/// The collection a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    Devices,
    Modules,
}

/// What a query returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// `SELECT *`: whole documents.
    All,
    Items(Vec<SelectItem>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    Field { path: Path<TwinRoot>, alias: String },
    Count { alias: String },
}

/// A parsed device query.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceQuery {
    pub select: Select,
    pub top: Option<u64>,
    pub from: Collection,
    pub filter: Option<Expr<TwinRoot>>,
    pub group_by: Vec<Path<TwinRoot>>,
}

pub(crate) struct TwinDialect;

const TWIN_FUNCTIONS: [Function; 3] = [
    Function::IsDefined,
    Function::StartsWith,
    Function::EndsWith,
];

fn field_hint() -> String {
    let fields: Vec<&str> = TwinField::ALL.iter().map(|f| f.name()).collect();
    format!(
        "query {}, tags.…, properties.desired.… or properties.reported.…",
        fields.join(", ")
    )
}

impl Dialect for TwinDialect {
    type Root = TwinRoot;
    const ARITHMETIC: bool = false;
    const INDEXES: bool = false;

    fn functions() -> &'static [Function] {
        &TWIN_FUNCTIONS
    }

    fn path(
        parser: &Parser<'_>,
        first: &str,
        offset: usize,
        rest: Vec<RawSegment>,
    ) -> Result<Path<TwinRoot>, QueryError> {
        let unknown = |name: &str, at: usize| {
            parser.error_at(
                at,
                QueryErrorKind::UnknownField {
                    name: name.to_owned(),
                    hint: field_hint(),
                },
            )
        };
        let mut rest = rest.into_iter();
        let (root, section) = if first.eq_ignore_ascii_case("tags") {
            (TwinRoot::Tags, "tags")
        } else if first.eq_ignore_ascii_case("properties") {
            match rest.next() {
                Some(RawSegment {
                    segment: Segment::Key(k),
                    ..
                }) if k.eq_ignore_ascii_case("desired") => {
                    (TwinRoot::Desired, "properties.desired")
                }
                Some(RawSegment {
                    segment: Segment::Key(k),
                    ..
                }) if k.eq_ignore_ascii_case("reported") => {
                    (TwinRoot::Reported, "properties.reported")
                }
                Some(RawSegment { offset, segment }) => {
                    let name = match segment {
                        Segment::Key(k) => format!("properties.{k}"),
                        Segment::Index(i) => format!("properties[{i}]"),
                    };
                    return Err(unknown(&name, offset));
                }
                None => return Err(unknown("properties", offset)),
            }
        } else if let Some(field) = TwinField::by_name(first) {
            if let Some(extra) = rest.next() {
                return Err(parser.error_at(
                    extra.offset,
                    QueryErrorKind::Unsupported(format!(
                        "{} is a single value and has no members",
                        field.name()
                    )),
                ));
            }
            return Ok(Path {
                root: TwinRoot::Field(field),
                segments: Vec::new(),
                offset,
            });
        } else {
            return Err(unknown(first, offset));
        };
        let mut segments = Vec::new();
        for (i, raw) in rest.enumerate() {
            if let Segment::Key(k) = &raw.segment
                && k.starts_with('$')
            {
                let is_version = i == 0 && k == "$version" && root != TwinRoot::Tags;
                if !is_version {
                    return Err(parser.error_at(
                        raw.offset,
                        QueryErrorKind::Unsupported(format!(
                            "'{k}' cannot be queried under {section}; of the hub's own \
                             members only properties.desired.$version and \
                             properties.reported.$version can"
                        )),
                    ));
                }
            }
            if i > 0 && segments.first() == Some(&Segment::Key("$version".into())) {
                return Err(parser.error_at(
                    raw.offset,
                    QueryErrorKind::Unsupported("$version is a number and has no members".into()),
                ));
            }
            segments.push(raw.segment);
        }
        Ok(Path {
            root,
            segments,
            offset,
        })
    }
}

impl DeviceQuery {
    /// Parses a query text.
    pub fn parse(text: &str) -> Result<DeviceQuery, QueryError> {
        let mut p = Parser::new(text)?;
        p.expect_keyword("SELECT")?;
        let top = if p.eat_keyword("TOP") {
            match p.peek().tok {
                Tok::Num(n) if n >= 0.0 && n.fract() == 0.0 => {
                    p.advance();
                    Some(n as u64)
                }
                _ => return Err(p.expected("a whole number after TOP")),
            }
        } else {
            None
        };
        let select = if p.eat(&Tok::Star) {
            Select::All
        } else {
            Select::Items(select_items(&mut p)?)
        };
        p.expect_keyword("FROM")?;
        let from = collection(&mut p)?;
        let filter = if p.eat_keyword("WHERE") {
            Some(p.expression::<TwinDialect>()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        let group_offset = p.peek().start;
        if p.eat_keyword("GROUP") {
            p.expect_keyword("BY")?;
            loop {
                let t = p.peek().clone();
                let Tok::Name(name) = t.tok else {
                    return Err(p.expected("a field to group by"));
                };
                p.advance();
                let rest = p.path_rest::<TwinDialect>()?;
                group_by.push(TwinDialect::path(&p, &name, t.start, rest)?);
                if !p.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        p.expect_end(if group_by.is_empty() {
            "WHERE, GROUP BY or the end of the query"
        } else {
            "',' or the end of the query"
        })?;
        let query = DeviceQuery {
            select,
            top,
            from,
            filter,
            group_by,
        };
        query.check_aggregation(&p, group_offset)?;
        Ok(query)
    }

    fn check_aggregation(&self, p: &Parser<'_>, group_offset: usize) -> Result<(), QueryError> {
        let items = match &self.select {
            Select::All if !self.group_by.is_empty() => {
                return Err(p.error_at(
                    group_offset,
                    QueryErrorKind::Unsupported(
                        "GROUP BY needs a projection such as SELECT field, COUNT() AS n".into(),
                    ),
                ));
            }
            Select::All => return Ok(()),
            Select::Items(items) => items,
        };
        let counts = items.iter().any(|i| matches!(i, SelectItem::Count { .. }));
        if !counts && self.group_by.is_empty() {
            return Ok(());
        }
        for item in items {
            if let SelectItem::Field { path, .. } = item
                && !self
                    .group_by
                    .iter()
                    .any(|g| g.root == path.root && g.segments == path.segments)
            {
                return Err(p.error_at(
                    path.offset,
                    QueryErrorKind::Unsupported(
                        "with COUNT() or GROUP BY, every selected field must be one of the \
                         GROUP BY fields"
                            .into(),
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the query counts or groups instead of returning documents.
    pub fn is_aggregate(&self) -> bool {
        !self.group_by.is_empty()
            || matches!(&self.select, Select::Items(items)
                if items.iter().any(|i| matches!(i, SelectItem::Count { .. })))
    }

    /// Whether a document passes the `WHERE` condition.
    pub fn matches(&self, doc: &Value) -> bool {
        match &self.filter {
            None => true,
            Some(f) => eval(f, &Doc(doc)).is_true(),
        }
    }

    /// The row a (non-aggregate) query returns for a matching document: the document itself
    /// for `SELECT *`, else an object of the selected fields (undefined ones left out).
    pub fn project(&self, doc: &Value) -> Value {
        let Select::Items(items) = &self.select else {
            return doc.clone();
        };
        let mut out = Map::new();
        for item in items {
            if let SelectItem::Field { path, alias } = item
                && let Some(v) = Doc(doc).resolve(path).to_json()
            {
                out.insert(alias.clone(), v);
            }
        }
        Value::Object(out)
    }

    /// The group of a document: the values of the `GROUP BY` fields.
    pub fn group_key(&self, doc: &Value) -> Vec<GroupValue> {
        self.group_by
            .iter()
            .map(|g| GroupValue::of(&Doc(doc).resolve(g)))
            .collect()
    }

    /// The rows of an aggregate query from its groups and their counts (from SQL or from
    /// [`DeviceQuery::run`]).
    pub fn rows_from_groups(
        &self,
        groups: impl IntoIterator<Item = (Vec<GroupValue>, u64)>,
    ) -> Vec<Value> {
        let items: &[SelectItem] = match &self.select {
            Select::Items(items) => items,
            Select::All => &[],
        };
        let mut rows: Vec<Value> = groups
            .into_iter()
            .map(|(key, count)| {
                let mut row = Map::new();
                for item in items {
                    match item {
                        SelectItem::Count { alias } => {
                            row.insert(alias.clone(), Value::from(count));
                        }
                        SelectItem::Field { path, alias } => {
                            let value = self
                                .group_by
                                .iter()
                                .position(|g| g.root == path.root && g.segments == path.segments)
                                .and_then(|i| key.get(i))
                                .and_then(GroupValue::to_json);
                            if let Some(v) = value {
                                row.insert(alias.clone(), v);
                            }
                        }
                    }
                }
                Value::Object(row)
            })
            .collect();
        if let Some(top) = self.top {
            rows.truncate(usize::try_from(top).unwrap_or(usize::MAX));
        }
        rows
    }

    /// Runs the whole query over documents in memory: filter, then projection (or counting and
    /// grouping), then `TOP`. Groups come out in order of first appearance.
    pub fn run<'a>(&self, docs: impl IntoIterator<Item = &'a Value>) -> Vec<Value> {
        let matching = docs.into_iter().filter(|d| self.matches(d));
        if self.is_aggregate() {
            let mut order: Vec<Vec<GroupValue>> = Vec::new();
            let mut counts: HashMap<Vec<GroupValue>, u64> = HashMap::new();
            for doc in matching {
                let key = self.group_key(doc);
                let count = counts.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    0
                });
                *count += 1;
            }
            if order.is_empty() && self.group_by.is_empty() {
                // COUNT() over no documents is still one row.
                return self.rows_from_groups([(Vec::new(), 0)]);
            }
            let groups = order.into_iter().map(|k| {
                let n = counts.get(&k).copied().unwrap_or(0);
                (k, n)
            });
            return self.rows_from_groups(groups);
        }
        let limit = self
            .top
            .map_or(usize::MAX, |t| usize::try_from(t).unwrap_or(usize::MAX));
        matching.take(limit).map(|d| self.project(d)).collect()
    }
}

fn select_items(p: &mut Parser<'_>) -> Result<Vec<SelectItem>, QueryError> {
    let mut items = Vec::new();
    let mut unnamed = 0;
    loop {
        let t = p.peek().clone();
        let Tok::Name(name) = t.tok else {
            return Err(p.expected("'*', COUNT() or a field to select"));
        };
        p.advance();
        let item = if name.eq_ignore_ascii_case("COUNT") && p.peek().tok == Tok::LParen {
            p.advance();
            p.expect(&Tok::RParen, "')' (COUNT takes no arguments)")?;
            let alias = match alias(p)? {
                Some(a) => a,
                None => {
                    unnamed += 1;
                    format!("${unnamed}")
                }
            };
            SelectItem::Count { alias }
        } else if ["AVG", "SUM", "MIN", "MAX"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&name))
            && p.peek().tok == Tok::LParen
        {
            return Err(p.error_at(
                t.start,
                QueryErrorKind::Unsupported(format!(
                    "{} is not supported; the only aggregate is COUNT()",
                    name.to_ascii_uppercase()
                )),
            ));
        } else {
            let rest = p.path_rest::<TwinDialect>()?;
            let path = TwinDialect::path(p, &name, t.start, rest)?;
            let alias = match alias(p)? {
                Some(a) => a,
                None => default_alias(&path),
            };
            SelectItem::Field { path, alias }
        };
        items.push(item);
        if !p.eat(&Tok::Comma) {
            return Ok(items);
        }
    }
}

fn alias(p: &mut Parser<'_>) -> Result<Option<String>, QueryError> {
    if !p.eat_keyword("AS") {
        return Ok(None);
    }
    match p.peek().tok.clone() {
        Tok::Name(n) => {
            p.advance();
            Ok(Some(n))
        }
        _ => Err(p.expected("a name after AS")),
    }
}

/// A selected field's name in results when no alias is given: its last member's name.
fn default_alias(path: &Path<TwinRoot>) -> String {
    match path.segments.last() {
        Some(Segment::Key(k)) => k.clone(),
        Some(Segment::Index(i)) => i.to_string(),
        None => match path.root {
            TwinRoot::Field(f) => f.name().to_owned(),
            TwinRoot::Tags => "tags".into(),
            TwinRoot::Desired => "desired".into(),
            TwinRoot::Reported => "reported".into(),
        },
    }
}

fn collection(p: &mut Parser<'_>) -> Result<Collection, QueryError> {
    if !p.eat_keyword("devices") {
        return Err(p.expected("devices or devices.modules"));
    }
    if !p.eat(&Tok::Dot) {
        return Ok(Collection::Devices);
    }
    if p.eat_keyword("modules") {
        return Ok(Collection::Modules);
    }
    if p.at_keyword("jobs") {
        return Err(p.error(QueryErrorKind::Unsupported(
            "devices.jobs is not supported; query devices or devices.modules".into(),
        )));
    }
    Err(p.expected("modules after 'devices.'"))
}

/// A twin document seen by the evaluator.
struct Doc<'a>(&'a Value);

impl Resolve<TwinRoot> for Doc<'_> {
    fn resolve(&self, path: &Path<TwinRoot>) -> Val<'_> {
        let base = match path.root {
            TwinRoot::Field(f) => self.0.get(f.name()),
            TwinRoot::Tags => self.0.get("tags"),
            TwinRoot::Desired => self.0.pointer("/properties/desired"),
            TwinRoot::Reported => self.0.pointer("/properties/reported"),
        };
        match base {
            Some(b) => follow(b, &path.segments, false),
            None => Val::Undefined,
        }
    }
}

/// The value of a `GROUP BY` field in one group. Numbers group by numeric value; objects and
/// arrays group by kind only (comparisons are defined between primitives only) and, like
/// undefined values, are left out of result rows.
#[derive(Clone, Debug)]
pub enum GroupValue {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Object,
    Array,
}

impl GroupValue {
    fn of(v: &Val<'_>) -> GroupValue {
        match v {
            Val::Undefined => GroupValue::Undefined,
            Val::Null => GroupValue::Null,
            Val::Bool(b) => GroupValue::Bool(*b),
            Val::Number(n) => GroupValue::Number(*n),
            Val::String(s) => GroupValue::String(s.to_string()),
            Val::Array(_) => GroupValue::Array,
            Val::Object(_) => GroupValue::Object,
        }
    }

    /// Reads a group value from the three columns of a compiled group key (kind, number,
    /// text); see [`crate::GroupKeySql`].
    pub fn from_sql(kind: Option<&str>, number: Option<f64>, text: Option<&str>) -> GroupValue {
        match kind {
            None => GroupValue::Undefined,
            Some("null") => GroupValue::Null,
            Some("true") => GroupValue::Bool(true),
            Some("false") => GroupValue::Bool(false),
            Some("number") => number.map_or(GroupValue::Undefined, GroupValue::Number),
            Some("string") => text.map_or(GroupValue::Undefined, |t| GroupValue::String(t.into())),
            Some("array") => GroupValue::Array,
            _ => GroupValue::Object,
        }
    }

    /// The value in a result row; `None` for undefined, objects and arrays.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            GroupValue::Null => Some(Value::Null),
            GroupValue::Bool(b) => Some(Value::Bool(*b)),
            GroupValue::Number(n) => Some(number_json(*n)),
            GroupValue::String(s) => Some(Value::String(s.clone())),
            GroupValue::Undefined | GroupValue::Object | GroupValue::Array => None,
        }
    }

    fn number_bits(n: f64) -> u64 {
        // -0 and 0 are one group, as SQL groups them.
        if n == 0.0 { 0 } else { n.to_bits() }
    }
}

impl PartialEq for GroupValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (GroupValue::Number(a), GroupValue::Number(b)) => {
                GroupValue::number_bits(*a) == GroupValue::number_bits(*b)
            }
            (GroupValue::String(a), GroupValue::String(b)) => a == b,
            (GroupValue::Bool(a), GroupValue::Bool(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for GroupValue {}

impl Hash for GroupValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            GroupValue::Number(n) => GroupValue::number_bits(*n).hash(state),
            GroupValue::String(s) => s.hash(state),
            GroupValue::Bool(b) => b.hash(state),
            _ => {}
        }
    }
}
