//! The conformance suite: one folder per case under `tests/conformance/<case>/`, run by this one
//! runner, which reports every failing case (not just the first) and exits non-zero if any.
//!
//! A case folder holds:
//! - `definition.asl.json` — the state machine;
//! - `input.json` — the execution input (`{}` when absent);
//! - `mocks.json` — optional, a Step Functions Local mock configuration;
//! - `expected.json` — what must come out:
//!   - `options`: `{"testCase", "stateMachineName", "substitutions", "seed"}` (all optional);
//!   - `status`, `output`, `error`, `cause`: compared exactly when present;
//!   - `causeContains`: a substring the cause must contain;
//!   - `outputText`: the output printed as compact JSON, compared as text (where `output`
//!     compares numbers by value, this sees `0` against `-0.0`);
//!   - `history`: the expected events; each expected event must match the actual one at the
//!     same position as a *subset* (keys left out are not compared), and the count must match;
//!   - `historyTypes`: just the sequence of event types;
//!   - `problems`: for a definition that must be refused, `[{"code", "pointer",
//!     "messageContains"}]`, each of which must be among the problems reported;
//!   - `divergence`: free text documenting a known difference from AWS (not checked).
//!
//! Tasks of states not mocked (or with no mock file) go to the runner's own invoker, keyed by
//! the function name at the end of the resource ARN (`…:function:echo`, `…:function:sleep`, …;
//! for `arn:aws:states:::lambda:invoke`, the `FunctionName` parameter):
//! `echo` returns its parameters, `sleep` waits `seconds` on the virtual clock then returns
//! them, `fail` throws `error`/`cause`, `big` returns a string of `bytes` bytes, `flaky` fails
//! with `error` until its call count reaches `succeedOn`.
//!
//! Every case runs on a paused tokio runtime with a [`TokioClock`] starting at
//! 2024-01-01T00:00:00Z, execution name `exec`, seed 1: waits and backoff take no real time and
//! timestamps are exact.

use serde_json::{json, Value};
use spotlight_states::{
    ExecutionResult, InvokerFn, MockConfig, OwnedTaskRequest, RunOptions, StateMachine,
    StatesError, TaskInvoker, TokioClock,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Where `expected` is not a subset of `actual`, as a list of differences.
fn subset(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}: missing (expected {ev})")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{at}: expected {} elements, got {}: {actual}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{at}/{i}"), out);
            }
        }
        (e, a) if e == a => {}
        // Numbers compare by value (1 and 1.0 are the same number).
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) => out.push(format!("{at}: expected {e}, got {a}")),
    }
}

fn runner_invoker(calls: Arc<AtomicU64>) -> Arc<dyn TaskInvoker> {
    Arc::new(InvokerFn(move |req: OwnedTaskRequest| {
        let calls = calls.clone();
        async move {
            let p = req.parameters;
            let name = match req.resource.rsplit_once(':') {
                Some((_, "invoke")) => p
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                Some((_, n)) => n.to_string(),
                None => String::new(),
            };
            let args = if req.resource.ends_with(":invoke") {
                p.get("Payload").cloned().unwrap_or(Value::Null)
            } else {
                p.clone()
            };
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
            match name.as_str() {
                "echo" => Ok(args),
                "sleep" => {
                    let secs = args.get("seconds").and_then(Value::as_f64).unwrap_or(1.0);
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                    Ok(args)
                }
                "fail" => Err(StatesError {
                    error: text("error").unwrap_or_default(),
                    cause: text("cause"),
                }),
                "big" => {
                    let bytes =
                        args.get("bytes").and_then(Value::as_u64).unwrap_or(300_000) as usize;
                    Ok(json!({ "data": "x".repeat(bytes) }))
                }
                "flaky" => {
                    let ok_on = args.get("succeedOn").and_then(Value::as_u64).unwrap_or(2);
                    if n >= ok_on {
                        Ok(json!({ "calls": n }))
                    } else {
                        Err(StatesError {
                            error: text("error").unwrap_or_default(),
                            cause: Some(format!("call {n}")),
                        })
                    }
                }
                other => Err(StatesError::new(
                    "Runner.UnknownFunction",
                    format!("no test function '{other}'"),
                )),
            }
        }
    }))
}

