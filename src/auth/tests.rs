//! The verifier against configured keys: every algorithm accepted, and the attacks of
//! RFC 8725, the PortSwigger JWT labs and jwt_tool's playbook refused with the right
//! reason. JWKS behaviour through the whole app is in tests/it/auth.rs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use figment::Figment;
use figment::providers::{Format, Toml};
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header};
use serde_json::{Value, json};

use super::test_keys::{self, pem};
use super::*;
use crate::config::{Config, DEFAULT_TOML, Secret};

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const HS_ISSUER: &str = "https://hs.example.com";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/keys/{name}.pem"))
}

fn hs_issuer(name: &str) -> IssuerConfig {
    IssuerConfig::with_secret(name, "presignd", Secret::new(SECRET))
}

/// An issuer verifying with fixture `public` (e.g. `rsa.pub`) and `algorithms`.
fn pem_issuer(name: &str, public: &str, algorithms: &[Algorithm]) -> IssuerConfig {
    let mut config = hs_issuer(name);
    config.secret = None;
    config.public_key_pem = Some(fixture(public));
    config.algorithms = algorithms.to_vec();
    config
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(iss: &str) -> Value {
    json!({"iss": iss, "sub": "alice", "aud": "presignd", "exp": now() + 600, "iat": now()})
}

fn hs_sign(claims: &Value, secret: &[u8], header: &Header) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with `header` and `claims` as given, and `signature` (base64url) as is.
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

/// Every fixture issuer presignd supports, one per algorithm family.
fn all_issuers() -> Vec<IssuerConfig> {
    let mut hs = hs_issuer(HS_ISSUER);
    hs.secret = Some(Secret::new(SECRET.repeat(2)));
    hs.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    vec![
        hs,
        pem_issuer(
            "https://rsa.example.com",
            "rsa.pub",
            AlgorithmFamily::Rsa.algorithms(),
        ),
        pem_issuer(
            "https://ec256.example.com",
            "ec256.pub",
            &[Algorithm::ES256],
        ),
        pem_issuer(
            "https://ec384.example.com",
            "ec384.pub",
            &[Algorithm::ES384],
        ),
        pem_issuer("https://ed.example.com", "ed25519.pub", &[Algorithm::EdDSA]),
    ]
}

async fn refusal(verifier: &Verifier, token: &str) -> &'static str {
    match verifier.verify(token).await {
        Ok(principal) => panic!("accepted: {principal:?}"),
        Err(error) => error.reason(),
    }
}

