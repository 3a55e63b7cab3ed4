//! The state machine as a graph: an inline SVG of an ASL definition, each state coloured by what
//! happened to it in one execution, like the graph view of the Step Functions console.
//!
//! [`outcomes`] reads a `GetExecutionHistory`-shaped event list into one [`Outcome`] per state
//! name; [`render`] lays the definition out top to bottom and draws it. The page around the
//! graph provides one section per state with the id [`anchor`]`(name)`, so that a click on a
//! node jumps to it: the graph itself needs no script.
//!
//! Both functions take untrusted JSON and never fail: whatever part of a definition or history
//! makes sense is used, the rest is ignored. State names go through [`Esc`] (text, attributes)
//! and [`url_part`] (links); colours come from classes styled in `console.css`, because the
//! Content-Security-Policy allows neither `style` attributes nor `<style>` elements.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::html::{url_part, Esc};

/// What happened to one state in one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
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

impl Outcome {
    /// Every outcome, in the legend's order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Succeeded,
        Outcome::Retried,
        Outcome::Caught,
        Outcome::Failed,
        Outcome::Running,
        Outcome::NotRun,
    ];

    /// The CSS class and `data-status` value.
    pub fn class(self) -> &'static str {
        match self {
            Outcome::NotRun => "not-run",
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Caught => "caught",
            Outcome::Failed => "failed",
        }
    }

    /// How the legend and tooltips say it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::NotRun => "Not run",
            Outcome::Running => "Running",
            Outcome::Succeeded => "Succeeded",
            Outcome::Retried => "Retried",
            Outcome::Caught => "Caught",
            Outcome::Failed => "Failed",
        }
    }

    /// A mark drawn in the node's corner, so the outcome does not rest on colour alone.
    fn glyph(self) -> Option<&'static str> {
        match self {
            Outcome::NotRun => None,
            Outcome::Running => Some("…"),
            Outcome::Succeeded => Some("✓"),
            Outcome::Retried => Some("↻"),
            Outcome::Caught => Some("↪"),
            Outcome::Failed => Some("✕"),
        }
    }
}

/// The id of the page section about state `name`, which the graph's nodes link to.
pub fn anchor(name: &str) -> String {
    format!("state-{}", url_part(name))
}

/// Every state name of a definition, nested ones (Parallel branches, Map processors) included,
/// in document order; whatever is not a state machine yields nothing.
pub fn state_names(definition: &Value) -> Vec<String> {
    fn walk(machine: &Value, depth: usize, names: &mut Vec<String>) {
        // Untrusted JSON: nesting deeper than any real machine is ignored.
        let Some(states) = machine.get("States").and_then(Value::as_object) else {
            return;
        };
        if depth > 16 {
            return;
        }
        for (name, state) in states {
            names.push(name.clone());
            let branches = state.get("Branches").and_then(Value::as_array);
            for branch in branches.into_iter().flatten() {
                walk(branch, depth + 1, names);
            }
            for processor in ["ItemProcessor", "Iterator"] {
                if let Some(inner) = state.get(processor) {
                    walk(inner, depth + 1, names);
                }
            }
        }
    }
    let mut names = Vec::new();
    walk(definition, 0, &mut names);
    names
}

// ---------------------------------------------------------------------------------------------
// Outcomes, from the history
// ---------------------------------------------------------------------------------------------

/// The outcome of every state the history mentions, by state name; states it never mentions
/// are [`Outcome::NotRun`].
///
/// Events are attributed to state entries by following `previousEventId`, not by their order,
/// because the branches of a Parallel (and a Map's iterations) interleave. A state entered
/// more than once (a loop, a retried Parallel, Map iterations) reports `Running` while any
/// entry runs, otherwise its latest entry, `Retried` when that succeeded after an earlier one
/// did not.
pub fn outcomes(events: &[Value]) -> BTreeMap<String, Outcome> {
    let mut reader = Reader::default();
    let mut list: Vec<Event<'_>> = events.iter().filter_map(Event::read).collect();
    // Histories come in id order, but a store may hand them back otherwise; without ids,
    // the given order is all there is (those events sort last, in order).
    list.sort_by_key(|e| e.id.unwrap_or(u64::MAX));
    for event in &list {
        reader.read(event);
    }
    reader.finish()
}

/// The parts of one history event the graph needs.
struct Event<'e> {
    id: Option<u64>,
    previous: Option<u64>,
    kind: &'e str,
    /// The state name, from `stateEnteredEventDetails` or `stateExitedEventDetails`.
    name: Option<&'e str>,
}

impl<'e> Event<'e> {
    fn read(value: &'e Value) -> Option<Self> {
        let kind = value.get("type")?.as_str()?;
        let name = ["stateEnteredEventDetails", "stateExitedEventDetails"]
            .iter()
            .find_map(|d| value.get(d)?.get("name")?.as_str());
        Some(Event {
            id: value.get("id").and_then(Value::as_u64),
            previous: value.get("previousEventId").and_then(Value::as_u64),
            kind,
            name,
        })
    }
}

/// One entry into a state.
struct Entry<'e> {
    name: Option<&'e str>,
    /// `Task`, `Parallel`, …: the prefix of its `…StateEntered` event.
    kind: &'e str,
    /// The Parallel or Map entry whose branch or iteration this entry runs in.
    container: Option<usize>,
    /// Task schedulings, or Parallel/Map starts.
    attempts: u32,
    failures: u32,
    /// Whether its latest attempt failed.
    failing: bool,
    /// Exited, or followed by the next state of its branch.
    closed: bool,
    /// On the chain of events that led to a failure of its branch or of the execution.
    failed_path: bool,
}

#[derive(Default)]
struct Reader<'e> {
    entries: Vec<Entry<'e>>,
    /// Which entry each event id belongs to.
    owner: HashMap<u64, usize>,
    kinds: HashMap<u64, &'e str>,
    previous: HashMap<u64, u64>,
    last_id: Option<u64>,
    /// Events that failed a branch or the execution: the chains leading to them are failures.
    failure_ends: Vec<u64>,
    ended: bool,
}

