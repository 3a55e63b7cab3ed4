//! `RecordStore` on DynamoDB: one table, one image item per image plus index items, queried
//! through keys and one index — never a Scan.
//!
//! | item | `pk` | `sk` | notes |
//! |---|---|---|---|
//! | image | `IMAGE#<id>` | `IMAGE` | the record as JSON; `gsi1pk`/`gsi1sk` place it in `ByStatus` |
//! | tombstone | `IMAGE#<id>` | `IMAGE` | a deleted key (takedown): `tombstone`, the delete's `revision`, `deletedAt`; no record, in no index |
//! | label index | `LABEL#<name>` | `<when>#<image>#<write>` | one per label name or parent, with its confidence |
//! | word index | `WORD#<word>` | `<when>#<image>#<write>` | one per distinct word of the text |
//!
//! `<when>` is the upload time (zero-padded microseconds), `<image>` the SHA-256 of the record
//! id and `<write>` a digest of the revision and execution that wrote the image item: sort keys
//! stay short whatever the S3 key (at most 1,024 bytes of UTF-8, so its base64 would pass
//! DynamoDB's 1,024-byte sort-key limit), and a descending query is "newest first". A label or
//! word too long for a partition key is hashed the same way on write and on search. The image
//! item's own key keeps the readable id: `IMAGE#` + base64 of a bucket name (at most 63 bytes)
//! and of a key (at most 1,024) is under 1,460 bytes, inside the 2,048-byte partition-key limit.
//!
//! `ByStatus` partitions are `STATUS#ANALYZED#SAFE#<n>`, `STATUS#ANALYZED#UNSAFE#<n>`,
//! `STATUS#REJECTED#<n>` and `STATUS#FAILED#<n>`, sharded by a hash of the id over
//! [`STATUS_SHARDS`] so that a busy status is not one hot partition; a status query reads every
//! shard and merges them newest first.
//!
//! A write puts the image item (conditional: newest wins), then the index items in batches,
//! then deletes the index items of the analyses it replaced. Those are not in one transaction
//! (a transaction holds 100 actions, and an image has up to 50 labels with their parents and
//! hundreds of words), so each index item carries the revision and execution of the image item
//! that wrote it and a search only trusts one whose image item still has both: an index item
//! written late or left behind never matches. Until the index is complete the image item says
//! `indexPending` and lists the index items still to delete (`staleIndex`); whichever write of
//! that image comes next (a retry of the same execution, `RecordFailed`, a re-delivery or a
//! newer upload) finishes or takes over that work, so a crash between the writes converges.
//!
//! A review (issue 14) is an `UpdateItem` of the image item on the condition that it is still
//! the item the reviewer's decision was judged on: same revision, execution and `reviewSeq`
//! (the current review's sequence, absent before the first). Every conditional write of the
//! image item names `reviewSeq` too, so a put that re-read before a review cannot drop it: the
//! put carries the review over ([`review::carry`]) from the item it read.
//!
//! A delete replaces the image item with a tombstone (conditional: only over an older upload's
//! record or tombstone, and only over the item it judged), listing the index items to delete
//! the same way; the record put's condition (`revision < :rev`) then refuses every upload at
//! or below the delete's revision, and a later upload's put replaces the tombstone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use aws_sdk_dynamodb::config::AsyncSleep as _;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};
use spotlight_core::contracts::{ImageRecord, RecordStatus, Verdict, WriteOutcome};
use spotlight_core::ports::{
    DeleteOutcome, Page, PageFiller, RecordStore, SearchQuery, StoreError, Tombstone,
};
use spotlight_core::ports::{RecordUpdate, UpdateOutcome};
use spotlight_core::review::{self, ReviewOutcome, ReviewRequest};
use spotlight_core::revision::{decide_write_after, delete_removes};
use spotlight_core::{record_id, search};

/// The status index.
pub const STATUS_INDEX: &str = "ByStatus";
/// How many shards each status partition of [`STATUS_INDEX`] is spread over. It may grow
/// (every record already written sits in a shard below the new count) but never shrink
/// without rewriting the records.
pub const STATUS_SHARDS: u64 = 8;
/// How often a write re-reads and retries when another writer got in between.
const WRITE_ATTEMPTS: usize = 4;
/// Items read per Query page, at most.
const QUERY_PAGE: i32 = 100;
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE: usize = 25;
/// BatchGetItem takes at most 100 keys.
const BATCH_GET: usize = 100;
/// How often a batch is sent while DynamoDB leaves part of it unprocessed.
const BATCH_ATTEMPTS: u32 = 8;
/// The wait before re-sending what a batch left unprocessed; it doubles up to a second (AWS
/// asks for an exponential backoff there, or the retries are throttled again).
const BATCH_BACKOFF: Duration = Duration::from_millis(50);
/// Labels and words longer than this many bytes are hashed in partition keys.
const MAX_KEY_TERM: usize = 256;
/// The most bytes of index keys an image item keeps for deleting later. The record itself is
/// bounded (three results of at most 64 KiB), so the item stays under DynamoDB's 400 KB; keys
/// beyond this (only after repeated crashes) are forgotten: they never match, they take space.
const MAX_STALE_BYTES: usize = 128 * 1024;
/// What a search reads of an image item: enough to check it and return its record.
const IMAGE_PROJECTION: &str = "pk, sk, gsi1sk, #r, revision, executionId";

type Item = HashMap<String, AttributeValue>;
/// Index item keys grouped by sort key (all the index items of one write share theirs).
type IndexKeys = BTreeMap<String, BTreeSet<String>>;

/// Records in a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn store_error<E, R>(what: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = format!("{what}: {}", DisplayErrorContext(&error));
    StoreError::new(detail, error)
}

