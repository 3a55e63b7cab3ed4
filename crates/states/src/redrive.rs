//! Redrive, as Step Functions' `RedriveExecution` does it: an execution that did not succeed
//! goes on from where it stopped, under the same ARN, with the same input.
//!
//! Where it stopped is read back from its history ([`attribute`]): the state it was in (a
//! `Fail` state is entered again and fails again), the input that state was entered with, the
//! variables assigned before it (`assignedVariables` of the exit events), and inside a
//! Parallel or Map which branches or iterations had succeeded, with their outputs: those are
//! kept and not run again, unless the state failed with `States.DataLimitExceeded` (then it
//! runs whole, as AWS documents). States that had succeeded are never run again.
//!
//! Refused, with `ExecutionNotRedrivable`, as AWS refuses: a succeeded execution, one that
//! stopped more than 14 days ago, one opened more than a year ago, one whose history holds
//! 24,999 events or more.

use crate::definition::{Body, StateMachine};
use crate::error::names;
use crate::history::{attribute, Attribution, EventDetails, EventType, HistoryEvent};
use crate::run::{Part, Resume};
use crate::states::Kind;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// AWS's limit: a history this long cannot take the `ExecutionRedriven` event and one more.
pub const MAX_REDRIVE_HISTORY_EVENTS: usize = 24_999;
/// AWS's redrivable period, from the time the execution stopped.
pub const REDRIVABLE_DAYS: i64 = 14;
/// AWS's maximum open time of an execution (its redrives included), from its start.
pub const MAX_OPEN_DAYS: i64 = 365;

/// Why [`StateMachine::redrive`] did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedriveError {
    /// AWS's `ExecutionNotRedrivable`: the execution cannot be redriven, and why.
    #[error("ExecutionNotRedrivable: Execution {arn} cannot be redriven: {reason}")]
    NotRedrivable {
        /// The execution's ARN.
        arn: String,
        /// Why not.
        reason: String,
    },
    /// The engine itself failed.
    #[error(transparent)]
    Engine(#[from] crate::EngineError),
}

impl RedriveError {
    /// The error name, as AWS's API returns it (`ExecutionNotRedrivable`), or `States.Runtime`
    /// for an engine failure.
    pub fn name(&self) -> &'static str {
        match self {
            RedriveError::NotRedrivable { .. } => "ExecutionNotRedrivable",
            RedriveError::Engine(_) => names::RUNTIME,
        }
    }
}

/// What a redrive starts from.
pub(crate) struct Plan {
    pub input: Value,
    pub start_time: DateTime<Utc>,
    pub role_arn: Option<String>,
    pub redrive_count: u32,
    pub last_event_id: u64,
    pub resume: Option<Resume>,
}

/// Reads `events` (the whole history so far) into where the redrive starts; the error is the
/// reason the execution cannot be redriven.
pub(crate) fn plan(
    machine: &StateMachine,
    events: &[HistoryEvent],
    now: DateTime<Utc>,
) -> Result<Plan, String> {
    let started = events
        .iter()
        .find(|e| e.kind == EventType::ExecutionStarted)
        .ok_or("its history has no ExecutionStarted event")?;
    let (input, role_arn) = match &started.details {
        Some(EventDetails::ExecutionStarted(d)) => (
            serde_json::from_str(&d.input)
                .map_err(|e| format!("its recorded input is not JSON: {e}"))?,
            Some(d.role_arn.clone()),
        ),
        _ => return Err("its ExecutionStarted event has no input".into()),
    };
    let last_execution_event = events
        .iter()
        .rev()
        .find(|e| e.kind.as_str().starts_with("Execution"));
    // Guess at the reasons' wording: AWS's own was not found recorded. A history that never
    // ended is an aborted execution here: only the caller knows whether it still runs.
    let stopped = match last_execution_event.map(|e| e.kind) {
        Some(EventType::ExecutionSucceeded) => {
            return Err("the execution status is SUCCEEDED".into());
        }
        Some(EventType::ExecutionFailed | EventType::ExecutionTimedOut) => {
            last_execution_event.map(|e| e.timestamp)
        }
        _ => events.iter().map(|e| e.timestamp).max(),
    }
    .unwrap_or(started.timestamp);
    if events.len() >= MAX_REDRIVE_HISTORY_EVENTS {
        return Err(format!(
            "its history has {} events; a redrive needs it under {MAX_REDRIVE_HISTORY_EVENTS}",
            events.len()
        ));
    }
    if now - stopped > Duration::days(REDRIVABLE_DAYS) {
        return Err(format!(
            "it stopped more than {REDRIVABLE_DAYS} days ago (the redrivable period)"
        ));
    }
    if now - started.timestamp > Duration::days(MAX_OPEN_DAYS) {
        return Err("it has exceeded the maximum open time of one year".into());
    }
    let redrive_count = events
        .iter()
        .filter(|e| e.kind == EventType::ExecutionRedriven)
        .count();
    let reader = Reader::new(events);
    let resume = match reader.top(&machine.root)? {
        Part::Fresh => None,
        Part::Resume(resume) => Some(resume),
        Part::Done(_) => return Err("its last state had already ended it".into()),
    };
    Ok(Plan {
        input,
        start_time: started.timestamp,
        role_arn,
        redrive_count: u32::try_from(redrive_count + 1).unwrap_or(u32::MAX),
        last_event_id: events.iter().map(|e| e.id).max().unwrap_or(0),
        resume,
    })
}

