//! # ryre-bench: the benchmark harnesses behind `ryre bench`
//!
//! Each module measures one thing against a baseline in the same run and prints a report (human
//! text, or JSON with `json: true`); the `ryre` command only parses arguments into these option
//! structs and calls the function:
//!
//! | module | `ryre bench ...` | what |
//! |---|---|---|
//! | [`whisper`] | `whisper`, `latency` | whisper rate and round trips against raw libzmq |
//! | [`timer`] | `timer`, `timer-failover` | tick lateness against a tokio interval; failover gap |
//! | [`log`] | `log` (and the hidden `log-cost` child) | records/s to disk; the layer's cost per event |
//! | [`discovery`] | `discovery`, `failover` (and the hidden `swarm` child) | rendezvous against beacons; the agent killed |
//! | [`raw_mesh`] | `discovery --raw-mesh` (the hidden `raw-mesh` child) | the swarm's links in plain libzmq, its floor |
//! | [`bridge`] | `bridge` (and the hidden `bare-http` child) | HTTP shouts against a bare axum server and the Rust API; SSE fan-out |
//! | [`pipeline`] | `pipeline` | tasks/s against libzmq PUSH/PULL; recovery after kill -9 |
//!
//! Some benchmarks run child processes of the `ryre` binary (`ryre bench swarm`, `ryre bench
//! log-cost`, `ryre bench bare-http`, `ryre timer serve`, `ryre bridge`, `ryre pipeline worker`): they start
//! [`ryre_exe`], which the CLI sets with [`set_ryre_exe`] (by default, the running executable).
//!
//! ```no_run
//! let opts = ryre_bench::whisper::WhisperOptions {
//!     size: 16,
//!     count: Some(10_000),
//!     rounds: 1,
//!     json: false,
//!     ryre_only: false,
//!     unpaced: false,
//!     policy: "block".into(),
//!     curve: false,
//!     ipv6: false,
//! };
//! ryre_bench::whisper::whisper(&opts)?;
//! # Ok::<(), ryre_bench::BenchError>(())
//! ```
#![warn(missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

pub mod bridge;
pub mod certified;
pub mod discovery;
pub mod log;
pub mod pipeline;
pub mod raw_mesh;
pub mod timer;
pub mod whisper;

/// Why a benchmark failed.
#[derive(Debug)]
pub enum BenchError {
    /// The options make no sense (the CLI reports it as a usage error, exit code 2).
    Usage(String),
    /// Something went wrong while running (exit code 1).
    Runtime(String),
}

impl BenchError {
    /// A runtime error from anything printable.
    pub fn runtime(e: impl std::fmt::Display) -> Self {
        BenchError::Runtime(e.to_string())
    }
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Usage(m) | BenchError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<ryre::Error> for BenchError {
    fn from(e: ryre::Error) -> Self {
        match e {
            ryre::Error::TooLong { .. } | ryre::Error::Config(_) | ryre::Error::Interface(_) => {
                BenchError::Usage(e.to_string())
            }
            other => BenchError::Runtime(other.to_string()),
        }
    }
}

/// What a benchmark returns once its report is printed: the exit code, or an error.
pub type BenchResult = Result<ExitCode, BenchError>;

static RYRE_EXE: OnceLock<PathBuf> = OnceLock::new();

/// Sets the `ryre` binary that benchmarks start as child processes (the CLI passes
/// `std::env::current_exe()`). Only the first call counts.
pub fn set_ryre_exe(path: PathBuf) {
    let _ = RYRE_EXE.set(path);
}

/// The `ryre` binary for child processes: the one given to [`set_ryre_exe`], or else the running
/// executable.
pub fn ryre_exe() -> std::io::Result<PathBuf> {
    match RYRE_EXE.get() {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe(),
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine, so a parent and
/// its children can compare readings (the start-up timeline of `ryre bench discovery`).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

static MAIN_AT: OnceLock<u64> = OnceLock::new();

/// Notes the moment `main` was entered ([`mono_ns`]); the CLI calls it first thing, so a
/// benchmark child can tell binary loading apart from what follows. Only the first call counts.
pub fn mark_main() {
    let _ = MAIN_AT.set(mono_ns());
}

/// When `main` was entered, if [`mark_main`] was called.
pub fn main_at() -> Option<u64> {
    MAIN_AT.get().copied()
}

/// Prints one line on stdout and flushes (a closed stdout is ignored).
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The median of some numbers (the mean of the middle two for an even count); 0 when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The nearest-rank percentile `p` (0..=100) of sorted samples; 0 when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A node on loopback TCP with no discovery (introduced with `connect_peer`), queueing up to
/// `hwm` messages per peer: what the benchmarks measure ryre's links with.
pub(crate) fn tcp_node(name: &str, hwm: i32) -> ryre::NodeBuilder {
    ryre::Node::builder()
        .name(name)
        .interface("lo")
        .endpoint("tcp://127.0.0.1:*")
        .beacon(false)
        .send_hwm(hwm)
}

/// The lines a child writes to its stdout, read on a thread of their own until it closes.
pub(crate) fn child_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Some(out) = out else { return };
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    lines
}
