//! presignd's entry point: parse the command line and run it. All logic is in the library.

use std::process::ExitCode;

use clap::Parser;

// Under load glibc's malloc spent about 6% of the process in malloc, free and heap
// consolidation across the runtime's threads; mimalloc keeps per-thread free lists. Its
// `no_thp` feature keeps it from asking for transparent huge pages, which cost ~30 MiB of
// resident memory and no speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same in v2 and v3; the sys
/// crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[tokio::main]
async fn main() -> ExitCode {
    // mimalloc v3 keeps freed memory for 1000 ms before giving it back; a 1000-item batch
    // frees megabytes at once, so the resident peak held the last second's garbage
    // (1000-item batches at 64 connections: 84 MiB, against 71 MiB at 10 ms, with no
    // change in URLs/s). 10 ms is v2's default.
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    presignd::cli::run(presignd::cli::Cli::parse()).await
}
