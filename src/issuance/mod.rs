//! The issuance pipeline, the one path by which anything signed leaves presignd:
//!
//! ```text
//! request ─▶ validate (newtypes) ─▶ Caller (authenticated) ─▶ decide ─▶ Authorized
//!         ─▶ sign ─▶ Signed ─▶ AuditWriter::commit ─▶ Committed<Presigned> ─▶ response
//! ```
//!
//! Each step's output is the next step's only input, so the rule that no URL leaves
//! without a committed audit row (DESIGN §1 rule 1) is a matter of types: a
//! [`Presigned`] URL is readable only as a [`ReleasedUrl`], made from a
//! [`Committed`] one. A refusal ([`Refusal`]) carries its own row, committed before its
//! error is answered. One [`Caller::policy_context`] feeds both the handlers and
//! `presignd policy check`.

mod rate_limit;
mod simulate;

use std::net::IpAddr;

use time::OffsetDateTime;
use uuid::Uuid;

pub use rate_limit::RateLimits;
pub use simulate::{InvalidSimulation, Simulation, Tried, Verdict, simulate};

use crate::audit::{AuditEvent, Draft, Pending};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::policy::{self, Action, Decision, Denial, Policy};
use crate::presign::{PresignError, PresignRequest, Presigned, Presigner};

/// A signed URL with its audit row, waiting for [`crate::audit::AuditWriter::commit`].
pub type Signed = Pending<Presigned>;

/// Where the request came from, for policy conditions and the audit row.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The TCP peer, or the `X-Forwarded-For` client when the peer is a trusted proxy.
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// An authenticated caller and where the request came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub client: ClientInfo,
    /// The request's `x-request-id`.
    pub request_id: String,
}

/// The condition keys a request carries besides the caller's own; `None` is absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts<'a> {
    pub method: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<u64>,
    pub expires_in: Option<u64>,
    /// A share link's use limit (`presign:MaxUses`); absent when unlimited.
    pub max_uses: Option<u64>,
    /// A share link's lifetime in seconds (`presign:LinkExpiresIn`).
    pub link_expires_in: Option<u64>,
}

impl<'a> Facts<'a> {
    /// The facts of a presign request: its method, the content type as the policy reads
    /// it, the signed length and the lifetime asked.
    pub fn of(request: &'a PresignRequest) -> Facts<'a> {
        let (content_type, content_length) = request.operation.policy_content();
        Facts {
            method: Some(request.operation.method()),
            content_type,
            content_length,
            expires_in: Some(u64::from(request.expires_in)),
            ..Facts::default()
        }
    }
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub action: Action,
    /// `arn:aws:s3:::bucket/key`, or `*`.
    pub resource: &'a str,
    pub facts: Facts<'a>,
}

impl Caller {
    /// The policy's view of this caller asking with `facts` at `now`.
    pub fn policy_context<'a>(
        &'a self,
        facts: &Facts<'a>,
        now: OffsetDateTime,
    ) -> policy::Context<'a> {
        policy::Context {
            claims: &self.principal.claims,
            issuer: &self.principal.issuer,
            source_ip: self.client.ip,
            current_time: now,
            method: facts.method,
            content_type: facts.content_type,
            content_length: facts.content_length,
            expires_in: facts.expires_in,
            max_uses: facts.max_uses,
            link_expires_in: facts.link_expires_in,
        }
    }

    /// What `policy` decides for this caller asking `ask` now.
    pub fn evaluate(&self, policy: &Policy, ask: &Ask<'_>) -> Decision {
        let context = self.policy_context(&ask.facts, OffsetDateTime::now_utc());
        policy.evaluate(&policy::Request {
            action: ask.action,
            resource: ask.resource,
            context: &context,
        })
    }

    /// The largest `presign:ContentLength` in `0..=ceiling` for which `policy` allows
    /// `ask` (its own length is ignored), if any: a POST form's size limit when the caller
    /// names none. Only the sizes where the decision can change are tried, largest first.
    pub fn largest_allowed_length(
        &self,
        policy: &Policy,
        ask: &Ask<'_>,
        ceiling: u64,
    ) -> Option<u64> {
        let mut candidates: Vec<u64> = policy
            .content_length_breakpoints()
            .into_iter()
            .filter(|&size| size <= ceiling)
            .chain([0, ceiling])
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        candidates.into_iter().find(|&size| {
            let trial = Ask {
                facts: Facts {
                    content_length: Some(size),
                    ..ask.facts
                },
                ..*ask
            };
            self.evaluate(policy, &trial).is_allowed()
        })
    }

    /// The request half of this caller's audit row `id`. `action` is the policy action,
    /// or the endpoint when the action is not known yet.
    pub fn draft(&self, id: Uuid, action: &str, request: serde_json::Value) -> Draft {
        Draft {
            id,
            request_id: self.request_id.clone(),
            issuer: self.principal.issuer.clone(),
            subject: self.principal.subject.clone(),
            client_ip: self.client.ip.map(|ip| ip.to_string()),
            user_agent: self.client.user_agent.clone(),
            action: action.to_owned(),
            bucket: None,
            key: None,
            request,
            link_id: None,
            upload_id: None,
        }
    }

    /// A refusal of this caller's request before the policy was asked (invalid input):
    /// audited, so a security team sees an authenticated caller probing.
    pub fn refuse(&self, action: &str, error: ApiError) -> Refusal {
        Refusal::new(
            self.draft(Uuid::now_v7(), action, serde_json::json!({})),
            error,
        )
    }
}

