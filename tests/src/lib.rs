//! Checks across the repository that no single crate can make.
//!
//! [`check_data_flow`] walks a state machine symbolically: it starts from the pipeline input's
//! JSON Schema, follows every transition (Choice rules in order, Catch routes, Parallel branches,
//! Map iterations with `$$.Map.Item`) and
//! applies `InputPath`, `Parameters`, `ResultSelector`, `ResultPath` and `OutputPath` the way
//! Step Functions does, with each Lambda's output schema as its task result. Every `$.path` a
//! state reads must exist, and be required, in the shape the previous state produced; every
//! Lambda payload must satisfy that function's input contract, and every result event sent with
//! `events:putEvents` must carry what `contracts/result-event.detail.schema.json` promises. A
//! path that only exists sometimes fails at run time with `States.Runtime`, so optional fields
//! count as missing (except under `IsPresent`, which exists to test them, and which need only be
//! possible in one of the shapes that reach the state).
//!
//! Both the data-flow check and [`worst_case`] read the definition through the ASL engine's
//! public model (`spotlight_states::view`), paths already parsed by the engine's own parser.
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use spotlight_states::view::{
    Condition, FailField, FixedOrPath, InputOutputPath, JsonPath, Operand, PathRoot, PathSegment,
    ResultPath, State, StateKind, States, Template, Transition, Wait,
};
use spotlight_states::{DefinitionError, StateMachine};

/// Loads `contracts/<name>.schema.json` with every `$ref` inlined.
pub struct Contracts {
    dir: PathBuf,
}

impl Contracts {
    /// Contracts in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Contracts { dir: dir.into() }
    }

    /// The inlined schema of a contract file, e.g. `validate.input`.
    pub fn schema(&self, name: &str) -> Result<Value, String> {
        let path = self.dir.join(format!("{name}.schema.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let document: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let defs = document.get("$defs").cloned().unwrap_or(Value::Null);
        Ok(inline(&document, &defs, 0))
    }
}

fn inline(schema: &Value, defs: &Value, depth: usize) -> Value {
    if depth > 32 {
        return json!({});
    }
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let name = reference.trim_start_matches("#/$defs/");
                let target = defs.get(name).cloned().unwrap_or(json!({}));
                return inline(&target, defs, depth + 1);
            }
            let mut out = Map::new();
            for (key, value) in map {
                if key == "$defs" || key == "$schema" || key == "description" {
                    continue;
                }
                out.insert(key.clone(), inline(value, defs, depth + 1));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline(v, defs, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

fn variants(shape: &Value) -> Option<&Vec<Value>> {
    shape
        .get("anyOf")
        .or_else(|| shape.get("oneOf"))
        .and_then(Value::as_array)
}

fn is_any(shape: &Value) -> bool {
    shape.as_object().is_some_and(|m| {
        !m.contains_key("type")
            && !m.contains_key("properties")
            && !m.contains_key("const")
            && variants(shape).is_none()
    }) || shape == &Value::Bool(true)
}

/// A segment's array index, when it is one the checker can follow.
fn element(index: i64) -> Result<usize, String> {
    usize::try_from(index)
        .map_err(|_| format!("[{index}] counts from the end, which the checker does not model"))
}

/// The shape at `segments` below `shape`. `strict` requires every field to be required.
fn lookup(shape: &Value, segments: &[PathSegment<'_>], strict: bool) -> Result<Value, String> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(shape.clone());
    };
    if is_any(shape) {
        return Ok(json!({}));
    }
    if let Some(options) = variants(shape) {
        let found: Vec<Value> = options
            .iter()
            .filter_map(|v| lookup(v, segments, strict).ok())
            .collect();
        return match found.len() {
            0 => Err(lookup(&options[0], segments, strict)
                .err()
                .unwrap_or_else(|| "absent in every variant".to_owned())),
            1 => Ok(found.into_iter().next().unwrap_or(json!({}))),
            _ => Ok(json!({ "anyOf": found })),
        };
    }
    if let Some(Value::Object(constant)) = shape.get("const") {
        let PathSegment::Field(name) = first else {
            return Err("indexes into an object".to_owned());
        };
        return match constant.get(*name) {
            Some(value) => lookup(&json!({ "const": value }), rest, strict),
            None => Err(format!("no field {name:?}")),
        };
    }
    match first {
        PathSegment::Field(name) => {
            let property = shape
                .get("properties")
                .and_then(|p| p.get(*name))
                .ok_or_else(|| format!("no field {name:?}"))?;
            let required = shape
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n == *name));
            if strict && !required {
                return Err(format!("field {name:?} is optional, so it may be absent"));
            }
            lookup(property, rest, strict)
        }
        PathSegment::Index(index) => {
            let index = element(*index)?;
            let item = shape
                .get("prefixItems")
                .and_then(|p| p.get(index))
                .or_else(|| shape.get("items"))
                .ok_or_else(|| format!("no element [{index}]"))?;
            lookup(item, rest, strict)
        }
        other => Err(format!("the checker does not model the selector {other:?}")),
    }
}

/// The Context object's shape, as far as state machines read it.
fn context_shape() -> Value {
    let string = json!({"type": "string"});
    json!({
        "type": "object",
        "required": ["Execution", "State", "StateMachine"],
        "properties": {
            "Execution": {
                "type": "object",
                "required": ["Id", "Input", "Name", "StartTime", "RoleArn"],
                "properties": {"Id": string, "Input": {}, "Name": string, "StartTime": {"type": "string", "format": "date-time"}, "RoleArn": string}
            },
            "State": {
                "type": "object",
                "required": ["Name", "EnteredTime", "RetryCount"],
                "properties": {"Name": string, "EnteredTime": string, "RetryCount": {"type": "integer"}}
            },
            "StateMachine": {
                "type": "object",
                "required": ["Id", "Name"],
                "properties": {"Id": string, "Name": string}
            }
        }
    })
}

/// What the walk found wrong.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem, each naming its state.
    pub problems: Vec<String>,
    /// How often each state was reached (with a distinct input shape).
    pub visits: BTreeMap<String, usize>,
}

