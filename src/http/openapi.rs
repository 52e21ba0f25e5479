//! The OpenAPI 3.1 document, generated from the wire types' schemas and the handlers'
//! `#[utoipa::path]` attributes so that it cannot drift from the code. `GET /openapi.yaml`
//! serves it; `openapi.yaml` at the repository root is a committed copy that the test
//! `openapi::committed_spec_matches_the_code` keeps identical.

use std::sync::Arc;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};

use crate::error::{Problem, ProblemCode};

/// The document's root: every route, the schemas they use, and the shared error responses.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "presignd",
        description = "Issues S3 presigned URLs to callers holding a valid JWT, under an IAM-style policy.
Every issuance and denial is written to the audit log before the answer leaves.
Every error is RFC 9457 problem+json; every response carries `x-request-id`."
    ),
    paths(
        super::presign::presign,
        super::batch::presign_batch,
        super::uploads::create_upload,
        super::uploads::list_uploads,
        super::uploads::sign_parts,
        super::uploads::get_upload,
        super::uploads::complete_upload,
        super::uploads::abort_upload,
        super::uppy::sign,
        super::audit::query_audit,
        super::audit::audit_stats,
        super::simulate::simulate_policy,
        super::links::create_link,
        super::links::redeem,
        super::links::list_links,
        super::links::get_link,
        super::links::revoke_link,
        super::links::revoke_links,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
        super::ops::openapi,
    ),
    components(
        schemas(Problem, ProblemCode),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::NotFound,
            responses::Gone,
            responses::MethodNotAllowed,
            responses::PayloadTooLarge,
            responses::UnsupportedMediaType,
            responses::TooManyRequests,
            responses::NotFound,
            responses::Conflict,
            responses::InternalError,
            responses::BadGateway,
            responses::Unavailable,
        )
    ),
    modifiers(&Conventions),
)]
pub(crate) struct ApiDoc;

/// The committed and served text: YAML, with a header saying how to regenerate it.
pub(crate) fn yaml() -> Arc<str> {
    // Serializing an in-memory document of strings and maps cannot fail short of a bug,
    // which the tests (they build the router) would show at once.
    let body = ApiDoc::openapi()
        .to_yaml()
        .expect("the OpenAPI document serializes to YAML");
    format!(
        "# Generated from the code (src/http/openapi.rs); do not edit by hand.\n\
         # Regenerate: UPDATE_OPENAPI=1 cargo nextest run openapi\n{body}"
    )
    .into()
}

/// The error responses, one component each so that every route names the same text. The
/// tuple field is the body; `Conventions` adds `x-request-id` to each.
pub(crate) mod responses {
    #![allow(
        dead_code,
        reason = "response and header schemas only: never constructed"
    )]

    use utoipa::{ToResponse, ToSchema};

    use crate::error::Problem;

    /// The body, a field or a query parameter is invalid; `detail` names it (`invalid_request`).
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct BadRequest(Problem);

    /// The bearer token is missing or invalid (`invalid_token`). The reason is logged, never
    /// sent.
    #[derive(ToResponse)]
    #[response(
        content_type = "application/problem+json",
        headers(("www-authenticate" = inline(BearerChallenge), description = "The RFC 6750 challenge."))
    )]
    pub(crate) struct Unauthorized(Problem);

    /// The policy denies the action (`access_denied`): `detail` names the action and resource
    /// and says "explicit deny" or "no statement allows"; statement ids go to the audit log only.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct Forbidden(Problem);

    /// No such route or resource for this caller (`not_found`): another caller's share link
    /// or upload session is answered alike.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct NotFound(Problem);

    /// The share link was revoked, has expired or is used up (`gone`); `detail` says which.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct Gone(Problem);

    /// The path exists but not for this method (`invalid_request`).
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct MethodNotAllowed(Problem);

    /// The body exceeds `server.max_body_bytes` (`payload_too_large`).
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct PayloadTooLarge(Problem);

    /// The body is not `application/json` (`unsupported_media_type`).
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct UnsupportedMediaType(Problem);

    /// The one `WWW-Authenticate` value a 401 carries.
    #[derive(ToSchema)]
    enum BearerChallenge {
        #[schema(rename = r#"Bearer error="invalid_token""#)]
        InvalidToken,
    }

    /// Rate limited (`rate_limited`); retry after `Retry-After` seconds.
    #[derive(ToResponse)]
    #[response(
        content_type = "application/problem+json",
        headers(("retry-after" = u64, description = "Seconds to wait before retrying."))
    )]
    pub(crate) struct TooManyRequests(Problem);

    /// The upload session is not open, or its completion fails presignd's checks or S3's
    /// (`conflict`); `detail` names the reason. Nothing uploaded is lost.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct Conflict(Problem);

    /// S3 could not be reached or did not answer (`internal`); try again.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct BadGateway(Problem);

    /// An unexpected failure (`internal`); its cause is logged, never sent.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct InternalError(Problem);

    /// Nothing was issued: the audit store could not commit (`audit_unavailable`), the signing
    /// credentials are unavailable (`credentials_unavailable`), or the request ran out of time
    /// (`internal`).
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub(crate) struct Unavailable(Problem);
}

