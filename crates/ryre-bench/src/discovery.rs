//! `ryre bench discovery` and `ryre bench failover`: how fast the nodes of one machine find each
//! other through the device rendezvous (against plain ZRE beacons in the same run), what idle
//! nodes cost, how fast a new agent serves after the agent is killed with kill -9, and how fast a
//! killed node's EXIT reaches its peers. Nodes run in child processes of this binary (`ryre bench
//! swarm`, N nodes each) on loopback with a private port; every child is killed at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ryre::{Discovery, Event, Node, NodeBuilder, PeerId};
use serde_json::json;

use crate::print_line;
use crate::{BenchError, BenchResult};

/// Arguments of `ryre bench discovery`.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Nodes in the swarm measurement (0 skips it).
    pub nodes: usize,
    /// Nodes per child process in the swarm.
    pub per_process: u64,
    /// Rounds of the two-process measurement (each kind); medians are reported.
    pub rounds: u32,
    /// Seconds over which the idle swarm's CPU is measured (0 skips it).
    pub idle_secs: u64,
    /// Print one JSON object with every number.
    pub json: bool,
    /// After the swarm, the same mesh of links in plain libzmq as its floor
    /// ([`crate::raw_mesh`]).
    pub raw_mesh: bool,
}

/// Arguments of `ryre bench failover`.
#[derive(Debug, Clone)]
pub struct FailoverOptions {
    /// Nodes in all.
    pub nodes: usize,
    /// Nodes per child process.
    pub per_process: u64,
    /// Agent kills (and node kills) to measure.
    pub rounds: u32,
    /// Print one JSON object with every number.
    pub json: bool,
}

/// Arguments of the hidden `ryre bench swarm` (the child of both benchmarks).
#[derive(Debug, Clone)]
pub struct SwarmOptions {
    /// Nodes in this process.
    pub nodes: usize,
    /// The private beacon/rendezvous port.
    pub port: u16,
    /// Nodes in the whole swarm: report `MET` when each node of this process has seen the others.
    pub expect: usize,
    /// Discovery mode.
    pub discovery: Discovery,
    /// Milliseconds between beacons.
    pub interval: u64,
    /// Whisper every whisper back.
    pub echo: bool,
    /// Never host the machine's agent.
    pub no_agent: bool,
    /// Secure mode with trust on first use (fresh keys).
    pub tofu: bool,
    /// The interface the nodes use (default `lo`).
    pub interface: Option<String>,
    /// Gossip hubs every node connects to (none: no gossip).
    pub gossip_connect: Vec<String>,
    /// Gossip through the machine's agent (one session per hub for the host).
    pub gossip_agent: bool,
    /// Certified mode: node i uses `cert_dir/n<cert_first + i>` and trusts
    /// `cert_dir/root.cert` (see [`crate::certified`]).
    pub cert_dir: Option<std::path::PathBuf>,
    /// The number of this process's first node's certificate.
    pub cert_first: usize,
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Runtime(e.to_string())
}

pub(crate) fn builder(port: u16, name: String, discovery: Discovery, interval: u64) -> NodeBuilder {
    Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .discovery(discovery)
        .interval(Duration::from_millis(interval))
}

