//! `$random()` and `$uuid()` in JSONata states draw from the execution's seeded generator, so a
//! run with `RunOptions::seed` is reproducible, and runs with other seeds differ.

use serde_json::{json, Value};
use spotlight_states::{InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, Status};
use std::collections::HashMap;
use std::sync::Arc;

const DEFINITION: &str = r#"{
  "QueryLanguage": "JSONata",
  "StartAt": "Draw",
  "States": {
    "Draw": {
      "Type": "Pass",
      "Assign": {"first": "{% $random() %}"},
      "Output": {"r": "{% [$random(), $random()] %}", "u": "{% $uuid() %}", "seeded": "{% $random(42) %}"},
      "Next": "Again"
    },
    "Again": {
      "Type": "Pass",
      "Output": {"r": "{% $states.input.r %}", "u": "{% $states.input.u %}", "first": "{% $first %}", "more": "{% $uuid() %}", "seeded": "{% $states.input.seeded %}"},
      "End": true
    }
  }
}"#;

async fn run(seed: Option<u64>) -> Value {
    let machine = StateMachine::parse(DEFINITION, &HashMap::new()).expect("definition loads");
    let invoker = Arc::new(InvokerFn(|req: OwnedTaskRequest| async move {
        Ok(req.parameters)
    }));
    let options = RunOptions {
        seed,
        execution_name: Some("exec".into()),
        ..RunOptions::default()
    };
    let result = machine
        .run(json!({}), invoker, options)
        .await
        .expect("runs");
    assert_eq!(result.status, Status::Succeeded, "{result:?}");
    result.output.expect("an output")
}

#[tokio::test]
async fn random_and_uuid_follow_the_run_seed() {
    let a = run(Some(7)).await;
    let b = run(Some(7)).await;
    let c = run(Some(8)).await;
    assert_eq!(a, b, "same seed, same draws");
    assert_ne!(a["r"], c["r"], "another seed draws other numbers");
    assert_ne!(a["u"], c["u"]);
    // Within one run, every call draws anew.
    assert_ne!(a["r"][0], a["r"][1]);
    assert_ne!(a["u"], a["more"]);
    for r in a["r"].as_array().expect("two numbers") {
        let r = r.as_f64().expect("a number");
        assert!((0.0..1.0).contains(&r), "{r}");
    }
    let u = a["u"].as_str().expect("a string");
    assert_eq!(
        uuid::Uuid::parse_str(u).expect("a UUID").get_version_num(),
        4
    );
    // A seed given to `$random` itself wins over the run's.
    assert_eq!(a["seeded"], c["seeded"]);
    // Without a run seed, runs differ.
    assert_ne!(run(None).await["u"], run(None).await["u"]);
}
