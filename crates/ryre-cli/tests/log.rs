//! Decentralised logging across processes: `ryre log tail` collectors killed with kill -9 and
//! restarted while a publisher (in this process) keeps logging; `ryre log collect` and `emit`
//! end to end; bad arguments. Loopback only, OS-chosen ports, bounded waits.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_udp_port, run, Proc, WAIT};
use ryre::Node;
use ryre_log::{layer_with, PublisherConfig};
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn tail(label: &str, port: u16) -> Proc {
    let port = port.to_string();
    let mut p = Proc::spawn(
        label,
        &[
            "log",
            "tail",
            "--json",
            "--follow",
            "--interface",
            "lo",
            "--port",
            &port,
            "--interval",
            "100",
            "--name",
            label,
        ],
    );
    p.expect_json("ready", |v| v["event"] == "ready");
    p
}

fn next_record(p: &mut Proc) -> Value {
    p.expect_json("a record", |v| v["message"] == "tick")
}

#[test]
fn collector_killed_and_restarted_while_the_publisher_runs() {
    let port = free_udp_port();
    let node = Node::builder()
        .name("publisher")
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
        .evasive_timeout(Duration::from_millis(300))
        .expired_timeout(Duration::from_millis(600))
        .start()
        .expect("node");
    let config = PublisherConfig {
        queue: 4096,
        scan_every: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    let (layer, publisher) = layer_with(&node, config).expect("layer");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU64::new(0));
    let (s2, e2) = (stop.clone(), emitted.clone());
    let emitter = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let mut i = 0u64;
            while !s2.load(Ordering::Relaxed) {
                tracing::info!(i, "tick");
                i += 1;
                e2.store(i, Ordering::Relaxed);
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1)); // pacing, about 20,000/s
                }
            }
        })
    });
    let mut first = tail("tail-1", port);
    let seen = next_record(&mut first)["seq"].as_u64().expect("seq");
    first.child.kill().expect("kill -9 the collector");
    // The publisher keeps going without it: the application never blocks.
    let at_kill = emitted.load(Ordering::Relaxed);
    let deadline = Instant::now() + WAIT;
    while emitted.load(Ordering::Relaxed) < at_kill + 5_000 {
        assert!(Instant::now() < deadline, "the publisher stalled");
        std::thread::yield_now();
    }
    let mut second = tail("tail-2", port);
    let rec = next_record(&mut second);
    assert!(
        rec["seq"].as_u64().expect("seq") > seen,
        "new records: {rec}"
    );
    assert_eq!(rec["name"], "publisher");
    // The dead collector is forgotten (at once through the machine's agent, or when its node
    // expires); the live one stays.
    let deadline = Instant::now() + WAIT;
    while publisher.stats().collectors != 1 {
        assert!(Instant::now() < deadline, "{:?}", publisher.stats());
        next_record(&mut second);
    }
    stop.store(true, Ordering::Relaxed);
    emitter.join().expect("emitter");
    let s = publisher.stats();
    // Memory stays bounded: at most the queue is waiting; the rest was sent or dropped.
    assert!(s.queued - s.published - s.dropped <= 4096, "{s:?}");
    assert!(s.published > 0 && s.dropped == 0, "{s:?}");
}

#[test]
fn collect_writes_what_emit_publishes() {
    let port = free_udp_port();
    let p = port.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path").to_string();
    let net = ["--interface", "lo", "--port", &p, "--interval", "100"];
    let mut args = vec![
        "log", "collect", "--json", "--level", "warn", "--dir", &d, "--memory", "10",
    ];
    args.extend_from_slice(&net);
    let mut col = Proc::spawn("collect", &args);
    col.expect_json("ready", |v| v["event"] == "ready");
    // Emit until the collector has records (records before it is seen are not kept).
    let deadline = Instant::now() + WAIT;
    loop {
        let mut a = vec![
            "log", "emit", "--level", "warn", "--rate", "500", "--count", "200",
        ];
        a.extend_from_slice(&net);
        let (status, _, err) = run(&a);
        assert!(status.success(), "{err}");
        let lines = std::fs::read_to_string(dir.path().join("ryre-log.jsonl")).unwrap_or_default();
        if lines.lines().count() >= 10 {
            for l in lines.lines() {
                let v: Value = serde_json::from_str(l).expect("JSON line");
                assert_eq!(v["level"], "WARN");
                assert_eq!(v["message"], "hello from ryre log emit");
            }
            break;
        }
        assert!(Instant::now() < deadline, "nothing collected");
    }
    col.terminate();
    assert!(col.finish().success());
    let summary = col
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("summary");
    assert!(
        summary["written"].as_u64().is_some_and(|n| n >= 10),
        "{summary}"
    );
    assert_eq!(summary["memory"].as_array().map(Vec::len), Some(10));
}

#[test]
fn bad_log_arguments_exit_2() {
    for args in [
        &["log", "collect"][..],
        &["log", "collect", "--memory", "5", "--rotate-size", "1MiB"],
        &["log", "collect", "--dir", "/tmp/x", "--rotate-size", "0"],
        &[
            "log",
            "collect",
            "--dir",
            "/tmp/x",
            "--rotate-every",
            "soon",
        ],
        &["log", "tail", "--level", "loud"],
        &["log", "tail", "--node", "not-an-id"],
        &["log", "emit", "--rate", "0"],
    ] {
        let (status, _, stderr) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[test]
fn bench_log_reports_rate_and_layer_cost() {
    let (status, out, err) = run(&[
        "bench", "log", "--count", "20000", "--events", "100000", "--rounds", "1", "--json",
    ]);
    assert!(status.success(), "{out}\n{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert!(v["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{v}");
    assert!(
        v["layer_ns_per_event"].as_f64().is_some_and(|r| r > 0.0),
        "{v}"
    );
    assert!(
        v["noop_ns_per_event"].as_f64().is_some_and(|r| r >= 0.0),
        "{v}"
    );
}