/// What a decision needs besides the caller: the policy in force and the caller's limit.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    pub policy: &'a Policy,
    pub limits: &'a RateLimits,
}

/// The policy allowed the request; `draft` becomes its row once something is signed.
#[derive(Debug)]
#[must_use = "an authorization is worth nothing until its row commits"]
pub struct Authorized {
    statement: String,
    draft: Draft,
}

/// A refused request: its row commits before its error is answered.
#[derive(Debug)]
#[must_use = "a refusal is answered only once its row commits"]
pub struct Refusal(Box<(AuditEvent, ApiError)>);

impl Refusal {
    /// Refused before the policy was asked: `error`'s text is the row's reason.
    pub fn new(draft: Draft, error: ApiError) -> Refusal {
        Refusal(Box::new((
            AuditEvent::refused(draft, error.to_string()),
            error,
        )))
    }

    /// The same row, answered with `error` instead: a refusal to touch another caller's
    /// share link is audited as the denial it is but answered 404, so that the link's
    /// existence stays hidden.
    pub fn answering(self, error: ApiError) -> Refusal {
        let (row, _) = *self.0;
        Refusal(Box::new((row, error)))
    }

    /// The error it will answer with.
    pub fn error(&self) -> &ApiError {
        &self.0.1
    }

    /// The row and the error it answers with, for the writer.
    pub fn into_pending(self) -> Pending<ApiError> {
        let (row, error) = *self.0;
        Pending::new(row, error)
    }
}

/// Charges the caller's rate limit, then asks the policy. `draft` should name the
/// bucket and key already.
pub fn decide(
    gate: Gate<'_>,
    caller: &Caller,
    ask: &Ask<'_>,
    draft: Draft,
) -> Result<Authorized, Refusal> {
    decide_all(gate, caller, std::slice::from_ref(ask), draft)
}

