//! Companion-compatible routes (DESIGN §2), for `@uppy/aws-s3` 5.x (`endpoint` +
//! `headers`) and 6.x `companionEndpoint` mode, with the shapes Uppy Companion 6.2.2
//! answers. They run on presignd's multipart sessions: presignd opens, lists, completes
//! (after its own checks) and aborts each upload itself. Unlike Companion, every route
//! needs a token (Bearer header, or the `uppy.auth_cookie` cookie), and an upload belongs
//! to the caller who opened it: anyone else gets 403.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::presign::{HttpMethod, PresignBody, issue};
use super::uploads::{
    CompletePart, NewUpload, PartAsk, abort_session, complete_session, describe_session,
    open_session, sign_session_parts,
};
use super::uppy::expand_key;
use super::{AppJson, AppState};
use crate::error::ApiError;
use crate::issuance::Caller;
use crate::presign::{ContentType, ObjectKey, ReleasedUrl};
use crate::uploads::{Session, SessionState};

/// The action row of a Companion request refused before its action is known.
const ENDPOINT: &str = "/s3 (Companion)";

/// `GET /s3/params?filename=&type=&metadata[name]=value`.
#[derive(Debug, Deserialize)]
pub struct ParamsQuery {
    pub filename: Option<String>,
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    /// `metadata[name]` entries, flattened by name.
    #[serde(flatten)]
    pub rest: BTreeMap<String, String>,
}

/// Companion's `/s3/params` answer: always a POST form.
#[derive(Debug, Serialize)]
pub struct ParamsResponse {
    pub method: &'static str,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    /// Seconds.
    pub expires: u64,
}

/// `GET /s3/params`: a POST form for one file, sized to what the policy allows.
pub async fn params(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ParamsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ParamsResponse>, ApiError> {
    let uppy = super::uppy::settings(&state)?.clone();
    let refuse = |error| caller.refuse(ENDPOINT, error);
    let prepared = query
        .map_err(|e| ApiError::InvalidRequest(format!("query: {}", e.body_text())))
        .and_then(|Query(query)| {
            let filename = query
                .filename
                .filter(|f| !f.is_empty())
                .ok_or_else(|| ApiError::InvalidRequest("filename: is required".into()))?;
            let key = expand_key(&uppy.key_template, &filename, &caller)?;
            let metadata = metadata_entries(query.rest)?;
            Ok((key, query.content_type, metadata))
        });
    let (key, content_type, metadata) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return Err(state.refuse(refuse(error)).await),
    };
    let body = PresignBody {
        bucket: uppy.bucket.to_string(),
        key: key.to_string(),
        method: HttpMethod::Post,
        expires_in: None,
        content_type,
        content_length: None,
        checksum_sha256: None,
        metadata: (!metadata.is_empty()).then_some(metadata),
        if_none_match: None,
        content_disposition: None,
        version_id: None,
        content_length_range: None,
    };
    let signed = match issue(&state, &caller, body).await {
        Ok(signed) => signed,
        Err(refusal) => return Err(state.refuse(refusal).await),
    };
    let released = ReleasedUrl::from(state.audit.commit(signed).await?);
    Ok(Json(ParamsResponse {
        method: "POST",
        url: released.url,
        fields: released.fields,
        expires: released.expires_in,
    }))
}

/// `metadata[name]=value` query entries as a map; anything else is refused by name.
fn metadata_entries(rest: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError> {
    rest.into_iter()
        .map(|(name, value)| {
            name.strip_prefix("metadata[")
                .and_then(|n| n.strip_suffix(']'))
                .map(|n| (n.to_owned(), value))
                .ok_or_else(|| ApiError::InvalidRequest(format!("{name}: unknown parameter")))
        })
        .collect()
}

/// `POST /s3/multipart` body.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    pub filename: String,
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct CreateResponse {
    pub key: String,
    /// S3's UploadId.
    #[serde(rename = "uploadId")]
    pub upload_id: String,
    pub bucket: String,
}

/// `POST /s3/multipart`: opens a session, as `POST /uploads` does.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<CreateBody>, ApiError>,
) -> Result<Json<CreateResponse>, ApiError> {
    let uppy = super::uppy::settings(&state)?.clone();
    let upload = body.and_then(|AppJson(body)| {
        let key = expand_key(&uppy.key_template, &body.filename, &caller)?;
        let content_type = body
            .content_type
            .map(|t| {
                ContentType::parse(&t).map_err(|e| ApiError::InvalidRequest(format!("type: {e}")))
            })
            .transpose()?;
        Ok(NewUpload {
            bucket: uppy.bucket.clone(),
            key,
            content_type,
            metadata: super::presign::metadata(body.metadata)?,
            declared_size: None,
            write_once: false,
            part_size: super::uploads::DEFAULT_PART_SIZE,
        })
    });
    let upload = match upload {
        Ok(upload) => upload,
        Err(error) => return Err(state.refuse(caller.refuse(ENDPOINT, error)).await),
    };
    let created = open_session(&state, &caller, upload).await?;
    Ok(Json(CreateResponse {
        key: created.key,
        upload_id: created.s3_upload_id,
        bucket: created.bucket,
    }))
}

