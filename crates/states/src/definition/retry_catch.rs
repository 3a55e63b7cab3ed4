//! `Retry` and `Catch`: which errors each entry handles, and what it does then.

use super::ast::{Catcher, ErrorEquals, Lang, Retrier};
use super::reader::{DefinitionReader, Obj};
use crate::error::names;
use serde_json::Value;

impl DefinitionReader {
    fn error_equals(&mut self, obj: &Obj, last: bool, what: &str) -> ErrorEquals {
        let mut error_names = Vec::new();
        match obj.get("ErrorEquals") {
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => error_names.push(s.to_string()),
                        None => self.at("ErrorEquals", |reader| {
                            reader.problem_at(&i.to_string(), "error names must be strings")
                        }),
                    }
                }
            }
            Some(_) => self.problem_at(
                "ErrorEquals",
                "ErrorEquals must be a non-empty array of error names",
            ),
            None => self.problem("The field 'ErrorEquals' is required"),
        }
        let all = error_names.iter().any(|n| n == names::ALL);
        if all && error_names.len() > 1 {
            self.problem_at("ErrorEquals", "States.ALL must appear alone in ErrorEquals");
        }
        if all && !last {
            self.problem_at(
                "ErrorEquals",
                format!("States.ALL must be in the last {what}"),
            );
        }
        let task_failed = error_names.iter().any(|n| n == names::TASK_FAILED);
        ErrorEquals {
            names: error_names,
            all,
            task_failed,
        }
    }

    pub fn retry(&mut self, obj: &Obj) -> Vec<Retrier> {
        let Some(v) = obj.get("Retry") else {
            return vec![];
        };
        let Some(items) = v.as_array() else {
            self.problem_at("Retry", "Retry must be an array of retriers");
            return vec![];
        };
        self.at("Retry", |reader| {
            let n = items.len();
            let mut out = Vec::with_capacity(n);
            for (i, item) in items.iter().enumerate() {
                reader.at(i.to_string(), |reader| {
                    let Some(r) = item.as_object() else {
                        reader.problem("a retrier must be an object");
                        return;
                    };
                    reader.check_fields(
                        r,
                        &[
                            "ErrorEquals",
                            "IntervalSeconds",
                            "MaxAttempts",
                            "BackoffRate",
                            "MaxDelaySeconds",
                            "JitterStrategy",
                        ],
                    );
                    let errors = reader.error_equals(r, i + 1 == n, "retrier");
                    let interval = reader.uint_field(r, "IntervalSeconds", 1).unwrap_or(1);
                    let max_attempts = reader.uint_field(r, "MaxAttempts", 0).unwrap_or(3);
                    let backoff = reader.num_field(r, "BackoffRate").unwrap_or(2.0);
                    if backoff < 1.0 {
                        reader.problem_at("BackoffRate", "BackoffRate must be at least 1.0");
                    }
                    let max_delay = reader.uint_field(r, "MaxDelaySeconds", 1);
                    let full_jitter = match reader.str_field(r, "JitterStrategy") {
                        None | Some("NONE") => false,
                        Some("FULL") => true,
                        Some(_) => {
                            reader.problem_at(
                                "JitterStrategy",
                                "JitterStrategy must be \"FULL\" or \"NONE\"",
                            );
                            false
                        }
                    };
                    out.push(Retrier {
                        errors,
                        interval_seconds: interval as f64,
                        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
                        backoff_rate: backoff,
                        max_delay_seconds: max_delay.map(|d| d as f64),
                        full_jitter,
                    });
                });
            }
            out
        })
    }

    pub fn catch(&mut self, obj: &Obj) -> Vec<Catcher> {
        let Some(v) = obj.get("Catch") else {
            return vec![];
        };
        let Some(items) = v.as_array() else {
            self.problem_at("Catch", "Catch must be an array of catchers");
            return vec![];
        };
        self.at("Catch", |reader| {
            let n = items.len();
            let mut out = Vec::with_capacity(n);
            for (i, item) in items.iter().enumerate() {
                reader.at(i.to_string(), |reader| {
                    let Some(c) = item.as_object() else {
                        reader.problem("a catcher must be an object");
                        return;
                    };
                    reader.check_fields(
                        c,
                        &["ErrorEquals", "Next", "ResultPath", "Output", "Assign"],
                    );
                    let lang = reader.lang.unwrap_or(Lang::JsonPath);
                    reader.check_language_fields(c, lang);
                    let errors = reader.error_equals(c, i + 1 == n, "catcher");
                    let result_path = reader.result_path(c, "ResultPath");
                    let output = match lang {
                        Lang::Jsonata => reader.jsonata_template(c, "Output"),
                        Lang::JsonPath => None,
                    };
                    let assign = reader.assign(c, lang);
                    // A catcher without a target is left out: the machine is refused anyway,
                    // and it leads nowhere the reachability check could follow.
                    let next = reader
                        .required_str(c, "Next")
                        .and_then(|name| reader.target("Next", name));
                    if let Some(next) = next {
                        out.push(Catcher {
                            errors,
                            next,
                            result_path,
                            output,
                            assign,
                        });
                    }
                });
            }
            out
        })
    }
}
