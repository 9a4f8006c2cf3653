//! Compiles a [`DeviceQuery`] to SQL for SQLite or PostgreSQL over the caller's tables: a
//! `WHERE` condition and `GROUP BY` key expressions, with every constant and JSON path bound as
//! a numbered parameter (`?1` / `$1`), never written into the text.
//!
//! The SQL gives exactly the in-memory semantics ([`crate::value`]): every comparison is
//! guarded by the JSON type of both sides (SQLite `json_type`, PostgreSQL `jsonb_typeof`), so a
//! missing field or a type mismatch yields SQL `NULL`, and SQL's three-valued `AND` / `OR` /
//! `NOT` then match the language's undefined. Strings compare by code point (SQLite's binary
//! collation, PostgreSQL `COLLATE "C"`); numbers as doubles.
//!
//! The caller maps registry fields to columns (a `NULL` column is an undefined field) and names
//! the JSON columns holding tags and the desired and reported properties (`TEXT` with JSON in
//! SQLite, `jsonb` in PostgreSQL; without `$metadata`). `$version` comes from its own column
//! when one is mapped, else from a `"$version"` member of the JSON column.

use std::collections::HashMap;

use crate::ast::{CompareOp, Expr, Function, Literal, Path, Segment};
use crate::device::{DeviceQuery, TwinField, TwinRoot};
use crate::value::{Val, compare};

/// The SQL dialect to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlDialect {
    Sqlite,
    Postgres,
}

/// The SQL type of a registry column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Number,
}

/// A column (or any SQL expression over the row).
#[derive(Clone, Debug, PartialEq)]
pub struct SqlColumn {
    pub sql: String,
    pub kind: ColumnKind,
}

/// Where the twin document's parts live in the caller's tables.
#[derive(Clone, Debug)]
pub struct SqlMapping {
    pub dialect: SqlDialect,
    pub fields: HashMap<TwinField, SqlColumn>,
    pub tags: Option<String>,
    pub desired: Option<String>,
    pub reported: Option<String>,
    pub desired_version: Option<SqlColumn>,
    pub reported_version: Option<SqlColumn>,
}

impl SqlMapping {
    /// An empty mapping; add columns with the builder methods.
    pub fn new(dialect: SqlDialect) -> SqlMapping {
        SqlMapping {
            dialect,
            fields: HashMap::new(),
            tags: None,
            desired: None,
            reported: None,
            desired_version: None,
            reported_version: None,
        }
    }

    pub fn field(mut self, field: TwinField, sql: &str, kind: ColumnKind) -> SqlMapping {
        self.fields.insert(
            field,
            SqlColumn {
                sql: sql.to_owned(),
                kind,
            },
        );
        self
    }

    pub fn tags(mut self, json_column: &str) -> SqlMapping {
        self.tags = Some(json_column.to_owned());
        self
    }

    pub fn desired(mut self, json_column: &str) -> SqlMapping {
        self.desired = Some(json_column.to_owned());
        self
    }

    pub fn reported(mut self, json_column: &str) -> SqlMapping {
        self.reported = Some(json_column.to_owned());
        self
    }

    pub fn desired_version(mut self, column: &str) -> SqlMapping {
        self.desired_version = Some(SqlColumn {
            sql: column.to_owned(),
            kind: ColumnKind::Number,
        });
        self
    }

    pub fn reported_version(mut self, column: &str) -> SqlMapping {
        self.reported_version = Some(SqlColumn {
            sql: column.to_owned(),
            kind: ColumnKind::Number,
        });
        self
    }
}

/// A bound parameter; placeholder `N` (`?N` in SQLite, `$N` in PostgreSQL) is
/// `params[N - 1]`.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlParam {
    Text(String),
    Number(f64),
    /// A JSON path as PostgreSQL's `#>` takes it (`text[]`).
    TextArray(Vec<String>),
}

/// The SQL of one `GROUP BY` field: three expressions to select (and group by, by position),
/// read back with [`crate::GroupValue::from_sql`]: `kind` is `'string'`, `'number'`, `'true'`,
/// `'false'`, `'null'`, `'object'`, `'array'` or `NULL` (undefined); `number` is the value as
/// a double when it is a number; `text` the value when it is a string.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupKeySql {
    pub kind: String,
    pub number: String,
    pub text: String,
}

