//! Share links on SQLite, in the audit log's database file. Times are Unix milliseconds.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Link, LinkFilter, LinkStore, MAX_LIST, RevokeFilter, Stored, TokenHash, corrupt, stored_cidrs,
    stored_count,
};
use crate::audit::AuditError;

#[derive(Debug, Clone)]
pub struct SqliteLinks {
    pool: SqlitePool,
}

impl SqliteLinks {
    /// A small pool of its own on the audit database (whose migrations made the table).
    /// Writes (a counted use, a revocation) wait out the audit writer's short transactions
    /// and each other; a counted use is durable (`synchronous = FULL`) before it is
    /// answered, so a crash cannot hand a one-time link out twice.
    pub async fn connect(url: &str) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(crate::audit::ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(column: &str, ms: i64) -> Result<OffsetDateTime, AuditError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| corrupt(column, e))
}

fn json(column: &str, text: &str) -> Result<serde_json::Value, AuditError> {
    serde_json::from_str(text).map_err(|e| corrupt(column, e))
}

fn decode(row: &SqliteRow) -> Result<Link, AuditError> {
    let id: String = row.try_get("id")?;
    let cidrs: Option<String> = row.try_get("allowed_cidrs")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    Link::try_from(Stored {
        id: Uuid::parse_str(&id).map_err(|e| corrupt("id", e))?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        claims: json("claims", &row.try_get::<String, _>("claims")?)?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("object_key")?,
        content_disposition: row.try_get("content_disposition")?,
        note: row.try_get("note")?,
        allowed_cidrs: cidrs.map(|t| json("allowed_cidrs", &t)).transpose()?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
        created_at: from_millis("created_at", row.try_get("created_at")?)?,
        expires_at: from_millis("expires_at", row.try_get("expires_at")?)?,
        link_expires_in: row.try_get("link_expires_in")?,
        revoked_at: revoked_at
            .map(|ms| from_millis("revoked_at", ms))
            .transpose()?,
    })
}

/// `key_prefix` as a byte-exact prefix test: SQLite's LIKE ignores ASCII case.
fn push_prefix(query: &mut QueryBuilder<Sqlite>, prefix: &str) {
    query
        .push(" AND substr(object_key, 1, length(")
        .push_bind(prefix.to_owned())
        .push(")) = ")
        .push_bind(prefix.to_owned());
}

