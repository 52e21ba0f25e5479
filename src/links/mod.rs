//! Share links (DESIGN §2 "Share links"): a link of presignd's own, `/l/{token}`, that
//! when followed checks its rules and redirects to a fresh presigned GET. What S3 cannot
//! do with a presigned URL a link can: be revoked, be limited in uses and client
//! addresses, outlive 7 days.
//!
//! Kept in the audit log's database, in their own table, so every replica sees the same
//! links and a revocation or a use counted on one is seen by all at their next request.
//! The token is shown once; only its SHA-256 is stored ([`TokenHash`]).
//!
//! This module holds the link itself, its [`LinkStore`] (SQLite, PostgreSQL), the
//! validation of a creation request ([`NewLink`]), and the two flows the HTTP API and the
//! command line share ([`create`], [`revoke_matching`]).

mod filters;
mod flow;
mod postgres;
mod sqlite;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipnet::IpNet;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub use filters::{LinkListParams, RevokeLinksBody};
pub use flow::{Created, LinkSettings, NewLink, create, revoke_matching};

use crate::audit::AuditError;
use crate::presign::{BucketName, ObjectKey};

/// Random bytes in a token: 256 bits, well over the 128 DESIGN asks.
const TOKEN_BYTES: usize = 32;
/// A token's length as text: base64url of [`TOKEN_BYTES`], unpadded.
pub const TOKEN_CHARS: usize = 43;

/// A link's secret, as handed out once in its URL. Never stored, logged or audited:
/// `Debug` hides it.
pub struct Token(String);

impl Token {
    /// A fresh token from the operating system's CSPRNG (through rand's thread RNG,
    /// which it seeds and reseeds).
    pub fn generate() -> Token {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The text that goes into the URL; call only to build it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// What is stored of a token: the hex SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    fn of(token: &str) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    /// The hash of `text` if it is shaped as a token; `None` for anything else, which is
    /// then unknown without a database lookup.
    pub fn of_presented(text: &str) -> Option<TokenHash> {
        let shaped = text.len() == TOKEN_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| TokenHash::of(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a link stands at some instant. A link revoked is revoked whatever else holds;
/// one used up says so even after it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Active,
    Revoked,
    Expired,
    UsedUp,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::UsedUp => "used_up",
        }
    }

    pub fn parse(text: &str) -> Option<LinkState> {
        [Self::Active, Self::Revoked, Self::Expired, Self::UsedUp]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One share link, as stored (never with its token).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// UUIDv7; also the creation row's audit id.
    pub id: Uuid,
    /// The creator: the token's `iss` and `sub`. Redemptions are decided for them.
    pub issuer: String,
    pub subject: String,
    /// The creator's claims at creation, so that the policy at redemption sees the same
    /// `jwt:` keys and variables.
    pub claims: Map<String, Value>,
    pub bucket: BucketName,
    pub key: ObjectKey,
    /// Signed into each redirect as `response-content-disposition`.
    pub content_disposition: Option<String>,
    /// The creator's own words about the link; shown to them and to ops, never signed.
    pub note: Option<String>,
    /// Client addresses allowed to redeem; `None`: any.
    pub allowed_cidrs: Option<Vec<IpNet>>,
    /// `None`: unlimited, and uses are not counted (the audit log has every redemption).
    pub max_uses: Option<u64>,
    /// Redemptions counted so far (links with `max_uses` only).
    pub uses: u64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The lifetime granted at creation, in seconds (`presign:LinkExpiresIn`).
    pub link_expires_in: u64,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Link {
    pub fn state_at(&self, now: OffsetDateTime) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            LinkState::UsedUp
        } else if now >= self.expires_at {
            LinkState::Expired
        } else {
            LinkState::Active
        }
    }

    /// Whether `issuer` + `subject` created it.
    pub fn is_owned_by(&self, issuer: &str, subject: &str) -> bool {
        self.issuer == issuer && self.subject == subject
    }

    /// Whether a visitor at `ip` may redeem it. An IPv4-mapped IPv6 address counts as its
    /// IPv4 address, as the policy's `aws:SourceIp` does; no known address is refused
    /// when the link names any.
    pub fn admits(&self, ip: Option<IpAddr>) -> bool {
        let Some(cidrs) = &self.allowed_cidrs else {
            return true;
        };
        let Some(ip) = ip else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        cidrs.iter().any(|net| net.contains(&ip))
    }

    /// `arn:aws:s3:::bucket/key`, the resource of its policy questions.
    pub fn resource(&self) -> String {
        format!(
            "arn:aws:s3:::{}/{}",
            self.bucket.as_str(),
            self.key.as_str()
        )
    }

    /// What callers see of it.
    pub fn view(&self, now: OffsetDateTime) -> LinkView {
        LinkView {
            id: self.id,
            state: self.state_at(now),
            bucket: self.bucket.as_str().to_owned(),
            key: self.key.as_str().to_owned(),
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            max_uses: self.max_uses,
            uses: self.max_uses.map(|_| self.uses),
            allowed_cidrs: self
                .allowed_cidrs
                .as_ref()
                .map(|cidrs| cidrs.iter().map(ToString::to_string).collect()),
            content_disposition: self.content_disposition.clone(),
            note: self.note.clone(),
        }
    }
}

/// A link as the API and the command line show it: never its token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Link)]
pub struct LinkView {
    pub id: Uuid,
    pub state: LinkState,
    pub bucket: String,
    pub key: String,
    /// The creator's `iss`.
    pub issuer: String,
    /// The creator's `sub`.
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Null: unlimited.
    pub max_uses: Option<u64>,
    /// Redemptions so far, for links with `max_uses` (null otherwise: the audit log,
    /// `GET /audit?link_id=`, has every redemption of any link).
    pub uses: Option<u64>,
    /// Null: any client address.
    pub allowed_cidrs: Option<Vec<String>>,
    pub content_disposition: Option<String>,
    pub note: Option<String>,
}

/// Which links to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct LinkFilter {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    pub state: Option<LinkState>,
    /// Links created before this one (a page's cursor: ids are UUIDv7, so time-ordered).
    pub before: Option<Uuid>,
    /// At most [`MAX_LIST`].
    pub limit: u32,
}