/// A compiled query. Use as
/// `SELECT … FROM … WHERE {filter}` or, for aggregates,
/// `SELECT {k.kind}, {k.number}, {k.text}, …, COUNT(*) FROM … WHERE {filter} GROUP BY 1, 2, 3, …`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledQuery {
    /// A boolean SQL expression; rows where it is true match.
    pub filter: String,
    pub group_by: Vec<GroupKeySql>,
    pub params: Vec<SqlParam>,
}

impl CompiledQuery {
    /// The number of the first placeholder free for the caller's own parameters.
    pub fn next_placeholder(&self) -> usize {
        self.params.len() + 1
    }
}

/// A query the mapping cannot express.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("{field} cannot be queried here: no column holds it")]
    Unmapped { field: String },
    #[error("{0} cannot be compiled to SQL")]
    Unsupported(String),
}

impl DeviceQuery {
    /// Compiles the query's condition and grouping to SQL over `mapping`.
    pub fn compile_sql(&self, mapping: &SqlMapping) -> Result<CompiledQuery, CompileError> {
        let mut c = Compiler {
            m: mapping,
            pending: Vec::new(),
            params: Vec::new(),
        };
        let filter = match &self.filter {
            Some(f) => c.condition(f)?,
            None => c.truth(true).to_owned(),
        };
        let filter = c.finish(&filter);
        let mut group_by = Vec::new();
        for g in &self.group_by {
            let key = c.group_key(g)?;
            group_by.push(GroupKeySql {
                kind: c.finish(&key.kind),
                number: c.finish(&key.number),
                text: c.finish(&key.text),
            });
        }
        Ok(CompiledQuery {
            filter,
            group_by,
            params: c.params,
        })
    }
}

struct Compiler<'m> {
    m: &'m SqlMapping,
    /// Parameters referred to by markers in SQL being built. Only those that end up in the
    /// emitted text become real parameters (see `finish`): a comparison that turns out
    /// impossible drops its operands' paths, and PostgreSQL refuses unused parameters.
    pending: Vec<SqlParam>,
    params: Vec<SqlParam>,
}

/// Delimits a pending parameter's index in SQL under construction; never part of real SQL
/// (every value is bound, and column names come from the caller's mapping).
const MARK: char = '\u{1}';

/// The kinds a comparison distinguishes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    String,
    Bool,
    Null,
}

/// Whether an operand is of a kind: never, always, or when an SQL condition holds.
enum Is {
    Never,
    Always,
    When(String),
}

/// A compared value.
enum Operand {
    Const(Literal),
    /// A field: SQL for its kind tests and typed values.
    Field(FieldSql),
    /// A condition (TRUE, FALSE or NULL) used as a value.
    Bool(String),
}

struct FieldSql {
    defined: String,
    /// The JSON type as text, used once the primitives are ruled out ('object' or 'array').
    json_type: String,
    /// Conditions for each kind; `None`: the field is never of that kind (registry columns
    /// have one kind), so no branch for it is written (PostgreSQL type-checks every branch).
    is_number: Option<String>,
    is_string: Option<String>,
    is_bool: Option<String>,
    is_null: Option<String>,
    number: String,
    text: String,
    boolean: String,
}

