//! The policy simulator: one request evaluated exactly as the handlers evaluate it (the
//! same [`Caller::policy_context`], defaults and resource rules), with the statements
//! that were tried. `presignd policy check` prints it; `POST /policy/simulate` answers it.

use std::net::IpAddr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Caller, ClientInfo, Facts};
use crate::auth::Principal;
use crate::policy::{Action, Decision, Denial, Policy, Request};
use crate::presign::{BucketName, ObjectKey};

type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// One request to simulate, as a person writes it.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The token's `sub`; it wins over a `sub` in `claims`.
    pub subject: String,
    /// The token's other claims.
    pub claims: Map<String, Value>,
    /// Any action presignd asks about, case-insensitively.
    pub action: String,
    /// `bucket/key`, `arn:aws:s3:::bucket/key`, or `*` for the actions asked on `*`.
    pub resource: String,
    /// Condition keys (`aws:SourceIp`, `presign:ContentLength`, …) and their values.
    pub context: Vec<(String, String)>,
    /// `presign:Issuer` when the context names none.
    pub default_issuer: String,
    /// `presign:ExpiresIn` when the context names none (the service's default lifetime).
    pub default_expires_in: u32,
}

/// A part of a [`Simulation`] that cannot be evaluated: the field, its value and why.
#[derive(Debug, thiserror::Error)]
#[error("{field} {value:?}: {reason}")]
pub struct InvalidSimulation {
    /// `action`, `resource` or `context`.
    pub field: &'static str,
    pub value: String,
    pub reason: String,
    #[source]
    pub source: Option<BoxedError>,
}

impl InvalidSimulation {
    fn new(field: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            field,
            value: value.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    fn from(
        field: &'static str,
        value: &str,
        reason: impl Into<String>,
        source: impl Into<BoxedError>,
    ) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(field, value, reason)
        }
    }
}

/// An Allow statement about the action that did not apply, and where it fell short.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Tried {
    pub statement: String,
    pub detail: String,
}

/// What the policy decided, and the request it decided on.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub action: Action,
    /// The resource as the policy saw it (`arn:aws:s3:::bucket/key` or `*`).
    pub resource: String,
    pub decision: Decision,
    /// For an implicit deny: the Allow statements about this action, in policy order.
    pub tried: Vec<Tried>,
    /// The claims the policy saw, `sub` included.
    pub claims: Map<String, Value>,
    /// Every condition key the request carried, `key=value`, in a fixed order.
    pub context: Vec<(String, String)>,
}

impl Verdict {
    /// Why the request was denied, in one sentence; `None` when allowed.
    pub fn reason(&self) -> Option<String> {
        match &self.decision {
            Decision::Allow { .. } => None,
            Decision::Deny(Denial::Explicit { statement }) => Some(format!(
                "explicit deny: the Deny statement {statement} applies"
            )),
            Decision::Deny(Denial::NoStatementAllows) => Some(format!(
                "implicit deny: no statement allows {} on {}",
                self.action, self.resource
            )),
        }
    }

    /// The statement that decided, if one did.
    pub fn statement(&self) -> Option<&str> {
        match &self.decision {
            Decision::Allow { statement } | Decision::Deny(Denial::Explicit { statement }) => {
                Some(statement)
            }
            Decision::Deny(Denial::NoStatementAllows) => None,
        }
    }
}

/// Evaluates `simulation` against `policy` at the context's `aws:CurrentTime` (default now).
pub fn simulate(policy: &Policy, simulation: Simulation) -> Result<Verdict, InvalidSimulation> {
    let action = canonical_action(&simulation.action)?;
    let resource = resource_arn(action, &simulation.resource)?;
    let mut claims = simulation.claims;
    claims.insert("sub".into(), Value::String(simulation.subject.clone()));
    let given = SimulatedContext::parse(&simulation.context)?;
    let method = given
        .method
        .clone()
        .or_else(|| method_of(action).map(str::to_owned));
    let expires_in = given
        .expires_in
        .or(signs_urls(action).then_some(u64::from(simulation.default_expires_in)));
    let issuer = given.issuer.clone().unwrap_or(simulation.default_issuer);
    let now = given.current_time.unwrap_or_else(OffsetDateTime::now_utc);
    // The same caller and context a request to the service would have.
    let caller = Caller {
        principal: Principal {
            issuer: issuer.clone(),
            subject: simulation.subject,
            claims: claims.clone(),
        },
        client: ClientInfo {
            ip: given.source_ip,
            user_agent: None,
        },
        request_id: String::new(),
    };
    let facts = Facts {
        method: method.as_deref(),
        content_type: given.content_type.as_deref(),
        content_length: given.content_length,
        expires_in,
        max_uses: given.max_uses,
        link_expires_in: given.link_expires_in,
    };
    let context = caller.policy_context(&facts, now);
    let request = Request {
        action,
        resource: &resource,
        context: &context,
    };
    let decision = policy.evaluate(&request);
    let tried = match decision {
        Decision::Deny(Denial::NoStatementAllows) => policy
            .explain(&request)
            .into_iter()
            .filter(|trace| !trace.deny && trace.action_matches)
            .map(|trace| Tried {
                statement: trace.statement,
                detail: trace.detail,
            })
            .collect(),
        _ => vec![],
    };
    let mut keys = vec![];
    let mut key = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            keys.push((name.to_owned(), value));
        }
    };
    key("aws:SourceIp", given.source_ip.map(|ip| ip.to_string()));
    // "now" unless given: the moment of evaluation is not something the person chose.
    key(
        "aws:CurrentTime",
        Some(match given.current_time {
            Some(time) => time.format(&Rfc3339).unwrap_or_default(),
            None => "now".into(),
        }),
    );
    key("presign:Method", method);
    key("presign:ContentType", given.content_type);
    key(
        "presign:ContentLength",
        given.content_length.map(|n| n.to_string()),
    );
    key("presign:ExpiresIn", expires_in.map(|n| n.to_string()));
    key("presign:MaxUses", given.max_uses.map(|n| n.to_string()));
    key(
        "presign:LinkExpiresIn",
        given.link_expires_in.map(|n| n.to_string()),
    );
    key("presign:Issuer", Some(issuer));
    Ok(Verdict {
        action,
        resource,
        decision,
        tried,
        claims,
        context: keys,
    })
}