#[tokio::test]
async fn accepts_every_supported_algorithm() {
    let verifier = Verifier::new(&all_issuers()).unwrap();
    let long_secret = SECRET.repeat(2);
    let cases: Vec<(Algorithm, String)> = vec![
        (
            Algorithm::HS256,
            hs_sign(
                &claims(HS_ISSUER),
                long_secret.as_bytes(),
                &Header::new(Algorithm::HS256),
            ),
        ),
        (
            Algorithm::HS384,
            hs_sign(
                &claims(HS_ISSUER),
                long_secret.as_bytes(),
                &Header::new(Algorithm::HS384),
            ),
        ),
        (
            Algorithm::HS512,
            hs_sign(
                &claims(HS_ISSUER),
                long_secret.as_bytes(),
                &Header::new(Algorithm::HS512),
            ),
        ),
        (
            Algorithm::RS256,
            test_keys::sign(
                "rsa",
                Algorithm::RS256,
                None,
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::RS384,
            test_keys::sign(
                "rsa",
                Algorithm::RS384,
                None,
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::RS512,
            test_keys::sign(
                "rsa",
                Algorithm::RS512,
                None,
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::PS256,
            test_keys::sign(
                "rsa",
                Algorithm::PS256,
                None,
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::PS384,
            test_keys::sign(
                "rsa",
                Algorithm::PS384,
                None,
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::PS512,
            test_keys::sign(
                "rsa",
                Algorithm::PS512,
                Some("any"),
                &claims("https://rsa.example.com"),
            ),
        ),
        (
            Algorithm::ES256,
            test_keys::sign(
                "ec256",
                Algorithm::ES256,
                None,
                &claims("https://ec256.example.com"),
            ),
        ),
        (
            Algorithm::ES384,
            test_keys::sign(
                "ec384",
                Algorithm::ES384,
                None,
                &claims("https://ec384.example.com"),
            ),
        ),
        (
            Algorithm::EdDSA,
            test_keys::sign(
                "ed25519",
                Algorithm::EdDSA,
                None,
                &claims("https://ed.example.com"),
            ),
        ),
    ];
    for (alg, token) in cases {
        let principal = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg:?} refused: {} ({e})", e.reason()));
        assert_eq!(principal.subject, "alice", "{alg:?}");
        assert_eq!(principal.claims["aud"], "presignd");
    }
}

#[tokio::test]
async fn refuses_forgeries() {
    let verifier = Verifier::new(&all_issuers()).unwrap();
    let rsa_iss = "https://rsa.example.com";
    let good_rsa = test_keys::sign("rsa", Algorithm::RS256, None, &claims(rsa_iss));
    let parts: Vec<&str> = good_rsa.split('.').collect();
    let rsa_claims = claims(rsa_iss);

    // alg=none in its spellings, signature empty or kept (RFC 8725 §2.1; CVE-2015-9235).
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        for signature in ["", parts[2]] {
            let token = raw_token(&header, &rsa_claims, signature);
            let reason = refusal(&verifier, &token).await;
            assert!(
                ["unsupported_alg", "malformed"].contains(&reason),
                "alg {alg}: {reason}"
            );
        }
    }

    // Algorithm confusion (CVE-2016-10555): HS256 keyed with the RSA public key, as PEM
    // text (with and without its final newline) and as DER (SPKI and PKCS#1).
    let public_pem = pem("rsa.pub");
    let spki_der = URL_SAFE_NO_PAD.decode(b64_body(public_pem)).unwrap();
    let pkcs1_der = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem)
        .unwrap()
        .try_get_as_bytes()
        .unwrap()
        .to_vec();
    let trimmed = std::str::from_utf8(public_pem)
        .unwrap()
        .trim_end()
        .as_bytes()
        .to_vec();
    for (form, secret) in [
        ("pem", public_pem.to_vec()),
        ("pem trimmed", trimmed),
        ("spki der", spki_der),
        ("pkcs1 der", pkcs1_der),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = hs_sign(&rsa_claims, &secret, &Header::new(alg));
            assert_eq!(
                refusal(&verifier, &token).await,
                "alg_not_allowed",
                "{form} {alg:?}"
            );
        }
    }

    // Tampered payload: claims changed after signing (PortSwigger lab 1).
    let mut admin = rsa_claims.clone();
    admin["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(admin.to_string()), parts[2]);
    assert_eq!(refusal(&verifier, &tampered).await, "bad_signature");

    // Truncated, emptied, and bit-flipped signatures.
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..128]);
    assert_eq!(refusal(&verifier, &truncated).await, "bad_signature");
    // A cut that leaves an impossible base64url length is refused before any crypto.
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..169]);
    assert_eq!(refusal(&verifier, &truncated).await, "malformed");
    let emptied = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(refusal(&verifier, &emptied).await, "malformed");
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(refusal(&verifier, &flipped).await, "bad_signature");

    // Signed by another key of the right type.
    for (key, alg, iss) in [
        ("rsa-other", Algorithm::RS256, rsa_iss),
        ("ec256-other", Algorithm::ES256, "https://ec256.example.com"),
        ("ed25519-other", Algorithm::EdDSA, "https://ed.example.com"),
    ] {
        let token = test_keys::sign(key, alg, None, &claims(iss));
        assert_eq!(refusal(&verifier, &token).await, "bad_signature", "{key}");
    }
    let token = hs_sign(
        &claims(HS_ISSUER),
        b"another-secret-another-secret-another-secret-xxxxx",
        &Header::default(),
    );
    assert_eq!(refusal(&verifier, &token).await, "bad_signature");

    // An algorithm the issuer does not allow, even with its own key.
    let token = test_keys::sign("ec256", Algorithm::ES256, None, &claims(rsa_iss));
    assert_eq!(refusal(&verifier, &token).await, "alg_not_allowed");
    let token = test_keys::sign(
        "rsa",
        Algorithm::RS256,
        None,
        &claims("https://ec256.example.com"),
    );
    assert_eq!(refusal(&verifier, &token).await, "alg_not_allowed");

    // CVE-2022-21449 "psychic signatures": r = s = 0.
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let zero = raw_token(
        &header,
        &claims("https://ec256.example.com"),
        &b64([0u8; 64]),
    );
    assert_eq!(refusal(&verifier, &zero).await, "bad_signature");
    let header = json!({"alg": "ES384", "typ": "JWT"});
    let zero = raw_token(
        &header,
        &claims("https://ec384.example.com"),
        &b64([0u8; 96]),
    );
    assert_eq!(refusal(&verifier, &zero).await, "bad_signature");
    // A DER-encoded ECDSA signature where JWS wants r||s.
    let der_zero = raw_token(
        &json!({"alg": "ES256"}),
        &claims("https://ec256.example.com"),
        &b64([0x30, 6, 2, 1, 0, 2, 1, 0]),
    );
    assert_eq!(refusal(&verifier, &der_zero).await, "bad_signature");

    // Embedded jwk (CVE-2018-0114): the attacker's key in the header, signed with it.
    let attacker = test_keys::jwk("rsa-other", Some("attacker"), None);
    let mut header = Header::new(Algorithm::RS256);
    header.jwk = Some(serde_json::from_value(attacker).unwrap());
    header.kid = Some("attacker".into());
    let token =
        jsonwebtoken::encode(&header, &rsa_claims, &test_keys::encoding_key("rsa-other")).unwrap();
    assert_eq!(refusal(&verifier, &token).await, "bad_signature");
    // ... and an HMAC jwk in the header with HS256.
    let token = raw_token(
        &json!({"alg": "HS256", "jwk": {"kty": "oct", "k": b64(SECRET)}}),
        &rsa_claims,
        "c2ln",
    );
    assert_eq!(refusal(&verifier, &token).await, "alg_not_allowed");
}

