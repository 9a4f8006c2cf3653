//! The SQL of [`ServiceStore`](super::service::ServiceStore), stamped out per backend by
//! `impl_service_store!` like the other stores.
//!
//! Device queries are compiled by `twinhub-query` over a mapping of the query language's
//! fields onto the hub tables of migration 0005: registry fields come from columns or the
//! identity document, tags and properties from the twin document (`TwinRecord` JSON:
//! `twin.tags`, `twin.desired.value`, `twin.reported.value`); on PostgreSQL from the jsonb
//! columns migration 0006 generates from it. The compiled condition is exact but, being
//! guarded by JSON type tests, no index can serve it; so for each top-level `AND` term of the
//! form `field = constant` we also add a plain condition it implies (`t.device_id = …`,
//! `q_tags @> '{"a":{"b":…}}'` on PostgreSQL), which the indexes can serve and which never
//! changes the result.

use serde_json::{Map, Value};
use twinhub_query::{
    ColumnKind, CompareOp, CompileError, DeviceQuery, Expr, Literal, Path, Segment, SqlDialect,
    SqlMapping, SqlParam, TwinField, TwinRoot,
};

use super::StoreError;
use super::service::TwinQueryPage;
use crate::domain::policy::{SharedAccessPolicy, parse_rights};

pub(super) const POLICY_COLUMNS: &str =
    "name, primary_key, secondary_key, rights, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(super) struct PolicyRow {
    name: String,
    primary_key: String,
    secondary_key: String,
    rights: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<PolicyRow> for SharedAccessPolicy {
    type Error = StoreError;

    fn try_from(row: PolicyRow) -> Result<Self, StoreError> {
        let rights = parse_rights(&row.rights)
            .map_err(|e| StoreError::Corrupt(format!("rights of policy {}: {e}", row.name)))?;
        Ok(SharedAccessPolicy {
            name: row.name,
            primary_key: row.primary_key,
            secondary_key: row.secondary_key,
            rights,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A placeholder of our own in the dialect's syntax (`?n` / `$n`).
fn placeholder(dialect: SqlDialect, n: usize, pg_cast: &str) -> String {
    match dialect {
        SqlDialect::Sqlite => format!("?{n}"),
        SqlDialect::Postgres => format!("${n}::{pg_cast}"),
    }
}

/// Where the query language's fields live in `hub_twins t JOIN hub_identities i`.
fn mapping(dialect: SqlDialect) -> SqlMapping {
    let pg = dialect == SqlDialect::Postgres;
    let identity = |path: &str| {
        if pg {
            format!("((i.document::jsonb) #>> '{{{}}}')", path.replace('.', ","))
        } else {
            format!("json_extract(i.document, '$.{path}')")
        }
    };
    let mapping = SqlMapping::new(dialect)
        .field(TwinField::DeviceId, "t.device_id", ColumnKind::Text)
        .field(
            TwinField::ModuleId,
            "NULLIF(t.module_id, '')",
            ColumnKind::Text,
        )
        .field(
            TwinField::ModelId,
            "COALESCE(t.model_id, '')",
            ColumnKind::Text,
        )
        .field(TwinField::Status, &identity("status"), ColumnKind::Text)
        .field(
            TwinField::StatusReason,
            &identity("statusReason"),
            ColumnKind::Text,
        )
        .field(
            TwinField::AuthenticationType,
            &identity("authentication.type"),
            ColumnKind::Text,
        )
        .field(
            TwinField::ConnectionState,
            "(CASE i.connection_state WHEN 'connected' THEN 'Connected' ELSE 'Disconnected' END)",
            ColumnKind::Text,
        )
        .field(TwinField::Version, "t.version", ColumnKind::Number)
        .field(
            TwinField::CloudToDeviceMessageCount,
            "(SELECT COUNT(*) FROM hub_c2d_messages c \
             WHERE c.device_id = t.device_id AND c.module_id = t.module_id)",
            ColumnKind::Number,
        );
    if pg {
        mapping
            .tags("t.q_tags")
            .desired("t.q_desired")
            .reported("t.q_reported")
            .desired_version("t.q_desired_version")
            .reported_version("t.q_reported_version")
    } else {
        mapping
            .tags("json_extract(t.document, '$.twin.tags')")
            .desired("json_extract(t.document, '$.twin.desired.value')")
            .reported("json_extract(t.document, '$.twin.reported.value')")
            .desired_version("json_extract(t.document, '$.twin.desired.version')")
            .reported_version("json_extract(t.document, '$.twin.reported.version')")
    }
}

/// A query as SQL text with its parameters in placeholder order.
pub(super) struct QuerySql {
    pub sql: String,
    pub params: Vec<SqlParam>,
    /// For aggregates: how many `GROUP BY` keys each row carries (three columns each).
    pub group_keys: Option<usize>,
}

const FROM: &str = "FROM hub_twins t \
     JOIN hub_identities i ON i.device_id = t.device_id AND i.module_id = t.module_id";

/// Builds the statement of a query page.
pub(super) fn query_sql(
    query: &DeviceQuery,
    page: &TwinQueryPage,
    dialect: SqlDialect,
    identity_columns: &str,
) -> Result<QuerySql, CompileError> {
    let compiled = query.compile_sql(&mapping(dialect))?;
    let mut params = compiled.params.clone();
    let collection = match query.from {
        twinhub_query::Collection::Devices => "t.module_id = ''",
        twinhub_query::Collection::Modules => "t.module_id <> ''",
    };
    let mut conditions = vec![collection.to_owned()];
    if let Some(filter) = &query.filter {
        for term in conjuncts(filter) {
            if let Some(hint) = index_hint(term, dialect, &mut params) {
                conditions.push(hint);
            }
        }
    }
    conditions.push(format!("({})", compiled.filter));
    if query.is_aggregate() {
        let mut select = Vec::new();
        for (n, key) in compiled.group_by.iter().enumerate() {
            select.push(format!("{} AS k{n}", key.kind));
            select.push(format!("{} AS n{n}", key.number));
            select.push(format!("{} AS s{n}", key.text));
        }
        select.push("COUNT(*) AS group_count".to_owned());
        let group_by = if compiled.group_by.is_empty() {
            String::new()
        } else {
            let positions: Vec<String> = (1..=compiled.group_by.len() * 3)
                .map(|p| p.to_string())
                .collect();
            format!(" GROUP BY {}", positions.join(", "))
        };
        return Ok(QuerySql {
            sql: format!(
                "SELECT {} {FROM} WHERE {}{group_by}",
                select.join(", "),
                conditions.join(" AND ")
            ),
            params,
            group_keys: Some(compiled.group_by.len()),
        });
    }
    if let Some((device, module)) = &page.after {
        params.push(SqlParam::Text(device.clone()));
        let d = placeholder(dialect, params.len(), "text");
        params.push(SqlParam::Text(module.clone()));
        let m = placeholder(dialect, params.len(), "text");
        conditions.push(format!(
            "(t.device_id > {d} OR (t.device_id = {d} AND t.module_id > {m}))"
        ));
    }
    // One more than the page, to know whether another page follows.
    params.push(SqlParam::Number((page.limit + 1) as f64));
    let limit = match dialect {
        SqlDialect::Sqlite => format!("CAST(?{} AS INTEGER)", params.len()),
        SqlDialect::Postgres => format!("CAST(${}::float8 AS BIGINT)", params.len()),
    };
    Ok(QuerySql {
        sql: format!(
            "SELECT {identity_columns}, t.document AS twin_document, \
             (SELECT COUNT(*) FROM hub_c2d_messages c \
              WHERE c.device_id = t.device_id AND c.module_id = t.module_id) AS c2d_count \
             {FROM} WHERE {} ORDER BY t.device_id, t.module_id LIMIT {limit}",
            conditions.join(" AND ")
        ),
        params,
        group_keys: None,
    })
}

/// The terms of a top-level `AND` chain.
fn conjuncts(e: &Expr<TwinRoot>) -> Vec<&Expr<TwinRoot>> {
    match e {
        Expr::And(a, b) => {
            let mut out = conjuncts(a);
            out.extend(conjuncts(b));
            out
        }
        other => vec![other],
    }
}

/// A condition implied by `term` that an index can serve, when there is one.
fn index_hint(
    term: &Expr<TwinRoot>,
    dialect: SqlDialect,
    params: &mut Vec<SqlParam>,
) -> Option<String> {
    match term {
        Expr::Compare(CompareOp::Eq, a, b) => {
            let (path, literal) = match (a.as_ref(), b.as_ref()) {
                (Expr::Path(p), Expr::Literal(l)) | (Expr::Literal(l), Expr::Path(p)) => (p, l),
                _ => return None,
            };
            equality_hint(path, literal, dialect, params)
        }
        Expr::In {
            value,
            list,
            negated: false,
        } => {
            let Expr::Path(path) = value.as_ref() else {
                return None;
            };
            if path.root != TwinRoot::Field(TwinField::DeviceId) || list.is_empty() {
                return None;
            }
            let mut items = Vec::new();
            for item in list {
                // A non-string item can never equal a device id; leave such lists alone.
                let Literal::String(s) = item else {
                    return None;
                };
                params.push(SqlParam::Text(s.clone()));
                items.push(placeholder(dialect, params.len(), "text"));
            }
            Some(format!("t.device_id IN ({})", items.join(", ")))
        }
        _ => None,
    }
}

fn equality_hint(
    path: &Path<TwinRoot>,
    literal: &Literal,
    dialect: SqlDialect,
    params: &mut Vec<SqlParam>,
) -> Option<String> {
    let column = match path.root {
        TwinRoot::Field(TwinField::DeviceId) => Some("t.device_id"),
        TwinRoot::Field(TwinField::ModelId) => Some("t.model_id"),
        TwinRoot::Field(TwinField::ConnectionState) => {
            let Literal::String(state) = literal else {
                return None;
            };
            let stored = match state.as_str() {
                "Connected" => "connected",
                "Disconnected" => "disconnected",
                _ => return None,
            };
            return Some(format!("i.connection_state = '{stored}'"));
        }
        _ => None,
    };
    if let Some(column) = column {
        let Literal::String(s) = literal else {
            return None;
        };
        if s.is_empty() {
            // modelId = '' matches twins without a model, whose column is NULL.
            return None;
        }
        params.push(SqlParam::Text(s.clone()));
        return Some(format!(
            "{column} = {}",
            placeholder(dialect, params.len(), "text")
        ));
    }
    if dialect != SqlDialect::Postgres {
        return None;
    }
    let column = match path.root {
        TwinRoot::Tags => "t.q_tags",
        TwinRoot::Desired => "t.q_desired",
        TwinRoot::Reported => "t.q_reported",
        TwinRoot::Field(_) => return None,
    };
    let mut value = match literal {
        Literal::String(s) => Value::String(s.clone()),
        Literal::Number(n) => serde_json::Number::from_f64(*n).map(Value::Number)?,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Null | Literal::Undefined => return None,
    };
    if path.segments.is_empty() {
        return None;
    }
    for segment in path.segments.iter().rev() {
        let Segment::Key(key) = segment else {
            return None;
        };
        if key.starts_with('$') {
            return None;
        }
        let mut object = Map::new();
        object.insert(key.clone(), value);
        value = Value::Object(object);
    }
    params.push(SqlParam::Text(value.to_string()));
    Some(format!("{column} @> ${}::jsonb", params.len()))
}

/// Binds one compiled parameter; arrays exist only in PostgreSQL SQL.
macro_rules! bind_param {
    (Sqlite, $query:expr, $param:expr) => {
        match $param {
            twinhub_query::SqlParam::Text(t) => $query.bind(t.clone()),
            twinhub_query::SqlParam::Number(n) => $query.bind(*n),
            twinhub_query::SqlParam::TextArray(a) => $query.bind(a.join(".")),
        }
    };
    (Postgres, $query:expr, $param:expr) => {
        match $param {
            twinhub_query::SqlParam::Text(t) => $query.bind(t.clone()),
            twinhub_query::SqlParam::Number(n) => $query.bind(*n),
            twinhub_query::SqlParam::TextArray(a) => $query.bind(a.clone()),
        }
    };
}

pub(super) use bind_param;

/// A matched twin row: the identity columns, the twin document and the pending message count.
#[derive(sqlx::FromRow)]
pub(super) struct MatchedRow {
    #[sqlx(flatten)]
    pub identity: super::hub_sql::IdentityRow,
    pub twin_document: String,
    pub c2d_count: i64,
}

macro_rules! impl_service_store {
    ($store:ty, $db:ident, $dialect:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::service::ServiceStore for $store {
            async fn policies(
                &self,
            ) -> Result<Vec<$crate::domain::policy::SharedAccessPolicy>, $crate::store::StoreError> {
                use $crate::store::service_sql::{PolicyRow, POLICY_COLUMNS};
                let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {POLICY_COLUMNS} FROM hub_policies ORDER BY name_lower"
                )))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn policy(
                &self,
                name: &str,
            ) -> Result<Option<$crate::domain::policy::SharedAccessPolicy>, $crate::store::StoreError> {
                use $crate::store::service_sql::{PolicyRow, POLICY_COLUMNS};
                let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {POLICY_COLUMNS} FROM hub_policies WHERE name = $1"
                )))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn create_policy(
                &self,
                policy: &$crate::domain::policy::SharedAccessPolicy,
                actor: &$crate::domain::access::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::domain::access::AuditEntry;
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO hub_policies (name, name_lower, primary_key, secondary_key, rights, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&policy.name)
                .bind(policy.name.to_lowercase())
                .bind(&policy.primary_key)
                .bind(&policy.secondary_key)
                .bind($crate::domain::policy::rights_text(&policy.rights))
                .bind(policy.created_at)
                .bind(policy.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    $crate::store::sql::write_conflict(e, || {
                        format!("a shared access policy named {:?} (in any case) already exists", policy.name)
                    })
                })?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &AuditEntry::success("hub.policies.create", &policy.name).with_detail(
                        serde_json::json!({ "rights": $crate::domain::policy::rights_text(&policy.rights) })
                    ),
                    chrono::Utc::now()
                )?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_policy(
                &self,
                policy: &$crate::domain::policy::SharedAccessPolicy,
                actor: &$crate::domain::access::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::domain::access::AuditEntry;
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE hub_policies SET primary_key = $1, secondary_key = $2, rights = $3, \
                     updated_at = $4 WHERE name = $5",
                )
                .bind(&policy.primary_key)
                .bind(&policy.secondary_key)
                .bind($crate::domain::policy::rights_text(&policy.rights))
                .bind(policy.updated_at)
                .bind(&policy.name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::Absent(format!(
                        "shared access policy {:?}",
                        policy.name
                    )));
                }
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &AuditEntry::success("hub.policies.update", &policy.name).with_detail(
                        serde_json::json!({ "rights": $crate::domain::policy::rights_text(&policy.rights) })
                    ),
                    chrono::Utc::now()
                )?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_policy(
                &self,
                name: &str,
                actor: &$crate::domain::access::Actor,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::domain::access::AuditEntry;
                let mut tx = self.writer().begin().await?;
                let deleted = sqlx::query("DELETE FROM hub_policies WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted > 0 {
                    $crate::store::sql::insert_audit!(
                        &mut *tx,
                        actor,
                        &AuditEntry::success("hub.policies.delete", name),
                        chrono::Utc::now()
                    )?;
                }
                tx.commit().await?;
                Ok(deleted > 0)
            }

            async fn seed_policies(
                &self,
                defaults: &[$crate::domain::policy::SharedAccessPolicy],
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.writer().begin().await?;
                // Two instances starting together on PostgreSQL: the primary key makes the
                // second one's inserts fail, and it rolls back with nothing seeded.
                let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hub_policies")
                    .fetch_one(&mut *tx)
                    .await?;
                if existing > 0 {
                    return Ok(false);
                }
                for policy in defaults {
                    sqlx::query(
                        "INSERT INTO hub_policies (name, name_lower, primary_key, secondary_key, rights, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&policy.name)
                    .bind(policy.name.to_lowercase())
                    .bind(&policy.primary_key)
                    .bind(&policy.secondary_key)
                    .bind($crate::domain::policy::rights_text(&policy.rights))
                    .bind(policy.created_at)
                    .bind(policy.updated_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn query_twins(
                &self,
                query: &twinhub_query::DeviceQuery,
                page: &$crate::store::service::TwinQueryPage,
            ) -> Result<$crate::store::service::TwinQueryRows, $crate::store::service::TwinQueryError> {
                use sqlx::Row as _;
                use $crate::store::service::{MatchedTwin, TwinQueryRows, TwinQueryError};
                use $crate::store::service_sql::{bind_param, query_sql, MatchedRow};
                let built = query_sql(
                    query,
                    page,
                    $dialect,
                    $crate::store::hub_sql::IDENTITY_COLUMNS,
                )?;
                if let Some(keys) = built.group_keys {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(built.sql.clone()));
                    for param in &built.params {
                        q = bind_param!($db, q, param);
                    }
                    let rows = q.fetch_all(&self.pool).await?;
                    let mut groups = Vec::with_capacity(rows.len());
                    for row in rows {
                        let mut key = Vec::with_capacity(keys);
                        for n in 0..keys {
                            let kind: Option<String> = row.try_get(n * 3)?;
                            let number: Option<f64> = row.try_get(n * 3 + 1)?;
                            let text: Option<String> = row.try_get(n * 3 + 2)?;
                            key.push(twinhub_query::GroupValue::from_sql(
                                kind.as_deref(),
                                number,
                                text.as_deref(),
                            ));
                        }
                        let count: i64 = row.try_get(keys * 3)?;
                        groups.push((key, u64::try_from(count).unwrap_or(0)));
                    }
                    return Ok(TwinQueryRows::Groups(groups));
                }
                let mut q = sqlx::query_as::<_, MatchedRow>(sqlx::AssertSqlSafe(built.sql.clone()));
                for param in &built.params {
                    q = bind_param!($db, q, param);
                }
                let rows = q.fetch_all(&self.pool).await?;
                let more = rows.len() > page.limit;
                let mut twins = Vec::with_capacity(rows.len().min(page.limit));
                for row in rows.into_iter().take(page.limit) {
                    let identity: twinhub_hub::Identity = row
                        .identity
                        .try_into()
                        .map_err(|e: twinhub_hub::HubStoreError| {
                            TwinQueryError::Store($crate::store::StoreError::Corrupt(e.to_string()))
                        })?;
                    let twin = $crate::store::hub_sql::twin_record(&identity.key, &row.twin_document)
                        .map_err(|e| TwinQueryError::Store($crate::store::StoreError::Corrupt(e.to_string())))?;
                    twins.push(MatchedTwin {
                        identity,
                        twin,
                        c2d_count: u64::try_from(row.c2d_count).unwrap_or(0),
                    });
                }
                let next = if more {
                    twins.last().map(|t| {
                        (
                            t.identity.key.device_id.clone(),
                            t.identity.key.module_id.clone().unwrap_or_default(),
                        )
                    })
                } else {
                    None
                };
                Ok(TwinQueryRows::Twins { twins, next })
            }
        }
    };
}

