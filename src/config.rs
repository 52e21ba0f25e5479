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

/// A configuration error, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
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
    pub cors: CorsConfig,
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
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trust_forwarded_for: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuers: Vec<IssuerConfig>,
}

/// One trusted token issuer (DESIGN §3). Exactly one key source is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Must equal the token's `iss`, byte for byte.
    pub issuer: String,
    /// The token's `aud` must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed `alg` values; empty means HS256 for a secret. Never taken from the token.
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    /// HMAC secret (HS256/384/512).
    pub secret: Option<Secret>,
    /// File holding the HMAC secret; surrounding whitespace is trimmed.
    pub secret_file: Option<PathBuf>,
    /// PEM public key file (RS*, PS*, ES*, EdDSA).
    pub public_key_pem: Option<PathBuf>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins allowed to call the API from a browser.
    pub allowed_origins: Vec<String>,
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
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::invalid("server.max_body_bytes", "must be > 0"));
        }
        if self.server.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "server.request_timeout_ms",
                "must be > 0",
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
        for (index, issuer) in self.auth.issuers.iter().enumerate() {
            issuer.validate(&format!("auth.issuers[{index}]"))?;
        }
        for (index, origin) in self.cors.allowed_origins.iter().enumerate() {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.contains("://") {
                return Err(ConfigError::invalid(
                    format!("cors.allowed_origins[{index}]"),
                    "must be an origin such as https://app.example.com",
                ));
            }
        }
        if self.audit.commit_timeout_ms == 0 {
            return Err(ConfigError::invalid("audit.commit_timeout_ms", "must be > 0"));
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
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.issuer"),
                "must not be empty",
            ));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                format!("{key}.audiences"),
                "at least one non-empty audience is required",
            ));
        }
        let sources = [
            self.secret.is_some(),
            self.secret_file.is_some(),
            self.public_key_pem.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() != 1 {
            return Err(ConfigError::invalid(
                key,
                "set exactly one of secret, secret_file, public_key_pem",
            ));
        }
        Ok(())
    }

    /// The algorithms this issuer accepts, defaulting by key source.
    pub fn allowed_algorithms(&self) -> Vec<Algorithm> {
        if !self.algorithms.is_empty() {
            return self.algorithms.clone();
        }
        if self.public_key_pem.is_some() {
            vec![Algorithm::RS256]
        } else {
            vec![Algorithm::HS256]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        Config::from_figment(
            Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(extra)),
        )
    }

    #[test]
    fn embedded_defaults_load() {
        let config = load("").unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.max_body_bytes, 65536);
        assert_eq!(config.s3.default_expires_in, 900);
        assert_eq!(config.s3.max_expires_in, 604_800);
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
            (
                "[[auth.issuers]]\nissuer = \"a\"\naudiences = [\"x\"]",
                "auth.issuers[0]",
            ),
            (
                "[[auth.issuers]]\nissuer = \"a\"\nsecret = \"s\"",
                "auth.issuers[0].audiences",
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
