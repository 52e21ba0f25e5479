//! The pipeline's HTTP edge: the [`Caller`] extractor, and the two ways a handler ends a
//! refused request (both commit the refusal's row first).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::audit::Draft;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::issuance::{self, Ask, Authorized, Caller, ClientInfo, Facts, Gate, Refusal};
use crate::policy::Action;

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

    /// Whether `caller` is allowed `action` on `*` (`presign:ListLinks`, `presign:ListUploads`:
    /// seeing everyone's, not only one's own), charging its rate limit once for the request.
    /// Not audited by itself: the request it widens is.
    pub(crate) fn may_act_on_all(&self, caller: &Caller, action: Action) -> Result<bool, ApiError> {
        let principal = &caller.principal;
        self.rate_limits
            .check_subject(&principal.issuer, &principal.subject)?;
        let ask = Ask {
            action,
            resource: "*",
            facts: Facts::default(),
        };
        Ok(caller.evaluate(&self.policy.load(), &ask).is_allowed())
    }

    /// A list's owner filters: left as asked when `caller` may see everyone's (`action` on
    /// `*`), else set to the caller, and a 403 naming `action` if they named someone else.
    pub(crate) fn own_unless_allowed_all(
        &self,
        caller: &Caller,
        action: Action,
        what: &str,
        issuer: &mut Option<String>,
        subject: &mut Option<String>,
    ) -> Result<(), ApiError> {
        if self.may_act_on_all(caller, action)? {
            return Ok(());
        }
        let principal = &caller.principal;
        let others = subject.as_ref().is_some_and(|s| *s != principal.subject)
            || issuer.as_ref().is_some_and(|i| *i != principal.issuer);
        if others {
            return Err(ApiError::AccessDenied(format!(
                "{action} on *: no statement allows (only your own {what} are listed)"
            )));
        }
        *issuer = Some(principal.issuer.clone());
        *subject = Some(principal.subject.clone());
        Ok(())
    }

    /// `request` as validated, or its error answered as a refusal of `action` with its
    /// own row (an authenticated caller sending bad input is worth a security team's look).
    pub(crate) async fn valid<T>(
        &self,
        caller: &Caller,
        action: Action,
        request: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match request {
            Ok(request) => Ok(request),
            Err(error) => Err(self.refuse(caller.refuse(action.as_str(), error)).await),
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