/// `?key=` of the routes on one upload.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    pub key: String,
}

/// The caller's open session for S3 upload `upload_id` of `key`; 404 if there is none,
/// 403 if it is another caller's or for another key, 409 if it is no longer open.
async fn session(
    state: &AppState,
    caller: &Caller,
    upload_id: &str,
    key: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    must_be_open: bool,
) -> Result<Session, ApiError> {
    let refuse = |error| caller.refuse(ENDPOINT, error);
    let uppy = super::uppy::settings(state)?;
    let key = match key {
        Ok(Query(query)) => {
            ObjectKey::parse(&query.key).map_err(|e| ApiError::InvalidRequest(format!("key: {e}")))
        }
        Err(_) => Err(ApiError::InvalidRequest(
            "key: the ?key= query parameter is required".into(),
        )),
    };
    let key = match key {
        Ok(key) => key,
        Err(error) => return Err(state.refuse(refuse(error)).await),
    };
    let found = state
        .sessions
        .find_by_s3_upload(uppy.bucket.as_str(), upload_id)
        .await;
    let error = match found {
        Ok(Some(session)) => {
            let principal = &caller.principal;
            let now = time::OffsetDateTime::now_utc();
            if !session.is_owned_by(&principal.issuer, &principal.subject) {
                ApiError::AccessDenied("uploadId: this upload belongs to another caller".into())
            } else if session.key != key {
                ApiError::AccessDenied("key: this upload is for another key".into())
            } else if must_be_open && session.state_at(now) != SessionState::Open {
                ApiError::Conflict(format!(
                    "uploadId: the upload is {}",
                    session.state_at(now).as_str()
                ))
            } else {
                return Ok(session);
            }
        }
        Ok(None) => ApiError::NotFound,
        Err(error) => error.into(),
    };
    Err(state.refuse(refuse(error)).await)
}

#[derive(Debug, Serialize)]
pub struct PartResponse {
    pub url: String,
    /// Seconds.
    pub expires: i64,
}

/// `GET /s3/multipart/{uploadId}/{partNumber}?key=`: one part URL.
pub async fn sign_part(
    State(state): State<AppState>,
    caller: Caller,
    Path((upload_id, part_number)): Path<(String, String)>,
    key: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PartResponse>, ApiError> {
    let session = session(&state, &caller, &upload_id, key, true).await?;
    let part = part_number
        .parse::<u32>()
        .map(|part_number| {
            vec![PartAsk {
                part_number,
                content_length: None,
            }]
        })
        .map_err(|_| ApiError::InvalidRequest("partNumber: must be in 1..=10000".into()));
    let signed = sign_session_parts(&state, &caller, &session, part).await?;
    let part = signed
        .parts
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no part URL signed"))?;
    let expires = (part.expires_at - time::OffsetDateTime::now_utc()).whole_seconds();
    Ok(Json(PartResponse {
        url: part.url,
        expires,
    }))
}

/// One part as Companion lists it (S3's own field names).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    pub size: u64,
}

/// `GET /s3/multipart/{uploadId}?key=`: the parts S3 holds.
pub async fn list_parts(
    State(state): State<AppState>,
    caller: Caller,
    Path(upload_id): Path<String>,
    key: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ListedPart>>, ApiError> {
    let session = session(&state, &caller, &upload_id, key, false).await?;
    let described = describe_session(&state, &caller, &session).await?;
    Ok(Json(
        described
            .parts
            .into_iter()
            .map(|part| ListedPart {
                part_number: part.part_number,
                etag: part.etag.map(|etag| format!("\"{etag}\"")),
                size: part.size,
            })
            .collect(),
    ))
}

/// `POST /s3/multipart/{uploadId}/complete?key=` body.
#[derive(Debug, Deserialize)]
pub struct CompleteBody {
    pub parts: Vec<CompanionPart>,
}

#[derive(Debug, Deserialize)]
pub struct CompanionPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Serialize)]
pub struct CompleteResponse {
    pub location: Option<String>,
    pub key: String,
    pub bucket: String,
}

/// Completes the upload after presignd's own checks (as `POST /uploads/{id}/complete`).
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(upload_id): Path<String>,
    key: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<AppJson<CompleteBody>, ApiError>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let session = session(&state, &caller, &upload_id, key, true).await?;
    let parts = body.map(|AppJson(body)| {
        body.parts
            .into_iter()
            .map(|part| CompletePart {
                part_number: part.part_number,
                etag: part.etag,
            })
            .collect()
    });
    let completed = complete_session(&state, &caller, &session, parts).await?;
    Ok(Json(CompleteResponse {
        location: completed.location,
        key: completed.key,
        bucket: completed.bucket,
    }))
}

/// `DELETE /s3/multipart/{uploadId}?key=`: aborts the upload; answers `{}`.
pub async fn abort(
    State(state): State<AppState>,
    caller: Caller,
    Path(upload_id): Path<String>,
    key: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let session = session(&state, &caller, &upload_id, key, true).await?;
    abort_session(&state, &caller, &session).await?;
    Ok(Json(serde_json::json!({})))
}
