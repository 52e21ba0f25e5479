//! Parsing a compact JWS (`header.payload.signature`) before anything trusts it: size,
//! shape, base64url, and JSON objects without duplicate members. Only `alg`, `kid`, `typ`
//! and `crit` are read from the header; `jku`, `x5u`, `jwk` and `x5c` are never looked at, so
//! a token can never bring or point to its own key.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::AuthError;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token split and decoded, its signature not yet checked.
#[derive(Debug)]
pub(crate) struct UnverifiedToken<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The signature segment, still base64url (checked to decode).
    pub signature: &'a str,
    /// The header's `alg`: only a name presignd implements, never `none`.
    pub alg: Algorithm,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
}

/// Splits and decodes `token`; any fault of form is an [`AuthError`].
pub(crate) fn parse(token: &str) -> Result<UnverifiedToken<'_>, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let mut segments = token.split('.');
    // Exactly three segments: a JWE (five) or a JSON serialization is not a JWS we verify.
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(AuthError::Malformed("not three segments"));
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];

    let header = decode_object(header).map_err(|_| AuthError::Malformed("header"))?;
    // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must
    // refuse the token. presignd implements none.
    if header.contains_key("crit") {
        return Err(AuthError::CriticalExtension);
    }
    if header.contains_key("enc") {
        return Err(AuthError::Malformed("encrypted token"));
    }
    // The name must match exactly: "none", "None", "NONE", "nOnE", "HS256 " all fail here.
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::from_str(name).map_err(|_| AuthError::UnsupportedAlgorithm)?
        }
        Some(_) => return Err(AuthError::Malformed("alg is not a string")),
        None => return Err(AuthError::UnsupportedAlgorithm),
    };
    // RFC 7519 §5.1 and RFC 9068 §2.1: a JWT or an OAuth access token. Any other type
    // (a JWE, a security event token, a logout token...) is not a bearer token for us,
    // so one minted for another purpose cannot be replayed here.
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if accepted_type(typ) => {}
        Some(_) => return Err(AuthError::UnsupportedType),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed("kid is not a string")),
    };

    let claims = decode_object(payload).map_err(|_| AuthError::Malformed("payload"))?;
    if signature.is_empty() {
        return Err(AuthError::Malformed("empty signature"));
    }
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(AuthError::Malformed("signature is not base64url"));
    }
    Ok(UnverifiedToken {
        signing_input,
        signature,
        alg,
        kid,
        claims,
    })
}

/// `JWT` or `at+jwt`, case-insensitive, with or without the `application/` prefix
/// (RFC 7515 §4.1.9).
fn accepted_type(typ: &str) -> bool {
    let media = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    media.eq_ignore_ascii_case("JWT") || media.eq_ignore_ascii_case("at+jwt")
}

/// base64url (no padding, canonical) of a JSON object with unique member names.
fn decode_object(segment: &str) -> Result<Map<String, Value>, ()> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| ())?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map(|object| object.0)
        .map_err(|_| ())
}

/// A JSON object that refuses duplicate member names. Parsers disagree on which duplicate
/// wins (RFC 8725 §3.1 warns of it), so a token that has any is refused outright.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictObjectVisitor)
    }
}

struct StrictObjectVisitor;

