//! The ports: what the steps need from the outside world, as narrow as the steps need it.
//!
//! Each port has an AWS adapter and a local adapter; the steps are generic over them, so the
//! code that runs in Lambda is the code that runs on a laptop and in tests.

use std::future::Future;
use std::ops::Range;

use chrono::{DateTime, Utc};

use crate::contracts::{
    ImageFacts, ImageRecord, Label, ModelInfo, ModerationLabel, RecordStatus, TextLine,
    WriteOutcome,
};
use crate::error::RejectReason;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an object's head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Size in bytes.
    pub size: u64,
    /// The ETag.
    pub etag: Option<String>,
    /// The version.
    pub version_id: Option<String>,
    /// When it was last written.
    pub last_modified: Option<DateTime<Utc>>,
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// There is no such object (or key outside the bucket, locally).
    #[error("object not found: {0}")]
    NotFound(String),
    /// Anything else.
    #[error("could not read the object: {message}")]
    Other {
        /// What failed.
        message: String,
        /// Why.
        #[source]
        source: Option<BoxError>,
    },
}

/// Reads objects: an S3 bucket on AWS, a folder locally.
pub trait ObjectReader: Send + Sync {
    /// The object's head (no body).
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<ObjectHead, ReadError>> + Send;

    /// The bytes in `range` (half-open, clamped to the object's end).
    fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, ReadError>> + Send;

    /// The head of one version of the object (`None`: the latest). A reader that keeps no
    /// versions (a folder) refuses a named one rather than describe another.
    fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<ObjectHead, ReadError>> + Send {
        async move {
            match version {
                None => self.head(bucket, key).await,
                Some(version) => Err(no_versions(bucket, key, version)),
            }
        }
    }

    /// [`ObjectReader::read_range`] of one version of the object (`None`: the latest).
    fn read_version_range(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, ReadError>> + Send {
        async move {
            match version {
                None => self.read_range(bucket, key, range).await,
                Some(version) => Err(no_versions(bucket, key, version)),
            }
        }
    }
}

fn no_versions(bucket: &str, key: &str, version: &str) -> ReadError {
    ReadError::Other {
        message: format!(
            "{bucket}/{key}: version {version:?} asked of a reader that keeps no versions"
        ),
        source: None,
    }
}

/// Why an analyser could not analyse an image.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The analyser refused for load.
    #[error("throttled: {message}")]
    Throttled {
        /// What it said.
        message: String,
        /// Why.
        #[source]
        source: Option<BoxError>,
    },
    /// The analyser could not use the image (it cannot decode it, or it breaks a limit).
    #[error("{message}")]
    Rejected {
        /// Which rejection.
        reason: RejectReason,
        /// What was wrong.
        message: String,
    },
    /// Anything else.
    #[error("{message}")]
    Failed {
        /// What failed.
        message: String,
        /// Why.
        #[source]
        source: Option<BoxError>,
    },
}

