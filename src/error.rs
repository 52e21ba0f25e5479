//! [`ApiError`]: every way a request can fail, each mapped to one status and one stable
//! `code`. Responses are RFC 9457 problem+json; the `request_id` is filled in by the
//! `problem_details` middleware, which also logs internal errors once.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::presign::PresignError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A body or field the service cannot accept; the text names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// Any token failure. The precise reason is logged, never sent.
    #[error("invalid token")]
    InvalidToken(#[source] AuthError),
    /// The policy denied the action; the text names action and resource, not statements.
    #[error("{0}")]
    AccessDenied(String),
    #[error("no route for this path")]
    NotFound,
    /// A resource (upload session) not in a state for this call, or a multipart
    /// completion that fails presignd's checks; the text names the reason.
    #[error("{0}")]
    Conflict(String),
    /// A share link revoked, expired or used up; the text says which.
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The audit record could not be committed, so nothing is issued.
    #[error("the audit log is unavailable; no URL was issued")]
    AuditUnavailable(#[source] AuditError),
    #[error("signing credentials are unavailable; no URL was issued")]
    CredentialsUnavailable(#[source] PresignError),
    #[error("the request did not complete in time")]
    Timeout,
    /// S3 could not be reached or did not answer; the source is logged, never sent.
    #[error("S3 did not answer; try again")]
    Upstream(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or an unexpected failure; its source is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::AuditUnavailable(_) | Self::CredentialsUnavailable(_) | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (DESIGN §2).
    pub fn code(&self) -> ProblemCode {
        match self {
            Self::InvalidRequest(_) | Self::MethodNotAllowed => ProblemCode::InvalidRequest,
            Self::InvalidToken(_) => ProblemCode::InvalidToken,
            Self::AccessDenied(_) => ProblemCode::AccessDenied,
            Self::NotFound => ProblemCode::NotFound,
            Self::Conflict(_) => ProblemCode::Conflict,
            Self::Gone(_) => ProblemCode::Gone,
            Self::PayloadTooLarge { .. } => ProblemCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ProblemCode::UnsupportedMediaType,
            Self::RateLimited { .. } => ProblemCode::RateLimited,
            Self::AuditUnavailable(_) => ProblemCode::AuditUnavailable,
            Self::CredentialsUnavailable(_) => ProblemCode::CredentialsUnavailable,
            Self::Timeout | Self::Upstream(_) | Self::Internal(_) => ProblemCode::Internal,
        }
    }

    /// The `detail` sent to the client: for internal kinds, a fixed text.
    pub fn detail(&self) -> String {
        self.to_string()
    }

    /// Whether the cause must be logged as an error (the client sees only a fixed text).
    pub fn is_server_fault(&self) -> bool {
        self.status().is_server_error()
    }
}

/// The stable, machine-readable kind of a problem (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(description = "The stable, machine-readable kind of the problem.")]
pub enum ProblemCode {
    InvalidRequest,
    InvalidToken,
    AccessDenied,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Conflict,
    Gone,
    AuditUnavailable,
    CredentialsUnavailable,
    Internal,
}

impl ProblemCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::Gone => "gone",
            Self::AuditUnavailable => "audit_unavailable",
            Self::CredentialsUnavailable => "credentials_unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The problem+json body (RFC 9457) with presignd's `code` and `request_id` extensions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:presignd:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    /// The HTTP status code, as in the status line.
    pub status: u16,
    /// What went wrong, for people; names the field at fault. Never internal error text.
    pub detail: String,
    pub code: ProblemCode,
    /// The `x-request-id` of the request, to find it in the logs.
    pub request_id: String,
    /// `/s3/*` only: `detail` again, where Uppy 5.x looks for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Problem {
    pub fn new(error: &ApiError, request_id: &str) -> Self {
        let status = error.status();
        Self {
            kind: format!("urn:presignd:problem:{}", error.code().as_str()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: error.detail(),
            code: error.code(),
            request_id: request_id.to_owned(),
            message: None,
        }
    }

    pub fn into_response(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Carried in the response extensions until `problem_details` renders the body.
#[derive(Clone)]
pub struct PendingProblem(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        match &self {
            Self::InvalidToken(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
            .extensions_mut()
            .insert(PendingProblem(Arc::new(self)));
        response
    }
}
