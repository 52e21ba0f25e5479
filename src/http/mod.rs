//! HTTP: the application state, the one route table with its middleware stack, and
//! `serve`, which runs until shutdown and then flushes the audit writer.

mod audit;
mod authorize;
mod batch;
mod extract;
mod middleware;
pub(crate) mod openapi;
mod ops;
mod presign;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, post};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use extract::{AppJson, BatchJson};
pub use presign::{PresignBody, PresignResponse};

use crate::audit::{AuditStore, AuditWriter};
use crate::auth::Verifier;
use crate::error::ApiError;
use crate::issuance::RateLimits;
use crate::policy::Policy;
use crate::presign::Presigner;

/// Shared by every request: cheap handles only.
#[derive(Clone)]
pub struct AppState {
    /// Verifies bearer tokens against the configured issuers.
    pub verifier: Arc<Verifier>,
    /// The policy in force; replaced whole, never edited, on reload.
    pub policy: Arc<ArcSwap<Policy>>,
    /// Signs URLs with one prebuilt S3 client per (region, endpoint, path style).
    pub presigner: Arc<Presigner>,
    /// Group-commit writer: every URL waits for its row here.
    pub audit: AuditWriter,
    /// The audit store itself, for reads and health checks.
    pub audit_store: Arc<dyn AuditStore>,
    /// Request-level settings from the configuration.
    pub settings: Arc<Settings>,
    /// Token buckets per client address and per caller.
    pub rate_limits: Arc<RateLimits>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Batches handled at once (one per core): a batch is CPU-bound signing, so more at
    /// once only holds more bodies and URLs in memory. Others wait before their body is
    /// read.
    pub batch_slots: Arc<tokio::sync::Semaphore>,
}

/// The parts of the configuration that requests consult.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime when the request names none, in seconds.
    pub default_expires_in: u32,
    /// Largest lifetime a request may ask for, in seconds.
    pub max_expires_in: u32,
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Most items in one `POST /presign/batch`.
    pub max_batch_items: usize,
    /// Largest `POST /presign/batch` body, in bytes.
    pub max_batch_body_bytes: usize,
    /// Whole-request deadline.
    pub request_timeout: Duration,
    /// Requests handled at once.
    pub max_concurrent_requests: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed by CORS; empty disables CORS.
    pub cors_origins: Vec<String>,
}

/// The route table and the whole middleware stack.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let routes = Router::new()
        .route("/presign", post(presign::presign))
        .route(
            "/presign/batch",
            post(batch::presign_batch).layer(DefaultBodyLimit::max(settings.max_batch_body_bytes)),
        )
        .route("/audit", get(audit::query_audit))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route(
            "/openapi.yaml",
            get(ops::openapi).with_state(openapi::yaml()),
        )
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state);

    // Layers listed outermost first (ServiceBuilder order): the request id exists before
    // anything logs; `observe` wraps everything after it, so every response, CORS
    // preflights included, is timed, logged once and, if an error, rendered as
    // problem+json. The concurrency limit sits inside `observe`'s deadline, so waiting
    // for a slot never outlasts the request timeout.
    let x_request_id = HeaderName::from_static("x-request-id");
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn_with_state(
            settings.clone(),
            middleware::observe,
        ))
        .layer(GlobalConcurrencyLimitLayer::new(
            settings.max_concurrent_requests,
        ))
        .option_layer(cors_layer(&settings.cors_origins));
    routes.layer(stack)
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST, Method::GET])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(error: crate::audit::AuditError) -> Self {
        ApiError::AuditUnavailable(error)
    }
}
