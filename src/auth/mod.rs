//! JWT verification (DESIGN §3). The token's `iss` picks one configured issuer by exact
//! string comparison; that issuer's keys and algorithms alone verify it, and its
//! audiences and leeway judge the claims. The result is a [`Principal`]. Every failure is
//! one [`AuthError`], whose precise [`AuthError::reason`] is for logs and metrics, never
//! for the caller (who always gets the same 401).
//!
//! Order of work on a token: size and shape (`token`), issuer by `iss`, `alg` allowed
//! by the issuer, key by `kid` and `alg` (`keys`, `jwks`), signature, claims
//! (`claims`).

mod claims;
mod issuer;
mod jwks;
mod keys;
mod token;
mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value};
use tokio::task::AbortHandle;

pub(crate) use jwks::fetch_url_allowed;
pub(crate) use token::MAX_TOKEN_BYTES;

use crate::config::{ConfigError, IssuerConfig};
use issuer::{Issuer, Keys};

/// Who is calling, as proven by a verified token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub issuer: String,
    pub subject: String,
    /// Every claim of the token, for policy variables and conditions.
    pub claims: Map<String, Value>,
}

/// Why a token was refused. The text names the claim or part at fault and never
/// contains the token or any of its values.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("token exceeds {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token is not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("more than one Authorization header")]
    DuplicateAuthorization,
    #[error("token typ is not JWT or at+jwt")]
    UnsupportedType,
    #[error("token names no kid, and its issuer has several keys")]
    KidRequired,
    #[error("token lifetime (exp - iat) exceeds the issuer's max_token_lifetime_seconds")]
    LifetimeTooLong,
    #[error("token alg is not one presignd implements (none is never accepted)")]
    UnsupportedAlgorithm,
    #[error("token header has crit extensions")]
    CriticalExtension,
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    #[error("token alg is not allowed for its issuer or key")]
    AlgorithmNotAllowed,
    #[error("the issuer's keys have not been fetched yet")]
    KeysUnavailable,
    #[error("token kid names no key of its issuer")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("token claim {0} has the wrong type or value")]
    InvalidClaim(&'static str),
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token iat is in the future")]
    IssuedInFuture,
    #[error("token aud names none of the issuer's audiences")]
    AudienceMismatch,
}

impl AuthError {
    /// A bounded, stable label for logs and metrics: one per variant, never data.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::TooLarge => "too_large",
            Self::Malformed(_) => "malformed",
            Self::DuplicateAuthorization => "duplicate_authorization",
            Self::UnsupportedType => "unsupported_typ",
            Self::KidRequired => "kid_required",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::UnsupportedAlgorithm => "unsupported_alg",
            Self::CriticalExtension => "crit",
            Self::UnknownIssuer => "unknown_issuer",
            Self::AlgorithmNotAllowed => "alg_not_allowed",
            Self::KeysUnavailable => "keys_unavailable",
            Self::UnknownKey => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "iat_future",
            Self::AudienceMismatch => "wrong_audience",
        }
    }
}

