//! # ryre-sim: a deterministic simulator of many ryre nodes with faults
//!
//! It runs the **real** protocol code — the heart ([`ryre_proto::NodeState`]), the machine's
//! rendezvous agent ([`ryre_proto::rendezvous::agent::AgentState`]) and each node's
//! registration client ([`ryre_proto::rendezvous::client::ClientState`]) — over a virtual clock
//! (event driven: it jumps to the next deadline, it never ticks) and a virtual network:
//!
//! - hosts on subnets; each host has a rendezvous port that the first of its nodes binds (it
//!   becomes the host's agent; the others register; when the agent's process dies the rest race
//!   after the client's random wait and one takes over);
//! - beacons broadcast on a subnet with per-receiver loss, delay (jitter), duplication and hence
//!   reordering;
//! - ZeroMQ links as ordered message streams with latency, stalls (partitions hold traffic),
//!   resets (what is in flight is lost), a high-water mark (the heart hears `SendFailed`) and
//!   delivery to whatever process holds the endpoint (a restarted process gets what was queued
//!   for its predecessor, as with libzmq);
//! - faults: crash (state dropped), clean stop, restart with a new UUID on the same endpoint,
//!   pause (a frozen process: its input waits), two-way, one-way and "UDP up, TCP down"
//!   partitions between hosts, link resets, agent kills.
//!
//! An oracle ([`Violation`]) checks safety at every step and liveness once the faults have
//! healed. One `u64` seed expands into a whole run ([`Options::from_seed`]); the same seed at
//! the same commit gives the same [`Report::trace_hash`].
//!
//! ```
//! let mut opts = ryre_sim::Options::quiet(8, 4, 1);
//! opts.seconds = 5.0;
//! let report = ryre_sim::run(&opts);
//! assert!(report.violations.is_empty(), "{:?}", report.violations);
//! assert_eq!(report.pairs_known, report.pairs_total);
//! ```
#![warn(missing_docs)]

mod rng;
mod shrink;
mod svg;
mod world;

pub use rng::{Rng, TraceHash};
pub use shrink::{shrink, violation_kind, Shrunk};
pub use svg::plot_svg;
pub use world::{run, Report, Violation, HUB_PORT};

use std::time::Duration;

/// How the subnets of a run meet ([`Options::join`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Every subnet hears every other subnet's beacons (a routed LAN that forwards broadcasts).
    Bridged,
    /// Beacons stay in their subnet and nothing else joins them: nodes of different subnets
    /// never meet (the oracle's liveness check fails when there are several subnets).
    None,
    /// Beacons stay in their subnet; every node but one asks its host's agent to gossip (ZGP,
    /// as `gossip_via_agent` does) through one hub: a real [`ryre_proto::zgp::Server`] bound at
    /// port [`HUB_PORT`] by the first node (slot 0, on host 0 of subnet 0), as `gossip_bind`
    /// does. The hub lives and dies with that node's process: a crash or stop drops its table
    /// and what was in flight on its gossip links, a restart binds a fresh hub at the same
    /// endpoint (the agents' next PING is answered INVALID, and they say HELLO and publish
    /// their nodes again); a pause freezes it; partitions and resets apply to the gossip
    /// links as to the others.
    Agents,
}

impl Join {
    /// The name the command line uses (`bridged`, `none`, `agents`).
    pub fn name(self) -> &'static str {
        match self {
            Join::Bridged => "bridged",
            Join::None => "none",
            Join::Agents => "agents",
        }
    }
}

/// Fault rates, in expected events per node per simulated minute (0 = never).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Crash a process (state dropped, connections reset).
    pub crash: f64,
    /// Stop a process cleanly (leaving beacon, Leave to the agent).
    pub stop: f64,
    /// Share of crashed or stopped nodes that restart (new UUID, same endpoint), 0..=1.
    pub restart: f64,
    /// Pause a process for up to [`Faults::pause_max`].
    pub pause: f64,
    /// Longest pause.
    pub pause_max: Duration,
    /// Partition two hosts (kind and direction drawn at random) for up to
    /// [`Faults::partition_max`]; per host per minute.
    pub partition: f64,
    /// Longest partition.
    pub partition_max: Duration,
    /// Reset one of a node's links (what is in flight is lost).
    pub reset: f64,
    /// Kill the process hosting a host's agent; per host per minute.
    pub agent_kill: f64,
    /// Make a host's clock jump forward (by up to [`Faults::clock_jump_max`]: a VM migrated,
    /// a process starved); per host per minute.
    pub clock_jump: f64,
    /// Longest clock jump.
    pub clock_jump_max: Duration,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Faults {
            crash: 0.0,
            stop: 0.0,
            restart: 0.0,
            pause: 0.0,
            pause_max: Duration::ZERO,
            partition: 0.0,
            partition_max: Duration::ZERO,
            reset: 0.0,
            agent_kill: 0.0,
            clock_jump: 0.0,
            clock_jump_max: Duration::ZERO,
        }
    }

    /// Whether any fault can happen.
    pub fn any(&self) -> bool {
        self.crash
            + self.stop
            + self.pause
            + self.partition
            + self.reset
            + self.agent_kill
            + self.clock_jump
            > 0.0
    }
}

