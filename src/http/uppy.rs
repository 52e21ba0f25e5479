//! Browser uploads with Uppy (DESIGN §2 "Browser uploads"): `POST /s3/sign` for
//! `@uppy/aws-s3` 6.x `signRequest` mode, where the browser sends every S3 request itself
//! and presignd signs each one, and the Companion-compatible routes, where presignd runs
//! the multipart session itself. Every signed request goes through the issuance pipeline:
//! decided by the policy, audited, released only once its row commits.
//!
//! In `signRequest` mode the browser opens the upload in S3, so presignd first sees an
//! UploadId when asked to sign for it: the first caller who does (and whom the policy
//! allows) owns it, as an upload session; anyone else gets 403.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::presign::{HttpMethod, PresignBody, issue};
use super::{AppJson, AppState};
use crate::audit::Draft;
use crate::error::ApiError;
use crate::issuance::{Ask, Caller, Facts, Refusal, Signed};
use crate::policy::Action;
use crate::presign::{
    BucketName, ContentType, MAX_PUT_BYTES, MultipartCall, ObjectKey, Operation, PartOptions,
    PresignRequest, ReleasedUrl,
};
use crate::uploads::{Session, SessionState};

/// `[uppy]` as requests use it.
#[derive(Debug, Clone)]
pub struct UppySettings {
    pub bucket: BucketName,
    pub key_template: String,
    pub auth_cookie: Option<String>,
}

/// The variables a key template may use.
const TEMPLATE_VARIABLES: &str = "${key}, ${uuid} or ${jwt:CLAIM}";

/// Checks `template` names only known variables (at load, so a typo stops startup).
pub fn check_key_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("an unclosed ${{ at {:?}", &rest[start..]))?;
        let name = &rest[start + 2..start + end];
        if !(name == "key"
            || name == "uuid"
            || name.strip_prefix("jwt:").is_some_and(|c| !c.is_empty()))
        {
            return Err(format!(
                "unknown variable ${{{name}}}: use {TEMPLATE_VARIABLES}"
            ));
        }
        rest = &rest[start + end + 1..];
    }
    Ok(())
}

