//! The command line (DESIGN §8): `serve`, `dev`, `migrate`, `token`, `audit`, `policy`,
//! `uploads`, `links`.

mod audit;
#[cfg(feature = "dev")]
pub mod dev;
mod error;
mod links;
mod policy;
mod table;
mod uploads;

pub use error::CliError;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::app::{self, App};
use crate::auth;
use crate::config::Config;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "presignd",
    version,
    about = "Issues S3 presigned URLs under an IAM-style policy, with a durable audit log"
)]
pub struct Cli {
    /// Configuration file (TOML), layered over the embedded defaults.
    #[arg(long, global = true, env = "PRESIGND_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve,
    /// Run everything locally: embedded S3-compatible store, SQLite audit, a dev issuer
    /// and policy. Prints a token and curl lines to try. Loopback only.
    #[cfg(feature = "dev")]
    Dev(dev::DevArgs),
    /// Apply the audit store's migrations and exit.
    Migrate,
    /// Mint a token for an HS issuer of the configuration (development and tests); prints
    /// it on stdout.
    Token(TokenArgs),
    /// Read the audit log named in the configuration (filters as GET /audit).
    Audit(audit::AuditArgs),
    /// Simulate a request against a policy (`check`) or validate a policy file.
    Policy(policy::PolicyArgs),
    /// See and end multipart upload sessions (`list`, `abort`).
    Uploads(uploads::UploadsArgs),
    /// Share links on the configured database: create (decided by the policy), list,
    /// revoke.
    Links(links::LinksArgs),
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The token's `sub`.
    #[arg(long)]
    pub sub: String,
    /// Extra claims, `name=value`; a value that parses as JSON (`["ops"]`, `3`) is kept as JSON.
    /// `iss`, `sub`, `iat` and `exp` are set by presignd; `aud` defaults to the issuer's
    /// first audience.
    #[arg(long = "claim", value_parser = parse_claim)]
    pub claims: Vec<(String, Value)>,
    /// Lifetime, e.g. `15m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
    /// Which configured issuer signs (its exact `issuer`); default the first with a
    /// `secret` or `secret_file`.
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `name=value`; the value is JSON when it parses as JSON, else a string.
pub fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    if name.is_empty() {
        return Err(format!("{text:?} has an empty claim name"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

/// Runs the parsed command line; the exit code is the process's: 0, or 2 after printing
/// the error (`policy check` also exits 1 for a denial).
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => serve(cli.config).await.map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "dev")]
        Command::Dev(args) => dev::run(cli.config, args).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate => migrate(cli.config).await.map(|()| ExitCode::SUCCESS),
        Command::Token(args) => token(cli.config, args).map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => audit(cli.config, args).await.map(|()| ExitCode::SUCCESS),
        Command::Uploads(args) => match Config::load(cli.config.as_deref()) {
            Ok(config) => uploads::run(&config, args)
                .await
                .map(|()| ExitCode::SUCCESS),
            Err(error) => Err(error.into()),
        },
        Command::Links(args) => links::run(cli.config, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        // Has its own exit statuses: 1 is a denial, not an error.
        Command::Policy(args) => policy::run(cli.config, args).map(|report| {
            print!("{}", report.text);
            ExitCode::from(report.status)
        }),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("presignd: {error}");
            ExitCode::from(2)
        }
    }
}

async fn serve(config_file: Option<PathBuf>) -> Result<(), CliError> {
    let config = Config::load(config_file.as_deref())?;
    let _telemetry = telemetry::init(&config.log);
    let app = App::build(&config, None).await?;
    let listener = bind(&config).await?;
    // The bound address, not the configured one: port 0 picks a free port.
    let address = listener.local_addr().map_err(CliError::io("server.bind"))?;
    tracing::info!(%address, "presignd listening");
    app.run(listener, shutdown_signal())
        .await
        .map_err(CliError::io("serving"))?;
    tracing::info!("presignd stopped");
    Ok(())
}

async fn bind(config: &Config) -> Result<TcpListener, CliError> {
    TcpListener::bind(config.server.bind)
        .await
        .map_err(CliError::io(format!("server.bind {}", config.server.bind)))
}

async fn audit(config_file: Option<PathBuf>, args: audit::AuditArgs) -> Result<(), CliError> {
    let config = Config::load(config_file.as_deref())?;
    audit::run(&config, args).await
}

async fn migrate(config_file: Option<PathBuf>) -> Result<(), CliError> {
    let config = Config::load(config_file.as_deref())?;
    app::open_audit_store(&config).await?;
    println!("audit store migrated");
    Ok(())
}

fn token(config_file: Option<PathBuf>, args: TokenArgs) -> Result<(), CliError> {
    let config = Config::load(config_file.as_deref())?;
    let issuer = config
        .auth
        .issuers
        .iter()
        .find(|issuer| match &args.issuer {
            Some(name) => &issuer.issuer == name,
            None => issuer.secret.is_some() || issuer.secret_file.is_some(),
        })
        .ok_or_else(|| crate::config::ConfigError::Invalid {
            key: "auth.issuers".into(),
            reason: match &args.issuer {
                Some(name) => format!("no issuer {name:?}"),
                None => "no issuer with a secret".into(),
            },
        })?;
    let claims: Map<String, Value> = args.claims.into_iter().collect();
    println!(
        "{}",
        auth::mint_token(issuer, &args.sub, &claims, args.ttl.as_secs())?
    );
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received: draining");
}