/// Runs the hidden `ryre bench swarm`: starts the nodes, prints `NODE <id>` for each, `MET <ms>`
/// once every node has seen `expect - 1` peers, then every EXIT as `EXIT <id> <reason>`, and
/// serves (echoing whispers with `--echo`) until stdin closes or it is killed.
pub fn swarm(a: SwarmOptions) -> BenchResult {
    let start = Instant::now();
    if std::env::var_os("RUST_LOG").is_some() {
        // For looking into a swarm by hand (the benchmarks send a child's stderr nowhere).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let parsed_ns = crate::mono_ns();
    let mut nodes = Vec::new();
    for i in 0..a.nodes {
        let name = format!("n{}-{i}", std::process::id());
        nodes.push(
            a.gossip_connect
                .iter()
                .fold(
                    builder(a.port, name, a.discovery, a.interval)
                        .interface(a.interface.as_deref().unwrap_or("lo")),
                    |b, hub| b.gossip_connect(hub.clone()),
                )
                .gossip_via_agent(a.gossip_agent)
                .agent(!a.no_agent)
                .tofu(a.tofu),
        );
    }
    let nodes = nodes
        .into_iter()
        .enumerate()
        .map(|(i, b)| match &a.cert_dir {
            Some(dir) => b
                .certificate(dir.join(format!("n{}", a.cert_first + i)))
                .trust_ca(dir.join("root.cert")),
            None => b,
        })
        .map(NodeBuilder::start)
        .collect::<Result<Vec<_>, _>>()?;
    let started_ns = crate::mono_ns();
    for n in &nodes {
        print_line(&format!("NODE {}", n.uuid()));
    }
    // The start-up timeline (CLOCK_MONOTONIC, comparable with the parent's readings).
    print_line(&format!(
        "T {} {parsed_ns} {started_ns}",
        crate::main_at().unwrap_or(parsed_ns)
    ));
    let (tx, rx) = mpsc::channel::<String>();
    for n in &nodes {
        let (n, tx, expect, echo) = (n.clone(), tx.clone(), a.expect, a.echo);
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut met = false;
            while let Ok(ev) = n.recv() {
                match ev {
                    Event::Enter { peer, .. } => {
                        seen.insert(peer);
                        if !met && seen.len() + 1 >= expect {
                            met = true;
                            let _ = tx.send(format!(
                                "MET {} {}",
                                start.elapsed().as_millis(),
                                crate::mono_ns()
                            ));
                        }
                    }
                    Event::Exit { peer, reason, .. } => {
                        let _ = tx.send(format!("EXIT {peer} {}", reason.as_str()));
                    }
                    Event::Whisper { peer, content, .. } if echo => {
                        let _ = n.whisper(peer, content.iter().cloned());
                    }
                    _ => {}
                }
            }
        });
    }
    drop(tx);
    // Stdin closing (the parent ending) stops this child.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        let _ = done_tx.send(());
    });
    loop {
        if done_rx.try_recv().is_ok() {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => print_line(&line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for n in nodes {
        let _ = n.stop();
    }
    Ok(ExitCode::SUCCESS)
}

/// A `ryre bench swarm` child; killed and reaped on drop.
pub(crate) struct SwarmProc {
    child: Child,
    _stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub(crate) ids: Vec<PeerId>,
}

impl SwarmProc {
    pub(crate) fn spawn(
        nodes: usize,
        port: u16,
        expect: usize,
        extra: &[&str],
    ) -> Result<SwarmProc, BenchError> {
        // `RYRE_BENCH_SWARM` names another build's `ryre` for the children (its nodes measured by
        // this bench, before against after in one run).
        let exe = match std::env::var_os("RYRE_BENCH_SWARM") {
            Some(p) => std::path::PathBuf::from(p),
            None => crate::ryre_exe().map_err(err)?,
        };
        let mut child = Command::new(exe)
            .args(["bench", "swarm", "--nodes", &nodes.to_string()])
            .args(["--port", &port.to_string(), "--expect", &expect.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError::Runtime(format!("cannot start a swarm process: {e}")))?;
        let lines = crate::child_lines(&mut child);
        Ok(SwarmProc {
            _stdin: child.stdin.take(),
            child,
            lines,
            ids: Vec::new(),
        })
    }

    /// Reads lines until `pred` holds for one (keeping `NODE` ids); fails after `within`.
    pub(crate) fn until(
        &mut self,
        within: Duration,
        what: &str,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, BenchError> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| BenchError::Runtime(format!("no {what} within {within:?}")))?;
            if let Some(id) = line.strip_prefix("NODE ").and_then(|s| s.parse().ok()) {
                self.ids.push(id);
            }
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SwarmProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Where one two-process round's time went, in ms from spawning the child (CLOCK_MONOTONIC
/// readings of both processes).
#[derive(Debug, Clone, Copy, Default)]
struct PairTimes {
    /// `main` entered in the child: fork, exec, dynamic linking, the runtime's start.
    main: f64,
    /// The child's arguments parsed (the CLI's command tree).
    parsed: f64,
    /// The child's node started (`NodeBuilder::start` returned).
    started: f64,
    /// The child saw ENTER.
    child_enter: f64,
    /// The node here saw ENTER.
    here_enter: f64,
    /// Both sides saw ENTER: the measurement.
    both: f64,
}

/// One two-process round: a node here, then a child node; time from spawning the child to
/// ENTER on both sides, with the child's start-up timeline.
fn pair_round(discovery: Discovery, tofu: bool) -> Result<PairTimes, BenchError> {
    let port = ryre::private_port().map_err(err)?;
    let d = discovery.as_str();
    let here = builder(port, "pair-here".into(), discovery, 1000)
        .tofu(tofu)
        .start()?;
    let mut args = vec!["--discovery", d];
    if tofu {
        args.push("--tofu");
    }
    let t0 = Instant::now();
    let t0_ns = crate::mono_ns();
    let mut child = SwarmProc::spawn(1, port, 2, &args)?;
    let stall = Duration::from_secs(10);
    let since = |ns: u64| ns.saturating_sub(t0_ns) as f64 / 1e6;
    let mut times = PairTimes::default();
    // The node here is served by a thread of its own, so that neither side's ENTER waits for
    // the other's to be looked at.
    let watcher = {
        let here = here.clone();
        std::thread::spawn(move || -> Option<u64> {
            let deadline = Instant::now() + stall;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match here.recv_timeout(left) {
                    Ok(Some(Event::Enter { .. })) => return Some(crate::mono_ns()),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return None,
                }
            }
        })
    };
    let mut child_met = None;
    while child_met.is_none() {
        let line = child.until(stall, "MET from the child", |l| {
            l.starts_with("MET") || l.starts_with("T ")
        })?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |v: &str| v.parse::<u64>().map(since).unwrap_or(0.0);
        match f.as_slice() {
            ["T", m, p, s] => (times.main, times.parsed, times.started) = (n(m), n(p), n(s)),
            ["MET", _, at] => child_met = Some(n(at)),
            _ => child_met = Some(ms(t0.elapsed())),
        }
    }
    let here_met = watcher
        .join()
        .ok()
        .flatten()
        .ok_or_else(|| err("the child never entered"))?;
    times.here_enter = since(here_met);
    times.child_enter = child_met.unwrap_or(0.0);
    times.both = times.here_enter.max(times.child_enter);
    here.stop()?;
    drop(child);
    Ok(times)
}

/// Time to spawn `exe args` and reap it (the cost of starting a process of that binary that
/// does nothing), in ms.
fn spawn_exit(exe: &std::path::Path, args: &[&str]) -> Result<f64, BenchError> {
    let t0 = Instant::now();
    let status = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| BenchError::Runtime(format!("cannot start {}: {e}", exe.display())))?;
    if !status.success() {
        return Err(err(format!("{} {args:?} failed: {status}", exe.display())));
    }
    Ok(ms(t0.elapsed()))
}

pub(crate) fn proc_stat(pid: u32) -> Option<(u64, u64)> {
    // utime + stime in clock ticks, and resident pages.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let rss = f.get(21)?.parse::<u64>().ok()?;
    Some((cpu, rss))
}

/// PSS of a process in KiB (`/proc/PID/smaps_rollup`: pages shared by several processes, such
/// as the binary and its libraries, are divided between them).
pub(crate) fn pss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Pss:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The kernel's count of connections dropped because a listening socket's accept queue was full
/// (`TcpExt: ListenOverflows` in `/proc/net/netstat`, for this network namespace: every process
/// in it counts, not only the swarm).
fn listen_overflows() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = s.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Starts `total` nodes in processes of `per` and waits until every node has met all others.
fn swarm_up(total: usize, per: usize, port: u16) -> Result<(Vec<SwarmProc>, Duration), BenchError> {
    let t0 = Instant::now();
    let mut procs = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(per);
        procs.push(SwarmProc::spawn(n, port, total, &[])?);
        left -= n;
    }
    let stall = Duration::from_secs(60);
    for p in &mut procs {
        let want = p_nodes(p, per, total);
        for _ in 0..want {
            p.until(stall, "every node meeting all the others", |l| {
                l.starts_with("MET")
            })?;
        }
    }
    Ok((procs, t0.elapsed()))
}

fn p_nodes(_p: &SwarmProc, per: usize, total: usize) -> usize {
    per.min(total)
}

/// Runs `ryre bench discovery`.
pub fn discovery(a: DiscoveryOptions) -> BenchResult {
    raise_fd_limit();
    let exe = crate::ryre_exe().map_err(err)?;
    let mut local: Vec<PairTimes> = Vec::new();
    let mut beacon = Vec::new();
    let mut secure = Vec::new();
    // Baselines in the same rounds: spawning a process that exits at once (/bin/true), and the
    // same binary doing nothing but loading and parsing its arguments (`ryre --version`).
    let mut spawn_true = Vec::new();
    let mut spawn_ryre = Vec::new();
    for _ in 0..a.rounds {
        spawn_true.push(spawn_exit(std::path::Path::new("/bin/true"), &[])?);
        spawn_ryre.push(spawn_exit(&exe, &["--version"])?);
        local.push(pair_round(Discovery::Auto, false)?);
        beacon.push(pair_round(Discovery::Beacon, false)?.both);
        secure.push(pair_round(Discovery::Auto, true)?.both);
    }
    let phase = |f: fn(&PairTimes) -> f64| median(local.iter().map(f).collect());
    let (l, b) = (phase(|t| t.both), median(beacon.clone()));
    let s = median(secure.clone());
    let (st, sr) = (median(spawn_true.clone()), median(spawn_ryre.clone()));
    let timeline = json!({"main_ms": phase(|t| t.main), "parsed_ms": phase(|t| t.parsed),
        "started_ms": phase(|t| t.started), "child_enter_ms": phase(|t| t.child_enter),
        "here_enter_ms": phase(|t| t.here_enter)});
    let local_both: Vec<f64> = local.iter().map(|t| t.both).collect();
    let mut out = json!({"bench": "discovery", "pair_auto_ms": local_both, "pair_beacon_ms": beacon,
        "pair_auto_median_ms": l, "pair_beacon_median_ms": b, "pair_target_ms": 50,
        "pair_secure_auto_ms": secure, "pair_secure_auto_median_ms": s,
        "secure_over_open": s / l.max(1e-9), "pair_auto_timeline": timeline,
        "spawn_true_median_ms": st, "spawn_ryre_version_median_ms": sr,
        "pair_auto_over_spawn_ryre": l / sr.max(1e-9)});
    if !a.json {
        print_line(&format!(
            "2 processes, start of the second -> ENTER on both sides: rendezvous (auto) median {l:.2} ms, plain ZRE beacons (1 s interval, as Zyre) median {b:.2} ms over {} rounds (target <= 50 ms: {})",
            a.rounds,
            if l <= 50.0 { "met" } else { "MISSED" }
        ));
        print_line(&format!(
            "  auto, medians from the spawn: child in main {:.2} ms, arguments parsed {:.2} ms, node started {:.2} ms, ENTER in the child {:.2} ms, ENTER here {:.2} ms",
            phase(|t| t.main), phase(|t| t.parsed), phase(|t| t.started),
            phase(|t| t.child_enter), phase(|t| t.here_enter)
        ));
        print_line(&format!(
            "  baselines, spawn until reaped: /bin/true {st:.2} ms, `ryre --version` {sr:.2} ms (auto pair = {:.2}x `ryre --version`)",
            l / sr.max(1e-9)
        ));
        print_line(&format!(
            "  secure (CURVE, trust on first use, auto): median {s:.2} ms = {:.2}x open auto (target <= 2x: {})",
            s / l.max(1e-9),
            if s <= 2.0 * l { "met" } else { "MISSED" }
        ));
    }
    if a.nodes > 1 {
        let per = usize::try_from(a.per_process).unwrap_or(10);
        let port = ryre::private_port().map_err(err)?;
        let overflows_before = listen_overflows();
        let (procs, took) = swarm_up(a.nodes, per, port)?;
        let swarm_cpu_secs = procs
            .iter()
            .filter_map(|p| proc_stat(p.pid()))
            .map(|s| s.0)
            .sum::<u64>() as f64
            / 100.0;
        out["swarm_cpu_secs"] = json!(swarm_cpu_secs);
        let overflows = listen_overflows()
            .zip(overflows_before)
            .map(|(after, before)| after.saturating_sub(before));
        out["swarm_nodes"] = json!(a.nodes);
        out["swarm_processes"] = json!(procs.len());
        out["swarm_all_met_ms"] = json!(ms(took));
        out["swarm_listen_overflows"] = json!(overflows);
        if !a.json {
            print_line(&format!(
                "{} nodes in {} processes: every node has seen all {} others after {:.0} ms (target <= 2000 ms for 100: {}); accept queue overflows meanwhile (the kernel's ListenOverflows, every process): {}",
                a.nodes,
                procs.len(),
                a.nodes - 1,
                ms(took),
                if ms(took) <= 2000.0 { "met" } else { "MISSED" },
                overflows.map_or("unknown".to_string(), |o| o.to_string())
            ));
            print_line(&format!(
                "  CPU of the {} processes until then (user + system): {swarm_cpu_secs:.1} s",
                procs.len()
            ));
        }
        if a.idle_secs > 0 {
            // Let the start-up traffic settle, then measure CPU over the idle period.
            std::thread::sleep(Duration::from_secs(2)); // a measurement window, not a wait for a condition
            let before: Vec<(u64, u64)> = procs.iter().filter_map(|p| proc_stat(p.pid())).collect();
            let t = Instant::now();
            std::thread::sleep(Duration::from_secs(a.idle_secs)); // the measurement window itself
            let after: Vec<(u64, u64)> = procs.iter().filter_map(|p| proc_stat(p.pid())).collect();
            let secs = t.elapsed().as_secs_f64();
            let ticks = 100.0; // USER_HZ on Linux
            let cpu: u64 = after
                .iter()
                .zip(&before)
                .map(|(a, b)| a.0.saturating_sub(b.0))
                .sum();
            let cpu_pct = cpu as f64 / ticks / secs * 100.0;
            let page = 4096u64;
            let rss: u64 = after.iter().map(|a| a.1 * page).sum();
            let per_node = rss as f64 / a.nodes as f64 / (1 << 20) as f64;
            let pss: u64 = procs.iter().filter_map(|p| pss_kib(p.pid())).sum();
            let pss_per_node = pss as f64 / a.nodes as f64 / 1024.0;
            out["idle_cpu_percent_of_one_core"] = json!(cpu_pct);
            out["idle_rss_total_mib"] = json!(rss as f64 / (1 << 20) as f64);
            out["idle_rss_per_node_mib"] = json!(per_node);
            out["idle_pss_per_node_mib"] = json!(pss_per_node);
            if !a.json {
                print_line(&format!(
                    "idle, {} nodes: {cpu_pct:.2} % of one core in total over {secs:.0} s; RSS {:.1} MiB in all, {per_node:.2} MiB per node, PSS {pss_per_node:.2} MiB per node ({} nodes per process)",
                    a.nodes,
                    rss as f64 / (1 << 20) as f64,
                    per
                ));
            }
        }
    }
    if a.raw_mesh && a.nodes > 1 {
        let per = usize::try_from(a.per_process).unwrap_or(10);
        let raw = crate::raw_mesh::run(a.nodes, per)?;
        out["raw_mesh_all_met_ms"] = json!(ms(raw.all_met));
        out["raw_mesh_cpu_secs"] = json!(raw.cpu_secs);
        out["raw_mesh_pss_per_node_mib"] = json!(raw.pss_per_node_mib);
        if !a.json {
            print_line(&format!(
                "raw libzmq, the same links (a ROUTER per node, a DEALER to every node of the other processes, one {}-byte message on each): all heard after {:.0} ms, CPU {:.1} s, PSS {:.2} MiB per node",
                crate::raw_mesh::HELLO_SIZE,
                ms(raw.all_met),
                raw.cpu_secs,
                raw.pss_per_node_mib
            ));
        }
    }
    if a.json {
        print_line(&out.to_string());
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the agent who it serves: (the agent's id, the registered ids).
fn probe(port: u16) -> Option<(PeerId, BTreeSet<PeerId>)> {
    let view = ryre::agent_view(&ryre::Rendezvous::Tcp(port), Duration::from_millis(500)).ok()?;
    Some((view.agent, view.nodes.iter().map(|n| n.0).collect()))
}

/// Runs `ryre bench failover`.
pub fn failover(a: FailoverOptions) -> BenchResult {
    raise_fd_limit();
    let per = usize::try_from(a.per_process).unwrap_or(5);
    let port = ryre::private_port().map_err(err)?;
    // The whispering pair: `w` here (never the agent), its echo in a child of its own.
    let w = builder(port, "whisperer".into(), Discovery::Auto, 1000)
        .agent(false)
        .start()?;
    let (mut procs, _) = swarm_up(a.nodes, per, port)?;
    let mut echo = SwarmProc::spawn(1, port, 2, &["--echo", "--no-agent"])?;
    echo.until(Duration::from_secs(10), "the echo node", |l| {
        l.starts_with("NODE")
    })?;
    let echo_id = echo.ids[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !w.peers().contains(&echo_id) {
        if Instant::now() > deadline {
            return Err(err("the echo node never entered"));
        }
        let _ = w.recv_timeout(Duration::from_millis(10));
    }
    let owner: BTreeMap<PeerId, usize> = procs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.ids.iter().map(move |id| (*id, i)))
        .collect();
    let (mut sent, mut echoed) = (0u64, 0u64);
    let mut exits: Vec<(PeerId, String)> = Vec::new();
    let pump = |w: &Node, sent: &mut u64, echoed: &mut u64, exits: &mut Vec<(PeerId, String)>| {
        // About 5,000 whispers a second: traffic between survivors, not a flood.
        std::thread::sleep(Duration::from_millis(2));
        for _ in 0..10 {
            if w.whisper(echo_id, [sent.to_string()]).is_ok() {
                *sent += 1;
            }
        }
        while let Ok(Some(ev)) = w.recv_timeout(Duration::ZERO) {
            match ev {
                Event::Whisper { .. } => *echoed += 1,
                Event::Exit { peer, reason, .. } => exits.push((peer, reason.as_str().to_string())),
                _ => {}
            }
        }
    };
    let mut killed_nodes: BTreeSet<PeerId> = BTreeSet::new();
    let mut takeovers = Vec::new();
    let mut dead = vec![false; procs.len()];
    for round in 0..a.rounds {
        let (agent, _) = probe(port).ok_or_else(|| err("no agent"))?;
        let Some(&i) = owner.get(&agent) else {
            return Err(err(format!("round {round}: the agent is not a swarm node")));
        };
        let survivors: BTreeSet<PeerId> = owner
            .iter()
            .filter(|(_, p)| !dead[**p] && **p != i)
            .map(|(id, _)| *id)
            .chain([w.uuid(), echo_id])
            .collect();
        procs[i].kill();
        dead[i] = true;
        let t0 = Instant::now();
        killed_nodes.extend(procs[i].ids.iter().copied());
        loop {
            pump(&w, &mut sent, &mut echoed, &mut exits);
            if let Some((new, peers)) = probe(port) {
                if new != agent && survivors.iter().all(|id| peers.contains(id) || *id == new) {
                    break;
                }
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(err(format!("round {round}: no new agent serving everyone")));
            }
        }
        takeovers.push(ms(t0.elapsed()));
    }
    // A node killed that is not the agent: time until its EXIT reaches the whisperer.
    let mut exit_times = Vec::new();
    for _ in 0..a.rounds {
        let (agent, _) = probe(port).ok_or_else(|| err("no agent"))?;
        let mut victim = SwarmProc::spawn(1, port, 2, &["--no-agent"])?;
        victim.until(Duration::from_secs(10), "the victim", |l| {
            l.starts_with("NODE")
        })?;
        let vid = victim.ids[0];
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w.peers().contains(&vid) {
            if Instant::now() > deadline {
                return Err(err("the victim never entered"));
            }
            match w.recv_timeout(Duration::from_millis(5))? {
                Some(Event::Whisper { .. }) => echoed += 1,
                Some(Event::Exit { peer, reason, .. }) => {
                    exits.push((peer, reason.as_str().into()))
                }
                _ => {}
            }
        }
        debug_assert_ne!(vid, agent);
        victim.kill();
        let t0 = Instant::now();
        loop {
            match w.recv_timeout(Duration::from_secs(10))? {
                Some(Event::Exit { peer, .. }) if peer == vid => break,
                Some(Event::Exit { peer, reason, .. }) => {
                    exits.push((peer, reason.as_str().into()))
                }
                Some(Event::Whisper { .. }) => echoed += 1,
                Some(_) => {}
                None => return Err(err("no EXIT for the killed node")),
            }
        }
        exit_times.push(ms(t0.elapsed()));
    }
    // Let every echo come home, then count.
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoed < sent && Instant::now() < deadline {
        if let Ok(Some(ev)) = w.recv_timeout(Duration::from_millis(50)) {
            match ev {
                Event::Whisper { .. } => echoed += 1,
                Event::Exit { peer, reason, .. } => exits.push((peer, reason.as_str().into())),
                _ => {}
            }
        }
    }
    let spurious: Vec<&(PeerId, String)> = exits
        .iter()
        .filter(|(p, _)| !killed_nodes.contains(p))
        .collect();
    let lost = sent - echoed.min(sent);
    let (t_med, t_max) = (
        median(takeovers.clone()),
        takeovers.iter().copied().fold(0.0, f64::max),
    );
    let (e_med, e_max) = (
        median(exit_times.clone()),
        exit_times.iter().copied().fold(0.0, f64::max),
    );
    if a.json {
        print_line(
            &json!({"bench": "failover", "nodes": a.nodes, "per_process": per,
            "takeover_ms": takeovers, "takeover_median_ms": t_med, "takeover_max_ms": t_max,
            "takeover_target_ms": 500, "spurious_exits": spurious.len(), "whispers": sent,
            "lost": lost, "exit_ms": exit_times, "exit_median_ms": e_med, "exit_max_ms": e_max,
            "exit_target_ms": 200})
            .to_string(),
        );
    } else {
        print_line(&format!(
            "agent killed (kill -9) under {} nodes: new agent serving every survivor after median {t_med:.0} ms, max {t_max:.0} ms over {} kills (target <= 500 ms: {}); spurious EXITs {}; whispers between survivors {sent}, lost {lost}",
            a.nodes, a.rounds, if t_max <= 500.0 { "met" } else { "MISSED" }, spurious.len()
        ));
        print_line(&format!(
            "a node killed (kill -9): EXIT at its peers after median {e_med:.1} ms, max {e_max:.1} ms over {} kills (target <= 200 ms: {})",
            a.rounds,
            if e_max <= 200.0 { "met" } else { "MISSED" }
        ));
    }
    w.stop()?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit on open files to the hard limit (a full mesh needs many sockets).
pub(crate) fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
