//! Checks across the repository that no single crate can make.
//!
//! [`check_data_flow`] walks a state machine symbolically: it starts from the pipeline input's
//! JSON Schema, follows every transition (Choice rules, Catch routes, Parallel branches) and
//! applies `InputPath`, `Parameters`, `ResultSelector`, `ResultPath` and `OutputPath` the way
//! Step Functions does, with each Lambda's output schema as its task result. Every `$.path` a
//! state reads must exist, and be required, in the shape the previous state produced; every
//! Lambda payload must satisfy that function's input contract. A path that only exists
//! sometimes fails at run time with `States.Runtime`, so optional fields count as missing
//! (except under `IsPresent`, which exists to test them).
#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

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

/// One segment of a reference path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// Parses `$.a.b[0]['c-d']` (or `$$.…`) into segments.
fn parse_path(path: &str) -> Result<(bool, Vec<Segment>), String> {
    let (context, rest) = if let Some(rest) = path.strip_prefix("$$") {
        (true, rest)
    } else if let Some(rest) = path.strip_prefix('$') {
        (false, rest)
    } else {
        return Err(format!("{path:?} is not a reference path"));
    };
    let mut segments = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("{path:?} has an empty field name"));
                }
                segments.push(Segment::Field(name));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    segments.push(Segment::Field(quoted.to_owned()));
                } else {
                    let index = inner
                        .parse()
                        .map_err(|_| format!("{path:?}: unsupported selector [{inner}]"))?;
                    segments.push(Segment::Index(index));
                }
            }
            other => return Err(format!("{path:?}: unexpected {other:?}")),
        }
    }
    Ok((context, segments))
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

/// The shape at `segments` below `shape`. `strict` requires every field to be required.
fn lookup(shape: &Value, segments: &[Segment], strict: bool) -> Result<Value, String> {
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
        let Segment::Field(name) = first else {
            return Err("indexes into an object".to_owned());
        };
        return match constant.get(name) {
            Some(value) => lookup(&json!({ "const": value }), rest, strict),
            None => Err(format!("no field {name:?}")),
        };
    }
    match first {
        Segment::Field(name) => {
            let property = shape
                .get("properties")
                .and_then(|p| p.get(name))
                .ok_or_else(|| format!("no field {name:?}"))?;
            let required = shape
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n == name));
            if strict && !required {
                return Err(format!("field {name:?} is optional, so it may be absent"));
            }
            lookup(property, rest, strict)
        }
        Segment::Index(index) => {
            let item = shape
                .get("prefixItems")
                .and_then(|p| p.get(*index))
                .or_else(|| shape.get("items"))
                .ok_or_else(|| format!("no element [{index}]"))?;
            lookup(item, rest, strict)
        }
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
}

/// Walks `definition` from an input of shape `input` and reports every broken data path.
pub fn check_data_flow(definition: &Value, input: Value, contracts: &Contracts) -> Report {
    let mut walker = Walker {
        contracts,
        report: Report::default(),
        context: context_shape(),
    };
    let _ = walker.walk_machine(definition, input, "");
    let mut report = walker.report;
    if let Some(states) = definition.get("States").and_then(Value::as_object) {
        for name in states.keys() {
            if !report.visits.contains_key(name) {
                report.problems.push(format!("{name}: never reached"));
            }
        }
    }
    report
}

