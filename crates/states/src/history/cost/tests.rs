use super::*;
use serde_json::json;

const LABELS: &str = "arn:aws:lambda:local:000000000000:function:spotlight-detect-labels";
const TEXT: &str = "arn:aws:lambda:us-east-1:123456789012:function:spot-DetectTextFunction-Q1W2E3";
const VALIDATE: &str = "arn:aws:lambda:local:000000000000:function:spotlight-validate";

/// Builds a history as `GetExecutionHistory` writes it, event by event, each one `ms` after
/// the epoch.
#[derive(Default)]
struct Events(Vec<Value>);

impl Events {
    fn push(&mut self, previous: u64, ms: i64, kind: &str, details: Option<(&str, Value)>) -> u64 {
        let id = self.0.len() as u64 + 1;
        let time = DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(ms);
        let mut event = json!({
            "timestamp": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "type": kind, "id": id, "previousEventId": previous,
        });
        if let Some((member, details)) = details {
            event[member] = details;
        }
        self.0.push(event);
        id
    }

    fn start(&mut self, input: &str) -> u64 {
        let details = json!({"input": input, "inputDetails": {"truncated": false}, "roleArn": "r"});
        self.push(
            0,
            0,
            "ExecutionStarted",
            Some(("executionStartedEventDetails", details)),
        )
    }

    fn enter(&mut self, previous: u64, ms: i64, kind: &str, name: &str, input: &str) -> u64 {
        let details = json!({"name": name, "input": input, "inputDetails": {"truncated": false}});
        let kind = format!("{kind}StateEntered");
        self.push(
            previous,
            ms,
            &kind,
            Some(("stateEnteredEventDetails", details)),
        )
    }

    fn exit(&mut self, previous: u64, ms: i64, kind: &str, name: &str, output: &str) -> u64 {
        let details =
            json!({"name": name, "output": output, "outputDetails": {"truncated": false}});
        let kind = format!("{kind}StateExited");
        self.push(
            previous,
            ms,
            &kind,
            Some(("stateExitedEventDetails", details)),
        )
    }

    /// `TaskScheduled` + `TaskStarted` of a `lambda:invoke` of `function`.
    fn invoke(&mut self, previous: u64, ms: i64, function: &str, payload: Value) -> u64 {
        let parameters = json!({"FunctionName": function, "Payload": payload}).to_string();
        let details = json!({"resourceType": "lambda", "resource": "invoke",
                             "region": "us-east-1", "parameters": parameters});
        let scheduled = self.push(
            previous,
            ms,
            "TaskScheduled",
            Some(("taskScheduledEventDetails", details)),
        );
        let details = json!({"resourceType": "lambda", "resource": "invoke"});
        self.push(
            scheduled,
            ms,
            "TaskStarted",
            Some(("taskStartedEventDetails", details)),
        )
    }

    fn succeed(&mut self, previous: u64, ms: i64, output: &str) -> u64 {
        let details = json!({"resourceType": "lambda", "resource": "invoke", "output": output,
                             "outputDetails": {"truncated": false}});
        self.push(
            previous,
            ms,
            "TaskSucceeded",
            Some(("taskSucceededEventDetails", details)),
        )
    }

    fn fail(&mut self, previous: u64, ms: i64, error: &str) -> u64 {
        let details = json!({"resourceType": "lambda", "resource": "invoke", "error": error,
                             "cause": "busy"});
        self.push(
            previous,
            ms,
            "TaskFailed",
            Some(("taskFailedEventDetails", details)),
        )
    }

    fn end(&mut self, previous: u64, ms: i64, output: &str) -> u64 {
        let details = json!({"output": output, "outputDetails": {"truncated": false}});
        self.push(
            previous,
            ms,
            "ExecutionSucceeded",
            Some(("executionSucceededEventDetails", details)),
        )
    }

