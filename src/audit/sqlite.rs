//! SQLite audit store: the embedded default, in WAL mode. Rows are compact (migration
//! `20261204130000`): ids are 16-byte blobs, times integer microseconds since the epoch,
//! the signature's fingerprint its 32 bytes.
//! The writer commits without
//! waiting for the disk (`synchronous = NORMAL`) and [`AuditStore::sync`] then fsyncs the
//! WAL: a row is on disk before the writer reports it, as with `FULL`, but one fsync covers
//! every batch committed meanwhile, and the next batch is written while it runs.
//!
//! Checkpoints (copying the WAL back into the database file, with its own fsync) run in
//! [`AuditStore::upkeep`] on a reader connection, not inside a commit: SQLite's automatic
//! checkpoint would make the one commit that crosses the threshold, and every request
//! waiting on it, pay for copying the whole log.

use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;

use super::{
    AuditError, AuditEvent, AuditQuery, AuditStore, Outcome, StatsQuery, StatsRow, hourly,
};

/// How often upkeep copies the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// WAL length (pages) past which upkeep also has the log restarted from its beginning. A
/// passive checkpoint never does: under steady writes the log is never wholly copied at
/// the moment a transaction starts, and it would grow without end.
const WAL_RESTART_PAGES: i64 = 2048;
/// Rows per INSERT: SQLite refuses a statement with more than 32 766 parameters
/// (`SQLITE_MAX_VARIABLE_NUMBER`), and the writer's batches of whole requests (four
/// 1000-item batches, say) can hold more rows than one statement may.
const ROWS_PER_STATEMENT: usize = 32_766 / super::INSERT_COLUMNS;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads and health checks.
    pool: SqlitePool,
    /// Writes, on one connection. SQLite discards a connection's whole page cache when
    /// another connection has written since its last transaction, so writes that rotate
    /// over a pool re-read every index page they touch; one writer keeps its cache warm
    /// (and SQLite allows one writer at a time anyway).
    writer: SqlitePool,
    /// The write-ahead log that [`AuditStore::sync`] flushes; `None` for a database in
    /// memory, which has nothing to flush.
    wal: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if missing, with its directory) the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(1));
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| AuditError::Database(sqlx::Error::Io(e)))?;
        }
        let writer_options = options
            .clone()
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_with(writer_options)
            .await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await?;
        let wal = journal_mode.eq_ignore_ascii_case("wal").then(|| {
            let mut path = options.get_filename().as_os_str().to_owned();
            path.push("-wal");
            PathBuf::from(path)
        });
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool, writer, wal })
    }
}

/// Microseconds since the epoch: what PostgreSQL keeps of a time, in one integer. Times
/// reach the store only within years 1970..=9999 (filters check), far inside `i64`.
fn encode_time(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn decode_time(micros: i64) -> Result<OffsetDateTime, AuditError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| AuditError::Corrupt(format!("time {micros}: {e}")))
}

fn decode_row(row: &SqliteRow) -> Result<AuditEvent, AuditError> {
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    let signature: Option<Vec<u8>> = row.try_get("signature_sha256")?;
    let request: String = row.try_get("request")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        time: decode_time(row.try_get("time")?)?,
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
        expires_at: expires_at.map(decode_time).transpose()?,
        expires_in: row.try_get("expires_in")?,
        statement: row.try_get("statement")?,
        signature_sha256: signature.map(hex::encode),
        request: serde_json::from_str(&request)
            .map_err(|e| AuditError::Corrupt(format!("request: {e}")))?,
        link_id: row.try_get("link_id")?,
        upload_id: row.try_get("upload_id")?,
    })
}