fn run_case(dir: &Path) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];
    let expected = read_json(&dir.join("expected.json"))
        .map_err(one)?
        .ok_or_else(|| one("no expected.json".into()))?;
    let definition = std::fs::read_to_string(dir.join("definition.asl.json"))
        .map_err(|e| one(format!("definition.asl.json: {e}")))?;
    let input = read_json(&dir.join("input.json"))
        .map_err(one)?
        .unwrap_or(json!({}));
    let mocks = read_json(&dir.join("mocks.json")).map_err(one)?;
    let options = expected.get("options").cloned().unwrap_or(json!({}));
    let subs: HashMap<String, String> = options
        .get("substitutions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();

    let mut errors = Vec::new();
    let machine = match StateMachine::parse(&definition, &subs) {
        Ok(m) => m,
        Err(e) => {
            let Some(want) = expected.get("problems").and_then(Value::as_array) else {
                return Err(vec![format!("the definition was refused:\n{e}")]);
            };
            for w in want {
                let found = e.problems().iter().any(|p| {
                    w.get("code")
                        .and_then(Value::as_str)
                        .is_none_or(|c| c == p.code)
                        && w.get("pointer")
                            .and_then(Value::as_str)
                            .is_none_or(|c| c == p.pointer)
                        && w.get("messageContains")
                            .and_then(Value::as_str)
                            .is_none_or(|c| p.message.contains(c))
                });
                if !found {
                    errors.push(format!("expected problem {w} not reported; got:\n{e}"));
                }
            }
            if let Some(n) = expected.get("problemCount").and_then(Value::as_u64) {
                if e.problems().len() as u64 != n {
                    errors.push(format!(
                        "expected {n} problems, got {}:\n{e}",
                        e.problems().len()
                    ));
                }
            }
            return if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            };
        }
    };
    if expected.get("problems").is_some() {
        return Err(vec![
            "the definition was accepted, but problems were expected".into(),
        ]);
    }

    let machine_name = options
        .get("stateMachineName")
        .and_then(Value::as_str)
        .unwrap_or("Conformance")
        .to_string();
    let seed = options.get("seed").and_then(Value::as_u64).unwrap_or(1);
    let fallback = runner_invoker(Arc::new(AtomicU64::new(0)));
    let invoker: Arc<dyn TaskInvoker> = match &mocks {
        Some(m) => {
            let cfg = MockConfig::from_value(m).map_err(|e| one(e.to_string()))?;
            let case = options
                .get("testCase")
                .and_then(Value::as_str)
                .unwrap_or("Default");
            Arc::new(
                cfg.invoker(&machine_name, case)
                    .map_err(|e| one(e.to_string()))?
                    .with_fallback(fallback),
            )
        }
        None => fallback,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| one(e.to_string()))?;
    let result: ExecutionResult = rt
        .block_on(async {
            let origin = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                .map(|t| t.to_utc())
                .unwrap_or_default();
            let options = RunOptions {
                state_machine_name: machine_name,
                execution_name: Some("exec".into()),
                history: true,
                clock: Some(Arc::new(TokioClock::starting_at(origin))),
                seed: Some(seed),
                ..RunOptions::default()
            };
            machine.run(input, invoker, options).await
        })
        .map_err(|e| one(format!("engine error: {e}")))?;

    let actual = serde_json::to_value(&result).map_err(|e| one(e.to_string()))?;
    for key in ["status", "output", "error", "cause"] {
        if let Some(want) = expected.get(key) {
            match actual.get(key) {
                Some(got) => subset(want, got, key, &mut errors),
                None => errors.push(format!("{key}: missing, expected {want}")),
            }
        }
    }
    if let Some(want) = expected.get("outputText").and_then(Value::as_str) {
        let got = result
            .output
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        if got != want {
            errors.push(format!("output prints as {got}, expected {want}"));
        }
    }
    if let Some(want) = expected.get("causeContains").and_then(Value::as_str) {
        let got = result.cause.as_deref().unwrap_or("");
        if !got.contains(want) {
            errors.push(format!("cause {got:?} does not contain {want:?}"));
        }
    }
    let events = actual
        .pointer("/history/events")
        .cloned()
        .unwrap_or(json!([]));
    if let Some(want) = expected.get("historyTypes") {
        let got: Vec<Value> = events
            .as_array()
            .map(|a| a.iter().map(|e| e["type"].clone()).collect())
            .unwrap_or_default();
        subset(want, &Value::Array(got), "historyTypes", &mut errors);
    }
    if let Some(want) = expected.get("history") {
        subset(want, &events, "history", &mut errors);
    }
    if !errors.is_empty() && std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
        errors.push(format!(
            "actual result: {}",
            serde_json::to_string_pretty(&actual).unwrap_or_default()
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", root.display());
            std::process::exit(1);
        }
    };
    dirs.sort();
    let (mut passed, mut failed) = (0, Vec::new());
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(|| run_case(dir)) {
            Ok(Ok(())) => passed += 1,
            Ok(Err(errors)) => failed.push((name, errors)),
            Err(_) => failed.push((name, vec!["panicked".into()])),
        }
    }
    for (name, errors) in &failed {
        println!("FAIL {name}");
        for e in errors {
            println!("    {}", e.replace('\n', "\n    "));
        }
    }
    println!(
        "conformance: {passed} passed, {} failed, {} cases",
        failed.len(),
        passed + failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
