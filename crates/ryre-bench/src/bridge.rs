//! `ryre bench bridge`: the HTTP bridge measured against the Rust API, in one run.
//!
//! - Shout throughput: N shouts through `POST /api/v1/groups/bench/messages` over keep-alive
//!   connections to a `ryre bridge` child process, counted when a receiving node (in this
//!   process) has them all; against two baselines of the same round: N POSTs from the same
//!   client, over as many connections, to a bare axum server (the hidden `ryre bench
//!   bare-http` child: one route that answers 204 at once, on the same runtime as the bridge),
//!   and N shouts through `Node::shout` from a node of this process to the same kind of
//!   receiver over the same kind of link (TCP through libzmq, as the bridge's node reaches the
//!   receiver; the rate of two nodes of one process linked in memory is reported beside it, but
//!   is not a baseline: no node in another process has that path). Rounds alternate (API, bare HTTP, bridge, ...); medians are reported, with the
//!   HTTP requests' p50/p99 latency.
//! - SSE fan-out: C clients on `GET /api/v1/events?type=SHOUT` while a node shouts R per second
//!   for S seconds to a group the bridge is in; every client must get every shout. The bridge's
//!   CPU time (from /proc) over that time is reported.
//!
//! - With `--tls`: every round also runs the same POSTs and WebSocket commands against a second
//!   bridge child served over HTTPS (`ryre bridge --tls-self-signed`, the client trusting the
//!   certificate it prints), and reports HTTPS/HTTP ratios of the same rounds.
//!
//! Everything is on loopback: beacons on `lo` with an OS-chosen UDP port, HTTP on 127.0.0.1
//! with an OS-chosen port. Every wait is bounded and the child is killed on exit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ryre::{Bytes, Event, Node, PeerId};
use serde_json::{json, Value};

use crate::print_line;
use crate::{median, percentile};
use crate::{BenchError, BenchResult};

/// Longest wait for any single step.
const STALL: Duration = Duration::from_secs(30);

/// Arguments of `ryre bench bridge`.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Content bytes per shout.
    pub size: u32,
    /// Shouts per measurement.
    pub count: u32,
    /// Keep-alive HTTP connections sending at once.
    pub connections: u32,
    /// Measurements of each kind (API and HTTP alternate); medians are reported.
    pub rounds: u32,
    /// SSE clients of the fan-out measurement (0 skips it).
    pub sse_clients: u32,
    /// Shouts per second during the fan-out.
    pub sse_rate: u32,
    /// Seconds of fan-out.
    pub sse_secs: u32,
    /// Also measure the bridge over HTTPS (same rounds; ratios to plain HTTP).
    pub tls: bool,
    /// Also send the WebSocket shouts as batches of this many commands per text message (a
    /// JSON array; 0 skips that measurement). The ordinary one-command-per-message
    /// measurement always runs.
    pub ws_batch: u32,
    /// Print one JSON object with every number.
    pub json: bool,
}

fn rt_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Runtime(e.to_string())
}

fn free_udp_port() -> Result<u16, BenchError> {
    ryre::private_port().map_err(BenchError::runtime)
}

/// A `ryre bridge` (or `ryre bench bare-http`) child process, killed on drop.
struct BridgeProc {
    child: Child,
    url: String,
    /// The certificate (PEM) of a bridge served over HTTPS.
    cert: Option<String>,
}

impl BridgeProc {
    /// `ryre bridge` of this binary, or of the `ryre` binary named by `RYRE_BENCH_BRIDGE` (to
    /// measure another build's bridge against the same client and baseline).
    fn start(port: u16, join: &[&str], tls: bool) -> Result<BridgeProc, BenchError> {
        let exe = match std::env::var_os("RYRE_BENCH_BRIDGE") {
            Some(p) => std::path::PathBuf::from(p),
            None => crate::ryre_exe().map_err(rt_err)?,
        };
        let mut cmd = Command::new(exe);
        cmd.args([
            "bridge",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--interface",
            "lo",
        ])
        .args(["--port", &port.to_string(), "--interval", "100", "--name"])
        .arg("bench-bridge")
        .args(["--client-buffer", "65536"]);
        for g in join {
            cmd.args(["--join", g]);
        }
        if tls {
            cmd.arg("--tls-self-signed");
        }
        BridgeProc::spawn(cmd.stdin(Stdio::null()))
    }

    /// The bare axum baseline: `ryre bench bare-http`, which ends when its stdin closes.
    fn start_bare() -> Result<BridgeProc, BenchError> {
        let exe = crate::ryre_exe().map_err(rt_err)?;
        let mut cmd = Command::new(exe);
        cmd.args(["bench", "bare-http"]);
        BridgeProc::spawn(cmd.stdin(Stdio::piped()))
    }

