//! `JitterStrategy: FULL`, tested so that ignoring it fails: the waits between retries are
//! read from a clock that records them, over many seeds, and must each lie in
//! `[0, computed delay]` and spread over that range, while `NONE` waits exactly the computed
//! delay. The conformance case `retry_jitter_full_is_seeded` pins one seeded run's timestamps.

use serde_json::json;
use spotlight_states::{
    BoxFuture, Clock, InvokerFn, OwnedTaskRequest, RunOptions, StateMachine, StatesError, Status,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Time stands still; every wait returns at once and is written down.
#[derive(Default)]
struct RecordingClock {
    waits: Mutex<Vec<Duration>>,
}

impl Clock for RecordingClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        if let Ok(mut waits) = self.waits.lock() {
            waits.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

/// The delays the retrier below computes before jitter: 100 s, doubled, capped at 250 s.
const COMPUTED: [f64; 3] = [100.0, 200.0, 250.0];

/// The waits of one execution whose task always fails, retried three times.
fn waits(jitter: &str, seed: u64) -> Vec<f64> {
    let definition = json!({
        "StartAt": "T",
        "States": {"T": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fail",
            "Retry": [{
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": 100,
                "BackoffRate": 2,
                "MaxDelaySeconds": 250,
                "MaxAttempts": 3,
                "JitterStrategy": jitter
            }],
            "End": true
        }}
    });
    let machine = StateMachine::from_value(definition, &HashMap::new()).expect("a valid machine");
    let invoker = Arc::new(InvokerFn(|_: OwnedTaskRequest| async {
        Err::<serde_json::Value, _>(StatesError::new("Boom", "always"))
    }));
    let clock = Arc::new(RecordingClock::default());
    let options = RunOptions {
        clock: Some(clock.clone()),
        seed: Some(seed),
        ..RunOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let result = runtime
        .block_on(machine.run(json!({}), invoker, options))
        .expect("the engine runs");
    assert_eq!(result.status, Status::Failed);
    let waits = clock
        .waits
        .lock()
        .expect("no panic while recording")
        .clone();
    waits.iter().map(Duration::as_secs_f64).collect()
}

#[test]
fn no_jitter_waits_exactly_the_computed_delay() {
    for seed in 0..4 {
        assert_eq!(waits("NONE", seed), COMPUTED);
    }
}

#[test]
fn full_jitter_waits_a_random_part_of_the_computed_delay() {
    let mut fractions = Vec::new();
    for seed in 0..40 {
        let waits = waits("FULL", seed);
        assert_eq!(waits.len(), COMPUTED.len(), "one wait per retry: {waits:?}");
        for (wait, computed) in waits.iter().zip(COMPUTED) {
            assert!(
                (0.0..=computed).contains(wait),
                "seed {seed}: waited {wait} s, more than {computed} s"
            );
            fractions.push(wait / computed);
        }
        assert_eq!(
            waits,
            self::waits("FULL", seed),
            "seed {seed} decides the waits"
        );
    }
    // Ignoring the jitter makes every fraction 1. Uniform in [0, 1], 120 draws from fixed
    // seeds land in every quarter and average near one half: no luck is involved in passing.
    assert!(fractions.iter().all(|f| *f < 1.0), "{fractions:?}");
    for quarter in 0..4 {
        let (low, high) = (f64::from(quarter) / 4.0, f64::from(quarter + 1) / 4.0);
        let count = fractions
            .iter()
            .filter(|f| (low..high).contains(*f))
            .count();
        assert!(
            count >= 15,
            "{count} waits in [{low}, {high}): {fractions:?}"
        );
    }
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    assert!((0.4..0.6).contains(&mean), "mean fraction {mean}");
}