/// Labels an image: Rekognition DetectLabels, or a local model.
pub trait LabelDetector: Send + Sync {
    /// The model in use.
    fn model(&self) -> ModelInfo;
    /// The labels, in any order.
    fn detect_labels(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<Label>, DetectError>> + Send;
}

/// Moderates an image: Rekognition DetectModerationLabels, or a local model.
pub trait ModerationDetector: Send + Sync {
    /// The model in use.
    fn model(&self) -> ModelInfo;
    /// The moderation labels, in any order, in Rekognition's taxonomy.
    fn detect_moderation_labels(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<ModerationLabel>, DetectError>> + Send;
}

/// Reads text: Rekognition DetectText, or local OCR models.
pub trait TextDetector: Send + Sync {
    /// The model in use.
    fn model(&self) -> ModelInfo;
    /// The lines of text, in any order.
    fn detect_text(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<TextLine>, DetectError>> + Send;
}

/// Why the record store failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What failed.
    pub message: String,
    /// Why.
    #[source]
    pub source: Option<BoxError>,
}

impl StoreError {
    /// A store error with a message and a source.
    pub fn new(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// Which records a search wants. Everything set must hold (AND).
///
/// The label part is a conjunction of clauses, each met by a label name or a parent the record
/// carries at `min_confidence` or above (case-insensitive): `labels` is one clause (any of
/// them), each group of `all_labels` another, and `not_labels` excludes. `--label Dog --label
/// Beach` fills `labels`; with `--all` each label (and each theme, as the group of its labels)
/// becomes a group of `all_labels`. [`crate::search::matches`] is the one definition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    /// Records carrying any of these labels (a label name or a parent), at `min_confidence` or
    /// above. A theme is expanded to its labels by the caller, at query time.
    pub labels: Vec<String>,
    /// Records carrying, for every group, at least one of its labels (name or parent) at
    /// `min_confidence` or above. Empty: no such condition.
    pub all_labels: Vec<Vec<String>>,
    /// Records carrying none of these labels (name or parent) at `min_confidence` or above: a
    /// label below the bar is the classifier's noise and excludes nothing.
    pub not_labels: Vec<String>,
    /// Words to rank by (`--query`, issue 12: word matching over what the labels can name, a
    /// stand-in for image–text similarity). When set, a record matches only if one of them
    /// meets its labels, a theme its labels meet, or its text
    /// ([`crate::search::word_matches`]); a store still answers newest first, and the caller
    /// orders the hits with [`crate::search::rank`]. Built by [`crate::search::query_words`].
    pub words: Vec<crate::search::QueryWord>,
    /// Minimum confidence for `labels`, 0–100.
    pub min_confidence: f32,
    /// Records whose text contains this word (case-insensitive).
    pub text: Option<String>,
    /// Records with this status; `None` means any.
    pub status: Option<RecordStatus>,
    /// Only records whose moderation ran and flagged nothing. On unless asked otherwise.
    pub safe_only: bool,
    /// Only records that are not safe (awaiting review): the review queue.
    pub unsafe_only: bool,
    /// Only records whose verdict that counts (a reviewer's, else the model's: see
    /// [`ImageRecord::verdict`]) is this one. `None`: any.
    pub verdict: Option<crate::contracts::Verdict>,
    /// At most this many records in a page.
    pub limit: Option<usize>,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
    /// At most this many bytes of records in a page, counted as their serialised JSON
    /// (`serde_json::to_string`); a page always holds at least one record, so paging always
    /// moves on. `None`: no bound.
    pub max_bytes: Option<usize>,
}

impl SearchQuery {
    /// The label clause an index by label answers from: of [`labels`](Self::labels) and each
    /// group of [`all_labels`](Self::all_labels), the non-empty one with the fewest names (the
    /// first such on a tie). Every result carries one of its labels, so the index entries of
    /// those labels hold every result, and the fewest names is the fewest partitions to merge.
    /// `None`: the query has no label clause.
    pub fn smallest_label_clause(&self) -> Option<&[String]> {
        std::iter::once(&self.labels)
            .chain(&self.all_labels)
            .filter(|clause| !clause.is_empty())
            .min_by_key(|clause| clause.len())
            .map(Vec::as_slice)
    }

    /// The word of [`text`](Self::text) an index by word answers from: its first, as
    /// [`crate::search::words`] splits it (every result holds them all). `None`: no text, or a
    /// text without a word.
    pub fn first_text_word(&self) -> Option<String> {
        self.text
            .as_deref()
            .map(crate::search::words)
            .and_then(|words| words.into_iter().next())
    }

    /// Whether an index by label or by word can answer the query: it has a label clause
    /// ([`Self::smallest_label_clause`]) or a text word ([`Self::first_text_word`]). Excluded
    /// labels are no such clause: they name the records not wanted, so without one of these
    /// only a read of every record answers. The one rule for the search function, which refuses
    /// such a search, and for the DynamoDB store, which reads from that clause.
    pub fn has_indexed_clause(&self) -> bool {
        self.smallest_label_clause().is_some() || self.first_text_word().is_some()
    }
}

/// One page of records, newest upload first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records.
    pub records: Vec<ImageRecord>,
    /// Pass back as [`SearchQuery::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Fills a [`Page`] with matching records in result order, within the query's `limit` and
/// `max_bytes`, so that every store pages the same way.
#[derive(Debug)]
pub struct PageFiller {
    limit: usize,
    max_bytes: usize,
    bytes: usize,
    records: Vec<ImageRecord>,
    full: bool,
}

impl PageFiller {
    /// An empty page for `query`.
    pub fn new(query: &SearchQuery) -> Self {
        PageFiller {
            limit: query.limit.unwrap_or(usize::MAX),
            max_bytes: query.max_bytes.unwrap_or(usize::MAX),
            bytes: 0,
            records: Vec::new(),
            full: false,
        }
    }

