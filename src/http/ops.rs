//! Operational routes: liveness, readiness, the OpenAPI document, and the fallbacks that
//! keep unknown paths and methods in problem+json.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use crate::error::ApiError;

/// The OpenAPI document, served verbatim.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// 200 while the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the audit store answers, a policy is loaded and every issuer has keys, else 503.
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

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}

/// Prometheus text exposition.
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
