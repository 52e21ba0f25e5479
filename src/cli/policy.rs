//! `presignd policy check` and `presignd policy validate`: the policy simulator and
//! linter (DESIGN §4, §8). `check` evaluates one request as `POST /presign` would, with
//! the same context keys and defaults, prints the decision, the deciding statement and,
//! for a denial, why. Exit status: 0 allowed (or valid), 1 denied, 2 any error.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CliError, parse_claim};
use crate::app::policy_reload;
use crate::auth::Principal;
use crate::config::Config;
use crate::issuance::{Caller, ClientInfo, Facts};
use crate::policy::{Action, Decision, Denial, Request};
use crate::presign::{BucketName, ObjectKey};

/// Exit status of a denial; errors are 2 (`cli::run`).
const DENIED: u8 = 1;

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate one request, like the IAM policy simulator. Exit status: 0 allowed,
    /// 1 denied, 2 error.
    Check(CheckArgs),
    /// Check that a policy file loads. Exit status: 0 valid, 2 invalid.
    Validate(ValidateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy file; default `policy.file` of the configuration.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The token's `sub` claim.
    #[arg(long)]
    pub sub: String,
    /// More claims, `name=value`; a value that parses as JSON (`["ops"]`, `3`) is kept
    /// as JSON, anything else is a string.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    pub claims: Vec<(String, Value)>,
    /// Any action presignd asks about (`s3:GetObject`, `presign:CreateLink`, …).
    #[arg(long)]
    pub action: String,
    /// `bucket/key` (or `arn:aws:s3:::bucket/key`); `*` for presign:QueryAudit and
    /// presign:ListLinks, and for presign:RevokeLink as bulk revocation asks it.
    #[arg(long)]
    pub resource: String,
    /// Request context, `key=value`: aws:SourceIp, aws:CurrentTime (RFC 3339; default
    /// now), presign:Method (default from the action), presign:ContentType,
    /// presign:ContentLength, presign:ExpiresIn (default s3.default_expires_in),
    /// presign:Issuer (default "cli"), presign:MaxUses, presign:LinkExpiresIn.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The policy file.
    pub file: PathBuf,
}

/// Runs a `policy` subcommand: what to print and the exit status, or the error.
pub fn run(config_file: Option<PathBuf>, args: PolicyArgs) -> Result<Report, CliError> {
    match args.command {
        PolicyCommand::Check(args) => check(config_file.as_deref(), args),
        PolicyCommand::Validate(args) => validate(&args.file),
    }
}

/// What a subcommand prints on stdout and its exit status.
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub status: u8,
}

fn validate(file: &Path) -> Result<Report, CliError> {
    let loaded = policy_reload::load(file)?;
    let count = loaded.policy.statement_count();
    let plural = if count == 1 { "" } else { "s" };
    Ok(Report {
        text: format!("{}: valid ({count} statement{plural})\n", file.display()),
        status: 0,
    })
}

