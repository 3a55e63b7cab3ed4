//! Where everything goes: a layered (Sugiyama-style) drawing, top to bottom, one flow at a
//! time, containers from the inside out. Pure geometry: nothing here knows about SVG or
//! outcomes, so the tests check positions, ranks and routes directly.

use std::collections::{HashMap, HashSet};

use super::model::{EdgeKind, Flow, StateNode};

/// Width of a character of bold 12px text (names, headers), as an estimate: there are no font
/// metrics on the server, and a little too wide beats text running out of its box.
const CHAR_W: f64 = 7.5;
const TYPE_CHAR_W: f64 = 6.0;
pub(super) const NODE_MIN_W: f64 = 120.0;
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
/// Room on a node's right for an edge to itself.
pub(super) const LOOP_W: f64 = 26.0;
/// Container geometry: header band, the fork from its top port into the branches (and the
/// join out of them), padding, the gap between branches.
pub(super) const HEADER_H: f64 = 24.0;
const FORK_H: f64 = 22.0;
pub(super) const PAD: f64 = 12.0;
const BRANCH_GAP: f64 = 16.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub(super) x: f64,
    pub(super) y: f64,
}

/// A path: a start and segments, each a line or a vertical-tangent curve to the next point.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) points: Vec<Point>,
    pub(super) catch: bool,
    pub(super) arrow: bool,
    /// A state's edge to itself: drawn as a loop on its right.
    pub(super) self_loop: bool,
}

/// A box in its flow's coordinates, and what is drawn in it.
pub(super) struct Node<'d> {
    pub(super) content: NodeContent<'d>,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
    /// Its layer, counted from the top of its flow (the Start marker is 0). Only the tests
    /// read it: drawing needs the coordinates alone.
    #[cfg(test)]
    pub(super) rank: usize,
}

pub(super) enum NodeContent<'d> {
    StartMarker,
    EndMarker,
    State {
        state: &'d StateNode,
        /// Branch layouts and their offsets from the node's corner.
        branches: Vec<(Point, Layout<'d>)>,
    },
}

/// One flow laid out in a box from 0,0 to `w`,`h`.
pub(super) struct Layout<'d> {
    pub(super) w: f64,
    pub(super) h: f64,
    /// The machine's own flow also has Start and End markers; a branch has only its states.
    pub(super) nodes: Vec<Node<'d>>,
    pub(super) routes: Vec<Route>,
    /// Where a branch begins and ends (its fork and join attach there).
    pub(super) start: Point,
    pub(super) end: Option<Point>,
}

/// Which flow is laid out: the machine's own has visible Start and End markers, a branch has
/// points there instead, where its container's fork and join attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlowRole {
    Machine,
    Branch,
}

/// One vertex of the layered graph: the Start and End markers, the states, and the lanes of
/// edges that cross more than one rank.
struct Vertex {
    w: f64,
    h: f64,
    rank: usize,
    /// Its first-guess place in its rank: the depth-first preorder.
    order_key: f64,
    lane: bool,
    x: f64,
    y: f64,
}

