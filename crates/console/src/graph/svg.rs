//! Drawing a laid-out machine as inline SVG. Colours come from classes styled in
//! `console.css`, because the Content-Security-Policy allows neither `style` attributes nor
//! `<style>` elements; every state name goes through [`Esc`] (text, attributes) and
//! [`anchor`] (links).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use spotlight_states::{StateMachine, StateOutcome};

use super::anchor;
use super::layout::{
    lay_out, FlowRole, Layout, Node, NodeContent, Point, Route, HEADER_H, LOOP_W, PAD,
};
use super::model::{kind_class, read_machine};
use super::outcome::{class, glyph, label, LEGEND};
use crate::html::Esc;

/// Room around the drawing.
const MARGIN: f64 = 12.0;
/// One legend entry.
const LEGEND_ITEM_W: f64 = 100.0;
const LEGEND_ITEM_H: f64 = 22.0;

/// A coordinate, printed short: to a tenth, without a trailing `.0`.
struct Coord(f64);

impl fmt::Display for Coord {
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

/// The machine drawn as `<svg class="graph" …>…</svg>`, each state coloured by its outcome
/// (states missing from `outcomes` have not run), with a legend across the top.
///
/// Every state, including those inside Parallel branches and a Map's processor, is a node
/// linking to `#`[`anchor`]`(name)`. Containers nested deeper than eight levels are drawn as
/// plain nodes, and states beyond the 400th and edges beyond the 1600th are left out, so that
/// no definition makes the page explode.
pub fn render(machine: &StateMachine, outcomes: &BTreeMap<String, StateOutcome>) -> String {
    let flow = read_machine(machine);
    let layout = lay_out(&flow, FlowRole::Machine);
    let mut canvas = Canvas {
        out: String::new(),
        outcomes,
        counts: BTreeMap::new(),
    };

    // The legend wraps to the graph's width (but never narrower than three items).
    let per_row = ((layout.w / LEGEND_ITEM_W).floor() as usize).clamp(3, LEGEND.len());
    let rows = LEGEND.len().div_ceil(per_row);
    let legend_w = per_row as f64 * LEGEND_ITEM_W;
    let inner_w = layout.w.max(legend_w);
    let graph_top = MARGIN + rows as f64 * LEGEND_ITEM_H + 14.0;
    let width = (inner_w + 2.0 * MARGIN).ceil();
    let height = (graph_top + layout.h + MARGIN).ceil();

    canvas.out.push_str("<g class=\"legend\">");
    for (i, &outcome) in LEGEND.iter().enumerate() {
        let x = MARGIN + (i % per_row) as f64 * LEGEND_ITEM_W;
        let y = MARGIN + (i / per_row) as f64 * LEGEND_ITEM_H;
        let _ = write!(
            canvas.out,
            "<g class=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" rx=\"3\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            class(outcome),
            Coord(x),
            Coord(y),
            Coord(x + 20.0),
            Coord(y + 11.5),
            label(outcome),
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
    let mut description = format!("State machine graph: {total} states");
    for outcome in LEGEND {
        if let Some(count) = canvas.counts.get(class(outcome)) {
            let _ = write!(description, ", {count} {}", label(outcome).to_lowercase());
        }
    }
    format!(
        "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
         width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{description}\"><defs>\
         <marker id=\"graph-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" \
         fill=\"#5b6477\"/></marker></defs>{body}</svg>",
        w = Coord(width),
        h = Coord(height),
        description = Esc(&description),
        body = canvas.out,
    )
}

struct Canvas<'o> {
    out: String,
    outcomes: &'o BTreeMap<String, StateOutcome>,
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
                    Coord(a.x),
                    Coord(a.y),
                    Coord(a.x + LOOP_W),
                    Coord(a.y - 14.0),
                    Coord(b.x + LOOP_W),
                    Coord(b.y + 14.0),
                    Coord(b.x + 2.0),
                    Coord(b.y)
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
        let (state, branches) = match &node.content {
            NodeContent::StartMarker | NodeContent::EndMarker => {
                let text = if matches!(node.content, NodeContent::StartMarker) {
                    "Start"
                } else {
                    "End"
                };
                let _ = write!(
                    self.out,
                    "<g class=\"marker\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                     rx=\"{}\"/><text x=\"{}\" y=\"{}\">{text}</text></g>",
                    Coord(x),
                    Coord(y),
                    Coord(w),
                    Coord(h),
                    Coord(h / 2.0),
                    Coord(x + w / 2.0),
                    Coord(y + h / 2.0 + 4.0),
                );
                return;
            }
            NodeContent::State { state, branches } => (*state, branches),
        };
        let outcome = self.outcomes.get(&state.name).copied().unwrap_or_default();
        *self.counts.entry(class(outcome)).or_default() += 1;
        let container = !branches.is_empty();
        let _ = write!(
            self.out,
            "<a href=\"#{anchor}\"><g class=\"node {status} {kind}{extra}\" data-state=\"{name}\" \
             data-status=\"{status}\"><title>{name} ({type_name}): {label}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"6\"/>",
            anchor = anchor(&state.name),
            status = class(outcome),
            kind = kind_class(state.kind),
            extra = if container { " container" } else { "" },
            name = Esc(&state.name),
            type_name = state.kind,
            label = label(outcome),
            x = Coord(x),
            y = Coord(y),
            w = Coord(w),
            h = Coord(h),
        );
        let shown = state.shown_name();
        if container {
            let _ = write!(
                self.out,
                "<text class=\"header\" x=\"{}\" y=\"{}\">{}</text>",
                Coord(x + PAD),
                Coord(y + 16.0),
                Esc(&state.header()),
            );
        } else {
            let _ = write!(
                self.out,
                "<text class=\"name\" x=\"{cx}\" y=\"{}\">{}</text>\
                 <text class=\"type\" x=\"{cx}\" y=\"{}\">{}</text>",
                Coord(y + 19.0),
                Esc(&shown),
                Coord(y + 34.0),
                state.kind,
                cx = Coord(x + w / 2.0),
            );
        }
        if let Some(glyph) = glyph(outcome) {
            let _ = write!(
                self.out,
                "<text class=\"glyph\" x=\"{}\" y=\"{}\">{glyph}</text>",
                Coord(x + w - 10.0),
                Coord(y + 15.0),
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
        for (offset, branch) in branches {
            let origin = Point {
                x: x + offset.x,
                y: y + offset.y,
            };
            let _ = write!(
                self.out,
                "<rect class=\"branch\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" \
                 fill=\"none\"/>",
                Coord(origin.x - PAD / 2.0),
                Coord(origin.y - PAD / 2.0),
                Coord(branch.w + PAD),
                Coord(branch.h + PAD),
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
            Coord(top.x),
            Coord(top.y)
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
                let _ = write!(d, "M{},{}", Coord(b.x), Coord(b.y));
            }
            Some(a) if (a.x - b.x).abs() < 0.5 => {
                let _ = write!(d, "L{},{}", Coord(b.x), Coord(b.y));
            }
            Some(a) => {
                let mid = (a.y + b.y) / 2.0;
                let _ = write!(
                    d,
                    "C{},{} {},{} {},{}",
                    Coord(a.x),
                    Coord(mid),
                    Coord(b.x),
                    Coord(mid),
                    Coord(b.x),
                    Coord(b.y)
                );
            }
        }
        last = Some(b);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::model::MAX_STATES;
    use super::super::test_support::{
        drawn_status, machine, names, pipeline, well_formed, ATTRIBUTE, SCRIPT,
    };
    use super::*;

    #[test]
    fn the_shipped_definition_is_drawn_whole() {
        let definition = pipeline();
        let svg = render(&machine(&definition), &BTreeMap::new());
        well_formed(&svg);
        let all = names(&definition);
        // 23, then issue 14's reprocess: Reprocessing, PlanReprocess and each branch's Run…
        // choice and Keep… pass.
        assert_eq!(all.len(), 31);
        for name in &all {
            assert_eq!(
                svg.matches(&format!("data-state=\"{name}\"")).count(),
                1,
                "{name} is one node"
            );
            assert!(svg.contains(&format!("<a href=\"#state-{name}\">")));
        }
        assert_eq!(svg.matches("<g class=\"node ").count(), 31);
        assert!(svg.contains("class=\"node not-run parallel container\" data-state=\"Analyze\""));
        assert!(svg.contains("class=\"node not-run choice\" data-state=\"Normalize\""));
        assert!(svg.contains("class=\"node not-run fail\" data-state=\"Failed\""));
        assert!(svg.contains(">Start</text>") && svg.contains(">End</text>"));
        // Validate, Analyze, Record, RecordRejected and PlanReprocess catch, into two targets
        // or one, and PublishResult into ResultUndelivered.
        assert_eq!(svg.matches("class=\"edge catch\"").count(), 8);
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"State machine graph: 31 states, 31 not run\""));
        assert!(svg.contains("<marker id=\"graph-arrow\""));
        for outcome in LEGEND {
            assert!(svg.contains(&format!("<g class=\"{}\"><rect", class(outcome))));
            assert!(svg.contains(&format!(">{}</text>", label(outcome))));
        }
    }

    #[test]
    fn hostile_names_come_out_escaped() {
        let definition = json!({
            "StartAt": SCRIPT,
            "States": {
                SCRIPT: {"Type": "Pass", "Next": ATTRIBUTE},
                ATTRIBUTE: {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "End": true}
            }
        });
        let outcomes = BTreeMap::from([(SCRIPT.to_owned(), StateOutcome::Failed)]);
        let svg = render(&machine(&definition), &outcomes);
        well_formed(&svg);
        assert!(!svg.contains("<img") && !svg.contains("<b>"));
        assert!(svg.contains("data-state=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(svg.contains("href=\"#state-%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
        assert!(svg.contains("data-state=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\""));
        assert!(svg.contains("class=\"node not-run task\""));
        assert_eq!(drawn_status(&svg, SCRIPT), "failed");
        assert_eq!(
            anchor(SCRIPT),
            "state-%3Cscript%3Ealert%281%29%3C%2Fscript%3E"
        );
    }

    #[test]
    fn odd_definitions_draw_whole() {
        const RESOURCE: &str = "arn:aws:states:::lambda:invoke";
        let cases = [
            // A loop through a Choice that may also pick itself.
            json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "IsPresent": true, "Next": "A"}
                ], "Default": "C"}
            }}),
            // A task that retries itself by Next and by Catch.
            json!({"StartAt": "Me", "States": {"Me": {"Type": "Task", "Resource": RESOURCE,
                "Next": "Me", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Me"}]}}}),
            // A branch that loops inside its Parallel.
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
                {"StartAt": "X", "States": {
                    "X": {"Type": "Pass", "Next": "Y"},
                    "Y": {"Type": "Choice", "Choices": [
                        {"Variable": "$.again", "BooleanEquals": true, "Next": "X"}
                    ], "Default": "Z"},
                    "Z": {"Type": "Succeed"}
                }}
            ], "End": true}}}),
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "Iterator": {
                "StartAt": "Item", "States": {"Item": {"Type": "Task", "Resource": RESOURCE,
                    "End": true}}
            }, "End": true}}}),
        ];
        for (definition, states) in cases.iter().zip([3, 1, 4, 2]) {
            let svg = render(&machine(definition), &BTreeMap::new());
            well_formed(&svg);
            assert_eq!(svg.matches("<g class=\"node ").count(), states, "{svg}");
        }
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
        let svg = render(&machine(&definition), &BTreeMap::new());
        well_formed(&svg);
        assert!(svg.contains("data-state=\"P59\""));
        assert!(svg.contains("data-state=\"P51\""));
        assert!(!svg.contains("data-state=\"Leaf\""));

        // Thousands of states, each catching into every later one: capped, not stuck.
        let states: serde_json::Map<String, Value> = (0..3000)
            .map(|i| {
                let catch: Vec<Value> = (i + 1..3000)
                    .map(|j| json!({"ErrorEquals": [format!("E{j}")], "Next": format!("S{j}")}))
                    .take(50)
                    .collect();
                (
                    format!("S{i}"),
                    if i + 1 < 3000 {
                        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Next": format!("S{}", i + 1), "Catch": catch})
                    } else {
                        json!({"Type": "Succeed"})
                    },
                )
            })
            .collect();
        let svg = render(
            &machine(&json!({"StartAt": "S0", "States": states})),
            &BTreeMap::new(),
        );
        well_formed(&svg);
        assert_eq!(svg.matches("<g class=\"node ").count(), MAX_STATES);
    }
}
