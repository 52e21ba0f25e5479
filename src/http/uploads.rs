//! Multipart uploads, native API (DESIGN §2): presignd opens, lists, completes and aborts
//! the upload in S3 itself and signs only the part URLs. A session belongs to the caller
//! who opened it; anyone else gets 404 on every route, and the probe is audited.
//!
//! Every call is decided by the policy and audited through the issuance pipeline: part
//! URLs leave only once their rows commit, and completion runs presignd's own checks on
//! the parts S3 lists before S3 is asked to complete.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::presign::{header_value, invalid, metadata};
use super::{AppJson, AppState};
use crate::audit::Draft;
use crate::error::ApiError;
use crate::issuance::{Ask, Authorized, Caller, Facts, Refusal, sign_error};
use crate::policy::Action;
use crate::presign::{
    BucketName, ContentType, CreateOptions, MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, ObjectKey,
    Operation, PartOptions, PresignRequest, ReleasedUrl, S3CallError, unquoted,
};
use crate::uploads::{AskedPart, Ending, Session, SessionFilter, SessionState, check_completion};

/// Part size advised when the caller names none (8 MiB).
pub(super) const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Most part URLs one `POST /uploads/{id}/parts` signs.
const MAX_PARTS_PER_CALL: usize = 1000;

/// `POST /uploads`: the object to upload in parts.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = CreateUploadRequest,
    example = json!({
        "bucket": "dev", "key": "alice/video.mp4", "content_type": "video/mp4",
        "content_length": 125829120_u64
    })
)]
pub struct CreateUploadBody {
    /// S3 bucket name (S3 naming rules).
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    pub bucket: String,
    /// Object key (the rules of `POST /presign`).
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
    /// Stored with the object; the policy sees its lower-cased `type/subtype`.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]([ -~]*[!-~])?$")]
    pub content_type: Option<String>,
    /// Stored as x-amz-meta-* (names lower-cased).
    pub metadata: Option<BTreeMap<String, String>>,
    /// The declared total in bytes: `presign:ContentLength` now, and a ceiling on the
    /// completed object. At most `uploads.max_object_bytes`.
    pub content_length: Option<u64>,
    /// Complete with `If-None-Match: *`: the upload can create the object, never overwrite it.
    pub if_none_match: Option<bool>,
    /// Advised part size in bytes, 5 MiB..=5 GiB (default 8 MiB; raised so that the
    /// declared total fits in 10 000 parts).
    #[schema(minimum = 5242880_u64, maximum = 5368709120_u64)]
    pub part_size: Option<u64>,
}

/// The 201 answer to `POST /uploads`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = UploadCreated)]
pub struct CreatedResponse {
    /// presignd's session id: the `{id}` of the other routes.
    pub id: Uuid,
    pub bucket: String,
    pub key: String,
    /// S3's UploadId.
    pub s3_upload_id: String,
    /// Advised part size, bytes; every part but the last must be at least 5 MiB.
    pub part_size: u64,
    /// Most parts (10 000).
    pub max_parts: u32,
    /// When the session stops taking calls and is aborted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The create's audit row.
    pub audit_id: Uuid,
}

/// `POST /uploads/{id}/parts`: the parts to sign.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignPartsRequest, example = json!({"parts": [{"part_number": 1}, {"part_number": 2}]}))]
pub struct PartsBody {
    /// 1..=1000 parts, numbers unique.
    #[schema(min_items = 1, max_items = 1000)]
    pub parts: Vec<PartAsk>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartAsk {
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: u32,
    /// Signed Content-Length: S3 takes exactly this many bytes for the part (at most 5 GiB).
    #[schema(maximum = 5368709120_u64)]
    pub content_length: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SignedParts)]
pub struct PartsResponse {
    pub parts: Vec<PartUrl>,
}

/// One part's URL: PUT the part's bytes to it with `headers`, keep the ETag S3 answers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
    /// Every header the client must send, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// True expiry: never later than the session's or the credentials'.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The part URL's audit row (its `x-presignd-id`).
    pub audit_id: Uuid,
}