impl Compiler<'_> {
    fn pg(&self) -> bool {
        self.m.dialect == SqlDialect::Postgres
    }

    fn truth(&self, b: bool) -> &'static str {
        match (self.pg(), b) {
            (true, true) => "TRUE",
            (true, false) => "FALSE",
            (false, true) => "1",
            (false, false) => "0",
        }
    }

    fn null_bool(&self) -> &'static str {
        if self.pg() {
            "CAST(NULL AS BOOLEAN)"
        } else {
            "NULL"
        }
    }

    /// A marker for a parameter; `finish` turns it into a placeholder.
    fn placeholder(&mut self, param: SqlParam) -> String {
        let index = match self.pending.iter().position(|p| *p == param) {
            Some(i) => i,
            None => {
                self.pending.push(param);
                self.pending.len() - 1
            }
        };
        format!("{MARK}{index}{MARK}")
    }

    /// Replaces parameter markers by numbered placeholders, binding each parameter once, in
    /// order of first use.
    fn finish(&mut self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len());
        let mut parts = sql.split(MARK);
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        while let (Some(index), Some(text)) = (parts.next(), parts.next()) {
            let param = index
                .parse::<usize>()
                .ok()
                .and_then(|i| self.pending.get(i))
                .cloned();
            if let Some(param) = param {
                out.push_str(&self.bound(param));
            }
            out.push_str(text);
        }
        out
    }

    fn bound(&mut self, param: SqlParam) -> String {
        let index = match self.params.iter().position(|p| *p == param) {
            Some(i) => i + 1,
            None => {
                self.params.push(param.clone());
                self.params.len()
            }
        };
        match (self.pg(), param) {
            (false, _) => format!("?{index}"),
            (true, SqlParam::Text(_)) => format!("${index}::text"),
            (true, SqlParam::Number(_)) => format!("${index}::float8"),
            (true, SqlParam::TextArray(_)) => format!("${index}::text[]"),
        }
    }

    fn condition(&mut self, e: &Expr<TwinRoot>) -> Result<String, CompileError> {
        Ok(match e {
            Expr::Literal(Literal::Bool(b)) => self.truth(*b).to_owned(),
            Expr::Literal(_) => self.null_bool().to_owned(),
            Expr::Path(p) => {
                let f = self.field(p)?;
                match f.is_bool {
                    Some(is_bool) => format!("(CASE WHEN {is_bool} THEN {} END)", f.boolean),
                    None => self.null_bool().to_owned(),
                }
            }
            Expr::Not(x) => format!("(NOT {})", self.condition(x)?),
            Expr::And(a, b) => format!("({} AND {})", self.condition(a)?, self.condition(b)?),
            Expr::Or(a, b) => format!("({} OR {})", self.condition(a)?, self.condition(b)?),
            Expr::Compare(op, a, b) => {
                let a = self.operand(a)?;
                let b = self.operand(b)?;
                self.compare(*op, &a, &b)
            }
            Expr::In {
                value,
                list,
                negated,
            } => {
                let v = self.operand(value)?;
                let mut parts = Vec::new();
                for item in list {
                    parts.push(self.compare(CompareOp::Eq, &v, &Operand::Const(item.clone())));
                }
                let any = if parts.is_empty() {
                    self.truth(false).to_owned()
                } else {
                    format!("({})", parts.join(" OR "))
                };
                if *negated {
                    format!("(NOT {any})")
                } else {
                    any
                }
            }
            Expr::Call(Function::IsDefined, args) => match args.first() {
                Some(Expr::Path(p)) => format!("({})", self.field(p)?.defined),
                _ => return Err(CompileError::Unsupported("IS_DEFINED of a non-path".into())),
            },
            Expr::Call(f @ (Function::StartsWith | Function::EndsWith), args) => {
                let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
                    return Err(CompileError::Unsupported(format!("{} arity", f.name())));
                };
                let a = self.operand(a)?;
                let b = self.operand(b)?;
                self.affix(*f, &a, &b)
            }
            other => {
                return Err(CompileError::Unsupported(format!("{other:?}")));
            }
        })
    }

    fn operand(&mut self, e: &Expr<TwinRoot>) -> Result<Operand, CompileError> {
        Ok(match e {
            Expr::Literal(l) => Operand::Const(l.clone()),
            Expr::Path(p) => Operand::Field(self.field(p)?),
            other => Operand::Bool(self.condition(other)?),
        })
    }

    fn is(&self, o: &Operand, kind: Kind) -> Is {
        match o {
            Operand::Const(l) => {
                let k = match l {
                    Literal::Number(_) => Kind::Number,
                    Literal::String(_) => Kind::String,
                    Literal::Bool(_) => Kind::Bool,
                    Literal::Null => Kind::Null,
                    Literal::Undefined => return Is::Never,
                };
                if k == kind { Is::Always } else { Is::Never }
            }
            Operand::Field(f) => {
                let cond = match kind {
                    Kind::Number => &f.is_number,
                    Kind::String => &f.is_string,
                    Kind::Bool => &f.is_bool,
                    Kind::Null => &f.is_null,
                };
                cond.clone().map_or(Is::Never, Is::When)
            }
            Operand::Bool(sql) if kind == Kind::Bool => Is::When(format!("{sql} IS NOT NULL")),
            Operand::Bool(_) => Is::Never,
        }
    }

    fn value(&mut self, o: &Operand, kind: Kind) -> String {
        match (o, kind) {
            (Operand::Const(Literal::Number(n)), _) => self.placeholder(SqlParam::Number(*n)),
            (Operand::Const(Literal::String(s)), _) => self.placeholder(SqlParam::Text(s.clone())),
            (Operand::Const(Literal::Bool(b)), _) => self.truth(*b).to_owned(),
            (Operand::Const(_), _) => "NULL".to_owned(),
            (Operand::Field(f), Kind::Number) => f.number.clone(),
            (Operand::Field(f), Kind::String) => f.text.clone(),
            (Operand::Field(f), Kind::Bool) => f.boolean.clone(),
            (Operand::Field(_), Kind::Null) => "NULL".to_owned(),
            (Operand::Bool(sql), _) => sql.clone(),
        }
    }

    /// `CASE WHEN <both of kind k> THEN <comparison> … END` over the kinds both sides can have.
    fn compare(&mut self, op: CompareOp, a: &Operand, b: &Operand) -> String {
        if let (Operand::Const(x), Operand::Const(y)) = (a, b) {
            return match compare(op, &Val::from_literal(x), &Val::from_literal(y)) {
                Val::Bool(r) => self.truth(r).to_owned(),
                _ => self.null_bool().to_owned(),
            };
        }
        let kinds: &[Kind] = if op.is_ordering() {
            &[Kind::Number, Kind::String]
        } else {
            &[Kind::Number, Kind::String, Kind::Bool, Kind::Null]
        };
        let mut branches: Vec<(Option<String>, String)> = Vec::new();
        for &kind in kinds {
            let conds = match (self.is(a, kind), self.is(b, kind)) {
                (Is::Never, _) | (_, Is::Never) => continue,
                (Is::Always, Is::Always) => None,
                (Is::When(c), Is::Always) | (Is::Always, Is::When(c)) => Some(c),
                (Is::When(x), Is::When(y)) => Some(format!("{x} AND {y}")),
            };
            let result = match kind {
                Kind::Null => self.truth(op == CompareOp::Eq).to_owned(),
                Kind::String if op.is_ordering() && self.pg() => {
                    let (va, vb) = (self.value(a, kind), self.value(b, kind));
                    format!("{va} COLLATE \"C\" {} {vb}", op.sql())
                }
                _ => {
                    let (va, vb) = (self.value(a, kind), self.value(b, kind));
                    format!("{va} {} {vb}", op.sql())
                }
            };
            branches.push((conds, result));
        }
        self.case(branches)
    }

    fn case(&self, branches: Vec<(Option<String>, String)>) -> String {
        if branches.is_empty() {
            return self.null_bool().to_owned();
        }
        let mut out = String::from("(CASE");
        for (cond, result) in branches {
            match cond {
                Some(c) => out.push_str(&format!(" WHEN {c} THEN {result}")),
                // Always of this kind: no later branch can apply.
                None => {
                    out.push_str(&format!(" WHEN {} THEN {result}", self.truth(true)));
                    break;
                }
            }
        }
        out.push_str(" END)");
        out
    }

    /// STARTSWITH / ENDSWITH: both sides strings, else undefined.
    fn affix(&mut self, f: Function, a: &Operand, b: &Operand) -> String {
        let conds = match (self.is(a, Kind::String), self.is(b, Kind::String)) {
            (Is::Never, _) | (_, Is::Never) => return self.null_bool().to_owned(),
            (Is::Always, Is::Always) => None,
            (Is::When(c), Is::Always) | (Is::Always, Is::When(c)) => Some(c),
            (Is::When(x), Is::When(y)) => Some(format!("{x} AND {y}")),
        };
        let (va, vb) = (self.value(a, Kind::String), self.value(b, Kind::String));
        let test = match (f, self.pg()) {
            (Function::StartsWith, false) => format!("substr({va}, 1, length({vb})) = {vb}"),
            (Function::StartsWith, true) => format!("left({va}, length({vb})) = {vb}"),
            (_, false) => format!("(length({vb}) = 0 OR substr({va}, -length({vb})) = {vb})"),
            (_, true) => format!("right({va}, length({vb})) = {vb}"),
        };
        self.case(vec![(conds, test)])
    }

    fn field(&mut self, path: &Path<TwinRoot>) -> Result<FieldSql, CompileError> {
        let (column, name) = match path.root {
            TwinRoot::Field(f) => {
                let col = self
                    .m
                    .fields
                    .get(&f)
                    .ok_or_else(|| CompileError::Unmapped {
                        field: f.name().to_owned(),
                    })?;
                return Ok(self.column(col));
            }
            TwinRoot::Tags => (self.m.tags.as_ref(), "tags"),
            TwinRoot::Desired => {
                if is_version(path)
                    && let Some(col) = &self.m.desired_version
                {
                    return Ok(self.column(col));
                }
                (self.m.desired.as_ref(), "properties.desired")
            }
            TwinRoot::Reported => {
                if is_version(path)
                    && let Some(col) = &self.m.reported_version
                {
                    return Ok(self.column(col));
                }
                (self.m.reported.as_ref(), "properties.reported")
            }
        };
        let column = column.ok_or_else(|| CompileError::Unmapped {
            field: name.to_owned(),
        })?;
        let keys: Vec<String> = path
            .segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.clone(),
                Segment::Index(i) => i.to_string(),
            })
            .collect();
        Ok(if self.pg() {
            let x = if keys.is_empty() {
                format!("({column})")
            } else {
                let p = self.placeholder(SqlParam::TextArray(keys));
                format!("({column} #> {p})")
            };
            let t = format!("jsonb_typeof({x})");
            FieldSql {
                defined: format!("{x} IS NOT NULL"),
                json_type: t.clone(),
                is_number: Some(format!("{t} = 'number'")),
                is_string: Some(format!("{t} = 'string'")),
                is_bool: Some(format!("{t} = 'boolean'")),
                is_null: Some(format!("{t} = 'null'")),
                number: format!("({x} #>> '{{}}')::float8"),
                text: format!("({x} #>> '{{}}')"),
                boolean: format!("({x} = 'true'::jsonb)"),
            }
        } else {
            let mut json_path = String::from("$");
            for k in &keys {
                json_path.push_str(&format!(".\"{k}\""));
            }
            let p = self.placeholder(SqlParam::Text(json_path));
            let t = format!("json_type({column}, {p})");
            FieldSql {
                defined: format!("{t} IS NOT NULL"),
                json_type: t.clone(),
                is_number: Some(format!("{t} IN ('integer', 'real')")),
                is_string: Some(format!("{t} = 'text'")),
                is_bool: Some(format!("{t} IN ('true', 'false')")),
                is_null: Some(format!("{t} = 'null'")),
                number: format!("json_extract({column}, {p})"),
                text: format!("json_extract({column}, {p})"),
                boolean: format!("({t} = 'true')"),
            }
        })
    }

    fn column(&self, col: &SqlColumn) -> FieldSql {
        let present = format!("({}) IS NOT NULL", col.sql);
        let (is_number, is_string, number) = match (col.kind, self.pg()) {
            (ColumnKind::Number, false) => (
                Some(present.clone()),
                None,
                format!("CAST({} AS REAL)", col.sql),
            ),
            (ColumnKind::Number, true) => (
                Some(present.clone()),
                None,
                format!("CAST({} AS float8)", col.sql),
            ),
            (ColumnKind::Text, _) => (None, Some(present.clone()), "NULL".to_owned()),
        };
        FieldSql {
            defined: present,
            // A defined column is always a primitive; this is never reached.
            json_type: "'object'".to_owned(),
            is_number,
            is_string,
            is_bool: None,
            is_null: None,
            number,
            text: format!("({})", col.sql),
            boolean: "NULL".to_owned(),
        }
    }

    fn group_key(&mut self, path: &Path<TwinRoot>) -> Result<GroupKeySql, CompileError> {
        let f = self.field(path)?;
        let mut kind = String::from("(CASE");
        if let Some(c) = &f.is_number {
            kind.push_str(&format!(" WHEN {c} THEN 'number'"));
        }
        if let Some(c) = &f.is_string {
            kind.push_str(&format!(" WHEN {c} THEN 'string'"));
        }
        if let Some(c) = &f.is_bool {
            kind.push_str(&format!(
                " WHEN {c} THEN (CASE WHEN {} THEN 'true' ELSE 'false' END)",
                f.boolean
            ));
        }
        if let Some(c) = &f.is_null {
            kind.push_str(&format!(" WHEN {c} THEN 'null'"));
        }
        kind.push_str(&format!(" WHEN {} THEN {} END)", f.defined, f.json_type));
        let number = match &f.is_number {
            Some(c) if self.pg() => format!("(CASE WHEN {c} THEN {} END)", f.number),
            Some(c) => format!("(CASE WHEN {c} THEN CAST({} AS REAL) END)", f.number),
            None => self.typed_null("float8", "REAL"),
        };
        let text = match &f.is_string {
            Some(c) => format!("(CASE WHEN {c} THEN {} END)", f.text),
            None => self.typed_null("text", "TEXT"),
        };
        Ok(GroupKeySql { kind, number, text })
    }

    fn typed_null(&self, pg: &str, sqlite: &str) -> String {
        format!("CAST(NULL AS {})", if self.pg() { pg } else { sqlite })
    }
}

