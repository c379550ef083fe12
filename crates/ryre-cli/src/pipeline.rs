//! `ryre pipeline`: the reliable pipeline's roles as commands (worker, collect, run) and a demo
//! that kills workers with `kill -9` mid-batch and checks every result arrives exactly once.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ryre::{Bytes, NodeBuilder};
use ryre_bench::pipeline::{fast_config, loopback, spawn_echo_worker};
use ryre_bridge::metrics::{Metrics, MetricsServer, PipelineCounts};
use ryre_pipeline::{Client, Collector, Config, Worker};

use crate::args::{parse_millis, parse_secs, NetArgs};
use crate::{CliError, CliResult};

/// Arguments of `ryre pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Which role to play.
    #[command(subcommand)]
    pub cmd: PipelineCmd,
}

/// The pipeline subcommands.
#[derive(Debug, Subcommand)]
pub enum PipelineCmd {
    /// Run tasks: each task's payload goes to CMD's stdin, CMD's stdout is the result.
    Worker(WorkerArgs),
    /// Gather results for any client of the cluster that names this collector.
    Collect(CollectArgs),
    /// Submit one task per line of a file; print the results in task order.
    Run(RunArgs),
    /// Start a collector, a client and worker processes on loopback, kill some workers with
    /// kill -9 mid-batch, and check every result arrives exactly once.
    Demo(DemoArgs),
}

/// Settings every pipeline command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// The pipeline cluster: roles only work with roles of the same cluster.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub cluster: String,
    /// Milliseconds of silence before a peer is reported EVASIVE [default: 5000].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub evasive: Option<Duration>,
    /// Milliseconds of silence before a peer is dropped with EXIT [default: 30000].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub expired: Option<Duration>,
}

impl Common {
    fn builder(&self, name: &str) -> NodeBuilder {
        let mut b = self.net.builder().name(name);
        if let Some(e) = self.evasive {
            b = b.evasive_timeout(e);
        }
        if let Some(e) = self.expired {
            b = b.expired_timeout(e);
        }
        b
    }

    fn config(&self) -> Config {
        Config::cluster(self.cluster.clone())
    }
}

/// Arguments of `ryre pipeline worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Serve Prometheus metrics (tasks dealt, done, dealt again, dropped; and the node's own) at
    /// http://ADDR/metrics; port 0: one the OS picks (the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The shell command run for each task (`sh -c CMD`); a non-zero exit is the task's error.
    #[arg(
        long,
        value_name = "CMD",
        required_unless_present = "echo",
        conflicts_with = "echo"
    )]
    pub exec: Option<String>,
    /// Answer each task with its payload, without running a command (for tests and benches).
    #[arg(long)]
    pub echo: bool,
    /// Sleep this many milliseconds before each task (to play a slow worker).
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub delay: Option<Duration>,
    /// Most tasks of one client held at a time [default: 16 with --exec (a process per task is
    /// slow: a small window keeps the backlog short), 1024 with --echo].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub window: Option<u32>,
}

