//! Upload sessions on SQLite, in the audit log's database file.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Ending, Session, SessionFilter, SessionStore, size_column, stored, stored_size, stored_state,
};
use crate::audit::AuditError;
use crate::presign::{BucketName, ObjectKey};

#[derive(Debug, Clone)]
pub struct SqliteSessions {
    pool: SqlitePool,
}

impl SqliteSessions {
    /// A small pool of its own on the audit database (which has the table: migrated by the
    /// audit store). Session writes are rare next to audit rows and wait out the audit
    /// writer's short transactions.
    pub async fn connect(url: &str) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(2));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(crate::audit::ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Inserts `session`, `tail` appended to the statement; whether a row went in.
    async fn insert_with(&self, session: &Session, tail: &'static str) -> Result<bool, AuditError> {
        let statement = format!(
            "{}{tail}",
            "INSERT INTO upload_sessions (id, issuer, subject, bucket, object_key, s3_upload_id, \
             declared_size, content_type, write_once, part_size, state, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        // `tail` is one of two fixed texts of this module.
        let inserted = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(session.id.to_string())
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
            .bind(millis(session.created_at))
            .bind(millis(session.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(inserted.rows_affected() == 1)
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(column: &str, ms: i64) -> Result<OffsetDateTime, AuditError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| AuditError::Corrupt(format!("upload_sessions.{column} {ms}: {e}")))
}

fn decode(row: &SqliteRow) -> Result<Session, AuditError> {
    let id: String = row.try_get("id")?;
    let ended_at: Option<i64> = row.try_get("ended_at")?;
    Ok(Session {
        id: stored("id", &id, |t| Uuid::parse_str(t).map_err(|e| e.to_string()))?,
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
        created_at: from_millis("created_at", row.try_get("created_at")?)?,
        expires_at: from_millis("expires_at", row.try_get("expires_at")?)?,
        ended_at: ended_at.map(|ms| from_millis("ended_at", ms)).transpose()?,
        final_size: stored_size(row.try_get("final_size")?),
        final_etag: row.try_get("final_etag")?,
    })
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn insert(&self, session: &Session) -> Result<(), AuditError> {
        self.insert_with(session, "").await.map(|_| ())
    }

    async fn insert_if_absent(&self, session: &Session) -> Result<bool, AuditError> {
        self.insert_with(session, " ON CONFLICT (bucket, s3_upload_id) DO NOTHING")
            .await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>, AuditError> {
        let row = sqlx::query("SELECT * FROM upload_sessions WHERE id = ?")
            .bind(id.to_string())
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
            sqlx::query("SELECT * FROM upload_sessions WHERE bucket = ? AND s3_upload_id = ?")
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
            "UPDATE upload_sessions SET state = ?, ended_at = ?, final_size = ?, final_etag = ? \
             WHERE id = ? AND state = 'open'",
        )
        .bind(ending.state().as_str())
        .bind(millis(at))
        .bind(size_column(size))
        .bind(etag)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(ended.rows_affected() == 1)
    }

    async fn list(&self, filter: &SessionFilter) -> Result<Vec<Session>, AuditError> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM upload_sessions WHERE 1 = 1");
        super::push_list_filters(&mut select, filter);
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    async fn expired(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Session>, AuditError> {
        let rows = sqlx::query(
            "SELECT * FROM upload_sessions WHERE state = 'open' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uploads::{SessionState, sample_session};

    #[tokio::test]
    async fn a_session_round_trips_and_ends_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        crate::audit::open(&url)
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let store = SqliteSessions::connect(&url).await.unwrap();
        let session = sample_session();
        store.insert(&session).await.unwrap();
        assert_eq!(store.get(session.id).await.unwrap(), Some(session.clone()));

        let later = session.expires_at + time::Duration::seconds(1);
        let expired = store.expired(later, 10).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert!(
            store
                .expired(session.created_at, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let ending = Ending::Completed {
            size: 42,
            etag: Some("abc".into()),
        };
        assert!(store.end(session.id, &ending, later).await.unwrap());
        assert!(
            !store
                .end(session.id, &Ending::Aborted, later)
                .await
                .unwrap(),
            "ends once"
        );
        let ended = store.get(session.id).await.unwrap().unwrap();
        assert_eq!(ended.state, SessionState::Completed);
        assert_eq!(
            (ended.final_size, ended.final_etag.as_deref()),
            (Some(42), Some("abc"))
        );
        assert!(store.expired(later, 10).await.unwrap().is_empty());
    }
}
