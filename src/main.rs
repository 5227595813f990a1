//! The `thidua` binary: parse the command line, load `.env`, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the request path allocates small, short-lived buffers
/// from every worker thread, where glibc's arenas spent ~12% of the service's CPU
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `.env` is a development convenience; the real environment always wins.
    let _ = dotenvy::dotenv();
    let cli = thidua::cli::Cli::parse();
    match thidua::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
