//! `ryre bench log`: records per second from one publisher to one collector writing JSON lines
//! to disk, and the cost per event of the log layer in a program with no collector in sight,
//! against `tracing` with a no-op subscriber (each measured in a child process of its own, so
//! that one subscriber's callsite interest does not change the other's).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use ryre::Node;
use ryre_log::{layer_with, Collector, CollectorConfig, FileConfig, Level, PublisherConfig};
use serde_json::json;
use tracing_subscriber::prelude::*;

use crate::print_line;
use crate::{BenchError, BenchResult};

/// Arguments of `ryre bench log`.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Records per throughput run.
    pub count: u64,
    /// Events per layer-cost run.
    pub events: u64,
    /// Rounds of each measurement; medians are reported.
    pub rounds: u32,
    /// Print one JSON object with every number.
    pub json: bool,
    /// Records per certified throughput run (0: none): the same run with both nodes in
    /// certified mode (records signed by the publisher, checked by the collector), in the same
    /// rounds, for the ratio.
    pub certified: u64,
}

/// Which subscriber a layer-cost child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostMode {
    /// `tracing::subscriber::NoSubscriber` as the global default.
    Noop,
    /// A registry with the ryre log layer, no collector anywhere.
    Layer,
}

/// Arguments of the hidden `ryre bench log-cost` (run by `ryre bench log`).
#[derive(Debug, Clone)]
pub struct LogCostOptions {
    /// The subscriber.
    pub mode: CostMode,
    /// Events to emit.
    pub events: u64,
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Runtime(e.to_string())
}

fn free_udp_port() -> Result<u16, BenchError> {
    ryre::private_port().map_err(BenchError::runtime)
}

/// A throw-away CA and two certificates (the publisher's with the `log` service) in `dir`.
struct BenchPki {
    ca: ryre::certs::CertFiles,
    publisher: ryre::certs::CertFiles,
    collector: ryre::certs::CertFiles,
}

impl BenchPki {
    fn new(dir: &std::path::Path) -> Result<BenchPki, BenchError> {
        use ryre::certs::{self, Request, Role, Services};
        let now = certs::unix_now();
        let ca = certs::create_ca(dir, "bench-ca", now - 60, now + 3600, true).map_err(err)?;
        let issue = |name: &str, services| {
            certs::issue(
                &ca,
                &Request {
                    name: name.into(),
                    role: Role::Node,
                    grants: Vec::new(),
                    services,
                    not_before: now - 60,
                    not_after: now + 3600,
                },
                dir,
                true,
            )
            .map_err(err)
        };
        let publisher = issue("bench-publisher", Services::LOG)?;
        let collector = issue("bench-collector", Services::NONE)?;
        Ok(BenchPki {
            ca,
            publisher,
            collector,
        })
    }
}