/// Which links a bulk revocation takes: every link matching all the given fields that is
/// neither revoked nor expired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RevokeFilter {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_before: Option<OffsetDateTime>,
}

impl RevokeFilter {
    /// Whether it names nothing, and so would take every link.
    pub fn is_empty(&self) -> bool {
        *self == RevokeFilter::default()
    }
}

/// Most links one list returns.
pub const MAX_LIST: u32 = 1000;

/// All link SQL lives behind this trait. Errors are the database's, as the audit log's.
#[async_trait]
pub trait LinkStore: Send + Sync + std::fmt::Debug {
    async fn insert(&self, link: &Link, token: &TokenHash) -> Result<(), AuditError>;
    /// Removes a link whose creation row could not commit (its token never left).
    async fn delete(&self, id: Uuid) -> Result<(), AuditError>;
    async fn get(&self, id: Uuid) -> Result<Option<Link>, AuditError>;
    async fn find(&self, token: &TokenHash) -> Result<Option<Link>, AuditError>;
    /// Counts one use of a link with `max_uses`, atomically: true if it was still active
    /// at `now` with a use left (one UPDATE … WHERE uses < max_uses), false otherwise, so
    /// that N replicas together never count more than `max_uses`.
    async fn take_use(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, AuditError>;
    /// Gives back a use taken for a redemption that then failed (no URL left).
    async fn give_back_use(&self, id: Uuid) -> Result<(), AuditError>;
    /// Revokes the link if it is not already; the link as it stands after.
    async fn revoke(&self, id: Uuid, now: OffsetDateTime) -> Result<Option<Link>, AuditError>;
    /// Revokes every link `filter` takes at `now`; the ids of those it revoked.
    async fn revoke_matching(
        &self,
        filter: &RevokeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>, AuditError>;
    async fn list(&self, filter: &LinkFilter, now: OffsetDateTime)
    -> Result<Vec<Link>, AuditError>;
}

/// Opens the link table in the audit log's database (migrated with it).
pub async fn open(database_url: &str) -> Result<Arc<dyn LinkStore>, AuditError> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteLinks::connect(database_url).await?))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresLinks::connect(database_url)?))
    } else {
        Err(AuditError::UnsupportedUrl)
    }
}

/// The columns both stores read back the same way, decoded into a [`Link`]; a failure
/// means the row was altered behind presignd's back.
struct Stored {
    id: Uuid,
    issuer: String,
    subject: String,
    claims: Value,
    bucket: String,
    key: String,
    content_disposition: Option<String>,
    note: Option<String>,
    allowed_cidrs: Option<Value>,
    max_uses: Option<i64>,
    uses: i64,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    link_expires_in: i64,
    revoked_at: Option<OffsetDateTime>,
}

fn corrupt(column: &str, why: impl std::fmt::Display) -> AuditError {
    AuditError::Corrupt(format!("links.{column}: {why}"))
}

impl TryFrom<Stored> for Link {
    type Error = AuditError;

