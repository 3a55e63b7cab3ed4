//! Which upload a record describes, and whether a write may replace what is stored.
//!
//! S3 delivers events at least once and in no particular order. Uploads of one key are ordered
//! by the event's `sequencer` (a hexadecimal number; S3 says the greater one is the later
//! event). Requests without one (local runs, manual re-runs) are ordered by upload time, and
//! always rank below sequenced ones so that a manual request can never shadow the events that
//! follow it. The revision is one string so that a store can compare it in a single condition.

use chrono::{DateTime, Utc};

use crate::contracts::{ImageRecord, RecordStatus, WriteOutcome};

/// Width of the zero-padded sequencer: S3's sequencers are 16–18 hex digits today.
const SEQUENCER_WIDTH: usize = 32;

/// The revision of an upload, from what the event and the object's head say.
///
/// Sequenced revisions compare as `2:<sequencer>`, time-ordered ones as `1:<microseconds>`, and
/// an upload with neither as `0:`; each part is zero-padded so plain string order is the order.
pub fn revision(sequencer: Option<&str>, uploaded_at: Option<DateTime<Utc>>) -> String {
    if let Some(sequencer) = sequencer.filter(|s| is_hex(s)) {
        let digits = sequencer.trim_start_matches('0').to_ascii_uppercase();
        return format!("2:{digits:0>SEQUENCER_WIDTH$}");
    }
    match uploaded_at {
        Some(time) => format!("1:{:020}", time.timestamp_micros().max(0)),
        None => "0:".to_owned(),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= SEQUENCER_WIDTH && s.bytes().all(|b| b.is_ascii_hexdigit())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_as_numbers_whatever_their_length() {
        let shorter = revision(Some("FFFFFFFFFFFFFFFF"), None);
        let longer = revision(Some("0100000000000000000"), None);
        assert!(shorter < longer, "{shorter} should sort before {longer}");
        assert_eq!(
            revision(Some("00ab"), None),
            revision(Some("AB"), None),
            "leading zeros and case do not matter"
        );
    }

    #[test]
    fn sequenced_uploads_rank_above_timed_ones() {
        let timed = revision(None, Some(Utc::now()));
        let sequenced = revision(Some("1"), None);
        assert!(timed < sequenced);
        assert!(revision(None, None) < timed);
    }

    #[test]
    fn a_malformed_sequencer_falls_back_to_time() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(revision(Some("not-hex"), Some(t)), revision(None, Some(t)));
    }
}
