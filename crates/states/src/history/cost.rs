//! What an execution used and what it would cost on AWS, read from its history alone, so the
//! same report comes out of the local engine's history and of AWS's `GetExecutionHistory`
//! (both are read through [`HistoryRecord`], the one history reader, plus [`CostRecord`] for the
//! task events' parameters and results).
//!
//! Prices are data: [`PriceSheet::published`] is `pricing/aws-prices.json`, one region's
//! published prices with the date they were read and the page each one came from.
//!
//! Counting rules:
//! - **State transitions (Standard).** AWS "counts a state transition each time a step of
//!   your workflow is executed … including retries": every `…StateEntered` event is one (the
//!   Parallel or Map state itself, each state of each branch or iteration, `Succeed` and `Fail`
//!   included), and every retry of a state (an attempt after its first, as [`attribute`] counts
//!   them) is one more.
//! - **Free tiers are ignored**, and every price is the first (most expensive) volume tier: the
//!   report is what one more execution costs an account already past them.
//! - **Express** bills one request per execution plus its duration, from `ExecutionStarted` to
//!   the event that ended it, rounded up to the next 100 ms, times its memory in 64 MB chunks.
//!   The memory is AWS's published estimate: 50 MB + the definition's size + the execution data
//!   size × the number of Parallel branches and Map iterations that ran (at least 1); the data
//!   size taken is the peak payload below, and MB is 1,000 KB as AWS's example computes it.
//!   AWS reports the real figure per execution (`billingDetails`); this is an estimate.
//! - **Peak payload** is the largest serialised text among the history's execution and state
//!   inputs and outputs, task parameters and task results, in bytes, against Step Functions'
//!   256 KiB (262,144 bytes) limit on data passed between states.
//! - **Lambda** bills each invocation once (an attempt Lambda refused with
//!   `Lambda.TooManyRequestsException` never ran, so it is not counted) and its duration, taken
//!   as the task's start (`TaskStarted`, else `TaskScheduled`) to its result, rounded up to the
//!   next millisecond (at least 1), at the memory and architecture the price sheet takes from
//!   the deployment template. The history's times include the invocation's round trip, so this
//!   slightly overestimates what Lambda bills.
//! - **Rekognition** bills per image analysed: each *succeeded* attempt of a task whose Lambda
//!   function name contains one of the price sheet's `tasks` patterns counts that pattern's
//!   calls (a failed attempt was throttled or refused, which is not an analysed image). The
//!   match ignores case and punctuation, so `spotlight-detect-labels` (local) and
//!   `stack-DetectLabelsFunction-ABC` (a SAM deployment) both match `detect-labels`.

use super::attribution::{attribute, HistoryRecord};
use super::{EventDetails, HistoryEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Step Functions' limit on the data passed between states: 256 KiB.
pub const PAYLOAD_LIMIT_BYTES: u64 = 256 * 1024;

/// `pricing/aws-prices.json`, as shipped.
const PUBLISHED: &str = include_str!("../../../../pricing/aws-prices.json");

/// A price sheet that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// Not the JSON shape of `pricing/aws-prices.json`.
    #[error("the price sheet is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// It prices Lambda on an architecture it has no price for.
    #[error("the price sheet has no Lambda price for architecture {0:?}")]
    NoLambdaPrice(String),
    /// A task pattern names a Rekognition API it has no price for.
    #[error("the price sheet has no price for Rekognition {0}")]
    NoApiPrice(String),
}

/// Published prices of one region, with where and when they were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceSheet {
    /// The region the prices are for (`us-east-1`).
    pub region: String,
    /// `USD`.
    pub currency: String,
    /// The day the pages were read (`2026-12-03`).
    pub read_on: String,
    /// How the report treats free tiers.
    pub free_tier: String,
    /// Step Functions.
    pub step_functions: StepFunctionsPrices,
    /// Lambda, and the functions' memory and architecture.
    pub lambda: LambdaPrices,
    /// Rekognition Image.
    pub rekognition: RekognitionPrices,
    /// Which tasks call which Rekognition APIs.
    pub tasks: Vec<TaskCalls>,
}

/// Step Functions' two workflow types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepFunctionsPrices {
    /// Standard workflows.
    pub standard: StandardPrices,
    /// Express workflows.
    pub express: ExpressPrices,
}

