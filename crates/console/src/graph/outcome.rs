//! How the graph shows what happened to each state: a class (and so a colour from
//! `console.css`), a label and a glyph for every [`StateOutcome`]. What happened is
//! `spotlight-states`' reading of the history ([`spotlight_states::attribute`]), the same one
//! the execution page's table and `spotlight executions show` use.

use spotlight_states::StateOutcome;

/// Every outcome, in the legend's order.
pub(super) const LEGEND: [StateOutcome; 6] = [
    StateOutcome::Succeeded,
    StateOutcome::Retried,
    StateOutcome::Caught,
    StateOutcome::Failed,
    StateOutcome::Running,
    StateOutcome::NotRun,
];

/// The CSS class and `data-status` value.
pub(super) fn class(outcome: StateOutcome) -> &'static str {
    match outcome {
        StateOutcome::NotRun => "not-run",
        StateOutcome::Running => "running",
        StateOutcome::Succeeded => "succeeded",
        StateOutcome::Retried => "retried",
        StateOutcome::Caught => "caught",
        StateOutcome::Failed => "failed",
    }
}

/// How the legend and tooltips say it.
pub(super) fn label(outcome: StateOutcome) -> &'static str {
    match outcome {
        StateOutcome::NotRun => "Not run",
        StateOutcome::Running => "Running",
        StateOutcome::Succeeded => "Succeeded",
        StateOutcome::Retried => "Retried",
        StateOutcome::Caught => "Caught",
        StateOutcome::Failed => "Failed",
    }
}

