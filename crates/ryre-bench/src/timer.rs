//! `ryre bench timer` and `ryre bench timer-failover`: tick jitter at a subscriber against a
//! tokio `interval` in the same process and the same run, and the gap after a ticking timer
//! node is killed with kill -9. Timer nodes run as child processes of this binary (`ryre timer
//! serve`), on loopback with an OS-chosen beacon port; they are killed when the bench ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ryre::{Node, PeerId};
use ryre_timer::{JitterStats, TimerEvent, Timers};
use serde_json::json;

use crate::print_line;
use crate::{BenchError, BenchResult};

/// Arguments of `ryre bench timer`.
#[derive(Debug, Clone)]
pub struct JitterOptions {
    /// Rates to measure, in Hz.
    pub rates: Vec<u16>,
    /// Seconds of ticks per rate.
    pub secs: Duration,
    /// Print one JSON object per rate.
    pub json: bool,
}

/// Arguments of `ryre bench timer-failover`.
#[derive(Debug, Clone)]
pub struct TimerFailoverOptions {
    /// Kills to measure.
    pub rounds: u32,
    /// Evasive timeout of the timer nodes in ms (their expired timeout is 1.5 × this).
    pub evasive: Duration,
    /// The rate watched, in Hz.
    pub rate: u16,
    /// Print one JSON object with every number.
    pub json: bool,
    /// How the timer nodes find each other: `auto` (the machine's agent reports a killed node
    /// at once) or `beacon` (as on separate hosts: the dead leader expires first).
    pub discovery: ryre::Discovery,
}

/// A `ryre timer serve` child; killed (SIGKILL) and reaped on drop.
struct TimerProc {
    child: Child,
    id: PeerId,
}

impl TimerProc {
    fn spawn(
        port: u16,
        rates: &str,
        evasive: Duration,
        discovery: ryre::Discovery,
    ) -> Result<TimerProc, BenchError> {
        let exe = crate::ryre_exe().map_err(BenchError::runtime)?;
        let mut child = Command::new(exe)
            .args([
                "timer",
                "serve",
                "--json",
                "--no-wakeups",
                "--interface",
                "lo",
                "--discovery",
                discovery.as_str(),
            ])
            .args([
                "--port",
                &port.to_string(),
                "--interval",
                "100",
                "--rates",
                rates,
            ])
            .args(["--evasive", &evasive.as_millis().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Runtime(format!("cannot start a timer node: {e}")))?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(out) = stdout else { return };
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut proc = TimerProc {
            child,
            id: PeerId::from_bytes([0; 16]),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| BenchError::Runtime("the timer node did not start".into()))?;
        let v: serde_json::Value = serde_json::from_str(&line).map_err(BenchError::runtime)?;
        proc.id = v["uuid"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| BenchError::Runtime(format!("no uuid in {line:?}")))?;
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Ok(proc)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TimerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_udp_port() -> Result<u16, BenchError> {
    ryre::private_port().map_err(BenchError::runtime)
}

fn subscriber(port: u16, rate: u16, discovery: ryre::Discovery) -> Result<Timers, BenchError> {
    let b = Node::builder()
        .name("bench-sub")
        .interface("lo")
        .port(port)
        .discovery(discovery)
        .interval(Duration::from_millis(100));
    let t = Timers::start(b).map_err(|e| BenchError::Runtime(e.to_string()))?;
    t.subscribe(rate)
        .map_err(|e| BenchError::Runtime(e.to_string()))?;
    Ok(t)
}

fn timer_err(e: ryre_timer::TimerError) -> BenchError {
    BenchError::Runtime(e.to_string())
}

/// The next tick, failing after `stall`.
fn next_tick(t: &Timers, stall: Duration) -> Result<ryre_timer::Tick, BenchError> {
    let deadline = Instant::now() + stall;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BenchError::Runtime(format!("no tick within {stall:?}")));
        }
        if let Some(TimerEvent::Tick(k)) = t.recv_timeout(left).map_err(timer_err)? {
            return Ok(k);
        }
    }
}

