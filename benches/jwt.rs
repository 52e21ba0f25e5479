//! JWT verification cost: `Verifier::verify` for HS256 and RS256 tokens, next to
//! jsonwebtoken's bare `decode` with the same key and validation, so the difference is
//! presignd's own work (issuer lookup, `crit` check, claims into a `Principal`).
//!
//! `cargo bench --bench jwt`. RS256 needs `openssl` on the PATH to make a throwaway key.

use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use presignd::auth::Verifier;
use presignd::config::{IssuerConfig, Secret};
use serde_json::{Value, json};

const SECRET: &str = "bench-only-hs256-secret-0123456789abcdef";

fn claims(issuer: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": issuer,
        "aud": "presignd",
        "sub": "user-0042",
        "iat": now,
        "exp": now + 3600,
        "groups": ["staff", "uploaders"],
        "tenant": "acme",
    })
}

fn issuer(name: &str) -> IssuerConfig {
    let mut config = IssuerConfig::with_secret(name, "presignd", Secret::new(SECRET));
    config.secret = None;
    config
}

/// A fresh RSA key pair in `dir`: (private PEM bytes, public PEM path).
fn rsa_key(dir: &Path) -> (Vec<u8>, std::path::PathBuf) {
    let private = dir.join("rs256.key");
    let public = dir.join("rs256.pub");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl must be installed for the RS256 bench");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "genpkey",
        "-quiet",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (std::fs::read(&private).unwrap(), public)
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (private_pem, public_path) = rsa_key(dir.path());

    let mut hs = issuer("https://idp.bench/hs");
    hs.secret = Some(Secret::new(SECRET));
    let mut rs = issuer("https://idp.bench/rs");
    rs.algorithms = vec![Algorithm::RS256];
    rs.public_key_pem = Some(public_path.clone());
    let verifier = Verifier::new(&[hs, rs]).unwrap();

    let hs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("https://idp.bench/hs"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let rs_token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims("https://idp.bench/rs"),
        &EncodingKey::from_rsa_pem(&private_pem).unwrap(),
    )
    .unwrap();
    // `verify` is async (an unknown kid may wait for a JWKS refresh); with static keys it
    // never awaits, so a current-thread runtime adds only its own small constant.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(verifier.verify(&hs_token)).is_ok());
    assert!(runtime.block_on(verifier.verify(&rs_token)).is_ok());

    let mut group = c.benchmark_group("jwt");
    group.bench_function("verifier_hs256", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(std::hint::black_box(&hs_token)))
                .unwrap()
        })
    });
    group.bench_function("verifier_rs256", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(std::hint::black_box(&rs_token)))
                .unwrap()
        })
    });

    // The floor: jsonwebtoken alone, same keys and checks.
    let bare = |algorithm: Algorithm, issuer: &str| {
        let mut validation = Validation::new(algorithm);
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&["presignd"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation
    };
    let hs_key = DecodingKey::from_secret(SECRET.as_bytes());
    let hs_validation = bare(Algorithm::HS256, "https://idp.bench/hs");
    group.bench_function("jsonwebtoken_hs256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(
                std::hint::black_box(&hs_token),
                &hs_key,
                &hs_validation,
            )
            .unwrap()
        })
    });
    let rs_key = DecodingKey::from_rsa_pem(&std::fs::read(&public_path).unwrap()).unwrap();
    let rs_validation = bare(Algorithm::RS256, "https://idp.bench/rs");
    group.bench_function("jsonwebtoken_rs256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(
                std::hint::black_box(&rs_token),
                &rs_key,
                &rs_validation,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
