//! `ryre timer`: serve ticks and wake-ups, watch a rate's jitter, or ask for a wake-up.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use ryre::NodeBuilder;
use ryre_bridge::metrics::{Metrics, MetricsServer, TickView};
use ryre_timer::{JitterStats, ServerEvent, TimerConfig, TimerEvent, TimerServer, Timers};
use serde_json::json;

use crate::args::{parse_millis, parse_secs, NetArgs};
use crate::{CliError, CliResult};

/// Arguments of `ryre timer`.
#[derive(Debug, Args)]
pub struct TimerArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TimerCommand,
}

/// The `ryre timer` subcommands.
#[derive(Debug, Subcommand)]
pub enum TimerCommand {
    /// Serve ticks (and wake-ups) to the mesh; several servers elect one ticker per rate.
    Serve(ServeArgs),
    /// Subscribe to a rate and show the ticks' lateness (jitter) and missed ticks live.
    Watch(WatchArgs),
    /// Ask the timer service for a wake-up and wait for it.
    At(AtArgs),
}

/// Settings every timer subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct TimerNodeArgs {
    /// The node's name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// Milliseconds of silence before a peer is EVASIVE [default: 1000]; a dead timer leader is
    /// replaced after the expired timeout plus an election.
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "1000")]
    pub evasive: Duration,
    /// Milliseconds of silence before a peer is dropped [default: 1.5 × --evasive].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub expired: Option<Duration>,
    /// One JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds (fractions allowed).
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
}

impl TimerNodeArgs {
    fn builder(&self) -> NodeBuilder {
        let mut b = self.net.builder().evasive_timeout(self.evasive);
        b = b.expired_timeout(self.expired.unwrap_or(self.evasive * 3 / 2));
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        b
    }

    fn deadline(&self) -> Option<Instant> {
        self.for_secs.map(|d| Instant::now() + d)
    }
}

/// Arguments of `ryre timer serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Node settings.
    #[command(flatten)]
    pub node: TimerNodeArgs,
    /// Tick rates in Hz, comma-separated (each 1..=1000).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100", value_parser = parse_rate)]
    pub rates: Vec<u16>,
    /// A tick more than this many periods late is skipped (a visible gap) instead of sent late.
    #[arg(long, value_name = "PERIODS", default_value = "10")]
    pub max_late: u64,
    /// Do not serve wake-ups.
    #[arg(long)]
    pub no_wakeups: bool,
    /// Serve Prometheus metrics (ticks sent and skipped, send lateness, wake-ups, and the
    /// node's own) at http://ADDR/metrics; port 0: one the OS picks, printed as `metrics`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

/// Arguments of `ryre timer watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Node settings.
    #[command(flatten)]
    pub node: TimerNodeArgs,
    /// The rate to watch, in Hz.
    #[arg(long, value_parser = parse_rate, default_value = "10")]
    pub rate: u16,
    /// Print every tick (with --json: one object per tick) instead of a summary each second.
    #[arg(long)]
    pub each: bool,
    /// Serve Prometheus metrics (ticks received and missed, the lateness histogram, and the
    /// node's own) at http://ADDR/metrics; port 0: one the OS picks, printed as `metrics`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

/// Arguments of `ryre timer at`.
#[derive(Debug, Args)]
pub struct AtArgs {
    /// When: `+2s`, `+1500ms`, `+1m` (from now), an RFC 3339 time (`2026-11-25T18:00:00Z`), or
    /// `@SECONDS` since the Unix epoch.
    #[arg(value_name = "TIME", value_parser = parse_when, allow_hyphen_values = true)]
    pub time: SystemTime,
    /// Sent back in the wake-up.
    #[arg(long, default_value = "")]
    pub payload: String,
    /// Repeat every this many milliseconds (a periodic wake-up).
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub every: Option<Duration>,
    /// How many wake-ups to wait for before exiting.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Node settings.
    #[command(flatten)]
    pub node: TimerNodeArgs,
}

/// Starts the metrics server and says where it is.
fn serve_metrics(
    addr: SocketAddr,
    registry: Metrics,
    json: bool,
) -> Result<MetricsServer, CliError> {
    let server = MetricsServer::start(addr, Arc::new(registry)).map_err(CliError::runtime)?;
    let url = format!("http://{}/metrics", server.local_addr());
    if json {
        out(json!({"event": "metrics", "url": url}).to_string());
    } else {
        out(format!("metrics at {url}"));
    }
    Ok(server)
}

/// A tick rate: 1..=1000 Hz.
pub fn parse_rate(s: &str) -> Result<u16, String> {
    let r: u16 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate in Hz (1..=1000)"))?;
    ryre_timer::check_rate(r).map_err(|e| e.to_string())
}