/// `GET /uploads/{id}`: the session and the parts S3 holds.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Upload)]
pub struct UploadResponse {
    pub id: Uuid,
    pub bucket: String,
    pub key: String,
    #[schema(value_type = SessionState)]
    pub state: String,
    pub s3_upload_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Bytes declared at create.
    pub declared_size: Option<u64>,
    pub part_size: u64,
    /// From `ListParts` (every page) while the session is open; empty once it is not.
    pub parts: Vec<ListedPartView>,
    /// The completed object's size, bytes.
    pub size: Option<u64>,
    /// The completed object's ETag.
    pub etag: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListedPartView {
    pub part_number: u32,
    pub size: u64,
    /// Null where the store lists none.
    pub etag: Option<String>,
}

/// `POST /uploads/{id}/complete`: the parts, in ascending order, with their ETags.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = CompleteUploadRequest,
    example = json!({"parts": [{"part_number": 1, "etag": "\"b54357faf0632cce46e942fa68356b38\""}]})
)]
pub struct CompleteBody {
    /// 1..=10000 parts, part numbers strictly ascending.
    #[schema(min_items = 1, max_items = 10000)]
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePart {
    #[schema(minimum = 1, maximum = 10000)]
    pub part_number: u32,
    /// The ETag S3 answered for the part, quoted or not.
    #[schema(min_length = 1, max_length = 130)]
    pub etag: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CompletedUpload)]
pub struct CompletedResponse {
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
    /// Bytes: the sum of the parts.
    pub size: u64,
    /// Where S3 says the object is (null if the store says not).
    pub location: Option<String>,
}

/// `DELETE /uploads/{id}` answers `{}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AbortedUpload)]
pub struct AbortedResponse {}

/// A validated `POST /uploads` body.
pub(super) struct NewUpload {
    pub(super) bucket: BucketName,
    pub(super) key: ObjectKey,
    pub(super) content_type: Option<ContentType>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) declared_size: Option<u64>,
    pub(super) write_once: bool,
    pub(super) part_size: u64,
}

fn validate_create(body: CreateUploadBody, max_object_bytes: u64) -> Result<NewUpload, ApiError> {
    let bucket = BucketName::parse(&body.bucket).map_err(|e| invalid("bucket", e))?;
    let key = ObjectKey::parse(&body.key).map_err(|e| invalid("key", e))?;
    let content_type = body
        .content_type
        .map(|v| {
            let v = header_value("content_type", v)?;
            ContentType::parse(&v).map_err(|e| invalid("content_type", e))
        })
        .transpose()?;
    if let Some(total) = body.content_length
        && total > max_object_bytes
    {
        return Err(invalid(
            "content_length",
            format!("must be at most {max_object_bytes} bytes (uploads.max_object_bytes)"),
        ));
    }
    let asked = body.part_size.unwrap_or(DEFAULT_PART_SIZE);
    if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&asked) {
        return Err(invalid(
            "part_size",
            format!("must be in {MIN_PART_BYTES}..={MAX_PART_BYTES} bytes"),
        ));
    }
    // Advice the client can follow: the declared total in at most MAX_PARTS parts.
    let fitting = body
        .content_length
        .map_or(0, |total| total.div_ceil(u64::from(MAX_PARTS)));
    Ok(NewUpload {
        bucket,
        key,
        content_type,
        metadata: metadata(body.metadata.unwrap_or_default())?,
        declared_size: body.content_length,
        write_once: body.if_none_match.unwrap_or(false),
        part_size: asked.max(fitting),
    })
}

fn resource(bucket: &BucketName, key: &ObjectKey) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

