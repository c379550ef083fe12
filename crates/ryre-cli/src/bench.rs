//! `ryre bench`: the command-line face of the `ryre-bench` harnesses. This file holds only the
//! clap definitions; each subcommand turns its arguments into the library's option struct and
//! calls the harness, which prints the report. Benchmarks that start child processes of this
//! binary (the hidden `swarm` and `log-cost` modes, `timer serve`, `bridge`, `pipeline worker`)
//! are given its path (`std::env::current_exe()`).

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use ryre::Discovery;

use crate::args::{parse_millis, parse_secs};
use crate::timer::parse_rate;
use crate::{CliError, CliResult};

/// Arguments of `ryre bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub kind: BenchKind,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// Messages per second, one node whispering to another as fast as it can.
    Whisper(WhisperArgs),
    /// Round-trip time of a whisper answered by a whisper.
    Latency(WhisperArgs),
    /// Tick lateness at a subscriber against a tokio interval, per rate.
    Timer(JitterArgs),
    /// Gap in the ticks after the ticking timer node is killed with kill -9.
    TimerFailover(TimerFailoverArgs),
    /// Log records per second to a collector on disk; the log layer's cost with no collector.
    Log(LogBenchArgs),
    /// Nodes of one machine finding each other (rendezvous against beacons); idle cost.
    Discovery(DiscoveryArgs),
    /// The agent killed with kill -9: takeover time, spurious EXITs, lost whispers.
    Failover(FailoverArgs),
    /// (Internal: the nodes of one process of `bench discovery` and `bench failover`.)
    #[command(hide = true)]
    Swarm(SwarmArgs),
    /// (Internal: the nodes of one process of `bench discovery --raw-mesh`, in plain libzmq.)
    #[command(hide = true)]
    RawMesh(RawMeshArgs),
    /// (Internal: one layer-cost measurement, run by `ryre bench log`.)
    #[command(hide = true)]
    LogCost(LogCostArgs),
    /// The HTTP bridge: shouts by HTTP POST against a bare axum server and the Rust API; SSE
    /// fan-out.
    Bridge(BridgeBenchArgs),
    /// (Internal: the bare axum server `bench bridge` measures the bridge against.)
    #[command(hide = true)]
    BareHttp,
    /// Tasks per second of the reliable pipeline against libzmq PUSH/PULL; recovery cost.
    Pipeline(PipelineBenchArgs),
    /// Certified mode against CURVE-only and open nodes: N nodes meeting, a revocation
    /// reaching M nodes, whisper throughput.
    Certified(CertifiedBenchArgs),
}

/// Runs `ryre bench`.
pub fn run(a: BenchArgs) -> CliResult {
    let exe = std::env::current_exe().map_err(CliError::runtime)?;
    ryre_bench::set_ryre_exe(exe);
    let result = match a.kind {
        BenchKind::Whisper(c) => ryre_bench::whisper::whisper(&c.into()),
        BenchKind::Latency(c) => ryre_bench::whisper::latency(&c.into()),
        BenchKind::Timer(a) => ryre_bench::timer::jitter(a.into()),
        BenchKind::TimerFailover(a) => ryre_bench::timer::failover(a.into()),
        BenchKind::Log(a) => ryre_bench::log::run(a.into()),
        BenchKind::LogCost(a) => ryre_bench::log::run_cost(a.into()),
        BenchKind::Discovery(a) => ryre_bench::discovery::discovery(a.into()),
        BenchKind::Failover(a) => ryre_bench::discovery::failover(a.into()),
        BenchKind::Swarm(a) => ryre_bench::discovery::swarm(a.into()),
        BenchKind::RawMesh(a) => {
            ryre_bench::raw_mesh::child(ryre_bench::raw_mesh::RawMeshOptions {
                nodes: usize::try_from(a.nodes).unwrap_or(1),
            })
        }
        BenchKind::Bridge(b) => ryre_bench::bridge::run(&b.into()),
        BenchKind::BareHttp => ryre_bench::bridge::bare_http(),
        BenchKind::Pipeline(a) => ryre_bench::pipeline::run(a.into()),
        BenchKind::Certified(a) => ryre_bench::certified::run(a.into()),
    };
    Ok(result?)
}

