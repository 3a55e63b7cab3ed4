//! In-memory implementations of the ports, for tests of the steps and of code built on them.
//! Not for production: nothing here persists.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::contracts::WriteOutcome;
use crate::contracts::{ImageFacts, ImageRecord, Label, ModelInfo, ModerationLabel, TextLine};
use crate::ports::{
    DeleteOutcome, DetectError, LabelDetector, ModerationDetector, ObjectHead, ObjectReader, Page,
    ReadError, RecordStore, RecordUpdate, SearchQuery, StoreError, TextDetector, Tombstone,
    UpdateOutcome,
};
use crate::revision::{decide_write_after, delete_removes};
use crate::search;

/// Object bytes and modification time, by bucket and key.
type Objects = HashMap<(String, String), (Vec<u8>, Option<DateTime<Utc>>)>;

/// Objects in memory, recording every byte range read so tests can check what was fetched.
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<Objects>,
    reads: Mutex<Vec<Range<u64>>>,
}

impl MemoryObjects {
    /// An empty bucket set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an object.
    pub fn insert(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.lock_objects().insert(
            (bucket.to_owned(), key.to_owned()),
            (bytes, DateTime::from_timestamp(1_700_000_000, 0)),
        );
    }

    /// The byte ranges read so far.
    pub fn reads(&self) -> Vec<Range<u64>> {
        self.reads.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many bytes were read in all.
    pub fn bytes_read(&self) -> u64 {
        self.reads().iter().map(|r| r.end - r.start).sum()
    }

    fn lock_objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ObjectReader for MemoryObjects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, ReadError> {
        let objects = self.lock_objects();
        let (bytes, modified) = objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .ok_or_else(|| ReadError::NotFound(format!("{bucket}/{key}")))?;
        Ok(ObjectHead {
            size: bytes.len() as u64,
            etag: Some(format!("\"{:x}\"", bytes.len())),
            version_id: None,
            last_modified: *modified,
        })
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Vec<u8>, ReadError> {
        let objects = self.lock_objects();
        let (bytes, _) = objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .ok_or_else(|| ReadError::NotFound(format!("{bucket}/{key}")))?;
        let len = bytes.len() as u64;
        let start = range.start.min(len);
        let end = range.end.min(len).max(start);
        if let Ok(mut reads) = self.reads.lock() {
            reads.push(start..end);
        }
        Ok(bytes[start as usize..end as usize].to_vec())
    }
}

/// What a fake detector answers.
pub enum Answer<T> {
    /// These results.
    Found(T),
    /// Throttled.
    Throttled,
    /// Cannot decode the image.
    Corrupt,
    /// Fails.
    Fails,
}

impl<T: Clone> Answer<T> {
    fn give(&self) -> Result<T, DetectError> {
        match self {
            Answer::Found(value) => Ok(value.clone()),
            Answer::Throttled => Err(DetectError::Throttled {
                message: "Rate exceeded".to_owned(),
                source: None,
            }),
            Answer::Corrupt => Err(DetectError::Rejected {
                reason: crate::error::RejectReason::Corrupt,
                message: "the image could not be decoded".to_owned(),
            }),
            Answer::Fails => Err(DetectError::Failed {
                message: "the model crashed".to_owned(),
                source: None,
            }),
        }
    }
}

/// A detector that gives a fixed answer and counts calls.
pub struct FakeDetector<T> {
    answer: Answer<T>,
    calls: AtomicUsize,
}

impl<T> FakeDetector<T> {
    /// A detector that always gives `answer`.
    pub fn new(answer: Answer<T>) -> Self {
        FakeDetector {
            answer,
            calls: AtomicUsize::new(0),
        }
    }

    /// How often it was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn fake_model(name: &str) -> ModelInfo {
    ModelInfo {
        name: format!("fake-{name}"),
        version: "0".to_owned(),
    }
}

impl LabelDetector for FakeDetector<Vec<Label>> {
    fn model(&self) -> ModelInfo {
        fake_model("labels")
    }
    async fn detect_labels(&self, _image: &ImageFacts) -> Result<Vec<Label>, DetectError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.give()
    }
}

impl ModerationDetector for FakeDetector<Vec<ModerationLabel>> {
    fn model(&self) -> ModelInfo {
        fake_model("moderation")
    }
    async fn detect_moderation_labels(
        &self,
        _image: &ImageFacts,
    ) -> Result<Vec<ModerationLabel>, DetectError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.give()
    }
}

impl TextDetector for FakeDetector<Vec<TextLine>> {
    fn model(&self) -> ModelInfo {
        fake_model("text")
    }
    async fn detect_text(&self, _image: &ImageFacts) -> Result<Vec<TextLine>, DetectError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.give()
    }
}

