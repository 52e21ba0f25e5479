//! Verification keys, each bound to the algorithms it may verify. Keys are parsed once,
//! when configured or fetched, and looked up per token by `kid` and `alg`. A JWK is kept
//! only if it is a public signing key whose type and curve fit an algorithm the issuer
//! allows; everything else in a JWKS is skipped with a reason.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::config::{ConfigError, KeySource, Secret};

/// A JWKS with more keys than this is refused whole: no IdP publishes that many.
pub const MAX_JWKS_KEYS: usize = 100;

/// One key and what it may verify.
pub(crate) struct VerifyKey {
    /// The JWK's `kid`; `None` for configured keys and JWKs without one.
    pub kid: Option<String>,
    /// The algorithms this key verifies: the issuer's list, narrowed by the key's type,
    /// curve and JWK `alg`. Never empty.
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The keys of one issuer at one moment.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
    /// Configured keys answer whatever the token's `kid` says: the issuer has one key.
    ignore_kid: bool,
}

/// The outcome of looking a token's `kid` and `alg` up.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    /// Keys to try, in order.
    Found(Vec<&'a VerifyKey>),
    /// The set has no key at all (not fetched yet).
    Empty,
    /// No key has the token's `kid`: perhaps the IdP rotated.
    UnknownKid,
    /// The token names no `kid`, but the set holds several keys (OIDC Core §10.1: the
    /// `kid` must then be given), so no key is tried.
    KidRequired,
    /// Keys exist (with that kid), but none may verify this `alg`.
    AlgorithmMismatch,
}

impl KeySet {
    /// A set of configured keys, used whatever `kid` the token names.
    pub fn fixed(keys: Vec<VerifyKey>) -> Self {
        Self {
            keys,
            ignore_kid: true,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, for logs.
    pub fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect()
    }

    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        if self.keys.is_empty() {
            return Lookup::Empty;
        }
        let named: Vec<&VerifyKey> = match kid {
            Some(kid) if !self.ignore_kid => {
                let named: Vec<_> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if named.is_empty() {
                    return Lookup::UnknownKid;
                }
                named
            }
            None if !self.ignore_kid && self.keys.len() > 1 => return Lookup::KidRequired,
            // One key (or configured keys, which answer any kid): the `alg` still decides.
            _ => self.keys.iter().collect(),
        };
        let usable: Vec<&VerifyKey> = named
            .into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .collect();
        if usable.is_empty() {
            Lookup::AlgorithmMismatch
        } else {
            Lookup::Found(usable)
        }
    }
}