/// A wake-up time: relative (`+2s`), RFC 3339, or `@unix-seconds`.
pub fn parse_when(s: &str) -> Result<SystemTime, String> {
    if let Some(rel) = s.strip_prefix('+') {
        let d = humantime::parse_duration(rel)
            .map_err(|e| format!("{s:?}: {e} (expected e.g. +2s, +1500ms)"))?;
        return SystemTime::now()
            .checked_add(d)
            .ok_or_else(|| format!("{s:?} is too far ahead"));
    }
    if let Some(secs) = s.strip_prefix('@') {
        let v: f64 = secs
            .parse()
            .map_err(|_| format!("{s:?}: expected @SECONDS since 1970"))?;
        if !v.is_finite() || !(0.0..=1e11).contains(&v) {
            return Err(format!("{s:?} is out of range"));
        }
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(v));
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{s:?}: {e} (expected +DURATION, an RFC 3339 time, or @SECONDS)"))
}

/// Runs `ryre timer ...`.
pub fn run(a: TimerArgs) -> CliResult {
    match a.command {
        TimerCommand::Serve(a) => serve(a),
        TimerCommand::Watch(a) => watch(a),
        TimerCommand::At(a) => at(a),
    }
}

fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::Relaxed))
        .map_err(|e| CliError::Runtime(format!("cannot catch signals: {e}")))?;
    Ok(flag)
}

fn out(line: String) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn serve(a: ServeArgs) -> CliResult {
    let stop = stop_flag()?;
    let config = TimerConfig {
        rates: a.rates.clone(),
        max_late: a.max_late,
        wakeups: !a.no_wakeups,
        ..TimerConfig::default()
    };
    let server = Arc::new(TimerServer::start(a.node.builder(), config).map_err(timer_err)?);
    let me = server.node().uuid();
    let json = a.node.json;
    let metrics = match a.metrics {
        Some(addr) => {
            let (s1, s2) = (server.clone(), server.clone());
            let registry = Metrics::new()
                .with_node(server.node().clone())
                .with_timer_server(move || s1.stats(), move || s2.send_lateness());
            Some(serve_metrics(addr, registry, json)?)
        }
        None => None,
    };
    if json {
        out(
            json!({"event": "ready", "uuid": me.to_string(), "name": server.node().name(),
            "rates": a.rates, "wakeups": !a.no_wakeups})
            .to_string(),
        );
    } else {
        out(format!(
            "timer {} ({me}) serving {:?} Hz{}",
            server.node().name(),
            a.rates,
            if a.no_wakeups { "" } else { " and wake-ups" }
        ));
    }
    let deadline = a.node.deadline();
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let Some(ev) = server.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let line = match (&ev, json) {
            (ServerEvent::RateLeader { rate, leader }, true) => json!({"event": "leader",
                "rate": rate, "leader": leader.to_string(), "me": *leader == me})
            .to_string(),
            (ServerEvent::RateLeader { rate, leader }, false) if *leader == me => {
                format!("{rate} Hz: this node ticks")
            }
            (ServerEvent::RateLeader { rate, leader }, false) => {
                format!("{rate} Hz: {leader} ticks, this node stands by")
            }
            (ServerEvent::WakeLeader { leader }, true) => json!({"event": "wake-leader",
                "leader": leader.to_string(), "me": *leader == me})
            .to_string(),
            (ServerEvent::WakeLeader { leader }, false) => {
                format!(
                    "wake-ups: served by {}",
                    if *leader == me {
                        "this node".to_string()
                    } else {
                        leader.to_string()
                    }
                )
            }
            (
                ServerEvent::Peer {
                    peer,
                    name,
                    entered,
                },
                true,
            ) => json!({"event":
                if *entered { "enter" } else { "exit" }, "peer": peer.to_string(), "name": name})
            .to_string(),
            (ServerEvent::Peer { name, entered, .. }, false) => {
                format!("{} {name}", if *entered { "ENTER" } else { "EXIT " })
            }
        };
        out(line);
    }
    let s = server.stats();
    let late = server.send_lateness();
    if json {
        out(json!({"event": "summary", "ticks_sent": s.ticks_sent, "ticks_skipped": s.ticks_skipped,
            "send_late_p50_ms": late.percentile(0.5).as_secs_f64() * 1e3,
            "send_late_p99_ms": late.percentile(0.99).as_secs_f64() * 1e3,
            "send_late_max_ms": late.max().as_secs_f64() * 1e3,
            "requests_accepted": s.requests_accepted, "requests_rejected": s.requests_rejected,
            "wakes_sent": s.wakes_sent, "misdirected": s.misdirected, "bad_messages": s.bad_messages})
        .to_string());
    } else {
        out(format!(
            "SUMMARY ticks sent {} skipped {} (sent late p50 {} ms, p99 {} ms, max {} ms), wake-ups {} (requests {} accepted, {} rejected), bad messages {}",
            s.ticks_sent, s.ticks_skipped, ms(late.percentile(0.5)), ms(late.percentile(0.99)), ms(late.max()),
            s.wakes_sent, s.requests_accepted, s.requests_rejected, s.bad_messages
        ));
    }
    // The metrics server holds the last other references: stop it first.
    drop(metrics);
    let server = Arc::try_unwrap(server)
        .map_err(|_| CliError::Runtime("the timer server is still in use".into()))?;
    server.stop().map_err(timer_err)?;
    Ok(ExitCode::SUCCESS)
}

