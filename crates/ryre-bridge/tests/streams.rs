//! The live event stream over real HTTP: Server-Sent Events and the WebSocket, their filters,
//! WebSocket commands, a slow client dropped with a reason, and the end when the node stops.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use ryre::{Bytes, Event};
use ryre_bridge::BridgeConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_reports_enter_shout_whisper_and_exit() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let r = tb
        .http
        .get(tb.at("/api/v1/events"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
    let mut sse = SseReader::new(r);
    tb.bridge.node().join("chat").expect("join");
    let ready = sse.expect("ready").await;
    assert_eq!(ready["uuid"], tb.bridge.node().uuid().to_string());

    let alice = builder(port, "alice").start().expect("alice");
    let enter = sse.expect("ENTER").await;
    assert_eq!(enter["peer"], alice.uuid().to_string());
    assert_eq!(enter["name"], "alice");
    assert_eq!(enter["endpoint"], alice.endpoint());

    alice.join("chat").expect("join");
    let join = sse.expect("JOIN").await;
    assert_eq!(join["group"], "chat");
    // The bridge saw alice's JOIN; alice may not have the bridge's HELLO yet (nobody to shout to).
    wait_sees_in(&alice, tb.bridge.node().uuid(), "chat").await;
    alice
        .shout("chat", [&b"hi"[..], &[0xff][..]])
        .expect("shout");
    let shout = sse.expect("SHOUT").await;
    assert_eq!(shout["group"], "chat");
    assert_eq!(shout["text"], "hi");
    assert_eq!(shout["frames"], json!(["aGk=", "/w=="]));
    alice
        .whisper_str(tb.bridge.node().uuid(), "psst")
        .expect("whisper");
    let whisper = sse.expect("WHISPER").await;
    assert_eq!(whisper["text"], "psst");
    assert!(whisper["seq"].as_u64().expect("seq") > shout["seq"].as_u64().expect("seq"));

    alice.stop().expect("stop");
    let exit = sse.expect("EXIT").await;
    assert_eq!(exit["peer"], alice.uuid().to_string());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_filters_by_group_and_type() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let r = tb
        .http
        .get(tb.at("/api/v1/events?group=chat&type=SHOUT,LEAVE"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    tb.bridge.node().join("chat").expect("join");
    tb.bridge.node().join("other").expect("join");
    let alice = builder(port, "alice").start().expect("alice");
    alice.join("chat").expect("join");
    alice.join("other").expect("join");
    wait_peer_in(&tb, alice.uuid(), "other").await;
    wait_sees_in(&alice, tb.bridge.node().uuid(), "chat").await;
    wait_sees_in(&alice, tb.bridge.node().uuid(), "other").await;
    alice.shout_str("other", "not for you").expect("shout");
    alice.shout_str("chat", "one").expect("shout");
    alice.leave("other").expect("leave");
    alice.leave("chat").expect("leave");
    // Only the chat SHOUT and the chat LEAVE pass, in order.
    let (e1, v1) = sse.next().await.expect("event");
    assert_eq!((e1.as_str(), v1["text"].as_str()), ("SHOUT", Some("one")));
    let (e2, v2) = sse.next().await.expect("event");
    assert_eq!((e2.as_str(), v2["group"].as_str()), ("LEAVE", Some("chat")));
    alice.stop().expect("stop");
    tb.shutdown().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a WebSocket message within the wait")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON");
        }
    }
}

/// The next JSON array on the socket (a batch's replies), skipping events.
async fn ws_array(ws: &mut Ws) -> Vec<Value> {
    loop {
        if let Value::Array(a) = ws_next(ws).await {
            return a;
        }
    }
}

