//! `ryre bridge --tls-*` as a real process on loopback, served to a real TLS client (rustls):
//! certificate files with the token, a self-signed certificate whose printed fingerprint is the
//! one the handshake shows, plain HTTP on the TLS port refused, and clear errors for bad TLS
//! flags and files. Children are killed when their guard drops; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ryre_testkit::{free_udp_port, Kill as Guard};
use serde_json::Value;
use sha2::Digest;

const WAIT: Duration = Duration::from_secs(20);

/// Starts `ryre bridge --json` with extra arguments; the guard and its LISTENING line.
fn start_bridge(extra: &[&str]) -> (Guard, Value) {
    let port = free_udp_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ryre"))
        .args(["bridge", "--json", "--listen", "127.0.0.1:0"])
        .args(["--interface", "lo", "--port", &port, "--interval", "100"])
        .args(["--no-logs", "--no-services"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    let conn =
        rustls::ClientConnection::new(client_config(cert_pem), name).map_err(|e| e.to_string())?;
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
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
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
    let (_guard, line) = start_bridge(&["--tls-cert", &cert, "--tls-key", &key, "--token", "t0k"]);
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