    /// Starts `cmd` and reads its start line (`{"url": ...}`).
    fn spawn(cmd: &mut Command) -> Result<BridgeProc, BenchError> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Runtime(format!("cannot start {cmd:?}: {e}")))?;
        let stdout = child.stdout.take();
        let mut proc = BridgeProc {
            child,
            url: String::new(),
            cert: None,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Some(out) = stdout {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        });
        let line = rx
            .recv_timeout(STALL)
            .map_err(|_| BenchError::Runtime(format!("{cmd:?} did not start listening")))?;
        let v: Value = serde_json::from_str(&line).map_err(rt_err)?;
        proc.url = v["url"]
            .as_str()
            .ok_or_else(|| BenchError::Runtime(format!("unexpected start line {line}")))?
            .trim_end_matches('/')
            .to_string();
        proc.cert = v["tls"]["certificate"].as_str().map(str::to_string);
        Ok(proc)
    }

    /// CPU seconds (user + system) the child has used.
    fn cpu_secs(&self) -> Result<f64, BenchError> {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).map_err(rt_err)?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| BenchError::Runtime("cannot parse /proc stat".into()))?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> f64 { f.get(i).and_then(|s| s.parse().ok()).unwrap_or(0.0) };
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok((ticks(11) + ticks(12)) / hz)
    }
}

