//! Hourly counts: issuances and denials per hour, action and outcome, in a table of their
//! own (`audit_hourly`, migration `20261207120000`), so that `GET /audit/stats` over weeks
//! or a year sums tens of thousands of counts instead of counting millions of rows.
//!
//! The counts are rolled up from the rows by a background task once an hour has closed
//! (and [`GRACE`] has passed), never by the writer: a commit does no more work for them,
//! and replicas writing the same hour do not contend for one counter row.
//! `audit_rollup.through_hour` is the first hour not yet counted. A stats query reads the
//! counts for the whole counted hours of its window and the rows for the rest (the
//! window's partial first and last hours, the hours not yet counted); a minute interval or
//! a filter on the subject, issuer, bucket or key reads only the rows.
//!
//! A row written into an hour already counted (a clock more than [`GRACE`] behind, an
//! import of old rows into a live log) is not in the counts; deleting the `audit_rollup`
//! row has every hour counted again from the oldest row.

use std::ops::Range;
use std::time::Duration;

use sqlx::QueryBuilder;
use time::OffsetDateTime;

use super::stats::Interval;
use super::{AuditError, AuditQuery, AuditStats, AuditStore, StatsQuery, StatsRow};

const HOUR: i64 = 3600;
/// How long after an hour has ended its rows are counted: longer than a row can wait in
/// the writer's queue, so that every row of the hour has committed.
pub const GRACE: time::Duration = time::Duration::minutes(5);
/// Hours counted per step: one day's rows, read in one query.
const HOURS_PER_STEP: i64 = 24;
/// How often the background task looks for newly closed hours.
pub const ROLL_UP_INTERVAL: Duration = Duration::from_secs(60);

/// The hour (since the epoch) that `time` falls in.
fn hour_of(time: OffsetDateTime) -> i64 {
    time.unix_timestamp().div_euclid(HOUR)
}

fn start_of(hour: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(hour * HOUR).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// How one stats query is answered: which whole hours from the counts, which time ranges
/// from the rows.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    hours: Option<Range<i64>>,
    rows: Vec<Range<OffsetDateTime>>,
}

fn plan(query: &StatsQuery, counted_through: Option<i64>) -> Plan {
    let window = query.since()..query.until();
    let rows_only = Plan {
        hours: None,
        rows: vec![window.clone()],
    };
    let Some(counted_through) = counted_through else {
        return rows_only;
    };
    if query.interval == Interval::Minute || !counts_answer(&query.rows) {
        return rows_only;
    }
    let first = match hour_of(window.start) {
        hour if start_of(hour) < window.start => hour + 1,
        hour => hour,
    };
    let end = hour_of(window.end).min(counted_through);
    if first >= end {
        return rows_only;
    }
    let rows = [window.start..start_of(first), start_of(end)..window.end]
        .into_iter()
        .filter(|range| range.start < range.end)
        .collect();
    Plan {
        hours: Some(first..end),
        rows,
    }
}

/// Whether the counts can answer `rows`' filters: they keep only the action and outcome.
fn counts_answer(rows: &AuditQuery) -> bool {
    // Named one by one, so that a new filter has to be placed on one side or the other.
    let AuditQuery {
        since: _,
        until: _,
        action: _,
        outcome: _,
        limit: _,
        cursor: _,
        subject,
        issuer,
        bucket,
        key_prefix,
        signature_sha256,
        id,
        link_id,
        upload_id,
    } = rows;
    subject.is_none()
        && issuer.is_none()
        && bucket.is_none()
        && key_prefix.is_none()
        && signature_sha256.is_none()
        && id.is_none()
        && link_id.is_none()
        && upload_id.is_none()
}

/// The answer of `GET /audit/stats`, from the counts where they serve and the rows elsewhere.
pub async fn read_stats(
    store: &dyn AuditStore,
    query: &StatsQuery,
) -> Result<AuditStats, AuditError> {
    let plan = plan(query, store.counted_through().await?);
    let mut groups = match &plan.hours {
        Some(hours) => store.hourly_stats(query, hours.clone()).await?,
        None => Vec::new(),
    };
    for range in plan.rows {
        let part = StatsQuery {
            rows: AuditQuery {
                since: Some(range.start),
                until: Some(range.end),
                ..query.rows.clone()
            },
            interval: query.interval,
        };
        groups.extend(store.stats(&part).await?);
    }
    Ok(super::stats::assemble(query, groups))
}