#[async_trait]
impl LinkStore for SqliteLinks {
    async fn insert(&self, link: &Link, token: &TokenHash) -> Result<(), AuditError> {
        sqlx::query(
            "INSERT INTO links (id, token_sha256, issuer, subject, claims, bucket, object_key, \
             content_disposition, note, allowed_cidrs, max_uses, uses, created_at, expires_at, \
             link_expires_in, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(link.id.to_string())
        .bind(token.as_str())
        .bind(&link.issuer)
        .bind(&link.subject)
        .bind(serde_json::Value::Object(link.claims.clone()).to_string())
        .bind(link.bucket.as_str())
        .bind(link.key.as_str())
        .bind(&link.content_disposition)
        .bind(&link.note)
        .bind(stored_cidrs(&link.allowed_cidrs).map(|v| v.to_string()))
        .bind(link.max_uses.map(stored_count))
        .bind(stored_count(link.uses))
        .bind(millis(link.created_at))
        .bind(millis(link.expires_at))
        .bind(stored_count(link.link_expires_in))
        .bind(link.revoked_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<(), AuditError> {
        sqlx::query("DELETE FROM links WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Link>, AuditError> {
        let row = sqlx::query("SELECT * FROM links WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn find(&self, token: &TokenHash) -> Result<Option<Link>, AuditError> {
        let row = sqlx::query("SELECT * FROM links WHERE token_sha256 = ?")
            .bind(token.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn take_use(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, AuditError> {
        // One statement: SQLite takes the write lock before reading the row, so two
        // connections can never both see the last use free.
        let taken = sqlx::query(
            "UPDATE links SET uses = uses + 1 WHERE id = ? AND revoked_at IS NULL \
             AND expires_at > ? AND max_uses IS NOT NULL AND uses < max_uses RETURNING uses",
        )
        .bind(id.to_string())
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.is_some())
    }

    async fn give_back_use(&self, id: Uuid) -> Result<(), AuditError> {
        sqlx::query("UPDATE links SET uses = uses - 1 WHERE id = ? AND uses > 0")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke(&self, id: Uuid, now: OffsetDateTime) -> Result<Option<Link>, AuditError> {
        sqlx::query("UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(millis(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        self.get(id).await
    }

    async fn revoke_matching(
        &self,
        filter: &RevokeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>, AuditError> {
        let mut update = QueryBuilder::<Sqlite>::new("UPDATE links SET revoked_at = ");
        update
            .push_bind(millis(now))
            .push(" WHERE revoked_at IS NULL AND expires_at > ")
            .push_bind(millis(now));
        super::push_exact(
            &mut update,
            [
                ("subject", &filter.subject),
                ("issuer", &filter.issuer),
                ("bucket", &filter.bucket),
            ],
        );
        if let Some(prefix) = &filter.key_prefix {
            push_prefix(&mut update, prefix);
        }
        if let Some(before) = filter.created_before {
            update.push(" AND created_at < ").push_bind(millis(before));
        }
        update.push(" RETURNING id");
        let rows = update.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Uuid::parse_str(&id).map_err(|e| corrupt("id", e))
            })
            .collect()
    }

    async fn list(
        &self,
        filter: &LinkFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Link>, AuditError> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM links WHERE 1 = 1");
        super::push_exact(
            &mut select,
            [
                ("issuer", &filter.issuer),
                ("subject", &filter.subject),
                ("bucket", &filter.bucket),
            ],
        );
        if let Some(prefix) = &filter.key_prefix {
            push_prefix(&mut select, prefix);
        }
        super::push_state(&mut select, filter.state, millis(now));
        if let Some(before) = filter.before {
            select.push(" AND id < ").push_bind(before.to_string());
        }
        select
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.clamp(1, MAX_LIST)));
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{LinkState, Token, sample_link};

    async fn store() -> (tempfile::TempDir, SqliteLinks) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        crate::audit::open(&url)
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let links = SqliteLinks::connect(&url).await.unwrap();
        (dir, links)
    }

    #[tokio::test]
    async fn a_link_round_trips_and_is_found_by_its_token_hash_only() {
        let (_dir, store) = store().await;
        let link = sample_link();
        let token = Token::generate();
        store.insert(&link, &token.hash()).await.unwrap();
        assert_eq!(store.get(link.id).await.unwrap(), Some(link.clone()));
        assert_eq!(store.find(&token.hash()).await.unwrap(), Some(link.clone()));
        assert_eq!(store.find(&Token::generate().hash()).await.unwrap(), None);
        let stored: String = sqlx::query_scalar("SELECT token_sha256 FROM links")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(stored, token.hash().as_str());
        assert_ne!(stored, token.expose());
    }

    #[tokio::test]
    async fn uses_stop_at_the_limit_and_revocation_and_filters_apply() {
        let (_dir, store) = store().await;
        let link = sample_link();
        store
            .insert(&link, &Token::generate().hash())
            .await
            .unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(store.take_use(link.id, now).await.unwrap());
        assert!(store.take_use(link.id, now).await.unwrap());
        assert!(!store.take_use(link.id, now).await.unwrap(), "max_uses = 2");
        store.give_back_use(link.id).await.unwrap();
        assert!(store.take_use(link.id, now).await.unwrap());
        let used = LinkFilter {
            state: Some(LinkState::UsedUp),
            limit: 10,
            ..LinkFilter::default()
        };
        assert_eq!(store.list(&used, now).await.unwrap().len(), 1);

        let other = Link {
            id: Uuid::now_v7(),
            key: crate::presign::ObjectKey::parse("Alice/x").unwrap(),
            ..sample_link()
        };
        store
            .insert(&other, &Token::generate().hash())
            .await
            .unwrap();
        let by_prefix = RevokeFilter {
            key_prefix: Some("alice/".into()),
            ..RevokeFilter::default()
        };
        assert_eq!(
            store.revoke_matching(&by_prefix, now).await.unwrap(),
            vec![link.id],
            "byte-exact prefix: Alice/ is not alice/"
        );
        assert!(
            store
                .revoke_matching(&by_prefix, now)
                .await
                .unwrap()
                .is_empty()
        );
        let revoked = store.get(link.id).await.unwrap().unwrap();
        assert_eq!(revoked.state_at(now), LinkState::Revoked);
        let active = LinkFilter {
            state: Some(LinkState::Active),
            limit: 10,
            ..LinkFilter::default()
        };
        let listed = store.list(&active, now).await.unwrap();
        assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), [other.id]);
    }
}
