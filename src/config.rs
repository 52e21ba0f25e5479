//! The one typed configuration tree: embedded defaults ← `--config` file ← `PRESIGND_*`
//! environment, then [`Config::validate`]. Loading reads files and the environment and
//! nothing else: no side effects.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ipnet::IpNet;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

/// The embedded, documented defaults; every key presignd reads appears there.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// S3's own ceiling on a presigned URL's lifetime (SigV4: 7 days), in seconds.
pub const S3_MAX_EXPIRES_IN: u32 = 604_800;
/// S3's largest object, in bytes (5 TiB).
pub const S3_MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Longest an upload session may stay open, in seconds (30 days): parts already uploaded
/// cost storage until the session ends.
const MAX_SESSION_SECONDS: u64 = 30 * 24 * 3600;

/// A configuration error, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    pub s3: S3Config,
    pub audit: AuditConfig,
    pub uploads: UploadsConfig,
    pub uppy: UppyConfig,
    pub links: LinksConfig,
    pub cors: CorsConfig,
    pub rate_limit: RateLimitConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Whole-request deadline, in milliseconds.
    pub request_timeout_ms: u64,
    /// Requests handled at once; more wait for a slot within the deadline.
    pub max_concurrent_requests: usize,
    /// Proxies whose `X-Forwarded-For` is believed. Their connections are not counted
    /// against `max_connections_per_ip`: one proxy carries many clients.
    pub trust_forwarded_for: Vec<IpNet>,
    /// Most items in one `POST /presign/batch`.
    pub max_batch_items: usize,
    /// Largest `POST /presign/batch` body, in bytes.
    pub max_batch_body_bytes: usize,
    /// Longest wait for a request's headers, in milliseconds, counted from the moment the
    /// connection is ready for its next request, so it also closes idle keep-alive
    /// connections and clients that never send a request (slowloris).
    pub header_read_timeout_ms: u64,
    /// Open connections at once. At the cap presignd stops accepting: new connections
    /// wait in the kernel's backlog until one closes (at most `header_read_timeout_ms`
    /// for an idle or slow one).
    pub max_connections: usize,
    /// Open connections per client address (IPv4 address, IPv6 /64); one more is closed
    /// at once. Peers in `trust_forwarded_for` are exempt.
    pub max_connections_per_ip: usize,
    /// After SIGTERM, how long in-flight requests may take before the remaining
    /// connections are cut, in milliseconds. Idle connections close at once.
    pub shutdown_grace_ms: u64,
    /// Serve `/metrics` on this address only (the public listener then answers 404 for
    /// it); unset: `/metrics` is on `bind`.
    pub metrics_bind: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuers: Vec<IssuerConfig>,
}

