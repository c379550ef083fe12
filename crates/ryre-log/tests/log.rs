//! Publishers and collectors in one process over loopback: level filters applied at the
//! publisher, rotation under load, and garbage on a collector's socket. Each publisher emits
//! through its own `tracing` subscriber on its own thread. Every wait is bounded.

use std::time::{Duration, Instant};

use ryre::{Node, NodeBuilder};
use ryre_log::{
    layer_with, Collector, CollectorConfig, FileConfig, Level, LogPublisher, LogRecord,
    PublisherConfig,
};
use ryre_testkit::free_udp_port;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

fn builder(port: u16, name: &str) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
}

fn collector(port: u16, name: &str, config: CollectorConfig) -> Collector {
    let config = CollectorConfig {
        interface: Some("lo".into()),
        ..config
    };
    Collector::start(builder(port, name), config).expect("start a collector")
}

/// Polls `cond` until it holds, failing with `what` after [`WAIT`].
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "no {what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A publisher node and a subscriber with only its log layer, for one thread's `with_default`.
fn publisher(port: u16, name: &str) -> (Node, tracing::Dispatch, LogPublisher) {
    let node = builder(port, name).start().expect("publisher node");
    let config = PublisherConfig {
        scan_every: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    let (layer, publisher) = layer_with(&node, config).expect("layer");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    (node, dispatch, publisher)
}

fn emit_every_level(dispatch: &tracing::Dispatch, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            tracing::error!(i, "e");
            tracing::warn!(i, "w");
            tracing::info!(i, "i");
            tracing::debug!(i, "d");
            tracing::trace!(i, "t");
        }
    });
}

#[test]
fn each_collector_gets_exactly_what_it_asked_for_filtered_at_the_publisher() {
    let port = free_udp_port();
    let (n1, d1, p1) = publisher(port, "pub-1");
    let (_n2, d2, p2) = publisher(port, "pub-2");
    let warn_all = collector(
        port,
        "warn-all",
        CollectorConfig {
            level: Level::Warn,
            memory: 10_000,
            ..CollectorConfig::default()
        },
    );
    let debug_one = collector(
        port,
        "debug-one",
        CollectorConfig {
            level: Level::Debug,
            node: Some(n1.uuid()),
            memory: 10_000,
            ..CollectorConfig::default()
        },
    );
    // Subscriptions reach the publishers: pub-1 is asked down to DEBUG, pub-2 only to WARN.
    wait_for("subscriptions", || {
        let (s1, s2) = (p1.stats(), p2.stats());
        s1.collectors == 2
            && s2.collectors == 2
            && s1.wanted == Some(Level::Debug)
            && s2.wanted == Some(Level::Warn)
    });
    emit_every_level(&d1, 100);
    emit_every_level(&d2, 100);
    // Records nobody asked for were never even formatted, let alone sent.
    assert_eq!(p1.stats().queued, 400, "pub-1: ERROR..DEBUG");
    assert_eq!(p2.stats().queued, 200, "pub-2: ERROR and WARN");
    wait_for("every record", || {
        warn_all.stats().received >= 400 && debug_one.stats().received >= 400
    });
    wait_for("all published", || {
        p1.stats().published == 400 && p2.stats().published == 200
    });
    let levels = |c: &Collector| {
        let mut per = [0usize; 6];
        for r in c.recent(10_000) {
            per[r.level as usize] += 1;
        }
        per
    };
    assert_eq!(levels(&warn_all), [0, 200, 200, 0, 0, 0]);
    assert_eq!(levels(&debug_one), [0, 100, 100, 100, 100, 0]);
    assert!(debug_one.recent(10_000).iter().all(|r| r.node == n1.uuid()));
    for c in [&warn_all, &debug_one] {
        let s = c.stats();
        assert_eq!((s.received, s.malformed, s.missed), (400, 0, 0), "{s:?}");
    }
    let r = &debug_one.recent(1)[0];
    assert_eq!((r.name.as_str(), r.target.as_str()), ("pub-1", "log"));
    assert_eq!(r.fields, vec![("i".to_string(), "99".to_string())]);
}

