//! One reading of a history, state by state: which entry into which state each event belongs
//! to, and what came of it (attempts, failures, a catch, the outcome, input and output). The
//! graph and the execution page of the console, `spotlight executions show` and the benchmarks
//! all read histories through [`attribute`], so they cannot disagree.
//!
//! Events are attributed by following `previousEventId`, not by their order, because the
//! branches of a Parallel (and a Map's iterations) interleave while each branch's events chain
//! to each other. A history without links is read as one thread, each event following the one
//! before it. Histories read back from a store are untrusted JSON: whatever makes sense is
//! used, the rest is ignored, and nothing panics.

use super::{EventDetails, HistoryEvent};
use crate::view::StateKind;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What attribution reads of one event, borrowed from a [`HistoryEvent`] or from the JSON of one
/// (a stored history, which may come from an older engine or from AWS).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFacts<'e> {
    /// The event's id, when it has one.
    pub id: Option<u64>,
    /// The event it follows (0 for none).
    pub previous_event_id: Option<u64>,
    /// AWS's event type: `TaskStateEntered`, `LambdaFunctionFailed`, ….
    pub event_type: &'e str,
    /// When it happened.
    pub timestamp: Option<DateTime<Utc>>,
    /// The state's name, on `…StateEntered` and `…StateExited` events.
    pub state_name: Option<&'e str>,
    /// The input, as JSON text, on `…StateEntered` and `ExecutionStarted`.
    pub input: Option<&'e str>,
    /// The output, as JSON text, on `…StateExited` and `ExecutionSucceeded`.
    pub output: Option<&'e str>,
    /// The error name, on failure events.
    pub error: Option<&'e str>,
    /// The cause, on failure events.
    pub cause: Option<&'e str>,
}

/// An event [`attribute`] can read.
pub trait HistoryRecord {
    /// What attribution needs of this event, or `None` for something that is no event.
    fn facts(&self) -> Option<EventFacts<'_>>;
}

impl HistoryRecord for HistoryEvent {
    fn facts(&self) -> Option<EventFacts<'_>> {
        let mut facts = EventFacts {
            id: Some(self.id),
            previous_event_id: Some(self.previous_event_id),
            event_type: self.kind.as_str(),
            timestamp: Some(self.timestamp),
            ..EventFacts::default()
        };
        match &self.details {
            Some(EventDetails::StateEntered(entered)) => {
                facts.state_name = Some(&entered.name);
                facts.input = Some(&entered.input);
            }
            Some(EventDetails::StateExited(exited)) => {
                facts.state_name = Some(&exited.name);
                facts.output = Some(&exited.output);
            }
            Some(EventDetails::ExecutionStarted(started)) => facts.input = Some(&started.input),
            Some(EventDetails::ExecutionSucceeded(succeeded)) => {
                facts.output = Some(&succeeded.output);
            }
            Some(EventDetails::ExecutionFailed(failure))
            | Some(EventDetails::ExecutionTimedOut(failure)) => {
                facts.error = failure.error.as_deref();
                facts.cause = failure.cause.as_deref();
            }
            Some(EventDetails::TaskFailed(failure)) | Some(EventDetails::TaskTimedOut(failure)) => {
                facts.error = failure.error.as_deref();
                facts.cause = failure.cause.as_deref();
            }
            _ => {}
        }
        Some(facts)
    }
}

impl HistoryRecord for Value {
    fn facts(&self) -> Option<EventFacts<'_>> {
        let event = self.as_object()?;
        let event_type = event.get("type")?.as_str()?;
        // Whatever its event type, the one `…EventDetails` member holds what there is to read.
        let details = event
            .iter()
            .find(|(name, _)| name.ends_with("EventDetails"))
            .map(|(_, details)| details);
        let text = |key: &str| details?.get(key)?.as_str();
        let names_a_state = ["stateEnteredEventDetails", "stateExitedEventDetails"]
            .iter()
            .any(|member| event.contains_key(*member));
        Some(EventFacts {
            id: event.get("id").and_then(Value::as_u64),
            previous_event_id: event.get("previousEventId").and_then(Value::as_u64),
            event_type,
            timestamp: event
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|time| time.to_utc()),
            state_name: if names_a_state { text("name") } else { None },
            input: text("input"),
            output: text("output"),
            error: text("error"),
            cause: text("cause"),
        })
    }
}