/// Lays out one flow: its containers first (their size depends on their branches), then ranks,
/// lanes, order and coordinates.
pub(super) fn lay_out(flow: &Flow, role: FlowRole) -> Layout<'_> {
    let state_count = flow.states.len();
    let (start, end) = (0, state_count + 1);
    let root = role == FlowRole::Machine;
    let marker = if root {
        (MARKER_W, MARKER_H)
    } else {
        (0.0, 0.0)
    };
    let mut contents: Vec<NodeContent<'_>> = Vec::with_capacity(state_count + 2);
    let mut vertices: Vec<Vertex> = Vec::with_capacity(state_count + 2);
    let vertex = |(w, h): (f64, f64)| Vertex {
        w,
        h,
        rank: 0,
        order_key: 0.0,
        lane: false,
        x: 0.0,
        y: 0.0,
    };
    contents.push(NodeContent::StartMarker);
    vertices.push(vertex(marker));
    for state in &flow.states {
        let inner: Vec<Layout<'_>> = state
            .branches
            .iter()
            .map(|branch| lay_out(branch, FlowRole::Branch))
            .collect();
        let (size, branches) = if inner.is_empty() {
            (node_size(state), Vec::new())
        } else {
            container(state, inner)
        };
        contents.push(NodeContent::State { state, branches });
        vertices.push(vertex(size));
    }
    contents.push(NodeContent::EndMarker);
    vertices.push(vertex(marker));

    // Edges, resolved by name within this flow (ASL allows no other target).
    let index: HashMap<&str, usize> = flow
        .states
        .iter()
        .enumerate()
        .map(|(i, state)| (state.name.as_str(), i + 1))
        .collect();
    let mut edges: Vec<(usize, usize, EdgeKind)> = Vec::new();
    if let Some(&first) = index.get(flow.start.as_str()) {
        edges.push((start, first, EdgeKind::Next));
    }
    for (i, state) in flow.states.iter().enumerate() {
        for (target, kind) in &state.edges {
            if let Some(&to) = index.get(target.as_str()) {
                edges.push((i + 1, to, *kind));
            }
        }
        if state.terminal {
            edges.push((i + 1, end, EdgeKind::Next));
        }
    }
    let has_loop: HashSet<usize> = edges.iter().filter(|e| e.0 == e.1).map(|e| e.0).collect();
    for &v in &has_loop {
        vertices[v].w += 2.0 * LOOP_W;
    }

    let (back, preorder) = back_edges(vertices.len(), &edges);
    for (v, &p) in vertices.iter_mut().zip(&preorder) {
        v.order_key = p as f64;
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
        let order_key = vertices[a].order_key + 0.5;
        for r in ra + 1..rb {
            let lane = vertices.len();
            vertices.push(Vertex {
                rank: r,
                order_key,
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
        let (upper, lower) = dag[dag_at];
        let chain = &chains[dag_at];
        dag_at += 1;
        let (va, vb) = (&vertices[upper], &vertices[lower]);
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
    let nodes = contents
        .into_iter()
        .zip(&vertices)
        .enumerate()
        .map(|(i, (content, v))| {
            // A self-loop's room was layout width only: the box keeps its own size, centred.
            let room = if has_loop.contains(&i) { LOOP_W } else { 0.0 };
            Node {
                x: v.x - v.w / 2.0 + room,
                y: v.y,
                w: v.w - 2.0 * room,
                h: v.h,
                #[cfg(test)]
                rank: v.rank,
                content,
            }
        })
        .filter(|node| root || matches!(node.content, NodeContent::State { .. }))
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

fn node_size(state: &StateNode) -> (f64, f64) {
    let name = chars(&state.shown_name()) * CHAR_W;
    let type_name = chars(state.kind.as_str()) * TYPE_CHAR_W;
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
fn container<'d>(
    state: &StateNode,
    inner: Vec<Layout<'d>>,
) -> ((f64, f64), Vec<(Point, Layout<'d>)>) {
    let header = chars(&state.header()) * CHAR_W + 2.0 * PAD;
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
        layer.sort_by(|&a, &b| vertices[a].order_key.total_cmp(&vertices[b].order_key));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::super::model::read_machine;
    use super::super::test_support::{machine, names, pipeline};
    use super::*;

    /// A state's box in the machine's coordinates, and its rank within its own flow.
    #[derive(Debug, Clone, Copy)]
    struct Placed {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        rank: usize,
    }

    impl Placed {
        fn right(&self) -> f64 {
            self.x + self.w
        }

        fn bottom(&self) -> f64 {
            self.y + self.h
        }

        fn holds(&self, inner: &Placed) -> bool {
            inner.x > self.x
                && inner.right() < self.right()
                && inner.y > self.y
                && inner.bottom() < self.bottom()
        }

        fn apart_from(&self, other: &Placed) -> bool {
            self.right() <= other.x
                || other.right() <= self.x
                || self.bottom() <= other.y
                || other.bottom() <= self.y
        }
    }

    /// Every state's box, branches included, by name.
    fn placed(layout: &Layout<'_>) -> BTreeMap<String, Placed> {
        fn walk(layout: &Layout<'_>, at: Point, out: &mut BTreeMap<String, Placed>) {
            for node in &layout.nodes {
                let NodeContent::State { state, branches } = &node.content else {
                    continue;
                };
                let corner = Point {
                    x: at.x + node.x,
                    y: at.y + node.y,
                };
                out.insert(
                    state.name.clone(),
                    Placed {
                        x: corner.x,
                        y: corner.y,
                        w: node.w,
                        h: node.h,
                        rank: node.rank,
                    },
                );
                for (offset, branch) in branches {
                    let origin = Point {
                        x: corner.x + offset.x,
                        y: corner.y + offset.y,
                    };
                    walk(branch, origin, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(layout, Point { x: 0.0, y: 0.0 }, &mut out);
        out
    }

    /// Every route of a layout and of the branches inside it.
    fn all_routes<'l>(layout: &'l Layout<'_>, out: &mut Vec<&'l Route>) {
        out.extend(&layout.routes);
        for node in &layout.nodes {
            if let NodeContent::State { branches, .. } = &node.content {
                for (_, branch) in branches {
                    all_routes(branch, out);
                }
            }
        }
    }

    fn close(a: Point, b: Point) -> bool {
        (a.x - b.x).abs() < 0.01 && (a.y - b.y).abs() < 0.01
    }

    /// Where edges may attach in a flow: the middle of each box's top and bottom, and a
    /// branch's start and end points.
    fn ports(layout: &Layout<'_>) -> Vec<Point> {
        let mut ports = vec![layout.start];
        ports.extend(layout.end);
        for node in &layout.nodes {
            let middle = node.x + node.w / 2.0;
            ports.push(Point {
                x: middle,
                y: node.y,
            });
            ports.push(Point {
                x: middle,
                y: node.y + node.h,
            });
        }
        ports
    }

    fn check_routes_attach_to_ports(layout: &Layout<'_>) {
        let ports = ports(layout);
        for route in layout.routes.iter().filter(|r| !r.self_loop) {
            let (first, last) = (route.points[0], route.points[route.points.len() - 1]);
            assert!(
                ports.iter().any(|&p| close(p, first)),
                "{route:?} starts off a port"
            );
            assert!(
                ports.iter().any(|&p| close(p, last)),
                "{route:?} ends off a port"
            );
        }
        for node in &layout.nodes {
            if let NodeContent::State { branches, .. } = &node.content {
                for (_, branch) in branches {
                    check_routes_attach_to_ports(branch);
                }
            }
        }
    }

    #[test]
    fn parallel_branches_sit_side_by_side_inside_their_container() {
        let definition = pipeline();
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        let boxes = placed(&layout);
        let branches = ["DetectLabels", "DetectModeration", "DetectText"].map(|n| boxes[n]);
        for pair in branches.windows(2) {
            assert!(pair[0].right() <= pair[1].x, "left to right: {pair:?}");
            assert!((pair[0].y - pair[1].y).abs() < 1.0, "same height: {pair:?}");
            assert_eq!(pair[0].rank, pair[1].rank, "same rank: {pair:?}");
        }
        let analyze = boxes["Analyze"];
        for branch in &branches {
            assert!(analyze.holds(branch), "{branch:?} outside {analyze:?}");
        }
        // Top to bottom along the main path, a rank at a time at least.
        let main_path = [
            "Normalize",
            "FromObjectRequest",
            "Validate",
            "Analyze",
            "Record",
        ]
        .map(|n| boxes[n]);
        for pair in main_path.windows(2) {
            assert!(pair[0].bottom() < pair[1].y, "{pair:?}");
            assert!(pair[0].rank < pair[1].rank, "{pair:?}");
        }
        assert_eq!(boxes["Normalize"].rank, 1, "right below Start");
        // The five ways in share a rank.
        let ways_in = [
            "FromVersionedObjectCreatedEvent",
            "FromObjectCreatedEvent",
            "FromVersionedS3Notification",
            "FromS3Notification",
            "FromObjectRequest",
        ]
        .map(|n| boxes[n]);
        assert!(ways_in.iter().all(|b| b.rank == ways_in[0].rank));
        assert!(ways_in.iter().all(|b| (b.y - ways_in[0].y).abs() < 1.0));
        assert!(ways_in.iter().all(|b| b.w >= NODE_MIN_W));
        // Nodes never overlap.
        let plain: Vec<Placed> = names(&definition)
            .iter()
            .filter(|n| n.as_str() != "Analyze")
            .map(|n| boxes[n.as_str()])
            .collect();
        for (i, a) in plain.iter().enumerate() {
            for b in &plain[i + 1..] {
                assert!(a.apart_from(b), "{a:?} overlaps {b:?}");
            }
        }
        // The layout's box holds everything.
        assert!(boxes
            .values()
            .all(|b| b.x >= 0.0 && b.right() <= layout.w && b.bottom() <= layout.h));
    }

    #[test]
    fn edges_run_from_port_to_port_and_catches_are_marked() {
        let definition = pipeline();
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        check_routes_attach_to_ports(&layout);
        let mut routes = Vec::new();
        all_routes(&layout, &mut routes);
        // Validate, Analyze, Record, RecordRejected and PlanReprocess catch, into two targets
        // or one, and PublishResult into ResultUndelivered.
        assert_eq!(routes.iter().filter(|r| r.catch).count(), 8);
        // The branches' last states lead into the join: no arrowhead halfway.
        let analyze = match &layout.nodes.iter().find_map(|n| match &n.content {
            NodeContent::State { state, branches } if state.name == "Analyze" => Some(branches),
            _ => None,
        }) {
            Some(branches) => branches.len(),
            None => panic!("no Analyze node"),
        };
        assert_eq!(analyze, 3);
        // Two last states a branch: its analyser and its Keep… pass (a reprocess).
        assert_eq!(routes.iter().filter(|r| !r.arrow).count(), 6);
        // Edges go down the page, except those that return to an earlier state (none here).
        for route in &routes {
            let (first, last) = (route.points[0], route.points[route.points.len() - 1]);
            assert!(first.y < last.y, "{route:?}");
        }
    }

    #[test]
    fn a_loop_back_up_ends_at_the_state_it_returns_to() {
        let definition = json!({
            "StartAt": "Count",
            "States": {
                "Count": {"Type": "Pass", "Next": "Enough?"},
                "Enough?": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}
                ], "Default": "Done"},
                "Done": {"Type": "Succeed"}
            }
        });
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        let boxes = placed(&layout);
        // Start, Count, Enough?, Done, End: one rank each.
        assert_eq!(
            ["Count", "Enough?", "Done"].map(|n| boxes[n].rank),
            [1, 2, 3]
        );
        // 4 edges, plus Start's and End's.
        assert_eq!(layout.routes.len(), 5);
        check_routes_attach_to_ports(&layout);
        let upward: Vec<&Route> = layout
            .routes
            .iter()
            .filter(|r| r.points[r.points.len() - 1].y < r.points[0].y)
            .collect();
        assert_eq!(upward.len(), 1, "{:?}", layout.routes);
        let count = boxes["Count"];
        let arrives = upward[0].points[upward[0].points.len() - 1];
        assert!(close(
            arrives,
            Point {
                x: count.x + count.w / 2.0,
                y: count.bottom()
            }
        ));
        assert!(upward[0].arrow);
    }

    #[test]
    fn an_edge_to_itself_is_a_loop_beside_its_box() {
        let definition = json!({"StartAt": "Again", "States": {
            "Again": {"Type": "Pass", "Next": "Again"}
        }});
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        let again = placed(&layout)["Again"];
        let loops: Vec<&Route> = layout.routes.iter().filter(|r| r.self_loop).collect();
        assert_eq!(loops.len(), 1);
        // It leaves and re-enters the box's right side; the box keeps its own width.
        assert!(loops[0]
            .points
            .iter()
            .all(|p| (p.x - again.right()).abs() < 0.01));
        assert!((again.w - NODE_MIN_W).abs() < 0.01, "{again:?}");
        assert!(layout.w >= again.right() + LOOP_W);
    }

    #[test]
    fn a_long_edge_runs_through_lanes_between_the_ranks_it_skips() {
        // A → B → C → D, and A → D, which crosses the ranks of B and C.
        let definition = json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "B",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "D"}]},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Pass", "Next": "D"},
            "D": {"Type": "Succeed"}
        }});
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        let boxes = placed(&layout);
        let catch: Vec<&Route> = layout.routes.iter().filter(|r| r.catch).collect();
        assert_eq!(catch.len(), 1);
        // Out of A, in and out of a lane in each of two ranks, into D.
        assert_eq!(catch[0].points.len(), 6, "{:?}", catch[0]);
        for point in &catch[0].points[1..5] {
            for name in ["B", "C"] {
                let b = boxes[name];
                assert!(
                    point.x < b.x || point.x > b.right(),
                    "the lane at {point:?} runs through {name}: {b:?}"
                );
            }
        }
    }

    #[test]
    fn a_maps_processor_is_laid_out_inside_it() {
        let definition: Value = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "Iterator": {
            "StartAt": "Item", "States": {"Item": {"Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke", "End": true}}
        }, "End": true}}});
        let flow = read_machine(&machine(&definition));
        let layout = lay_out(&flow, FlowRole::Machine);
        let boxes = placed(&layout);
        assert!(boxes["M"].holds(&boxes["Item"]), "{boxes:?}");
        // Below the branch's start point, where the fork from the container's port attaches.
        assert_eq!(boxes["Item"].rank, 1);
    }
}
