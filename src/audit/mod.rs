//! The audit log: [`AuditEvent`], the [`AuditStore`] trait with SQLite and PostgreSQL
//! implementations, and the group-commit [`AuditWriter`] through which every row is
//! written. A URL leaves the process only after its row has committed (DESIGN §1 rule 1).

/// The INSERT head shared by both stores; values follow in this column order. A macro, so
/// that a store can `concat!` its own tail onto it.
macro_rules! insert_columns {
    () => {
        "INSERT INTO audit_events (id, time, request_id, outcome, reason, issuer, subject, \
         client_ip, user_agent, action, bucket, object_key, expires_at, expires_in, statement, \
         signature_sha256, request, link_id, upload_id) "
    };
}

/// How many columns `insert_columns!` names (its commas, plus one): the parameters each
/// row binds.
const INSERT_COLUMNS: usize = {
    let sql = insert_columns!().as_bytes();
    let mut columns = 1;
    let mut at = 0;
    while at < sql.len() {
        if sql[at] == b',' {
            columns += 1;
        }
        at += 1;
    }
    columns
};

mod filters;
mod hourly;
mod postgres;
mod sanitize;
mod sqlite;
mod stats;
mod writer;

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use filters::{
    AuditFilters, InvalidFilter, id as filter_id, invalid as invalid_filter, time as filter_time,
};
pub use hourly::roll_up_all;
pub(crate) use hourly::{ROLL_UP_INTERVAL, hours_kept_from, read_stats, roll_up_step};
use postgres::PostgresStore;
use sqlite::SqliteStore;
pub(crate) use stats::{AuditStats, StatsFilters, StatsQuery, StatsRow};
pub use writer::{AuditWriter, Committed, Pending, WriterSettings};

/// The query parameter that carries the audit id inside every URL, covered by the
/// signature: the leaked-URL lookup (`GET /audit?url=`) finds the row by it.
pub const AUDIT_ID_PARAM: &str = "x-presignd-id";

/// Whether a URL was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Issued,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Denied => "denied",
        }
    }

    fn parse(text: &str) -> Result<Self, AuditError> {
        match text {
            "issued" => Ok(Self::Issued),
            "denied" => Ok(Self::Denied),
            other => Err(AuditError::Corrupt(format!("unknown outcome {other:?}"))),
        }
    }
}

/// One audit row (DESIGN §6). Holds no secret: only a fingerprint of the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "One audit row: a presign decision (issued or denied) or an audit query. Holds no secret: only a fingerprint of the signature."
)]
pub struct AuditEvent {
    /// UUIDv7, made before signing; also the URL's `x-presignd-id`.
    pub id: Uuid,
    /// When the decision was made.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The `x-request-id` of the request.
    pub request_id: String,
    pub outcome: Outcome,
    /// Why it was denied.
    pub reason: Option<String>,
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The client's address (the TCP peer, or `X-Forwarded-For` from a trusted proxy).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The policy action (`s3:GetObject`, `presign:QueryAudit`, …), or the endpoint
    /// (`POST /presign`) for a request refused before its action was known.
    pub action: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The URL's true expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Seconds.
    pub expires_in: Option<i64>,
    /// The Sid (or `#index`) of the statement that decided.
    pub statement: Option<String>,
    /// Hex SHA-256 of the URL's `X-Amz-Signature`.
    pub signature_sha256: Option<String>,
    /// The signed options (content type, length, metadata keys...), or the query's filters.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// The share link this row is about (creation, redemption, revocation).
    pub link_id: Option<Uuid>,
    /// The multipart upload session this row is about (create, part URL, complete, abort).
    pub upload_id: Option<Uuid>,
}

/// The request half of a row, made from the caller before anything is decided. Each
/// outcome has one constructor on [`AuditEvent`] that completes it.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Also the `x-presignd-id` of a URL signed for this request.
    pub id: Uuid,
    pub request_id: String,
    pub issuer: String,
    pub subject: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The policy action asked, or the endpoint when the request was refused before
    /// its action was known (`POST /presign`).
    pub action: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The signed options, or the query's filters.
    pub request: serde_json::Value,
    pub link_id: Option<Uuid>,
    pub upload_id: Option<Uuid>,
}