impl Walker<'_> {
    /// Walks one machine (or a Parallel branch); returns the union of its outputs.
    fn walk_machine(&mut self, machine: &Value, input: Value, prefix: &str) -> Vec<Value> {
        let Some(states) = machine.get("States").and_then(Value::as_object) else {
            self.problem(prefix, "no States");
            return Vec::new();
        };
        let Some(start) = machine.get("StartAt").and_then(Value::as_str) else {
            self.problem(prefix, "no StartAt");
            return Vec::new();
        };
        let mut outputs = Vec::new();
        let mut queue = vec![(start.to_owned(), input)];
        let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
        while let Some((name, shape)) = queue.pop() {
            let earlier = seen.entry(name.clone()).or_default();
            if earlier.contains(&shape) || earlier.len() > 8 {
                continue;
            }
            earlier.push(shape.clone());
            *self.report.visits.entry(name.clone()).or_default() += 1;
            let Some(state) = states.get(&name) else {
                self.problem(&name, "is a transition target that does not exist");
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

    fn read(&mut self, state: &str, field: &str, path: &str, input: &Value, strict: bool) -> Value {
        let result = parse_path(path).and_then(|(context, segments)| {
            let root = if context { &self.context } else { input };
            lookup(root, &segments, strict)
        });
        match result {
            Ok(shape) => shape,
            Err(why) => {
                self.problem(state, format!("{field} reads {path}: {why}"));
                json!({})
            }
        }
    }

    /// A `Parameters`-style template's shape.
    fn template(&mut self, state: &str, field: &str, template: &Value, input: &Value) -> Value {
        match template {
            Value::Object(map) => {
                let mut properties = Map::new();
                for (key, value) in map {
                    let location = format!("{field}.{key}");
                    if let Some(name) = key.strip_suffix(".$") {
                        let shape = match value.as_str() {
                            Some(expr) if expr.starts_with("States.") => {
                                self.intrinsic_arguments(state, &location, expr, input);
                                json!({})
                            }
                            Some(path) => self.read(state, &location, path, input, true),
                            None => {
                                self.problem(state, format!("{location} is not a path string"));
                                json!({})
                            }
                        };
                        properties.insert(name.to_owned(), shape);
                    } else {
                        let shape = self.template(state, &location, value, input);
                        properties.insert(key.clone(), shape);
                    }
                }
                let required: Vec<Value> = properties.keys().map(|k| json!(k)).collect();
                json!({"type": "object", "properties": properties, "required": required})
            }
            other => json!({ "const": other }),
        }
    }

    fn intrinsic_arguments(&mut self, state: &str, field: &str, expr: &str, input: &Value) {
        for (start, _) in expr.match_indices('$') {
            if start > 0 && expr.as_bytes()[start - 1] == b'$' {
                continue;
            }
            let path: String = expr[start..]
                .chars()
                .take_while(|c| !matches!(c, ',' | ')' | ' '))
                .collect();
            self.read(state, field, &path, input, true);
        }
    }

    fn walk_state(
        &mut self,
        label: &str,
        state: &Value,
        raw_input: Value,
    ) -> (Vec<(String, Value)>, Vec<Value>) {
        let kind = state.get("Type").and_then(Value::as_str).unwrap_or("");
        let next = state.get("Next").and_then(Value::as_str).map(str::to_owned);
        let end = state.get("End").and_then(Value::as_bool).unwrap_or(false)
            || matches!(kind, "Succeed" | "Fail");
        let input = match state.get("InputPath").and_then(Value::as_str) {
            Some(path) => self.read(label, "InputPath", path, &raw_input, true),
            None => raw_input.clone(),
        };
        let mut transitions = Vec::new();

        let output = match kind {
            "Choice" => {
                for (index, rule) in state
                    .get("Choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let field = format!("Choices[{index}]");
                    let narrowed = self.choice_rule(label, &field, rule, &input);
                    if let Some(target) = rule.get("Next").and_then(Value::as_str) {
                        transitions.push((target.to_owned(), narrowed));
                    }
                }
                if let Some(default) = state.get("Default").and_then(Value::as_str) {
                    transitions.push((default.to_owned(), input.clone()));
                }
                return (transitions, Vec::new());
            }
            "Fail" => {
                for field in ["ErrorPath", "CausePath"] {
                    if let Some(path) = state.get(field).and_then(Value::as_str) {
                        self.read(label, field, path, &input, true);
                    }
                }
                return (Vec::new(), Vec::new());
            }
            "Succeed" => input.clone(),
            "Pass" => {
                let result = match (state.get("Parameters"), state.get("Result")) {
                    (Some(template), _) => self.template(label, "Parameters", template, &input),
                    (None, Some(result)) => json!({ "const": result }),
                    (None, None) => input.clone(),
                };
                self.result_path(label, state, &raw_input, result)
            }
            "Task" => {
                let parameters = state
                    .get("Parameters")
                    .map(|t| self.template(label, "Parameters", t, &input))
                    .unwrap_or_else(|| input.clone());
                let result = self.task_result(label, state, &parameters);
                let result = self.selected(label, state, result);
                self.catches(label, state, &raw_input, &mut transitions);
                self.result_path(label, state, &raw_input, result)
            }
            "Parallel" => {
                let mut branch_outputs = Vec::new();
                for (index, branch) in state
                    .get("Branches")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let outputs = self.walk_machine(
                        branch,
                        input.clone(),
                        &format!("{label}.Branches[{index}]."),
                    );
                    branch_outputs.push(union(outputs));
                }
                let result = json!({"type": "array", "prefixItems": branch_outputs});
                let result = self.selected(label, state, result);
                self.catches(label, state, &raw_input, &mut transitions);
                self.result_path(label, state, &raw_input, result)
            }
            other => {
                self.problem(
                    label,
                    format!("the checker does not model {other:?} states"),
                );
                return (Vec::new(), Vec::new());
            }
        };
        let output = match state.get("OutputPath").and_then(Value::as_str) {
            Some(path) => self.read(label, "OutputPath", path, &output, true),
            None => output,
        };
        match (next, end) {
            (Some(target), _) => {
                transitions.push((target, output));
                (transitions, Vec::new())
            }
            (None, true) => (transitions, vec![output]),
            (None, false) => {
                self.problem(label, "has neither Next nor End");
                (transitions, Vec::new())
            }
        }
    }

    /// Checks a Choice rule's paths and narrows the input to what the rule proves present.
    fn choice_rule(&mut self, label: &str, field: &str, rule: &Value, input: &Value) -> Value {
        let mut present = Vec::new();
        collect_present(rule, &mut present);
        self.choice_paths(label, field, rule, input);
        let mut shape = input.clone();
        if let Some(options) = variants(input) {
            let kept: Vec<Value> = options
                .iter()
                .filter(|variant| {
                    present.iter().all(|path| {
                        parse_path(path).is_ok_and(|(_, s)| lookup(variant, &s, false).is_ok())
                    })
                })
                .cloned()
                .collect();
            shape = union(kept);
        }
        // Past `IsPresent: true`, an optional field is there: a Pass state may copy it.
        for path in &present {
            if let Ok((false, segments)) = parse_path(path) {
                shape = require(&shape, &segments);
            }
        }
        shape
    }

    fn choice_paths(&mut self, label: &str, field: &str, rule: &Value, input: &Value) {
        for combinator in ["And", "Or"] {
            for (index, inner) in rule
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.choice_paths(
                    label,
                    &format!("{field}.{combinator}[{index}]"),
                    inner,
                    input,
                );
            }
        }
        if let Some(inner) = rule.get("Not") {
            self.choice_paths(label, &format!("{field}.Not"), inner, input);
        }
        if let Some(path) = rule.get("Variable").and_then(Value::as_str) {
            // IsPresent exists to test optional fields: the path need only be possible.
            let strict = rule.get("IsPresent").is_none();
            self.read(label, &format!("{field}.Variable"), path, input, strict);
        }
    }

    fn task_result(&mut self, label: &str, state: &Value, parameters: &Value) -> Value {
        let resource = state.get("Resource").and_then(Value::as_str).unwrap_or("");
        if resource != "arn:aws:states:::lambda:invoke" {
            return json!({});
        }
        let function = state
            .pointer("/Parameters/FunctionName")
            .and_then(Value::as_str)
            .and_then(contract_of_function);
        let Some(function) = function else {
            self.problem(label, "FunctionName is not a ${…FunctionArn} substitution");
            return json!({});
        };
        let payload = lookup(parameters, &[Segment::Field("Payload".to_owned())], true)
            .unwrap_or_else(|_| json!({}));
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
                json!({})
            });
        json!({
            "type": "object",
            "required": ["Payload", "StatusCode", "ExecutedVersion"],
            "properties": {"Payload": output, "StatusCode": {"type": "integer"}, "ExecutedVersion": {"type": "string"}}
        })
    }

    fn selected(&mut self, label: &str, state: &Value, result: Value) -> Value {
        match state.get("ResultSelector") {
            Some(template) => self.template(label, "ResultSelector", template, &result),
            None => result,
        }
    }

    fn catches(
        &mut self,
        label: &str,
        state: &Value,
        raw_input: &Value,
        transitions: &mut Vec<(String, Value)>,
    ) {
        let error = json!({
            "type": "object",
            "required": ["Error", "Cause"],
            "properties": {"Error": {"type": "string"}, "Cause": {"type": "string"}}
        });
        for catcher in state
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let shape = self.result_path(label, catcher, raw_input, error.clone());
            if let Some(target) = catcher.get("Next").and_then(Value::as_str) {
                transitions.push((target.to_owned(), shape));
            }
        }
    }

    fn result_path(
        &mut self,
        label: &str,
        state: &Value,
        raw_input: &Value,
        result: Value,
    ) -> Value {
        match state.get("ResultPath") {
            Some(Value::Null) => raw_input.clone(),
            None => result,
            Some(Value::String(path)) => match parse_path(path) {
                Ok((false, segments)) => set(raw_input, &segments, result),
                _ => {
                    self.problem(
                        label,
                        format!("ResultPath {path} is not a path into the input"),
                    );
                    json!({})
                }
            },
            Some(other) => {
                self.problem(label, format!("ResultPath {other} is not a path"));
                json!({})
            }
        }
    }
}

