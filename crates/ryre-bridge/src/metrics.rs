//! Prometheus metrics (text format 0.0.4, encoded by `prometheus-client`): a node's counters and
//! gauges, and those of the services running beside it (log records per level, pipeline tasks,
//! timer ticks and lateness). Everything is read when scraped, from the node's and the services'
//! own counters ([`ryre::Node::stats`], [`ryre_timer::TimerStats`], ...): nothing is counted twice.
//!
//! [`Metrics`] is the registry; the bridge serves it at `GET /metrics`, and [`MetricsServer`]
//! serves one on its own (`ryre node --metrics 127.0.0.1:9100`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use ryre::Node;
//! use ryre_bridge::metrics::{Metrics, MetricsServer};
//!
//! let node = Node::builder().start()?;
//! let metrics = Arc::new(Metrics::new().with_node(node.clone()));
//! let server = MetricsServer::start("127.0.0.1:0".parse()?, metrics)?;
//! println!("curl http://{}/metrics", server.local_addr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use ryre::{ExitReason, Node, PeerState, Problem, Stats};
use ryre_log::Level;
use ryre_timer::{JitterStats, TickCounts, TimerStats};

/// The `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the tick lateness histogram's buckets.
pub const LATENESS_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What a pipeline role has done, for [`Metrics::with_pipeline`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineCounts {
    /// Tasks handed to workers (client), counting deals again.
    pub dealt: u64,
    /// Tasks finished: results delivered (client), computed (worker) or forwarded (collector).
    pub done: u64,
    /// Tasks dealt again after a loss, an error or a timeout (client).
    pub redealt: u64,
    /// Pipeline messages dropped (malformed, unexpected, stale, duplicate).
    pub dropped: u64,
}

/// What a tick watcher has seen, for [`Metrics::with_ticks`].
#[derive(Debug, Clone, Default)]
pub struct TickView {
    /// The rate, in Hz.
    pub rate: u16,
    /// Ticks received, missed, refused.
    pub counts: TickCounts,
    /// Lateness of the ticks received.
    pub lateness: JitterStats,
}

type Source<T> = Box<dyn Fn() -> T + Send + Sync>;

/// A registry of collectors read at each scrape. Cheap to render; share it in an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// A node's metrics (`ryre_node_*`): peers by state, messages and bytes in and out by
    /// kind, drops and problems by kind, peers dropped by reason, queue depths, agent role,
    /// elections.
    pub fn with_node(mut self, node: Node) -> Metrics {
        self.registry
            .register_collector(Box::new(NodeCollector { node }));
        self
    }

    /// Log records per level (`ryre_log_records_total{level}`), from a function giving the
    /// totals in the order of [`Level::ALL`].
    pub fn with_log_levels(
        mut self,
        totals: impl Fn() -> [u64; Level::ALL.len()] + Send + Sync + 'static,
    ) -> Metrics {
        self.registry
            .register_collector(Box::new(LogCollector(Box::new(totals))));
        self
    }

    /// A timer node's counters (`ryre_timer_ticks_sent_total`, ...) and how late it sent its
    /// ticks (`ryre_timer_send_lateness_seconds`).
    pub fn with_timer_server(
        mut self,
        stats: impl Fn() -> TimerStats + Send + Sync + 'static,
        send_lateness: impl Fn() -> JitterStats + Send + Sync + 'static,
    ) -> Metrics {
        self.registry
            .register_collector(Box::new(TimerServerCollector {
                stats: Box::new(stats),
                lateness: Box::new(send_lateness),
            }));
        self
    }

    /// A tick watcher's counts and lateness histogram (`ryre_timer_tick_lateness_seconds`).
    pub fn with_ticks(mut self, view: impl Fn() -> TickView + Send + Sync + 'static) -> Metrics {
        self.registry
            .register_collector(Box::new(TickCollector(Box::new(view))));
        self
    }

    /// A pipeline role's task counts (`ryre_pipeline_tasks_*_total{role}`).
    pub fn with_pipeline(
        mut self,
        role: &'static str,
        counts: impl Fn() -> PipelineCounts + Send + Sync + 'static,
    ) -> Metrics {
        self.registry
            .register_collector(Box::new(PipelineCollector {
                role,
                counts: Box::new(counts),
            }));
        self
    }

    /// The exposition text, as scraped.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the collectors only write.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

type Enc<'a> = DescriptorEncoder<'a>;
type Fmt = Result<(), std::fmt::Error>;

fn counter(enc: &mut Enc<'_>, name: &str, help: &str, v: u64) -> Fmt {
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(enc: &mut Enc<'_>, name: &str, help: &str, v: i64) -> Fmt {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// One metric with a label taking several values.
fn labelled(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    label: &str,
    values: impl IntoIterator<Item = (String, u64)>,
) -> Fmt {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (value, n) in values {
        let labels = [(label.to_string(), value)];
        let fam = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(n).encode(fam)?,
            _ => ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)).encode(fam)?,
        }
    }
    Ok(())
}

fn as_gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

