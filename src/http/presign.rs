//! `POST /presign`: parse and validate the body at the edge, ask the policy, sign, and
//! answer only once the audit row has committed.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AppJson, AppState, Settings};
use crate::audit::Draft;
use crate::error::ApiError;
use crate::issuance::{self, Ask, Caller, Facts, Refusal, Signed};
use crate::policy::Action;
use crate::presign::{
    BucketName, ContentType, GetOptions, MAX_PUT_BYTES, ObjectKey, Operation, PostOptions,
    PresignRequest, PutOptions, ReleasedUrl,
};

/// User-defined metadata S3 accepts in total (names and values), in bytes.
const MAX_METADATA_BYTES: usize = 2048;
/// Longest header-like value accepted (content type, disposition, version id).
const MAX_VALUE_BYTES: usize = 1024;

/// The request body, exactly DESIGN §2's fields; anything else is refused by name.
///
/// The schema's constraints are looser than [`validate`], never stricter: a body the schema
/// refuses is always refused by the service too.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = PresignRequest,
    description = "What to sign. Unknown fields, and fields that do not apply to the method, are a 400 naming the field.",
    // The README's walkthrough request, which `presignd dev` accepts as printed.
    example = json!({
        "bucket": "dev", "key": "alice/report.pdf", "method": "PUT",
        "content_type": "application/pdf", "content_length": 5, "expires_in": 300
    })
)]
pub struct PresignBody {
    /// S3 bucket name (S3 naming rules).
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    pub bucket: String,
    /// Object key, 1..=1024 bytes of UTF-8; no leading `/`, no `.` or `..` segment,
    /// no backslash, no control, format or separator character (Unicode Cc, Cf, Zl, Zp).
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
    pub method: HttpMethod,
    /// Lifetime in seconds; default `s3.default_expires_in`; at most `s3.max_expires_in`.
    #[schema(minimum = 1, maximum = 604800)]
    pub expires_in: Option<i64>,
    /// PUT: signed Content-Type. GET: response-content-type override. One media type (no
    /// list, no comma), signed verbatim; the policy sees its lower-cased `type/subtype`.
    // This pattern and those below are what `header_value` accepts: printable ASCII, no
    // space at either end.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]([ -~]*[!-~])?$")]
    pub content_type: Option<String>,
    /// PUT only: signed Content-Length, at most 5 GiB (S3's single PUT limit).
    #[schema(maximum = 5368709120_u64)]
    pub content_length: Option<u64>,
    /// PUT only: base64 of the body's 32-byte SHA-256, signed as x-amz-checksum-sha256.
    #[schema(pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    pub checksum_sha256: Option<String>,
    /// PUT only: signed x-amz-meta-* headers (names lower-cased).
    pub metadata: Option<BTreeMap<String, String>>,
    /// PUT only: signed `If-None-Match: *`; the URL can create but never overwrite.
    pub if_none_match: Option<bool>,
    /// PUT: signed Content-Disposition. GET: response-content-disposition override.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]([ -~]*[!-~])?$")]
    pub content_disposition: Option<String>,
    /// GET only: a specific object version.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]([ -~]*[!-~])?$")]
    pub version_id: Option<String>,
    /// POST only: `[min, max]` bytes, signed as `content-length-range` (max at most
    /// `uploads.max_object_bytes`). Absent: 0 to the largest size the policy allows.
    pub content_length_range: Option<[u64; 2]>,
}

/// Download, upload, or browser form upload.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "POST")]
    Post,
}

impl HttpMethod {
    /// The policy action a URL for this method needs.
    fn action(self) -> Action {
        match self {
            Self::Get => Action::GetObject,
            Self::Put | Self::Post => Action::PutObject,
        }
    }
}

/// The 200 answer: the URL, what to send with it, and when it stops working.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PresignResponse {
    /// The presigned URL; carries the signed `x-presignd-id` audit id.
    pub url: String,
    #[schema(value_type = HttpMethod)]
    pub method: String,
    /// Every header the client must send, names in lower case, exact values.
    pub headers: BTreeMap<String, String>,
    /// POST only: every form field to send, in any order, before the `file` field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// True expiry, never later than the signing credentials' own.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Seconds from signing to expires_at.
    pub expires_in: u64,
    /// UUIDv7 of the audit row.
    pub audit_id: Uuid,
}

