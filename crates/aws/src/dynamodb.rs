//! `RecordStore` on DynamoDB: one table, one image item per image plus index items, written in
//! one transaction, queried through keys and one index — never a Scan.
//!
//! | item | `pk` | `sk` | notes |
//! |---|---|---|---|
//! | image | `IMAGE#<id>` | `IMAGE` | the record as JSON; `gsi1pk`/`gsi1sk` place it in `ByStatus` |
//! | label index | `LABEL#<name>` | `<uploaded>#<id>` | one per label name or parent, with its confidence |
//! | word index | `WORD#<word>` | `<uploaded>#<id>` | one per distinct word of the text |
//!
//! `ByStatus` partitions are `STATUS#ANALYZED#SAFE`, `STATUS#ANALYZED#UNSAFE`,
//! `STATUS#REJECTED` and `STATUS#FAILED`; every sort key is the upload time (zero-padded
//! microseconds) then the id, so a descending query is "newest first".
//!
//! Index items carry the revision and execution of the image item that wrote them; a search
//! only trusts one whose image item still has both, so an index item left behind never matches.
//! A transaction holds at most 100 actions: the image item, at most [`MAX_LABEL_INDEX`] label
//! items and [`MAX_WORD_INDEX`] word items, and the deletes of the previous ones.

use std::collections::{HashMap, HashSet, VecDeque};

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use spotlight_core::contracts::{ImageRecord, RecordStatus, WriteOutcome};
use spotlight_core::ports::{Page, RecordStore, SearchQuery, StoreError};
use spotlight_core::revision::decide_write;
use spotlight_core::{record_id, search};

/// The most label index items per image.
pub const MAX_LABEL_INDEX: usize = 24;
/// The most word index items per image.
pub const MAX_WORD_INDEX: usize = 24;
/// The status index.
pub const STATUS_INDEX: &str = "ByStatus";
/// How often a write re-reads and retries when another writer got in between.
const WRITE_ATTEMPTS: usize = 4;
/// Items read per Query page.
const QUERY_PAGE: i32 = 100;

type Item = HashMap<String, AttributeValue>;

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

fn image_key(id: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("IMAGE#{id}"))),
        ("sk".to_owned(), s("IMAGE")),
    ])
}

/// Newest-first sort key: zero-padded microseconds, then the id.
fn sort_key(record: &ImageRecord) -> String {
    format!(
        "{:020}#{}",
        record.uploaded_at.timestamp_micros().max(0),
        record.id
    )
}

/// The sort key just after a search cursor (`micros:id`, as [`search::cursor_after`] makes it).
fn cursor_sort_key(cursor: &str) -> Option<String> {
    let (micros, id) = cursor.split_once(':')?;
    let micros: i64 = micros.parse().ok()?;
    Some(format!("{:020}#{id}", micros.max(0)))
}

fn status_partition(record: &ImageRecord) -> String {
    match (record.status, record.safe) {
        (RecordStatus::Analyzed, true) => "STATUS#ANALYZED#SAFE".to_owned(),
        (RecordStatus::Analyzed, false) => "STATUS#ANALYZED#UNSAFE".to_owned(),
        (status, _) => format!("STATUS#{}", status.as_str()),
    }
}