/// What happened to a state (one entry into it, or all of them: see [`Attribution::outcomes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StateOutcome {
    /// Never entered (or entered, then stopped with nothing of its own to show, as a branch is
    /// when a sibling branch fails).
    #[default]
    NotRun,
    /// Entered and not yet left, in an execution that has not ended.
    Running,
    /// Left normally at the first attempt.
    Succeeded,
    /// Left normally after at least one failed attempt.
    Retried,
    /// Failed, and one of its `Catch` rules moved the execution on.
    Caught,
    /// Failed for good: nothing caught it, or it is a `Fail` state.
    Failed,
}

/// A failed attempt: its event, error and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// The event that reported it (`TaskFailed`, `LambdaFunctionTimedOut`, `ParallelStateFailed`,
    /// `ExecutionFailed`, …).
    pub event_type: String,
    /// The error name, when the event gives one.
    pub error: Option<String>,
    /// The cause, when the event gives one.
    pub cause: Option<String>,
}

impl AttemptFailure {
    fn of(event: &EventFacts<'_>) -> Self {
        AttemptFailure {
            event_type: event.event_type.to_owned(),
            error: event.error.map(str::to_owned),
            cause: event.cause.map(str::to_owned),
        }
    }
}

/// One entry into a state, and everything the history says happened in it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry {
    /// The state's name (`None` when the entering event does not say).
    pub name: Option<String>,
    /// Its type, from the entering event (`None` for one this engine does not know).
    pub kind: Option<StateKind>,
    /// The Parallel or Map entry whose branch or iteration this entry runs in (an index into
    /// [`Attribution::entries`]).
    pub container: Option<usize>,
    /// The entry its branch went on to (an index into [`Attribution::entries`]): after a catch,
    /// the catcher's `Next`.
    pub next: Option<usize>,
    /// The `…StateEntered` event.
    pub entered_event_id: Option<u64>,
    /// The `…StateExited` event, once it left.
    pub exited_event_id: Option<u64>,
    /// When it was entered.
    pub entered_at: Option<DateTime<Utc>>,
    /// When it was left.
    pub exited_at: Option<DateTime<Utc>>,
    /// Its input, as JSON text.
    pub input: Option<String>,
    /// Its output, as JSON text, once it left.
    pub output: Option<String>,
    /// Task schedulings (Task states) or starts (Parallel and Map states): 1 plus the retries.
    pub attempts: u32,
    /// Every failed attempt, in order.
    pub failures: Vec<AttemptFailure>,
    /// Whether the latest attempt failed.
    pub last_attempt_failed: bool,
    /// For an entry the execution failed in without a failure event of its own (a `Fail`
    /// state, a Choice that matched nothing, a path that selected nothing, or a branch state
    /// whose failure ended the execution): how the execution failed.
    pub execution_failure: Option<AttemptFailure>,
    /// What came of it.
    pub outcome: StateOutcome,
    /// Left, or followed by the next state of its branch.
    closed: bool,
    /// On the chain of events that led to a failure of its branch or of the execution.
    failed_path: bool,
}

impl StateEntry {
    /// Attempts after the first.
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }

    /// The failure a `Catch` rule caught, when one did.
    pub fn caught(&self) -> Option<&AttemptFailure> {
        match self.outcome {
            StateOutcome::Caught => self.failures.last(),
            _ => None,
        }
    }
}

/// Every entry of one state name, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateActivity {
    /// How many times it was entered.
    pub entered: u32,
    /// Attempts over all entries.
    pub attempts: u32,
    /// Retries over all entries.
    pub retries: u32,
    /// Failed attempts over all entries.
    pub failures: u32,
    /// Entries whose failure a `Catch` rule caught.
    pub caught: u32,
    /// The outcome over all entries, as [`Attribution::outcomes`] gives it.
    pub outcome: StateOutcome,
    /// The latest entry (an index into [`Attribution::entries`]).
    pub latest: usize,
}

/// A history read state by state.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    entries: Vec<StateEntry>,
    ended: bool,
    execution_failure: Option<AttemptFailure>,
    /// Which entry each event id belongs to (for redrive).
    pub(crate) owner: HashMap<u64, usize>,
}