impl Draft {
    /// This draft, about the upload session `id`.
    pub fn for_upload(self, id: Uuid) -> Self {
        Self {
            upload_id: Some(id),
            ..self
        }
    }

    /// This draft, about the share link `id`.
    pub fn for_link(self, id: Uuid) -> Self {
        Self {
            link_id: Some(id),
            ..self
        }
    }
}

/// What the audit row keeps of a signed URL: its true expiry and the fingerprint of its
/// signature, never the signature.
#[derive(Debug, Clone)]
pub struct IssuedUrl {
    pub expires_at: OffsetDateTime,
    pub expires_in: u64,
    /// [`signature_fingerprint`] of the URL's `X-Amz-Signature`.
    pub signature_sha256: String,
}

impl AuditEvent {
    fn from_draft(draft: Draft, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            id: draft.id,
            time: OffsetDateTime::now_utc(),
            request_id: draft.request_id,
            outcome,
            reason: None,
            issuer: draft.issuer,
            subject: draft.subject,
            client_ip: draft.client_ip,
            user_agent: draft.user_agent,
            action: draft.action,
            bucket: draft.bucket,
            key: draft.key,
            expires_at: None,
            expires_in: None,
            statement: None,
            signature_sha256: None,
            request: draft.request,
            link_id: draft.link_id,
            upload_id: draft.upload_id,
        }
    }

    /// A URL (or form) was signed under `statement`.
    pub fn issued(draft: Draft, statement: String, url: IssuedUrl) -> AuditEvent {
        AuditEvent {
            statement: Some(statement),
            expires_at: Some(url.expires_at),
            expires_in: Some(i64::try_from(url.expires_in).unwrap_or(i64::MAX)),
            signature_sha256: Some(url.signature_sha256),
            ..AuditEvent::from_draft(draft, Outcome::Issued)
        }
    }

    /// Something other than a URL was granted under `statement` (an audit query).
    pub fn granted(draft: Draft, statement: String) -> AuditEvent {
        AuditEvent {
            statement: Some(statement),
            ..AuditEvent::from_draft(draft, Outcome::Issued)
        }
    }

    /// The policy denied the request; `statement` is the Deny that decided, if any.
    pub fn denied(draft: Draft, reason: &str, statement: Option<String>) -> AuditEvent {
        AuditEvent {
            reason: Some(reason.to_owned()),
            statement,
            ..AuditEvent::from_draft(draft, Outcome::Denied)
        }
    }

    /// An authenticated request was refused before the policy was asked (invalid input,
    /// a rate limit); `reason` names the field or the limit.
    pub fn refused(draft: Draft, reason: String) -> AuditEvent {
        AuditEvent {
            reason: Some(reason),
            ..AuditEvent::from_draft(draft, Outcome::Denied)
        }
    }
}

/// The fingerprint stored for a signature: lower-case hex SHA-256.
pub fn signature_fingerprint(signature: &str) -> String {
    hex::encode(Sha256::digest(signature.as_bytes()))
}

/// Filters for reading the log; every field optional. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Already hashed with [`signature_fingerprint`].
    pub signature_sha256: Option<String>,
    /// The row's id (a URL's `x-presignd-id`).
    pub id: Option<Uuid>,
    pub link_id: Option<Uuid>,
    pub upload_id: Option<Uuid>,
    /// Rows per page (1..=1000).
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;