struct NodeCollector {
    node: Node,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let n = &self.node;
        let stats = n.stats();
        let h: Stats = stats.heart;
        {
            let m = enc.encode_descriptor(
                "ryre_node_info",
                "This node: its id, name and endpoint (always 1)",
                None,
                MetricType::Gauge,
            )?;
            let labels = [
                ("uuid".to_string(), n.uuid().to_string()),
                ("name".to_string(), n.name().to_string()),
                ("endpoint".to_string(), n.endpoint().to_string()),
            ];
            let mut m = m;
            ConstGauge::new(1i64).encode(m.encode_family(&labels)?)?;
        }
        let mut by_state = [0u64; 3];
        for id in n.peers() {
            if let Some(info) = n.peer_info(&id).filter(|i| i.ready) {
                let i = match info.state {
                    PeerState::Alive => 0,
                    PeerState::Evasive => 1,
                    PeerState::Silent => 2,
                };
                by_state[i] += 1;
            }
        }
        labelled(
            &mut enc,
            "ryre_node_peers",
            "Peers that said HELLO, by liveness state",
            MetricType::Gauge,
            "state",
            ["alive", "evasive", "silent"]
                .iter()
                .zip(by_state)
                .map(|(s, v)| (s.to_string(), v)),
        )?;
        let kinds = |a: [u64; 11]| {
            a.into_iter()
                .enumerate()
                .map(|(i, v)| (Stats::message_kind(i).to_string(), v))
                .collect::<Vec<_>>()
        };
        labelled(
            &mut enc,
            "ryre_node_messages_in",
            "Messages that arrived in the inbox, by ZRE message kind (OTHER: not ZRE)",
            MetricType::Counter,
            "kind",
            kinds(h.messages_in),
        )?;
        labelled(
            &mut enc,
            "ryre_node_messages_out",
            "Messages queued to peers, by ZRE message kind",
            MetricType::Counter,
            "kind",
            kinds(h.messages_out),
        )?;
        counter(
            &mut enc,
            "ryre_node_bytes_in",
            "Bytes of the frames that arrived in the inbox",
            h.bytes_in,
        )?;
        counter(
            &mut enc,
            "ryre_node_bytes_out",
            "Bytes of the frames queued to peers",
            h.bytes_out,
        )?;
        labelled(
            &mut enc,
            "ryre_node_dropped_messages",
            "Messages and beacons dropped, by reason",
            MetricType::Counter,
            "reason",
            [
                ("malformed".to_string(), h.malformed),
                ("ignored".to_string(), h.ignored),
            ],
        )?;
        labelled(
            &mut enc,
            "ryre_node_problems",
            "Input the heart refused, by kind",
            MetricType::Counter,
            "kind",
            Problem::KINDS
                .iter()
                .zip(h.problems)
                .map(|(k, v)| (k.to_string(), v)),
        )?;
        labelled(
            &mut enc,
            "ryre_node_peer_exits",
            "Peers dropped (EXIT), by reason",
            MetricType::Counter,
            "reason",
            ExitReason::KINDS
                .iter()
                .zip(h.exits)
                .map(|(k, v)| (k.to_string(), v)),
        )?;
        gauge(
            &mut enc,
            "ryre_node_backlog_messages",
            "Messages waiting in the links' backlogs (their peers' queues were full)",
            as_gauge(stats.backlog),
        )?;
        gauge(
            &mut enc,
            "ryre_node_event_batches_queued",
            "Batches of events the application has not taken yet",
            as_gauge(stats.event_batches),
        )?;
        gauge(
            &mut enc,
            "ryre_node_agent",
            "1 while this node is its machine's agent (holds the device rendezvous)",
            i64::from(n.is_agent()),
        )?;
        gauge(
            &mut enc,
            "ryre_node_groups",
            "Groups this node has joined",
            as_gauge(n.own_groups().len()),
        )?;
        counter(
            &mut enc,
            "ryre_node_elections_decided",
            "LEADER events: elections this node saw decided",
            h.leaders,
        )?;
        let mode = n.security_mode();
        labelled(
            &mut enc,
            "ryre_node_security_mode",
            "The node's security mode (1 for the one it runs: open, curve or certified)",
            MetricType::Gauge,
            "mode",
            ryre::security::Mode::ALL
                .iter()
                .map(|m| (m.to_string(), u64::from(*m == mode))),
        )?;
        let sec = n.security_stats();
        counter(
            &mut enc,
            "ryre_node_security_refused",
            "Secure mode: beacons, messages and announcements refused (plain, forged, replayed, \
             untrusted, a key not bound to the sender, a certificate refused)",
            sec.refused,
        )?;
        counter(
            &mut enc,
            "ryre_node_security_refused_connections",
            "Secure mode: CURVE connections the ZAP handler refused (untrusted keys)",
            sec.refused_connections,
        )?;
        labelled(
            &mut enc,
            "ryre_node_certificates_refused",
            "Certified mode: HELLOs refused for their certificate, by reason",
            MetricType::Counter,
            "reason",
            ryre::security::SecurityStats::CERT_REFUSAL_KINDS
                .iter()
                .zip(sec.certificates_refused)
                .map(|(k, v)| (k.to_string(), v)),
        )?;
        Ok(())
    }
}

