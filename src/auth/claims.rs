//! The registered claims of a token whose signature has been verified (RFC 7519 §4.1,
//! RFC 8725 §3.8–3.10): `iss` exact, `sub` a non-empty string, `aud` (string or array)
//! naming a configured audience, `exp` required, `nbf` and `iat` checked, all times JSON
//! numbers. A claim of the wrong type is an error, never ignored.

use serde_json::{Map, Value};

use super::AuthError;

/// What a verified token's claims must satisfy.
pub(crate) struct Rules<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// Longest `exp - iat` accepted, in seconds; when set, `iat` is required.
    pub max_lifetime: Option<u64>,
    /// Now, in seconds since the Unix epoch.
    pub now: u64,
}

/// Checks `claims` against `rules`; returns the subject.
pub(crate) fn validate(
    claims: &Map<String, Value>,
    rules: &Rules<'_>,
) -> Result<String, AuthError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == rules.issuer => {}
        Some(Value::String(_)) => return Err(AuthError::UnknownIssuer),
        Some(_) => return Err(AuthError::InvalidClaim("iss")),
        None => return Err(AuthError::MissingClaim("iss")),
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        Some(Value::String(_)) => return Err(AuthError::InvalidClaim("sub")),
        Some(_) => return Err(AuthError::InvalidClaim("sub")),
        None => return Err(AuthError::MissingClaim("sub")),
    };
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;

    // Seconds as f64: NumericDate may carry a fraction, and f64 holds every second of the
    // next few million years exactly.
    let now = rules.now as f64;
    let leeway = rules.leeway as f64;
    // RFC 7519 §4.1.4: the current time must be before `exp`.
    if now >= exp + leeway {
        return Err(AuthError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(AuthError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now + leeway) {
        return Err(AuthError::IssuedInFuture);
    }
    if let Some(max) = rules.max_lifetime {
        let iat = iat.ok_or(AuthError::MissingClaim("iat"))?;
        if exp - iat > max as f64 {
            return Err(AuthError::LifetimeTooLong);
        }
    }

    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => rules.audiences.contains(aud),
        Some(Value::Array(list)) => {
            let mut any = false;
            for aud in list {
                let Value::String(aud) = aud else {
                    return Err(AuthError::InvalidClaim("aud"));
                };
                any |= rules.audiences.contains(aud);
            }
            any
        }
        Some(_) => return Err(AuthError::InvalidClaim("aud")),
        None => return Err(AuthError::MissingClaim("aud")),
    };
    if !audience_ok {
        return Err(AuthError::AudienceMismatch);
    }
    Ok(subject)
}