/// Standard workflows: per state transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardPrices {
    /// USD per 1,000 state transitions.
    pub usd_per1000_state_transitions: f64,
    /// The page the price was read from.
    pub source: String,
    /// What it says.
    pub quote: String,
}

/// Express workflows: per request and per GB of memory over the duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressPrices {
    /// USD per million executions started.
    pub usd_per_million_requests: f64,
    /// USD per GB-hour, first tier.
    pub usd_per_gb_hour: f64,
    /// The duration is rounded up to a multiple of this.
    pub duration_rounding_ms: u64,
    /// The memory is billed in chunks of this.
    pub memory_chunk_mb: u64,
    /// The memory every execution uses, before its definition and data.
    pub base_memory_mb: u64,
    /// The page the prices were read from.
    pub source: String,
    /// What it says.
    pub quote: String,
}

/// Lambda: per request and per GB-second, and the deployment's memory and architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaPrices {
    /// USD per million invocations.
    pub usd_per_million_requests: f64,
    /// USD per GB-second, first tier, by architecture (`arm64`, `x86_64`).
    pub usd_per_gb_second: BTreeMap<String, f64>,
    /// Durations are rounded up to a multiple of this.
    pub duration_rounding_ms: u64,
    /// The functions' `MemorySize`.
    pub memory_mb: u64,
    /// The functions' architecture.
    pub architecture: String,
    /// The page the prices were read from.
    pub source: String,
    /// What it says.
    pub quote: String,
}

/// Rekognition Image: per image, by API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RekognitionPrices {
    /// USD per image, first tier, by API name.
    pub usd_per_image: BTreeMap<String, f64>,
    /// The page the prices were read from.
    pub source: String,
    /// What it says.
    pub quote: String,
}

/// The Rekognition APIs a Lambda task calls once per succeeded attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCalls {
    /// Matched against the function name, ignoring case and punctuation.
    pub function_name_contains: String,
    /// The APIs it calls, one image each.
    pub rekognition: Vec<String>,
}

impl PriceSheet {
    /// The shipped sheet, `pricing/aws-prices.json`.
    pub fn published() -> Result<PriceSheet, PriceError> {
        PriceSheet::from_json(PUBLISHED)
    }

    /// A sheet from its JSON text, checked for the prices the report needs.
    pub fn from_json(text: &str) -> Result<PriceSheet, PriceError> {
        let sheet: PriceSheet = serde_json::from_str(text)?;
        if !sheet
            .lambda
            .usd_per_gb_second
            .contains_key(&sheet.lambda.architecture)
        {
            return Err(PriceError::NoLambdaPrice(sheet.lambda.architecture));
        }
        for api in sheet.tasks.iter().flat_map(|task| &task.rekognition) {
            if !sheet.rekognition.usd_per_image.contains_key(api) {
                return Err(PriceError::NoApiPrice(api.clone()));
            }
        }
        Ok(sheet)
    }

    /// The Rekognition APIs a function calls, by its name.
    fn calls_of(&self, function: &str) -> impl Iterator<Item = &str> {
        let function = squash(function);
        self.tasks
            .iter()
            .filter(move |task| function.contains(&squash(&task.function_name_contains)))
            .flat_map(|task| task.rekognition.iter().map(String::as_str))
    }
}

/// Lower case, letters and digits only.
fn squash(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What the cost report reads of an event besides what [`HistoryRecord`] gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFacts<'e> {
    /// `resourceType` of a task event (`lambda`, `events`, …).
    pub resource_type: Option<&'e str>,
    /// `resource` of a task event (`invoke`; a function ARN on `LambdaFunction…` events).
    pub resource: Option<&'e str>,
    /// The resolved parameters of `TaskScheduled`, as JSON text.
    pub parameters: Option<&'e str>,
    /// The result of `TaskSucceeded`, as JSON text.
    pub result: Option<&'e str>,
}

/// An event the cost report can read: a [`HistoryEvent`] or the JSON of one.
pub trait CostRecord: HistoryRecord {
    /// The task facts of this event (all `None` for an event that is no task event).
    fn task_facts(&self) -> TaskFacts<'_>;
}