fn timer_err(e: ryre_timer::TimerError) -> CliError {
    match e {
        ryre_timer::TimerError::Node(n) => n.into(),
        other => CliError::Runtime(other.to_string()),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn watch(a: WatchArgs) -> CliResult {
    let stop = stop_flag()?;
    let timers = Arc::new(Timers::start(a.node.builder()).map_err(timer_err)?);
    timers.subscribe(a.rate).map_err(timer_err)?;
    let json = a.node.json;
    let seen = Arc::new(Mutex::new(JitterStats::new()));
    let _metrics = match a.metrics {
        Some(addr) => {
            let (t, seen, rate) = (timers.clone(), seen.clone(), a.rate);
            let registry = Metrics::new()
                .with_node(timers.node().clone())
                .with_ticks(move || TickView {
                    rate,
                    counts: t.tick_counts(rate).unwrap_or_default(),
                    lateness: seen.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                });
            Some(serve_metrics(addr, registry, json)?)
        }
        None => None,
    };
    if json {
        out(
            json!({"event": "ready", "uuid": timers.node().uuid().to_string(), "rate": a.rate})
                .to_string(),
        );
    } else {
        out(format!(
            "watching {} Hz (lateness = received - scheduled)",
            a.rate
        ));
    }
    let deadline = a.node.deadline();
    let mut total = JitterStats::new();
    let mut second = JitterStats::new();
    let mut missed_total = 0u64;
    let mut next_report = Instant::now() + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        let ev = timers
            .recv_timeout(Duration::from_millis(50))
            .map_err(timer_err)?;
        if let Some(TimerEvent::Tick(t)) = ev {
            if a.metrics.is_some() {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record(t.lateness_ns());
            }
            total.record(t.lateness_ns());
            second.record(t.lateness_ns());
            missed_total += t.missed;
            if a.each && json {
                out(
                    json!({"event": "tick", "rate": t.rate, "n": t.n, "t0": t.t0,
                    "scheduled": t.scheduled, "late_us": t.lateness_ns() / 1000,
                    "missed": t.missed, "from": t.from.to_string()})
                    .to_string(),
                );
            } else if a.each {
                out(format!(
                    "tick {} late {} ms{}",
                    t.n,
                    ms(Duration::from_nanos(t.lateness_ns().max(0) as u64)),
                    if t.missed > 0 {
                        format!(" (missed {})", t.missed)
                    } else {
                        String::new()
                    }
                ));
            }
        }
        if !a.each && Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            if json {
                out(
                    json!({"event": "second", "ticks": second.count(), "missed": missed_total,
                    "p50_ms": second.percentile(0.5).as_secs_f64() * 1e3,
                    "p99_ms": second.percentile(0.99).as_secs_f64() * 1e3,
                    "max_ms": second.max().as_secs_f64() * 1e3})
                    .to_string(),
                );
            } else {
                out(format!(
                    "{:>5} ticks  missed {:>4}  late p50 {} ms  p99 {} ms  max {} ms  {}",
                    second.count(),
                    missed_total,
                    ms(second.percentile(0.5)),
                    ms(second.percentile(0.99)),
                    ms(second.max()),
                    bars(&second)
                ));
            }
            second = JitterStats::new();
        }
    }
    let c = timers.tick_counts(a.rate).unwrap_or_default();
    if json {
        out(
            json!({"event": "summary", "received": c.received, "missed": c.missed,
            "stale": c.stale, "malformed": c.malformed,
            "p50_ms": total.percentile(0.5).as_secs_f64() * 1e3,
            "p99_ms": total.percentile(0.99).as_secs_f64() * 1e3,
            "max_ms": total.max().as_secs_f64() * 1e3})
            .to_string(),
        );
    } else {
        out(format!(
            "SUMMARY {} ticks, missed {}, refused {} stale + {} malformed; late p50 {} ms p99 {} ms max {} ms",
            c.received, c.missed, c.stale, c.malformed,
            ms(total.percentile(0.5)), ms(total.percentile(0.99)), ms(total.max())
        ));
        let labels = ["<0.1", "<0.2", "<0.5", "<1", "<2", "<5", "<10", ">=10"];
        let counts = buckets(&total);
        let most = counts.iter().copied().max().unwrap_or(0).max(1);
        for (l, c) in labels.iter().zip(counts) {
            let w = (c * 40).div_ceil(most) as usize;
            out(format!("  {l:>5} ms {c:>8} {}", "#".repeat(w)));
        }
    }
    timers.node().stop()?;
    Ok(ExitCode::SUCCESS)
}

