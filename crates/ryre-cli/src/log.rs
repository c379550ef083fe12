//! `ryre log`: collect the mesh's log records to rotated files or memory, tail them live, watch
//! their rates, or emit some.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use ryre::{NodeBuilder, PeerId};
use ryre_log::{Collector, CollectorConfig, FileConfig, Format, Level, LogRecord};
use serde_json::json;

use crate::args::{parse_secs, NetArgs};
use crate::{CliError, CliResult};

/// Arguments of `ryre log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LogCommand,
}

/// The `ryre log` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Collect records to rotated files and/or a memory ring.
    Collect(CollectArgs),
    /// Print the mesh's records as they come (a collector of its own; none needed elsewhere).
    Tail(TailArgs),
    /// Live per-node, per-level record rates in the terminal.
    Top(TopArgs),
    /// Publish records (for trying collectors out, and for tests and benchmarks).
    Emit(EmitArgs),
}

/// What a subscriber asks for.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// The least severe level wanted: error, warn, info, debug or trace (filtered at the
    /// publishers).
    #[arg(long, value_parser = parse_level, default_value = "info")]
    pub level: Level,
    /// Only this node's records (its 32-hex id; filtered at the publisher).
    #[arg(long, value_name = "UUID")]
    pub node: Option<PeerId>,
    /// Only records whose target starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub target: Option<String>,
    /// The node's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
}

impl FilterArgs {
    fn builder(&self) -> NodeBuilder {
        let b = self.net.builder();
        match &self.name {
            Some(n) => b.name(n.clone()),
            None => b,
        }
    }

    fn config(&self) -> CollectorConfig {
        CollectorConfig {
            level: self.level,
            node: self.node,
            target: self.target.clone(),
            interface: self.net.interface.clone(),
            ipv6: self.net.ipv6,
            ..CollectorConfig::default()
        }
    }
}

/// A level name.
pub fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("{s:?} is not a level (error, warn, info, debug, trace)"))
}

/// A size: `1048576`, `512k`, `64MiB`, `1G`...
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 512k, 64MiB)"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("{s:?}: unknown unit {other:?} (k, MiB, G...)")),
    };
    match n.checked_mul(mul) {
        Some(0) => Err("a size must be above zero".into()),
        Some(v) => Ok(v),
        None => Err(format!("{s:?} is too large")),
    }
}

/// A duration: `30s`, `10m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be above zero".into()),
        Err(e) => Err(format!("{s:?}: {e} (e.g. 30s, 10m, 1h)")),
    }
}

/// File line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Json,
    /// Readable text lines.
    Text,
}

/// Arguments of `ryre log collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// What to collect.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Write files into this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// File format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: FormatArg,
    /// Rotate the file before it passes this size (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Rotate the file when it is this old (e.g. 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rotate_every: Option<Duration>,
    /// Keep at most this many rotated files.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,
    /// Keep rotated files up to this total size (e.g. 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub keep_bytes: Option<u64>,
    /// Gzip rotated files.
    #[arg(long)]
    pub compress: bool,
    /// Keep the newest N records in memory (shown at exit with --json).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub memory: usize,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
    /// JSON lines for status and summary.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ryre log tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// What to show.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Keep printing until interrupted (otherwise stop after --for, default 3 s).
    #[arg(long, short)]
    pub follow: bool,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
    /// One JSON object per record.
    #[arg(long)]
    pub json: bool,
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
}

/// Arguments of `ryre log top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// What to count.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
    /// Print a table each second instead of the full-screen view.
    #[arg(long)]
    pub plain: bool,
}

/// Arguments of `ryre log emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// Level of the records.
    #[arg(long, value_parser = parse_level, default_value = "info")]
    pub level: Level,
    /// Records per second.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate: u32,
    /// Stop after this many records.
    #[arg(long)]
    pub count: Option<u64>,
    /// The message.
    #[arg(long, default_value = "hello from ryre log emit")]
    pub message: String,
    /// The node's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
}

