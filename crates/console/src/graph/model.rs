//! What the graph draws: each body of a parsed machine (the machine itself, a Parallel's
//! branches, a Map's processor) as a [`Flow`] of [`StateNode`]s with their edges, read from
//! `spotlight-states`' view of the machine.
//!
//! The drawing is bounded whatever the input: containers nested past [`MAX_DEPTH`] are drawn
//! as plain nodes, and at most [`MAX_STATES`] states and [`MAX_EDGES`] edges are kept.

use spotlight_states::view::{self, StateKind, Transition, Via};
use spotlight_states::StateMachine;

/// Containers nested deeper than this are drawn as plain nodes: past it the drawing would be
/// unreadable anyway, and the recursion stays bounded whatever the input.
pub(super) const MAX_DEPTH: usize = 8;
/// At most this many states and edges are drawn, so a hostile definition cannot make the
/// layout (which adds a point per rank an edge crosses) or the page explode.
pub(super) const MAX_STATES: usize = 400;
pub(super) const MAX_EDGES: usize = 1600;
/// Longer names are cut (the tooltip has them whole).
const MAX_NAME_CHARS: usize = 40;

/// How a transition is drawn: a catcher's is dashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EdgeKind {
    Next,
    Catch,
}

/// A class for a state's kind, from a fixed list.
pub(super) fn kind_class(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Task => "task",
        StateKind::Pass => "pass",
        StateKind::Choice => "choice",
        StateKind::Wait => "wait",
        StateKind::Succeed => "succeed",
        StateKind::Fail => "fail",
        StateKind::Parallel => "parallel",
        StateKind::Map => "map",
    }
}

/// One body: a branch, a Map's processor, or the machine itself.
pub(super) struct Flow {
    pub(super) start: String,
    pub(super) states: Vec<StateNode>,
}

/// One state as the graph draws it.
pub(super) struct StateNode {
    pub(super) name: String,
    pub(super) kind: StateKind,
    /// Targets by name, each once per kind.
    pub(super) edges: Vec<(String, EdgeKind)>,
    /// Whether it ends its flow (`End`, or a Succeed or Fail state).
    pub(super) terminal: bool,
    /// The flows drawn inside it: a Parallel's branches, a Map's processor.
    pub(super) branches: Vec<Flow>,
}

impl StateNode {
    /// The name as drawn in the box.
    pub(super) fn shown_name(&self) -> String {
        spotlight_core::text::cut(&self.name, MAX_NAME_CHARS)
    }

    /// A container's header: its name and type on one line.
    pub(super) fn header(&self) -> String {
        format!("{} · {}", self.shown_name(), self.kind)
    }
}

/// What is left of [`MAX_STATES`] and [`MAX_EDGES`] while a definition is read.
struct Budget {
    states: usize,
    edges: usize,
}

/// The machine as the graph draws it.
pub(super) fn read_machine(machine: &StateMachine) -> Flow {
    let mut budget = Budget {
        states: MAX_STATES,
        edges: MAX_EDGES,
    };
    read_flow(machine.states(), 0, &mut budget)
}

fn read_flow(body: view::States<'_>, depth: usize, budget: &mut Budget) -> Flow {
    let mut states = Vec::new();
    for state in body.iter() {
        if budget.states == 0 {
            break;
        }
        budget.states -= 1;
        states.push(read_state(state, depth, budget));
    }
    Flow {
        start: body.start_at().to_owned(),
        states,
    }
}

fn read_state(state: view::State<'_>, depth: usize, budget: &mut Budget) -> StateNode {
    let mut edges: Vec<(String, EdgeKind)> = Vec::new();
    for (via, target) in state.successors() {
        if budget.edges == 0 {
            break;
        }
        let edge = match via {
            Via::Catch(_) => EdgeKind::Catch,
            Via::Next | Via::ChoiceRule(_) | Via::Default => EdgeKind::Next,
        };
        if !edges.iter().any(|(t, e)| t == target && *e == edge) {
            budget.edges -= 1;
            edges.push((target.to_owned(), edge));
        }
    }
    let branches = if depth < MAX_DEPTH {
        state
            .nested()
            .into_iter()
            .map(|body| read_flow(body, depth + 1, budget))
            .collect()
    } else {
        Vec::new()
    };
    StateNode {
        name: state.name().to_owned(),
        kind: state.kind(),
        edges,
        terminal: matches!(state.transition(), Transition::End | Transition::Fail),
        branches,
    }
}