/// Counts the next closed hours (at most a day of them) into the hourly table; returns
/// whether it counted any, so a caller catching up knows to go on.
pub async fn roll_up_step(store: &dyn AuditStore, now: OffsetDateTime) -> Result<bool, AuditError> {
    let first = match store.counted_through().await? {
        Some(hour) => hour,
        None => match store.oldest_time().await? {
            Some(time) => hour_of(time),
            None => return Ok(false),
        },
    };
    let closed = hour_of(now - GRACE);
    let end = closed.min(first + HOURS_PER_STEP);
    if first >= end {
        return Ok(false);
    }
    let rows = StatsQuery {
        rows: AuditQuery {
            since: Some(start_of(first)),
            until: Some(start_of(end)),
            ..AuditQuery::default()
        },
        interval: Interval::Hour,
    };
    let counts = store.stats(&rows).await?;
    store.save_hourly(first..end, &counts).await?;
    Ok(true)
}

/// Counts every closed hour not yet counted (the fill tool, after a fill).
pub async fn roll_up_all(store: &dyn AuditStore) -> Result<(), AuditError> {
    while roll_up_step(store, OffsetDateTime::now_utc()).await? {}
    Ok(())
}

/// The hour of the oldest counts to keep when retention deletes rows before `cutoff`: the
/// counts of hours wholly before it go with their rows.
pub fn hours_kept_from(cutoff: OffsetDateTime) -> i64 {
    hour_of(cutoff)
}

// The statements both stores run, with each store's placeholders.

/// [`AuditStore::counted_through`] on `pool`.
pub(super) async fn counted_through<DB>(pool: &sqlx::Pool<DB>) -> Result<Option<i64>, AuditError>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
{
    let through = sqlx::query_scalar("SELECT through_hour FROM audit_rollup")
        .fetch_optional(pool)
        .await?;
    Ok(through)
}

/// [`AuditStore::forget_hours_before`] on `pool`.
pub(super) async fn forget_before<DB>(pool: &sqlx::Pool<DB>, hour: i64) -> Result<(), AuditError>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut delete = QueryBuilder::new("DELETE FROM audit_hourly WHERE hour < ");
    delete.push_bind(hour).build().execute(pool).await?;
    Ok(())
}

/// [`AuditStore::save_hourly`] on `pool`.
pub(super) async fn save<DB>(
    pool: &sqlx::Pool<DB>,
    hours: Range<i64>,
    counts: &[StatsRow],
) -> Result<(), AuditError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut transaction = pool.begin().await?;
    delete_hourly(hours.clone())
        .build()
        .execute(&mut *transaction)
        .await?;
    for chunk in counts.chunks(COUNTS_PER_STATEMENT) {
        insert_hourly(chunk)
            .build()
            .execute(&mut *transaction)
            .await?;
    }
    mark_counted(hours.end)
        .build()
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// [`AuditStore::hourly_stats`] on `pool`.
pub(super) async fn select<DB>(
    pool: &sqlx::Pool<DB>,
    query: &StatsQuery,
    hours: Range<i64>,
) -> Result<Vec<StatsRow>, AuditError>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
    i64: for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    uuid::Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let rows = select_hourly(query, hours).build().fetch_all(pool).await?;
    rows.iter().map(super::decode_stats_row).collect()
}

/// `audit_hourly`'s counts of `hours` matching the query's action and outcome, grouped
/// as the query's slots: `slot`, `action`, `outcome`, `n`.
fn select_hourly<DB>(query: &StatsQuery, hours: Range<i64>) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    uuid::Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut select = QueryBuilder::new("SELECT hour * 3600 / ");
    select
        .push_bind(query.interval.seconds())
        .push(" AS slot, action, outcome, CAST(sum(n) AS BIGINT) AS n FROM audit_hourly")
        .push(" WHERE hour >= ")
        .push_bind(hours.start)
        .push(" AND hour < ")
        .push_bind(hours.end);
    // Only the action and outcome reach here (see `counts_answer`).
    let filters = AuditQuery {
        action: query.rows.action.clone(),
        outcome: query.rows.outcome,
        ..AuditQuery::default()
    };
    super::push_exact_filters(&mut select, &filters);
    select.push(" GROUP BY slot, action, outcome");
    select
}