impl<'e> Reader<'e> {
    fn read(&mut self, event: &Event<'e>) {
        // A history without links is a single thread: each event follows the one before.
        let previous = event.previous.or(self.last_id);
        let from = previous.and_then(|p| self.owner.get(&p).copied());
        let kind = event.kind;
        let owner = if let Some(state_kind) = kind.strip_suffix("StateEntered") {
            Some(self.enter(event, state_kind, previous, from))
        } else if kind.ends_with("StateExited") {
            // The exit names its state; a branch's last state may sit between it and `from`.
            let target = self
                .climb(from, |e| {
                    !e.closed && (event.name.is_none() || e.name == event.name)
                })
                .or(from);
            if let Some(t) = target {
                self.entries[t].closed = true;
            }
            target
        } else if let Some(rest) = kind
            .strip_prefix("ParallelState")
            .map(|r| ("Parallel", r))
            .or_else(|| kind.strip_prefix("MapState").map(|r| ("Map", r)))
        {
            // Its previous event may be deep inside a finished branch: climb to the container.
            let (want, what) = rest;
            let target = self.climb(from, |e| !e.closed && e.kind == want);
            if let Some(entry) = target.map(|t| &mut self.entries[t]) {
                match what {
                    "Started" => {
                        entry.attempts += 1;
                        entry.failing = false;
                    }
                    "Succeeded" => entry.failing = false,
                    "Failed" => {
                        entry.failing = true;
                        entry.failures += 1;
                    }
                    _ => {}
                }
            }
            if what == "Failed" {
                self.failure_ends.extend(previous);
            }
            target
        } else if kind.starts_with("MapIteration") {
            if kind == "MapIterationFailed" {
                self.failure_ends.extend(previous);
            }
            self.climb(from, |e| !e.closed && e.kind == "Map")
        } else if kind.starts_with("Execution") {
            if matches!(
                kind,
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted"
            ) {
                self.ended = true;
            }
            if kind != "ExecutionSucceeded" && kind != "ExecutionStarted" {
                self.failure_ends.extend(previous);
            }
            None
        } else {
            if let Some(entry) = from.map(|f| &mut self.entries[f]) {
                attempt_event(entry, kind);
            }
            from
        };
        if let Some(id) = event.id {
            if let Some(o) = owner {
                self.owner.insert(id, o);
            }
            self.kinds.insert(id, kind);
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
        event: &Event<'e>,
        kind: &'e str,
        previous: Option<u64>,
        from: Option<usize>,
    ) -> usize {
        let opens_branch = previous.and_then(|p| self.kinds.get(&p)).is_some_and(|k| {
            matches!(
                *k,
                "ParallelStateStarted"
                    | "MapStateStarted"
                    | "MapIterationStarted"
                    | "ParallelStateEntered"
                    | "MapStateEntered"
            )
        });
        let container = match from {
            Some(f) if !opens_branch => {
                self.entries[f].closed = true;
                self.entries[f].container
            }
            other => other,
        };
        self.entries.push(Entry {
            name: event.name,
            kind,
            container,
            attempts: 0,
            failures: 0,
            failing: false,
            closed: false,
            failed_path: false,
        });
        self.entries.len() - 1
    }

    /// The nearest of `start` and its containers that satisfies `want`. Containers always come
    /// earlier in `entries`, so this ends; the bound is only a guard.
    fn climb(&self, start: Option<usize>, want: impl Fn(&Entry<'e>) -> bool) -> Option<usize> {
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

    fn finish(mut self) -> BTreeMap<String, Outcome> {
        // Every entry still open on the way back from a failure is where it failed (a Pass
        // whose path selected nothing, a Choice that matched nothing, a Fail state, …).
        let mut seen = HashSet::new();
        for end in std::mem::take(&mut self.failure_ends) {
            let mut at = Some(end);
            while let Some(id) = at.filter(|id| seen.insert(*id)) {
                if let Some(entry) = self.owner.get(&id).and_then(|&o| self.entries.get_mut(o)) {
                    if !entry.closed {
                        entry.failed_path = true;
                    }
                }
                at = self.previous.get(&id).copied();
            }
        }
        let mut by_name: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
        for entry in &self.entries {
            if let Some(name) = entry.name {
                by_name
                    .entry(name.to_owned())
                    .or_default()
                    .push(entry_outcome(entry, self.ended));
            }
        }
        by_name
            .into_iter()
            .map(|(name, runs)| (name, merge(&runs)))
            .collect()
    }
}

/// Task-level events (AWS writes `Task…` for integrations such as `lambda:invoke`,
/// `LambdaFunction…` for a function ARN as the resource, `Activity…` for activities).
fn attempt_event(entry: &mut Entry<'_>, kind: &str) {
    let Some(what) = ["Task", "LambdaFunction", "Activity"]
        .iter()
        .find_map(|p| kind.strip_prefix(p))
    else {
        return;
    };
    if what == "Scheduled" {
        entry.attempts += 1;
        entry.failing = false;
    } else if what == "Succeeded" {
        entry.failing = false;
    } else if what.ends_with("Failed") || what == "TimedOut" {
        entry.failing = true;
        entry.failures += 1;
    }
}

fn entry_outcome(entry: &Entry<'_>, ended: bool) -> Outcome {
    if entry.kind == "Fail" || (entry.failed_path && !entry.closed) {
        Outcome::Failed
    } else if entry.closed {
        if entry.failing {
            Outcome::Caught
        } else if entry.attempts > 1 || entry.failures > 0 {
            Outcome::Retried
        } else {
            Outcome::Succeeded
        }
    } else if entry.kind == "Succeed" {
        // Nothing can go wrong in a Succeed state once entered; not every writer exits it.
        Outcome::Succeeded
    } else if !ended {
        Outcome::Running
    } else if entry.failing {
        Outcome::Failed
    } else {
        Outcome::NotRun
    }
}

fn merge(runs: &[Outcome]) -> Outcome {
    let Some((&last, earlier)) = runs.split_last() else {
        return Outcome::NotRun;
    };
    if runs.contains(&Outcome::Running) {
        Outcome::Running
    } else if last == Outcome::Succeeded
        && earlier
            .iter()
            .any(|o| matches!(o, Outcome::Failed | Outcome::Caught | Outcome::Retried))
    {
        Outcome::Retried
    } else {
        last
    }
}

// ---------------------------------------------------------------------------------------------
// The definition, as far as the graph needs it
// ---------------------------------------------------------------------------------------------

/// Containers nested deeper than this are drawn as plain nodes: past it the drawing would be
/// unreadable anyway, and the recursion stays bounded whatever the input.
const MAX_DEPTH: usize = 8;
/// At most this many states and edges are drawn, so a hostile definition cannot make the
/// layout (which adds a point per rank an edge crosses) or the page explode.
const MAX_STATES: usize = 400;
const MAX_EDGES: usize = 1600;
/// Longer names are cut (the tooltip has them whole).
const MAX_NAME_CHARS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    Next,
    Catch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Task,
    Pass,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
    Other,
}

impl Kind {
    fn of(type_name: Option<&str>) -> Kind {
        match type_name {
            Some("Task") => Kind::Task,
            Some("Pass") => Kind::Pass,
            Some("Choice") => Kind::Choice,
            Some("Wait") => Kind::Wait,
            Some("Succeed") => Kind::Succeed,
            Some("Fail") => Kind::Fail,
            Some("Parallel") => Kind::Parallel,
            Some("Map") => Kind::Map,
            _ => Kind::Other,
        }
    }

    /// A class from a fixed list: the `Type` itself is untrusted.
    fn class(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Pass => "pass",
            Kind::Choice => "choice",
            Kind::Wait => "wait",
            Kind::Succeed => "succeed",
            Kind::Fail => "fail",
            Kind::Parallel => "parallel",
            Kind::Map => "map",
            Kind::Other => "unknown",
        }
    }
}

/// One `States` object: a branch, a Map's processor, or the machine itself.
struct Flow {
    start: Option<String>,
    states: Vec<Spec>,
}

struct Spec {
    name: String,
    kind: Kind,
    type_name: String,
    edges: Vec<(String, EdgeKind)>,
    terminal: bool,
    branches: Vec<Flow>,
}

struct Budget {
    states: usize,
    edges: usize,
}

fn read_flow(value: &Value, depth: usize, budget: &mut Budget) -> Flow {
    let mut states = Vec::new();
    if let Some(map) = value.get("States").and_then(Value::as_object) {
        for (name, state) in map {
            if budget.states == 0 {
                break;
            }
            budget.states -= 1;
            states.push(read_state(name, state, depth, budget));
        }
    }
    Flow {
        start: value
            .get("StartAt")
            .and_then(Value::as_str)
            .map(str::to_owned),
        states,
    }
}

fn read_state(name: &str, state: &Value, depth: usize, budget: &mut Budget) -> Spec {
    let type_name = state.get("Type").and_then(Value::as_str);
    let kind = Kind::of(type_name);
    let mut targets: Vec<(&str, EdgeKind)> = Vec::new();
    targets.extend(
        state
            .get("Next")
            .and_then(Value::as_str)
            .map(|n| (n, EdgeKind::Next)),
    );
    if kind == Kind::Choice {
        let choices = state.get("Choices").and_then(Value::as_array);
        targets.extend(
            choices
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("Next")?.as_str())
                .map(|n| (n, EdgeKind::Next)),
        );
        targets.extend(
            state
                .get("Default")
                .and_then(Value::as_str)
                .map(|n| (n, EdgeKind::Next)),
        );
    }
    let catches = state.get("Catch").and_then(Value::as_array);
    targets.extend(
        catches
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("Next")?.as_str())
            .map(|n| (n, EdgeKind::Catch)),
    );
    let mut edges: Vec<(String, EdgeKind)> = Vec::new();
    for (target, edge) in targets {
        if budget.edges == 0 {
            break;
        }
        if !edges.iter().any(|(t, e)| t == target && *e == edge) {
            budget.edges -= 1;
            edges.push((target.to_owned(), edge));
        }
    }
    let mut branches = Vec::new();
    if depth < MAX_DEPTH {
        match kind {
            Kind::Parallel => {
                let list = state.get("Branches").and_then(Value::as_array);
                branches.extend(
                    list.into_iter()
                        .flatten()
                        .map(|b| read_flow(b, depth + 1, budget)),
                );
            }
            Kind::Map => {
                let processor = state.get("ItemProcessor").or_else(|| state.get("Iterator"));
                branches.extend(processor.map(|p| read_flow(p, depth + 1, budget)));
            }
            _ => {}
        }
    }
    Spec {
        name: name.to_owned(),
        kind,
        type_name: match kind {
            Kind::Other => type_name.map_or_else(|| "?".to_owned(), |t| cut(t, 20)),
            _ => type_name.unwrap_or_default().to_owned(),
        },
        edges,
        terminal: matches!(kind, Kind::Succeed | Kind::Fail)
            || state.get("End").and_then(Value::as_bool) == Some(true),
        branches,
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Layout: a layered (Sugiyama-style) drawing, one flow at a time, containers from the inside out
// ---------------------------------------------------------------------------------------------

/// Width of a character of bold 12px text (names, headers), as an estimate: there are no font
/// metrics on the server, and a little too wide beats text running out of its box.
const CHAR_W: f64 = 7.5;
const TYPE_CHAR_W: f64 = 6.0;
const NODE_MIN_W: f64 = 120.0;
const NODE_H: f64 = 44.0;
/// Room on each side of the name for the outcome glyph.
const NODE_PAD: f64 = 22.0;
const MARKER_W: f64 = 64.0;
const MARKER_H: f64 = 26.0;
const RANK_GAP: f64 = 40.0;
const NODE_GAP: f64 = 28.0;
/// A long edge takes a lane this wide in each rank it crosses.
const LANE_W: f64 = 8.0;
const LANE_GAP: f64 = 10.0;
const LOOP_W: f64 = 26.0;
/// Container geometry: header band, the fork from its top port into the branches (and the
/// join out of them), padding, the gap between branches.
const HEADER_H: f64 = 24.0;
const FORK_H: f64 = 22.0;
const PAD: f64 = 12.0;
const BRANCH_GAP: f64 = 16.0;
const MARGIN: f64 = 12.0;
/// One legend entry.
const ITEM_W: f64 = 100.0;
const ITEM_H: f64 = 22.0;

#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

/// A path: a start and segments, each a line or a vertical-tangent curve to the next point.
struct Route {
    points: Vec<Point>,
    catch: bool,
    arrow: bool,
    /// A state's edge to itself: drawn as a loop on its right.
    self_loop: bool,
}

struct Node<'d> {
    what: What<'d>,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

enum What<'d> {
    Start,
    End,
    State {
        spec: &'d Spec,
        /// Branch layouts and their offsets from the node's corner.
        inner: Vec<(Point, Layout<'d>)>,
    },
}

struct Layout<'d> {
    w: f64,
    h: f64,
    nodes: Vec<Node<'d>>,
    routes: Vec<Route>,
    /// Where a branch begins and ends (its fork and join attach there).
    start: Point,
    end: Option<Point>,
}