struct Walker<'a> {
    contracts: &'a Contracts,
    report: Report,
    context: Value,
    /// `IsPresent` tests whose path cannot exist in some arrival's shape, by rule: (arrivals,
    /// arrivals where it cannot exist, the problem). A state reached from several places (the
    /// result event's `Outcome`) may test a field only some of them carry; only a path that
    /// exists in none is a mistake.
    presence: BTreeMap<String, (usize, usize, String)>,
}

/// The engine's model of `definition`, as written (`${…}` substitutions left in place).
fn parse(definition: &Value) -> Result<StateMachine, DefinitionError> {
    StateMachine::from_value(definition.clone(), &HashMap::new())
}

/// Walks `definition` from an input of shape `input` and reports every broken data path. A
/// definition the engine refuses is reported with the engine's own problems.
pub fn check_data_flow(definition: &Value, input: Value, contracts: &Contracts) -> Report {
    let machine = match parse(definition) {
        Ok(machine) => machine,
        Err(refused) => {
            return Report {
                problems: refused.problems().iter().map(ToString::to_string).collect(),
                visits: BTreeMap::new(),
            }
        }
    };
    let mut walker = Walker {
        contracts,
        report: Report::default(),
        context: context_shape(),
        presence: BTreeMap::new(),
    };
    let _ = walker.walk_machine(machine.states(), input, "");
    let mut report = walker.report;
    for (arrivals, absent, problem) in walker.presence.into_values() {
        if absent == arrivals {
            report.problems.push(problem);
        }
    }
    for state in machine.states().iter() {
        if !report.visits.contains_key(state.name()) {
            report
                .problems
                .push(format!("{}: never reached", state.name()));
        }
    }
    report
}

/// The resource of EventBridge's optimized `PutEvents` integration.
pub const PUT_EVENTS: &str = "arn:aws:states:::events:putEvents";

/// `{}`: what a value the checker cannot know looks like.
fn anything() -> Value {
    json!({})
}

/// The shape of a value written in the definition: objects keep their fields, all required.
fn constant_shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let properties: Map<String, Value> = map
                .iter()
                .map(|(key, value)| (key.clone(), constant_shape(value)))
                .collect();
            let required: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
            json!({"type": "object", "properties": properties, "required": required})
        }
        other => json!({ "const": other }),
    }
}

