//! `ryre bridge` and `ryre bench bridge` as real processes on loopback: an OS-chosen beacon
//! port and an OS-chosen HTTP port. Children are killed when their guard drops; every wait is
//! bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ryre_testkit::{free_udp_port, Kill as Guard};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Starts `ryre bridge --json` with extra arguments; the guard and the URL it listens on.
fn start_bridge(extra: &[&str]) -> (Guard, String) {
    let (guard, v) = start_bridge_line(extra);
    let url = v["url"].as_str().expect("url").to_string();
    (guard, url)
}

/// Starts `ryre bridge --json` with extra arguments; the guard and its LISTENING line.
fn start_bridge_line(extra: &[&str]) -> (Guard, Value) {
    let port = free_udp_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args([
            "bridge",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--interface",
            "lo",
        ])
        .args(["--port", &port, "--interval", "100"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ryre bridge");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx.recv_timeout(WAIT).expect("a LISTENING line");
    let v: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["event"], "LISTENING");
    (guard, v)
}

/// A plain HTTP/1.1 request; the status and body.
fn http(url: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        assert!(Instant::now() < deadline, "ryre bridge did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bridge_serves_the_api_and_stops_on_sigterm() {
    let (mut guard, url) = start_bridge(&["--name", "web", "--join", "chat"]);
    let (status, body) = http(&url, "GET", "/api/v1/node", &[]);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["name"], "web");
    assert_eq!(v["groups"], serde_json::json!(["chat"]));
    let (status, body) = http(&url, "GET", "/", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("<script"));
    // SAFETY: kill only sends a signal to our own child.
    let rc = unsafe { libc::kill(guard.0.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let st = wait_exit(&mut guard.0);
    assert!(st.success(), "{st:?}");
}

#[test]
fn bridge_token_is_required_when_set() {
    let (_guard, url) = start_bridge(&["--token", "t0ken"]);
    let (status, body) = http(&url, "GET", "/api/v1/node", &[]);
    assert_eq!(status, 401);
    assert!(body.contains("urn:ryre:problem:unauthorized"));
    let (status, _) = http(
        &url,
        "GET",
        "/api/v1/node",
        &["Authorization: Bearer t0ken"],
    );
    assert_eq!(status, 200);
}

#[test]
fn bridge_bad_arguments_exit_2() {
    for args in [
        &["bridge", "--listen", "not-an-address"][..],
        &["bridge", "--listen", "127.0.0.1:0", "--token", ""],
        &["bridge", "--listen", "127.0.0.1:0", "--max-body", "0"],
        &["bridge", "--listen", "127.0.0.1:0", "--cors", "bad\norigin"],
        &["bridge", "--interface", "no-such-if0"],
        &["bridge", "--listen", "127.0.0.1:0", "--logs-level", "loud"],
        &["bridge", "--listen", "127.0.0.1:0", "--logs-memory", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
            .args(args)
            .args(["--port", &free_udp_port().to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn bridge_hosts_a_log_collector_unless_no_logs() {
    let (_guard, v) = start_bridge_line(&[
        "--name",
        "web",
        "--logs-level",
        "warn",
        "--logs-memory",
        "50",
    ]);
    let url = v["url"].as_str().expect("url");
    let (status, body) = http(url, "GET", "/api/v1/logs?n=5", &[]);
    assert_eq!(status, 200, "{body}");
    let logs: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(logs["collector"]["name"], "web-logs");
    assert_eq!(logs["collector"]["level"], "WARN");
    assert_eq!(logs["collector"]["memory"], 50);
    assert_eq!(logs["collector"]["uuid"], v["logs"]);
    assert!(logs["records"].is_array());

    let (_guard, v) = start_bridge_line(&["--no-logs"]);
    assert!(v["logs"].is_null());
    let url = v["url"].as_str().expect("url");
    let (status, body) = http(url, "GET", "/api/v1/logs", &[]);
    assert_eq!(status, 404);
    assert!(body.contains("urn:ryre:problem:logs-disabled"), "{body}");
}

#[test]
fn bridge_hosts_a_services_watcher_unless_no_services() {
    let (_guard, v) = start_bridge_line(&["--name", "web"]);
    let url = v["url"].as_str().expect("url");
    let (status, body) = http(url, "GET", "/api/v1/services/timer", &[]);
    assert_eq!(status, 200, "{body}");
    let t: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(t["watcher"]["name"], "web-services");
    assert_eq!(t["watcher"]["uuid"], v["services"]);
    assert!(t["rates"].is_array());
    let (status, body) = http(url, "GET", "/api/v1/services/timer?rate=0", &[]);
    assert_eq!(status, 400, "{body}");

    let (_guard, v) = start_bridge_line(&["--no-services"]);
    assert!(v["services"].is_null());
    let url = v["url"].as_str().expect("url");
    let (status, body) = http(url, "GET", "/api/v1/services/timer", &[]);
    assert_eq!(status, 404);
    assert!(
        body.contains("urn:ryre:problem:services-disabled"),
        "{body}"
    );
}

#[test]
fn bench_bridge_reports_ratio_and_fan_out() {
    let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args(["bench", "bridge", "--count", "300", "--rounds", "1"])
        .args([
            "--connections",
            "4",
            "--sse-clients",
            "5",
            "--sse-secs",
            "1",
        ])
        .args(["--sse-rate", "200", "--tls", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["api_shouts_per_sec"].as_f64().expect("api") > 0.0);
    assert!(v["http_requests_per_sec"].as_f64().expect("http") > 0.0);
    assert!(v["ratio"].as_f64().expect("ratio") > 0.0);
    assert!(v["bare_requests_per_sec"].as_f64().expect("bare") > 0.0);
    assert!(v["ratio_to_bare"].as_f64().expect("ratio to bare") > 0.0);
    assert!(v["ws_shouts_per_sec"].as_f64().expect("ws") > 0.0);
    assert!(v["http_p99_us"].as_f64().expect("p99") >= v["http_p50_us"].as_f64().expect("p50"));
    assert_eq!(v["sse"]["expected"], 1000);
    assert_eq!(v["sse"]["delivered"], 1000);
    // --tls: the same POSTs and WebSocket commands over HTTPS, as ratios to plain HTTP.
    assert!(v["tls"]["https_requests_per_sec"].as_f64().expect("https") > 0.0);
    assert!(v["tls"]["ratio_https_to_http"].as_f64().expect("ratio") > 0.0);
    assert!(v["tls"]["wss_shouts_per_sec"].as_f64().expect("wss") > 0.0);
    assert!(v["tls"]["ratio_wss_to_ws"].as_f64().expect("ratio") > 0.0);
}