#[test]
fn a_million_records_rotate_into_whole_contiguous_files() {
    const N: u64 = 1_000_000;
    let port = free_udp_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = FileConfig::new(dir.path());
    files.rotate_size = Some(1 << 20);
    files.keep_files = Some(5);
    let col = collector(
        port,
        "disk",
        CollectorConfig {
            files: Some(files),
            ..CollectorConfig::default()
        },
    );
    let (_node, dispatch, publ) = publisher(port, "loud");
    wait_for("the collector", || publ.stats().wanted == Some(Level::Info));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..N {
            tracing::info!(i, "record");
            // Stay within the queue: the layer drops (and counts) rather than block.
            if i % 10_000 == 0 {
                wait_for("the publisher to catch up", || {
                    publ.stats().published + 20_000 > i
                });
            }
        }
    });
    wait_for("every record on disk", || col.stats().written == N);
    let s = publ.stats();
    assert_eq!((s.published, s.dropped), (N, 0));
    let stats = col.stats();
    col.stop().expect("stop");
    assert_eq!(stats.missed, 0);
    let mut paths: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let active = dir.path().join("ryre-log.jsonl");
    assert!(paths.contains(&active));
    paths.retain(|p| *p != active);
    assert_eq!(paths.len(), 5, "retention keeps 5 rotated files: {paths:?}");
    assert!(
        stats.rotations > 5 && stats.removed_files == stats.rotations - 5,
        "{stats:?}"
    );
    paths.push(active);
    let mut expected = None;
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read");
        assert!(
            text.len() as u64 <= 1 << 20,
            "{p:?} is over the rotation size"
        );
        assert!(text.ends_with('\n'), "{p:?} ends with a whole line");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a whole JSON record");
            let seq = v["seq"].as_u64().expect("seq");
            if let Some(e) = expected {
                assert_eq!(seq, e, "contiguous across files ({p:?})");
            }
            expected = Some(seq + 1);
        }
    }
    assert_eq!(expected, Some(N), "the newest record is the last one sent");
}

#[test]
fn garbage_on_the_collector_socket_is_counted_never_fatal() {
    let port = free_udp_port();
    let col = collector(
        port,
        "target",
        CollectorConfig {
            level: Level::Trace,
            memory: 100,
            ..CollectorConfig::default()
        },
    );
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUB).expect("PUB");
    raw.connect(col.endpoint()).expect("connect");
    let node = ryre::PeerId::from_bytes([0xCD; 16]);
    let good = LogRecord {
        seq: 0,
        time: 1,
        level: Level::Info,
        node,
        name: "raw".into(),
        target: "x".into(),
        message: "ok".into(),
        fields: vec![],
        spans: vec![],
    };
    let frame = good.encode().expect("encode").to_vec();
    let mut bad_utf8 = good.clone();
    bad_utf8.seq = 1;
    bad_utf8.message = "ab".into();
    let mut bad_utf8 = bad_utf8.encode().expect("encode").to_vec();
    let at = bad_utf8.len() - 5; // the message's bytes, before the empty field and span counts
    bad_utf8[at] = 0xFF;
    // Keep sending until the SUB is connected and subscribed (slow joiner), then the garbage.
    wait_for("the first good record", || {
        raw.send(&good.topic()[..], zmq::SNDMORE).expect("send");
        raw.send(&frame[..], 0).expect("send");
        col.stats().received > 0
    });
    let before = col.stats();
    raw.send("1garbage", 0).expect("one frame only");
    raw.send("1x", zmq::SNDMORE).expect("send");
    raw.send("not a record", 0).expect("send");
    raw.send(&good.topic()[..], zmq::SNDMORE).expect("send");
    raw.send(&frame[..frame.len() - 3], 0).expect("truncated");
    let mut other = good.topic();
    other[0] = b'1'; // a topic that lies about the level
    raw.send(&other[..], zmq::SNDMORE).expect("send");
    raw.send(&frame[..], 0).expect("send");
    raw.send(&good.topic()[..], zmq::SNDMORE).expect("send");
    raw.send(&bad_utf8[..], 0).expect("send");
    // Oversized: ZeroMQ drops the connection; the collector goes on (a new PUB gets through).
    let huge = vec![b'1'; 2 * ryre_log::proto::MAX_RECORD];
    raw.send(&huge[..], 0).expect("send");
    wait_for("counts", || {
        let s = col.stats();
        s.malformed >= before.malformed + 4 && s.repaired_utf8 == 1
    });
    let raw2 = ctx.socket(zmq::PUB).expect("PUB");
    raw2.connect(col.endpoint()).expect("connect");
    let mut last = good.clone();
    last.seq = 2;
    last.message = "still here".into();
    let last_frame = last.encode().expect("encode");
    wait_for("a record after the garbage", || {
        raw2.send(&last.topic()[..], zmq::SNDMORE).expect("send");
        raw2.send(&last_frame[..], 0).expect("send");
        col.recent(100).iter().any(|r| r.message == "still here")
    });
    assert!(col.recent(100).iter().any(|r| r.message == "\u{FFFD}b"));
}

