//! `presignd audit`: reads the audit store named in the configuration, with the filters of
//! `GET /audit`, as a terminal table, JSON lines or CSV; `--follow` keeps printing new rows.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use time::OffsetDateTime;

use super::CliError;
use crate::app::open_audit_store;
use crate::audit::{AuditEvent, AuditFilters, AuditQuery, read_page};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub filters: AuditFilters,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Keep running and print rows as they arrive (oldest first).
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// How often `--follow` looks for new rows.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// How far back each `--follow` poll looks: longer than a commit can take.
const FOLLOW_LOOKBACK: time::Duration = time::Duration::seconds(10);

pub async fn run(config: &Config, args: AuditArgs) -> Result<(), CliError> {
    let query = args.filters.to_query()?;
    let store = open_audit_store(config).await?;
    let page = read_page(store.as_ref(), &query).await?;
    let mut out = Output::new(args.format);
    // Newest first on a page; a terminal reads best oldest first, like a log.
    let mut rows = page.events;
    rows.reverse();
    out.rows(&rows);
    if let Some(cursor) = &page.next_cursor
        && !args.follow
    {
        eprintln!("more rows: --cursor {cursor}");
    }
    if !args.follow {
        return Ok(());
    }
    // Follow. A row's time is taken when its request starts and it commits a little
    // later, and replicas' clocks differ, so each poll looks back a window and skips the
    // rows already printed.
    let mut seen: HashMap<uuid::Uuid, OffsetDateTime> =
        rows.iter().map(|event| (event.id, event.time)).collect();
    let mut newest = rows.last().map(|event| event.time).or(query.since);
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        let since = newest.map(|time| time - FOLLOW_LOOKBACK);
        let mut fresh: Vec<AuditEvent> = store
            .query(&AuditQuery {
                since: since.max(query.since),
                cursor: None,
                limit: crate::audit::MAX_PAGE,
                ..query.clone()
            })
            .await?
            .into_iter()
            .filter(|event| !seen.contains_key(&event.id))
            .collect();
        fresh.reverse();
        out.rows(&fresh);
        seen.extend(fresh.iter().map(|event| (event.id, event.time)));
        newest = newest.max(fresh.iter().map(|event| event.time).max());
        // Rows older than the window are never fetched again: forget them.
        if let Some(since) = since {
            seen.retain(|_, time| *time >= since);
        }
    }
}

struct Output {
    format: Format,
    csv_header_written: bool,
}

impl Output {
    fn new(format: Format) -> Self {
        Self {
            format,
            csv_header_written: false,
        }
    }

    fn rows(&mut self, events: &[AuditEvent]) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        match self.format {
            Format::Json => {
                for event in events {
                    let _ = writeln!(out, "{}", serde_json::to_string(event).unwrap_or_default());
                }
            }
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                if !self.csv_header_written {
                    let _ = writer.write_record(COLUMNS);
                    self.csv_header_written = true;
                }
                for event in events {
                    let _ = writer.write_record(cells(event));
                }
                let _ = writer.flush();
            }
            Format::Table => {
                let _ = write!(out, "{}", table(events));
            }
        }
        let _ = std::io::stdout().flush();
    }
}

const COLUMNS: [&str; 10] = [
    "time",
    "outcome",
    "subject",
    "issuer",
    "action",
    "bucket",
    "key",
    "expires_at",
    "statement",
    "id",
];

fn cells(event: &AuditEvent) -> [String; 10] {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    [
        rfc3339(event.time),
        match &event.reason {
            Some(reason) => format!("{} ({reason})", event.outcome.as_str()),
            None => event.outcome.as_str().to_owned(),
        },
        event.subject.clone(),
        event.issuer.clone(),
        event.action.clone(),
        event.bucket.clone().unwrap_or_default(),
        event.key.clone().unwrap_or_default(),
        event.expires_at.map(rfc3339).unwrap_or_default(),
        event.statement.clone().unwrap_or_default(),
        event.id.to_string(),
    ]
}

/// The rows as a terminal table.
fn table(events: &[AuditEvent]) -> String {
    super::table::render(COLUMNS, events.iter().map(cells).collect())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::audit::InvalidFilter;
    use crate::cli::{Cli, Command};

    #[tokio::test]
    async fn a_bad_filter_is_refused_before_the_store_opens_and_keeps_its_cause() {
        let Command::Audit(args) =
            Cli::parse_from(["presignd", "audit", "--since", "yesterday"]).command
        else {
            unreachable!("parsed as audit");
        };
        let mut config = Config::load(None).unwrap();
        // A store that cannot open: the filter must fail first.
        config.audit.database_url = crate::config::Secret::new("nowhere://");
        let error = run(&config, args).await.unwrap_err();
        assert!(error.to_string().starts_with("filter: since: "), "{error}");
        let cause = std::error::Error::source(&error).unwrap();
        assert_eq!(
            cause.downcast_ref::<InvalidFilter>().unwrap().field,
            "since"
        );
    }
}
