//! The Context object (`$$`) and the scope a path or intrinsic is evaluated in.
//!
//! The Context object is only built when a `$$` path is actually evaluated: most states never
//! read it, and building it per state (with a copy of the execution input) would dominate the
//! cost of a transition.

use crate::path::{Missing, Path, Root};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use serde_json::{json, Value};
use std::cell::OnceCell;
use std::sync::{Arc, Mutex};

/// The execution-wide part of the Context object.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionInfo {
    pub id: String,
    pub name: String,
    pub input: Value,
    pub start_time: DateTime<Utc>,
    pub role_arn: String,
    pub state_machine_id: String,
    pub state_machine_name: String,
    /// `$$.Execution.RedriveCount`: how many times the execution has been redriven.
    pub redrive_count: u32,
}

/// The timestamp format Step Functions uses in the Context object (`2024-01-01T00:00:00.000Z`).
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a path or intrinsic function can see while a state runs.
pub(crate) struct Scope<'a> {
    /// The data `$` refers to.
    pub input: &'a Value,
    pub exec: &'a ExecutionInfo,
    pub state_name: &'a str,
    pub entered_time: DateTime<Utc>,
    pub retry_count: u32,
    /// `$$.Map.Item.Index` and `.Value`, inside a Map state's `ItemSelector`.
    pub map_item: Option<(usize, &'a Value)>,
    pub rng: &'a Mutex<StdRng>,
    /// The workflow variables a `$name` path reads; none outside a running state.
    pub vars: Option<&'a Vars>,
    ctx: OnceCell<Value>,
}

/// The workflow variables one body of states sees (the machine, a Parallel branch, a Map
/// iteration): its own, and read-only those of the bodies around it, flattened once when the
/// body starts (so a 2,000-item Map shares one copy of the outer variables).
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    outer: Option<Arc<serde_json::Map<String, Value>>>,
    own: serde_json::Map<String, Value>,
}

impl Vars {
    /// The value of `$name`, if assigned here or outside.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.own
            .get(name)
            .or_else(|| self.outer.as_ref().and_then(|o| o.get(name)))
    }

    /// The variables a nested body (Map iteration, Parallel branch) starts with: all of these,
    /// read-only.
    pub fn nested(&self) -> Vars {
        let outer = match (&self.outer, self.own.is_empty()) {
            (outer, true) => outer.clone(),
            (outer, false) => {
                let mut all = outer.as_deref().cloned().unwrap_or_default();
                all.extend(self.own.iter().map(|(k, v)| (k.clone(), v.clone())));
                Some(Arc::new(all))
            }
        };
        Vars {
            outer,
            own: serde_json::Map::new(),
        }
    }

    /// Stores what a state assigned. Assigning a name an outer body has makes a local one: the
    /// outer value is untouched.
    pub fn assign(&mut self, assigned: serde_json::Map<String, Value>) {
        self.own.extend(assigned);
    }

    /// Every variable this body sees, as one object.
    pub fn all(&self) -> Value {
        let mut all = self.outer.as_deref().cloned().unwrap_or_default();
        all.extend(self.own.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(all)
    }

    /// The serialised size of every variable this body would see once `assigned` is stored.
    pub fn total_bytes_after(&self, assigned: &serde_json::Map<String, Value>) -> usize {
        let size = |(k, v): (&String, &Value)| k.len() + crate::run::json_len(v);
        let new: usize = assigned.iter().map(size).sum();
        let own: usize = self
            .own
            .iter()
            .filter(|(k, _)| !assigned.contains_key(k.as_str()))
            .map(size)
            .sum();
        let outer: usize = self.outer.as_ref().map_or(0, |o| {
            o.iter()
                .filter(|(k, _)| {
                    !self.own.contains_key(k.as_str()) && !assigned.contains_key(k.as_str())
                })
                .map(size)
                .sum()
        });
        new + own + outer
    }
}

impl<'a> Scope<'a> {
    pub fn new(
        input: &'a Value,
        exec: &'a ExecutionInfo,
        state_name: &'a str,
        entered_time: DateTime<Utc>,
        retry_count: u32,
        rng: &'a Mutex<StdRng>,
    ) -> Self {
        Scope {
            input,
            exec,
            state_name,
            entered_time,
            retry_count,
            map_item: None,
            rng,
            vars: None,
            ctx: OnceCell::new(),
        }
    }

    /// The same scope, reading `vars` for `$name` paths.
    pub fn with_vars(mut self, vars: &'a Vars) -> Self {
        self.vars = Some(vars);
        self
    }

    /// The Context object, built on first use.
    pub fn context(&self) -> &Value {
        self.ctx.get_or_init(|| {
            let e = self.exec;
            let mut ctx = json!({
                "Execution": {
                    "Id": e.id,
                    "Input": e.input,
                    "StartTime": iso(e.start_time),
                    "Name": e.name,
                    "RoleArn": e.role_arn,
                    "RedriveCount": e.redrive_count,
                },
                "StateMachine": { "Id": e.state_machine_id, "Name": e.state_machine_name },
                "State": {
                    "EnteredTime": iso(self.entered_time),
                    "Name": self.state_name,
                    "RetryCount": self.retry_count,
                },
            });
            if let (Some((index, value)), Value::Object(map)) = (self.map_item, &mut ctx) {
                map.insert(
                    "Map".into(),
                    json!({ "Item": { "Index": index, "Value": value } }),
                );
            }
            ctx
        })
    }

    /// Evaluates a path against `$` or `$$`.
    pub fn select(&self, path: &Path) -> Result<Value, Missing> {
        match path.root() {
            Root::Input => path.select(self.input),
            Root::Context => path.select(self.context()),
            Root::Variable => {
                let name = path.variable().unwrap_or_default();
                match self.vars.and_then(|v| v.get(name)) {
                    Some(value) => path.select(value),
                    // Guess: AWS's wording for an unassigned variable was not found.
                    None => Err(Missing(format!("The variable '${name}' is not defined"))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn nested_scopes_read_outer_and_keep_their_own() {
        let mut outer = Vars::default();
        outer.assign(map(json!({"a": 1, "b": "x"})));
        let mut inner = outer.nested();
        inner.assign(map(json!({"a": 2, "c": true})));
        assert_eq!(inner.get("a"), Some(&json!(2)));
        assert_eq!(inner.get("b"), Some(&json!("x")));
        assert_eq!(outer.get("a"), Some(&json!(1)));
        assert_eq!(outer.get("c"), None);
        assert_eq!(inner.all(), json!({"a": 2, "b": "x", "c": true}));
        let deeper = inner.nested();
        assert_eq!(deeper.get("c"), Some(&json!(true)));
    }

    #[test]
    fn total_size_counts_each_visible_variable_once() {
        let mut outer = Vars::default();
        outer.assign(map(json!({"a": "xxxx", "b": 1})));
        let inner = outer.nested();
        // "a" + "\"xxxx\"" (7) and "b" + "1" (2).
        assert_eq!(inner.total_bytes_after(&serde_json::Map::new()), 7 + 2);
        // Reassigning "a" replaces its size; "c" adds its own.
        let assigned = map(json!({"a": 1, "c": [1, 2]}));
        assert_eq!(inner.total_bytes_after(&assigned), 2 + 2 + 6);
    }
}