/// [`decide`] for a request that needs several actions allowed (a share link: creating it
/// and reading its object): one rate-limit charge, one row; the first denial decides, and
/// an allowed row names every deciding statement, comma-separated (a Sid holds no comma).
pub fn decide_all(
    gate: Gate<'_>,
    caller: &Caller,
    asks: &[Ask<'_>],
    draft: Draft,
) -> Result<Authorized, Refusal> {
    let draft = charge(gate, caller, draft)?;
    judge(gate.policy, caller, asks, draft)
}

/// Takes one token from the caller's rate limit; over it, the request is refused.
fn charge(gate: Gate<'_>, caller: &Caller, draft: Draft) -> Result<Draft, Refusal> {
    let principal = &caller.principal;
    match gate
        .limits
        .check_subject(&principal.issuer, &principal.subject)
    {
        Ok(()) => Ok(draft),
        Err(limited) => Err(Refusal::new(draft, limited)),
    }
}

/// Asks the policy without charging the caller's rate limit: for a share link's
/// redemption, where the caller is the link's creator acting through a visitor, whose
/// address limit applies instead.
pub fn judge(
    policy: &Policy,
    caller: &Caller,
    asks: &[Ask<'_>],
    draft: Draft,
) -> Result<Authorized, Refusal> {
    let mut statements = Vec::with_capacity(asks.len());
    for ask in asks {
        let denial = match caller.evaluate(policy, ask) {
            Decision::Allow { statement } => {
                statements.push(statement);
                continue;
            }
            Decision::Deny(denial) => denial,
        };
        record_decision(ask.action, crate::audit::Outcome::Denied);
        let (why, statement) = match denial {
            Denial::Explicit { statement } => ("explicit deny", Some(statement)),
            Denial::NoStatementAllows => ("no statement allows", None),
        };
        let detail = format!("{} on {}: {why}", ask.action, ask.resource);
        let row = AuditEvent::denied(draft, why, statement);
        return Err(Refusal(Box::new((row, ApiError::AccessDenied(detail)))));
    }
    if let Some(ask) = asks.first() {
        record_decision(ask.action, crate::audit::Outcome::Issued);
    }
    Ok(Authorized {
        statement: statements.join(","),
        draft,
    })
}

/// Allowed without asking the policy, because the caller acts on what it created (revoking
/// its own share link); charges the rate limit as [`decide`] does. The row's statement
/// says so.
pub fn decide_as_owner(
    gate: Gate<'_>,
    caller: &Caller,
    draft: Draft,
) -> Result<Authorized, Refusal> {
    Ok(Authorized {
        statement: OWNER_STATEMENT.to_owned(),
        draft: charge(gate, caller, draft)?,
    })
}

/// The `statement` of a row allowed by ownership rather than by the policy (never a Sid:
/// Sids hold no parentheses).
pub const OWNER_STATEMENT: &str = "(creator)";
/// The `statement` of a row of `presignd links revoke`: allowed because whoever runs it
/// holds the database itself.
pub const OPERATOR_STATEMENT: &str = "(operator)";

/// Allowed without the policy for an operator at the command line, who could change the
/// database directly anyway; the row says so.
pub fn allow_operator(draft: Draft) -> Authorized {
    Authorized {
        statement: OPERATOR_STATEMENT.to_owned(),
        draft,
    }
}

impl Authorized {
    /// Signs `request` (whose `audit_id` is this row's id) and completes the row. A
    /// failure to sign (credentials unavailable) is a refusal with its own row.
    pub async fn sign(
        self,
        presigner: &Presigner,
        request: &PresignRequest,
    ) -> Result<Signed, Refusal> {
        debug_assert_eq!(request.audit_id, self.draft.id);
        match presigner.presign(request).await {
            Ok(presigned) => {
                let row = AuditEvent::issued(self.draft, self.statement, presigned.audit_facts());
                Ok(Pending::new(row, presigned))
            }
            Err(error) => Err(Refusal::new(self.draft, sign_error(error))),
        }
    }

    /// Signs each of `requests` (every `audit_id` fresh) under this one decision: one row
    /// per URL, each recording its own options. A failure to sign any is a refusal and
    /// none is released.
    pub async fn sign_each(
        self,
        presigner: &Presigner,
        requests: &[PresignRequest],
    ) -> Result<Vec<Signed>, Refusal> {
        let mut signed = Vec::with_capacity(requests.len());
        for request in requests {
            let draft = Draft {
                id: request.audit_id,
                request: request.audit_options(),
                ..self.draft.clone()
            };
            match presigner.presign(request).await {
                Ok(presigned) => {
                    let row =
                        AuditEvent::issued(draft, self.statement.clone(), presigned.audit_facts());
                    signed.push(Pending::new(row, presigned));
                }
                Err(error) => return Err(Refusal::new(draft, sign_error(error))),
            }
        }
        Ok(signed)
    }

    /// Grants something that is not a URL (`value`: an audit page), under the same rule.
    pub fn grant<T>(self, value: T) -> Pending<T> {
        Pending::new(AuditEvent::granted(self.draft, self.statement), value)
    }

    /// Adds what the granted work produced (a completed object's size and ETag) to the
    /// row's `request` record, under `result`.
    pub fn noting(mut self, result: serde_json::Value) -> Self {
        if let serde_json::Value::Object(record) = &mut self.draft.request {
            record.insert("result".into(), result);
        }
        self
    }

    /// Refuses after all what the policy allowed, for a reason found after the decision
    /// (S3 refused the work; a share link's last use went to another redemption): the row
    /// records `error` instead.
    pub fn fail(self, error: ApiError) -> Refusal {
        Refusal::new(self.draft, error)
    }
    /// Grants something that is not a URL but works until `expires_at` (a share link):
    /// the row says until when, as an issued URL's row does.
    pub fn grant_until<T>(
        self,
        value: T,
        expires_at: OffsetDateTime,
        expires_in: u64,
    ) -> Pending<T> {
        let row = AuditEvent {
            expires_at: Some(expires_at),
            expires_in: Some(i64::try_from(expires_in).unwrap_or(i64::MAX)),
            ..AuditEvent::granted(self.draft, self.statement)
        };
        Pending::new(row, value)
    }

    /// Grants `value` as [`Authorized::grant`] does, with one more row under the same
    /// statement for each of `also` (a bulk revocation names every link it revoked).
    pub fn grant_with<T>(
        self,
        value: T,
        also: impl IntoIterator<Item = Draft>,
    ) -> (Pending<T>, Vec<Pending<()>>) {
        let each = also
            .into_iter()
            .map(|draft| Pending::new(AuditEvent::granted(draft, self.statement.clone()), ()))
            .collect();
        (self.grant(value), each)
    }

    /// This authorization's row id (the share link's id, for a link being created).
    pub fn id(&self) -> Uuid {
        self.draft.id
    }
}

/// A signing failure as the caller sees it: credentials (503) or a bug.
pub(crate) fn sign_error(error: PresignError) -> ApiError {
    if error.is_credentials() {
        ApiError::CredentialsUnavailable(error)
    } else {
        ApiError::internal(error)
    }
}

/// Counts a decision and notes it on the request span, so the access-log event carries
/// it. Actions are a fixed set, so labels stay bounded.
pub fn record_decision(action: Action, outcome: crate::audit::Outcome) {
    tracing::Span::current().record("outcome", outcome.as_str());
    metrics::counter!(
        crate::telemetry::DECISIONS,
        "action" => action.as_str(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
}
