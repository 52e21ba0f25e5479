//! What a command can fail with. `cli::run` prints it once, as `presignd: {error}`, and
//! exits 2; each message names the flag, key or file at fault, and the error it came
//! from stays reachable as its `source()`.

use crate::app::StartupError;
use crate::app::policy_reload::PolicyLoadError;
use crate::audit::{AuditError, InvalidFilter};
#[cfg(feature = "dev")]
use crate::cli::dev::LocalS3Error;
use crate::config::ConfigError;

type BoxedError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Opening or using the service's parts: configuration, policy, audit store, S3.
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyLoadError),
    /// A `presignd audit` filter.
    #[error("filter: {0}")]
    Filter(#[from] InvalidFilter),
    /// `presignd dev`'s embedded S3 store.
    #[cfg(feature = "dev")]
    #[error("starting the local S3 store: {0}")]
    LocalS3(#[source] LocalS3Error),
    /// A file, socket or stream; `what` says which.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The service's own rules refused the command (`presignd links create`: a field, or
    /// the policy); the text is the problem's detail and code.
    #[error("refused: {0}")]
    Refused(String),
    /// `presignd policy check` was given no policy file.
    #[error("no policy: pass --policy FILE (or set policy.file in the configuration)")]
    NoPolicy,
    /// A command-line value that cannot be used: the flag, the value and why.
    #[error("--{flag} {value:?}: {reason}")]
    Argument {
        flag: &'static str,
        value: String,
        reason: String,
        #[source]
        source: Option<BoxedError>,
    },
}

impl CliError {
    /// An unusable `--flag value`, for `reason`.
    pub fn argument(flag: &'static str, value: &str, reason: impl Into<String>) -> CliError {
        CliError::Argument {
            flag,
            value: value.to_owned(),
            reason: reason.into(),
            source: None,
        }
    }

    /// As [`CliError::argument`], keeping the parse error behind `reason`.
    pub fn argument_from(
        flag: &'static str,
        value: &str,
        reason: impl Into<String>,
        source: impl Into<BoxedError>,
    ) -> CliError {
        CliError::Argument {
            flag,
            value: value.to_owned(),
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// The simulator names the field; here it is the flag of the same name.
impl From<crate::issuance::InvalidSimulation> for CliError {
    fn from(error: crate::issuance::InvalidSimulation) -> Self {
        CliError::Argument {
            flag: error.field,
            value: error.value,
            reason: error.reason,
            source: error.source,
        }
    }
}

/// Reading the audit store fails as opening it does, with the same message.
impl From<AuditError> for CliError {
    fn from(error: AuditError) -> Self {
        CliError::Startup(error.into())
    }
}