    /// One task state invoking `function`, each attempt taking `ms` and failing with the
    /// given errors before the last one succeeds with `{}`.
    fn task(
        &mut self,
        previous: u64,
        at: i64,
        name: &str,
        function: &str,
        failures: &[&str],
        ms: i64,
    ) -> (u64, i64) {
        let mut now = at;
        let mut last = self.enter(previous, now, "Task", name, "{}");
        for error in failures {
            let started = self.invoke(last, now, function, json!({}));
            now += ms;
            last = self.fail(started, now, error);
        }
        let started = self.invoke(last, now, function, json!({}));
        now += ms;
        let done = self.succeed(started, now, "{}");
        (self.exit(done, now, "Task", name, "{}"), now)
    }
}

/// The report, read once from the JSON (AWS's history) and once from the engine's own event
/// type: both readers must agree.
fn both(events: &Events, definition_bytes: usize) -> CostReport {
    let prices = PriceSheet::published().unwrap();
    let from_json = report(&events.0, &prices, definition_bytes);
    let typed: Vec<HistoryEvent> = events
        .0
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    assert_eq!(report(&typed, &prices, definition_bytes), from_json);
    from_json
}

#[test]
fn a_retry_is_one_more_transition_and_one_more_invocation() {
    let mut events = Events::default();
    let started = events.start("{}");
    let (validated, now) = events.task(
        started,
        0,
        "Validate",
        VALIDATE,
        &["Lambda.ServiceException"],
        40,
    );
    let done = events.enter(validated, now, "Succeed", "Done", "{}");
    events.end(done, now, "{}");

    let cost = both(&events, 0);
    // Two states entered, one retry.
    assert_eq!((cost.transitions, cost.retries), (3, 1));
    assert_eq!(cost.lambda.invocations, 2);
    assert_eq!(cost.lambda.billed_ms, 80);
    let validate = &cost.states[0];
    assert_eq!(
        (
            validate.name.as_str(),
            validate.entered,
            validate.attempts,
            validate.retries,
            validate.duration_ms
        ),
        ("Validate", 1, 2, 1, 80)
    );
    let prices = PriceSheet::published().unwrap();
    let per_transition = prices.step_functions.standard.usd_per1000_state_transitions / 1000.0;
    assert_eq!(cost.usd.standard, cents(3.0 * per_transition));
    let lambda = &prices.lambda;
    let gb_seconds = 0.080 * lambda.memory_mb as f64 / 1024.0;
    assert_eq!(cost.lambda.gb_seconds, cents(gb_seconds));
    assert_eq!(
        cost.usd.lambda,
        cents(
            2.0 * lambda.usd_per_million_requests / 1e6
                + gb_seconds * lambda.usd_per_gb_second[&lambda.architecture]
        )
    );
    // No analyser ran.
    assert!(cost.rekognition.is_empty());
    assert_eq!(cost.usd.rekognition, 0.0);
}

#[test]
fn a_throttled_invocation_is_a_transition_but_no_lambda_request() {
    let mut events = Events::default();
    let started = events.start("{}");
    let (validated, now) = events.task(
        started,
        0,
        "Validate",
        VALIDATE,
        &["Lambda.TooManyRequestsException"],
        5,
    );
    events.end(validated, now, "{}");
    let cost = both(&events, 0);
    assert_eq!((cost.transitions, cost.retries), (2, 1));
    assert_eq!(cost.lambda.invocations, 1);
    assert_eq!(cost.lambda.billed_ms, 5);
}