/// Runs `ryre log ...`.
pub fn run(a: LogArgs) -> CliResult {
    match a.command {
        LogCommand::Collect(a) => collect(a),
        LogCommand::Tail(a) => tail(a),
        LogCommand::Top(a) => crate::log_top::run(a),
        LogCommand::Emit(a) => emit(a),
    }
}

/// SIGINT/SIGTERM set the returned flag.
pub fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::Relaxed))
        .map_err(|e| CliError::Runtime(format!("cannot catch signals: {e}")))?;
    Ok(flag)
}

fn log_err(e: ryre_log::LogError) -> CliError {
    match e {
        ryre_log::LogError::Node(n) => n.into(),
        ryre_log::LogError::Config(c) => CliError::Usage(c),
        other => CliError::Runtime(other.to_string()),
    }
}

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// Starts a collector for `filter`.
pub fn start_collector(
    filter: &FilterArgs,
    files: Option<FileConfig>,
    memory: usize,
) -> Result<Collector, CliError> {
    let config = CollectorConfig {
        files,
        memory,
        ..filter.config()
    };
    Collector::start(filter.builder(), config).map_err(log_err)
}

fn collect(a: CollectArgs) -> CliResult {
    if a.dir.is_none() && a.memory == 0 {
        return Err(CliError::Usage(
            "nothing to capture into: give --dir DIR and/or --memory N (or use `ryre log tail`)"
                .into(),
        ));
    }
    let rotation_set = a.rotate_size.is_some()
        || a.rotate_every.is_some()
        || a.keep.is_some()
        || a.keep_bytes.is_some()
        || a.compress;
    if a.dir.is_none() && rotation_set {
        return Err(CliError::Usage("file rotation options need --dir".into()));
    }
    let files = a.dir.as_ref().map(|d| FileConfig {
        format: match a.format {
            FormatArg::Json => Format::Json,
            FormatArg::Text => Format::Text,
        },
        rotate_size: a.rotate_size,
        rotate_every: a.rotate_every,
        keep_files: a.keep.map(|k| k as usize),
        keep_bytes: a.keep_bytes,
        compress: a.compress,
        ..FileConfig::new(d)
    });
    let stop = stop_flag()?;
    let col = start_collector(&a.filter, files, a.memory)?;
    if a.json {
        out(
            &json!({"event": "ready", "uuid": col.node().uuid().to_string(),
            "endpoint": col.endpoint(), "level": a.filter.level.as_str()})
            .to_string(),
        );
    } else {
        out(&format!(
            "collecting {} and above at {} (node {})",
            a.filter.level,
            col.endpoint(),
            col.node().uuid()
        ));
    }
    let deadline = a.for_secs.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        // The collector works on its own thread; this one only waits for the end.
        let _ = col.node().recv_timeout(Duration::from_millis(100));
    }
    let s = col.stats();
    if a.json {
        let recent: Vec<serde_json::Value> = col
            .recent(a.memory)
            .iter()
            .filter_map(|r| serde_json::from_str(&ryre_log::json_line(r)).ok())
            .collect();
        out(
            &json!({"event": "summary", "received": s.received, "written": s.written,
            "malformed": s.malformed, "repaired_utf8": s.repaired_utf8, "filtered": s.filtered,
            "missed": s.missed, "rotations": s.rotations, "removed_files": s.removed_files,
            "write_errors": s.write_errors, "unsigned": s.unsigned, "forged": s.forged,
            "unadmitted": s.unadmitted, "unentitled": s.unentitled, "replayed": s.replayed,
            "memory": recent})
            .to_string(),
        );
    } else {
        out(&format!(
            "SUMMARY received {} written {} malformed {} missed {} rotations {} removed {} write errors {}",
            s.received, s.written, s.malformed, s.missed, s.rotations, s.removed_files, s.write_errors
        ));
        if col.node().certificate().is_some() {
            out(&format!(
                "REFUSED {} (unsigned {} forged {} unadmitted {} unentitled {} replayed {})",
                s.refused(),
                s.unsigned,
                s.forged,
                s.unadmitted,
                s.unentitled,
                s.replayed
            ));
        }
    }
    col.stop().map_err(log_err)?;
    Ok(ExitCode::SUCCESS)
}

