//! `spotlight states run`, `spotlight states validate`, `spotlight states eval` and `spotlight
//! states test-state`: any state machine, run or checked offline by the `spotlight-states`
//! engine, any JSONata expression evaluated as a state would evaluate it, and any one state
//! tested as AWS's TestState API tests it.
//!
//! # `states run`
//!
//! Reads the definition, the input, and optionally the substitutions and a mock configuration
//! (each a file, or `-` for standard input, at most one of them), runs one execution and prints:
//!
//! - by default, the status (`SUCCEEDED`, `FAILED`, `TIMED_OUT`) on a line, then the output as
//!   indented JSON, or `error: …` and `cause: …` lines; with `--history` the events come first,
//!   one line each: id, time since the start, type, state, and a short summary of the event's
//!   input, output, parameters or error;
//! - with `--json`, one compact JSON object on one line: `{"status":"SUCCEEDED","output":…}` or
//!   `{"status":"FAILED","error":…,"cause":…}` (`error` and `cause` are left out when the
//!   execution has none, as `DescribeExecution` leaves them out), with `"history":{"events":[…]}`
//!   in `GetExecutionHistory`'s shape for `--history`.
//!
//! Exit status: 0 succeeded, 1 failed or timed out, 2 usage error or a file that cannot be read
//! or is invalid (including a definition with problems, which are listed on standard error).
//!
//! Tasks get their results from the mock configuration's test case. A Task the test case does
//! not mock, and every Task when there is no mock configuration, fails with
//! `States.TaskFailed` and a cause naming its resource (and Lambda function): AWS Step Functions
//! Local would call the real service there, which an offline tool cannot do. Retry waits and
//! Wait states take real time, as they do on AWS.
//!
//! # `states validate`
//!
//! Prints `valid` (exit 0), or every problem on its own line as `<JSON pointer>: <code>:
//! <message>` (exit 1); with `--json`, `{"valid":true}` or `{"valid":false,"problems":[{"path",
//! "code","message"}]}`, where `path` is the JSON pointer (`""` for the whole document).
//!
//! # `states eval`
//!
//! Evaluates one JSONata expression with `$states` = `{"input": <the input>}` (the input is
//! `{}` unless `--input` names a file or `-`) and each `--var NAME=JSON` bound as `$NAME`, and
//! prints the result as one compact line of JSON. Undefined prints nothing and exits 0: the
//! expression has no value, which is an answer, not a failure of the command (a state turns an
//! undefined field into `States.QueryEvaluationError`, but `eval` evaluates no field). A failed
//! evaluation prints `States.QueryEvaluationError: <cause>` on standard error and exits 1; a
//! malformed `--var` or an input that cannot be read or is not JSON exits 2.
//!
//! # `states test-state`
//!
//! Runs one state once, as the TestState API does: the definition is one state's object, or a
//! whole machine with `--state-name` (each file argument a file or `-`, at most one of them);
//! `--mock-result JSON|@FILE` or `--mock-error NAME [--mock-cause TEXT]` stand for the task's
//! call (for a Map or Parallel state, which needs one as on AWS, for its whole work), and
//! `--retrier-retry-count` / `--map-iteration-failure-count` are AWS's `stateConfiguration`.
//! No retry is performed. Prints:
//!
//! - by default, the status (`SUCCEEDED`, `FAILED`, `RETRIABLE`, `CAUGHT_ERROR`) on a line,
//!   then `error: …` and `cause: …` lines, `next state: …`, and the output as indented JSON;
//!   with `--inspection-level DEBUG` (or `TRACE`, the same here: AWS adds an HTTP Task's
//!   request and response, and no HTTP Task is called offline) an `inspection:` section, one
//!   `  stage: <compact JSON>` line per stage in AWS's order (`input`, `afterArguments`,
//!   `afterInputPath`, `afterParameters`, `result`, `afterResultSelector`, `afterResultPath`,
//!   `variables`, `errorDetails`, the Map state's `afterItemsPath` and limits);
//! - with `--json`, AWS's response as one compact JSON object on one line: `{"output",
//!   "error", "cause", "inspectionData", "nextState", "status"}`, each member only when it has
//!   a value, and `output` and the stages as JSON text, as the API carries them.
//!
//! Exit status: 0 `SUCCEEDED` or `CAUGHT_ERROR` (the state ran and says where to go next), 1
//! `FAILED` or `RETRIABLE` (it failed, for now or for good), 2 usage error, a file that cannot
//! be read, or a definition or request AWS would refuse (its problems, or AWS's message such as
//! `State type 'Pass' is not supported when a mock is specified`, on standard error). An
//! unmocked Task fails with `States.TaskFailed` and a cause naming its resource and the mock
//! options.

