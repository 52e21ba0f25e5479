//! presignd's entry point: parse the command line and run it. All logic is in the library.

use std::process::ExitCode;

use clap::Parser;

// Under load glibc's malloc spent about 6% of the process in malloc, free and heap
// consolidation across the runtime's threads; mimalloc keeps per-thread free lists. Its
// `no_thp` feature keeps it from asking for transparent huge pages, which cost ~30 MiB of
// resident memory and no speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    presignd::cli::run(presignd::cli::Cli::parse()).await
}