impl Drop for BridgeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) this process has used, all threads (microsecond resolution).
fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// A receiving node on loopback that counts SHOUTs on its own thread.
struct Receiver {
    node: Node,
    count: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(node: Node) -> Receiver {
        let count = Arc::new(AtomicU64::new(0));
        let (n, c) = (node.clone(), count.clone());
        let thread = std::thread::spawn(move || {
            while let Ok(ev) = n.recv() {
                if let Event::Shout { .. } = ev {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Receiver {
            node,
            count,
            thread: Some(thread),
        }
    }

    /// Waits until `n` shouts in total have arrived; the instant the last one was seen.
    fn wait_for(&self, n: u64) -> Result<Instant, BenchError> {
        let mut last = self.count.load(Ordering::Relaxed);
        let mut progress = Instant::now();
        loop {
            let now = self.count.load(Ordering::Relaxed);
            if now >= n {
                return Ok(Instant::now());
            }
            if now != last {
                last = now;
                progress = Instant::now();
            } else if progress.elapsed() > STALL {
                return Err(BenchError::Runtime(format!(
                    "only {now} of {n} shouts arrived (none for {STALL:?})"
                )));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.node.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn loopback_node(name: &str, port: u16) -> Result<Node, BenchError> {
    Ok(Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
        .send_hwm(10_000_000)
        .start()?)
}

/// Waits until `node` has seen `peer` join `group`.
fn wait_join(node: &Node, peer: PeerId, group: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + STALL;
    while Instant::now() < deadline {
        if node.peers_by_group(group).contains(&peer) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(BenchError::Runtime(format!(
        "{} did not see {peer} in {group}",
        node.name()
    )))
}

/// The API side: `count` shouts from a node of this process; time to the last receipt.
///
/// With `over_tcp`, the two nodes are linked over TCP through libzmq, the link the bridge's
/// node has to the receiver (no discovery, introduced with `connect_peer`, so neither is in the
/// process's in-memory registry); without, they find each other in the process and are linked
/// in memory (`memlink`), a path only nodes of one process have.
fn api_round(
    port: u16,
    size: usize,
    count: u32,
    over_tcp: bool,
) -> Result<(Duration, f64), BenchError> {
    let (rx, tx) = if over_tcp {
        let make = |name: &str| crate::tcp_node(name, 10_000_000).start();
        let rx = Receiver::start(make("bench-rx")?);
        rx.node.join("bench")?;
        let tx = make("bench-api")?;
        tx.connect_peer(rx.node.uuid(), rx.node.endpoint())?;
        rx.node.connect_peer(tx.uuid(), tx.endpoint())?;
        (rx, tx)
    } else {
        let rx = Receiver::start(loopback_node("bench-rx", port)?);
        rx.node.join("bench")?;
        (rx, loopback_node("bench-api", port)?)
    };
    wait_join(&tx, rx.node.uuid(), "bench")?;
    let payload = Bytes::from(vec![b'x'; size]);
    let cpu0 = self_cpu_secs();
    let start = Instant::now();
    for _ in 0..count {
        tx.shout("bench", [payload.clone()])?;
    }
    let end = rx.wait_for(u64::from(count))?;
    let cpu = self_cpu_secs() - cpu0;
    let _ = tx.stop();
    Ok((end - start, cpu))
}

/// Results of one HTTP round: time to the last receipt, and every request's latency; then the
/// same shouts as pipelined WebSocket commands on one connection.
struct HttpRound {
    elapsed: Duration,
    latencies: Vec<Duration>,
    ws_elapsed: Duration,
    /// The bridge process's CPU seconds during the POSTs.
    http_cpu: f64,
    /// Both processes' CPU seconds during the POSTs (the bridge, and this one: client and
    /// receiver).
    http_cpu_all: f64,
    /// Both processes' CPU seconds during the WebSocket commands.
    ws_cpu_all: f64,
    /// The same shouts as batches of commands (elapsed, CPU of both processes), if measured.
    ws_batch: Option<(Duration, f64)>,
}

/// `count` shout commands on one WebSocket, sent without waiting for their ACKs (which are
/// counted as they come), `batch` commands per text message (1: one command per message, else
/// a JSON array of them); the instant the first command went (after the connection is open and
/// its READY has come) and the instant every ACK had arrived.
async fn ws_shouts(
    ws_url: &str,
    size: usize,
    count: u32,
    batch: u32,
    cert: Option<&str>,
) -> Result<(Instant, Instant), BenchError> {
    match cert {
        None => {
            let (ws, _) = tokio_tungstenite::connect_async(ws_url)
                .await
                .map_err(rt_err)?;
            ws_shouts_on(ws, size, count, batch).await
        }
        Some(pem) => {
            let (host, port) = ws_url
                .trim_start_matches("wss://")
                .split('/')
                .next()
                .and_then(|a| a.rsplit_once(':'))
                .ok_or_else(|| BenchError::Runtime(format!("bad URL {ws_url}")))?;
            let tcp = tokio::net::TcpStream::connect(format!("{host}:{port}"))
                .await
                .map_err(rt_err)?;
            let _ = tcp.set_nodelay(true);
            let name = rustls_pki_types::ServerName::try_from(host.to_string()).map_err(rt_err)?;
            let tls = tokio_rustls::TlsConnector::from(client_tls(pem)?)
                .connect(name, tcp)
                .await
                .map_err(rt_err)?;
            let (ws, _) = tokio_tungstenite::client_async(ws_url, tls)
                .await
                .map_err(rt_err)?;
            ws_shouts_on(ws, size, count, batch).await
        }
    }
}

/// A rustls client configuration (the `ring` provider) trusting exactly `pem`.
fn client_tls(pem: &str) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(c.map_err(rt_err)?).map_err(rt_err)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(rt_err)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The shouts of [`ws_shouts`] on an open WebSocket.
async fn ws_shouts_on<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    size: usize,
    count: u32,
    batch: u32,
) -> Result<(Instant, Instant), BenchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut tx, mut rx) = ws.split();
    // The bridge greets with READY first.
    match tokio::time::timeout(STALL, rx.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains(r#""type":"READY""#) => {}
        other => {
            return Err(BenchError::Runtime(format!(
                "WebSocket: no READY first ({other:?})"
            )))
        }
    }
    use futures_util::FutureExt;
    use tokio_tungstenite::tungstenite::Utf8Bytes;
    let text = "x".repeat(size);
    let cmd = json!({"op": "shout", "group": "bench", "text": text}).to_string();
    let batch = batch.max(1);
    // The messages, made once (a clone is a reference count): `full` of `batch` commands, and
    // one shorter for the rest.
    let message = |n: u32| -> Utf8Bytes {
        if batch == 1 {
            return cmd.clone().into();
        }
        let mut m = String::from("[");
        for i in 0..n {
            if i > 0 {
                m.push(',');
            }
            m.push_str(&cmd);
        }
        m.push(']');
        m.into()
    };
    let full = message(batch);
    let rest = message(count % batch);
    let reader = tokio::spawn(async move {
        let mut acks = 0u32;
        while acks < count {
            // A message already here is taken without arming a timer.
            let next = match rx.next().now_or_never() {
                Some(m) => Ok(m),
                None => tokio::time::timeout(STALL, rx.next()).await,
            };
            match next {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let t = t.as_str();
                    if t.contains(r#""type":"ERROR""#) {
                        return Err(BenchError::Runtime(format!(
                            "WebSocket command failed: {t}"
                        )));
                    }
                    let n = t.matches(r#""type":"ACK""#).count();
                    acks += u32::try_from(n).unwrap_or(u32::MAX);
                }
                Ok(Some(Ok(_))) => {}
                _ => {
                    return Err(BenchError::Runtime(format!(
                        "WebSocket: only {acks} of {count} ACKs"
                    )))
                }
            }
        }
        Ok(Instant::now())
    });
    let start = Instant::now();
    for _ in 0..count / batch {
        tx.feed(Message::Text(full.clone())).await.map_err(rt_err)?;
    }
    if count % batch > 0 {
        tx.feed(Message::Text(rest)).await.map_err(rt_err)?;
    }
    tx.flush().await.map_err(rt_err)?;
    let done = reader.await.map_err(rt_err)??;
    let _ = tx.close().await;
    Ok((start, done))
}

/// An HTTP client of `connections` keep-alive connections (the same for the bridge and the
/// bare baseline).
fn http_client(connections: u32, cert: Option<&str>) -> Result<reqwest::Client, BenchError> {
    let mut b = reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .timeout(STALL);
    if let Some(pem) = cert {
        b = b
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).map_err(rt_err)?)
            .https_only(true);
    }
    b.build().map_err(rt_err)
}

/// One warm-up POST per connection (each must get 204).
async fn warm_up(client: &reqwest::Client, url: &str, connections: u32) -> Result<(), BenchError> {
    let mut warm = Vec::new();
    for _ in 0..connections {
        let (c, u) = (client.clone(), url.to_string());
        warm.push(tokio::spawn(async move {
            c.post(&u).body("warm").send().await.map(|r| r.status())
        }));
    }
    for w in warm {
        let status = w.await.map_err(rt_err)?.map_err(rt_err)?;
        if status != 204 {
            return Err(BenchError::Runtime(format!("warm-up POST got {status}")));
        }
    }
    Ok(())
}

/// `count` POSTs of `body` to `url` from `connections` tasks, each waiting for its answer
/// (204) before the next; every request's latency, in the order they finished per task.
async fn post_burst(
    client: &reqwest::Client,
    url: &str,
    body: &Bytes,
    count: u32,
    connections: u32,
) -> Result<Vec<Duration>, BenchError> {
    let mut tasks = Vec::new();
    for i in 0..connections {
        let share = count / connections + u32::from(i < count % connections);
        let (c, u, b) = (client.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(share as usize);
            for _ in 0..share {
                let t0 = Instant::now();
                let r = c
                    .post(&u)
                    .header("content-type", "application/octet-stream")
                    .body(b.clone())
                    .send()
                    .await
                    .map_err(rt_err)?;
                if r.status() != 204 {
                    return Err(BenchError::Runtime(format!("POST got {}", r.status())));
                }
                lat.push(t0.elapsed());
            }
            Ok::<_, BenchError>(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(count as usize);
    for t in tasks {
        latencies.extend(t.await.map_err(rt_err)??);
    }
    latencies.sort();
    Ok(latencies)
}

/// Results of one baseline round: time from the first request to the last answer, every
/// request's latency, and the server's CPU seconds during the POSTs.
struct BareRound {
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu: f64,
    /// Both processes' CPU seconds (the bare server and this one: the client).
    cpu_all: f64,
}

/// The bare baseline: the same `count` POSTs, from the same kind of client over as many
/// connections, to a bare axum child whose route answers 204 at once.
fn bare_round(
    rt: &tokio::runtime::Runtime,
    size: usize,
    count: u32,
    connections: u32,
) -> Result<BareRound, BenchError> {
    let bare = BridgeProc::start_bare()?;
    let url = format!("{}/api/v1/groups/bench/messages", bare.url);
    let body = Bytes::from(vec![b'x'; size]);
    rt.block_on(async move {
        let client = http_client(connections, None)?;
        warm_up(&client, &url, connections).await?;
        let (cpu0, own0) = (bare.cpu_secs()?, self_cpu_secs());
        let start = Instant::now();
        let latencies = post_burst(&client, &url, &body, count, connections).await?;
        let elapsed = start.elapsed();
        let cpu = bare.cpu_secs()? - cpu0;
        let cpu_all = cpu + self_cpu_secs() - own0;
        drop(bare);
        Ok(BareRound {
            elapsed,
            latencies,
            cpu,
            cpu_all,
        })
    })
}

/// The HTTP side: `count` POSTs over `connections` keep-alive connections to a bridge child.
fn http_round(
    rt: &tokio::runtime::Runtime,
    port: u16,
    size: usize,
    count: u32,
    connections: u32,
    tls: bool,
    ws_batch: u32,
) -> Result<HttpRound, BenchError> {
    let bridge = BridgeProc::start(port, &[], tls)?;
    if tls && bridge.cert.is_none() {
        return Err(BenchError::Runtime(
            "the bridge printed no TLS certificate".into(),
        ));
    }
    let rx = Receiver::start(loopback_node("bench-rx", port)?);
    rx.node.join("bench")?;
    let url = format!("{}/api/v1/groups/bench/messages", bridge.url);
    let peers_url = format!("{}/api/v1/peers/{}", bridge.url, rx.node.uuid());
    let ws_url = format!(
        "{}/api/v1/ws?type=JOIN",
        bridge
            .url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let cert = bridge.cert.clone();
    let body = Bytes::from(vec![b'x'; size]);
    rt.block_on(async move {
        let client = http_client(connections, cert.as_deref())?;
        // Wait until the bridge's node has the receiver in the group.
        let deadline = Instant::now() + STALL;
        loop {
            let ok = match client.get(&peers_url).send().await {
                Ok(r) if r.status() == 200 => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| {
                        v["groups"]
                            .as_array()
                            .map(|g| g.iter().any(|g| g == "bench"))
                    })
                    .unwrap_or(false),
                _ => false,
            };
            if ok {
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError::Runtime(
                    "the bridge did not see the receiver join".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        warm_up(&client, &url, connections).await?;
        let warmed = u64::from(connections);
        let (cpu0, own0) = (bridge.cpu_secs()?, self_cpu_secs());
        let start = Instant::now();
        let latencies = post_burst(&client, &url, &body, count, connections).await?;
        let end = tokio::task::block_in_place(|| rx.wait_for(warmed + u64::from(count)))?;
        let http_cpu = bridge.cpu_secs()? - cpu0;
        let http_cpu_all = http_cpu + self_cpu_secs() - own0;
        let (cpu0, own0) = (bridge.cpu_secs()?, self_cpu_secs());
        let (ws_start, ws_end) = ws_shouts(&ws_url, size, count, 1, cert.as_deref()).await?;
        let ws_end = ws_end.max(tokio::task::block_in_place(|| {
            rx.wait_for(warmed + 2 * u64::from(count))
        })?);
        let ws_cpu_all = bridge.cpu_secs()? - cpu0 + self_cpu_secs() - own0;
        let ws_batch = if ws_batch > 0 {
            let (cpu0, own0) = (bridge.cpu_secs()?, self_cpu_secs());
            let (start, end) = ws_shouts(&ws_url, size, count, ws_batch, cert.as_deref()).await?;
            let end = end.max(tokio::task::block_in_place(|| {
                rx.wait_for(warmed + 3 * u64::from(count))
            })?);
            let cpu = bridge.cpu_secs()? - cpu0 + self_cpu_secs() - own0;
            Some((end - start, cpu))
        } else {
            None
        };
        drop(bridge);
        Ok(HttpRound {
            elapsed: end - start,
            latencies,
            ws_elapsed: ws_end - ws_start,
            http_cpu,
            http_cpu_all,
            ws_cpu_all,
            ws_batch,
        })
    })
}

/// Results of the SSE fan-out.
struct FanOut {
    shouts: u64,
    clients: u32,
    delivered: u64,
    wall: Duration,
    bridge_cpu: f64,
}

fn sse_fanout(
    rt: &tokio::runtime::Runtime,
    port: u16,
    clients: u32,
    rate: u32,
    secs: u32,
) -> Result<FanOut, BenchError> {
    let bridge = BridgeProc::start(port, &["fan"], false)?;
    let tx = loopback_node("bench-fan", port)?;
    tx.join("fan")?;
    let events_url = format!("{}/api/v1/events?type=SHOUT", bridge.url);
    let node_url = format!("{}/api/v1/node", bridge.url);
    let shouts = u64::from(rate) * u64::from(secs);
    rt.block_on(async {
        // The sender must see the bridge in the group before it shouts.
        let bridge_id: PeerId = {
            let v: Value = reqwest::get(&node_url)
                .await
                .map_err(rt_err)?
                .json()
                .await
                .map_err(rt_err)?;
            v["uuid"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| BenchError::Runtime("no uuid from the bridge".into()))?
        };
        let t = tx.clone();
        tokio::task::spawn_blocking(move || wait_join(&t, bridge_id, "fan"))
            .await
            .map_err(rt_err)??;
        let counts: Vec<Arc<AtomicU64>> = (0..clients).map(|_| Arc::default()).collect();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients as usize);
        let client = reqwest::Client::builder().build().map_err(rt_err)?;
        let mut readers = Vec::new();
        for c in &counts {
            let (c, client, url, ready) = (
                c.clone(),
                client.clone(),
                events_url.clone(),
                ready_tx.clone(),
            );
            readers.push(tokio::spawn(async move {
                let r = client.get(&url).send().await.map_err(rt_err)?;
                if r.status() != 200 {
                    return Err(BenchError::Runtime(format!("SSE got {}", r.status())));
                }
                let _ = ready.send(()).await;
                let mut stream = r.bytes_stream();
                let needle = b"event: SHOUT\n";
                let mut tail: Vec<u8> = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(rt_err)?;
                    tail.extend_from_slice(&chunk);
                    let n = tail.windows(needle.len()).filter(|w| w == needle).count();
                    c.fetch_add(n as u64, Ordering::Relaxed);
                    let keep = tail.len().min(needle.len() - 1);
                    tail.drain(..tail.len() - keep);
                    if c.load(Ordering::Relaxed) >= shouts {
                        break;
                    }
                }
                Ok::<_, BenchError>(())
            }));
        }
        drop(ready_tx);
        for _ in 0..clients {
            tokio::time::timeout(STALL, ready_rx.recv())
                .await
                .map_err(|_| BenchError::Runtime("SSE clients did not connect".into()))?;
        }
        let cpu0 = bridge.cpu_secs()?;
        let start = Instant::now();
        let sender = tx.clone();
        let send = tokio::task::spawn_blocking(move || -> Result<(), BenchError> {
            let payload = Bytes::from_static(b"fan-out shout 16");
            let every = Duration::from_secs(1) / rate;
            let mut next = Instant::now();
            for _ in 0..shouts {
                sender.shout("fan", [payload.clone()])?;
                next += every;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
            Ok(())
        });
        send.await.map_err(rt_err)??;
        let deadline = Instant::now() + STALL;
        loop {
            let done = counts
                .iter()
                .filter(|c| c.load(Ordering::Relaxed) >= shouts)
                .count();
            if done == clients as usize {
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let wall = start.elapsed();
        let cpu1 = bridge.cpu_secs()?;
        let delivered = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        for r in readers {
            r.abort();
        }
        let _ = tx.stop();
        drop(bridge);
        Ok(FanOut {
            shouts,
            clients,
            delivered,
            wall,
            bridge_cpu: cpu1 - cpu0,
        })
    })
}

/// `ryre bench bare-http` (internal): the baseline server of `ryre bench bridge`. A bare axum
/// router whose one route (`POST /api/v1/groups/{group}/messages`, the bridge's shout path)
/// answers 204 at once, served with `axum::serve` (TCP_NODELAY, as the bridge sets) on the same
/// kind of runtime as `ryre bridge` (multi-threaded, 2 workers), on 127.0.0.1 with an OS-chosen
/// port. Prints `{"event":"LISTENING","url":...}` and serves until its stdin closes.
pub fn bare_http() -> BenchResult {
    use axum::serve::ListenerExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(rt_err)?;
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/api/v1/groups/{group}/messages",
            axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(rt_err)?;
        let addr = listener.local_addr().map_err(rt_err)?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        print_line(&json!({"event": "LISTENING", "url": format!("http://{addr}/")}).to_string());
        // The parent holds our stdin: its end (the parent exits or kills us) ends the server.
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            })
            .await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stdin_closed)
            .await
            .map_err(rt_err)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `ryre bench bridge`.
pub fn run(a: &BridgeOptions) -> BenchResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(rt_err)?;
    let size = a.size as usize;
    let mut api_rates = Vec::new();
    // The api's rate between two nodes of this process linked in memory (reported, not a
    // baseline: the bridge's node reaches the receiver over TCP).
    let mut api_mem_rates = Vec::new();
    let mut bare_rates = Vec::new();
    let mut http_rates = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut bare_p50s = Vec::new();
    let mut ws_rates = Vec::new();
    let mut cpu_per_req = Vec::new();
    let mut bare_cpu_per_req = Vec::new();
    let mut bare_ratios = Vec::new();
    let mut ws_ratios = Vec::new();
    // The batched WebSocket measurement (--ws-batch): rates, ratios to the api, CPU.
    let (mut wsb_rates, mut wsb_ratios, mut wsb_cpu) = (Vec::new(), Vec::new(), Vec::new());
    // CPU (all processes) per message, microseconds.
    let (mut api_cpu, mut bare_cpu, mut http_cpu, mut ws_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let per = |secs: f64| secs / f64::from(a.count) * 1e6;
    // With --tls: the HTTPS bridge of each round, and its ratios to the plain one.
    let (mut tls_rates, mut tls_p50s, mut tls_p99s, mut tls_ws_rates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut tls_ratios, mut tls_ws_ratios, mut tls_cpu_per_req, mut tls_cpu, mut tls_ws_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..a.rounds {
        let (d, cpu) = api_round(free_udp_port()?, size, a.count, true)?;
        api_rates.push(f64::from(a.count) / d.as_secs_f64());
        api_cpu.push(per(cpu));
        let (d, _) = api_round(free_udp_port()?, size, a.count, false)?;
        api_mem_rates.push(f64::from(a.count) / d.as_secs_f64());
        let b = bare_round(&rt, size, a.count, a.connections)?;
        bare_rates.push(f64::from(a.count) / b.elapsed.as_secs_f64());
        bare_p50s.push(percentile(&b.latencies, 50.0).as_secs_f64() * 1e6);
        bare_cpu_per_req.push(b.cpu / f64::from(a.count) * 1e6);
        bare_cpu.push(per(b.cpu_all));
        let h = http_round(
            &rt,
            free_udp_port()?,
            size,
            a.count,
            a.connections,
            false,
            a.ws_batch,
        )?;
        http_rates.push(f64::from(a.count) / h.elapsed.as_secs_f64());
        p50s.push(percentile(&h.latencies, 50.0).as_secs_f64() * 1e6);
        p99s.push(percentile(&h.latencies, 99.0).as_secs_f64() * 1e6);
        ws_rates.push(f64::from(a.count) / h.ws_elapsed.as_secs_f64());
        cpu_per_req.push(h.http_cpu / f64::from(a.count) * 1e6);
        http_cpu.push(per(h.http_cpu_all));
        ws_cpu.push(per(h.ws_cpu_all));
        let r = round as usize;
        bare_ratios.push(http_rates[r] / bare_rates[r]);
        ws_ratios.push(ws_rates[r] / api_rates[r]);
        if let Some((d, cpu)) = h.ws_batch {
            wsb_rates.push(f64::from(a.count) / d.as_secs_f64());
            wsb_ratios.push(f64::from(a.count) / d.as_secs_f64() / api_rates[r]);
            wsb_cpu.push(per(cpu));
        }
        if !a.json {
            eprintln!(
                "round {}: api {:.0} shouts/s over tcp ({:.0} in memory), bare axum {:.0} req/s \
                 (p50 {:.0} us), bridge {:.0} req/s (p50 {:.0} us, p99 {:.0} us) = {:.3} of bare, \
                 websocket {:.0} shouts/s = {:.3} of api",
                round + 1,
                api_rates[r],
                api_mem_rates[r],
                bare_rates[r],
                bare_p50s[r],
                http_rates[r],
                p50s[r],
                p99s[r],
                bare_ratios[r],
                ws_rates[r],
                ws_ratios[r]
            );
            if let (Some(rate), Some(ratio)) = (wsb_rates.get(r), wsb_ratios.get(r)) {
                eprintln!(
                    "round {}: websocket in batches of {} commands {rate:.0} shouts/s = {ratio:.3} \
                     of api",
                    round + 1,
                    a.ws_batch
                );
            }
        }
        if a.tls {
            let t = http_round(&rt, free_udp_port()?, size, a.count, a.connections, true, 0)?;
            let rate = f64::from(a.count) / t.elapsed.as_secs_f64();
            let ws_rate = f64::from(a.count) / t.ws_elapsed.as_secs_f64();
            tls_rates.push(rate);
            tls_p50s.push(percentile(&t.latencies, 50.0).as_secs_f64() * 1e6);
            tls_p99s.push(percentile(&t.latencies, 99.0).as_secs_f64() * 1e6);
            tls_ws_rates.push(ws_rate);
            tls_ratios.push(rate / http_rates[r]);
            tls_ws_ratios.push(ws_rate / ws_rates[r]);
            tls_cpu_per_req.push(t.http_cpu / f64::from(a.count) * 1e6);
            tls_cpu.push(per(t.http_cpu_all));
            tls_ws_cpu.push(per(t.ws_cpu_all));
            if !a.json {
                eprintln!(
                    "round {}: https bridge {rate:.0} req/s = {:.3} of http, wss {ws_rate:.0} \
                     shouts/s = {:.3} of ws",
                    round + 1,
                    tls_ratios[r],
                    tls_ws_ratios[r]
                );
            }
        }
    }
    let (api, bare, http) = (median(&api_rates), median(&bare_rates), median(&http_rates));
    let ratio = if api > 0.0 { http / api } else { 0.0 };
    let bare_ratio = median(&bare_ratios);
    let ws = median(&ws_rates);
    let ws_ratio = median(&ws_ratios);
    let (api_c, bare_c, http_c, ws_c) = (
        median(&api_cpu),
        median(&bare_cpu),
        median(&http_cpu),
        median(&ws_cpu),
    );
    let fan = if a.sse_clients > 0 {
        Some(sse_fanout(
            &rt,
            free_udp_port()?,
            a.sse_clients,
            a.sse_rate,
            a.sse_secs,
        )?)
    } else {
        None
    };
    if a.json {
        let mut v = json!({
            "bench": "bridge",
            "size": a.size,
            "count": a.count,
            "connections": a.connections,
            "rounds": a.rounds,
            "api_shouts_per_sec": api,
            "api_in_memory_shouts_per_sec": median(&api_mem_rates),
            "bare_requests_per_sec": bare,
            "bare_p50_us": median(&bare_p50s),
            "bare_cpu_us_per_request": median(&bare_cpu_per_req),
            "http_requests_per_sec": http,
            "ratio_to_bare": bare_ratio,
            "ratio": ratio,
            "http_p50_us": median(&p50s),
            "http_p99_us": median(&p99s),
            "http_bridge_cpu_us_per_request": median(&cpu_per_req),
            "ws_shouts_per_sec": ws,
            "ws_ratio": ws_ratio,
            "cpu_us_per_message": {
                "api": api_c,
                "bare": bare_c,
                "http": http_c,
                "ws": ws_c,
            },
        });
        if a.ws_batch > 0 {
            v["ws_batch"] = json!({
                "commands_per_message": a.ws_batch,
                "shouts_per_sec": median(&wsb_rates),
                "ratio": median(&wsb_ratios),
                "cpu_us_per_message": median(&wsb_cpu),
            });
        }
        if a.tls {
            v["tls"] = json!({
                "https_requests_per_sec": median(&tls_rates),
                "ratio_https_to_http": median(&tls_ratios),
                "https_p50_us": median(&tls_p50s),
                "https_p99_us": median(&tls_p99s),
                "https_bridge_cpu_us_per_request": median(&tls_cpu_per_req),
                "wss_shouts_per_sec": median(&tls_ws_rates),
                "ratio_wss_to_ws": median(&tls_ws_ratios),
                "cpu_us_per_message": {"https": median(&tls_cpu), "wss": median(&tls_ws_cpu)},
            });
        }
        if let Some(f) = &fan {
            v["sse"] = json!({
                "clients": f.clients,
                "shouts": f.shouts,
                "expected": f.shouts * u64::from(f.clients),
                "delivered": f.delivered,
                "seconds": f.wall.as_secs_f64(),
                "bridge_cpu_seconds": f.bridge_cpu,
                "bridge_cpu_percent_of_one_core": 100.0 * f.bridge_cpu / f.wall.as_secs_f64(),
            });
        }
        print_line(&v.to_string());
    } else {
        print_line(&format!(
            "shout {} B by POST over {} keep-alive connections: bridge {http:.0} req/s, bare axum \
             {bare:.0} req/s: ratio {bare_ratio:.3} of bare (median of per-round ratios); bridge \
             p50 {:.0} us, p99 {:.0} us (bare p50 {:.0} us); server CPU {:.1} us per request \
             (bare {:.1}); {ratio:.3} of the api's {api:.0} shouts/s (medians of {})",
            a.size,
            a.connections,
            median(&p50s),
            median(&p99s),
            median(&bare_p50s),
            median(&cpu_per_req),
            median(&bare_cpu_per_req),
            a.rounds
        ));
        print_line(&format!(
            "shout {} B by WebSocket commands (one connection, pipelined): {ws:.0} shouts/s: \
             ratio {ws_ratio:.3} of the api over tcp (median of per-round ratios; the api in \
             memory: {:.0} shouts/s)",
            a.size,
            median(&api_mem_rates)
        ));
        print_line(&format!(
            "CPU per message, all processes (medians): api {api_c:.2} us, bare POST {bare_c:.2} \
             us, bridge POST {http_c:.2} us (bare/bridge {:.3}), WebSocket command {ws_c:.2} us \
             (api/ws {:.3})",
            if http_c > 0.0 { bare_c / http_c } else { 0.0 },
            if ws_c > 0.0 { api_c / ws_c } else { 0.0 },
        ));
        if a.ws_batch > 0 {
            let c = median(&wsb_cpu);
            print_line(&format!(
                "shout {} B by WebSocket commands in batches of {} per message (JSON arrays): \
                 {:.0} shouts/s: ratio {:.3} of the api (median of per-round ratios); CPU per \
                 message, all processes, {c:.2} us (api/batched {:.3})",
                a.size,
                a.ws_batch,
                median(&wsb_rates),
                median(&wsb_ratios),
                if c > 0.0 { api_c / c } else { 0.0 },
            ));
        }
        if a.tls {
            print_line(&format!(
                "over HTTPS (TLS 1.3, same rounds): POST {:.0} req/s = ratio {:.3} of HTTP \
                 (median of per-round ratios), p50 {:.0} us, p99 {:.0} us, bridge CPU {:.1} us \
                 per request; WebSocket over TLS {:.0} shouts/s = ratio {:.3} of plain; CPU per \
                 message, all processes: POST {:.2} us (HTTP {http_c:.2}), wss {:.2} us (ws \
                 {ws_c:.2})",
                median(&tls_rates),
                median(&tls_ratios),
                median(&tls_p50s),
                median(&tls_p99s),
                median(&tls_cpu_per_req),
                median(&tls_ws_rates),
                median(&tls_ws_ratios),
                median(&tls_cpu),
                median(&tls_ws_cpu),
            ));
        }
        if let Some(f) = &fan {
            let expected = f.shouts * u64::from(f.clients);
            print_line(&format!(
                "sse fan-out: {} clients x {} shouts = {expected} expected, {} delivered{}; \
                 {:.2} s; bridge CPU {:.2} s = {:.0}% of one core",
                f.clients,
                f.shouts,
                f.delivered,
                if f.delivered == expected {
                    " (all)"
                } else {
                    " (MISSING SOME)"
                },
                f.wall.as_secs_f64(),
                f.bridge_cpu,
                100.0 * f.bridge_cpu / f.wall.as_secs_f64()
            ));
        }
    }
    match &fan {
        Some(f) if f.delivered < f.shouts * u64::from(f.clients) => {
            Err(BenchError::Runtime(format!(
                "SSE fan-out: {} of {} events delivered",
                f.delivered,
                f.shouts * u64::from(f.clients)
            )))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
