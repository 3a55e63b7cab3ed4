//! The shipped state machine against the contracts: every path it reads exists in what the
//! previous state produced, and every Lambda gets the payload its contract asks for.

use serde_json::Value;
use spotlight_tests::{check_data_flow, repository_root, Contracts};

fn definition() -> Value {
    let path = repository_root().join("statemachine/pipeline.asl.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn contracts() -> Contracts {
    Contracts::new(repository_root().join("contracts"))
}

fn problems(definition: &Value) -> Vec<String> {
    let contracts = contracts();
    let input = contracts.schema("pipeline.input").unwrap();
    check_data_flow(definition, input, &contracts).problems
}

#[test]
fn every_path_the_pipeline_reads_exists_in_the_contracts() {
    let report = {
        let contracts = contracts();
        let input = contracts.schema("pipeline.input").unwrap();
        check_data_flow(&definition(), input, &contracts)
    };
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    for state in [
        "Validate",
        "Reprocessing",
        "PlanReprocess",
        "RunLabels",
        "RunModeration",
        "RunText",
        "DetectLabels",
        "DetectModeration",
        "DetectText",
        "KeepLabels",
        "KeepModeration",
        "KeepText",
        "Record",
        "RecordRejected",
        "RecordFailed",
        "PublishResult",
        "ResultUndelivered",
        "Outcome",
        "Analyzed",
        "Rejected",
        "FailedWithCause",
        "Failed",
        "FailedWithoutCause",
    ] {
        assert!(
            report.visits.contains_key(state),
            "{state} was never walked"
        );
    }
    // RecordFailed is reached from Validate, Analyze, Record and RecordRejected with
    // different data; each arrival is checked.
    assert!(report.visits["RecordFailed"] >= 3, "{:?}", report.visits);
    // The result event is sent after each of the three record states.
    assert!(report.visits["PublishResult"] >= 3, "{:?}", report.visits);
}

/// Breaks the definition at `pointer` and returns what the checker says.
fn broken(pointer: &str, value: Value) -> Vec<String> {
    let mut definition = definition();
    *definition
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value;
    problems(&definition)
}

fn assert_reported(problems: &[String], state: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(state) && p.contains(needle)),
        "expected a problem in {state} mentioning {needle:?}, got {problems:#?}"
    );
}

#[test]
fn a_misspelt_path_is_caught() {
    let problems = broken(
        "/States/Record/Parameters/Payload/labels.$",
        Value::from("$.analysis.label"),
    );
    assert_reported(&problems, "Record", "$.analysis.label");
}

#[test]
fn an_optional_field_may_be_copied_only_past_its_is_present_rule() {
    // Without the rule that tests the event's version-id, copying it is reading a field that
    // unversioned buckets' events do not have.
    let problems = broken(
        "/States/Normalize/Choices/0/And/2",
        serde_json::json!({"Variable": "$.detail.bucket.name", "IsPresent": true}),
    );
    assert_reported(&problems, "FromVersionedObjectCreatedEvent", "version-id");
}

#[test]
fn reading_an_optional_field_is_caught() {
    let problems = broken(
        "/States/RecordRejected/Parameters/Payload/state.$",
        Value::from("$.validation"),
    );
    assert_reported(&problems, "RecordRejected", "$.validation");
}

#[test]
fn a_payload_that_breaks_the_function_contract_is_caught() {
    let problems = broken(
        "/States/Record/Parameters/Payload/outcome",
        Value::from("DONE"),
    );
    assert_reported(&problems, "Record", "breaks record.input");
    let problems = broken("/States/Validate/Parameters/Payload.$", Value::from("$"));
    assert_reported(&problems, "Validate", "breaks validate.input");
}

#[test]
fn a_result_path_that_drops_data_is_caught() {
    let problems = broken("/States/Analyze/ResultPath", Value::from("$.results"));
    assert_reported(&problems, "Record", "$.analysis.labels");
}

#[test]
fn a_wrong_parallel_index_is_caught() {
    let problems = broken(
        "/States/Analyze/ResultSelector/labels.$",
        Value::from("$[1].labels"),
    );
    assert_reported(&problems, "Analyze", "$[1].labels");
}

#[test]
fn a_kept_analysis_must_still_reach_the_record_step() {
    // The Keep… state stands in for its analyser's result under the same field.
    let problems = broken(
        "/States/Analyze/Branches/2/States/KeepText/Result",
        serde_json::json!({"text": {"keep": true}}),
    );
    assert_reported(&problems, "Record", "breaks record.input");
}