/// The base64 body of a PEM, as base64url.
fn b64_body(pem: &[u8]) -> String {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    body.replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned()
}

#[tokio::test]
async fn refuses_bad_claims_and_strangers() {
    let verifier = Verifier::new(&[hs_issuer(HS_ISSUER)]).unwrap();
    let sign = |claims: Value| hs_sign(&claims, SECRET.as_bytes(), &Header::default());
    let with = |name: &str, value: Value| {
        let mut c = claims(HS_ISSUER);
        c[name] = value;
        sign(c)
    };
    let without = |name: &str| {
        let mut c = claims(HS_ISSUER);
        c.as_object_mut().unwrap().remove(name);
        sign(c)
    };
    let cases = [
        ("expired", with("exp", json!(now() - 120)), "expired"),
        (
            "future nbf",
            with("nbf", json!(now() + 3600)),
            "not_yet_valid",
        ),
        ("future iat", with("iat", json!(now() + 3600)), "iat_future"),
        (
            "exp a string",
            with("exp", json!((now() + 600).to_string())),
            "invalid_claim",
        ),
        (
            "nbf a string",
            with("nbf", json!(now().to_string())),
            "invalid_claim",
        ),
        ("no exp", without("exp"), "missing_claim"),
        ("no sub", without("sub"), "missing_claim"),
        ("sub a number", with("sub", json!(42)), "invalid_claim"),
        ("no iss", without("iss"), "missing_claim"),
        (
            "iss an array",
            with("iss", json!([HS_ISSUER])),
            "invalid_claim",
        ),
        (
            "wrong aud",
            with("aud", json!("presignd-staging")),
            "wrong_audience",
        ),
        (
            "aud array without ours",
            with("aud", json!(["a", "b"])),
            "wrong_audience",
        ),
        (
            "iss trailing slash",
            with("iss", json!(format!("{HS_ISSUER}/"))),
            "unknown_issuer",
        ),
        (
            "iss case",
            with("iss", json!(HS_ISSUER.to_uppercase())),
            "unknown_issuer",
        ),
        (
            "iss whitespace",
            with("iss", json!(format!(" {HS_ISSUER}"))),
            "unknown_issuer",
        ),
        (
            "iss trailing whitespace",
            with("iss", json!(format!("{HS_ISSUER}\n"))),
            "unknown_issuer",
        ),
        // Cyrillic "е" (U+0435) for Latin "e".
        (
            "iss lookalike",
            with("iss", json!("https://hs.еxample.com")),
            "unknown_issuer",
        ),
        (
            "iss zero-width",
            with("iss", json!("https://hs.example.com\u{200b}")),
            "unknown_issuer",
        ),
        (
            "huge",
            with("pad", json!("x".repeat(MAX_TOKEN_BYTES))),
            "too_large",
        ),
    ];
    for (name, token, reason) in cases {
        assert_eq!(refusal(&verifier, &token).await, reason, "{name}");
    }
    // An array aud that contains ours is fine.
    let token = with("aud", json!(["other", "presignd"]));
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn several_issuers_each_with_their_own_keys() {
    let mut second = hs_issuer("https://second.example.com");
    second.secret = Some(Secret::new("a different secret, also 32 bytes long"));
    second.audiences = vec!["second-aud".into()];
    let verifier = Verifier::new(&[hs_issuer(HS_ISSUER), second]).unwrap();
    // Issuer 2's claims signed with issuer 1's secret.
    let mut claims2 = claims("https://second.example.com");
    claims2["aud"] = json!("second-aud");
    let token = hs_sign(&claims2, SECRET.as_bytes(), &Header::default());
    assert_eq!(refusal(&verifier, &token).await, "bad_signature");
    let token = hs_sign(
        &claims2,
        b"a different secret, also 32 bytes long",
        &Header::default(),
    );
    assert_eq!(
        verifier.verify(&token).await.unwrap().issuer,
        "https://second.example.com"
    );
    // Audiences are per issuer.
    let token = hs_sign(&claims(HS_ISSUER), SECRET.as_bytes(), &Header::default());
    assert!(verifier.verify(&token).await.is_ok());
    let mut cross = claims(HS_ISSUER);
    cross["aud"] = json!("second-aud");
    let token = hs_sign(&cross, SECRET.as_bytes(), &Header::default());
    assert_eq!(refusal(&verifier, &token).await, "wrong_audience");
    assert!(verifier.issuers_without_keys().is_empty());
}

#[tokio::test]
async fn mints_verifiable_tokens() {
    let config = hs_issuer(HS_ISSUER);
    let verifier = Verifier::new(std::slice::from_ref(&config)).unwrap();
    let mut extra = Map::new();
    extra.insert("groups".into(), json!(["ops"]));
    let token = mint_token(&config, "alice", &extra, 60).unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.claims["groups"], json!(["ops"]));
    let exp = principal.claims["exp"].as_u64().unwrap();
    assert!((now() + 55..=now() + 60).contains(&exp), "{exp}");

    let mut reserved = Map::new();
    reserved.insert("exp".into(), json!(1));
    assert!(
        mint_token(&config, "alice", &reserved, 60)
            .unwrap_err()
            .to_string()
            .contains("--claim")
    );
    assert!(mint_token(&config, "", &Map::new(), 60).is_err());
    assert!(mint_token(&config, "alice", &Map::new(), 0).is_err());
    let rsa = pem_issuer("https://rsa.example.com", "rsa.pub", &[Algorithm::RS256]);
    assert!(
        mint_token(&rsa, "alice", &Map::new(), 60)
            .unwrap_err()
            .to_string()
            .contains("only HS issuers")
    );
    // HS512 issuers mint HS512 with a 64-byte secret.
    let mut hs512 = hs_issuer(HS_ISSUER);
    hs512.algorithms = vec![Algorithm::HS512];
    hs512.secret = Some(Secret::new(SECRET.repeat(2)));
    let token = mint_token(&hs512, "bob", &Map::new(), 60).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        Algorithm::HS512
    );
    assert!(
        Verifier::new(&[hs512])
            .unwrap()
            .verify(&token)
            .await
            .is_ok()
    );
}