use crate::cli::{
    StatesCommand, StatesEvalArgs, StatesRunArgs, StatesTestStateArgs, StatesValidateArgs,
};
use crate::commands::Exit;
use crate::output;
use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};
use spotlight_core::text::cut;
use spotlight_states::{
    names, BoxFuture, EventDetails, EventType, ExecutionResult, HistoryEvent, InspectionLevel,
    MockConfig, Problem, RunOptions, StateConfiguration, StateMachine, StatesError, Status,
    TaskInvoker, TaskRequest, TestMock, TestStateError, TestStateOptions, TestStateOutput,
    TestStateStatus,
};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of a state machine read from standard input, as Step Functions Local names one.
const STDIN_MACHINE_NAME: &str = "StateMachine";

/// How many characters of JSON an event line shows, counting the `…` that ends a cut one.
const SUMMARY_CHARS: usize = 101;

/// `spotlight states …`, resolved.
#[derive(Debug)]
pub enum Config {
    /// `states run`.
    Run(RunConfig),
    /// `states validate`.
    Validate(ValidateConfig),
    /// `states eval`.
    Eval(EvalConfig),
    /// `states test-state`.
    TestState(TestStateConfig),
}

/// `states test-state`, resolved: which file is standard input, and the mock.
#[derive(Debug)]
pub struct TestStateConfig {
    definition: Source,
    state_name: Option<String>,
    input: Option<Source>,
    variables: Option<Source>,
    mock: Option<MockArg>,
    context: Option<Source>,
    substitutions: Option<Source>,
    state_configuration: StateConfiguration,
    inspection_level: InspectionLevel,
    json: bool,
}

/// `--mock-result` (JSON text or a file) or `--mock-error` with its cause.
#[derive(Debug)]
enum MockArg {
    Result(String),
    ResultFile(Source),
    Error {
        error: String,
        cause: Option<String>,
    },
}

/// `states eval`, resolved: the variables parsed and checked.
#[derive(Debug)]
pub struct EvalConfig {
    expression: String,
    input: Option<Source>,
    variables: Map<String, Value>,
}

/// `states run`, resolved.
#[derive(Debug)]
pub struct RunConfig {
    definition: Source,
    input: Source,
    substitutions: Option<Source>,
    mock: Option<(Source, String)>,
    name: String,
    history: bool,
    json: bool,
}

/// `states validate`, resolved.
#[derive(Debug)]
pub struct ValidateConfig {
    definition: Source,
    substitutions: Option<Source>,
    json: bool,
}

impl Config {
    /// Resolves the arguments: which file is standard input (one at most) and the machine's
    /// name.
    pub fn from_cli(command: StatesCommand) -> anyhow::Result<Config> {
        Ok(match command {
            StatesCommand::Run(args) => Config::Run(RunConfig::from_args(args)?),
            StatesCommand::Validate(args) => Config::Validate(ValidateConfig::from_args(args)?),
            StatesCommand::Eval(args) => Config::Eval(EvalConfig::from_args(args)?),
            StatesCommand::TestState(args) => Config::TestState(TestStateConfig::from_args(args)?),
        })
    }
}

impl RunConfig {
    fn from_args(args: StatesRunArgs) -> anyhow::Result<RunConfig> {
        let definition = Source::new(args.definition, "--definition");
        let input = Source::new(args.input, "--input");
        let substitutions = args
            .substitutions
            .map(|p| Source::new(p, "--substitutions"));
        // clap's `requires` makes these two come together.
        let mock = match (args.mock_config, args.test_case) {
            (Some(p), Some(case)) => Some((Source::new(p, "--mock-config"), case)),
            (None, None) => None,
            _ => bail!("--mock-config and --test-case go together"),
        };
        one_stdin_at_most([
            Some(&definition),
            Some(&input),
            substitutions.as_ref(),
            mock.as_ref().map(|(s, _)| s),
        ])?;
        let name = match args.name {
            Some(n) => check_machine_name(n)?,
            None => definition.machine_name(),
        };
        Ok(RunConfig {
            definition,
            input,
            substitutions,
            mock,
            name,
            history: args.history,
            json: args.json,
        })
    }
}

