//! A read-only view of a parsed state machine, for code that reads definitions without running
//! them: the console's graph, the repository's data-flow checker, linters.
//!
//! The engine's syntax tree stays private (it changes with the engine); these views borrow from
//! it and show what a definition says once it has been validated: states and their kinds,
//! transitions, nested bodies, retriers and catchers, and every path a field reads or writes,
//! already parsed by the engine's own JSONPath and intrinsic-function parsers.
//!
//! ```
//! use spotlight_states::view::{StateKind, Transition};
//!
//! let machine = spotlight_states::StateMachine::parse(
//!     r#"{"StartAt": "Get", "States": {
//!         "Get": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
//!                 "Parameters": {"Payload.$": "$.photo"}, "Next": "Done"},
//!         "Done": {"Type": "Succeed"}}}"#,
//!     &Default::default(),
//! )?;
//! let get = machine.states().start();
//! assert_eq!(get.kind(), StateKind::Task);
//! assert_eq!(get.transition(), Transition::Next("Done"));
//! let reads: Vec<String> = get.reads().iter().map(|r| r.path.text().to_string()).collect();
//! assert_eq!(reads, ["$.photo"]);
//! # Ok::<(), spotlight_states::DefinitionError>(())
//! ```

use crate::definition::{self, Body, IoPath, StateMachine};
use crate::intrinsics::Call;
use crate::path::{self, Path};
use crate::states::{self, Kind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fmt;

impl StateMachine {
    /// The machine's top-level states.
    pub fn states(&self) -> States<'_> {
        States { body: &self.root }
    }

    /// The machine's `TimeoutSeconds`, if any.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }
}

/// A list of states with a start: the machine itself, a Parallel branch or a Map processor.
#[derive(Debug, Clone, Copy)]
pub struct States<'a> {
    body: &'a Body,
}

impl<'a> States<'a> {
    /// The name of the first state (`StartAt`).
    pub fn start_at(&self) -> &'a str {
        self.start().name()
    }

    /// The first state.
    pub fn start(&self) -> State<'a> {
        self.at(self.body.start)
    }

    /// Every state, in document order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = State<'a>> + 'a {
        let body = self.body;
        body.states.iter().map(move |node| State { body, node })
    }

    /// The state called `name`.
    pub fn get(&self, name: &str) -> Option<State<'a>> {
        self.iter().find(|s| s.name() == name)
    }

    /// How many states there are (nested ones not counted).
    pub fn len(&self) -> usize {
        self.body.states.len()
    }

    /// Always false: a validated body has at least one state.
    pub fn is_empty(&self) -> bool {
        self.body.states.is_empty()
    }

    /// Every state, nested ones included, each followed by those of its Parallel branches and
    /// Map processor, in document order.
    pub fn walk(&self) -> Vec<State<'a>> {
        let mut out = Vec::new();
        for state in self.iter() {
            out.push(state);
            for inner in state.nested() {
                out.extend(inner.walk());
            }
        }
        out
    }

    fn at(&self, index: usize) -> State<'a> {
        State {
            body: self.body,
            node: &self.body.states[index],
        }
    }

    fn name_of(&self, index: usize) -> &'a str {
        &self.body.states[index].name
    }
}

/// What a state does, by its `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// `Task`: calls a resource.
    Task,
    /// `Pass`: passes its input (or a fixed result) on.
    Pass,
    /// `Choice`: picks the next state by rules.
    Choice,
    /// `Wait`: waits for a time.
    Wait,
    /// `Succeed`: ends its body successfully.
    Succeed,
    /// `Fail`: ends the execution with an error.
    Fail,
    /// `Parallel`: runs branches at once.
    Parallel,
    /// `Map`: runs a processor once per item.
    Map,
}

impl StateKind {
    /// The `Type` as written in a definition: `Task`, `Pass`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Task => "Task",
            StateKind::Pass => "Pass",
            StateKind::Choice => "Choice",
            StateKind::Wait => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail => "Fail",
            StateKind::Parallel => "Parallel",
            StateKind::Map => "Map",
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a state goes when it ends normally (errors go to its [`Catcher`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition<'a> {
    /// `Next`: to the named state of the same body.
    Next(&'a str),
    /// The body ends with this state's output: `End: true`, or a Succeed state.
    End,
    /// A Choice state: its rules and `Default` decide (see [`State::choice`]).
    Choice,
    /// A Fail state: the execution fails.
    Fail,
}

/// Why a state may go to another: which field names the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The state's `Next`.
    Next,
    /// The `Next` of a Choice rule, by its index in `Choices`.
    ChoiceRule(usize),
    /// A Choice state's `Default`.
    Default,
    /// A catcher, by its index in `Catch`.
    Catch(usize),
}

/// One state of a parsed machine.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    body: &'a Body,
    node: &'a definition::State,
}

impl<'a> State<'a> {
    fn body(&self) -> States<'a> {
        States { body: self.body }
    }