/// One trusted token issuer (DESIGN §3). Exactly one key source is set: `secret`,
/// `secret_file`, `public_key_pem`, `jwks_url` or `discovery = true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Must equal the token's `iss`, byte for byte.
    pub issuer: String,
    /// The token's `aud` must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed `alg` values; empty means HS256 for a secret, RS256 otherwise. Never taken
    /// from the token.
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    /// HMAC secret (HS256/384/512), at least as many bytes as the hash output.
    pub secret: Option<Secret>,
    /// File holding the HMAC secret; surrounding whitespace is trimmed.
    pub secret_file: Option<PathBuf>,
    /// PEM public key file (RS*, PS*, ES*, EdDSA).
    pub public_key_pem: Option<PathBuf>,
    /// JWKS document URL; https, or http on a loopback host only.
    pub jwks_url: Option<String>,
    /// Find the JWKS through `{issuer}/.well-known/openid-configuration` (OIDC discovery).
    #[serde(default)]
    pub discovery: bool,
    /// JWKS sources: seconds between scheduled refreshes (default 300).
    pub jwks_refresh_seconds: Option<u64>,
    /// JWKS sources: least seconds between two refreshes caused by an unknown `kid`
    /// (default 30), so a flood of random kids cannot hammer the IdP.
    pub jwks_min_refresh_seconds: Option<u64>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (at most 600).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// When set, a token whose `exp - iat` exceeds this many seconds, or that has no
    /// `iat`, is refused: an IdP's short-lived tokens cannot be swapped for long-lived ones.
    pub max_token_lifetime_seconds: Option<u64>,
}

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'a> {
    Secret(&'a Secret),
    SecretFile(&'a Path),
    PublicKeyPem(&'a Path),
    JwksUrl(&'a str),
    Discovery,
}

/// Largest `leeway_seconds`: more would make `exp` meaningless.
pub const MAX_LEEWAY_SECONDS: u64 = 600;
/// Default of `jwks_refresh_seconds`.
pub const DEFAULT_JWKS_REFRESH_SECONDS: u64 = 300;
/// Default of `jwks_min_refresh_seconds`.
pub const DEFAULT_JWKS_MIN_REFRESH_SECONDS: u64 = 30;

fn default_leeway() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The IAM-style policy JSON file.
    pub file: Option<PathBuf>,
    /// Reload when the file changes; SIGHUP reloads either way.
    #[serde(default = "default_watch")]
    pub watch: bool,
}

fn default_watch() -> bool {
    true
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            file: None,
            watch: default_watch(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Signing region; `None` defers to the AWS default chain.
    pub region: Option<String>,
    /// S3-compatible endpoint; `None` means AWS.
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    /// Lifetime when the request names none, in seconds.
    pub default_expires_in: u32,
    /// Largest lifetime a request may ask for, in seconds (≤ 604800).
    pub max_expires_in: u32,
    /// Per-bucket overrides, by bucket name.
    pub buckets: BTreeMap<String, BucketConfig>,
}

/// Per-bucket overrides of the `[s3]` defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub force_path_style: Option<bool>,
}

/// Multipart upload sessions (`/uploads`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsConfig {
    /// Seconds a session stays open; the sweeper aborts it in S3 afterwards.
    pub session_expires_in: u64,
    /// Lifetime of a part URL, in seconds.
    pub part_expires_in: u32,
    /// Largest object a session may declare or complete, in bytes (S3: 5 TiB).
    pub max_object_bytes: u64,
}

/// Browser uploads with Uppy (`/s3/*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UppyConfig {
    /// Serve `/s3/sign` and the Companion-compatible routes.
    pub enabled: bool,
    /// The bucket uploads go to when a request names none.
    pub bucket: Option<String>,
    /// The object key made from the client's proposed one: `${key}`, `${jwt:CLAIM}`,
    /// `${uuid}`.
    pub key_template: String,
    /// Cookie that may carry the bearer token on `/s3/*` (Uppy 6 Companion mode sends no
    /// headers); same-origin deployments only.
    pub auth_cookie: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: Secret,
    /// Retention in days; 0 keeps rows forever.
    pub retention_days: u32,
    /// How long a request waits for its row to commit, in milliseconds.
    pub commit_timeout_ms: u64,
}

/// Share links (`/links`, `/l/{token}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    /// Where visitors reach presignd: a link's URL is `{public_base_url}/l/{token}`.
    /// Unset: `http://{server.bind}`, right only for local use.
    pub public_base_url: Option<String>,
    /// Longest lifetime a link may be given, in seconds (default 30 days).
    pub max_expires_in: u64,
    /// Lifetime of the presigned GET a redemption redirects to, in seconds.
    pub redirect_expires_in: u32,
}

/// Longest `links.max_expires_in`, in seconds (10 years): a longer-lived bearer link is a
/// credential nobody will remember to revoke.
pub const MAX_LINK_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

impl LinksConfig {
    /// The base of a link's URL, without a trailing `/`.
    pub fn base_url(&self, bind: SocketAddr) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bind}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins allowed to call the API from a browser.
    pub allowed_origins: Vec<String>,
}

