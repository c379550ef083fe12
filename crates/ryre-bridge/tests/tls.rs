//! HTTPS: the bridge served over rustls on 127.0.0.1, checked with real TLS clients (reqwest
//! with rustls trusting the test's certificate; tokio-rustls under a WebSocket client): REST
//! with and without the token, the SSE stream, the WebSocket over TLS, the dashboard; a client
//! that does not trust the certificate, plain HTTP on the TLS port and a silent connection are
//! refused; bad PEM, a missing file, a key of another certificate and an unsupported key type
//! are clear errors.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use ryre::Event;
use ryre_bridge::{BridgeConfig, TlsConfig, TlsError};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A P-521 key (made with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521`
/// for this test only): valid PKCS#8, but no curve rustls's `ring` provider signs with.
const P521_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIBCo3gQux3C47PP69h
xSfBsEvc1gEqbOP+3LV0ldznFpkbHMkNYqkeZrQIHnXrAcrzHTUcbmKDUwW7fC6G
TMwaGQyhgYkDgYYABAEQdHst+rYzuyIwcHnJrBZA3VRJsRReUARvAKWnGn45hFqn
Tcc1zQLDc/sSUyVXuMra+QmFRHLOu+9muvqvQ96UxgB2hq9bT/PsipFikaIjVVyy
enUXfhq/OLJULYV8JFIvkH/GZrPz4MdkRXBLZ0k4iYpQkkoECs5juqmZqENDSP1p
wQ==
-----END PRIVATE KEY-----
";

/// A certificate for `localhost` and 127.0.0.1 made by the test (not by the bridge's own
/// self-signed path), named `cn`: `(cert PEM, key PEM)`.
fn test_certificate(cn: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key.serialize_pem())
}

/// A reqwest client (rustls) that trusts exactly `cert_pem`, and resolves `localhost` to
/// 127.0.0.1 only.
fn trusting_client(cert_pem: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("PEM"))
        .resolve("localhost", addr)
        .https_only(true)
        .timeout(WAIT)
        .build()
        .expect("client")
}

/// A tokio-rustls connector that trusts exactly `cert_pem`.
fn connector(cert_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.expect("PEM")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket over TLS to `path` (`wss://localhost:PORT/...`).
async fn wss(
    cert_pem: &str,
    addr: SocketAddr,
    path: &str,
) -> Result<Wss, tokio_tungstenite::tungstenite::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio::time::timeout(WAIT, connector(cert_pem).connect(name, tcp))
        .await
        .expect("handshake within the wait")
        .expect("TLS handshake");
    let url = format!("wss://localhost:{}{path}", addr.port());
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tls))
        .await
        .expect("WebSocket upgrade within the wait")?;
    Ok(ws)
}

