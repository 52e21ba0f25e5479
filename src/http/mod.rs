//! HTTP: the application state, the one route table with its middleware stack, and
//! `serve_app`, which runs the listeners until shutdown (the accept loop is in `server`).

mod audit;
mod authorize;
mod batch;
mod companion;
mod console;
mod extract;
pub(crate) mod links;
mod middleware;
pub(crate) mod openapi;
mod ops;
mod presign;
mod request_id;
mod server;
mod simulate;
mod uploads;
mod uppy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post};

use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use batch::BatchSlots;
pub(crate) use extract::{AppJson, AppQuery, BatchJson};
pub use uppy::{UppySettings, check_key_template};

pub use server::{ConnectionLimits, serve};

use crate::audit::{AuditStore, AuditWriter};
use crate::auth::Verifier;
use crate::error::ApiError;
use crate::issuance::RateLimits;
use crate::links::{LinkSettings, LinkStore};
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
    /// Share links, in the audit store's database.
    pub links: Arc<dyn LinkStore>,
    /// Request-level settings from the configuration.
    pub settings: Arc<Settings>,
    /// Token buckets per client address and per caller.
    pub rate_limits: Arc<RateLimits>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Multipart upload sessions, in the audit log's database.
    pub sessions: Arc<dyn crate::uploads::SessionStore>,
    /// Batches signing at once and waiting for their rows' commit.
    pub batch_slots: Arc<BatchSlots>,
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
    /// Multipart upload sessions.
    pub uploads: UploadSettings,
    /// `[uppy]` when enabled; the `/s3/*` routes answer 404 otherwise.
    pub uppy: Option<UppySettings>,
    /// `[links]`.
    pub links: LinkSettings,
}

/// `[uploads]`, as requests use it.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// How long a session stays open.
    pub session_expires_in: Duration,
    /// Lifetime of a part URL, in seconds.
    pub part_expires_in: u32,
    /// Largest object a session may declare or complete, in bytes.
    pub max_object_bytes: u64,
}

impl From<&crate::config::UploadsConfig> for UploadSettings {
    fn from(config: &crate::config::UploadsConfig) -> Self {
        Self {
            session_expires_in: Duration::from_secs(config.session_expires_in),
            part_expires_in: config.part_expires_in,
            max_object_bytes: config.max_object_bytes,
        }
    }
}

/// The route table and the whole middleware stack, `/metrics` included.
pub fn router(state: AppState) -> Router {
    api_router(state, true)
}

/// The public routes; `/metrics` only when `with_metrics` (else it is a 404 here and
/// [`metrics_router`] serves it on its own listener).
fn api_router(state: AppState, with_metrics: bool) -> Router {
    let settings = state.settings.clone();
    let mut routes = Router::new()
        .route("/presign", post(presign::presign))
        .route(
            "/presign/batch",
            post(batch::presign_batch).layer(DefaultBodyLimit::max(settings.max_batch_body_bytes)),
        )
        .route(
            "/uploads",
            post(uploads::create_upload).get(uploads::list_uploads),
        )
        .route(
            "/uploads/{id}",
            get(uploads::get_upload).delete(uploads::abort_upload),
        )
        .route("/uploads/{id}/parts", post(uploads::sign_parts))
        .route("/uploads/{id}/complete", post(uploads::complete_upload))
        .route("/s3/sign", post(uppy::sign))
        .route("/s3/params", get(companion::params))
        .route("/s3/multipart", post(companion::create))
        .route(
            "/s3/multipart/{upload_id}",
            get(companion::list_parts).delete(companion::abort),
        )
        .route(
            "/s3/multipart/{upload_id}/{part_number}",
            get(companion::sign_part),
        )
        .route(
            "/s3/multipart/{upload_id}/complete",
            post(companion::complete),
        )
        .route("/audit", get(audit::query_audit))
        .route("/audit/stats", get(audit::audit_stats))
        .route("/policy/simulate", post(simulate::simulate_policy))
        .route("/links", post(links::create_link).get(links::list_links))
        .route("/links/revoke", post(links::revoke_links))
        .route(
            "/links/{id}",
            get(links::get_link).delete(links::revoke_link),
        )
        // HEAD is refused: axum would run the GET handler for it, and a link previewer's
        // HEAD would spend a one-time link's use.
        .route(
            "/l/{token}",
            get(links::redeem)
                .head(ops::method_not_allowed)
                .layer(axum::middleware::map_response(links::private_answer)),
        )
        .merge(console::routes())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route(
            "/openapi.yaml",
            get(ops::openapi).with_state(openapi::yaml()),
        );
    if with_metrics {
        routes = routes.route("/metrics", get(ops::metrics));
    }
    edge(routes.with_state(state), settings)
}

/// `/metrics` alone, for `server.metrics_bind`.
fn metrics_router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let routes = Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state);
    edge(routes, settings)
}