impl<'de> Visitor<'de> for StrictObjectVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut object = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom("duplicate member"));
            }
            let value: Value = access.next_value()?;
            object.insert(name, value);
        }
        Ok(StrictObject(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str, signature: &str) -> String {
        format!("{}.{}.{signature}", b64(header), b64(payload))
    }

    const PAYLOAD: &str = r#"{"iss":"i","sub":"s"}"#;

    #[test]
    fn reads_alg_kid_and_claims() {
        let text = token(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#, PAYLOAD, "c2ln");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["sub"], "s");
        assert_eq!(parsed.signature, "c2ln");
        assert_eq!(format!("{}.c2ln", parsed.signing_input), text);
    }

    #[test]
    fn refuses_malformed_tokens() {
        let cases: Vec<(&str, String, &str)> = vec![
            ("empty", String::new(), "missing"),
            ("too large", "a".repeat(MAX_TOKEN_BYTES + 1), "too_large"),
            (
                "two segments",
                format!("{}.{}", b64(r#"{"alg":"HS256"}"#), b64(PAYLOAD)),
                "malformed",
            ),
            ("five segments (JWE)", "a.b.c.d.e".into(), "malformed"),
            (
                "four segments",
                format!("{}.x", token(r#"{"alg":"HS256"}"#, PAYLOAD, "c2ln")),
                "malformed",
            ),
            (
                "header not base64",
                format!("!!.{}.c2ln", b64(PAYLOAD)),
                "malformed",
            ),
            (
                "padded header",
                format!("{}=.{}.c2ln", b64(r#"{"alg":"HS256"} "#), b64(PAYLOAD)),
                "malformed",
            ),
            (
                "header not JSON",
                token("alg=HS256", PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "header an array",
                token(r#"["HS256"]"#, PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "duplicate alg",
                token(r#"{"alg":"none","alg":"HS256"}"#, PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "payload not JSON",
                token(r#"{"alg":"HS256"}"#, "hello", "c2ln"),
                "malformed",
            ),
            (
                "payload a string",
                token(r#"{"alg":"HS256"}"#, r#""sub""#, "c2ln"),
                "malformed",
            ),
            (
                "duplicate iss",
                token(r#"{"alg":"HS256"}"#, r#"{"iss":"a","iss":"b"}"#, "c2ln"),
                "malformed",
            ),
            (
                "empty signature",
                token(r#"{"alg":"HS256"}"#, PAYLOAD, ""),
                "malformed",
            ),
            (
                "signature not base64url",
                token(r#"{"alg":"HS256"}"#, PAYLOAD, "c2ln+/=="),
                "malformed",
            ),
            (
                "kid a number",
                token(r#"{"alg":"HS256","kid":7}"#, PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "alg a list",
                token(r#"{"alg":["HS256"]}"#, PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "JWE header",
                token(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#, PAYLOAD, "c2ln"),
                "malformed",
            ),
            (
                "no alg",
                token(r#"{"typ":"JWT"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg none",
                token(r#"{"alg":"none"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg None",
                token(r#"{"alg":"None"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg NONE",
                token(r#"{"alg":"NONE"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg nOnE",
                token(r#"{"alg":"nOnE"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg hs256",
                token(r#"{"alg":"hs256"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "alg ES512",
                token(r#"{"alg":"ES512"}"#, PAYLOAD, "c2ln"),
                "unsupported_alg",
            ),
            (
                "crit",
                token(r#"{"alg":"HS256","crit":["exp"]}"#, PAYLOAD, "c2ln"),
                "crit",
            ),
            (
                "crit b64",
                token(
                    r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
                    PAYLOAD,
                    "c2ln",
                ),
                "crit",
            ),
        ];
        for (name, text, reason) in cases {
            match parse(&text) {
                Ok(parsed) => panic!("{name}: accepted as {parsed:?}"),
                Err(error) => assert_eq!(error.reason(), reason, "{name}: {error}"),
            }
        }
    }

    #[test]
    fn typ_is_absent_jwt_or_an_access_token() {
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/JWT",
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#);
            assert!(parse(&token(&header, PAYLOAD, "c2ln")).is_ok(), "{typ}");
        }
        for typ in [
            r#""JWE""#,
            r#""secevent+jwt""#,
            r#""""#,
            r#""application/""#,
            "5",
            "null",
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":{typ}}}"#);
            let error = parse(&token(&header, PAYLOAD, "c2ln")).unwrap_err();
            assert_eq!(error.reason(), "unsupported_typ", "{typ}");
        }
    }

    #[test]
    fn never_reads_key_carrying_headers() {
        // jku/x5u/jwk/x5c parse (they are legal JWS headers) but UnverifiedToken has no
        // field for them: nothing downstream can use them.
        let text = token(
            r#"{"alg":"RS256","jku":"http://127.0.0.1:1/jwks","x5u":"http://127.0.0.1:1/c","jwk":{"kty":"oct","k":"AAAA"},"x5c":["AAAA"]}"#,
            PAYLOAD,
            "c2ln",
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.kid, None);
    }
}