#[test]
fn refuses_weak_or_mismatched_keys_at_startup() {
    let mut short = hs_issuer("i");
    short.secret = Some(Secret::new("short"));
    let mut hs512_short = hs_issuer("i");
    hs512_short.algorithms = vec![Algorithm::HS512];
    let mut ec_as_rsa = pem_issuer("i", "ec256.pub", &[Algorithm::RS256]);
    ec_as_rsa.issuer = "i".into();
    let private = pem_issuer("i", "rsa.key", &[Algorithm::RS256]);
    let mut missing = pem_issuer("i", "rsa.pub", &[]);
    missing.public_key_pem = Some("/nonexistent/key.pem".into());
    let mut placeholder = hs_issuer("i");
    placeholder.secret = Some(Secret::new(
        include_str!("../../deploy/jwt-secret.example").trim(),
    ));
    let mut marked = hs_issuer("i");
    marked.secret = Some(Secret::new(
        "CHANGE-ME-but-long-enough-to-pass-the-length-check",
    ));
    let cases = [
        (placeholder, "placeholder from deploy/jwt-secret.example"),
        (marked, "auth.issuers[0].secret: is the placeholder"),
        (short, "auth.issuers[0].secret"),
        (hs512_short, "auth.issuers[0].secret"),
        (ec_as_rsa, "auth.issuers[0].public_key_pem"),
        (private, "private key"),
        (missing, "cannot read"),
    ];
    for (config, expected) in cases {
        let error = Verifier::new(&[config]).unwrap_err().to_string();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    let error = Verifier::new(&[hs_issuer("i"), hs_issuer("i")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("auth.issuers[1].issuer") && error.contains("twice"),
        "{error}"
    );
}

#[test]
fn issuer_configuration_is_checked_with_key_names() {
    // What `Verifier::new` checks, before any file is read.
    let load = |toml: &str| {
        let figment = Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(toml));
        let config = Config::from_figment(figment).map_err(|e| e.to_string())?;
        for (index, issuer) in config.auth.issuers.iter().enumerate() {
            super::validate::validate_issuer(issuer, &format!("auth.issuers[{index}]"))
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let issuer = |rest: &str| {
        format!(
            "[[auth.issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"a\"]\n{rest}"
        )
    };
    let refused = [
        (issuer(""), "exactly one of"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\njwks_url = \"https://idp.example.com/jwks\""), "exactly one of"),
        (issuer("jwks_url = \"http://idp.example.com/jwks\""), "auth.issuers[0].jwks_url"),
        (issuer("jwks_url = \"http://10.1.2.3/jwks\""), "https"),
        (issuer("jwks_url = \"file:///etc/jwks.json\""), "auth.issuers[0].jwks_url"),
        (issuer("jwks_url = \"not a url\""), "not a URL"),
        (issuer("jwks_url = \"https://idp.example.com/jwks\"\nalgorithms = [\"HS256\"]"), "auth.issuers[0].algorithms"),
        (issuer("discovery = true\nalgorithms = [\"RS256\", \"HS512\"]"), "HS*"),
        (
            "[[auth.issuers]]\nissuer = \"http://idp.example.com\"\naudiences = [\"a\"]\ndiscovery = true".into(),
            "auth.issuers[0].issuer",
        ),
        (
            "[[auth.issuers]]\nissuer = \"presignd-local\"\naudiences = [\"a\"]\ndiscovery = true".into(),
            "auth.issuers[0].issuer",
        ),
        (
            "[[auth.issuers]]\nissuer = \"https://idp.example.com/?tenant=x\"\naudiences = [\"a\"]\ndiscovery = true".into(),
            "query or fragment",
        ),
        (issuer("public_key_pem = \"/k.pem\"\nalgorithms = [\"HS256\"]"), "never HS*"),
        (issuer("public_key_pem = \"/k.pem\"\nalgorithms = [\"RS256\", \"ES256\"]"), "one family"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"RS256\"]"), "a secret verifies only"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"none\"]"), "algorithms"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"HS256\", \"HS256\"]"), "twice"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\njwks_refresh_seconds = 60"), "jwks_refresh_seconds"),
        (issuer("jwks_url = \"https://idp.example.com/jwks\"\njwks_min_refresh_seconds = 0"), "must be > 0"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\nleeway_seconds = 86400"), "leeway_seconds"),
        (issuer("secret = \"0123456789abcdef0123456789abcdef\"\njku = \"https://x\""), "jku"),
        (
            "[[auth.issuers]]\nissuer = \"https://idp.example.com \"\naudiences = [\"a\"]\nsecret = \"0123456789abcdef0123456789abcdef\"".into(),
            "auth.issuers[0].issuer",
        ),
    ];
    for (toml, expected) in refused {
        let error = load(&toml).expect_err(&toml);
        assert!(error.contains(expected), "{toml}\n=> {error}");
    }
    let accepted = [
        issuer("jwks_url = \"https://idp.example.com/.well-known/jwks.json\""),
        issuer("jwks_url = \"http://127.0.0.1:8080/jwks\"\nalgorithms = [\"RS256\", \"ES256\", \"EdDSA\"]"),
        issuer("discovery = true\njwks_refresh_seconds = 600\njwks_min_refresh_seconds = 60"),
        "[[auth.issuers]]\nissuer = \"http://localhost:9000/realms/x\"\naudiences = [\"a\"]\ndiscovery = true".into(),
        issuer("public_key_pem = \"/k.pem\"\nalgorithms = [\"PS256\", \"RS512\"]"),
        issuer("secret_file = \"/run/secrets/jwt\"\nalgorithms = [\"HS384\", \"HS256\"]"),
    ];
    for toml in accepted {
        load(&toml).unwrap_or_else(|e| panic!("{toml}\n=> {e}"));
    }
}

#[test]
fn secret_file_is_read_trimmed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let mut config = hs_issuer(HS_ISSUER);
    config.secret = None;
    config.secret_file = Some(file.clone());
    assert!(Verifier::new(std::slice::from_ref(&config)).is_ok());
    let token = mint_token(&config, "alice", &Map::new(), 60).unwrap();
    // The trimmed file content is the key: the minted token verifies with SECRET.
    let verifier = Verifier::new(&[hs_issuer(HS_ISSUER)]).unwrap();
    assert!(
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(verifier.verify(&token))
            .is_ok()
    );
    std::fs::write(&file, "short\n").unwrap();
    let error = Verifier::new(&[config]).unwrap_err().to_string();
    assert!(error.contains("auth.issuers[0].secret_file"), "{error}");
}