/// A conditional write's answer: `Ok(true)` written, `Ok(false)` refused because its condition
/// did not hold (`refused` tells that error from the others: what every caller expects and
/// handles), any other failure the store's.
fn condition_held<T, E, R>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
    refused: impl Fn(&E) -> bool,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.as_service_error().is_some_and(&refused) => Ok(false),
        Err(error) => Err(store_error(what, error)),
    }
}

fn image_key(id: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("IMAGE#{id}"))),
        ("sk".to_owned(), s("IMAGE")),
    ])
}

/// Adds to `condition` that the image item is still `item` as it was read: the same revision
/// and execution (a tombstone has none).
fn seen_condition(
    item: &Item,
    condition: &mut String,
    values: &mut HashMap<String, AttributeValue>,
) {
    condition.push_str(" AND revision = :seenRev");
    values.insert(
        ":seenRev".to_owned(),
        item.get("revision").cloned().unwrap_or(s("")),
    );
    match item.get("executionId") {
        Some(execution) => {
            condition.push_str(" AND executionId = :seenExec");
            values.insert(":seenExec".to_owned(), execution.clone());
        }
        None => condition.push_str(" AND attribute_not_exists(executionId)"),
    }
    // A review changes neither: its sequence tells (absent until the first review).
    match item.get("reviewSeq") {
        Some(sequence) => {
            condition.push_str(" AND reviewSeq = :seenReview");
            values.insert(":seenReview".to_owned(), sequence.clone());
        }
        None => condition.push_str(" AND attribute_not_exists(reviewSeq)"),
    }
}

/// `reviewSeq`: the sequence of the record's current review, which a review's condition names.
fn review_seq(record: &ImageRecord) -> AttributeValue {
    AttributeValue::N(review::sequence(record).to_string())
}