/// Arguments of `ryre pipeline collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Serve Prometheus metrics (tasks dealt, done, dealt again, dropped; and the node's own) at
    /// http://ADDR/metrics; port 0: one the OS picks (the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Arguments of `ryre pipeline run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
    /// Serve Prometheus metrics (tasks dealt, done, dealt again, dropped; and the node's own) at
    /// http://ADDR/metrics; port 0: one the OS picks (the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The tasks, one per line (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// Give up (exit 1) if the batch is not done after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Attempts of a task whose worker fails before its error is final.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub attempts: u32,
    /// Milliseconds without progress after which a worker's tasks go to others.
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "5000")]
    pub task_timeout: Duration,
    /// Milliseconds of collector silence after which another collector is used.
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "3000")]
    pub collector_timeout: Duration,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Arguments of `ryre pipeline demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Tasks in the batch.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub tasks: u64,
    /// Worker processes.
    #[arg(long, value_name = "W", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Workers killed with kill -9 mid-batch (at most W-1).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub kill: u32,
    /// Milliseconds each worker sleeps per task (slows the batch so kills land mid-batch).
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub delay: Option<Duration>,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs, default_value = "120")]
    pub timeout: Duration,
}

/// Runs `ryre pipeline`.
pub fn run(a: PipelineArgs) -> CliResult {
    match a.cmd {
        PipelineCmd::Worker(a) => worker(a),
        PipelineCmd::Collect(a) => collect(a),
        PipelineCmd::Run(a) => run_batch(a),
        PipelineCmd::Demo(a) => demo(a),
    }
}

/// A channel that receives once on SIGINT, SIGTERM or SIGHUP.
fn signals() -> Result<mpsc::Receiver<()>, CliError> {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    ctrlc::set_handler(move || {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| CliError::Runtime(format!("cannot catch signals: {e}")))?;
    Ok(rx)
}

fn pipeline_err(e: ryre_pipeline::Error) -> CliError {
    match e {
        ryre_pipeline::Error::Node(e) => CliError::from(e),
        ryre_pipeline::Error::Config(m) => CliError::Usage(m),
        other => CliError::runtime(other),
    }
}

/// Runs `sh -c cmd` with `payload` on stdin; its stdout is the result.
pub fn exec_task(cmd: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let data = payload.to_vec();
    // Feed stdin from another thread so a command that writes before reading cannot deadlock.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {cmd:?}: {e}"))?;
    let _ = feeder.join();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{} ({})", err.trim(), out.status)
            .trim()
            .to_string())
    }
}

fn worker(a: WorkerArgs) -> CliResult {
    let sig = signals()?;
    let window = a.window.unwrap_or(if a.exec.is_some() { 16 } else { 1024 });
    let config = Config {
        window,
        ..a.common.config()
    };
    let delay = a.delay;
    let exec = a.exec.clone();
    let name = format!("worker-{}", std::process::id());
    let w = Worker::start(a.common.builder(&name), config, move |p: &[u8]| {
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        match &exec {
            Some(cmd) => exec_task(cmd, p),
            None => Ok(p.to_vec()),
        }
    })
    .map_err(pipeline_err)?;
    let _metrics = serve_metrics(a.metrics, "worker", w.node(), w.stats_reader())?;
    eprintln!("ryre pipeline worker {} ready", w.node().uuid());
    let _ = sig.recv();
    let stats = w.stats();
    w.stop();
    eprintln!("ryre pipeline worker stopped: {stats:?}");
    Ok(ExitCode::SUCCESS)
}

fn collect(a: CollectArgs) -> CliResult {
    let sig = signals()?;
    let name = format!("collector-{}", std::process::id());
    let c = Collector::start(a.common.builder(&name), a.common.config()).map_err(pipeline_err)?;
    let _metrics = serve_metrics(a.metrics, "collector", c.node(), c.stats_reader())?;
    eprintln!("ryre pipeline collector {} ready", c.node().uuid());
    let _ = sig.recv();
    let stats = c.stats();
    c.stop();
    eprintln!("ryre pipeline collector stopped: {stats:?}");
    Ok(ExitCode::SUCCESS)
}

/// With `--metrics`: serves the role's and its node's metrics, saying where on stderr.
fn serve_metrics(
    addr: Option<std::net::SocketAddr>,
    role: &'static str,
    node: &ryre::Node,
    stats: ryre_pipeline::StatsReader,
) -> Result<Option<MetricsServer>, CliError> {
    let Some(addr) = addr else { return Ok(None) };
    let registry = Metrics::new()
        .with_node(node.clone())
        .with_pipeline(role, move || {
            let s = stats.get();
            PipelineCounts {
                dealt: s.dealt,
                done: s.done,
                redealt: s.redealt,
                dropped: s.malformed + s.unexpected + s.stale + s.duplicates,
            }
        });
    let server = MetricsServer::start(addr, Arc::new(registry)).map_err(CliError::runtime)?;
    eprintln!(
        "ryre pipeline {role} metrics at http://{}/metrics",
        server.local_addr()
    );
    Ok(Some(server))
}

fn read_tasks(input: &str) -> Result<Vec<Bytes>, CliError> {
    let reader: Box<dyn Read> = if input == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(input)
                .map_err(|e| CliError::Usage(format!("cannot open {input}: {e}")))?,
        )
    };
    let mut tasks = Vec::new();
    for line in BufReader::new(reader).split(b'\n') {
        let mut line = line.map_err(|e| CliError::Runtime(format!("reading {input}: {e}")))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        tasks.push(Bytes::from(line));
    }
    Ok(tasks)
}

fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} tasks  {per_sec}  ETA {eta}  elapsed {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn run_batch(a: RunArgs) -> CliResult {
    let tasks = read_tasks(&a.input)?;
    let total = tasks.len() as u64;
    let config = Config {
        max_attempts: a.attempts,
        task_timeout: a.task_timeout,
        collector_timeout: a.collector_timeout,
        ..a.common.config()
    };
    let name = format!("client-{}", std::process::id());
    let client = Client::start(a.common.builder(&name), config).map_err(pipeline_err)?;
    let _metrics = serve_metrics(a.metrics, "client", client.node(), client.stats_reader())?;
    let mut batch = client.submit(tasks).map_err(pipeline_err)?;
    let bar = progress_bar(total, a.no_progress);
    let deadline = a.timeout.map(|t| Instant::now() + t);
    let mut slots: Vec<Option<Result<Bytes, ryre_pipeline::TaskError>>> =
        vec![None; total as usize];
    let mut next = 0usize;
    let mut failed = 0u64;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while batch.remaining() > 0 {
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    bar.abandon();
                    return Err(CliError::Runtime(format!(
                        "timed out with {} of {total} results",
                        total - batch.remaining()
                    )));
                }
                left.min(Duration::from_millis(200))
            }
            None => Duration::from_millis(200),
        };
        let Some((no, r)) = batch.recv_timeout(wait) else {
            continue;
        };
        bar.inc(1);
        if let Some(slot) = slots.get_mut(no as usize) {
            *slot = Some(r);
        }
        while let Some(Some(r)) = slots.get_mut(next).map(Option::take) {
            let w = match r {
                Ok(v) => {
                    let v = v.strip_suffix(b"\n").unwrap_or(&v);
                    out.write_all(v).and_then(|()| out.write_all(b"\n"))
                }
                Err(e) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("task {next} failed: {e}"));
                    Ok(())
                }
            };
            w.map_err(|e| CliError::Runtime(format!("writing stdout: {e}")))?;
            next += 1;
        }
    }
    out.flush().map_err(CliError::runtime)?;
    bar.finish();
    client.stop();
    if failed > 0 {
        eprintln!("ryre pipeline run: {failed} of {total} tasks failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A UDP port free on loopback, chosen by the OS.
pub fn free_udp_port() -> Result<u16, CliError> {
    ryre::private_port().map_err(CliError::runtime)
}

fn demo(a: DemoArgs) -> CliResult {
    if a.kill >= a.workers {
        return Err(CliError::Usage(format!(
            "--kill {} must be below --workers {}",
            a.kill, a.workers
        )));
    }
    let port = free_udp_port()?;
    let cluster = format!("demo-{}", std::process::id());
    println!(
        "demo: {} tasks, {} worker processes, {} to be killed with kill -9; loopback, beacon port {port}",
        a.tasks, a.workers, a.kill
    );
    let mut workers = (0..a.workers)
        .map(|_| spawn_echo_worker(port, &cluster, a.delay))
        .collect::<Result<Vec<_>, _>>()?;
    let _collector = Collector::start(loopback(port, "demo-collector"), fast_config(&cluster))
        .map_err(pipeline_err)?;
    let client = Client::start(loopback(port, "demo-client"), fast_config(&cluster))
        .map_err(pipeline_err)?;
    let payloads: Vec<Bytes> = (0..a.tasks)
        .map(|i| Bytes::from(format!("task-{i}")))
        .collect();
    // Every worker takes part from the start, so the ones killed certainly hold tasks.
    let ready_by = Instant::now() + Duration::from_secs(30);
    while client.ready_workers() < a.workers as usize {
        if Instant::now() > ready_by {
            return Err(CliError::Runtime(format!(
                "only {} of {} workers ready after 30 s",
                client.ready_workers(),
                a.workers
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("all {} workers ready; submitting the batch", a.workers);
    let started = Instant::now();
    let mut batch = client.submit(payloads).map_err(pipeline_err)?;
    let deadline = started + a.timeout;
    let mut seen = vec![0u32; a.tasks as usize];
    let mut got = 0u64;
    let mut wrong = 0u64;
    let kills: Vec<u64> = (1..=u64::from(a.kill))
        .map(|i| a.tasks * i / (u64::from(a.kill) + 1))
        .collect();
    let mut killed = 0usize;
    while batch.remaining() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CliError::Runtime(format!(
                "timed out after {:?} with {got} of {} results",
                a.timeout, a.tasks
            )));
        }
        let Some((no, r)) = batch.recv_timeout(left.min(Duration::from_millis(200))) else {
            continue;
        };
        got += 1;
        seen[no as usize] += 1;
        if r.ok().as_deref() != Some(format!("task-{no}").as_bytes()) {
            wrong += 1;
        }
        while killed < kills.len() && got >= kills[killed] {
            let w = &mut workers[killed];
            println!(
                "{:>8.3}s  {got} results in: kill -9 worker pid {}",
                started.elapsed().as_secs_f64(),
                w.0.id()
            );
            w.kill9();
            killed += 1;
        }
    }
    let elapsed = started.elapsed();
    let once = seen.iter().filter(|&&n| n == 1).count();
    let stats = client.stats();
    println!(
        "{:>8.3}s  done: {} results, {once} task numbers exactly once, {} missing, {} duplicated, {wrong} wrong; {} tasks re-dealt, {} duplicate results dropped",
        elapsed.as_secs_f64(),
        got,
        seen.iter().filter(|&&n| n == 0).count(),
        seen.iter().filter(|&&n| n > 1).count(),
        stats.redealt,
        stats.duplicates,
    );
    println!(
        "rate: {:.0} tasks/s",
        a.tasks as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    client.stop();
    if once as u64 == a.tasks && wrong == 0 {
        println!("OK: every result arrived exactly once");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED");
        Ok(ExitCode::from(1))
    }
}