/// Settings shared by both benchmarks.
#[derive(Debug, Args)]
pub struct WhisperArgs {
    /// Content bytes per message.
    #[arg(long, value_name = "B", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=64 * 1024 * 1024))]
    pub size: u32,
    /// Messages (whisper) or round trips (latency) per measurement
    /// [default: 200000 for whisper, 20000 for latency].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,
    /// Measurements of each kind (raw and ryre alternate); medians are reported.
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
    /// Measure only the ryre side (for profiling; no ratio is printed).
    #[arg(long)]
    pub ryre_only: bool,
    /// whisper: the nodes keep their default queue (`send_hwm` 100,000) and the given send
    /// policy instead of a queue that holds every message; reports messages lost and EXITs.
    #[arg(long)]
    pub unpaced: bool,
    /// With --unpaced: the sender's policy when the queue is full (block: the default; drop-peer:
    /// Zyre's).
    #[arg(long, value_name = "P", default_value = "block", value_parser = ["block", "drop-peer"])]
    pub policy: String,
    /// whisper: CURVE on both sides: secure ryre nodes against raw libzmq CURVE sockets, and
    /// open ryre in the same run.
    #[arg(long, conflicts_with_all = ["unpaced", "ryre_only"])]
    pub curve: bool,
    /// whisper: also measure ryre over IPv6 loopback (::1) in the same rounds, with its
    /// ratio to ryre over IPv4.
    #[arg(long)]
    pub ipv6: bool,
}
/// Arguments of `ryre bench timer`.
#[derive(Debug, Args)]
pub struct JitterArgs {
    /// Rates to measure, in Hz.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000", value_parser = parse_rate)]
    pub rates: Vec<u16>,
    /// Seconds of ticks per rate.
    #[arg(long = "secs", value_name = "SECONDS", value_parser = parse_secs, default_value = "5")]
    pub secs: Duration,
    /// Print one JSON object per rate.
    #[arg(long)]
    pub json: bool,
}
/// Arguments of `ryre bench timer-failover`.
#[derive(Debug, Args)]
pub struct TimerFailoverArgs {
    /// Kills to measure.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Evasive timeout of the timer nodes in ms (their expired timeout is 1.5 × this).
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "1000")]
    pub evasive: Duration,
    /// The rate watched, in Hz.
    #[arg(long, value_parser = parse_rate, default_value = "100")]
    pub rate: u16,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
    /// How the timer nodes find each other: `auto` (the machine's agent reports a killed node
    /// at once) or `beacon` (as on separate hosts: the dead leader expires first).
    #[arg(long, default_value = "auto")]
    pub discovery: ryre::Discovery,
}
/// Arguments of `ryre bench log`.
#[derive(Debug, Args)]
pub struct LogBenchArgs {
    /// Records per throughput run.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Events per layer-cost run.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Rounds of each measurement; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
    /// Also run N records with both nodes certified (signed records, checked by the
    /// collector) in every round, for the ratio to uncertified (0: not at all).
    #[arg(long, default_value_t = 0)]
    pub certified: u64,
}
/// Which subscriber a layer-cost child runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CostMode {
    /// `tracing::subscriber::NoSubscriber` as the global default.
    Noop,
    /// A registry with the ryre log layer, no collector anywhere.
    Layer,
}
/// Arguments of the hidden `ryre bench log-cost` (run by `ryre bench log`).
#[derive(Debug, Args)]
pub struct LogCostArgs {
    /// The subscriber.
    #[arg(long, value_enum)]
    pub mode: CostMode,
    /// Events to emit.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
}
/// Arguments of `ryre bench discovery`.
#[derive(Debug, Args)]
pub struct DiscoveryArgs {
    /// Nodes in the swarm measurement (0 skips it).
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Nodes per child process in the swarm.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub per_process: u64,
    /// Rounds of the two-process measurement (each kind); medians are reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Seconds over which the idle swarm's CPU is measured (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
    /// After the swarm, the same mesh of links in plain libzmq (a ROUTER per node, a DEALER
    /// to every node of the other processes, one message each), as its floor.
    #[arg(long)]
    pub raw_mesh: bool,
}