/// `staleIndex` as the image item keeps it: sort key → partition keys.
fn stale_attribute(stale: &IndexKeys) -> AttributeValue {
    AttributeValue::M(
        stale
            .iter()
            .map(|(sk, pks)| {
                (
                    sk.clone(),
                    AttributeValue::Ss(pks.iter().cloned().collect()),
                )
            })
            .collect(),
    )
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Newest-first sort key of an image: zero-padded microseconds, then the id's digest.
fn image_sort_key(micros: i64, id: &str) -> String {
    format!("{:020}#{}", micros.max(0), hex(&digest(&[id])))
}

fn record_sort_key(record: &ImageRecord) -> String {
    image_sort_key(record.uploaded_at.timestamp_micros(), &record.id)
}

/// The sort key of the index items one write of `record` puts: its image's, then the write.
fn index_sort_key(record: &ImageRecord) -> String {
    let write = digest(&[&record.revision, &record.execution.id]);
    format!("{}#{}", record_sort_key(record), hex(&write[..8]))
}

/// The sort key just after a search cursor (`micros:id`, as [`search::cursor_after`] makes it):
/// the cursor's own image and every index item of it sort at or above it.
fn cursor_sort_key(cursor: &str) -> Option<String> {
    let (micros, id) = search::parse_cursor(cursor)?;
    Some(image_sort_key(micros, id))
}

fn status_name(status: RecordStatus, safe: bool) -> String {
    match (status, safe) {
        (RecordStatus::Analyzed, true) => "STATUS#ANALYZED#SAFE".to_owned(),
        (RecordStatus::Analyzed, false) => "STATUS#ANALYZED#UNSAFE".to_owned(),
        (status, _) => format!("STATUS#{}", status.as_str()),
    }
}

fn status_partition(record: &ImageRecord) -> String {
    let hash = digest(&[&record.id]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    let shard = u64::from_be_bytes(first) % STATUS_SHARDS;
    format!("{}#{shard}", status_name(record.status, record.safe))
}

/// The partition key of a label's or a word's index items.
fn index_partition(kind: &str, term: &str) -> String {
    if term.len() > MAX_KEY_TERM {
        format!("{kind}#sha256:{}", hex(&digest(&[term])))
    } else {
        format!("{kind}#{term}")
    }
}

/// Every index partition a record belongs in, with a confidence for labels: every label name
/// and parent (the best confidence carrying it) and every distinct word.
fn index_entries(record: &ImageRecord) -> BTreeMap<String, Option<f32>> {
    let mut entries: BTreeMap<String, Option<f32>> = BTreeMap::new();
    for label in &record.labels {
        for name in std::iter::once(&label.name).chain(&label.parents) {
            let pk = index_partition("LABEL", &name.to_lowercase());
            let best = entries.entry(pk).or_insert(Some(label.confidence));
            *best = best.map(|c| c.max(label.confidence));
        }
    }
    if let Some(text) = &record.text {
        for word in search::words(&text.full_text) {
            entries
                .entry(index_partition("WORD", &word))
                .or_insert(None);
        }
    }
    entries
}

fn own_index(record: &ImageRecord) -> IndexKeys {
    let pks: BTreeSet<String> = index_entries(record).into_keys().collect();
    if pks.is_empty() {
        return IndexKeys::new();
    }
    IndexKeys::from([(index_sort_key(record), pks)])
}

/// The index items still to delete that an image item lists (`staleIndex`, and the
/// `indexKeys` list of items written before index items moved out of the transaction).
fn listed_stale(item: &Item) -> IndexKeys {
    let mut keys = IndexKeys::new();
    if let Some(Ok(map)) = item.get("staleIndex").map(AttributeValue::as_m) {
        for (sk, pks) in map {
            if let Ok(pks) = pks.as_ss() {
                keys.entry(sk.clone())
                    .or_default()
                    .extend(pks.iter().cloned());
            }
        }
    }
    if let Some(Ok(list)) = item.get("indexKeys").map(AttributeValue::as_l) {
        for key in list.iter().filter_map(|v| v.as_s().ok()) {
            if let Some((pk, sk)) = key.split_once('|') {
                keys.entry(sk.to_owned()).or_default().insert(pk.to_owned());
            }
        }
    }
    keys
}

/// What a write of `record` over `stored` leaves to delete: the stored record's index items,
/// then whatever the stored item still listed, within [`MAX_STALE_BYTES`], minus the items the
/// write itself puts.
fn replaced_index(stored: Option<&Item>, record: &ImageRecord) -> IndexKeys {
    let Some(item) = stored else {
        return IndexKeys::new();
    };
    leftover_index(item, &own_index(record), &record.id)
}

/// The index items of the record `item` holds and those it still lists, within
/// [`MAX_STALE_BYTES`], minus `own` (what the next write puts anyway).
fn leftover_index(item: &Item, own: &IndexKeys, id: &str) -> IndexKeys {
    let replaced = parse_record(item)
        .map(|r| own_index(&r))
        .unwrap_or_default();
    let mut stale = IndexKeys::new();
    let mut bytes = 0;
    let mut forgotten = 0;
    for (sk, pks) in replaced.into_iter().chain(listed_stale(item)) {
        for pk in pks {
            if own.get(&sk).is_some_and(|mine| mine.contains(&pk)) {
                continue;
            }
            bytes += sk.len() + pk.len() + 1;
            if bytes > MAX_STALE_BYTES {
                forgotten += 1;
                continue;
            }
            stale.entry(sk.clone()).or_default().insert(pk);
        }
    }
    if forgotten > 0 {
        tracing::warn!(
            id,
            forgotten,
            "too many index items left to delete; some stay behind, never matching"
        );
    }
    stale
}

/// The delete's revision, when `item` is a tombstone.
fn tombstone_revision(item: &Item) -> Option<String> {
    if !matches!(item.get("tombstone"), Some(AttributeValue::Bool(true))) {
        return None;
    }
    item.get("revision")?.as_s().ok().cloned()
}

fn is_pending(item: &Item) -> bool {
    matches!(item.get("indexPending"), Some(AttributeValue::Bool(true)))
}

fn parse_record(item: &Item) -> Option<ImageRecord> {
    parse_sized(item).map(|(record, _)| record)
}

/// The record an item holds, with the length of its JSON.
fn parse_sized(item: &Item) -> Option<(ImageRecord, usize)> {
    let json = item.get("record")?.as_s().ok()?;
    match serde_json::from_str(json) {
        Ok(record) => Some((record, json.len())),
        Err(error) => {
            tracing::warn!(%error, "skipping an image item whose record does not parse");
            None
        }
    }
}

/// Runs `futures` concurrently on the current task and returns their outputs in order (the
/// SDK's calls wait on the network, so one task is enough).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

impl DynamoRecords {
    /// Records in `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRecords {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as `infra/template.yaml` declares it (for tests and local servers).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let built = (|| -> Result<_, aws_sdk_dynamodb::error::BuildError> {
            Ok((
                vec![
                    attribute("pk")?,
                    attribute("sk")?,
                    attribute("gsi1pk")?,
                    attribute("gsi1sk")?,
                ],
                vec![key("pk", KeyType::Hash)?, key("sk", KeyType::Range)?],
                GlobalSecondaryIndex::builder()
                    .index_name(STATUS_INDEX)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            ))
        })();
        let (attributes, keys, index) =
            built.map_err(|e| StoreError::new("building CreateTable", e))?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys))
            .global_secondary_indexes(index)
            .send()
            .await
            .map_err(|e| store_error("CreateTable", e))?;
        Ok(())
    }

    async fn image_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(image_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(output.item)
    }

    /// The condition that makes the image item's put newest-wins.
    fn image_condition(
        &self,
        record: &ImageRecord,
        stored: Option<&Item>,
    ) -> (String, HashMap<String, AttributeValue>) {
        // Newest wins, and the item is still the one `decide_write` judged (another writer
        // in between makes the put fail, and the write starts over).
        let mut condition = "(attribute_not_exists(pk) OR revision < :rev OR \
                             (revision = :rev AND #status = :failed AND executionId <> :exec))"
            .to_owned();
        let mut values = HashMap::from([
            (":rev".to_owned(), s(&record.revision)),
            (":failed".to_owned(), s(RecordStatus::Failed.as_str())),
            (":exec".to_owned(), s(&record.execution.id)),
        ]);
        match stored {
            Some(item) => seen_condition(item, &mut condition, &mut values),
            None => condition.push_str(" AND attribute_not_exists(pk)"),
        }
        (condition, values)
    }

    /// Replaces the image item (`stored`, as read) with `tombstone`, listing `stale` index items
    /// to delete; `false` when another writer changed the item since it was read.
    async fn put_tombstone(
        &self,
        id: &str,
        tombstone: &Tombstone,
        stored: Option<&Item>,
        stale: &IndexKeys,
    ) -> Result<bool, StoreError> {
        let mut item = image_key(id);
        item.extend([
            ("tombstone".to_owned(), AttributeValue::Bool(true)),
            ("revision".to_owned(), s(&tombstone.revision)),
            ("deletedAt".to_owned(), s(tombstone.deleted_at.to_rfc3339())),
        ]);
        if !stale.is_empty() {
            item.insert("indexPending".to_owned(), AttributeValue::Bool(true));
            item.insert("staleIndex".to_owned(), stale_attribute(stale));
        }
        // Only over an older upload's record or tombstone, and only over the item judged.
        let mut condition = "(attribute_not_exists(pk) OR revision < :rev)".to_owned();
        let mut values = HashMap::from([(":rev".to_owned(), s(&tombstone.revision))]);
        match stored {
            Some(item) => seen_condition(item, &mut condition, &mut values),
            None => condition.push_str(" AND attribute_not_exists(pk)"),
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        condition_held(
            "PutItem",
            result,
            PutItemError::is_conditional_check_failed_exception,
        )
    }

    /// Deletes the index items a tombstone lists, then clears its `indexPending`. Safe to
    /// repeat, and to run twice at once.
    async fn finish_delete(
        &self,
        id: &str,
        revision: &str,
        stale: &IndexKeys,
    ) -> Result<(), StoreError> {
        self.delete_index(stale).await?;
        let done = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(image_key(id)))
            .update_expression("REMOVE indexPending, staleIndex")
            .condition_expression("revision = :rev AND tombstone = :yes")
            .expression_attribute_values(":rev", s(revision))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        // Refused: a later upload replaced the tombstone meanwhile, taking over the list.
        condition_held(
            "UpdateItem",
            done,
            UpdateItemError::is_conditional_check_failed_exception,
        )
        .map(drop)
    }

    /// Finishes whatever the image item `item` left pending: a record's index, or a
    /// tombstone's deletes.
    async fn finish_pending(&self, id: &str, item: &Item) -> Result<(), StoreError> {
        if !is_pending(item) {
            return Ok(());
        }
        tracing::info!(id, "finishing the index of an earlier write");
        if let Some(stored) = parse_record(item) {
            self.complete_index(&stored, &listed_stale(item)).await
        } else if let Some(revision) = tombstone_revision(item) {
            self.finish_delete(id, &revision, &listed_stale(item)).await
        } else {
            Ok(())
        }
    }

    /// Puts the image item; `false` when another writer changed it since it was read.
    async fn put_image(
        &self,
        record: &ImageRecord,
        stored: Option<&Item>,
        stale: &IndexKeys,
        pending: bool,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let mut image = image_key(&record.id);
        image.extend([
            ("record".to_owned(), s(json)),
            ("revision".to_owned(), s(&record.revision)),
            ("status".to_owned(), s(record.status.as_str())),
            ("executionId".to_owned(), s(&record.execution.id)),
            ("safe".to_owned(), AttributeValue::Bool(record.safe)),
            ("gsi1pk".to_owned(), s(status_partition(record))),
            ("gsi1sk".to_owned(), s(record_sort_key(record))),
        ]);
        if record.review.is_some() {
            image.insert("reviewSeq".to_owned(), review_seq(record));
        }
        if pending {
            image.insert("indexPending".to_owned(), AttributeValue::Bool(true));
        }
        if !stale.is_empty() {
            image.insert("staleIndex".to_owned(), stale_attribute(stale));
        }
        let (condition, values) = self.image_condition(record, stored);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(image))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        condition_held(
            "PutItem",
            result,
            PutItemError::is_conditional_check_failed_exception,
        )
    }

    /// Puts the index items of `record` (whose image item is written), deletes `stale`, then
    /// clears the image item's `indexPending`. Safe to repeat, and to run twice at once.
    async fn complete_index(
        &self,
        record: &ImageRecord,
        stale: &IndexKeys,
    ) -> Result<(), StoreError> {
        let sk = index_sort_key(record);
        let mut puts = Vec::new();
        for (pk, confidence) in index_entries(record) {
            let mut item = HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(&sk)),
                ("imageId".to_owned(), s(&record.id)),
                ("revision".to_owned(), s(&record.revision)),
                ("executionId".to_owned(), s(&record.execution.id)),
                ("safe".to_owned(), AttributeValue::Bool(record.safe)),
            ]);
            if let Some(confidence) = confidence {
                item.insert(
                    "confidence".to_owned(),
                    AttributeValue::N(confidence.to_string()),
                );
            }
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::new("building an index put", e))?;
            puts.push(WriteRequest::builder().put_request(put).build());
        }
        // Puts first: a search never sees fewer of this record's index items than before.
        self.batch_write(puts).await?;
        self.delete_index(stale).await?;
        let done = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(image_key(&record.id)))
            .update_expression("REMOVE indexPending, staleIndex")
            .condition_expression("revision = :rev AND executionId = :exec")
            .expression_attribute_values(":rev", s(&record.revision))
            .expression_attribute_values(":exec", s(&record.execution.id))
            .send()
            .await;
        // Refused: a newer write replaced the item meanwhile and took over what to delete.
        condition_held(
            "UpdateItem",
            done,
            UpdateItemError::is_conditional_check_failed_exception,
        )
        .map(drop)
    }

    /// Deletes the index items `stale` names.
    async fn delete_index(&self, stale: &IndexKeys) -> Result<(), StoreError> {
        let mut deletes = Vec::new();
        for (stale_sk, pks) in stale {
            for pk in pks {
                let delete = DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(stale_sk))
                    .build()
                    .map_err(|e| StoreError::new("building an index delete", e))?;
                deletes.push(WriteRequest::builder().delete_request(delete).build());
            }
        }
        self.batch_write(deletes).await
    }

    async fn backoff(&self, attempt: u32) {
        let delay = BATCH_BACKOFF
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1));
        if let Some(sleep) = self.client.config().sleep_impl() {
            sleep.sleep(delay).await;
        }
    }

    /// Sends `first`, then re-sends what DynamoDB leaves unprocessed after a growing pause, at
    /// most [`BATCH_ATTEMPTS`] calls in all. `send` makes one call and answers with the items it
    /// returned and what is left (`None`: nothing); `what` names the call and `count` the
    /// leftover (`"BatchWriteItem"`, `"index writes"`) for the error.
    async fn until_processed<P, R, Fut>(
        &self,
        (what, count): (&str, &str),
        first: P,
        size: impl Fn(&P) -> usize,
        mut send: impl FnMut(P) -> Fut,
    ) -> Result<Vec<R>, StoreError>
    where
        Fut: Future<Output = Result<(Vec<R>, Option<P>), StoreError>>,
    {
        let mut answers = Vec::new();
        let mut pending = Some(first);
        let mut attempt = 0;
        while let Some(request) = pending.take() {
            if attempt == BATCH_ATTEMPTS {
                return Err(StoreError {
                    message: format!(
                        "{what}: {} {count} still unprocessed after {BATCH_ATTEMPTS} attempts",
                        size(&request)
                    ),
                    source: None,
                });
            }
            if attempt > 0 {
                self.backoff(attempt - 1).await;
            }
            attempt += 1;
            // Boxed: the SDK's send future nested inside every caller's future otherwise
            // overflows the compiler's query depth when a binary lays out its async main.
            let (returned, left) = Box::pin(send(request)).await?;
            answers.extend(returned);
            pending = left;
        }
        Ok(answers)
    }

    /// Sends `requests` 25 at a time, re-sending what DynamoDB leaves unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE) {
            self.until_processed(
                ("BatchWriteItem", "index writes"),
                chunk.to_vec(),
                Vec::len,
                |pending| async move {
                    let output = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, pending)
                        .send()
                        .await
                        .map_err(|e| store_error("BatchWriteItem", e))?;
                    let left = output
                        .unprocessed_items
                        .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                        .filter(|left| !left.is_empty());
                    Ok((Vec::<()>::new(), left))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The image items of `ids` (distinct), as [`IMAGE_PROJECTION`] projects them, by id.
    async fn batch_get(&self, ids: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(BATCH_GET) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|id| image_key(id)).collect()))
                .consistent_read(true)
                .projection_expression(IMAGE_PROJECTION)
                .expression_attribute_names("#r", "record")
                .build()
                .map_err(|e| StoreError::new("building BatchGetItem", e))?;
            let items = self
                .until_processed(
                    ("BatchGetItem", "image reads"),
                    request,
                    |request| request.keys().len(),
                    |request| async move {
                        let output = self
                            .client
                            .batch_get_item()
                            .request_items(&self.table, request)
                            .send()
                            .await
                            .map_err(|e| store_error("BatchGetItem", e))?;
                        let items = output
                            .responses
                            .and_then(|mut responses| responses.remove(&self.table))
                            .unwrap_or_default();
                        let left = output
                            .unprocessed_keys
                            .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                            .filter(|request| !request.keys().is_empty());
                        Ok((items, left))
                    },
                )
                .await?;
            for item in items {
                let id = item
                    .get("pk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| pk.strip_prefix("IMAGE#"))
                    .map(str::to_owned);
                if let Some(id) = id {
                    found.insert(id, item);
                }
            }
        }
        Ok(found)
    }

    /// The records of the items a search took, in order, with their JSON's length: an image
    /// item's own record, or the record of the image an index item names if that image item
    /// still vouches for it (same revision and execution).
    async fn resolve(
        &self,
        items: Vec<Item>,
        seen: &HashSet<String>,
    ) -> Result<Vec<(ImageRecord, usize)>, StoreError> {
        let image_id =
            |item: &Item| -> Option<String> { item.get("imageId")?.as_s().ok().cloned() };
        let is_image = |item: &Item| {
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("IMAGE")
        };
        let mut ids: Vec<String> = Vec::new();
        for item in items.iter().filter(|item| !is_image(item)) {
            if let Some(id) = image_id(item) {
                if !seen.contains(&id) && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let images = self.batch_get(&ids).await?;
        let mut records = Vec::new();
        for item in &items {
            if is_image(item) {
                records.extend(parse_sized(item));
                continue;
            }
            let Some(image) = image_id(item).and_then(|id| images.get(&id)) else {
                continue;
            };
            let same = |name: &str| image.contains_key(name) && image.get(name) == item.get(name);
            if same("revision") && same("executionId") {
                records.extend(parse_sized(image));
            }
        }
        Ok(records)
    }
}

impl DynamoRecords {
    /// Rewrites one image item if it still holds exactly the record read (the condition
    /// compares the stored JSON itself, so a review or any other change in between wins), then
    /// its index items, which carry the image's `safe` for the safe-only label and word queries.
    /// Their keys depend only on the revision and execution, which an update keeps; index work
    /// an earlier write left pending is carried over, as a put carries it.
    async fn replace_one(&self, update: &RecordUpdate) -> Result<UpdateOutcome, StoreError> {
        let Some(stored_item) = self.image_item(&update.read.id).await? else {
            return Ok(UpdateOutcome::Changed);
        };
        let (Some(seen), Some(stored)) = (stored_item.get("record"), parse_record(&stored_item))
        else {
            return Ok(UpdateOutcome::Changed);
        };
        if stored != update.read {
            return Ok(UpdateOutcome::Changed);
        }
        let record = &update.updated;
        let stale = replaced_index(Some(&stored_item), record);
        let pending = !index_entries(record).is_empty() || !stale.is_empty();
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let mut image = stored_item.clone();
        for carried in ["staleIndex", "indexKeys", "indexPending"] {
            image.remove(carried);
        }
        image.extend([
            ("record".to_owned(), s(json)),
            ("status".to_owned(), s(record.status.as_str())),
            ("safe".to_owned(), AttributeValue::Bool(record.safe)),
            ("gsi1pk".to_owned(), s(status_partition(record))),
            ("gsi1sk".to_owned(), s(record_sort_key(record))),
        ]);
        if pending {
            image.insert("indexPending".to_owned(), AttributeValue::Bool(true));
        }
        if !stale.is_empty() {
            let listed = stale
                .iter()
                .map(|(sk, pks)| {
                    (
                        sk.clone(),
                        AttributeValue::Ss(pks.iter().cloned().collect()),
                    )
                })
                .collect();
            image.insert("staleIndex".to_owned(), AttributeValue::M(listed));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(image))
            .condition_expression("revision = :rev AND executionId = :exec AND #r = :seen")
            .expression_attribute_names("#r", "record")
            .expression_attribute_values(":rev", s(&record.revision))
            .expression_attribute_values(":exec", s(&record.execution.id))
            .expression_attribute_values(":seen", seen.clone())
            .send()
            .await;
        if !condition_held(
            "PutItem",
            result,
            PutItemError::is_conditional_check_failed_exception,
        )? {
            return Ok(UpdateOutcome::Changed);
        }
        if pending {
            self.complete_index(record, &stale).await?;
        }
        Ok(UpdateOutcome::Replaced)
    }
}

impl DynamoRecords {
    /// [`RecordStore::review`]: the decision is judged on the image item as read, then written
    /// by UpdateItem on the condition that the item is still that one (its revision, execution
    /// and `reviewSeq`, the review version): of two reviewers deciding on the same view, the
    /// second fails the condition and gets the conflict. The index items carry the image's
    /// `safe`, so they are put again, as after a put (`indexPending` until then).
    async fn write_review(
        &self,
        id: &str,
        request: &ReviewRequest,
    ) -> Result<ReviewOutcome, StoreError> {
        // A policy re-evaluation rewrites the record but keeps the revision, execution and
        // `reviewSeq` the decision's token names: losing the race to one is no conflict, so the
        // decision is judged again on what is there now (a few times, then it is a conflict).
        let mut attempts_left = 3;
        loop {
            attempts_left -= 1;
            match self.try_review(id, request, attempts_left == 0).await? {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
    }

    /// One read-decide-write round of [`Self::write_review`]; `None` when the record changed
    /// under it without a new review (judge again), unless `last`.
    async fn try_review(
        &self,
        id: &str,
        request: &ReviewRequest,
        last: bool,
    ) -> Result<Option<ReviewOutcome>, StoreError> {
        let Some(item) = self.image_item(id).await? else {
            return Ok(Some(ReviewOutcome::NotFound));
        };
        // A tombstone holds no record: the photo was deleted.
        let Some(stored) = parse_record(&item) else {
            return Ok(Some(ReviewOutcome::NotFound));
        };
        let outcome = review::decide(&stored, request);
        let ReviewOutcome::Reviewed(record) = &outcome else {
            return Ok(Some(outcome));
        };
        let json = serde_json::to_string(&**record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let mut condition = "attribute_exists(#r)".to_owned();
        let mut values = HashMap::from([
            (":record".to_owned(), s(json)),
            (":safe".to_owned(), AttributeValue::Bool(record.safe)),
            (":gsi".to_owned(), s(status_partition(record))),
            (":seq".to_owned(), review_seq(record)),
            (":pending".to_owned(), AttributeValue::Bool(true)),
        ]);
        seen_condition(&item, &mut condition, &mut values);
        // The record itself must be the one judged: a re-evaluation keeps everything above.
        if let Some(seen) = item.get("record") {
            condition.push_str(" AND #r = :seenRecord");
            values.insert(":seenRecord".to_owned(), seen.clone());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(image_key(id)))
            .update_expression(
                "SET #r = :record, safe = :safe, gsi1pk = :gsi, reviewSeq = :seq, \
                 indexPending = :pending",
            )
            .condition_expression(condition)
            .expression_attribute_names("#r", "record")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        if !condition_held(
            "UpdateItem",
            result,
            UpdateItemError::is_conditional_check_failed_exception,
        )? {
            // Someone else wrote in between: show the caller what is there now, or, when that
            // was no review, judge the decision again on it.
            let current = self.image_item(id).await?;
            return Ok(match current.as_ref().and_then(parse_record) {
                Some(current) => match review::decide(&current, request) {
                    ReviewOutcome::Reviewed(_) if !last => None,
                    ReviewOutcome::Reviewed(_) => Some(ReviewOutcome::Conflict(Box::new(current))),
                    other => Some(other),
                },
                None => Some(ReviewOutcome::NotFound),
            });
        }
        self.complete_index(record, &listed_stale(&item)).await?;
        Ok(Some(outcome))
    }
}

/// One partition read newest first, a page at a time.
struct Stream {
    pk: String,
    index: Option<&'static str>,
    min_confidence: Option<f32>,
    safe_only: bool,
    page_size: i32,
    buffer: VecDeque<Item>,
    next_page: Option<Item>,
    exhausted: bool,
}

impl Stream {
    fn head_sort_key(&self) -> Option<&str> {
        let key = if self.index.is_some() { "gsi1sk" } else { "sk" };
        self.buffer
            .front()?
            .get(key)?
            .as_s()
            .ok()
            .map(String::as_str)
    }

    /// Whether the stream must be read before its head can be compared.
    fn needs_fill(&self) -> bool {
        self.buffer.is_empty() && !self.exhausted
    }
}

impl DynamoRecords {
    async fn fill(&self, stream: &mut Stream, before: Option<&str>) -> Result<(), StoreError> {
        while stream.needs_fill() {
            let (pk_name, sk_name) = match stream.index {
                Some(_) => ("gsi1pk", "gsi1sk"),
                None => ("pk", "sk"),
            };
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(stream.index.map(str::to_owned))
                .scan_index_forward(false)
                .limit(stream.page_size)
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_values(":pk", s(&stream.pk))
                .set_exclusive_start_key(stream.next_page.take());
            request = match before {
                Some(cursor) => request
                    .key_condition_expression("#pk = :pk AND #sk < :cursor")
                    .expression_attribute_names("#sk", sk_name)
                    .expression_attribute_values(":cursor", s(cursor)),
                None => request.key_condition_expression("#pk = :pk"),
            };
            request = match stream.index {
                // An index item says which image and which write of it: nothing more is read.
                None => request.projection_expression("sk, imageId, revision, executionId"),
                Some(_) => request
                    .projection_expression(IMAGE_PROJECTION)
                    .expression_attribute_names("#r", "record"),
            };
            let mut filters = Vec::new();
            if let Some(confidence) = stream.min_confidence {
                filters.push("confidence >= :confidence");
                request = request.expression_attribute_values(
                    ":confidence",
                    AttributeValue::N(confidence.to_string()),
                );
            }
            if stream.safe_only {
                filters.push("safe = :safe");
                request = request.expression_attribute_values(":safe", AttributeValue::Bool(true));
            }
            if !filters.is_empty() {
                request = request.filter_expression(filters.join(" AND "));
            }
            let output = request.send().await.map_err(|e| store_error("Query", e))?;
            stream.buffer.extend(output.items.unwrap_or_default());
            stream.next_page = output.last_evaluated_key;
            stream.exhausted = stream.next_page.is_none();
        }
        Ok(())
    }
}

fn streams_for(query: &SearchQuery) -> Vec<Stream> {
    // A status page draws on every shard, about evenly: each reads its share of the page (and
    // one more) at a time, not 100 whole records.
    let shard_page = query.limit.map_or(QUERY_PAGE, |limit| {
        let share = limit.saturating_add(1).div_ceil(STATUS_SHARDS as usize) + 1;
        i32::try_from(share).map_or(QUERY_PAGE, |share| share.min(QUERY_PAGE))
    });
    let stream = |pk: String, index: Option<&'static str>, min_confidence| Stream {
        pk,
        index,
        min_confidence,
        // Index items carry the image's `safe`, so unsafe images are not even read; the
        // status partitions are split by safety already.
        safe_only: query.safe_only && index.is_none(),
        page_size: if index.is_some() {
            shard_page
        } else {
            QUERY_PAGE
        },
        buffer: VecDeque::new(),
        next_page: None,
        exhausted: false,
    };
    // Every result carries one label of `labels`, and one of each group of `all_labels`: one
    // such clause's partitions find them all, and `search::matches` checks the rest (the other
    // groups, the excluded labels) on the records read. Excluded labels alone have no partition
    // to read (the status partitions below answer them, record by record): the search function
    // refuses that with `SearchQuery::has_indexed_clause`, which asks these same two methods,
    // so what it lets through is read here from an index.
    if let Some(clause) = query.smallest_label_clause() {
        let names: BTreeSet<String> = clause
            .iter()
            .map(|l| index_partition("LABEL", &l.to_lowercase()))
            .collect();
        return names
            .into_iter()
            .map(|pk| stream(pk, None, Some(query.min_confidence)))
            .collect();
    }
    if let Some(word) = query.first_text_word() {
        return vec![stream(index_partition("WORD", &word), None, None)];
    }
    let statuses = match query.status {
        Some(status) => vec![status],
        None => vec![
            RecordStatus::Analyzed,
            RecordStatus::Rejected,
            RecordStatus::Failed,
        ],
    };
    let mut partitions = Vec::new();
    for status in statuses {
        match status {
            RecordStatus::Analyzed => {
                // Only SAFE (by review or model) lives in the safe partitions.
                let not_safe = query.verdict.is_some_and(|v| v != Verdict::Safe);
                if !query.unsafe_only && !not_safe {
                    partitions.push(status_name(status, true));
                }
                if !query.safe_only {
                    partitions.push(status_name(status, false));
                }
            }
            // Rejected and failed records are never safe.
            other if !query.safe_only && !query.unsafe_only => {
                partitions.push(status_name(other, false));
            }
            _ => {}
        }
    }
    // The unsharded partition too: records written before the shards stay there until they
    // are written again.
    partitions
        .into_iter()
        .flat_map(|name| {
            let shards: Vec<String> = (0..STATUS_SHARDS)
                .map(|shard| format!("{name}#{shard}"))
                .collect();
            shards.into_iter().chain(std::iter::once(name))
        })
        .map(|pk| stream(pk, Some(STATUS_INDEX), None))
        .collect()
}

impl RecordStore for DynamoRecords {
    async fn put(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let stored_item = self.image_item(&record.id).await?;
            let stored = stored_item.as_ref().and_then(parse_record);
            let deleted = stored_item.as_ref().and_then(tombstone_revision);
            let outcome = decide_write_after(stored.as_ref(), deleted.as_deref(), record);
            if outcome != WriteOutcome::Written {
                // The stored write may have stopped between its image item and its index
                // items (a crash, a timeout): whoever comes next finishes it.
                if let Some(item) = &stored_item {
                    self.finish_pending(&record.id, item).await?;
                }
                return Ok(outcome);
            }
            // A review belongs to its upload: kept for the same object, else to the history.
            let carried = stored.as_ref().map(|stored| {
                let mut carried = record.clone();
                review::carry(stored, &mut carried);
                carried
            });
            let record = carried.as_ref().unwrap_or(record);
            let stale = replaced_index(stored_item.as_ref(), record);
            let pending = !index_entries(record).is_empty() || !stale.is_empty();
            if self
                .put_image(record, stored_item.as_ref(), &stale, pending)
                .await?
            {
                if pending {
                    self.complete_index(record, &stale).await?;
                }
                return Ok(WriteOutcome::Written);
            }
            // The image item changed since it was read: judge again against the new one.
            tracing::debug!(id = %record.id, "write raced another; retrying");
        }
        Err(StoreError {
            message: format!(
                "gave up writing {} after {WRITE_ATTEMPTS} conflicting attempts",
                record.id
            ),
            source: None,
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self
            .image_item(&record_id(bucket, key))
            .await?
            .as_ref()
            .and_then(parse_record))
    }

    async fn replace_unchanged(
        &self,
        updates: &[RecordUpdate],
    ) -> Result<Vec<UpdateOutcome>, StoreError> {
        updates
            .iter()
            .try_for_each(spotlight_core::ports::check_update)?;
        let mut outcomes = Vec::with_capacity(updates.len());
        for update in updates {
            outcomes.push(self.replace_one(update).await?);
        }
        Ok(outcomes)
    }

    async fn delete(&self, tombstone: &Tombstone) -> Result<DeleteOutcome, StoreError> {
        let id = record_id(&tombstone.bucket, &tombstone.key);
        for _ in 0..WRITE_ATTEMPTS {
            let stored_item = self.image_item(&id).await?;
            let stored = stored_item.as_ref().and_then(parse_record);
            let deleted = stored_item.as_ref().and_then(tombstone_revision);
            let kept = if stored
                .as_ref()
                .is_some_and(|stored| !delete_removes(stored, &tombstone.revision))
            {
                Some(DeleteOutcome::Stale)
            } else if deleted.is_some_and(|deleted| deleted >= tombstone.revision) {
                Some(DeleteOutcome::Duplicate)
            } else {
                None
            };
            if let Some(outcome) = kept {
                if let Some(item) = &stored_item {
                    self.finish_pending(&id, item).await?;
                }
                return Ok(outcome);
            }
            let stale = stored_item
                .as_ref()
                .map(|item| leftover_index(item, &IndexKeys::new(), &id))
                .unwrap_or_default();
            if self
                .put_tombstone(&id, tombstone, stored_item.as_ref(), &stale)
                .await?
            {
                if !stale.is_empty() {
                    self.finish_delete(&id, &tombstone.revision, &stale).await?;
                }
                return Ok(match stored {
                    Some(record) => DeleteOutcome::Removed(Box::new(record)),
                    None => DeleteOutcome::Tombstoned,
                });
            }
            tracing::debug!(id, "delete raced another write; retrying");
        }
        Err(StoreError {
            message: format!("gave up deleting {id} after {WRITE_ATTEMPTS} conflicting attempts"),
            source: None,
        })
    }

    async fn tombstone(&self, bucket: &str, key: &str) -> Result<Option<Tombstone>, StoreError> {
        let Some(item) = self.image_item(&record_id(bucket, key)).await? else {
            return Ok(None);
        };
        let Some(revision) = tombstone_revision(&item) else {
            return Ok(None);
        };
        let deleted_at = item
            .get("deletedAt")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        Ok(Some(Tombstone {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            revision,
            deleted_at,
        }))
    }

    async fn review(
        &self,
        bucket: &str,
        key: &str,
        request: &ReviewRequest,
    ) -> Result<ReviewOutcome, StoreError> {
        self.write_review(&record_id(bucket, key), request).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page, StoreError> {
        let before = match query.cursor.as_deref() {
            Some(cursor) => match cursor_sort_key(cursor) {
                Some(key) => Some(key),
                None => {
                    return Ok(Page {
                        records: Vec::new(),
                        next_cursor: None,
                    })
                }
            },
            None => None,
        };
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut streams = streams_for(query);
        let mut seen = HashSet::new();
        let mut page = PageFiller::new(query);
        loop {
            let fills = streams
                .iter_mut()
                .filter(|stream| stream.needs_fill())
                .map(|stream| self.fill(stream, before.as_deref()))
                .collect();
            join_all(fills)
                .await
                .into_iter()
                .collect::<Result<Vec<()>, _>>()?;
            // The next items in newest-first order, as many as the page can still take (and
            // one more, which says whether there is a next page), read in one batch.
            let room = limit
                .saturating_sub(page.len())
                .saturating_add(1)
                .min(BATCH_GET);
            let mut taken = Vec::new();
            while taken.len() < room && !streams.iter().any(Stream::needs_fill) {
                let Some(next) = streams
                    .iter_mut()
                    .filter(|stream| !stream.buffer.is_empty())
                    .max_by(|a, b| a.head_sort_key().cmp(&b.head_sort_key()))
                else {
                    break;
                };
                taken.extend(next.buffer.pop_front());
            }
            if taken.is_empty() {
                if streams.iter().any(Stream::needs_fill) {
                    continue;
                }
                break;
            }
            for (record, bytes) in self.resolve(taken, &seen).await? {
                if !seen.insert(record.id.clone()) || !search::matches(&record, query) {
                    continue;
                }
                if !page.offer(record, bytes) {
                    return Ok(page.finish());
                }
            }
        }
        Ok(page.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotlight_core::store_suite::suite_record;

    fn item_of(record: &ImageRecord) -> Item {
        let mut item = image_key(&record.id);
        let json = serde_json::to_string(record).unwrap_or_default();
        item.insert("record".to_owned(), s(json));
        item
    }

    #[test]
    fn what_an_image_item_keeps_to_delete_is_bounded() {
        // 40,000 distinct words: far more index keys than an image item could hold.
        let text: String = (0..40_000).map(|i| format!("w{i} ")).collect();
        let old = suite_record(
            "k.jpg",
            1,
            1,
            RecordStatus::Analyzed,
            true,
            Vec::new(),
            &text,
        );
        let mut item = item_of(&old);
        let carried: Vec<String> = (0..5_000).map(|i| format!("WORD#carried{i}")).collect();
        item.insert(
            "staleIndex".to_owned(),
            AttributeValue::M(HashMap::from([(
                "00000000000000000001#x#y".to_owned(),
                AttributeValue::Ss(carried),
            )])),
        );
        let new = suite_record("k.jpg", 2, 2, RecordStatus::Analyzed, true, Vec::new(), "");
        let stale = replaced_index(Some(&item), &new);
        let bytes: usize = stale
            .iter()
            .map(|(sk, pks)| pks.iter().map(|pk| sk.len() + pk.len() + 1).sum::<usize>())
            .sum();
        assert!(bytes <= MAX_STALE_BYTES, "{bytes}");
        assert!(
            stale
                .get(&index_sort_key(&old))
                .is_some_and(|pks| pks.len() > 1_000),
            "the replaced record's own index items come first"
        );
    }

    #[test]
    fn keys_stay_short_whatever_the_key_label_or_word() {
        let key = "猫".repeat(341);
        let record = suite_record(
            &key,
            1,
            1,
            RecordStatus::Analyzed,
            true,
            vec![spotlight_core::fakes::label(&"L".repeat(5000), 90.0, &[])],
            &"w".repeat(5000),
        );
        assert!(record_sort_key(&record).len() < 128);
        assert!(index_sort_key(&record).len() < 128);
        for pk in index_entries(&record).keys() {
            assert!(pk.len() < 100, "{pk}");
        }
        assert!(status_partition(&record).len() < 40);
    }
}
