//! `GET /audit`: ops read the audit log, newest first, a page at a time. Allowed by the
//! policy action `presign:QueryAudit` on `*`; every query is itself audited.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use uuid::Uuid;

use super::AppState;
use super::authorize::{Caller, RequestFacts};
use crate::audit::{AuditFilters, AuditPage, Outcome, read_page};
use crate::error::ApiError;

/// The action that reading the log needs.
pub const QUERY_AUDIT: &str = "presign:QueryAudit";

#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    summary = "Read the audit log, newest first, a page at a time.",
    description = "Needs a token that the policy allows `presign:QueryAudit` on `*`. \
Every query is itself audited. An unknown parameter is a 400 naming it.",
    security(("bearer" = [])),
    params(AuditFilters),
    responses(
        (status = 200, description = "One page of events and the cursor of the next.", body = AuditPage),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn query_audit(
    State(state): State<AppState>,
    caller: Caller,
    AuditParams(filters): AuditParams,
) -> Result<Json<AuditPage>, ApiError> {
    let query = filters
        .to_query()
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let recorded = serde_json::to_value(&query).map_err(ApiError::internal)?;
    let event = caller.audit_event(Uuid::now_v7(), QUERY_AUDIT, recorded);
    let (statement, mut event) = caller
        .authorize(&state, "*", RequestFacts::default(), event)
        .await?;
    let page = read_page(state.audit_store.as_ref(), &query).await?;
    event.outcome = Outcome::Issued;
    event.statement = Some(statement);
    // Reads are audited like issuances: nothing is answered that the log does not hold.
    let action = event.action.clone();
    state.audit.record(event).await?;
    super::authorize::record_decision(&action, Outcome::Issued);
    Ok(Json(page))
}

/// The query string as [`AuditFilters`]; an unknown or malformed parameter is a 400
/// naming it.
pub struct AuditParams(pub AuditFilters);

impl FromRequestParts<AppState> for AuditParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<AuditFilters>::from_request_parts(parts, state)
            .await
            .map(|Query(filters)| Self(filters))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::InvalidRequest(format!("invalid query: {detail}"))
            })
    }
}
