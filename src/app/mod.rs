//! Assembly: from a validated [`Config`] to a running service. Builds the verifier, the
//! policy, the S3 clients and the audit writer once; serves; on shutdown, lets in-flight
//! requests finish and flushes the audit writer before returning.

mod background;
pub(crate) mod policy_reload;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::Region;
use tokio::task::JoinHandle;

use crate::audit::{self, AuditError, AuditStore, AuditWriter, WriterSettings};
use crate::auth::Verifier;
use crate::config::{Config, ConfigError};
use crate::http::{self, AppState, Settings};
use crate::issuance::RateLimits;
use crate::presign::{PresignError, Presigner};
use policy_reload::{PolicyLoadError, PolicyReloader};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyLoadError),
    #[error("audit store: {}{}", .0, source_text(.0))]
    Audit(#[from] AuditError),
    #[error("s3: {0}")]
    Presign(#[from] PresignError),
    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
}

fn source_text(error: &AuditError) -> String {
    std::error::Error::source(error)
        .map(|cause| format!(": {cause}"))
        .unwrap_or_default()
}

/// The S3 clients of `config.s3`, on the AWS default credential chain unless
/// `credentials` replaces it (`dev` and tests).
pub async fn build_presigner(
    config: &Config,
    credentials: Option<SharedCredentialsProvider>,
) -> Result<Presigner, StartupError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.s3.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    Ok(Presigner::new(&config.s3, &loader.load().await)?)
}

/// Opens the configured audit store and applies its migrations.
pub async fn open_audit_store(config: &Config) -> Result<Arc<dyn AuditStore>, StartupError> {
    let store = audit::open(config.audit.database_url.expose()).await?;
    store.migrate().await?;
    Ok(store)
}

/// `[uppy]` for requests, when enabled (validated with the configuration).
fn uppy_settings(
    config: &crate::config::UppyConfig,
) -> Result<Option<http::UppySettings>, ConfigError> {
    if !config.enabled {
        return Ok(None);
    }
    let bucket = config.bucket.as_deref().unwrap_or_default();
    let bucket = crate::presign::BucketName::parse(bucket)
        .map_err(|reason| ConfigError::invalid("uppy.bucket", reason))?;
    http::check_key_template(&config.key_template)
        .map_err(|reason| ConfigError::invalid("uppy.key_template", reason))?;
    Ok(Some(http::UppySettings {
        bucket,
        key_template: config.key_template.clone(),
        auth_cookie: config.auth_cookie.clone(),
    }))
}

/// How often the sweeper looks for expired upload sessions: a quarter of their lifetime,
/// within 1 s..=60 s, so a session is aborted soon after it expires.
fn sweep_interval(session_expires_in: u64) -> Duration {
    Duration::from_secs((session_expires_in / 4).clamp(1, 60))
}

/// A built service: state plus the background tasks it owns.
pub struct App {
    state: AppState,
    writer: JoinHandle<()>,
    /// Best-effort tasks (retention, rate-limit housekeeping), stopped after serving.
    background: Vec<JoinHandle<()>>,
    /// Reloads the policy on SIGHUP and file change.
    reloader: PolicyReloader,
    /// Connection limits and the shutdown grace period.
    connections: http::ConnectionLimits,
    /// `server.metrics_bind`: `/metrics` on its own listener.
    metrics_bind: Option<std::net::SocketAddr>,
}

