//! `presignd uploads list|abort`: ops see the multipart upload sessions in the database
//! named by the configuration and end the ones that should not live on. An abort is done
//! in S3 (credentials from the AWS default chain, as `serve` uses) and audited under
//! presignd's own issuer with the subject `cli`.

use std::io::Write;

use time::OffsetDateTime;
use uuid::Uuid;

use super::CliError;
use crate::app::{build_presigner, open_audit_store};
use crate::audit::{AuditWriter, WriterSettings};
use crate::config::Config;
use crate::uploads::{self, Ending, Session, SessionFilter, SessionState};

#[derive(Debug, clap::Args)]
pub struct UploadsArgs {
    #[command(subcommand)]
    pub command: UploadsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UploadsCommand {
    /// List sessions, newest first.
    List(ListArgs),
    /// Abort open sessions in S3 (their uploaded parts are discarded) and mark them aborted.
    Abort(AbortArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// open (includes open sessions past their expiry not yet swept), completed, aborted
    /// or expired.
    #[arg(long)]
    pub state: Option<String>,
    /// The owner's token subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// The owner's token issuer.
    #[arg(long)]
    pub issuer: Option<String>,
    /// Most sessions shown, 1..=1000.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct AbortArgs {
    /// Session ids (the `id` of `POST /uploads`).
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub async fn run(config: &Config, args: UploadsArgs) -> Result<(), CliError> {
    match args.command {
        UploadsCommand::List(args) => list(config, args).await,
        UploadsCommand::Abort(args) => abort(config, args).await,
    }
}

async fn list(config: &Config, args: ListArgs) -> Result<(), CliError> {
    let filter = SessionFilter::new(args.state.as_deref(), args.issuer, args.subject, args.limit)
        .map_err(|invalid| {
        // Named as the flag and the value given, as every other flag error is.
        let value = match invalid.field {
            "state" => args.state.clone().unwrap_or_default(),
            _ => args.limit.to_string(),
        };
        CliError::argument(invalid.field, &value, invalid.reason)
    })?;
    open_audit_store(config).await?;
    let sessions = uploads::open(config.audit.database_url.expose()).await?;
    let found = sessions.list(&filter).await?;
    let now = OffsetDateTime::now_utc();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            for session in &found {
                let _ = writeln!(out, "{}", json(session, now));
            }
        }
        Format::Table => {
            let rows = found.iter().map(|s| cells(s, now)).collect();
            let _ = write!(out, "{}", super::table::render(COLUMNS, rows));
        }
    }
    Ok(())
}

async fn abort(config: &Config, args: AbortArgs) -> Result<(), CliError> {
    let ids = args
        .ids
        .iter()
        .map(|text| {
            Uuid::parse_str(text)
                .map_err(|e| CliError::argument_from("id", text, "not a session id", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = open_audit_store(config).await?;
    let sessions = uploads::open(config.audit.database_url.expose()).await?;
    let presigner = build_presigner(config, None).await?;
    let (audit, writer) = AuditWriter::spawn(store, WriterSettings::default());
    let mut failed = None;
    for id in ids {
        let outcome = match sessions.get(id).await? {
            None => Err(format!("{id}: no such session")),
            Some(session) if session.state != SessionState::Open => {
                Err(format!("{id}: already {}", session.state.as_str()))
            }
            Some(session) => uploads::end_session(
                &session,
                Ending::Aborted,
                "cli",
                &presigner,
                sessions.as_ref(),
                &audit,
            )
            .await
            .map_err(|e| format!("{id}: {e}"))
            .and_then(|ended| ended.then_some(()).ok_or(format!("{id}: ended meanwhile"))),
        };
        match outcome {
            Ok(()) => println!("{id}: aborted"),
            Err(message) => {
                eprintln!("{message}");
                failed = Some(message);
            }
        }
    }
    // Every audit row is committed before the command says it is done.
    drop(audit);
    let _ = writer.await;
    match failed {
        None => Ok(()),
        Some(message) => Err(CliError::argument("id", &message, "not aborted")),
    }
}

const COLUMNS: [&str; 9] = [
    "created_at",
    "state",
    "subject",
    "issuer",
    "bucket",
    "key",
    "declared_size",
    "expires_at",
    "id",
];

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn cells(session: &Session, now: OffsetDateTime) -> [String; 9] {
    [
        rfc3339(session.created_at),
        session.state_at(now).as_str().to_owned(),
        session.subject.clone(),
        session.issuer.clone(),
        session.bucket.to_string(),
        session.key.to_string(),
        session
            .declared_size
            .map(|n| n.to_string())
            .unwrap_or_default(),
        rfc3339(session.expires_at),
        session.id.to_string(),
    ]
}

fn json(session: &Session, now: OffsetDateTime) -> serde_json::Value {
    serde_json::json!({
        "id": session.id,
        "state": session.state_at(now),
        "issuer": session.issuer,
        "subject": session.subject,
        "bucket": session.bucket.as_str(),
        "key": session.key.as_str(),
        "s3_upload_id": session.s3_upload_id,
        "declared_size": session.declared_size,
        "created_at": rfc3339(session.created_at),
        "expires_at": rfc3339(session.expires_at),
        "ended_at": session.ended_at.map(rfc3339),
        "size": session.final_size,
        "etag": session.final_etag,
    })
}