/// One vertex of the layered graph: the Start and End markers, the states, and the lanes of
/// edges that cross more than one rank.
struct Vertex {
    w: f64,
    h: f64,
    rank: usize,
    key: f64,
    lane: bool,
    x: f64,
    y: f64,
}

/// Lays out one flow: its containers first (their size depends on their branches), then ranks,
/// lanes, order and coordinates. The root flow has visible Start and End markers; a branch has
/// points there instead, where its container's fork and join attach.
fn layout_flow(flow: &Flow, root: bool) -> Layout<'_> {
    let n = flow.states.len();
    let (start, end) = (0, n + 1);
    let marker = if root {
        (MARKER_W, MARKER_H)
    } else {
        (0.0, 0.0)
    };
    let mut what: Vec<What<'_>> = Vec::with_capacity(n + 2);
    let mut vertices: Vec<Vertex> = Vec::with_capacity(n + 2);
    let vertex = |(w, h): (f64, f64)| Vertex {
        w,
        h,
        rank: 0,
        key: 0.0,
        lane: false,
        x: 0.0,
        y: 0.0,
    };
    what.push(What::Start);
    vertices.push(vertex(marker));
    for spec in &flow.states {
        let inner: Vec<Layout<'_>> = spec
            .branches
            .iter()
            .map(|b| layout_flow(b, false))
            .collect();
        let (size, inner) = if inner.is_empty() {
            (node_size(spec), Vec::new())
        } else {
            container(spec, inner)
        };
        what.push(What::State { spec, inner });
        vertices.push(vertex(size));
    }
    what.push(What::End);
    vertices.push(vertex(marker));

    // Edges, resolved by name within this flow (ASL allows no other target).
    let index: HashMap<&str, usize> = flow
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i + 1))
        .collect();
    let mut edges: Vec<(usize, usize, EdgeKind)> = Vec::new();
    if let Some(&first) = flow.start.as_deref().and_then(|s| index.get(s)) {
        edges.push((start, first, EdgeKind::Next));
    }
    for (i, spec) in flow.states.iter().enumerate() {
        for (target, kind) in &spec.edges {
            if let Some(&t) = index.get(target.as_str()) {
                edges.push((i + 1, t, *kind));
            }
        }
        if spec.terminal {
            edges.push((i + 1, end, EdgeKind::Next));
        }
    }
    let has_loop: HashSet<usize> = edges.iter().filter(|e| e.0 == e.1).map(|e| e.0).collect();
    for &v in &has_loop {
        vertices[v].w += 2.0 * LOOP_W;
    }

    let (back, preorder) = back_edges(vertices.len(), &edges);
    for (v, &p) in vertices.iter_mut().zip(&preorder) {
        v.key = p as f64;
    }
    // The layered graph is acyclic once back edges point the other way.
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&back)
        .filter(|((a, b, _), _)| a != b)
        .map(|(&(a, b, _), &is_back)| if is_back { (b, a) } else { (a, b) })
        .collect();
    rank(&mut vertices, &dag, start, end);

    // Lanes for edges that skip ranks, so they run between nodes rather than through them.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(dag.len());
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    for &(a, b) in &dag {
        let (ra, rb) = (vertices[a].rank, vertices[b].rank);
        let mut chain = Vec::new();
        let mut prev = a;
        let key = vertices[a].key + 0.5;
        for r in ra + 1..rb {
            let lane = vertices.len();
            vertices.push(Vertex {
                rank: r,
                key,
                lane: true,
                ..vertex((LANE_W, 0.0))
            });
            up.push(Vec::new());
            down.push(Vec::new());
            down[prev].push(lane);
            up[lane].push(prev);
            chain.push(lane);
            prev = lane;
        }
        if rb == vertices[prev].rank + 1 {
            down[prev].push(b);
            up[b].push(prev);
        }
        chains.push(chain);
    }

    let ranks = order(&vertices, &up, &down);
    place_x(&mut vertices, &ranks, &up, &down);
    let (tops, bands) = place_y(&mut vertices, &ranks);

    // Normalise to a box starting at 0,0.
    let left = vertices
        .iter()
        .map(|v| v.x - v.w / 2.0)
        .fold(f64::INFINITY, f64::min);
    let left = if left.is_finite() { left } else { 0.0 };
    for v in &mut vertices {
        v.x -= left;
    }
    let width = vertices.iter().map(|v| v.x + v.w / 2.0).fold(0.0, f64::max);
    let height = tops.last().zip(bands.last()).map_or(0.0, |(t, b)| t + b);

    // Routes follow the layout direction through their lanes; back edges then turn around, so
    // that their arrow points at the state they return to.
    let mut routes = Vec::new();
    let mut dag_at = 0;
    for (&(a, b, kind), &is_back) in edges.iter().zip(&back) {
        // Into a branch's end point, which the join continues: no arrowhead halfway.
        let into_join = b == end && !root;
        if a == b {
            let v = &vertices[a];
            let (right, mid) = (v.x + (v.w - 2.0 * LOOP_W) / 2.0, v.y + v.h / 2.0);
            routes.push(Route {
                points: vec![
                    Point {
                        x: right,
                        y: mid - 8.0,
                    },
                    Point {
                        x: right,
                        y: mid + 8.0,
                    },
                ],
                catch: kind == EdgeKind::Catch,
                arrow: true,
                self_loop: true,
            });
            continue;
        }
        let (la, lb) = dag[dag_at];
        let chain = &chains[dag_at];
        dag_at += 1;
        let (va, vb) = (&vertices[la], &vertices[lb]);
        let mut points = vec![Point {
            x: va.x,
            y: va.y + va.h,
        }];
        for &lane in chain {
            let v = &vertices[lane];
            points.push(Point {
                x: v.x,
                y: tops[v.rank],
            });
            points.push(Point {
                x: v.x,
                y: tops[v.rank] + bands[v.rank],
            });
        }
        points.push(Point { x: vb.x, y: vb.y });
        if is_back {
            points.reverse();
        }
        routes.push(Route {
            points,
            catch: kind == EdgeKind::Catch,
            arrow: !into_join,
            self_loop: false,
        });
    }

    let reached_end = edges.iter().any(|e| e.1 == end);
    let point = |v: &Vertex| Point { x: v.x, y: v.y };
    let (start_at, end_at) = (point(&vertices[start]), point(&vertices[end]));
    let nodes = what
        .into_iter()
        .zip(&vertices)
        .enumerate()
        .map(|(i, (what, v))| {
            // A self-loop's room was layout width only: the box keeps its own size, centred.
            let room = if has_loop.contains(&i) { LOOP_W } else { 0.0 };
            Node {
                x: v.x - v.w / 2.0 + room,
                y: v.y,
                w: v.w - 2.0 * room,
                h: v.h,
                what,
            }
        })
        .filter(|node| root || matches!(node.what, What::State { .. }))
        .collect();
    Layout {
        w: width,
        h: height,
        nodes,
        routes,
        start: start_at,
        end: reached_end.then_some(end_at),
    }
}