/// Evaluates the request `args` describe; `Err` is a usage or file error (exit 2).
pub fn check(config_file: Option<&Path>, args: CheckArgs) -> Result<Report, CliError> {
    let config = Config::load(config_file)?;
    let file = args
        .policy
        .clone()
        .or(config.policy.file.clone())
        .ok_or(CliError::NoPolicy)?;
    let policy = policy_reload::load(&file)?.policy;
    let action = canonical_action(&args.action)?;
    let resource = resource_arn(action, &args.resource)?;
    let mut claims: Map<String, Value> = args.claims.into_iter().collect();
    // --sub wins over a --claim sub=…: it is the documented way to set the subject.
    claims.insert("sub".into(), Value::String(args.sub.clone()));
    let given = SimulatedContext::parse(&args.context)?;
    let method = given
        .method
        .clone()
        .or_else(|| method_of(action).map(str::to_owned));
    let expires_in = given
        .expires_in
        .or((action != Action::QueryAudit).then_some(u64::from(config.s3.default_expires_in)));
    let issuer = given.issuer.clone().unwrap_or_else(|| "cli".into());
    // The same caller and context a request to the service would have.
    let caller = Caller {
        principal: Principal {
            issuer: issuer.clone(),
            subject: args.sub,
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
    let context = caller.policy_context(
        &facts,
        given.current_time.unwrap_or_else(OffsetDateTime::now_utc),
    );
    let request = Request {
        action,
        resource: &resource,
        context: &context,
    };
    let decision = policy.evaluate(&request);
    let mut text = String::new();
    let status = match &decision {
        Decision::Allow { statement } => {
            let _ = writeln!(text, "Allow\n  statement: {statement}");
            0
        }
        Decision::Deny(Denial::Explicit { statement }) => {
            let _ = writeln!(
                text,
                "Deny\n  statement: {statement}\n  reason:    explicit deny: the Deny \
                 statement {statement} applies"
            );
            DENIED
        }
        Decision::Deny(Denial::NoStatementAllows) => {
            let _ = writeln!(
                text,
                "Deny\n  statement: none\n  reason:    implicit deny: no statement allows \
                 {action} on {resource}"
            );
            // Allow statements about this action, and where each fell short.
            let tried = policy
                .explain(&request)
                .into_iter()
                .filter(|trace| !trace.deny && trace.action_matches);
            for (index, trace) in tried.enumerate() {
                let label = if index == 0 { "tried:" } else { "" };
                let _ = writeln!(text, "  {label:<10} {}: {}", trace.statement, trace.detail);
            }
            DENIED
        }
    };
    let _ = writeln!(text, "  request:   {action} on {resource}");
    let _ = writeln!(text, "  claims:    {}", Value::Object(claims.clone()));
    let mut keys = vec![];
    if let Some(ip) = given.source_ip {
        keys.push(format!("aws:SourceIp={ip}"));
    }
    keys.push(match given.current_time {
        Some(t) => format!("aws:CurrentTime={}", t.format(&Rfc3339).unwrap_or_default()),
        None => "aws:CurrentTime=now".into(),
    });
    keys.extend(method.map(|m| format!("presign:Method={m}")));
    keys.extend(
        given
            .content_type
            .map(|c| format!("presign:ContentType={c}")),
    );
    keys.extend(
        given
            .content_length
            .map(|n| format!("presign:ContentLength={n}")),
    );
    keys.extend(expires_in.map(|n| format!("presign:ExpiresIn={n}")));
    keys.extend(given.max_uses.map(|n| format!("presign:MaxUses={n}")));
    keys.extend(
        given
            .link_expires_in
            .map(|n| format!("presign:LinkExpiresIn={n}")),
    );
    keys.push(format!("presign:Issuer={issuer}"));
    let _ = writeln!(text, "  context:   {}", keys.join(" "));
    Ok(Report { text, status })
}

/// One of [`Action::ALL`], case-insensitively (as policies match actions): any other
/// action is never asked by presignd, so its answer would mean nothing.
fn canonical_action(action: &str) -> Result<Action, CliError> {
    Action::parse(action).ok_or_else(|| {
        CliError::argument(
            "action",
            action,
            format!("presignd asks only about {}", Action::names()),
        )
    })
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
/// audit action, whose resource is always `*`.
fn resource_arn(action: Action, resource: &str) -> Result<String, CliError> {
    let bad = |reason: String| CliError::argument("resource", resource, reason);
    if matches!(action, Action::QueryAudit | Action::ListLinks) {
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

/// The `--context` values, parsed and typed.
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

const CONTEXT_KEYS: &str = "aws:SourceIp, aws:CurrentTime, presign:Method, \
     presign:ContentType, presign:ContentLength, presign:ExpiresIn, presign:Issuer, \
     presign:MaxUses, presign:LinkExpiresIn";

impl SimulatedContext {
    fn parse(pairs: &[String]) -> Result<SimulatedContext, CliError> {
        let mut context = SimulatedContext::default();
        for pair in pairs {
            let bad = |reason: &str| CliError::argument("context", pair, reason);
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("expected key=value"))?;
            // Keys are case-insensitive, as they are in policies.
            let set = match key.to_ascii_lowercase().as_str() {
                "aws:sourceip" => {
                    let ip = value.parse::<IpAddr>().map_err(|e| {
                        CliError::argument_from("context", pair, "not an IP address", e)
                    })?;
                    context.source_ip.replace(ip).is_some()
                }
                "aws:currenttime" => {
                    let time = OffsetDateTime::parse(value, &Rfc3339).map_err(|e| {
                        CliError::argument_from(
                            "context",
                            pair,
                            "not an RFC 3339 time (2026-11-22T13:00:00Z)",
                            e,
                        )
                    })?;
                    context.current_time.replace(time).is_some()
                }
                "presign:method" => {
                    if value != "GET" && value != "PUT" {
                        return Err(bad("the method is GET or PUT"));
                    }
                    context.method.replace(value.into()).is_some()
                }
                "presign:contenttype" => context.content_type.replace(value.into()).is_some(),
                "presign:contentlength" => {
                    let n = value.parse::<u64>().map_err(|e| {
                        CliError::argument_from("context", pair, "not a byte count", e)
                    })?;
                    context.content_length.replace(n).is_some()
                }
                "presign:expiresin" => {
                    let n = value.parse::<u64>().map_err(|e| {
                        CliError::argument_from("context", pair, "not a number of seconds", e)
                    })?;
                    context.expires_in.replace(n).is_some()
                }
                "presign:maxuses" => {
                    let n = value.parse::<u64>().map_err(|e| {
                        CliError::argument_from("context", pair, "not a number of uses", e)
                    })?;
                    context.max_uses.replace(n).is_some()
                }
                "presign:linkexpiresin" => {
                    let n = value.parse::<u64>().map_err(|e| {
                        CliError::argument_from("context", pair, "not a number of seconds", e)
                    })?;
                    context.link_expires_in.replace(n).is_some()
                }
                "presign:issuer" => context.issuer.replace(value.into()).is_some(),
                _ if key.to_ascii_lowercase().starts_with("jwt:") => {
                    return Err(bad("claims are set with --sub and --claim NAME=VALUE"));
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
    use crate::app::policy_reload::PolicyLoadError;

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
        let pairs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
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
            ("aws:SourceIp", "expected key=value"),
            ("aws:SourceIp=nope", "not an IP address"),
            ("aws:CurrentTime=yesterday", "RFC 3339"),
            ("presign:Method=DELETE", "GET or PUT"),
            ("presign:ContentLength=-1", "byte count"),
            ("presign:ExpiresIn=soon", "seconds"),
            ("jwt:sub=alice", "--claim"),
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
        let parse = |pair: &str| SimulatedContext::parse(&[pair.to_owned()]).unwrap_err();
        let ip = parse("aws:SourceIp=nowhere");
        assert_eq!(
            ip.to_string(),
            r#"--context "aws:SourceIp=nowhere": not an IP address"#
        );
        assert!(ip.source().unwrap().is::<std::net::AddrParseError>());
        let length = parse("presign:ContentLength=-1");
        assert!(length.source().unwrap().is::<std::num::ParseIntError>());
        let time = parse("aws:CurrentTime=yesterday");
        assert!(time.source().unwrap().is::<time::error::Parse>());

        let missing = validate(Path::new("/nonexistent/p.json")).unwrap_err();
        assert!(
            matches!(missing, CliError::Policy(PolicyLoadError::Read { .. })),
            "{missing:?}"
        );
        let config = Path::new("/nonexistent/presignd.toml");
        let args = CheckArgs {
            policy: None,
            sub: "alice".into(),
            claims: vec![],
            action: "s3:GetObject".into(),
            resource: "b1c/k".into(),
            context: vec![],
        };
        let unloadable = check(Some(config), args).unwrap_err();
        assert!(matches!(unloadable, CliError::Config(_)), "{unloadable:?}");
    }
}
