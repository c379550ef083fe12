//! The services through the bridge, over real HTTP: real timer servers ticking on loopback, the
//! bridge's services watcher node, `GET /api/v1/services/timer`, the SSE stream
//! `/api/v1/services/events`, a failover of the ticker, and the errors.

mod common;

use common::*;
use ryre_bridge::BridgeConfig;
use ryre_timer::{TimerConfig, TimerServer};
use serde_json::Value;

fn services_config(port: u16) -> BridgeConfig {
    BridgeConfig {
        services: Some(builder(port, "unused")),
        ..BridgeConfig::default()
    }
}

fn timer(port: u16, name: &str, rates: &[u16]) -> TimerServer {
    TimerServer::start(
        builder(port, name),
        TimerConfig {
            rates: rates.to_vec(),
            wakeups: false,
            ..TimerConfig::default()
        },
    )
    .expect("timer server")
}

/// The rate object of `rate` in a timer view.
fn rate_of(v: &Value, rate: u16) -> Option<Value> {
    v["rates"]
        .as_array()?
        .iter()
        .find(|r| r["rate"] == rate)
        .cloned()
}

/// Waits until `rate` is ticked by `name` with at least `ticks` ticks received.
async fn wait_ticked(tb: &TestBridge, rate: u16, name: &str, ticks: u64) -> Value {
    eventually(
        &format!("{name} to tick {rate} Hz to the bridge"),
        || async {
            let v = tb.get_json("/api/v1/services/timer").await;
            let r = rate_of(&v, rate)?;
            (r["ticker"]["name"] == name && r["ticks"]["received"].as_u64()? >= ticks).then_some(v)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_service_from_a_real_timer_server() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, services_config(port)).await;
    let watcher = tb.bridge.services_watcher().expect("a watcher");
    let server = timer(port, "ticker", &[10, 50]);
    let v = wait_ticked(&tb, 50, "ticker", 20).await;
    assert_eq!(v["watcher"]["uuid"], watcher.to_string());
    assert_eq!(v["watcher"]["name"], "bridge-services");
    // The timer node, from its HELLO header, with its rates.
    let nodes = v["nodes"].as_array().expect("nodes");
    let me = nodes
        .iter()
        .find(|n| n["uuid"] == server.node().uuid().to_string())
        .expect("the timer node is listed");
    assert_eq!(me["name"], "ticker");
    assert_eq!(me["rates"], serde_json::json!([10, 50]));
    let r = rate_of(&v, 50).expect("50 Hz");
    assert_eq!(r["group"], "tick/50hz");
    assert_eq!(r["ticker"]["uuid"], server.node().uuid().to_string());
    // Every received tick is in the lateness histogram, once.
    let received = r["ticks"]["received"].as_u64().expect("received");
    let hist = r["lateness"]["histogram"].as_array().expect("histogram");
    let in_hist: u64 = hist.iter().filter_map(|b| b["count"].as_u64()).sum();
    assert_eq!(in_hist, r["lateness"]["count"].as_u64().expect("count"));
    assert_eq!(in_hist, received);
    assert!(hist.last().expect("overflow bucket")["le_us"].is_null());
    assert!(r["last"]["n"].as_u64().is_some());
    assert_eq!(r["ticks"]["malformed"], 0);
    // Measured over the last second: 50 Hz, give or take the scheduling of a busy machine.
    let hz = r["measured_hz"].as_u64().expect("measured");
    assert!((20..=60).contains(&hz), "measured {hz} Hz at 50 Hz");

    // ?rate= picks one rate; a bad one is a clear 400.
    let one = tb.get_json("/api/v1/services/timer?rate=10").await;
    assert_eq!(one["rates"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["rates"][0]["rate"], 10);
    for bad in ["0", "1001", "ten", ""] {
        let r = tb
            .http
            .get(tb.at(&format!("/api/v1/services/timer?rate={bad}")))
            .send()
            .await
            .expect("GET");
        let p = assert_problem(r, 400, "bad-request").await;
        assert!(p["detail"].as_str().unwrap_or("").contains("?rate="), "{p}");
    }
    let r = tb
        .http
        .get(tb.at("/api/v1/services/events?rate=x"))
        .send()
        .await
        .expect("GET");
    assert_problem(r, 400, "bad-request").await;

    // The stream: ready, then snapshots whose counts move.
    let r = tb
        .http
        .get(tb.at("/api/v1/services/events"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    let ready = sse.expect("ready").await;
    assert_eq!(ready["type"], "READY");
    assert_eq!(ready["uuid"], watcher.to_string());
    let first = sse.expect("timer").await;
    let second = sse.expect("timer").await;
    let got = |v: &Value| rate_of(v, 10).and_then(|r| r["ticks"]["received"].as_u64());
    assert!(
        got(&second) > got(&first),
        "ticks move: {:?} then {:?}",
        got(&first),
        got(&second)
    );

    // A second timer node; the first stops: the second ticks on, and both are listed as
    // having ticked that rate.
    let standby = timer(port, "standby", &[10, 50]);
    eventually("the bridge to list the standby timer", || async {
        let v = tb.get_json("/api/v1/services/timer").await;
        (v["nodes"].as_array()?.len() == 2).then_some(())
    })
    .await;
    server.stop().expect("stop the first timer");
    let v = wait_ticked(&tb, 50, "standby", 1).await;
    let r = rate_of(&v, 50).expect("50 Hz");
    let tickers: Vec<&str> = r["tickers"]
        .as_array()
        .expect("tickers")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tickers.contains(&"ticker") && tickers.contains(&"standby"),
        "{tickers:?}"
    );
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(1));
    standby.stop().expect("stop the standby");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_watcher_the_service_routes_are_404() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    assert!(tb.bridge.services_watcher().is_none());
    for path in ["/api/v1/services/timer", "/api/v1/services/events"] {
        let r = tb.http.get(tb.at(path)).send().await.expect("GET");
        assert_problem(r, 404, "services-disabled").await;
    }
    tb.shutdown().await;
}