fn colour(level: Level) -> &'static str {
    match level {
        Level::Error => "\x1b[31m",
        Level::Warn => "\x1b[33m",
        Level::Info => "\x1b[32m",
        Level::Debug => "\x1b[34m",
        Level::Trace => "\x1b[90m",
    }
}

/// One record as `ryre log tail` prints it.
pub fn tail_line(rec: &LogRecord, json: bool, color: bool) -> String {
    if json {
        return ryre_log::json_line(rec);
    }
    let line = ryre_log::text_line(rec);
    if color {
        format!("{}{line}\x1b[0m", colour(rec.level))
    } else {
        line
    }
}

fn tail(a: TailArgs) -> CliResult {
    let stop = stop_flag()?;
    let col = start_collector(&a.filter, None, 0)?;
    let rx = col.listen(100_000);
    let color = !a.no_color && !a.json && std::io::stdout().is_terminal();
    if a.json {
        out(
            &json!({"event": "ready", "uuid": col.node().uuid().to_string(),
            "endpoint": col.endpoint()})
            .to_string(),
        );
    }
    let limit = match (a.follow, a.for_secs) {
        (_, Some(d)) => Some(d),
        (true, None) => None,
        (false, None) => Some(Duration::from_secs(3)),
    };
    let deadline = limit.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        if let Ok(rec) = rx.recv_timeout(Duration::from_millis(100)) {
            out(&tail_line(&rec, a.json, color));
        }
    }
    // Certified mode: what the collector refused (stderr in text mode: stdout holds records).
    let s = col.stats();
    if col.node().certificate().is_some() && s.refused() > 0 {
        if a.json {
            out(
                &json!({"event": "refused", "unsigned": s.unsigned, "forged": s.forged,
                "unadmitted": s.unadmitted, "unentitled": s.unentitled, "replayed": s.replayed})
                .to_string(),
            );
        } else {
            eprintln!(
                "REFUSED {} (unsigned {} forged {} unadmitted {} unentitled {} replayed {})",
                s.refused(),
                s.unsigned,
                s.forged,
                s.unadmitted,
                s.unentitled,
                s.replayed
            );
        }
    }
    col.stop().map_err(log_err)?;
    Ok(ExitCode::SUCCESS)
}

fn emit(a: EmitArgs) -> CliResult {
    crate::logging::init(false);
    let stop = stop_flag()?;
    let mut b = a.net.builder();
    if let Some(n) = &a.name {
        b = b.name(n.clone());
    }
    let node = b.start()?;
    crate::logging::publish(&node);
    let period = Duration::from_secs(1) / a.rate;
    let start = Instant::now();
    let deadline = a.for_secs.map(|d| start + d);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed)
        && deadline.is_none_or(|d| Instant::now() < d)
        && a.count.is_none_or(|c| n < c)
    {
        let due = start + period * u32::try_from(n.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            // Pace the records; a node event may come meanwhile (it is logged by the node).
            let _ = node.recv_timeout(wait);
            continue;
        }
        let msg = a.message.as_str();
        match a.level {
            Level::Error => tracing::error!(n, "{msg}"),
            Level::Warn => tracing::warn!(n, "{msg}"),
            Level::Info => tracing::info!(n, "{msg}"),
            Level::Debug => tracing::debug!(n, "{msg}"),
            Level::Trace => tracing::trace!(n, "{msg}"),
        }
        n += 1;
    }
    crate::logging::finish();
    node.stop()?;
    out(&format!("emitted {n} records"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_levels_durations() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("10"), Ok(10));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1TB").is_err());
        assert!(parse_size("big").is_err());
        assert!(parse_size("99999999999999G").is_err());
        assert_eq!(parse_level("WARN"), Ok(Level::Warn));
        assert!(parse_level("loud").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