/// A NumericDate claim: absent, or a JSON number (never a numeric string).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_f64()
            .map(Some)
            .ok_or(AuthError::InvalidClaim(name)),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn check(claims: Value) -> Result<String, AuthError> {
        let audiences = ["presignd".to_owned(), "other-api".to_owned()];
        let rules = Rules {
            issuer: "https://idp.example.com",
            audiences: &audiences,
            leeway: 30,
            max_lifetime: None,
            now: NOW,
        };
        validate(claims.as_object().unwrap(), &rules)
    }

    fn good() -> Value {
        json!({"iss": "https://idp.example.com", "sub": "alice", "aud": "presignd", "exp": NOW + 60})
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = good();
        claims[name] = value;
        claims
    }

    fn without(name: &str) -> Value {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    #[test]
    fn accepts_valid_claims() {
        let accepted = [
            good(),
            with("aud", json!(["x", "presignd"])),
            with("aud", json!("other-api")),
            with("exp", json!(NOW as f64 + 0.5)),
            // Within the leeway on every side.
            with("exp", json!(NOW - 29)),
            with("nbf", json!(NOW + 30)),
            with("iat", json!(NOW + 30)),
            with("iat", json!(NOW - 3600)),
            with("groups", json!(["ops"])),
        ];
        for claims in accepted {
            assert_eq!(check(claims.clone()).unwrap(), "alice", "{claims}");
        }
    }

    #[test]
    fn max_lifetime_bounds_exp_minus_iat_and_requires_iat() {
        let audiences = ["presignd".to_owned()];
        let rules = Rules {
            issuer: "https://idp.example.com",
            audiences: &audiences,
            leeway: 30,
            max_lifetime: Some(600),
            now: NOW,
        };
        let check =
            |claims: Value| validate(claims.as_object().unwrap(), &rules).map_err(|e| e.reason());
        let claims = |iat: Option<u64>, exp: u64| {
            let mut claims = with("exp", json!(exp));
            if let Some(iat) = iat {
                claims["iat"] = json!(iat);
            }
            claims
        };
        assert!(check(claims(Some(NOW), NOW + 600)).is_ok());
        assert_eq!(
            check(claims(Some(NOW), NOW + 601)),
            Err("lifetime_too_long")
        );
        assert_eq!(
            check(claims(Some(NOW - 1000), NOW + 1)),
            Err("lifetime_too_long")
        );
        assert_eq!(check(claims(None, NOW + 60)), Err("missing_claim"));
    }

    #[test]
    fn refuses_invalid_claims() {
        let cases = [
            ("no exp", without("exp"), "missing_claim"),
            (
                "exp a string",
                with("exp", json!((NOW + 60).to_string())),
                "invalid_claim",
            ),
            ("exp null", with("exp", Value::Null), "invalid_claim"),
            ("exp a bool", with("exp", json!(true)), "invalid_claim"),
            ("expired", with("exp", json!(NOW - 30)), "expired"),
            ("expired long ago", with("exp", json!(1)), "expired"),
            ("exp negative", with("exp", json!(-1)), "expired"),
            ("nbf future", with("nbf", json!(NOW + 31)), "not_yet_valid"),
            (
                "nbf a string",
                with("nbf", json!(NOW.to_string())),
                "invalid_claim",
            ),
            ("iat future", with("iat", json!(NOW + 31)), "iat_future"),
            (
                "iat a string",
                with("iat", json!("yesterday")),
                "invalid_claim",
            ),
            ("no sub", without("sub"), "missing_claim"),
            ("sub a number", with("sub", json!(7)), "invalid_claim"),
            ("sub empty", with("sub", json!("")), "invalid_claim"),
            (
                "sub an array",
                with("sub", json!(["alice"])),
                "invalid_claim",
            ),
            ("no aud", without("aud"), "missing_claim"),
            (
                "aud other",
                with("aud", json!("presignd2")),
                "wrong_audience",
            ),
            (
                "aud trailing slash",
                with("aud", json!("presignd/")),
                "wrong_audience",
            ),
            ("aud case", with("aud", json!("Presignd")), "wrong_audience"),
            (
                "aud whitespace",
                with("aud", json!(" presignd")),
                "wrong_audience",
            ),
            (
                "aud lookalike",
                with("aud", json!("presignd\u{200b}")),
                "wrong_audience",
            ),
            (
                "aud cyrillic",
                with("aud", json!("prеsignd")),
                "wrong_audience",
            ),
            ("aud empty array", with("aud", json!([])), "wrong_audience"),
            (
                "aud array of others",
                with("aud", json!(["a", "b"])),
                "wrong_audience",
            ),
            (
                "aud array with a number",
                with("aud", json!(["presignd", 1])),
                "invalid_claim",
            ),
            ("aud a number", with("aud", json!(1)), "invalid_claim"),
            (
                "aud an object",
                with("aud", json!({"presignd": true})),
                "invalid_claim",
            ),
            (
                "iss other",
                with("iss", json!("https://idp.example.com/")),
                "unknown_issuer",
            ),
            (
                "iss an array",
                with("iss", json!(["https://idp.example.com"])),
                "invalid_claim",
            ),
            ("no iss", without("iss"), "missing_claim"),
        ];
        for (name, claims, reason) in cases {
            match check(claims) {
                Ok(_) => panic!("{name} accepted"),
                Err(error) => assert_eq!(error.reason(), reason, "{name}: {error}"),
            }
        }
    }
}