async fn ws_expect(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = ws_next(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_events_and_commands() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let alice = builder(port, "alice").start().expect("alice");
    let mut events = alice.events();
    alice.join("chat").expect("join");
    wait_peer_in(&tb, alice.uuid(), "chat").await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", tb.addr))
        .await
        .expect("connect");
    let ready = ws_next(&mut ws).await;
    assert_eq!(ready["type"], "READY");

    // Shout from the socket: ACK, and alice gets it.
    ws.send(Message::text(
        json!({"op": "shout", "group": "chat", "text": "from ws", "id": 1}).to_string(),
    ))
    .await
    .expect("send");
    let ack = ws_expect(&mut ws, "ACK").await;
    assert_eq!(ack["id"], 1);
    let ev = expect_event(&mut events, "SHOUT", |e| matches!(e, Event::Shout { .. })).await;
    let Event::Shout { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&content[..], &[Bytes::from_static(b"from ws")]);

    // Whisper with frames; join and leave.
    ws.send(Message::text(
        json!({"op": "whisper", "peer": alice.uuid().to_string(), "frames": ["AAE="], "id": "w"})
            .to_string(),
    ))
    .await
    .expect("send");
    assert_eq!(ws_expect(&mut ws, "ACK").await["id"], "w");
    let ev = expect_event(&mut events, "WHISPER", |e| {
        matches!(e, Event::Whisper { .. })
    })
    .await;
    let Event::Whisper { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&content[..], &[Bytes::from_static(&[0, 1])]);
    for op in ["join", "leave"] {
        ws.send(Message::text(
            json!({"op": op, "group": "ws-group", "id": op}).to_string(),
        ))
        .await
        .expect("send");
        assert_eq!(ws_expect(&mut ws, "ACK").await["id"], op);
    }
    expect_event(
        &mut events,
        "LEAVE ws-group",
        |e| matches!(e, Event::Leave { group, .. } if group == "ws-group"),
    )
    .await;

    // Errors come back as problems, and the socket stays open.
    let unknown = "0123456789ABCDEF0123456789ABCDEF";
    for (cmd, status) in [
        (
            json!({"op": "whisper", "peer": unknown, "text": "x", "id": 9}),
            404,
        ),
        (json!({"op": "whisper", "peer": "nope", "text": "x"}), 400),
        (json!({"op": "shout", "group": "chat"}), 400),
        (json!({"op": "dance"}), 400),
    ] {
        ws.send(Message::text(cmd.to_string())).await.expect("send");
        let err = ws_expect(&mut ws, "ERROR").await;
        assert_eq!(err["problem"]["status"], status, "{cmd}");
    }
    ws.send(Message::binary(vec![1u8, 2])).await.expect("send");
    assert_eq!(ws_expect(&mut ws, "ERROR").await["problem"]["status"], 400);

    // A batch: a JSON array of commands in one message, run in order, answered by one
    // message with the array of their replies (an error in one does not stop the others).
    let batch = json!([
        {"op": "shout", "group": "chat", "text": "b1", "id": 1},
        {"op": "shout", "group": "chat", "text": "b\n\"2\"", "id": 2},
        {"op": "join", "group": "batch-group", "id": 3},
        {"op": "dance", "id": 4},
        {"op": "shout", "group": "chat"},
    ]);
    ws.send(Message::text(batch.to_string()))
        .await
        .expect("send");
    let replies = ws_array(&mut ws).await;
    let got: Vec<(Value, Value, Value)> = replies
        .iter()
        .map(|r| {
            (
                r["type"].clone(),
                r["id"].clone(),
                r["problem"]["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (json!("ACK"), json!(1), Value::Null),
            (json!("ACK"), json!(2), Value::Null),
            (json!("ACK"), json!(3), Value::Null),
            (json!("ERROR"), json!(4), json!(400)),
            (json!("ERROR"), Value::Null, json!(400)),
        ]
    );
    for want in [&b"b1"[..], &b"b\n\"2\""[..]] {
        let ev = expect_event(&mut events, "SHOUT", |e| matches!(e, Event::Shout { .. })).await;
        let Event::Shout { content, .. } = ev else {
            unreachable!()
        };
        assert_eq!(&content[..], &[Bytes::copy_from_slice(want)]);
    }
    ws.send(Message::text("[]")).await.expect("send");
    assert_eq!(ws_array(&mut ws).await, Vec::<Value>::new());
    // Not a JSON array after all: one ERROR for the message.
    ws.send(Message::text("[{\"op\":\"join\""))
        .await
        .expect("send");
    assert_eq!(ws_expect(&mut ws, "ERROR").await["problem"]["status"], 400);

    // Events from the mesh arrive on the socket.
    tb.bridge.node().join("chat").expect("join");
    let bridge_id = tb.bridge.node().uuid();
    expect_event(
        &mut events,
        "JOIN chat",
        |e| matches!(e, Event::Join { peer, group, .. } if *peer == bridge_id && group == "chat"),
    )
    .await;
    alice.shout_str("chat", "to the bridge").expect("shout");
    let shout = loop {
        let v = ws_expect(&mut ws, "SHOUT").await;
        if v["text"] == "to the bridge" {
            break v;
        }
    };
    assert_eq!(shout["peer"], alice.uuid().to_string());

    // A filtered socket.
    let (mut ws2, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?type=WHISPER", tb.addr))
            .await
            .expect("connect");
    assert_eq!(ws_next(&mut ws2).await["type"], "READY");
    alice.shout_str("chat", "filtered out").expect("shout");
    alice
        .whisper_str(tb.bridge.node().uuid(), "kept")
        .expect("whisper");
    let v = ws_next(&mut ws2).await;
    assert_eq!(
        (v["type"].as_str(), v["text"].as_str()),
        (Some("WHISPER"), Some("kept"))
    );

    // Stopping the bridge closes the socket with 1001 and a reason.
    tb.bridge.stop().await;
    let close = ws_expect(&mut ws, "CLOSE").await;
    assert_eq!(close["reason"], "stopped");
    let frame = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("close frame within the wait");
    match frame {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_ends_with_stopped_when_the_node_stops() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let r = tb
        .http
        .get(tb.at("/api/v1/events"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    tb.bridge.stop().await;
    let close = sse.expect("close").await;
    assert_eq!(close["reason"], "stopped");
    assert!(sse.next().await.is_none(), "the stream ends after close");
    tb.shutdown().await;
}

/// A client that stops reading is dropped with `lagged` once it is a buffer behind; meanwhile
/// the bridge goes on serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sse_client_is_dropped_with_a_reason() {
    const BUFFER: usize = 64;
    const SHOUTS: u64 = 20_000;
    let port = free_udp_port();
    let config = BridgeConfig {
        client_buffer: BUFFER,
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(port, config).await;
    tb.bridge.node().join("flood").expect("join");
    let alice = builder(port, "alice").start().expect("alice");
    alice.join("flood").expect("join");
    wait_peer_in(&tb, alice.uuid(), "flood").await;
    wait_sees_in(&alice, tb.bridge.node().uuid(), "flood").await;

    // A raw client: sends the request, reads the head, then reads nothing for a while.
    let mut slow = tokio::net::TcpStream::connect(tb.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /api/v1/events?type=SHOUT HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(WAIT, slow.read(&mut head))
        .await
        .expect("head within the wait")
        .expect("read");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));

    // The bridge takes every shout from its node while the client is stuck: it never waits.
    let started = flood(&tb, &alice, SHOUTS).await;
    // And answers others promptly.
    let t = Instant::now();
    tb.get_json("/api/v1/peers").await;
    assert!(t.elapsed() < Duration::from_secs(2));
    eprintln!("bridge took {SHOUTS} shouts in {:?}", started.elapsed());

    // Now read everything: some shouts, then `close` with reason `lagged`, then the end.
    let (text, close) = read_until_closed(&mut slow, "slow client").await;
    let shouts = text.matches("event: SHOUT").count() as u64;
    assert!(shouts < SHOUTS, "the slow client got only part: {shouts}");
    assert_eq!(close["reason"], "lagged");
    assert!(close["detail"]
        .as_str()
        .expect("detail")
        .contains(&format!("buffer of {BUFFER}")));

    // A new client is served at once.
    let r = tb
        .http
        .get(tb.at("/api/v1/events?type=SHOUT"))
        .send()
        .await
        .expect("GET");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    alice.shout_str("flood", "after").expect("shout");
    assert_eq!(sse.expect("SHOUT").await["text"], "after");
    alice.stop().expect("stop");
    tb.shutdown().await;
}

/// A WebSocket client that stops reading is closed with 1013 and the reason `lagged`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_websocket_client_is_closed_with_1013() {
    const BUFFER: usize = 64;
    const SHOUTS: u64 = 20_000;
    let port = free_udp_port();
    let config = BridgeConfig {
        client_buffer: BUFFER,
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(port, config).await;
    tb.bridge.node().join("flood").expect("join");
    let alice = builder(port, "alice").start().expect("alice");
    alice.join("flood").expect("join");
    wait_peer_in(&tb, alice.uuid(), "flood").await;
    wait_sees_in(&alice, tb.bridge.node().uuid(), "flood").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?type=SHOUT", tb.addr))
            .await
            .expect("connect");
    assert_eq!(ws_next(&mut ws).await["type"], "READY");

    // Flood while the client reads nothing; the bridge takes every shout regardless.
    flood(&tb, &alice, SHOUTS).await;

    let mut shouts = 0u64;
    let mut close_reason = None;
    let code = loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the slow client is closed within 30 s");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                match v["type"].as_str() {
                    Some("SHOUT") => shouts += 1,
                    Some("CLOSE") => close_reason = Some(v),
                    other => panic!("unexpected {other:?}"),
                }
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1013);
    assert!(shouts < SHOUTS, "the slow client got only part: {shouts}");
    let reason = close_reason.expect("a CLOSE message before the close frame");
    assert_eq!(reason["reason"], "lagged");
    alice.stop().expect("stop");
    tb.shutdown().await;
}

/// `alice` shouts `shouts` messages of 1 KiB to `flood`, then waits until the bridge's node has
/// taken them all (its `events` count). Returns when the shouts had been queued.
async fn flood(tb: &TestBridge, alice: &ryre::Node, shouts: u64) -> Instant {
    let before = tb.get_json("/api/v1/node").await["events"]
        .as_u64()
        .expect("events");
    let payload = Bytes::from(vec![b'z'; 1024]);
    for _ in 0..shouts {
        alice.shout("flood", [payload.clone()]).expect("shout");
    }
    let queued = Instant::now();
    // 20 MB through a debug build: about 2 s here, once over 10 s on a loaded CI machine.
    eventually_within(
        Duration::from_secs(60),
        "the bridge to take every shout",
        || async {
            let v = tb.get_json("/api/v1/node").await;
            (v["events"].as_u64()? >= before + shouts).then_some(())
        },
    )
    .await;
    queued
}
