//! Pre-fills an audit store with realistic rows, generated inside the database (SQLite: a
//! recursive CTE; PostgreSQL: `generate_series`), so that ten million rows take minutes
//! rather than hours of HTTP. The store is migrated first, as `presignd migrate` would.
//!
//! ```sh
//! cargo run --example fill -- --url sqlite://fill/audit.db --rows 10000000
//! cargo run --example fill -- --url postgres://postgres@127.0.0.1:5432/filled --rows 10000000
//! ```
//!
//! The rows span `--days` (default 365) up to now, evenly, oldest first, as a year of
//! traffic would have written them: 30% from 20 services (`svc-NN`, 3600 s URLs under
//! `exports/`), 70% from 5000 users (`user-NNNNN`, 900 s URLs under
//! `users/<sub>/photos/`), 12 buckets, 80% GET / 18% PUT / 2% audit queries, 2% denied,
//! every 100th PUT in an upload session. Values come from hashes of the row number, so
//! a fill is the same every time. Indexes are dropped while rows go in and rebuilt once
//! at the end (a sorted build instead of ten million random inserts).
//!
//! Debug builds are fine: the work is the database's (`libsqlite3-sys` is optimised in
//! the dev profile, see Cargo.toml).

use std::time::Instant;

use sqlx::{Connection, Executor};

/// Rows per INSERT statement: big enough that the statement dominates, small enough to
/// show progress.
const CHUNK: i64 = 500_000;

/// The generated rows' columns as layout-free values, for both stores alike: `i` the row
/// number, `t_us` the time in µs since the epoch, `h1`..`h3` hashes of `i`, then text. The
/// per-store INSERTs below turn them into the current layout (the compact one of migration
/// `20261204130000`: SQLite blobs for ids and the fingerprint, integer µs for times).
const LOGICAL: &str = "
    SELECT i, t_us, h1, h2, h3,
        CASE WHEN h1 % 10 < 3 THEN 1 ELSE 0 END AS service,
        CASE WHEN h2 % 100 < 80 THEN 's3:GetObject'
             WHEN h2 % 100 < 98 THEN 's3:PutObject'
             ELSE 'presign:QueryAudit' END AS action,
        CASE WHEN h3 % 50 = 0 THEN 'denied' ELSE 'issued' END AS outcome
    FROM (SELECT i, t_us,
            (i * 2654435761) % 4294967291 AS h1,
            ((i + 17) * 40503) % 65521 * 65536 + (i * 69069) % 65536 AS h2,
            (i * 1103515245 + 12345) % 2147483647 AS h3
          FROM rows_) AS hashed";

const SQLITE_INSERT: &str = "
WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2),
rows_ AS (SELECT i, ?3 + i * ?4 + (i * 7919) % ?4 AS t_us FROM n),
g AS (LOGICAL),
v AS (SELECT *,
        CASE WHEN service = 1 THEN printf('svc-%02d', h2 % 20)
             ELSE printf('user-%05d', (h2 * 7 + h1) % 5000) END AS subject,
        printf('%012x7%03x%04x%012x', t_us / 1000, h1 % 4096, 32768 + h2 % 16384, h3 * 65536 + i % 65536) AS id_hex,
        printf('%016x%016x%016x%016x', h1 * 65537, h2 * 40503, h3 * 69069, i) AS sig_hex
      FROM g)
INSERT INTO audit_events (id, time, request_id, outcome, reason, issuer, subject, client_ip,
    user_agent, action, bucket, object_key, expires_at, expires_in, statement,
    signature_sha256, request, link_id, upload_id)
SELECT
    unhex(id_hex),
    t_us,
    printf('%016x%016x', h1 * 31 + h2, i),
    outcome,
    CASE WHEN outcome = 'denied' THEN 'no statement allows' END,
    CASE WHEN service = 1 THEN 'https://sts.internal.example' ELSE 'https://idp.example.com' END,
    subject,
    printf('10.%d.%d.%d', h1 % 256, h2 % 256, h3 % 256),
    CASE h2 % 4 WHEN 0 THEN 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0'
                WHEN 1 THEN 'Mozilla/5.0 (iPhone; CPU iPhone OS 19_0) Safari/605.1'
                WHEN 2 THEN 'aws-sdk-go-v2/1.36 os/linux'
                ELSE 'python-requests/2.32' END,
    action,
    CASE WHEN action = 'presign:QueryAudit' THEN NULL
         WHEN service = 1 THEN printf('exports-%d', h2 % 8)
         ELSE printf('media-%d', h1 % 4) END,
    CASE WHEN action = 'presign:QueryAudit' THEN NULL
         WHEN service = 1 THEN printf('exports/%s/%s/part-%05d.parquet', subject,
                                      strftime('%Y-%m-%d', t_us / 1000000, 'unixepoch'), h3 % 100000)
         ELSE printf('users/%s/photos/img-%06d.jpg', subject, h3 % 1000000) END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN
        t_us + CASE WHEN service = 1 THEN 3600 ELSE 900 END * 1000000 END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN
        CASE WHEN service = 1 THEN 3600 ELSE 900 END END,
    CASE WHEN outcome = 'denied' THEN NULL
         WHEN action = 'presign:QueryAudit' THEN 'OpsAudit'
         WHEN service = 1 THEN 'ServiceExports'
         WHEN action = 's3:PutObject' THEN 'OwnFolderWrite' ELSE 'OwnFolderRead' END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN unhex(sig_hex) END,
    CASE WHEN action = 's3:PutObject' THEN '{\"content_type\":\"image/jpeg\",\"content_length\":' || (h3 % 5000000) || ',\"requested_expires_in\":900}'
         WHEN action = 'presign:QueryAudit' THEN '{\"limit\":100,\"subject\":\"user-00042\"}'
         ELSE '{\"content_type\":\"image/jpeg\",\"requested_expires_in\":900}' END,
    NULL,
    CASE WHEN action = 's3:PutObject' AND h3 % 100 = 0 THEN
        unhex(substr(sig_hex, 1, 12) || '7' || substr(sig_hex, 14, 3) || '8' || substr(sig_hex, 18, 15)) END