/// The object key `template` makes of the client's `key` for `caller`.
pub(super) fn expand_key(
    template: &str,
    key: &str,
    caller: &Caller,
) -> Result<ObjectKey, ApiError> {
    let mut out = String::with_capacity(template.len() + key.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let name = &rest[start + 2..end];
        match name {
            "key" => out.push_str(key),
            "uuid" => out.push_str(&Uuid::now_v7().to_string()),
            _ => {
                let claim = name.strip_prefix("jwt:").unwrap_or(name);
                let value = caller
                    .principal
                    .claims
                    .get(claim)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| {
                        ApiError::InvalidRequest(format!(
                            "key: the token has no string claim {claim:?} for uppy.key_template"
                        ))
                    })?;
                out.push_str(value);
            }
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    ObjectKey::parse(&out).map_err(|e| ApiError::InvalidRequest(format!("key: {e}")))
}

/// What Uppy's `signRequest(req)` hands the app, posted verbatim.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = UppySignRequest, example = json!({"method": "PUT", "key": "photo.jpg", "contentType": "image/jpeg"}))]
pub struct SignBody {
    /// `PUT` (object or part), `POST` (create or complete), `GET` (list parts), `DELETE` (abort).
    pub method: String,
    /// The proposed key (PutObject, CreateMultipartUpload: it passes through
    /// `uppy.key_template`), or the key presignd answered (every later request).
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
    /// S3's UploadId, on the requests of a multipart upload.
    pub upload_id: Option<String>,
    /// 1..=10000, with `PUT` + `uploadId`.
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: Option<u32>,
    /// PutObject: the file's type, signed as `Content-Type` (or a form field).
    pub content_type: Option<String>,
    /// Seconds; default `s3.default_expires_in`.
    pub expires_in: Option<i64>,
    /// Default `uppy.bucket`.
    pub bucket: Option<String>,
}

/// What `signRequest` returns to Uppy.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = UppySignResponse)]
pub struct SignResponse {
    pub url: String,
    pub method: String,
    /// The final key (PutObject, CreateMultipartUpload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Headers to send (never `host` or `content-length`, which a browser sets itself).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// PutObject under a size limit: a POST form's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub audit_id: Uuid,
}

impl SignResponse {
    fn from_released(released: ReleasedUrl, key: Option<String>) -> Self {
        let headers = released
            .headers
            .into_iter()
            .filter(|(name, _)| name != "host" && name != "content-length")
            .collect();
        Self {
            url: released.url,
            method: released.method,
            key,
            headers,
            fields: (!released.fields.is_empty()).then_some(released.fields),
            expires_at: released.expires_at,
            audit_id: released.audit_id,
        }
    }
}

/// The action row of a `/s3/*` request refused before its shape is known.
const ENDPOINT: &str = "POST /s3/sign";

/// `[uppy]`, or 404 when it is off.
pub(super) fn settings(state: &AppState) -> Result<&UppySettings, ApiError> {
    state.settings.uppy.as_ref().ok_or(ApiError::NotFound)
}

#[utoipa::path(
    post,
    path = "/s3/sign",
    tag = "uppy",
    summary = "Sign one S3 request for @uppy/aws-s3 6.x signRequest mode.",
    description = "Takes Uppy's request object verbatim and answers `{url, key?, headers?, fields?}` \
for PutObject (a POST form when a size limit applies), CreateMultipartUpload, UploadPart, ListParts, \
CompleteMultipartUpload (only after presignd has listed the parts and the policy allows their total) \
and AbortMultipartUpload. An uploadId belongs to the first caller who signs for it.",
    security(("bearer" = [])),
    request_body(content = SignBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The signed request.", body = SignResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 409, response = super::openapi::responses::Conflict),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 502, response = super::openapi::responses::BadGateway),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<SignBody>, ApiError>,
) -> Result<Json<SignResponse>, ApiError> {
    let uppy = settings(&state)?.clone();
    let body = match body {
        Ok(AppJson(body)) => body,
        Err(error) => return Err(state.refuse(caller.refuse(ENDPOINT, error)).await),
    };
    let signed = match sign_shape(&state, &caller, &uppy, body).await {
        Ok(signed) => signed,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    let (pending, key) = signed;
    let committed = state.audit.commit(pending).await?;
    Ok(Json(SignResponse::from_released(
        ReleasedUrl::from(committed),
        key,
    )))
}

/// Signs one of Uppy's request shapes; the key is returned where Uppy takes it.
async fn sign_shape(
    state: &AppState,
    caller: &Caller,
    uppy: &UppySettings,
    body: SignBody,
) -> Result<(Signed, Option<String>), Refusal> {
    let refuse = |error| caller.refuse(ENDPOINT, error);
    let bucket = match &body.bucket {
        Some(name) => BucketName::parse(name)
            .map_err(|e| refuse(ApiError::InvalidRequest(format!("bucket: {e}"))))?,
        None => uppy.bucket.clone(),
    };
    let expires_in =
        super::presign::expires_in(body.expires_in, &state.settings).map_err(refuse)?;
    match (body.method.as_str(), body.upload_id, body.part_number) {
        ("PUT", None, None) => {
            let key = expand_key(&uppy.key_template, &body.key, caller).map_err(refuse)?;
            put_object(
                state,
                caller,
                &bucket,
                key,
                body.content_type,
                body.expires_in,
            )
            .await
        }
        ("POST", None, None) => {
            let key = expand_key(&uppy.key_template, &body.key, caller).map_err(refuse)?;
            let answer_key = key.to_string();
            let request = raw_request(
                &bucket,
                key,
                Operation::Multipart(MultipartCall::Create),
                expires_in,
            );
            let signed =
                decide_and_sign(state, caller, request, Action::PutObject, None, None).await?;
            Ok((signed, Some(answer_key)))
        }
        ("PUT", Some(upload_id), Some(part_number)) => {
            let key = ObjectKey::parse(&body.key)
                .map_err(|e| refuse(ApiError::InvalidRequest(format!("key: {e}"))))?;
            if !(1..=crate::presign::MAX_PARTS).contains(&part_number) {
                return Err(refuse(ApiError::InvalidRequest(format!(
                    "partNumber: must be in 1..={}",
                    crate::presign::MAX_PARTS
                ))));
            }
            let session = bound_session(state, caller, &bucket, &key, &upload_id).await?;
            let part = Operation::UploadPart(PartOptions {
                upload_id,
                part_number,
                content_length: None,
            });
            let request = raw_request(
                &bucket,
                key,
                part,
                expires_in.min(state.settings.uploads.part_expires_in),
            );
            let signed = decide_and_sign(
                state,
                caller,
                request,
                Action::PutObject,
                None,
                Some(&session),
            )
            .await?;
            Ok((signed, None))
        }
        ("GET", Some(upload_id), None) => {
            let key = ObjectKey::parse(&body.key)
                .map_err(|e| refuse(ApiError::InvalidRequest(format!("key: {e}"))))?;
            let session = bound_session(state, caller, &bucket, &key, &upload_id).await?;
            let request = raw_request(
                &bucket,
                key,
                Operation::Multipart(MultipartCall::ListParts { upload_id }),
                expires_in,
            );
            let signed = decide_and_sign(
                state,
                caller,
                request,
                Action::ListMultipartUploadParts,
                None,
                Some(&session),
            )
            .await?;
            Ok((signed, None))
        }
        ("POST", Some(upload_id), None) => {
            let key = ObjectKey::parse(&body.key)
                .map_err(|e| refuse(ApiError::InvalidRequest(format!("key: {e}"))))?;
            let session = bound_session(state, caller, &bucket, &key, &upload_id).await?;
            // The size the policy judges is what S3 holds now, listed by presignd itself:
            // the browser's completion can only name parts of it.
            let listed = state
                .presigner
                .list_parts(session.target())
                .await
                .map_err(|error| {
                    Refusal::new(
                        session_draft(caller, &session, Action::PutObject),
                        super::uploads::s3_failure(error),
                    )
                })?;
            let total: u64 = listed.iter().map(|part| part.size).sum();
            if total > state.settings.uploads.max_object_bytes {
                return Err(Refusal::new(
                    session_draft(caller, &session, Action::PutObject),
                    ApiError::AccessDenied(format!(
                        "the parts total {total} bytes, over uploads.max_object_bytes"
                    )),
                ));
            }
            let request = raw_request(
                &bucket,
                key,
                Operation::Multipart(MultipartCall::Complete { upload_id }),
                expires_in,
            );
            let signed = decide_and_sign(
                state,
                caller,
                request,
                Action::PutObject,
                Some(total),
                Some(&session),
            )
            .await?;
            Ok((signed, None))
        }
        ("DELETE", Some(upload_id), None) => {
            let key = ObjectKey::parse(&body.key)
                .map_err(|e| refuse(ApiError::InvalidRequest(format!("key: {e}"))))?;
            let session = bound_session(state, caller, &bucket, &key, &upload_id).await?;
            let request = raw_request(
                &bucket,
                key,
                Operation::Multipart(MultipartCall::Abort { upload_id }),
                expires_in,
            );
            let signed = decide_and_sign(
                state,
                caller,
                request,
                Action::AbortMultipartUpload,
                None,
                Some(&session),
            )
            .await?;
            Ok((signed, None))
        }
        ("DELETE", None, None) => Err(refuse(ApiError::AccessDenied(
            "DeleteObject: presignd signs no deletions".into(),
        ))),
        _ => Err(refuse(ApiError::InvalidRequest(
            "method: with uploadId and partNumber, not one of Uppy's request shapes \
             (PUT; POST; PUT+uploadId+partNumber; GET, POST or DELETE + uploadId)"
                .into(),
        ))),
    }
}

/// PutObject: a PUT URL, or a POST form when a size limit applies (a browser cannot
/// bound a PUT's size), sized to the largest the policy allows this caller here.
async fn put_object(
    state: &AppState,
    caller: &Caller,
    bucket: &BucketName,
    key: ObjectKey,
    content_type: Option<String>,
    expires_in: Option<i64>,
) -> Result<(Signed, Option<String>), Refusal> {
    let essence = content_type
        .as_deref()
        .and_then(|t| ContentType::parse(t).ok());
    let resource = format!("arn:aws:s3:::{bucket}/{key}");
    let probe = Ask {
        action: Action::PutObject,
        resource: &resource,
        facts: Facts {
            method: Some("PUT"),
            content_type: essence.as_ref().map(ContentType::essence),
            content_length: None,
            expires_in: None,
        },
    };
    let ceiling = state.settings.uploads.max_object_bytes;
    let largest = state.gate(|gate| caller.largest_allowed_length(gate.policy, &probe, ceiling));
    // A limit under what one PUT may carry anyway (5 GiB) needs a form to hold.
    let limited = largest.filter(|&max| max < MAX_PUT_BYTES);
    let (method, range) = match limited {
        Some(max) => (HttpMethod::Post, Some([0, max])),
        None => (HttpMethod::Put, None),
    };
    let answer_key = key.to_string();
    let body = PresignBody {
        bucket: bucket.to_string(),
        key: answer_key.clone(),
        method,
        expires_in,
        content_type,
        content_length: None,
        checksum_sha256: None,
        metadata: None,
        if_none_match: None,
        content_disposition: None,
        version_id: None,
        content_length_range: range,
    };
    let signed = issue(state, caller, body).await?;
    Ok((signed, Some(answer_key)))
}

fn raw_request(
    bucket: &BucketName,
    key: ObjectKey,
    operation: Operation,
    expires_in: u32,
) -> PresignRequest {
    PresignRequest {
        bucket: bucket.clone(),
        key,
        operation,
        expires_in,
        audit_id: Uuid::now_v7(),
    }
}

/// The row of a request on `session`'s object.
fn session_draft(caller: &Caller, session: &Session, action: Action) -> Draft {
    Draft {
        bucket: Some(session.bucket.to_string()),
        key: Some(session.key.to_string()),
        ..caller.draft(Uuid::now_v7(), action.as_str(), serde_json::json!({}))
    }
    .for_upload(session.id)
}

/// Decides `action` on the request's object (`size` as `presign:ContentLength`) and signs.
async fn decide_and_sign(
    state: &AppState,
    caller: &Caller,
    request: PresignRequest,
    action: Action,
    size: Option<u64>,
    session: Option<&Session>,
) -> Result<Signed, Refusal> {
    let resource = format!("arn:aws:s3:::{}/{}", request.bucket, request.key);
    let ask = Ask {
        action,
        resource: &resource,
        facts: Facts {
            method: Some(request.operation.method()),
            content_type: None,
            content_length: size,
            expires_in: Some(u64::from(request.expires_in)),
        },
    };
    let draft = Draft {
        bucket: Some(request.bucket.to_string()),
        key: Some(request.key.to_string()),
        ..caller.draft(request.audit_id, action.as_str(), request.audit_options())
    };
    let draft = match session {
        Some(session) => draft.for_upload(session.id),
        None => draft,
    };
    let authorized = state.gate(|gate| crate::issuance::decide(gate, caller, &ask, draft))?;
    authorized.sign(&state.presigner, &request).await
}

/// The session of S3 upload `upload_id`: the caller's own, or, if nobody has signed for
/// it yet and the policy lets the caller write `key`, bound to the caller now. Another
/// caller's upload, or the same upload under another key, is 403.
async fn bound_session(
    state: &AppState,
    caller: &Caller,
    bucket: &BucketName,
    key: &ObjectKey,
    upload_id: &str,
) -> Result<Session, Refusal> {
    let draft = || Draft {
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        ..caller.draft(
            Uuid::now_v7(),
            ENDPOINT,
            serde_json::json!({"upload_id_sha256": crate::audit::signature_fingerprint(upload_id)}),
        )
    };
    if upload_id.is_empty()
        || upload_id.len() > 1024
        || !upload_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Refusal::new(
            draft(),
            ApiError::InvalidRequest("uploadId: must be S3's UploadId".into()),
        ));
    }
    let owned = |session: Session| {
        let principal = &caller.principal;
        if !session.is_owned_by(&principal.issuer, &principal.subject) {
            return Err(Refusal::new(
                draft().for_upload(session.id),
                ApiError::AccessDenied("uploadId: this upload belongs to another caller".into()),
            ));
        }
        if &session.key != key {
            return Err(Refusal::new(
                draft().for_upload(session.id),
                ApiError::AccessDenied("uploadId: this upload is for another key".into()),
            ));
        }
        if session.state_at(OffsetDateTime::now_utc()) != SessionState::Open {
            let state = session.state_at(OffsetDateTime::now_utc());
            return Err(Refusal::new(
                draft().for_upload(session.id),
                ApiError::Conflict(format!("uploadId: the upload is {}", state.as_str())),
            ));
        }
        Ok(session)
    };
    let store_error = |error: crate::audit::AuditError| Refusal::new(draft(), error.into());
    if let Some(session) = state
        .sessions
        .find_by_s3_upload(bucket.as_str(), upload_id)
        .await
        .map_err(store_error)?
    {
        return owned(session);
    }
    // Nobody owns it yet: the caller may take it only for a key it may write.
    let resource = format!("arn:aws:s3:::{bucket}/{key}");
    let ask = Ask {
        action: Action::PutObject,
        resource: &resource,
        facts: Facts {
            method: Some("PUT"),
            ..Facts::default()
        },
    };
    if !state
        .gate(|gate| caller.evaluate(gate.policy, &ask))
        .is_allowed()
    {
        return Err(Refusal::new(
            draft(),
            ApiError::AccessDenied(format!("s3:PutObject on {resource}: no statement allows")),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let session = Session {
        id: Uuid::now_v7(),
        issuer: caller.principal.issuer.clone(),
        subject: caller.principal.subject.clone(),
        bucket: bucket.clone(),
        key: key.clone(),
        s3_upload_id: upload_id.to_owned(),
        declared_size: None,
        content_type: None,
        write_once: false,
        part_size: super::uploads::DEFAULT_PART_SIZE,
        state: SessionState::Open,
        created_at: now,
        expires_at: now + state.settings.uploads.session_expires_in,
        ended_at: None,
        final_size: None,
        final_etag: None,
    };
    if state
        .sessions
        .insert_if_absent(&session)
        .await
        .map_err(store_error)?
    {
        return Ok(session);
    }
    // Another request bound it first.
    match state
        .sessions
        .find_by_s3_upload(bucket.as_str(), upload_id)
        .await
        .map_err(store_error)?
    {
        Some(session) => owned(session),
        None => Err(Refusal::new(
            draft(),
            ApiError::internal("upload session vanished"),
        )),
    }
}