/// Lateness of a tokio `interval` at `rate` for `dur`, run on a thread of its own.
fn tokio_baseline(
    rate: u16,
    dur: Duration,
) -> std::thread::JoinHandle<Result<JitterStats, String>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let period = Duration::from_nanos(1_000_000_000 / u64::from(rate));
            let mut iv = tokio::time::interval(period);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut stats = JitterStats::new();
            let end = tokio::time::Instant::now() + dur;
            let mut n = 0u32;
            loop {
                let due = iv.tick().await;
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                if due >= end {
                    break;
                }
                n += 1;
                if n > 5 {
                    stats.record(late.as_nanos() as i64);
                }
            }
            Ok(stats)
        })
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `ryre bench timer`.
pub fn jitter(a: JitterOptions) -> BenchResult {
    for &rate in &a.rates {
        let port = free_udp_port()?;
        let _server = TimerProc::spawn(
            port,
            &rate.to_string(),
            Duration::from_secs(1),
            ryre::Discovery::Auto,
        )?;
        let sub = subscriber(port, rate, ryre::Discovery::Auto)?;
        // Warm up: the first ticks (while the nodes meet) are not counted.
        for _ in 0..5 {
            next_tick(&sub, Duration::from_secs(10))?;
        }
        let baseline = tokio_baseline(rate, a.secs);
        let mut stats = JitterStats::new();
        let end = Instant::now() + a.secs;
        while Instant::now() < end {
            let t = next_tick(&sub, Duration::from_secs(10))?;
            stats.record(t.lateness_ns());
        }
        let base = baseline
            .join()
            .map_err(|_| BenchError::Runtime("the tokio baseline panicked".into()))?
            .map_err(BenchError::Runtime)?;
        let missed = sub.tick_counts(rate).map_or(0, |c| c.missed);
        let (r50, r99, rmax) = (stats.percentile(0.5), stats.percentile(0.99), stats.max());
        let (b50, b99, bmax) = (base.percentile(0.5), base.percentile(0.99), base.max());
        let ratio = ms(r99) / ms(b99).max(0.001);
        if a.json {
            print_line(
                &json!({"bench": "timer", "rate": rate, "ticks": stats.count(),
                "missed": missed,
                "ryre": {"p50_ms": ms(r50), "p99_ms": ms(r99), "max_ms": ms(rmax)},
                "tokio_interval": {"p50_ms": ms(b50), "p99_ms": ms(b99), "max_ms": ms(bmax),
                    "ticks": base.count()},
                "p99_ratio": ratio})
                .to_string(),
            );
        } else {
            print_line(&format!(
                "{rate:>4} Hz  {:>5} ticks, {missed} missed | ryre tick at subscriber: p50 {:.3} p99 {:.3} max {:.3} ms | tokio interval: p50 {:.3} p99 {:.3} max {:.3} ms | p99 ratio {ratio:.1}x",
                stats.count(), ms(r50), ms(r99), ms(rmax), ms(b50), ms(b99), ms(bmax)
            ));
        }
        sub.node().stop()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ryre bench timer-failover`.
pub fn failover(a: TimerFailoverOptions) -> BenchResult {
    let port = free_udp_port()?;
    let rates = a.rate.to_string();
    let mut procs = vec![
        TimerProc::spawn(port, &rates, a.evasive, a.discovery)?,
        TimerProc::spawn(port, &rates, a.evasive, a.discovery)?,
    ];
    let sub = subscriber(port, a.rate, a.discovery)?;
    let stall = a.evasive * 10 + Duration::from_secs(10);
    let mut gaps = Vec::new();
    let mut missed = Vec::new();
    for _ in 0..a.rounds {
        // Settle: 50 ticks in a row from one sender, which must be the election's winner.
        let leader = procs
            .iter()
            .map(|p| p.id)
            .min()
            .unwrap_or(PeerId::from_bytes([0; 16]));
        let mut run = 0;
        while run < 50 {
            let t = next_tick(&sub, stall)?;
            run = if t.from == leader { run + 1 } else { 0 };
        }
        let Some(i) = procs.iter().position(|p| p.id == leader) else {
            return Err(BenchError::Runtime(
                "leader not among the timer nodes".into(),
            ));
        };
        let mut victim = procs.swap_remove(i);
        victim.kill();
        let killed = Instant::now();
        let before = sub.tick_counts(a.rate).map_or(0, |c| c.missed);
        loop {
            let t = next_tick(&sub, stall)?;
            if t.from != leader {
                gaps.push(killed.elapsed());
                missed.push(sub.tick_counts(a.rate).map_or(0, |c| c.missed) - before);
                break;
            }
        }
        procs.push(TimerProc::spawn(port, &rates, a.evasive, a.discovery)?);
    }
    let mut sorted = gaps.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    let target = a.evasive * 2;
    let dup = sub.tick_counts(a.rate).map_or(0, |c| c.stale);
    if a.json {
        print_line(
            &json!({"bench": "timer-failover", "rate": a.rate,
            "evasive_ms": a.evasive.as_millis() as u64,
            "expired_ms": (a.evasive * 3 / 2).as_millis() as u64,
            "gaps_ms": gaps.iter().map(|g| ms(*g)).collect::<Vec<_>>(),
            "missed_ticks": missed, "median_ms": ms(median), "max_ms": ms(max),
            "target_ms": ms(target), "duplicates": dup})
            .to_string(),
        );
    } else {
        print_line(&format!(
            "failover at {} Hz, discovery {}, evasive {} ms (expired {} ms): kill -9 -> next tick median {:.0} ms, max {:.0} ms over {} kills (target <= {:.0} ms = 2 x evasive: {}); missed ticks {:?}; duplicates {dup}",
            a.rate,
            a.discovery.as_str(),
            a.evasive.as_millis(),
            (a.evasive * 3 / 2).as_millis(),
            ms(median),
            ms(max),
            gaps.len(),
            ms(target),
            if max <= target { "met" } else { "MISSED" },
            missed
        ));
    }
    sub.node().stop()?;
    Ok(ExitCode::SUCCESS)
}