impl CostRecord for HistoryEvent {
    fn task_facts(&self) -> TaskFacts<'_> {
        match &self.details {
            Some(EventDetails::TaskScheduled(d)) => TaskFacts {
                resource_type: Some(&d.resource_type),
                resource: Some(&d.resource),
                parameters: Some(&d.parameters),
                result: None,
            },
            Some(EventDetails::TaskStarted(d)) => TaskFacts {
                resource_type: Some(&d.resource_type),
                resource: Some(&d.resource),
                ..TaskFacts::default()
            },
            Some(EventDetails::TaskSucceeded(d)) => TaskFacts {
                resource_type: Some(&d.resource_type),
                resource: Some(&d.resource),
                parameters: None,
                result: Some(&d.output),
            },
            Some(EventDetails::TaskFailed(d)) | Some(EventDetails::TaskTimedOut(d)) => TaskFacts {
                resource_type: Some(&d.resource_type),
                resource: Some(&d.resource),
                ..TaskFacts::default()
            },
            _ => TaskFacts::default(),
        }
    }
}

impl CostRecord for Value {
    fn task_facts(&self) -> TaskFacts<'_> {
        let Some(event) = self.as_object() else {
            return TaskFacts::default();
        };
        let is_task = event
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("Task") && !t.starts_with("TaskState"))
            || event
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("LambdaFunction"));
        if !is_task {
            return TaskFacts::default();
        }
        let details = event
            .iter()
            .find(|(name, _)| name.ends_with("EventDetails"))
            .map(|(_, details)| details);
        let text = |key: &str| details?.get(key)?.as_str();
        let succeeded = event
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("Succeeded"));
        TaskFacts {
            resource_type: text("resourceType"),
            resource: text("resource"),
            // `LambdaFunctionScheduled` carries its payload as `input`.
            parameters: text("parameters").or_else(|| text("input")),
            result: if succeeded { text("output") } else { None },
        }
    }
}

/// The largest payload of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadPeak {
    /// Its size in bytes, as serialised in the history.
    pub bytes: u64,
    /// The limit: 262,144 bytes.
    pub limit_bytes: u64,
    /// The state it belongs to (none for the execution's own input or output).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<String>,
    /// `input`, `output`, `parameters` or `result`.
    pub field: String,
}

/// One state's entries, summed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateCost {
    /// The state's name.
    pub name: String,
    /// How many times it was entered.
    pub entered: u32,
    /// Attempts over all entries (tasks, Parallel and Map states; 0 for the others).
    pub attempts: u32,
    /// Retries over all entries.
    pub retries: u32,
    /// Time from entering to leaving, summed over the entries that left.
    pub duration_ms: i64,
}

/// Lambda usage and its price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaCost {
    /// Invocations billed.
    pub invocations: u64,
    /// Their billed duration, summed.
    pub billed_ms: u64,
    /// The functions' memory.
    pub memory_mb: u64,
    /// Their architecture.
    pub architecture: String,
    /// `billedMs` × memory, in GB-seconds.
    pub gb_seconds: f64,
}

/// What Express would bill for the execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressCost {
    /// The duration, rounded up.
    pub billed_ms: u64,
    /// The estimated memory, in 64 MB chunks.
    pub billed_memory_mb: u64,
    /// Their product, in GB-seconds.
    pub gb_seconds: f64,
}

/// The execution's price, in the sheet's currency, per item and in total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Usd {
    /// Step Functions, as a Standard workflow.
    pub standard: f64,
    /// Step Functions, as an Express workflow (absent while the execution runs).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub express: Option<f64>,
    /// Lambda requests and duration.
    pub lambda: f64,
    /// Rekognition images.
    pub rekognition: f64,
    /// Standard + Lambda + Rekognition.
    pub total_standard: f64,
    /// Express + Lambda + Rekognition (absent while the execution runs).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_express: Option<f64>,
}

/// Which prices a report used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricesUsed {
    /// The region.
    pub region: String,
    /// The currency.
    pub currency: String,
    /// The day they were read.
    pub read_on: String,
    /// How free tiers are treated.
    pub free_tier: String,
}

