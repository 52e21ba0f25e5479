//! `observe`: the edge of every request. It opens the request span (request id, a refused
//! caller request id, route, subject, decision outcome), enforces the request deadline,
//! renders any [`ApiError`] as problem+json with the request id, logs server faults once
//! with their source, and emits exactly one access-log event. It never logs the raw URI: a
//! query string may hold a signature. Metric labels come from fixed sets only.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::Settings;
use super::request_id::RefusedRequestId;
use crate::error::{ApiError, PendingProblem, Problem};
use crate::telemetry;

pub async fn observe(
    State(settings): State<Arc<Settings>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let refused_request_id = request
        .extensions()
        .get::<RefusedRequestId>()
        .map(|RefusedRequestId(shown)| shown.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        caller_request_id = refused_request_id.as_deref(),
        method = %method,
        route = %route,
        subject = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );

    async {
        let outcome = tokio::time::timeout(settings.request_timeout, next.run(request)).await;
        let mut response = outcome.unwrap_or_else(|_| ApiError::Timeout.into_response());
        let problem = response.extensions_mut().remove::<PendingProblem>();
        if let Some(PendingProblem(error)) = &problem {
            log_error(error);
            response = render(response, error, &request_id, route.starts_with("/s3/"));
        }
        let status = response.status().as_u16();
        let elapsed = started.elapsed().as_secs_f64();
        let latency_ms = elapsed * 1000.0;
        metrics::counter!(
            telemetry::HTTP_REQUESTS,
            "route" => route.clone(),
            "method" => telemetry::method_label(&method),
            "status" => status.to_string()
        )
        .increment(1);
        metrics::histogram!(telemetry::HTTP_DURATION, "route" => route.clone()).record(elapsed);
        match &problem {
            Some(PendingProblem(error)) => {
                tracing::info!(status, latency_ms, code = error.code().as_str(), "request")
            }
            None => tracing::info!(status, latency_ms, "request"),
        }
        response
    }
    .instrument(span)
    .await
}

/// A handler panicked (`CatchPanicLayer`): an internal error, rendered and logged by
/// [`observe`] with the request id, instead of a dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Server faults keep their whole source chain in the log; the client sees a fixed text.
fn log_error(error: &ApiError) {
    if error.is_server_fault() {
        let mut chain = String::new();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %error, cause = %chain, "request failed");
    } else if let ApiError::InvalidToken(reason) = error {
        metrics::counter!(telemetry::AUTH_FAILURES, "reason" => reason.reason()).increment(1);
        tracing::info!(reason = reason.reason(), detail = %reason, "token refused");
    }
}

/// The problem+json body for `error`; for Uppy's routes (`for_uppy`) with `message`
/// too, which `@uppy/aws-s3` 5.x shows.
fn render(response: Response, error: &ApiError, request_id: &str, for_uppy: bool) -> Response {
    let (parts, _) = response.into_parts();
    let mut problem = Problem::new(error, request_id);
    if for_uppy {
        problem.message = Some(problem.detail.clone());
    }
    let mut rendered = problem.into_response(parts.status);
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}