pub(super) use impl_service_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str, dialect: SqlDialect) -> QuerySql {
        let query = DeviceQuery::parse(text).expect("query");
        query_sql(
            &query,
            &TwinQueryPage {
                after: Some(("a".into(), String::new())),
                limit: 10,
            },
            dialect,
            "i.device_id",
        )
        .expect("compiles")
    }

    #[test]
    fn equalities_get_index_hints_that_bind_their_values() {
        let q = sql(
            "SELECT * FROM devices WHERE deviceId = 'd1' AND tags.location.region = 'US' \
             AND connectionState = 'Connected'",
            SqlDialect::Postgres,
        );
        assert!(q.sql.contains("t.device_id = $"), "{}", q.sql);
        assert!(q.sql.contains("t.q_tags @> $"), "{}", q.sql);
        assert!(
            q.sql.contains("i.connection_state = 'connected'"),
            "{}",
            q.sql
        );
        assert!(
            q.params
                .contains(&SqlParam::Text(r#"{"location":{"region":"US"}}"#.into())),
            "{:?}",
            q.params
        );
        assert!(!q.sql.contains("US"), "{}", q.sql);
    }

    #[test]
    fn disjunctions_get_no_hints() {
        let q = sql(
            "SELECT * FROM devices WHERE deviceId = 'd1' OR deviceId = 'd2'",
            SqlDialect::Sqlite,
        );
        // A hint would bind the id a second time, beside the compiled condition's own.
        let d1 = SqlParam::Text("d1".into());
        assert_eq!(
            q.params.iter().filter(|p| **p == d1).count(),
            1,
            "{}",
            q.sql
        );
    }

    #[test]
    fn placeholders_of_the_page_follow_the_compiled_ones() {
        let q = sql(
            "SELECT * FROM devices.modules WHERE tags.a = 1",
            SqlDialect::Sqlite,
        );
        let n = q.params.len();
        assert!(
            q.sql.contains(&format!("CAST(?{n} AS INTEGER)")),
            "{}",
            q.sql
        );
        assert!(q.sql.contains("t.module_id <> ''"), "{}", q.sql);
        assert_eq!(q.params.last(), Some(&SqlParam::Number(11.0)));
    }

    #[test]
    fn aggregates_group_by_position() {
        let query = DeviceQuery::parse(
            "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw",
        )
        .expect("query");
        let q = query_sql(&query, &TwinQueryPage::default(), SqlDialect::Sqlite, "x")
            .expect("compiles");
        assert_eq!(q.group_keys, Some(1));
        assert!(q.sql.ends_with("GROUP BY 1, 2, 3"), "{}", q.sql);
    }
}
