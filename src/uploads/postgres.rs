//! Upload sessions on PostgreSQL, shared by every replica.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Ending, Session, SessionFilter, SessionStore, size_column, stored, stored_size, stored_state,
};
use crate::audit::AuditError;
use crate::presign::{BucketName, ObjectKey};

#[derive(Debug, Clone)]
pub struct PostgresSessions {
    pool: PgPool,
}

impl PostgresSessions {
    /// Connects lazily, as the audit store does: a database that is down now does not stop
    /// startup.
    pub fn connect(url: &str) -> Result<Self, AuditError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.options([("statement_timeout", "2000")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(crate::audit::ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// Inserts `session`, `tail` appended to the statement; whether a row went in.
    async fn insert_with(&self, session: &Session, tail: &'static str) -> Result<bool, AuditError> {
        let statement = format!(
            "{}{tail}",
            "INSERT INTO upload_sessions (id, issuer, subject, bucket, object_key, s3_upload_id, \
             declared_size, content_type, write_once, part_size, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        );
        // `tail` is one of two fixed texts of this module.
        let inserted = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(session.id)
            .bind(&session.issuer)
            .bind(&session.subject)
            .bind(session.bucket.as_str())
            .bind(session.key.as_str())
            .bind(&session.s3_upload_id)
            .bind(size_column(session.declared_size))
            .bind(&session.content_type)
            .bind(session.write_once)
            .bind(size_column(Some(session.part_size)))
            .bind(session.state.as_str())
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(inserted.rows_affected() == 1)
    }
}

fn decode(row: &PgRow) -> Result<Session, AuditError> {
    Ok(Session {
        id: row.try_get("id")?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        bucket: stored(
            "bucket",
            &row.try_get::<String, _>("bucket")?,
            BucketName::parse,
        )?,
        key: stored(
            "object_key",
            &row.try_get::<String, _>("object_key")?,
            ObjectKey::parse,
        )?,
        s3_upload_id: row.try_get("s3_upload_id")?,
        declared_size: stored_size(row.try_get("declared_size")?),
        content_type: row.try_get("content_type")?,
        write_once: row.try_get("write_once")?,
        part_size: stored_size(row.try_get("part_size")?).unwrap_or(0),
        state: stored_state(&row.try_get::<String, _>("state")?)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        ended_at: row.try_get("ended_at")?,
        final_size: stored_size(row.try_get("final_size")?),
        final_etag: row.try_get("final_etag")?,
    })
}

#[async_trait]
impl SessionStore for PostgresSessions {
    async fn insert(&self, session: &Session) -> Result<(), AuditError> {
        self.insert_with(session, "").await.map(|_| ())
    }

    async fn insert_if_absent(&self, session: &Session) -> Result<bool, AuditError> {
        self.insert_with(session, " ON CONFLICT (bucket, s3_upload_id) DO NOTHING")
            .await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, AuditError> {
        let row = sqlx::query("SELECT * FROM upload_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn find_by_s3_upload(
        &self,
        bucket: &str,
        s3_upload_id: &str,
    ) -> Result<Option<Session>, AuditError> {
        let row =
            sqlx::query("SELECT * FROM upload_sessions WHERE bucket = $1 AND s3_upload_id = $2")
                .bind(bucket)
                .bind(s3_upload_id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn end(&self, id: Uuid, ending: &Ending, at: OffsetDateTime) -> Result<bool, AuditError> {
        let (size, etag) = match ending {
            Ending::Completed { size, etag } => (Some(*size), etag.clone()),
            Ending::Aborted | Ending::Expired => (None, None),
        };
        let ended = sqlx::query(
            "UPDATE upload_sessions SET state = $1, ended_at = $2, final_size = $3, \
             final_etag = $4 WHERE id = $5 AND state = 'open'",
        )
        .bind(ending.state().as_str())
        .bind(at)
        .bind(size_column(size))
        .bind(etag)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(ended.rows_affected() == 1)
    }

    async fn list(&self, filter: &SessionFilter) -> Result<Vec<Session>, AuditError> {
        let mut select = QueryBuilder::<Postgres>::new("SELECT * FROM upload_sessions WHERE TRUE");
        super::push_list_filters(&mut select, filter);
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    async fn expired(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Session>, AuditError> {
        let rows = sqlx::query(
            "SELECT * FROM upload_sessions WHERE state = 'open' AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }
}
