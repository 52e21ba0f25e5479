//! PostgreSQL audit store: the production store, shared by every replica. The signature's
//! fingerprint is kept as its 32 bytes (`bytea`, migration `20261204130000`). The SQL stays
//! within what PostgreSQL-compatible engines share (DESIGN §9).

use std::ops::Range;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use super::{
    AuditError, AuditEvent, AuditQuery, AuditStore, Outcome, StatsQuery, StatsRow, hourly,
    like_prefix,
};

/// Batches committing at once, each on its own connection, so that one commit's round trip
/// hides behind another's. Measured on loopback (1, 2, 4 alike within noise); more only
/// shrinks batches. The pool keeps connections beyond these for queries.
const CONCURRENT_BATCHES: usize = 2;

/// The rows as one array per column, in `insert_columns!`'s order.
const INSERT_UNNEST: &str = concat!(
    insert_columns!(),
    "SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
     $13::timestamptz[], $14::int8[], $15::text[], $16::bytea[], $17::jsonb[], $18::uuid[], \
     $19::uuid[])"
);

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects lazily: a database that is down now does not stop startup, and the pool
    /// reconnects on its own when it returns.
    pub async fn connect(url: &str) -> Result<Self, AuditError> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.options([("statement_timeout", "2000")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

fn decode_row(row: &PgRow) -> Result<AuditEvent, AuditError> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        time: row.try_get("time")?,
        request_id: row.try_get("request_id")?,
        outcome: Outcome::parse(&row.try_get::<String, _>("outcome")?)?,
        reason: row.try_get("reason")?,
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        client_ip: row.try_get("client_ip")?,
        user_agent: row.try_get("user_agent")?,
        action: row.try_get("action")?,
        bucket: row.try_get("bucket")?,
        key: row.try_get("object_key")?,
        expires_at: row.try_get("expires_at")?,
        expires_in: row.try_get("expires_in")?,
        statement: row.try_get("statement")?,
        signature_sha256: row
            .try_get::<Option<Vec<u8>>, _>("signature_sha256")?
            .map(hex::encode),
        request: row.try_get("request")?,
        link_id: row.try_get("link_id")?,
        upload_id: row.try_get("upload_id")?,
    })
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn migrate(&self) -> Result<(), AuditError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_batch(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        if events.is_empty() {
            return Ok(());
        }
        // One array per column: the statement text is the same for every batch size, so
        // it is parsed and planned once per connection.
        let column = |field: fn(&AuditEvent) -> Option<&str>| -> Vec<Option<&str>> {
            events.iter().map(field).collect()
        };
        sqlx::query(INSERT_UNNEST)
            .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.time).collect::<Vec<_>>())
            .bind(column(|e| Some(&e.request_id)))
            .bind(column(|e| Some(e.outcome.as_str())))
            .bind(column(|e| e.reason.as_deref()))
            .bind(column(|e| Some(&e.issuer)))
            .bind(column(|e| Some(&e.subject)))
            .bind(column(|e| e.client_ip.as_deref()))
            .bind(column(|e| e.user_agent.as_deref()))
            .bind(column(|e| Some(&e.action)))
            .bind(column(|e| e.bucket.as_deref()))
            .bind(column(|e| e.key.as_deref()))
            .bind(events.iter().map(|e| e.expires_at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.expires_in).collect::<Vec<_>>())
            .bind(column(|e| e.statement.as_deref()))
            .bind(
                events
                    .iter()
                    .map(|e| super::fingerprint_bytes(&e.signature_sha256))
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| Json(&e.request)).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.link_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.upload_id).collect::<Vec<_>>())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn concurrent_batches(&self) -> usize {
        CONCURRENT_BATCHES
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        let mut select = QueryBuilder::<Postgres>::new("SELECT * FROM audit_events WHERE TRUE");
        push_filters(&mut select, query);
        if let Some(cursor) = &query.cursor {
            select
                .push(" AND (time, id) < (")
                .push_bind(cursor.time)
                .push(", ")
                .push_bind(cursor.id)
                .push(")");
        }
        super::push_newest_first(&mut select, query.limit);
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode_row).collect()
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, AuditError> {
        let mut select = QueryBuilder::<Postgres>::new("SELECT floor(extract(epoch FROM time) / ");
        select
            .push_bind(query.interval.seconds())
            .push(")::bigint AS slot, action, outcome, count(*) AS n FROM audit_events WHERE TRUE");
        push_filters(&mut select, &query.rows);
        select.push(" GROUP BY slot, action, outcome");
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(super::decode_stats_row).collect()
    }

    async fn counted_through(&self) -> Result<Option<i64>, AuditError> {
        hourly::counted_through(&self.pool).await
    }

    async fn oldest_time(&self) -> Result<Option<OffsetDateTime>, AuditError> {
        let oldest = sqlx::query_scalar("SELECT min(time) FROM audit_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(oldest)
    }

    async fn save_hourly(&self, hours: Range<i64>, counts: &[StatsRow]) -> Result<(), AuditError> {
        hourly::save(&self.pool, hours, counts).await
    }

    async fn hourly_stats(
        &self,
        query: &StatsQuery,
        hours: Range<i64>,
    ) -> Result<Vec<StatsRow>, AuditError> {
        hourly::select(&self.pool, query, hours).await
    }

    async fn forget_hours_before(&self, hour: i64) -> Result<(), AuditError> {
        hourly::forget_before(&self.pool, hour).await
    }

    async fn ping(&self) -> Result<(), AuditError> {
        sqlx::query(super::PING_SQL).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete_older_than(
        &self,
        cutoff: OffsetDateTime,
        batch: u32,
    ) -> Result<u64, AuditError> {
        let result = sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
             (SELECT id FROM audit_events WHERE time < $1 ORDER BY time LIMIT $2)",
        )
        .bind(cutoff)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}

/// Appends every filter of `query` but its cursor: the WHERE of a page and of the stats.
fn push_filters(select: &mut QueryBuilder<Postgres>, query: &AuditQuery) {
    if let Some(since) = query.since {
        select.push(" AND time >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        select.push(" AND time < ").push_bind(until);
    }
    super::push_exact_filters(select, query);
    if let Some(prefix) = &query.key_prefix {
        select
            .push(" AND object_key LIKE ")
            .push_bind(like_prefix(prefix))
            .push(" ESCAPE '\\'");
    }
}