#[test]
fn the_plan_is_read_only_past_its_is_present_rule() {
    // Without the first rule, an execution that is not a reprocess has no plan to read.
    let problems = broken(
        "/States/Analyze/Branches/0/States/RunLabels/Choices/0",
        serde_json::json!({"Variable": "$.request.bucket", "IsPresent": false, "Next": "DetectLabels"}),
    );
    assert_reported(&problems, "Analyze.Branches[0].RunLabels", "$.plan.labels");
}

#[test]
fn the_reprocess_plan_payload_is_checked_against_its_contract() {
    let problems = broken(
        "/States/PlanReprocess/Parameters/Payload/reprocess.$",
        Value::from("$.request.key"),
    );
    assert_reported(&problems, "PlanReprocess", "breaks record-plan.input");
}

#[test]
fn a_fail_state_reading_a_missing_error_is_caught() {
    let problems = broken("/States/Failed/ErrorPath", Value::from("$.err.Error"));
    assert_reported(&problems, "Failed", "$.err.Error");
}

#[test]
fn the_only_substitutions_are_the_function_arns() {
    let text =
        std::fs::read_to_string(repository_root().join("statemachine/pipeline.asl.json")).unwrap();
    let mut names: Vec<&str> = text
        .match_indices("${")
        .filter_map(|(start, _)| text[start + 2..].split_once('}').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names,
        [
            "DetectLabelsFunctionArn",
            "DetectModerationFunctionArn",
            "DetectTextFunctionArn",
            "RecordFunctionArn",
            "RecordPlanFunctionArn",
            "ResultEventBusName",
            "ValidateFunctionArn",
        ]
    );
}

const DETAIL: &str = "/States/PublishResult/Parameters/Entries/0/Detail";

#[test]
fn the_result_event_carries_every_field_its_contract_promises() {
    let mut definition = definition();
    let detail = definition
        .pointer_mut(DETAIL)
        .and_then(Value::as_object_mut)
        .unwrap();
    detail.remove("themes.$").unwrap();
    assert_reported(
        &problems(&definition),
        "PublishResult",
        "Entries[0].Detail.themes is required",
    );
}

#[test]
fn a_result_event_field_of_the_wrong_type_is_caught() {
    let problems = broken(
        &format!("{DETAIL}/safe.$"),
        Value::from("$.record.record.status"),
    );
    assert_reported(&problems, "PublishResult", "Entries[0].Detail.safe");
}

#[test]
fn a_result_event_field_read_from_a_missing_path_is_caught() {
    let problems = broken(
        &format!("{DETAIL}/verdict.$"),
        Value::from("$.record.record.moderation.verdict"),
    );
    assert_reported(
        &problems,
        "PublishResult",
        "$.record.record.moderation.verdict",
    );
}

#[test]
fn a_presence_test_of_a_field_no_arrival_carries_is_caught() {
    // Outcome is reached with and without `$.error`: testing it is fine, a misspelling is not.
    let problems = broken(
        "/States/Outcome/Choices/0/And/0/Variable",
        Value::from("$.eror"),
    );
    assert_reported(&problems, "Outcome", "$.eror");
    assert!(
        !problems.iter().any(|p| p.contains("$.error")),
        "{problems:#?}"
    );
}

#[test]
fn the_result_event_is_sent_on_every_path_that_writes_a_record_and_never_fails_the_photo() {
    let definition = definition();
    let states = &definition["States"];
    for state in ["Record", "RecordRejected", "RecordFailed"] {
        assert_eq!(states[state]["Next"], "PublishResult", "{state}");
    }
    let publish = &states["PublishResult"];
    assert_eq!(publish["Resource"], spotlight_tests::PUT_EVENTS);
    let entry = &publish["Parameters"]["Entries"][0];
    assert_eq!(
        entry["Source"],
        spotlight_core::contracts::RESULT_EVENT_SOURCE
    );
    assert_eq!(
        entry["DetailType"],
        spotlight_core::contracts::RESULT_EVENT_DETAIL_TYPE
    );
    assert_eq!(entry["EventBusName"], "${ResultEventBusName}");
    // A refused entry fails the optimized integration's task: retried, then caught.
    let retried = publish["Retry"][0]["ErrorEquals"].as_array().unwrap();
    assert!(retried.contains(&Value::from("EventBridge.FailedEntry")));
    let catches = publish["Catch"].as_array().unwrap();
    assert_eq!(catches.len(), 1);
    assert_eq!(catches[0]["ErrorEquals"], serde_json::json!(["States.ALL"]));
    assert_eq!(catches[0]["Next"], "ResultUndelivered");
    assert_eq!(states["ResultUndelivered"]["Next"], "Outcome");
    assert_eq!(publish["Next"], "Outcome");
}

