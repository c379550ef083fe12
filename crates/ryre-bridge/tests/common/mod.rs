//! Helpers for the bridge tests: a real bridge on 127.0.0.1 (OS-chosen HTTP port) over a real
//! node on loopback (OS-chosen UDP beacon port), real peers, and bounded waits.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ryre::{Event, EventStream, Node, PeerId};
use ryre_bridge::{Bridge, BridgeConfig};
use serde_json::Value;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

pub use ryre_testkit::{builder, free_udp_port};

/// A bridge serving on an OS-chosen port of 127.0.0.1.
pub struct TestBridge {
    pub bridge: Bridge,
    pub addr: SocketAddr,
    pub url: String,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), ryre_bridge::Error>>>,
}

impl TestBridge {
    /// Starts a node named `bridge` on beacon port `port` and serves it.
    pub async fn start(port: u16, config: BridgeConfig) -> TestBridge {
        TestBridge::start_as(port, config, |addr| format!("http://{addr}")).await
    }

    /// [`TestBridge::start`] for a config with TLS: `url` (and so [`TestBridge::at`]) is
    /// `https://localhost:PORT`.
    pub async fn start_https(port: u16, config: BridgeConfig) -> TestBridge {
        TestBridge::start_as(port, config, |addr| {
            format!("https://localhost:{}", addr.port())
        })
        .await
    }

    async fn start_as(
        port: u16,
        config: BridgeConfig,
        url: impl FnOnce(SocketAddr) -> String,
    ) -> TestBridge {
        let node = builder(port, "bridge")
            .start()
            .expect("start the bridge's node");
        let bridge = Bridge::new(node, config).expect("bridge");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let b = bridge.clone();
        let server = tokio::spawn(async move {
            b.serve(listener, async move {
                let _ = rx.await;
            })
            .await
        });
        TestBridge {
            bridge,
            addr,
            url: url(addr),
            http: reqwest::Client::builder()
                .timeout(WAIT)
                .build()
                .expect("client"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The full URL of a path.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// GET a path and parse its JSON (asserting 200).
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(self.at(path)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("JSON")
    }

    /// Shuts the server down (stopping the bridge and its node), bounded.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(15), h)
                .await
                .expect("the server stops within 15 s")
                .expect("server task")
                .expect("serve");
        }
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.bridge.node().stop();
    }
}

/// Polls `f` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(WAIT, what, f).await
}

/// Polls `f` until it returns `Some`, for at most `wait`.
pub async fn eventually_within<T, F, Fut>(wait: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the first event of `events` matching `pred`.
pub async fn expect_event(
    events: &mut EventStream,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if pred(&ev) {
                return Some(ev);
            }
            seen.push(format!("{ev:?}"));
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        _ => panic!("no {what} within {WAIT:?}; saw {seen:#?}"),
    }
}

/// Waits until the bridge lists `peer` with `group` among its groups.
pub async fn wait_peer_in(tb: &TestBridge, peer: PeerId, group: &str) -> Value {
    let path = format!("/api/v1/peers/{peer}");
    eventually(&format!("peer {peer} in {group}"), || async {
        let r = tb.http.get(tb.at(&path)).send().await.ok()?;
        if r.status() != 200 {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["groups"]
            .as_array()?
            .iter()
            .any(|g| g == group)
            .then_some(v)
    })
    .await
}

/// Asserts a response is a problem+json with this status and type slug; returns its body.
pub async fn assert_problem(r: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status of {}", r.url());
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        ct,
        "application/problem+json",
        "content type of {}",
        r.url()
    );
    let v: Value = r.json().await.expect("problem JSON");
    assert_eq!(v["status"], status);
    assert_eq!(v["type"], format!("urn:ryre:problem:{slug}"));
    assert!(v["title"].is_string());
    v
}

/// Reads Server-Sent Events from a response: `(event, data)` pairs.
pub struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SseReader {
    pub fn new(r: reqwest::Response) -> SseReader {
        assert_eq!(r.status(), 200);
        SseReader {
            stream: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event, `None` at the end of the stream; bounded by [`WAIT`].
    pub async fn next(&mut self) -> Option<(String, Value)> {
        tokio::time::timeout(WAIT, self.next_inner())
            .await
            .expect("an SSE event within the wait")
    }

    async fn next_inner(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let v = serde_json::from_str(&data).expect("SSE data is JSON");
                return Some((event, v));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event of type `kind` (skipping others).
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Some((e, v)) if e == kind => return v,
                Some(_) => {}
                None => panic!("the SSE stream ended before a {kind} event"),
            }
        }
    }
}

/// Waits until `node` knows `peer` is in `group` (so its shouts to the group reach the peer).
pub async fn wait_sees_in(node: &Node, peer: PeerId, group: &str) {
    eventually(
        &format!("{} to see {peer} in {group}", node.name()),
        || async { node.peers_by_group(group).contains(&peer).then_some(()) },
    )
    .await
}

/// Reads a stalled SSE client's raw HTTP stream to its end (a `close` event, then the final
/// chunk), failing after 30 s: every byte as text, and the `close` event's data.
pub async fn read_until_closed(slow: &mut tokio::net::TcpStream, who: &str) -> (String, Value) {
    use tokio::io::AsyncReadExt;
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, slow.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                all.extend_from_slice(&buf[..n]);
                if all.windows(14).any(|w| w == b"event: close\nd") && all.ends_with(b"0\r\n\r\n") {
                    break;
                }
            }
            Ok(Err(e)) => panic!("read: {e}"),
            Err(_) => panic!("the {who} was not closed within 30 s"),
        }
    }
    let text = String::from_utf8_lossy(&all).into_owned();
    let close_at = text.find("event: close").expect("a close event");
    let close_line = text[close_at..]
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("close data");
    let close: Value = serde_json::from_str(close_line).expect("JSON");
    (text, close)
}