#[test]
fn reasons_are_few_and_stable() {
    // A metric may label with these: they must never carry data.
    let all = [
        AuthError::Missing,
        AuthError::TooLarge,
        AuthError::Malformed("x"),
        AuthError::UnsupportedAlgorithm,
        AuthError::CriticalExtension,
        AuthError::UnknownIssuer,
        AuthError::AlgorithmNotAllowed,
        AuthError::KeysUnavailable,
        AuthError::UnknownKey,
        AuthError::BadSignature,
        AuthError::MissingClaim("exp"),
        AuthError::InvalidClaim("exp"),
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::IssuedInFuture,
        AuthError::AudienceMismatch,
    ];
    let reasons: std::collections::BTreeSet<&str> = all.iter().map(AuthError::reason).collect();
    assert_eq!(reasons.len(), all.len());
    assert!(
        reasons
            .iter()
            .all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}

#[test]
fn the_documented_examples_are_valid() {
    // The [[auth.issuers]] examples commented in config/default.toml, uncommented.
    let examples: String = DEFAULT_TOML
        .split("# Examples:\n")
        .nth(1)
        .and_then(|rest| rest.split("issuers = []").next())
        .expect("config/default.toml has an Examples block")
        .lines()
        .map(|line| format!("{}\n", line.trim_start_matches('#').trim_start()))
        .collect();
    assert!(
        examples.matches("[[auth.issuers]]").count() >= 2,
        "{examples}"
    );
    let config = Config::from_figment(
        Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(&examples)),
    )
    .unwrap_or_else(|e| panic!("{examples}\n=> {e}"));
    assert_eq!(config.auth.issuers.len(), 2);
}