/// What holds for every route, applied once here rather than repeated on each: the bearer
/// scheme, and `x-request-id` (set by the request-id layers) on every response.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.headers.insert(
            "RequestId".into(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(
                        "The request id; the caller's own is kept when it sends one.",
                    ))
                    .build(),
            ),
        );
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                require_request_id(response);
            }
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
                &mut item.query,
            ];
            for operation in operations.into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    // A `$ref` response got its header above, in the component.
                    if let RefOr::T(response) = response {
                        require_request_id(response);
                    }
                }
            }
        }
    }
}

fn require_request_id(response: &mut Response) {
    response.headers.insert(
        "x-request-id".into(),
        RefOr::Ref(Ref::new("#/components/headers/RequestId")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditError;
    use crate::auth::AuthError;
    use crate::error::ApiError;
    use crate::presign::PresignError;

    /// One of each kind; the match has no `_` arm, so a new kind fails to compile here
    /// until it is listed.
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::InvalidRequest("bucket: bad".into()),
            ApiError::InvalidToken(AuthError::Missing),
            ApiError::AccessDenied("denied".into()),
            ApiError::NotFound,
            ApiError::Conflict("session completed".into()),
            ApiError::Gone("link revoked".into()),
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType,
            ApiError::RateLimited {
                retry_after_secs: 1,
            },
            ApiError::AuditUnavailable(AuditError::Timeout),
            ApiError::CredentialsUnavailable(PresignError::CredentialsExpiring),
            ApiError::Timeout,
            ApiError::Upstream("S3 down".into()),
            ApiError::internal("bug"),
        ];
        for error in &all {
            match error {
                ApiError::InvalidRequest(_)
                | ApiError::InvalidToken(_)
                | ApiError::AccessDenied(_)
                | ApiError::NotFound
                | ApiError::Conflict(_)
                | ApiError::Gone(_)
                | ApiError::MethodNotAllowed
                | ApiError::PayloadTooLarge { .. }
                | ApiError::UnsupportedMediaType
                | ApiError::RateLimited { .. }
                | ApiError::AuditUnavailable(_)
                | ApiError::CredentialsUnavailable(_)
                | ApiError::Timeout
                | ApiError::Upstream(_)
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_error_code_is_in_the_problem_code_enum() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let codes = spec["components"]["schemas"]["ProblemCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code.as_str().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(
            codes,
            [
                "invalid_request",
                "invalid_token",
                "access_denied",
                "not_found",
                "payload_too_large",
                "unsupported_media_type",
                "rate_limited",
                "conflict",
                "gone",
                "audit_unavailable",
                "credentials_unavailable",
                "internal",
            ],
            "DESIGN §2's codes"
        );
        for error in every_error() {
            assert!(
                codes.contains(&error.code().as_str()),
                "{error:?}: {:?}",
                error.code()
            );
        }
    }

    #[test]
    fn every_error_status_is_documented_where_it_can_occur() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let presign = &spec["paths"]["/presign"]["post"]["responses"];
        for error in every_error() {
            // NotFound has no route of its own: it is the answer for paths not in the spec;
            // /presign has no session or link to conflict with or to be gone, and makes
            // no call to S3.
            if matches!(
                error,
                ApiError::NotFound
                    | ApiError::Conflict(_)
                    | ApiError::Gone(_)
                    | ApiError::Upstream(_)
            ) {
                continue;
            }
            let status = error.status().as_u16().to_string();
            assert!(presign.get(&status).is_some(), "/presign lacks {status}");
        }
    }
}