    /// The state's name.
    pub fn name(&self) -> &'a str {
        &self.node.name
    }

    /// Its `Type`.
    pub fn kind(&self) -> StateKind {
        match &self.node.kind {
            Kind::Task(_) => StateKind::Task,
            Kind::Pass(_) => StateKind::Pass,
            Kind::Choice(_) => StateKind::Choice,
            Kind::Wait(_) => StateKind::Wait,
            Kind::Succeed => StateKind::Succeed,
            Kind::Fail(_) => StateKind::Fail,
            Kind::Parallel(_) => StateKind::Parallel,
            Kind::Map(_) => StateKind::Map,
        }
    }

    /// Its `Comment`, if it is a string.
    pub fn comment(&self) -> Option<&'a str> {
        self.node.comment.as_deref()
    }

    /// Where it goes when it ends normally.
    pub fn transition(&self) -> Transition<'a> {
        match (&self.node.kind, self.node.next) {
            (_, Some(next)) => Transition::Next(self.body().name_of(next)),
            (Kind::Choice(_), None) => Transition::Choice,
            (Kind::Fail(_), None) => Transition::Fail,
            (_, None) => Transition::End,
        }
    }

    /// Every state it can go to, each with the field that names it, in the order `Next`,
    /// Choice rules, `Default`, catchers. A target named twice is listed twice.
    pub fn successors(&self) -> Vec<(Via, &'a str)> {
        let body = self.body();
        let mut out = Vec::new();
        if let Some(next) = self.node.next {
            out.push((Via::Next, body.name_of(next)));
        }
        if let Some(choice) = self.choice() {
            for (index, rule) in choice.rules().enumerate() {
                out.push((Via::ChoiceRule(index), rule.next()));
            }
            out.extend(choice.default().map(|d| (Via::Default, d)));
        }
        for (index, catcher) in self.catchers().enumerate() {
            out.push((Via::Catch(index), catcher.next()));
        }
        out
    }

    /// `InputPath`.
    pub fn input_path(&self) -> InputOutputPath<'a> {
        InputOutputPath::of(&self.node.flow.input_path)
    }

    /// `OutputPath`.
    pub fn output_path(&self) -> InputOutputPath<'a> {
        InputOutputPath::of(&self.node.flow.output_path)
    }

    /// `Parameters` (Pass, Task, Parallel). A Map's `ItemSelector` (or legacy `Parameters`) is
    /// [`Map::item_selector`].
    pub fn parameters(&self) -> Option<Template<'a>> {
        self.node.flow.parameters.as_ref().map(Template::of)
    }

    /// `ResultSelector`.
    pub fn result_selector(&self) -> Option<Template<'a>> {
        self.node.flow.result_selector.as_ref().map(Template::of)
    }

    /// `ResultPath`: where the state's result goes in its input.
    pub fn result_path(&self) -> ResultPath<'a> {
        ResultPath::of(&self.node.flow.result_path)
    }

    /// `Retry`, in order.
    pub fn retriers(&self) -> impl ExactSizeIterator<Item = Retrier<'a>> + 'a {
        self.node.retry.iter().map(|node| Retrier { node })
    }

    /// `Catch`, in order.
    pub fn catchers(&self) -> impl ExactSizeIterator<Item = Catcher<'a>> + 'a {
        let body = self.body;
        self.node
            .catch
            .iter()
            .map(move |node| Catcher { body, node })
    }

    /// Its query language: its own `QueryLanguage`, else the machine's.
    pub fn query_language(&self) -> QueryLanguage {
        match self.node.lang {
            definition::Lang::JsonPath => QueryLanguage::JsonPath,
            definition::Lang::Jsonata => QueryLanguage::Jsonata,
        }
    }

    /// Its `Assign` (the state's own, not its catchers' or Choice rules'), if any.
    pub fn assign(&self) -> Option<Assignment<'a>> {
        self.node.assign.as_ref().map(|node| Assignment { node })
    }

    /// Every JSONata expression of the state, each with the field it is in, named as AWS names
    /// it in causes (`Output/result`, `Arguments`, `Items`, `Choices/0/Condition`,
    /// `Catch/1/Output`), in definition order.
    pub fn expressions(&self) -> Vec<Expression<'a>> {
        let mut out = Vec::new();
        let node = self.node;
        for t in [&node.arguments, &node.output].into_iter().flatten() {
            template_expressions(t, "", &mut out);
        }
        if let Some(definition::Assign::Jsonata(t)) = &node.assign {
            template_expressions(t, "", &mut out);
        }
        let expr = |out: &mut Vec<Expression<'a>>, field: &str, e: &'a crate::jsonata::Expr| {
            out.push(Expression {
                field: field.to_string(),
                text: e.text(),
            })
        };
        match &node.kind {
            Kind::Task(t) => {
                for (field, s) in [
                    ("TimeoutSeconds", &t.timeout),
                    ("HeartbeatSeconds", &t.heartbeat),
                ] {
                    if let Some(states::task::Seconds::Expr(e)) = s {
                        expr(&mut out, field, e);
                    }
                }
            }
            Kind::Wait(states::wait::Wait::SecondsExpr(e)) => expr(&mut out, "Seconds", e),
            Kind::Wait(states::wait::Wait::TimestampExpr(e)) => expr(&mut out, "Timestamp", e),
            Kind::Fail(f) => {
                for (field, s) in [("Error", &f.error), ("Cause", &f.cause)] {
                    if let states::fail::Src::Expr(e) = s {
                        expr(&mut out, field, e);
                    }
                }
            }
            Kind::Map(m) => {
                if let Some(states::map::Num::Expr(e)) = &m.max_concurrency {
                    expr(&mut out, "MaxConcurrency", e);
                }
                if let Some(states::map::Num::Expr(e)) = &m.tolerated_count {
                    expr(&mut out, "ToleratedFailureCount", e);
                }
                if let Some(states::map::Num::Expr(e)) = &m.tolerated_percentage {
                    expr(&mut out, "ToleratedFailurePercentage", e);
                }
                for t in [&m.items, &m.jsonata_selector].into_iter().flatten() {
                    template_expressions(t, "", &mut out);
                }
            }
            Kind::Choice(c) => {
                for (i, ((rule, _), extra)) in c.rules.iter().zip(&c.rule_extras).enumerate() {
                    if let states::choice::Rule::Condition(e) = rule {
                        expr(&mut out, &format!("Choices/{i}/Condition"), e);
                    }
                    if let Some(t) = &extra.output {
                        template_expressions(t, &format!("Choices/{i}/"), &mut out);
                    }
                    if let Some(definition::Assign::Jsonata(t)) = &extra.assign {
                        template_expressions(t, &format!("Choices/{i}/"), &mut out);
                    }
                }
            }
            _ => {}
        }
        for (i, c) in node.catch.iter().enumerate() {
            if let Some(t) = &c.output {
                template_expressions(t, &format!("Catch/{i}/"), &mut out);
            }
            if let Some(definition::Assign::Jsonata(t)) = &c.assign {
                template_expressions(t, &format!("Catch/{i}/"), &mut out);
            }
        }
        out
    }

    /// A Pass state's `Result`.
    pub fn pass_result(&self) -> Option<&'a Value> {
        match &self.node.kind {
            Kind::Pass(pass) => pass.result.as_ref(),
            _ => None,
        }
    }

    /// A Task state's own fields.
    pub fn task(&self) -> Option<Task<'a>> {
        match &self.node.kind {
            Kind::Task(node) => Some(Task { node }),
            _ => None,
        }
    }

    /// A Choice state's rules and `Default`.
    pub fn choice(&self) -> Option<Choice<'a>> {
        match &self.node.kind {
            Kind::Choice(node) => Some(Choice {
                body: self.body,
                node,
            }),
            _ => None,
        }
    }

    /// What a Wait state waits for.
    pub fn wait(&self) -> Option<Wait<'a>> {
        match &self.node.kind {
            Kind::Wait(states::wait::Wait::Seconds(s)) => Some(Wait::Seconds(*s)),
            Kind::Wait(states::wait::Wait::Timestamp(t)) => Some(Wait::Timestamp(*t)),
            Kind::Wait(states::wait::Wait::SecondsPath(p)) => {
                Some(Wait::SecondsPath(JsonPath::new(p)))
            }
            Kind::Wait(states::wait::Wait::TimestampPath(p)) => {
                Some(Wait::TimestampPath(JsonPath::new(p)))
            }
            Kind::Wait(states::wait::Wait::SecondsExpr(e)) => {
                Some(Wait::SecondsExpression(e.text()))
            }
            Kind::Wait(states::wait::Wait::TimestampExpr(e)) => {
                Some(Wait::TimestampExpression(e.text()))
            }
            _ => None,
        }
    }

    /// A Fail state's error and cause.
    pub fn fail(&self) -> Option<Fail<'a>> {
        match &self.node.kind {
            Kind::Fail(node) => Some(Fail { node }),
            _ => None,
        }
    }

    /// A Parallel state's branches (empty for any other state).
    pub fn branches(&self) -> Vec<States<'a>> {
        match &self.node.kind {
            Kind::Parallel(node) => node.branches.iter().map(|b| States { body: b }).collect(),
            _ => Vec::new(),
        }
    }

    /// A Map state's own fields.
    pub fn map(&self) -> Option<Map<'a>> {
        match &self.node.kind {
            Kind::Map(node) => Some(Map { node }),
            _ => None,
        }
    }

    /// The bodies this state runs: a Parallel's branches or a Map's processor.
    pub fn nested(&self) -> Vec<States<'a>> {
        match self.map() {
            Some(map) => vec![map.processor()],
            None => self.branches(),
        }
    }

    /// Every path this state's own fields read, with the field that reads it, in the order the
    /// state applies them (`InputPath`, `Parameters`/`ItemsPath`/`ItemSelector`/…,
    /// `ResultSelector`, `OutputPath`); Choice rules, Wait and Fail paths included. Nested
    /// states are not included, nor `ResultPath`, which writes (see [`State::result_path`]).
    pub fn reads(&self) -> Vec<PathRead<'a>> {
        let mut out = Vec::new();
        let mut add = |field: String, path: JsonPath<'a>| out.push(PathRead { field, path });
        if let InputOutputPath::Select(p) = self.input_path() {
            add("InputPath".into(), p);
        }
        if let Some(t) = self.parameters() {
            t.reads("Parameters", &mut add);
        }
        if let Some(task) = self.task() {
            for (field, seconds) in [
                ("TimeoutSecondsPath", task.timeout()),
                ("HeartbeatSecondsPath", task.heartbeat()),
            ] {
                if let Some(FixedOrPath::Path(p)) = seconds {
                    add(field.into(), p);
                }
            }
        }
        if let Some(choice) = self.choice() {
            for (index, rule) in choice.rules().enumerate() {
                rule.condition()
                    .reads(&format!("Choices[{index}]"), &mut add);
            }
        }
        match self.wait() {
            Some(Wait::SecondsPath(p)) => add("SecondsPath".into(), p),
            Some(Wait::TimestampPath(p)) => add("TimestampPath".into(), p),
            _ => {}
        }
        if let Some(fail) = self.fail() {
            for (field, value) in [("ErrorPath", fail.error()), ("CausePath", fail.cause())] {
                match value {
                    Some(FailField::Path(p)) => add(field.into(), p),
                    Some(FailField::Call(call)) => {
                        call.paths().into_iter().for_each(|p| add(field.into(), p))
                    }
                    _ => {}
                }
            }
        }
        if let Some(map) = self.map() {
            if let Some(p) = map.items_path() {
                add("ItemsPath".into(), p);
            }
            for (field, value) in [
                (
                    "MaxConcurrencyPath",
                    map.max_concurrency().and_then(FixedOrPath::path),
                ),
                (
                    "ToleratedFailureCountPath",
                    map.tolerated_failure_count().and_then(FixedOrPath::path),
                ),
                (
                    "ToleratedFailurePercentagePath",
                    map.tolerated_failure_percentage()
                        .and_then(FixedOrPath::path),
                ),
            ] {
                if let Some(p) = value {
                    add(field.into(), p);
                }
            }
            if let Some(t) = map.item_selector() {
                t.reads("ItemSelector", &mut add);
            }
        }
        if let Some(t) = self.result_selector() {
            t.reads("ResultSelector", &mut add);
        }
        if let InputOutputPath::Select(p) = self.output_path() {
            add("OutputPath".into(), p);
        }
        out
    }
}

