//! The SQL both backends share. `$n` placeholders work on SQLite and PostgreSQL alike, so each
//! query is written once; `impl_model_store!` stamps the [`ModelStore`](super::ModelStore)
//! implementation out for each pool type so that every query is type-checked per backend.
//! Backend-specific pieces (connecting, migrations, notifications) are inherent methods of
//! each store: `notify_in` and `change_stream`.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::model::{IndexEntry, ModelRecord, ModelState};

/// Columns of [`ModelRow`], in `SELECT` order.
/// Most values bound into one `IN (…)` list: SQLite allows 32,766 variables per statement and
/// PostgreSQL 65,535, so lookups for whole-repository imports are split into lists this long.
pub(super) const MAX_LIST_BINDS: usize = 10_000;

pub(super) const RECORD_COLUMNS: &str = "m.id, m.dtmi, m.sha256, m.canonical_sha256, m.size_bytes, m.dtdl_version, \
     m.display_name, m.description, m.state, m.pushed_by, m.pushed_at, m.state_changed_at, m.warnings";

/// A `models` row without content.
#[derive(sqlx::FromRow)]
pub(super) struct ModelRow {
    pub id: i64,
    pub dtmi: String,
    pub sha256: String,
    pub canonical_sha256: String,
    pub size_bytes: i64,
    pub dtdl_version: i64,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub state: String,
    pub pushed_by: String,
    pub pushed_at: DateTime<Utc>,
    pub state_changed_at: Option<DateTime<Utc>>,
    pub warnings: Option<String>,
}

/// A `models` row with the number of rows the query matched in all (window count).
#[derive(sqlx::FromRow)]
pub(super) struct CountedRow {
    #[sqlx(flatten)]
    pub row: ModelRow,
    pub total_count: i64,
}

/// A `models` row with content.
#[derive(sqlx::FromRow)]
pub(super) struct ContentRow {
    #[sqlx(flatten)]
    pub row: ModelRow,
    pub content: Vec<u8>,
}

#[derive(sqlx::FromRow)]
pub(super) struct IndexRow {
    pub dtmi: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

fn json_column(
    dtmi: &str,
    column: &str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| StoreError::Corrupt(format!("{column} of {dtmi} is not JSON: {e}")))
    })
    .transpose()
}

impl TryFrom<ModelRow> for ModelRecord {
    type Error = StoreError;

    fn try_from(row: ModelRow) -> Result<Self, Self::Error> {
        let state = row
            .state
            .parse::<ModelState>()
            .map_err(|e| StoreError::Corrupt(format!("state of {}: {e}", row.dtmi)))?;
        let dtdl_version = u8::try_from(row.dtdl_version)
            .map_err(|_| StoreError::Corrupt(format!("dtdl_version of {}", row.dtmi)))?;
        let warnings = match row.warnings {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                StoreError::Corrupt(format!(
                    "warnings of {} are not a list of issues: {e}",
                    row.dtmi
                ))
            })?,
            None => Vec::new(),
        };
        Ok(ModelRecord {
            warnings,
            display_name: json_column(&row.dtmi, "display_name", row.display_name)?,
            description: json_column(&row.dtmi, "description", row.description)?,
            id: row.id,
            dtmi: row.dtmi,
            sha256: row.sha256,
            canonical_sha256: row.canonical_sha256,
            size_bytes: row.size_bytes,
            dtdl_version,
            state,
            pushed_by: row.pushed_by,
            pushed_at: row.pushed_at,
            state_changed_at: row.state_changed_at,
        })
    }
}

impl TryFrom<ContentRow> for crate::domain::model::StoredModel {
    type Error = StoreError;

    fn try_from(row: ContentRow) -> Result<Self, Self::Error> {
        Ok(Self {
            record: row.row.try_into()?,
            content: row.content,
        })
    }
}

impl TryFrom<IndexRow> for IndexEntry {
    type Error = StoreError;