    /// Offers the next matching record and the length of its serialised JSON. Returns `false`
    /// once the page is full: the record offered then did not fit, and proves a next page.
    pub fn offer(&mut self, record: ImageRecord, json_bytes: usize) -> bool {
        if self.full {
            return false;
        }
        let over_budget =
            !self.records.is_empty() && self.bytes.saturating_add(json_bytes) > self.max_bytes;
        if self.records.len() >= self.limit || over_budget {
            self.full = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(json_bytes);
        self.records.push(record);
        true
    }

    /// How many records the page holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the page holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The page, with a cursor after its last record when a record was turned away.
    pub fn finish(self) -> Page {
        let next_cursor = if self.full {
            self.records.last().map(crate::search::cursor_after)
        } else {
            None
        };
        Page {
            records: self.records,
            next_cursor,
        }
    }
}

/// A deleted key's mark (issue 14, takedown): the delete's revision
/// ([`crate::revision`]'s table), kept so that an analysis of an upload from before the delete
/// cannot bring its record back. Search never returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// The bucket (locally: the folder).
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The delete's revision: `3:<sequencer>` from an S3 event, `1:<µs>` locally.
    pub revision: String,
    /// When it was deleted (the event's time, or the local delete's).
    pub deleted_at: DateTime<Utc>,
}

/// What [`RecordStore::delete`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// The record (as it was) and its index entries are gone; the tombstone is written.
    Removed(Box<ImageRecord>),
    /// There was no record; the tombstone is written (or moved to this later delete).
    Tombstoned,
    /// A tombstone at this revision or a later one was there already: nothing changed.
    Duplicate,
    /// The stored record is of a later upload than the delete: it stays, nothing changed.
    Stale,
}

/// A record to rewrite in place (issue 14, policy re-evaluation): `read` is the record as it
/// was read, `updated` what replaces it. Both describe the same write of the same upload (same
/// id, revision and execution): only what is derived from the stored results changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordUpdate {
    /// The record as read.
    pub read: ImageRecord,
    /// The record to write instead.
    pub updated: ImageRecord,
}

/// What [`RecordStore::replace_unchanged`] did with one [`RecordUpdate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The stored record was still the one read: it is replaced, with its index entries.
    Replaced,
    /// The stored record changed since it was read (a newer analysis, a review, a delete):
    /// nothing written; whatever changed it wins.
    Changed,
}

