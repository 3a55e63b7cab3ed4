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
use std::sync::Mutex;

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
    ctx: OnceCell<Value>,
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
            ctx: OnceCell::new(),
        }
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
                    "RedriveCount": 0,
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
        }
    }
}
