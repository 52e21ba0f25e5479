//! `GET /audit/stats`: issuances and denials counted per minute, hour or day over a
//! window, by action, for the ops console's chart. The window and the number of buckets
//! are bounded, so a stats query reads at most one window of the time index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::filters::{invalid, time};
use super::{AuditFilters, AuditQuery, InvalidFilter, Outcome};

/// Most buckets one answer holds (a day of minutes, not aligned to a minute: 1441).
pub const MAX_BUCKETS: i64 = 1500;
/// Buckets the automatic interval aims to stay under.
const AUTO_BUCKETS: i64 = 360;
/// The window when the caller names none.
const DEFAULT_WINDOW: time::Duration = time::Duration::hours(24);

/// The width of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Minute,
    Hour,
    Day,
}

impl Interval {
    const ALL: [Interval; 3] = [Interval::Minute, Interval::Hour, Interval::Day];

    /// Its length in seconds.
    pub const fn seconds(self) -> i64 {
        match self {
            Interval::Minute => 60,
            Interval::Hour => 3600,
            Interval::Day => 86_400,
        }
    }

    fn parse(text: &str) -> Option<Interval> {
        match text {
            "minute" => Some(Interval::Minute),
            "hour" => Some(Interval::Hour),
            "day" => Some(Interval::Day),
            _ => None,
        }
    }
}

/// The parameters of `GET /audit/stats`, as they arrive; all optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsFilters {
    /// The window's start (RFC 3339); default `until` minus 24 hours.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// The window's end (RFC 3339); default now.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// minute, hour or day; default the finest that gives at most 360 buckets. At most
    /// 1500 buckets in all.
    #[param(value_type = Option<Interval>)]
    pub interval: Option<String>,
    /// The token subject.
    #[param(min_length = 1)]
    pub subject: Option<String>,
    /// The token issuer.
    #[param(min_length = 1)]
    pub issuer: Option<String>,
    /// The bucket name.
    #[param(min_length = 1)]
    pub bucket: Option<String>,
    /// Keys starting with this text (case-sensitive).
    #[param(min_length = 1)]
    pub key_prefix: Option<String>,
    /// One action (s3:GetObject, …).
    #[param(min_length = 1)]
    pub action: Option<String>,
    /// issued or denied.
    #[param(value_type = Option<Outcome>)]
    pub outcome: Option<String>,
}

/// A validated stats question: the window, the bucket width and the row filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsQuery {
    /// The rows counted: `since` and `until` always set, no page or cursor.
    pub rows: AuditQuery,
    pub interval: Interval,
}

impl StatsQuery {
    pub(super) fn since(&self) -> OffsetDateTime {
        self.rows.since.unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub(super) fn until(&self) -> OffsetDateTime {
        self.rows.until.unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// One group of a store's answer: rows of `action` with `outcome` in bucket `slot`
/// (seconds since the epoch divided by the interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    pub slot: i64,
    pub action: String,
    pub outcome: Outcome,
    pub count: u64,
}

/// Issued and denied counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub issued: u64,
    pub denied: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome, count: u64) {
        match outcome {
            Outcome::Issued => self.issued += count,
            Outcome::Denied => self.denied += count,
        }
    }
}

/// One bucket of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatsBucket {
    /// The bucket's start (aligned to the interval in UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub issued: u64,
    pub denied: u64,
    /// The same counts by action; actions with no row here are left out.
    pub by_action: BTreeMap<String, Counts>,
}

/// The answer of `GET /audit/stats`: every bucket of the window, empty ones included,
/// oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditStats {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub interval: Interval,
    /// Totals over the window.
    pub total: Counts,
    /// Totals by action over the window.
    pub by_action: BTreeMap<String, Counts>,
    pub buckets: Vec<StatsBucket>,
}

impl StatsFilters {
    /// Validates the window, the interval and every filter (as `GET /audit` does).
    pub fn to_query(&self) -> Result<StatsQuery, InvalidFilter> {
        let until = time("until", &self.until)?.unwrap_or_else(OffsetDateTime::now_utc);
        let since = time("since", &self.since)?.unwrap_or(until - DEFAULT_WINDOW);
        if since >= until {
            return Err(invalid("since", "must be before until"));
        }
        let buckets = |interval: Interval| slots(since, until, interval).count() as i64;
        let interval = match self.interval.as_deref() {
            None => Interval::ALL
                .into_iter()
                .find(|&interval| buckets(interval) <= AUTO_BUCKETS)
                .unwrap_or(Interval::Day),
            Some(text) => Interval::parse(text)
                .ok_or_else(|| invalid("interval", "must be minute, hour or day"))?,
        };
        if buckets(interval) > MAX_BUCKETS {
            return Err(invalid(
                "interval",
                format!(
                    "gives more than {MAX_BUCKETS} buckets over this window: choose a coarser \
                     interval or a shorter window"
                ),
            ));
        }
        let filters = AuditFilters {
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            bucket: self.bucket.clone(),
            key_prefix: self.key_prefix.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            ..AuditFilters::default()
        };
        let rows = AuditQuery {
            since: Some(since),
            until: Some(until),
            ..filters.to_query()?
        };
        Ok(StatsQuery { rows, interval })
    }
}