    fn try_from(row: IndexRow) -> Result<Self, Self::Error> {
        Ok(IndexEntry {
            display_name: json_column(&row.dtmi, "display_name", row.display_name)?,
            description: json_column(&row.dtmi, "description", row.description)?,
            dtmi: row.dtmi,
        })
    }
}

pub(super) fn records(rows: Vec<ModelRow>) -> Result<Vec<ModelRecord>, StoreError> {
    rows.into_iter().map(ModelRecord::try_from).collect()
}

/// Orders a closure breadth-first from `root`, following edges in DTMI order.
pub(super) fn breadth_first(
    root: i64,
    mut members: Vec<crate::domain::model::StoredModel>,
    edges: &[(i64, i64)],
) -> Vec<crate::domain::model::StoredModel> {
    use std::collections::{BTreeMap, HashSet, VecDeque};

    let dtmi_of: BTreeMap<i64, String> = members
        .iter()
        .map(|m| (m.record.id, m.record.dtmi.clone()))
        .collect();
    let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(from, to) in edges {
        children.entry(from).or_default().push(to);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| dtmi_of.get(a).cmp(&dtmi_of.get(b)));
    }
    let mut order = Vec::with_capacity(members.len());
    let mut seen = HashSet::from([root]);
    let mut queue = VecDeque::from([root]);
    while let Some(id) = queue.pop_front() {
        order.push(id);
        for &child in children.get(&id).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(child) {
                queue.push_back(child);
            }
        }
    }
    let position: BTreeMap<i64, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    members.retain(|m| position.contains_key(&m.record.id));
    members.sort_by_key(|m| position.get(&m.record.id).copied());
    members
}

/// Appends ` AND (…)`: the models `scope` may read. The deepest configured namespace decides
/// a model's visibility (a `CASE` over the namespaces, deepest first), and any namespace the
/// caller holds a role on makes its models readable.
pub(super) fn push_read_scope<DB>(
    query: &mut sqlx::QueryBuilder<DB>,
    scope: &crate::domain::access::ReadScope,
) where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    use crate::domain::access::{ReadScope, Visibility};
    let ReadScope::Restricted {
        visibility,
        readable,
    } = scope
    else {
        return;
    };
    let covers = |query: &mut sqlx::QueryBuilder<DB>,
                  namespace: &crate::domain::access::Namespace| {
        query.push("(m.versionless_lower = ");
        query.push_bind(namespace.as_str().to_owned());
        query.push(" OR m.versionless_lower LIKE ");
        query.push_bind(format!("{}:%", super::like_escape(namespace.as_str())));
        query.push(" ESCAPE '\\')");
    };
    let public = |v: Visibility| i64::from(v == Visibility::Public);
    query.push(" AND (");
    if visibility.settings().is_empty() {
        query.push_bind(public(visibility.default_visibility()));
    } else {
        query.push("CASE");
        for (namespace, setting) in visibility.settings() {
            query.push(" WHEN ");
            covers(query, namespace);
            query.push(" THEN ");
            query.push_bind(public(*setting));
        }
        query.push(" ELSE ");
        query.push_bind(public(visibility.default_visibility()));
        query.push(" END");
    }
    query.push(" = 1");
    for namespace in readable {
        if namespace.is_everything() {
            query.push(" OR 1 = 1");
        } else {
            query.push(" OR ");
            covers(query, namespace);
        }
    }
    query.push(")");
}

/// Maps constraint violations raised inside a write to a conflict the client can act on.
pub(super) fn write_conflict(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            StoreError::Conflict(what())
        }
        _ => StoreError::Database(error),
    }
}

