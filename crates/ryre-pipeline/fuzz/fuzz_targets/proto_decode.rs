//! `proto::Msg::decode` on raw frames: never panics; what decodes re-encodes to exactly the same
//! bytes (the encoding is canonical: no trailing bytes, no alternative forms). A STATUS that
//! decodes keeps its promises (counts within the batch's total, batches only in a client's),
//! and every frame, status or not, is also shouted at a `watch::Watch` that knows a node of
//! each role: it never panics, and its view stays within its bounds.
#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre::PeerId;
use ryre_pipeline::proto::{Msg, MAX_STATUS_BATCHES};
use ryre_pipeline::watch::{BatchState, Watch, KEEP_ENDED};
use ryre_pipeline::{status_group, Role, CLUSTER_HEADER, ROLE_HEADER};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let decoded = Msg::decode(&frame);
    if let Ok(msg) = &decoded {
        let again = msg.encode();
        assert_eq!(again, frame, "a decoded message re-encodes to its frame");
        assert_eq!(Msg::decode(&again).as_ref(), Ok(msg));
    }
    if let Ok(Msg::Status(s)) = &decoded {
        assert!(s.batches.len() <= MAX_STATUS_BATCHES);
        assert!(s.role == Role::Client || s.batches.is_empty());
        for b in &s.batches {
            assert_eq!(b.done + b.at_workers + b.at_collector + b.pending(), b.total);
        }
    }
    // The same frame from a client, a worker and a collector of cluster "f", twice, a second
    // apart, then the client leaves.
    let mut w = Watch::new();
    let group = status_group("f");
    let mut now = 1_000_000_000u64;
    for (i, role) in [Role::Client, Role::Worker, Role::Collector].into_iter().enumerate() {
        let mut h = BTreeMap::new();
        h.insert(ROLE_HEADER.to_string(), role.as_str().to_string());
        h.insert(CLUSTER_HEADER.to_string(), "f".to_string());
        w.enter(now, PeerId::from_bytes([i as u8 + 1; 16]), role.as_str(), &h);
    }
    for _ in 0..2 {
        for i in 1..=3u8 {
            w.shout(now, PeerId::from_bytes([i; 16]), &group, std::slice::from_ref(&frame));
        }
        now += 1_000_000_000;
    }
    w.exit(now, PeerId::from_bytes([1; 16]));
    let counts = w.counts();
    assert_eq!(counts.statuses + counts.malformed + counts.unexpected, 6);
    for c in w.view(now) {
        assert!(c.tasks_per_s.is_finite() && c.tasks_per_s >= 0.0);
        let ended = c.batches.iter().filter(|b| b.state != BatchState::Running).count();
        assert!(ended <= KEEP_ENDED);
        for b in &c.batches {
            // The client left: nothing of it runs on.
            assert_ne!(b.state, BatchState::Running);
            assert!(b.status.done + b.status.at_workers + b.status.at_collector <= b.status.total);
        }
    }
});
