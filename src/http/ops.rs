//! Operational routes: liveness, readiness, the OpenAPI document, and the fallbacks that
//! keep unknown paths and methods in problem+json.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use crate::error::ApiError;

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness; 200 while the process runs.",
    responses((status = 200, description = "Alive.", body = String, content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the audit store answers, a policy is loaded and every issuer has keys, else 503.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness; 200 when the audit store answers, a policy is loaded and every issuer has keys.",
    responses(
        (status = 200, description = "Ready.", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready; the body says why.", body = String, content_type = "text/plain"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let policy_loaded = state.policy.load().statement_count() > 0;
    // A JWKS issuer whose keys have not arrived yet would refuse all its tokens.
    if !state.verifier.issuers_without_keys().is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "an issuer has no keys yet");
    }
    match state.audit_store.ping().await {
        Ok(()) if policy_loaded => (StatusCode::OK, "ready"),
        Ok(()) => (StatusCode::SERVICE_UNAVAILABLE, "no policy loaded"),
        Err(error) => {
            tracing::warn!(error = %error, "readiness: audit store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "audit store unavailable")
        }
    }
}

/// The OpenAPI document, generated once when the router is built (`super::openapi::yaml`).
#[utoipa::path(
    get,
    path = "/openapi.yaml",
    tag = "ops",
    summary = "This document.",
    responses((status = 200, description = "The OpenAPI document.", body = String, content_type = "application/yaml"))
)]
pub async fn openapi(State(spec): State<Arc<str>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        spec.to_string(),
    )
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics, in the text exposition format (version 0.0.4).",
    description = "With `server.metrics_bind` set, served on that address only; this \
listener then answers 404.",
    responses((status = 200, description = "The metrics.", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
