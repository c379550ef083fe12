//! The baseline of `ryre bench discovery --raw-mesh`: the links of a ZRE mesh in plain libzmq,
//! with no ZRE at all. Every node is a ROUTER listening on loopback; every node connects one
//! DEALER to every node of the other processes and sends one message of a HELLO's size on it;
//! a node has "met" the mesh when its ROUTER has received that message from each of them. That
//! is the transport work a ZRE mesh cannot avoid (one TCP connection and one ZMTP handshake per
//! ordered pair of nodes, one message each way), so its time, CPU and memory are the floor under
//! `ryre bench discovery`'s swarm of the same shape.
//!
//! The parent (`ryre bench discovery`) starts the children (`ryre bench raw-mesh`), reads each
//! one's `EP <endpoint>` lines, writes every endpoint back to every child followed by `GO`, and
//! waits for a `MET` line per node. Nodes of the same process do not connect to each other (a
//! ryre node reaches the nodes of its own process in memory, without libzmq).

use std::collections::HashSet;
use std::io::{BufRead, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{print_line, BenchError, BenchResult};

/// Nodes per ZeroMQ context: libzmq caps a context at 1023 sockets and a node here uses one
/// ROUTER and one DEALER per remote node, so three nodes fit meshes of up to about 340 nodes.
const NODES_PER_CONTEXT: usize = 3;

/// The size of the message each link carries (a ZRE HELLO of a node in one group, about).
pub(crate) const HELLO_SIZE: usize = 120;

/// Arguments of the hidden `ryre bench raw-mesh` (one child process of the baseline).
#[derive(Debug, Clone)]
pub struct RawMeshOptions {
    /// Nodes in this process.
    pub nodes: usize,
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Runtime(e.to_string())
}

/// Runs one child: binds the nodes' ROUTERs, prints `EP <endpoint>` for each, reads every
/// endpoint of the mesh from stdin until `GO`, connects and sends, prints `MET <ms>` per node
/// once it has heard from every node of the other processes, then waits for stdin to close.
pub fn child(a: RawMeshOptions) -> BenchResult {
    let mut ctx = zmq::Context::new();
    let mut routers = Vec::new();
    let mut own = HashSet::new();
    for i in 0..a.nodes {
        if i > 0 && i % NODES_PER_CONTEXT == 0 {
            ctx = zmq::Context::new();
        }
        let r = ctx.socket(zmq::ROUTER).map_err(err)?;
        r.set_backlog(4096).map_err(err)?;
        r.set_linger(0).map_err(err)?;
        r.bind("tcp://127.0.0.1:*").map_err(err)?;
        let ep = r
            .get_last_endpoint()
            .map_err(err)?
            .map_err(|_| err("endpoint is not UTF-8"))?;
        print_line(&format!("EP {ep}"));
        own.insert(ep);
        routers.push((ctx.clone(), r));
    }
    let mut lines = std::io::stdin().lock();
    let mut remote = Vec::new();
    loop {
        let mut l = String::new();
        if lines.read_line(&mut l).map_err(err)? == 0 {
            return Err(err("stdin closed before GO"));
        }
        match l.trim() {
            "GO" => break,
            l => {
                if let Some(ep) = l.strip_prefix("EP ") {
                    if !own.contains(ep) {
                        remote.push(ep.to_string());
                    }
                }
            }
        }
    }
    drop(lines);
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<String>();
    let mut threads = Vec::new();
    for (i, (ctx, router)) in routers.into_iter().enumerate() {
        let (remote, tx) = (remote.clone(), tx.clone());
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            let mut dealers = Vec::with_capacity(remote.len());
            let mut ctx = ctx;
            let mut id = [0u8; 17];
            id[0] = 1;
            id[1..5].copy_from_slice(&std::process::id().to_be_bytes());
            id[5..9].copy_from_slice(&(i as u32).to_be_bytes());
            let hello = [0xAA; HELLO_SIZE];
            for ep in &remote {
                let d = match ctx.socket(zmq::DEALER) {
                    Ok(d) => d,
                    Err(zmq::Error::EMFILE) => {
                        ctx = zmq::Context::new();
                        ctx.socket(zmq::DEALER).map_err(|e| e.to_string())?
                    }
                    Err(e) => return Err(e.to_string()),
                };
                d.set_identity(&id).map_err(|e| e.to_string())?;
                d.set_linger(0).map_err(|e| e.to_string())?;
                d.connect(ep).map_err(|e| e.to_string())?;
                // Queued until the connection is up (the DEALER's pipe exists at once).
                d.send(&hello[..], zmq::DONTWAIT)
                    .map_err(|e| e.to_string())?;
                dealers.push(d);
            }
            let mut seen = HashSet::with_capacity(remote.len());
            let mut from = zmq::Message::new();
            let mut body = zmq::Message::new();
            let deadline = start + Duration::from_secs(300);
            while seen.len() < remote.len() {
                if Instant::now() > deadline {
                    return Err(format!(
                        "node {i}: {} of {} heard",
                        seen.len(),
                        remote.len()
                    ));
                }
                if router.poll(zmq::POLLIN, 100).map_err(|e| e.to_string())? == 0 {
                    continue;
                }
                router.recv(&mut from, 0).map_err(|e| e.to_string())?;
                while from.get_more() {
                    router.recv(&mut body, 0).map_err(|e| e.to_string())?;
                    if !body.get_more() {
                        break;
                    }
                }
                seen.insert(from.to_vec());
            }
            let _ = tx.send(format!("MET {}", start.elapsed().as_millis()));
            // Keep every socket open (the memory is measured with the mesh standing).
            let (_keep_router, _keep_dealers) = (router, dealers);
            let mut buf = [0u8; 1];
            let _ = std::io::stdin().read(&mut buf);
            Ok(())
        }));
    }
    drop(tx);
    let mut met = 0;
    while met < a.nodes {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => {
                print_line(&line);
                met += 1;
            }
            Err(_) => break,
        }
    }
    if met < a.nodes {
        for t in threads {
            if let Ok(Err(e)) = t.join() {
                return Err(err(e));
            }
        }
        return Err(err("a node did not meet the mesh"));
    }
    // Stdin closing (the parent ending) stops this child; the threads hold their sockets until
    // then.
    for t in threads {
        let _ = t.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// One `ryre bench raw-mesh` child; killed and reaped on drop.
struct RawProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl RawProc {
    fn spawn(nodes: usize) -> Result<RawProc, BenchError> {
        let exe = crate::ryre_exe().map_err(err)?;
        let mut child = Command::new(exe)
            .args(["bench", "raw-mesh", "--nodes", &nodes.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("cannot start a raw-mesh process: {e}")))?;
        let lines = crate::child_lines(&mut child);
        Ok(RawProc {
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    fn line(&self, within: Duration, what: &str) -> Result<String, BenchError> {
        self.lines
            .recv_timeout(within)
            .map_err(|_| err(format!("raw mesh: no {what} within {within:?}")))
    }
}

impl Drop for RawProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the baseline measured.
#[derive(Debug, Clone, Copy)]
pub struct RawMeshResult {
    /// From starting the first process until every node of every process has heard from all
    /// remote nodes (as the swarm's time is from its first spawn).
    pub all_met: Duration,
    /// CPU (user + system) of the children from their start until the mesh was met, seconds.
    pub cpu_secs: f64,
    /// PSS of the children with the mesh standing, per node, MiB.
    pub pss_per_node_mib: f64,
}

/// Runs the baseline: `total` nodes in processes of `per`.
pub fn run(total: usize, per: usize) -> Result<RawMeshResult, BenchError> {
    let t0 = Instant::now();
    let mut procs = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(per);
        procs.push((RawProc::spawn(n)?, n));
        left -= n;
    }
    let mut eps = Vec::with_capacity(total);
    for (p, n) in &procs {
        for _ in 0..*n {
            let l = p.line(Duration::from_secs(30), "endpoint")?;
            let ep = l
                .strip_prefix("EP ")
                .ok_or_else(|| err(format!("raw mesh: unexpected line {l:?}")))?;
            eps.push(ep.to_string());
        }
    }
    let mut script = String::new();
    for ep in &eps {
        script.push_str("EP ");
        script.push_str(ep);
        script.push('\n');
    }
    script.push_str("GO\n");
    for (p, _) in &mut procs {
        let stdin = p.stdin.as_mut().ok_or_else(|| err("raw mesh: no stdin"))?;
        stdin.write_all(script.as_bytes()).map_err(err)?;
        stdin.flush().map_err(err)?;
    }
    for (p, n) in &procs {
        for _ in 0..*n {
            let l = p.line(Duration::from_secs(300), "MET")?;
            if !l.starts_with("MET") {
                return Err(err(format!("raw mesh: unexpected line {l:?}")));
            }
        }
    }
    let all_met = t0.elapsed();
    let ticks: u64 = procs
        .iter()
        .filter_map(|(p, _)| crate::discovery::proc_stat(p.child.id()))
        .map(|s| s.0)
        .sum();
    let pss: u64 = procs
        .iter()
        .filter_map(|(p, _)| crate::discovery::pss_kib(p.child.id()))
        .sum();
    Ok(RawMeshResult {
        all_met,
        cpu_secs: ticks as f64 / 100.0,
        pss_per_node_mib: pss as f64 / total as f64 / 1024.0,
    })
}
