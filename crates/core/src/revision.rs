//! Which upload a record describes, and whether a write may replace what is stored.
//!
//! S3 delivers events at least once and in no particular order. Uploads of one key are ordered
//! by the event's `sequencer`, which S3 documents as a hexadecimal string to compare this way:
//! right-pad the shorter value with zeros, then compare lexicographically (Amazon S3 User Guide,
//! "Event message structure"). That is not numeric order: `0062E99A88DC4074` (16 digits) is
//! later than `0055AED6DCD90281E5` (18 digits), though smaller as a number.
//!
//! A revision is one string whose plain string order is the order of uploads, so Rust
//! ([`decide_write`]) and a store's condition (DynamoDB's `revision < :rev`, which compares
//! `S` values by their UTF-8 bytes) judge a write alike. Its kinds, lowest first:
//!
//! | revision | written by |
//! |---|---|
//! | `0:` | a request with neither a sequencer nor an upload time |
//! | `1:<µs>` | a request without a sequencer (local runs, a re-run of an object no event recorded): the upload time in zero-padded microseconds |
//! | `2:<32 digits>` | S3 events before issue 17, when sequencers were (wrongly) compared as numbers; see below |
//! | `3:<sequencer>` | an S3 event: its sequencer in upper case without trailing zeros |
//! | `3:<sequencer>.<µs>` | a re-run of the upload `3:<sequencer>` describes, started at `<µs>` ([`rerun`]) |
//!
//! **Deletes** (issue 14, takedown) take a revision the same way and leave a tombstone carrying
//! it, so that a delete racing an analysis of the same key cannot be undone by it: a record
//! write at or below the tombstone's revision is stale ([`decide_write_after`]); a later one
//! (a new upload) replaces the tombstone. A tombstone removes only a record of a lower
//! revision ([`delete_removes`]).
//!
//! | tombstone | written by |
//! |---|---|
//! | `3:<sequencer>` | an S3 `Object Deleted` event: its sequencer, which S3 orders with the `Object Created` ones of the same key |
//! | `1:<µs>` | a local delete (`spotlight delete`, a file gone from a watched folder): the time it was deleted, so it beats every analysis of an upload before then and loses to an upload after |
//!
//! A local tombstone ranks below every event's revision: locally there are no events, and a
//! folder's records are all time-ordered. A photo put back with its old modification time
//! (`cp -p`, `mv` from elsewhere) is an upload before the delete and stays deleted; touching it
//! makes it a new upload.
//!
//! Dropping trailing zeros is S3's right-padding in reverse: two sequencers compare the same
//! padded or trimmed, and a trimmed one never ends in `0`, so the shorter of two that share a
//! beginning is the smaller, as padded with zeros it would be. `.` sorts below every hex digit,
//! so a re-run ranks above its upload and below every later upload's event.
//!
//! **Records stored before issue 17** carry `2:` revisions: the sequencer without its leading
//! zeros, left-padded to 32 digits. That lost the leading zeros S3's order needs, so they cannot
//! be converted; the `2:` kind ranks below every `3:` one instead. The first event for such a
//! key after the upgrade replaces its record (at worst a re-analysis of the same upload, or, for
//! an old upload's event delivered late, an older result until the next upload or a re-run).
//!
//! **Re-runs.** A request without a sequencer names an object, not an upload event, so it
//! cannot be placed among the events by itself: S3's APIs give no sequencer. Validation reads
//! the object's head (its version id, ETag and Last-Modified); the record step then resolves the
//! revision against the stored record with [`rerun`], before writing:
//!
//! - the re-run read the very object the stored (event-written) record describes: same version
//!   id, or, without versions, same ETag and Last-Modified. It is that upload again: it takes
//!   the record's upload revision plus its own start time, so it replaces the record (a FAILED
//!   record is repaired, an ANALYZED one re-analysed) and a later upload's event still replaces
//!   it, while a re-delivered event of that upload, or of an older one, is stale;
//! - the re-run read a later write than the stored record describes (Last-Modified strictly
//!   later, at S3's one-second precision): its event was lost or is still coming, so it is
//!   recorded the same way, and its own event, if it comes, replaces it;
//! - anything else (an older version named by `versionId`, an object written in the same
//!   second, a head that changed while the re-run ran) keeps its time revision, which ranks
//!   below every event-written one: the write is stale and the newer upload's record stays.
//!
//! A re-run that fails never replaces a record that is not FAILED: a failure is not a result.
//! Against time-ordered records (local runs) a re-run is judged by time like any request.

use chrono::{DateTime, Utc};

