//! The pipeline's HTTP edge: the [`Caller`] extractor, and the two ways a handler ends a
//! refused request (both commit the refusal's row first).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::audit::Draft;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::issuance::{self, Ask, Authorized, Caller, ClientInfo, Gate, Refusal};

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Address limit, then the token: a flood of bad tokens is cut off before any
    /// signature is checked. The caller's own limit is charged per decision.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        if let Some(ip) = client.ip {
            state.rate_limits.check_ip(ip)?;
        }
        let principal = Principal::from_request_parts(parts, state).await?;
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

impl AppState {
    /// The policy in force and the rate limits, for [`issuance::decide`].
    pub(crate) fn gate<R>(&self, decide: impl FnOnce(Gate<'_>) -> R) -> R {
        let policy = self.policy.load();
        decide(Gate {
            policy: &policy,
            limits: &self.rate_limits,
        })
    }

    /// Decides `ask`; a refusal is committed and answered as its error.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        ask: &Ask<'_>,
        draft: Draft,
    ) -> Result<Authorized, ApiError> {
        match self.gate(|gate| issuance::decide(gate, caller, ask, draft)) {
            Ok(authorized) => Ok(authorized),
            Err(refusal) => Err(self.refuse(refusal).await),
        }
    }

    /// Commits `refusal`'s row and returns its error (503 if the row cannot commit).
    pub(crate) async fn refuse(&self, refusal: Refusal) -> ApiError {
        match self.audit.commit(refusal.into_pending()).await {
            Ok(committed) => committed.into_inner(),
            Err(error) => error.into(),
        }
    }
}