impl ValidateConfig {
    fn from_args(args: StatesValidateArgs) -> anyhow::Result<ValidateConfig> {
        let definition = Source::new(args.definition, "the definition");
        let substitutions = args
            .substitutions
            .map(|p| Source::new(p, "--substitutions"));
        one_stdin_at_most([Some(&definition), substitutions.as_ref()])?;
        Ok(ValidateConfig {
            definition,
            substitutions,
            json: args.json,
        })
    }
}

impl TestStateConfig {
    fn from_args(args: StatesTestStateArgs) -> anyhow::Result<TestStateConfig> {
        let definition = Source::new(args.definition, "the definition");
        let input = args.input.map(|p| Source::new(p, "--input"));
        let variables = args.variables.map(|p| Source::new(p, "--variables"));
        let context = args.context.map(|p| Source::new(p, "--context"));
        let substitutions = args
            .substitutions
            .map(|p| Source::new(p, "--substitutions"));
        // clap keeps --mock-result and --mock-error apart.
        let mock = match (args.mock_result, args.mock_error) {
            (Some(text), _) => Some(match text.strip_prefix('@') {
                Some(file) => MockArg::ResultFile(Source::new(file.into(), "--mock-result")),
                None => MockArg::Result(text),
            }),
            (None, Some(error)) => Some(MockArg::Error {
                error,
                cause: args.mock_cause,
            }),
            (None, None) => None,
        };
        let mock_file = match &mock {
            Some(MockArg::ResultFile(source)) => Some(source),
            _ => None,
        };
        one_stdin_at_most([
            Some(&definition),
            input.as_ref(),
            variables.as_ref(),
            context.as_ref(),
            substitutions.as_ref(),
            mock_file,
        ])?;
        Ok(TestStateConfig {
            definition,
            state_name: args.state_name,
            input,
            variables,
            mock,
            context,
            substitutions,
            state_configuration: StateConfiguration {
                retrier_retry_count: args.retrier_retry_count,
                map_iteration_failure_count: args.map_iteration_failure_count,
                error_caused_by_state: None,
            },
            inspection_level: args.inspection_level,
            json: args.json,
        })
    }
}

impl EvalConfig {
    fn from_args(args: StatesEvalArgs) -> anyhow::Result<EvalConfig> {
        let mut variables = Map::new();
        for var in &args.vars {
            let (name, json) = var
                .split_once('=')
                .ok_or_else(|| anyhow!("--var '{var}' is not NAME=JSON"))?;
            check_variable_name(name)?;
            let value: Value = serde_json::from_str(json)
                .with_context(|| format!("the value of --var {name} is not valid JSON"))?;
            // A repeated name would silently lose all but one value.
            if variables.insert(name.to_string(), value).is_some() {
                bail!("--var {name} is given more than once");
            }
        }
        Ok(EvalConfig {
            expression: args.expression,
            input: args.input.map(|p| Source::new(p, "--input")),
            variables,
        })
    }
}

/// A workflow variable name as AWS accepts it: a letter or `_`, then letters, digits and `_`;
/// `states` is reserved for `$states`.
fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        bail!("'{name}' is not a variable name (a letter or _, then letters, digits and _)");
    }
    if name == "states" {
        bail!("$states is reserved: --input sets $states.input");
    }
    Ok(())
}

/// Runs `spotlight states …`.
pub fn execute(config: Config) -> anyhow::Result<Exit> {
    match config {
        Config::Run(c) => run(c),
        Config::Validate(c) => validate(c),
        Config::Eval(c) => eval(c),
        Config::TestState(c) => test_state(c),
    }
}

/// Reads a JSON file argument.
fn read_json(source: &Source, what: &str) -> anyhow::Result<Value> {
    let text = source.read(what)?;
    serde_json::from_str(&text)
        .with_context(|| format!("{what} in {} is not valid JSON", source.describe()))
}

