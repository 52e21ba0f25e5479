//! presignd's integration tests: the real app on 127.0.0.1:0, a real SQLite audit store,
//! and an in-process s3s-fs that checks every SigV4 signature.

mod harness;

mod audit;
mod auth;
mod batch;
mod browser;
mod cli;
mod companion;
mod config_files;
mod console;
mod links;
mod openapi;
mod ops;
mod policy;
mod post_form;
mod postgres;
mod presign;
mod s3_enforcement;
mod shutdown;
mod uploads;
mod uppy;
mod validation;