/// Bytes of output of an HMAC algorithm: the least secret length that keeps its strength
/// (RFC 7518 §3.2).
fn hmac_output_bytes(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// The placeholder shipped in `deploy/jwt-secret.example`: anyone can read it, so it can
/// sign anyone's token. A secret equal to it, or carrying its `change-me` marker, is refused.
const PLACEHOLDER_SECRET: &str = include_str!("../../deploy/jwt-secret.example");
const PLACEHOLDER_MARKER: &str = "change-me";

/// The HMAC secret of an issuer, from `secret` or `secret_file`, checked long enough for
/// every algorithm it signs and not the shipped placeholder. `None` for issuers with
/// another key source.
pub(crate) fn hmac_secret(
    source: KeySource<'_>,
    algorithms: &[Algorithm],
    key_name: &str,
) -> Result<Option<Secret>, ConfigError> {
    let (secret, field) = match source {
        KeySource::Secret(secret) => (secret.clone(), "secret"),
        KeySource::SecretFile(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                key: format!("{key_name}.secret_file"),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            (Secret::new(text.trim()), "secret_file")
        }
        _ => return Ok(None),
    };
    let needed = algorithms
        .iter()
        .map(|a| hmac_output_bytes(*a))
        .max()
        .unwrap_or(32);
    let text = secret.expose();
    if text == PLACEHOLDER_SECRET.trim() || text.to_ascii_lowercase().contains(PLACEHOLDER_MARKER) {
        return Err(ConfigError::Invalid {
            key: format!("{key_name}.{field}"),
            reason: "is the placeholder from deploy/jwt-secret.example; make a secret with \
                     `openssl rand -base64 48`"
                .into(),
        });
    }
    if text.len() < needed {
        return Err(ConfigError::Invalid {
            key: format!("{key_name}.{field}"),
            reason: format!("must be at least {needed} bytes for {algorithms:?}"),
        });
    }
    Ok(Some(secret))
}

/// The one key of an issuer configured with `secret`, `secret_file` or `public_key_pem`.
/// `None` for JWKS issuers.
pub(crate) fn configured_key(
    source: KeySource<'_>,
    algorithms: &[Algorithm],
    key_name: &str,
) -> Result<Option<VerifyKey>, ConfigError> {
    if let Some(secret) = hmac_secret(source, algorithms, key_name)? {
        return Ok(Some(VerifyKey {
            kid: None,
            algorithms: algorithms.to_vec(),
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
        }));
    }
    let KeySource::PublicKeyPem(path) = source else {
        return Ok(None);
    };
    let invalid = |reason: String| ConfigError::Invalid {
        key: format!("{key_name}.public_key_pem"),
        reason,
    };
    let pem =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let key = pem_key(&pem, algorithms[0].family()).map_err(|e| {
        invalid(format!(
            "{} is not a public key usable for {algorithms:?}: {e}",
            path.display()
        ))
    })?;
    Ok(Some(VerifyKey {
        kid: None,
        algorithms: algorithms.to_vec(),
        key,
    }))
}

fn pem_key(pem: &[u8], family: AlgorithmFamily) -> Result<DecodingKey, String> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("PRIVATE KEY") {
        // Refused rather than used: a private key on a verifier's disk is a leak waiting.
        return Err("it is a private key; give the public key".into());
    }
    let parsed = match family {
        AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
        AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
        AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
        AlgorithmFamily::Hmac => return Err("HS* never uses a public key".into()),
    };
    parsed.map_err(|e| e.to_string())
}

/// Why a JWKS was refused whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwksError {
    #[error("not a JSON object with a \"keys\" array")]
    Shape,
    #[error("{0} keys, more than {MAX_JWKS_KEYS}")]
    TooManyKeys(usize),
    #[error("no usable key ({0})")]
    NoUsableKey(String),
}

/// Parses a JWKS document into the keys usable for `allowed`. Unusable keys are skipped
/// (each with its reason in the error, should none remain); a set with no usable key is an
/// error, so that it never replaces good keys.
pub(crate) fn parse_jwks(
    document: &[u8],
    allowed: &[Algorithm],
) -> Result<(KeySet, Vec<String>), JwksError> {
    let value: Value = serde_json::from_slice(document).map_err(|_| JwksError::Shape)?;
    let Some(Value::Array(entries)) = value.get("keys") else {
        return Err(JwksError::Shape);
    };
    if entries.len() > MAX_JWKS_KEYS {
        return Err(JwksError::TooManyKeys(entries.len()));
    }
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match parse_jwk(entry, allowed) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                skipped.push(format!("keys[{index}] kid {kid:?}: {reason}"));
            }
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey(if skipped.is_empty() {
            "the set is empty".into()
        } else {
            skipped.join("; ")
        }));
    }
    Ok((
        KeySet {
            keys,
            ignore_kid: false,
        },
        skipped,
    ))
}