use crate::contracts::{ImageFacts, ImageRecord, RecordStatus, WriteOutcome};

/// The kind of an event's revision (see the table above).
const SEQUENCED: &str = "3:";
/// The kind of revisions stored before issue 17: still event-written, ranked below [`SEQUENCED`].
const LEGACY_SEQUENCED: &str = "2:";
/// Separates an upload's revision from a re-run's start time; below every hex digit.
const RERUN_SEPARATOR: char = '.';

/// The revision of an upload, from what the event and the object's head say.
///
/// A valid hexadecimal `sequencer` gives `3:<sequencer>`, upper case, trailing zeros dropped;
/// otherwise the upload time gives `1:<microseconds>`, and nothing gives `0:`.
pub fn revision(sequencer: Option<&str>, uploaded_at: Option<DateTime<Utc>>) -> String {
    if let Some(sequencer) = sequencer.filter(|s| is_hex(s)) {
        let digits = sequencer.trim_end_matches('0').to_ascii_uppercase();
        return format!("{SEQUENCED}{digits}");
    }
    timed(uploaded_at)
}

fn timed(time: Option<DateTime<Utc>>) -> String {
    match time {
        Some(time) => format!("1:{:020}", time.timestamp_micros().max(0)),
        None => "0:".to_owned(),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `revision` comes from an S3 event (or a re-run that took an event's place), rather
/// than from a time.
pub fn is_sequenced(revision: &str) -> bool {
    revision.starts_with(SEQUENCED) || revision.starts_with(LEGACY_SEQUENCED)
}

/// The revision a re-run's record `new` takes against the record `stored`, or `None` when the
/// re-run is judged by its own revision; the rules are in the [module documentation](self).
pub fn rerun(stored: &ImageRecord, new: &ImageRecord) -> Option<String> {
    if is_sequenced(&new.revision) || !is_sequenced(&stored.revision) {
        return None;
    }
    if new.status == RecordStatus::Failed && stored.status != RecordStatus::Failed {
        return None;
    }
    let same_or_later = match (&stored.image, &new.image) {
        (Some(stored_image), Some(new_image)) => {
            same_object(stored_image, new_image) || written_later(stored_image, new_image)
        }
        // A record that failed before validation read the object says nothing to compare
        // with: the re-run read the object as it is now, which is no older than that upload
        // (a later write's event still replaces the result, as above).
        (None, _) => stored.status == RecordStatus::Failed,
        (Some(_), None) => false,
    };
    if !same_or_later {
        return None;
    }
    let upload = stored
        .revision
        .split_once(RERUN_SEPARATOR)
        .map_or(stored.revision.as_str(), |(upload, _)| upload);
    let started = new.execution.start_time.timestamp_micros().max(0);
    Some(format!("{upload}{RERUN_SEPARATOR}{started:020}"))
}

/// The upload a revision describes: a re-run's or reprocess's revision without the suffix
/// ([`rerun`], [`reprocessed`]) that places it after that upload.
pub fn upload_revision(revision: &str) -> &str {
    revision
        .split_once(RERUN_SEPARATOR)
        .map_or(revision, |(upload, _)| upload)
}

/// Whether `new` (a reprocess execution's record) is of the very upload `stored` describes:
/// the same object read ([`same_object`]), or, where the object says nothing more (a folder's
/// file without its details), the same time revision.
pub fn same_upload(stored: &ImageRecord, new: &ImageRecord) -> bool {
    match (&stored.image, &new.image) {
        (Some(stored_image), Some(new_image)) => same_object(stored_image, new_image),
        _ => false,
    }
}

/// The revision a reprocess execution's record `new` takes over the record `stored` of the same
/// upload ([`same_upload`]): that upload's revision plus the reprocess's start time, as a
/// re-run's ([`rerun`]) but for time-ordered (local) records too, so that it replaces the
/// record it reprocesses while the next upload still replaces it. `None`: another upload.
pub fn reprocessed(stored: &ImageRecord, new: &ImageRecord) -> Option<String> {
    if !same_upload(stored, new) {
        return None;
    }
    let upload = stored
        .revision
        .split_once(RERUN_SEPARATOR)
        .map_or(stored.revision.as_str(), |(upload, _)| upload);
    let started = new.execution.start_time.timestamp_micros().max(0);
    Some(format!("{upload}{RERUN_SEPARATOR}{started:020}"))
}

/// The same object: the same version, or, where there are no versions (S3 names the version of
/// an unversioned or suspended bucket's object `null`), the same ETag and Last-Modified.
pub fn same_object(a: &ImageFacts, b: &ImageFacts) -> bool {
    let version = |facts: &ImageFacts| facts.version_id.clone().filter(|v| v != "null");
    match (version(a), version(b)) {
        (Some(a), Some(b)) => a == b,
        _ => {
            a.etag.is_some()
                && a.etag == b.etag
                && a.last_modified.is_some()
                && a.last_modified == b.last_modified
        }
    }
}

/// `b` was written after `a`: S3 keeps Last-Modified to the second, so only a later second
/// tells; the same second tells nothing.
fn written_later(a: &ImageFacts, b: &ImageFacts) -> bool {
    matches!((a.last_modified, b.last_modified), (Some(a), Some(b)) if b > a)
}

/// Whether `new` may replace `stored`, and what the write then reports.
///
/// - nothing stored, or a smaller revision stored: write;
/// - the same revision: the same upload. A retry or re-delivery of the execution that wrote it
///   writes nothing; a FAILED record is replaced by a later execution's attempt, since a failure
///   is not a result anyone wants to keep;
/// - a greater revision stored: the write is stale and writes nothing.
pub fn decide_write(stored: Option<&ImageRecord>, new: &ImageRecord) -> WriteOutcome {
    let Some(stored) = stored else {
        return WriteOutcome::Written;
    };
    match stored.revision.as_str().cmp(new.revision.as_str()) {
        std::cmp::Ordering::Less => WriteOutcome::Written,
        std::cmp::Ordering::Greater => WriteOutcome::Stale,
        std::cmp::Ordering::Equal => {
            if stored.execution.id == new.execution.id {
                WriteOutcome::Duplicate
            } else if stored.status == RecordStatus::Failed {
                WriteOutcome::Written
            } else {
                WriteOutcome::Duplicate
            }
        }
    }
}

/// [`decide_write`] with the key's tombstone, if any: a write at or below the tombstone's
/// revision (`deleted`) is stale, since the upload it describes was deleted after it (or is the
/// deleted one).
pub fn decide_write_after(
    stored: Option<&ImageRecord>,
    deleted: Option<&str>,
    new: &ImageRecord,
) -> WriteOutcome {
    match deleted {
        Some(deleted) if new.revision.as_str() <= deleted => WriteOutcome::Stale,
        _ => decide_write(stored, new),
    }
}

/// Whether a delete of revision `deleted` removes `stored`: only a record of an earlier upload.
/// A record of a later upload stays (the delete's event came late).
pub fn delete_removes(stored: &ImageRecord, deleted: &str) -> bool {
    stored.revision.as_str() < deleted
}

/// The revision of a local delete at `time` (see the table above).
pub fn local_delete(time: DateTime<Utc>) -> String {
    timed(Some(time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::ExecutionRef;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    /// S3's documented order, written out: right-pad the shorter with zeros, then compare.
    fn s3_order(a: &str, b: &str) -> std::cmp::Ordering {
        let width = a.len().max(b.len());
        format!("{a:0<width$}").cmp(&format!("{b:0<width$}"))
    }

    #[test]
    fn sequencers_follow_s3s_order_where_numeric_order_disagrees() {
        // Shaped like real sequencers (16 and 18 upper-case hex digits, leading zeros). In each
        // pair the first is the later event by S3's rule, though the smaller number.
        let pairs = [
            ("0062E99A88DC4074", "0055AED6DCD90281E5"),
            ("617F08299329D189", "0100000000000000000"),
            ("00A1B2C3D4E5F6070", "0055AED6DCD90281E5"),
            ("1", "0FFFFFFFFFFFFFFFFF"),
        ];
        for (later, earlier) in pairs {
            let numeric = |s: &str| u128::from_str_radix(s, 16).unwrap_or_default();
            assert!(numeric(later) < numeric(earlier), "{later} vs {earlier}");
            assert_eq!(s3_order(later, earlier), std::cmp::Ordering::Greater);
            let (later, earlier) = (revision(Some(later), None), revision(Some(earlier), None));
            assert!(later > earlier, "{later} should sort after {earlier}");
        }
    }

    #[test]
    fn sequencer_revisions_order_as_s3_says_for_every_pair() {
        let sequencers = [
            "0055AED6DCD90281E5",
            "0055AED6DCD90281E500",
            "0055AED6DCD90281E501",
            "0055AED6DCD90281F",
            "0062E99A88DC4074",
            "617f08299329d189",
            "617F08299329D1890",
            "00",
            "0",
            "1",
            "10",
            "A",
            "f",
        ];
        for a in sequencers {
            for b in sequencers {
                let expected = s3_order(&a.to_ascii_uppercase(), &b.to_ascii_uppercase());
                let got = revision(Some(a), None).cmp(&revision(Some(b), None));
                assert_eq!(got, expected, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn kinds_rank_time_then_legacy_then_events() {
        let timed = revision(None, Some(at(0)));
        let legacy = format!("2:{:0>32}", "617F08299329D189");
        let sequenced = revision(Some("0"), None);
        assert!(revision(None, None) < timed);
        assert!(timed < legacy && legacy < sequenced, "{legacy} {sequenced}");
        assert!(is_sequenced(&legacy) && is_sequenced(&sequenced) && !is_sequenced(&timed));
    }

    #[test]
    fn a_malformed_sequencer_falls_back_to_time() {
        let t = at(0);
        assert_eq!(revision(Some("not-hex"), Some(t)), revision(None, Some(t)));
        assert_eq!(revision(Some(""), Some(t)), revision(None, Some(t)));
    }

    fn record(
        revision: String,
        status: RecordStatus,
        facts: Option<ImageFacts>,
        run: i64,
    ) -> ImageRecord {
        let image = facts.map(|mut facts| {
            facts.revision.clone_from(&revision);
            facts
        });
        ImageRecord {
            id: "id".to_owned(),
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            status,
            revision,
            uploaded_at: at(0),
            image,
            labels: Vec::new(),
            moderation: None,
            safe: false,
            text: None,
            themes: Vec::new(),
            trimmed: Vec::new(),
            models: Vec::new(),
            error: None,
            execution: ExecutionRef {
                id: format!("execution-{run}"),
                start_time: at(run),
            },
            analysed_at: at(run),
            review: None,
            review_history: Vec::new(),
        }
    }

    fn facts(version: Option<&str>, etag: &str, modified: i64) -> ImageFacts {
        ImageFacts {
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            format: crate::contracts::ImageFormat::Jpeg,
            size_bytes: 1_000,
            width: 100,
            height: 100,
            revision: String::new(),
            etag: Some(etag.to_owned()),
            version_id: version.map(str::to_owned),
            last_modified: Some(at(modified)),
            uploaded_at: Some(at(modified)),
        }
    }

    /// What the store decides for a re-run's record once the record step resolved it.
    fn rerun_write(stored: &ImageRecord, mut new: ImageRecord) -> (WriteOutcome, String) {
        if let Some(revision) = rerun(stored, &new) {
            new.revision = revision;
        }
        (decide_write(Some(stored), &new), new.revision)
    }

    #[test]
    fn a_rerun_of_the_recorded_upload_replaces_it_and_later_events_still_win() {
        use RecordStatus::{Analyzed, Failed};
        let event = revision(Some("0055AED6DCD90281E5"), None);
        let v1 = facts(Some("v1"), "\"e1\"", 10);
        let failed = record(event.clone(), Failed, Some(v1.clone()), 20);
        let rerun_of =
            |status, run| record(revision(None, Some(at(10))), status, Some(v1.clone()), run);

        // Repair, then re-analysis, then a re-run that fails: a result is never replaced by it.
        let (outcome, repaired) = rerun_write(&failed, rerun_of(Analyzed, 30));
        assert_eq!(outcome, WriteOutcome::Written, "{repaired}");
        let analyzed = record(repaired.clone(), Analyzed, Some(v1.clone()), 30);
        let (outcome, reanalysed) = rerun_write(&analyzed, rerun_of(Analyzed, 40));
        assert_eq!(outcome, WriteOutcome::Written);
        assert!(reanalysed > repaired);
        assert_eq!(
            rerun_write(&analyzed, rerun_of(Failed, 50)).0,
            WriteOutcome::Stale
        );
        // A retry of the same re-run execution writes nothing twice.
        assert_eq!(
            rerun_write(&analyzed, rerun_of(Analyzed, 30)).0,
            WriteOutcome::Duplicate
        );

        // The upload's re-delivered event is stale; the next upload's event replaces the re-run.
        let redelivered = record(event, Analyzed, Some(v1.clone()), 60);
        assert_eq!(
            decide_write(Some(&analyzed), &redelivered),
            WriteOutcome::Stale
        );
        let next = record(
            revision(Some("0055AED6DCD90281E6"), None),
            Analyzed,
            None,
            60,
        );
        assert_eq!(decide_write(Some(&analyzed), &next), WriteOutcome::Written);
    }

    #[test]
    fn a_rerun_of_an_older_version_never_replaces_a_newer_upload() {
        use RecordStatus::Analyzed;
        let newer = facts(Some("v2"), "\"e2\"", 20);
        let stored = record(
            revision(Some("0062E99A88DC4074"), None),
            Analyzed,
            Some(newer),
            30,
        );
        let older = facts(Some("v1"), "\"e1\"", 10);
        let rerun_of_v1 = record(revision(None, Some(at(10))), Analyzed, Some(older), 40);
        assert_eq!(rerun_write(&stored, rerun_of_v1).0, WriteOutcome::Stale);

        // Written in the same second: nothing tells which is newer, so the event's record stays.
        let same_second = facts(None, "\"e3\"", 20);
        let rerun = record(
            revision(None, Some(at(20))),
            Analyzed,
            Some(same_second),
            40,
        );
        assert_eq!(rerun_write(&stored, rerun).0, WriteOutcome::Stale);

        // A later write whose event never came is recorded by a re-run.
        let later = facts(Some("v3"), "\"e3\"", 25);
        let rerun = record(revision(None, Some(at(25))), Analyzed, Some(later), 40);
        assert_eq!(rerun_write(&stored, rerun).0, WriteOutcome::Written);
    }

    #[test]
    fn without_versions_the_same_object_is_the_same_etag_and_last_modified() {
        use RecordStatus::{Analyzed, Failed};
        let stored = record(
            revision(Some("0A"), None),
            Failed,
            Some(facts(Some("null"), "\"e\"", 10)),
            20,
        );
        let same = record(
            revision(None, Some(at(10))),
            Analyzed,
            Some(facts(Some("null"), "\"e\"", 10)),
            30,
        );
        assert_eq!(rerun_write(&stored, same).0, WriteOutcome::Written);
        let other = record(
            revision(None, Some(at(10))),
            Analyzed,
            Some(facts(Some("null"), "\"f\"", 10)),
            30,
        );
        assert_eq!(
            rerun_write(&stored, other).0,
            WriteOutcome::Stale,
            "\"null\" is no version"
        );
    }

    #[test]
    fn a_tombstone_beats_older_and_equal_uploads_and_loses_to_later_ones() {
        use RecordStatus::Analyzed;
        let upload = |seq: &str, run| record(revision(Some(seq), None), Analyzed, None, run);
        // The delete's sequencer follows the upload's by S3's order (here: longer, same start).
        let deleted = revision(Some("0062E99A88DC40740"), None);
        let deleted_later = revision(Some("0062E99A88DC4075"), None);
        let before = upload("0062E99A88DC4074", 1);
        assert!(delete_removes(&before, &deleted_later));
        assert_eq!(
            decide_write_after(None, Some(&deleted_later), &before),
            WriteOutcome::Stale,
            "an analysis of the deleted upload, written after the delete"
        );
        assert_eq!(deleted, revision(Some("0062E99A88DC4074"), None));
        assert_eq!(
            decide_write_after(None, Some(&deleted), &before),
            WriteOutcome::Stale,
            "equal loses"
        );
        // A re-run of the deleted upload ranks below the delete too.
        let mut rerun = before.clone();
        rerun.revision = format!("{}.{:020}", before.revision, 99);
        assert_eq!(
            decide_write_after(None, Some(&deleted_later), &rerun),
            WriteOutcome::Stale
        );
        let after = upload("0062E99A88DC4076", 2);
        assert!(!delete_removes(&after, &deleted_later));
        assert_eq!(
            decide_write_after(None, Some(&deleted_later), &after),
            WriteOutcome::Written
        );

        // Locally, by time: uploads before the delete lose, uploads after it win.
        let local = |seconds| record(revision(None, Some(at(seconds))), Analyzed, None, seconds);
        let tombstone = local_delete(at(10));
        assert!(delete_removes(&local(9), &tombstone));
        assert_eq!(
            decide_write_after(None, Some(&tombstone), &local(9)),
            WriteOutcome::Stale
        );
        assert_eq!(
            decide_write_after(None, Some(&tombstone), &local(11)),
            WriteOutcome::Written
        );
    }

    #[test]
    fn time_ordered_records_are_judged_by_time() {
        use RecordStatus::Analyzed;
        let v1 = facts(None, "\"e\"", 10);
        let stored = record(revision(None, Some(at(10))), Analyzed, Some(v1.clone()), 20);
        let again = record(revision(None, Some(at(10))), Analyzed, Some(v1), 30);
        assert_eq!(rerun(&stored, &again), None);
        assert_eq!(decide_write(Some(&stored), &again), WriteOutcome::Duplicate);
    }
}