impl Attribution {
    /// Every entry into a state, in the order they happened.
    pub fn entries(&self) -> &[StateEntry] {
        &self.entries
    }

    /// Whether the execution ended (succeeded, failed, timed out or was aborted).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// How the execution failed, timed out or was aborted, if it did.
    pub fn execution_failure(&self) -> Option<&AttemptFailure> {
        self.execution_failure.as_ref()
    }

    /// The outcome of every state the history mentions, by name; states it never mentions are
    /// [`StateOutcome::NotRun`]. A state entered more than once (a loop, a retried Parallel, Map
    /// iterations) is `Running` while any entry runs, otherwise its latest entry's outcome —
    /// `Retried` when that succeeded after an earlier one did not.
    pub fn outcomes(&self) -> BTreeMap<String, StateOutcome> {
        self.by_state()
            .into_iter()
            .map(|(name, activity)| (name, activity.outcome))
            .collect()
    }

    /// Every state the history mentions, by name, with all its entries summed up.
    pub fn by_state(&self) -> BTreeMap<String, StateActivity> {
        let mut runs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if let Some(name) = &entry.name {
                runs.entry(name).or_default().push(index);
            }
        }
        runs.into_iter()
            .filter_map(|(name, indexes)| {
                let latest = *indexes.last()?;
                let entries = indexes.iter().map(|&i| &self.entries[i]);
                let count = |f: &dyn Fn(&StateEntry) -> u32| entries.clone().map(f).sum::<u32>();
                let outcomes: Vec<StateOutcome> = entries.clone().map(|e| e.outcome).collect();
                let activity = StateActivity {
                    entered: count(&|_| 1),
                    attempts: count(&|e| e.attempts),
                    retries: count(&StateEntry::retries),
                    failures: count(&|e| u32::try_from(e.failures.len()).unwrap_or(u32::MAX)),
                    caught: count(&|e| u32::from(e.outcome == StateOutcome::Caught)),
                    outcome: merge(&outcomes),
                    latest,
                };
                Some((name.to_owned(), activity))
            })
            .collect()
    }
}

/// Reads a history state by state. Events may come in any order: they are read in id order
/// (those without an id last, in the order given).
pub fn attribute<E: HistoryRecord>(events: &[E]) -> Attribution {
    let mut facts: Vec<EventFacts<'_>> = events.iter().filter_map(HistoryRecord::facts).collect();
    facts.sort_by_key(|event| event.id.unwrap_or(u64::MAX));
    let mut reader = Reader::default();
    for event in &facts {
        reader.read(event);
    }
    reader.finish()
}

/// Where a failure ended a branch or the execution: the event before it, and for the
/// execution's own failure, how it failed.
struct FailureEnd {
    before: u64,
    execution: Option<AttemptFailure>,
}

#[derive(Default)]
struct Reader<'e> {
    entries: Vec<StateEntry>,
    /// Which entry each event id belongs to.
    owner: HashMap<u64, usize>,
    event_types: HashMap<u64, &'e str>,
    previous: HashMap<u64, u64>,
    last_id: Option<u64>,
    /// Events that failed a branch or the execution: the chains leading to them are failures.
    failure_ends: Vec<FailureEnd>,
    ended: bool,
    execution_failure: Option<AttemptFailure>,
}