fn test_state(config: TestStateConfig) -> anyhow::Result<Exit> {
    let substitutions = read_substitutions(config.substitutions.as_ref())?;
    let definition = config.definition.read("the definition")?;
    report_unsubstituted(&definition, &substitutions, true);
    let input = match &config.input {
        Some(source) => read_json(source, "the input")?,
        None => Value::Object(Map::new()),
    };
    let variables = match &config.variables {
        Some(source) => match read_json(source, "the variables")? {
            Value::Object(map) => Some(map),
            other => bail!(
                "the variables in {} must be a JSON object of {{\"name\": value}}, not {}",
                source.describe(),
                kind_of(&other)
            ),
        },
        None => None,
    };
    let context = match &config.context {
        Some(source) => Some(read_json(source, "the Context object")?),
        None => None,
    };
    // AWS's wording for a mocked result that is not JSON.
    let mocked = |text: &str| -> anyhow::Result<TestMock> {
        let value = serde_json::from_str(text)
            .map_err(|e| anyhow!("Mocked result must be valid JSON ({e})"))?;
        Ok(TestMock::Result(value))
    };
    let mock = match &config.mock {
        None => None,
        Some(MockArg::Result(text)) => Some(mocked(text)?),
        Some(MockArg::ResultFile(source)) => Some(mocked(&source.read("the mocked result")?)?),
        Some(MockArg::Error { error, cause }) => Some(TestMock::Error(StatesError {
            error: error.clone(),
            cause: cause.clone(),
        })),
    };
    let options = TestStateOptions {
        input,
        state_name: config.state_name.clone(),
        inspection_level: config.inspection_level,
        variables,
        mock,
        state_configuration: config.state_configuration.clone(),
        context,
        substitutions,
        invoker: Some(Arc::new(NoTaskRunner {
            test_case: None,
            test_state: true,
        })),
        ..TestStateOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    let tested = match runtime.block_on(spotlight_states::test_state(&definition, options)) {
        Ok(tested) => tested,
        Err(TestStateError::InvalidDefinition(e)) => {
            let problems = e.into_problems();
            let lines: Vec<String> = problems.iter().map(problem_line).collect();
            bail!(
                "the definition in {} is not valid ({} problem{}):\n  {}",
                config.definition.describe(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                lines.join("\n  ")
            );
        }
        Err(e @ TestStateError::Engine(_)) => {
            return Err(anyhow::Error::new(e).context("the state machine engine failed"))
        }
        // AWS's refusal, in its words.
        Err(refused) => bail!("{refused}"),
    };
    let text = if config.json {
        format!("{}\n", serde_json::to_string(&tested)?)
    } else {
        human_test_state(&tested)?
    };
    output::print(&text)?;
    Ok(match tested.status {
        TestStateStatus::Succeeded | TestStateStatus::CaughtError => Exit::Success,
        TestStateStatus::Failed | TestStateStatus::Retriable => Exit::Failure,
    })
}

/// The status, the next state, the output (indented) or the error and cause, then at DEBUG
/// and TRACE each inspection stage on its own line, its JSON compact.
fn human_test_state(tested: &TestStateOutput) -> anyhow::Result<String> {
    let mut text = String::new();
    if let Value::String(status) = serde_json::to_value(tested.status)? {
        let _ = writeln!(text, "{status}");
    }
    if let Some(error) = &tested.error {
        let _ = writeln!(text, "error: {error}");
    }
    if let Some(cause) = &tested.cause {
        let _ = writeln!(text, "cause: {cause}");
    }
    if let Some(next) = &tested.next_state {
        let _ = writeln!(text, "next state: {next}");
    }
    if let Some(output) = &tested.output {
        text.push_str(&serde_json::to_string_pretty(output)?);
        text.push('\n');
    }
    if let Some(data) = &tested.inspection_data {
        text.push_str("inspection:\n");
        if let Value::Object(stages) = serde_json::to_value(data)? {
            for (stage, value) in stages {
                // JSON-text stages print as their text; numbers and errorDetails as JSON.
                let shown = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let _ = writeln!(text, "  {stage}: {shown}");
            }
        }
    }
    Ok(text)
}

fn eval(config: EvalConfig) -> anyhow::Result<Exit> {
    let input = match &config.input {
        Some(source) => {
            let text = source.read("the input")?;
            serde_json::from_str(&text)
                .with_context(|| format!("the input in {} is not valid JSON", source.describe()))?
        }
        None => Value::Object(Map::new()),
    };
    let states = serde_json::json!({ "input": input });
    match spotlight_states::jsonata::evaluate(&config.expression, &states, &config.variables) {
        Ok(Some(value)) => output::print(&format!("{value}\n"))?,
        Ok(None) => tracing::info!("the expression is undefined"),
        Err(e) => {
            // The error's own text: `States.QueryEvaluationError: <cause>`.
            let _ = writeln!(std::io::stderr(), "{e}");
            return Ok(Exit::Failure);
        }
    }
    Ok(Exit::Success)
}

/// Where a file argument reads from.
#[derive(Debug)]
enum Source {
    Stdin { arg: &'static str },
    File { path: PathBuf },
}

impl Source {
    fn new(path: PathBuf, arg: &'static str) -> Source {
        if path.as_os_str() == "-" {
            Source::Stdin { arg }
        } else {
            Source::File { path }
        }
    }

    /// How messages name it.
    fn describe(&self) -> String {
        match self {
            Source::Stdin { .. } => "standard input".into(),
            Source::File { path } => format!("'{}'", path.display()),
        }
    }

    /// `what` names the content in the error, e.g. "the definition".
    fn read(&self, what: &str) -> anyhow::Result<String> {
        tracing::debug!("reading {what} from {}", self.describe());
        match self {
            Source::Stdin { .. } => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .with_context(|| format!("cannot read {what} from standard input"))?;
                Ok(text)
            }
            Source::File { path } => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {what} from '{}'", path.display())),
        }
    }

    /// The default state machine name for a definition read from here: the file's name
    /// without `.asl.json` (the usual double extension of ASL files) or else its extension.
    fn machine_name(&self) -> String {
        match self {
            Source::Stdin { .. } => STDIN_MACHINE_NAME.into(),
            Source::File { path } => file_machine_name(path),
        }
    }
}

fn file_machine_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match file.len().checked_sub(".asl.json".len()) {
        Some(cut)
            if cut > 0
                && file.is_char_boundary(cut)
                && file[cut..].eq_ignore_ascii_case(".asl.json") =>
        {
            file[..cut].to_string()
        }
        _ => Path::new(&file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if stem.is_empty() {
        STDIN_MACHINE_NAME.into()
    } else {
        stem
    }
}

/// Step Functions' rule for state machine names: 1 to 80 characters, none of them whitespace,
/// a control character, or one of `<>{}[]?*"#%\^|~`$&,;:/`.
fn check_machine_name(name: String) -> anyhow::Result<String> {
    let len = name.chars().count();
    if !(1..=80).contains(&len) {
        bail!("--name must be 1 to 80 characters long, not {len}");
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(*c))
    {
        bail!("--name cannot contain {c:?}: Step Functions refuses such a state machine name");
    }
    Ok(name)
}

fn one_stdin_at_most<'a>(
    sources: impl IntoIterator<Item = Option<&'a Source>>,
) -> anyhow::Result<()> {
    let stdin: Vec<&str> = sources
        .into_iter()
        .flatten()
        .filter_map(|s| match s {
            Source::Stdin { arg } => Some(*arg),
            Source::File { .. } => None,
        })
        .collect();
    if stdin.len() > 1 {
        bail!(
            "only one file can be read from standard input, but '-' was given for {}",
            stdin.join(" and ")
        );
    }
    Ok(())
}

/// Reads `{"Name": "value", …}`. Numbers and booleans are taken as their JSON text, as
/// CloudFormation turns them into strings; anything else is refused.
fn read_substitutions(source: Option<&Source>) -> anyhow::Result<HashMap<String, String>> {
    let Some(source) = source else {
        return Ok(HashMap::new());
    };
    let text = source.read("the substitutions")?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "the substitutions in {} are not valid JSON",
            source.describe()
        )
    })?;
    let Value::Object(map) = value else {
        bail!(
            "the substitutions in {} must be a JSON object of {{\"Name\": \"value\"}}",
            source.describe()
        );
    };
    map.into_iter()
        .map(|(name, v)| match v {
            Value::String(s) => Ok((name, s)),
            Value::Number(_) | Value::Bool(_) => Ok((name, v.to_string())),
            other => Err(anyhow!(
                "the substitution '{name}' in {} must be a string, not {}",
                source.describe(),
                kind_of(&other)
            )),
        })
        .collect()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Says which `${Name}`s the substitutions leave in the definition: the engine keeps them as
