//! presignd's authorization policy: IAM JSON (identity-based, DESIGN.md §4) compiled once
//! by [`Policy::from_json`] and evaluated per request by [`Policy::evaluate`], a pure
//! function of the policy and the [`Request`]. Nothing here does I/O or logs.
//!
//! Files: `document` reads the JSON strictly, `statement` compiles and applies one
//! statement, `glob` matches `*`/`?` patterns, `variables` parses and resolves `${...}`,
//! `condition` handles `Condition` blocks, `tri` is the three-valued logic they share.
//! [`Policy::explain`] gives, per statement, what matched or fell short, for
//! `presignd policy check`; it reads the same verdicts as `evaluate`.
//!
//! Cost: about 0.2–0.4 µs for DESIGN §4's example and 1–3 µs for 100 statements
//! (`cargo bench --bench policy`): each statement's Action is reduced at load time to a
//! bit per known action, and resource patterns reject on their leading text before
//! resolving any variable.
//!
//! # Semantics
//!
//! As IAM, with these choices where IAM leaves room (the side that denies, unless
//! DESIGN.md fixes the rule):
//!
//! - **Document.** `Version` must be `"2012-10-17"`. Unknown elements, `Principal` /
//!   `NotPrincipal`, duplicated JSON keys, duplicate Sids, empty lists and `{}` operator
//!   blocks are load errors. `Id` is accepted and ignored. Sids: 1–128 ASCII letters,
//!   digits, space, `-`, `_`, `.`; a statement without a Sid is named `#<index>`
//!   (0-based). Operator names are case-sensitive.
//! - **Decision.** Any applicable Deny → [`Denial::Explicit`]; else any applicable Allow →
//!   [`Decision::Allow`]; else [`Denial::NoStatementAllows`]. The outcome never depends
//!   on statement order; when several statements decide, the first in the document is
//!   named.
//! - **Actions** match case-insensitively (ASCII); **resources** case-sensitively. `*`
//!   matches any run of characters including `/`, `?` exactly one char. Every Action
//!   entry must be `*` or `s3:…`/`presign:…` and match at least one of
//!   [`Action::ALL`], so a typo cannot silently disable a Deny (`*` is accepted, as
//!   IAM's "every action", for guardrail Denies). Every Resource entry must be `*` or
//!   start with `arn:aws:s3:::` and contain a `/` or `*` (a bare bucket ARN matches no
//!   object). The resource of `presign:QueryAudit` is `*`, which only a Resource of `*`
//!   (or `NotResource`) covers.
//! - **Variables** (`${jwt:CLAIM}`, `${aws:SourceIp}`, `${presign:Issuer}`; escapes
//!   `${*}` `${?}` `${$}`) are substituted as literal text, never re-parsed: a `*` or `?`
//!   in a claim only matches itself. Only **string** claims resolve (a number's text is
//!   ambiguous: `1e3`/`1000`). In a Resource, a value that is empty, `.`, `..`, or holds
//!   `/`, `\` or a control character counts as unresolved, so `${jwt:sub}` = `../bob`
//!   cannot reach another folder (this also means `${presign:Issuer}` URLs never match in
//!   a Resource; use it in conditions). An unresolved variable makes its Resource entry,
//!   or its condition value, match nothing (DESIGN §4; so a Deny whose only Resource
//!   uses an absent claim does not apply). Where "matches nothing" would make a
//!   statement apply more widely (a `NotResource` entry; a value of a negated operator)
//!   the result is *unknown* instead, and unknown never lets an Allow apply and never
//!   stops a Deny from applying.
//! - **Conditions.** Operators AND, keys in a block AND, values of one key OR. A
//!   missing key fails positive operators and *satisfies negated ones* (IAM; guard with
//!   `Null`), `…IfExists` holds when the key is missing, `Null: true` holds iff missing.
//!   `ForAllValues:` on a missing or empty key is **true** (IAM's trap: pair it with
//!   `"Null": {key: "false"}`); `ForAnyValue:` on one is false. An array claim without a
//!   qualifier behaves as `ForAnyValue:` for positive operators and `ForAllValues:` for
//!   negated ones ("none of its values is listed"). An empty-array, `null` or object
//!   claim is missing. Condition key prefixes and aws/presign names are case-insensitive;
//!   claim names after `jwt:` are case-sensitive, as JWT claims are. A claim that cannot
//!   be read as the operator's type (`NumericLessThan` on `"abc"`) is unknown (as above).
//!   Numeric values: JSON numbers or plain decimal strings. Dates: RFC 3339 or integer
//!   epoch seconds. String operators take string values only. The source IP is compared
//!   with IPv4-mapped IPv6 folded to IPv4.

#![forbid(unsafe_code)]

mod action;
mod condition;
mod document;
mod glob;
mod statement;
mod tri;
mod variables;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

use document::Effect;
use statement::Statement;
use variables::{Bindings, Variable};

pub use action::Action;

/// Compiled, validated policy. Cheap to share behind `Arc`; evaluation allocates little
/// (the decided statement's name; the text of a number claim tested with a string
/// operator; the source IP's text when `${aws:SourceIp}` is used).
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
    /// Whether any pattern uses `${aws:SourceIp}`, so its text is built once per request.
    uses_source_ip_text: bool,
}