/// The middleware stack every listener's routes get, with the problem+json fallbacks.
fn edge(routes: Router, settings: Arc<Settings>) -> Router {
    let routes = routes
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));

    // Layers listed outermost first (ServiceBuilder order): a caller's unusable request id
    // is dropped, then the request id exists before anything logs; `observe` wraps
    // everything after it, so every response, CORS preflights and caught panics included,
    // is timed, logged once and, if an error, rendered as problem+json. A panic below
    // `observe` becomes a 500 instead of a dropped connection. The concurrency limit sits
    // inside `observe`'s deadline, so waiting for a slot never outlasts the request timeout.
    let stack = tower::ServiceBuilder::new()
        .map_request(request_id::screen)
        .layer(SetRequestIdLayer::new(
            request_id::X_REQUEST_ID,
            MakeRequestUuid,
        ))
        .layer(PropagateRequestIdLayer::new(request_id::X_REQUEST_ID))
        .layer(axum::middleware::from_fn_with_state(
            settings.clone(),
            middleware::observe,
        ))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
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
    let origins: Vec<String> = origins.to_vec();
    let allowed = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        origin.to_str().is_ok_and(|origin| {
            origins
                .iter()
                .any(|allowed| origin_matches(allowed, origin))
        })
    });
    Some(
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::POST, Method::GET, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([request_id::X_REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// Whether `origin` is `allowed`, where `http://localhost:*` (and `http://127.0.0.1:*`)
/// stands for any port (config validation keeps `:*` to those).
fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.strip_suffix(":*") {
        Some(host) => origin
            .strip_prefix(host)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())),
        None => allowed == origin,
    }
}

/// Where the app listens: the public API, and `/metrics` on its own when set.
#[derive(Debug)]
pub struct Listeners {
    pub public: TcpListener,
    /// Serves `/metrics` only; the public listener then answers 404 for it.
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    /// The public listener alone: `/metrics` is on it, unless `server.metrics_bind` is set
    /// (then [`serve_app`] binds that address itself).
    fn from(public: TcpListener) -> Self {
        Self {
            public,
            metrics: None,
        }
    }
}

/// Serves the app on `listeners` until `shutdown` completes, each listener within
/// `limits` (see [`serve`]). With no metrics listener given and `metrics_bind` set, binds
/// `metrics_bind`.
pub async fn serve_app(
    state: AppState,
    listeners: Listeners,
    limits: &ConnectionLimits,
    metrics_bind: Option<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = match (listeners.metrics, metrics_bind) {
        (Some(listener), _) => Some(listener),
        (None, Some(address)) => Some(TcpListener::bind(address).await.map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("server.metrics_bind {address}: {error}"),
            )
        })?),
        (None, None) => None,
    };
    let Some(metrics) = metrics else {
        return serve(listeners.public, router(state), limits, shutdown).await;
    };
    if let Ok(address) = metrics.local_addr() {
        tracing::info!(%address, "presignd metrics listening");
    }
    // One shutdown signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
        let _ = stopped.changed().await;
    };
    let public = serve(
        listeners.public,
        api_router(state.clone(), false),
        limits,
        until_stopped(stopped.clone()),
    );
    let metrics = serve(
        metrics,
        metrics_router(state),
        limits,
        until_stopped(stopped),
    );
    let signal = async move {
        shutdown.await;
        let _ = stop.send(());
    };
    let ((), public, metrics) = tokio::join!(signal, public, metrics);
    public.and(metrics)
}

/// A filter the caller sent that cannot be used: a 400 naming it.
impl From<crate::audit::InvalidFilter> for ApiError {
    fn from(error: crate::audit::InvalidFilter) -> Self {
        ApiError::InvalidRequest(error.to_string())
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(error: crate::audit::AuditError) -> Self {
        ApiError::AuditUnavailable(error)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn settings() -> Arc<Settings> {
        Arc::new(Settings {
            default_expires_in: 900,
            max_expires_in: 3600,
            max_body_bytes: 1024,
            max_batch_items: 10,
            max_batch_body_bytes: 4096,
            request_timeout: Duration::from_secs(5),
            max_concurrent_requests: 4,
            trusted_proxies: vec![],
            cors_origins: vec![],
            uploads: UploadSettings {
                session_expires_in: Duration::from_secs(3600),
                part_expires_in: 900,
                max_object_bytes: 1 << 40,
            },
            uppy: None,
            links: LinkSettings {
                base_url: "http://127.0.0.1".into(),
                max_expires_in: 3600,
                redirect_expires_in: 60,
            },
        })
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_the_request_id() {
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                panic!("the handler broke");
                #[allow(unreachable_code)]
                ""
            }),
        );
        let response = edge(routes, settings())
            .oneshot(
                Request::get("/boom")
                    .header("x-request-id", "panic-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "panic-1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "internal");
        assert_eq!(problem["request_id"], "panic-1");
        // The panic text is for the log, not the client.
        assert_eq!(problem["detail"], "internal error");
    }
}