/// Token buckets; a rate of 0 disables that limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per authenticated caller.
    pub per_subject_per_second: u32,
    /// Burst per authenticated caller.
    pub burst: u32,
    /// Sustained requests per second per client address, before authentication.
    pub per_ip_per_second: u32,
    /// Burst per client address.
    pub per_ip_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing-subscriber filter directive.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A string that never prints: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Config {
    /// Loads defaults ← `file` ← `PRESIGND_*` environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::invalid(
                    "--config",
                    format!("{} is not a readable file", file.display()),
                ));
            }
            figment = figment.merge(Toml::file(file));
        }
        // PRESIGND_CONFIG names the file itself; it is not a key of the tree. Keys keep
        // the environment's case (`CONFIG`), so compare without it.
        let env = Env::prefixed("PRESIGND_")
            .split("__")
            .filter(|key| !key.as_str().eq_ignore_ascii_case("config"));
        Self::from_figment(figment.merge(env))
    }

    /// Extracts and validates a config from any figment (tests and `dev` build their own).
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("server.max_body_bytes", self.server.max_body_bytes),
            ("server.max_batch_items", self.server.max_batch_items),
            (
                "server.max_batch_body_bytes",
                self.server.max_batch_body_bytes,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be > 0"));
            }
        }
        if self.server.max_concurrent_requests == 0 {
            return Err(ConfigError::invalid(
                "server.max_concurrent_requests",
                "must be > 0",
            ));
        }
        let limits = &self.rate_limit;
        if limits.per_subject_per_second > 0 && limits.burst == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.burst",
                "must be > 0 when per_subject_per_second is set",
            ));
        }
        if limits.per_ip_per_second > 0 && limits.per_ip_burst == 0 {
            return Err(ConfigError::invalid(
                "rate_limit.per_ip_burst",
                "must be > 0 when per_ip_per_second is set",
            ));
        }
        let server = &self.server;
        for (key, value) in [
            ("server.request_timeout_ms", server.request_timeout_ms),
            (
                "server.header_read_timeout_ms",
                server.header_read_timeout_ms,
            ),
            ("server.shutdown_grace_ms", server.shutdown_grace_ms),
            ("server.max_connections", server.max_connections as u64),
            (
                "server.max_connections_per_ip",
                server.max_connections_per_ip as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be > 0"));
            }
        }
        if server
            .metrics_bind
            .is_some_and(|m| m == server.bind && m.port() != 0)
        {
            return Err(ConfigError::invalid(
                "server.metrics_bind",
                "must differ from server.bind",
            ));
        }
        let s3 = &self.s3;
        if s3.max_expires_in == 0 || s3.max_expires_in > S3_MAX_EXPIRES_IN {
            return Err(ConfigError::invalid(
                "s3.max_expires_in",
                format!("must be in 1..={S3_MAX_EXPIRES_IN}"),
            ));
        }
        if s3.default_expires_in == 0 || s3.default_expires_in > s3.max_expires_in {
            return Err(ConfigError::invalid(
                "s3.default_expires_in",
                "must be in 1..=s3.max_expires_in",
            ));
        }
        if let Some(url) = &s3.endpoint_url {
            check_endpoint_url("s3.endpoint_url", url)?;
        }
        for (name, bucket) in &s3.buckets {
            if let Some(url) = &bucket.endpoint_url {
                check_endpoint_url(&format!("s3.buckets.{name}.endpoint_url"), url)?;
            }
        }
        for (index, origin) in self.cors.allowed_origins.iter().enumerate() {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.contains("://") {
                return Err(ConfigError::invalid(
                    format!("cors.allowed_origins[{index}]"),
                    "must be an origin such as https://app.example.com",
                ));
            }
        }
        let uploads = &self.uploads;
        if uploads.session_expires_in == 0 || uploads.session_expires_in > MAX_SESSION_SECONDS {
            return Err(ConfigError::invalid(
                "uploads.session_expires_in",
                format!("must be in 1..={MAX_SESSION_SECONDS} seconds"),
            ));
        }
        if uploads.part_expires_in == 0 || uploads.part_expires_in > S3_MAX_EXPIRES_IN {
            return Err(ConfigError::invalid(
                "uploads.part_expires_in",
                format!("must be in 1..={S3_MAX_EXPIRES_IN}"),
            ));
        }
        if uploads.max_object_bytes == 0 || uploads.max_object_bytes > S3_MAX_OBJECT_BYTES {
            return Err(ConfigError::invalid(
                "uploads.max_object_bytes",
                format!("must be in 1..={S3_MAX_OBJECT_BYTES} (S3's 5 TiB)"),
            ));
        }
        // The bucket's name and the key template are checked where the service is built
        // (app::uppy_settings): their rules belong to presign and http, which read config.
        if self.uppy.enabled && self.uppy.bucket.is_none() {
            return Err(ConfigError::invalid(
                "uppy.bucket",
                "is required when uppy.enabled = true",
            ));
        }
        for (index, origin) in self.cors.allowed_origins.iter().enumerate() {
            if let Some(host) = origin.strip_suffix(":*")
                && !["http://localhost", "http://127.0.0.1"].contains(&host)
            {
                return Err(ConfigError::invalid(
                    format!("cors.allowed_origins[{index}]"),
                    "any-port origins (:*) are for http://localhost and http://127.0.0.1 only",
                ));
            }
        }
        let links = &self.links;
        if let Some(url) = &links.public_base_url {
            let usable = url::Url::parse(url).is_ok_and(|parsed| {
                matches!(parsed.scheme(), "http" | "https")
                    && parsed.has_host()
                    && parsed.query().is_none()
                    && parsed.fragment().is_none()
            });
            if !usable {
                return Err(ConfigError::invalid(
                    "links.public_base_url",
                    "must be an http(s) URL without query or fragment, e.g. https://files.example.com",
                ));
            }
        }
        if links.max_expires_in == 0 || links.max_expires_in > MAX_LINK_EXPIRES_IN {
            return Err(ConfigError::invalid(
                "links.max_expires_in",
                format!("must be in 1..={MAX_LINK_EXPIRES_IN} seconds"),
            ));
        }
        if links.redirect_expires_in == 0 || links.redirect_expires_in > s3.max_expires_in {
            return Err(ConfigError::invalid(
                "links.redirect_expires_in",
                "must be in 1..=s3.max_expires_in",
            ));
        }
        if self.audit.commit_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "audit.commit_timeout_ms",
                "must be > 0",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::invalid(
                "log.level",
                "not a valid filter directive (e.g. info, presignd=debug)",
            ));
        }
        Ok(())
    }

    /// What `serve` needs beyond a well-formed tree: someone to trust and a policy.
    pub fn validate_for_serving(&self) -> Result<(), ConfigError> {
        if self.auth.issuers.is_empty() {
            return Err(ConfigError::invalid(
                "auth.issuers",
                "at least one issuer is required",
            ));
        }
        if self.policy.file.is_none() {
            return Err(ConfigError::invalid("policy.file", "is required"));
        }
        Ok(())
    }
}