/// Keyset position: the (time, id) of the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn after(event: &AuditEvent) -> Self {
        Self {
            time: event.time,
            id: event.id,
        }
    }

    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A page of events, newest first, and where the next page starts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit database error")]
    Database(#[from] sqlx::Error),
    #[error("audit migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("audit commit timed out")]
    Timeout,
    #[error("audit queue is full")]
    QueueFull,
    #[error("audit batch failed")]
    Batch(#[source] Arc<AuditError>),
    #[error("audit writer has stopped")]
    WriterStopped,
    #[error("audit row is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported audit database url (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
}

/// All SQL lives behind this trait.
#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Applies the embedded migrations.
    async fn migrate(&self) -> Result<(), AuditError>;
    /// Inserts all rows in one statement: all commit or none do.
    async fn insert_batch(&self, events: &[AuditEvent]) -> Result<(), AuditError>;
    /// Makes every batch committed so far durable; a no-op where a commit already is.
    async fn sync(&self) -> Result<(), AuditError> {
        Ok(())
    }
    /// How many batches may commit at once: one for a single-writer database, more where
    /// one commit's round trip can overlap another's.
    fn concurrent_batches(&self) -> usize {
        1
    }
    /// How often the store wants [`AuditStore::upkeep`] while it takes writes, if at all.
    fn upkeep_interval(&self) -> Option<std::time::Duration> {
        None
    }
    /// Background work kept off the commit path (SQLite: WAL checkpoints).
    async fn upkeep(&self) -> Result<(), AuditError> {
        Ok(())
    }
    /// One page of rows matching `query`, newest first.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError>;
    /// The rows matching `query.rows` counted by bucket, action and outcome.
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, AuditError>;
    /// The first hour (since the epoch) not yet in the hourly counts; `None` before the
    /// first roll-up (see `hourly`).
    async fn counted_through(&self) -> Result<Option<i64>, AuditError>;
    /// The time of the oldest row; `None` for an empty log.
    async fn oldest_time(&self) -> Result<Option<OffsetDateTime>, AuditError>;
    /// Replaces the counts of `hours` with `counts` (slots of an hourly stats query) and
    /// marks every hour before `hours.end` counted, in one transaction.
    async fn save_hourly(&self, hours: Range<i64>, counts: &[StatsRow]) -> Result<(), AuditError>;
    /// The hourly counts of `hours` for `query`'s action and outcome, as its slots.
    async fn hourly_stats(
        &self,
        query: &StatsQuery,
        hours: Range<i64>,
    ) -> Result<Vec<StatsRow>, AuditError>;
    /// Deletes the counts of the hours before `hour`.
    async fn forget_hours_before(&self, hour: i64) -> Result<(), AuditError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), AuditError>;
    /// Deletes up to `batch` rows older than `cutoff`; returns how many went.
    async fn delete_older_than(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, AuditError>;
}

/// How long a store waits for a pooled connection. Longer than the default commit
/// timeout on purpose: requests stop waiting at `audit.commit_timeout_ms` whatever the pool
/// does, while a new PostgreSQL backend on a loaded host can take over a second to start,
/// and a batch that waits for it then commits instead of failing every row in it.
pub(crate) const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Readiness probe: reaches the table itself, so a database that answers without the
/// schema is not ready.
const PING_SQL: &str = "SELECT 1 FROM audit_events LIMIT 1";

