//! `spotlight`, the command line of Spotlight: runs the pipeline locally and, for now, runs and
//! checks any Amazon States Language state machine offline (`spotlight states …`).
//!
//! Data goes to standard output, logs to standard error. Exit status: 0 for success, 1 when
//! the thing asked about failed (an execution, a definition that is not valid), 2 for usage
//! errors and anything that kept the command from doing its work.

mod cli;
mod commands;
mod logging;
mod output;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.verbose);
    let outcome = commands::Config::from_cli(cli.command, cli.store).and_then(commands::execute);
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::from(2)
        }
    }
}
