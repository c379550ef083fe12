//! `ryre sim`: the deterministic simulator (ryre-sim) — one run with its convergence numbers
//! (and an SVG of the convergence curve), or `ryre sim swarm` over many seeds.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use ryre_sim::{Join, Options, Report};
use serde_json::json;

use crate::output::print_line;
use crate::{CliError, CliResult};

/// Arguments of `ryre sim`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    /// `swarm`: many seeds instead of one run.
    #[command(subcommand)]
    pub sub: Option<SimSub>,
    /// One run's settings.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `ryre sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimSub {
    /// Run swarm seeds (each seed expands into nodes, hosts, faults and workload).
    Swarm(SwarmArgs),
}

/// Which faults a single run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultMode {
    /// None: a clean network (beacon loss still applies).
    None,
    /// The seed's swarm: crashes, stops, restarts, pauses, partitions, resets, agent kills.
    Swarm,
}

/// How the subnets of a run meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JoinMode {
    /// Every subnet hears every other subnet's beacons (a routed LAN).
    Bridged,
    /// Not at all: beacons stay in their subnet (nodes of different subnets never meet).
    None,
    /// Gossip: beacons stay in their subnet and every node asks its host's agent to gossip
    /// (ZGP) through one hub, bound by the first node.
    Agents,
}

impl From<JoinMode> for Join {
    fn from(j: JoinMode) -> Join {
        match j {
            JoinMode::Bridged => Join::Bridged,
            JoinMode::None => Join::None,
            JoinMode::Agents => Join::Agents,
        }
    }
}

/// One simulated run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Nodes.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Hosts (machines; each has one agent).
    #[arg(long, default_value_t = 10)]
    pub hosts: usize,
    /// Subnets (broadcast domains; how they meet: --join).
    #[arg(long, default_value_t = 1)]
    pub subnets: usize,
    /// How the subnets meet: bridged beacons, none, or gossip through the agents and one hub.
    #[arg(long, value_enum, default_value_t = JoinMode::Bridged)]
    pub join: JoinMode,
    /// Beacon loss per receiver, 0..=1.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Simulated seconds of the fault phase.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Simulated seconds after the faults heal before the liveness check (default: derived
    /// from the timeouts).
    #[arg(long)]
    pub settle: Option<f64>,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Faults.
    #[arg(long, value_enum, default_value_t = FaultMode::None)]
    pub faults: FaultMode,
    /// Shouts per node per simulated second.
    #[arg(long, default_value_t = 0.5)]
    pub shouts: f64,
    /// Nodes start within this many seconds.
    #[arg(long, default_value_t = 1.0)]
    pub stagger: f64,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the convergence curve as SVG to this file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
}

/// `ryre sim swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// How many seeds.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed (a single seed with `--seeds 1` replays it).
    #[arg(long = "seed", default_value_t = 1)]
    pub first: u64,
    /// Stop after this many wall-clock seconds.
    #[arg(long, default_value_t = 3600.0)]
    pub budget: f64,
    /// Test-only: hearts without their sequence check (the oracle must fail runs).
    #[arg(long, hide = true)]
    pub broken_heart: bool,
    /// JSON lines (one per seed) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not shrink failing seeds (by default each is shrunk to a small run and printed as a
    /// regression test to paste into crates/ryre-sim/tests/sim.rs).
    #[arg(long)]
    pub no_shrink: bool,
}

fn check_prob(name: &str, p: f64) -> Result<(), CliError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--{name} must be within 0..=1, not {p}"
        )))
    }
}