/// The cost and limits report of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// State transitions, as Standard workflows bill them (entries + retries).
    pub transitions: u64,
    /// Retries over all states.
    pub retries: u64,
    /// From `ExecutionStarted` to the end (absent while the execution runs).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
    /// The largest payload (absent for a history without any).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peak_payload: Option<PayloadPeak>,
    /// Each state, in the order first entered.
    pub states: Vec<StateCost>,
    /// Lambda.
    pub lambda: LambdaCost,
    /// Rekognition images, by API.
    pub rekognition: BTreeMap<String, u64>,
    /// Express's billing of the execution (absent while it runs).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub express: Option<ExpressCost>,
    /// The price.
    pub usd: Usd,
    /// The prices used.
    pub prices: PricesUsed,
}

/// One task attempt, as read from the history.
#[derive(Debug, Default)]
struct Attempt {
    function: Option<String>,
    lambda: bool,
    scheduled_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    succeeded: bool,
    throttled: bool,
}

/// The function a task invokes: `FunctionName` of its parameters, or the resource itself when
/// it is a function ARN.
fn function_of(facts: &TaskFacts<'_>) -> Option<String> {
    let from_parameters = facts
        .parameters
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|parameters| {
            parameters
                .get("FunctionName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    from_parameters.or_else(|| {
        facts
            .resource
            .filter(|r| r.contains(":function:"))
            .map(str::to_owned)
    })
}

/// Rounds to ten decimal places, so sums of prices print as prices.
fn cents(value: f64) -> f64 {
    (value * 1e10).round() / 1e10
}

/// `value` rounded up to a multiple of `step` (a step of 0 is taken as 1).
fn round_up(value: u64, step: u64) -> u64 {
    let step = step.max(1);
    value.div_ceil(step) * step
}