/// A history read for redrive.
struct Reader<'h> {
    attribution: Attribution,
    by_id: HashMap<u64, &'h HistoryEvent>,
    /// The entries whose entered event follows a given event (a branch's or iteration's first
    /// state follows its `…Started` event).
    entered_after: HashMap<u64, Vec<usize>>,
}

impl<'h> Reader<'h> {
    fn new(events: &'h [HistoryEvent]) -> Self {
        let attribution = attribute(events);
        let by_id: HashMap<u64, &HistoryEvent> = events.iter().map(|e| (e.id, e)).collect();
        let mut entered_after: HashMap<u64, Vec<usize>> = HashMap::new();
        for (index, entry) in attribution.entries().iter().enumerate() {
            if let Some(event) = entry.entered_event_id.and_then(|id| by_id.get(&id)) {
                entered_after
                    .entry(event.previous_event_id)
                    .or_default()
                    .push(index);
            }
        }
        Reader {
            attribution,
            by_id,
            entered_after,
        }
    }

    /// The machine's own states: one thread, redrives included, so its last entry is where
    /// it stopped and every exit before it may have assigned variables.
    fn top(&self, root: &Body) -> Result<Part, String> {
        let entries = self.attribution.entries();
        let tops: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].container.is_none())
            .collect();
        let Some(&last) = tops.last() else {
            return Ok(Part::Fresh);
        };
        let vars = self.assigned(&tops);
        self.position(root, last, vars)
    }

    /// What the exits of `chain` assigned, later values over earlier ones.
    fn assigned(&self, chain: &[usize]) -> Map<String, Value> {
        let mut vars = Map::new();
        for &i in chain {
            let exited = self.attribution.entries()[i]
                .exited_event_id
                .and_then(|id| self.by_id.get(&id));
            if let Some(EventDetails::StateExited(d)) = exited.and_then(|e| e.details.as_ref()) {
                for (name, text) in d.assigned_variables.iter().flatten() {
                    // A value that does not read back is kept as the text it was recorded as.
                    let value = serde_json::from_str(text).unwrap_or(Value::String(text.clone()));
                    vars.insert(name.clone(), value);
                }
            }
        }
        vars
    }

    /// A branch or iteration that began with entry `first`.
    fn chain(&self, body: &Body, first: usize) -> Result<Part, String> {
        let entries = self.attribution.entries();
        let mut chain = vec![first];
        let mut at = first;
        while let Some(next) = entries[at].next.filter(|&n| n > at) {
            chain.push(next);
            at = next;
        }
        let vars = self.assigned(&chain);
        self.position(body, at, vars)
    }

    /// Where a body stands after its entry `last`.
    fn position(&self, body: &Body, last: usize, vars: Map<String, Value>) -> Result<Part, String> {
        let entry = &self.attribution.entries()[last];
        let name = entry.name.as_deref().unwrap_or_default();
        let index = body
            .states
            .iter()
            .position(|s| &*s.name == name)
            .ok_or_else(|| format!("its history names a state \"{name}\" the machine lacks"))?;
        let state = &body.states[index];
        let json = |text: Option<&str>, what: &str| {
            serde_json::from_str::<Value>(text.unwrap_or("null"))
                .map_err(|e| format!("the recorded {what} of \"{name}\" is not JSON: {e}"))
        };
        if entry.exited_event_id.is_some() {
            // It ended and its branch went no further: done, or stopped between two states.
            let output = json(entry.output.as_deref(), "output")?;
            let next = match entry.caught() {
                Some(failure) => state
                    .catch
                    .iter()
                    .find(|c| {
                        c.errors
                            .matches(failure.error.as_deref().unwrap_or_default())
                    })
                    .map(|c| c.next),
                None => state.next,
            };
            return Ok(match next {
                None => Part::Done(output),
                Some(next) => Part::Resume(Resume {
                    state: next,
                    input: output,
                    vars,
                    parts: None,
                }),
            });
        }
        let input = json(entry.input.as_deref(), "input")?;
        let over_limit = entry
            .execution_failure
            .iter()
            .chain(entry.failures.last())
            .chain(
                self.attribution
                    .execution_failure()
                    .filter(|_| entry.container.is_none()),
            )
            .any(|f| f.error.as_deref() == Some(names::DATA_LIMIT_EXCEEDED));
        let parts = match &state.kind {
            _ if over_limit => None,
            Kind::Parallel(p) => Some(self.parallel(&p.branches, last)?),
            Kind::Map(m) => Some(self.map(&m.processor, last)?),
            _ => None,
        };
        Ok(Part::Resume(Resume {
            state: index,
            input,
            vars,
            parts,
        }))
    }

    /// The ids of the events of `kind` that belong to entry `owner`, in order.
    fn owned(&self, owner: usize, kind: EventType) -> Vec<&'h HistoryEvent> {
        let mut owned: Vec<&HistoryEvent> = self
            .attribution
            .owner
            .iter()
            .filter(|(_, &o)| o == owner)
            .filter_map(|(id, _)| self.by_id.get(id).copied())
            .filter(|e| e.kind == kind)
            .collect();
        owned.sort_by_key(|e| e.id);
        owned
    }

    /// The branches of the Parallel entry `at`, in its latest attempt; on a redriven entry, a
    /// branch that did not run again stands as it stood in the entry before.
    fn parallel(&self, branches: &[std::sync::Arc<Body>], at: usize) -> Result<Vec<Part>, String> {
        let mut parts = vec![Part::Fresh; branches.len()];
        if let Some(started) = self.owned(at, EventType::ParallelStateStarted).last() {
            for &first in self.entered_after.get(&started.id).into_iter().flatten() {
                let name = self.attribution.entries()[first].name.as_deref();
                let branch = branches.iter().enumerate().position(|(k, b)| {
                    matches!(parts[k], Part::Fresh)
                        && b.states.get(b.start).map(|s| &*s.name) == name
                });
                if let Some(k) = branch {
                    parts[k] = self.chain(&branches[k], first)?;
                }
            }
        }
        self.carry_over(&mut parts, at, |before| self.parallel(branches, before))?;
        Ok(parts)
    }

    /// The iterations of the Map entry `at`, in its latest attempt (as [`Reader::parallel`]).
    fn map(&self, processor: &Body, at: usize) -> Result<Vec<Part>, String> {
        let started = self.owned(at, EventType::MapStateStarted);
        let length = started
            .last()
            .and_then(|e| match &e.details {
                Some(EventDetails::MapStateStarted(d)) => usize::try_from(d.length).ok(),
                _ => None,
            })
            .unwrap_or(0);
        let mut parts = vec![Part::Fresh; length];
        if let Some(started) = started.last() {
            for iteration in self.owned(at, EventType::MapIterationStarted) {
                let Some(EventDetails::MapIterationStarted(d)) = &iteration.details else {
                    continue;
                };
                let index = usize::try_from(d.index).unwrap_or(usize::MAX);
                if iteration.id < started.id || index >= length {
                    continue;
                }
                let first = self
                    .entered_after
                    .get(&iteration.id)
                    .and_then(|e| e.first());
                if let Some(&first) = first {
                    parts[index] = self.chain(processor, first)?;
                }
            }
        }
        self.carry_over(&mut parts, at, |before| self.map(processor, before))?;
        Ok(parts)
    }

    /// A state entered again by an earlier redrive ran only what had not succeeded: what it did
    /// not run stands as it stood in the entry before. Only the machine's own states are
    /// followed back so (guess: a nested Parallel or Map redriven twice runs its branches whole).
    fn carry_over(
        &self,
        parts: &mut [Part],
        at: usize,
        before: impl FnOnce(usize) -> Result<Vec<Part>, String>,
    ) -> Result<(), String> {
        let entries = self.attribution.entries();
        let entry = &entries[at];
        if entry.container.is_some() || !parts.iter().any(|p| matches!(p, Part::Fresh)) {
            return Ok(());
        }
        let redriven = entry
            .entered_event_id
            .and_then(|id| self.by_id.get(&id))
            .and_then(|e| self.by_id.get(&e.previous_event_id))
            .is_some_and(|e| e.kind == EventType::ExecutionRedriven);
        if !redriven {
            return Ok(());
        }
        let earlier = (0..at).rev().find(|&i| {
            entries[i].container.is_none()
                && entries[i].name == entry.name
                && entries[i].exited_event_id.is_none()
        });
        let Some(earlier) = earlier else {
            return Ok(());
        };
        let earlier = before(earlier)?;
        for (part, old) in parts.iter_mut().zip(earlier) {
            if matches!(part, Part::Fresh) {
                *part = old;
            }
        }
        Ok(())
    }
}