/// Records in memory, with the store's write semantics and a count of real writes.
#[derive(Default)]
pub struct MemoryRecords {
    records: Mutex<HashMap<String, ImageRecord>>,
    tombstones: Mutex<HashMap<String, Tombstone>>,
    writes: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

impl MemoryRecords {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many writes changed the store.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Makes every later call fail, as an unreachable store would.
    pub fn fail_from_now_on(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError {
                message: "the store is unreachable".to_owned(),
                source: None,
            });
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ImageRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tombstones(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tombstone>> {
        self.tombstones.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RecordStore for MemoryRecords {
    async fn put(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        self.check()?;
        let mut records = self.lock();
        let mut tombstones = self.lock_tombstones();
        let deleted = tombstones.get(&record.id).map(|t| t.revision.as_str());
        let outcome = decide_write_after(records.get(&record.id), deleted, record);
        if outcome == WriteOutcome::Written {
            tombstones.remove(&record.id);
            let mut record = record.clone();
            if let Some(stored) = records.get(&record.id) {
                crate::review::carry(stored, &mut record);
            }
            records.insert(record.id.clone(), record);
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(outcome)
    }

    async fn review(
        &self,
        bucket: &str,
        key: &str,
        request: &crate::review::ReviewRequest,
    ) -> Result<crate::review::ReviewOutcome, StoreError> {
        use crate::review::{decide, ReviewOutcome};
        self.check()?;
        let mut records = self.lock();
        let Some(stored) = records.get_mut(&crate::record_id(bucket, key)) else {
            return Ok(ReviewOutcome::NotFound);
        };
        let outcome = decide(stored, request);
        if let ReviewOutcome::Reviewed(record) = &outcome {
            *stored = (**record).clone();
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(outcome)
    }

    async fn delete(&self, tombstone: &Tombstone) -> Result<DeleteOutcome, StoreError> {
        self.check()?;
        let id = crate::record_id(&tombstone.bucket, &tombstone.key);
        let mut records = self.lock();
        let mut tombstones = self.lock_tombstones();
        if let Some(stored) = records.get(&id) {
            if !delete_removes(stored, &tombstone.revision) {
                return Ok(DeleteOutcome::Stale);
            }
        }
        if tombstones
            .get(&id)
            .is_some_and(|t| t.revision >= tombstone.revision)
        {
            return Ok(DeleteOutcome::Duplicate);
        }
        tombstones.insert(id.clone(), tombstone.clone());
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(match records.remove(&id) {
            Some(record) => DeleteOutcome::Removed(Box::new(record)),
            None => DeleteOutcome::Tombstoned,
        })
    }

    async fn tombstone(&self, bucket: &str, key: &str) -> Result<Option<Tombstone>, StoreError> {
        self.check()?;
        let id = crate::record_id(bucket, key);
        Ok(self.lock_tombstones().get(&id).cloned())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.check()?;
        Ok(self.lock().get(&crate::record_id(bucket, key)).cloned())
    }

    async fn replace_unchanged(
        &self,
        updates: &[RecordUpdate],
    ) -> Result<Vec<UpdateOutcome>, StoreError> {
        self.check()?;
        updates.iter().try_for_each(crate::ports::check_update)?;
        let mut records = self.lock();
        Ok(updates
            .iter()
            .map(|update| match records.get_mut(&update.read.id) {
                Some(stored) if *stored == update.read => {
                    *stored = update.updated.clone();
                    self.writes.fetch_add(1, Ordering::SeqCst);
                    UpdateOutcome::Replaced
                }
                _ => UpdateOutcome::Changed,
            })
            .collect())
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page, StoreError> {
        self.check()?;
        let mut hits: Vec<ImageRecord> = self
            .lock()
            .values()
            .filter(|r| search::matches(r, query))
            .filter(|r| {
                query
                    .cursor
                    .as_deref()
                    .is_none_or(|c| search::is_after_cursor(r, c))
            })
            .cloned()
            .collect();
        hits.sort_by(search::newest_first);
        let mut page = crate::ports::PageFiller::new(query);
        for record in hits {
            let bytes = serde_json::to_string(&record).map_or(0, |json| json.len());
            if !page.offer(record, bytes) {
                break;
            }
        }
        Ok(page.finish())
    }
}

/// Facts about a plausible validated image, for tests that start after validation.
pub fn image_facts(bucket: &str, key: &str) -> ImageFacts {
    let uploaded_at = DateTime::from_timestamp(1_700_000_000, 0);
    ImageFacts {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        format: crate::contracts::ImageFormat::Jpeg,
        size_bytes: 123_456,
        width: 1024,
        height: 768,
        revision: crate::revision::revision(None, uploaded_at),
        etag: Some("\"abc\"".to_owned()),
        version_id: None,
        last_modified: uploaded_at,
        uploaded_at,
    }
}

/// A label with a confidence and parents.
pub fn label(name: &str, confidence: f32, parents: &[&str]) -> Label {
    Label {
        name: name.to_owned(),
        confidence,
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        categories: Vec::new(),
        instances: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_passes_the_store_suite() {
        crate::store_suite::check_store(&super::MemoryRecords::new()).await;
    }
}
