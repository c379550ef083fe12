//! `ryre bench pipeline`: tasks per second of the reliable pipeline (client → workers →
//! collector → client, in this process, on loopback) against plain libzmq PUSH/PULL moving the
//! same number of messages through the same topology (ventilator → workers → sink, one thread
//! each), alternating runs; with `--watched`, also the same batch while a watcher node is in the
//! cluster's status group (every role then reports its status there, at most every 500 ms), to
//! show what the reports cost; and the time to finish a batch when one of four worker processes
//! is killed (kill -9) halfway, against the same batch without a kill.

use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ryre::{Bytes, Node, NodeBuilder};
use ryre_pipeline::{status_group, Client, Collector, Config, Worker};
use serde_json::json;

use crate::median;
use crate::print_line;
use crate::{BenchError, BenchResult};

/// Longest a measurement may take before it fails.
const STALL: Duration = Duration::from_secs(60);

/// Arguments of `ryre bench pipeline`.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Tasks (messages) per measurement.
    pub count: u64,
    /// Payload bytes per task.
    pub size: u32,
    /// Worker counts to measure (comma-separated).
    pub workers: Vec<u32>,
    /// Measurements of each kind (alternating); medians are reported.
    pub rounds: u32,
    /// Client: most tasks per TASKS message.
    pub chunk: u32,
    /// Worker window (most tasks held per client).
    pub window: u32,
    /// Also measure the price of recovery: 4 worker processes, one killed halfway, vs no kill.
    pub kill: bool,
    /// Skip the throughput comparison (with --kill: only the recovery measurement).
    pub no_throughput: bool,
    /// Also measure the ryre pipeline while a watcher is in its status group (alternating
    /// with the unwatched runs).
    pub watched: bool,
    /// Print one JSON object with every number.
    pub json: bool,
}

fn zmq_err(what: &str) -> impl Fn(zmq::Error) -> BenchError + '_ {
    move |e| BenchError::Runtime(format!("PUSH/PULL {what}: {e}"))
}

/// Runs `ryre bench pipeline`.
pub fn run(a: PipelineOptions) -> BenchResult {
    let mut report = serde_json::Map::new();
    report.insert("count".into(), json!(a.count));
    report.insert("size".into(), json!(a.size));
    report.insert("chunk".into(), json!(a.chunk));
    report.insert("window".into(), json!(a.window));
    if !a.no_throughput {
        let mut rows = Vec::new();
        for &w in &a.workers {
            if w == 0 {
                return Err(BenchError::Usage("worker counts must be at least 1".into()));
            }
            let (ryre_rates, zmq_rates, watched) = throughput(&a, w)?;
            let (r, z) = (median(&ryre_rates), median(&zmq_rates));
            if let (Some((rates, reports)), false) = (&watched, a.json) {
                let m = median(rates);
                print_line(&format!(
                    "{w} worker(s): watched ryre pipeline {m:>10.0} tasks/s   unwatched {r:>10.0}   ratio {:.2}   ({reports} status reports; runs: {:?})",
                    m / r,
                    rates.iter().map(|x| x.round()).collect::<Vec<_>>(),
                ));
            }
            if !a.json {
                print_line(&format!(
                    "{w} worker(s): ryre pipeline {:>10.0} tasks/s   PUSH/PULL {:>10.0} msgs/s   ratio {:.2}   (runs: ryre {:?}, zmq {:?})",
                    r,
                    z,
                    r / z,
                    ryre_rates.iter().map(|x| x.round()).collect::<Vec<_>>(),
                    zmq_rates.iter().map(|x| x.round()).collect::<Vec<_>>(),
                ));
            }
            let mut row = json!({"workers": w, "ryre_tasks_per_s": r, "pushpull_msgs_per_s": z,
                         "ratio": r / z, "ryre_runs": ryre_rates, "pushpull_runs": zmq_rates});
            if let (Some((rates, reports)), Some(m)) = (&watched, row.as_object_mut()) {
                let wm = median(rates);
                m.insert("watched_tasks_per_s".into(), json!(wm));
                m.insert("watched_ratio".into(), json!(wm / r));
                m.insert("watched_runs".into(), json!(rates));
                m.insert("status_reports".into(), json!(reports));
            }
            rows.push(row);
        }
        report.insert("throughput".into(), json!(rows));
    }
    if a.kill {
        let (plain, killed) = recovery(&a)?;
        let (p, k) = (median(&plain), median(&killed));
        if !a.json {
            print_line(&format!(
                "4 worker processes, {} tasks: no kill {:.3} s, one killed halfway {:.3} s, ratio {:.2}   (runs: {:?} / {:?})",
                a.count, p, k, k / p, plain, killed
            ));
        }
        report.insert(
            "recovery".into(),
            json!({"no_kill_s": p, "one_killed_s": k, "ratio": k / p,
                   "no_kill_runs": plain, "one_killed_runs": killed}),
        );
    }
    if a.json {
        print_line(&serde_json::Value::Object(report).to_string());
    }
    Ok(ExitCode::SUCCESS)
}