/// Appends the filters both stores write alike: exact matches on text columns, the
/// signature's fingerprint (its 32 bytes) and the ids.
fn push_exact_filters<DB>(select: &mut sqlx::QueryBuilder<DB>, query: &AuditQuery)
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (column, value) in [
        ("subject", &query.subject),
        ("issuer", &query.issuer),
        ("bucket", &query.bucket),
        ("action", &query.action),
    ] {
        if let Some(value) = value {
            select
                .push(format_args!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    if let Some(outcome) = query.outcome {
        select.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(fingerprint) = fingerprint_bytes(&query.signature_sha256) {
        select
            .push(" AND signature_sha256 = ")
            .push_bind(fingerprint);
    }
    for (column, id) in [
        ("id", query.id),
        ("link_id", query.link_id),
        ("upload_id", query.upload_id),
    ] {
        if let Some(id) = id {
            select.push(format_args!(" AND {column} = ")).push_bind(id);
        }
    }
}

/// Ends a page query: newest first, ties broken by id, `limit` rows.
fn push_newest_first<DB>(select: &mut sqlx::QueryBuilder<DB>, limit: u32)
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    select
        .push(" ORDER BY time DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
}

/// One group of a stats query, as both stores select it: `slot`, `action`, `outcome`, `n`.
fn decode_stats_row<R>(row: &R) -> Result<StatsRow, AuditError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let count: i64 = row.try_get("n")?;
    Ok(StatsRow {
        slot: row.try_get("slot")?,
        action: row.try_get("action")?,
        outcome: Outcome::parse(&row.try_get::<String, _>("outcome")?)?,
        count: u64::try_from(count).unwrap_or(0),
    })
}

/// Opens the store named by `database_url` (`sqlite://…` or `postgres://…`).
pub async fn open(database_url: &str) -> Result<Arc<dyn AuditStore>, AuditError> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(database_url).await?))
    } else {
        Err(AuditError::UnsupportedUrl)
    }
}

/// Reads one page, computing the cursor of the next.
pub async fn read_page(
    store: &dyn AuditStore,
    query: &AuditQuery,
) -> Result<AuditPage, AuditError> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    // One extra row tells whether another page exists.
    let probe = AuditQuery {
        limit: limit + 1,
        ..query.clone()
    };
    let mut events = store.query(&probe).await?;
    let next_cursor = if events.len() > limit as usize {
        events.truncate(limit as usize);
        events.last().map(|last| Cursor::after(last).encode())
    } else {
        None
    };
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

/// The fingerprint's 32 bytes, as both stores keep it; [`AuditEvent::sanitized`] lets
/// only well-formed fingerprints (64 hex digits) through.
fn fingerprint_bytes(hex_text: &Option<String>) -> Option<Vec<u8>> {
    hex_text.as_deref().and_then(|text| hex::decode(text).ok())
}

/// The least text greater than every text that starts with `prefix`, in code point order
/// (which is UTF-8 byte order): with it, `prefix <= key < end` is exactly "key starts with
/// prefix". `None` when no such text exists (a prefix of only U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value: past the surrogates after U+D7FF.
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The text of a `key_prefix` filter with LIKE's wildcards escaped (escape char `\`).
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An issued GET row with every optional field filled, for the stores' own tests.
#[cfg(test)]
pub(crate) fn sample_event() -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        time: OffsetDateTime::now_utc(),
        request_id: "request-1".into(),
        outcome: Outcome::Issued,
        reason: None,
        issuer: "https://idp.example".into(),
        subject: "alice".into(),
        client_ip: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
        action: "s3:GetObject".into(),
        bucket: Some("bucket".into()),
        key: Some(format!("alice/{}", Uuid::now_v7())),
        expires_at: Some(OffsetDateTime::now_utc()),
        expires_in: Some(600),
        statement: Some("OwnFolderRead".into()),
        signature_sha256: Some(signature_fingerprint(&Uuid::now_v7().to_string())),
        request: serde_json::json!({"requested_expires_in": 600}),
        link_id: None,
        upload_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            time: OffsetDateTime::now_utc(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor"), None);
    }

    #[test]
    fn prefix_end_bounds_exactly_the_texts_with_the_prefix() {
        assert_eq!(prefix_end("users/a").as_deref(), Some("users/b"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let end = prefix_end("users/a").unwrap();
        for inside in ["users/a", "users/a/", "users/a\u{10FFFF}\u{10FFFF}"] {
            assert!(inside >= "users/a" && inside < end.as_str(), "{inside}");
        }
        for outside in ["users/", "users/b", "users/`"] {
            assert!(
                !(outside >= "users/a" && outside < end.as_str()),
                "{outside}"
            );
        }
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("a%b_c\\d"), "a\\%b\\_c\\\\d%");
    }

    #[test]
    fn fingerprint_is_hex_sha256() {
        assert_eq!(
            signature_fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
