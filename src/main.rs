//! The `thidua` binary: parse the command line, load `.env`, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

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
