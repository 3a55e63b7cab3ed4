//! The command line, as clap derive structs: their doc comments are the help text. Nothing here
//! does any work; `commands` turns these into a configuration first.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

/// Spotlight screens photos: validates them, analyses them three ways (labels, moderation,
/// text) and keeps one record per image.
#[derive(Debug, Parser)]
#[command(name = "spotlight", version)]
pub struct Cli {
    /// Log more on standard error: -v for info, -vv for debug, -vvv for trace (warnings by
    /// default). `RUST_LOG` refines it further.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands. Each variant owns its arguments and maps to one module of `commands`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and check Amazon States Language state machines offline.
    #[command(subcommand)]
    States(StatesCommand),
}

/// `spotlight states …`.
#[derive(Debug, Subcommand)]
pub enum StatesCommand {
    /// Run one execution of a state machine with the local engine and print how it ended.
    ///
    /// Exit status: 0 when the execution succeeded, 1 when it failed or timed out, 2 for a
    /// usage error or a file that cannot be read or is invalid (definition, input,
    /// substitutions, mock configuration).
    ///
    /// Without --mock-config no Task can run: each fails with States.TaskFailed, naming its
    /// resource (AWS Step Functions Local would call the real service instead). Retry
    /// intervals and Wait states take real time, as on AWS.
    Run(StatesRunArgs),

    /// Check a state machine definition and list every problem found.
    ///
    /// Exit status: 0 when the definition is valid, 1 when it has problems, 2 for a usage
    /// error or a file that cannot be read.
    Validate(StatesValidateArgs),
}

/// Arguments of `spotlight states run`.
#[derive(Debug, Args)]
pub struct StatesRunArgs {
    /// The state machine definition (ASL JSON); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub definition: PathBuf,

    /// The execution input (JSON); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,

    /// Definition substitutions: a JSON object {"Name": "value"}, applied to every `${Name}`
    /// in the definition; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub substitutions: Option<PathBuf>,

    /// A mock configuration in AWS Step Functions Local's format (`StateMachines`,
    /// `MockedResponses`); `-` reads standard input.
    #[arg(long, value_name = "FILE", requires = "test_case")]
    pub mock_config: Option<PathBuf>,

    /// The test case of the mock configuration whose responses the tasks get.
    #[arg(long, value_name = "NAME", requires = "mock_config")]
    pub test_case: Option<String>,

    /// The state machine's name: which of the mock configuration's `StateMachines` applies, and
    /// `$$.StateMachine.Name`. By default the definition file's name without `.asl.json` or
    /// its extension (`StateMachine` for standard input). A mock configuration holding a
    /// single state machine applies whatever the name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Also print the execution's history: one line per event, or with --json a `history`
    /// member shaped like GetExecutionHistory's `{"events": [...]}`.
    #[arg(long)]
    pub history: bool,

    /// Print one JSON object: {"status", "output"} or {"status", "error", "cause"}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight states validate`.
#[derive(Debug, Args)]
pub struct StatesValidateArgs {
    /// The state machine definition (ASL JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub definition: PathBuf,

    /// Definition substitutions: a JSON object {"Name": "value"}, applied to every `${Name}`
    /// in the definition before it is checked; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub substitutions: Option<PathBuf>,

    /// Print one JSON object: {"valid": true} or {"valid": false, "problems": [{"path",
    /// "code", "message"}]}.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