/// A path a field reads: see [`State::reads`].
#[derive(Debug, Clone)]
pub struct PathRead<'a> {
    /// Where the path is written: `InputPath`, `Parameters.Payload.photo.$`,
    /// `Choices[0].And[1].Variable`, ….
    pub field: String,
    /// The path.
    pub path: JsonPath<'a>,
}

/// `InputPath` or `OutputPath`.
#[derive(Debug, Clone, Copy)]
pub enum InputOutputPath<'a> {
    /// Absent, or `$`: the whole value.
    Whole,
    /// `null`: an empty object.
    Empty,
    /// A path selecting part of the value.
    Select(JsonPath<'a>),
}

impl<'a> InputOutputPath<'a> {
    fn of(node: &'a IoPath) -> Self {
        match node {
            IoPath::Identity => InputOutputPath::Whole,
            IoPath::Null => InputOutputPath::Empty,
            IoPath::Path(p) => InputOutputPath::Select(JsonPath::new(p)),
        }
    }
}

/// `ResultPath`: where a result (or a caught error) goes in the state's input.
#[derive(Debug, Clone, Copy)]
pub enum ResultPath<'a> {
    /// Absent, or `$`: the result replaces the input.
    Replace,
    /// `null`: the result is discarded, the input passes on.
    Discard,
    /// A reference path into the input (never `$$`).
    At(JsonPath<'a>),
}

impl<'a> ResultPath<'a> {
    fn of(node: &'a definition::ResultPath) -> Self {
        match node {
            definition::ResultPath::Replace => ResultPath::Replace,
            definition::ResultPath::Discard => ResultPath::Discard,
            definition::ResultPath::At(p) => ResultPath::At(JsonPath::new(p)),
        }
    }
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRoot {
    /// `$`: the data the state works on.
    Input,
    /// `$$`: the Context object.
    Context,
    /// `$name`: a workflow variable ([`JsonPath::variable`] names it).
    Variable,
}

/// A JSONPath, as the engine parsed it.
#[derive(Clone, Copy)]
pub struct JsonPath<'a> {
    path: &'a Path,
}

impl fmt::Debug for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonPath").field(&self.text()).finish()
    }
}

impl<'a> JsonPath<'a> {
    pub(crate) fn new(path: &'a Path) -> Self {
        JsonPath { path }
    }

