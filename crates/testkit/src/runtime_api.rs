//! The Lambda Runtime API on loopback, so a built Lambda binary can be started as a process
//! and invoked the way the Lambda service invokes it.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{serve, Response};

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `/response`: the function's result.
    Success(Value),
    /// `/error`: the function's error, as `{"errorType", "errorMessage"}`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
    /// `/init/error`: the function could not start.
    InitError(Value),
}

/// A Runtime API with one function process attached.
pub struct LambdaProcess {
    events: Mutex<Sender<(String, Value)>>,
    outcomes: Mutex<Receiver<(Option<String>, Outcome)>>,
    child: Child,
    next_id: Mutex<u64>,
}

impl LambdaProcess {
    /// Serves the Runtime API and starts `binary` against it with `env`.
    pub fn start(binary: &str, env: &[(&str, String)]) -> Self {
        let (event_tx, event_rx) = channel::<(String, Value)>();
        let (outcome_tx, outcome_rx) = channel();
        let event_rx = Arc::new(Mutex::new(event_rx));
        let outcome_tx = Arc::new(Mutex::new(outcome_tx));
        let address = serve(move |request| {
            let path = request.path.trim_start_matches("/2018-06-01/runtime");
            if request.method == "GET" && path == "/invocation/next" {
                let next = event_rx.lock().ok().and_then(|rx| rx.recv().ok());
                let Some((id, payload)) = next else {
                    return Response::empty(500);
                };
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() + 60_000)
                    .unwrap_or(0);
                let mut response = Response::json(200, &payload);
                response.headers.extend([
                    ("lambda-runtime-aws-request-id".to_owned(), id),
                    (
                        "lambda-runtime-deadline-ms".to_owned(),
                        deadline.to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn".to_owned(),
                        "arn:aws:lambda:us-east-1:123456789012:function:test".to_owned(),
                    ),
                    (
                        "lambda-runtime-trace-id".to_owned(),
                        "Root=1-00000000-000000000000000000000000".to_owned(),
                    ),
                ]);
                return response;
            }
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let outcome = if path == "/init/error" {
                Some((None, Outcome::InitError(body)))
            } else if let Some(rest) = path.strip_prefix("/invocation/") {
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                match kind {
                    "response" => Some((Some(id.to_owned()), Outcome::Success(body))),
                    "error" => Some((
                        Some(id.to_owned()),
                        Outcome::Error {
                            error_type: body["errorType"].as_str().unwrap_or_default().to_owned(),
                            error_message: body["errorMessage"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        },
                    )),
                    _ => None,
                }
            } else {
                None
            };
            match outcome {
                Some(outcome) => {
                    if let Ok(tx) = outcome_tx.lock() {
                        let _ = tx.send(outcome);
                    }
                    Response::empty(202)
                }
                None => Response::empty(404),
            }
        });
        let child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", &address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "test")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        LambdaProcess {
            events: Mutex::new(event_tx),
            outcomes: Mutex::new(outcome_rx),
            child,
            next_id: Mutex::new(0),
        }
    }

    /// Invokes the function with `payload` and waits for its outcome.
    pub fn invoke(&self, payload: Value) -> Outcome {
        let id = {
            let mut next = self
                .next_id
                .lock()
                .expect("the id counter is never poisoned");
            *next += 1;
            format!("request-{next}")
        };
        self.events
            .lock()
            .expect("the event sender is never poisoned")
            .send((id.clone(), payload))
            .expect("the Runtime API is serving");
        let outcomes = self
            .outcomes
            .lock()
            .expect("the outcome receiver is never poisoned");
        loop {
            match outcomes.recv_timeout(Duration::from_secs(60)) {
                Ok((Some(got), outcome)) if got == id => return outcome,
                Ok((None, outcome)) => return outcome,
                Ok(_) => continue,
                Err(_) => panic!("no answer to {id} within 60 s"),
            }
        }
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