/// Inserts a model's facets inside the caller's transaction, in one statement (an import of
/// 20,000 models writes about ten times as many facet rows).
pub(super) async fn write_facets<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    model_id: i64,
    facets: &[crate::domain::model::Facet],
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
{
    // Bounded so that one statement stays well inside every backend's parameter limit.
    for chunk in facets.chunks(256) {
        let mut query =
            sqlx::QueryBuilder::<DB>::new("INSERT INTO model_facets (model_id, facet, value) ");
        query.push_values(chunk, |mut row, facet| {
            row.push_bind(model_id)
                .push_bind(facet.kind.as_str().to_owned())
                .push_bind(facet.value.clone());
        });
        query.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes one audit entry with `$executor` (a transaction, so the entry commits with its change).
macro_rules! insert_audit {
    ($executor:expr, $actor:expr, $entry:expr, $now:expr) => {{
        let entry: &$crate::domain::access::AuditEntry = $entry;
        let actor: &$crate::domain::access::Actor = $actor;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, source, action, target, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($now)
        .bind(actor.name.as_str())
        .bind(actor.source.as_deref())
        .bind(entry.action.as_str())
        .bind(entry.target.as_str())
        .bind(entry.outcome.as_str())
        .bind(entry.detail.as_ref().map(|d| d.to_string()))
        .execute($executor)
        .await
    }};
}

pub(super) use insert_audit;

macro_rules! impl_model_store {
    ($store:ty, $db:ty) => {
        impl $store {
        /// The models a search matches, as `SELECT <select> FROM models m WHERE …`; with
        /// `as_cte`, as the common table expression of that name instead (the caller goes on
        /// with the main query).
        fn filtered(
            search: &$crate::domain::model::SearchQuery,
            select: &str,
            as_cte: Option<&str>,
        ) -> sqlx::QueryBuilder<$db> {
            let mut query = sqlx::QueryBuilder::<$db>::new("");
            if let Some(root) = search.dependencies_of {
                query.push(
                    "WITH RECURSIVE reach(id) AS (SELECT CAST(",
                );
                query.push_bind(root);
                query.push(
                    " AS BIGINT) UNION SELECT d.dependency_id FROM model_dependencies d \
                     JOIN reach r ON d.model_id = r.id) ",
                );
            }
            if let Some(name) = as_cte {
                query.push(if search.dependencies_of.is_some() { ", " } else { "WITH " });
                query.push(name);
                // Computed once and joined by id; inlined, the planners re-run the filters
                // for every facet row.
                query.push(" AS MATERIALIZED (");
            }
            query.push(select);
            query.push(" FROM models m WHERE 1 = 1");
            if let Some(text) = &search.text {
                query.push(" AND m.search_text LIKE ");
                query.push_bind(format!("%{}%", $crate::store::like_escape(&text.to_lowercase())));
                query.push(" ESCAPE '\\'");
            }
            if let Some(prefix) = &search.namespace_prefix {
                query.push(" AND m.dtmi_lower LIKE ");
                query.push_bind(format!("{}%", $crate::store::like_escape(prefix)));
                query.push(" ESCAPE '\\'");
            }
            if let Some(state) = search.state {
                query.push(" AND m.state = ");
                query.push_bind(state.as_str());
            }
            if let Some(root) = search.dependencies_of {
                query.push(" AND m.id IN (SELECT id FROM reach) AND m.id <> ");
                query.push_bind(root);
            }
            if let Some(version) = search.dtdl_version {
                query.push(" AND m.dtdl_version = ");
                query.push_bind(i64::from(version));
            }
            for facet in &search.facets {
                query.push(" AND m.id IN (SELECT model_id FROM model_facets WHERE facet = ");
                query.push_bind(facet.kind.as_str());
                query.push(" AND value = ");
                query.push_bind(facet.value.clone());
                query.push(")");
            }
            $crate::store::sql::push_read_scope(&mut query, &search.scope);
            if as_cte.is_some() {
                query.push(") ");
            }
            query
        }
        }

        #[async_trait::async_trait]
        impl $crate::store::ModelStore for $store {
            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn refresh_statistics(&self) -> Result<(), $crate::store::StoreError> {
                // The same statement on both backends: statistics of every table.
                sqlx::query("ANALYZE").execute(self.writer()).await?;
                Ok(())
            }

            async fn find(
                &self,
                dtmi_lower: &str,
            ) -> Result<Option<$crate::domain::model::StoredModel>, $crate::store::StoreError> {
                let row: Option<$crate::store::sql::ContentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {}, m.content FROM models m WHERE m.dtmi_lower = $1",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(dtmi_lower)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn records(
                &self,
                dtmis_lower: &[String],
            ) -> Result<Vec<$crate::domain::model::ModelRecord>, $crate::store::StoreError> {
                let mut rows = Vec::new();
                for chunk in dtmis_lower.chunks($crate::store::sql::MAX_LIST_BINDS) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM models m WHERE m.dtmi_lower IN (",
                        $crate::store::sql::RECORD_COLUMNS
                    ));
                    let mut list = query.separated(", ");
                    for dtmi in chunk {
                        list.push_bind(dtmi.as_str());
                    }
                    query.push(") ORDER BY m.id");
                    rows.extend(query.build_query_as().fetch_all(&self.pool).await?);
                }
                $crate::store::sql::records(rows)
            }

            async fn tombstones(
                &self,
                dtmis_lower: &[String],
            ) -> Result<Vec<$crate::domain::model::Tombstone>, $crate::store::StoreError> {
                let mut rows: Vec<(String, String, String)> = Vec::new();
                for chunk in dtmis_lower.chunks($crate::store::sql::MAX_LIST_BINDS) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT dtmi, sha256, canonical_sha256 FROM tombstones WHERE dtmi_lower IN (",
                    );
                    let mut list = query.separated(", ");
                    for dtmi in chunk {
                        list.push_bind(dtmi.as_str());
                    }
                    query.push(")");
                    rows.extend(query.build_query_as().fetch_all(&self.pool).await?);
                }
                Ok(rows
                    .into_iter()
                    .map(|(dtmi, sha256, canonical_sha256)| $crate::domain::model::Tombstone { dtmi, sha256, canonical_sha256 })
                    .collect())
            }

            async fn contents(
                &self,
                dtmis: &[String],
            ) -> Result<Vec<(String, Vec<u8>)>, $crate::store::StoreError> {
                let mut rows = Vec::new();
                for chunk in dtmis.chunks($crate::store::sql::MAX_LIST_BINDS) {
                    let mut query =
                        sqlx::QueryBuilder::<$db>::new("SELECT dtmi, content FROM models WHERE dtmi IN (");
                    let mut list = query.separated(", ");
                    for dtmi in chunk {
                        list.push_bind(dtmi.as_str());
                    }
                    query.push(")");
                    rows.extend(query.build_query_as::<(String, Vec<u8>)>().fetch_all(&self.pool).await?);
                }
                Ok(rows)
            }

            async fn insert(
                &self,
                models: &[$crate::domain::model::NewModel],
                actor: &$crate::domain::access::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                let pushed_by = actor.name.as_str();
                use $crate::store::sql::write_conflict;
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                // The first statement writes, so SQLite takes its write lock up front instead of
                // failing a read-to-write upgrade under concurrency.
                sqlx::query("UPDATE repository_revision SET revision = revision + 1, updated_at = $1 WHERE id = 1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                for model in models {
                    let dtmi = model.dtmi.as_str();
                    let dtmi_lower = dtmi.to_lowercase();
                    let versionless_lower = model.dtmi.versionless().to_lowercase();
                    let display_name = model.display_name.as_ref().map(|v| v.to_string());
                    let description = model.description.as_ref().map(|v| v.to_string());
                    let size = i64::try_from(model.content.len()).unwrap_or(i64::MAX);
                    let warnings = (!model.warnings.is_empty())
                        .then(|| serde_json::to_string(&model.warnings))
                        .transpose()
                        .map_err(|e| $crate::store::StoreError::Corrupt(format!("warnings of {dtmi}: {e}")))?;
                    let model_id: i64 = sqlx::query_scalar(
                        "INSERT INTO models (dtmi, dtmi_lower, versionless_lower, major_version, \
                         minor_version, content, sha256, canonical_sha256, size_bytes, dtdl_version, \
                         display_name, description, search_text, state, pushed_by, pushed_at, facets_indexed, warnings) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'published', $14, $15, 1, $16) \
                         RETURNING id",
                    )
                    .bind(dtmi)
                    .bind(&dtmi_lower)
                    .bind(&versionless_lower)
                    .bind(model.dtmi.major_version().map(i64::from))
                    .bind(model.dtmi.minor_version().map(i64::from))
                    .bind(&model.content)
                    .bind(&model.sha256)
                    .bind(&model.canonical_sha256)
                    .bind(size)
                    .bind(i64::from(model.dtdl_version))
                    .bind(display_name)
                    .bind(description)
                    .bind($crate::store::search_text(model))
                    .bind(pushed_by)
                    .bind(now)
                    .bind(warnings)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        write_conflict(e, || {
                            format!("model {dtmi} (or a DTMI differing only in case) was stored by a concurrent push; retry the push")
                        })
                    })?;
                    sqlx::query("DELETE FROM tombstones WHERE dtmi_lower = $1")
                        .bind(&dtmi_lower)
                        .execute(&mut *tx)
                        .await?;
                    $crate::store::sql::write_facets(&mut tx, model_id, &model.facets).await?;
                    for dependency in &model.dependencies {
                        let inserted = sqlx::query(
                            "INSERT INTO model_dependencies (model_id, dependency_id) \
                             SELECT $1, id FROM models WHERE dtmi = $2",
                        )
                        .bind(model_id)
                        .bind(dependency.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_conflict(e, || format!("dependency {dependency} of {dtmi} changed during the push; retry")))?;
                        if inserted.rows_affected() != 1 {
                            return Err($crate::store::StoreError::Conflict(format!(
                                "dependency {dependency} of {dtmi} was deleted during the push; push it again first"
                            )));
                        }
                    }
                }
                let dtmis: Vec<&str> = models.iter().map(|m| m.dtmi.as_str()).collect();
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success(
                        "models.push",
                        match dtmis.as_slice() {
                            [one] => (*one).to_owned(),
                            many => format!("{} models", many.len()),
                        },
                    )
                        .with_detail(serde_json::json!({ "created": dtmis })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::ModelsAdded).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_state(
                &self,
                dtmi: &str,
                state: $crate::domain::model::ModelState,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::model::ModelRecord, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                sqlx::query("UPDATE repository_revision SET revision = revision + 1, updated_at = $1 WHERE id = 1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row: Option<$crate::store::sql::ModelRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM models m WHERE m.dtmi = $1",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(dtmi)
                .fetch_optional(&mut *tx)
                .await?;
                let mut record: $crate::domain::model::ModelRecord = row
                    .ok_or_else(|| $crate::store::StoreError::NotFound(dtmi.to_owned()))?
                    .try_into()?;
                if !record.state.can_become(state) {
                    return Err($crate::store::StoreError::InvalidTransition {
                        dtmi: dtmi.to_owned(),
                        from: record.state,
                        to: state,
                    });
                }
                sqlx::query("UPDATE models SET state = $1, state_changed_at = $2 WHERE id = $3")
                    .bind(state.as_str())
                    .bind(now)
                    .bind(record.id)
                    .execute(&mut *tx)
                    .await?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("models.state", dtmi)
                        .with_detail(serde_json::json!({ "from": record.state, "to": state })),
                    now
                )?;
                Self::notify_in(
                    &mut tx,
                    &$crate::domain::model::Change::StateChanged { dtmi_lower: dtmi.to_lowercase() },
                )
                .await?;
                tx.commit().await?;
                record.state = state;
                record.state_changed_at = Some(now);
                Ok(record)
            }

            async fn delete(
                &self,
                dtmi: &str,
                actor: &$crate::domain::access::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                sqlx::query("UPDATE repository_revision SET revision = revision + 1, updated_at = $1 WHERE id = 1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let found: Option<(i64, String, String)> =
                    sqlx::query_as("SELECT id, sha256, canonical_sha256 FROM models WHERE dtmi = $1")
                        .bind(dtmi)
                        .fetch_optional(&mut *tx)
                        .await?;
                let (model_id, sha256, canonical_sha256) =
                    found.ok_or_else(|| $crate::store::StoreError::NotFound(dtmi.to_owned()))?;
                let dependents: Vec<(String,)> = sqlx::query_as(
                    "SELECT m.dtmi FROM model_dependencies d JOIN models m ON m.id = d.model_id \
                     WHERE d.dependency_id = $1 ORDER BY m.dtmi",
                )
                .bind(model_id)
                .fetch_all(&mut *tx)
                .await?;
                if !dependents.is_empty() {
                    return Err($crate::store::StoreError::HasDependents {
                        dtmi: dtmi.to_owned(),
                        dependents: dependents.into_iter().map(|(d,)| d).collect(),
                    });
                }
                sqlx::query("DELETE FROM models WHERE id = $1")
                    .bind(model_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::store::sql::write_conflict(e, || format!("a model that depends on {dtmi} was pushed meanwhile; see its dependents")))?;
                sqlx::query(
                    "INSERT INTO tombstones (dtmi, dtmi_lower, sha256, canonical_sha256, deleted_by, deleted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (dtmi_lower) DO UPDATE SET dtmi = excluded.dtmi, \
                     sha256 = excluded.sha256, canonical_sha256 = excluded.canonical_sha256, \
                     deleted_by = excluded.deleted_by, \
                     deleted_at = excluded.deleted_at",
                )
                .bind(dtmi)
                .bind(dtmi.to_lowercase())
                .bind(&sha256)
                .bind(&canonical_sha256)
                .bind(actor.name.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("models.delete", dtmi),
                    now
                )?;
                Self::notify_in(
                    &mut tx,
                    &$crate::domain::model::Change::Deleted { dtmi_lower: dtmi.to_lowercase() },
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn related(
                &self,
                model_id: i64,
                relation: $crate::domain::model::Relation,
            ) -> Result<Vec<$crate::domain::model::ModelRecord>, $crate::store::StoreError> {
                // Dependencies: the models this one points at; dependents: those pointing at it.
                let (shown, given) = match relation {
                    $crate::domain::model::Relation::Dependencies => ("dependency_id", "model_id"),
                    $crate::domain::model::Relation::Dependents => ("model_id", "dependency_id"),
                };
                let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM model_dependencies d JOIN models m ON m.id = d.{shown} \
                     WHERE d.{given} = $1 ORDER BY m.dtmi",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(model_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::store::sql::records(rows)
            }

            async fn closure(
                &self,
                model_id: i64,
            ) -> Result<Vec<$crate::domain::model::StoredModel>, $crate::store::StoreError> {
                const REACH: &str = "WITH RECURSIVE reach(id) AS (SELECT CAST($1 AS BIGINT) UNION \
                     SELECT d.dependency_id FROM model_dependencies d JOIN reach r ON d.model_id = r.id) ";
                let rows: Vec<$crate::store::sql::ContentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{REACH} SELECT {}, m.content FROM models m JOIN reach r ON m.id = r.id",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(model_id)
                .fetch_all(&self.pool)
                .await?;
                let edges: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{REACH} SELECT d.model_id, d.dependency_id FROM model_dependencies d \
                     JOIN reach r ON d.model_id = r.id"
                )))
                .bind(model_id)
                .fetch_all(&self.pool)
                .await?;
                let members = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<_>, $crate::store::StoreError>>()?;
                Ok($crate::store::sql::breadth_first(model_id, members, &edges))
            }

            async fn versions(
                &self,
                versionless_lower: &str,
            ) -> Result<Vec<$crate::domain::model::ModelRecord>, $crate::store::StoreError> {
                let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM models m WHERE m.versionless_lower = $1 \
                     ORDER BY m.major_version, m.minor_version, m.id",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(versionless_lower)
                .fetch_all(&self.pool)
                .await?;
                $crate::store::sql::records(rows)
            }

            async fn search(
                &self,
                search: &$crate::domain::model::SearchQuery,
            ) -> Result<$crate::domain::model::Page<$crate::domain::model::ModelRecord>, $crate::store::StoreError> {
                // A text filter visits every row anyway: count in the same pass. Without one,
                // the page walks an index and stops early, and a separate count is cheaper.
                let counted_inline = search.text.is_some();
                let mut query = Self::filtered(
                    search,
                    &if counted_inline {
                        format!("SELECT {}, COUNT(*) OVER () AS total_count", $crate::store::sql::RECORD_COLUMNS)
                    } else {
                        format!("SELECT {}, CAST(0 AS BIGINT) AS total_count", $crate::store::sql::RECORD_COLUMNS)
                    },
                    None,
                );
                query.push(if search.newest_first { " ORDER BY m.id DESC LIMIT " } else { " ORDER BY m.dtmi_lower LIMIT " });
                query.push_bind(i64::try_from(search.limit).unwrap_or(i64::MAX));
                query.push(" OFFSET ");
                query.push_bind(i64::try_from(search.offset).unwrap_or(i64::MAX));
                let rows: Vec<$crate::store::sql::CountedRow> = query.build_query_as().fetch_all(&self.pool).await?;
                let total = match rows.first() {
                    Some(first) if counted_inline => first.total_count,
                    // No row on this page (or no text filter): count separately.
                    _ => {
                        let (total,): (i64,) = Self::filtered(search, "SELECT COUNT(*)", None)
                            .build_query_as()
                            .fetch_one(&self.pool)
                            .await?;
                        total
                    }
                };
                Ok($crate::domain::model::Page {
                    items: $crate::store::sql::records(rows.into_iter().map(|r| r.row).collect())?,
                    total: u64::try_from(total).unwrap_or_default(),
                })
            }

            async fn facet_counts(
                &self,
                search: &$crate::domain::model::SearchQuery,
            ) -> Result<Vec<$crate::domain::model::FacetCount>, $crate::store::StoreError> {
                // Nothing filtered: every count comes straight from an index, without a join.
                let unfiltered = search.matches_everything();
                let mut query = if unfiltered {
                    sqlx::QueryBuilder::<$db>::new(
                        "SELECT facet, value, COUNT(*) FROM model_facets GROUP BY facet, value \
                         UNION ALL SELECT 'state', state, COUNT(*) FROM models GROUP BY state \
                         UNION ALL SELECT 'dtdlVersion', CAST(dtdl_version AS TEXT), COUNT(*) FROM models GROUP BY dtdl_version",
                    )
                } else {
                    // One pass: the matching ids once, then every facet grouped over them.
                    Self::filtered(search, "SELECT m.id, m.state, m.dtdl_version", Some("hits"))
                };
                if !unfiltered {
                    query.push(
                    "SELECT f.facet, f.value, COUNT(*) FROM model_facets f JOIN hits h ON h.id = f.model_id \
                     GROUP BY f.facet, f.value \
                     UNION ALL SELECT 'state', h.state, COUNT(*) FROM hits h GROUP BY h.state \
                     UNION ALL SELECT 'dtdlVersion', CAST(h.dtdl_version AS TEXT), COUNT(*) FROM hits h GROUP BY h.dtdl_version",
                );
                }
                let rows: Vec<(String, String, i64)> = query.build_query_as().fetch_all(&self.pool).await?;
                let mut counts: Vec<$crate::domain::model::FacetCount> = rows
                    .into_iter()
                    .map(|(facet, value, count)| $crate::domain::model::FacetCount {
                        facet,
                        value,
                        count: u64::try_from(count).unwrap_or_default(),
                    })
                    .collect();
                counts.sort_by(|a, b| a.facet.cmp(&b.facet).then(b.count.cmp(&a.count)).then(a.value.cmp(&b.value)));
                Ok(counts)
            }

            async fn namespace_counts(
                &self,
                prefix: &str,
                scope: &$crate::domain::access::ReadScope,
            ) -> Result<Vec<(String, u64)>, $crate::store::StoreError> {
                // Everything readable: the facet index alone answers, without visiting models.
                let everything = matches!(scope, $crate::domain::access::ReadScope::Everything);
                let mut query = sqlx::QueryBuilder::<$db>::new(if everything {
                    "SELECT f.value, COUNT(*) FROM model_facets f \
                     WHERE f.facet = 'namespace' AND (f.value = "
                } else {
                    "SELECT f.value, COUNT(*) FROM model_facets f JOIN models m ON m.id = f.model_id \
                     WHERE f.facet = 'namespace' AND (f.value = "
                });
                query.push_bind(prefix.trim_end_matches(':').to_owned());
                query.push(" OR f.value LIKE ");
                query.push_bind(format!("{}%", $crate::store::like_escape(prefix)));
                query.push(" ESCAPE '\\')");
                $crate::store::sql::push_read_scope(&mut query, scope);
                query.push(" GROUP BY f.value ORDER BY f.value");
                let rows: Vec<(String, i64)> = query.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(value, count)| (value, u64::try_from(count).unwrap_or_default()))
                    .collect())
            }

            async fn models_without_facets(
                &self,
                limit: u64,
            ) -> Result<Vec<$crate::domain::model::StoredModel>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::sql::ContentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {}, m.content FROM models m WHERE m.facets_indexed = 0 ORDER BY m.id LIMIT $1",
                    $crate::store::sql::RECORD_COLUMNS
                )))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn set_facets(
                &self,
                model_id: i64,
                facets: &[$crate::domain::model::Facet],
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM model_facets WHERE model_id = $1")
                    .bind(model_id)
                    .execute(&mut *tx)
                    .await?;
                $crate::store::sql::write_facets(&mut tx, model_id, facets).await?;
                sqlx::query("UPDATE models SET facets_indexed = 1 WHERE id = $1")
                    .bind(model_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn index_entries(
                &self,
                offset: u64,
                limit: u64,
                scope: &$crate::domain::access::ReadScope,
            ) -> Result<Vec<$crate::domain::model::IndexEntry>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT m.dtmi, m.display_name, m.description FROM models m WHERE 1 = 1",
                );
                $crate::store::sql::push_read_scope(&mut query, scope);
                query.push(" ORDER BY m.id LIMIT ");
                query.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                query.push(" OFFSET ");
                query.push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
                let rows: Vec<$crate::store::sql::IndexRow> =
                    query.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            async fn status(
                &self,
                scope: &$crate::domain::access::ReadScope,
            ) -> Result<$crate::domain::model::RepositoryStatus, $crate::store::StoreError> {
                let (revision, updated_at): (i64, Option<chrono::DateTime<chrono::Utc>>) =
                    sqlx::query_as("SELECT revision, updated_at FROM repository_revision WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                let mut count = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM models m WHERE 1 = 1");
                $crate::store::sql::push_read_scope(&mut count, scope);
                let (model_count,): (i64,) = count.build_query_as().fetch_one(&self.pool).await?;
                Ok($crate::domain::model::RepositoryStatus {
                    revision,
                    model_count,
                    updated_at,
                })
            }

            async fn changes(
                &self,
            ) -> Result<
                Option<futures_util::stream::BoxStream<'static, Option<$crate::domain::model::Change>>>,
                $crate::store::StoreError,
            > {
                self.change_stream().await
            }
        }
    };
}

pub(super) use impl_model_store;
