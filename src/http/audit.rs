//! `GET /audit`: ops read the audit log, newest first, a page at a time. Allowed by the
//! policy action `presign:QueryAudit` on `*`; every query is itself audited.

use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::{AppQuery, AppState};
use crate::audit::{AuditFilters, AuditPage, read_page};
use crate::error::ApiError;
use crate::issuance::{Ask, Caller, Facts};
use crate::policy::Action;

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
    let query = params.and_then(|AppQuery(filters)| {
        filters
            .to_query()
            .map_err(|e| ApiError::InvalidRequest(e.to_string()))
    });
    let query = match query {
        Ok(query) => query,
        Err(error) => {
            let refusal = caller.refuse(Action::QueryAudit.as_str(), error);
            return Err(state.refuse(refusal).await);
        }
    };
    let recorded = serde_json::to_value(&query).map_err(ApiError::internal)?;
    let draft = caller.draft(Uuid::now_v7(), Action::QueryAudit.as_str(), recorded);
    let ask = Ask {
        action: Action::QueryAudit,
        resource: "*",
        facts: Facts::default(),
    };
    let authorized = state.authorize(&caller, &ask, draft).await?;
    let page = read_page(state.audit_store.as_ref(), &query).await?;
    // Reads are audited like issuances: nothing is answered that the log does not hold.
    let committed = state.audit.commit(authorized.grant(page)).await?;
    Ok(Json(committed.into_inner()))
}