struct LogCollector(Source<[u64; Level::ALL.len()]>);

impl std::fmt::Debug for LogCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogCollector")
    }
}

impl Collector for LogCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let totals = (self.0)();
        labelled(
            &mut enc,
            "ryre_log_records",
            "Log records collected, by level",
            MetricType::Counter,
            "level",
            Level::ALL
                .iter()
                .zip(totals)
                .map(|(l, v)| (l.as_str().to_string(), v)),
        )
    }
}

struct TimerServerCollector {
    stats: Source<TimerStats>,
    lateness: Source<JitterStats>,
}

impl std::fmt::Debug for TimerServerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimerServerCollector")
    }
}

impl Collector for TimerServerCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let s = (self.stats)();
        histogram(
            &mut enc,
            "ryre_timer_send_lateness_seconds",
            "How late this timer node sent its ticks (sent minus scheduled)",
            &[],
            &(self.lateness)(),
        )?;
        counter(
            &mut enc,
            "ryre_timer_ticks_sent",
            "Ticks this timer node sent",
            s.ticks_sent,
        )?;
        counter(
            &mut enc,
            "ryre_timer_ticks_skipped",
            "Ticks skipped for being too late",
            s.ticks_skipped,
        )?;
        counter(
            &mut enc,
            "ryre_timer_wakes_sent",
            "Wake-ups sent",
            s.wakes_sent,
        )?;
        labelled(
            &mut enc,
            "ryre_timer_requests",
            "Wake-up requests, by outcome",
            MetricType::Counter,
            "outcome",
            [
                ("accepted".to_string(), s.requests_accepted),
                ("rejected".to_string(), s.requests_rejected),
                ("misdirected".to_string(), s.misdirected),
            ],
        )?;
        counter(
            &mut enc,
            "ryre_timer_bad_messages",
            "Frames that were not valid timer messages",
            s.bad_messages,
        )
    }
}

struct TickCollector(Source<TickView>);

impl std::fmt::Debug for TickCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TickCollector")
    }
}

impl Collector for TickCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let v = (self.0)();
        let rate = [("rate".to_string(), v.rate.to_string())];
        let c = v.counts;
        for (name, help, n) in [
            ("ryre_timer_ticks_received", "Ticks received", c.received),
            (
                "ryre_timer_ticks_missed",
                "Ticks never received (gaps in the numbering)",
                c.missed,
            ),
            (
                "ryre_timer_ticks_refused",
                "Ticks refused as stale or malformed",
                c.stale + c.malformed,
            ),
        ] {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(m.encode_family(&rate)?)?;
        }
        histogram(
            &mut enc,
            "ryre_timer_tick_lateness_seconds",
            "How late ticks arrived (received minus scheduled)",
            &rate,
            &v.lateness,
        )
    }
}

/// A lateness histogram in [`LATENESS_BUCKETS`], from a [`JitterStats`].
fn histogram(
    enc: &mut Enc<'_>,
    name: &str,
    help: &str,
    labels: &[(String, String)],
    j: &JitterStats,
) -> Fmt {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    let mut buckets = Vec::with_capacity(LATENESS_BUCKETS.len() + 1);
    let mut below = 0;
    for le in LATENESS_BUCKETS {
        let at_most = j.count_at_most(std::time::Duration::from_secs_f64(le));
        buckets.push((le, at_most - below));
        below = at_most;
    }
    buckets.push((f64::INFINITY, j.count() - below));
    m.encode_family(&labels)?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            j.sum().as_secs_f64(),
            j.count(),
            &buckets,
            None,
        )
}

struct PipelineCollector {
    role: &'static str,
    counts: Source<PipelineCounts>,
}

impl std::fmt::Debug for PipelineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineCollector")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Collector for PipelineCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let c = (self.counts)();
        let role = [("role".to_string(), self.role.to_string())];
        for (name, help, n) in [
            (
                "ryre_pipeline_tasks_dealt",
                "Tasks dealt to workers (counting deals again)",
                c.dealt,
            ),
            ("ryre_pipeline_tasks_done", "Tasks finished", c.done),
            (
                "ryre_pipeline_tasks_redealt",
                "Tasks dealt again after a loss, an error or a timeout",
                c.redealt,
            ),
            (
                "ryre_pipeline_dropped_messages",
                "Pipeline messages dropped",
                c.dropped,
            ),
        ] {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(m.encode_family(&role)?)?;
        }
        Ok(())
    }
}

/// Serves one [`Metrics`] at `GET /metrics` on its own thread (a small tokio runtime with
/// axum), until dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0: one the OS chooses) and serves.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, crate::Error> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| crate::Error::Config(format!("metrics address {addr}: {e}")))?;
        let addr = listener.local_addr().map_err(crate::Error::Io)?;
        listener.set_nonblocking(true).map_err(crate::Error::Io)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::Error::Io)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ryre-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().route(
                        "/metrics",
                        axum::routing::get(move || {
                            let metrics = metrics.clone();
                            async move { exposition(&metrics) }
                        }),
                    );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .map_err(crate::Error::Io)?;
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The response to a scrape: the text with its content type.
pub(crate) fn exposition(metrics: &Metrics) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}