/// Everything a run depends on (with the seed, the whole run).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The seed of every random choice in the run.
    pub seed: u64,
    /// Nodes (processes) at the start.
    pub nodes: usize,
    /// Hosts (machines); nodes are spread over them round robin.
    pub hosts: usize,
    /// Subnets (broadcast domains); hosts are spread over them round robin. Beacons stay in
    /// their subnet unless [`Join::Bridged`]; [`Options::join`] says how subnets meet.
    pub subnets: usize,
    /// How the subnets meet: bridged beacons, not at all, or gossip through the agents.
    pub join: Join,
    /// Beacon loss per receiver, 0..=1.
    pub loss: f64,
    /// Beacon duplication per receiver, 0..=1.
    pub dup: f64,
    /// Beacon delay range (per receiver, uniform).
    pub jitter: (Duration, Duration),
    /// Link latency range (per message, uniform; links stay in order).
    pub latency: (Duration, Duration),
    /// Nodes start at uniformly random times within this window.
    pub stagger: Duration,
    /// Length of the fault phase (simulated seconds).
    pub seconds: f64,
    /// Simulated time after the faults heal before liveness is checked; `None` derives it from
    /// the timeouts ([`Options::settle_bound`]).
    pub settle: Option<Duration>,
    /// The faults.
    pub faults: Faults,
    /// Shouts per node per simulated second (each carries the sender and a sequence number).
    pub shout_rate: f64,
    /// Whispers per node per simulated second.
    pub whisper_rate: f64,
    /// Group joins/leaves per node per simulated minute (churn in group "churn").
    pub group_churn: f64,
    /// Beacon interval.
    pub interval: Duration,
    /// Evasive timeout.
    pub evasive: Duration,
    /// Expired timeout.
    pub expired: Duration,
    /// Links' high-water mark (messages queued per link).
    pub hwm: usize,
    /// Clock skew: each host's clock runs at a rate drawn from `1 - skew ..= 1 + skew` (every
    /// heart, agent and client on it reads that clock), 0 ≤ skew < 1.
    pub skew: f64,
    /// Contested groups: nodes join group "lead", every second one contests it, and the
    /// oracle checks that after healing one leader per group is agreed by all its members.
    pub elections: bool,
    /// Test-only: every heart runs with its sequence check off (the oracle must notice).
    pub broken_heart: bool,
    /// Only these of the planned faults happen (indices into the plan, in the order it is drawn;
    /// see [`Report::planned_faults`]); `None`: all. The shrinker uses it to drop faults one by
    /// one without changing the others.
    pub fault_keep: Option<Vec<u32>>,
}

impl Options {
    /// A fault-free run of `nodes` nodes on `hosts` hosts and `subnets` subnets, bridged,
    /// default timeouts, no loss, a 1 s stagger and a light workload.
    pub fn quiet(nodes: usize, hosts: usize, subnets: usize) -> Self {
        Options {
            seed: 1,
            nodes,
            hosts: hosts.max(1),
            subnets: subnets.max(1),
            join: Join::Bridged,
            loss: 0.0,
            dup: 0.0,
            jitter: (Duration::from_millis(1), Duration::from_millis(50)),
            latency: (Duration::from_micros(200), Duration::from_millis(2)),
            stagger: Duration::from_secs(1),
            seconds: 10.0,
            settle: None,
            faults: Faults::none(),
            shout_rate: 0.5,
            whisper_rate: 0.2,
            group_churn: 0.0,
            interval: Duration::from_secs(1),
            evasive: Duration::from_secs(5),
            expired: Duration::from_secs(30),
            hwm: 1000,
            skew: 0.0,
            elections: false,
            broken_heart: false,
            fault_keep: None,
        }
    }