/// Arguments of the hidden `ryre bench raw-mesh`.
#[derive(Debug, Args)]
pub struct RawMeshArgs {
    /// Nodes in this process.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub nodes: u64,
}
/// Arguments of `ryre bench failover`.
#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// Nodes in all.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// Nodes per child process.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub per_process: u64,
    /// Agent kills (and node kills) to measure.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
}
/// Arguments of the hidden `ryre bench swarm` (the child of both benchmarks).
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// Nodes in this process.
    #[arg(long)]
    pub nodes: usize,
    /// The private beacon/rendezvous port.
    #[arg(long)]
    pub port: u16,
    /// Nodes in the whole swarm: report `MET` when each node of this process has seen the others.
    #[arg(long)]
    pub expect: usize,
    /// Discovery mode.
    #[arg(long, default_value = "auto")]
    pub discovery: Discovery,
    /// Milliseconds between beacons.
    #[arg(long, default_value_t = 1000)]
    pub interval: u64,
    /// Whisper every whisper back.
    #[arg(long)]
    pub echo: bool,
    /// Never host the machine's agent.
    #[arg(long)]
    pub no_agent: bool,
    /// Secure mode with trust on first use (fresh keys).
    #[arg(long)]
    pub tofu: bool,
    /// The interface the nodes use [default: lo].
    #[arg(long)]
    pub interface: Option<String>,
    /// A gossip hub every node connects to (repeatable).
    #[arg(long)]
    pub gossip_connect: Vec<String>,
    /// Gossip through the machine's agent (one session per hub for the host).
    #[arg(long)]
    pub gossip_agent: bool,
    /// Certified mode: node i of this process uses DIR/n<FIRST+i> and trusts DIR/root.cert.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<std::path::PathBuf>,
    /// With --cert-dir: the number of this process's first node's certificate.
    #[arg(long, value_name = "FIRST", default_value_t = 0)]
    pub cert_first: usize,
}
/// Arguments of `ryre bench certified`.
#[derive(Debug, Args)]
pub struct CertifiedBenchArgs {
    /// Nodes that meet (0 skips the meet measurement).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub nodes: usize,
    /// Nodes per child process (meet and revocation). 1: one process per node, as on devices
    /// (nodes of one process link in memory, without CURVE: BENCHMARKS.md).
    #[arg(long, value_name = "P", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub per_process: u64,
    /// Rounds of the meet measurement (each of open, CURVE, certified).
    #[arg(long, value_name = "R", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub meet_rounds: u32,
    /// Certified nodes that must drop a revoked peer (0 skips the revocation measurement).
    #[arg(long, value_name = "M", default_value_t = 50)]
    pub revocation_nodes: usize,
    /// Rounds of the revocation measurement.
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub revocation_rounds: u32,
    /// Whispers per throughput measurement (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub whispers: u32,
    /// Content bytes per whisper.
    #[arg(long, value_name = "B", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=64 * 1024 * 1024))]
    pub size: u32,
    /// Rounds of the whisper measurement (each of open, CURVE, certified).
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub whisper_rounds: u32,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
}

impl From<CertifiedBenchArgs> for ryre_bench::certified::CertifiedOptions {
    fn from(a: CertifiedBenchArgs) -> Self {
        ryre_bench::certified::CertifiedOptions {
            nodes: a.nodes,
            per_process: usize::try_from(a.per_process).unwrap_or(10),
            meet_rounds: a.meet_rounds,
            revocation_nodes: a.revocation_nodes,
            revocation_rounds: a.revocation_rounds,
            whispers: a.whispers,
            size: a.size,
            whisper_rounds: a.whisper_rounds,
            json: a.json,
        }
    }
}

/// Arguments of `ryre bench bridge`.
#[derive(Debug, Args)]
pub struct BridgeBenchArgs {
    /// Content bytes per shout.
    #[arg(long, value_name = "B", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=1024 * 1024))]
    pub size: u32,
    /// Shouts per measurement.
    #[arg(long, value_name = "N", default_value_t = 20_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Keep-alive HTTP connections sending at once.
    #[arg(long, value_name = "C", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,
    /// Measurements of each kind (API and HTTP alternate); medians are reported.
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// SSE clients of the fan-out measurement (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub sse_clients: u32,
    /// Shouts per second during the fan-out.
    #[arg(long, value_name = "R", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub sse_rate: u32,
    /// Seconds of fan-out.
    #[arg(long, value_name = "S", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=600))]
    pub sse_secs: u32,
    /// Also measure the bridge over HTTPS (`ryre bridge --tls-self-signed`) in the same rounds:
    /// POSTs and WebSocket commands, as ratios to plain HTTP.
    #[arg(long)]
    pub tls: bool,
    /// Also send the WebSocket shouts as JSON arrays of this many commands per message (0
    /// skips it; the one-command-per-message measurement always runs).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub ws_batch: u32,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
}
/// Arguments of `ryre bench pipeline`.
#[derive(Debug, Args)]
pub struct PipelineBenchArgs {
    /// Tasks (messages) per measurement.
    #[arg(long, value_name = "N", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub count: u64,
    /// Payload bytes per task.
    #[arg(long, value_name = "B", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub size: u32,
    /// Worker counts to measure (comma-separated).
    #[arg(
        long,
        value_name = "W,..",
        value_delimiter = ',',
        default_value = "1,2,4"
    )]
    pub workers: Vec<u32>,
    /// Measurements of each kind (alternating); medians are reported.
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Client: most tasks per TASKS message.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub chunk: u32,
    /// Worker window (most tasks held per client).
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub window: u32,
    /// Also measure the price of recovery: 4 worker processes, one killed halfway, vs no kill.
    #[arg(long)]
    pub kill: bool,
    /// Skip the throughput comparison (with --kill: only the recovery measurement).
    #[arg(long)]
    pub no_throughput: bool,
    /// Also run each ryre batch again while a watcher node is in the cluster's status group
    /// (the roles then report their status there): what watching costs.
    #[arg(long)]
    pub watched: bool,
    /// Print one JSON object with every number.
    #[arg(long)]
    pub json: bool,
}
impl From<WhisperArgs> for ryre_bench::whisper::WhisperOptions {
    fn from(a: WhisperArgs) -> Self {
        ryre_bench::whisper::WhisperOptions {
            size: a.size,
            count: a.count,
            rounds: a.rounds,
            json: a.json,
            ryre_only: a.ryre_only,
            unpaced: a.unpaced,
            policy: a.policy,
            curve: a.curve,
            ipv6: a.ipv6,
        }
    }
}

