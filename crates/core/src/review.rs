//! People's reviews: a reviewer approves or rejects a photo, and the decision overrides the
//! model's verdict wherever a verdict counts (search, the gallery, the API, the CLI).
//!
//! - A decision quotes the [`token`] of the record the reviewer saw; a store writes it only if
//!   the record still has that token (DynamoDB: a condition on the item; SQLite: inside one
//!   transaction). Two reviewers deciding on the same view: the second gets a conflict, never a
//!   silent overwrite. A new analysis written meanwhile changes the token too, so nobody
//!   decides on a result they did not see.
//! - A review belongs to one upload. When the record step writes a new analysis, the store
//!   calls [`carry`]: the same object analysed again keeps the review; a new upload (or an
//!   analysis that is not ANALYZED) moves it to `reviewHistory`.
//! - Only ANALYZED records are reviewed: a REJECTED or FAILED photo has nothing to approve.

use chrono::{DateTime, Utc};

use crate::contracts::{ImageRecord, RecordStatus, Review, ReviewDecision, Verdict};

/// The most reviews a record keeps in its history; the oldest go first (the item must stay
/// well under DynamoDB's 400 KB).
pub const MAX_HISTORY: usize = 20;
/// The longest reviewer name, in characters.
pub const MAX_REVIEWER: usize = 200;
/// The longest note, in characters.
pub const MAX_NOTE: usize = 1000;

/// A decision as a reviewer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRequest {
    /// Approve or reject.
    pub decision: ReviewDecision,
    /// Who decides.
    pub reviewer: String,
    /// Why (optional).
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// The [`token`] of the record as the reviewer saw it.
    pub expect: String,
}

/// A decision that cannot be taken as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// No reviewer named.
    #[error("a review needs the reviewer's name")]
    NoReviewer,
    /// A field is too long or holds control characters.
    #[error("the {field} must be at most {max} characters, without control characters")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
}

impl ReviewRequest {
    /// A checked decision: a reviewer's name (trimmed, not empty) and an optional note (empty
    /// means none), both bounded and free of control characters (a note may hold line breaks).
    pub fn new(
        decision: ReviewDecision,
        reviewer: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
        expect: impl Into<String>,
    ) -> Result<Self, ReviewError> {
        let reviewer = reviewer.trim();
        if reviewer.is_empty() {
            return Err(ReviewError::NoReviewer);
        }
        if reviewer.chars().count() > MAX_REVIEWER || reviewer.chars().any(char::is_control) {
            return Err(ReviewError::Invalid {
                field: "reviewer",
                max: MAX_REVIEWER,
            });
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(note) = note {
            let control = note
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r');
            if note.chars().count() > MAX_NOTE || control {
                return Err(ReviewError::Invalid {
                    field: "note",
                    max: MAX_NOTE,
                });
            }
        }
        Ok(ReviewRequest {
            decision,
            reviewer: reviewer.to_owned(),
            note: note.map(str::to_owned),
            at,
            expect: expect.into(),
        })
    }
}

/// What a review did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewOutcome {
    /// Written: the record as it now is.
    Reviewed(Box<ImageRecord>),
    /// The record changed since the reviewer saw it (another review, a new analysis): nothing
    /// written; the record as it now is.
    Conflict(Box<ImageRecord>),
    /// No record for that bucket and key.
    NotFound,
    /// The record is not ANALYZED (REJECTED or FAILED): nothing to review.
    NotReviewable(Box<ImageRecord>),
}