async fn ws_expect(ws: &mut Wss, kind: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a WebSocket message within the wait")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

fn tls_from(cert: &str, key: &str) -> TlsConfig {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert).expect("write");
    std::fs::write(&k, key).expect("write");
    TlsConfig::from_pem_files(&c, &k).expect("TLS from PEM files")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_rest_sse_and_websocket_behind_the_token() {
    let (cert, key) = test_certificate("test bridge");
    let port = free_udp_port();
    let config = BridgeConfig {
        token: Some("s3cret".into()),
        tls: Some(tls_from(&cert, &key)),
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start_https(port, config).await;
    let http = trusting_client(&cert, tb.addr);

    // REST: 401 without the token, 200 with it.
    let r = http.get(tb.at("/api/v1/node")).send().await.expect("GET");
    assert_problem(r, 401, "unauthorized").await;
    let r = http
        .get(tb.at("/api/v1/node"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(v["uuid"], tb.bridge.node().uuid().to_string());
    // The dashboard is served over HTTPS too.
    let r = http.get(tb.at("/")).send().await.expect("GET /");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("<html"));

    // SSE over TLS (the token as a query parameter, as a browser's EventSource sends it).
    let r = http
        .get(tb.at("/api/v1/events?access_token=s3cret"))
        .send()
        .await
        .expect("GET events");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    tb.bridge.node().join("chat").expect("join");
    let alice = builder(port, "alice").start().expect("alice");
    let mut alice_events = alice.events();
    alice.join("chat").expect("join");
    let enter = sse.expect("ENTER").await;
    assert_eq!(enter["peer"], alice.uuid().to_string());
    wait_sees_in(&alice, tb.bridge.node().uuid(), "chat").await;
    alice.shout_str("chat", "over tls").expect("shout");
    assert_eq!(sse.expect("SHOUT").await["text"], "over tls");

    // A POST with the token reaches alice.
    eventually("the bridge to see alice in chat", || async {
        tb.bridge
            .node()
            .peers_by_group("chat")
            .contains(&alice.uuid())
            .then_some(())
    })
    .await;
    let r = http
        .post(tb.at("/api/v1/groups/chat/messages"))
        .bearer_auth("s3cret")
        .header("content-type", "text/plain")
        .body("posted over https")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 204);
    let ev = expect_event(&mut alice_events, "SHOUT", |e| {
        matches!(e, Event::Shout { .. })
    })
    .await;
    let Event::Shout { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&content[0][..], b"posted over https");

    // WebSocket over TLS: refused without the token, commands with it.
    let refused = wss(&cert, tb.addr, "/api/v1/ws").await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401)
        }
        other => panic!("a WebSocket without the token must get 401, got {other:?}"),
    }
    let mut ws = wss(&cert, tb.addr, "/api/v1/ws?access_token=s3cret")
        .await
        .expect("wss");
    ws_expect(&mut ws, "READY").await;
    ws.send(Message::text(
        json!({"op": "shout", "group": "chat", "text": "from wss", "id": 7}).to_string(),
    ))
    .await
    .expect("send");
    assert_eq!(ws_expect(&mut ws, "ACK").await["id"], 7);
    let ev = expect_event(&mut alice_events, "SHOUT", |e| {
        matches!(e, Event::Shout { .. })
    })
    .await;
    let Event::Shout { content, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&content[0][..], b"from wss");
    // Events reach the socket as well.
    alice.shout_str("chat", "to wss").expect("shout");
    let shout = ws_expect(&mut ws, "SHOUT").await;
    assert_eq!(shout["text"], "to wss");
    let _ = ws.close(None).await;

    alice.stop().expect("stop");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_speak_trusted_tls_are_refused() {
    let (cert, key) = test_certificate("test bridge");
    let port = free_udp_port();
    let config = BridgeConfig {
        tls: Some(tls_from(&cert, &key)),
        header_timeout: Duration::from_millis(500),
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start_https(port, config).await;

    // A client trusting another certificate fails the handshake, and says why.
    let (other, _) = test_certificate("another bridge");
    let err = trusting_client(&other, tb.addr)
        .get(tb.at("/api/v1/node"))
        .send()
        .await
        .expect_err("an untrusted certificate must fail the handshake");
    let chain = format!("{err:?}");
    assert!(err.is_connect(), "{chain}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(tb.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /api/v1/node HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the bridge must close a plain HTTP connection"
    );
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&got)
    );
    let plain = reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client")
        .get(format!("http://{}/api/v1/node", tb.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP must fail, got {plain:?}");

    // A connection that never starts its handshake is closed after the header timeout.
    let mut silent = tokio::net::TcpStream::connect(tb.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, silent.read(&mut buf))
        .await
        .expect("a silent connection must be closed within the wait");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

    // And a trusting client is still served.
    let r = trusting_client(&cert, tb.addr)
        .get(tb.at("/api/v1/node"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_pinned_by_its_fingerprint() {
    let tls = TlsConfig::self_signed(&["localhost".into(), "127.0.0.1".into()]).expect("self");
    let pem = tls.certificate_pem();
    let fingerprint = tls.fingerprint();
    let port = free_udp_port();
    let config = BridgeConfig {
        tls: Some(tls),
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start_https(port, config).await;
    // The client sees the certificate the fingerprint names.
    let tcp = tokio::net::TcpStream::connect(tb.addr)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector(&pem).connect(name, tcp).await.expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("certificates")[0].clone();
    use sha2::Digest;
    let seen: Vec<String> = sha2::Sha256::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(seen.join(":"), fingerprint);
    drop(tls);
    let r = trusting_client(&pem, tb.addr)
        .get(tb.at("/api/v1/node"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_limit_the_503_comes_inside_tls() {
    let (cert, key) = test_certificate("test bridge");
    let port = free_udp_port();
    let config = BridgeConfig {
        tls: Some(tls_from(&cert, &key)),
        max_connections: 1,
        ..BridgeConfig::default()
    };
    let tb = TestBridge::start_https(port, config).await;
    // One busy connection: an event stream.
    let r = trusting_client(&cert, tb.addr)
        .get(tb.at("/api/v1/events"))
        .send()
        .await
        .expect("GET events");
    let mut sse = SseReader::new(r);
    sse.expect("ready").await;
    // A second client gets the reason as HTTPS.
    let r = trusting_client(&cert, tb.addr)
        .get(tb.at("/api/v1/node"))
        .send()
        .await
        .expect("a 503 over TLS");
    let v = assert_problem(r, 503, "too-many-connections").await;
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 1")),
        "{v}"
    );
    drop(sse);
    tb.shutdown().await;
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn bad_pem_and_mismatched_keys_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (cert, key) = test_certificate("test bridge");
    let (_, other_key) = test_certificate("another bridge");
    let good_cert = write(d, "cert.pem", &cert);
    let good_key = write(d, "key.pem", &key);
    assert!(TlsConfig::from_pem_files(&good_cert, &good_key).is_ok());

    let missing = d.join("missing.pem");
    let e = TlsConfig::from_pem_files(&missing, &good_key).expect_err("missing");
    assert!(
        matches!(
            e,
            TlsError::Read {
                what: "certificate",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let e = TlsConfig::from_pem_files(&good_cert, &missing).expect_err("missing key");
    assert!(
        matches!(
            e,
            TlsError::Read {
                what: "private key",
                ..
            }
        ),
        "{e:?}"
    );

    let broken = write(
        d,
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n",
    );
    let e = TlsConfig::from_pem_files(&broken, &good_key).expect_err("bad PEM");
    assert!(
        matches!(
            e,
            TlsError::BadPem {
                what: "certificate",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("not valid PEM"), "{e}");

    let unterminated = write(d, "cut.pem", &cert[..cert.len() / 2]);
    let e = TlsConfig::from_pem_files(&unterminated, &good_key).expect_err("cut PEM");
    assert!(matches!(e, TlsError::BadPem { .. }), "{e:?}");

    let empty = write(d, "empty.pem", "hello\n");
    let e = TlsConfig::from_pem_files(&empty, &good_key).expect_err("no certificate");
    assert!(matches!(e, TlsError::NoCertificate(_)), "{e:?}");
    // A certificate given as the key: no private key in it.
    let e = TlsConfig::from_pem_files(&good_cert, &good_cert).expect_err("no key");
    assert!(matches!(e, TlsError::NoKey(_)), "{e:?}");
    // The key and certificate swapped: no certificate.
    let e = TlsConfig::from_pem_files(&good_key, &good_cert).expect_err("swapped");
    assert!(matches!(e, TlsError::NoCertificate(_)), "{e:?}");

    let wrong = write(d, "other-key.pem", &other_key);
    let e = TlsConfig::from_pem_files(&good_cert, &wrong).expect_err("mismatch");
    assert!(matches!(e, TlsError::KeyMismatch), "{e:?}");
    assert!(e.to_string().contains("does not match"), "{e}");

    let p521 = write(d, "p521.pem", P521_KEY);
    let e = TlsConfig::from_pem_files(&good_cert, &p521).expect_err("P-521");
    assert!(matches!(e, TlsError::UnsupportedKey(_)), "{e:?}");
    assert!(e.to_string().contains("unsupported private key"), "{e}");
}