/// One JWK (RFC 7517/7518/8037) to a verification key, or why it is not one.
fn parse_jwk(jwk: &Value, allowed: &[Algorithm]) -> Result<VerifyKey, &'static str> {
    let Value::Object(jwk) = jwk else {
        return Err("not an object");
    };
    let text = |name: &str| -> Result<Option<&str>, &'static str> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err("a member that must be a string is not"),
        }
    };
    let kid = text("kid")?.map(str::to_owned);
    match text("use")? {
        None | Some("sig") => {}
        Some(_) => return Err("use is not \"sig\""),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verifies {
            return Err("key_ops lacks \"verify\"");
        }
    }
    if jwk.contains_key("d") {
        // A published private key can sign for anyone.
        return Err("it contains private key material (d)");
    }
    let (family_algorithms, key): (&[Algorithm], DecodingKey) = match (text("kty")?, text("crv")?) {
        (Some("RSA"), _) => {
            // Leading zero octets are not allowed (RFC 7518 §6.3.1.1) but some IdPs send one.
            let n: Vec<u8> = component(text("n")?)?
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            let e: Vec<u8> = component(text("e")?)?
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            let modulus_bits = n.len() * 8;
            // RFC 7518 §3.3: 2048 bits at least; 8192 bounds the cost of a verification.
            if !(2048..=8192).contains(&modulus_bits) {
                return Err("RSA modulus not within 2048..=8192 bits");
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent out of range");
            }
            (
                AlgorithmFamily::Rsa.algorithms(),
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        (Some("EC"), Some(curve @ ("P-256" | "P-384"))) => {
            let (algorithm, size) = if curve == "P-256" {
                (&[Algorithm::ES256], 32)
            } else {
                (&[Algorithm::ES384], 48)
            };
            let x = text("x")?.ok_or("EC key without x")?;
            let y = text("y")?.ok_or("EC key without y")?;
            let (x_bytes, y_bytes) = (component(Some(x))?, component(Some(y))?);
            if x_bytes.len() != size || y_bytes.len() != size {
                return Err("EC coordinates of the wrong length for the curve");
            }
            let key = DecodingKey::from_ec_components(x, y)
                .map_err(|_| "EC coordinates do not decode")?;
            (algorithm, key)
        }
        (Some("OKP"), Some("Ed25519")) => {
            let x = text("x")?.ok_or("OKP key without x")?;
            if component(Some(x))?.len() != 32 {
                return Err("Ed25519 key of the wrong length");
            }
            let key = DecodingKey::from_ed_components(x).map_err(|_| "OKP x does not decode")?;
            (&[Algorithm::EdDSA], key)
        }
        // A symmetric key fetched over the network would let the network sign tokens.
        (Some("oct"), _) => return Err("symmetric (oct) keys are never taken from a JWKS"),
        (Some("EC" | "OKP"), _) => return Err("unsupported curve"),
        (Some(_), _) => return Err("unsupported kty"),
        (None, _) => return Err("no kty"),
    };
    let mut algorithms: Vec<Algorithm> = allowed
        .iter()
        .copied()
        .filter(|a| family_algorithms.contains(a))
        .collect();
    if let Some(name) = text("alg")? {
        // The JWK's own `alg` pins the key to that one algorithm, which must be allowed.
        let alg: Algorithm = name
            .parse()
            .map_err(|_| "alg is not an algorithm presignd verifies")?;
        if !family_algorithms.contains(&alg) {
            return Err("alg does not fit the key type");
        }
        if !allowed.contains(&alg) {
            return Err("alg is not in the issuer's algorithms");
        }
        algorithms = vec![alg];
    }
    if algorithms.is_empty() {
        return Err("no algorithm of the issuer fits the key type");
    }
    Ok(VerifyKey {
        kid,
        algorithms,
        key,
    })
}

fn component(value: Option<&str>) -> Result<Vec<u8>, &'static str> {
    let value = value.ok_or("a key parameter is missing")?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| "a key parameter is not base64url")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::test_keys;

    fn rsa_all() -> &'static [Algorithm] {
        AlgorithmFamily::Rsa.algorithms()
    }

    fn keys_of(document: Value, allowed: &[Algorithm]) -> Result<KeySet, String> {
        parse_jwks(document.to_string().as_bytes(), allowed)
            .map(|(set, _)| set)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn binds_each_key_to_its_algorithms() {
        let rsa = test_keys::jwk("rsa", Some("r1"), None);
        let ec = test_keys::jwk("ec256", Some("e1"), None);
        let ed = test_keys::jwk("ed25519", Some("d1"), None);
        let allowed = [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ];
        let set = keys_of(json!({"keys": [rsa, ec, ed]}), &allowed).unwrap();
        assert_eq!(set.len(), 3);
        assert!(
            matches!(set.lookup(Some("r1"), Algorithm::PS256), Lookup::Found(k) if k.len() == 1)
        );
        assert!(matches!(
            set.lookup(Some("r1"), Algorithm::ES256),
            Lookup::AlgorithmMismatch
        ));
        assert!(matches!(
            set.lookup(Some("e1"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("d1"), Algorithm::EdDSA),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("zz"), Algorithm::RS256),
            Lookup::UnknownKid
        ));
        // No kid while the set holds several keys: refused, no key is tried (OIDC Core 10.1).
        assert!(matches!(
            set.lookup(None, Algorithm::ES256),
            Lookup::KidRequired
        ));
        assert!(matches!(
            KeySet::default().lookup(Some("r1"), Algorithm::RS256),
            Lookup::Empty
        ));
    }

    #[test]
    fn a_jwk_alg_pins_the_key() {
        let rsa = test_keys::jwk("rsa", Some("r1"), Some("PS384"));
        let set = keys_of(json!({"keys": [rsa]}), rsa_all()).unwrap();
        assert!(matches!(
            set.lookup(Some("r1"), Algorithm::PS384),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("r1"), Algorithm::RS256),
            Lookup::AlgorithmMismatch
        ));
    }

    #[test]
    fn skips_unusable_keys() {
        let rsa = test_keys::jwk("rsa", Some("ok"), None);
        let with = |mut jwk: Value, name: &str, value: Value| {
            jwk[name] = value;
            jwk
        };
        let cases = [
            ("use enc", with(rsa.clone(), "use", json!("enc")), "use"),
            (
                "key_ops sign only",
                with(rsa.clone(), "key_ops", json!(["sign"])),
                "key_ops",
            ),
            (
                "alg not allowed",
                with(rsa.clone(), "alg", json!("RS512")),
                "issuer's algorithms",
            ),
            (
                "alg of another family",
                with(rsa.clone(), "alg", json!("ES256")),
                "fit the key type",
            ),
            (
                "alg unknown",
                with(rsa.clone(), "alg", json!("RSA-OAEP")),
                "presignd verifies",
            ),
            (
                "private key",
                with(rsa.clone(), "d", json!("AAAA")),
                "private",
            ),
            ("kid a number", with(rsa.clone(), "kid", json!(5)), "string"),
            ("weak RSA", test_keys::public_jwk("rsa1024", "weak"), "2048"),
            (
                "oct",
                json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode([7u8; 32]), "kid": "h"}),
                "oct",
            ),
            (
                "P-521",
                json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
                "curve",
            ),
            (
                "X25519",
                json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
                "curve",
            ),
            ("no kty", json!({"n": "AA", "e": "AQAB"}), "kty"),
            (
                "ES on the wrong curve",
                with(test_keys::jwk("ec384", None, None), "crv", json!("P-256")),
                "length",
            ),
        ];
        for (name, jwk, reason) in cases {
            let error = keys_of(
                json!({"keys": [jwk.clone()]}),
                &[Algorithm::RS256, Algorithm::ES256],
            )
            .unwrap_err();
            assert!(error.contains(reason), "{name}: {error}");
            // Next to a good key, the bad one is skipped and the good one kept.
            let set = keys_of(
                json!({"keys": [jwk, rsa.clone()]}),
                &[Algorithm::RS256, Algorithm::ES256],
            )
            .unwrap();
            assert_eq!(set.kids(), ["ok"], "{name}");
        }
    }

    #[test]
    fn refuses_bad_documents() {
        for (name, document) in [
            ("not JSON", b"<html>".to_vec()),
            ("no keys", br#"{"kes": []}"#.to_vec()),
            ("keys not an array", br#"{"keys": {}}"#.to_vec()),
            ("empty", br#"{"keys": []}"#.to_vec()),
        ] {
            assert!(parse_jwks(&document, rsa_all()).is_err(), "{name}");
        }
        let many: Vec<Value> = (0..=MAX_JWKS_KEYS)
            .map(|i| test_keys::jwk("rsa", Some(&format!("k{i}")), None))
            .collect();
        assert!(
            keys_of(json!({ "keys": many }), rsa_all())
                .unwrap_err()
                .contains("more than")
        );
    }
}