fn is_version(path: &Path<TwinRoot>) -> bool {
    path.segments == [Segment::Key("$version".into())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> SqlMapping {
        SqlMapping::new(SqlDialect::Sqlite)
            .field(TwinField::DeviceId, "device_id", ColumnKind::Text)
            .tags("tags")
            .desired("desired")
            .reported("reported")
    }

    #[test]
    fn values_and_paths_are_bound_not_written() {
        let q = DeviceQuery::parse(
            "SELECT * FROM devices WHERE tags.location.region = 'US' AND deviceId = 'a''b'",
        );
        // A doubled quote is not an escape in this language; the string ends at it.
        assert!(q.is_err());
        let q = DeviceQuery::parse(
            "SELECT * FROM devices WHERE tags.location.region = 'x\\' OR 1=1 --' AND deviceId = 'd'",
        )
        .expect("query");
        let c = q.compile_sql(&sqlite()).expect("compiles");
        assert!(!c.filter.contains("1=1"), "{}", c.filter);
        assert!(!c.filter.contains("location"), "{}", c.filter);
        assert_eq!(
            c.params,
            [
                SqlParam::Text("$.\"location\".\"region\"".into()),
                SqlParam::Text("x' OR 1=1 --".into()),
                SqlParam::Text("d".into())
            ]
        );
    }

    #[test]
    fn same_parameters_are_reused() {
        let q = DeviceQuery::parse("SELECT * FROM devices WHERE tags.a = 1 OR tags.a = 1")
            .expect("query");
        let c = q.compile_sql(&sqlite()).expect("compiles");
        assert_eq!(c.params.len(), 2);
        assert_eq!(c.next_placeholder(), 3);
    }

    #[test]
    fn unmapped_fields_are_reported() {
        let q = DeviceQuery::parse("SELECT * FROM devices WHERE status = 'enabled'").expect("q");
        assert_eq!(
            q.compile_sql(&sqlite()),
            Err(CompileError::Unmapped {
                field: "status".into()
            })
        );
    }

    #[test]
    fn postgres_casts_its_parameters() {
        let mapping = SqlMapping::new(SqlDialect::Postgres).reported("reported");
        let q = DeviceQuery::parse("SELECT * FROM devices WHERE properties.reported.t > 20")
            .expect("q");
        let c = q.compile_sql(&mapping).expect("compiles");
        assert!(
            c.filter.contains("$1::text[]") && c.filter.contains("$2::float8"),
            "{}",
            c.filter
        );
    }
}