/// Deletes the counts of `hours`, before they are counted again.
fn delete_hourly<DB>(hours: Range<i64>) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut delete = QueryBuilder::new("DELETE FROM audit_hourly WHERE hour >= ");
    delete
        .push_bind(hours.start)
        .push(" AND hour < ")
        .push_bind(hours.end);
    delete
}

/// Writes counts (slots of an hourly stats query); a replica counting the same hours at
/// the same moment writes the same numbers.
fn insert_hourly<DB>(counts: &[StatsRow]) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut insert = QueryBuilder::new("INSERT INTO audit_hourly (hour, action, outcome, n) ");
    insert.push_values(counts, |mut row, count| {
        row.push_bind(count.slot)
            .push_bind(count.action.clone())
            .push_bind(count.outcome.as_str())
            .push_bind(i64::try_from(count.count).unwrap_or(i64::MAX));
    });
    insert.push(" ON CONFLICT (hour, action, outcome) DO UPDATE SET n = excluded.n");
    insert
}

/// Marks every hour before `through` counted; never moves the mark back.
fn mark_counted<DB>(through: i64) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut mark = QueryBuilder::new("INSERT INTO audit_rollup (id, through_hour) VALUES (1, ");
    mark.push_bind(through).push(
        ") ON CONFLICT (id) DO UPDATE SET through_hour = CASE \
         WHEN excluded.through_hour > audit_rollup.through_hour THEN excluded.through_hour \
         ELSE audit_rollup.through_hour END",
    );
    mark
}

/// Counts per statement: four parameters each, far under either store's limit.
const COUNTS_PER_STATEMENT: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::StatsFilters;

    fn filters(since: &str, until: &str, interval: &str) -> StatsFilters {
        StatsFilters {
            since: Some(since.into()),
            until: Some(until.into()),
            interval: Some(interval.into()),
            ..StatsFilters::default()
        }
    }

    fn query(since: &str, until: &str, interval: &str) -> StatsQuery {
        filters(since, until, interval).to_query().unwrap()
    }

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn whole_counted_hours_come_from_the_counts_and_the_edges_from_the_rows() {
        let week = query("2026-12-01T10:30:00Z", "2026-12-08T09:15:00Z", "hour");
        let through = hour_of(at("2026-12-08T00:00:00Z"));
        let plan = plan(&week, Some(through));
        assert_eq!(
            plan.hours,
            Some(hour_of(at("2026-12-01T11:00:00Z"))..through)
        );
        assert_eq!(
            plan.rows,
            vec![
                at("2026-12-01T10:30:00Z")..at("2026-12-01T11:00:00Z"),
                at("2026-12-08T00:00:00Z")..at("2026-12-08T09:15:00Z"),
            ]
        );
    }

    #[test]
    fn an_aligned_window_inside_the_counted_hours_reads_no_rows() {
        let days = query("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "day");
        let plan = plan(&days, Some(hour_of(at("2026-12-07T00:00:00Z"))));
        assert_eq!(
            plan.hours,
            Some(hour_of(at("2026-11-01T00:00:00Z"))..hour_of(at("2026-12-01T00:00:00Z")))
        );
        assert!(plan.rows.is_empty(), "{:?}", plan.rows);
    }

    #[test]
    fn minutes_filters_the_counts_lack_and_uncounted_windows_read_the_rows() {
        let through = Some(hour_of(at("2026-12-07T00:00:00Z")));
        let window = at("2026-12-01T00:00:00Z")..at("2026-12-02T00:00:00Z");
        let rows_only = |query: &StatsQuery, through| {
            let plan = plan(query, through);
            plan.hours.is_none() && plan.rows == vec![window.clone()]
        };
        let minutes = query("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "minute");
        assert!(rows_only(&minutes, through));
        let day_by_hour = || filters("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "hour");
        let by_subject = StatsFilters {
            subject: Some("alice".into()),
            ..day_by_hour()
        }
        .to_query()
        .unwrap();
        assert!(rows_only(&by_subject, through));
        let hours = day_by_hour().to_query().unwrap();
        assert!(rows_only(&hours, None));
        assert!(rows_only(&hours, Some(hour_of(window.start))));
        // An action or outcome filter is kept in the counts.
        let by_action = StatsFilters {
            action: Some("s3:GetObject".into()),
            outcome: Some("denied".into()),
            ..day_by_hour()
        }
        .to_query()
        .unwrap();
        assert!(plan(&by_action, through).hours.is_some());
    }
}
