//! presignd's entry point: parse the command line and run it. All logic is in the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    presignd::cli::run(presignd::cli::Cli::parse()).await
}
