//! Validation of the `[[auth.issuers]]` settings: one key source, algorithms that key can
//! verify (never HS* with a public key), https key URLs, sane leeway and refresh times.

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use crate::config::{ConfigError, IssuerConfig, KeySource, MAX_LEEWAY_SECONDS};

/// Checks one issuer's settings against each other; `key` (`auth.issuers[N]`) prefixes
/// errors. Runs once, when the [`super::Verifier`] is built, before any file is read.
pub(crate) fn validate_issuer(config: &IssuerConfig, key: &str) -> Result<(), ConfigError> {
    if config.issuer.is_empty() || config.issuer.trim() != config.issuer {
        return Err(ConfigError::invalid(
            format!("{key}.issuer"),
            "must not be empty or have surrounding whitespace (it is compared byte for byte)",
        ));
    }
    if config.audiences.is_empty() || config.audiences.iter().any(String::is_empty) {
        return Err(ConfigError::invalid(
            format!("{key}.audiences"),
            "at least one non-empty audience is required",
        ));
    }
    let Some(source) = config.key_source() else {
        return Err(ConfigError::invalid(
            key,
            "set exactly one of secret, secret_file, public_key_pem, jwks_url, discovery = true",
        ));
    };
    if config.leeway_seconds > MAX_LEEWAY_SECONDS {
        return Err(ConfigError::invalid(
            format!("{key}.leeway_seconds"),
            format!("must be at most {MAX_LEEWAY_SECONDS}"),
        ));
    }
    if config.max_token_lifetime_seconds == Some(0) {
        return Err(ConfigError::invalid(
            format!("{key}.max_token_lifetime_seconds"),
            "must be at least 1",
        ));
    }
    let algorithms = config.allowed_algorithms();
    let algorithms_key = format!("{key}.algorithms");
    for (index, algorithm) in algorithms.iter().enumerate() {
        if algorithms[..index].contains(algorithm) {
            return Err(ConfigError::invalid(
                &algorithms_key,
                format!("{algorithm:?} is listed twice"),
            ));
        }
    }
    let hmac = |a: &Algorithm| a.family() == AlgorithmFamily::Hmac;
    match source {
        KeySource::Secret(_) | KeySource::SecretFile(_) => {
            if !algorithms.iter().all(hmac) {
                return Err(ConfigError::invalid(
                    algorithms_key,
                    "a secret verifies only HS256, HS384, HS512",
                ));
            }
        }
        KeySource::PublicKeyPem(_) => {
            // An HS* algorithm here would use the public key as an HMAC secret: the
            // classic algorithm-confusion forgery.
            if algorithms.iter().any(hmac)
                || algorithms
                    .iter()
                    .any(|a| a.family() != algorithms[0].family())
            {
                return Err(ConfigError::invalid(
                    algorithms_key,
                    "a public key verifies one family only: RS*/PS*, ES256/ES384 or EdDSA (never HS*)",
                ));
            }
        }
        KeySource::JwksUrl(url) => {
            if algorithms.iter().any(hmac) {
                return Err(ConfigError::invalid(
                    algorithms_key,
                    "HS* never comes from a JWKS; use secret or secret_file",
                ));
            }
            check_fetch_url(&format!("{key}.jwks_url"), url)?;
        }
        KeySource::Discovery => {
            if algorithms.iter().any(hmac) {
                return Err(ConfigError::invalid(
                    algorithms_key,
                    "HS* never comes from a JWKS; use secret or secret_file",
                ));
            }
            check_fetch_url(&format!("{key}.issuer"), &config.issuer)?;
            // OIDC issuers have neither (OpenID Connect Discovery 1.0 §2), and the
            // discovery URL is built by appending to the issuer.
            if config.issuer.contains(['?', '#']) {
                return Err(ConfigError::invalid(
                    format!("{key}.issuer"),
                    "an OIDC issuer has no query or fragment",
                ));
            }
        }
    }
    for (name, value) in [
        ("jwks_refresh_seconds", config.jwks_refresh_seconds),
        ("jwks_min_refresh_seconds", config.jwks_min_refresh_seconds),
    ] {
        match value {
            None => {}
            Some(_) if !config.is_remote() => {
                return Err(ConfigError::invalid(
                    format!("{key}.{name}"),
                    "applies only with jwks_url or discovery = true",
                ));
            }
            Some(0) => {
                return Err(ConfigError::invalid(format!("{key}.{name}"), "must be > 0"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Keys are fetched over https only, except from this machine (a local IdP or a test).
fn check_fetch_url(key: &str, url: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url) {
        Ok(parsed) if super::fetch_url_allowed(&parsed) => Ok(()),
        Ok(_) => Err(ConfigError::invalid(
            key,
            "must be an https URL (http only on a loopback host)",
        )),
        Err(error) => Err(ConfigError::invalid(key, format!("not a URL: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;
    use crate::config::{Config, DEFAULT_TOML};

    #[test]
    fn invalid_issuers_name_the_key() {
        for (toml, key) in [
            (
                "[[auth.issuers]]\nissuer = \"a\"\naudiences = [\"x\"]",
                "auth.issuers[0]",
            ),
            (
                "[[auth.issuers]]\nissuer = \"a\"\nsecret = \"s\"",
                "auth.issuers[0].audiences",
            ),
            (
                "[[auth.issuers]]\nissuer = \"a\"\naudiences = [\"x\"]\njwks_url = \"http://idp.example/jwks\"",
                "auth.issuers[0].jwks_url",
            ),
        ] {
            let figment = Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(toml));
            let config = Config::from_figment(figment).unwrap();
            let error = validate_issuer(&config.auth.issuers[0], "auth.issuers[0]")
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{toml}: {error}");
        }
    }
}