#[utoipa::path(
    post,
    path = "/uploads",
    tag = "uploads",
    summary = "Open a multipart upload session.",
    description = "Policy `s3:PutObject` on the object (`presign:ContentLength` = the declared \
total, absent if none); presignd calls `CreateMultipartUpload` and keeps the session, which \
belongs to the caller.",
    security(("bearer" = [])),
    request_body(content = CreateUploadBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The session.", body = CreatedResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 409, response = super::openapi::responses::Conflict),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 502, response = super::openapi::responses::BadGateway),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn create_upload(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<CreateUploadBody>, ApiError>,
) -> Result<(StatusCode, Json<CreatedResponse>), ApiError> {
    let max_object_bytes = state.settings.uploads.max_object_bytes;
    let upload = match body.and_then(|AppJson(body)| validate_create(body, max_object_bytes)) {
        Ok(upload) => upload,
        Err(error) => {
            let refusal = caller.refuse(Action::PutObject.as_str(), error);
            return Err(state.refuse(refusal).await);
        }
    };
    let created = open_session(&state, &caller, upload).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Opens `upload` in S3 for `caller` (policy `s3:PutObject`) and keeps its session.
pub(super) async fn open_session(
    state: &AppState,
    caller: &Caller,
    upload: NewUpload,
) -> Result<CreatedResponse, ApiError> {
    const ACTION: Action = Action::PutObject;
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    let expires_at = now + state.settings.uploads.session_expires_in;
    let recorded = serde_json::json!({
        "operation": "CreateMultipartUpload",
        "content_type": upload.content_type,
        "declared_size": upload.declared_size,
        "metadata_keys": upload.metadata.keys().collect::<Vec<_>>(),
        "if_none_match": upload.write_once,
        "part_size": upload.part_size,
    });
    let draft = Draft {
        bucket: Some(upload.bucket.to_string()),
        key: Some(upload.key.to_string()),
        ..caller.draft(Uuid::now_v7(), ACTION.as_str(), recorded)
    }
    .for_upload(id);
    let audit_id = draft.id;
    let resource = resource(&upload.bucket, &upload.key);
    let ask = Ask {
        action: ACTION,
        resource: &resource,
        facts: Facts {
            method: Some("PUT"),
            content_type: upload.content_type.as_ref().map(ContentType::essence),
            content_length: upload.declared_size,
            expires_in: Some(u64::from(state.settings.uploads.part_expires_in)),
            ..Facts::default()
        },
    };
    let authorized = state.authorize(caller, &ask, draft).await?;

    let options = CreateOptions {
        content_type: upload.content_type.clone(),
        metadata: upload.metadata,
    };
    let s3_upload_id = match state
        .presigner
        .create_multipart(&upload.bucket, &upload.key, &options)
        .await
    {
        Ok(s3_upload_id) => s3_upload_id,
        Err(error) => return Err(state.refuse(authorized.fail(s3_failure(error))).await),
    };
    let session = Session {
        id,
        issuer: caller.principal.issuer.clone(),
        subject: caller.principal.subject.clone(),
        bucket: upload.bucket,
        key: upload.key,
        s3_upload_id,
        declared_size: upload.declared_size,
        content_type: upload.content_type.map(|t| t.as_str().to_owned()),
        write_once: upload.write_once,
        part_size: upload.part_size,
        state: SessionState::Open,
        created_at: now,
        expires_at,
        ended_at: None,
        final_size: None,
        final_etag: None,
    };
    if let Err(error) = state.sessions.insert(&session).await {
        abort_quietly(state, &session).await;
        return Err(state.refuse(authorized.fail(error.into())).await);
    }
    let answer = CreatedResponse {
        id,
        bucket: session.bucket.to_string(),
        key: session.key.to_string(),
        s3_upload_id: session.s3_upload_id.clone(),
        part_size: session.part_size,
        max_parts: MAX_PARTS,
        expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
        audit_id,
    };
    match state.audit.commit(authorized.grant(answer)).await {
        Ok(committed) => Ok(committed.into_inner()),
        Err(error) => {
            // Unaudited, the session must not live on: nobody was told its id.
            abort_quietly(state, &session).await;
            let _ = state.sessions.end(id, &Ending::Aborted, now).await;
            Err(error.into())
        }
    }
}

/// Best effort: an upload nobody will use is aborted now rather than at its expiry.
async fn abort_quietly(state: &AppState, session: &Session) {
    if let Err(error) = state.presigner.abort_multipart(session.target()).await {
        tracing::warn!(upload_id = %session.id, error = %error, "could not abort an unused upload");
    }
}

/// The session `id` names, if the caller owns it and it is in `wanted` state (if any);
/// every refusal is audited under `action`.
async fn owned_session(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    must_be_open: bool,
) -> Result<Session, ApiError> {
    let not_found = || ApiError::NotFound;
    let draft = |upload: Option<Uuid>| {
        let draft = caller.draft(
            Uuid::now_v7(),
            action.as_str(),
            serde_json::json!({"id": id}),
        );
        match upload {
            Some(upload) => draft.for_upload(upload),
            None => draft,
        }
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(state.refuse(Refusal::new(draft(None), not_found())).await);
    };
    // Ops who see every session (`presign:ListUploads`) may read and abort anyone's; only
    // the owner may add parts or complete. Either way the policy then decides the action
    // on the object for the caller itself.
    let reachable = |session: &Session| {
        session.is_owned_by(&caller.principal.issuer, &caller.principal.subject)
            || (matches!(
                action,
                Action::ListMultipartUploadParts | Action::AbortMultipartUpload
            ) && state
                .may_act_on_all(caller, Action::ListUploads)
                .unwrap_or(false))
    };
    let session = match state.sessions.get(id).await {
        Ok(Some(session)) if reachable(&session) => session,
        // Someone else's session is indistinguishable from none.
        Ok(_) => {
            return Err(state
                .refuse(Refusal::new(draft(Some(id)), not_found()))
                .await);
        }
        Err(error) => {
            return Err(state
                .refuse(Refusal::new(draft(Some(id)), error.into()))
                .await);
        }
    };
    if must_be_open {
        let now = OffsetDateTime::now_utc();
        let current = session.state_at(now);
        if current != SessionState::Open {
            let error =
                ApiError::Conflict(format!("upload {id} is {}, not open", current.as_str()));
            let refusal = Refusal::new(
                session_draft(caller, &session, action, serde_json::json!({})),
                error,
            );
            return Err(state.refuse(refusal).await);
        }
    }
    Ok(session)
}

/// The row of a call on `session`.
fn session_draft(
    caller: &Caller,
    session: &Session,
    action: Action,
    request: serde_json::Value,
) -> Draft {
    Draft {
        bucket: Some(session.bucket.to_string()),
        key: Some(session.key.to_string()),
        ..caller.draft(Uuid::now_v7(), action.as_str(), request)
    }
    .for_upload(session.id)
}

/// Decides `action` on `session`'s object with the session's content type, `size` as
/// `presign:ContentLength`, and `expires_in`.
async fn authorize_on_session(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    action: Action,
    size: Option<u64>,
    expires_in: Option<u64>,
    draft: Draft,
) -> Result<Authorized, ApiError> {
    let content_type = session
        .content_type
        .as_deref()
        .and_then(|t| ContentType::parse(t).ok());
    let resource = resource(&session.bucket, &session.key);
    let ask = Ask {
        action,
        resource: &resource,
        facts: Facts {
            method: (action == Action::PutObject).then_some("PUT"),
            content_type: content_type.as_ref().map(ContentType::essence),
            content_length: size,
            expires_in,
            ..Facts::default()
        },
    };
    state.authorize(caller, &ask, draft).await
}

#[utoipa::path(
    post,
    path = "/uploads/{id}/parts",
    tag = "uploads",
    summary = "Sign part URLs for an open session.",
    description = "Policy `s3:PutObject` on the object (`presign:ContentLength` = the declared \
total). Each URL is audited; all rows commit before the answer. One rate-limit charge per call.",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session id from `POST /uploads`.")),
    request_body(content = PartsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One URL per part, in the order asked.", body = PartsResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 409, response = super::openapi::responses::Conflict),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn sign_parts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<AppJson<PartsBody>, ApiError>,
) -> Result<Json<PartsResponse>, ApiError> {
    let session = owned_session(&state, &caller, &id, Action::PutObject, true).await?;
    let parts = body.map(|AppJson(body)| body.parts);
    Ok(Json(
        sign_session_parts(&state, &caller, &session, parts).await?,
    ))
}

/// Signs part URLs of the open `session` (policy `s3:PutObject`), one audit row each.
pub(super) async fn sign_session_parts(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    parts: Result<Vec<PartAsk>, ApiError>,
) -> Result<PartsResponse, ApiError> {
    const ACTION: Action = Action::PutObject;
    let refuse = |error| {
        Refusal::new(
            session_draft(caller, session, ACTION, serde_json::json!({})),
            error,
        )
    };
    let parts = match parts.and_then(validate_parts) {
        Ok(parts) => parts,
        Err(error) => return Err(state.refuse(refuse(error)).await),
    };
    // A part URL never outlives its session.
    let now = OffsetDateTime::now_utc();
    let session_left = (session.expires_at - now).whole_seconds().max(1);
    let expires_in = u32::try_from(session_left)
        .unwrap_or(u32::MAX)
        .min(state.settings.uploads.part_expires_in);
    let requests: Vec<PresignRequest> = parts
        .iter()
        .map(|part| PresignRequest {
            bucket: session.bucket.clone(),
            key: session.key.clone(),
            operation: Operation::UploadPart(PartOptions {
                upload_id: session.s3_upload_id.clone(),
                part_number: part.part_number,
                content_length: part.content_length,
            }),
            expires_in,
            audit_id: Uuid::now_v7(),
        })
        .collect();
    let draft = session_draft(caller, session, ACTION, serde_json::json!({}));
    let authorized = authorize_on_session(
        state,
        caller,
        session,
        ACTION,
        session.declared_size,
        Some(u64::from(expires_in)),
        draft,
    )
    .await?;
    let signed = match authorized.sign_each(&state.presigner, &requests).await {
        Ok(signed) => signed,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    let committed = state.audit.commit_all(signed).await?;
    let parts = committed
        .into_iter()
        .zip(&parts)
        .map(|(url, part)| {
            let url = ReleasedUrl::from(url);
            PartUrl {
                part_number: part.part_number,
                url: url.url,
                headers: url.headers,
                expires_at: url.expires_at,
                audit_id: url.audit_id,
            }
        })
        .collect();
    Ok(PartsResponse { parts })
}

fn validate_parts(parts: Vec<PartAsk>) -> Result<Vec<PartAsk>, ApiError> {
    if parts.is_empty() || parts.len() > MAX_PARTS_PER_CALL {
        return Err(invalid(
            "parts",
            format!("must hold 1..={MAX_PARTS_PER_CALL} entries"),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        check_part_number(index, part.part_number)?;
        if !seen.insert(part.part_number) {
            return Err(invalid(
                &format!("parts[{index}].part_number"),
                format!("part {} is asked twice", part.part_number),
            ));
        }
        if part.content_length.is_some_and(|n| n > MAX_PART_BYTES) {
            return Err(invalid(
                &format!("parts[{index}].content_length"),
                format!("must be at most {MAX_PART_BYTES} bytes (S3's largest part)"),
            ));
        }
    }
    Ok(parts)
}

fn check_part_number(index: usize, number: u32) -> Result<(), ApiError> {
    if (1..=MAX_PARTS).contains(&number) {
        Ok(())
    } else {
        Err(invalid(
            &format!("parts[{index}].part_number"),
            format!("must be in 1..={MAX_PARTS}"),
        ))
    }
}

/// `GET /uploads` filters; all optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadListParams {
    /// open (includes open sessions past their expiry not yet swept), completed, aborted
    /// or expired.
    #[param(value_type = Option<SessionState>)]
    pub state: Option<String>,
    /// The owner's `sub`.
    #[param(min_length = 1)]
    pub subject: Option<String>,
    /// The owner's `iss`.
    #[param(min_length = 1)]
    pub issuer: Option<String>,
    /// Sessions listed, 1..=1000 (default 100), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One session in a list (its parts are read with `GET /uploads/{id}`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadSummary {
    pub id: Uuid,
    pub bucket: String,
    pub key: String,
    /// The owner.
    pub issuer: String,
    pub subject: String,
    #[schema(value_type = String)]
    pub state: SessionState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub declared_size: Option<u64>,
    pub part_size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadList {
    pub uploads: Vec<UploadSummary>,
}

#[utoipa::path(
    get,
    path = "/uploads",
    tag = "uploads",
    summary = "List multipart upload sessions, newest first.",
    description = "Your own sessions; everyone's with `presign:ListUploads` on `*` (who may then also read and abort any session, as the policy allows them on its object).",
    security(("bearer" = [])),
    params(UploadListParams),
    responses(
        (status = 200, description = "The sessions.", body = UploadList),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn list_uploads(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<super::AppQuery<UploadListParams>, ApiError>,
) -> Result<Json<UploadList>, ApiError> {
    let super::AppQuery(params) = params?;
    for (field, value) in [("subject", &params.subject), ("issuer", &params.issuer)] {
        if value.as_deref() == Some("") {
            return Err(invalid(field, "must not be empty"));
        }
    }
    let mut filter = SessionFilter::new(
        params.state.as_deref(),
        params.issuer,
        params.subject,
        params.limit.unwrap_or(100),
    )?;
    state.own_unless_allowed_all(
        &caller,
        Action::ListUploads,
        "uploads",
        &mut filter.issuer,
        &mut filter.subject,
    )?;
    let now = OffsetDateTime::now_utc();
    let sessions = state.sessions.list(&filter).await?;
    let uploads = sessions
        .into_iter()
        .map(|session| UploadSummary {
            id: session.id,
            state: session.state_at(now),
            bucket: session.bucket.as_str().to_owned(),
            key: session.key.as_str().to_owned(),
            issuer: session.issuer,
            subject: session.subject,
            created_at: session.created_at,
            expires_at: session.expires_at,
            declared_size: session.declared_size,
            part_size: session.part_size,
        })
        .collect();
    Ok(Json(UploadList { uploads }))
}

#[utoipa::path(
    get,
    path = "/uploads/{id}",
    tag = "uploads",
    summary = "A session and the parts S3 holds for it.",
    description = "Policy `s3:ListMultipartUploadParts` on the object. Parts come from `ListParts` \
(every page) while the session is open.",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session id from `POST /uploads`.")),
    responses(
        (status = 200, description = "The session.", body = UploadResponse),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 409, response = super::openapi::responses::Conflict),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 502, response = super::openapi::responses::BadGateway),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn get_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UploadResponse>, ApiError> {
    let session = owned_session(
        &state,
        &caller,
        &id,
        Action::ListMultipartUploadParts,
        false,
    )
    .await?;
    Ok(Json(describe_session(&state, &caller, &session).await?))
}

/// `session` and, while it is open, the parts S3 lists (policy
/// `s3:ListMultipartUploadParts`).
pub(super) async fn describe_session(
    state: &AppState,
    caller: &Caller,
    session: &Session,
) -> Result<UploadResponse, ApiError> {
    const ACTION: Action = Action::ListMultipartUploadParts;
    let draft = session_draft(
        caller,
        session,
        ACTION,
        serde_json::json!({"operation": "ListParts"}),
    );
    let authorized =
        authorize_on_session(state, caller, session, ACTION, None, None, draft).await?;
    let current = session.state_at(OffsetDateTime::now_utc());
    let parts = if current == SessionState::Open {
        match state.presigner.list_parts(session.target()).await {
            Ok(parts) => parts,
            Err(error) => return Err(state.refuse(authorized.fail(s3_failure(error))).await),
        }
    } else {
        Vec::new()
    };
    let answer = UploadResponse {
        id: session.id,
        bucket: session.bucket.to_string(),
        key: session.key.to_string(),
        state: current.as_str().to_owned(),
        s3_upload_id: session.s3_upload_id.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        declared_size: session.declared_size,
        part_size: session.part_size,
        parts: parts
            .into_iter()
            .map(|part| ListedPartView {
                part_number: part.part_number,
                size: part.size,
                etag: part.etag,
            })
            .collect(),
        size: session.final_size,
        etag: session.final_etag.clone(),
    };
    let committed = state.audit.commit(authorized.grant(answer)).await?;
    Ok(committed.into_inner())
}

/// The completion's parts: ascending, unique, in range, with well-formed ETags.
fn validate_completion(parts: Vec<CompletePart>) -> Result<Vec<AskedPart>, ApiError> {
    if parts.is_empty() || parts.len() > MAX_PARTS as usize {
        return Err(invalid(
            "parts",
            format!("must hold 1..={MAX_PARTS} entries"),
        ));
    }
    let mut previous = 0;
    parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            check_part_number(index, part.part_number)?;
            if part.part_number <= previous {
                return Err(invalid(
                    &format!("parts[{index}].part_number"),
                    "part numbers must be strictly ascending (each part once)",
                ));
            }
            previous = part.part_number;
            let etag = unquoted(&part.etag);
            let well_formed = !etag.is_empty()
                && etag.len() <= 128
                && etag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !well_formed {
                return Err(invalid(
                    &format!("parts[{index}].etag"),
                    "must be the ETag S3 answered for the part (hex digits, optionally quoted)",
                ));
            }
            Ok(AskedPart {
                part_number: part.part_number,
                etag,
            })
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/uploads/{id}/complete",
    tag = "uploads",
    summary = "Complete the upload after presignd has checked its parts.",
    description = "presignd lists the parts itself and refuses (409) a completion whose parts are \
missing, whose ETags differ, whose parts but the last are under 5 MiB, or whose total exceeds the \
declared total or `uploads.max_object_bytes`; then the policy decides `s3:PutObject` with \
`presign:ContentLength` = the total (403). A refusal leaves the session open.",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session id from `POST /uploads`.")),
    request_body(content = CompleteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The object.", body = CompletedResponse),
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
pub async fn complete_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<AppJson<CompleteBody>, ApiError>,
) -> Result<Json<CompletedResponse>, ApiError> {
    let session = owned_session(&state, &caller, &id, Action::PutObject, true).await?;
    let parts = body.map(|AppJson(body)| body.parts);
    Ok(Json(
        complete_session(&state, &caller, &session, parts).await?,
    ))
}

/// Checks the open `session`'s parts as S3 lists them against `parts`, asks the policy
/// about the total, and completes it in S3.
pub(super) async fn complete_session(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    parts: Result<Vec<CompletePart>, ApiError>,
) -> Result<CompletedResponse, ApiError> {
    const ACTION: Action = Action::PutObject;
    let record = |extra: serde_json::Value| {
        let mut record = serde_json::json!({"operation": "CompleteMultipartUpload"});
        if let (Some(record), serde_json::Value::Object(extra)) = (record.as_object_mut(), extra) {
            record.extend(extra);
        }
        record
    };
    let refuse =
        |request, error| Refusal::new(session_draft(caller, session, ACTION, request), error);
    let asked = match parts.and_then(validate_completion) {
        Ok(asked) => asked,
        Err(error) => {
            return Err(state
                .refuse(refuse(record(serde_json::json!({})), error))
                .await);
        }
    };
    let listed = match state.presigner.list_parts(session.target()).await {
        Ok(listed) => listed,
        Err(error) => {
            return Err(state
                .refuse(refuse(record(serde_json::json!({})), s3_failure(error)))
                .await);
        }
    };
    let max_object_bytes = state.settings.uploads.max_object_bytes;
    let completion =
        match check_completion(&asked, &listed, session.declared_size, max_object_bytes) {
            Ok(completion) => completion,
            Err(refused) => {
                let request = record(serde_json::json!({"parts": asked.len()}));
                return Err(state
                    .refuse(refuse(request, ApiError::Conflict(refused.to_string())))
                    .await);
            }
        };
    let request = record(serde_json::json!({"parts": asked.len(), "size": completion.total}));
    let draft = session_draft(caller, session, ACTION, request);
    let authorized = authorize_on_session(
        state,
        caller,
        session,
        ACTION,
        Some(completion.total),
        None,
        draft,
    )
    .await?;
    let completed = match state
        .presigner
        .complete_multipart(session.target(), &completion.parts, session.write_once)
        .await
    {
        Ok(completed) => completed,
        Err(error) => return Err(state.refuse(authorized.fail(s3_failure(error))).await),
    };
    let ending = Ending::Completed {
        size: completion.total,
        etag: completed.etag.clone(),
    };
    // S3 has the object now; a session row that cannot say so must not hide that.
    if let Err(error) = state
        .sessions
        .end(session.id, &ending, OffsetDateTime::now_utc())
        .await
    {
        tracing::error!(upload_id = %session.id, error = %error, "completed in S3 but not recorded");
    }
    let answer = CompletedResponse {
        bucket: session.bucket.to_string(),
        key: session.key.to_string(),
        etag: completed.etag.clone(),
        size: completion.total,
        location: match completed.location {
            Some(location) => Some(location),
            // Not every store names one (s3s-fs); Uppy's completion needs it.
            None => state
                .presigner
                .object_url(&session.bucket, &session.key)
                .await
                .ok(),
        },
    };
    let authorized =
        authorized.noting(serde_json::json!({"etag": completed.etag, "size": completion.total}));
    let committed = state.audit.commit(authorized.grant(answer)).await?;
    Ok(committed.into_inner())
}

#[utoipa::path(
    delete,
    path = "/uploads/{id}",
    tag = "uploads",
    summary = "Abort an open session.",
    description = "Policy `s3:AbortMultipartUpload` on the object; presignd calls \
`AbortMultipartUpload`, and S3 discards the parts.",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The session id from `POST /uploads`.")),
    responses(
        (status = 200, description = "Aborted.", body = AbortedResponse),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 404, response = super::openapi::responses::NotFound),
        (status = 409, response = super::openapi::responses::Conflict),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 502, response = super::openapi::responses::BadGateway),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn abort_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AbortedResponse>, ApiError> {
    let session = owned_session(&state, &caller, &id, Action::AbortMultipartUpload, true).await?;
    Ok(Json(abort_session(&state, &caller, &session).await?))
}

/// Aborts the open `session` in S3 (policy `s3:AbortMultipartUpload`).
pub(super) async fn abort_session(
    state: &AppState,
    caller: &Caller,
    session: &Session,
) -> Result<AbortedResponse, ApiError> {
    const ACTION: Action = Action::AbortMultipartUpload;
    let draft = session_draft(
        caller,
        session,
        ACTION,
        serde_json::json!({"operation": "AbortMultipartUpload"}),
    );
    let authorized =
        authorize_on_session(state, caller, session, ACTION, None, None, draft).await?;
    if let Err(error) = state.presigner.abort_multipart(session.target()).await {
        return Err(state.refuse(authorized.fail(s3_failure(error))).await);
    }
    if let Err(error) = state
        .sessions
        .end(session.id, &Ending::Aborted, OffsetDateTime::now_utc())
        .await
    {
        return Err(state.refuse(authorized.fail(error.into())).await);
    }
    let committed = state
        .audit
        .commit(authorized.grant(AbortedResponse {}))
        .await?;
    Ok(committed.into_inner())
}

/// What the caller is told when S3 refuses or does not answer a multipart call.
pub(super) fn s3_failure(error: S3CallError) -> ApiError {
    match error {
        S3CallError::Refused { ref code, .. } if code == "NoSuchUpload" => {
            ApiError::Conflict("S3 no longer has this upload (it was completed or aborted)".into())
        }
        S3CallError::Refused { ref code, .. } if code == "PreconditionFailed" => {
            ApiError::Conflict(
                "key: an object already exists there and this session is write-once \
                 (if_none_match)"
                    .into(),
            )
        }
        S3CallError::Refused { status, .. } if status >= 500 => ApiError::Upstream(error.into()),
        S3CallError::Refused { .. } => ApiError::Conflict(error.to_string()),
        S3CallError::Unreachable { .. } => ApiError::Upstream(error.into()),
        S3CallError::Presign(error) => sign_error(error),
    }
}