FROM v";

const POSTGRES_INSERT: &str = "
WITH rows_ AS (SELECT i, $3::int8 + i * $4::int8 + (i * 7919) % $4::int8 AS t_us
               FROM generate_series($1::int8, $2::int8 - 1) AS i),
g AS (LOGICAL),
v AS (SELECT *,
        CASE WHEN service = 1 THEN 'svc-' || lpad((h2 % 20)::text, 2, '0')
             ELSE 'user-' || lpad(((h2 * 7 + h1) % 5000)::text, 5, '0') END AS subject,
        lpad(to_hex(t_us / 1000), 12, '0') || '7' || lpad(to_hex(h1 % 4096), 3, '0')
          || to_hex(32768 + h2 % 16384) || lpad(to_hex(h3 * 65536 + i % 65536), 12, '0') AS id_hex,
        lpad(to_hex(h1 * 65537), 16, '0') || lpad(to_hex(h2 * 40503), 16, '0')
          || lpad(to_hex(h3 * 69069), 16, '0') || lpad(to_hex(i), 16, '0') AS sig_hex,
        to_timestamp(t_us / 1000000.0) AS at
      FROM g)
INSERT INTO audit_events (id, time, request_id, outcome, reason, issuer, subject, client_ip,
    user_agent, action, bucket, object_key, expires_at, expires_in, statement,
    signature_sha256, request, link_id, upload_id)
SELECT
    id_hex::uuid,
    at,
    lpad(to_hex(h1 * 31 + h2), 16, '0') || lpad(to_hex(i), 16, '0'),
    outcome,
    CASE WHEN outcome = 'denied' THEN 'no statement allows' END,
    CASE WHEN service = 1 THEN 'https://sts.internal.example' ELSE 'https://idp.example.com' END,
    subject,
    '10.' || h1 % 256 || '.' || h2 % 256 || '.' || h3 % 256,
    CASE h2 % 4 WHEN 0 THEN 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0'
                WHEN 1 THEN 'Mozilla/5.0 (iPhone; CPU iPhone OS 19_0) Safari/605.1'
                WHEN 2 THEN 'aws-sdk-go-v2/1.36 os/linux'
                ELSE 'python-requests/2.32' END,
    action,
    CASE WHEN action = 'presign:QueryAudit' THEN NULL
         WHEN service = 1 THEN 'exports-' || h2 % 8
         ELSE 'media-' || h1 % 4 END,
    CASE WHEN action = 'presign:QueryAudit' THEN NULL
         WHEN service = 1 THEN 'exports/' || subject || '/' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                               || '/part-' || lpad((h3 % 100000)::text, 5, '0') || '.parquet'
         ELSE 'users/' || subject || '/photos/img-' || lpad((h3 % 1000000)::text, 6, '0') || '.jpg' END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN
        at + make_interval(secs => CASE WHEN service = 1 THEN 3600 ELSE 900 END) END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN
        CASE WHEN service = 1 THEN 3600 ELSE 900 END END,
    CASE WHEN outcome = 'denied' THEN NULL
         WHEN action = 'presign:QueryAudit' THEN 'OpsAudit'
         WHEN service = 1 THEN 'ServiceExports'
         WHEN action = 's3:PutObject' THEN 'OwnFolderWrite' ELSE 'OwnFolderRead' END,
    CASE WHEN outcome = 'issued' AND action <> 'presign:QueryAudit' THEN decode(sig_hex, 'hex') END,
    CASE WHEN action = 's3:PutObject' THEN jsonb_build_object('content_type', 'image/jpeg',
                                        'content_length', h3 % 5000000, 'requested_expires_in', 900)
         WHEN action = 'presign:QueryAudit' THEN '{\"limit\":100,\"subject\":\"user-00042\"}'::jsonb
         ELSE '{\"content_type\":\"image/jpeg\",\"requested_expires_in\":900}'::jsonb END,
    NULL::uuid,
    CASE WHEN action = 's3:PutObject' AND h3 % 100 = 0 THEN
        (substr(sig_hex, 1, 12) || '7' || substr(sig_hex, 14, 3) || '8' || substr(sig_hex, 18, 15))::uuid END
