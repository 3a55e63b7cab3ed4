//! The review function: a reviewer approves or rejects a photo, behind an IAM-authenticated
//! Function URL (`POST` with a JSON body).
//!
//! ```json
//! {"bucket": "photos", "key": "beach.jpg", "decision": "APPROVED",
//!  "expect": "<the reviewToken of the record as the reviewer saw it>", "note": "ad campaign"}
//! ```
//!
//! The reviewer is the signed caller (the IAM ARN the Function URL authenticated), or the body's
//! `reviewer` when the request carries no IAM identity. The decision is written only if the
//! record still has the quoted token ([`RecordStore::review`]: a DynamoDB condition on the
//! review version), so of two reviewers deciding on the same view the second gets a `409` with
//! the record as it now is. Answers: `200 {"record", "reviewToken"}`, `400` for a body that
//! cannot be used, `404` for no such record, `405` for a method other than POST, `409` for a
//! conflict (`{"message", "record", "reviewToken"}`), `422` for a record that is not ANALYZED.
//! A store failure is the function's error (`StoreFailed`).
#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use spotlight_core::contracts::{ApiError, ImageRecord, ReviewDecision};
use spotlight_core::ports::RecordStore;
use spotlight_core::review::{self, ReviewOutcome, ReviewRequest};
use spotlight_core::StepError;

/// The body of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionBody {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// `APPROVED` or `REJECTED`.
    pub decision: ReviewDecision,
    /// The `reviewToken` of the record as the reviewer saw it.
    pub expect: String,
    /// Why (optional).
    #[serde(default)]
    pub note: Option<String>,
    /// Who, when the request carries no IAM identity.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// The request as the function needs it from the Function URL event.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The body, as sent.
    pub body: &'a str,
    /// The signed caller's IAM ARN, when the URL authenticated one.
    pub caller: Option<&'a str>,
    /// Whether the Function URL base64-encoded the body (it does for a body it does not take
    /// for text, i.e. one not sent as `application/json`).
    pub base64: bool,
}

/// The answer: an HTTP status and a JSON body.
#[derive(Debug)]
pub struct Answer {
    /// 200, 400, 404, 405, 409 or 422.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

fn refuse(status: u16, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!(ApiError {
            message: message.into()
        }),
    }
}

fn with_token(record: &ImageRecord) -> Value {
    json!({"record": record, "reviewToken": review::token(record)})
}

/// Takes one decision. Store failures are errors (`StoreFailed`); a bad request is an answer.
pub async fn handle<S: RecordStore>(
    call: Call<'_>,
    store: &S,
    now: DateTime<Utc>,
) -> Result<Answer, StepError> {
    if !call.method.eq_ignore_ascii_case("POST") {
        return Ok(refuse(405, "POST a decision as JSON"));
    }
    if call.base64 {
        return Ok(refuse(
            400,
            "send the decision as JSON (Content-Type: application/json)",
        ));
    }
    let body: DecisionBody = match serde_json::from_str(call.body) {
        Ok(body) => body,
        Err(error) => return Ok(refuse(400, format!("the body is not a decision: {error}"))),
    };
    let Some(reviewer) = call.caller.or(body.reviewer.as_deref()) else {
        return Ok(refuse(400, "a decision needs a reviewer"));
    };
    let request = match ReviewRequest::new(
        body.decision,
        reviewer,
        body.note.as_deref(),
        now,
        body.expect.as_str(),
    ) {
        Ok(request) => request,
        Err(error) => return Ok(refuse(400, error.to_string())),
    };
    Ok(
        match store.review(&body.bucket, &body.key, &request).await? {
            ReviewOutcome::Reviewed(record) => {
                tracing::info!(id = %record.id, decision = request.decision.as_str(), reviewer = %request.reviewer, "reviewed");
                Answer {
                    status: 200,
                    body: with_token(&record),
                }
            }
            ReviewOutcome::Conflict(current) => {
                let mut body = with_token(&current);
                body["message"] = json!(format!(
                    "{} changed since it was read (another review or a new analysis): nothing \
                     written; decide again on the record as it now is",
                    current.key
                ));
                Answer { status: 409, body }
            }
            ReviewOutcome::NotFound => refuse(404, format!("no record for {}", body.key)),
            ReviewOutcome::NotReviewable(current) => refuse(
                422,
                format!(
                    "{} is {}: only analysed photos are reviewed",
                    current.key,
                    current.status.as_str()
                ),
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotlight_core::fakes::MemoryRecords;

    #[tokio::test]
    async fn refuses_what_it_cannot_use() {
        let store = MemoryRecords::new();
        let now = DateTime::UNIX_EPOCH;
        let call = |method, body| Call {
            method,
            body,
            caller: None,
            base64: false,
        };
        let get = handle(call("GET", ""), &store, now).await.ok();
        assert_eq!(get.map(|a| a.status), Some(405));
        let junk = handle(call("POST", "{"), &store, now).await.ok();
        assert_eq!(junk.map(|a| a.status), Some(400));
        let nobody = r#"{"bucket":"b","key":"k","decision":"APPROVED","expect":"0-0"}"#;
        let answer = handle(call("POST", nobody), &store, now).await.ok();
        assert_eq!(answer.map(|a| a.status), Some(400), "no reviewer");
        let missing = handle(
            Call {
                caller: Some("arn:aws:iam::123456789012:user/ana"),
                ..call("POST", nobody)
            },
            &store,
            now,
        )
        .await
        .ok();
        assert_eq!(missing.map(|a| a.status), Some(404));
    }
}
