//! The compiled SQL selects exactly what in-memory evaluation selects: a few hundred generated
//! twins are loaded into a fresh SQLite file (always) and a fresh PostgreSQL database (when
//! `TWINHUB_TEST_POSTGRES_URL` is set; created under a unique name and dropped after), then a
//! table of queries and a few hundred generated conditions run both ways, filters and groups.

use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Row};
use twinhub_query::{
    ColumnKind, CompiledQuery, DeviceQuery, GroupValue, SqlDialect, SqlMapping, SqlParam, TwinField,
};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const STRINGS: [&str; 10] = [
    "US",
    "EU",
    "",
    "é",
    "enabled",
    "Connected",
    "a-b",
    "Z",
    "2021",
    "us",
];
const NUMBERS: [f64; 8] = [-2.0, 0.0, 1.0, 2.5, 3.0, 100.0, 1e-3, 7.0];

fn leaf(g: &mut Gen) -> Value {
    match g.below(10) {
        0..=2 => json!(*g.pick(&STRINGS)),
        3..=4 => serde_json::Number::from_f64(*g.pick(&NUMBERS)).map_or(Value::Null, Value::Number),
        5 => json!(g.below(6) as i64 - 2),
        6 => json!(g.chance(50)),
        7 => json!([1, "x"]),
        8 => json!({"inner": *g.pick(&STRINGS)}),
        _ => Value::Null,
    }
}

fn maybe(g: &mut Gen, members: &mut Map<String, Value>, key: &str, percent: usize) {
    if g.chance(percent) {
        members.insert(key.to_owned(), leaf(g));
    }
}

struct TwinRow {
    id: String,
    status: Option<String>,
    connection_state: Option<String>,
    last_activity: Option<String>,
    model_id: Option<String>,
    version: i64,
    tags: Value,
    desired: Value,
    reported: Value,
    desired_version: i64,
}

fn rows(count: usize) -> Vec<TwinRow> {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let mut location = Map::new();
            maybe(&mut g, &mut location, "region", 80);
            maybe(&mut g, &mut location, "plant", 50);
            let mut tags = Map::new();
            if g.chance(85) {
                tags.insert("location".into(), Value::Object(location));
            }
            for key in ["floor", "flag", "name", "n"] {
                maybe(&mut g, &mut tags, key, 60);
            }
            let mut config = Map::new();
            maybe(&mut g, &mut config, "rate", 70);
            maybe(&mut g, &mut config, "on", 70);
            let mut desired = Map::new();
            maybe(&mut g, &mut desired, "mode", 60);
            if g.chance(60) {
                desired.insert("config".into(), Value::Object(config.clone()));
            }
            let mut reported = Map::new();
            maybe(&mut g, &mut reported, "temperature", 70);
            maybe(&mut g, &mut reported, "status", 60);
            if g.chance(50) {
                reported.insert("config".into(), Value::Object(config));
            }
            // Reported keeps its $version inside the JSON column; desired has a column.
            reported.insert("$version".into(), json!(g.below(9) as i64 + 1));
            TwinRow {
                id: format!("dev-{i:04}"),
                status: g
                    .chance(90)
                    .then(|| (*g.pick(&["enabled", "disabled"])).to_owned()),
                connection_state: Some((*g.pick(&["Connected", "Disconnected"])).to_owned()),
                last_activity: g
                    .chance(70)
                    .then(|| format!("202{}-0{}-15T10:00:00Z", g.below(5), g.below(9) + 1)),
                model_id: g.chance(50).then(|| {
                    (*g.pick(&["dtmi:com:example:Thermostat;1", "dtmi:a:b;2"])).to_owned()
                }),
                version: g.below(20) as i64 + 1,
                tags: Value::Object(tags),
                desired: Value::Object(desired),
                reported: Value::Object(reported),
                desired_version: g.below(9) as i64 + 1,
            }
        })
        .collect()
}

/// Binds a row's columns in table order (the same in both databases).
macro_rules! bind_row {
    ($query:expr, $row:expr) => {
        $query
            .bind(&$row.id)
            .bind(&$row.status)
            .bind(&$row.connection_state)
            .bind(&$row.last_activity)
            .bind(&$row.model_id)
            .bind($row.version)
            .bind($row.tags.to_string())
            .bind($row.desired.to_string())
            .bind($row.reported.to_string())
            .bind($row.desired_version)
    };
}