FROM v";

struct Args {
    url: String,
    rows: i64,
    days: i64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        rows: 10_000_000,
        days: 365,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<i64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--rows" => args.rows = number()?,
            "--days" => args.days = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.url.is_empty() || args.rows < 1 || args.days < 1 {
        return Err("usage: fill --url DATABASE_URL [--rows N] [--days D]".into());
    }
    Ok(args)
}

/// The generated rows' first time and spacing, µs: the newest row lands just before now.
fn time_plan(args: &Args) -> (i64, i64) {
    let now_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
    let span_us = args.days * 86_400_000_000;
    let step_us = (span_us / args.rows).max(1);
    (now_us - step_us * (args.rows + 1), step_us)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    presignd::audit::open(&args.url).await?.migrate().await?;
    let (start_us, step_us) = time_plan(&args);
    let started = Instant::now();
    if args.url.starts_with("sqlite:") {
        fill_sqlite(&args, start_us, step_us).await?;
    } else {
        fill_postgres(&args, start_us, step_us).await?;
    }
    // Counted now, as a year of presignd would have counted them hour by hour, rather than
    // by the server's first roll-up during a benchmark.
    let counting = Instant::now();
    let store = presignd::audit::open(&args.url).await?;
    presignd::audit::roll_up_all(store.as_ref()).await?;
    eprintln!(
        "fill: hourly counts in {:.1} s",
        counting.elapsed().as_secs_f64()
    );
    eprintln!(
        "fill: {} rows in {:.1} s",
        args.rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The row numbers of each INSERT, in order.
fn chunks(rows: i64) -> impl Iterator<Item = (i64, i64)> {
    (0..rows)
        .step_by(CHUNK as usize)
        .map(move |low| (low, (low + CHUNK).min(rows)))
}

fn progress(done: i64, started: Instant) {
    eprintln!(
        "fill: {done} rows ({:.0} rows/s)",
        done as f64 / started.elapsed().as_secs_f64()
    );
}

async fn fill_sqlite(args: &Args, start_us: i64, step_us: i64) -> Result<(), sqlx::Error> {
    // The store opened for the migrations closes its connections in the background; wait
    // for them, since leaving WAL mode needs the database alone.
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&args.url)?
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut db = sqlx::SqliteConnection::connect_with(&options).await?;
    // A fill is rebuilt from scratch if it fails: no journal, no fsync until the end.
    db.execute("PRAGMA journal_mode = OFF").await?;
    db.execute("PRAGMA synchronous = OFF").await?;
    db.execute("PRAGMA cache_size = -262144").await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' \
         AND sql IS NOT NULL",
    )
    .fetch_all(&mut db)
    .await?;
    for (name, _) in &indexes {
        db.execute(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
            .await?;
    }
    let insert = SQLITE_INSERT.replace("LOGICAL", LOGICAL);
    let started = Instant::now();
    for (low, high) in chunks(args.rows) {
        sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
            .bind(low)
            .bind(high)
            .bind(start_us)
            .bind(step_us)
            .execute(&mut db)
            .await?;
        progress(high, started);
    }
    for (name, sql) in &indexes {
        let started = Instant::now();
        db.execute(sqlx::AssertSqlSafe(sql.as_str())).await?;
        eprintln!(
            "fill: index {name} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // Back to the mode presignd runs in.
    db.execute("PRAGMA journal_mode = WAL").await?;
    Ok(())
}

async fn fill_postgres(args: &Args, start_us: i64, step_us: i64) -> Result<(), sqlx::Error> {
    let mut db = sqlx::PgConnection::connect(&args.url).await?;
    db.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
        .await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'audit_events' \
         AND indexname <> 'audit_events_pkey'",
    )
    .fetch_all(&mut db)
    .await?;
    for (name, _) in &indexes {
        db.execute(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
            .await?;
    }
    let insert = POSTGRES_INSERT.replace("LOGICAL", LOGICAL);
    let started = Instant::now();
    for (low, high) in chunks(args.rows) {
        sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
            .bind(low)
            .bind(high)
            .bind(start_us)
            .bind(step_us)
            .execute(&mut db)
            .await?;
        progress(high, started);
    }
    for (name, sql) in &indexes {
        let started = Instant::now();
        db.execute(sqlx::AssertSqlSafe(sql.as_str())).await?;
        eprintln!(
            "fill: index {name} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // What autovacuum would have done over the year: statistics and the visibility map.
    db.execute("VACUUM ANALYZE audit_events").await?;
    Ok(())
}