/// written (CloudFormation would refuse the template). A warning when running, where it is the
/// likely reason a task fails; only information when validating, where it changes nothing.
fn report_unsubstituted(definition: &str, substitutions: &HashMap<String, String>, running: bool) {
    let mut missing = BTreeSet::new();
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !substitutions.contains_key(name)
        {
            missing.insert(name);
        }
        rest = &after[end + 1..];
    }
    for name in missing {
        if running {
            tracing::warn!("no substitution for ${{{name}}}: the definition keeps it as written");
        } else {
            tracing::info!("no substitution for ${{{name}}}: the definition keeps it as written");
        }
    }
}

/// Reads and checks the definition; `Err` carries the problems.
fn load_definition(
    source: &Source,
    substitutions: &HashMap<String, String>,
    running: bool,
) -> anyhow::Result<Result<StateMachine, Vec<Problem>>> {
    let text = source.read("the definition")?;
    report_unsubstituted(&text, substitutions, running);
    Ok(StateMachine::parse(&text, substitutions).map_err(|e| e.into_problems()))
}

fn problem_path(p: &Problem) -> &str {
    if p.pointer.is_empty() {
        "/"
    } else {
        &p.pointer
    }
}

fn problem_line(p: &Problem) -> String {
    format!("{}: {}: {}", problem_path(p), p.code, p.message)
}