    /// The path as written, e.g. `$.detail['version-id']`.
    pub fn text(&self) -> &'a str {
        self.path.text()
    }

    /// `$` or `$$`.
    pub fn root(&self) -> PathRoot {
        match self.path.root() {
            path::Root::Input => PathRoot::Input,
            path::Root::Context => PathRoot::Context,
            path::Root::Variable => PathRoot::Variable,
        }
    }

    /// The variable a `$name…` path reads.
    pub fn variable(&self) -> Option<&'a str> {
        self.path.variable()
    }

    /// True when the path can select at most one node: names and indexes only.
    pub fn is_definite(&self) -> bool {
        self.path.is_definite()
    }

    /// The segments after the root; none for `$` itself.
    pub fn segments(&self) -> Vec<PathSegment<'a>> {
        self.path.segment_views()
    }
}

/// One segment of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment<'a> {
    /// `.name` or `['name']`.
    Field(&'a str),
    /// `[3]`; negative counts from the end.
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
    /// `['a','b']`.
    Fields(&'a [String]),
    /// `[0,2]`.
    Indexes(&'a [i64]),
    /// `[start:end:step]`.
    Slice {
        /// First index, if given.
        start: Option<i64>,
        /// Index past the last, if given.
        end: Option<i64>,
        /// Step, if given.
        step: Option<i64>,
    },
    /// `[?(…)]`: a filter (its expression is not shown).
    Filter,
    /// `..` before a segment: that segment applied at every depth.
    Descendants(Box<PathSegment<'a>>),
}

/// A payload template (`Parameters`, `ItemSelector`, `ResultSelector`).
#[derive(Debug, Clone)]
pub enum Template<'a> {
    /// Nothing inside is dynamic: the value as written.
    Constant(&'a Value),
    /// An object with at least one dynamic field; keys have lost their `.$`.
    Object(Vec<(&'a str, Template<'a>)>),
    /// An array with at least one dynamic element.
    Array(Vec<Template<'a>>),
    /// `"key.$": "$.path"`.
    Path {
        /// The key as written, with its `.$`.
        field: &'a str,
        /// The path.
        path: JsonPath<'a>,
    },
    /// `"key.$": "States.Func(…)"`.
    Call {
        /// The key as written, with its `.$`.
        field: &'a str,
        /// The call.
        call: IntrinsicCall<'a>,
    },
}

impl<'a> Template<'a> {
    fn of(node: &'a definition::Template) -> Self {
        match node {
            definition::Template::Const(v) => Template::Constant(v),
            definition::Template::Object(fields) => Template::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.as_str(), Template::of(t)))
                    .collect(),
            ),
            definition::Template::Array(items) => {
                Template::Array(items.iter().map(Template::of).collect())
            }
            definition::Template::Path { path, field } => Template::Path {
                field,
                path: JsonPath::new(path),
            },
            definition::Template::Call { call, field } => Template::Call {
                field,
                call: IntrinsicCall::new(call),
            },
        }
    }

    /// Every path the template reads, intrinsic arguments included, in document order.
    pub fn paths(&self) -> Vec<JsonPath<'a>> {
        let mut out = Vec::new();
        self.reads("", &mut |_, p| out.push(p));
        out
    }

    fn reads(&self, at: &str, add: &mut impl FnMut(String, JsonPath<'a>)) {
        match self {
            Template::Constant(_) => {}
            Template::Object(fields) => {
                for (key, t) in fields {
                    let inner = match t {
                        Template::Path { field, .. } | Template::Call { field, .. } => *field,
                        _ => key,
                    };
                    t.reads(&format!("{at}.{inner}"), add);
                }
            }
            Template::Array(items) => {
                for (index, t) in items.iter().enumerate() {
                    t.reads(&format!("{at}[{index}]"), add);
                }
            }
            Template::Path { path, .. } => add(at.to_string(), *path),
            Template::Call { call, .. } => call
                .paths()
                .into_iter()
                .for_each(|p| add(at.to_string(), p)),
        }
    }
}

/// A call of an intrinsic function, e.g. `States.Format('{}', $.name)`.
#[derive(Clone, Copy)]
pub struct IntrinsicCall<'a> {
    call: &'a Call,
}

impl fmt::Debug for IntrinsicCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrinsicCall")
            .field("name", &self.name())
            .field("arguments", &self.arguments())
            .finish()
    }
}

impl<'a> IntrinsicCall<'a> {
    pub(crate) fn new(call: &'a Call) -> Self {
        IntrinsicCall { call }
    }

    /// The function, e.g. `States.Format`.
    pub fn name(&self) -> &'static str {
        self.call.name()
    }

    /// The arguments, in order.
    pub fn arguments(&self) -> Vec<IntrinsicArgument<'a>> {
        self.call.argument_views()
    }

    /// Every path among the arguments, nested calls included, in order.
    pub fn paths(&self) -> Vec<JsonPath<'a>> {
        let mut out = Vec::new();
        for argument in self.arguments() {
            match argument {
                IntrinsicArgument::Path(p) => out.push(p),
                IntrinsicArgument::Call(c) => out.extend(c.paths()),
                IntrinsicArgument::Literal(_) | IntrinsicArgument::String(_) => {}
            }
        }
        out
    }
}

/// One argument of an [`IntrinsicCall`].
#[derive(Debug, Clone)]
pub enum IntrinsicArgument<'a> {
    /// A number, boolean or `null`.
    Literal(&'a Value),
    /// A string literal, unescaped.
    String(&'a str),
    /// A path.
    Path(JsonPath<'a>),
    /// A nested call.
    Call(IntrinsicCall<'a>),
}

/// Which errors a retrier or catcher handles, as written in `ErrorEquals`.
fn error_equals(node: &definition::ErrorEquals) -> &[String] {
    &node.names
}

/// One entry of `Retry`, with ASL's defaults filled in.
#[derive(Debug, Clone, Copy)]
pub struct Retrier<'a> {
    node: &'a definition::Retrier,
}

impl<'a> Retrier<'a> {
    /// `ErrorEquals`.
    pub fn error_equals(&self) -> &'a [String] {
        error_equals(&self.node.errors)
    }

    /// `IntervalSeconds` (default 1).
    pub fn interval_seconds(&self) -> f64 {
        self.node.interval_seconds
    }

    /// `MaxAttempts` (default 3): retries, not counting the first attempt.
    pub fn max_attempts(&self) -> u32 {
        self.node.max_attempts
    }

    /// `BackoffRate` (default 2.0).
    pub fn backoff_rate(&self) -> f64 {
        self.node.backoff_rate
    }

    /// `MaxDelaySeconds`, if set.
    pub fn max_delay_seconds(&self) -> Option<f64> {
        self.node.max_delay_seconds
    }

    /// True for `JitterStrategy: FULL`.
    pub fn full_jitter(&self) -> bool {
        self.node.full_jitter
    }
}

/// One entry of `Catch`.
#[derive(Debug, Clone, Copy)]
pub struct Catcher<'a> {
    body: &'a Body,
    node: &'a definition::Catcher,
}

