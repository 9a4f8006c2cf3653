//! The SQL of [`AccessStore`](super::access::AccessStore), shared by both backends the same
//! way as the model SQL: `impl_access_store!` stamps it out per pool type.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::access::{
    ApiToken, AuditRecord, Grant, Namespace, NamespaceSetting, Outcome, Role, Subject, User,
    Visibility,
};

pub(super) const USER_COLUMNS: &str =
    "id, name, password_hash, issuer, subject, email, disabled, created_at, last_login_at";

pub(super) const TOKEN_COLUMNS: &str = "id, name, prefix, role, namespaces, created_by, created_at, expires_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: i64,
    name: String,
    password_hash: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
    email: Option<String>,
    disabled: bool,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            password_hash: row.password_hash,
            issuer: row.issuer,
            subject: row.subject,
            email: row.email,
            disabled: row.disabled,
            created_at: row.created_at,
            last_login_at: row.last_login_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    role: String,
    namespaces: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, Self::Error> {
        let role = row
            .role
            .parse::<Role>()
            .map_err(|e| StoreError::Corrupt(format!("role of token {}: {e}", row.id)))?;
        let namespaces: Vec<Namespace> = serde_json::from_str(&row.namespaces)
            .map_err(|e| StoreError::Corrupt(format!("namespaces of token {}: {e}", row.id)))?;
        Ok(Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            role,
            namespaces,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    id: i64,
    v0: String,
    v1: String,
    v2: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of grant {}", row.id));
        Ok(Self {
            id: row.id,
            subject: Subject::from_key(&row.v0).ok_or_else(|| corrupt("subject"))?,
            namespace: Namespace::parse(&row.v1).map_err(|_| corrupt("namespace"))?,
            role: row
                .v2
                .strip_prefix("role:")
                .and_then(|r| r.parse().ok())
                .ok_or_else(|| corrupt("role"))?,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct NamespaceRow {
    prefix: String,
    visibility: String,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

impl TryFrom<NamespaceRow> for NamespaceSetting {
    type Error = StoreError;

    fn try_from(row: NamespaceRow) -> Result<Self, Self::Error> {
        Ok(Self {
            prefix: Namespace::parse(&row.prefix)
                .map_err(|e| StoreError::Corrupt(format!("namespace {}: {e}", row.prefix)))?,
            visibility: row
                .visibility
                .parse::<Visibility>()
                .map_err(|e| StoreError::Corrupt(format!("namespace {}: {e}", row.prefix)))?,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    source: Option<String>,
    action: String,
    target: String,
    outcome: String,
    detail: Option<String>,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        let outcome = match row.outcome.as_str() {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            "failed" => Outcome::Failed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "outcome {other:?} of audit entry {}",
                    row.id
                )));
            }
        };
        Ok(Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            source: row.source,
            action: row.action,
            target: row.target,
            outcome,
            detail: row
                .detail
                .map(|d| serde_json::from_str(&d))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("audit entry {}: {e}", row.id)))?,
        })
    }
}

/// The casbin `v2` value of a role.
pub(super) fn role_key(role: Role) -> String {
    format!("role:{role}")
}

