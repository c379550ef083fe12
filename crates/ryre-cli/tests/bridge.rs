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
    assert!(
        v["api_in_memory_shouts_per_sec"]
            .as_f64()
            .expect("api in memory")
            > 0.0
    );
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

/// `ryre bridge --tls-*` as a real process on loopback, served to a real TLS client (rustls):
/// certificate files with the token, a self-signed certificate whose printed fingerprint is the
/// one the handshake shows, plain HTTP on the TLS port refused, and clear errors for bad TLS
/// flags and files.
mod tls {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    use ryre_testkit::free_udp_port;
    use serde_json::Value;
    use sha2::Digest;

    use super::{Guard, WAIT};

    /// `ryre bridge --json` without the services, with extra arguments: the guard and its
    /// LISTENING line.
    fn start_bridge(extra: &[&str]) -> (Guard, Value) {
        let mut args = vec!["--no-logs", "--no-services"];
        args.extend_from_slice(extra);
        super::start_bridge_line(&args)
    }

    /// `host:port` of a URL.
    fn addr_of(url: &str) -> String {
        url.split("://")
            .nth(1)
            .expect("scheme")
            .trim_end_matches('/')
            .to_string()
    }

    /// A rustls client configuration trusting exactly `cert_pem`.
    fn client_config(cert_pem: &str) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(c.expect("PEM")).expect("root");
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }

    /// One HTTP/1.1 request over TLS (server name `localhost`); the status, the body and the
    /// SHA-256 of the certificate the server showed.
    fn https(
        addr: &str,
        cert_pem: &str,
        path: &str,
        headers: &[&str],
    ) -> Result<(u16, String, String), String> {
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(client_config(cert_pem), name)
            .map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(WAIT)).expect("timeout");
        tcp.set_write_timeout(Some(WAIT)).expect("timeout");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // A peer that closes without close_notify, after a whole response, is fine here.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e.to_string()),
        }
        let leaf = tls.conn.peer_certificates().ok_or("no certificate")?[0].clone();
        let fp: Vec<String> = sha2::Sha256::digest(leaf.as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status in {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body, fp.join(":")))
    }

    /// A certificate for localhost and 127.0.0.1, written to `dir`: (cert path, key path, PEM).
    fn cert_files(dir: &Path, stem: &str) -> (String, String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, stem.to_string());
        let cert = params.self_signed(&key).expect("self-signed");
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (
            c.to_string_lossy().into_owned(),
            k.to_string_lossy().into_owned(),
            cert.pem(),
        )
    }

    #[test]
    fn bridge_serves_https_from_certificate_files_behind_its_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key, pem) = cert_files(dir.path(), "bridge");
        let (_guard, line) =
            start_bridge(&["--tls-cert", &cert, "--tls-key", &key, "--token", "t0k"]);
        let url = line["url"].as_str().expect("url");
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        let addr = addr_of(url);
        assert_eq!(line["tls"]["certificate"], pem.as_str());

        let (status, body, _) = https(&addr, &pem, "/api/v1/node", &[]).expect("HTTPS");
        assert_eq!(status, 401);
        assert!(body.contains("urn:ryre:problem:unauthorized"), "{body}");
        let (status, body, fp) =
            https(&addr, &pem, "/api/v1/node", &["Authorization: Bearer t0k"]).expect("HTTPS");
        assert_eq!(status, 200);
        assert!(body.contains("\"uuid\""), "{body}");
        assert_eq!(line["tls"]["sha256"], fp.as_str());

        // A client that trusts another certificate fails the handshake.
        let (_, _, other) = cert_files(dir.path(), "other");
        let err = https(&addr, &other, "/api/v1/node", &[]).expect_err("untrusted");
        assert!(
            err.contains("UnknownIssuer") || err.contains("invalid peer certificate"),
            "{err}"
        );

        // Plain HTTP on the port gets no HTTP answer.
        let mut tcp = TcpStream::connect(&addr).expect("connect");
        tcp.set_read_timeout(Some(WAIT)).expect("timeout");
        tcp.write_all(b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        let _ = tcp.read_to_end(&mut got);
        assert!(
            !got.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }

    #[test]
    fn bridge_self_signed_prints_the_fingerprint_the_handshake_shows() {
        let (_guard, line) = start_bridge(&["--tls-self-signed", "--tls-name", "bridge.test"]);
        let url = line["url"].as_str().expect("url");
        assert!(url.starts_with("https://"), "{url}");
        let pem = line["tls"]["certificate"].as_str().expect("certificate");
        let printed = line["tls"]["sha256"].as_str().expect("sha256");
        assert_eq!(printed.len(), 95, "{printed}");
        assert!(line["tls"]["spki_sha256"]
            .as_str()
            .is_some_and(|p| p.len() == 44));
        let (status, _, fp) = https(&addr_of(url), pem, "/api/v1/node", &[]).expect("HTTPS");
        assert_eq!(status, 200);
        assert_eq!(fp, printed);
    }

    #[test]
    fn bad_tls_flags_and_files_exit_2_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key, _) = cert_files(dir.path(), "a");
        let (_, other_key, _) = cert_files(dir.path(), "b");
        let missing = dir
            .path()
            .join("missing.pem")
            .to_string_lossy()
            .into_owned();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let garbage = garbage.to_string_lossy().into_owned();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--tls-cert", &cert], "--tls-key"),
            (vec!["--tls-key", &key], "--tls-cert"),
            (
                vec!["--tls-self-signed", "--tls-cert", &cert, "--tls-key", &key],
                "cannot be used",
            ),
            (vec!["--tls-name", "x"], "--tls-self-signed"),
            (
                vec!["--tls-cert", &missing, "--tls-key", &key],
                "cannot read certificate",
            ),
            (
                vec!["--tls-cert", &garbage, "--tls-key", &key],
                "not valid PEM",
            ),
            (
                vec!["--tls-cert", &key, "--tls-key", &key],
                "holds no certificate",
            ),
            (
                vec!["--tls-cert", &cert, "--tls-key", &cert],
                "holds no private key",
            ),
            (
                vec!["--tls-cert", &cert, "--tls-key", &other_key],
                "does not match",
            ),
            (
                vec!["--tls-self-signed", "--tls-name", "no such name"],
                "neither an IP",
            ),
        ];
        for (args, reason) in cases {
            let out = Command::new(env!("CARGO_BIN_EXE_ryre"))
                .args(["bridge", "--listen", "127.0.0.1:0", "--interface", "lo"])
                .args([
                    "--port",
                    &free_udp_port().to_string(),
                    "--no-logs",
                    "--no-services",
                ])
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(reason), "{args:?}: {stderr}");
        }
    }
}