    fn try_from(row: Stored) -> Result<Link, AuditError> {
        let Value::Object(claims) = row.claims else {
            return Err(corrupt("claims", "not an object"));
        };
        let allowed_cidrs = row
            .allowed_cidrs
            .map(serde_json::from_value::<Vec<IpNet>>)
            .transpose()
            .map_err(|e| corrupt("allowed_cidrs", e))?;
        let count = |column: &str, n: i64| u64::try_from(n).map_err(|e| corrupt(column, e));
        Ok(Link {
            id: row.id,
            issuer: row.issuer,
            subject: row.subject,
            claims,
            bucket: BucketName::parse(&row.bucket).map_err(|e| corrupt("bucket", e))?,
            key: ObjectKey::parse(&row.key).map_err(|e| corrupt("object_key", e))?,
            content_disposition: row.content_disposition,
            note: row.note,
            allowed_cidrs,
            max_uses: row.max_uses.map(|n| count("max_uses", n)).transpose()?,
            uses: count("uses", row.uses)?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            link_expires_in: count("link_expires_in", row.link_expires_in)?,
            revoked_at: row.revoked_at,
        })
    }
}

/// Appends the exact-match filters both stores write alike.
fn push_exact<DB>(query: &mut sqlx::QueryBuilder<DB>, columns: [(&str, &Option<String>); 3])
where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (column, value) in columns {
        if let Some(value) = value {
            query
                .push(format_args!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
}

/// Appends the condition for links in `state` at `now` (as each store writes a time), in
/// the precedence of [`Link::state_at`]: revoked, used up, expired, active.
fn push_state<DB, T>(query: &mut sqlx::QueryBuilder<DB>, state: Option<LinkState>, now: T)
where
    DB: sqlx::Database,
    T: 'static + for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    const USED_UP: &str = "(max_uses IS NOT NULL AND uses >= max_uses)";
    match state {
        None => {}
        Some(LinkState::Revoked) => {
            query.push(" AND revoked_at IS NOT NULL");
        }
        Some(LinkState::UsedUp) => {
            query.push(format_args!(" AND revoked_at IS NULL AND {USED_UP}"));
        }
        Some(LinkState::Expired) => {
            query
                .push(format_args!(
                    " AND revoked_at IS NULL AND NOT {USED_UP} AND expires_at <= "
                ))
                .push_bind(now);
        }
        Some(LinkState::Active) => {
            query
                .push(format_args!(
                    " AND revoked_at IS NULL AND NOT {USED_UP} AND expires_at > "
                ))
                .push_bind(now);
        }
    }
}

/// A count as stored: presignd bounds every one far below `i64::MAX`.
fn stored_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The CIDR list as stored: a JSON array of their texts.
fn stored_cidrs(cidrs: &Option<Vec<IpNet>>) -> Option<Value> {
    cidrs.as_ref().map(|cidrs| {
        Value::Array(
            cidrs
                .iter()
                .map(|net| Value::String(net.to_string()))
                .collect(),
        )
    })
}

/// A link with every optional field filled, for the stores' own tests.
#[cfg(test)]
pub(crate) fn sample_link() -> Link {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Link {
        id: Uuid::now_v7(),
        issuer: "https://idp.example".into(),
        subject: "alice".into(),
        claims: serde_json::json!({"sub": "alice", "groups": ["a"]})
            .as_object()
            .cloned()
            .unwrap(),
        bucket: BucketName::parse("bucket").unwrap(),
        key: ObjectKey::parse("alice/report.pdf").unwrap(),
        content_disposition: Some("attachment".into()),
        note: Some("for the auditors".into()),
        allowed_cidrs: Some(vec!["10.0.0.0/8".parse().unwrap()]),
        max_uses: Some(2),
        uses: 0,
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        link_expires_in: 3600,
        revoked_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_kept() {
        let token = Token::generate();
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert_ne!(token.expose(), Token::generate().expose());
        assert_eq!(TokenHash::of_presented(token.expose()), Some(token.hash()));
        assert_eq!(token.hash().as_str().len(), 64);
        assert!(!token.hash().as_str().contains(token.expose()));
        assert!(!format!("{token:?}").contains(token.expose()));
        for malformed in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", &"a".repeat(42)),
        ] {
            assert_eq!(TokenHash::of_presented(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn state_precedence() {
        let link = sample_link();
        let now = link.created_at;
        assert_eq!(link.state_at(now), LinkState::Active);
        assert_eq!(link.state_at(link.expires_at), LinkState::Expired);
        let used = Link {
            uses: 2,
            ..link.clone()
        };
        assert_eq!(used.state_at(link.expires_at), LinkState::UsedUp);
        let revoked = Link {
            revoked_at: Some(now),
            ..used
        };
        assert_eq!(revoked.state_at(now), LinkState::Revoked);
    }

    #[test]
    fn addresses() {
        let link = sample_link();
        assert!(link.admits(Some("10.1.2.3".parse().unwrap())));
        assert!(link.admits(Some("::ffff:10.1.2.3".parse().unwrap())));
        assert!(!link.admits(Some("192.0.2.1".parse().unwrap())));
        assert!(!link.admits(None));
        let anywhere = Link {
            allowed_cidrs: None,
            ..link
        };
        assert!(anywhere.admits(None));
    }
}
