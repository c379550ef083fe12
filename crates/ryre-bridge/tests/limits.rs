//! The bridge against slow and idle clients, over real TCP: half-sent heads and bodies, idle
//! keep-alives, a slowloris flood of 2,000 half-open connections, and a full house of busy
//! streams (503). Loopback only, OS-chosen ports, bounded waits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ryre_bridge::BridgeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `limit` passes); what it sent.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let r = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    match r {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// Raises this process's open-file limit so that thousands of test connections fit.
fn allow_many_files(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max.max(n));
            lim.rlim_max = lim.rlim_max.max(n);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

fn short(config: BridgeConfig) -> BridgeConfig {
    BridgeConfig {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..config
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let tb = TestBridge::start(free_udp_port(), short(BridgeConfig::default())).await;
    let mut s = TcpStream::connect(tb.addr).await.expect("connect");
    s.write_all(b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let t = Instant::now();
    let got = read_to_close(&mut s, WAIT).await;
    assert!(got.is_some(), "still open after {WAIT:?}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        t.elapsed()
    );
    // Connecting and saying nothing at all is no better.
    let mut s = TcpStream::connect(tb.addr).await.expect("connect");
    assert!(read_to_close(&mut s, WAIT).await.is_some());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_body_gets_408_after_the_body_timeout() {
    let tb = TestBridge::start(free_udp_port(), short(BridgeConfig::default())).await;
    let mut s = TcpStream::connect(tb.addr).await.expect("connect");
    s.write_all(
        b"POST /api/v1/groups/chat/messages HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nonly ten b",
    )
    .await
    .expect("write");
    let t = Instant::now();
    let got = read_to_close(&mut s, WAIT).await.expect("closed");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        t.elapsed()
    );
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("urn:ryre:problem:request-timeout"), "{got}");
    assert!(got.contains("did not arrive within"), "{got}");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_is_closed_after_the_idle_timeout() {
    let tb = TestBridge::start(free_udp_port(), short(BridgeConfig::default())).await;
    let mut s = TcpStream::connect(tb.addr).await.expect("connect");
    s.write_all(b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The connection is kept alive, then closed once it has been idle for the timeout.
    let t = Instant::now();
    let rest = read_to_close(&mut s, WAIT).await;
    assert!(rest.is_some(), "idle keep-alive still open after {WAIT:?}");
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(200) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
    tb.shutdown().await;
}

/// A slowloris flood: 2,000 connections that each send half a request head and wait. The
/// bridge keeps at most `max_connections`, making room by closing the oldest idle ones, so a
/// normal request still gets 200 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_2000_half_open_connections_a_normal_request_gets_200_within_a_second() {
    allow_many_files(8192);
    let tb = TestBridge::start(free_udp_port(), BridgeConfig::default()).await;
    let mut loris = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = TcpStream::connect(tb.addr).await.expect("connect");
        s.write_all(b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        loris.push(s);
    }
    let t = Instant::now();
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let r = quick
        .get(tb.at("/api/v1/node"))
        .send()
        .await
        .expect("a normal GET within a second");
    assert_eq!(r.status(), 200);
    let took = t.elapsed();
    println!("normal GET after 2,000 half-open connections: {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(loris);
    tb.shutdown().await;
}

/// When every connection is busy (event streams), a newcomer gets 503 with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_with_every_connection_busy_is_503_with_a_reason() {
    let config = BridgeConfig {
        max_connections: 2,
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start(free_udp_port(), config).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(tb.addr).await.expect("connect");
        s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .expect("stream head")
            .expect("read");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        streams.push(s);
    }
    let mut s = TcpStream::connect(tb.addr).await.expect("connect");
    let got = read_to_close(&mut s, WAIT)
        .await
        .expect("answered and closed");
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(
        got.contains("urn:ryre:problem:too-many-connections"),
        "{got}"
    );
    assert!(got.contains("at most 2 connections"), "{got}");
    drop(streams);
    tb.shutdown().await;
}