/// The cost and limits report of the execution whose history is `events`.
/// `definition_bytes` is the size of its state machine's definition (for Express's memory).
pub fn report<E: CostRecord>(
    events: &[E],
    prices: &PriceSheet,
    definition_bytes: usize,
) -> CostReport {
    let attribution = attribute(events);
    let mut ordered: Vec<&E> = events.iter().collect();
    ordered.sort_by_key(|e| e.facts().and_then(|f| f.id).unwrap_or(u64::MAX));

    let mut entered = 0_u64;
    let mut branches = 0_u64;
    let mut peak: Option<PayloadPeak> = None;
    let mut started: Option<DateTime<Utc>> = None;
    let mut ended: Option<DateTime<Utc>> = None;
    let mut attempts: Vec<Attempt> = Vec::new();
    // Which attempt, state name and event type each event id belongs to, followed along
    // `previousEventId` because a Parallel's branches interleave.
    let mut attempt_of: HashMap<u64, usize> = HashMap::new();
    let mut state_of: HashMap<u64, String> = HashMap::new();
    let mut type_of: HashMap<u64, String> = HashMap::new();
    let mut last_id: Option<u64> = None;

    for event in ordered {
        let Some(facts) = event.facts() else {
            continue;
        };
        let task = event.task_facts();
        let previous = facts.previous_event_id.filter(|&p| p != 0).or(last_id);
        let kind = facts.event_type;
        let state = facts
            .state_name
            .map(str::to_owned)
            .or_else(|| previous.and_then(|p| state_of.get(&p).cloned()));
        if kind.ends_with("StateEntered") {
            entered += 1;
            let opener = previous.and_then(|p| type_of.get(&p)).map(String::as_str);
            if matches!(opener, Some("ParallelStateStarted" | "MapIterationStarted")) {
                branches += 1;
            }
        }
        match kind {
            "ExecutionStarted" => started = facts.timestamp,
            "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted" => {
                ended = facts.timestamp
            }
            _ => {}
        }
        let execution_level = kind.starts_with("Execution");
        let mut consider = |text: Option<&str>, field: &str| {
            let Some(text) = text else { return };
            let bytes = u64::try_from(text.len()).unwrap_or(u64::MAX);
            if peak.as_ref().is_none_or(|p| bytes > p.bytes) {
                peak = Some(PayloadPeak {
                    bytes,
                    limit_bytes: PAYLOAD_LIMIT_BYTES,
                    state: if execution_level { None } else { state.clone() },
                    field: field.to_owned(),
                });
            }
        };
        consider(facts.input, "input");
        // The JSON reader gives a task result as `output` too: count it once, as the result.
        match task.result {
            Some(result) => consider(Some(result), "result"),
            None => consider(facts.output, "output"),
        }
        consider(task.parameters, "parameters");

        let what = ["Task", "LambdaFunction"]
            .iter()
            .find_map(|prefix| kind.strip_prefix(prefix))
            .filter(|rest| !rest.starts_with("State"));
        let mut owner = previous.and_then(|p| attempt_of.get(&p).copied());
        match what {
            Some("Scheduled") => {
                attempts.push(Attempt {
                    function: function_of(&task),
                    lambda: task.resource_type == Some("lambda")
                        || kind.starts_with("LambdaFunction"),
                    scheduled_at: facts.timestamp,
                    ..Attempt::default()
                });
                owner = Some(attempts.len() - 1);
            }
            Some("Started") => {
                if let Some(a) = owner.and_then(|o| attempts.get_mut(o)) {
                    a.started_at = facts.timestamp;
                }
            }
            Some(rest) if rest == "Succeeded" || rest.ends_with("Failed") || rest == "TimedOut" => {
                if let Some(a) = owner.and_then(|o| attempts.get_mut(o)) {
                    a.ended_at = facts.timestamp;
                    a.succeeded = rest == "Succeeded";
                    a.throttled = facts.error == Some("Lambda.TooManyRequestsException");
                }
                owner = None;
            }
            _ => owner = None,
        }
        if let Some(id) = facts.id {
            if let Some(o) = owner {
                attempt_of.insert(id, o);
            }
            if let Some(s) = &state {
                state_of.insert(id, s.clone());
            }
            type_of.insert(id, kind.to_owned());
            last_id = Some(id);
        }
    }

    // Each state, in the order first entered.
    let mut states: Vec<StateCost> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for entry in attribution.entries() {
        let Some(name) = &entry.name else { continue };
        let at = *index.entry(name.clone()).or_insert_with(|| {
            states.push(StateCost {
                name: name.clone(),
                entered: 0,
                attempts: 0,
                retries: 0,
                duration_ms: 0,
            });
            states.len() - 1
        });
        let row = &mut states[at];
        row.entered += 1;
        row.attempts += entry.attempts;
        row.retries += entry.retries();
        if let (Some(from), Some(to)) = (entry.entered_at, entry.exited_at) {
            row.duration_ms += (to - from).num_milliseconds().max(0);
        }
    }
    let retries: u64 = states.iter().map(|s| u64::from(s.retries)).sum();
    let transitions = entered + retries;

    // Lambda.
    let lambda_prices = &prices.lambda;
    let mut invocations = 0_u64;
    let mut billed_ms = 0_u64;
    let mut rekognition: BTreeMap<String, u64> = BTreeMap::new();
    for attempt in &attempts {
        if attempt.lambda && !attempt.throttled {
            invocations += 1;
            let from = attempt.started_at.or(attempt.scheduled_at);
            if let (Some(from), Some(to)) = (from, attempt.ended_at) {
                let ms = u64::try_from((to - from).num_milliseconds()).unwrap_or(0);
                billed_ms += round_up(ms.max(1), lambda_prices.duration_rounding_ms);
            }
        }
        if attempt.succeeded {
            if let Some(function) = &attempt.function {
                for api in prices.calls_of(function) {
                    *rekognition.entry(api.to_owned()).or_default() += 1;
                }
            }
        }
    }
    let lambda_gb_seconds = billed_ms as f64 / 1000.0 * lambda_prices.memory_mb as f64 / 1024.0;
    let per_gb_second = lambda_prices
        .usd_per_gb_second
        .get(&lambda_prices.architecture)
        .copied()
        .unwrap_or(0.0);
    let lambda_usd = invocations as f64 * lambda_prices.usd_per_million_requests / 1e6
        + lambda_gb_seconds * per_gb_second;
    let rekognition_usd: f64 = rekognition
        .iter()
        .map(|(api, calls)| {
            *calls as f64
                * prices
                    .rekognition
                    .usd_per_image
                    .get(api)
                    .copied()
                    .unwrap_or(0.0)
        })
        .sum();

    // Step Functions.
    let standard = &prices.step_functions.standard;
    let standard_usd = transitions as f64 * standard.usd_per1000_state_transitions / 1000.0;
    let duration_ms = match (started, ended) {
        (Some(from), Some(to)) => Some(u64::try_from((to - from).num_milliseconds()).unwrap_or(0)),
        _ => None,
    };
    let express_prices = &prices.step_functions.express;
    let express = duration_ms.map(|ms| {
        let data = peak.as_ref().map_or(0, |p| p.bytes) * branches.max(1);
        let used_mb =
            express_prices.base_memory_mb as f64 + (definition_bytes as f64 + data as f64) / 1e6;
        let chunk = express_prices.memory_chunk_mb.max(1);
        let billed_memory_mb = ((used_mb / chunk as f64).ceil() as u64).max(1) * chunk;
        let billed_ms = round_up(ms.max(1), express_prices.duration_rounding_ms);
        ExpressCost {
            billed_ms,
            billed_memory_mb,
            gb_seconds: cents(billed_ms as f64 / 1000.0 * billed_memory_mb as f64 / 1024.0),
        }
    });
    let express_usd = express.as_ref().map(|e| {
        express_prices.usd_per_million_requests / 1e6
            + e.gb_seconds * express_prices.usd_per_gb_hour / 3600.0
    });

    CostReport {
        transitions,
        retries,
        duration_ms,
        peak_payload: peak,
        states,
        lambda: LambdaCost {
            invocations,
            billed_ms,
            memory_mb: lambda_prices.memory_mb,
            architecture: lambda_prices.architecture.clone(),
            gb_seconds: cents(lambda_gb_seconds),
        },
        rekognition,
        express,
        usd: Usd {
            standard: cents(standard_usd),
            express: express_usd.map(cents),
            lambda: cents(lambda_usd),
            rekognition: cents(rekognition_usd),
            total_standard: cents(standard_usd + lambda_usd + rekognition_usd),
            total_express: express_usd.map(|e| cents(e + lambda_usd + rekognition_usd)),
        },
        prices: PricesUsed {
            region: prices.region.clone(),
            currency: prices.currency.clone(),
            read_on: prices.read_on.clone(),
            free_tier: prices.free_tier.clone(),
        },
    }
}