fn check_endpoint_url(key: &str, url: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(ConfigError::invalid(key, "must be an http(s) URL")),
    }
}

impl IssuerConfig {
    /// An HMAC issuer (`presignd dev`, tests).
    pub fn with_secret(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        secret: Secret,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: vec![],
            secret: Some(secret),
            secret_file: None,
            public_key_pem: None,
            jwks_url: None,
            discovery: false,
            jwks_refresh_seconds: None,
            jwks_min_refresh_seconds: None,
            leeway_seconds: default_leeway(),
            max_token_lifetime_seconds: None,
        }
    }

    /// The one key source; `None` when zero or several are set (`validate` refuses both).
    pub fn key_source(&self) -> Option<KeySource<'_>> {
        let mut sources = Vec::with_capacity(1);
        if let Some(secret) = &self.secret {
            sources.push(KeySource::Secret(secret));
        }
        if let Some(path) = &self.secret_file {
            sources.push(KeySource::SecretFile(path));
        }
        if let Some(path) = &self.public_key_pem {
            sources.push(KeySource::PublicKeyPem(path));
        }
        if let Some(url) = &self.jwks_url {
            sources.push(KeySource::JwksUrl(url));
        }
        if self.discovery {
            sources.push(KeySource::Discovery);
        }
        match sources[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether keys are fetched over HTTP (`jwks_url` or `discovery`).
    pub fn is_remote(&self) -> bool {
        matches!(
            self.key_source(),
            Some(KeySource::JwksUrl(_) | KeySource::Discovery)
        )
    }

    /// The algorithms this issuer accepts, defaulting by key source.
    pub fn allowed_algorithms(&self) -> Vec<Algorithm> {
        if !self.algorithms.is_empty() {
            return self.algorithms.clone();
        }
        match self.key_source() {
            Some(KeySource::Secret(_) | KeySource::SecretFile(_)) => vec![Algorithm::HS256],
            // RS256 is what OIDC providers sign ID tokens with unless told otherwise.
            _ => vec![Algorithm::RS256],
        }
    }

    /// Seconds between scheduled JWKS refreshes.
    pub fn jwks_refresh_seconds(&self) -> u64 {
        self.jwks_refresh_seconds
            .unwrap_or(DEFAULT_JWKS_REFRESH_SECONDS)
    }

    /// Least seconds between two JWKS refreshes caused by unknown kids.
    pub fn jwks_min_refresh_seconds(&self) -> u64 {
        self.jwks_min_refresh_seconds
            .unwrap_or(DEFAULT_JWKS_MIN_REFRESH_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        Config::from_figment(Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(extra)))
    }

    #[test]
    fn embedded_defaults_load() {
        let config = load("").unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.max_body_bytes, 65536);
        assert_eq!(config.s3.default_expires_in, 900);
        assert_eq!(config.s3.max_expires_in, 604_800);
        assert_eq!(config.server.header_read_timeout_ms, 10_000);
        assert_eq!(config.server.shutdown_grace_ms, 20_000);
        assert_eq!(config.server.metrics_bind, None);
        assert_eq!(config.links.max_expires_in, 2_592_000);
        assert_eq!(config.links.redirect_expires_in, 60);
        assert_eq!(config.links.public_base_url, None);
    }

    #[test]
    fn unknown_key_names_the_key() {
        let error = load("[server]\nbindd = \"x\"").unwrap_err().to_string();
        assert!(error.contains("bindd"), "{error}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let error = load("[server]\nmax_body_bytes = \"lots\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_body_bytes"), "{error}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            ("[s3]\nmax_expires_in = 604801", "s3.max_expires_in"),
            ("[s3]\ndefault_expires_in = 0", "s3.default_expires_in"),
            ("[s3]\nendpoint_url = \"ftp://x\"", "s3.endpoint_url"),
            ("[log]\nlevel = \"=[\"", "log.level"),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            (
                "[server]\nmax_connections_per_ip = 0",
                "server.max_connections_per_ip",
            ),
            (
                "[server]\nheader_read_timeout_ms = 0",
                "server.header_read_timeout_ms",
            ),
            (
                "[server]\nshutdown_grace_ms = 0",
                "server.shutdown_grace_ms",
            ),
            (
                "[server]\nmetrics_bind = \"127.0.0.1:8080\"",
                "server.metrics_bind",
            ),
            (
                "[links]\npublic_base_url = \"files.example.com\"",
                "links.public_base_url",
            ),
            (
                "[links]\npublic_base_url = \"https://x.example/?a=1\"",
                "links.public_base_url",
            ),
            ("[links]\nmax_expires_in = 0", "links.max_expires_in"),
            (
                "[links]\nredirect_expires_in = 0",
                "links.redirect_expires_in",
            ),
            (
                "[links]\nredirect_expires_in = 604801",
                "links.redirect_expires_in",
            ),
        ];
        for (toml, key) in cases {
            let error = load(toml).unwrap_err().to_string();
            assert!(error.contains(key), "{toml}: {error}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = load(
            "[[auth.issuers]]\nissuer = \"a\"\naudiences = [\"x\"]\nsecret = \"hunter2-hunter2\"",
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