#[utoipa::path(
    post,
    path = "/presign",
    tag = "presign",
    summary = "Issue a presigned GET or PUT URL.",
    description = "Checks the caller's token and the policy, signs the URL, and answers only once \
the audit row has committed. Fields that do not apply to the method are a 400 naming the field.",
    security(("bearer" = [])),
    request_body(content = PresignBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The URL, the headers to send with it, and its true expiry.", body = PresignResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 405, response = super::openapi::responses::MethodNotAllowed),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn presign(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<PresignBody>, ApiError>,
) -> Result<Json<PresignResponse>, ApiError> {
    let body = match body {
        Ok(AppJson(body)) => body,
        Err(error) => return Err(state.refuse(caller.refuse(ENDPOINT, error)).await),
    };
    let signed = match issue(&state, &caller, body).await {
        Ok(signed) => signed,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    // The URL is released only after its row is durable (DESIGN §1 rule 1).
    let committed = state.audit.commit(signed).await?;
    Ok(Json(ReleasedUrl::from(committed).into()))
}

/// The endpoint, as the audit row's action for a body refused before its method is known.
const ENDPOINT: &str = "POST /presign";

/// Validates, decides and signs one presign body: all of `POST /presign`, and each item
/// of a batch. Signed or refused, the outcome carries its audit row.
pub(super) async fn issue(
    state: &AppState,
    caller: &Caller,
    body: PresignBody,
) -> Result<Signed, Refusal> {
    let action = body.method.action();
    let policy_sets_the_size =
        body.method == HttpMethod::Post && body.content_length_range.is_none();
    let mut request = match validate(body, &state.settings) {
        Ok(request) => request,
        Err(error) => return Err(caller.refuse(action.as_str(), error)),
    };
    let resource = format!("arn:aws:s3:::{}/{}", request.bucket, request.key);
    if policy_sets_the_size {
        // The largest size this caller may upload here; none at all is denied below, at
        // the ceiling.
        let probe = Ask {
            action,
            resource: &resource,
            facts: Facts::of(&request),
        };
        let ceiling = state.settings.uploads.max_object_bytes;
        let allowed =
            state.gate(|gate| caller.largest_allowed_length(gate.policy, &probe, ceiling));
        if let (Operation::Post(post), Some(max)) = (&mut request.operation, allowed) {
            post.length_range.1 = max;
        }
    }
    let ask = Ask {
        action,
        resource: &resource,
        facts: Facts::of(&request),
    };
    let draft = Draft {
        bucket: Some(request.bucket.to_string()),
        key: Some(request.key.to_string()),
        ..caller.draft(request.audit_id, action.as_str(), request.audit_options())
    };
    let authorized = state.gate(|gate| issuance::decide(gate, caller, &ask, draft))?;
    authorized.sign(&state.presigner, &request).await
}

impl From<ReleasedUrl> for PresignResponse {
    fn from(released: ReleasedUrl) -> Self {
        Self {
            url: released.url,
            method: released.method,
            headers: released.headers,
            fields: released.fields,
            expires_at: released.expires_at,
            expires_in: released.expires_in,
            audit_id: released.audit_id,
        }
    }
}

pub(super) fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {reason}"))
}

