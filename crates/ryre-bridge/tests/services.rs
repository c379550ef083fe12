//! The services through the bridge, over real HTTP: real timer servers ticking on loopback, a
//! real pipeline (collector, workers, client) running batches, the bridge's services watcher
//! node, `GET /api/v1/services/timer`, `GET /api/v1/services/pipeline`, the SSE stream
//! `/api/v1/services/events`, a failover of the ticker, a worker stopped mid-batch, and the
//! errors.

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
    for path in [
        "/api/v1/services/timer",
        "/api/v1/services/pipeline",
        "/api/v1/services/events",
    ] {
        let r = tb.http.get(tb.at(path)).send().await.expect("GET");
        assert_problem(r, 404, "services-disabled").await;
    }
    tb.shutdown().await;
}

fn pipeline_config() -> ryre_pipeline::Config {
    ryre_pipeline::Config {
        window: 16,
        chunk: 8,
        task_timeout: std::time::Duration::from_millis(1000),
        result_timeout: std::time::Duration::from_millis(1500),
        collector_timeout: std::time::Duration::from_millis(1500),
        progress_interval: std::time::Duration::from_millis(100),
        ..ryre_pipeline::Config::cluster("web")
    }
}

/// The cluster `web` of a pipeline view.
fn web(v: &Value) -> Option<Value> {
    v["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["cluster"] == "web")
        .cloned()
}

/// The batch `id` of cluster `web`.
fn batch_of(v: &Value, id: &str) -> Option<Value> {
    web(v)?["batches"]
        .as_array()?
        .iter()
        .find(|b| b["id"] == id)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_from_real_roles_a_batch_to_done_and_a_worker_lost() {
    use ryre_pipeline::{Client, Collector, Worker};
    let port = free_udp_port();
    let tb = TestBridge::start(port, services_config(port)).await;
    let _collector = Collector::start(builder(port, "col"), pipeline_config()).expect("collector");
    let slow = |p: &[u8]| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        Ok(p.to_vec())
    };
    let w1 = Worker::start(builder(port, "w1"), pipeline_config(), slow).expect("w1");
    let w2 = Worker::start(builder(port, "w2"), pipeline_config(), slow).expect("w2");
    let w3 = Worker::start(builder(port, "w3"), pipeline_config(), slow).expect("w3");
    let client = Client::start(builder(port, "cl"), pipeline_config()).expect("client");

    // Every role, from its HELLO headers, reporting since the watcher joined the status group.
    let v = eventually("four reporting roles of cluster web", || async {
        let v = tb.get_json("/api/v1/services/pipeline").await;
        let c = web(&v)?;
        let all = ["clients", "workers", "collectors"]
            .iter()
            .flat_map(|k| c[*k].as_array().cloned().unwrap_or_default())
            .collect::<Vec<_>>();
        (all.len() == 5 && all.iter().all(|n| n["reported"] == true)).then_some(v)
    })
    .await;
    let c = web(&v).expect("web");
    assert_eq!(c["group"], "pipeline/web/status");
    assert_eq!(v["watcher"]["name"], "bridge-services");
    assert_eq!(c["collectors"][0]["name"], "col");
    assert_eq!(c["clients"][0]["name"], "cl");
    let names: Vec<&str> = c["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["w1", "w2", "w3"]);

    // 1500 tasks of 2 ms on three workers: about a second of work.
    let payloads: Vec<ryre::Bytes> = (0..1500).map(|i| format!("t{i}").into()).collect();
    let batch = client.submit(payloads).expect("submit");
    let id = format!("{:016x}", batch.id());
    let results = tokio::task::spawn_blocking(move || batch.count());
    // Mid-batch: a partial progress bar, workers busy.
    let mid = eventually("the batch half way", || async {
        let v = tb.get_json("/api/v1/services/pipeline").await;
        let b = batch_of(&v, &id)?;
        let done = b["done"].as_u64()?;
        (b["state"] == "running" && (300..1200).contains(&done)).then_some(v)
    })
    .await;
    let b = batch_of(&mid, &id).expect("batch");
    assert_eq!(b["total"], 1500);
    assert_eq!(b["client"]["name"], "cl");
    let parts =
        ["done", "at_workers", "at_collector", "pending"].map(|k| b[k].as_u64().expect("a count"));
    assert_eq!(parts.iter().sum::<u64>(), 1500, "{b}");
    assert_eq!(b["in_flight"].as_u64(), Some(parts[1] + parts[2]), "{b}");
    // A worker stops mid-batch (its EXIT): the client deals its tasks again.
    tokio::task::spawn_blocking(move || w3.stop())
        .await
        .expect("stop w3");
    let end = eventually("the batch done", || async {
        let v = tb.get_json("/api/v1/services/pipeline").await;
        (batch_of(&v, &id)?["state"] == "done").then_some(v)
    })
    .await;
    assert_eq!(results.await.expect("results"), 1500);
    let b = batch_of(&end, &id).expect("batch");
    assert_eq!(
        (b["done"].as_u64(), b["pending"].as_u64()),
        (Some(1500), Some(0)),
        "{b}"
    );
    assert_eq!(b["in_flight"], 0);
    assert!(b["elapsed_s"].as_f64().expect("elapsed") > 0.2, "{b}");
    let c = web(&end).expect("web");
    let redealt = c["redealt"].as_u64().expect("redealt");
    assert!(
        redealt > 0,
        "the stopped worker's tasks were dealt again: {c}"
    );
    assert_eq!(c["clients"][0]["redealt"].as_u64(), Some(redealt));
    assert!(b["redealt"].as_u64().expect("batch redealt") > 0, "{b}");
    // The workers: w3 gone; the others did the work and show a throughput.
    let workers = c["workers"].as_array().expect("workers");
    let w = |name: &str| {
        workers
            .iter()
            .find(|w| w["name"] == name)
            .expect(name)
            .clone()
    };
    assert_eq!(w("w3")["gone"], true);
    for name in ["w1", "w2"] {
        let x = w(name);
        assert_eq!(x["gone"], false, "{x}");
        assert!(x["done"].as_u64().expect("done") > 100, "{x}");
    }
    let rates: f64 = ["w1", "w2"]
        .iter()
        .map(|n| w(n)["tasks_per_s"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(
        rates > 20.0,
        "throughput just after the batch: {rates} tasks/s"
    );
    assert_eq!(end["reports"]["malformed"], 0);
    assert_eq!(end["reports"]["unexpected"], 0);

    // ?cluster= picks one; an unknown one is empty; an empty one is a 400.
    let one = tb.get_json("/api/v1/services/pipeline?cluster=web").await;
    assert_eq!(one["clusters"].as_array().map(Vec::len), Some(1));
    let none = tb.get_json("/api/v1/services/pipeline?cluster=nope").await;
    assert_eq!(none["clusters"], serde_json::json!([]));
    let r = tb
        .http
        .get(tb.at("/api/v1/services/pipeline?cluster="))
        .send()
        .await
        .expect("GET");
    let p = assert_problem(r, 400, "bad-request").await;
    assert!(
        p["detail"].as_str().unwrap_or("").contains("?cluster="),
        "{p}"
    );

    // The stream carries `pipeline` snapshots beside the timer ones.
    let r = tb
        .http
        .get(tb.at("/api/v1/services/events?cluster=web"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    let p = sse.expect("pipeline").await;
    assert!(batch_of(&p, &id).is_some(), "{p}");
    assert!(sse.expect("timer").await["rates"].is_array());
    let p2 = sse.expect("pipeline").await;
    assert_eq!(
        web(&p2).expect("web")["workers"].as_array().map(Vec::len),
        Some(3)
    );

    drop((w1, w2, client));
    tb.shutdown().await;
}