fn node_size(spec: &Spec) -> (f64, f64) {
    let name = chars(&cut(&spec.name, MAX_NAME_CHARS)) * CHAR_W;
    let type_name = chars(&spec.type_name) * TYPE_CHAR_W;
    (
        NODE_MIN_W
            .max(name + 2.0 * NODE_PAD)
            .max(type_name + 2.0 * NODE_PAD),
        NODE_H,
    )
}

fn chars(text: &str) -> f64 {
    text.chars().count() as f64
}

/// A container's size, and where its branches sit inside it: side by side under the header,
/// each below the fork from the top port, all above the join into the bottom port.
fn container<'d>(spec: &Spec, inner: Vec<Layout<'d>>) -> ((f64, f64), Vec<(Point, Layout<'d>)>) {
    let header = chars(&header_text(spec)) * CHAR_W + 2.0 * PAD;
    let branches: f64 = inner.iter().map(|l| l.w + 2.0 * PAD).sum::<f64>()
        + BRANCH_GAP * (inner.len().saturating_sub(1)) as f64;
    let w = (branches + 2.0 * PAD).max(header).max(NODE_MIN_W);
    let tallest = inner.iter().map(|l| l.h).fold(0.0, f64::max);
    let top = HEADER_H + FORK_H;
    let h = top + tallest + 2.0 * PAD + FORK_H;
    let mut x = (w - branches) / 2.0;
    let placed = inner
        .into_iter()
        .map(|l| {
            let at = Point {
                x: x + PAD,
                y: top + PAD,
            };
            x += l.w + 2.0 * PAD + BRANCH_GAP;
            (at, l)
        })
        .collect();
    ((w, h), placed)
}

fn header_text(spec: &Spec) -> String {
    format!("{} · {}", cut(&spec.name, MAX_NAME_CHARS), spec.type_name)
}

/// Depth-first from the start (then from anything it did not reach, in document order): which
/// edges close a cycle, and the preorder, which gives a natural left-to-right first guess.
fn back_edges(count: usize, edges: &[(usize, usize, EdgeKind)]) -> (Vec<bool>, Vec<usize>) {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, &(a, _, _)) in edges.iter().enumerate() {
        out[a].push(i);
    }
    let mut back = vec![false; edges.len()];
    let mut preorder = vec![0; count];
    let mut state = vec![0u8; count]; // 0 unseen, 1 on the stack, 2 done
    let mut next = 0;
    for root in 0..count {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        preorder[root] = next;
        next += 1;
        let mut stack = vec![(root, 0usize)];
        while let Some((v, at)) = stack.last_mut() {
            let Some(&e) = out[*v].get(*at) else {
                state[*v] = 2;
                stack.pop();
                continue;
            };
            *at += 1;
            let t = edges[e].1;
            match state[t] {
                0 => {
                    state[t] = 1;
                    preorder[t] = next;
                    next += 1;
                    stack.push((t, 0));
                }
                1 => back[e] = true,
                _ => {}
            }
        }
    }
    (back, preorder)
}

/// Longest path from the sources: every state below the Start marker, the End marker below all.
fn rank(vertices: &mut [Vertex], dag: &[(usize, usize)], start: usize, end: usize) {
    let count = vertices.len();
    let mut indegree = vec![0usize; count];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(a, b) in dag {
        out[a].push(b);
        indegree[b] += 1;
    }
    let mut ranks: Vec<usize> = (0..count).map(|v| usize::from(v != start)).collect();
    let mut ready: Vec<usize> = (0..count).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop() {
        for &t in &out[v] {
            ranks[t] = ranks[t].max(ranks[v] + 1);
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    let deepest = (0..count)
        .filter(|&v| v != end)
        .map(|v| ranks[v])
        .max()
        .unwrap_or(0);
    ranks[end] = deepest + 1;
    for (v, r) in vertices.iter_mut().zip(ranks) {
        v.rank = r;
    }
}

/// The order within each rank: the first guess, then barycentre sweeps down, up and down to
/// uncross edges.
fn order(vertices: &[Vertex], up: &[Vec<usize>], down: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let depth = vertices.iter().map(|v| v.rank + 1).max().unwrap_or(0);
    let mut ranks: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, v) in vertices.iter().enumerate() {
        ranks[v.rank].push(i);
    }
    let mut pos = vec![0.0; vertices.len()];
    for layer in &mut ranks {
        layer.sort_by(|&a, &b| vertices[a].key.total_cmp(&vertices[b].key));
        for (i, &v) in layer.iter().enumerate() {
            pos[v] = i as f64;
        }
    }
    for pass in 0..3 {
        if pass % 2 == 0 {
            for layer in ranks.iter_mut().skip(1) {
                sweep(layer, &mut pos, up);
            }
        } else {
            for layer in ranks.iter_mut().rev().skip(1) {
                sweep(layer, &mut pos, down);
            }
        }
    }
    ranks
}

/// Sorts one rank by the mean position of each vertex's neighbours in the rank before it
/// (`near`); a vertex without any keeps its place.
fn sweep(layer: &mut [usize], pos: &mut [f64], near: &[Vec<usize>]) {
    let bary: HashMap<usize, f64> = layer
        .iter()
        .map(|&v| (v, mean(near[v].iter().map(|&u| pos[u])).unwrap_or(pos[v])))
        .collect();
    layer.sort_by(|a, b| bary[a].total_cmp(&bary[b]));
    for (i, &v) in layer.iter().enumerate() {
        pos[v] = i as f64;
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Horizontal centres: each rank packed and centred, then pulled towards its neighbours' centres
/// (down, up, down, …), keeping the order and the gaps.
fn place_x(vertices: &mut [Vertex], ranks: &[Vec<usize>], up: &[Vec<usize>], down: &[Vec<usize>]) {
    for layer in ranks {
        let mut x = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                x += separation(&vertices[layer[i - 1]], &vertices[v]);
            }
            vertices[v].x = x;
        }
        let mid = x / 2.0;
        for &v in layer {
            vertices[v].x -= mid;
        }
    }
    for pass in 0..5 {
        let (layers, near): (Vec<usize>, _) = if pass % 2 == 0 {
            ((1..ranks.len()).collect(), up)
        } else {
            ((0..ranks.len().saturating_sub(1)).rev().collect(), down)
        };
        for r in layers {
            let desired: Vec<f64> = ranks[r]
                .iter()
                .map(|&v| mean(near[v].iter().map(|&u| vertices[u].x)).unwrap_or(vertices[v].x))
                .collect();
            resolve(vertices, &ranks[r], &desired);
        }
    }
}

/// The positions closest to `desired` that keep the rank's order and gaps: the average of
/// pushing right from the left and pushing left from the right, both of which are feasible,
/// so their average is too.
fn resolve(vertices: &mut [Vertex], layer: &[usize], desired: &[f64]) {
    let k = layer.len();
    let mut from_left = desired.to_vec();
    for i in 1..k {
        let gap = separation(&vertices[layer[i - 1]], &vertices[layer[i]]);
        from_left[i] = from_left[i].max(from_left[i - 1] + gap);
    }
    let mut from_right = desired.to_vec();
    for i in (0..k.saturating_sub(1)).rev() {
        let gap = separation(&vertices[layer[i]], &vertices[layer[i + 1]]);
        from_right[i] = from_right[i].min(from_right[i + 1] - gap);
    }
    for (i, &v) in layer.iter().enumerate() {
        vertices[v].x = (from_left[i] + from_right[i]) / 2.0;
    }
}

fn separation(a: &Vertex, b: &Vertex) -> f64 {
    let gap = if a.lane || b.lane { LANE_GAP } else { NODE_GAP };
    (a.w + b.w) / 2.0 + gap
}

/// Vertical positions: each rank a band as tall as its tallest node, nodes centred in it.
/// Returns each band's top and height.
fn place_y(vertices: &mut [Vertex], ranks: &[Vec<usize>]) -> (Vec<f64>, Vec<f64>) {
    let bands: Vec<f64> = ranks
        .iter()
        .map(|layer| layer.iter().map(|&v| vertices[v].h).fold(0.0, f64::max))
        .collect();
    let mut tops = Vec::with_capacity(bands.len());
    let mut y = 0.0;
    for band in &bands {
        tops.push(y);
        y += band + RANK_GAP;
    }
    for v in vertices.iter_mut() {
        v.y = tops[v.rank] + (bands[v.rank] - v.h) / 2.0;
    }
    (tops, bands)
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

/// A coordinate, printed short.
struct N(f64);

impl fmt::Display for N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        let tenths = (v * 10.0).round() / 10.0;
        if tenths.fract() == 0.0 {
            write!(f, "{tenths:.0}")
        } else {
            write!(f, "{tenths:.1}")
        }
    }
}