/// A string field written in a template, e.g. `Parameters.FunctionName`.
fn constant_field<'t>(template: &Template<'t>, name: &str) -> Option<&'t str> {
    match template {
        Template::Constant(value) => value.get(name)?.as_str(),
        Template::Object(fields) => fields.iter().find_map(|(key, value)| match value {
            Template::Constant(Value::String(s)) if *key == name => Some(s.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

impl Walker<'_> {
    /// Walks one machine (or a Parallel branch); returns the union of its outputs.
    fn walk_machine(&mut self, states: States<'_>, input: Value, prefix: &str) -> Vec<Value> {
        let mut outputs = Vec::new();
        let mut queue = vec![(states.start_at().to_owned(), input)];
        let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
        while let Some((name, shape)) = queue.pop() {
            let earlier = seen.entry(name.clone()).or_default();
            if earlier.contains(&shape) || earlier.len() > 8 {
                continue;
            }
            earlier.push(shape.clone());
            *self.report.visits.entry(name.clone()).or_default() += 1;
            // The engine validated every transition target.
            let Some(state) = states.get(&name) else {
                continue;
            };
            let label = format!("{prefix}{name}");
            let (next, output) = self.walk_state(&label, state, shape);
            queue.extend(next);
            outputs.extend(output);
        }
        outputs
    }

    fn problem(&mut self, state: &str, message: impl std::fmt::Display) {
        self.report.problems.push(format!("{state}: {message}"));
    }

    fn read(
        &mut self,
        state: &str,
        field: &str,
        path: JsonPath<'_>,
        input: &Value,
        strict: bool,
    ) -> Value {
        let root = match path.root() {
            PathRoot::Context => &self.context,
            PathRoot::Input => input,
            // A variable's shape is whatever its `Assign` stored: not tracked by this checker.
            PathRoot::Variable => return anything(),
        };
        match lookup(root, &path.segments(), strict) {
            Ok(shape) => shape,
            Err(why) => {
                self.problem(state, format!("{field} reads {}: {why}", path.text()));
                anything()
            }
        }
    }

    /// `InputPath` or `OutputPath` applied to `shape`.
    fn select(
        &mut self,
        state: &str,
        field: &str,
        path: InputOutputPath<'_>,
        shape: Value,
    ) -> Value {
        match path {
            InputOutputPath::Whole => shape,
            InputOutputPath::Empty => json!({ "const": {} }),
            InputOutputPath::Select(path) => self.read(state, field, path, &shape, true),
        }
    }

    /// A payload template's shape (`Parameters`, `ResultSelector`).
    fn template(
        &mut self,
        state: &str,
        field: &str,
        template: &Template<'_>,
        input: &Value,
    ) -> Value {
        match template {
            Template::Constant(value) => constant_shape(value),
            Template::Object(fields) => {
                let mut properties = Map::new();
                for (key, value) in fields {
                    let written = match value {
                        Template::Path { field, .. } | Template::Call { field, .. } => field,
                        _ => key,
                    };
                    let location = format!("{field}.{written}");
                    let shape = self.template(state, &location, value, input);
                    properties.insert((*key).to_owned(), shape);
                }
                let required: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
                json!({"type": "object", "properties": properties, "required": required})
            }
            Template::Array(items) => {
                let items: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        self.template(state, &format!("{field}[{index}]"), item, input)
                    })
                    .collect();
                json!({"type": "array", "prefixItems": items})
            }
            Template::Path { path, .. } => self.read(state, field, *path, input, true),
            Template::Call { call, .. } => {
                for path in call.paths() {
                    self.read(state, field, path, input, true);
                }
                anything()
            }
        }
    }

    fn walk_state(
        &mut self,
        label: &str,
        state: State<'_>,
        raw_input: Value,
    ) -> (Vec<(String, Value)>, Vec<Value>) {
        let input = self.select(label, "InputPath", state.input_path(), raw_input.clone());
        let mut transitions = Vec::new();

        let output = match state.kind() {
            StateKind::Choice => {
                let Some(choice) = state.choice() else {
                    return (transitions, Vec::new());
                };
                // Rules are tried in order: what reaches a rule is what every earlier one let
                // pass (see `past_absence_rule`).
                let mut remaining = Some(input.clone());
                for (index, rule) in choice.rules().enumerate() {
                    let Some(reaching) = remaining.take() else {
                        break;
                    };
                    let field = format!("Choices[{index}]");
                    // A rule that tests for a field this shape cannot have never matches it.
                    if let Some(narrowed) =
                        self.choice_rule(label, &field, &rule.condition(), &reaching)
                    {
                        transitions.push((rule.next().to_owned(), narrowed));
                    }
                    remaining = past_absence_rule(&rule.condition(), reaching);
                }
                if let (Some(default), Some(reaching)) = (choice.default(), remaining) {
                    transitions.push((default.to_owned(), reaching));
                }
                return (transitions, Vec::new());
            }
            StateKind::Fail => {
                let Some(fail) = state.fail() else {
                    return (Vec::new(), Vec::new());
                };
                for (field, value) in [("ErrorPath", fail.error()), ("CausePath", fail.cause())] {
                    match value {
                        Some(FailField::Path(path)) => {
                            self.read(label, field, path, &input, true);
                        }
                        Some(FailField::Call(call)) => {
                            for path in call.paths() {
                                self.read(label, field, path, &input, true);
                            }
                        }
                        // A JSONata expression reads `$states.input`, not a JSONPath.
                        Some(FailField::Literal(_) | FailField::Expression(_)) | None => {}
                    }
                }
                return (Vec::new(), Vec::new());
            }
            StateKind::Succeed => input.clone(),
            StateKind::Pass => {
                // As the engine does: a fixed `Result` wins over `Parameters`.
                let result = match (state.pass_result(), state.parameters()) {
                    (Some(result), _) => json!({ "const": result }),
                    (None, Some(template)) => self.template(label, "Parameters", &template, &input),
                    (None, None) => input.clone(),
                };
                self.result_path(label, state.result_path(), &raw_input, result)
            }
            StateKind::Task => {
                let parameters = match state.parameters() {
                    Some(template) => self.template(label, "Parameters", &template, &input),
                    None => input.clone(),
                };
                let result = self.task_result(label, state, &parameters);
                let result = self.selected(label, state, result);
                self.catches(label, state, &raw_input, &mut transitions);
                self.result_path(label, state.result_path(), &raw_input, result)
            }
            StateKind::Parallel => {
                let branch_input = match state.parameters() {
                    Some(template) => self.template(label, "Parameters", &template, &input),
                    None => input.clone(),
                };
                let mut branch_outputs = Vec::new();
                for (index, branch) in state.branches().into_iter().enumerate() {
                    let outputs = self.walk_machine(
                        branch,
                        branch_input.clone(),
                        &format!("{label}.Branches[{index}]."),
                    );
                    branch_outputs.push(union(outputs));
                }
                let result = json!({"type": "array", "prefixItems": branch_outputs});
                let result = self.selected(label, state, result);
                self.catches(label, state, &raw_input, &mut transitions);
                self.result_path(label, state.result_path(), &raw_input, result)
            }
            StateKind::Map => {
                let Some(map) = state.map() else {
                    return (Vec::new(), Vec::new());
                };
                let items = match map.items_path() {
                    Some(path) => self.read(label, "ItemsPath", path, &input, true),
                    None => input.clone(),
                };
                if !types_of(&items).is_empty() && !types_of(&items).iter().any(|t| t == "array") {
                    self.problem(label, "ItemsPath does not select an array");
                }
                let item = items.get("items").cloned().unwrap_or_else(anything);
                // `$$.Map.Item` exists while the ItemSelector is evaluated.
                let context = self.context.clone();
                self.context = set(
                    &context,
                    &[PathSegment::Field("Map")],
                    json!({
                        "type": "object", "required": ["Item"],
                        "properties": {"Item": {
                            "type": "object", "required": ["Index", "Value"],
                            "properties": {"Index": {"type": "integer"}, "Value": item.clone()}
                        }}
                    }),
                );
                let iteration = match map.item_selector().or_else(|| state.parameters()) {
                    Some(template) => self.template(label, "ItemSelector", &template, &input),
                    None => item,
                };
                self.context = context;
                let outputs = self.walk_machine(
                    map.processor(),
                    iteration,
                    &format!("{label}.ItemProcessor."),
                );
                let result = json!({"type": "array", "items": union(outputs)});
                let result = self.selected(label, state, result);
                self.catches(label, state, &raw_input, &mut transitions);
                self.result_path(label, state.result_path(), &raw_input, result)
            }
            other @ StateKind::Wait => {
                self.problem(
                    label,
                    format!("the checker does not model {:?} states", other.as_str()),
                );
                return (Vec::new(), Vec::new());
            }
        };
        let output = self.select(label, "OutputPath", state.output_path(), output);
        match state.transition() {
            Transition::Next(target) => {
                transitions.push((target.to_owned(), output));
                (transitions, Vec::new())
            }
            Transition::End => (transitions, vec![output]),
            Transition::Choice | Transition::Fail => (transitions, Vec::new()),
        }
    }

    /// Checks a Choice rule's paths and narrows the input to what the rule proves present;
    /// `None` when the input cannot have a field the rule requires present.
    fn choice_rule(
        &mut self,
        label: &str,
        field: &str,
        condition: &Condition<'_>,
        input: &Value,
    ) -> Option<Value> {
        let mut present = Vec::new();
        collect_present(condition, &mut present);
        self.choice_paths(label, field, condition, input);
        if variants(input).is_none()
            && present.iter().any(|path| {
                path.root() == PathRoot::Input && lookup(input, &path.segments(), false).is_err()
            })
        {
            return None;
        }
        let mut shape = input.clone();
        if let Some(options) = variants(input) {
            let kept: Vec<Value> = options
                .iter()
                .filter(|variant| {
                    present
                        .iter()
                        .all(|path| lookup(variant, &path.segments(), false).is_ok())
                })
                .cloned()
                .collect();
            shape = union(kept);
        }
        // Past `IsPresent: true`, an optional field is there: a Pass state may copy it.
        for path in &present {
            if path.root() == PathRoot::Input {
                shape = require(&shape, &path.segments());
            }
        }
        Some(shape)
    }

    /// Notes whether an `IsPresent` path can exist in `input` (see [`Walker::presence`]).
    fn presence_test(&mut self, label: &str, field: &str, path: JsonPath<'_>, input: &Value) {
        let root = match path.root() {
            PathRoot::Context => &self.context,
            PathRoot::Input => input,
            PathRoot::Variable => return,
        };
        let outcome = lookup(root, &path.segments(), false);
        let key = format!("{label}: {field} {}", path.text());
        let entry = self
            .presence
            .entry(key)
            .or_insert_with(|| (0, 0, String::new()));
        entry.0 += 1;
        if let Err(why) = outcome {
            entry.1 += 1;
            entry.2 = format!("{label}: {field} reads {}: {why}", path.text());
        }
    }

    fn choice_paths(&mut self, label: &str, field: &str, condition: &Condition<'_>, input: &Value) {
        match condition {
            Condition::And(inner) | Condition::Or(inner) => {
                let combinator = if matches!(condition, Condition::And(_)) {
                    "And"
                } else {
                    "Or"
                };
                for (index, inner) in inner.iter().enumerate() {
                    self.choice_paths(
                        label,
                        &format!("{field}.{combinator}[{index}]"),
                        inner,
                        input,
                    );
                }
            }
            Condition::Not(inner) => {
                self.choice_paths(label, &format!("{field}.Not"), inner, input)
            }
            // A JSONata condition reads no JSONPath this checker follows.
            Condition::Expression(_) => {}
            Condition::Compare(comparison) => {
                let variable = format!("{field}.Variable");
                if comparison.operator() == "IsPresent" {
                    // IsPresent exists to test optional fields: the path need only be possible
                    // in one of the shapes that reach the state.
                    self.presence_test(label, &variable, comparison.variable(), input);
                } else {
                    self.read(label, &variable, comparison.variable(), input, true);
                }
                if let Operand::Path(other) = comparison.operand() {
                    let operand = format!("{field}.{}", comparison.operator());
                    self.read(label, &operand, other, input, true);
                }
            }
        }
    }

    fn task_result(&mut self, label: &str, state: State<'_>, parameters: &Value) -> Value {
        let resource = state.task().map_or("", |task| task.resource());
        if resource == PUT_EVENTS {
            return self.put_events(label, parameters);
        }
        if resource != "arn:aws:states:::lambda:invoke" {
            return anything();
        }
        let function = state
            .parameters()
            .as_ref()
            .and_then(|template| constant_field(template, "FunctionName"))
            .and_then(contract_of_function);
        let Some(function) = function else {
            self.problem(label, "FunctionName is not a ${…FunctionArn} substitution");
            return anything();
        };
        let payload = lookup(parameters, &[PathSegment::Field("Payload")], true)
            .unwrap_or_else(|_| anything());
        match self.contracts.schema(&format!("{function}.input")) {
            Ok(expected) => {
                for why in conforms(&payload, &expected, "Payload") {
                    self.problem(label, format!("the payload breaks {function}.input: {why}"));
                }
            }
            Err(why) => self.problem(label, why),
        }
        let output = self
            .contracts
            .schema(&format!("{function}.output"))
            .unwrap_or_else(|why| {
                self.report.problems.push(format!("{label}: {why}"));
                anything()
            });
        json!({
            "type": "object",
            "required": ["Payload", "StatusCode", "ExecutedVersion"],
            "properties": {"Payload": output, "StatusCode": {"type": "integer"}, "ExecutedVersion": {"type": "string"}}
        })
    }

    /// An `events:putEvents` task: each entry's `Detail` must be a result event's detail (the
    /// contract `result-event.detail`), and the result is the `PutEvents` response. The
    /// optimized integration fails the task when any entry is refused, so a result that
    /// reaches `ResultSelector` has an `EventId` in every entry.
    fn put_events(&mut self, label: &str, parameters: &Value) -> Value {
        let entries = lookup(parameters, &[PathSegment::Field("Entries")], true)
            .ok()
            .and_then(|entries| {
                entries
                    .get("prefixItems")
                    .and_then(Value::as_array)
                    .cloned()
            });
        match (entries, self.contracts.schema("result-event.detail")) {
            (Some(entries), Ok(expected)) if !entries.is_empty() => {
                for (index, entry) in entries.iter().enumerate() {
                    let at = format!("Entries[{index}].Detail");
                    match lookup(entry, &[PathSegment::Field("Detail")], true) {
                        Ok(detail) => {
                            for why in conforms(&detail, &expected, &at) {
                                self.problem(
                                    label,
                                    format!("the event breaks result-event.detail: {why}"),
                                );
                            }
                        }
                        Err(why) => self.problem(label, format!("{at}: {why}")),
                    }
                }
            }
            (_, Err(why)) => self.problem(label, why),
            _ => self.problem(
                label,
                "Parameters.Entries is not an array of entries written in the definition",
            ),
        }
        json!({
            "type": "object",
            "required": ["Entries", "FailedEntryCount"],
            "properties": {
                "Entries": {
                    "type": "array",
                    "items": {"type": "object", "required": ["EventId"], "properties": {"EventId": {"type": "string"}}}
                },
                "FailedEntryCount": {"type": "integer"}
            }
        })
    }

    fn selected(&mut self, label: &str, state: State<'_>, result: Value) -> Value {
        match state.result_selector() {
            Some(template) => self.template(label, "ResultSelector", &template, &result),
            None => result,
        }
    }

    fn catches(
        &mut self,
        label: &str,
        state: State<'_>,
        raw_input: &Value,
        transitions: &mut Vec<(String, Value)>,
    ) {
        let error = json!({
            "type": "object",
            "required": ["Error", "Cause"],
            "properties": {"Error": {"type": "string"}, "Cause": {"type": "string"}}
        });
        for catcher in state.catchers() {
            let shape = self.result_path(label, catcher.result_path(), raw_input, error.clone());
            transitions.push((catcher.next().to_owned(), shape));
        }
    }

    fn result_path(
        &mut self,
        label: &str,
        path: ResultPath<'_>,
        raw_input: &Value,
        result: Value,
    ) -> Value {
        match path {
            ResultPath::Discard => raw_input.clone(),
            ResultPath::Replace => result,
            ResultPath::At(path) => {
                let segments = path.segments();
                if segments.iter().all(|s| matches!(s, PathSegment::Field(_))) {
                    set(raw_input, &segments, result)
                } else {
                    self.problem(
                        label,
                        format!("ResultPath {} is not a path of field names", path.text()),
                    );
                    anything()
                }
            }
        }
    }
}

/// What passes a Choice rule that matches whenever a field is absent (`Not` of `IsPresent:
/// true`, or `IsPresent: false`) on to the rules after it: only shapes that have the field,
/// now required; `None` when no shape has it (nothing reaches the later rules or `Default`).
fn past_absence_rule(condition: &Condition<'_>, shape: Value) -> Option<Value> {
    let absent = match condition {
        Condition::Not(inner) => match inner.as_ref() {
            Condition::Compare(c)
                if c.operator() == "IsPresent" && matches!(c.operand(), Operand::Flag(true)) =>
            {
                c.variable()
            }
            _ => return Some(shape),
        },
        Condition::Compare(c)
            if c.operator() == "IsPresent" && matches!(c.operand(), Operand::Flag(false)) =>
        {
            c.variable()
        }
        _ => return Some(shape),
    };
    if absent.root() != PathRoot::Input {
        return Some(shape);
    }
    let segments = absent.segments();
    let kept: Vec<Value> = match variants(&shape) {
        Some(options) => options
            .iter()
            .filter(|variant| lookup(variant, &segments, false).is_ok())
            .cloned()
            .collect(),
        None if lookup(&shape, &segments, false).is_ok() => vec![shape],
        None => Vec::new(),
    };
    if kept.is_empty() {
        return None;
    }
    Some(require(&union(kept), &segments))
}

/// The paths a condition proves present: `IsPresent: true`, alone or under `And`.
fn collect_present<'a>(condition: &Condition<'a>, present: &mut Vec<JsonPath<'a>>) {
    match condition {
        Condition::Compare(comparison)
            if comparison.operator() == "IsPresent"
                && matches!(comparison.operand(), Operand::Flag(true)) =>
        {
            present.push(comparison.variable());
        }
        Condition::And(inner) => inner.iter().for_each(|c| collect_present(c, present)),
        _ => {}
    }
}

