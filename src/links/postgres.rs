//! Share links on PostgreSQL, shared by every replica: a use is counted by one UPDATE
//! whose row lock makes concurrent redemptions on any replica take turns.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Link, LinkFilter, LinkStore, MAX_LIST, RevokeFilter, Stored, TokenHash, stored_cidrs,
    stored_count,
};
use crate::audit::AuditError;

#[derive(Debug, Clone)]
pub struct PostgresLinks {
    pool: PgPool,
}

impl PostgresLinks {
    /// Connects lazily, as the audit store does: a database that is down now does not stop
    /// startup.
    pub fn connect(url: &str) -> Result<Self, AuditError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.options([("statement_timeout", "2000")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(crate::audit::ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

fn decode(row: &PgRow) -> Result<Link, AuditError> {
    Link::try_from(Stored {
        id: row.try_get("id")?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        claims: row.try_get("claims")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("object_key")?,
        content_disposition: row.try_get("content_disposition")?,
        note: row.try_get("note")?,
        allowed_cidrs: row.try_get("allowed_cidrs")?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        link_expires_in: row.try_get("link_expires_in")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn push_prefix(query: &mut QueryBuilder<Postgres>, prefix: &str) {
    query
        .push(" AND object_key LIKE ")
        .push_bind(crate::audit::like_prefix(prefix))
        .push(" ESCAPE '\\'");
}

#[async_trait]
impl LinkStore for PostgresLinks {
    async fn insert(&self, link: &Link, token: &TokenHash) -> Result<(), AuditError> {
        sqlx::query(
            "INSERT INTO links (id, token_sha256, issuer, subject, claims, bucket, object_key, \
             content_disposition, note, allowed_cidrs, max_uses, uses, created_at, expires_at, \
             link_expires_in, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(link.id)
        .bind(token.as_str())
        .bind(&link.issuer)
        .bind(&link.subject)
        .bind(Json(&link.claims))
        .bind(link.bucket.as_str())
        .bind(link.key.as_str())
        .bind(&link.content_disposition)
        .bind(&link.note)
        .bind(stored_cidrs(&link.allowed_cidrs).map(Json))
        .bind(link.max_uses.map(stored_count))
        .bind(stored_count(link.uses))
        .bind(link.created_at)
        .bind(link.expires_at)
        .bind(stored_count(link.link_expires_in))
        .bind(link.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<(), AuditError> {
        sqlx::query("DELETE FROM links WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Link>, AuditError> {
        let row = sqlx::query("SELECT * FROM links WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn find(&self, token: &TokenHash) -> Result<Option<Link>, AuditError> {
        let row = sqlx::query("SELECT * FROM links WHERE token_sha256 = $1")
            .bind(token.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn take_use(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, AuditError> {
        // Under READ COMMITTED a concurrent UPDATE of the row waits for the first to
        // commit, then re-checks the WHERE clause on the new row: the last use goes once.
        let taken = sqlx::query(
            "UPDATE links SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND max_uses IS NOT NULL AND uses < max_uses RETURNING uses",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.is_some())
    }

    async fn give_back_use(&self, id: Uuid) -> Result<(), AuditError> {
        sqlx::query("UPDATE links SET uses = uses - 1 WHERE id = $1 AND uses > 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke(&self, id: Uuid, now: OffsetDateTime) -> Result<Option<Link>, AuditError> {
        sqlx::query("UPDATE links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.get(id).await
    }

    async fn revoke_matching(
        &self,
        filter: &RevokeFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>, AuditError> {
        let mut update = QueryBuilder::<Postgres>::new("UPDATE links SET revoked_at = ");
        update
            .push_bind(now)
            .push(" WHERE revoked_at IS NULL AND expires_at > ")
            .push_bind(now);
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
            update.push(" AND created_at < ").push_bind(before);
        }
        update.push(" RETURNING id");
        let rows = update.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| row.try_get("id").map_err(AuditError::from))
            .collect()
    }

    async fn list(
        &self,
        filter: &LinkFilter,
        now: OffsetDateTime,
    ) -> Result<Vec<Link>, AuditError> {
        let mut select = QueryBuilder::<Postgres>::new("SELECT * FROM links WHERE TRUE");
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
        super::push_state(&mut select, filter.state, now);
        if let Some(before) = filter.before {
            select.push(" AND id < ").push_bind(before);
        }
        select
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.clamp(1, MAX_LIST)));
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}
