//! JWT verification: the token's `iss` picks one configured issuer, whose keys and
//! algorithms alone verify it. The result is a [`Principal`]. Every failure is one
//! [`AuthError`], whose precise reason is for logs and metrics, never for the caller.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::config::{ConfigError, IssuerConfig, Secret};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who is calling, as proven by a verified token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub issuer: String,
    pub subject: String,
    /// Every claim of the token, for policy variables and conditions.
    pub claims: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("token exceeds {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token is not a signed JWT")]
    Malformed,
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    #[error("token header has crit extensions")]
    CriticalExtension,
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token has no string sub")]
    MissingSubject,
    #[error("token iat is in the future")]
    IssuedInFuture,
}

impl AuthError {
    /// A bounded label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::UnknownIssuer => "unknown_issuer",
            Self::CriticalExtension => "crit",
            Self::Rejected(_) => "rejected",
            Self::MissingSubject => "missing_sub",
            Self::IssuedInFuture => "iat_future",
        }
    }
}

/// One trusted issuer, ready to verify.
struct Issuer {
    key: DecodingKey,
    validation: Validation,
    leeway: u64,
}

/// Verifies bearer tokens against the configured issuers.
pub struct Verifier {
    issuers: HashMap<String, Issuer>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Bytes of output of an HMAC algorithm: the least secret length that keeps its strength.
fn hmac_output_bytes(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

#[derive(PartialEq, Eq)]
enum KeyFamily {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

/// The kind of key an algorithm verifies with; `None` for algorithms presignd does not support.
fn family(algorithm: Algorithm) -> Option<KeyFamily> {
    use Algorithm::*;
    match algorithm {
        HS256 | HS384 | HS512 => Some(KeyFamily::Hmac),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(KeyFamily::Rsa),
        ES256 | ES384 => Some(KeyFamily::Ec),
        EdDSA => Some(KeyFamily::Ed),
        _ => None,
    }
}

/// The HMAC secret of an issuer, from `secret` or `secret_file`.
pub fn issuer_secret(config: &IssuerConfig, key: &str) -> Result<Option<Secret>, ConfigError> {
    if let Some(secret) = &config.secret {
        return Ok(Some(secret.clone()));
    }
    let Some(path) = &config.secret_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: format!("{key}.secret_file"),
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(Some(Secret::new(text.trim())))
}

impl Issuer {
    fn new(config: &IssuerConfig, key_name: &str) -> Result<Self, ConfigError> {
        let invalid = |field: &str, reason: String| ConfigError::Invalid {
            key: format!("{key_name}{field}"),
            reason,
        };
        let algorithms = config.allowed_algorithms();
        let Some(first) = family(algorithms[0]) else {
            return Err(invalid(
                ".algorithms",
                format!("{:?} is not supported", algorithms[0]),
            ));
        };
        if algorithms
            .iter()
            .any(|a| family(*a).as_ref() != Some(&first))
        {
            return Err(invalid(
                ".algorithms",
                "all algorithms of one issuer must use one kind of key".into(),
            ));
        }
        let key = if let Some(secret) = issuer_secret(config, key_name)? {
            if first != KeyFamily::Hmac {
                return Err(invalid(
                    ".algorithms",
                    "a secret verifies only HS256/HS384/HS512".into(),
                ));
            }
            let needed = algorithms
                .iter()
                .filter_map(|a| hmac_output_bytes(*a))
                .max()
                .unwrap_or(32);
            if secret.expose().len() < needed {
                return Err(invalid(
                    ".secret",
                    format!("must be at least {needed} bytes for {:?}", algorithms),
                ));
            }
            DecodingKey::from_secret(secret.expose().as_bytes())
        } else if let Some(path) = &config.public_key_pem {
            let pem = std::fs::read(path).map_err(|e| {
                invalid(
                    ".public_key_pem",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let parsed = match first {
                KeyFamily::Hmac => {
                    return Err(invalid(
                        ".algorithms",
                        "a public key never verifies HS* (it would be used as an HMAC secret)"
                            .into(),
                    ));
                }
                KeyFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                KeyFamily::Ec => DecodingKey::from_ec_pem(&pem),
                KeyFamily::Ed => DecodingKey::from_ed_pem(&pem),
            };
            parsed.map_err(|e| {
                invalid(
                    ".public_key_pem",
                    format!("not a usable key for {algorithms:?}: {e}"),
                )
            })?
        } else {
            return Err(invalid("", "no key source".into()));
        };

        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.validate_nbf = true;
        validation.leeway = config.leeway_seconds;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            key,
            validation,
            leeway: config.leeway_seconds,
        })
    }
}

impl Verifier {
    /// Prepares every configured issuer; a bad key or secret names its key.
    pub fn new(issuers: &[IssuerConfig]) -> Result<Self, ConfigError> {
        let mut prepared = HashMap::new();
        for (index, config) in issuers.iter().enumerate() {
            let key = format!("auth.issuers[{index}]");
            if prepared.contains_key(&config.issuer) {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.issuer"),
                    reason: format!("{:?} is configured twice", config.issuer),
                });
            }
            prepared.insert(config.issuer.clone(), Issuer::new(config, &key)?);
        }
        Ok(Self { issuers: prepared })
    }

    /// Verifies `token` (without the `Bearer ` prefix).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(AuthError::Malformed);
        };
        // Only `crit` and `iss` are read before the signature is checked: `crit` to refuse
        // extensions we do not implement, `iss` to pick whose keys check the signature.
        let header: Map<String, Value> = decode_segment(header)?;
        if header.contains_key("crit") {
            return Err(AuthError::CriticalExtension);
        }
        let unverified: Map<String, Value> = decode_segment(payload)?;
        let Some(Value::String(issuer_name)) = unverified.get("iss") else {
            return Err(AuthError::UnknownIssuer);
        };
        let issuer = self
            .issuers
            .get(issuer_name)
            .ok_or(AuthError::UnknownIssuer)?;

        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &issuer.key, &issuer.validation)?;
        let claims = data.claims;
        let Some(Value::String(subject)) = claims.get("sub") else {
            return Err(AuthError::MissingSubject);
        };
        if let Some(iat) = claims.get("iat") {
            let now = jsonwebtoken::get_current_timestamp();
            match iat.as_u64() {
                Some(iat) if iat <= now + issuer.leeway => {}
                Some(_) => return Err(AuthError::IssuedInFuture),
                None => return Err(AuthError::Malformed),
            }
        }
        Ok(Principal {
            issuer: issuer_name.clone(),
            subject: subject.clone(),
            claims,
        })
    }
}