#[test]
fn the_peak_payload_is_the_largest_text_and_says_where_it_was() {
    let mut events = Events::default();
    let started = events.start(r#"{"key":"a.jpg"}"#);
    let entered = events.enter(started, 0, "Task", "Big", "{}");
    let big = "x".repeat(3000);
    let scheduled = events.invoke(entered, 0, VALIDATE, json!({ "blob": big }));
    let result = json!({ "r": "y".repeat(1000) }).to_string();
    let done = events.succeed(scheduled, 1, &result);
    let exited = events.exit(done, 1, "Task", "Big", "{}");
    events.end(exited, 1, "{}");
    let cost = both(&events, 0);
    let peak = cost.peak_payload.unwrap();
    let parameters = json!({"FunctionName": VALIDATE, "Payload": {"blob": big}}).to_string();
    assert_eq!(peak.bytes, parameters.len() as u64);
    assert_eq!(
        (peak.state.as_deref(), peak.field.as_str()),
        (Some("Big"), "parameters")
    );
    assert_eq!(peak.limit_bytes, 262_144);

    // A larger result takes over, named as the task's result.
    let mut events = Events::default();
    let started = events.start("{}");
    let entered = events.enter(started, 0, "Task", "Big", "{}");
    let scheduled = events.invoke(entered, 0, VALIDATE, json!({}));
    let result = json!({ "r": "y".repeat(5000) }).to_string();
    let done = events.succeed(scheduled, 1, &result);
    let exited = events.exit(done, 1, "Task", "Big", "{}");
    events.end(exited, 1, "{}");
    let peak = both(&events, 0).peak_payload.unwrap();
    assert_eq!(
        (peak.bytes, peak.field.as_str()),
        (result.len() as u64, "result")
    );
}

#[test]
fn express_rounds_the_duration_up_to_100_ms_and_the_memory_to_64_mb() {
    let prices = PriceSheet::published().unwrap();
    let express = &prices.step_functions.express;
    for (ms, billed) in [(1234, 1300), (1200, 1200), (1, 100), (0, 100)] {
        let mut events = Events::default();
        let started = events.start("{}");
        let pass = events.enter(started, 0, "Pass", "P", "{}");
        let left = events.exit(pass, ms, "Pass", "P", "{}");
        events.end(left, ms, "{}");
        let cost = both(&events, 30_000);
        assert_eq!(cost.duration_ms, Some(ms as u64));
        let billing = cost.express.unwrap();
        assert_eq!(
            (billing.billed_ms, billing.billed_memory_mb),
            (billed, 64),
            "{ms} ms"
        );
        let gb_seconds = billed as f64 / 1000.0 * 64.0 / 1024.0;
        assert_eq!(billing.gb_seconds, cents(gb_seconds));
        assert_eq!(
            cost.usd.express,
            Some(cents(
                express.usd_per_million_requests / 1e6
                    + gb_seconds * express.usd_per_gb_hour / 3600.0
            ))
        );
    }
    // 50 MB + a 15 MB definition is past one chunk.
    let mut events = Events::default();
    let started = events.start("{}");
    events.end(started, 10, "{}");
    assert_eq!(
        both(&events, 15_000_000).express.unwrap().billed_memory_mb,
        128
    );
}

#[test]
fn a_running_execution_has_no_express_price_yet() {
    let mut events = Events::default();
    let started = events.start("{}");
    events.enter(started, 5, "Task", "Validate", "{}");
    let cost = both(&events, 0);
    assert_eq!((cost.duration_ms, cost.express.is_some()), (None, false));
    assert_eq!((cost.usd.express, cost.usd.total_express), (None, None));
    assert_eq!(cost.transitions, 1);
}

#[test]
fn each_analyser_that_ran_is_one_rekognition_image() {
    let mut events = Events::default();
    let started = events.start("{}");
    let parallel = events.enter(started, 0, "Parallel", "Analyze", "{}");
    let opened = events.push(parallel, 0, "ParallelStateStarted", None);
    // Labels: throttled once, then succeeds; text (a SAM-named function) succeeds; a third
    // branch calls no analyser.
    events.task(
        opened,
        0,
        "DetectLabels",
        LABELS,
        &["AnalyzerThrottled"],
        100,
    );
    let (text, _) = events.task(opened, 0, "DetectText", TEXT, &[], 300);
    events.task(opened, 0, "Other", VALIDATE, &[], 10);
    let joined = events.push(text, 300, "ParallelStateSucceeded", None);
    let left = events.exit(joined, 300, "Parallel", "Analyze", "[{},{},{}]");
    events.end(left, 300, "[{},{},{}]");

    let cost = both(&events, 0);
    assert_eq!(
        cost.rekognition,
        BTreeMap::from([("DetectLabels".to_owned(), 1), ("DetectText".to_owned(), 1)])
    );
    let prices = PriceSheet::published().unwrap();
    let per_image = &prices.rekognition.usd_per_image;
    assert_eq!(
        cost.usd.rekognition,
        cents(per_image["DetectLabels"] + per_image["DetectText"])
    );
    // Analyze + three branch states, and one retry.
    assert_eq!((cost.transitions, cost.retries), (5, 1));
    assert_eq!(cost.lambda.invocations, 4);
    assert_eq!(cost.lambda.billed_ms, 200 + 300 + 10);
    assert_eq!(
        cost.usd.total_standard,
        cents(cost.usd.standard + cost.usd.lambda + cost.usd.rekognition)
    );
    let names: Vec<&str> = cost.states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Analyze", "DetectLabels", "DetectText", "Other"]);
    assert_eq!(cost.states[0].duration_ms, 300);
}

#[test]
fn totals_add_up_and_divide_per_execution() {
    let mut events = Events::default();
    let started = events.start("{}");
    let (done, now) = events.task(started, 0, "DetectLabels", LABELS, &[], 50);
    events.end(done, now, "{}");
    let one = both(&events, 0);
    let mut totals = CostTotals::default();
    totals.add(&one);
    totals.add(&one);
    assert_eq!(totals.executions, 2);
    assert_eq!(totals.transitions, 2 * one.transitions);
    assert_eq!(totals.rekognition["DetectLabels"], 2);
    assert_eq!(
        totals.usd.total_standard,
        cents(2.0 * one.usd.total_standard)
    );
    assert_eq!(
        totals.usd_per_execution.total_standard,
        one.usd.total_standard
    );
    assert_eq!(
        totals.usd_per_execution.total_express,
        one.usd.total_express
    );
}

#[test]
fn the_published_sheet_is_complete_and_matches_the_template() {
    let prices = PriceSheet::published().unwrap();
    assert_eq!(prices.region, "us-east-1");
    for price in [
        prices.step_functions.standard.usd_per1000_state_transitions,
        prices.step_functions.express.usd_per_million_requests,
        prices.step_functions.express.usd_per_gb_hour,
        prices.lambda.usd_per_million_requests,
    ] {
        assert!(price > 0.0);
    }
    for source in [
        &prices.step_functions.standard.source,
        &prices.step_functions.express.source,
        &prices.lambda.source,
        &prices.rekognition.source,
    ] {
        assert!(source.starts_with("https://aws.amazon.com/"), "{source}");
    }
    // The functions' memory and architecture are the deployment template's.
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
    )
    .unwrap();
    let globals = template.split("\nResources:").next().unwrap();
    assert!(
        globals.contains(&format!("MemorySize: {}", prices.lambda.memory_mb)),
        "{globals}"
    );
    assert!(globals.contains(&format!("Architectures: [{}]", prices.lambda.architecture)));
    // Every analyser the pipeline runs is priced.
    let apis: Vec<&str> = prices
        .tasks
        .iter()
        .flat_map(|t| &t.rekognition)
        .map(String::as_str)
        .collect();
    assert_eq!(
        apis,
        ["DetectLabels", "DetectModerationLabels", "DetectText"]
    );
}

#[test]
fn a_sheet_naming_an_unpriced_api_is_refused() {
    let mut sheet: Value = serde_json::from_str(PUBLISHED).unwrap();
    sheet["tasks"][0]["rekognition"] = json!(["DetectFaces"]);
    let refused = PriceSheet::from_json(&sheet.to_string()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the price sheet has no price for Rekognition DetectFaces"
    );
    let mut sheet: Value = serde_json::from_str(PUBLISHED).unwrap();
    sheet["lambda"]["architecture"] = json!("riscv");
    assert!(
        matches!(PriceSheet::from_json(&sheet.to_string()), Err(PriceError::NoLambdaPrice(a)) if a == "riscv")
    );
}