/// The twin document the in-memory evaluator sees for a row.
fn document(r: &TwinRow) -> Value {
    let mut doc = Map::new();
    doc.insert("deviceId".into(), json!(r.id));
    for (key, value) in [
        ("status", &r.status),
        ("connectionState", &r.connection_state),
        ("lastActivityTime", &r.last_activity),
        ("modelId", &r.model_id),
    ] {
        if let Some(v) = value {
            doc.insert(key.into(), json!(v));
        }
    }
    doc.insert("version".into(), json!(r.version));
    doc.insert("tags".into(), r.tags.clone());
    let mut desired = r.desired.as_object().cloned().unwrap_or_default();
    desired.insert("$version".into(), json!(r.desired_version));
    doc.insert(
        "properties".into(),
        json!({"desired": desired, "reported": r.reported}),
    );
    Value::Object(doc)
}

fn mapping(dialect: SqlDialect) -> SqlMapping {
    SqlMapping::new(dialect)
        .field(TwinField::DeviceId, "device_id", ColumnKind::Text)
        .field(TwinField::Status, "status", ColumnKind::Text)
        .field(
            TwinField::ConnectionState,
            "connection_state",
            ColumnKind::Text,
        )
        .field(
            TwinField::LastActivityTime,
            "last_activity",
            ColumnKind::Text,
        )
        .field(TwinField::ModelId, "model_id", ColumnKind::Text)
        .field(TwinField::Version, "version", ColumnKind::Number)
        .tags("tags")
        .desired("desired")
        .reported("reported")
        .desired_version("desired_version")
}

const PATHS: [&str; 22] = [
    "deviceId",
    "status",
    "connectionState",
    "lastActivityTime",
    "modelId",
    "version",
    "tags",
    "tags.location",
    "tags.location.region",
    "tags.location.plant",
    "tags.floor",
    "tags.flag",
    "tags.name",
    "tags.n",
    "tags.missing.deeper",
    "properties.desired.mode",
    "properties.desired.config.rate",
    "properties.desired.$version",
    "properties.reported.$version",
    "properties.reported.temperature",
    "properties.reported.status",
    "properties.reported.config.on",
];

fn literal(g: &mut Gen) -> String {
    match g.below(9) {
        0..=3 => format!("'{}'", g.pick(&STRINGS)),
        4..=6 => format!("{}", g.pick(&NUMBERS)),
        7 => (*g.pick(&["true", "false"])).to_owned(),
        _ => "null".into(),
    }
}

fn atom(g: &mut Gen) -> String {
    let path = *g.pick(&PATHS);
    let op = *g.pick(&["=", "!=", "<>", "<", ">", "<=", ">="]);
    match g.below(10) {
        0..=3 => format!("{path} {op} {}", literal(g)),
        4 => format!("{} {op} {path}", literal(g)),
        5 => format!("{path} {op} {}", g.pick(&PATHS)),
        6 => {
            let items: Vec<String> = (0..g.below(4)).map(|_| literal(g)).collect();
            let kw = *g.pick(&["IN", "NIN", "NOT IN"]);
            format!("{path} {kw} [{}]", items.join(", "))
        }
        7 => format!("IS_DEFINED({path})"),
        8 => {
            let f = *g.pick(&["STARTSWITH", "ENDSWITH", "STARTS_WITH", "ENDS_WITH"]);
            if g.chance(80) {
                format!("{f}({path}, '{}')", g.pick(&STRINGS))
            } else {
                format!("{f}({path}, {})", g.pick(&PATHS))
            }
        }
        _ => path.to_owned(),
    }
}

fn condition(g: &mut Gen, depth: usize) -> String {
    if depth == 0 || g.chance(35) {
        return atom(g);
    }
    match g.below(4) {
        0 => format!("NOT ({})", condition(g, depth - 1)),
        1 => format!(
            "{} AND {}",
            condition(g, depth - 1),
            condition(g, depth - 1)
        ),
        2 => format!(
            "({} OR {})",
            condition(g, depth - 1),
            condition(g, depth - 1)
        ),
        _ => format!("({}) AND NOT {}", condition(g, depth - 1), atom(g)),
    }
}

const TABLE: [&str; 16] = [
    "SELECT * FROM devices",
    "SELECT * FROM devices WHERE tags.location.region = 'US'",
    "SELECT * FROM devices WHERE tags.location.region IN ['US', 'EU']",
    "SELECT * FROM devices WHERE tags.location.region NIN ['US', 'EU']",
    "SELECT * FROM devices WHERE tags.floor > 0 AND tags.floor <= 3",
    "SELECT * FROM devices WHERE tags.floor != 1",
    "SELECT * FROM devices WHERE tags.name < 'a' OR tags.name >= 'é'",
    "SELECT * FROM devices WHERE tags.flag",
    "SELECT * FROM devices WHERE NOT tags.flag",
    "SELECT * FROM devices WHERE tags.n = null",
    "SELECT * FROM devices WHERE IS_DEFINED(tags.location.plant) AND NOT IS_DEFINED(properties.desired.mode)",
    "SELECT * FROM devices WHERE properties.desired.$version > properties.reported.$version",
    "SELECT * FROM devices WHERE properties.desired.config.rate = properties.reported.config.rate",
    "SELECT * FROM devices WHERE STARTSWITH(lastActivityTime, '2023') OR ENDSWITH(modelId, ';2')",
    "SELECT * FROM devices WHERE status = 'enabled' AND connectionState = 'Connected' AND version >= 10",
    "SELECT * FROM devices WHERE tags.location = tags.location OR tags = 'x'",
];

