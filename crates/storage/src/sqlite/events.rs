//! The event log: every event the local pipeline put on a bus, in the order it was put, with how
//! its webhook delivery went. It lives in the store, so it survives restarts and any process
//! (`spotlight events --follow`) can tail it by sequence number.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::params;
use serde_json::Value;
use spotlight_core::ports::StoreError;

use super::{At, SqliteStore};

/// How an event's webhook delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The webhook answered 2xx.
    Delivered,
    /// Every attempt failed: the event is only in the log.
    Undelivered,
}

impl DeliveryStatus {
    /// `DELIVERED` or `UNDELIVERED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Undelivered => "UNDELIVERED",
        }
    }
}

/// One webhook delivery of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The webhook URL.
    pub url: String,
    /// How it went.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, when it failed.
    pub error: Option<String>,
}

/// An event as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Its place in the log: increasing, never reused.
    pub seq: i64,
    /// The bus it was put on.
    pub bus: String,
    /// When it was put.
    pub put_at: DateTime<Utc>,
    /// The event, EventBridge's envelope.
    pub event: Value,
    /// Its webhook delivery, when a webhook was set.
    pub delivery: Option<Delivery>,
}

/// Which events to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only those after this sequence number.
    pub after: Option<i64>,
    /// Only those put at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, oldest first.
    pub limit: Option<usize>,
}

fn stamp(time: DateTime<Utc>) -> String {
    // Fixed width, so that text order is time order.
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Appends `event` (put on `bus`) to the log; returns its sequence number.
    pub fn append_event(&self, bus: &str, event: &Value) -> Result<i64, StoreError> {
        let text = event.to_string();
        let now = stamp(Utc::now());
        self.retry(|connection| {
            connection
                .execute(
                    "INSERT INTO events (bus, put_at, event) VALUES (?1, ?2, ?3)",
                    params![bus, now, text],
                )
                .at("appending an event")?;
            Ok(connection.last_insert_rowid())
        })
    }

    /// Notes how event `seq`'s webhook delivery went.
    pub fn record_delivery(&self, seq: i64, delivery: &Delivery) -> Result<(), StoreError> {
        self.retry(|connection| {
            connection
                .execute(
                    "UPDATE events SET webhook = ?2, delivery = ?3, attempts = ?4,
                     delivery_error = ?5 WHERE seq = ?1",
                    params![
                        seq,
                        delivery.url,
                        delivery.status.as_str(),
                        delivery.attempts,
                        delivery.error
                    ],
                )
                .at("noting an event's delivery")
                .map(drop)
        })
    }

    /// The events `filter` selects, oldest first.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<LoggedEvent>, StoreError> {
        let after = filter.after.unwrap_or(0);
        let since = filter.since.map(stamp).unwrap_or_default();
        let limit = filter
            .limit
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(-1);
        self.retry(|connection| {
            let mut statement = connection
                .prepare(
                    "SELECT seq, bus, put_at, event, webhook, delivery, attempts, delivery_error
                     FROM events WHERE seq > ?1 AND put_at >= ?2 ORDER BY seq LIMIT ?3",
                )
                .at("reading the event log")?;
            let rows = statement
                .query_map(params![after, since, limit], |row| {
                    let put_at: String = row.get(2)?;
                    let event: String = row.get(3)?;
                    let url: Option<String> = row.get(4)?;
                    let status: Option<String> = row.get(5)?;
                    let delivery = url.map(|url| Delivery {
                        url,
                        status: if status.as_deref() == Some("DELIVERED") {
                            DeliveryStatus::Delivered
                        } else {
                            DeliveryStatus::Undelivered
                        },
                        attempts: row.get::<_, Option<u32>>(6).ok().flatten().unwrap_or(0),
                        error: row.get(7).ok().flatten(),
                    });
                    Ok(LoggedEvent {
                        seq: row.get(0)?,
                        bus: row.get(1)?,
                        put_at: DateTime::parse_from_rfc3339(&put_at)
                            .map(|t| t.with_timezone(&Utc))
                            .unwrap_or_default(),
                        event: serde_json::from_str(&event).unwrap_or(Value::Null),
                        delivery,
                    })
                })
                .at("reading the event log")?;
            rows.collect::<Result<_, _>>().at("reading the event log")
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_log_keeps_events_in_order_across_reopening_and_filters_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let first = store.append_event("bus", &json!({"id": "a"})).unwrap();
        let middle = Utc::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = store.append_event("bus", &json!({"id": "b"})).unwrap();
        assert!(second > first);
        let delivery = Delivery {
            url: "http://127.0.0.1:9/hook".to_owned(),
            status: DeliveryStatus::Undelivered,
            attempts: 3,
            error: Some("refused".to_owned()),
        };
        store.record_delivery(second, &delivery).unwrap();
        drop(store);

        let store = SqliteStore::open(&path).unwrap();
        let all = store.events(&EventFilter::default()).unwrap();
        let ids: Vec<&Value> = all.iter().map(|e| &e.event["id"]).collect();
        assert_eq!(ids, [&json!("a"), &json!("b")]);
        assert_eq!(all[0].delivery, None);
        assert_eq!(all[1].delivery.as_ref(), Some(&delivery));
        assert_eq!(all[1].bus, "bus");

        let after = EventFilter {
            after: Some(first),
            ..EventFilter::default()
        };
        assert_eq!(store.events(&after).unwrap().len(), 1);
        let since = EventFilter {
            since: Some(middle),
            ..EventFilter::default()
        };
        let recent = store.events(&since).unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].event["id"], "b");
        let one = EventFilter {
            limit: Some(1),
            ..EventFilter::default()
        };
        assert_eq!(store.events(&one).unwrap()[0].seq, first);
    }
}