impl<'a> Catcher<'a> {
    /// `ErrorEquals`.
    pub fn error_equals(&self) -> &'a [String] {
        error_equals(&self.node.errors)
    }

    /// The state it routes to.
    pub fn next(&self) -> &'a str {
        States { body: self.body }.name_of(self.node.next)
    }

    /// Where `{"Error", "Cause"}` goes in the state's input.
    pub fn result_path(&self) -> ResultPath<'a> {
        ResultPath::of(&self.node.result_path)
    }
}

/// A Task state's own fields.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    node: &'a states::task::Task,
}

impl<'a> Task<'a> {
    /// `Resource`, e.g. `arn:aws:states:::lambda:invoke`.
    pub fn resource(&self) -> &'a str {
        &self.node.resource
    }

    /// `TimeoutSeconds` or `TimeoutSecondsPath`.
    pub fn timeout(&self) -> Option<FixedOrPath<'a, u64>> {
        self.node.timeout.as_ref().map(seconds)
    }

    /// `HeartbeatSeconds` or `HeartbeatSecondsPath`.
    pub fn heartbeat(&self) -> Option<FixedOrPath<'a, u64>> {
        self.node.heartbeat.as_ref().map(seconds)
    }

    /// `Credentials`, as written.
    pub fn credentials(&self) -> Option<&'a Value> {
        self.node.credentials.as_ref()
    }
}

fn seconds(node: &states::task::Seconds) -> FixedOrPath<'_, u64> {
    match node {
        states::task::Seconds::Fixed(n) => FixedOrPath::Fixed(*n),
        states::task::Seconds::Path(p) => FixedOrPath::Path(JsonPath::new(p)),
        states::task::Seconds::Expr(e) => FixedOrPath::Expression(e.text()),
    }
}

/// A number given in the definition (`MaxConcurrency`) or read from the input
/// (`MaxConcurrencyPath`).
#[derive(Debug, Clone, Copy)]
pub enum FixedOrPath<'a, T> {
    /// Written in the definition.
    Fixed(T),
    /// Read from the input at run time.
    Path(JsonPath<'a>),
    /// A JSONata expression (its text, without `{%` `%}`), evaluated at run time.
    Expression(&'a str),
}

impl<'a, T> FixedOrPath<'a, T> {
    /// The path, when it is read from the input.
    pub fn path(self) -> Option<JsonPath<'a>> {
        match self {
            FixedOrPath::Fixed(_) | FixedOrPath::Expression(_) => None,
            FixedOrPath::Path(p) => Some(p),
        }
    }
}

/// A Choice state's rules and `Default`.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    body: &'a Body,
    node: &'a states::choice::Choice,
}

impl<'a> Choice<'a> {
    /// `Choices`, in order.
    pub fn rules(&self) -> impl ExactSizeIterator<Item = ChoiceRule<'a>> + 'a {
        let body = self.body;
        self.node.rules.iter().map(move |(rule, next)| ChoiceRule {
            body,
            rule,
            next: *next,
        })
    }

    /// `Default`, if any.
    pub fn default(&self) -> Option<&'a str> {
        let body = States { body: self.body };
        self.node.default.map(|d| body.name_of(d))
    }
}

/// One top-level Choice rule: a condition and where it leads.
#[derive(Debug, Clone, Copy)]
pub struct ChoiceRule<'a> {
    body: &'a Body,
    rule: &'a states::choice::Rule,
    next: usize,
}

impl<'a> ChoiceRule<'a> {
    /// What must hold.
    pub fn condition(&self) -> Condition<'a> {
        Condition::of(self.rule)
    }

    /// The rule's `Next`.
    pub fn next(&self) -> &'a str {
        States { body: self.body }.name_of(self.next)
    }
}

