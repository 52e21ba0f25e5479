//! One trusted issuer, ready to verify: its algorithms, audiences, leeway and keys
//! (configured, or fetched from a JWKS). The algorithm that checks a signature is always
//! one the configuration allows and the key is bound to; the token's `alg` only selects
//! among those.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::AuthError;
use super::claims::{self, Rules};
use super::jwks::{RemoteKeys, Schedule};
use super::keys::{KeySet, Lookup, VerifyKey, configured_key};
use super::token::UnverifiedToken;
use crate::config::{ConfigError, IssuerConfig, KeySource};

pub(crate) enum Keys {
    /// `secret`, `secret_file` or `public_key_pem`: one key, known at startup.
    Configured(KeySet),
    /// `jwks_url` or `discovery`.
    Remote(Arc<RemoteKeys>),
}

pub(crate) struct Issuer {
    pub name: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    /// `max_token_lifetime_seconds`.
    max_lifetime: Option<u64>,
    pub keys: Keys,
}

impl Issuer {
    /// Prepares `config` (validated by `Config::validate`); `key_name` prefixes errors.
    /// `client` is required for JWKS issuers.
    pub fn new(
        config: &IssuerConfig,
        key_name: &str,
        client: Option<&reqwest::Client>,
    ) -> Result<Self, ConfigError> {
        let invalid = |field: &str, reason: String| ConfigError::Invalid {
            key: format!("{key_name}{field}"),
            reason,
        };
        let source = config.key_source().ok_or_else(|| {
            invalid(
                "",
                "set exactly one of secret, secret_file, public_key_pem, jwks_url, discovery = true".into(),
            )
        })?;
        let algorithms = config.allowed_algorithms();
        let schedule = Schedule {
            refresh_every: Duration::from_secs(config.jwks_refresh_seconds()),
            min_on_demand: Duration::from_secs(config.jwks_min_refresh_seconds()),
        };
        let keys = match source {
            KeySource::JwksUrl(url) => {
                let url = url::Url::parse(url).map_err(|e| invalid(".jwks_url", e.to_string()))?;
                let client = client
                    .ok_or_else(|| invalid("", "no HTTP client".into()))?
                    .clone();
                Keys::Remote(Arc::new(RemoteKeys::from_jwks_url(
                    &config.issuer,
                    url,
                    algorithms.clone(),
                    client,
                    schedule,
                )))
            }
            KeySource::Discovery => {
                let client = client
                    .ok_or_else(|| invalid("", "no HTTP client".into()))?
                    .clone();
                let keys = RemoteKeys::from_discovery(
                    &config.issuer,
                    algorithms.clone(),
                    client,
                    schedule,
                )
                .map_err(|e| invalid(".issuer", format!("not a URL: {e}")))?;
                Keys::Remote(Arc::new(keys))
            }
            _ => {
                let key = configured_key(source, &algorithms, key_name)?
                    .ok_or_else(|| invalid("", "no key source".into()))?;
                Keys::Configured(KeySet::fixed(vec![key]))
            }
        };
        Ok(Self {
            name: config.issuer.clone(),
            audiences: config.audiences.clone(),
            algorithms,
            leeway: config.leeway_seconds,
            max_lifetime: config.max_token_lifetime_seconds,
            keys,
        })
    }

    /// Whether this issuer can verify anything yet.
    pub fn has_keys(&self) -> bool {
        match &self.keys {
            Keys::Configured(set) => !set.is_empty(),
            Keys::Remote(remote) => remote.has_keys(),
        }
    }

    /// Checks the signature of `token`, then its claims; returns the subject.
    pub async fn verify(&self, token: &UnverifiedToken<'_>) -> Result<String, AuthError> {
        if !self.algorithms.contains(&token.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        match &self.keys {
            Keys::Configured(set) => check_signature(token, set)?,
            Keys::Remote(remote) => {
                let (seen, set) = remote.snapshot();
                match check_signature(token, &set) {
                    // Perhaps the IdP rotated its keys: look again (single flight, rate
                    // limited), then decide with whatever keys there are.
                    Err(AuthError::UnknownKey | AuthError::KeysUnavailable) => {
                        remote.refresh_for_unknown_kid(seen).await;
                        check_signature(token, &remote.snapshot().1)?;
                    }
                    other => other?,
                }
            }
        }
        let rules = Rules {
            issuer: &self.name,
            audiences: &self.audiences,
            leeway: self.leeway,
            max_lifetime: self.max_lifetime,
            now: jsonwebtoken::get_current_timestamp(),
        };
        claims::validate(&token.claims, &rules)
    }
}

fn check_signature(token: &UnverifiedToken<'_>, keys: &KeySet) -> Result<(), AuthError> {
    let candidates: Vec<&VerifyKey> = match keys.lookup(token.kid.as_deref(), token.alg) {
        Lookup::Found(candidates) => candidates,
        Lookup::Empty => return Err(AuthError::KeysUnavailable),
        Lookup::UnknownKid => return Err(AuthError::UnknownKey),
        Lookup::KidRequired => return Err(AuthError::KidRequired),
        Lookup::AlgorithmMismatch => return Err(AuthError::AlgorithmNotAllowed),
    };
    for key in candidates {
        // `verify` picks the primitive from `token.alg`, which the key is bound to, and
        // refuses a key of another family (an RSA key never becomes an HMAC secret).
        let verified = jsonwebtoken::crypto::verify(
            token.signature,
            token.signing_input.as_bytes(),
            &key.key,
            token.alg,
        );
        if matches!(verified, Ok(true)) {
            return Ok(());
        }
    }
    Err(AuthError::BadSignature)
}