/// A mark drawn in the node's corner, so the outcome does not rest on colour alone.
pub(super) fn glyph(outcome: StateOutcome) -> Option<&'static str> {
    match outcome {
        StateOutcome::NotRun => None,
        StateOutcome::Running => Some("…"),
        StateOutcome::Succeeded => Some("✓"),
        StateOutcome::Retried => Some("↻"),
        StateOutcome::Caught => Some("↪"),
        StateOutcome::Failed => Some("✕"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use spotlight_states::{attribute, Status};

    use super::super::render;
    use super::super::test_support::{
        assert_outcomes, drawn_status, machine, of, pipeline, request, run, well_formed, PIPELINE,
    };
    use super::*;

    #[tokio::test]
    async fn a_retry_a_catch_and_a_failure_are_told_apart() {
        // DetectModeration is throttled once; Record's store is down for good, so the Catch
        // takes the execution to RecordFailed and then the Fail state.
        let (status, events) = run(PIPELINE, request(), |state, retry| match (state, retry) {
            ("DetectModeration", 0) => Err(("Lambda.TooManyRequestsException", "slow down")),
            ("Record", _) => Err(("StoreFailed", "disk full")),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Failed);
        let outcomes = attribute(&events).outcomes();
        use StateOutcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Normalize", Succeeded),
                ("FromObjectRequest", Succeeded),
                ("FromVersionedObjectCreatedEvent", NotRun),
                ("FromObjectCreatedEvent", NotRun),
                ("FromVersionedS3Notification", NotRun),
                ("FromS3Notification", NotRun),
                ("UnrecognisedInput", NotRun),
                ("Validate", Succeeded),
                ("Reprocessing", Succeeded),
                ("PlanReprocess", NotRun),
                ("Analyze", Succeeded),
                ("RunLabels", Succeeded),
                ("RunModeration", Succeeded),
                ("RunText", Succeeded),
                ("KeepLabels", NotRun),
                ("DetectLabels", Succeeded),
                ("DetectModeration", Retried),
                ("DetectText", Succeeded),
                ("Record", Caught),
                ("RecordFailed", Succeeded),
                ("PublishResult", Succeeded),
                ("ResultUndelivered", NotRun),
                ("Outcome", Succeeded),
                ("FailedWithCause", Succeeded),
                ("Failed", Failed),
                ("FailedWithoutCause", NotRun),
                ("RecordRejected", NotRun),
                ("Rejected", NotRun),
                ("Analyzed", NotRun),
            ],
        );
        assert_eq!(outcomes.len(), 17, "only states that ran: {outcomes:?}");

        let svg = render(&machine(&pipeline()), &outcomes);
        well_formed(&svg);
        for (name, status) in [
            ("DetectModeration", "retried"),
            ("Record", "caught"),
            ("Failed", "failed"),
            ("Rejected", "not-run"),
            ("Analyze", "succeeded"),
        ] {
            assert_eq!(drawn_status(&svg, name), status, "{name}");
        }
        assert!(svg.contains("class=\"node caught task\" data-state=\"Record\""));
        assert!(svg.contains(
            "aria-label=\"State machine graph: 31 states, 14 succeeded, 1 retried, 1 caught, \
             1 failed, 14 not run\""
        ));
    }

    #[tokio::test]
    async fn a_failed_branch_fails_its_state_and_the_parallel_is_caught() {
        let (status, events) = run(PIPELINE, request(), |state, _| match state {
            "DetectLabels" => Err(("ImageRejected.Corrupt", "not a JPEG after all")),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = attribute(&events).outcomes();
        use StateOutcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Validate", Succeeded),
                ("Analyze", Caught),
                ("DetectLabels", Failed),
                ("RecordRejected", Succeeded),
                ("Rejected", Succeeded),
                ("Record", NotRun),
                ("RecordFailed", NotRun),
                ("Failed", NotRun),
            ],
        );
        // The other branches finished, or were stopped when DetectLabels failed.
        for sibling in ["DetectModeration", "DetectText"] {
            assert!(
                matches!(of(&outcomes, sibling), Succeeded | NotRun),
                "{outcomes:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_rejected_image_is_caught_at_validation() {
        let (status, events) = run(PIPELINE, request(), |state, _| match state {
            "Validate" => Err((
                "ImageRejected.TooSmall",
                "The image is narrower than 80 px.",
            )),
            _ => Ok(()),
        })
        .await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = attribute(&events).outcomes();
        use StateOutcome::*;
        assert_outcomes(
            &outcomes,
            &[
                ("Validate", Caught),
                ("Analyze", NotRun),
                ("DetectLabels", NotRun),
                ("RecordRejected", Succeeded),
                ("Rejected", Succeeded),
            ],
        );
    }

    #[tokio::test]
    async fn unrecognised_input_fails_at_the_fail_state() {
        let (status, events) = run(PIPELINE, json!({"hello": "world"}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Failed);
        let outcomes = attribute(&events).outcomes();
        assert_outcomes(
            &outcomes,
            &[
                ("Normalize", StateOutcome::Succeeded),
                ("UnrecognisedInput", StateOutcome::Failed),
                ("Validate", StateOutcome::NotRun),
            ],
        );
    }

    #[tokio::test]
    async fn an_unfinished_history_shows_what_is_running() {
        let (_, events) = run(PIPELINE, request(), |state, _| match state {
            "Record" => Err(("StoreFailed", "disk full")),
            _ => Ok(()),
        })
        .await;
        // Cut the history just after Record's first attempt was scheduled.
        let scheduled = events
            .iter()
            .position(|e| {
                e["type"] == "TaskScheduled"
                    && e["taskScheduledEventDetails"]["parameters"]
                        .as_str()
                        .is_some_and(|p| p.contains("ANALYZED"))
            })
            .expect("Record was scheduled");
        let running = attribute(&events[..=scheduled]).outcomes();
        assert_outcomes(
            &running,
            &[
                ("Validate", StateOutcome::Succeeded),
                ("Analyze", StateOutcome::Succeeded),
                ("Record", StateOutcome::Running),
                ("RecordFailed", StateOutcome::NotRun),
            ],
        );
        // Mid-way through its retries, a failed attempt is still running, not failed.
        let failed_once = events
            .iter()
            .position(|e| e["type"] == "TaskFailed")
            .expect("Record failed once");
        assert_eq!(
            of(&attribute(&events[..=failed_once]).outcomes(), "Record"),
            StateOutcome::Running
        );
    }

    #[tokio::test]
    async fn a_state_failing_inside_a_branch_without_a_task_event_is_found() {
        // The Choice matches nothing: no Task event says so, only the way the Parallel's
        // failure leads back to it. (States.Runtime, say from a bad path, is never caught.)
        let definition = json!({
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "Bad", "States": {
                        "Bad": {"Type": "Choice", "Choices": [
                            {"Variable": "$.n", "IsPresent": true, "Next": "Never"}
                        ]},
                        "Never": {"Type": "Succeed"}
                    }}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                    "End": true
                },
                "Done": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&definition.to_string(), json!({}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Succeeded);
        assert_outcomes(
            &attribute(&events).outcomes(),
            &[
                ("Bad", StateOutcome::Failed),
                ("Never", StateOutcome::NotRun),
                ("Fan", StateOutcome::Caught),
                ("Done", StateOutcome::Succeeded),
            ],
        );

        let choice = json!({
            "StartAt": "Pick",
            "States": {
                "Pick": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericEquals": 1, "Next": "One"}
                ]},
                "One": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&choice.to_string(), json!({"n": 2}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Failed);
        assert_outcomes(
            &attribute(&events).outcomes(),
            &[
                ("Pick", StateOutcome::Failed),
                ("One", StateOutcome::NotRun),
            ],
        );
    }

    #[tokio::test]
    async fn a_loop_succeeds_and_draws() {
        let definition = json!({
            "StartAt": "Count",
            "States": {
                "Count": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                    "Next": "Enough?"
                },
                "Enough?": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}
                ], "Default": "Done"},
                "Done": {"Type": "Succeed"}
            }
        });
        let (status, events) = run(&definition.to_string(), json!({"n": 0}), |_, _| Ok(())).await;
        assert_eq!(status, Status::Succeeded);
        let outcomes = attribute(&events).outcomes();
        assert_outcomes(
            &outcomes,
            &[
                ("Count", StateOutcome::Succeeded),
                ("Enough?", StateOutcome::Succeeded),
                ("Done", StateOutcome::Succeeded),
            ],
        );
        let svg = render(&machine(&definition), &outcomes);
        well_formed(&svg);
        assert_eq!(svg.matches("data-status=\"succeeded\"").count(), 3);
        assert!(svg.contains("href=\"#state-Enough%3F\""));
        // The loop back up is an edge like the others (4 edges, plus Start and End).
        assert_eq!(svg.matches("class=\"edge\"").count(), 5);
    }
}