/// Counts of a histogram in the bands the terminal view shows.
fn buckets(j: &JitterStats) -> Vec<u64> {
    let fine = j.coarse(Duration::from_micros(100), 101);
    let sum = |a: usize, b: usize| fine[a..b.min(fine.len())].iter().sum::<u64>();
    vec![
        sum(0, 1),
        sum(1, 2),
        sum(2, 5),
        sum(5, 10),
        sum(10, 20),
        sum(20, 50),
        sum(50, 100),
        sum(100, 101),
    ]
}

/// A one-line histogram: one block character per band, taller for more ticks.
fn bars(j: &JitterStats) -> String {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let counts = buckets(j);
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let s: String = counts
        .iter()
        .map(|c| LEVELS[((c * 8).div_ceil(most)) as usize])
        .collect();
    format!("[{s}]")
}

fn at(a: AtArgs) -> CliResult {
    let stop = stop_flag()?;
    let timers = Timers::start(a.node.builder()).map_err(timer_err)?;
    let payload = bytes::Bytes::from(a.payload.clone().into_bytes());
    let id = match a.every {
        Some(every) => timers.wake_every(a.time, every, payload),
        None => timers.wake_at(a.time, payload),
    }
    .map_err(timer_err)?;
    let json = a.node.json;
    let due_in = a.time.duration_since(SystemTime::now()).unwrap_or_default();
    let wait = due_in
        + a.every.unwrap_or_default() * u32::try_from(a.count).unwrap_or(u32::MAX)
        + Duration::from_secs(30);
    let deadline = a.node.deadline().unwrap_or(Instant::now() + wait);
    let mut got = 0u64;
    while got < a.count {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            let _ = timers.node().stop();
            return Err(CliError::Runtime(format!(
                "no wake-up {} of {} within the wait (is a `ryre timer serve` running?)",
                got + 1,
                a.count
            )));
        }
        let ev = timers
            .recv_timeout(Duration::from_millis(100))
            .map_err(timer_err)?;
        match ev {
            Some(TimerEvent::Wake(w)) if w.id == id => {
                got += 1;
                let late = w.received as i128 - w.scheduled as i128;
                let text = String::from_utf8_lossy(&w.payload).into_owned();
                if json {
                    out(
                        json!({"event": "wake", "id": w.id, "occurrence": w.occurrence,
                        "scheduled": w.scheduled, "late_us": late / 1000, "payload": text,
                        "from": w.from.to_string()})
                        .to_string(),
                    );
                } else {
                    out(format!(
                        "wake-up #{} ({:.3} ms late): {text}",
                        w.occurrence,
                        late as f64 / 1e6
                    ));
                }
            }
            Some(TimerEvent::Rejected { reason, .. }) => {
                let _ = timers.node().stop();
                return Err(CliError::Usage(format!(
                    "the timer refused the wake-up: {reason}"
                )));
            }
            Some(TimerEvent::WakeLeader(l)) if json => {
                out(json!({"event": "wake-leader", "leader": l.to_string()}).to_string());
            }
            _ => {}
        }
    }
    if a.every.is_some() {
        let _ = timers.cancel(id);
    }
    timers.node().stop()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_times() {
        assert_eq!(parse_rate("100"), Ok(100));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("1001").is_err());
        assert!(parse_rate("fast").is_err());
        let now = SystemTime::now();
        let t = parse_when("+2s").expect("relative");
        assert!(t > now && t < now + Duration::from_secs(3));
        assert_eq!(
            parse_when("@1.5"),
            Ok(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert_eq!(
            parse_when("1970-01-01T00:00:10Z"),
            Ok(UNIX_EPOCH + Duration::from_secs(10))
        );
        assert!(parse_when("+soon").is_err());
        assert!(parse_when("@-1").is_err());
        assert!(parse_when("tomorrow").is_err());
    }
}
