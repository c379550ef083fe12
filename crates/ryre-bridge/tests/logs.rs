//! The mesh's logs through the bridge, over real HTTP: a real publisher node with the `ryre_log`
//! layer (installed on the emitting thread with `with_default`), the bridge's own collector
//! node, `GET /api/v1/logs` and the SSE stream `/api/v1/logs/events`, and their errors.

mod common;

use std::time::Duration;

use common::*;
use ryre::Node;
use ryre_bridge::{BridgeConfig, LogsConfig};
use ryre_log::{layer_with, Level, LogPublisher, PublisherConfig};
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// A bridge hosting a collector of `level` and above, with a ring of `memory` records.
fn logs_config(port: u16, level: Level, memory: usize) -> BridgeConfig {
    BridgeConfig {
        logs: Some(LogsConfig {
            level,
            memory,
            ..LogsConfig::new(builder(port, "unused"))
        }),
        ..BridgeConfig::default()
    }
}

/// A publisher node and a subscriber with only its log layer.
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

/// The records of a `GET /api/v1/logs...` answer.
async fn records(tb: &TestBridge, query: &str) -> Vec<Value> {
    let v = tb.get_json(&format!("/api/v1/logs{query}")).await;
    v["records"].as_array().expect("records").clone()
}

/// Emits probes until the bridge's collector has one (the publisher has found it).
async fn wait_connected(tb: &TestBridge, dispatch: &tracing::Dispatch) {
    eventually("the publisher to reach the bridge's collector", || async {
        tracing::dispatcher::with_default(dispatch, || tracing::error!("probe"));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let r = records(tb, "?n=1").await;
        (!r.is_empty()).then_some(())
    })
    .await;
}