/// A Choice rule's condition.
#[derive(Debug, Clone)]
pub enum Condition<'a> {
    /// `And`: every condition holds.
    And(Vec<Condition<'a>>),
    /// `Or`: one condition holds.
    Or(Vec<Condition<'a>>),
    /// `Not`.
    Not(Box<Condition<'a>>),
    /// A comparison of a `Variable`.
    Compare(Comparison<'a>),
    /// A JSONata `Condition` (its text, without `{%` `%}`).
    Expression(&'a str),
}

impl<'a> Condition<'a> {
    fn of(rule: &'a states::choice::Rule) -> Self {
        use states::choice::{Rhs, Rule};
        match rule {
            Rule::And(rules) => Condition::And(rules.iter().map(Condition::of).collect()),
            Rule::Or(rules) => Condition::Or(rules.iter().map(Condition::of).collect()),
            Rule::Not(rule) => Condition::Not(Box::new(Condition::of(rule))),
            Rule::Test {
                var, rhs, operator, ..
            } => Condition::Compare(Comparison {
                variable: JsonPath::new(var),
                operator,
                operand: match rhs {
                    Rhs::Value(v) => Operand::Value(v),
                    Rhs::Path(p) => Operand::Path(JsonPath::new(p)),
                    Rhs::Pattern { text, .. } => Operand::Pattern(text),
                    Rhs::Flag(f) => Operand::Flag(*f),
                },
            }),
            Rule::Condition(e) => Condition::Expression(e.text()),
        }
    }

    fn reads(&self, at: &str, add: &mut impl FnMut(String, JsonPath<'a>)) {
        match self {
            Condition::And(list) | Condition::Or(list) => {
                let combinator = if matches!(self, Condition::And(_)) {
                    "And"
                } else {
                    "Or"
                };
                for (index, c) in list.iter().enumerate() {
                    c.reads(&format!("{at}.{combinator}[{index}]"), add);
                }
            }
            Condition::Not(c) => c.reads(&format!("{at}.Not"), add),
            // A JSONata condition reads no JSONPath.
            Condition::Expression(_) => {}
            Condition::Compare(c) => {
                add(format!("{at}.Variable"), c.variable);
                if let Operand::Path(p) = c.operand {
                    add(format!("{at}.{}", c.operator), p);
                }
            }
        }
    }
}

/// A comparison: `Variable`, an operator and its operand.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    variable: JsonPath<'a>,
    operator: &'a str,
    operand: Operand<'a>,
}

impl<'a> Comparison<'a> {
    /// `Variable`.
    pub fn variable(&self) -> JsonPath<'a> {
        self.variable
    }

    /// The operator as written: `StringEquals`, `NumericLessThanPath`, `IsPresent`, ….
    pub fn operator(&self) -> &'a str {
        self.operator
    }

    /// Its operand.
    pub fn operand(&self) -> Operand<'a> {
        self.operand
    }
}

/// What a [`Comparison`]'s `Variable` is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a> {
    /// A value written in the definition (`StringEquals: "x"`).
    Value(&'a Value),
    /// Another path (`…Path` operators).
    Path(JsonPath<'a>),
    /// `StringMatches`: the pattern as written.
    Pattern(&'a str),
    /// The `Is…` tests: `true` or `false`.
    Flag(bool),
}

/// What a Wait state waits for.
#[derive(Debug, Clone, Copy)]
pub enum Wait<'a> {
    /// `Seconds`.
    Seconds(u64),
    /// `Timestamp`.
    Timestamp(DateTime<Utc>),
    /// `SecondsPath`.
    SecondsPath(JsonPath<'a>),
    /// `TimestampPath`.
    TimestampPath(JsonPath<'a>),
    /// JSONata `Seconds` as an expression (its text, without `{%` `%}`).
    SecondsExpression(&'a str),
    /// JSONata `Timestamp` as an expression (its text, without `{%` `%}`).
    TimestampExpression(&'a str),
}

/// A query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    /// `"JSONPath"`, the default.
    JsonPath,
    /// `"JSONata"`.
    Jsonata,
}

/// A JSONata expression of a state (`"{% … %}"`), parsed at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression<'a> {
    field: String,
    text: &'a str,
}

impl<'a> Expression<'a> {
    /// The field it is in, as AWS names it in causes: `Output/result`, `Items`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Its text, without `{%` `%}`, trimmed.
    pub fn text(&self) -> &'a str {
        self.text
    }
}

fn template_expressions<'a>(
    t: &'a definition::JTemplate,
    prefix: &str,
    out: &mut Vec<Expression<'a>>,
) {
    match t {
        definition::JTemplate::Const(_) => {}
        definition::JTemplate::Expr { expr, field } => out.push(Expression {
            field: format!("{prefix}{field}"),
            text: expr.text(),
        }),
        definition::JTemplate::Object(fields) => {
            for (_, t) in fields {
                template_expressions(t, prefix, out);
            }
        }
        definition::JTemplate::Array(items) => {
            for t in items {
                template_expressions(t, prefix, out);
            }
        }
    }
}

/// A state's `Assign`: the variables it sets.
#[derive(Debug, Clone, Copy)]
pub struct Assignment<'a> {
    node: &'a definition::Assign,
}

impl<'a> Assignment<'a> {
    /// The variable names, in definition order (without the `.$` of JSONPath keys).
    pub fn names(&self) -> Vec<&'a str> {
        match self.node {
            definition::Assign::Path(definition::Template::Object(fields)) => {
                fields.iter().map(|(k, _)| k.as_str()).collect()
            }
            definition::Assign::Path(definition::Template::Const(Value::Object(m)))
            | definition::Assign::Jsonata(definition::JTemplate::Const(Value::Object(m))) => {
                m.keys().map(String::as_str).collect()
            }
            definition::Assign::Jsonata(definition::JTemplate::Object(fields)) => {
                fields.iter().map(|(k, _)| k.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// A JSONPath `Assign` as a payload template (`"name.$": "$.path"` read over the state's
    /// result); `None` for a JSONata one, whose expressions [`State::expressions`] lists.
    pub fn jsonpath(&self) -> Option<Template<'a>> {
        match self.node {
            definition::Assign::Path(t) => Some(Template::of(t)),
            definition::Assign::Jsonata(_) => None,
        }
    }
}

/// A Fail state's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fail<'a> {
    node: &'a states::fail::Fail,
}

impl<'a> Fail<'a> {
    /// `Error` or `ErrorPath`.
    pub fn error(&self) -> Option<FailField<'a>> {
        FailField::of(&self.node.error)
    }

    /// `Cause` or `CausePath`.
    pub fn cause(&self) -> Option<FailField<'a>> {
        FailField::of(&self.node.cause)
    }
}

/// A Fail state's error or cause.
#[derive(Debug, Clone, Copy)]
pub enum FailField<'a> {
    /// `Error` / `Cause`: written in the definition.
    Literal(&'a str),
    /// `ErrorPath` / `CausePath` as a path.
    Path(JsonPath<'a>),
    /// `ErrorPath` / `CausePath` as an intrinsic call.
    Call(IntrinsicCall<'a>),
    /// JSONata: `Error` / `Cause` as an expression (its text, without `{%` `%}`).
    Expression(&'a str),
}

impl<'a> FailField<'a> {
    fn of(node: &'a states::fail::Src) -> Option<Self> {
        use states::fail::Src;
        match node {
            Src::Absent => None,
            Src::Literal(s) => Some(FailField::Literal(s)),
            Src::Dynamic(definition::Template::Path { path, .. }) => {
                Some(FailField::Path(JsonPath::new(path)))
            }
            Src::Dynamic(definition::Template::Call { call, .. }) => {
                Some(FailField::Call(IntrinsicCall::new(call)))
            }
            // The parser only builds a path or a call here.
            Src::Dynamic(_) => None,
            Src::Expr(e) => Some(FailField::Expression(e.text())),
        }
    }
}

/// A Map state's own fields.
#[derive(Debug, Clone, Copy)]
pub struct Map<'a> {
    node: &'a states::map::Map,
}

impl<'a> Map<'a> {
    /// `ItemProcessor` (or the older `Iterator`).
    pub fn processor(&self) -> States<'a> {
        States {
            body: &self.node.processor,
        }
    }

    /// `ItemsPath`; absent means the whole input.
    pub fn items_path(&self) -> Option<JsonPath<'a>> {
        self.node.items_path.as_ref().map(JsonPath::new)
    }

    /// `ItemSelector` (or the older `Parameters`).
    pub fn item_selector(&self) -> Option<Template<'a>> {
        self.node.selector.as_ref().map(Template::of)
    }

    /// `MaxConcurrency` or `MaxConcurrencyPath`.
    pub fn max_concurrency(&self) -> Option<FixedOrPath<'a, u64>> {
        self.node.max_concurrency.as_ref().map(number)
    }

    /// `ToleratedFailureCount` or `ToleratedFailureCountPath`.
    pub fn tolerated_failure_count(&self) -> Option<FixedOrPath<'a, u64>> {
        self.node.tolerated_count.as_ref().map(number)
    }

    /// `ToleratedFailurePercentage` or `ToleratedFailurePercentagePath`.
    pub fn tolerated_failure_percentage(&self) -> Option<FixedOrPath<'a, f64>> {
        self.node.tolerated_percentage.as_ref().map(number)
    }
}