fn payloads(count: u64, size: u32) -> Vec<Bytes> {
    (0..count)
        .map(|i| {
            let mut v = vec![b'x'; size as usize];
            let tag = i.to_be_bytes();
            let n = v.len().min(8);
            v[..n].copy_from_slice(&tag[8 - n..]);
            Bytes::from(v)
        })
        .collect()
}

fn wait_ready(client: &Client, workers: usize) -> Result<(), BenchError> {
    let deadline = Instant::now() + STALL;
    while client.ready_workers() < workers {
        if Instant::now() > deadline {
            return Err(BenchError::Runtime(format!(
                "only {} of {workers} workers ready within {STALL:?}",
                client.ready_workers()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// One batch through the client; the time from submit to the last result.
fn run_batch(
    client: &Client,
    tasks: Vec<Bytes>,
    mut at: impl FnMut(u64),
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let mut batch = client.submit(tasks).map_err(BenchError::runtime)?;
    let total = batch.total();
    let mut got = 0u64;
    while batch.remaining() > 0 {
        match batch.recv_timeout(STALL) {
            Some((_, Ok(_))) => got += 1,
            Some((no, Err(e))) => {
                return Err(BenchError::Runtime(format!("task {no} failed: {e}")));
            }
            None => {
                return Err(BenchError::Runtime(format!(
                    "only {got} of {total} results within {STALL:?}"
                )))
            }
        }
        at(got);
    }
    Ok(start.elapsed())
}

/// A node that joins and leaves a cluster's status group on demand and counts the status
/// reports shouted there.
struct Watcher {
    node: Node,
    group: String,
    reports: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(port: u16, cluster: &str) -> Result<Watcher, BenchError> {
        let node = loopback(port, "bench-watcher")
            .start()
            .map_err(BenchError::runtime)?;
        let reports = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, r, s) = (node.clone(), reports.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match n.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(ryre::Event::Shout { .. })) => {
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Watcher {
            node,
            group: status_group(cluster),
            reports,
            stop,
            thread: Some(thread),
        })
    }

    /// Joins (or leaves) the status group and waits until every one of `roles` knows it.
    fn watch(&self, on: bool, roles: &[&Node]) -> Result<(), BenchError> {
        if on {
            self.node.join(&self.group)
        } else {
            self.node.leave(&self.group)
        }
        .map_err(BenchError::runtime)?;
        let me = self.node.uuid();
        let deadline = Instant::now() + STALL;
        while roles
            .iter()
            .any(|r| r.peers_by_group(&self.group).contains(&me) != on)
        {
            if Instant::now() > deadline {
                return Err(BenchError::Runtime(format!(
                    "the roles did not see the watcher {} within {STALL:?}",
                    if on { "join" } else { "leave" }
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.node.stop();
    }
}

/// Rates of the watched runs and the status reports the watcher received.
type Watched = Option<(Vec<f64>, u64)>;

/// Alternating ryre and PUSH/PULL runs (and watched ryre runs) with `w` workers: their rates.
fn throughput(a: &PipelineOptions, w: u32) -> Result<(Vec<f64>, Vec<f64>, Watched), BenchError> {
    let port = free_udp_port()?;
    let cluster = format!("bench-{}-{w}", std::process::id());
    let config = Config {
        window: a.window,
        chunk: a.chunk,
        ..fast_config(&cluster)
    };
    let collector = Collector::start(loopback(port, "bench-collector"), config.clone())
        .map_err(BenchError::runtime)?;
    let workers = (0..w)
        .map(|i| {
            Worker::start(
                loopback(port, &format!("bench-w{i}")),
                config.clone(),
                |p: &[u8]| Ok(p.to_vec()),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(BenchError::runtime)?;
    let client =
        Client::start(loopback(port, "bench-client"), config).map_err(BenchError::runtime)?;
    wait_ready(&client, w as usize)?;
    // Warm-up (also proves the collector is known).
    run_batch(&client, payloads(1000, a.size), |_| {})?;
    let watcher = if a.watched {
        Some(Watcher::start(port, &cluster)?)
    } else {
        None
    };
    let mut roles: Vec<&Node> = workers.iter().map(Worker::node).collect();
    roles.push(client.node());
    roles.push(collector.node());
    let mut ryre_rates = Vec::new();
    let mut zmq_rates = Vec::new();
    let mut watched_rates = Vec::new();
    for round in 0..a.rounds {
        let t = push_pull(a.count, a.size, w)?;
        zmq_rates.push(a.count as f64 / t.as_secs_f64());
        // Watched and unwatched take turns at going first (neither always follows PUSH/PULL).
        let order: &[bool] = match (&watcher, round % 2) {
            (None, _) => &[false],
            (Some(_), 0) => &[false, true],
            (Some(_), _) => &[true, false],
        };
        for &watched in order {
            if let (true, Some(watcher)) = (watched, &watcher) {
                watcher.watch(true, &roles)?;
            }
            let t = run_batch(&client, payloads(a.count, a.size), |_| {})?;
            let rate = a.count as f64 / t.as_secs_f64();
            if let (true, Some(watcher)) = (watched, &watcher) {
                watched_rates.push(rate);
                watcher.watch(false, &roles)?;
            } else {
                ryre_rates.push(rate);
            }
        }
    }
    let watched = watcher.map(|w| (watched_rates, w.reports.load(Ordering::Relaxed)));
    client.stop();
    drop(workers);
    Ok((ryre_rates, zmq_rates, watched))
}

/// Plain libzmq: a ventilator PUSHes `count` messages to `w` worker threads (PULL, echo, PUSH)
/// and a sink PULLs them; the time from the first send to the last receive.
fn push_pull(count: u64, size: u32, w: u32) -> Result<Duration, BenchError> {
    let ctx = zmq::Context::new();
    let stall = i32::try_from(STALL.as_millis()).unwrap_or(i32::MAX);
    let vent = ctx.socket(zmq::PUSH).map_err(zmq_err("socket"))?;
    let sink = ctx.socket(zmq::PULL).map_err(zmq_err("socket"))?;
    for s in [&vent, &sink] {
        s.set_linger(0).map_err(zmq_err("linger"))?;
        s.set_rcvtimeo(stall).map_err(zmq_err("rcvtimeo"))?;
        s.set_sndtimeo(stall).map_err(zmq_err("sndtimeo"))?;
    }
    let endpoint = |s: &zmq::Socket| -> Result<String, BenchError> {
        s.bind("tcp://127.0.0.1:*").map_err(zmq_err("bind"))?;
        s.get_last_endpoint()
            .map_err(zmq_err("endpoint"))?
            .map_err(|_| BenchError::Runtime("endpoint is not UTF-8".into()))
    };
    let vent_ep = endpoint(&vent)?;
    let sink_ep = endpoint(&sink)?;
    let mut threads: Vec<JoinHandle<Result<(), BenchError>>> = Vec::new();
    for _ in 0..w {
        let pull = ctx.socket(zmq::PULL).map_err(zmq_err("socket"))?;
        let push = ctx.socket(zmq::PUSH).map_err(zmq_err("socket"))?;
        for s in [&pull, &push] {
            s.set_linger(0).map_err(zmq_err("linger"))?;
            s.set_rcvtimeo(stall).map_err(zmq_err("rcvtimeo"))?;
            s.set_sndtimeo(stall).map_err(zmq_err("sndtimeo"))?;
        }
        pull.connect(&vent_ep).map_err(zmq_err("connect"))?;
        push.connect(&sink_ep).map_err(zmq_err("connect"))?;
        threads.push(std::thread::spawn(move || {
            // Announce readiness through the sink, then echo until the end marker.
            push.send(&b"ready"[..], 0).map_err(zmq_err("send"))?;
            let mut msg = zmq::Message::new();
            loop {
                pull.recv(&mut msg, 0).map_err(zmq_err("worker recv"))?;
                if msg.is_empty() {
                    return Ok(());
                }
                push.send(&msg[..], 0).map_err(zmq_err("worker send"))?;
            }
        }));
    }
    let mut msg = zmq::Message::new();
    for _ in 0..w {
        sink.recv(&mut msg, 0).map_err(zmq_err("ready"))?;
    }
    // Every worker's PULL has connected to the ventilator by now (it connected before saying
    // ready); give the ventilator's pipes a moment to attach so the deal is fair.
    std::thread::sleep(Duration::from_millis(50));
    let data = payloads(count, size);
    let start = Instant::now();
    let sender = std::thread::spawn(move || -> Result<zmq::Socket, BenchError> {
        for d in &data {
            vent.send(&d[..], 0).map_err(zmq_err("send"))?;
        }
        Ok(vent)
    });
    for got in 0..count {
        sink.recv(&mut msg, 0)
            .map_err(|e| BenchError::Runtime(format!("PUSH/PULL: {got} of {count}: {e}")))?;
    }
    let elapsed = start.elapsed();
    let vent = sender
        .join()
        .unwrap_or_else(|_| Err(BenchError::Runtime("sender panicked".into())))?;
    for _ in 0..w {
        vent.send(&b""[..], 0).map_err(zmq_err("end"))?;
    }
    for t in threads {
        t.join()
            .unwrap_or_else(|_| Err(BenchError::Runtime("a worker panicked".into())))?;
    }
    Ok(elapsed)
}

/// The same batch with 4 worker processes, without and with one killed halfway.
fn recovery(a: &PipelineOptions) -> Result<(Vec<f64>, Vec<f64>), BenchError> {
    let mut plain = Vec::new();
    let mut killed = Vec::new();
    for round in 0..a.rounds {
        for kill in [false, true] {
            let port = free_udp_port()?;
            let cluster = format!("bench-kill-{}-{round}-{kill}", std::process::id());
            let mut workers = (0..4)
                .map(|_| spawn_echo_worker(port, &cluster, None))
                .collect::<Result<Vec<_>, _>>()?;
            let config = Config {
                chunk: a.chunk,
                ..fast_config(&cluster)
            };
            let _collector = Collector::start(loopback(port, "bench-collector"), config.clone())
                .map_err(BenchError::runtime)?;
            let client = Client::start(loopback(port, "bench-client"), config)
                .map_err(BenchError::runtime)?;
            wait_ready(&client, 4)?;
            run_batch(&client, payloads(1000, a.size), |_| {})?;
            let half = a.count / 2;
            let mut done = false;
            let t = run_batch(&client, payloads(a.count, a.size), |got| {
                if kill && !done && got >= half {
                    workers[0].kill9();
                    done = true;
                }
            })?;
            if kill {
                killed.push(t.as_secs_f64());
            } else {
                plain.push(t.as_secs_f64());
            }
            client.stop();
        }
    }
    Ok((plain, killed))
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with `ryre pipeline demo`

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Kills it now with SIGKILL (as `kill -9` does).
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts a `ryre pipeline worker --echo` process of this binary on loopback.
pub fn spawn_echo_worker(
    port: u16,
    cluster: &str,
    delay: Option<Duration>,
) -> Result<KillOnDrop, BenchError> {
    let exe = crate::ryre_exe().map_err(BenchError::runtime)?;
    let mut cmd = Command::new(exe);
    cmd.args(["pipeline", "worker", "--echo", "--interface", "lo"])
        .args(["--port", &port.to_string(), "--cluster", cluster])
        .args(["--interval", "100", "--evasive", "500", "--expired", "1500"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(d) = delay {
        cmd.args(["--delay", &d.as_millis().max(1).to_string()]);
    }
    cmd.spawn()
        .map(KillOnDrop)
        .map_err(|e| BenchError::Runtime(format!("cannot start a worker: {e}")))
}

/// A UDP port free on loopback, chosen by the OS.
pub fn free_udp_port() -> Result<u16, BenchError> {
    ryre::private_port().map_err(BenchError::runtime)
}

/// A loopback node builder with fast presence timings, for demos and benches.
pub fn loopback(port: u16, name: &str) -> NodeBuilder {
    ryre::Node::builder()
        .name(name)
        .interface("lo")
        .port(port)
        .interval(Duration::from_millis(100))
        .evasive_timeout(Duration::from_millis(500))
        .expired_timeout(Duration::from_millis(1500))
}

/// The settings demos and benches use: fast failure detection.
pub fn fast_config(cluster: &str) -> Config {
    Config {
        task_timeout: Duration::from_millis(1500),
        result_timeout: Duration::from_secs(3),
        collector_timeout: Duration::from_secs(2),
        ..Config::cluster(cluster)
    }
}