/// The count of `level` for `node` in one rate object.
fn count_of(rate: &Value, node: ryre::PeerId, level: &str) -> u64 {
    rate["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["node"] == node.to_string())
        .map(|n| n["counts"][level].as_u64().unwrap_or(0))
        .sum()
}

fn messages(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["message"].as_str())
        .filter(|m| *m != "probe")
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_rates_from_a_real_publisher() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, logs_config(port, Level::Info, 1000)).await;
    let collector = tb.bridge.log_collector().expect("a collector");
    let (node, dispatch, publisher) = publisher(port, "pub-a");
    wait_connected(&tb, &dispatch).await;

    // The live stream, from before the batch: WARN and above only.
    let r = tb
        .http
        .get(tb.at("/api/v1/logs/events?level=warn"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    let ready = sse.expect("ready").await;
    assert_eq!(ready["uuid"], collector.to_string());
    assert_eq!(ready["name"], "bridge-logs");
    assert_eq!(ready["level"], "INFO");

    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..5 {
            tracing::error!(i, "e{i}");
            tracing::warn!(i, "w{i}");
            tracing::info!(i, "i{i}");
            tracing::debug!(i, "d{i}"); // below the collector's level: never sent
        }
    });

    // The stream: exactly the 10 ERROR and WARN records, in order, and rate events.
    let mut got = Vec::new();
    let mut warn_rate = 0u64;
    while got.len() < 10 {
        let (event, v) = sse.next().await.expect("the stream goes on");
        match event.as_str() {
            "record" => {
                let m = v["message"].as_str().expect("message").to_string();
                if m != "probe" {
                    assert!(v["level"] == "ERROR" || v["level"] == "WARN", "{v}");
                    assert_eq!(v["name"], "pub-a");
                    assert_eq!(v["node"], node.uuid().to_string());
                    got.push(m);
                }
            }
            "rate" => warn_rate += count_of(&v, node.uuid(), "WARN"),
            other => panic!("unexpected event {other}: {v}"),
        }
    }
    let want: Vec<String> = (0..5)
        .flat_map(|i| [format!("e{i}"), format!("w{i}")])
        .collect();
    assert_eq!(got, want);
    // The second that counted the batch ends: its rate event counts the 5 WARN records.
    while warn_rate < 5 {
        let (event, v) = sse.next().await.expect("the stream goes on");
        if event == "rate" {
            warn_rate += count_of(&v, node.uuid(), "WARN");
        }
    }
    assert_eq!(warn_rate, 5);

    // The ring: every INFO and above record, oldest first, no DEBUG.
    let all = records(&tb, "?n=1000").await;
    let want: Vec<String> = (0..5)
        .flat_map(|i| [format!("e{i}"), format!("w{i}"), format!("i{i}")])
        .collect();
    assert_eq!(messages(&all), want);
    let last = all.last().expect("a record");
    assert_eq!(last["fields"]["i"], "4");
    assert_eq!(last["level"], "INFO");
    // ?n= keeps the newest; ?level= and ?node= filter before counting.
    assert_eq!(messages(&records(&tb, "?n=2").await), ["w4", "i4"]);
    assert_eq!(
        messages(&records(&tb, "?n=2&level=error").await),
        ["e3", "e4"]
    );
    let warn = records(&tb, "?level=WARN").await;
    assert_eq!(messages(&warn).len(), 10);
    assert_eq!(records(&tb, "?node=pub-a").await.len(), all.len());
    assert_eq!(
        records(&tb, &format!("?node={}", node.uuid())).await.len(),
        all.len()
    );
    assert!(records(&tb, "?node=nobody").await.is_empty());
    assert!(records(&tb, &format!("?node={collector}")).await.is_empty());

    // The document names the collector, and the rates of the last minutes count the batch
    // (once the second of its last record has ended).
    let v = tb.get_json("/api/v1/logs?n=1").await;
    assert_eq!(v["collector"]["uuid"], collector.to_string());
    assert_eq!(v["collector"]["memory"], 1000);
    assert!(v["stats"]["received"].as_u64().expect("received") >= 15);
    let counted = eventually("the INFO records in the rates", || async {
        let v = tb.get_json("/api/v1/logs?n=1").await;
        let n: u64 = v["rates"]
            .as_array()?
            .iter()
            .map(|s| count_of(s, node.uuid(), "INFO"))
            .sum();
        (n >= 5).then_some(n)
    })
    .await;
    assert_eq!(counted, 5);

    // Stopping the bridge ends the stream with a reason.
    tb.bridge.stop().await;
    loop {
        match sse.next().await {
            Some((e, v)) if e == "close" => {
                assert_eq!(v["reason"], "stopped");
                break;
            }
            Some(_) => {}
            None => panic!("the stream ended without a close event"),
        }
    }
    publisher.stop();
    node.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ring_keeps_the_newest() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, logs_config(port, Level::Warn, 20)).await;
    let (node, dispatch, publisher) = publisher(port, "pub-b");
    wait_connected(&tb, &dispatch).await;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..100 {
            tracing::warn!("r{i}");
            tracing::info!("not collected {i}");
        }
    });
    let want: Vec<String> = (80..100).map(|i| format!("r{i}")).collect();
    eventually("the newest 20 records in the ring", || async {
        (messages(&records(&tb, "?n=100").await) == want).then_some(())
    })
    .await;
    publisher.stop();
    node.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_route_errors_are_problem_json() {
    // Logs off: 404 on both routes.
    let tb = TestBridge::start(free_udp_port(), BridgeConfig::default()).await;
    assert!(tb.bridge.log_collector().is_none());
    for path in ["/api/v1/logs", "/api/v1/logs/events", "/api/v1/logs?n=0"] {
        let v = assert_problem(
            tb.http.get(tb.at(path)).send().await.expect("GET"),
            404,
            "logs-disabled",
        )
        .await;
        assert!(v["detail"].as_str().expect("detail").contains("no log"));
    }
    tb.shutdown().await;

    let port = free_udp_port();
    let config = BridgeConfig {
        token: Some("k3y".into()),
        ..logs_config(port, Level::Info, 10)
    };
    let tb = TestBridge::start(port, config).await;
    let h = &tb.http;
    // 401 without the token, on both routes; the token works in the header and the query.
    for path in ["/api/v1/logs", "/api/v1/logs/events"] {
        assert_problem(
            h.get(tb.at(path)).send().await.expect("GET"),
            401,
            "unauthorized",
        )
        .await;
    }
    let r = h
        .get(tb.at("/api/v1/logs"))
        .bearer_auth("k3y")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let r = h
        .get(tb.at("/api/v1/logs/events?level=error&access_token=k3y"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    drop(sse);
    // 400: bad n, level and node values, on both routes (n only on GET /api/v1/logs).
    for q in [
        "n=0",
        "n=-3",
        "n=many",
        "n=100001",
        "level=loud",
        "level=",
        "node=",
        "n=5&level=nope",
    ] {
        let v = assert_problem(
            h.get(tb.at(&format!("/api/v1/logs?{q}&access_token=k3y")))
                .send()
                .await
                .expect("GET"),
            400,
            "bad-request",
        )
        .await;
        assert!(v["detail"].is_string(), "{q}");
    }
    for q in [
        "level=loud",
        "node=",
        "n=5",
        &format!("node={}", "n".repeat(300)),
    ] {
        assert_problem(
            h.get(tb.at(&format!("/api/v1/logs/events?{q}&access_token=k3y")))
                .send()
                .await
                .expect("GET"),
            400,
            "bad-request",
        )
        .await;
    }
    // 503 once the bridge stops.
    tb.bridge.stop().await;
    for path in ["/api/v1/logs", "/api/v1/logs/events"] {
        assert_problem(
            h.get(tb.at(path))
                .bearer_auth("k3y")
                .send()
                .await
                .expect("GET"),
            503,
            "stopping",
        )
        .await;
    }
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_client_is_dropped_with_lagged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BUFFER: usize = 64;
    const RECORDS: u64 = 20_000;
    let port = free_udp_port();
    let config = BridgeConfig {
        client_buffer: BUFFER,
        ..logs_config(port, Level::Info, 100)
    };
    let tb = TestBridge::start(port, config).await;
    let (node, dispatch, publisher) = publisher(port, "flood");
    wait_connected(&tb, &dispatch).await;

    // A raw client: sends the request, reads the head, then reads nothing for a while.
    let mut slow = tokio::net::TcpStream::connect(tb.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /api/v1/logs/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(WAIT, slow.read(&mut head))
        .await
        .expect("head within the wait")
        .expect("read");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));

    let before = tb.get_json("/api/v1/logs?n=1").await["stats"]["received"]
        .as_u64()
        .expect("received");
    let big = "x".repeat(1024);
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..RECORDS {
            tracing::info!(i, "{big}");
        }
    });
    // The collector takes every record while the client is stuck: it never waits for it.
    eventually("the collector to take every record", || async {
        let v = tb.get_json("/api/v1/logs?n=1").await;
        (v["stats"]["received"].as_u64()? >= before + RECORDS).then_some(())
    })
    .await;

    // Now read everything: some records, then `close` with reason `lagged`, then the end.
    let (text, close) = read_until_closed(&mut slow, "stalled client").await;
    let got = text.matches("event: record").count() as u64;
    assert!(got < RECORDS, "the stalled client got only part: {got}");
    assert_eq!(close["reason"], "lagged");
    assert!(close["detail"]
        .as_str()
        .expect("detail")
        .contains(&format!("buffer of {BUFFER}")));
    // The ring kept the newest.
    let last = records(&tb, "?n=1").await;
    assert_eq!(last[0]["fields"]["i"], (RECORDS - 1).to_string());
    publisher.stop();
    node.stop().expect("stop");
    tb.shutdown().await;
}