macro_rules! impl_access_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::access::AccessStore for $store {
            async fn create_user(
                &self,
                user: &$crate::domain::access::NewUser,
                grants: &[($crate::domain::access::Namespace, $crate::domain::access::Role)],
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::User, $crate::store::StoreError> {
                use $crate::domain::access::{AuditEntry, Subject};
                use $crate::store::access_sql::{role_key, UserRow, USER_COLUMNS};
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO users (name, name_lower, password_hash, issuer, subject, email, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) RETURNING {USER_COLUMNS}"
                )))
                .bind(&user.name)
                .bind(user.name.to_lowercase())
                .bind(&user.password_hash)
                .bind(&user.issuer)
                .bind(&user.subject)
                .bind(&user.email)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    $crate::store::sql::write_conflict(e, || {
                        format!("a user named {:?} (in any case) or with this identity already exists", user.name)
                    })
                })?;
                let subject = Subject::User(user.name.clone()).key();
                for (namespace, role) in grants {
                    sqlx::query(
                        "INSERT INTO authz_rules (ptype, v0, v1, v2, created_by, created_at) \
                         VALUES ('p', $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&subject)
                    .bind(namespace.as_str())
                    .bind(role_key(*role))
                    .bind(&actor.name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                let granted: Vec<String> = grants.iter().map(|(ns, role)| format!("{role} on {ns}")).collect();
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &AuditEntry::success("users.create", &user.name)
                        .with_detail(serde_json::json!({ "grants": granted, "issuer": user.issuer })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn user_by_name(
                &self,
                name: &str,
            ) -> Result<Option<$crate::domain::access::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::access_sql::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM users WHERE name_lower = $1",
                    $crate::store::access_sql::USER_COLUMNS
                )))
                .bind(name.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn user_by_identity(
                &self,
                issuer: &str,
                subject: &str,
            ) -> Result<Option<$crate::domain::access::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::access_sql::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM users WHERE issuer = $1 AND subject = $2",
                    $crate::store::access_sql::USER_COLUMNS
                )))
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn users(&self) -> Result<Vec<$crate::domain::access::User>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::access_sql::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM users ORDER BY name_lower",
                    $crate::store::access_sql::USER_COLUMNS
                )))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn update_user(
                &self,
                name: &str,
                update: &$crate::store::access::UserUpdate,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::User, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: Option<$crate::store::access_sql::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE users SET password_hash = COALESCE($1, password_hash), \
                     disabled = COALESCE($2, disabled), email = COALESCE($3, email) \
                     WHERE name_lower = $4 RETURNING {}",
                    $crate::store::access_sql::USER_COLUMNS
                )))
                .bind(&update.password_hash)
                .bind(update.disabled)
                .bind(&update.email)
                .bind(name.to_lowercase())
                .fetch_optional(&mut *tx)
                .await?;
                let user: $crate::domain::access::User = row
                    .ok_or_else(|| $crate::store::StoreError::Absent(format!("user {name}")))?
                    .into();
                if update.disabled == Some(true) || update.password_hash.is_some() {
                    // A disabled account or a new password ends every open session.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                }
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("users.update", &user.name).with_detail(serde_json::json!({
                        "passwordChanged": update.password_hash.is_some(),
                        "disabled": update.disabled,
                    })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn delete_user(
                &self,
                name: &str,
                actor: &$crate::domain::access::Actor,
            ) -> Result<(), $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let deleted = sqlx::query("DELETE FROM users WHERE name_lower = $1")
                    .bind(name.to_lowercase())
                    .execute(&mut *tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::store::StoreError::Absent(format!("user {name}")));
                }
                sqlx::query("DELETE FROM authz_rules WHERE v0 = $1")
                    .bind($crate::domain::access::Subject::User(name.to_owned()).key())
                    .execute(&mut *tx)
                    .await?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("users.delete", name),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_login(
                &self,
                user_id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn create_token(
                &self,
                token: &$crate::domain::access::NewApiToken,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::ApiToken, $crate::store::StoreError> {
                use $crate::domain::access::{AuditEntry, Namespace, Role, Subject};
                use $crate::store::access_sql::{role_key, TokenRow, TOKEN_COLUMNS};
                let now = chrono::Utc::now();
                let namespaces = serde_json::to_string(&token.namespaces)
                    .map_err(|e| $crate::store::StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.writer().begin().await?;
                let row: TokenRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO api_tokens (name, token_sha256, prefix, role, namespaces, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLUMNS}"
                )))
                .bind(&token.name)
                .bind(&token.secret_sha256)
                .bind(&token.prefix)
                .bind(token.role.as_str())
                .bind(&namespaces)
                .bind(&actor.name)
                .bind(now)
                .bind(token.expires_at)
                .fetch_one(&mut *tx)
                .await?;
                let stored: $crate::domain::access::ApiToken = row.try_into()?;
                let subject = Subject::Token(stored.id).key();
                let scopes: Vec<Namespace> = if token.role == Role::Admin {
                    vec![Namespace::everything()]
                } else {
                    token.namespaces.clone()
                };
                for namespace in &scopes {
                    sqlx::query(
                        "INSERT INTO authz_rules (ptype, v0, v1, v2, created_by, created_at) \
                         VALUES ('p', $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&subject)
                    .bind(namespace.as_str())
                    .bind(role_key(token.role))
                    .bind(&actor.name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &AuditEntry::success("tokens.create", format!("token {} ({})", stored.id, stored.name)).with_detail(serde_json::json!({
                        "role": token.role,
                        "namespaces": token.namespaces,
                        "expiresAt": token.expires_at,
                    })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn token_by_hash(
                &self,
                secret_sha256: &str,
            ) -> Result<Option<$crate::domain::access::ApiToken>, $crate::store::StoreError> {
                let row: Option<$crate::store::access_sql::TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_tokens WHERE token_sha256 = $1",
                    $crate::store::access_sql::TOKEN_COLUMNS
                )))
                .bind(secret_sha256)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn token(
                &self,
                id: i64,
            ) -> Result<Option<$crate::domain::access::ApiToken>, $crate::store::StoreError> {
                let row: Option<$crate::store::access_sql::TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_tokens WHERE id = $1",
                    $crate::store::access_sql::TOKEN_COLUMNS
                )))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn tokens(
                &self,
                created_by: Option<&str>,
            ) -> Result<Vec<$crate::domain::access::ApiToken>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::access_sql::TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_tokens WHERE ($1 IS NULL OR created_by = $1) ORDER BY id DESC",
                    $crate::store::access_sql::TOKEN_COLUMNS
                )))
                .bind(created_by)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn touch_token(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn revoke_token(
                &self,
                id: i64,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::ApiToken, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: Option<$crate::store::access_sql::TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {}",
                    $crate::store::access_sql::TOKEN_COLUMNS
                )))
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let token: $crate::domain::access::ApiToken = row
                    .ok_or_else(|| $crate::store::StoreError::Absent(format!("token {id}")))?
                    .try_into()?;
                sqlx::query("DELETE FROM authz_rules WHERE v0 = $1")
                    .bind($crate::domain::access::Subject::Token(id).key())
                    .execute(&mut *tx)
                    .await?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("tokens.revoke", format!("token {} ({})", token.id, token.name)),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn create_session(
                &self,
                id_sha256: &str,
                user_id: i64,
                csrf_token: &str,
                expires_at: chrono::DateTime<chrono::Utc>,
                source: Option<&str>,
            ) -> Result<(), $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                // Expired sessions are swept whenever someone logs in.
                sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, expires_at, source) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id_sha256)
                .bind(user_id)
                .bind(csrf_token)
                .bind(now)
                .bind(expires_at)
                .bind(source)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session(
                &self,
                id_sha256: &str,
            ) -> Result<Option<$crate::domain::access::Session>, $crate::store::StoreError> {
                #[derive(sqlx::FromRow)]
                struct SessionRow {
                    #[sqlx(flatten)]
                    user: $crate::store::access_sql::UserRow,
                    csrf_token: String,
                    expires_at: chrono::DateTime<chrono::Utc>,
                }
                let row: Option<SessionRow> = sqlx::query_as(
                    "SELECT u.id, u.name, u.password_hash, u.issuer, u.subject, u.email, u.disabled, \
                     u.created_at, u.last_login_at, s.csrf_token, s.expires_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.id_sha256 = $1 AND s.expires_at > $2 AND NOT u.disabled",
                )
                .bind(id_sha256)
                .bind(chrono::Utc::now())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| $crate::domain::access::Session {
                    user: r.user.into(),
                    csrf_token: r.csrf_token,
                    expires_at: r.expires_at,
                }))
            }

            async fn delete_session(&self, id_sha256: &str) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
                    .bind(id_sha256)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn namespaces(
                &self,
            ) -> Result<Vec<$crate::domain::access::NamespaceSetting>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::access_sql::NamespaceRow> = sqlx::query_as(
                    "SELECT prefix, visibility, updated_by, updated_at FROM namespaces ORDER BY prefix",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn set_namespace(
                &self,
                prefix: &$crate::domain::access::Namespace,
                visibility: $crate::domain::access::Visibility,
                owners: Option<&[$crate::domain::access::Subject]>,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::NamespaceSetting, $crate::store::StoreError> {
                use $crate::domain::access::Role;
                use $crate::store::access_sql::role_key;
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: $crate::store::access_sql::NamespaceRow = sqlx::query_as(
                    "INSERT INTO namespaces (prefix, visibility, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (prefix) DO UPDATE SET visibility = excluded.visibility, \
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at \
                     RETURNING prefix, visibility, updated_by, updated_at",
                )
                .bind(prefix.as_str())
                .bind(visibility.as_str())
                .bind(&actor.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                if let Some(owners) = owners {
                    sqlx::query("DELETE FROM authz_rules WHERE ptype = 'p' AND v1 = $1 AND v2 = $2")
                        .bind(prefix.as_str())
                        .bind(role_key(Role::Owner))
                        .execute(&mut *tx)
                        .await?;
                    for owner in owners {
                        sqlx::query(
                            "INSERT INTO authz_rules (ptype, v0, v1, v2, created_by, created_at) \
                             VALUES ('p', $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(owner.key())
                        .bind(prefix.as_str())
                        .bind(role_key(Role::Owner))
                        .bind(&actor.name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let owner_keys: Option<Vec<String>> = owners.map(|o| o.iter().map(|s| s.key()).collect());
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("namespaces.set", prefix.as_str()).with_detail(serde_json::json!({
                        "visibility": visibility,
                        "owners": owner_keys,
                    })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn dependency_edges_touching(
                &self,
                namespace: &$crate::domain::access::Namespace,
            ) -> Result<Vec<(String, String)>, $crate::store::StoreError> {
                let like = format!("{}:%", $crate::store::like_escape(namespace.as_str()));
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT a.dtmi, b.dtmi FROM model_dependencies x \
                     JOIN models a ON a.id = x.model_id JOIN models b ON b.id = x.dependency_id \
                     WHERE a.versionless_lower = $1 OR a.versionless_lower LIKE $2 ESCAPE '\\' \
                     OR b.versionless_lower = $1 OR b.versionless_lower LIKE $2 ESCAPE '\\'",
                )
                .bind(namespace.as_str())
                .bind(like)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows)
            }

            async fn grants(&self) -> Result<Vec<$crate::domain::access::Grant>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::access_sql::GrantRow> = sqlx::query_as(
                    "SELECT id, v0, v1, v2, created_by, created_at FROM authz_rules WHERE ptype = 'p' ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn add_grant(
                &self,
                subject: &$crate::domain::access::Subject,
                namespace: &$crate::domain::access::Namespace,
                role: $crate::domain::access::Role,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::Grant, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: $crate::store::access_sql::GrantRow = sqlx::query_as(
                    "INSERT INTO authz_rules (ptype, v0, v1, v2, created_by, created_at) \
                     VALUES ('p', $1, $2, $3, $4, $5) RETURNING id, v0, v1, v2, created_by, created_at",
                )
                .bind(subject.key())
                .bind(namespace.as_str())
                .bind($crate::store::access_sql::role_key(role))
                .bind(&actor.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    $crate::store::sql::write_conflict(e, || {
                        format!("{} already holds {role} on {namespace}", subject.key())
                    })
                })?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("grants.add", subject.key())
                        .with_detail(serde_json::json!({ "role": role, "namespace": namespace })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn remove_grant(
                &self,
                id: i64,
                actor: &$crate::domain::access::Actor,
            ) -> Result<$crate::domain::access::Grant, $crate::store::StoreError> {
                let now = chrono::Utc::now();
                let mut tx = self.writer().begin().await?;
                let row: Option<$crate::store::access_sql::GrantRow> = sqlx::query_as(
                    "DELETE FROM authz_rules WHERE id = $1 AND ptype = 'p' \
                     RETURNING id, v0, v1, v2, created_by, created_at",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let grant: $crate::domain::access::Grant = row
                    .ok_or_else(|| $crate::store::StoreError::Absent(format!("grant {id}")))?
                    .try_into()?;
                $crate::store::sql::insert_audit!(
                    &mut *tx,
                    actor,
                    &$crate::domain::access::AuditEntry::success("grants.remove", grant.subject.key())
                        .with_detail(serde_json::json!({ "role": grant.role, "namespace": grant.namespace })),
                    now
                )?;
                Self::notify_in(&mut tx, &$crate::domain::model::Change::AccessChanged).await?;
                tx.commit().await?;
                Ok(grant)
            }

            async fn audit(
                &self,
                actor: &$crate::domain::access::Actor,
                entry: &$crate::domain::access::AuditEntry,
            ) -> Result<(), $crate::store::StoreError> {
                $crate::store::sql::insert_audit!(self.writer(), actor, entry, chrono::Utc::now())?;
                Ok(())
            }

            async fn audit_log(
                &self,
                query: &$crate::store::access::AuditQuery,
            ) -> Result<
                $crate::domain::model::Page<$crate::domain::access::AuditRecord>,
                $crate::store::StoreError,
            > {
                let filtered = |select: &str| {
                    let mut builder = sqlx::QueryBuilder::<$db>::new(select);
                    builder.push(" FROM audit_log WHERE 1 = 1");
                    if let Some(actor) = &query.actor {
                        builder.push(" AND actor = ");
                        builder.push_bind(actor.clone());
                    }
                    if let Some(action) = &query.action {
                        builder.push(" AND action = ");
                        builder.push_bind(action.clone());
                    }
                    builder
                };
                let (total,): (i64,) = filtered("SELECT COUNT(*)").build_query_as().fetch_one(&self.pool).await?;
                let mut select = filtered("SELECT id, at, actor, source, action, target, outcome, detail");
                select.push(" ORDER BY id DESC LIMIT ");
                select.push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
                select.push(" OFFSET ");
                select.push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
                let rows: Vec<$crate::store::access_sql::AuditRow> =
                    select.build_query_as().fetch_all(&self.pool).await?;
                Ok($crate::domain::model::Page {
                    items: rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
                    total: u64::try_from(total).unwrap_or_default(),
                })
            }
        }
    };
}

pub(super) use impl_access_store;