fn validate(config: ValidateConfig) -> anyhow::Result<Exit> {
    let subs = read_substitutions(config.substitutions.as_ref())?;
    let problems = match load_definition(&config.definition, &subs, false)? {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    };
    let text = if config.json {
        let mut obj = Map::new();
        obj.insert("valid".into(), problems.is_empty().into());
        if !problems.is_empty() {
            let list = problems
                .iter()
                .map(|p| {
                    let mut o = Map::new();
                    o.insert("path".into(), p.pointer.clone().into());
                    o.insert("code".into(), p.code.into());
                    o.insert("message".into(), p.message.clone().into());
                    Value::Object(o)
                })
                .collect();
            obj.insert("problems".into(), Value::Array(list));
        }
        format!("{}\n", Value::Object(obj))
    } else if problems.is_empty() {
        "valid\n".to_string()
    } else {
        problems.iter().map(|p| problem_line(p) + "\n").collect()
    };
    output::print(&text)?;
    Ok(if problems.is_empty() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

fn run(config: RunConfig) -> anyhow::Result<Exit> {
    let subs = read_substitutions(config.substitutions.as_ref())?;
    let machine = match load_definition(&config.definition, &subs, true)? {
        Ok(m) => m,
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(problem_line).collect();
            bail!(
                "the definition in {} is not valid ({} problem{}):\n  {}",
                config.definition.describe(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                lines.join("\n  ")
            );
        }
    };
    let input_text = config.input.read("the input")?;
    let input: Value = serde_json::from_str(&input_text)
        .with_context(|| format!("the input in {} is not valid JSON", config.input.describe()))?;
    let invoker: Arc<dyn TaskInvoker> = match &config.mock {
        Some((source, case)) => {
            let text = source.read("the mock configuration")?;
            let mocks = MockConfig::parse(&text)
                .with_context(|| format!("in the mock configuration {}", source.describe()))?;
            let invoker = mocks
                .invoker(&config.name, case)
                .with_context(|| format!("in the mock configuration {}", source.describe()))?;
            Arc::new(invoker.with_fallback(Arc::new(NoTaskRunner {
                test_case: Some(case.clone()),
                test_state: false,
            })))
        }
        None => Arc::new(NoTaskRunner {
            test_case: None,
            test_state: false,
        }),
    };
    tracing::info!(
        "running state machine '{}' (starts at '{}')",
        config.name,
        machine.start_at()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    let options = RunOptions {
        state_machine_name: config.name.clone(),
        history: config.history,
        ..RunOptions::default()
    };
    let result = runtime
        .block_on(machine.run(input, invoker, options))
        .context("the state machine engine failed")?;
    tracing::info!(
        "execution {} ended: {}",
        result.execution_arn,
        status_name(result.status)?
    );
    let text = if config.json {
        format!("{}\n", json_result(&result)?)
    } else {
        human_result(&result)?
    };
    output::print(&text)?;
    Ok(match result.status {
        Status::Succeeded => Exit::Success,
        Status::Failed | Status::TimedOut => Exit::Failure,
    })
}

/// What runs a task that no mock answers: nothing can, offline, so it fails, naming what it
/// would have called.
struct NoTaskRunner {
    test_case: Option<String>,
    /// For `states test-state`, whose mock options differ.
    test_state: bool,
}

impl TaskInvoker for NoTaskRunner {
    fn invoke<'a>(&'a self, request: TaskRequest<'a>) -> BoxFuture<'a, Result<Value, StatesError>> {
        let mut target = format!("resource '{}'", request.resource);
        if let Some(f) = request
            .parameters
            .get("FunctionName")
            .and_then(Value::as_str)
        {
            let _ = write!(target, " (FunctionName '{f}')");
        }
        let cause = match &self.test_case {
            _ if self.test_state => format!(
                "spotlight states test-state calls no real service: state '{}' cannot run \
                 {target}. Give --mock-result or --mock-error to mock its response.",
                request.state_name
            ),
            Some(case) => format!(
                "The test case '{case}' of the mock configuration has no response for state \
                 '{}', and spotlight states run calls no real service: it cannot run {target}.",
                request.state_name
            ),
            None => format!(
                "spotlight states run calls no real service: state '{}' cannot run {target}. \
                 Give --mock-config and --test-case to mock its response.",
                request.state_name
            ),
        };
        Box::pin(async move { Err(StatesError::new(names::TASK_FAILED, cause)) })
    }
}

fn status_name(status: Status) -> anyhow::Result<String> {
    match serde_json::to_value(status)? {
        Value::String(s) => Ok(s),
        other => Err(anyhow!("unexpected status {other}")),
    }
}

/// `{"status", "output" | "error" + "cause", "history"?}`.
fn json_result(result: &ExecutionResult) -> anyhow::Result<Value> {
    let mut obj = Map::new();
    obj.insert("status".into(), status_name(result.status)?.into());
    if let Some(output) = &result.output {
        obj.insert("output".into(), output.clone());
    }
    if let Some(error) = &result.error {
        obj.insert("error".into(), error.clone().into());
    }
    if let Some(cause) = &result.cause {
        obj.insert("cause".into(), cause.clone().into());
    }
    if let Some(history) = &result.history {
        obj.insert("history".into(), serde_json::to_value(history)?);
    }
    Ok(Value::Object(obj))
}

fn human_result(result: &ExecutionResult) -> anyhow::Result<String> {
    let mut text = String::new();
    if let Some(history) = &result.history {
        text.push_str(&history_lines(&history.events));
        text.push('\n');
    }
    text.push_str(&status_name(result.status)?);
    text.push('\n');
    if let Some(output) = &result.output {
        text.push_str(&serde_json::to_string_pretty(output)?);
        text.push('\n');
    }
    if let Some(error) = &result.error {
        let _ = writeln!(text, "error: {error}");
    }
    if let Some(cause) = &result.cause {
        let _ = writeln!(text, "cause: {cause}");
    }
    Ok(text)
}

/// One line per event: id, seconds since the first event, type, state, summary.
pub(crate) fn history_lines(events: &[HistoryEvent]) -> String {
    // An event without a name belongs to the state whose entry it follows in its branch, except
    // the end of a Parallel or Map, which follows its last branch or iteration.
    let by_id: HashMap<u64, &HistoryEvent> = events.iter().map(|e| (e.id, e)).collect();
    let mut state_of: HashMap<u64, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let state = match &e.details {
            _ if closes_branches(e.kind) => started_by(e, &by_id)
                .and_then(|id| state_of.get(&id))
                .cloned()
                .unwrap_or_default(),
            Some(EventDetails::StateEntered(d)) => d.name.clone(),
            Some(EventDetails::StateExited(d)) => d.name.clone(),
            Some(
                EventDetails::MapIterationStarted(d)
                | EventDetails::MapIterationSucceeded(d)
                | EventDetails::MapIterationFailed(d),
            ) => d.name.clone(),
            _ if is_execution_event(e.kind) => String::new(),
            _ => state_of
                .get(&e.previous_event_id)
                .cloned()
                .unwrap_or_default(),
        };
        state_of.insert(e.id, state.clone());
        rows.push((e, state));
    }
    let start = events.first().map(|e| e.timestamp);
    let name_width = rows
        .iter()
        .map(|(_, s)| s.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(1, 30);
    let mut text = String::new();
    for (e, state) in rows {
        let elapsed = start
            .map(|s| (e.timestamp - s).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0);
        let kind = format!("{:?}", e.kind);
        let state = if state.is_empty() { "-".into() } else { state };
        let line = format!(
            "{:>4}  {:>+8.3}s  {:<24} {:<name_width$}  {}",
            e.id,
            elapsed,
            kind,
            state,
            summary(e.details.as_ref())
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn closes_branches(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::ParallelStateSucceeded
            | EventType::ParallelStateFailed
            | EventType::MapStateSucceeded
            | EventType::MapStateFailed
    )
}

/// The id of the `ParallelStateStarted`/`MapStateStarted` event that `end` (a
/// [`closes_branches`] event) closes: back along the branch, skipping nested ones.
fn started_by(end: &HistoryEvent, by_id: &HashMap<u64, &HistoryEvent>) -> Option<u64> {
    let mut depth = 0usize;
    let mut id = end.previous_event_id;
    while let Some(e) = by_id.get(&id) {
        match e.kind {
            k if closes_branches(k) => depth += 1,
            EventType::ParallelStateStarted | EventType::MapStateStarted => {
                if depth == 0 {
                    return Some(e.id);
                }
                depth -= 1;
            }
            _ => {}
        }
        // Ids only ever point back, so this ends.
        if e.previous_event_id >= id {
            return None;
        }
        id = e.previous_event_id;
    }
    None
}

fn is_execution_event(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::ExecutionStarted
            | EventType::ExecutionSucceeded
            | EventType::ExecutionFailed
            | EventType::ExecutionTimedOut
            | EventType::ExecutionRedriven
    )
}

fn summary(details: Option<&EventDetails>) -> String {
    let Some(details) = details else {
        return String::new();
    };
    match details {
        EventDetails::ExecutionStarted(d) => format!("input {}", cut(&d.input, SUMMARY_CHARS)),
        EventDetails::ExecutionSucceeded(d) => format!("output {}", cut(&d.output, SUMMARY_CHARS)),
        EventDetails::ExecutionFailed(d) | EventDetails::ExecutionTimedOut(d) => {
            failure(d.error.as_deref(), d.cause.as_deref())
        }
        EventDetails::ExecutionRedriven(d) => format!("redrive {}", d.redrive_count),
        EventDetails::StateEntered(d) => format!("input {}", cut(&d.input, SUMMARY_CHARS)),
        EventDetails::StateExited(d) => format!("output {}", cut(&d.output, SUMMARY_CHARS)),
        EventDetails::TaskScheduled(d) => {
            format!(
                "{}:{} {}",
                d.resource_type,
                d.resource,
                cut(&d.parameters, SUMMARY_CHARS)
            )
        }
        EventDetails::TaskStarted(d) => format!("{}:{}", d.resource_type, d.resource),
        EventDetails::TaskSucceeded(d) => format!("output {}", cut(&d.output, SUMMARY_CHARS)),
        EventDetails::TaskFailed(d) | EventDetails::TaskTimedOut(d) => {
            failure(d.error.as_deref(), d.cause.as_deref())
        }
        EventDetails::MapStateStarted(d) => format!("{} items", d.length),
        EventDetails::MapIterationStarted(d)
        | EventDetails::MapIterationSucceeded(d)
        | EventDetails::MapIterationFailed(d) => format!("index {}", d.index),
        EventDetails::EvaluationFailed(d) => {
            format!(
                "{}: {}",
                d.location,
                failure(Some(&d.error), d.cause.as_deref())
            )
        }
    }
}

fn failure(error: Option<&str>, cause: Option<&str>) -> String {
    let error = error.unwrap_or("(no error name)");
    match cause {
        Some(c) => format!("error {error}: {}", cut(c, SUMMARY_CHARS)),
        None => format!("error {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_drop_the_asl_extension() {
        let name = |p: &str| file_machine_name(Path::new(p));
        assert_eq!(name("statemachine/pipeline.asl.json"), "pipeline");
        assert_eq!(name("Flow.ASL.JSON"), "Flow");
        assert_eq!(name("dir/hello.json"), "hello");
        assert_eq!(name("plain"), "plain");
        assert_eq!(name(".asl.json"), ".asl");
        assert_eq!(name("ünï.asl.json"), "ünï");
    }

    #[test]
    fn machine_names_follow_step_functions_rules() {
        assert!(check_machine_name("Pipeline-v2_test.1".into()).is_ok());
        assert!(check_machine_name("ünï".into()).is_ok());
        for bad in ["", "a b", "a/b", "a:b", "a$b", "tab\t", &"x".repeat(81)] {
            assert!(check_machine_name(bad.into()).is_err(), "{bad:?}");
        }
    }
}