    /// The "swarm" expansion of a seed: nodes, hosts, subnets, loss, duplication, fault rates
    /// and workload all drawn from it (TigerBeetle's VOPR style). It never picks
    /// [`Join::Agents`]: its subnets are bridged, as they were before `join` existed (set it
    /// on the expansion to run a seed's faults through the agents' gossip).
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::new(seed ^ 0x5157_4152_4d00_0000);
        let nodes = r.range(2, 24) as usize;
        let hosts = r.range(1, nodes.min(8) as u64) as usize;
        let subnets = r.range(1, hosts.min(3) as u64) as usize;
        let pick = |r: &mut Rng, xs: &[f64]| xs[r.below(xs.len() as u64) as usize];
        let mut o = Options::quiet(nodes, hosts, subnets);
        o.seed = seed;
        o.loss = pick(&mut r, &[0.0, 0.05, 0.1, 0.3]);
        o.dup = pick(&mut r, &[0.0, 0.01, 0.1]);
        o.seconds = r.range(20, 90) as f64;
        o.shout_rate = pick(&mut r, &[0.2, 1.0, 3.0]);
        o.whisper_rate = pick(&mut r, &[0.0, 0.5]);
        o.group_churn = pick(&mut r, &[0.0, 2.0, 10.0]);
        o.faults = Faults {
            crash: pick(&mut r, &[0.0, 0.1, 0.5]),
            stop: pick(&mut r, &[0.0, 0.1, 0.5]),
            restart: pick(&mut r, &[0.0, 0.5, 1.0]),
            pause: pick(&mut r, &[0.0, 0.2, 1.0]),
            pause_max: Duration::from_secs(r.range(1, 40)),
            partition: pick(&mut r, &[0.0, 0.2, 1.0]),
            partition_max: Duration::from_secs(r.range(1, 45)),
            reset: pick(&mut r, &[0.0, 0.5, 3.0]),
            agent_kill: pick(&mut r, &[0.0, 0.2, 1.0]),
            clock_jump: 0.0,
            clock_jump_max: Duration::ZERO,
        };
        // Drawn last, so the choices above stay what they were before these existed.
        o.skew = pick(&mut r, &[0.0, 0.0005, 0.05, 0.2]);
        o.faults.clock_jump = pick(&mut r, &[0.0, 0.2, 1.0]);
        o.faults.clock_jump_max = Duration::from_secs(r.range(1, 40));
        // Contested groups in two seeds of three (drawn last, like the clock faults).
        o.elections = r.below(3) != 0;
        o
    }

    /// The default swarm for `ryre sim --faults swarm`: this run's size with the seed's fault
    /// rates and workload.
    pub fn with_swarm_faults(mut self) -> Self {
        let s = Options::from_seed(self.seed);
        self.loss = self.loss.max(s.loss);
        self.dup = s.dup;
        self.faults = s.faults;
        self.shout_rate = s.shout_rate;
        self.whisper_rate = s.whisper_rate;
        self.group_churn = s.group_churn;
        self.skew = s.skew;
        self.elections = s.elections;
        self
    }

    /// How long after the faults heal every live node must see exactly the live set: a dead
    /// peer nobody vouches for expires after `expired` (found by the next reap, at most
    /// `evasive / 2` later); a link that went quiet in a partition needs up to `expired` to be
    /// dropped and rediscovered; a new or rediscovered peer is heard within a few beacon
    /// intervals (20 with 30 % loss gives 1e-10 odds of missing all); add a second for HELLO
    /// round trips and the agents' races.
    ///
    /// With [`Join::Agents`], add what the gossip needs once the faults heal: an agent whose
    /// session the hub forgot (the hub restarted, or dropped it after
    /// `ServerConfig::session_timeout` of silence in a pause or partition) hears INVALID at its
    /// next PING and says HELLO again, so two PING intervals (`ClientConfig::ping_interval`)
    /// bring every session back with the hub's whole table; a tuple the hub missed is
    /// published again at the next refresh, a third of the gossip ttl (`expired`, as the
    /// node's builder sets it).
    pub fn settle_bound(&self) -> Duration {
        self.settle.unwrap_or_else(|| {
            let mut b =
                self.expired * 2 + self.evasive + self.interval * 20 + Duration::from_secs(1);
            if self.join == Join::Agents {
                let ping = ryre_proto::zgp::ClientConfig::default().ping_interval;
                b += ping * 2 + self.expired / 3;
            }
            // A slow clock stretches every timeout in real time.
            b.div_f64(1.0 - self.skew.clamp(0.0, 0.5))
        })
    }

    /// The command line that replays this run when it is a swarm seed.
    pub fn replay_command(&self) -> String {
        format!("ryre sim swarm --seed {} --seeds 1", self.seed)
    }
}

/// One seed's outcome in a swarm.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its report.
    pub report: Report,
}

/// Runs swarm seeds `first..first + count` ([`Options::from_seed`]), stopping early when
/// `budget` of wall time is spent; `broken_heart` is passed to every run.
pub fn swarm(first: u64, count: u64, budget: Duration, broken_heart: bool) -> Vec<SeedResult> {
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    for seed in first..first.saturating_add(count) {
        if start.elapsed() >= budget {
            break;
        }
        let mut o = Options::from_seed(seed);
        o.broken_heart = broken_heart;
        out.push(SeedResult {
            seed,
            report: run(&o),
        });
    }
    out
}