/// The definition drawn as `<svg class="graph" …>…</svg>`, each state coloured by its outcome
/// (states missing from `outcomes` have not run), with a legend across the top.
///
/// Every state, including those inside Parallel branches and a Map's processor, is a node
/// linking to `#`[`anchor`]`(name)`. Whatever of the definition cannot be drawn is left out:
/// unknown `Next` targets, containers nested deeper than eight levels (drawn as plain
/// nodes), states beyond the 400th and edges beyond the 1600th.
pub fn render(definition: &Value, outcomes: &BTreeMap<String, Outcome>) -> String {
    let mut budget = Budget {
        states: MAX_STATES,
        edges: MAX_EDGES,
    };
    let flow = read_flow(definition, 0, &mut budget);
    let layout = layout_flow(&flow, true);
    let mut canvas = Canvas {
        out: String::new(),
        outcomes,
        counts: BTreeMap::new(),
    };

    // The legend wraps to the graph's width (but never narrower than three items).
    let per_row = ((layout.w / ITEM_W).floor() as usize).clamp(3, Outcome::ALL.len());
    let rows = Outcome::ALL.len().div_ceil(per_row);
    let legend_w = per_row as f64 * ITEM_W;
    let inner_w = layout.w.max(legend_w);
    let graph_top = MARGIN + rows as f64 * ITEM_H + 14.0;
    let width = (inner_w + 2.0 * MARGIN).ceil();
    let height = (graph_top + layout.h + MARGIN).ceil();

    canvas.out.push_str("<g class=\"legend\">");
    for (i, outcome) in Outcome::ALL.iter().enumerate() {
        let x = MARGIN + (i % per_row) as f64 * ITEM_W;
        let y = MARGIN + (i / per_row) as f64 * ITEM_H;
        let _ = write!(
            canvas.out,
            "<g class=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" rx=\"3\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            outcome.class(),
            N(x),
            N(y),
            N(x + 20.0),
            N(y + 11.5),
            outcome.label(),
        );
    }
    canvas.out.push_str("</g>");
    canvas.flow(
        &layout,
        Point {
            x: MARGIN + (inner_w - layout.w) / 2.0,
            y: graph_top,
        },
    );

    let total: usize = canvas.counts.values().sum();
    let mut label = format!("State machine graph: {total} states");
    for outcome in Outcome::ALL {
        if let Some(count) = canvas.counts.get(outcome.class()) {
            let _ = write!(label, ", {count} {}", outcome.label().to_lowercase());
        }
    }
    format!(
        "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
         width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{label}\"><defs>\
         <marker id=\"graph-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" \
         fill=\"#5b6477\"/></marker></defs>{body}</svg>",
        w = N(width),
        h = N(height),
        label = Esc(&label),
        body = canvas.out,
    )
}

struct Canvas<'o> {
    out: String,
    outcomes: &'o BTreeMap<String, Outcome>,
    counts: BTreeMap<&'static str, usize>,
}

impl Canvas<'_> {
    /// One flow at `at`: its edges first, so that nodes sit on top of them.
    fn flow(&mut self, layout: &Layout<'_>, at: Point) {
        for route in &layout.routes {
            self.route(route, at);
        }
        for node in &layout.nodes {
            self.node(node, at);
        }
    }

    fn route(&mut self, route: &Route, at: Point) {
        let p = |p: &Point| Point {
            x: p.x + at.x,
            y: p.y + at.y,
        };
        let mut d = String::new();
        if route.self_loop {
            if let [a, b] = route.points.as_slice() {
                let (a, b) = (p(a), p(b));
                let _ = write!(
                    d,
                    "M{},{}C{},{} {},{} {},{}",
                    N(a.x),
                    N(a.y),
                    N(a.x + LOOP_W),
                    N(a.y - 14.0),
                    N(b.x + LOOP_W),
                    N(b.y + 14.0),
                    N(b.x + 2.0),
                    N(b.y)
                );
            }
        } else {
            path(&mut d, route.points.iter().map(p));
        }
        self.path(&d, route.catch, route.arrow);
    }

    fn path(&mut self, d: &str, catch: bool, arrow: bool) {
        if d.is_empty() {
            return;
        }
        let _ = write!(
            self.out,
            "<path class=\"edge{}\" d=\"{d}\" fill=\"none\"{}/>",
            if catch { " catch" } else { "" },
            if arrow {
                " marker-end=\"url(#graph-arrow)\""
            } else {
                ""
            },
        );
    }

    fn node(&mut self, node: &Node<'_>, at: Point) {
        let (x, y, w, h) = (node.x + at.x, node.y + at.y, node.w, node.h);
        let (spec, inner) = match &node.what {
            What::Start | What::End => {
                let text = if matches!(node.what, What::Start) {
                    "Start"
                } else {
                    "End"
                };
                let _ = write!(
                    self.out,
                    "<g class=\"marker\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                     rx=\"{}\"/><text x=\"{}\" y=\"{}\">{text}</text></g>",
                    N(x),
                    N(y),
                    N(w),
                    N(h),
                    N(h / 2.0),
                    N(x + w / 2.0),
                    N(y + h / 2.0 + 4.0),
                );
                return;
            }
            What::State { spec, inner } => (*spec, inner),
        };
        let outcome = self.outcomes.get(&spec.name).copied().unwrap_or_default();
        *self.counts.entry(outcome.class()).or_default() += 1;
        let container = !inner.is_empty();
        let _ = write!(
            self.out,
            "<a href=\"#{anchor}\"><g class=\"node {status} {kind}{extra}\" data-state=\"{name}\" \
             data-status=\"{status}\"><title>{name} ({type_name}): {label}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"6\"/>",
            anchor = anchor(&spec.name),
            status = outcome.class(),
            kind = spec.kind.class(),
            extra = if container { " container" } else { "" },
            name = Esc(&spec.name),
            type_name = Esc(&spec.type_name),
            label = outcome.label(),
            x = N(x),
            y = N(y),
            w = N(w),
            h = N(h),
        );
        let shown = cut(&spec.name, MAX_NAME_CHARS);
        if container {
            let _ = write!(
                self.out,
                "<text class=\"header\" x=\"{}\" y=\"{}\">{}</text>",
                N(x + PAD),
                N(y + 16.0),
                Esc(&header_text(spec)),
            );
        } else {
            let _ = write!(
                self.out,
                "<text class=\"name\" x=\"{cx}\" y=\"{}\">{}</text>\
                 <text class=\"type\" x=\"{cx}\" y=\"{}\">{}</text>",
                N(y + 19.0),
                Esc(&shown),
                N(y + 34.0),
                Esc(&spec.type_name),
                cx = N(x + w / 2.0),
            );
        }
        if let Some(glyph) = outcome.glyph() {
            let _ = write!(
                self.out,
                "<text class=\"glyph\" x=\"{}\" y=\"{}\">{glyph}</text>",
                N(x + w - 10.0),
                N(y + 15.0),
            );
        }
        self.out.push_str("</g></a>");
        if !container {
            return;
        }

        // The fork from the top port into each branch and the join from each into the bottom
        // port; then the branches themselves, drawn outside the link (links cannot nest).
        let top = Point {
            x: x + w / 2.0,
            y: y + HEADER_H,
        };
        let bottom = Point {
            x: x + w / 2.0,
            y: y + h,
        };
        for (offset, branch) in inner {
            let origin = Point {
                x: x + offset.x,
                y: y + offset.y,
            };
            let _ = write!(
                self.out,
                "<rect class=\"branch\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" \
                 fill=\"none\"/>",
                N(origin.x - PAD / 2.0),
                N(origin.y - PAD / 2.0),
                N(branch.w + PAD),
                N(branch.h + PAD),
            );
            let mut d = String::new();
            let into = Point {
                x: origin.x + branch.start.x,
                y: origin.y + branch.start.y,
            };
            path(&mut d, [top, into].into_iter());
            self.path(&d, false, false);
            if let Some(end) = branch.end {
                let mut d = String::new();
                let from = Point {
                    x: origin.x + end.x,
                    y: origin.y + end.y,
                };
                path(&mut d, [from, bottom].into_iter());
                self.path(&d, false, true);
            }
            self.flow(branch, origin);
        }
        let _ = write!(
            self.out,
            "<circle class=\"port\" cx=\"{}\" cy=\"{}\" r=\"3\"/>",
            N(top.x),
            N(top.y)
        );
    }
}