/// Runs `ryre sim`.
pub fn run(a: SimArgs) -> CliResult {
    match a.sub {
        Some(SimSub::Swarm(s)) => swarm(s),
        None => single(a.run),
    }
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn single(a: RunArgs) -> CliResult {
    check_prob("loss", a.loss)?;
    if a.nodes == 0 || a.hosts == 0 || a.subnets == 0 {
        return Err(CliError::Usage(
            "--nodes, --hosts and --subnets must be at least 1".into(),
        ));
    }
    if !(a.seconds.is_finite() && a.seconds >= 0.0 && a.stagger.is_finite() && a.stagger >= 0.0) {
        return Err(CliError::Usage(
            "--seconds and --stagger must be finite and not negative".into(),
        ));
    }
    if a.settle.is_some_and(|s| !(s.is_finite() && s >= 0.0))
        || !(a.shouts.is_finite() && a.shouts >= 0.0)
    {
        return Err(CliError::Usage(
            "--settle and --shouts must be finite and not negative".into(),
        ));
    }
    let mut o = Options::quiet(a.nodes, a.hosts, a.subnets);
    o.seed = a.seed;
    o.loss = a.loss;
    o.seconds = a.seconds;
    o.stagger = Duration::from_secs_f64(a.stagger);
    o.settle = a.settle.map(Duration::from_secs_f64);
    o.shout_rate = a.shouts;
    o.join = a.join.into();
    if a.faults == FaultMode::Swarm {
        o = o.with_swarm_faults();
    }
    let started = Instant::now();
    let r = ryre_sim::run(&o);
    let wall = started.elapsed();
    if let Some(path) = &a.plot {
        std::fs::write(path, ryre_sim::plot_svg(&r))
            .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    let line = report_json(&r, wall);
    if a.json {
        print_line(&line.to_string());
    } else {
        print_line(&format!(
            "{} nodes, {} hosts, {} subnets ({}), loss {:.0}%, seed {}: all pairs known at {}; {}/{} live pairs known at the end",
            o.nodes,
            o.hosts,
            o.subnets,
            o.join.name(),
            o.loss * 100.0,
            o.seed,
            match (r.all_known_at, r.all_known_wall) {
                (Some(t), Some(w)) => format!(
                    "{:.3} s ({:.3} s of wall time)",
                    t.as_secs_f64(),
                    w.as_secs_f64()
                ),
                (Some(t), None) => format!("{:.3} s", t.as_secs_f64()),
                (None, _) => "never (faults)".to_string(),
            },
            r.pairs_known,
            r.pairs_total
        ));
        print_line(&format!(
            "simulated {:.1} s in {:.3} s of wall time ({:.0}x real time); {} events, {} heart events ({:.0}/s), {} messages, {} beacons, {} gossip frames, {} ENTERs, {} faults; peak memory {} MiB",
            r.simulated.as_secs_f64(),
            wall.as_secs_f64(),
            r.simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            r.events,
            r.heart_events,
            r.heart_events as f64 / wall.as_secs_f64().max(1e-9),
            r.messages,
            r.beacons,
            r.gossip_frames,
            r.enters,
            r.faults,
            peak_rss().map_or("?".into(), |b| (b >> 20).to_string())
        ));
        print_line(&format!(
            "trace hash {:016x}; {} violations",
            r.trace_hash,
            r.violations.len()
        ));
        for v in r.violations.iter().take(20) {
            print_line(&format!("  at {:.3} s: {}", v.at.as_secs_f64(), v.what));
        }
    }
    if r.violations.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

fn report_json(r: &Report, wall: Duration) -> serde_json::Value {
    json!({
        "seed": r.options.seed,
        "nodes": r.options.nodes,
        "hosts": r.options.hosts,
        "subnets": r.options.subnets,
        "join": r.options.join.name(),
        "loss": r.options.loss,
        "trace_hash": format!("{:016x}", r.trace_hash),
        "all_known_at_s": r.all_known_at.map(|t| t.as_secs_f64()),
        "all_known_wall_s": r.all_known_wall.map(|t| t.as_secs_f64()),
        "simulated_s": r.simulated.as_secs_f64(),
        "wall_s": wall.as_secs_f64(),
        "events": r.events,
        "heart_events": r.heart_events,
        "messages": r.messages,
        "beacons": r.beacons,
        "gossip_frames": r.gossip_frames,
        "enters": r.enters,
        "faults": r.faults,
        "pairs_known": r.pairs_known,
        "pairs_total": r.pairs_total,
        "peak_rss_bytes": peak_rss(),
        "violations": r.violations.iter().map(|v| json!({"at_s": v.at.as_secs_f64(), "what": v.what})).collect::<Vec<_>>(),
    })
}

/// Shrinks a failing run (at most 300 runs or 5 minutes) and prints the regression test.
fn shrink_and_print(o: &Options) {
    let Some(s) = ryre_sim::shrink(o, 300, Duration::from_secs(300)) else {
        return;
    };
    print_line(&format!(
        "shrunk in {} runs to {} nodes, {} hosts, {} s, {} faults; regression test:",
        s.runs, s.options.nodes, s.options.hosts, s.options.seconds, s.report.faults
    ));
    print_line(&s.regression_test());
}

fn swarm(a: SwarmArgs) -> CliResult {
    if !(a.budget.is_finite() && a.budget >= 0.0) {
        return Err(CliError::Usage(
            "--budget must be finite and not negative".into(),
        ));
    }
    let started = Instant::now();
    let budget = Duration::from_secs_f64(a.budget);
    let mut failed = 0u64;
    let mut ran = 0u64;
    for seed in a.first..a.first.saturating_add(a.seeds) {
        if started.elapsed() >= budget {
            break;
        }
        let mut o = Options::from_seed(seed);
        o.broken_heart = a.broken_heart;
        let t = Instant::now();
        let r = ryre_sim::run(&o);
        ran += 1;
        let ok = r.violations.is_empty();
        if !ok {
            failed += 1;
        }
        if a.json {
            print_line(&report_json(&r, t.elapsed()).to_string());
        } else if !ok {
            print_line(&format!(
                "seed {seed} FAILED ({} nodes, {} hosts, {} faults): {}; replay: {}",
                o.nodes,
                o.hosts,
                r.faults,
                r.violations[0].what,
                o.replay_command()
            ));
            if !a.no_shrink {
                shrink_and_print(&o);
            }
        } else {
            print_line(&format!(
                "seed {seed} ok: {} nodes, {} hosts, {} faults, {:.0} s simulated, trace {:016x}",
                o.nodes,
                o.hosts,
                r.faults,
                r.simulated.as_secs_f64(),
                r.trace_hash
            ));
        }
    }
    if !a.json {
        print_line(&format!(
            "{ran} seeds, {failed} failed, {:.1} s of wall time",
            started.elapsed().as_secs_f64()
        ));
    }
    if failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