/// Stores the one record per image.
///
/// `put` is idempotent and newest-wins (see [`crate::revision::decide_write`]): a re-delivered or
/// retried execution writes nothing twice and an older upload never replaces a newer one.
pub trait RecordStore: Send + Sync {
    /// Writes the record unless the stored one is the same execution's or newer, or the key
    /// was deleted at the record's revision or later ([`RecordStore::delete`]).
    fn put(
        &self,
        record: &ImageRecord,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// The record for bucket + key.
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ImageRecord>, StoreError>> + Send;

    /// Records matching the query, newest upload first.
    fn search(&self, query: &SearchQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Deletes the record of `tombstone`'s key with its index entries and leaves the
    /// tombstone, unless the stored record or tombstone is as new or newer
    /// ([`crate::revision::delete_removes`]). From then on [`RecordStore::put`] refuses a record
    /// at or below the tombstone's revision (`Stale`) and a later one replaces the tombstone.
    fn delete(
        &self,
        tombstone: &Tombstone,
    ) -> impl Future<Output = Result<DeleteOutcome, StoreError>> + Send;

    /// The tombstone of bucket + key, while the key stays deleted.
    fn tombstone(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Tombstone>, StoreError>> + Send;

    /// Replaces each record that is still exactly as it was read, in order, and says which
    /// were; a record that changed in between is left alone (a concurrent analysis, review or
    /// delete wins). An update that changes the id, revision or execution is refused with an
    /// error before anything is written: a new analysis goes through [`RecordStore::put`].
    fn replace_unchanged(
        &self,
        updates: &[RecordUpdate],
    ) -> impl Future<Output = Result<Vec<UpdateOutcome>, StoreError>> + Send;

    /// Writes a reviewer's decision on the record of bucket + key ([`crate::review::decide`])
    /// only if the record still has the token the request quotes, else answers `Conflict`
    /// with the record as it now is (issue 14, review). [`RecordStore::put`] carries the review
    /// over to a new analysis of the same upload ([`crate::review::carry`]).
    fn review(
        &self,
        bucket: &str,
        key: &str,
        request: &crate::review::ReviewRequest,
    ) -> impl Future<Output = Result<crate::review::ReviewOutcome, StoreError>> + Send;
}

/// Refuses a [`RecordUpdate`] that is not an in-place rewrite of the same write.
pub fn check_update(update: &RecordUpdate) -> Result<(), StoreError> {
    let (read, updated) = (&update.read, &update.updated);
    if read.id != updated.id
        || read.revision != updated.revision
        || read.execution.id != updated.execution.id
    {
        return Err(StoreError {
            message: format!(
                "an in-place update of {} must keep its id, revision and execution",
                read.id
            ),
            source: None,
        });
    }
    Ok(())
}

impl From<DetectError> for crate::StepError {
    fn from(error: DetectError) -> Self {
        match error {
            DetectError::Throttled { message, source } => {
                crate::StepError::AnalyzerThrottled { message, source }
            }
            DetectError::Rejected { reason, message } => {
                crate::StepError::rejected(reason, message)
            }
            DetectError::Failed { message, source } => {
                crate::StepError::AnalyzerFailed { message, source }
            }
        }
    }
}

impl From<StoreError> for crate::StepError {
    fn from(error: StoreError) -> Self {
        crate::StepError::StoreFailed {
            message: error.message,
            source: error.source,
        }
    }
}

// Shared ports: a pipeline and the code around it (a CLI listing records, a test counting
// calls) often hold the same adapter.
impl<T: ObjectReader + ?Sized> ObjectReader for std::sync::Arc<T> {
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<ObjectHead, ReadError>> + Send {
        (**self).head(bucket, key)
    }
    fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, ReadError>> + Send {
        (**self).read_range(bucket, key, range)
    }
    fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<ObjectHead, ReadError>> + Send {
        (**self).head_version(bucket, key, version)
    }
    fn read_version_range(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, ReadError>> + Send {
        (**self).read_version_range(bucket, key, version, range)
    }
}

impl<T: LabelDetector + ?Sized> LabelDetector for std::sync::Arc<T> {
    fn model(&self) -> ModelInfo {
        (**self).model()
    }
    fn detect_labels(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<Label>, DetectError>> + Send {
        (**self).detect_labels(image)
    }
}

impl<T: ModerationDetector + ?Sized> ModerationDetector for std::sync::Arc<T> {
    fn model(&self) -> ModelInfo {
        (**self).model()
    }
    fn detect_moderation_labels(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<ModerationLabel>, DetectError>> + Send {
        (**self).detect_moderation_labels(image)
    }
}

impl<T: TextDetector + ?Sized> TextDetector for std::sync::Arc<T> {
    fn model(&self) -> ModelInfo {
        (**self).model()
    }
    fn detect_text(
        &self,
        image: &ImageFacts,
    ) -> impl Future<Output = Result<Vec<TextLine>, DetectError>> + Send {
        (**self).detect_text(image)
    }
}

impl<T: RecordStore + ?Sized> RecordStore for std::sync::Arc<T> {
    fn put(
        &self,
        record: &ImageRecord,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send {
        (**self).put(record)
    }
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ImageRecord>, StoreError>> + Send {
        (**self).get(bucket, key)
    }
    fn search(&self, query: &SearchQuery) -> impl Future<Output = Result<Page, StoreError>> + Send {
        (**self).search(query)
    }
    fn delete(
        &self,
        tombstone: &Tombstone,
    ) -> impl Future<Output = Result<DeleteOutcome, StoreError>> + Send {
        (**self).delete(tombstone)
    }
    fn tombstone(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Tombstone>, StoreError>> + Send {
        (**self).tombstone(bucket, key)
    }
    fn replace_unchanged(
        &self,
        updates: &[RecordUpdate],
    ) -> impl Future<Output = Result<Vec<UpdateOutcome>, StoreError>> + Send {
        (**self).replace_unchanged(updates)
    }
    fn review(
        &self,
        bucket: &str,
        key: &str,
        request: &crate::review::ReviewRequest,
    ) -> impl Future<Output = Result<crate::review::ReviewOutcome, StoreError>> + Send {
        (**self).review(bucket, key, request)
    }
}

#[cfg(test)]
mod tests {
    use super::SearchQuery;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&name| name.to_owned()).collect()
    }

    #[test]
    fn the_indexed_clause_is_the_smallest_label_clause_else_the_first_text_word() {
        let query = SearchQuery {
            labels: names(&["Dog", "Cat", "Bird"]),
            all_labels: vec![Vec::new(), names(&["Beach", "Sea"]), names(&["Sky", "Sun"])],
            text: Some("Surf's up".to_owned()),
            ..SearchQuery::default()
        };
        let smallest: &[String] = &names(&["Beach", "Sea"]);
        assert_eq!(
            query.smallest_label_clause(),
            Some(smallest),
            "first of the two"
        );
        assert!(query.has_indexed_clause());

        let text = SearchQuery {
            text: Some("  Surf's up".to_owned()),
            all_labels: vec![Vec::new()],
            ..SearchQuery::default()
        };
        assert_eq!(
            text.smallest_label_clause(),
            None,
            "an empty group is no clause"
        );
        assert_eq!(text.first_text_word().as_deref(), Some("surf"));
        assert!(text.has_indexed_clause());

        let excluding = SearchQuery {
            not_labels: names(&["Dog"]),
            text: Some(" !? ".to_owned()),
            ..SearchQuery::default()
        };
        assert_eq!(excluding.first_text_word(), None);
        assert!(
            !excluding.has_indexed_clause(),
            "excluded labels read no index"
        );
    }
}