/// The index partitions a record belongs in, with a confidence for labels.
fn index_entries(record: &ImageRecord) -> Vec<(String, Option<f32>)> {
    let mut labels: Vec<(String, f32)> = Vec::new();
    for label in &record.labels {
        for name in std::iter::once(&label.name).chain(&label.parents) {
            let name = name.to_lowercase();
            match labels.iter_mut().find(|(n, _)| *n == name) {
                Some((_, confidence)) => *confidence = confidence.max(label.confidence),
                None => labels.push((name, label.confidence)),
            }
        }
    }
    labels.sort_by(|a, b| b.1.total_cmp(&a.1));
    labels.truncate(MAX_LABEL_INDEX);
    let mut words: Vec<String> = Vec::new();
    if let Some(text) = &record.text {
        for word in search::words(&text.full_text) {
            if words.len() == MAX_WORD_INDEX {
                break;
            }
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    labels
        .into_iter()
        .map(|(name, confidence)| (format!("LABEL#{name}"), Some(confidence)))
        .chain(words.into_iter().map(|w| (format!("WORD#{w}"), None)))
        .collect()
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

    fn transaction(
        &self,
        record: &ImageRecord,
        stored: Option<&Item>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new("serialising the record", e))?;
        let sk = sort_key(record);
        let entries = index_entries(record);
        let index_keys: Vec<String> = entries.iter().map(|(pk, _)| format!("{pk}|{sk}")).collect();

        let mut image = image_key(&record.id);
        image.extend([
            ("record".to_owned(), s(json)),
            ("revision".to_owned(), s(&record.revision)),
            ("status".to_owned(), s(record.status.as_str())),
            ("executionId".to_owned(), s(&record.execution.id)),
            ("safe".to_owned(), AttributeValue::Bool(record.safe)),
            ("gsi1pk".to_owned(), s(status_partition(record))),
            ("gsi1sk".to_owned(), s(&sk)),
            (
                "indexKeys".to_owned(),
                AttributeValue::L(index_keys.iter().map(s).collect()),
            ),
        ]);
        // Newest wins, and the item is still the one `decide_write` judged (another writer
        // in between makes the transaction fail, and the write starts over).
        let mut condition = "(attribute_not_exists(pk) OR revision < :rev OR \
                             (revision = :rev AND #status = :failed AND executionId <> :exec))"
            .to_owned();
        let mut values = HashMap::from([
            (":rev".to_owned(), s(&record.revision)),
            (":failed".to_owned(), s(RecordStatus::Failed.as_str())),
            (":exec".to_owned(), s(&record.execution.id)),
        ]);
        match stored {
            Some(item) => {
                condition.push_str(" AND revision = :seenRev AND executionId = :seenExec");
                values.insert(
                    ":seenRev".to_owned(),
                    item.get("revision").cloned().unwrap_or(s("")),
                );
                values.insert(
                    ":seenExec".to_owned(),
                    item.get("executionId").cloned().unwrap_or(s("")),
                );
            }
            None => condition.push_str(" AND attribute_not_exists(pk)"),
        }
        let put_image = Put::builder()
            .table_name(&self.table)
            .set_item(Some(image))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::new("building the image Put", e))?;
        let mut actions = vec![TransactWriteItem::builder().put(put_image).build()];

        for (pk, confidence) in &entries {
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
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::new("building an index Put", e))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }

        let previous: Vec<String> = stored
            .and_then(|item| item.get("indexKeys"))
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default();
        let current: HashSet<&String> = index_keys.iter().collect();
        for stale in previous.iter().filter(|k| !current.contains(k)) {
            let Some((pk, sk)) = stale.split_once('|') else {
                continue;
            };
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .build()
                .map_err(|e| StoreError::new("building an index Delete", e))?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(actions)
    }

    /// Records for index items, newest first, keeping only items their image still vouches for.
    async fn resolve(&self, items: Vec<Item>) -> Result<Vec<ImageRecord>, StoreError> {
        let mut records = Vec::new();
        for item in items {
            if let Some(record) = self.resolve_one(&item).await? {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn resolve_one(&self, item: &Item) -> Result<Option<ImageRecord>, StoreError> {
        if item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("IMAGE")
        {
            return Ok(parse_record(item));
        }
        let Some(id) = item.get("imageId").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        let Some(image) = self.image_item(id).await? else {
            return Ok(None);
        };
        let same = |name: &str| image.contains_key(name) && image.get(name) == item.get(name);
        if !(same("revision") && same("executionId")) {
            return Ok(None);
        }
        Ok(parse_record(&image))
    }
}

fn parse_record(item: &Item) -> Option<ImageRecord> {
    let json = item.get("record")?.as_s().ok()?;
    match serde_json::from_str(json) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(%error, "skipping an image item whose record does not parse");
            None
        }
    }
}

/// One partition read newest first, a page at a time.
struct Stream {
    pk: String,
    index: Option<&'static str>,
    min_confidence: Option<f32>,
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
}

impl DynamoRecords {
    async fn fill(&self, stream: &mut Stream, before: Option<&str>) -> Result<(), StoreError> {
        while stream.buffer.is_empty() && !stream.exhausted {
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
                .limit(QUERY_PAGE)
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
            if let Some(confidence) = stream.min_confidence {
                request = request
                    .filter_expression("confidence >= :confidence")
                    .expression_attribute_values(
                        ":confidence",
                        AttributeValue::N(confidence.to_string()),
                    );
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
    let stream = |pk: String, index, min_confidence| Stream {
        pk,
        index,
        min_confidence,
        buffer: VecDeque::new(),
        next_page: None,
        exhausted: false,
    };
    if !query.labels.is_empty() {
        let mut names: Vec<String> = query.labels.iter().map(|l| l.to_lowercase()).collect();
        names.sort();
        names.dedup();
        return names
            .into_iter()
            .map(|name| stream(format!("LABEL#{name}"), None, Some(query.min_confidence)))
            .collect();
    }
    if let Some(word) = query
        .text
        .as_deref()
        .map(search::words)
        .and_then(|w| w.into_iter().next())
    {
        return vec![stream(format!("WORD#{word}"), None, None)];
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
                if !query.unsafe_only {
                    partitions.push("STATUS#ANALYZED#SAFE".to_owned());
                }
                if !query.safe_only {
                    partitions.push("STATUS#ANALYZED#UNSAFE".to_owned());
                }
            }
            // Rejected and failed records are never safe.
            other if !query.safe_only && !query.unsafe_only => {
                partitions.push(format!("STATUS#{}", other.as_str()));
            }
            _ => {}
        }
    }
    partitions
        .into_iter()
        .map(|pk| stream(pk, Some(STATUS_INDEX), None))
        .collect()
}

impl RecordStore for DynamoRecords {
    async fn put(&self, record: &ImageRecord) -> Result<WriteOutcome, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let stored_item = self.image_item(&record.id).await?;
            let stored = stored_item.as_ref().and_then(parse_record);
            let outcome = decide_write(stored.as_ref(), record);
            if outcome != WriteOutcome::Written {
                return Ok(outcome);
            }
            let actions = self.transaction(record, stored_item.as_ref())?;
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await
            {
                Ok(_) => return Ok(WriteOutcome::Written),
                // The image item changed since it was read: judge again against the new one.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                {
                    tracing::debug!(id = %record.id, "write raced another; retrying");
                }
                Err(error) => return Err(store_error("TransactWriteItems", error)),
            }
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

    async fn search(&self, query: &SearchQuery) -> Result<Page, StoreError> {
        let before = query.cursor.as_deref().and_then(cursor_sort_key);
        if query.cursor.is_some() && before.is_none() {
            return Ok(Page {
                records: Vec::new(),
                next_cursor: None,
            });
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut streams = streams_for(query);
        let mut seen = HashSet::new();
        let mut records = Vec::new();
        loop {
            for stream in &mut streams {
                self.fill(stream, before.as_deref()).await?;
            }
            // The newest head among the partitions comes next.
            let Some(next) = streams
                .iter_mut()
                .filter(|s| !s.buffer.is_empty())
                .max_by(|a, b| a.head_sort_key().cmp(&b.head_sort_key()))
            else {
                break;
            };
            let Some(item) = next.buffer.pop_front() else {
                break;
            };
            let Some(record) = self.resolve(vec![item]).await?.pop() else {
                continue;
            };
            if !seen.insert(record.id.clone()) || !search::matches(&record, query) {
                continue;
            }
            if records.len() == limit {
                // One more match exists: there is a next page.
                let cursor = records.last().map(search::cursor_after);
                return Ok(Page {
                    records,
                    next_cursor: cursor,
                });
            }
            records.push(record);
        }
        Ok(Page {
            records,
            next_cursor: None,
        })
    }
}
