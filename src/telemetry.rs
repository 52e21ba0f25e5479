//! Logs and metrics. Logging: tracing-subscriber as `log.format` and `log.level` say;
//! `RUST_LOG`, when set, overrides the level. Metrics: the `metrics` facade with a
//! Prometheus recorder, rendered at `/metrics`. Labels are bounded: routes, methods,
//! statuses, actions, reasons; never keys, subjects or addresses.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};

/// HTTP requests by route, method and status.
pub const HTTP_REQUESTS: &str = "presignd_http_requests_total";
/// Whole-request latency by route, in seconds (the presign path is route="/presign").
pub const HTTP_DURATION: &str = "presignd_http_request_duration_seconds";
/// Policy decisions by action (s3:GetObject, s3:PutObject, presign:QueryAudit) and outcome.
pub const DECISIONS: &str = "presignd_decisions_total";
/// Refused tokens by reason.
pub const AUTH_FAILURES: &str = "presignd_auth_failures_total";
/// JWKS fetches by issuer and result (ok, error).
pub const JWKS_FETCHES: &str = "presignd_jwks_fetches_total";
/// Policy reloads by result (ok, error: the running policy stayed in force).
pub const POLICY_RELOADS: &str = "presignd_policy_reloads_total";
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
/// Open client connections (public and metrics listeners).
pub const OPEN_CONNECTIONS: &str = "presignd_open_connections";
/// Connections closed on arrival, by reason (per_ip: `server.max_connections_per_ip`).
pub const CONNECTIONS_REFUSED: &str = "presignd_connections_refused_total";

/// The `method` label: the methods HTTP defines, and `other` for any invented one, so a
/// flood of made-up methods adds no series.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Keeps the log writer and trace export alive; dropping it flushes what is buffered.
/// Hold it until exit.
#[must_use]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.tracer_provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("presignd: flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, from the command being run.
pub fn init(log: &LogConfig) -> TelemetryGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    // Lines are written by a thread of their own, not by the runtime's workers between
    // requests; lossless, so a full buffer slows logging callers rather than dropping lines.
    let (writer, log_writer) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("presignd-log")
        .finish(std::io::stderr());
    let fmt = match log.format {
        // json-subscriber writes tracing-subscriber's JSON lines but keeps a span's fields
        // as values; tracing-subscriber keeps them as JSON text, parsed and written again
        // for every field recorded and every event in the span (the request span has two
        // of each per request).
        LogFormat::Json => json_subscriber::fmt::layer()
            .with_writer(writer)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);

    #[cfg(feature = "otel")]
    {
        let (otel_layer, tracer_provider) = otel::layer();
        registry.with(otel_layer).init();
        TelemetryGuard {
            tracer_provider,
            _log_writer: log_writer,
        }
    }
    #[cfg(not(feature = "otel"))]
    {
        registry.init();
        TelemetryGuard {
            _log_writer: log_writer,
        }
    }
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::TracerProvider;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::resource::{
        EnvResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector,
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::Layer;

    /// An OTLP/HTTP exporter when the standard variables name an endpoint; none otherwise,
    /// so a build with the feature still runs quietly without a collector.
    pub fn layer<S>() -> (Option<impl Layer<S>>, Option<SdkTracerProvider>)
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
        let disabled =
            std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if !configured || disabled {
            return (None, None);
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                eprintln!("presignd: OpenTelemetry export disabled: {error}");
                return (None, None);
            }
        };
        // "presignd" unless OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME say otherwise.
        let mut resource = Resource::builder_empty()
            .with_service_name("presignd")
            .with_detectors(&[
                Box::new(TelemetryResourceDetector),
                Box::new(EnvResourceDetector::new()),
            ]);
        if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
            resource = resource.with_detector(Box::new(SdkProvidedResourceDetector));
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("presignd"));
        (Some(layer), Some(provider))
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
    describe_counter!(JWKS_FETCHES, "JWKS fetches by issuer and result");
    describe_counter!(
        POLICY_RELOADS,
        "Policy reloads by result; error keeps the running policy"
    );
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
    describe_gauge!(
        OPEN_CONNECTIONS,
        metrics::Unit::Count,
        "Open client connections"
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed on arrival, by reason"
    );
}