impl From<JitterArgs> for ryre_bench::timer::JitterOptions {
    fn from(a: JitterArgs) -> Self {
        ryre_bench::timer::JitterOptions {
            rates: a.rates,
            secs: a.secs,
            json: a.json,
        }
    }
}

impl From<TimerFailoverArgs> for ryre_bench::timer::TimerFailoverOptions {
    fn from(a: TimerFailoverArgs) -> Self {
        ryre_bench::timer::TimerFailoverOptions {
            rounds: a.rounds,
            evasive: a.evasive,
            rate: a.rate,
            json: a.json,
            discovery: a.discovery,
        }
    }
}

impl From<LogBenchArgs> for ryre_bench::log::LogOptions {
    fn from(a: LogBenchArgs) -> Self {
        ryre_bench::log::LogOptions {
            count: a.count,
            events: a.events,
            rounds: a.rounds,
            json: a.json,
            certified: a.certified,
        }
    }
}

impl From<CostMode> for ryre_bench::log::CostMode {
    fn from(m: CostMode) -> Self {
        match m {
            CostMode::Noop => ryre_bench::log::CostMode::Noop,
            CostMode::Layer => ryre_bench::log::CostMode::Layer,
        }
    }
}

impl From<LogCostArgs> for ryre_bench::log::LogCostOptions {
    fn from(a: LogCostArgs) -> Self {
        ryre_bench::log::LogCostOptions {
            mode: a.mode.into(),
            events: a.events,
        }
    }
}

impl From<DiscoveryArgs> for ryre_bench::discovery::DiscoveryOptions {
    fn from(a: DiscoveryArgs) -> Self {
        ryre_bench::discovery::DiscoveryOptions {
            nodes: a.nodes,
            per_process: a.per_process,
            rounds: a.rounds,
            idle_secs: a.idle_secs,
            json: a.json,
            raw_mesh: a.raw_mesh,
        }
    }
}

impl From<FailoverArgs> for ryre_bench::discovery::FailoverOptions {
    fn from(a: FailoverArgs) -> Self {
        ryre_bench::discovery::FailoverOptions {
            nodes: a.nodes,
            per_process: a.per_process,
            rounds: a.rounds,
            json: a.json,
        }
    }
}

impl From<SwarmArgs> for ryre_bench::discovery::SwarmOptions {
    fn from(a: SwarmArgs) -> Self {
        ryre_bench::discovery::SwarmOptions {
            nodes: a.nodes,
            port: a.port,
            expect: a.expect,
            discovery: a.discovery,
            interval: a.interval,
            echo: a.echo,
            no_agent: a.no_agent,
            tofu: a.tofu,
            interface: a.interface,
            gossip_connect: a.gossip_connect,
            gossip_agent: a.gossip_agent,
            cert_dir: a.cert_dir,
            cert_first: a.cert_first,
        }
    }
}

impl From<BridgeBenchArgs> for ryre_bench::bridge::BridgeOptions {
    fn from(a: BridgeBenchArgs) -> Self {
        ryre_bench::bridge::BridgeOptions {
            size: a.size,
            count: a.count,
            connections: a.connections,
            rounds: a.rounds,
            sse_clients: a.sse_clients,
            sse_rate: a.sse_rate,
            sse_secs: a.sse_secs,
            tls: a.tls,
            ws_batch: a.ws_batch,
            json: a.json,
        }
    }
}

impl From<PipelineBenchArgs> for ryre_bench::pipeline::PipelineOptions {
    fn from(a: PipelineBenchArgs) -> Self {
        ryre_bench::pipeline::PipelineOptions {
            count: a.count,
            size: a.size,
            workers: a.workers,
            rounds: a.rounds,
            chunk: a.chunk,
            window: a.window,
            kill: a.kill,
            no_throughput: a.no_throughput,
            watched: a.watched,
            json: a.json,
        }
    }
}
