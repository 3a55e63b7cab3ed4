//! The state machine as a graph: an inline SVG of an ASL definition, each state coloured by what
//! happened to it in one execution, like the graph view of the Step Functions console.
//!
//! [`render`] lays a parsed machine out top to bottom (from `spotlight-states`' read-only view
//! of it, the engine's own model) and draws each state with its
//! [`spotlight_states::StateOutcome`], as [`spotlight_states::attribute`] reads them from the
//! history. The page around the graph provides one section per state with the id [`anchor`]`(name)`, so that a click on a
//! node jumps to it: the graph itself needs no script.
//!
//! The stages are separate modules: `model` (what to draw: flows of states and their edges),
//! `layout` (ranks, order and coordinates: pure geometry), `svg` (the drawing) and `outcome`
//! (how each outcome is shown).
//!
//! Neither fails: whatever part of a history makes sense is used, the rest is ignored; a
//! definition that does not parse has no graph (the page says why instead).

mod layout;
mod model;
mod outcome;
mod svg;

pub use svg::render;

use crate::html::url_part;

/// The id of the page section about state `name`, which the graph's nodes link to.
pub fn anchor(name: &str) -> String {
    format!("state-{}", url_part(name))
}

#[cfg(test)]
mod test_support;
