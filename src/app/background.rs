//! The service's background tasks. Each is best-effort: a failure is logged and retried on
//! its next tick, and never affects a request.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::audit::AuditStore;
use crate::issuance::RateLimits;

/// Best-effort retention: deletes expired rows in small batches, hourly. A failure is
/// logged and retried next hour; it never affects requests.
pub(super) async fn run_retention(store: Arc<dyn AuditStore>, retention_days: u32) {
    const BATCH: u32 = 1000;
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(retention_days.into());
        loop {
            match store.delete_older_than(cutoff, BATCH).await {
                Ok(deleted) if deleted < u64::from(BATCH) => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(error) => {
                    tracing::warn!(error = %error, "audit retention failed; retrying next hour");
                    break;
                }
            }
        }
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
