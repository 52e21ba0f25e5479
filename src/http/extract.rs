//! Extractors: the authenticated [`Principal`], the client's address and user agent, and
//! [`AppJson`] and [`AppQuery`], whose every rejection is an [`ApiError`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use ipnet::IpNet;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::error::ApiError;
use crate::issuance::ClientInfo;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer_token(parts) {
            Err(AuthError::Missing) if parts.headers.get(AUTHORIZATION).is_none() => {
                cookie_token(parts, state).ok_or(ApiError::InvalidToken(AuthError::Missing))?
            }
            other => other.map_err(ApiError::InvalidToken)?,
        };
        let principal = state
            .verifier
            .verify(token)
            .await
            .map_err(ApiError::InvalidToken)?;
        tracing::Span::current().record("subject", principal.subject.as_str());
        Ok(principal)
    }
}

/// The token in the `uppy.auth_cookie` cookie, on `/s3/*` only (Uppy 6's Companion mode
/// sends no headers) and only from the API's own origin or an allowed one, so another
/// site cannot make a visitor's browser spend the cookie.
fn cookie_token<'a>(parts: &'a Parts, state: &AppState) -> Option<&'a str> {
    let name = state.settings.uppy.as_ref()?.auth_cookie.as_deref()?;
    if !parts.uri.path().starts_with("/s3/") {
        return None;
    }
    if let Some(origin) = parts.headers.get(axum::http::header::ORIGIN) {
        let origin = origin.to_str().ok()?;
        let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host);
        let allowed = state
            .settings
            .cors_origins
            .iter()
            .any(|allowed| super::origin_matches(allowed, origin));
        if !same_origin && !allowed {
            return None;
        }
    }
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    // Proxies and servers disagree on which of two wins: refuse both.
    if values.next().is_some() {
        return Err(AuthError::DuplicateAuthorization);
    }
    value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(AuthError::Missing)
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let ip = peer.map(|peer| client_ip(peer, &forwarded, &state.settings.trusted_proxies));
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

/// The client address: walking `X-Forwarded-For` from the right, the first hop that is not
/// a trusted proxy. Only a trusted peer's header is believed at all.
fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        let Ok(hop) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// `Query` whose rejection is a problem+json 400 naming the parameter (an unknown one too,
/// where `T` denies unknown fields).
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::InvalidRequest(format!("invalid query: {detail}"))
            })
    }
}

/// `Json` whose rejections are problem+json: 415 without a JSON content type, 413 over the
/// body limit, 400 naming the field for anything else.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(request, state, state.settings.max_body_bytes)
            .await
            .map(Self)
    }
}

/// [`AppJson`] for `POST /presign/batch`, whose body limit is its own.
pub struct BatchJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for BatchJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(request, state, state.settings.max_batch_body_bytes)
            .await
            .map(Self)
    }
}

/// The body as JSON; `limit` is the route's body limit, for the 413's text.
async fn json_body<T: DeserializeOwned>(
    request: Request,
    state: &AppState,
    limit: usize,
) -> Result<T, ApiError> {
    match axum::Json::<JsonObject<T>>::from_request(request, state).await {
        Ok(axum::Json(JsonObject(value))) => Ok(value),
        Err(rejection) => Err(json_rejection(rejection, limit)),
    }
}

/// `T` read from a JSON object only: serde's derived structs also take their fields as an
/// array, in order, which no schema of ours allows and no client means.
pub(crate) struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(Self)
    }
}

fn json_rejection(rejection: JsonRejection, limit: usize) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => {
            let text = rejection.body_text();
            // axum prefixes serde's message (which names the field) with its own words.
            let detail = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
                .unwrap_or(&text);
            ApiError::InvalidRequest(format!("invalid JSON body: {detail}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(stranger, "1.2.3.4", &trusted), stranger);
        assert_eq!(
            client_ip(proxy, "1.2.3.4", &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A spoofed left-most entry is ignored: the right-most untrusted hop wins.
        assert_eq!(
            client_ip(proxy, "6.6.6.6, 1.2.3.4, 10.0.0.7", &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, "garbage", &trusted), proxy);
        assert_eq!(client_ip(proxy, "", &trusted), proxy);
    }
}
