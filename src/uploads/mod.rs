//! Multipart upload sessions (DESIGN §2 "Multipart uploads"): who opened which upload,
//! for which object, and where it stands. Kept in the audit log's database, in their own
//! table, so every replica sees the same sessions. [`check_completion`] is the pure check
//! presignd runs on the listed parts before it completes an upload.

mod check;
mod postgres;
mod sqlite;
mod sweep;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use check::{AskedPart, Completion, Refused, check_completion};
pub use sweep::{EndError, SERVICE_ISSUER, end_session, sweep_expired};

use crate::audit::{AuditError, InvalidFilter, invalid_filter};
use crate::presign::{BucketName, ObjectKey, UploadTarget};

/// Where a session stands. `Expired` is also what an open session past its expiry reads
/// as, before the sweeper has aborted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Open,
    Completed,
    Aborted,
    Expired,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Completed, Self::Aborted, Self::Expired]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One upload session: owned by `issuer` + `subject`, for one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// presignd's id (UUIDv7): the audit rows' `upload_id`.
    pub id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub bucket: BucketName,
    pub key: ObjectKey,
    /// S3's `UploadId`.
    pub s3_upload_id: String,
    /// The total the caller declared at create, in bytes.
    pub declared_size: Option<u64>,
    pub content_type: Option<String>,
    /// Complete with `If-None-Match: *`: never overwrite an object.
    pub write_once: bool,
    /// Advised part size, in bytes.
    pub part_size: u64,
    /// As stored; see [`Session::state_at`].
    pub state: SessionState,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// When it was completed, aborted or swept.
    pub ended_at: Option<OffsetDateTime>,
    /// The completed object's size and ETag.
    pub final_size: Option<u64>,
    pub final_etag: Option<String>,
}

impl Session {
    /// The state at `now`: an open session past its expiry is expired.
    pub fn state_at(&self, now: OffsetDateTime) -> SessionState {
        match self.state {
            SessionState::Open if now >= self.expires_at => SessionState::Expired,
            state => state,
        }
    }

    /// Whether `issuer` + `subject` opened it.
    pub fn is_owned_by(&self, issuer: &str, subject: &str) -> bool {
        self.issuer == issuer && self.subject == subject
    }

    /// Where the upload lives in S3.
    pub fn target(&self) -> UploadTarget<'_> {
        UploadTarget {
            bucket: &self.bucket,
            key: &self.key,
            upload_id: &self.s3_upload_id,
        }
    }
}

/// How an open session ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Completed {
        size: u64,
        etag: Option<String>,
    },
    Aborted,
    /// Aborted by the sweeper after its expiry.
    Expired,
}

impl Ending {
    fn state(&self) -> SessionState {
        match self {
            Self::Completed { .. } => SessionState::Completed,
            Self::Aborted => SessionState::Aborted,
            Self::Expired => SessionState::Expired,
        }
    }
}

/// Which sessions to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// As stored: `Open` includes open sessions past their expiry not yet swept.
    pub state: Option<SessionState>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub limit: u32,
}

impl SessionFilter {
    /// The filter `GET /uploads` and `presignd uploads list` are given: `state` one of the
    /// session states, `limit` in 1..=[`MAX_LIST`].
    pub fn new(
        state: Option<&str>,
        issuer: Option<String>,
        subject: Option<String>,
        limit: u32,
    ) -> Result<Self, InvalidFilter> {
        let state = state
            .map(|text| {
                SessionState::parse(text).ok_or_else(|| {
                    invalid_filter("state", "must be open, completed, aborted or expired")
                })
            })
            .transpose()?;
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(invalid_filter(
                "limit",
                format!("must be in 1..={MAX_LIST}"),
            ));
        }
        Ok(Self {
            state,
            issuer,
            subject,
            limit,
        })
    }
}

/// All session SQL lives behind this trait.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    async fn insert(&self, session: &Session) -> Result<(), AuditError>;
    /// Inserts `session` unless its S3 upload already has one; false if it had.
    async fn insert_if_absent(&self, session: &Session) -> Result<bool, AuditError>;
    async fn get(&self, id: Uuid) -> Result<Option<Session>, AuditError>;
    /// The session of S3 upload `s3_upload_id` in `bucket`, if any.
    async fn find_by_s3_upload(
        &self,
        bucket: &str,
        s3_upload_id: &str,
    ) -> Result<Option<Session>, AuditError>;
    /// Ends the session if it is still open (stored state); false if it was not, so
    /// that of two replicas ending one session, one wins.
    async fn end(&self, id: Uuid, ending: &Ending, at: OffsetDateTime) -> Result<bool, AuditError>;
    async fn list(&self, filter: &SessionFilter) -> Result<Vec<Session>, AuditError>;
    /// Up to `limit` sessions still open (stored state) whose expiry is before `now`,
    /// oldest expiry first.
    async fn expired(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Session>, AuditError>;
}

/// Opens the session table in the audit log's database (migrated with it).
pub async fn open(database_url: &str) -> Result<Arc<dyn SessionStore>, AuditError> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteSessions::connect(database_url).await?,
        ))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresSessions::connect(database_url)?))
    } else {
        Err(AuditError::UnsupportedUrl)
    }
}

/// Reads stored text back into its newtype; a failure means the row was altered.
fn stored<T>(
    column: &str,
    text: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, AuditError> {
    parse(text).map_err(|e| AuditError::Corrupt(format!("upload_sessions.{column} {text:?}: {e}")))
}

fn stored_state(text: &str) -> Result<SessionState, AuditError> {
    SessionState::parse(text)
        .ok_or_else(|| AuditError::Corrupt(format!("upload_sessions.state {text:?}")))
}

/// A size column (bytes, never negative) as stored.
fn stored_size(size: Option<i64>) -> Option<u64> {
    size.and_then(|n| u64::try_from(n).ok())
}

/// A size as stored: at most 5 TiB, so it fits.
fn size_column(size: Option<u64>) -> Option<i64> {
    size.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Appends `filter` to a `SELECT * FROM upload_sessions WHERE …` and ends it newest
/// first, as both stores write it.
fn push_list_filters<DB>(select: &mut sqlx::QueryBuilder<DB>, filter: &SessionFilter)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(state) = filter.state {
        select.push(" AND state = ").push_bind(state.as_str());
    }
    for (column, value) in [("issuer", &filter.issuer), ("subject", &filter.subject)] {
        if let Some(value) = value {
            select
                .push(format_args!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    select
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(filter.limit.clamp(1, MAX_LIST)));
}

/// Most sessions one list returns.
pub const MAX_LIST: u32 = 1000;

#[cfg(test)]
pub(crate) fn sample_session() -> Session {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Session {
        id: Uuid::now_v7(),
        issuer: "https://idp.example".into(),
        subject: "alice".into(),
        bucket: BucketName::parse("bucket").unwrap(),
        key: ObjectKey::parse("alice/video.mp4").unwrap(),
        s3_upload_id: "upload-1".into(),
        declared_size: Some(12 << 20),
        content_type: Some("video/mp4".into()),
        write_once: true,
        part_size: 8 << 20,
        state: SessionState::Open,
        created_at: now,
        expires_at: now + time::Duration::hours(24),
        ended_at: None,
        final_size: None,
        final_etag: None,
    }
}