const GROUPS: [&str; 8] = [
    "SELECT COUNT() AS n FROM devices",
    "SELECT COUNT() AS n FROM devices WHERE tags.location.region = 'US'",
    "SELECT tags.location.region AS region, COUNT() AS n FROM devices GROUP BY tags.location.region",
    "SELECT tags.floor, COUNT() AS n FROM devices GROUP BY tags.floor",
    "SELECT status, connectionState, COUNT() AS n FROM devices WHERE version > 3 GROUP BY status, connectionState",
    "SELECT properties.reported.config.on AS on, COUNT() AS n FROM devices GROUP BY properties.reported.config.on",
    "SELECT properties.desired.$version AS v, COUNT() AS n FROM devices GROUP BY properties.desired.$version",
    "SELECT version, COUNT() AS c FROM devices WHERE tags.flag = true GROUP BY version",
];

/// Every query to compare: the table, then generated conditions.
fn queries() -> Vec<String> {
    let mut g = Gen(0xDEAD_BEEF_CAFE_F00D);
    let mut out: Vec<String> = TABLE.iter().map(|q| (*q).to_owned()).collect();
    for _ in 0..300 {
        out.push(format!(
            "SELECT * FROM devices WHERE {}",
            condition(&mut g, 3)
        ));
    }
    out
}

fn expected_ids(query: &DeviceQuery, docs: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = docs
        .iter()
        .filter(|d| query.matches(d))
        .filter_map(|d| d["deviceId"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn sorted_rows(rows: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().map(Value::to_string).collect();
    out.sort();
    out
}

fn group_sql(compiled: &CompiledQuery) -> String {
    let mut select = Vec::new();
    for k in &compiled.group_by {
        select.extend([k.kind.clone(), k.number.clone(), k.text.clone()]);
    }
    let ordinals: Vec<String> = (1..=select.len()).map(|i| i.to_string()).collect();
    select.push("COUNT(*)".into());
    let group = if ordinals.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", ordinals.join(", "))
    };
    format!(
        "SELECT {} FROM twins WHERE {}{group}",
        select.join(", "),
        compiled.filter
    )
}

fn groups_from_row<R: Row>(row: &R, keys: usize) -> (Vec<GroupValue>, u64)
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let key = (0..keys)
        .map(|i| {
            let kind: Option<String> = row.get(3 * i);
            let number: Option<f64> = row.get(3 * i + 1);
            let text: Option<String> = row.get(3 * i + 2);
            GroupValue::from_sql(kind.as_deref(), number, text.as_deref())
        })
        .collect();
    let count: i64 = row.get(3 * keys);
    (key, u64::try_from(count).unwrap_or(0))
}

#[tokio::test]
async fn sqlite_selects_what_memory_selects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("query.db"))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("sqlite");
    sqlx::query(
        "CREATE TABLE twins (device_id TEXT PRIMARY KEY, status TEXT, connection_state TEXT, \
         last_activity TEXT, model_id TEXT, version INTEGER NOT NULL, tags TEXT, desired TEXT, \
         reported TEXT, desired_version INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("create table");
    let data = rows(300);
    for r in &data {
        bind_row!(
            sqlx::query("INSERT INTO twins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            r
        )
        .execute(&pool)
        .await
        .expect("insert");
    }
    let docs: Vec<Value> = data.iter().map(document).collect();
    let mapping = mapping(SqlDialect::Sqlite);
    let mut non_trivial = 0;
    for text in queries() {
        let query = DeviceQuery::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let compiled = query.compile_sql(&mapping).expect("compiles");
        let sql = format!("SELECT device_id FROM twins WHERE {}", compiled.filter);
        let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
        for p in &compiled.params {
            q = match p {
                SqlParam::Text(s) => q.bind(s.clone()),
                SqlParam::Number(n) => q.bind(*n),
                SqlParam::TextArray(_) => panic!("SQLite paths are text"),
            };
        }
        let mut got: Vec<String> = q
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{text}\n{sql}\n{e}"))
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        got.sort();
        let want = expected_ids(&query, &docs);
        if !want.is_empty() && want.len() < docs.len() {
            non_trivial += 1;
        }
        assert_eq!(got, want, "{text}\n{sql}\n{:?}", compiled.params);
    }
    // The generated conditions must actually split the twins, or the comparison proves little.
    assert!(
        non_trivial > 100,
        "only {non_trivial} queries selected a proper subset"
    );
    for text in GROUPS {
        let query = DeviceQuery::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let compiled = query.compile_sql(&mapping).expect("compiles");
        let sql = group_sql(&compiled);
        let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
        for p in &compiled.params {
            q = match p {
                SqlParam::Text(s) => q.bind(s.clone()),
                SqlParam::Number(n) => q.bind(*n),
                SqlParam::TextArray(_) => panic!("SQLite paths are text"),
            };
        }
        let fetched = q
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{text}\n{sql}\n{e}"));
        let groups = fetched
            .iter()
            .map(|row| groups_from_row(row, compiled.group_by.len()));
        assert_eq!(
            sorted_rows(query.rows_from_groups(groups)),
            sorted_rows(query.run(&docs)),
            "{text}\n{sql}"
        );
    }
    pool.close().await;
}

/// The admin URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..path_start])
}

