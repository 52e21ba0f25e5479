//! `presignd links create|list|revoke`: share links on the database named in the
//! configuration, for operators (as `presignd audit` reads the log).
//!
//! `create` makes a link for a subject exactly as `POST /links` would for their token: the
//! configured policy decides, and the creation is audited before the URL is printed.
//! `revoke` needs no policy: whoever runs it holds the database; its rows say
//! `(operator)` and name `--operator`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{CliError, parse_claim};
use crate::app::{open_audit_store, policy_reload};
use crate::audit::{AuditWriter, Draft, WriterSettings};
use crate::auth::Principal;
use crate::config::{Config, RateLimitConfig};
use crate::error::ApiError;
use crate::http::links::{CreateLinkBody, validate_link};
use crate::issuance::{self, Caller, ClientInfo, Gate, RateLimits, Refusal};
use crate::links::{self, LinkListParams, LinkSettings, LinkStore, LinkView, RevokeLinksBody};
use crate::policy::Action;

#[derive(Debug, clap::Args)]
pub struct LinksArgs {
    #[command(subcommand)]
    pub command: LinksCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum LinksCommand {
    /// Create a link for `--sub`, decided by the configured policy as `POST /links` is;
    /// prints its URL (shown once).
    Create(CreateArgs),
    /// List links, newest first (filters as GET /links).
    List(ListArgs),
    /// Revoke one link by id, or every link the filters name (as POST /links/revoke).
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The creator's `sub`: redemptions are decided for them.
    #[arg(long)]
    pub sub: String,
    /// The creator's claims, `name=value` (JSON when it parses as JSON), as their token
    /// would carry them.
    #[arg(long = "claim", value_parser = parse_claim)]
    pub claims: Vec<(String, Value)>,
    /// The creator's `iss`; default the first configured issuer.
    #[arg(long)]
    pub issuer: Option<String>,
    #[arg(long)]
    pub bucket: String,
    #[arg(long)]
    pub key: String,
    /// Lifetime, e.g. `1h`, `7d`; default the smaller of 30 days and links.max_expires_in.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires_in: Option<std::time::Duration>,
    #[arg(long)]
    pub max_uses: Option<i64>,
    /// A CIDR (or address) allowed to redeem; repeat for several.
    #[arg(long = "allowed-cidr")]
    pub allowed_cidrs: Vec<String>,
    #[arg(long)]
    pub content_disposition: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub params: LinkListParams,
    /// `table` or `json` (one link per line).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The link's id; or give filters instead.
    pub id: Option<String>,
    #[command(flatten)]
    pub filter: RevokeLinksBody,
    /// Who is revoking, for the audit rows (their subject; issuer `presignd-cli`).
    #[arg(long, default_value = "operator")]
    pub operator: String,
}

/// The issuer of `presignd links revoke`'s rows.
const CLI_ISSUER: &str = "presignd-cli";

pub async fn run(config_file: Option<PathBuf>, args: LinksArgs) -> Result<(), CliError> {
    let config = Config::load(config_file.as_deref())?;
    let settings = LinkSettings::from_config(&config);
    match args.command {
        LinksCommand::Create(args) => create(&config, &settings, args).await,
        LinksCommand::List(args) => list(&config, args).await,
        LinksCommand::Revoke(args) => revoke(&config, args).await,
    }
}

/// The audit store migrated, a writer on it and the link store.
async fn open(config: &Config) -> Result<(AuditWriter, Arc<dyn LinkStore>), CliError> {
    let store = open_audit_store(config).await?;
    let (writer, _task) = AuditWriter::spawn(store, WriterSettings::default());
    let links = links::open(config.audit.database_url.expose()).await?;
    Ok((writer, links))
}

/// A refusal, committed, as the command's error.
async fn refused(writer: &AuditWriter, refusal: Refusal) -> CliError {
    let error = match writer.commit(refusal.into_pending()).await {
        Ok(committed) => committed.into_inner(),
        Err(error) => ApiError::from(error),
    };
    rejected(error)
}

fn rejected(error: ApiError) -> CliError {
    CliError::Refused(format!("{} ({})", error.detail(), error.code().as_str()))
}

fn caller(issuer: String, subject: String, claims: Map<String, Value>) -> Caller {
    Caller {
        principal: Principal {
            issuer,
            subject,
            claims,
        },
        client: ClientInfo {
            ip: None,
            user_agent: Some(format!("presignd-cli/{}", env!("CARGO_PKG_VERSION"))),
        },
        request_id: format!("cli-{}", Uuid::now_v7()),
    }
}

async fn create(
    config: &Config,
    settings: &LinkSettings,
    args: CreateArgs,
) -> Result<(), CliError> {
    let issuer = match args.issuer {
        Some(issuer) => issuer,
        None => config
            .auth
            .issuers
            .first()
            .map(|issuer| issuer.issuer.clone())
            .ok_or_else(|| {
                crate::config::ConfigError::invalid("auth.issuers", "no issuer: pass --issuer")
            })?,
    };
    let file = config.policy.file.clone().ok_or(CliError::NoPolicy)?;
    let policy = policy_reload::load(&file)?.policy;
    let body = CreateLinkBody {
        bucket: args.bucket,
        key: args.key,
        expires_in: args
            .expires_in
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        max_uses: args.max_uses,
        allowed_cidrs: (!args.allowed_cidrs.is_empty()).then_some(args.allowed_cidrs),
        content_disposition: args.content_disposition,
        note: args.note,
    };
    let request = validate_link(body, settings).map_err(rejected)?;
    let mut claims: Map<String, Value> = args.claims.into_iter().collect();
    claims.insert("sub".into(), Value::String(args.sub.clone()));
    claims.insert("iss".into(), Value::String(issuer.clone()));
    let caller = caller(issuer, args.sub, claims);
    let (writer, links) = open(config).await?;
    // An operator's command is not rate limited.
    let limits = RateLimits::new(&RateLimitConfig {
        per_subject_per_second: 0,
        burst: 0,
        per_ip_per_second: 0,
        per_ip_burst: 0,
    });
    let gate = Gate {
        policy: &policy,
        limits: &limits,
    };
    let authorized = match request.decide(gate, &caller, settings) {
        Ok(authorized) => authorized,
        Err(refusal) => return Err(refused(&writer, refusal).await),
    };
    let created = links::create(
        links.as_ref(),
        &writer,
        settings,
        &caller,
        authorized,
        request,
    )
    .await
    .map_err(rejected)?
    .into_inner();
    println!("{}", created.url);
    eprintln!(
        "link {} (expires {}); the URL is shown only this once",
        created.id,
        created.expires_at.format(&Rfc3339).unwrap_or_default()
    );
    Ok(())
}

async fn list(config: &Config, args: ListArgs) -> Result<(), CliError> {
    let filter = args.params.to_filter()?;
    let links = links::open(config.audit.database_url.expose()).await?;
    let now = OffsetDateTime::now_utc();
    let views: Vec<LinkView> = links
        .list(&filter, now)
        .await?
        .iter()
        .map(|link| link.view(now))
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == "json" {
        for view in &views {
            let _ = writeln!(out, "{}", serde_json::to_string(view).unwrap_or_default());
        }
    } else {
        let _ = write!(out, "{}", table(&views));
    }
    if views.len() == filter.limit as usize
        && let Some(last) = views.last()
    {
        eprintln!("more links: --cursor {}", last.id);
    }
    Ok(())
}

/// One line per link, columns padded.
fn table(views: &[LinkView]) -> String {
    const COLUMNS: [&str; 7] = [
        "id",
        "state",
        "subject",
        "bucket",
        "key",
        "expires_at",
        "uses",
    ];
    let rows: Vec<[String; 7]> = views
        .iter()
        .map(|view| {
            [
                view.id.to_string(),
                view.state.as_str().to_owned(),
                view.subject.clone(),
                view.bucket.clone(),
                view.key.clone(),
                view.expires_at.format(&Rfc3339).unwrap_or_default(),
                match (view.uses, view.max_uses) {
                    (Some(uses), Some(max)) => format!("{uses}/{max}"),
                    _ => "unlimited".into(),
                },
            ]
        })
        .collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (cell, width) in cells.into_iter().zip(widths) {
            text.push_str(&format!("{cell:width$}  "));
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = String::new();
    if !rows.is_empty() {
        text.push_str(&line(COLUMNS.to_vec()));
    }
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

async fn revoke(config: &Config, args: RevokeArgs) -> Result<(), CliError> {
    let caller = caller(CLI_ISSUER.into(), args.operator, Map::new());
    let action = Action::RevokeLink.as_str();
    let Some(id) = args.id else {
        let filter = args.filter.to_filter()?;
        let (writer, links) = open(config).await?;
        let recorded = serde_json::to_value(&filter).unwrap_or_default();
        let authorized = issuance::allow_operator(caller.draft(Uuid::now_v7(), action, recorded));
        let revoked = links::revoke_matching(links.as_ref(), &writer, &caller, authorized, &filter)
            .await
            .map_err(rejected)?
            .into_inner();
        println!("revoked {revoked} links");
        return Ok(());
    };
    if args.filter.to_filter().is_ok() {
        return Err(CliError::argument(
            "id",
            &id,
            "give an id or filters, not both",
        ));
    }
    let id =
        Uuid::parse_str(&id).map_err(|e| CliError::argument_from("id", &id, "not a link id", e))?;
    let (writer, links) = open(config).await?;
    let link = links
        .get(id)
        .await?
        .ok_or_else(|| CliError::argument("id", &id.to_string(), "no such link"))?;
    let draft = Draft {
        bucket: Some(link.bucket.as_str().to_owned()),
        key: Some(link.key.as_str().to_owned()),
        ..caller.draft(Uuid::now_v7(), action, serde_json::json!({}))
    }
    .for_link(id);
    let authorized = issuance::allow_operator(draft);
    let now = OffsetDateTime::now_utc();
    let revoked = links
        .revoke(id, now)
        .await?
        .ok_or_else(|| CliError::argument("id", &id.to_string(), "no such link"))?;
    let view = writer
        .commit(authorized.grant(revoked.view(now)))
        .await?
        .into_inner();
    println!("{}", serde_json::to_string(&view).unwrap_or_default());
    Ok(())
}
