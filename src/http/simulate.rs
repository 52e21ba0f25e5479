//! `POST /policy/simulate`: the policy simulator of `presignd policy check`, against the
//! running policy, for ops (`presign:SimulatePolicy` on `*`). "Why was bob denied?"
//! answered with the statement that decided and, for an implicit deny, where each Allow
//! statement about the action fell short. Every simulation is audited.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppJson, AppState};
use crate::error::ApiError;
use crate::issuance::{Ask, Caller, Facts, Simulation, Tried, simulate};
use crate::policy::Action;

/// A request to evaluate as if `subject` had made it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    /// The token's `sub`.
    subject: String,
    /// The token's other claims (`{"groups": ["ops"]}`); `sub` here is overridden by `subject`.
    #[serde(default)]
    #[schema(value_type = Object)]
    claims: Map<String, Value>,
    /// Any action presignd asks about (`s3:GetObject`, `presign:CreateLink`, …).
    action: String,
    /// `bucket/key`, or `*` for the actions asked on `*`.
    resource: String,
    /// Condition keys and their values (`{"presign:ContentLength": 10485760}`):
    /// aws:SourceIp, aws:CurrentTime, presign:Method, presign:ContentType,
    /// presign:ContentLength, presign:ExpiresIn, presign:Issuer (default: your own
    /// token's issuer), presign:MaxUses, presign:LinkExpiresIn.
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

/// What the running policy decides.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateResponse {
    /// `allow` or `deny`.
    decision: &'static str,
    /// The Sid (or `#index`) that decided; null for an implicit deny.
    statement: Option<String>,
    /// Why it was denied; null when allowed.
    reason: Option<String>,
    /// For an implicit deny: each Allow statement about the action and where it fell short.
    tried: Vec<Tried>,
    action: String,
    /// The resource as the policy saw it (`arn:aws:s3:::bucket/key` or `*`).
    resource: String,
    /// The claims the policy saw, `sub` included.
    #[schema(value_type = Object)]
    claims: Map<String, Value>,
    /// Every condition key the request carried, with the defaults the service applies.
    #[schema(value_type = Object)]
    context: Map<String, Value>,
}

#[utoipa::path(
    post,
    path = "/policy/simulate",
    tag = "policy",
    summary = "Evaluate a request against the running policy, as `presignd policy check` does.",
    description = "Needs `presign:SimulatePolicy` on `*`. The same context keys and defaults \
as the handlers use. Every simulation is audited.",
    security(("bearer" = [])),
    request_body = SimulateBody,
    responses(
        (status = 200, description = "The decision, the statement and why.", body = SimulateResponse),
        (status = 400, response = super::openapi::responses::BadRequest),
        (status = 401, response = super::openapi::responses::Unauthorized),
        (status = 403, response = super::openapi::responses::Forbidden),
        (status = 413, response = super::openapi::responses::PayloadTooLarge),
        (status = 415, response = super::openapi::responses::UnsupportedMediaType),
        (status = 429, response = super::openapi::responses::TooManyRequests),
        (status = 500, response = super::openapi::responses::InternalError),
        (status = 503, response = super::openapi::responses::Unavailable),
    )
)]
pub async fn simulate_policy(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<AppJson<SimulateBody>, ApiError>,
) -> Result<Json<SimulateResponse>, ApiError> {
    const ACTION: Action = Action::SimulatePolicy;
    let simulation = body.and_then(|AppJson(body)| simulation(body, &caller, &state));
    let simulation = state.valid(&caller, ACTION, simulation).await?;
    // The row names what was asked about, not the claims (which may hold anything).
    let recorded = serde_json::json!({
        "subject": simulation.subject,
        "action": simulation.action,
        "resource": simulation.resource,
    });
    let draft = caller.draft(Uuid::now_v7(), ACTION.as_str(), recorded);
    let ask = Ask {
        action: ACTION,
        resource: "*",
        facts: Facts::default(),
    };
    let authorized = state.authorize(&caller, &ask, draft).await?;
    let verdict = match simulate(&state.policy.load(), simulation) {
        Ok(verdict) => verdict,
        Err(invalid) => {
            let error = ApiError::InvalidRequest(invalid.to_string());
            return Err(state.refuse(authorized.fail(error)).await);
        }
    };
    let response = SimulateResponse {
        decision: if verdict.decision.is_allowed() {
            "allow"
        } else {
            "deny"
        },
        statement: verdict.statement().map(str::to_owned),
        reason: verdict.reason(),
        action: verdict.action.to_string(),
        tried: verdict.tried,
        resource: verdict.resource,
        claims: verdict.claims,
        context: verdict
            .context
            .into_iter()
            .map(|(key, value)| (key, Value::String(value)))
            .collect(),
    };
    let committed = state.audit.commit(authorized.grant(response)).await?;
    Ok(Json(committed.into_inner()))
}

/// The body as a [`Simulation`]; a context value that is neither a string nor a number
/// is a 400 naming its key.
fn simulation(
    body: SimulateBody,
    caller: &Caller,
    state: &AppState,
) -> Result<Simulation, ApiError> {
    let context = body
        .context
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(number) => Ok((key, number.to_string())),
            _ => Err(ApiError::InvalidRequest(format!(
                "context.{key}: expected a string or a number"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Simulation {
        subject: body.subject,
        claims: body.claims,
        action: body.action,
        resource: body.resource,
        context,
        default_issuer: caller.principal.issuer.clone(),
        default_expires_in: state.settings.default_expires_in,
    })
}
