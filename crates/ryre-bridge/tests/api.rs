//! The REST API over real HTTP, against a real bridge and real ryre nodes on loopback: every
//! route, every error status.

mod common;

use std::collections::BTreeSet;

use common::*;
use ryre::{Bytes, Event};
use ryre_bridge::BridgeConfig;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_peers_groups_join_leave() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let alice = builder(port, "alice")
        .header("X-ROLE", "tester")
        .start()
        .expect("alice");
    let mut alice_events = alice.events();
    alice.join("chat").expect("join");

    let node = tb.get_json("/api/v1/node").await;
    assert_eq!(node["uuid"], tb.bridge.node().uuid().to_string());
    assert_eq!(node["name"], "bridge");
    assert_eq!(node["endpoint"], tb.bridge.node().endpoint());
    assert_eq!(node["groups"], json!([]));

    let p = wait_peer_in(&tb, alice.uuid(), "chat").await;
    assert_eq!(p["name"], "alice");
    assert_eq!(p["endpoint"], alice.endpoint());
    assert_eq!(p["headers"]["X-ROLE"], "tester");
    assert_eq!(p["state"], "alive");

    let peers = tb.get_json("/api/v1/peers").await;
    let list = peers["peers"].as_array().expect("array");
    assert!(list.iter().any(|p| p["uuid"] == alice.uuid().to_string()));

    // Join over HTTP: 204, alice sees the JOIN, the node and the groups say so.
    let r = tb
        .http
        .put(tb.at("/api/v1/groups/web"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 204);
    let bridge_id = tb.bridge.node().uuid();
    expect_event(
        &mut alice_events,
        "JOIN web",
        |e| matches!(e, Event::Join { peer, group, .. } if *peer == bridge_id && group == "web"),
    )
    .await;
    let node = tb.get_json("/api/v1/node").await;
    assert_eq!(node["groups"], json!(["web"]));

    let groups = tb.get_json("/api/v1/groups").await;
    let groups = groups["groups"].as_array().expect("array").clone();
    let chat = groups.iter().find(|g| g["name"] == "chat").expect("chat");
    assert_eq!(chat["joined"], false);
    assert_eq!(chat["members"][0]["uuid"], alice.uuid().to_string());
    assert_eq!(chat["members"][0]["self"], false);
    let web = groups.iter().find(|g| g["name"] == "web").expect("web");
    assert_eq!(web["joined"], true);
    assert_eq!(web["members"][0]["uuid"], bridge_id.to_string());

    // Leave over HTTP.
    let r = tb
        .http
        .delete(tb.at("/api/v1/groups/web"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    expect_event(
        &mut alice_events,
        "LEAVE web",
        |e| matches!(e, Event::Leave { peer, group, .. } if *peer == bridge_id && group == "web"),
    )
    .await;
    let node = tb.get_json("/api/v1/node").await;
    assert_eq!(node["groups"], json!([]));

    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shout_and_whisper() {
    let port = free_udp_port();
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let alice = builder(port, "alice").start().expect("alice");
    let mut events = alice.events();
    alice.join("chat").expect("join");
    wait_peer_in(&tb, alice.uuid(), "chat").await;

    // A raw body is one frame.
    let r = tb
        .http
        .post(tb.at("/api/v1/groups/chat/messages"))
        .header("content-type", "text/plain")
        .body("hello from http")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 204);
    let ev = expect_event(&mut events, "SHOUT", |e| matches!(e, Event::Shout { .. })).await;
    let Event::Shout {
        group,
        content,
        peer,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(&*group, "chat");
    assert_eq!(peer, tb.bridge.node().uuid());
    assert_eq!(&content[..], &[Bytes::from_static(b"hello from http")]);

    // JSON frames are several frames.
    let r = tb
        .http
        .post(tb.at("/api/v1/groups/chat/messages"))
        .json(&json!({"frames": ["aGk=", "AAH/"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 204);
    let ev = expect_event(&mut events, "SHOUT", |e| matches!(e, Event::Shout { .. })).await;
    let Event::Shout { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(
        &content[..],
        &[Bytes::from_static(b"hi"), Bytes::from_static(&[0, 1, 0xff])]
    );

    // Whisper.
    let r = tb
        .http
        .post(tb.at(&format!("/api/v1/peers/{}/messages", alice.uuid())))
        .body(vec![0u8, 1, 2])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 204);
    let ev = expect_event(&mut events, "WHISPER", |e| {
        matches!(e, Event::Whisper { .. })
    })
    .await;
    let Event::Whisper { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&content[..], &[Bytes::from_static(&[0, 1, 2])]);

    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_problem_json() {
    let port = free_udp_port();
    let config = BridgeConfig {
        max_body: 1024,
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(port, config).await;
    let alice = builder(port, "alice").start().expect("alice");
    alice.join("chat").expect("join");
    wait_peer_in(&tb, alice.uuid(), "chat").await;
    let h = &tb.http;
    let unknown = "0123456789ABCDEF0123456789ABCDEF";

    // 404: unknown peer (GET and whisper), unknown path.
    let v = assert_problem(
        h.get(tb.at(&format!("/api/v1/peers/{unknown}")))
            .send()
            .await
            .expect("GET"),
        404,
        "unknown-peer",
    )
    .await;
    assert!(v["detail"].as_str().expect("detail").contains(unknown));
    assert_problem(
        h.post(tb.at(&format!("/api/v1/peers/{unknown}/messages")))
            .body("x")
            .send()
            .await
            .expect("POST"),
        404,
        "unknown-peer",
    )
    .await;
    assert_problem(
        h.get(tb.at("/api/v1/nothing")).send().await.expect("GET"),
        404,
        "no-route",
    )
    .await;

    // 405: a known path, a method it does not serve.
    assert_problem(
        h.delete(tb.at("/api/v1/peers"))
            .send()
            .await
            .expect("DELETE"),
        405,
        "method-not-allowed",
    )
    .await;

    // 400: bad peer ids, bad JSON bodies, a group name ZRE cannot carry, bad stream filters.
    assert_problem(
        h.get(tb.at("/api/v1/peers/not-a-uuid"))
            .send()
            .await
            .expect("GET"),
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        h.post(tb.at("/api/v1/peers/XYZ/messages"))
            .body("x")
            .send()
            .await
            .expect("POST"),
        400,
        "bad-request",
    )
    .await;
    for body in [
        json!({"frames": ["not base64!"]}),
        json!({"frames": []}),
        json!({"text": "hi"}),
    ] {
        assert_problem(
            h.post(tb.at("/api/v1/groups/chat/messages"))
                .json(&body)
                .send()
                .await
                .expect("POST"),
            400,
            "bad-request",
        )
        .await;
    }
    assert_problem(
        h.post(tb.at("/api/v1/groups/chat/messages"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("POST"),
        400,
        "bad-request",
    )
    .await;
    let long = "g".repeat(256);
    assert_problem(
        h.put(tb.at(&format!("/api/v1/groups/{long}")))
            .send()
            .await
            .expect("PUT"),
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        h.delete(tb.at(&format!("/api/v1/groups/{long}")))
            .send()
            .await
            .expect("DELETE"),
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        h.post(tb.at(&format!("/api/v1/groups/{long}/messages")))
            .body("x")
            .send()
            .await
            .expect("POST"),
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        h.get(tb.at("/api/v1/events?type=DANCE"))
            .send()
            .await
            .expect("GET"),
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        h.get(tb.at("/api/v1/ws?type=DANCE"))
            .send()
            .await
            .expect("GET"),
        400,
        "not-websocket",
    )
    .await;
    // A plain GET of the WebSocket route is not an upgrade.
    let r = h.get(tb.at("/api/v1/ws")).send().await.expect("GET");
    let status = r.status().as_u16();
    assert!(status == 400 || status == 426, "{status}");
    assert_problem(r, status, "not-websocket").await;

    // 413: over the configured limit (with and without a Content-Length).
    let v = assert_problem(
        h.post(tb.at("/api/v1/groups/chat/messages"))
            .body(vec![b'x'; 2048])
            .send()
            .await
            .expect("POST"),
        413,
        "too-large",
    )
    .await;
    assert!(v["detail"].as_str().expect("detail").contains("1024"));
    let chunks = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 512]))),
    );
    assert_problem(
        h.post(tb.at(&format!("/api/v1/peers/{}/messages", alice.uuid())))
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("POST"),
        413,
        "too-large",
    )
    .await;
    // At the limit is fine.
    let r = h
        .post(tb.at("/api/v1/groups/chat/messages"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 204);

    // 503 once the bridge stops, on every API route.
    tb.bridge.stop().await;
    for path in [
        "/api/v1/node",
        "/api/v1/peers",
        "/api/v1/events",
        "/api/v1/ws",
    ] {
        assert_problem(
            h.get(tb.at(path)).send().await.expect("GET"),
            503,
            "stopping",
        )
        .await;
    }
    assert_problem(
        h.post(tb.at("/api/v1/groups/chat/messages"))
            .body("x")
            .send()
            .await
            .expect("POST"),
        503,
        "stopping",
    )
    .await;
    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token() {
    let port = free_udp_port();
    let config = BridgeConfig {
        token: Some("s3cret".into()),
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(port, config).await;
    let h = &tb.http;
    let r = h.get(tb.at("/api/v1/node")).send().await.expect("GET");
    assert_eq!(
        r.headers().get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_problem(r, 401, "unauthorized").await;
    assert_problem(
        h.get(tb.at("/api/v1/node"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("GET"),
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        h.get(tb.at("/api/v1/events?access_token=s3cre"))
            .send()
            .await
            .expect("GET"),
        401,
        "unauthorized",
    )
    .await;
    let r = h
        .get(tb.at("/api/v1/node"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let r = h
        .get(tb.at("/api/v1/events?type=SHOUT&access_token=s3cret"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    drop(r);
    // The dashboard page itself needs no token (it holds no data).
    let r = h.get(tb.at("/")).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_only_when_configured() {
    let port = free_udp_port();
    let preflight = |tb: &TestBridge| {
        tb.http
            .request(reqwest::Method::OPTIONS, tb.at("/api/v1/node"))
            .header("origin", "http://app.test")
            .header("access-control-request-method", "GET")
            .send()
    };
    let tb = TestBridge::start(port, BridgeConfig::default()).await;
    let r = preflight(&tb).await.expect("OPTIONS");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = tb
        .http
        .get(tb.at("/api/v1/node"))
        .header("origin", "http://app.test")
        .send()
        .await
        .expect("GET");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    tb.shutdown().await;

    let config = BridgeConfig {
        cors_origins: vec!["http://app.test".into()],
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(free_udp_port(), config).await;
    let r = preflight(&tb).await.expect("OPTIONS");
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"http://app.test"[..])
    );
    let r = tb
        .http
        .get(tb.at("/api/v1/node"))
        .header("origin", "http://other.test")
        .send()
        .await
        .expect("GET");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_exactly_the_served_routes() {
    let port = free_udp_port();
    // With the log collector and the services watcher on, so that their routes answer too.
    let config = BridgeConfig {
        logs: Some(ryre_bridge::LogsConfig::new(builder(port, "logs"))),
        services: Some(builder(port, "services")),
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(port, config).await;
    let alice = builder(port, "alice").start().expect("alice");
    alice.join("chat").expect("join");
    wait_peer_in(&tb, alice.uuid(), "chat").await;

    let doc = tb.get_json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            assert!(op["responses"].is_object(), "{method} {path} has responses");
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ryre_bridge::routes()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the document and the route table differ"
    );
    assert_eq!(served.len(), 16);

    // Each documented route is served (the router does not answer no-route or
    // method-not-allowed), and every other method on its path is 405.
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let url = tb.at(&path
            .replace("{uuid}", &alice.uuid().to_string())
            .replace("{group}", "chat"));
        for m in methods {
            let method = reqwest::Method::from_bytes(m.as_bytes()).expect("method");
            let mut req = tb.http.request(method, &url);
            if m == "POST" {
                req = req.body("x");
            }
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            let is_sse = r
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let body: Value = if is_sse {
                Value::Null
            } else {
                r.json().await.unwrap_or(Value::Null)
            };
            if documented.contains(&(m.to_string(), path.clone())) {
                assert_ne!(body["type"], "urn:ryre:problem:no-route", "{m} {path}");
                assert_ne!(
                    body["type"], "urn:ryre:problem:method-not-allowed",
                    "{m} {path}"
                );
                assert_ne!(status, 404, "{m} {path}");
                assert_ne!(status, 405, "{m} {path}");
            } else {
                assert_eq!(status, 405, "{m} {path} is not documented: 405");
                assert_eq!(body["type"], "urn:ryre:problem:method-not-allowed");
            }
        }
    }
    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_are_served() {
    let tb = TestBridge::start(free_udp_port(), BridgeConfig::default()).await;
    for (path, ct, needle) in [
        ("/", "text/html", "<script"),
        ("/app.js", "text/javascript", "EventSource"),
        ("/style.css", "text/css", "{"),
    ] {
        let r = tb.http.get(tb.at(path)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "{path}");
        let got = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(got.starts_with(ct), "{path}: {got}");
        let text = r.text().await.expect("body");
        assert!(text.contains(needle), "{path} contains {needle}");
    }
    tb.shutdown().await;
}

#[test]
fn bad_settings_are_errors_not_panics() {
    let port = free_udp_port();
    let node = builder(port, "settings").start().expect("node");
    // Outside a runtime.
    let e =
        ryre_bridge::Bridge::new(node.clone(), BridgeConfig::default()).expect_err("no runtime");
    assert!(e.to_string().contains("tokio runtime"), "{e}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for config in [
            BridgeConfig {
                client_buffer: 0,
                ..BridgeConfig::default()
            },
            BridgeConfig {
                max_body: 0,
                ..BridgeConfig::default()
            },
            BridgeConfig {
                cors_origins: vec!["bad\norigin".into()],
                ..BridgeConfig::default()
            },
        ] {
            assert!(ryre_bridge::Bridge::new(node.clone(), config).is_err());
        }
    });
    node.stop().expect("stop");
}

/// A group name with a NUL (`%00` in the path) is refused with 400: Zyre would read `a%00b`
/// as `a`, so the two would disagree on the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_group_name_is_400() {
    let tb = TestBridge::start(free_udp_port(), BridgeConfig::default()).await;
    let h = &tb.http;
    let v = assert_problem(
        h.put(tb.at("/api/v1/groups/a%00b"))
            .send()
            .await
            .expect("PUT"),
        400,
        "bad-request",
    )
    .await;
    assert!(
        v["detail"].as_str().is_some_and(|d| d.contains("NUL")),
        "{v}"
    );
    assert_problem(
        h.post(tb.at("/api/v1/groups/a%00b/messages"))
            .body("hi")
            .send()
            .await
            .expect("POST"),
        400,
        "bad-request",
    )
    .await;
    assert!(tb.bridge.node().own_groups().is_empty());
}
