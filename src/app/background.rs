//! The service's background tasks. Each is best-effort: a failure is logged and retried on
//! its next tick, and never affects a request.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::audit::{AuditError, AuditStore};
use crate::issuance::RateLimits;

/// Rows deleted per statement: a commit queued behind one batch waits for it, so batches
/// stay short (each row also leaves an entry in every index).
const RETENTION_BATCH: u32 = 100;
/// After each step of a long background job (a retention batch, a day of the hourly
/// roll-up) [`paced`] waits this many times as long as the step took, so the job holds the
/// store (SQLite's one writer) at most a fifth of the time. Measured on a 10 M-row SQLite
/// log: back-to-back batches of 1000 took the half-rate p99 from 15 ms to 580 ms.
const PAUSE_FACTOR: u32 = 4;

/// Best-effort retention: deletes expired rows in small, paced batches, hourly. A failure
/// is logged and retried next hour; it never affects requests.
pub(super) async fn run_retention(store: Arc<dyn AuditStore>, retention_days: u32) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(retention_days.into());
        let sweep = paced(|| async {
            let deleted = store.delete_older_than(cutoff, RETENTION_BATCH).await?;
            Ok(deleted >= u64::from(RETENTION_BATCH))
        });
        if let Err(error) = sweep.await {
            tracing::warn!(error = %error, "audit retention failed; retrying next hour");
        }
        if let Err(error) = store
            .forget_hours_before(crate::audit::hours_kept_from(cutoff))
            .await
        {
            tracing::warn!(error = %error, "audit retention of hourly counts failed; retrying next hour");
        }
    }
}

/// Best-effort: counts closed hours into the hourly table every minute, catching up a day
/// at a time with pauses as retention does (a log's first roll-up reads all of it).
pub(super) async fn roll_up_hours(store: Arc<dyn AuditStore>) {
    let mut ticks = tokio::time::interval(crate::audit::ROLL_UP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let catch_up =
            paced(|| crate::audit::roll_up_step(store.as_ref(), time::OffsetDateTime::now_utc()));
        if let Err(error) = catch_up.await {
            tracing::warn!(error = %error, "audit hourly roll-up failed; retrying");
        }
    }
}

/// Runs `step` until it reports nothing left to do, pausing [`PAUSE_FACTOR`] times as long
/// as each step took; stops at the first error.
async fn paced<F, Fut>(mut step: F) -> Result<(), AuditError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, AuditError>>,
{
    loop {
        let started = std::time::Instant::now();
        if !step().await? {
            return Ok(());
        }
        tokio::time::sleep(started.elapsed() * PAUSE_FACTOR).await;
    }
}

/// Best-effort: aborts expired open upload sessions in S3 every `every`, a batch at a
/// time; a session S3 will not abort now is retried on the next tick.
pub(super) async fn sweep_uploads(state: crate::http::AppState, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let swept =
            crate::uploads::sweep_expired(&state.presigner, state.sessions.as_ref(), &state.audit)
                .await;
        match swept {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "expired upload sessions aborted"),
            Err(error) => tracing::warn!(error = %error, "upload sweep failed; retrying"),
        }
    }
}

/// Best-effort: every minute, drops rate-limit buckets of callers gone quiet.
pub(super) async fn forget_idle_buckets(limits: Arc<RateLimits>) {
    let mut minutely = tokio::time::interval(Duration::from_secs(60));
    loop {
        minutely.tick().await;
        limits.forget_idle();
    }
}

/// Histogram samples pile up in memory until rendered: fold them into their buckets every
/// few seconds, whether or not anyone scrapes /metrics.
pub(super) async fn fold_metrics(metrics: PrometheusHandle) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        metrics.run_upkeep();
    }
}

/// The store's own background work. A failure is logged and retried at the next tick.
pub(super) async fn run_store_upkeep(store: Arc<dyn AuditStore>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = store.upkeep().await {
            tracing::warn!(error = %error, "audit store upkeep failed; retrying");
        }
    }
}