impl<'e> Reader<'e> {
    fn read(&mut self, event: &EventFacts<'e>) {
        let previous = event.previous_event_id.or(self.last_id);
        let from = previous.and_then(|p| self.owner.get(&p).copied());
        let event_type = event.event_type;
        let owner = if let Some(state_type) = event_type.strip_suffix("StateEntered") {
            Some(self.enter(event, state_type, previous, from))
        } else if event_type.ends_with("StateExited") {
            self.exit(event, from)
        } else if let Some((container, what)) = event_type
            .strip_prefix("ParallelState")
            .map(|what| (StateKind::Parallel, what))
            .or_else(|| {
                event_type
                    .strip_prefix("MapState")
                    .map(|what| (StateKind::Map, what))
            })
        {
            // Its previous event may be deep inside a finished branch: climb to the container.
            let target = self.climb(from, |e| !e.closed && e.kind == Some(container));
            if let Some(entry) = target.map(|t| &mut self.entries[t]) {
                match what {
                    "Started" => {
                        entry.attempts += 1;
                        entry.last_attempt_failed = false;
                    }
                    "Succeeded" => entry.last_attempt_failed = false,
                    "Failed" => {
                        entry.last_attempt_failed = true;
                        entry.failures.push(AttemptFailure::of(event));
                    }
                    _ => {}
                }
            }
            if what == "Failed" {
                self.failure_ends.extend(previous.map(|before| FailureEnd {
                    before,
                    execution: None,
                }));
            }
            target
        } else if event_type.starts_with("MapIteration") {
            if event_type == "MapIterationFailed" {
                self.failure_ends.extend(previous.map(|before| FailureEnd {
                    before,
                    execution: None,
                }));
            }
            self.climb(from, |e| !e.closed && e.kind == Some(StateKind::Map))
        } else if event_type == "ExecutionRedriven" {
            // The execution runs again from where it stopped: it has not ended, nor failed.
            self.ended = false;
            self.execution_failure = None;
            None
        } else if event_type.starts_with("Execution") {
            if matches!(
                event_type,
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted"
            ) {
                self.ended = true;
            }
            if event_type != "ExecutionSucceeded" && event_type != "ExecutionStarted" {
                let failure = AttemptFailure::of(event);
                self.execution_failure = Some(failure.clone());
                self.failure_ends.extend(previous.map(|before| FailureEnd {
                    before,
                    execution: Some(failure),
                }));
            }
            None
        } else {
            if let Some(entry) = from.map(|f| &mut self.entries[f]) {
                attempt_event(entry, event);
            }
            from
        };
        if let Some(id) = event.id {
            if let Some(o) = owner {
                self.owner.insert(id, o);
            }
            self.event_types.insert(id, event_type);
            if let Some(p) = previous {
                self.previous.insert(id, p);
            }
            self.last_id = Some(id);
        }
    }

    /// A new entry: the first state of a branch when its previous event opened one, otherwise
    /// the successor of the entry that previous event belongs to (which is thereby left).
    fn enter(
        &mut self,
        event: &EventFacts<'e>,
        state_type: &str,
        previous: Option<u64>,
        from: Option<usize>,
    ) -> usize {
        let opens_branch = previous
            .and_then(|p| self.event_types.get(&p))
            .is_some_and(|opener| {
                matches!(
                    *opener,
                    "ParallelStateStarted"
                        | "MapStateStarted"
                        | "MapIterationStarted"
                        | "ParallelStateEntered"
                        | "MapStateEntered"
                )
            });
        let index = self.entries.len();
        let container = match from {
            Some(f) if !opens_branch => {
                let before = &mut self.entries[f];
                before.closed = true;
                before.next = Some(index);
                before.container
            }
            other => other,
        };
        self.entries.push(StateEntry {
            name: event.state_name.map(str::to_owned),
            kind: kind_named(state_type),
            container,
            next: None,
            entered_event_id: event.id,
            exited_event_id: None,
            entered_at: event.timestamp,
            exited_at: None,
            input: event.input.map(str::to_owned),
            output: None,
            attempts: 0,
            failures: Vec::new(),
            last_attempt_failed: false,
            execution_failure: None,
            outcome: StateOutcome::NotRun,
            closed: false,
            failed_path: false,
        });
        index
    }

    /// The exit names its state; a branch's last state may sit between it and `from`.
    fn exit(&mut self, event: &EventFacts<'e>, from: Option<usize>) -> Option<usize> {
        let named = self.climb(from, |e| {
            !e.closed && (event.state_name.is_none() || e.name.as_deref() == event.state_name)
        });
        let target = named.or(from)?;
        let entry = &mut self.entries[target];
        entry.closed = true;
        // A stray exit closes what it follows, but does not rewrite an exit already read.
        if entry.exited_event_id.is_none() && entry.exited_at.is_none() {
            entry.exited_event_id = event.id;
            entry.exited_at = event.timestamp;
            entry.output = event.output.map(str::to_owned);
        }
        Some(target)
    }

    /// The nearest of `start` and its containers that satisfies `want`. Containers always come
    /// earlier in `entries`, so this ends; the bound is only a guard.
    fn climb(&self, start: Option<usize>, want: impl Fn(&StateEntry) -> bool) -> Option<usize> {
        let mut at = start;
        for _ in 0..=self.entries.len() {
            let i = at?;
            let entry = self.entries.get(i)?;
            if want(entry) {
                return Some(i);
            }
            at = entry.container.filter(|&c| c < i);
        }
        None
    }