impl App {
    /// Builds everything from `config`. `credentials` replaces the AWS default chain
    /// (only `dev` and tests pass one).
    pub async fn build(
        config: &Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<App, StartupError> {
        config.validate_for_serving()?;
        let verifier = Verifier::new(&config.auth.issuers)?;
        // JWKS arrive in the background: an IdP that is down delays only its own tokens.
        verifier.spawn_refresh();
        let policy_file = config.policy.file.as_deref().unwrap_or(Path::new(""));
        let loaded = policy_reload::load(policy_file)?;
        let policy = Arc::new(ArcSwap::from_pointee(loaded.policy));

        let presigner = build_presigner(config, credentials).await?;

        let store = open_audit_store(config).await?;
        let settings = WriterSettings {
            commit_timeout: Duration::from_millis(config.audit.commit_timeout_ms),
            ..WriterSettings::default()
        };
        let links = crate::links::open(config.audit.database_url.expose()).await?;
        let (audit, writer) = AuditWriter::spawn(store.clone(), settings);
        let retention = (config.audit.retention_days > 0).then(|| {
            tokio::spawn(background::run_retention(
                store.clone(),
                config.audit.retention_days,
            ))
        });
        let store_upkeep = store
            .upkeep_interval()
            .map(|every| tokio::spawn(background::run_store_upkeep(store.clone(), every)));

        let sessions = crate::uploads::open(config.audit.database_url.expose()).await?;
        let state = AppState {
            sessions,
            verifier: Arc::new(verifier),
            policy: policy.clone(),
            presigner: Arc::new(presigner),
            audit,
            audit_store: store,
            links,
            settings: Arc::new(Settings {
                default_expires_in: config.s3.default_expires_in,
                max_expires_in: config.s3.max_expires_in,
                max_body_bytes: config.server.max_body_bytes,
                max_batch_items: config.server.max_batch_items,
                max_batch_body_bytes: config.server.max_batch_body_bytes,
                request_timeout: Duration::from_millis(config.server.request_timeout_ms),
                max_concurrent_requests: config.server.max_concurrent_requests,
                trusted_proxies: config.server.trust_forwarded_for.clone(),
                cors_origins: config.cors.allowed_origins.clone(),
                uploads: (&config.uploads).into(),
                uppy: uppy_settings(&config.uppy)?,
                links: crate::links::LinkSettings::from_config(config),
            }),
            rate_limits: Arc::new(RateLimits::new(&config.rate_limit)),
            metrics: crate::telemetry::metrics(),
            batch_slots: Arc::new(crate::http::BatchSlots::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
        };
        // Started last, so a failure above leaves no task behind; before serving, so a
        // SIGHUP sent once /readyz answers finds its handler installed.
        let reloader = PolicyReloader::spawn(
            policy_file.to_owned(),
            policy,
            loaded.digest,
            config.policy.watch,
        )
        .map_err(|error| StartupError::Io {
            what: "installing the SIGHUP handler".into(),
            error,
        })?;
        let housekeeping = [
            tokio::spawn(background::sweep_uploads(
                state.clone(),
                sweep_interval(config.uploads.session_expires_in),
            )),
            tokio::spawn(background::forget_idle_buckets(state.rate_limits.clone())),
            tokio::spawn(background::fold_metrics(state.metrics.clone())),
            tokio::spawn(background::roll_up_hours(state.audit_store.clone())),
        ];
        Ok(App {
            state,
            writer,
            background: [retention, store_upkeep]
                .into_iter()
                .flatten()
                .chain(housekeeping)
                .collect(),
            reloader,
            connections: http::ConnectionLimits::from_config(&config.server),
            metrics_bind: config.server.metrics_bind,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listeners` (a `TcpListener` will do; `server.metrics_bind`, when set
    /// and no metrics listener is given, is bound here) until `shutdown`, then drains
    /// requests within `server.shutdown_grace_ms` and commits the audit queue.
    pub async fn run(
        self,
        listeners: impl Into<http::Listeners>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let App {
            state,
            writer,
            background,
            reloader,
            connections,
            metrics_bind,
        } = self;
        let served = http::serve_app(
            state,
            listeners.into(),
            &connections,
            metrics_bind,
            shutdown,
        )
        .await;
        reloader.stop().await;
        // Background tasks first: the upload sweeper holds a writer handle of its own.
        for task in &background {
            task.abort();
        }
        for task in background {
            let _ = task.await;
        }
        // Every other AuditWriter handle lived in the router, now dropped: the writer
        // commits what is queued and ends.
        if let Err(error) = writer.await {
            tracing::error!(error = %error, "audit writer ended abnormally");
        }
        served
    }
}