#[tokio::test]
async fn postgres_selects_what_memory_selects() {
    let Ok(admin_url) = std::env::var("TWINHUB_TEST_POSTGRES_URL") else {
        eprintln!(
            "TWINHUB_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run of the SQL comparison"
        );
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    let name = format!(
        "twinhub_query_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&admin)
        .await
        .expect("create database");
    let result = run_postgres(&with_database(&admin_url, &name)).await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop database");
    admin.close().await;
    if let Err(message) = result {
        panic!("{message}");
    }
}

async fn run_postgres(url: &str) -> Result<(), String> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = compare_postgres(&pool).await;
    pool.close().await;
    outcome
}

async fn compare_postgres(pool: &sqlx::PgPool) -> Result<(), String> {
    sqlx::query(
        "CREATE TABLE twins (device_id TEXT PRIMARY KEY, status TEXT, connection_state TEXT, \
         last_activity TEXT, model_id TEXT, version BIGINT NOT NULL, tags JSONB, desired JSONB, \
         reported JSONB, desired_version BIGINT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(|e| e.to_string())?;
    let data = rows(300);
    for r in &data {
        bind_row!(
            sqlx::query(
                "INSERT INTO twins VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10)",
            ),
            r
        )
        .execute(pool)
        .await
        .map_err(|e| e.to_string())?;
    }
    let docs: Vec<Value> = data.iter().map(document).collect();
    let mapping = mapping(SqlDialect::Postgres);
    let bind = |mut q: sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>,
                params: &[SqlParam]| {
        for p in params {
            q = match p {
                SqlParam::Text(s) => q.bind(s.clone()),
                SqlParam::Number(n) => q.bind(*n),
                SqlParam::TextArray(a) => q.bind(a.clone()),
            };
        }
        q
    };
    for text in queries() {
        let query = DeviceQuery::parse(&text).map_err(|e| format!("{text}: {e}"))?;
        let compiled = query.compile_sql(&mapping).map_err(|e| e.to_string())?;
        let sql = format!("SELECT device_id FROM twins WHERE {}", compiled.filter);
        let q = bind(sqlx::query(AssertSqlSafe(sql.clone())), &compiled.params);
        let mut got: Vec<String> = q
            .fetch_all(pool)
            .await
            .map_err(|e| format!("{text}\n{sql}\n{e}"))?
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        got.sort();
        let want = expected_ids(&query, &docs);
        if got != want {
            return Err(format!(
                "{text}\n{sql}\n{:?}\n got {got:?}\nwant {want:?}",
                compiled.params
            ));
        }
    }
    for text in GROUPS {
        let query = DeviceQuery::parse(text).map_err(|e| format!("{text}: {e}"))?;
        let compiled = query.compile_sql(&mapping).map_err(|e| e.to_string())?;
        let sql = group_sql(&compiled);
        let q = bind(sqlx::query(AssertSqlSafe(sql.clone())), &compiled.params);
        let fetched = q
            .fetch_all(pool)
            .await
            .map_err(|e| format!("{text}\n{sql}\n{e}"))?;
        let groups = fetched
            .iter()
            .map(|row| groups_from_row(row, compiled.group_by.len()));
        let (got, want) = (
            sorted_rows(query.rows_from_groups(groups)),
            sorted_rows(query.run(&docs)),
        );
        if got != want {
            return Err(format!("{text}\n{sql}\n got {got:?}\nwant {want:?}"));
        }
    }
    Ok(())
}