/// Reports of many executions summed up (a batch), with the average per execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CostTotals {
    /// How many executions.
    pub executions: u64,
    /// State transitions, summed.
    pub transitions: u64,
    /// Retries, summed.
    pub retries: u64,
    /// The largest peak payload of any execution.
    pub peak_payload_bytes: u64,
    /// Lambda invocations, summed.
    pub lambda_invocations: u64,
    /// Rekognition images, by API, summed.
    pub rekognition: BTreeMap<String, u64>,
    /// The price, summed.
    pub usd: Usd,
    /// The price divided by the executions.
    pub usd_per_execution: Usd,
}

impl CostTotals {
    /// Adds one execution's report.
    pub fn add(&mut self, report: &CostReport) {
        self.executions += 1;
        self.transitions += report.transitions;
        self.retries += report.retries;
        self.peak_payload_bytes = self
            .peak_payload_bytes
            .max(report.peak_payload.as_ref().map_or(0, |p| p.bytes));
        self.lambda_invocations += report.lambda.invocations;
        for (api, calls) in &report.rekognition {
            *self.rekognition.entry(api.clone()).or_default() += calls;
        }
        let sum = |a: f64, b: f64| cents(a + b);
        let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(cents(a + b)),
            // A running execution has no Express price: the sum has none either.
            _ if self.executions == 1 => b,
            _ => None,
        };
        self.usd = Usd {
            standard: sum(self.usd.standard, report.usd.standard),
            express: both(self.usd.express, report.usd.express),
            lambda: sum(self.usd.lambda, report.usd.lambda),
            rekognition: sum(self.usd.rekognition, report.usd.rekognition),
            total_standard: sum(self.usd.total_standard, report.usd.total_standard),
            total_express: both(self.usd.total_express, report.usd.total_express),
        };
        let n = self.executions as f64;
        let each = |v: f64| cents(v / n);
        self.usd_per_execution = Usd {
            standard: each(self.usd.standard),
            express: self.usd.express.map(each),
            lambda: each(self.usd.lambda),
            rekognition: each(self.usd.rekognition),
            total_standard: each(self.usd.total_standard),
            total_express: self.usd.total_express.map(each),
        };
    }
}

#[cfg(test)]
mod tests;