/// One multi-row INSERT of `events` (at most [`ROWS_PER_STATEMENT`]).
fn insert(events: &[AuditEvent]) -> QueryBuilder<Sqlite> {
    let mut insert = QueryBuilder::<Sqlite>::new(insert_columns!());
    insert.push_values(events, |mut row, event| {
        row.push_bind(event.id)
            .push_bind(encode_time(event.time))
            .push_bind(&event.request_id)
            .push_bind(event.outcome.as_str())
            .push_bind(&event.reason)
            .push_bind(&event.issuer)
            .push_bind(&event.subject)
            .push_bind(&event.client_ip)
            .push_bind(&event.user_agent)
            .push_bind(&event.action)
            .push_bind(&event.bucket)
            .push_bind(&event.key)
            .push_bind(event.expires_at.map(encode_time))
            .push_bind(event.expires_in)
            .push_bind(&event.statement)
            .push_bind(super::fingerprint_bytes(&event.signature_sha256))
            .push_bind(event.request.to_string())
            .push_bind(event.link_id)
            .push_bind(event.upload_id);
    });
    insert
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn migrate(&self) -> Result<(), AuditError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn insert_batch(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        match events.len() {
            0 => Ok(()),
            1..=ROWS_PER_STATEMENT => {
                insert(events).build().execute(&self.writer).await?;
                Ok(())
            }
            // Several statements, one transaction: every row of the batch commits, or none.
            _ => {
                let mut transaction = self.writer.begin().await?;
                for chunk in events.chunks(ROWS_PER_STATEMENT) {
                    insert(chunk).build().execute(&mut *transaction).await?;
                }
                transaction.commit().await?;
                Ok(())
            }
        }
    }

    async fn sync(&self) -> Result<(), AuditError> {
        let Some(wal) = self.wal.clone() else {
            return Ok(());
        };
        // fsync flushes the file, whichever descriptor asks: SQLite's own is not ours to
        // reach, so open the log afresh.
        tokio::task::spawn_blocking(move || std::fs::File::open(wal)?.sync_data())
            .await
            .map_err(std::io::Error::other)
            .and_then(|synced| synced)
            .map_err(|e| AuditError::Database(sqlx::Error::Io(e)))
    }

    fn upkeep_interval(&self) -> Option<Duration> {
        Some(CHECKPOINT_INTERVAL)
    }

    async fn upkeep(&self) -> Result<(), AuditError> {
        // Copies what it can without blocking the writer...
        let (_, wal_pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        // ...then, with little left to copy, briefly holds the writer off to restart it.
        if wal_pages >= WAL_RESTART_PAGES {
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuditError> {
        let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_events WHERE 1 = 1");
        push_filters(&mut select, query);
        if let Some(cursor) = &query.cursor {
            let time = encode_time(cursor.time);
            select
                .push(" AND (time < ")
                .push_bind(time)
                .push(" OR (time = ")
                .push_bind(time)
                .push(" AND id < ")
                .push_bind(cursor.id)
                .push("))");
        }
        super::push_newest_first(&mut select, query.limit);
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode_row).collect()
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, AuditError> {
        let width = query.interval.seconds() * 1_000_000;
        let mut select = QueryBuilder::<Sqlite>::new("SELECT time / ");
        select
            .push_bind(width)
            .push(" AS slot, action, outcome, count(*) AS n FROM audit_events WHERE 1 = 1");
        push_filters(&mut select, &query.rows);
        select.push(" GROUP BY slot, action, outcome");
        let rows = select.build().fetch_all(&self.pool).await?;
        rows.iter().map(super::decode_stats_row).collect()
    }

    async fn counted_through(&self) -> Result<Option<i64>, AuditError> {
        hourly::counted_through(&self.pool).await
    }

    async fn oldest_time(&self) -> Result<Option<OffsetDateTime>, AuditError> {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT min(time) FROM audit_events")
            .fetch_one(&self.pool)
            .await?;
        oldest.map(decode_time).transpose()
    }

    async fn save_hourly(&self, hours: Range<i64>, counts: &[StatsRow]) -> Result<(), AuditError> {
        hourly::save(&self.writer, hours, counts).await
    }

    async fn hourly_stats(
        &self,
        query: &StatsQuery,
        hours: Range<i64>,
    ) -> Result<Vec<StatsRow>, AuditError> {
        hourly::select(&self.pool, query, hours).await
    }

    async fn forget_hours_before(&self, hour: i64) -> Result<(), AuditError> {
        hourly::forget_before(&self.writer, hour).await
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
            "DELETE FROM audit_events WHERE rowid IN \
             (SELECT rowid FROM audit_events WHERE time < ? ORDER BY time LIMIT ?)",
        )
        .bind(encode_time(cutoff))
        .bind(i64::from(batch))
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected())
    }
}

/// Appends every filter of `query` but its cursor: the WHERE of a page and of the stats.
fn push_filters(select: &mut QueryBuilder<Sqlite>, query: &AuditQuery) {
    if let Some(since) = query.since {
        select.push(" AND time >= ").push_bind(encode_time(since));
    }
    if let Some(until) = query.until {
        select.push(" AND time < ").push_bind(encode_time(until));
    }
    super::push_exact_filters(select, query);
    if let Some(prefix) = &query.key_prefix {
        // A byte range is exactly the keys with this prefix (SQLite compares text as
        // bytes; LIKE would ignore ASCII case).
        select.push(" AND object_key >= ").push_bind(prefix.clone());
        if let Some(end) = super::prefix_end(prefix) {
            select.push(" AND object_key < ").push_bind(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::sample_event;

    /// Pages in the log (and checkpoints them all).
    async fn wal_pages(store: &SqliteStore) -> i64 {
        let (_, pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        pages
    }

    #[test]
    fn insert_columns_counts_the_column_list() {
        let list = insert_columns!();
        let columns = list[list.find('(').unwrap() + 1..list.find(')').unwrap()].split(',');
        assert_eq!(columns.count(), crate::audit::INSERT_COLUMNS);
    }

    #[tokio::test]
    async fn a_batch_over_the_parameter_limit_commits_whole() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let rows = ROWS_PER_STATEMENT * 2 + 1;
        let batch: Vec<_> = (0..rows).map(|_| sample_event()).collect();
        store.insert_batch(&batch).await.unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(stored as usize, rows);

        // All or nothing: a duplicate id in the last statement leaves no row of the batch.
        let mut batch: Vec<_> = (0..rows).map(|_| sample_event()).collect();
        batch[rows - 1].id = batch[0].id;
        store.insert_batch(&batch).await.unwrap_err();
        let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(after, stored);
    }

    #[tokio::test]
    async fn upkeep_restarts_a_long_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/audit.db", dir.path().display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        // Measured by the file, since any checkpoint call would let the log restart.
        let wal = store.wal.clone().expect("a file database has a WAL");
        let page_size: u64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        while std::fs::metadata(&wal).unwrap().len() < WAL_RESTART_PAGES as u64 * page_size {
            let batch: Vec<_> = (0..200).map(|_| sample_event()).collect();
            store.insert_batch(&batch).await.unwrap();
        }
        store.sync().await.unwrap();

        store.upkeep().await.unwrap();
        // The writer starts the log over: it holds only what came after.
        store.insert_batch(&[sample_event()]).await.unwrap();
        let pages = wal_pages(&store).await;
        assert!(pages < 100, "the log kept {pages} pages");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(rows > 200, "{rows} rows");
    }

    #[test]
    fn times_are_microseconds_and_round_trip() {
        let time = time::macros::datetime!(2026-11-23 15:02:03.5 UTC);
        let micros = encode_time(time);
        assert_eq!(micros, 1_795_446_123_500_000);
        assert_eq!(decode_time(micros).unwrap(), time);
        let last = time::macros::datetime!(9999-12-31 23:59:59.999999 UTC);
        assert_eq!(decode_time(encode_time(last)).unwrap(), last);
    }
}