impl Policy {
    /// Parses and validates IAM JSON. Errors name the statement (Sid or `#<index>`,
    /// 0-based) and the reason; a policy that loads has no unknown element, operator,
    /// key, variable or action, and no value of the wrong type.
    pub fn from_json(text: &str) -> Result<Policy, PolicyError> {
        let statements = document::parse(text)?
            .into_iter()
            .map(Statement::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let uses_source_ip_text = statements
            .iter()
            .flat_map(Statement::variables)
            .any(|variable| *variable == Variable::SourceIp);
        Ok(Policy {
            statements,
            uses_source_ip_text,
        })
    }

    /// Decides one request: explicit Deny, else Allow, else implicit deny.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let bindings = Bindings::new(request, self.uses_source_ip_text);
        let deciding = |effect: Effect| {
            self.statements
                .iter()
                .find(|s| s.effect == effect && s.applies(&bindings))
                .map(|s| s.name.clone())
        };
        if let Some(statement) = deciding(Effect::Deny) {
            return Decision::Deny(Denial::Explicit { statement });
        }
        match deciding(Effect::Allow) {
            Some(statement) => Decision::Allow { statement },
            None => Decision::Deny(Denial::NoStatementAllows),
        }
    }

    /// How every statement matched `request`, in document order: for explaining a
    /// decision (`presignd policy check`). Agrees with [`Policy::evaluate`] by
    /// construction (both read [`statement::Verdict`]); slower, as it allocates text.
    pub fn explain(&self, request: &Request<'_>) -> Vec<StatementTrace> {
        let bindings = Bindings::new(request, self.uses_source_ip_text);
        self.statements
            .iter()
            .map(|s| {
                let verdict = s.verdict(&bindings);
                let applies = s.applies(&bindings);
                let mut detail = s.explain(&verdict);
                if applies && verdict.value != tri::Tri::True {
                    detail = format!("applies: an undecided Deny applies; {detail}");
                }
                StatementTrace {
                    statement: s.name.clone(),
                    deny: s.effect == Effect::Deny,
                    applies,
                    action_matches: verdict.blame != Some(statement::Part::Action),
                    detail,
                }
            })
            .collect()
    }

    /// Number of statements in the policy.
    /// Sizes where a decision can change with `presign:ContentLength`: every value a
    /// condition compares it with, and their neighbours. Between two of them every size
    /// is decided alike, so the largest allowed size is among them or the ceiling.
    pub fn content_length_breakpoints(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .statements
            .iter()
            .flat_map(Statement::content_length_values)
            .flat_map(|v| [v.saturating_sub(1), v, v.saturating_add(1)])
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

/// How one statement matched a request (see [`Policy::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace {
    /// Sid or `#<index>`.
    pub statement: String,
    /// A Deny statement (else an Allow).
    pub deny: bool,
    /// Whether the statement applies to the request.
    pub applies: bool,
    /// Whether its Action/NotAction covers the request's action: a statement about other
    /// actions is not worth showing when explaining a denial.
    pub action_matches: bool,
    /// In words: `matches`, or the first part that does not (`condition `StringLike` on
    /// `presign:ContentType` is false`).
    pub detail: String,
}

/// Why a policy did not load.
#[derive(Debug, Clone)]
pub struct PolicyError {
    /// The statement at fault: its Sid, or `#<index>` (0-based); `None` for the document.
    pub statement: Option<String>,
    /// What is wrong, naming the element, operator, key or value.
    pub reason: String,
}

impl PolicyError {
    fn new(statement: Option<String>, reason: impl Into<String>) -> PolicyError {
        PolicyError {
            statement,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.statement {
            Some(statement) => write!(f, "statement {statement}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for PolicyError {}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: Action,
    /// e.g. `arn:aws:s3:::bucket/key/with/slashes`, or `*` for `presign:QueryAudit`.
    pub resource: &'a str,
    pub context: &'a Context<'a>,
}

/// The condition keys and variables a request carries. `None` means the key is absent,
/// with IAM's missing-key semantics.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// All JWT claims: `jwt:NAME` keys and `${jwt:NAME}` variables.
    pub claims: &'a serde_json::Map<String, serde_json::Value>,
    /// `presign:Issuer`, `${presign:Issuer}`: the token's `iss`.
    pub issuer: &'a str,
    /// `aws:SourceIp`, `${aws:SourceIp}`: the client address after trusted proxies.
    pub source_ip: Option<IpAddr>,
    /// `aws:CurrentTime`.
    pub current_time: time::OffsetDateTime,
    /// `presign:Method`: `"GET"` or `"PUT"`.
    pub method: Option<&'a str>,
    /// `presign:ContentType`.
    pub content_type: Option<&'a str>,
    /// `presign:ContentLength`, in bytes.
    pub content_length: Option<u64>,
    /// `presign:ExpiresIn`: the effective lifetime in seconds.
    pub expires_in: Option<u64>,
}

/// The outcome of [`Policy::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Sid or `#<index>` of the Allow statement that matched.
    Allow {
        statement: String,
    },
    Deny(Denial),
}

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// A Deny statement applied (Sid or `#<index>`).
    Explicit { statement: String },
    /// No Allow statement applied (implicit deny).
    NoStatementAllows,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}