/// `d` for a route through `points`: straight where it runs vertically, otherwise a curve that
/// leaves and arrives vertically, as edges in a top-to-bottom graph do.
fn path(d: &mut String, points: impl Iterator<Item = Point>) {
    let mut last: Option<Point> = None;
    for b in points {
        match last {
            None => {
                let _ = write!(d, "M{},{}", N(b.x), N(b.y));
            }
            Some(a) if (a.x - b.x).abs() < 0.5 => {
                let _ = write!(d, "L{},{}", N(b.x), N(b.y));
            }
            Some(a) => {
                let mid = (a.y + b.y) / 2.0;
                let _ = write!(
                    d,
                    "C{},{} {},{} {},{}",
                    N(a.x),
                    N(mid),
                    N(b.x),
                    N(mid),
                    N(b.x),
                    N(b.y)
                );
            }
        }
        last = Some(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spotlight_states::{
        BoxFuture, Clock, InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, StatesError,
        Status,
    };
    use std::sync::Arc;

    const PIPELINE: &str = include_str!("../../../statemachine/pipeline.asl.json");
    const SCRIPT: &str = "<script>alert(1)</script>";
    const ATTRIBUTE: &str = r#""><img src=x onerror=alert(1)>"#;

    /// Time stands still and a wait ends as soon as anything else has had a turn: retry backoff
    /// costs nothing, and a task (whose answer is ready at once) still beats its timeout.
    struct Frozen;

    impl Clock for Frozen {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::DateTime::UNIX_EPOCH
        }

        fn sleep(&self, _: std::time::Duration) -> BoxFuture<'_, ()> {
            Box::pin(tokio::task::yield_now())
        }
    }

    type Script = fn(&str, u32) -> Result<(), (&'static str, &'static str)>;

    /// Runs `definition` on `input`, every task answering as `script` says for its state name
    /// and retry count, and returns the history as JSON events.
    async fn run(definition: &str, input: Value, script: Script) -> (Status, Vec<Value>) {
        let subs: HashMap<String, String> = [
            "ValidateFunctionArn",
            "DetectLabelsFunctionArn",
            "DetectModerationFunctionArn",
            "DetectTextFunctionArn",
            "RecordFunctionArn",
        ]
        .iter()
        .map(|s| {
            (
                s.to_string(),
                format!("arn:aws:lambda:us-east-1:123456789012:function:{s}"),
            )
        })
        .collect();
        let machine = StateMachine::parse(definition, &subs).expect("a valid definition");
        let invoker = Arc::new(InvokerFn(move |req: OwnedTaskRequest| async move {
            match script(&req.state_name, req.retry_count) {
                Ok(()) => Ok(json!({"Payload": {"from": req.state_name}})),
                Err((error, cause)) => Err(StatesError::new(error, cause)),
            }
        }));
        let options = RunOptions {
            history: true,
            clock: Some(Arc::new(Frozen)),
            seed: Some(7),
            ..RunOptions::default()
        };
        let result = machine
            .run(input, invoker, options)
            .await
            .expect("the engine runs");
        let events = result
            .history
            .expect("a history")
            .events
            .iter()
            .map(|e| serde_json::to_value(e).expect("an event serialises"))
            .collect();
        (result.status, events)
    }

    fn request() -> Value {
        json!({"bucket": "photos", "key": "beach/dog.jpg"})
    }

    fn of(outcomes: &BTreeMap<String, Outcome>, name: &str) -> Outcome {
        outcomes.get(name).copied().unwrap_or_default()
    }

    fn assert_outcomes(outcomes: &BTreeMap<String, Outcome>, expected: &[(&str, Outcome)]) {
        for (name, outcome) in expected {
            assert_eq!(of(outcomes, name), *outcome, "{name} in {outcomes:?}");
        }
    }

    fn pipeline() -> Value {
        serde_json::from_str(PIPELINE).expect("the shipped definition is JSON")
    }

    /// Every state name in a definition, branches included.
    fn names(definition: &Value) -> Vec<String> {
        let mut all = Vec::new();
        let Some(states) = definition.get("States").and_then(Value::as_object) else {
            return all;
        };
        for (name, state) in states {
            all.push(name.clone());
            for branch in state
                .get("Branches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                all.extend(names(branch));
            }
        }
        all
    }

    /// A numeric attribute of the first element after `from` in `svg`.
    fn attribute(svg: &str, from: usize, name: &str) -> f64 {
        let needle = format!(" {name}=\"");
        let at = svg[from..].find(&needle).expect("the attribute") + from + needle.len();
        let end = svg[at..].find('"').expect("a closing quote") + at;
        svg[at..end].parse().expect("a number")
    }

    /// The box of the node for state `name`: x, y, width, height.
    fn node_box(svg: &str, name: &str) -> [f64; 4] {
        let at = svg
            .find(&format!("data-state=\"{}\"", Esc(name)))
            .unwrap_or_else(|| panic!("no node for {name}"));
        let rect = svg[at..].find("<rect").expect("a rect") + at;
        ["x", "y", "width", "height"].map(|a| attribute(svg, rect, a))
    }

    /// The status a node is drawn with.
    fn drawn_status<'s>(svg: &'s str, name: &str) -> &'s str {
        let at = svg
            .find(&format!("data-state=\"{}\"", Esc(name)))
            .expect("the node");
        let from = svg[at..].find("data-status=\"").expect("a status") + at + 13;
        let to = svg[from..].find('"').expect("a closing quote") + from;
        &svg[from..to]
    }

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg class=\"graph\" "), "{svg}");
        assert!(svg.ends_with("</svg>"));
        for (open, close) in [("<g ", "</g>"), ("<a ", "</a>"), ("<text", "</text>")] {
            let opened = svg.matches(open).count()
                + if open == "<g " {
                    svg.matches("<g>").count()
                } else {
                    0
                };
            assert_eq!(opened, svg.matches(close).count(), "{open} in {svg}");
        }
        assert_eq!(svg.matches("<svg").count(), 1);
        // The CSP forbids inline styles and scripts.
        assert!(!svg.contains("style="));
        assert!(!svg.contains("<style"));
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn the_shipped_definition_is_drawn_whole() {
        let definition = pipeline();
        let svg = render(&definition, &BTreeMap::new());
        well_formed(&svg);
        let all = names(&definition);
        assert_eq!(all.len(), 17);
        for name in &all {
            assert_eq!(
                svg.matches(&format!("data-state=\"{name}\"")).count(),
                1,
                "{name} is one node"
            );
            assert!(svg.contains(&format!("<a href=\"#state-{name}\">")));
        }
        assert_eq!(svg.matches("<g class=\"node ").count(), 17);
        assert!(svg.contains("class=\"node not-run parallel container\" data-state=\"Analyze\""));
        assert!(svg.contains("class=\"node not-run choice\" data-state=\"Normalize\""));
        assert!(svg.contains("class=\"node not-run fail\" data-state=\"Failed\""));
        assert!(svg.contains(">Start</text>") && svg.contains(">End</text>"));
        // Validate, Analyze, Record and RecordRejected catch, into two targets or one.
        assert_eq!(svg.matches("class=\"edge catch\"").count(), 6);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"State machine graph: 17 states, 17 not run\""));
        assert!(svg.contains("<marker id=\"graph-arrow\""));
        for outcome in Outcome::ALL {
            assert!(svg.contains(&format!("<g class=\"{}\"><rect", outcome.class())));
            assert!(svg.contains(&format!(">{}</text>", outcome.label())));
        }
    }

    #[test]
    fn parallel_branches_sit_side_by_side_inside_their_container() {
        let svg = render(&pipeline(), &BTreeMap::new());
        let branches =
            ["DetectLabels", "DetectModeration", "DetectText"].map(|n| node_box(&svg, n));
        for pair in branches.windows(2) {
            assert!(
                pair[0][0] + pair[0][2] <= pair[1][0],
                "left to right: {pair:?}"
            );
            assert!(
                (pair[0][1] - pair[1][1]).abs() < 1.0,
                "same height: {pair:?}"
            );
        }
        let analyze = node_box(&svg, "Analyze");
        for b in &branches {
            assert!(b[0] > analyze[0] && b[0] + b[2] < analyze[0] + analyze[2]);
            assert!(b[1] > analyze[1] && b[1] + b[3] < analyze[1] + analyze[3]);
        }
        // Top to bottom along the main path.
        let ys: Vec<f64> = [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "Analyze",
            "Record",
        ]
        .iter()
        .map(|n| node_box(&svg, n)[1])
        .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        // The five ways in share a rank.
        let ins = [
            "FromVersionedObjectCreatedEvent",
            "FromObjectCreatedEvent",
            "FromVersionedS3Notification",
            "FromS3Notification",
            "FromObjectRequest",
        ]
        .map(|n| node_box(&svg, n));
        assert!(ins.iter().all(|b| (b[1] - ins[0][1]).abs() < 1.0));
        assert!(ins.iter().all(|b| b[2] >= NODE_MIN_W));
        // Nodes never overlap.
        let boxes: Vec<[f64; 4]> = names(&pipeline())
            .iter()
            .filter(|n| n.as_str() != "Analyze")
            .map(|n| node_box(&svg, n))
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let apart = a[0] + a[2] <= b[0]
                    || b[0] + b[2] <= a[0]
                    || a[1] + a[3] <= b[1]
                    || b[1] + b[3] <= a[1];
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        // The viewBox holds everything.
        let width = attribute(&svg, 0, "width");
        assert!(boxes.iter().all(|b| b[0] >= 0.0 && b[0] + b[2] <= width));
    }

    #[tokio::test]
    async fn a_retry_a_catch_and_a_failure_are_told_apart() {
        // DetectModeration is throttled once; Record's store is down for good, so the Catch
        // takes the execution to RecordFailed and then the Fail state.
        let (status, events) = run(PIPELINE, request(), |state, retry| match (state, retry) {
            ("DetectModeration", 0) => Err(("Lambda.TooManyRequestsException", "slow down")),
            ("Record", _) => Err(("StoreFailed", "disk full")),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Failed);
        let outcomes = outcomes(&events);
        use Outcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Normalize", Succeeded),
                ("FromObjectRequest", Succeeded),
                ("FromVersionedObjectCreatedEvent", NotRun),
                ("FromObjectCreatedEvent", NotRun),
                ("FromVersionedS3Notification", NotRun),
                ("FromS3Notification", NotRun),
                ("UnrecognisedInput", NotRun),
                ("Validate", Succeeded),
                ("Analyze", Succeeded),
                ("DetectLabels", Succeeded),
                ("DetectModeration", Retried),
                ("DetectText", Succeeded),
                ("Record", Caught),
                ("RecordFailed", Succeeded),
                ("Failed", Failed),
                ("RecordRejected", NotRun),
                ("Rejected", NotRun),
            ],
        );
        assert_eq!(outcomes.len(), 10, "only states that ran: {outcomes:?}");

        let svg = render(&pipeline(), &outcomes);
        well_formed(&svg);
        for (name, status) in [
            ("DetectModeration", "retried"),
            ("Record", "caught"),
            ("Failed", "failed"),
            ("Rejected", "not-run"),
            ("Analyze", "succeeded"),
        ] {
            assert_eq!(drawn_status(&svg, name), status, "{name}");
        }
        assert!(svg.contains("class=\"node caught task\" data-state=\"Record\""));
        assert!(svg.contains(
            "aria-label=\"State machine graph: 17 states, 7 succeeded, 1 retried, 1 caught, \
             1 failed, 7 not run\""
        ));
    }

    #[tokio::test]
    async fn a_failed_branch_fails_its_state_and_the_parallel_is_caught() {
        let (status, events) = run(PIPELINE, request(), |state, _| match state {
            "DetectLabels" => Err(("ImageRejected.Corrupt", "not a JPEG after all")),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = outcomes(&events);
        use Outcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Validate", Succeeded),
                ("Analyze", Caught),
                ("DetectLabels", Failed),
                ("RecordRejected", Succeeded),
                ("Rejected", Succeeded),
                ("Record", NotRun),
                ("RecordFailed", NotRun),
                ("Failed", NotRun),
            ],
        );
        // The other branches finished, or were stopped when DetectLabels failed.
        for sibling in ["DetectModeration", "DetectText"] {
            assert!(
                matches!(of(&outcomes, sibling), Succeeded | NotRun),
                "{outcomes:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_rejected_image_is_caught_at_validation() {
        let (status, events) = run(PIPELINE, request(), |state, _| match state {
            "Validate" => Err((
                "ImageRejected.TooSmall",
                "The image is narrower than 80 px.",
            )),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = outcomes(&events);
        use Outcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Validate", Caught),
                ("Analyze", NotRun),
                ("DetectLabels", NotRun),
                ("RecordRejected", Succeeded),
                ("Rejected", Succeeded),
            ],
        );
    }

    #[tokio::test]
    async fn unrecognised_input_fails_at_the_fail_state() {
        let (status, events) = run(PIPELINE, json!({"hello": "world"}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Failed);
        let outcomes = outcomes(&events);
        assert_outcomes(
            &outcomes,
            &[
                ("Normalize", Outcome::Succeeded),
                ("UnrecognisedInput", Outcome::Failed),
                ("Validate", Outcome::NotRun),
            ],
        );
    }

    #[tokio::test]
    async fn an_unfinished_history_shows_what_is_running() {
        let (_, events) = run(PIPELINE, request(), |state, _| match state {
            "Record" => Err(("StoreFailed", "disk full")),
            _ => Ok(()),
        })
        .await;
        // Cut the history just after Record's first attempt was scheduled.
        let scheduled = events
            .iter()
            .position(|e| {
                e["type"] == "TaskScheduled"
                    && e["taskScheduledEventDetails"]["parameters"]
                        .as_str()
                        .is_some_and(|p| p.contains("ANALYZED"))
            })
            .expect("Record was scheduled");
        let running = outcomes(&events[..=scheduled]);
        assert_outcomes(
            &running,
            &[
                ("Validate", Outcome::Succeeded),
                ("Analyze", Outcome::Succeeded),
                ("Record", Outcome::Running),
                ("RecordFailed", Outcome::NotRun),
            ],
        );
        // Mid-way through its retries, a failed attempt is still running, not failed.
        let failed_once = events
            .iter()
            .position(|e| e["type"] == "TaskFailed")
            .expect("Record failed once");
        assert_eq!(
            of(&outcomes(&events[..=failed_once]), "Record"),
            Outcome::Running
        );
    }

    #[tokio::test]
    async fn a_state_failing_inside_a_branch_without_a_task_event_is_found() {
        // The Choice matches nothing: no Task event says so, only the way the Parallel's
        // failure leads back to it. (States.Runtime, say from a bad path, is never caught.)
        let definition = json!({
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "Bad", "States": {
                        "Bad": {"Type": "Choice", "Choices": [
                            {"Variable": "$.n", "IsPresent": true, "Next": "Never"}
                        ]},
                        "Never": {"Type": "Succeed"}
                    }}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                    "End": true
                },
                "Done": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&definition.to_string(), json!({}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Succeeded);
        assert_outcomes(
            &outcomes(&events),
            &[
                ("Bad", Outcome::Failed),
                ("Never", Outcome::NotRun),
                ("Fan", Outcome::Caught),
                ("Done", Outcome::Succeeded),
            ],
        );

        let choice = json!({
            "StartAt": "Pick",
            "States": {
                "Pick": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericEquals": 1, "Next": "One"}
                ]},
                "One": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&choice.to_string(), json!({"n": 2}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Failed);
        assert_outcomes(
            &outcomes(&events),
            &[("Pick", Outcome::Failed), ("One", Outcome::NotRun)],
        );
    }

    #[tokio::test]
    async fn a_loop_succeeds_and_draws() {
        let definition = json!({
            "StartAt": "Count",
            "States": {
                "Count": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                    "Next": "Enough?"
                },
                "Enough?": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}
                ], "Default": "Done"},
                "Done": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&definition.to_string(), json!({"n": 0}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = outcomes(&events);
        assert_outcomes(
            &outcomes,
            &[
                ("Count", Outcome::Succeeded),
                ("Enough?", Outcome::Succeeded),
                ("Done", Outcome::Succeeded),
            ],
        );
        let svg = render(&definition, &outcomes);
        well_formed(&svg);
        assert_eq!(svg.matches("data-status=\"succeeded\"").count(), 3);
        assert!(svg.contains("href=\"#state-Enough%3F\""));
        // The loop back up is an edge like the others (4 edges, plus Start and End).
        assert_eq!(svg.matches("class=\"edge\"").count(), 5);
    }

    #[test]
    fn legacy_lambda_events_and_a_retried_parallel_count_as_retries() {
        let event = |id: u64, prev: u64, kind: &str, name: Option<&str>| {
            let mut e = json!({"id": id, "previousEventId": prev, "type": kind});
            if let Some(name) = name {
                let key = if kind.ends_with("Entered") {
                    "stateEnteredEventDetails"
                } else {
                    "stateExitedEventDetails"
                };
                e[key] = json!({"name": name});
            }
            e
        };
        let events = vec![
            event(1, 0, "ExecutionStarted", None),
            event(2, 0, "TaskStateEntered", Some("Call")),
            event(3, 2, "LambdaFunctionScheduled", None),
            event(4, 3, "LambdaFunctionStarted", None),
            event(5, 4, "LambdaFunctionTimedOut", None),
            event(6, 5, "LambdaFunctionScheduled", None),
            event(7, 6, "LambdaFunctionStarted", None),
            event(8, 7, "LambdaFunctionSucceeded", None),
            event(9, 8, "TaskStateExited", Some("Call")),
            event(10, 9, "ParallelStateEntered", Some("Both")),
            event(11, 10, "ParallelStateStarted", None),
            event(12, 11, "PassStateEntered", Some("Left")),
            event(13, 11, "FailStateEntered", Some("Right")),
            event(14, 13, "ParallelStateStarted", None),
            event(15, 14, "PassStateEntered", Some("Left")),
            event(16, 15, "PassStateExited", Some("Left")),
            event(17, 14, "PassStateEntered", Some("Right")),
            event(18, 17, "PassStateExited", Some("Right")),
            event(19, 18, "ParallelStateSucceeded", None),
            event(20, 19, "ParallelStateExited", Some("Both")),
            event(21, 20, "ExecutionSucceeded", None),
        ];
        // (In the second attempt "Right" is a Pass: names are all the history has.)
        let outcomes = outcomes(&events);
        assert_outcomes(
            &outcomes,
            &[
                ("Call", Outcome::Retried),
                ("Both", Outcome::Retried),
                ("Left", Outcome::Succeeded),
                ("Right", Outcome::Retried),
            ],
        );
    }

    #[test]
    fn garbage_histories_do_not_panic() {
        let garbage = vec![
            json!(1),
            json!(null),
            json!({"type": 5}),
            json!({"id": 1, "previousEventId": 1, "type": "TaskStateEntered"}),
            json!({"id": 2, "previousEventId": 9, "type": "TaskStateExited"}),
            json!({"id": 3, "previousEventId": 4, "type": "ParallelStateFailed"}),
            json!({"id": 4, "previousEventId": 3, "type": "ExecutionFailed"}),
            json!({"id": "x", "type": "PassStateEntered", "stateEnteredEventDetails": {"name": 7}}),
            json!({"type": "PassStateEntered", "stateEnteredEventDetails": {"name": "Loose"}}),
            json!({"id": u64::MAX, "previousEventId": u64::MAX, "type": "MapIterationFailed"}),
        ];
        let outcomes = outcomes(&garbage);
        assert_eq!(of(&outcomes, "Loose"), Outcome::NotRun);
        assert!(super::outcomes(&[]).is_empty());
    }

    #[test]
    fn hostile_names_come_out_escaped() {
        let definition = json!({
            "StartAt": SCRIPT,
            "States": {
                SCRIPT: {"Type": "Pass", "Next": ATTRIBUTE},
                ATTRIBUTE: {"Type": "<b>Task</b>", "End": true}
            }
        });
        let outcomes = BTreeMap::from([(SCRIPT.to_owned(), Outcome::Failed)]);
        let svg = render(&definition, &outcomes);
        well_formed(&svg);
        assert!(!svg.contains("<img") && !svg.contains("<b>"));
        assert!(svg.contains("data-state=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(svg.contains("href=\"#state-%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
        assert!(svg.contains("data-state=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\""));
        assert!(svg.contains("class=\"node not-run unknown\""));
        assert!(svg.contains("&lt;b&gt;Task&lt;/b&gt;"));
        assert_eq!(drawn_status(&svg, SCRIPT), "failed");
        assert_eq!(
            anchor(SCRIPT),
            "state-%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
        );
    }

    #[test]
    fn garbage_definitions_draw_what_they_can() {
        let cases = [
            json!({}),
            json!([]),
            json!(null),
            json!("StartAt"),
            json!({"StartAt": 5, "States": []}),
            json!({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": true}}}),
            json!({"StartAt": "A", "States": {"A": 7, "B": [], "C": {"Type": 3, "Next": ["A"]}}}),
            json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Choice", "Choices": [{"Next": "A"}, 5, {"Next": "Gone"}],
                      "Default": "C"}
            }}),
            json!({"StartAt": "Me", "States": {"Me": {"Type": "Task", "Next": "Me",
                "Catch": [{"Next": "Me"}, {"Next": 1}, "x"]}}}),
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
                {}, [], {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "P"}}}
            ], "End": true}}}),
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "Iterator": {
                "StartAt": "Item", "States": {"Item": {"Type": "Task", "End": true}}
            }, "End": true}}}),
        ];
        for definition in &cases {
            let svg = render(definition, &BTreeMap::new());
            well_formed(&svg);
        }
        // A Map's processor is drawn inside it; a name with no state behind it is not.
        let svg = render(&cases[10], &BTreeMap::new());
        let (map, item) = (node_box(&svg, "M"), node_box(&svg, "Item"));
        assert!(item[1] > map[1] && item[1] + item[3] < map[1] + map[3]);
        let svg = render(&cases[7], &BTreeMap::new());
        assert!(!svg.contains("Gone"));
        assert_eq!(svg.matches("<g class=\"node ").count(), 3);
    }

    #[test]
    fn deep_and_huge_definitions_stay_bounded() {
        // Parallels nested 60 deep: drawn down to the depth limit, the rest as a plain node.
        let mut definition =
            json!({"StartAt": "Leaf", "States": {"Leaf": {"Type": "Pass", "End": true}}});
        for depth in 0..60 {
            definition = json!({"StartAt": format!("P{depth}"), "States": {
                format!("P{depth}"): {"Type": "Parallel", "Branches": [definition], "End": true}
            }});
        }
        let svg = render(&definition, &BTreeMap::new());
        well_formed(&svg);
        assert!(svg.contains("data-state=\"P59\""));
        assert!(svg.contains("data-state=\"P51\""));
        assert!(!svg.contains("data-state=\"Leaf\""));

        // Thousands of states, each catching into every later one: capped, not stuck.
        let states: serde_json::Map<String, Value> = (0..3000)
            .map(|i| {
                let catch: Vec<Value> = (i + 1..3000)
                    .map(|j| json!({"Next": format!("S{j}")}))
                    .take(50)
                    .collect();
                (
                    format!("S{i}"),
                    json!({"Type": "Task", "Next": format!("S{}", i + 1), "Catch": catch}),
                )
            })
            .collect();
        let svg = render(
            &json!({"StartAt": "S0", "States": states}),
            &BTreeMap::new(),
        );
        well_formed(&svg);
        assert_eq!(svg.matches("<g class=\"node ").count(), MAX_STATES);
    }
}
