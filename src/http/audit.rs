//! `GET /audit`: ops read the audit log, newest first, a page at a time. Allowed by the
//! policy action `presign:QueryAudit` on `*`; every query is itself audited. `GET
//! /audit/stats` counts the same rows per minute, hour or day, for the console's chart.

use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::{AppQuery, AppState};
use crate::audit::{AuditFilters, AuditPage, AuditStats, StatsFilters, read_page, read_stats};
use crate::error::ApiError;
use crate::issuance::{Ask, Caller, Facts};
use crate::policy::Action;

/// What every read of the log asks the policy.
const QUERY_AUDIT: Ask<'static> = Ask {
    action: Action::QueryAudit,
    resource: "*",
    facts: Facts {
        method: None,
        content_type: None,
        content_length: None,
        expires_in: None,
        max_uses: None,
        link_expires_in: None,
    },
};

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
    params: Result<AppQuery<AuditFilters>, ApiError>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = params.and_then(|AppQuery(filters)| Ok(filters.to_query()?));
    let query = state.valid(&caller, Action::QueryAudit, query).await?;
    let recorded = serde_json::to_value(&query).map_err(ApiError::internal)?;
    read_audited(&state, &caller, recorded, async {
        Ok(read_page(state.audit_store.as_ref(), &query).await?)
    })
    .await
}

/// `read`'s answer, once the policy allows `presign:QueryAudit` and the query's row (which
/// records `recorded`) has committed: reads are audited like issuances, so nothing is
/// answered that the log does not hold.
async fn read_audited<T>(
    state: &AppState,
    caller: &Caller,
    recorded: serde_json::Value,
    read: impl Future<Output = Result<T, ApiError>>,
) -> Result<Json<T>, ApiError> {
    let draft = caller.draft(Uuid::now_v7(), Action::QueryAudit.as_str(), recorded);
    let authorized = state.authorize(caller, &QUERY_AUDIT, draft).await?;
    let answer = read.await?;
    let committed = state.audit.commit(authorized.grant(answer)).await?;
    Ok(Json(committed.into_inner()))
}

#[utoipa::path(
    get,
    path = "/audit/stats",
    tag = "audit",
    summary = "Issuances and denials per minute, hour or day over a window, by action.",
    description = "The same authorization as `GET /audit` (`presign:QueryAudit` on `*`); every \
query is itself audited. Every bucket of the window is answered, empty ones included, oldest \
first; at most 1500 buckets. The filters are those of `GET /audit`.",
    security(("bearer" = [])),
    params(StatsFilters),
    responses(
        (status = 200, description = "The counts.", body = AuditStats),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn audit_stats(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<AppQuery<StatsFilters>, ApiError>,
) -> Result<Json<AuditStats>, ApiError> {
    let query = params.and_then(|AppQuery(filters)| Ok(filters.to_query()?));
    let query = state.valid(&caller, Action::QueryAudit, query).await?;
    let recorded = serde_json::json!({"stats": &query});
    read_audited(&state, &caller, recorded, async {
        Ok(read_stats(state.audit_store.as_ref(), &query).await?)
    })
    .await
}
