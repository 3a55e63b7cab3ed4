//! The entry point of the `validate_header` fuzz target in `fuzz/` and of the replay of its
//! corpus in `tests/fuzz.rs`. Not an API: it validates arbitrary bytes as an upload, through
//! [`handle`](crate::handle) and an in-memory object, and panics when an invariant breaks.

use crate::{handle, sniff_format, Limits};
use spotlight_core::contracts::ObjectRequest;
use spotlight_core::ports::{ObjectHead, ObjectReader, ReadError};
use std::future::Future;
use std::ops::Range;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// One object held in memory, remembering the ranges read.
struct Upload<'a> {
    bytes: &'a [u8],
    reads: Mutex<Vec<Range<u64>>>,
}

impl ObjectReader for Upload<'_> {
    async fn head(&self, _: &str, _: &str) -> Result<ObjectHead, ReadError> {
        Ok(ObjectHead {
            size: self.bytes.len() as u64,
            etag: Some("\"fuzz\"".into()),
            version_id: None,
            last_modified: None,
        })
    }

    async fn read_range(&self, _: &str, _: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        if let Ok(mut reads) = self.reads.lock() {
            reads.push(range.clone());
        }
        let len = self.bytes.len() as u64;
        let start = range.start.min(len);
        let end = range.end.min(len).max(start);
        let (start, end) = (start as usize, end as usize);
        Ok(self.bytes[start..end].to_vec())
    }
}

/// Polls a future that never waits (the object is in memory) to its end.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("validation waited on an object held in memory"),
    }
}

/// Validates `data` as an upload named `upload.jpg`.
pub fn header(data: &[u8]) {
    let upload = Upload {
        bytes: data,
        reads: Mutex::new(Vec::new()),
    };
    let limits = Limits::default();
    let result = ready(handle(
        &ObjectRequest::new("fuzz", "upload.jpg"),
        &upload,
        &limits,
    ));
    let reads = upload.reads.into_inner().unwrap_or_default();
    for range in &reads {
        assert!(range.start <= range.end, "a reversed range {range:?}");
    }
    // A handful of header reads and the tail: never a loop over the file.
    assert!(reads.len() <= 64, "{} reads", reads.len());
    match result {
        Ok(facts) => {
            assert!(sniff_format(data).is_ok_and(|format| format == facts.format));
            assert_eq!(facts.size_bytes, data.len() as u64);
            let (short, long) = (facts.width.min(facts.height), facts.width.max(facts.height));
            assert!(
                short >= limits.min_side && long <= limits.max_side,
                "{facts:?}"
            );
        }
        // An object in memory is always readable: whatever is wrong is the upload's fault.
        Err(error) => {
            assert!(error.name().is_rejection(), "{error:?}");
            assert!(!error.to_string().is_empty());
        }
    }
}