/// One throughput run: seconds from the first event to the last record on disk. Certified:
/// both nodes certified (discovery off, introduced to each other).
fn throughput(count: u64, certified: bool) -> Result<Duration, BenchError> {
    let port = free_udp_port()?;
    let pki_dir =
        std::env::temp_dir().join(format!("ryre-bench-log-pki-{}-{port}", std::process::id()));
    let pki = if certified {
        Some(BenchPki::new(&pki_dir)?)
    } else {
        None
    };
    let b = |name: &str| {
        let b = Node::builder()
            .name(name)
            .interface("lo")
            .port(port)
            .interval(Duration::from_millis(100));
        match &pki {
            None => b,
            Some(p) => {
                let files = if name == "bench-collector" {
                    &p.collector
                } else {
                    &p.publisher
                };
                b.discovery(ryre::Discovery::Off)
                    .endpoint("tcp://127.0.0.1:*")
                    .certificate(&files.base)
                    .trust_ca(p.ca.cert_path())
            }
        }
    };
    let dir = std::env::temp_dir().join(format!("ryre-bench-log-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = CollectorConfig {
        level: Level::Info,
        interface: Some("lo".into()),
        files: Some(FileConfig::new(&dir)),
        ..CollectorConfig::default()
    };
    let col = Collector::start(b("bench-collector"), config).map_err(err)?;
    let node = b("bench-publisher").start()?;
    if let Some(p) = &pki {
        node.connect_peer_key(
            col.node().uuid(),
            col.node().endpoint(),
            p.collector.keys.public(),
        )?;
        col.node()
            .connect_peer_key(node.uuid(), node.endpoint(), p.publisher.keys.public())?;
    }
    let pc = PublisherConfig {
        scan_every: Duration::from_millis(20),
        ..PublisherConfig::default()
    };
    let (layer, publisher) = layer_with(&node, pc).map_err(err)?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let stall = Duration::from_secs(30);
    let deadline = Instant::now() + stall;
    while publisher.stats().wanted.is_none() {
        if Instant::now() > deadline {
            return Err(err("the collector was not found"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..count {
            tracing::info!(i, "record");
            // Never outrun the queue (the layer would drop and count): wait for the socket.
            if i % 4096 == 0 {
                while publisher.stats().published + 60_000 < i {
                    std::thread::yield_now();
                }
            }
        }
    });
    let deadline = Instant::now() + stall;
    while col.stats().written < count {
        if Instant::now() > deadline {
            return Err(err(format!(
                "only {} of {count} records written",
                col.stats().written
            )));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let took = start.elapsed();
    let dropped = publisher.stats().dropped;
    drop(publisher);
    col.stop().map_err(err)?;
    node.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&pki_dir);
    if dropped > 0 {
        return Err(err(format!("{dropped} records dropped")));
    }
    Ok(took)
}

/// Runs a layer-cost child and reads its ns/event.
fn cost(mode: &str, events: u64) -> Result<f64, BenchError> {
    let exe = crate::ryre_exe().map_err(err)?;
    let out = Command::new(exe)
        .args([
            "bench",
            "log-cost",
            "--mode",
            mode,
            "--events",
            &events.to_string(),
        ])
        .output()
        .map_err(err)?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| err("the layer-cost child printed no number"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `ryre bench log`.
pub fn run(a: LogOptions) -> BenchResult {
    let mut rates = Vec::new();
    let mut certified = Vec::new();
    let (mut noop, mut layer) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        noop.push(cost("noop", a.events)?);
        layer.push(cost("layer", a.events)?);
        let t = throughput(a.count, false)?;
        rates.push(a.count as f64 / t.as_secs_f64());
        if a.certified > 0 {
            let t = throughput(a.certified, true)?;
            certified.push(a.certified as f64 / t.as_secs_f64());
        }
    }
    let cert_rate = (!certified.is_empty()).then(|| median(certified.clone()));
    let (rate, n, l) = (
        median(rates.clone()),
        median(noop.clone()),
        median(layer.clone()),
    );
    if a.json {
        print_line(
            &json!({"bench": "log", "records": a.count, "records_per_s": rate,
            "rates": rates, "target_per_s": 200_000,
            "noop_ns_per_event": n, "layer_ns_per_event": l, "layer_minus_noop_ns": l - n,
            "noop_runs": noop, "layer_runs": layer,
            "certified_records": a.certified, "certified_records_per_s": cert_rate,
            "certified_rates": certified,
            "certified_ratio": cert_rate.map(|c| c / rate)})
            .to_string(),
        );
    } else {
        print_line(&format!(
            "publisher -> collector -> JSON lines on disk: {rate:.0} records/s (median of {}, target 200000: {})",
            a.rounds,
            if rate >= 200_000.0 { "met" } else { "MISSED" }
        ));
        print_line(&format!(
            "an event with no collector in sight: log layer {l:.1} ns, tracing no-op subscriber {n:.1} ns (+{:.1} ns)",
            l - n
        ));
        if let Some(c) = cert_rate {
            print_line(&format!(
                "certified (signed by the publisher, checked by the collector): {c:.0} records/s ({:.2}x uncertified, same rounds)",
                c / rate
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the hidden `ryre bench log-cost`: prints ns per event.
pub fn run_cost(a: LogCostOptions) -> BenchResult {
    let mut node = None;
    let _publisher;
    match a.mode {
        CostMode::Noop => {
            tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())
                .map_err(err)?;
        }
        CostMode::Layer => {
            let n = Node::builder()
                .name("cost")
                .interface("lo")
                .port(free_udp_port()?)
                .start()?;
            let (layer, p) = layer_with(&n, PublisherConfig::default()).map_err(err)?;
            _publisher = p;
            tracing_subscriber::registry()
                .with(layer)
                .try_init()
                .map_err(err)?;
            node = Some(n);
        }
    }
    let start = Instant::now();
    for i in 0..a.events {
        tracing::info!(i, "an event nobody collects");
    }
    let ns = start.elapsed().as_nanos() as f64 / a.events as f64;
    println!("{ns:.3}");
    if let Some(n) = node {
        n.stop()?;
    }
    Ok(ExitCode::SUCCESS)
}