#[test]
fn records_published_without_tracing_reach_a_collector_with_their_target() {
    let port = free_udp_port();
    let node = builder(port, "bound").start().expect("publisher node");
    let config = PublisherConfig {
        scan_every: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    let (layer, publisher) = layer_with(&node, config).expect("layer");
    // No collector yet: nothing is wanted, nothing is queued.
    assert!(!layer.enabled(Level::Error));
    assert!(!layer.publish(Level::Error, "app", "lost".into(), Vec::new()));
    let c = collector(
        port,
        "info",
        CollectorConfig {
            level: Level::Info,
            memory: 100,
            ..CollectorConfig::default()
        },
    );
    wait_for("the subscription", || {
        publisher.stats().wanted == Some(Level::Info)
    });
    assert!(layer.enabled(Level::Info) && !layer.enabled(Level::Debug));
    assert!(!layer.publish(Level::Debug, "app", "unwanted".into(), Vec::new()));
    let fields = vec![("lineno".to_string(), "7".to_string())];
    assert!(layer.publish(Level::Warn, "app.db", "slow query".into(), fields.clone()));
    wait_for("the record", || c.stats().received >= 1);
    let r = &c.recent(10)[..];
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].level, Level::Warn);
    assert_eq!(
        (r[0].target.as_str(), r[0].message.as_str()),
        ("app.db", "slow query")
    );
    assert_eq!((r[0].name.as_str(), r[0].node), ("bound", node.uuid()));
    assert_eq!(r[0].fields, fields);
    assert_eq!(publisher.stats().queued, 1);
}

#[test]
fn a_collector_and_publishers_over_ipv6_loopback() {
    if ryre::Interface6::find(Some("lo")).is_err() {
        eprintln!("SKIP: no ::1 here");
        return;
    }
    let port = free_udp_port();
    // Loopback takes no IPv6 multicast: the nodes meet through the device rendezvous only.
    let v6 = |name: &str| {
        builder(port, name)
            .ipv6(true)
            .discovery(ryre::Discovery::Local)
    };
    let col = Collector::start(
        v6("col6"),
        CollectorConfig {
            interface: Some("lo".into()),
            ipv6: true,
            memory: 1000,
            ..CollectorConfig::default()
        },
    )
    .expect("an IPv6 collector");
    assert!(
        col.endpoint().starts_with("tcp://[::1]:"),
        "{}",
        col.endpoint()
    );
    assert!(col.node().endpoint().starts_with("tcp://[::1]:"));
    let node = v6("pub6").start().expect("an IPv6 publisher node");
    let config = PublisherConfig {
        scan_every: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    let (layer, publisher) = layer_with(&node, config).expect("layer");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    wait_for("the IPv6 collector's subscription", || {
        let s = publisher.stats();
        s.collectors == 1 && s.wanted == Some(Level::Info)
    });
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..50 {
            tracing::info!(i, "over v6");
        }
    });
    wait_for("50 records over IPv6", || col.stats().received >= 50);
    let recs = col.recent(100);
    assert!(recs.iter().all(|r| r.message == "over v6"), "{recs:?}");
}