/// The version of a record a decision must quote: which review it carries (its sequence) and
/// which write of the record (revision and execution). Opaque to callers.
pub fn token(record: &ImageRecord) -> String {
    // FNV-1a: a stable digest with no dependency; it only tells versions of one record apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in record
        .revision
        .bytes()
        .chain([0])
        .chain(record.execution.id.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{hash:016x}", sequence(record))
}

/// The sequence of the record's current review (0: never reviewed).
pub fn sequence(record: &ImageRecord) -> u32 {
    record.review.as_ref().map_or(0, |review| review.sequence)
}

/// The highest sequence any review of the record ever had.
fn last_sequence(record: &ImageRecord) -> u32 {
    record
        .review
        .iter()
        .chain(&record.review_history)
        .map(|review| review.sequence)
        .max()
        .unwrap_or(0)
}

fn push_bounded(history: &mut Vec<Review>, review: Review) {
    history.push(review);
    if history.len() > MAX_HISTORY {
        let extra = history.len() - MAX_HISTORY;
        history.drain(..extra);
    }
}

/// The record `stored` becomes with `request`'s decision, or why not. Pure: each store calls it
/// on the record it read, then writes the result on the condition that the record is still the
/// one read.
pub fn decide(stored: &ImageRecord, request: &ReviewRequest) -> ReviewOutcome {
    if token(stored) != request.expect {
        return ReviewOutcome::Conflict(Box::new(stored.clone()));
    }
    if stored.status != RecordStatus::Analyzed {
        return ReviewOutcome::NotReviewable(Box::new(stored.clone()));
    }
    let mut record = stored.clone();
    let sequence = last_sequence(stored).saturating_add(1);
    if let Some(replaced) = record.review.take() {
        push_bounded(&mut record.review_history, replaced);
    }
    let image = stored.image.as_ref();
    record.review = Some(Review {
        decision: request.decision,
        reviewer: request.reviewer.clone(),
        reviewed_at: request.at,
        note: request.note.clone(),
        model_verdict: stored.model_verdict(),
        revision: stored.revision.clone(),
        etag: image.and_then(|i| i.etag.clone()),
        version_id: image.and_then(|i| i.version_id.clone()),
        sequence,
    });
    record.safe = record.effective_safe();
    ReviewOutcome::Reviewed(Box::new(record))
}

/// Carries the reviews of `stored` over to `new`, a new analysis of the same key about to
/// replace it: the review stays when `new` is an ANALYZED result of the very object the review
/// was about (same version, or same ETag and Last-Modified: see
/// [`crate::revision::same_object`]); otherwise it goes to the history. `new`'s own review
/// fields are ignored, so carrying twice gives the same record.
pub fn carry(stored: &ImageRecord, new: &mut ImageRecord) {
    let mut history = stored.review_history.clone();
    new.review = None;
    if let Some(review) = &stored.review {
        let same_upload = new.status == RecordStatus::Analyzed
            && matches!((&stored.image, &new.image),
                (Some(a), Some(b)) if crate::revision::same_object(a, b));
        if same_upload {
            new.review = Some(review.clone());
            new.safe = new.effective_safe();
        } else {
            push_bounded(&mut history, review.clone());
        }
    }
    new.review_history = history;
}

/// The review queue from candidate records (e.g. a search for unsafe ANALYZED records): those
/// no one has reviewed and the model did not clear, NEEDS_REVIEW first, then the others
/// (UNSAFE, UNKNOWN), oldest upload first within each.
pub fn queue(records: impl IntoIterator<Item = ImageRecord>) -> Vec<ImageRecord> {
    let mut waiting: Vec<ImageRecord> = records
        .into_iter()
        .filter(|r| {
            r.status == RecordStatus::Analyzed
                && r.review.is_none()
                && r.model_verdict() != Verdict::Safe
        })
        .collect();
    waiting.sort_by(|a, b| {
        let rank = |r: &ImageRecord| u8::from(r.model_verdict() != Verdict::NeedsReview);
        rank(a)
            .cmp(&rank(b))
            .then(a.uploaded_at.cmp(&b.uploaded_at))
            .then_with(|| a.id.cmp(&b.id))
    });
    waiting
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contracts::{ExecutionRef, ModerationSummary};

    pub(crate) fn record(key: &str, verdict: Verdict, seconds: i64) -> ImageRecord {
        let at = DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default();
        let mut image = crate::contracts::ImageFacts {
            bucket: "b".into(),
            key: key.into(),
            format: crate::contracts::ImageFormat::Jpeg,
            size_bytes: 1,
            width: 100,
            height: 100,
            revision: crate::revision::revision(None, Some(at)),
            etag: Some("\"e1\"".into()),
            version_id: None,
            last_modified: Some(at),
            uploaded_at: Some(at),
        };
        image.revision = crate::revision::revision(None, Some(at));
        ImageRecord {
            id: crate::record_id("b", key),
            bucket: "b".into(),
            key: key.into(),
            status: RecordStatus::Analyzed,
            revision: image.revision.clone(),
            uploaded_at: at,
            image: Some(image),
            labels: Vec::new(),
            moderation: Some(ModerationSummary {
                labels: Vec::new(),
                verdict,
                flagged: Vec::new(),
                review_flagged: Vec::new(),
                policy_version: "t".into(),
            }),
            safe: verdict == Verdict::Safe,
            text: None,
            themes: Vec::new(),
            trimmed: Vec::new(),
            models: Vec::new(),
            error: None,
            execution: ExecutionRef {
                id: format!("exec-{key}-{seconds}"),
                start_time: at,
            },
            analysed_at: at,
            review: None,
            review_history: Vec::new(),
        }
    }

    fn request(decision: ReviewDecision, who: &str, record: &ImageRecord) -> ReviewRequest {
        ReviewRequest::new(
            decision,
            who,
            Some("looked"),
            DateTime::UNIX_EPOCH,
            token(record),
        )
        .unwrap()
    }

    fn reviewed(outcome: ReviewOutcome) -> ImageRecord {
        match outcome {
            ReviewOutcome::Reviewed(record) => *record,
            other => panic!("not reviewed: {other:?}"),
        }
    }

    #[test]
    fn a_decision_overrides_the_model_and_a_stale_one_conflicts() {
        let stored = record("a.jpg", Verdict::NeedsReview, 0);
        assert!(!stored.safe);
        let approve = request(ReviewDecision::Approved, "ana", &stored);
        let reject = request(ReviewDecision::Rejected, "bo", &stored);
        let approved = reviewed(decide(&stored, &approve));
        assert!(approved.safe);
        assert_eq!(approved.verdict(), Verdict::Safe);
        assert_eq!(approved.model_verdict(), Verdict::NeedsReview);
        assert_ne!(token(&approved), token(&stored));
        // Bo decided on the same view as Ana: a conflict, not an overwrite.
        assert!(matches!(
            decide(&approved, &reject),
            ReviewOutcome::Conflict(current) if current.review == approved.review
        ));
        // Deciding again on the view with Ana's review replaces it and keeps hers.
        let rejected = reviewed(decide(
            &approved,
            &request(ReviewDecision::Rejected, "bo", &approved),
        ));
        assert!(!rejected.safe);
        assert_eq!(rejected.review_history.len(), 1);
        assert_eq!(rejected.review_history[0].reviewer, "ana");
        assert_eq!(rejected.review.as_ref().map(|r| r.sequence), Some(2));
    }

    #[test]
    fn only_analysed_records_are_reviewed() {
        let mut failed = record("f.jpg", Verdict::Unknown, 0);
        failed.status = RecordStatus::Failed;
        failed.moderation = None;
        let approve = request(ReviewDecision::Approved, "ana", &failed);
        assert!(matches!(
            decide(&failed, &approve),
            ReviewOutcome::NotReviewable(_)
        ));
    }

    #[test]
    fn the_same_upload_keeps_its_review_and_a_new_one_moves_it_to_history() {
        let stored = record("a.jpg", Verdict::Unsafe, 0);
        let approved = reviewed(decide(
            &stored,
            &request(ReviewDecision::Approved, "ana", &stored),
        ));
        let mut again = record("a.jpg", Verdict::Unsafe, 0);
        again.execution.id = "re-run".into();
        carry(&approved, &mut again);
        assert_eq!(again.review, approved.review);
        assert!(again.safe, "the approval still counts");

        let mut newer = record("a.jpg", Verdict::Unsafe, 10);
        newer.review = approved.review.clone();
        carry(&approved, &mut newer);
        assert_eq!(newer.review, None);
        assert_eq!(
            newer.review_history,
            approved.review.clone().into_iter().collect::<Vec<_>>()
        );
        assert!(!newer.safe);
        let once = newer.clone();
        carry(&approved, &mut newer);
        assert_eq!(newer, once, "carrying twice changes nothing");

        // The same bytes rejected by an analyser this time: not a result to approve.
        let mut rejected = record("a.jpg", Verdict::Unknown, 0);
        rejected.status = RecordStatus::Rejected;
        rejected.safe = false;
        carry(&approved, &mut rejected);
        assert_eq!(rejected.review, None);
        assert!(!rejected.effective_safe());
    }

    #[test]
    fn history_is_bounded() {
        let mut current = record("a.jpg", Verdict::Unsafe, 0);
        for i in 0..(MAX_HISTORY + 5) {
            let who = format!("r{i}");
            current = reviewed(decide(
                &current,
                &request(ReviewDecision::Approved, &who, &current),
            ));
        }
        assert_eq!(current.review_history.len(), MAX_HISTORY);
        assert_eq!(
            current.review.as_ref().map(|r| r.sequence),
            Some(MAX_HISTORY as u32 + 5)
        );
    }

    #[test]
    fn the_queue_puts_needs_review_first_then_oldest_first() {
        let approved = {
            let r = record("approved.jpg", Verdict::NeedsReview, 0);
            reviewed(decide(&r, &request(ReviewDecision::Approved, "ana", &r)))
        };
        let records = vec![
            record("unsafe new.jpg", Verdict::Unsafe, 30),
            record("review new.jpg", Verdict::NeedsReview, 20),
            record("safe.jpg", Verdict::Safe, 5),
            record("unsafe old.jpg", Verdict::Unsafe, 1),
            record("review old.jpg", Verdict::NeedsReview, 2),
            approved,
        ];
        let keys: Vec<String> = queue(records).into_iter().map(|r| r.key).collect();
        assert_eq!(
            keys,
            [
                "review old.jpg",
                "review new.jpg",
                "unsafe old.jpg",
                "unsafe new.jpg"
            ]
        );
    }

    #[test]
    fn a_record_stored_before_reviews_reads_with_none() {
        // As a store written before issue 14 holds it: no review fields, no review band.
        let json = r#"{"id":"YQ.Yg","bucket":"a","key":"b","status":"ANALYZED","revision":"1:1",
            "uploadedAt":"2026-11-25T10:00:00Z","labels":[],"safe":false,
            "moderation":{"labels":[{"name":"Violence","confidence":70.0,"taxonomyLevel":1}],
                          "verdict":"UNSAFE","flagged":[],"policyVersion":"2026-11-25.2"},
            "themes":[],"trimmed":[],"models":[],
            "execution":{"id":"e","startTime":"2026-11-25T10:00:00Z"},
            "analysedAt":"2026-11-25T10:00:01Z"}"#;
        let record: ImageRecord = serde_json::from_str(json).unwrap();
        assert_eq!(record.review, None);
        assert!(record.review_history.is_empty());
        assert_eq!(record.verdict(), Verdict::Unsafe);
        assert_eq!(token(&record).split('-').next(), Some("0"));
        let again = serde_json::to_string(&record).unwrap();
        assert!(!again.contains("review"), "{again}");
        let needs: Verdict = serde_json::from_str("\"NEEDS_REVIEW\"").unwrap();
        assert_eq!(needs, Verdict::NeedsReview);
    }

    #[test]
    fn requests_are_checked() {
        let at = DateTime::UNIX_EPOCH;
        let new = |who: &str, note: Option<&str>| {
            ReviewRequest::new(ReviewDecision::Approved, who, note, at, "t")
        };
        assert_eq!(new("  ", None), Err(ReviewError::NoReviewer));
        assert!(new("a\u{7}b", None).is_err());
        assert!(new("ana", Some(&"x".repeat(MAX_NOTE + 1))).is_err());
        let ok = new(" ana ", Some("  ")).unwrap();
        assert_eq!((ok.reviewer.as_str(), ok.note), ("ana", None));
        assert!(new("ana", Some("two\nlines")).is_ok());
    }
}