/// One of [`Action::ALL`], case-insensitively (as policies match actions): any other
/// action is never asked by presignd, so its answer would mean nothing.
fn canonical_action(action: &str) -> Result<Action, InvalidSimulation> {
    Action::parse(action).ok_or_else(|| {
        InvalidSimulation::new(
            "action",
            action,
            format!("presignd asks only about {}", Action::names()),
        )
    })
}

/// Whether the handlers put `presign:ExpiresIn` in the context for `action`.
fn signs_urls(action: Action) -> bool {
    !action.is_asked_on_any_resource()
}

/// The method `POST /presign` puts in `presign:Method` for an action.
fn method_of(action: Action) -> Option<&'static str> {
    match action {
        Action::GetObject => Some("GET"),
        Action::PutObject => Some("PUT"),
        _ => None,
    }
}

/// `bucket/key` → `arn:aws:s3:::bucket/key`, validated as `POST /presign` validates
/// (a key the service would refuse with 400 never reaches its policy); `*` for the
/// actions whose resource is always `*`.
fn resource_arn(action: Action, resource: &str) -> Result<String, InvalidSimulation> {
    let bad = |reason: String| InvalidSimulation::new("resource", resource, reason);
    if action.is_asked_on_any_resource() {
        return match resource {
            "*" => Ok("*".into()),
            _ => Err(bad(format!("the resource of {action} is \"*\""))),
        };
    }
    // Bulk revocation (POST /links/revoke) asks on `*`; revoking one link, on its object.
    if action == Action::RevokeLink && resource == "*" {
        return Ok("*".into());
    }
    let path = resource.strip_prefix("arn:aws:s3:::").unwrap_or(resource);
    let Some((bucket, key)) = path.split_once('/') else {
        return Err(bad("expected bucket/key".into()));
    };
    let bucket = BucketName::parse(bucket).map_err(|why| bad(format!("the bucket name {why}")))?;
    let key = ObjectKey::parse(key).map_err(|why| bad(format!("the key {why}")))?;
    Ok(format!("arn:aws:s3:::{}/{}", bucket.as_str(), key.as_str()))
}

/// The context values, parsed and typed.
#[derive(Debug, Default)]
struct SimulatedContext {
    source_ip: Option<IpAddr>,
    current_time: Option<OffsetDateTime>,
    method: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    expires_in: Option<u64>,
    max_uses: Option<u64>,
    link_expires_in: Option<u64>,
    issuer: Option<String>,
}

/// The condition keys a simulation may set, for messages.
pub const CONTEXT_KEYS: &str = "aws:SourceIp, aws:CurrentTime, presign:Method, \
     presign:ContentType, presign:ContentLength, presign:ExpiresIn, presign:Issuer, \
     presign:MaxUses, presign:LinkExpiresIn";

