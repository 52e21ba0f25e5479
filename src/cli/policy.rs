//! `presignd policy check` and `presignd policy validate`: the policy simulator and
//! linter (DESIGN §4, §8). `check` evaluates one request as `POST /presign` would, with
//! the same context keys and defaults, prints the decision, the deciding statement and,
//! for a denial, why. Exit status: 0 allowed (or valid), 1 denied, 2 any error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;

use super::{CliError, parse_claim};
use crate::app::policy_reload;
use crate::config::Config;
use crate::issuance::{Simulation, Verdict, simulate};

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
    /// `bucket/key` (or `arn:aws:s3:::bucket/key`); `*` for presign:QueryAudit,
    /// presign:ListUploads, presign:SimulatePolicy and
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
    let context = args
        .context
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| CliError::argument("context", pair, "expected key=value"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = simulate(
        &policy,
        Simulation {
            subject: args.sub,
            claims: args.claims.into_iter().collect(),
            action: args.action,
            resource: args.resource,
            context,
            default_issuer: "cli".into(),
            default_expires_in: config.s3.default_expires_in,
        },
    )?;
    Ok(Report {
        status: if verdict.decision.is_allowed() {
            0
        } else {
            DENIED
        },
        text: render(&verdict),
    })
}

/// The verdict as the IAM policy simulator prints one.
fn render(verdict: &Verdict) -> String {
    let mut text = String::new();
    let decision = if verdict.decision.is_allowed() {
        "Allow"
    } else {
        "Deny"
    };
    let _ = writeln!(text, "{decision}");
    let _ = writeln!(
        text,
        "  statement: {}",
        verdict.statement().unwrap_or("none")
    );
    if let Some(reason) = verdict.reason() {
        let _ = writeln!(text, "  reason:    {reason}");
    }
    for (index, tried) in verdict.tried.iter().enumerate() {
        let label = if index == 0 { "tried:" } else { "" };
        let _ = writeln!(text, "  {label:<10} {}: {}", tried.statement, tried.detail);
    }
    let _ = writeln!(
        text,
        "  request:   {} on {}",
        verdict.action, verdict.resource
    );
    let _ = writeln!(
        text,
        "  claims:    {}",
        Value::Object(verdict.claims.clone())
    );
    let keys: Vec<String> = verdict
        .context
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let _ = writeln!(text, "  context:   {}", keys.join(" "));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::policy_reload::PolicyLoadError;

    #[test]
    fn errors_keep_what_they_came_from() {
        use std::error::Error as _;
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

        // A simulator error is an argument error naming the flag, its cause kept.
        let invalid = crate::issuance::InvalidSimulation {
            field: "context",
            value: "aws:SourceIp=nowhere".into(),
            reason: "not an IP address".into(),
            source: Some(Box::new("x".parse::<std::net::IpAddr>().unwrap_err())),
        };
        let error = CliError::from(invalid);
        assert_eq!(
            error.to_string(),
            r#"--context "aws:SourceIp=nowhere": not an IP address"#
        );
        assert!(error.source().unwrap().is::<std::net::AddrParseError>());
    }
}