fn decode_segment(segment: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

/// Mints an HS token for `config`'s issuer (`presignd token`, `presignd dev`, tests).
pub fn mint_token(
    config: &IssuerConfig,
    subject: &str,
    extra_claims: &Map<String, Value>,
    ttl_seconds: u64,
) -> Result<String, ConfigError> {
    let secret = issuer_secret(config, "issuer")?.ok_or_else(|| ConfigError::Invalid {
        key: "auth.issuers".into(),
        reason: format!(
            "issuer {:?} has no HMAC secret; only HS issuers can mint",
            config.issuer
        ),
    })?;
    let algorithm = config.allowed_algorithms()[0];
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = extra_claims.clone();
    claims.insert("iss".into(), config.issuer.clone().into());
    claims.insert("sub".into(), subject.into());
    claims.insert("aud".into(), config.audiences[0].clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl_seconds).into());
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| ConfigError::Invalid {
        key: "auth.issuers".into(),
        reason: format!("cannot sign with {algorithm:?}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn issuer(name: &str) -> IssuerConfig {
        IssuerConfig {
            issuer: name.into(),
            audiences: vec!["presignd".into()],
            algorithms: vec![],
            secret: Some(Secret::new(SECRET)),
            secret_file: None,
            public_key_pem: None,
            leeway_seconds: 0,
        }
    }

    fn sign(claims: Value, secret: &str, header: Header) -> String {
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn accepts_a_minted_token() {
        let verifier = Verifier::new(&[issuer("https://idp")]).unwrap();
        let token = mint_token(&issuer("https://idp"), "alice", &Map::new(), 60).unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.issuer, "https://idp");
    }

    #[test]
    fn refuses_short_secrets() {
        let mut config = issuer("i");
        config.secret = Some(Secret::new("short"));
        let error = Verifier::new(&[config]).unwrap_err().to_string();
        assert!(error.contains("auth.issuers[0].secret"), "{error}");
    }

    #[test]
    fn refuses_bad_tokens() {
        let verifier = Verifier::new(&[issuer("https://idp")]).unwrap();
        let good = json_claims("https://idp", "presignd");
        let cases: Vec<(&str, String)> = vec![
            ("empty", String::new()),
            ("garbage", "not.a.jwt".into()),
            ("jwe shape", "a.b.c.d.e".into()),
            ("huge", "a".repeat(MAX_TOKEN_BYTES + 1)),
            (
                "other secret",
                sign(
                    good.clone(),
                    "another-secret-another-secret-xx",
                    Header::default(),
                ),
            ),
            (
                "unknown issuer",
                sign(
                    json_claims("https://idp/", "presignd"),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "wrong audience",
                sign(
                    json_claims("https://idp", "presignd2"),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "alg HS512 not allowed",
                sign(good.clone(), SECRET, Header::new(Algorithm::HS512)),
            ),
            (
                "expired",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","sub":"a","exp": now() - 10}),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "future nbf",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","sub":"a","exp": now() + 600, "nbf": now() + 300}),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "no sub",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","exp": now() + 600}),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "numeric sub",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","sub": 7, "exp": now() + 600}),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "no exp",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","sub":"a"}),
                    SECRET,
                    Header::default(),
                ),
            ),
            (
                "future iat",
                sign(
                    serde_json::json!({"iss":"https://idp","aud":"presignd","sub":"a","exp": now() + 600, "iat": now() + 300}),
                    SECRET,
                    Header::default(),
                ),
            ),
        ];
        for (name, token) in cases {
            assert!(verifier.verify(&token).is_err(), "{name} was accepted");
        }
        // alg none: a valid token with its header swapped and signature dropped.
        let token = sign(good, SECRET, Header::default());
        let payload = token.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            verifier
                .verify(&format!("{none_header}.{payload}."))
                .is_err()
        );
    }

    fn json_claims(iss: &str, aud: &str) -> Value {
        serde_json::json!({"iss": iss, "aud": aud, "sub": "alice", "exp": now() + 600})
    }
}
