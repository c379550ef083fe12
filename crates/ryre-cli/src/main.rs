//! `ryre`: the command-line tool for ryre, a ZRE (RFC 36) node wire-compatible with Zyre and Pyre.
//!
//! Each subcommand lives in its own module; this file only parses arguments and maps errors to
//! exit codes (2 for bad usage, 1 for runtime failures).

mod args;
mod bench;
mod bridge;
mod cert;
mod chat;
mod config;
mod demo;
mod docs;
mod keys;
mod log;
mod log_top;
mod logging;
mod node;
mod output;
mod peers;
mod ping;
mod pipeline;
mod session;
mod sim;
mod timer;

use std::process::ExitCode;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Proximity peer-to-peer networking over ZeroMQ (ZRE, compatible with Zyre and Pyre).
#[derive(Debug, Parser)]
#[command(name = "ryre", version, about, propagate_version = true)]
struct Cli {
    /// Read settings from this TOML file: top-level keys for every command, `[node]`,
    /// `[timer.serve]`... for one; flags and RYRE_* variables override it.
    #[arg(long, global = true, value_name = "FILE", env = config::ENV_CONFIG)]
    #[allow(dead_code)] // read before parsing, by config::parse
    config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Start a node and print every event it sees.
    Node(node::NodeArgs),
    /// Join GLOBAL and greet every new peer with "hello" (like Zyre's zpinger).
    Ping(ping::PingArgs),
    /// Chat in a group: stdin lines are shouted, incoming messages printed.
    Chat(chat::ChatArgs),
    /// Listen for a while, then list the peers seen.
    Peers(peers::PeersArgs),
    /// Run several nodes in this process on loopback and narrate what they do.
    Demo(demo::DemoArgs),
    /// Measure whisper throughput or latency against a raw libzmq baseline.
    Bench(bench::BenchArgs),
    /// The timer service: serve ticks and wake-ups, watch jitter, ask for a wake-up.
    Timer(timer::TimerArgs),
    /// Decentralised logging: collect, tail, watch rates, emit.
    Log(log::LogArgs),
    /// Serve a node over HTTP: REST API, live events (SSE, WebSocket) and a web dashboard.
    Bridge(bridge::BridgeArgs),
    /// The reliable pipeline: workers, collectors, batches that survive crashes.
    Pipeline(pipeline::PipelineArgs),
    /// Simulate many nodes with faults, deterministically, and check them (ryre-sim).
    Sim(sim::SimArgs),
    /// Key directories for secure mode: make a key pair, show keys, trust peers.
    Keys(keys::KeysArgs),
    /// Certified mode's offline CA: make a CA, issue, show and revoke certificates.
    Cert(cert::CertArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page ryre(1), or write one page per command with --dir.
    Man(docs::ManArgs),
    /// Settings: `ryre config show COMMAND...` prints the effective settings and their sources.
    Config(config::ConfigArgs),
}

impl Cli {
    /// The command tree with the `RYRE_*` variables attached (what `--help`, the man pages and
    /// the completions show, and what [`config::parse`] parses).
    pub fn command_for_docs() -> clap::Command {
        config::with_env(Cli::command())
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The arguments make no sense: reported like a clap error, exit code 2.
    Usage(String),
    /// Something went wrong while running: exit code 1.
    Runtime(String),
    /// clap's own error (bad arguments, or --help/--version): clap prints it and exits.
    Clap(clap::Error),
}

impl CliError {
    /// A runtime error from anything printable.
    pub fn runtime(e: impl std::fmt::Display) -> Self {
        CliError::Runtime(e.to_string())
    }
}

impl From<ryre_bench::BenchError> for CliError {
    fn from(e: ryre_bench::BenchError) -> Self {
        match e {
            ryre_bench::BenchError::Usage(m) => CliError::Usage(m),
            ryre_bench::BenchError::Runtime(m) => CliError::Runtime(m),
        }
    }
}

impl From<ryre::Error> for CliError {
    fn from(e: ryre::Error) -> Self {
        match e {
            ryre::Error::TooLong { .. }
            | ryre::Error::Nul { .. }
            | ryre::Error::Config(_)
            | ryre::Error::Interface(_)
            | ryre::Error::Keys(_)
            | ryre::Error::Cert(_) => CliError::Usage(e.to_string()),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

/// What a command returns: its own exit code, or an error.
pub type CliResult = Result<ExitCode, CliError>;

fn main() -> ExitCode {
    // Benchmarks of start-up tell binary loading apart from argument parsing (one clock read).
    ryre_bench::mark_main();
    let args: Vec<OsString> = std::env::args_os().collect();
    // Start-up time counts (a node in a new process meets its peers within a few ms): with
    // nothing to layer, the arguments are parsed once against the plain tree.
    let plain = config::nothing_to_layer(&args)
        .then(|| config::parse_plain(Cli::command(), &args))
        .flatten();
    let cli = match plain {
        Some(m) => Cli::from_arg_matches(&m).map_err(CliError::Clap),
        None => config::parse(Cli::command_for_docs(), &args)
            .and_then(|l| Cli::from_arg_matches(&l.matches).map_err(CliError::Clap)),
    };
    let cli = match cli {
        Ok(cli) => cli,
        Err(e) => return fail(e),
    };
    let result = match cli.command {
        Command::Node(a) => node::run(a),
        Command::Ping(a) => ping::run(a),
        Command::Chat(a) => chat::run(a),
        Command::Peers(a) => peers::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Timer(a) => timer::run(a),
        Command::Log(a) => log::run(a),
        Command::Bridge(a) => bridge::run(a),
        Command::Pipeline(a) => pipeline::run(a),
        Command::Sim(a) => sim::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Cert(a) => cert::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
        Command::Config(a) => config::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// Reports an error the way clap does (usage: exit code 2) or as a runtime failure (1).
fn fail(e: CliError) -> ExitCode {
    match e {
        CliError::Clap(e) => e.exit(),
        CliError::Usage(msg) => Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, msg)
            .exit(),
        CliError::Runtime(msg) => {
            eprintln!("ryre: error: {msg}");
            ExitCode::from(1)
        }
    }
}