/// The slots (seconds since the epoch over the interval) the window touches.
fn slots(
    since: OffsetDateTime,
    until: OffsetDateTime,
    interval: Interval,
) -> std::ops::RangeInclusive<i64> {
    let width = interval.seconds();
    let first = since.unix_timestamp().div_euclid(width);
    // `until` is excluded: a window ending on a boundary does not touch the next slot.
    let last = (until - time::Duration::nanoseconds(1))
        .unix_timestamp()
        .div_euclid(width);
    first..=last.max(first)
}

/// The store's groups as the answer: every bucket from `since` to `until`, with totals.
pub fn assemble(query: &StatsQuery, rows: Vec<StatsRow>) -> AuditStats {
    let width = query.interval.seconds();
    let range = slots(query.since(), query.until(), query.interval);
    let first = *range.start();
    let mut buckets: Vec<StatsBucket> = range
        .map(|slot| StatsBucket {
            start: OffsetDateTime::from_unix_timestamp(slot * width)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            issued: 0,
            denied: 0,
            by_action: BTreeMap::new(),
        })
        .collect();
    let mut total = Counts::default();
    let mut by_action: BTreeMap<String, Counts> = BTreeMap::new();
    for row in rows {
        let Some(bucket) = usize::try_from(row.slot - first)
            .ok()
            .and_then(|index| buckets.get_mut(index))
        else {
            continue;
        };
        match row.outcome {
            Outcome::Issued => bucket.issued += row.count,
            Outcome::Denied => bucket.denied += row.count,
        }
        bucket
            .by_action
            .entry(row.action.clone())
            .or_default()
            .add(row.outcome, row.count);
        total.add(row.outcome, row.count);
        by_action
            .entry(row.action)
            .or_default()
            .add(row.outcome, row.count);
    }
    AuditStats {
        since: query.since(),
        until: query.until(),
        interval: query.interval,
        total,
        by_action,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(since: &str, until: &str, interval: Option<&str>) -> StatsFilters {
        StatsFilters {
            since: Some(since.into()),
            until: Some(until.into()),
            interval: interval.map(str::to_owned),
            ..StatsFilters::default()
        }
    }

    #[test]
    fn the_interval_defaults_to_the_finest_that_fits() {
        let day = filters("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", None);
        assert_eq!(day.to_query().unwrap().interval, Interval::Hour);
        let hour = filters("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", None);
        assert_eq!(hour.to_query().unwrap().interval, Interval::Minute);
        let month = filters("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", None);
        assert_eq!(month.to_query().unwrap().interval, Interval::Day);
        let default = StatsFilters::default().to_query().unwrap();
        let window = default.until() - default.since();
        assert_eq!(window, DEFAULT_WINDOW);
    }

    #[test]
    fn too_many_buckets_or_a_backwards_window_is_refused_naming_the_field() {
        let week_of_minutes = filters(
            "2026-12-01T00:00:00Z",
            "2026-12-08T00:00:00Z",
            Some("minute"),
        );
        assert_eq!(week_of_minutes.to_query().unwrap_err().field, "interval");
        let bad = filters("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", Some("week"));
        assert_eq!(bad.to_query().unwrap_err().field, "interval");
        let backwards = filters("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", None);
        assert_eq!(backwards.to_query().unwrap_err().field, "since");
        let outcome = StatsFilters {
            outcome: Some("maybe".into()),
            ..StatsFilters::default()
        };
        assert_eq!(outcome.to_query().unwrap_err().field, "outcome");
    }

    #[test]
    fn every_bucket_of_the_window_is_answered_with_its_counts() {
        let query = filters("2026-12-01T10:30:00Z", "2026-12-01T13:00:00Z", Some("hour"))
            .to_query()
            .unwrap();
        let ten = OffsetDateTime::parse(
            "2026-12-01T10:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
            / 3600;
        let row = |slot: i64, action: &str, outcome: Outcome, count: u64| StatsRow {
            slot,
            action: action.into(),
            outcome,
            count,
        };
        let stats = assemble(
            &query,
            vec![
                row(ten, "s3:GetObject", Outcome::Issued, 3),
                row(ten, "s3:GetObject", Outcome::Denied, 1),
                row(ten + 2, "s3:PutObject", Outcome::Issued, 5),
            ],
        );
        // 10:00 (the window starts within it), 11:00 and 12:00.
        assert_eq!(stats.buckets.len(), 3);
        assert_eq!((stats.buckets[0].issued, stats.buckets[0].denied), (3, 1));
        assert_eq!((stats.buckets[1].issued, stats.buckets[1].denied), (0, 0));
        assert_eq!(stats.buckets[2].by_action["s3:PutObject"].issued, 5);
        assert_eq!(
            stats.total,
            Counts {
                issued: 8,
                denied: 1
            }
        );
        assert_eq!(
            stats.by_action["s3:GetObject"],
            Counts {
                issued: 3,
                denied: 1
            }
        );
    }
}