    fn finish(mut self) -> Attribution {
        // Every entry still open on the way back from a failure is where it failed (a Pass
        // whose path selected nothing, a Choice that matched nothing, a Fail state, …).
        let mut seen = HashSet::new();
        for end in &self.failure_ends {
            let mut at = Some(end.before);
            while let Some(id) = at.filter(|id| seen.insert(*id)) {
                if let Some(entry) = self.owner.get(&id).and_then(|&o| self.entries.get_mut(o)) {
                    if !entry.closed {
                        entry.failed_path = true;
                    }
                }
                at = self.previous.get(&id).copied();
            }
        }
        // The execution's own failure, walked on its own: a branch's failure may have walked
        // part of its chain already.
        for end in &self.failure_ends {
            let Some(failure) = &end.execution else {
                continue;
            };
            let mut seen = HashSet::new();
            let mut at = Some(end.before);
            while let Some(id) = at.filter(|id| seen.insert(*id)) {
                if let Some(entry) = self.owner.get(&id).and_then(|&o| self.entries.get_mut(o)) {
                    if !entry.closed && entry.failures.is_empty() {
                        entry.execution_failure = Some(failure.clone());
                    }
                }
                at = self.previous.get(&id).copied();
            }
        }
        let ended = self.ended;
        for entry in &mut self.entries {
            entry.outcome = entry_outcome(entry, ended);
        }
        Attribution {
            entries: self.entries,
            ended,
            execution_failure: self.execution_failure,
            owner: self.owner,
        }
    }
}

fn kind_named(state_type: &str) -> Option<StateKind> {
    [
        StateKind::Task,
        StateKind::Pass,
        StateKind::Choice,
        StateKind::Wait,
        StateKind::Succeed,
        StateKind::Fail,
        StateKind::Parallel,
        StateKind::Map,
    ]
    .into_iter()
    .find(|kind| kind.as_str() == state_type)
}

/// Task-level events (AWS writes `Task…` for integrations such as `lambda:invoke`,
/// `LambdaFunction…` for a function ARN as the resource, `Activity…` for activities).
fn attempt_event(entry: &mut StateEntry, event: &EventFacts<'_>) {
    let Some(what) = ["Task", "LambdaFunction", "Activity"]
        .iter()
        .find_map(|prefix| event.event_type.strip_prefix(prefix))
    else {
        return;
    };
    if what == "Scheduled" {
        entry.attempts += 1;
        entry.last_attempt_failed = false;
    } else if what == "Succeeded" {
        entry.last_attempt_failed = false;
    } else if what.ends_with("Failed") || what == "TimedOut" {
        entry.last_attempt_failed = true;
        entry.failures.push(AttemptFailure::of(event));
    }
}

fn entry_outcome(entry: &StateEntry, ended: bool) -> StateOutcome {
    if entry.kind == Some(StateKind::Fail) || (entry.failed_path && !entry.closed) {
        StateOutcome::Failed
    } else if entry.closed {
        if entry.last_attempt_failed {
            StateOutcome::Caught
        } else if entry.attempts > 1 || !entry.failures.is_empty() {
            StateOutcome::Retried
        } else {
            StateOutcome::Succeeded
        }
    } else if entry.kind == Some(StateKind::Succeed) {
        // Nothing can go wrong in a Succeed state once entered; not every writer exits it.
        StateOutcome::Succeeded
    } else if !ended {
        StateOutcome::Running
    } else if entry.last_attempt_failed {
        StateOutcome::Failed
    } else {
        StateOutcome::NotRun
    }
}

fn merge(runs: &[StateOutcome]) -> StateOutcome {
    let Some((&last, earlier)) = runs.split_last() else {
        return StateOutcome::NotRun;
    };
    if runs.contains(&StateOutcome::Running) {
        StateOutcome::Running
    } else if last == StateOutcome::Succeeded
        && earlier.iter().any(|o| {
            matches!(
                o,
                StateOutcome::Failed | StateOutcome::Caught | StateOutcome::Retried
            )
        })
    {
        StateOutcome::Retried
    } else {
        last
    }
}

#[cfg(test)]
mod tests;