#[test]
fn every_rejection_is_caught_by_name_before_states_all() {
    let definition = definition();
    let rejections: Vec<Value> = spotlight_core::ErrorName::ALL
        .iter()
        .filter(|n| n.is_rejection())
        .map(|n| Value::from(n.as_str()))
        .collect();
    for state in ["Validate", "Analyze"] {
        let catches = definition["States"][state]["Catch"].as_array().unwrap();
        assert_eq!(
            catches[0]["ErrorEquals"].as_array().unwrap(),
            &rejections,
            "{state}"
        );
        assert_eq!(catches[0]["Next"], "RecordRejected");
        assert_eq!(
            catches.last().unwrap()["ErrorEquals"],
            serde_json::json!(["States.ALL"])
        );
        assert_eq!(catches.last().unwrap()["Next"], "RecordFailed");
    }
}

#[test]
fn analyser_tasks_retry_throttling_with_capped_full_jitter() {
    let definition = definition();
    for (index, branch) in definition["States"]["Analyze"]["Branches"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        // The branch starts with the choice whether its analyser runs (a reprocess may keep
        // the stored result); its Default is the analyser.
        let start = branch["StartAt"].as_str().unwrap();
        let analyser = branch["States"][start]["Default"].as_str().unwrap();
        assert_eq!(branch["States"][analyser]["Type"], "Task");
        let retries = branch["States"][analyser]["Retry"].as_array().unwrap();
        let throttle = retries
            .iter()
            .find(|r| r["ErrorEquals"] == serde_json::json!(["AnalyzerThrottled"]))
            .unwrap_or_else(|| panic!("branch {index} does not retry AnalyzerThrottled"));
        assert_eq!(throttle["JitterStrategy"], "FULL");
        assert!(throttle["MaxDelaySeconds"].as_u64().is_some());
        assert!(throttle["BackoffRate"].as_f64().unwrap() > 1.0);
        assert!(retries.iter().any(|r| r["ErrorEquals"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Lambda.TooManyRequestsException"))));
    }
}

#[test]
fn a_definition_the_engine_refuses_is_reported_with_the_engines_problems() {
    let problems = broken("/States/Analyze/Next", Value::from("Nowhere"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/States/Analyze/Next") && p.contains("Nowhere")),
        "{problems:#?}"
    );
}

fn reevaluation() -> Value {
    let path = repository_root().join("statemachine/reevaluate.asl.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What starts a re-evaluation: `{}` or `{"dryRun": true}`.
fn reevaluation_input() -> Value {
    serde_json::json!({"type": "object", "properties": {"dryRun": {"type": "boolean"}}})
}

#[test]
fn every_path_the_reevaluation_reads_exists_in_the_contracts() {
    let report = check_data_flow(&reevaluation(), reevaluation_input(), &contracts());
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    for state in [
        "DryRunAsked",
        "BeginDryRun",
        "Begin",
        "ListPage",
        "ReevaluateChunks",
        "ReevaluateChunk",
        "MorePages",
        "Total",
    ] {
        assert!(
            report.visits.contains_key(state),
            "{state} was never walked"
        );
    }
}

#[test]
fn the_reevaluation_map_item_and_its_payload_are_checked() {
    let mut definition = reevaluation();
    *definition
        .pointer_mut("/States/ReevaluateChunks/ItemSelector/ids.$")
        .unwrap() = Value::from("$$.Map.Item.Valu");
    let problems = check_data_flow(&definition, reevaluation_input(), &contracts()).problems;
    assert_reported(&problems, "ReevaluateChunks", "$$.Map.Item.Valu");

    let mut definition = reevaluation();
    *definition
        .pointer_mut("/States/ListPage/Parameters/Payload/action")
        .unwrap() = Value::from("pages");
    let problems = check_data_flow(&definition, reevaluation_input(), &contracts()).problems;
    assert_reported(&problems, "ListPage", "breaks reevaluate.input");
}
