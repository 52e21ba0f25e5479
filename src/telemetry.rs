//! Logs and metrics. Logging: tracing-subscriber as `log.format` and `log.level` say;
//! `RUST_LOG`, when set, overrides the level. Metrics: the `metrics` facade with a
//! Prometheus recorder, rendered at `/metrics`. Labels are bounded: routes, methods,
//! statuses, actions, reasons; never keys, subjects or addresses.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// HTTP requests by route, method and status.
pub const HTTP_REQUESTS: &str = "presignd_http_requests_total";
/// Whole-request latency by route, in seconds (the presign path is route="/presign").
pub const HTTP_DURATION: &str = "presignd_http_request_duration_seconds";
/// Policy decisions by action (s3:GetObject, s3:PutObject, presign:QueryAudit) and outcome.
pub const DECISIONS: &str = "presignd_decisions_total";
/// Refused tokens by reason.
pub const AUTH_FAILURES: &str = "presignd_auth_failures_total";
/// Requests refused by a rate limit, by scope (ip, subject).
pub const RATE_LIMITED: &str = "presignd_rate_limited_total";
/// Time to commit one audit batch, in seconds.
pub const AUDIT_COMMIT: &str = "presignd_audit_commit_duration_seconds";
/// Rows per audit batch.
pub const AUDIT_BATCH_ROWS: &str = "presignd_audit_batch_rows";
/// Rows waiting for the audit writer.
pub const AUDIT_QUEUE_DEPTH: &str = "presignd_audit_queue_depth";
/// Audit batches that failed to commit.
pub const AUDIT_FAILURES: &str = "presignd_audit_batch_failures_total";

/// Installs the global subscriber. Call once, from `main`.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// The Prometheus recorder. The `metrics` facade has one recorder per process, so it is
/// installed on first use and shared by every app the process builds (tests build many).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY: &[f64] = &[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            const ROWS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 512.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(Matcher::Full(AUDIT_BATCH_ROWS.into()), ROWS)
                })
                .expect("bucket lists are non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's); then
            // this handle renders nothing, which beats failing to start.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Request latency by route"
    );
    describe_counter!(DECISIONS, "Policy decisions by action and outcome");
    describe_counter!(AUTH_FAILURES, "Refused bearer tokens by reason");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by scope");
    describe_histogram!(
        AUDIT_COMMIT,
        metrics::Unit::Seconds,
        "Time to commit one audit batch"
    );
    describe_histogram!(
        AUDIT_BATCH_ROWS,
        metrics::Unit::Count,
        "Rows per audit batch"
    );
    describe_gauge!(
        AUDIT_QUEUE_DEPTH,
        metrics::Unit::Count,
        "Rows waiting for the audit writer"
    );
    describe_counter!(AUDIT_FAILURES, "Audit batches that failed to commit");
}