fn number<T: Copy>(node: &states::map::Num<T>) -> FixedOrPath<'_, T> {
    match node {
        states::map::Num::Fixed(n) => FixedOrPath::Fixed(*n),
        states::map::Num::Path(p) => FixedOrPath::Path(JsonPath::new(p)),
        states::map::Num::Expr(e) => FixedOrPath::Expression(e.text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn machine(definition: &str) -> StateMachine {
        match StateMachine::parse(definition, &HashMap::new()) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    const EVERYTHING: &str = r#"{
      "Comment": "top", "TimeoutSeconds": 60, "StartAt": "Pick",
      "States": {
        "Pick": {"Type": "Choice", "Comment": "routes",
          "Choices": [
            {"And": [{"Variable": "$.a", "IsPresent": true},
                     {"Not": {"Variable": "$.a", "StringEqualsPath": "$$.Execution.Name"}}],
             "Next": "Work"},
            {"Variable": "$.b", "StringMatches": "x*", "Next": "Hold"}
          ],
          "Default": "Broken"},
        "Hold": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
          "InputPath": "$.in", "TimeoutSeconds": 10,
          "Parameters": {"FunctionName": "f", "Payload": {"x.$": "$.x",
                         "s.$": "States.Format('{} {}', $.first, States.JsonToString($.second))"}},
          "ResultSelector": {"out.$": "$.Payload"},
          "ResultPath": "$.result", "OutputPath": "$.result",
          "Retry": [{"ErrorEquals": ["Busy"], "MaxDelaySeconds": 4, "JitterStrategy": "FULL"}],
          "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Broken"}],
          "Next": "Fan"},
        "Fan": {"Type": "Parallel", "Next": "Each",
          "Branches": [{"StartAt": "One", "States": {"One": {"Type": "Pass", "Result": 1, "End": true}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$[0]", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
          "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Succeed"}}},
          "ResultPath": null, "End": true},
        "Broken": {"Type": "Fail", "ErrorPath": "$.error.Error", "Cause": "it broke"}
      }
    }"#;

    #[test]
    fn states_kinds_and_transitions_are_shown() {
        let m = machine(EVERYTHING);
        assert_eq!(m.comment(), Some("top"));
        assert_eq!(m.timeout_seconds(), Some(60));
        let states = m.states();
        assert_eq!(states.start_at(), "Pick");
        let kinds: Vec<(&str, StateKind)> = states.iter().map(|s| (s.name(), s.kind())).collect();
        assert_eq!(
            kinds,
            [
                ("Pick", StateKind::Choice),
                ("Hold", StateKind::Wait),
                ("Work", StateKind::Task),
                ("Fan", StateKind::Parallel),
                ("Each", StateKind::Map),
                ("Broken", StateKind::Fail),
            ]
        );
        let pick = states.start();
        assert_eq!(pick.comment(), Some("routes"));
        assert_eq!(pick.transition(), Transition::Choice);
        assert_eq!(
            pick.successors(),
            [
                (Via::ChoiceRule(0), "Work"),
                (Via::ChoiceRule(1), "Hold"),
                (Via::Default, "Broken")
            ]
        );
        let work = states.get("Work").expect("Work");
        assert_eq!(work.transition(), Transition::Next("Fan"));
        assert_eq!(
            work.successors(),
            [(Via::Next, "Fan"), (Via::Catch(0), "Broken")]
        );
        assert_eq!(
            states.get("Each").map(|s| s.transition()),
            Some(Transition::End)
        );
        assert_eq!(
            states.get("Broken").map(|s| s.transition()),
            Some(Transition::Fail)
        );
        let names: Vec<&str> = states.walk().iter().map(State::name).collect();
        assert_eq!(
            names,
            ["Pick", "Hold", "Work", "Fan", "One", "Each", "Item", "Broken"]
        );
        let fan = states.get("Fan").expect("Fan");
        assert_eq!(fan.branches().len(), 1);
        assert_eq!(
            fan.nested()[0].start().pass_result(),
            Some(&serde_json::json!(1))
        );
        assert_eq!(StateKind::Parallel.to_string(), "Parallel");
    }

    #[test]
    fn retriers_catchers_and_task_fields_are_shown() {
        let m = machine(EVERYTHING);
        let work = m.states().get("Work").expect("Work");
        let retrier = work.retriers().next().expect("a retrier");
        assert_eq!(retrier.error_equals(), ["Busy"]);
        assert_eq!(
            (
                retrier.interval_seconds(),
                retrier.max_attempts(),
                retrier.backoff_rate(),
                retrier.max_delay_seconds(),
                retrier.full_jitter()
            ),
            (1.0, 3, 2.0, Some(4.0), true)
        );
        let catcher = work.catchers().next().expect("a catcher");
        assert_eq!(catcher.error_equals(), ["States.ALL"]);
        assert_eq!(catcher.next(), "Broken");
        assert!(matches!(catcher.result_path(), ResultPath::At(p) if p.text() == "$.error"));
        let task = work.task().expect("a task");
        assert_eq!(task.resource(), "arn:aws:states:::lambda:invoke");
        assert!(matches!(task.timeout(), Some(FixedOrPath::Fixed(10))));
        assert!(task.heartbeat().is_none());
        match work.parameters() {
            Some(Template::Object(fields)) => {
                assert_eq!(fields[0].0, "FunctionName");
                assert!(matches!(fields[0].1, Template::Constant(v) if v == "f"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            m.states().get("Each").map(|s| s.result_path()),
            Some(ResultPath::Discard)
        ));
    }

    #[test]
    fn every_path_a_state_reads_is_listed_with_its_field() {
        let m = machine(EVERYTHING);
        let reads = |name: &str| -> Vec<(String, String)> {
            m.states()
                .walk()
                .into_iter()
                .find(|s| s.name() == name)
                .map(|s| s.reads())
                .unwrap_or_default()
                .into_iter()
                .map(|r| (r.field, r.path.text().to_string()))
                .collect()
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(f, p)| (f.to_string(), p.to_string()))
                .collect()
        };
        assert_eq!(
            reads("Work"),
            pairs(&[
                ("InputPath", "$.in"),
                ("Parameters.Payload.x.$", "$.x"),
                ("Parameters.Payload.s.$", "$.first"),
                ("Parameters.Payload.s.$", "$.second"),
                ("ResultSelector.out.$", "$.Payload"),
                ("OutputPath", "$.result"),
            ])
        );
        assert_eq!(
            reads("Pick"),
            pairs(&[
                ("Choices[0].And[0].Variable", "$.a"),
                ("Choices[0].And[1].Not.Variable", "$.a"),
                (
                    "Choices[0].And[1].Not.StringEqualsPath",
                    "$$.Execution.Name"
                ),
                ("Choices[1].Variable", "$.b"),
            ])
        );
        assert_eq!(reads("Hold"), pairs(&[("SecondsPath", "$.delay")]));
        assert_eq!(
            reads("Each"),
            pairs(&[
                ("ItemsPath", "$[0]"),
                ("ItemSelector.v.$", "$$.Map.Item.Value")
            ])
        );
        assert_eq!(reads("Broken"), pairs(&[("ErrorPath", "$.error.Error")]));
    }

    #[test]
    fn conditions_and_paths_keep_their_structure() {
        let m = machine(EVERYTHING);
        let choice = m.states().start().choice().expect("a choice");
        assert_eq!(choice.default(), Some("Broken"));
        let rules: Vec<ChoiceRule<'_>> = choice.rules().collect();
        let Condition::And(both) = rules[0].condition() else {
            panic!("{:?}", rules[0].condition());
        };
        let Condition::Compare(present) = &both[0] else {
            panic!("{both:?}");
        };
        assert_eq!(present.operator(), "IsPresent");
        assert!(matches!(present.operand(), Operand::Flag(true)));
        let Condition::Compare(glob) = rules[1].condition() else {
            panic!("{:?}", rules[1].condition());
        };
        assert!(matches!(glob.operand(), Operand::Pattern("x*")));

        let Condition::Not(inner) = &both[1] else {
            panic!("{both:?}");
        };
        let Condition::Compare(by_path) = &**inner else {
            panic!("{inner:?}");
        };
        let Operand::Path(name) = by_path.operand() else {
            panic!("{by_path:?}");
        };
        assert_eq!(name.root(), PathRoot::Context);
        assert_eq!(
            name.segments(),
            [PathSegment::Field("Execution"), PathSegment::Field("Name")]
        );

        let each = m.states().get("Each").expect("Each");
        let items = each.map().and_then(|m| m.items_path()).expect("ItemsPath");
        assert_eq!(items.root(), PathRoot::Input);
        assert!(items.is_definite());
        assert_eq!(items.segments(), [PathSegment::Index(0)]);
    }

    #[test]
    fn intrinsic_calls_show_their_arguments() {
        let m = machine(EVERYTHING);
        let work = m.states().get("Work").expect("Work");
        let Some(Template::Object(fields)) = work.parameters() else {
            panic!("no object");
        };
        let Template::Object(payload) = &fields[1].1 else {
            panic!("{:?}", fields[1]);
        };
        let Template::Call { field, call } = &payload[1].1 else {
            panic!("{:?}", payload[1]);
        };
        assert_eq!(*field, "s.$");
        assert_eq!(call.name(), "States.Format");
        let arguments = call.arguments();
        assert!(matches!(arguments[0], IntrinsicArgument::String("{} {}")));
        assert!(
            matches!(&arguments[2], IntrinsicArgument::Call(c) if c.name() == "States.JsonToString")
        );
        let paths: Vec<&str> = call.paths().iter().map(|p| p.text()).collect();
        assert_eq!(paths, ["$.first", "$.second"]);
    }

    #[test]
    fn indefinite_paths_show_their_segments() {
        let m = machine(
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass",
                "InputPath": "$..book[?(@.price > 1)]", "OutputPath": "$.a[*]['b','c'][1:3]",
                "End": true}}}"#,
        );
        let a = m.states().start();
        let InputOutputPath::Select(input) = a.input_path() else {
            panic!("{:?}", a.input_path());
        };
        assert!(!input.is_definite());
        assert_eq!(
            input.segments(),
            [
                PathSegment::Descendants(Box::new(PathSegment::Field("book"))),
                PathSegment::Filter
            ]
        );
        let InputOutputPath::Select(output) = a.output_path() else {
            panic!("{:?}", a.output_path());
        };
        let fields = ["b".to_string(), "c".to_string()];
        assert_eq!(
            output.segments(),
            [
                PathSegment::Field("a"),
                PathSegment::Wildcard,
                PathSegment::Fields(&fields),
                PathSegment::Slice {
                    start: Some(1),
                    end: Some(3),
                    step: None
                }
            ]
        );
    }

    #[test]
    fn jsonata_states_show_their_language_expressions_and_assign() {
        let m = machine(
            r#"{"QueryLanguage": "JSONata", "StartAt": "Pick", "States": {
              "Pick": {"Type": "Choice", "Default": "Work",
                "Choices": [{"Condition": "{% $states.input.go %}", "Assign": {"r": "{% 1 %}"}, "Next": "Work"}]},
              "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "f", "Payload": {"x": "{%  $states.input.x  %}"}},
                "TimeoutSeconds": "{% $t %}",
                "Assign": {"got": "{% $states.result.Payload %}", "fixed": 1},
                "Output": "{% $states.result %}",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Output": {"e": "{% $states.errorOutput %}"}, "Next": "Old"}],
                "Next": "Old"},
              "Old": {"Type": "Pass", "QueryLanguage": "JSONata", "End": true}
            }}"#,
        );
        let states = m.states();
        let work = states.get("Work").unwrap();
        assert_eq!(work.query_language(), QueryLanguage::Jsonata);
        let fields: Vec<(String, &str)> = work
            .expressions()
            .iter()
            .map(|e| (e.field().to_string(), e.text()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Arguments/Payload/x".to_string(), "$states.input.x"),
                ("Output".to_string(), "$states.result"),
                ("Assign/got".to_string(), "$states.result.Payload"),
                ("TimeoutSeconds".to_string(), "$t"),
                ("Catch/0/Output/e".to_string(), "$states.errorOutput"),
            ]
        );
        let assign = work.assign().unwrap();
        assert_eq!(assign.names(), vec!["got", "fixed"]);
        assert!(assign.jsonpath().is_none());
        let pick = states.get("Pick").unwrap();
        let fields: Vec<String> = pick
            .expressions()
            .iter()
            .map(|e| e.field().to_string())
            .collect();
        assert_eq!(fields, vec!["Choices/0/Condition", "Choices/0/Assign/r"]);
        assert!(matches!(
            pick.choice().unwrap().rules().next().unwrap().condition(),
            Condition::Expression("$states.input.go")
        ));

        let m = machine(
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"v.$": "$x.y", "w": 2}, "End": true}}}"#,
        );
        let a = m.states().get("A").unwrap();
        assert_eq!(a.query_language(), QueryLanguage::JsonPath);
        assert_eq!(a.assign().unwrap().names(), vec!["v", "w"]);
        let paths = a.assign().unwrap().jsonpath().unwrap().paths();
        assert_eq!(paths[0].root(), PathRoot::Variable);
        assert_eq!(paths[0].variable(), Some("x"));
    }
}
