//! The one authorization step every protected endpoint takes: the caller names its action
//! and resource, the policy decides, and a denial is audited before the 403 leaves.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AppState, ClientInfo};
use crate::audit::{AuditEvent, Outcome};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::policy::{self, Decision, Denial};

/// An authenticated caller and where the request came from.
pub struct Caller {
    pub principal: Principal,
    pub client: ClientInfo,
    pub request_id: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Address limit, then the token, then the caller's own limit: a flood of bad tokens
    /// is cut off before any signature is checked.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        if let Some(ip) = client.ip {
            state.rate_limits.check_ip(ip)?;
        }
        let principal = Principal::from_request_parts(parts, state).await?;
        state
            .rate_limits
            .check_subject(&principal.issuer, &principal.subject)?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            principal,
            client,
            request_id,
        })
    }
}

/// The request-specific condition keys; the caller's own are added by [`Caller::authorize`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<u64>,
    pub expires_in: Option<u64>,
}

impl Caller {
    /// An audit row for this caller, still to be completed; `outcome` starts as denied.
    pub fn audit_event(&self, id: Uuid, action: &str, request: serde_json::Value) -> AuditEvent {
        AuditEvent {
            id,
            time: OffsetDateTime::now_utc(),
            request_id: self.request_id.clone(),
            outcome: Outcome::Denied,
            reason: None,
            issuer: self.principal.issuer.clone(),
            subject: self.principal.subject.clone(),
            client_ip: self.client.ip.map(|ip| ip.to_string()),
            user_agent: self.client.user_agent.clone(),
            action: action.to_owned(),
            bucket: None,
            key: None,
            expires_at: None,
            expires_in: None,
            statement: None,
            signature_sha256: None,
            request,
        }
    }

    /// Asks the policy whether `event.action` on `resource` is allowed. On Allow, returns
    /// the deciding statement. On Deny, commits `event` as a denial and returns the 403.
    pub async fn authorize(
        &self,
        state: &AppState,
        resource: &str,
        facts: RequestFacts<'_>,
        mut event: AuditEvent,
    ) -> Result<(String, AuditEvent), ApiError> {
        let context = policy::Context {
            claims: &self.principal.claims,
            issuer: &self.principal.issuer,
            source_ip: self.client.ip,
            current_time: OffsetDateTime::now_utc(),
            method: facts.method,
            content_type: facts.content_type,
            content_length: facts.content_length,
            expires_in: facts.expires_in,
        };
        let decision = state.policy.load().evaluate(&policy::Request {
            action: &event.action,
            resource,
            context: &context,
        });
        let denial = match decision {
            Decision::Allow { statement } => return Ok((statement, event)),
            Decision::Deny(denial) => denial,
        };
        record_decision(&event.action, Outcome::Denied);
        let why = match denial {
            Denial::Explicit { statement } => {
                event.statement = Some(statement);
                "explicit deny"
            }
            Denial::NoStatementAllows => "no statement allows",
        };
        event.reason = Some(why.to_owned());
        let detail = format!("{} on {resource}: {why}", event.action);
        state.audit.record(event).await?;
        Err(ApiError::AccessDenied(detail))
    }
}

/// Counts a decision and notes it on the request span, so the access-log event carries
/// it. `action` is one of the few the handlers name, so labels stay bounded.
pub fn record_decision(action: &str, outcome: Outcome) {
    tracing::Span::current().record("outcome", outcome.as_str());
    metrics::counter!(
        crate::telemetry::DECISIONS,
        "action" => action.to_owned(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
}
