//! Test-only keys (tests/fixtures/keys, generated once with openssl) and helpers that sign
//! tokens and describe keys as JWKs.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::Value;

/// The PEM of fixture `name` (`rsa.key`, `ec256.pub`, ...).
pub fn pem(name: &str) -> &'static [u8] {
    match name {
        "rsa.key" => include_bytes!("../../tests/fixtures/keys/rsa.key.pem"),
        "rsa.pub" => include_bytes!("../../tests/fixtures/keys/rsa.pub.pem"),
        "rsa-other.key" => include_bytes!("../../tests/fixtures/keys/rsa-other.key.pem"),
        "rsa1024.pub" => include_bytes!("../../tests/fixtures/keys/rsa1024.pub.pem"),
        "ec256.key" => include_bytes!("../../tests/fixtures/keys/ec256.key.pem"),
        "ec256.pub" => include_bytes!("../../tests/fixtures/keys/ec256.pub.pem"),
        "ec256-other.key" => include_bytes!("../../tests/fixtures/keys/ec256-other.key.pem"),
        "ec384.key" => include_bytes!("../../tests/fixtures/keys/ec384.key.pem"),
        "ec384.pub" => include_bytes!("../../tests/fixtures/keys/ec384.pub.pem"),
        "ed25519.key" => include_bytes!("../../tests/fixtures/keys/ed25519.key.pem"),
        "ed25519.pub" => include_bytes!("../../tests/fixtures/keys/ed25519.pub.pem"),
        "ed25519-other.key" => include_bytes!("../../tests/fixtures/keys/ed25519-other.key.pem"),
        _ => panic!("no fixture key {name}"),
    }
}

/// The signing key of fixture `name` (`rsa`, `ec256`, `ed25519-other`, ...).
pub fn encoding_key(name: &str) -> EncodingKey {
    let pem = pem(&format!("{name}.key"));
    if name.starts_with("rsa") {
        EncodingKey::from_rsa_pem(pem).unwrap()
    } else if name.starts_with("ec") {
        EncodingKey::from_ec_pem(pem).unwrap()
    } else {
        EncodingKey::from_ed_pem(pem).unwrap()
    }
}

/// The algorithm a fixture's key signs with by default.
fn default_alg(name: &str) -> Algorithm {
    match name {
        n if n.starts_with("rsa") => Algorithm::RS256,
        n if n.starts_with("ec384") => Algorithm::ES384,
        n if n.starts_with("ec") => Algorithm::ES256,
        _ => Algorithm::EdDSA,
    }
}

/// The public JWK of fixture `name`, with `kid` and `alg` when given.
pub fn jwk(name: &str, kid: Option<&str>, alg: Option<&str>) -> Value {
    let jwk = Jwk::from_encoding_key(&encoding_key(name), default_alg(name)).unwrap();
    finish(serde_json::to_value(jwk).unwrap(), kid, alg)
}

/// The JWK of public-key-only fixture `name` (`rsa1024`).
pub fn public_jwk(name: &str, kid: &str) -> Value {
    let key = DecodingKey::from_rsa_pem(pem(&format!("{name}.pub"))).unwrap();
    let jwk = Jwk::from_decoding_key(&key, None).unwrap();
    finish(serde_json::to_value(jwk).unwrap(), Some(kid), None)
}

fn finish(mut jwk: Value, kid: Option<&str>, alg: Option<&str>) -> Value {
    let object = jwk.as_object_mut().unwrap();
    object.remove("alg");
    if let Some(kid) = kid {
        object.insert("kid".into(), kid.into());
    }
    if let Some(alg) = alg {
        object.insert("alg".into(), alg.into());
    }
    jwk
}

/// `claims` signed by fixture `name` with `alg`, naming `kid`.
pub fn sign(name: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &encoding_key(name)).unwrap()
}