/// Verifies bearer tokens against the configured issuers.
pub struct Verifier {
    issuers: HashMap<String, Issuer>,
    /// Background JWKS refreshers, ended when the verifier is dropped.
    refreshers: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Prepares every configured issuer: reads secrets and PEM keys (a bad one names its
    /// key). JWKS are not fetched here; see [`Verifier::spawn_refresh`].
    pub fn new(configs: &[IssuerConfig]) -> Result<Self, ConfigError> {
        let client = if configs.iter().any(IssuerConfig::is_remote) {
            Some(jwks::http_client().map_err(|e| ConfigError::Invalid {
                key: "auth.issuers".into(),
                reason: format!("cannot build the HTTP client for JWKS: {e}"),
            })?)
        } else {
            None
        };
        let mut issuers = HashMap::new();
        for (index, config) in configs.iter().enumerate() {
            let key = format!("auth.issuers[{index}]");
            validate::validate_issuer(config, &key)?;
            if issuers.contains_key(&config.issuer) {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.issuer"),
                    reason: format!("{:?} is configured twice", config.issuer),
                });
            }
            issuers.insert(
                config.issuer.clone(),
                Issuer::new(config, &key, client.as_ref())?,
            );
        }
        Ok(Self {
            issuers,
            refreshers: Mutex::new(Vec::new()),
        })
    }

    /// Starts fetching every JWKS in the background, then keeps them fresh. Returns at
    /// once: an IdP that is down delays only its own tokens. Without this, keys are
    /// fetched on the first token that needs them. Call once, inside a tokio runtime.
    pub fn spawn_refresh(&self) {
        let mut refreshers = self.refreshers.lock().unwrap_or_else(|e| e.into_inner());
        if !refreshers.is_empty() {
            return;
        }
        for issuer in self.issuers.values() {
            if let Keys::Remote(remote) = &issuer.keys {
                let task = tokio::spawn(jwks::keep_fresh(Arc::downgrade(remote)));
                refreshers.push(task.abort_handle());
            }
        }
    }

    /// Issuers that cannot verify anything yet (their JWKS has not arrived), by name.
    pub fn issuers_without_keys(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .issuers
            .values()
            .filter(|issuer| !issuer.has_keys())
            .map(|issuer| issuer.name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Verifies `token` (without the `Bearer ` prefix). May wait for a JWKS refresh when
    /// the token names a key not seen yet (bounded by the fetch timeout).
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let token = token::parse(token)?;
        // The only claim read before the signature: it says whose keys check it.
        let issuer_name = match token.claims.get("iss") {
            Some(Value::String(name)) => name,
            Some(_) => return Err(AuthError::InvalidClaim("iss")),
            None => return Err(AuthError::MissingClaim("iss")),
        };
        let issuer = self
            .issuers
            .get(issuer_name)
            .ok_or(AuthError::UnknownIssuer)?;
        let subject = issuer.verify(&token).await?;
        Ok(Principal {
            issuer: issuer.name.clone(),
            subject,
            claims: token.claims,
        })
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        for task in self
            .refreshers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Claims that [`mint_token`] sets itself and so refuses from the caller.
const MINTED_CLAIMS: [&str; 4] = ["iss", "sub", "iat", "exp"];

/// Mints a token for `config`'s HMAC issuer (`presignd token`, `presignd dev`, tests):
/// `iss`, `sub`, `iat`, `exp = now + ttl_seconds`, `aud` = the first audience unless
/// `extra_claims` names one, plus `extra_claims`. Signed with the issuer's first algorithm.
pub fn mint_token(
    config: &IssuerConfig,
    subject: &str,
    extra_claims: &Map<String, Value>,
    ttl_seconds: u64,
) -> Result<String, ConfigError> {
    validate::validate_issuer(config, "auth.issuers")?;
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        key: key.into(),
        reason,
    };
    let algorithms = config.allowed_algorithms();
    let secret = config
        .key_source()
        .map(|source| keys::hmac_secret(source, &algorithms, "issuer"))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            invalid(
                "auth.issuers",
                format!(
                    "issuer {:?} has no HMAC secret; only HS issuers can mint",
                    config.issuer
                ),
            )
        })?;
    if subject.is_empty() {
        return Err(invalid("--sub", "must not be empty".into()));
    }
    if ttl_seconds == 0 {
        return Err(invalid("--ttl", "must be at least one second".into()));
    }
    if let Some(name) = MINTED_CLAIMS
        .iter()
        .find(|name| extra_claims.contains_key(**name))
    {
        return Err(invalid(
            "--claim",
            format!("{name} is set by presignd (use --sub, --ttl or --issuer)"),
        ));
    }
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = extra_claims.clone();
    claims.insert("iss".into(), config.issuer.clone().into());
    claims.insert("sub".into(), subject.into());
    claims
        .entry("aud")
        .or_insert_with(|| config.audiences[0].clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl_seconds).into());
    let algorithm = algorithms[0];
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| {
        invalid(
            "auth.issuers",
            format!("cannot sign with {algorithm:?}: {e}"),
        )
    })
}

#[cfg(test)]
pub(crate) mod test_keys;

#[cfg(test)]
mod tests;
