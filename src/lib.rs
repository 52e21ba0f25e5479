//! presignd: hands out S3 presigned URLs to callers with a valid JWT, under an IAM-style
//! policy, and audits every issuance and denial before the URL leaves the process.
#![forbid(unsafe_code)]

/// Assembly of the service from its configuration, its background tasks and policy
/// reloads; run and shut down.
pub mod app;
/// The audit log: events, the store trait (SQLite, PostgreSQL), the group-commit writer.
pub mod audit;
/// JWT verification into a `Principal`.
pub mod auth;
/// The command line: serve, dev, migrate, token, policy check/validate.
pub mod cli;
/// The typed configuration tree and its loading.
pub mod config;
/// `ApiError` and problem+json.
pub(crate) mod error;
/// Routes, middleware, handlers.
pub mod http;
/// The issuance pipeline: caller, decision, signing, and release only through a committed
/// audit row.
pub(crate) mod issuance;
/// Share links: revocable, use-counted, address-bound links that redirect to a fresh
/// presigned GET; their store (SQLite, PostgreSQL) and the flows the API and CLI share.
pub mod links;
/// The IAM-style policy language: parse, compile, evaluate (pure).
pub mod policy;
/// Presigning with aws-sdk-s3, names, true expiry.
pub mod presign;
/// Logging setup.
pub(crate) mod telemetry;
/// Multipart upload sessions: the store (SQLite, PostgreSQL) and the completion check.
pub mod uploads;
