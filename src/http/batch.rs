//! `POST /presign/batch`: many presign bodies under one token, for backend services. Each
//! item is validated, decided, rate limited and signed on its own, with its own audit
//! row; every row commits before the answer, or the whole answer is 503 and no URL leaves.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::extract::JsonObject;
use super::presign::{PresignBody, PresignResponse, issue};
use super::{AppState, BatchJson};
use crate::audit::{Outcome, Pending};
use crate::error::{ApiError, Problem};
use crate::issuance::Caller;
use crate::presign::{Presigned, ReleasedUrl};

/// The endpoint, as the audit row's action for a body or item whose method is unknown.
const ENDPOINT: &str = "POST /presign/batch";

/// Each item's presign body read, decided and signed (or refused), in order; and whether
/// any was signed.
async fn issue_all(
    state: &AppState,
    caller: &Caller,
    items: Vec<Box<RawValue>>,
) -> (Vec<Pending<Result<Presigned, ApiError>>>, bool) {
    let mut audited = Vec::with_capacity(items.len());
    let mut any_issued = false;
    for (index, item) in items.into_iter().enumerate() {
        let issued = match serde_json::from_str::<JsonObject<PresignBody>>(item.get()) {
            Ok(JsonObject(body)) => issue(state, caller, body).await,
            Err(error) => {
                let error = ApiError::InvalidRequest(format!("items[{index}]: {error}"));
                Err(caller.refuse(ENDPOINT, error))
            }
        };
        any_issued |= issued.is_ok();
        audited.push(match issued {
            Ok(signed) => signed.map(Ok),
            Err(refusal) => refusal.into_pending().map(Err),
        });
    }
    (audited, any_issued)
}

/// Up to `server.max_batch_items` presign bodies.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = PresignBatchRequest,
    example = json!({"items": [
        {"bucket": "dev", "key": "alice/a.pdf", "method": "GET"},
        {"bucket": "dev", "key": "alice/b.pdf", "method": "GET", "expires_in": 60}
    ]})
)]
pub struct BatchBody {
    /// 1..=`server.max_batch_items` bodies of `POST /presign` (see `PresignRequest`). Each
    /// is checked on its own, so an item that is not a valid body is an error entry in the
    /// results, not a failed batch: the schema accepts any item for that reason.
    #[schema(min_items = 1, value_type = Vec<serde_json::Value>)]
    pub items: Vec<Box<RawValue>>,
}

/// One result per item, in item order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PresignBatchResponse)]
pub struct BatchResponse {
    pub results: Vec<ItemResult>,
}

/// An item's URL, or the problem that refused it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemResult {
    Ok(PresignResponse),
    Error(Problem),
}

/// How many batches are in memory at once, in two phases. Signing is CPU-bound, so one
/// batch per core signs; the others wait before their body is read. A signed batch then
/// gives up its core while its rows commit (a commit is mostly waiting for the disk), so
/// the next batch signs meanwhile; one more per core may wait for its commit, which bounds
/// the URLs held in memory when the store is slow. (Four per core served no more URLs/s
/// with 1000-item batches and peaked 25 MiB higher.)
pub struct BatchSlots {
    signing: Arc<Semaphore>,
    committing: Arc<Semaphore>,
}

impl BatchSlots {
    pub fn new(cores: usize) -> Self {
        Self {
            signing: Arc::new(Semaphore::new(cores)),
            committing: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// A batch's place among [`BatchSlots`]; taken before the body is read.
pub struct BatchSlot(#[allow(dead_code, reason = "held, not read")] OwnedSemaphorePermit);

impl BatchSlot {
    /// Trades the signing place for a committing one (waiting, if need be, for a batch
    /// ahead to be answered).
    async fn into_committing(self, slots: &BatchSlots) -> Result<BatchSlot, ApiError> {
        let permit = slots.committing.clone().acquire_owned().await;
        permit.map(BatchSlot).map_err(ApiError::internal)
    }
}

impl FromRequestParts<AppState> for BatchSlot {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The request deadline bounds the wait; the semaphores are never closed.
        let permit = state.batch_slots.signing.clone().acquire_owned().await;
        permit.map(BatchSlot).map_err(ApiError::internal)
    }
}

#[utoipa::path(
    post,
    path = "/presign/batch",
    tag = "presign",
    summary = "Issue many presigned URLs in one request.",
    description = "Each item is a `POST /presign` body, validated, decided, rate limited and \
signed on its own; the answer lists `{\"ok\": …}` or `{\"error\": problem}` per item, in order. \
Every item's audit row commits before the answer; if they cannot, the whole answer is 503 and no \
URL is issued.",
    security(("bearer" = [])),
    request_body(content = BatchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per item, in item order.", body = BatchResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 405, response = super::openapi::responses::MethodNotAllowed),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn presign_batch(
    State(state): State<AppState>,
    caller: Caller,
    slot: BatchSlot,
    body: Result<BatchJson<BatchBody>, ApiError>,
) -> Result<Response, ApiError> {
    let items = match body {
        Ok(BatchJson(body)) => body.items,
        Err(error) => return Err(state.refuse(caller.refuse(ENDPOINT, error)).await),
    };
    let max = state.settings.max_batch_items;
    if items.is_empty() || items.len() > max {
        let error = ApiError::InvalidRequest(format!("items: must hold 1..={max} entries"));
        return Err(state.refuse(caller.refuse(ENDPOINT, error)).await);
    }

    // The items are decided in a span without an `outcome` field, so that each decision
    // does not rewrite the request span's (which re-serialises its fields for the JSON
    // log); the request takes one outcome for the batch instead. The JSON log shows only
    // the current span, so this one carries the request id for events within it.
    let items_span = tracing::info_span!(
        "items",
        request_id = %caller.request_id,
        count = items.len()
    );
    let (audited, any_issued) = issue_all(&state, &caller, items)
        .instrument(items_span)
        .await;
    let outcome = if any_issued {
        Outcome::Issued
    } else {
        Outcome::Denied
    };
    tracing::Span::current().record("outcome", outcome.as_str());

    let _slot = slot.into_committing(&state.batch_slots).await?;
    let committed = state.audit.commit_all(audited).await?;
    let results = committed
        .into_iter()
        .map(|item| match item.transpose() {
            Ok(url) => ItemResult::Ok(ReleasedUrl::from(url).into()),
            Err(error) => ItemResult::Error(Problem::new(&error, &caller.request_id)),
        })
        .collect();
    // Serialised (Json's into_response writes the bytes at once) while the slot is held,
    // so that the slots bound the answers in memory too; only the bytes outlive it.
    Ok(Json(BatchResponse { results }).into_response())
}