fn collect_present(rule: &Value, present: &mut Vec<String>) {
    if rule.get("IsPresent") == Some(&Value::Bool(true)) {
        if let Some(path) = rule.get("Variable").and_then(Value::as_str) {
            present.push(path.to_owned());
        }
    }
    for inner in rule
        .get("And")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_present(inner, present);
    }
}

/// `shape` with every field along `segments` required, as a Choice rule's `IsPresent` proves.
fn require(shape: &Value, segments: &[Segment]) -> Value {
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
        Segment::Field(name) => {
            let Some(inner) = object.get("properties").and_then(|p| p.get(name)).cloned() else {
                return shape.clone();
            };
            let mut properties = object
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            properties.insert(name.clone(), require(&inner, rest));
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
        Segment::Index(_) => {
            if let Some(items) = object.get("items").cloned() {
                object.insert("items".to_owned(), require(&items, rest));
            }
        }
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
fn set(shape: &Value, segments: &[Segment], value: Value) -> Value {
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
    let Segment::Field(name) = first else {
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
    properties.insert(name.clone(), set(&inner, rest, value));
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
            match lookup(produced, &[Segment::Field(name.to_owned())], true) {
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
pub fn worst_case(definition: &Value) -> Result<WorstCase, String> {
    let mut memo = HashMap::new();
    longest_from(
        definition,
        start_of(definition)?,
        &mut memo,
        &mut Vec::new(),
    )
}

fn start_of(machine: &Value) -> Result<&str, String> {
    machine["StartAt"]
        .as_str()
        .ok_or_else(|| "no StartAt".to_owned())
}

fn longest_from(
    machine: &Value,
    name: &str,
    memo: &mut HashMap<String, WorstCase>,
    walking: &mut Vec<String>,
) -> Result<WorstCase, String> {
    if let Some(known) = memo.get(name) {
        return Ok(known.clone());
    }
    if walking.iter().any(|n| n == name) {
        return Err(format!(
            "{name}: a loop ({} -> {name}) has no worst case",
            walking.join(" -> ")
        ));
    }
    let state = machine["States"]
        .get(name)
        .ok_or_else(|| format!("no state {name:?}"))?;
    walking.push(name.to_owned());
    let own = state_worst_case(name, state)?;
    let mut slowest_next: Option<WorstCase> = None;
    for next in successors(state) {
        let after = longest_from(machine, next, memo, walking)?;
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

/// Every state `state` can hand over to.
fn successors(state: &Value) -> Vec<&str> {
    let mut next: Vec<&str> = Vec::new();
    next.extend(state["Next"].as_str());
    next.extend(state["Default"].as_str());
    for list in ["Choices", "Catch"] {
        if let Some(rules) = state[list].as_array() {
            next.extend(rules.iter().filter_map(|rule| rule["Next"].as_str()));
        }
    }
    next
}

/// One state's own worst case, with its retries, not counting what follows it.
fn state_worst_case(name: &str, state: &Value) -> Result<WorstCase, String> {
    let mut path = vec![name.to_owned()];
    let attempt = match state["Type"].as_str() {
        Some("Task") => state["TimeoutSeconds"].as_f64().ok_or_else(|| {
            format!("{name}: a Task without TimeoutSeconds has no bound on an attempt")
        })?,
        Some("Parallel") => {
            let mut slowest: Option<WorstCase> = None;
            for branch in state["Branches"].as_array().into_iter().flatten() {
                let start = start_of(branch).map_err(|e| format!("{name}: a branch has {e}"))?;
                let run = longest_from(branch, start, &mut HashMap::new(), &mut Vec::new())?;
                if slowest.as_ref().is_none_or(|s| run.seconds > s.seconds) {
                    slowest = Some(run);
                }
            }
            let slowest = slowest.ok_or_else(|| format!("{name}: a Parallel without branches"))?;
            path.extend(slowest.path);
            slowest.seconds
        }
        Some("Wait") => state["Seconds"]
            .as_f64()
            .ok_or_else(|| format!("{name}: only a Wait with fixed Seconds has a worst case"))?,
        Some("Pass" | "Choice" | "Succeed" | "Fail") => 0.0,
        other => {
            return Err(format!(
                "{name}: no worst case for a state of type {other:?}"
            ))
        }
    };
    let mut attempts = 1.0;
    let mut waits = 0.0;
    for (index, retrier) in state["Retry"].as_array().into_iter().flatten().enumerate() {
        let field = |key: &str, default: f64| {
            retrier.get(key).map_or(Ok(default), |v| {
                v.as_f64()
                    .ok_or_else(|| format!("{name}: Retry[{index}].{key} is not a number"))
            })
        };
        let max_attempts = field("MaxAttempts", 3.0)?;
        let interval = field("IntervalSeconds", 1.0)?;
        let backoff = field("BackoffRate", 2.0)?;
        let cap = field("MaxDelaySeconds", f64::INFINITY)?;
        attempts += max_attempts;
        // MaxAttempts is a whole number of retries; the cast only drives the loop.
        for retry in 0..max_attempts as i32 {
            waits += (interval * backoff.powi(retry)).min(cap);
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