/// Turns the wire body into a [`PresignRequest`], naming the first field at fault.
pub fn validate(body: PresignBody, settings: &Settings) -> Result<PresignRequest, ApiError> {
    let bucket = BucketName::parse(&body.bucket).map_err(|e| invalid("bucket", e))?;
    let key = ObjectKey::parse(&body.key).map_err(|e| invalid("key", e))?;
    let expires_in = expires_in(body.expires_in, settings)?;
    let content_type = body
        .content_type
        .map(|v| {
            let v = header_value("content_type", v)?;
            ContentType::parse(&v).map_err(|e| invalid("content_type", e))
        })
        .transpose()?;
    let content_disposition = body
        .content_disposition
        .map(|v| header_value("content_disposition", v))
        .transpose()?;

    if body.method != HttpMethod::Post && body.content_length_range.is_some() {
        return Err(invalid("content_length_range", "applies only to POST"));
    }
    let operation = match body.method {
        HttpMethod::Get => {
            for (field, present) in [
                ("content_length", body.content_length.is_some()),
                ("checksum_sha256", body.checksum_sha256.is_some()),
                ("metadata", body.metadata.is_some()),
                ("if_none_match", body.if_none_match.is_some()),
            ] {
                if present {
                    return Err(invalid(field, "applies only to PUT"));
                }
            }
            Operation::Get(GetOptions {
                response_content_type: content_type,
                response_content_disposition: content_disposition,
                version_id: body
                    .version_id
                    .map(|v| header_value("version_id", v))
                    .transpose()?,
            })
        }
        HttpMethod::Put => {
            if body.version_id.is_some() {
                return Err(invalid("version_id", "applies only to GET"));
            }
            if body.content_length.is_some_and(|n| n > MAX_PUT_BYTES) {
                return Err(invalid(
                    "content_length",
                    format!("must be at most {MAX_PUT_BYTES} bytes (S3's single PUT limit)"),
                ));
            }
            Operation::Put(PutOptions {
                content_type,
                content_length: body.content_length,
                checksum_sha256: body.checksum_sha256.map(checksum).transpose()?,
                metadata: metadata(body.metadata.unwrap_or_default())?,
                if_none_match: body.if_none_match.unwrap_or(false),
                content_disposition,
            })
        }
        HttpMethod::Post => {
            for (field, present) in [
                ("content_length", body.content_length.is_some()),
                ("checksum_sha256", body.checksum_sha256.is_some()),
                ("if_none_match", body.if_none_match.is_some()),
                ("version_id", body.version_id.is_some()),
            ] {
                if present {
                    return Err(invalid(
                        field,
                        "does not apply to POST (use content_length_range)",
                    ));
                }
            }
            let ceiling = settings.uploads.max_object_bytes;
            let length_range = match body.content_length_range {
                None => (0, ceiling),
                Some([min, max]) if min <= max && max <= ceiling => (min, max),
                Some([min, max]) if min > max => {
                    return Err(invalid("content_length_range", "min must not exceed max"));
                }
                Some(_) => {
                    return Err(invalid(
                        "content_length_range",
                        format!("max must be at most {ceiling} bytes (uploads.max_object_bytes)"),
                    ));
                }
            };
            Operation::Post(PostOptions {
                content_type,
                metadata: metadata(body.metadata.unwrap_or_default())?,
                content_disposition,
                length_range,
            })
        }
    };
    Ok(PresignRequest {
        bucket,
        key,
        operation,
        expires_in,
        audit_id: Uuid::now_v7(),
    })
}

/// The lifetime asked, or the default; within `s3.max_expires_in`.
pub(super) fn expires_in(asked: Option<i64>, settings: &Settings) -> Result<u32, ApiError> {
    match asked {
        None => Ok(settings.default_expires_in),
        Some(secs) if secs >= 1 && secs <= i64::from(settings.max_expires_in) => Ok(secs as u32),
        Some(_) => Err(invalid(
            "expires_in",
            format!("must be in 1..={} seconds", settings.max_expires_in),
        )),
    }
}

/// A value that will travel as an HTTP header (or a signed query parameter standing for
/// one): visible ASCII and inner spaces only, so nothing on the way can alter it.
pub(super) fn header_value(field: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(invalid(
            field,
            format!("must be 1..={MAX_VALUE_BYTES} bytes"),
        ));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid(field, "must be printable ASCII"));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(invalid(field, "must not begin or end with a space"));
    }
    Ok(value)
}

/// Base64 of exactly 32 bytes, re-encoded canonically.
fn checksum(value: String) -> Result<String, ApiError> {
    match STANDARD.decode(value.as_bytes()) {
        Ok(bytes) if bytes.len() == 32 => Ok(STANDARD.encode(bytes)),
        _ => Err(invalid(
            "checksum_sha256",
            "must be base64 of a 32-byte SHA-256 digest",
        )),
    }
}

/// Metadata names become `x-amz-meta-NAME` headers: lower-cased HTTP tokens, unique,
/// within S3's 2 KB budget.
pub(super) fn metadata(
    entries: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut normalised = BTreeMap::new();
    let mut total = 0;
    for (name, value) in entries {
        let field = format!("metadata.{name}");
        let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(is_token) {
            return Err(invalid(
                &field,
                "name must be letters, digits or -_.!#$&'*+^`|~",
            ));
        }
        let value = if value.is_empty() {
            value
        } else {
            header_value(&field, value)?
        };
        total += name.len() + value.len();
        if normalised
            .insert(name.to_ascii_lowercase(), value)
            .is_some()
        {
            return Err(invalid(
                &field,
                "names are case-insensitive and must be unique",
            ));
        }
    }
    if total > MAX_METADATA_BYTES {
        return Err(invalid(
            "metadata",
            format!("exceeds {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(normalised)
}