/// `shape` with every field along `segments` required, as a Choice rule's `IsPresent` proves.
fn require(shape: &Value, segments: &[PathSegment<'_>]) -> Value {
    let Some((first, rest)) = segments.split_first() else {
        return shape.clone();
    };
    if let Some(options) = variants(shape) {
        let updated: Vec<Value> = options.iter().map(|v| require(v, segments)).collect();
        return json!({ "anyOf": updated });
    }
    let mut object = match shape.as_object() {
        Some(object) => object.clone(),
        None => return shape.clone(),
    };
    match first {
        PathSegment::Field(name) => {
            let name = *name;
            let Some(inner) = object.get("properties").and_then(|p| p.get(name)).cloned() else {
                return shape.clone();
            };
            let mut properties = object
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            properties.insert(name.to_owned(), require(&inner, rest));
            let mut required: Vec<Value> = object
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !required.iter().any(|r| r == name) {
                required.push(json!(name));
            }
            object.insert("properties".to_owned(), Value::Object(properties));
            object.insert("required".to_owned(), Value::Array(required));
        }
        PathSegment::Index(_) => {
            if let Some(items) = object.get("items").cloned() {
                object.insert("items".to_owned(), require(&items, rest));
            }
        }
        _ => {}
    }
    Value::Object(object)
}

fn union(mut shapes: Vec<Value>) -> Value {
    shapes.dedup();
    match shapes.len() {
        0 => json!({}),
        1 => shapes.remove(0),
        _ => json!({ "anyOf": shapes }),
    }
}

/// `shape` with `value` placed at `segments` (creating objects on the way), as ResultPath does.
fn set(shape: &Value, segments: &[PathSegment<'_>], value: Value) -> Value {
    let Some((first, rest)) = segments.split_first() else {
        return value;
    };
    if let Some(options) = variants(shape) {
        let updated: Vec<Value> = options
            .iter()
            .map(|v| set(v, segments, value.clone()))
            .collect();
        return json!({ "anyOf": updated });
    }
    let PathSegment::Field(name) = *first else {
        return shape.clone();
    };
    let mut object = shape.as_object().cloned().unwrap_or_default();
    object.insert("type".to_owned(), json!("object"));
    let mut properties = object
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let inner = properties.get(name).cloned().unwrap_or(json!({}));
    properties.insert(name.to_owned(), set(&inner, rest, value));
    let mut required: Vec<Value> = object
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !required.iter().any(|r| r == name) {
        required.push(json!(name));
    }
    object.insert("properties".to_owned(), Value::Object(properties));
    object.insert("required".to_owned(), Value::Array(required));
    Value::Object(object)
}

/// Problems with `produced` where a value of schema `expected` is required.
fn conforms(produced: &Value, expected: &Value, at: &str) -> Vec<String> {
    if is_any(produced) || is_any(expected) {
        return Vec::new();
    }
    if let Some(options) = variants(produced) {
        return options
            .iter()
            .flat_map(|v| conforms(v, expected, at))
            .collect();
    }
    if let Some(options) = variants(expected) {
        let tries: Vec<Vec<String>> = options.iter().map(|v| conforms(produced, v, at)).collect();
        if tries.iter().any(Vec::is_empty) {
            return Vec::new();
        }
        return tries.into_iter().min_by_key(Vec::len).unwrap_or_default();
    }
    if let Some(constant) = expected.get("const") {
        return match produced.get("const") {
            Some(value) if value == constant => Vec::new(),
            Some(value) => vec![format!("{at} is {value}, must be {constant}")],
            None => vec![format!("{at} must be the constant {constant}")],
        };
    }
    let produced_types = types_of(produced);
    let expected_types = types_of(expected);
    if !produced_types.is_empty()
        && !expected_types.is_empty()
        && !produced_types.iter().any(|t| {
            expected_types.contains(t)
                || (t == "integer" && expected_types.iter().any(|e| e == "number"))
        })
    {
        return vec![format!(
            "{at} is {produced_types:?}, must be {expected_types:?}"
        )];
    }
    let mut problems = Vec::new();
    if expected_types.iter().any(|t| t == "object") {
        let empty = Map::new();
        let expected_props = expected
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required = expected
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for name in required.iter().filter_map(Value::as_str) {
            match lookup(produced, &[PathSegment::Field(name)], true) {
                Ok(shape) => {
                    if let Some(schema) = expected_props.get(name) {
                        problems.extend(conforms(&shape, schema, &format!("{at}.{name}")));
                    }
                }
                Err(_) => problems.push(format!("{at}.{name} is required but not always given")),
            }
        }
    }
    problems
}

fn types_of(shape: &Value) -> Vec<String> {
    if let Some(constant) = shape.get("const") {
        let kind = match constant {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        return vec![kind.to_owned()];
    }
    match shape.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// `${DetectLabelsFunctionArn}` → `detect-labels`: the contract file prefix of a function.
pub fn contract_of_function(function_name: &str) -> Option<String> {
    let name = function_name
        .strip_prefix("${")?
        .strip_suffix('}')?
        .strip_suffix("FunctionArn")?;
    let mut kebab = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    Some(kebab)
}

/// The repository root.
pub fn repository_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Express workflows end after five minutes, whatever state they are in.
pub const EXPRESS_LIMIT_SECONDS: f64 = 300.0;

/// What Step Functions may add per state entered beyond the task's own time: scheduling the
/// invocation, moving the state's data. Not documented as a bound; one second is generous for
/// what is milliseconds in practice, and keeps the sum honest about the states that do no work.
pub const TRANSITION_ALLOWANCE_SECONDS: f64 = 1.0;

/// The longest an execution of a definition can run, and the states on that path.
#[derive(Debug, Clone, PartialEq)]
pub struct WorstCase {
    /// Seconds from the first state entered to the last one left.
    pub seconds: f64,
    /// The states entered on the longest path, in order (a Parallel's slowest branch inline).
    pub path: Vec<String>,
}

/// The longest any execution of `definition` can take, following every transition a state can
/// make (`Next`, each `Choice` rule and `Default`, each `Catch`).
///
/// A Task's attempt lasts at most its `TimeoutSeconds`, since Step Functions fails the attempt
/// with `States.Timeout` then; a Task without one is an error, as its attempt is unbounded. A
/// state with `Retry` runs at most `1 + Σ MaxAttempts` attempts: each retrier keeps its own count
/// and only the first matching retrier applies, so errors that alternate between retriers use
/// up every one. Before retrier `r`'s `k`-th retry (from 0) it waits
/// `min(IntervalSeconds·BackoffRate^k, MaxDelaySeconds)`; `JitterStrategy: FULL` waits a random
/// part of that, never more. A state that is caught has used the same budget before its Catch
/// routes on. A Parallel lasts as long as its slowest branch; every state entered adds
/// [`TRANSITION_ALLOWANCE_SECONDS`].
///
/// The definition is read through the engine's own model, so one the engine refuses is an error.
pub fn worst_case(definition: &Value) -> Result<WorstCase, String> {
    let machine =
        parse(definition).map_err(|refused| format!("the engine refuses it: {refused}"))?;
    let states = machine.states();
    longest_from(states, states.start(), &mut HashMap::new(), &mut Vec::new())
}

fn longest_from(
    states: States<'_>,
    state: State<'_>,
    memo: &mut HashMap<String, WorstCase>,
    walking: &mut Vec<String>,
) -> Result<WorstCase, String> {
    let name = state.name();
    if let Some(known) = memo.get(name) {
        return Ok(known.clone());
    }
    if walking.iter().any(|n| n == name) {
        return Err(format!(
            "{name}: a loop ({} -> {name}) has no worst case",
            walking.join(" -> ")
        ));
    }
    walking.push(name.to_owned());
    let own = state_worst_case(state)?;
    let mut slowest_next: Option<WorstCase> = None;
    for (_, next) in state.successors() {
        let next = states
            .get(next)
            .ok_or_else(|| format!("no state {next:?}"))?;
        let after = longest_from(states, next, memo, walking)?;
        if slowest_next
            .as_ref()
            .is_none_or(|slowest| after.seconds > slowest.seconds)
        {
            slowest_next = Some(after);
        }
    }
    walking.pop();
    let mut path = own.path;
    let mut seconds = own.seconds;
    if let Some(after) = slowest_next {
        seconds += after.seconds;
        path.extend(after.path);
    }
    let result = WorstCase { seconds, path };
    memo.insert(name.to_owned(), result.clone());
    Ok(result)
}

/// One state's own worst case, with its retries, not counting what follows it.
fn state_worst_case(state: State<'_>) -> Result<WorstCase, String> {
    let name = state.name();
    let mut path = vec![name.to_owned()];
    let attempt = match state.kind() {
        StateKind::Task => match state.task().and_then(|task| task.timeout()) {
            Some(FixedOrPath::Fixed(seconds)) => seconds as f64,
            _ => {
                return Err(format!(
                    "{name}: a Task without TimeoutSeconds has no bound on an attempt"
                ))
            }
        },
        StateKind::Parallel => {
            let mut slowest: Option<WorstCase> = None;
            for branch in state.branches() {
                let run =
                    longest_from(branch, branch.start(), &mut HashMap::new(), &mut Vec::new())?;
                if slowest.as_ref().is_none_or(|s| run.seconds > s.seconds) {
                    slowest = Some(run);
                }
            }
            let slowest = slowest.ok_or_else(|| format!("{name}: a Parallel without branches"))?;
            path.extend(slowest.path);
            slowest.seconds
        }
        StateKind::Wait => match state.wait() {
            Some(Wait::Seconds(seconds)) => seconds as f64,
            _ => {
                return Err(format!(
                    "{name}: only a Wait with fixed Seconds has a worst case"
                ))
            }
        },
        StateKind::Pass | StateKind::Choice | StateKind::Succeed | StateKind::Fail => 0.0,
        other @ StateKind::Map => {
            return Err(format!(
                "{name}: no worst case for a state of type {:?}",
                other.as_str()
            ))
        }
    };
    let mut attempts = 1.0;
    let mut waits = 0.0;
    for retrier in state.retriers() {
        let max_attempts = retrier.max_attempts();
        let cap = retrier.max_delay_seconds().unwrap_or(f64::INFINITY);
        attempts += f64::from(max_attempts);
        for retry in 0..max_attempts {
            let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
            waits += (retrier.interval_seconds() * retrier.backoff_rate().powi(exponent)).min(cap);
        }
    }
    Ok(WorstCase {
        seconds: attempts * attempt + waits + TRANSITION_ALLOWANCE_SECONDS,
        path,
    })
}

/// A scalar property of one resource in `infra/template.yaml`, e.g. a function's `Timeout`
/// under `Properties`, read by indentation (the template is block-style YAML, two spaces a
/// level). `None` when the resource does not set it.
pub fn template_property(template: &str, resource: &str, property: &str) -> Option<String> {
    let header = format!("  {resource}:");
    let mut lines = template
        .lines()
        .skip_while(|line| line.trim_end() != header);
    lines.next()?;
    let mut in_properties = false;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent <= 2 {
            break;
        }
        if indent == 4 {
            in_properties = text == "Properties:";
            continue;
        }
        if in_properties && indent == 6 {
            if let Some(value) = text.strip_prefix(&format!("{property}:")) {
                return Some(value.trim().to_owned());
            }
        }
    }
    None
}

/// A function's Lambda `Timeout` in the template: its own, else the `Globals` one.
pub fn function_timeout(template: &str, resource: &str) -> Option<u64> {
    template_property(template, resource, "Timeout")
        .or_else(|| {
            let globals = template
                .lines()
                .skip_while(|line| line.trim_end() != "Globals:")
                .skip_while(|line| line.trim_end() != "  Function:")
                .skip(1)
                .take_while(|line| line.starts_with("    ") || line.trim().is_empty());
            globals
                .filter(|line| line.len() - line.trim_start().len() == 4)
                .find_map(|line| {
                    line.trim()
                        .strip_prefix("Timeout:")
                        .map(|v| v.trim().to_owned())
                })
        })
        .and_then(|value| value.parse().ok())
}