impl SimulatedContext {
    fn parse(pairs: &[(String, String)]) -> Result<SimulatedContext, InvalidSimulation> {
        let mut context = SimulatedContext::default();
        for (key, value) in pairs {
            let pair = format!("{key}={value}");
            let bad = |reason: &str| InvalidSimulation::new("context", &pair, reason);
            let number = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|e| InvalidSimulation::from("context", &pair, what, e))
            };
            // Keys are case-insensitive, as they are in policies.
            let set = match key.to_ascii_lowercase().as_str() {
                "aws:sourceip" => {
                    let ip = value.parse::<IpAddr>().map_err(|e| {
                        InvalidSimulation::from("context", &pair, "not an IP address", e)
                    })?;
                    context.source_ip.replace(ip).is_some()
                }
                "aws:currenttime" => {
                    let time = OffsetDateTime::parse(value, &Rfc3339).map_err(|e| {
                        InvalidSimulation::from(
                            "context",
                            &pair,
                            "not an RFC 3339 time (2026-11-22T13:00:00Z)",
                            e,
                        )
                    })?;
                    context.current_time.replace(time).is_some()
                }
                "presign:method" => {
                    if value != "GET" && value != "PUT" && value != "POST" {
                        return Err(bad("the method is GET, PUT or POST"));
                    }
                    context.method.replace(value.clone()).is_some()
                }
                "presign:contenttype" => context.content_type.replace(value.clone()).is_some(),
                "presign:contentlength" => context
                    .content_length
                    .replace(number("not a byte count")?)
                    .is_some(),
                "presign:expiresin" => context
                    .expires_in
                    .replace(number("not a number of seconds")?)
                    .is_some(),
                "presign:maxuses" => context
                    .max_uses
                    .replace(number("not a number of uses")?)
                    .is_some(),
                "presign:linkexpiresin" => context
                    .link_expires_in
                    .replace(number("not a number of seconds")?)
                    .is_some(),
                "presign:issuer" => context.issuer.replace(value.clone()).is_some(),
                lower if lower.starts_with("jwt:") => {
                    return Err(bad("claims are given as claims, not as context keys"));
                }
                _ => {
                    return Err(bad(&format!(
                        "unknown key (expected one of {CONTEXT_KEYS})"
                    )));
                }
            };
            if set {
                return Err(bad("the key is given twice"));
            }
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[&str]) -> Vec<(String, String)> {
        v.iter()
            .map(|s| {
                let (k, v) = s.split_once('=').unwrap_or((s, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn resources() {
        let get = Action::GetObject;
        assert_eq!(
            resource_arn(get, "b1c/k/x.png").unwrap(),
            "arn:aws:s3:::b1c/k/x.png"
        );
        assert_eq!(
            resource_arn(get, "arn:aws:s3:::b1c/k").unwrap(),
            "arn:aws:s3:::b1c/k"
        );
        assert_eq!(resource_arn(Action::QueryAudit, "*").unwrap(), "*");
        assert_eq!(resource_arn(Action::SimulatePolicy, "*").unwrap(), "*");
        for (bad, why) in [
            ("b1c", "expected bucket/key"),
            ("B1C/k", "bucket name"),
            ("b1c/", "key must not be empty"),
            ("b1c/a/../b", "'.' or '..'"),
            ("b1c//x", "must not begin with '/'"),
            ("*", "expected bucket/key"),
        ] {
            let error = resource_arn(get, bad).unwrap_err();
            assert!(error.to_string().contains(why), "{bad}: {error}");
            assert_eq!(error.field, "resource");
        }
        assert!(resource_arn(Action::QueryAudit, "b1c/k").is_err());
    }

    #[test]
    fn actions() {
        assert_eq!(canonical_action("S3:getobject").unwrap(), Action::GetObject);
        assert!(canonical_action("s3:DeleteObject").is_err());
        assert!(canonical_action("s3:*").is_err());
    }

    #[test]
    fn context_keys() {
        let c = SimulatedContext::parse(&pairs(&[
            "aws:sourceip=10.0.0.1",
            "aws:CurrentTime=2026-11-22T13:00:00Z",
            "presign:Method=PUT",
            "presign:ContentType=image/png",
            "presign:ContentLength=10",
            "presign:ExpiresIn=60",
            "presign:Issuer=https://idp/",
        ]))
        .unwrap();
        assert_eq!(c.source_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c.content_type.as_deref(), Some("image/png"));
        assert_eq!((c.content_length, c.expires_in), (Some(10), Some(60)));
        assert_eq!(c.issuer.as_deref(), Some("https://idp/"));
        for (bad, why) in [
            ("aws:SourceIp=nope", "not an IP address"),
            ("aws:CurrentTime=yesterday", "RFC 3339"),
            ("presign:Method=DELETE", "GET, PUT or POST"),
            ("presign:ContentLength=-1", "byte count"),
            ("presign:ExpiresIn=soon", "seconds"),
            ("jwt:sub=alice", "claims"),
            ("s3:prefix=x", "unknown key"),
        ] {
            let error = SimulatedContext::parse(&pairs(&[bad])).unwrap_err();
            assert!(error.to_string().contains(why), "{bad}: {error}");
        }
        let twice = SimulatedContext::parse(&pairs(&["presign:Issuer=a", "PRESIGN:ISSUER=b"]));
        assert!(twice.unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn errors_keep_what_they_came_from() {
        use std::error::Error as _;
        let parse = |pair: &str| SimulatedContext::parse(&pairs(&[pair])).unwrap_err();
        let ip = parse("aws:SourceIp=nowhere");
        assert_eq!(
            ip.to_string(),
            r#"context "aws:SourceIp=nowhere": not an IP address"#
        );
        assert!(ip.source().unwrap().is::<std::net::AddrParseError>());
        let length = parse("presign:ContentLength=-1");
        assert!(length.source().unwrap().is::<std::num::ParseIntError>());
        let time = parse("aws:CurrentTime=yesterday");
        assert!(time.source().unwrap().is::<time::error::Parse>());
    }
}
