//! What each command does. The clap arguments are first resolved into a [`Config`] (every
//! check that needs no file, such as which one argument may read standard input), then
//! [`execute`] does the work and says how it went.

pub mod analyze;
pub mod bench;
pub mod bench_console;
pub mod bench_store;
pub mod delete;
pub mod events;
pub mod executions;
pub mod local;
pub mod models;
pub mod policy;
pub mod redrive;
pub mod reprocess;
pub mod review;
pub mod run;
pub mod runner;
pub mod search;
pub mod serve;
pub mod show;
pub mod states;

use crate::cli::Command;
use std::path::PathBuf;
use std::process::ExitCode;

/// A command with its arguments resolved, ready to run.
#[derive(Debug)]
pub enum Config {
    /// `spotlight states …`.
    States(states::Config),
    /// `spotlight search`.
    Search(search::Config),
    /// `spotlight show`.
    Show(show::Config),
    /// `spotlight review …`.
    Review(review::Config),
    /// `spotlight delete`.
    Delete(delete::Config),
    /// `spotlight executions …`.
    Executions(executions::Config),
    /// `spotlight events`.
    Events(events::Config),
    /// `spotlight run`.
    Run(crate::cli::RunArgs, PathBuf),
    /// `spotlight watch`.
    Watch(crate::cli::WatchArgs, PathBuf),
    /// `spotlight analyze`.
    Analyze(crate::cli::AnalyzeArgs, PathBuf),
    /// `spotlight models …`.
    Models(crate::cli::ModelsCommand),
    /// `spotlight bench`.
    Bench(crate::cli::BenchArgs),
    /// `spotlight policy apply`.
    PolicyApply(crate::cli::PolicyApplyArgs, PathBuf),
    /// `spotlight reprocess`.
    Reprocess(crate::cli::ReprocessArgs, PathBuf),
    /// `spotlight serve`.
    Serve(crate::cli::ServeArgs, PathBuf),
}

impl Config {
    /// Resolves the parsed command line. An error here is a usage error.
    pub fn from_cli(command: Command, store: PathBuf) -> anyhow::Result<Config> {
        Ok(match command {
            Command::States(c) => Config::States(states::Config::from_cli(c)?),
            Command::Search(c) => Config::Search(search::Config::from_cli(c, store)?),
            Command::Show(c) => Config::Show(show::Config { args: c, store }),
            Command::Review(c) => Config::Review(review::Config::from_cli(c, store)?),
            Command::Delete(c) => Config::Delete(delete::Config { args: c, store }),
            Command::Executions(c) => Config::Executions(executions::Config::from_cli(c, store)?),
            Command::Events(c) => Config::Events(events::Config::from_cli(c, store)?),
            Command::Run(c) => Config::Run(c, store),
            Command::Watch(c) => Config::Watch(c, store),
            Command::Analyze(c) => Config::Analyze(c, store),
            Command::Models(c) => Config::Models(c),
            Command::Bench(c) => Config::Bench(c),
            Command::Policy(crate::cli::PolicyCommand::Apply(c)) => Config::PolicyApply(c, store),
            Command::Reprocess(c) => Config::Reprocess(c, store),
            Command::Serve(c) => Config::Serve(c, store),
        })
    }
}

/// How a command that did its work ended. Errors (exit status 2) travel as `Err` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit status 0: it succeeded, or the answer is yes.
    Success,
    /// Exit status 1: what was asked about failed (an execution, a validation).
    Failure,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::from(1),
        }
    }
}

/// Runs a resolved command.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    match config {
        Config::States(c) => states::execute(c),
        Config::Search(c) => search::execute(c),
        Config::Show(c) => show::execute(c),
        Config::Review(c) => review::execute(c),
        Config::Delete(c) => delete::execute(c),
        Config::Executions(c) => executions::execute(c),
        Config::Events(c) => events::execute(c),
        Config::Run(args, store) => run::execute_run(args, store),
        Config::Watch(args, store) => run::execute_watch(args, store),
        Config::Analyze(args, store) => analyze::execute(args, store),
        Config::Models(command) => models::execute(command),
        Config::Bench(args) => bench::execute(args),
        Config::PolicyApply(args, store) => policy::execute_apply(args, store),
        Config::Reprocess(args, store) => reprocess::execute(args, store),
        Config::Serve(args, store) => serve::execute(args, store),
    }
}
