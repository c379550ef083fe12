//! `ryre node`: start a node, print every event, and optionally shout, echo, burst or churn;
//! stdin lines are commands (`shout G TEXT`, `whisper HEX TEXT`, `join G`, `leave G`,
//! `security`, `gossip`, `revoke FILE`, `stop`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ryre::{Event, Node, NodeBuilder, PeerId};
use ryre_bridge::metrics::{Metrics, MetricsServer};

use crate::args::{parse_header, parse_millis, parse_secs, NetArgs};
use crate::output::{first_frame, Counts, Printer};
use crate::session::{Input, Session};
use crate::{CliError, CliResult};

/// How long to wait for the node's last events after stopping it.
const DRAIN: Duration = Duration::from_secs(5);

/// A burst or churn looks at the stop signal and the clock every this many steps.
const STEPS: u64 = 256;

/// Arguments of `ryre node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's name [default: the first 6 hex digits of its id].
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Join this group at start (repeatable; the first is the one --burst and --churn use).
    #[arg(long = "join", value_name = "GROUP")]
    pub join: Vec<String>,
    /// A header sent to peers in HELLO (repeatable).
    #[arg(long = "header", value_name = "K=V", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Network settings.
    #[command(flatten)]
    pub net: NetArgs,
    /// Milliseconds of silence before a peer is reported EVASIVE [default: 5000].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub evasive: Option<Duration>,
    /// Milliseconds of silence before a peer is dropped with EXIT [default: 30000].
    #[arg(long, value_name = "MS", value_parser = parse_millis)]
    pub expired: Option<Duration>,
    /// Shout TEXT to GROUP every --every milliseconds.
    #[arg(long, num_args = 2, value_names = ["GROUP", "TEXT"])]
    pub shout: Option<Vec<String>>,
    /// Milliseconds between the shouts of --shout.
    #[arg(long, value_name = "MS", value_parser = parse_millis, default_value = "1000")]
    pub every: Duration,
    /// Whisper `ECHO <first frame>` back to the sender of every SHOUT and WHISPER (except echoes).
    #[arg(long)]
    pub echo: bool,
    /// Shout "0".."N-1" to the first joined group as soon as a peer joins it.
    #[arg(long, value_name = "N")]
    pub burst: Option<u64>,
    /// Leave and re-join the first joined group N times once a peer is present.
    #[arg(long, value_name = "N")]
    pub churn: Option<u64>,
    /// Stop after this many seconds (fractions allowed) and print a summary.
    #[arg(long = "for", value_name = "SECONDS", value_parser = parse_secs)]
    pub for_secs: Option<Duration>,
    /// One JSON object per line instead of readable text.
    #[arg(long)]
    pub json: bool,
    /// Log the node's connections and protocol events on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9100; port 0: one the
    /// OS picks, printed as METRICS).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// What a running node does besides printing its events; `ryre ping` uses it too.
#[derive(Debug, Default)]
pub struct Behaviour {
    /// JSON or readable output.
    pub json: bool,
    /// Groups to join at start.
    pub join: Vec<String>,
    /// `(group, text)` to shout every `every`.
    pub shout: Option<(String, String)>,
    /// Time between shouts.
    pub every: Duration,
    /// Echo SHOUTs and WHISPERs back to their sender.
    pub echo: bool,
    /// Text to whisper to every peer on ENTER.
    pub greet: Option<String>,
    /// Shout this many numbered messages to the first group when a peer joins it.
    pub burst: Option<u64>,
    /// Leave and re-join the first group this many times once a peer is present.
    pub churn: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Read commands from stdin.
    pub commands: bool,
    /// Serve Prometheus metrics here.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Runs `ryre node`.
pub fn run(a: NodeArgs) -> CliResult {
    if (a.burst.is_some() || a.churn.is_some()) && a.join.is_empty() {
        return Err(CliError::Usage(
            "--burst and --churn need a group: pass --join GROUP".into(),
        ));
    }
    crate::logging::init(a.verbose);
    let mut b = a.net.builder().verbose(a.verbose);
    if let Some(n) = &a.name {
        b = b.name(n.clone());
    }
    for (k, v) in &a.headers {
        b = b.header(k.clone(), v.clone());
    }
    if let Some(t) = a.evasive {
        b = b.evasive_timeout(t);
    }
    if let Some(t) = a.expired {
        b = b.expired_timeout(t);
    }
    let shout = match a.shout.as_deref() {
        Some([group, text]) => {
            ryre::check_group(group)?;
            Some((group.clone(), text.clone()))
        }
        Some(_) => return Err(CliError::Usage("--shout takes GROUP and TEXT".into())),
        None => None,
    };
    let behaviour = Behaviour {
        json: a.json,
        join: a.join,
        shout,
        every: a.every,
        echo: a.echo,
        greet: None,
        burst: a.burst,
        churn: a.churn,
        duration: a.for_secs,
        commands: true,
        metrics: a.metrics,
    };
    run_node(b, behaviour)
}

/// A command read from stdin.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinCommand {
    /// `shout GROUP TEXT`
    Shout(String, String),
    /// `whisper HEX TEXT`
    Whisper(PeerId, String),
    /// `join GROUP`
    Join(String),
    /// `leave GROUP`
    Leave(String),
    /// `security`: print what secure mode has refused so far
    Security,
    /// `gossip`: print what the node's gossip hub holds and the agent's gossip sessions
    Gossip,
    /// `revoke FILE`: hand a revocation file (of `ryre cert revoke`) to a certified node; it
    /// drops the peers revoked and passes the revocations on to every certified peer
    Revoke(std::path::PathBuf),
    /// `stop`
    Stop,
}

/// Parses one stdin line; `Ok(None)` for a blank line.
pub fn parse_command(line: &str) -> Result<Option<StdinCommand>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (cmd, rest) = match line.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim_start()),
        None => (line, ""),
    };
    let two = |what: &str| -> Result<(String, String), String> {
        match rest.split_once(char::is_whitespace) {
            Some((a, b)) if !a.is_empty() => Ok((a.to_string(), b.trim_start().to_string())),
            _ => Err(format!("usage: {cmd} {what} TEXT")),
        }
    };
    let one = |what: &str| -> Result<String, String> {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            Err(format!("usage: {cmd} {what}"))
        } else {
            Ok(rest.to_string())
        }
    };
    let parsed = match cmd {
        "shout" => {
            let (g, t) = two("GROUP")?;
            StdinCommand::Shout(g, t)
        }
        "whisper" => {
            let (p, t) = two("PEER")?;
            let peer = p.parse::<PeerId>().map_err(|e| e.to_string())?;
            StdinCommand::Whisper(peer, t)
        }
        "join" => StdinCommand::Join(one("GROUP")?),
        "leave" => StdinCommand::Leave(one("GROUP")?),
        "stop" | "quit" | "exit" if rest.is_empty() => StdinCommand::Stop,
        "security" if rest.is_empty() => StdinCommand::Security,
        "gossip" if rest.is_empty() => StdinCommand::Gossip,
        "revoke" if !rest.is_empty() => StdinCommand::Revoke(rest.into()),
        _ => {
            return Err(format!(
                "unknown command {line:?}; try: shout G TEXT | whisper HEX TEXT | join G | leave G | security | gossip | revoke FILE | stop"
            ))
        }
    };
    Ok(Some(parsed))
}

/// Whether the loop should go on after an action.
enum Flow {
    Continue,
    Stop,
}

/// Hands the heap pages freed during start-up (the argument tree, the set-up's temporaries) back
/// to the system: a long-running node keeps only what it uses (issue 18: an idle `ryre node`
/// within 2.4 MiB PSS). One call, once; glibc only.
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs a node with a behaviour until `stop`, the duration, a signal or the node's own end.
pub fn run_node(builder: NodeBuilder, b: Behaviour) -> CliResult {
    let printer = Printer { json: b.json };
    let node = builder.start()?;
    crate::logging::publish(&node);
    printer.started(&node);
    let _metrics = match b.metrics {
        Some(addr) => {
            let registry = std::sync::Arc::new(Metrics::new().with_node(node.clone()));
            let server = MetricsServer::start(addr, registry).map_err(CliError::runtime)?;
            printer.metrics(server.local_addr());
            Some(server)
        }
        None => None,
    };
    let session = Session::new();
    session.forward_events(&node)?;
    session.catch_signals()?;
    release_startup_memory();
    if b.commands {
        session.read_stdin()?;
    }
    for g in &b.join {
        node.join(g)?;
    }
    let start = Instant::now();
    let deadline = b.duration.map(|d| start + d);
    let mut runner = Runner {
        node: node.clone(),
        printer,
        counts: Counts::default(),
        b,
        burst_done: false,
        churn_done: false,
        signalled: session.signalled(),
        deadline,
    };
    let mut next_shout = runner.b.shout.as_ref().map(|_| start);
    let mut ended = false;
    loop {
        let now = Instant::now();
        if let Some(at) = next_shout.filter(|at| *at <= now) {
            if let Some((g, t)) = &runner.b.shout {
                if let Flow::Stop = runner.soft(node.shout_str(g, t)) {
                    break;
                }
            }
            let next = at + runner.b.every;
            next_shout = Some(if next <= now {
                now + runner.b.every
            } else {
                next
            });
        }
        if deadline.is_some_and(|d| d <= now) {
            break;
        }
        let wake = match (next_shout, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let flow = match session.next(wake) {
            None => Flow::Continue,
            Some(Input::Event(ev)) => runner.on_event(ev),
            Some(Input::EventsEnded) => {
                ended = true;
                Flow::Stop
            }
            Some(Input::Line(line)) => runner.on_line(&line),
            Some(Input::StdinClosed) => Flow::Continue,
            Some(Input::Signal) => Flow::Stop,
        };
        if let Flow::Stop = flow {
            break;
        }
    }
    node.stop()?;
    if !ended {
        session.drain_events(DRAIN, |ev| {
            runner.counts.add(&ev);
            printer.event(&ev);
        });
    }
    crate::logging::finish();
    printer.summary(&runner.counts);
    if node.public_key().is_some() {
        printer.security(&node);
    }
    Ok(ExitCode::SUCCESS)
}

/// The state of the event loop of [`run_node`].
struct Runner {
    node: Node,
    printer: Printer,
    counts: Counts,
    b: Behaviour,
    burst_done: bool,
    churn_done: bool,
    /// Set by SIGINT/SIGTERM/SIGHUP.
    signalled: Arc<AtomicBool>,
    /// The end of `--for`.
    deadline: Option<Instant>,
}

impl Runner {
    /// Whether a long loop must end now: a stop signal came, or `--for` is over. Cheap enough
    /// to ask every few hundred steps (an atomic load and a clock read).
    fn must_stop(&self) -> bool {
        self.signalled.load(Ordering::Acquire) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Reports a failed action without stopping, unless the node itself has stopped.
    fn soft(&self, r: Result<(), ryre::Error>) -> Flow {
        match r {
            Ok(()) => Flow::Continue,
            Err(ryre::Error::Stopped) => Flow::Stop,
            Err(e) => {
                self.printer.warn(&e.to_string());
                Flow::Continue
            }
        }
    }

    fn first_group(&self) -> Option<&str> {
        self.b.join.first().map(String::as_str)
    }

    fn on_event(&mut self, ev: Event) -> Flow {
        self.counts.add(&ev);
        self.printer.event(&ev);
        match &ev {
            Event::Enter { peer, .. } => {
                if let Some(text) = &self.b.greet {
                    if let Flow::Stop = self.soft(self.node.whisper_str(*peer, text)) {
                        return Flow::Stop;
                    }
                }
                if let (Some(n), false) = (self.b.churn, self.churn_done) {
                    self.churn_done = true;
                    if let Some(g) = self.first_group().map(str::to_string) {
                        for i in 0..n {
                            if i % STEPS == 0 && self.must_stop() {
                                return Flow::Stop;
                            }
                            if let Flow::Stop = self.soft(self.node.leave(&g)) {
                                return Flow::Stop;
                            }
                            if let Flow::Stop = self.soft(self.node.join(&g)) {
                                return Flow::Stop;
                            }
                        }
                    }
                }
            }
            Event::Join { group, .. } => {
                if let (Some(n), false) = (self.b.burst, self.burst_done) {
                    if self.first_group() == Some(group.as_str()) {
                        self.burst_done = true;
                        for i in 0..n {
                            if i % STEPS == 0 && self.must_stop() {
                                return Flow::Stop;
                            }
                            if let Flow::Stop =
                                self.soft(self.node.shout_str(group, &i.to_string()))
                            {
                                return Flow::Stop;
                            }
                        }
                    }
                }
            }
            Event::Shout { peer, .. } | Event::Whisper { peer, .. } if self.b.echo => {
                let text = first_frame(&ev).unwrap_or_default();
                if !text.starts_with("ECHO ") {
                    let reply = format!("ECHO {text}");
                    return self.soft(self.node.whisper_str(*peer, &reply));
                }
            }
            Event::Stop { .. } => return Flow::Stop,
            _ => {}
        }
        Flow::Continue
    }

    fn on_line(&mut self, line: &str) -> Flow {
        let cmd = match parse_command(line) {
            Ok(Some(c)) => c,
            Ok(None) => return Flow::Continue,
            Err(e) => {
                self.printer.warn(&e);
                return Flow::Continue;
            }
        };
        let r = match cmd {
            StdinCommand::Shout(g, t) => self.node.shout_str(&g, &t),
            StdinCommand::Whisper(p, t) => self.node.whisper_str(p, &t),
            StdinCommand::Join(g) => self.node.join(&g),
            StdinCommand::Leave(g) => self.node.leave(&g),
            StdinCommand::Security => {
                self.printer.security(&self.node);
                Ok(())
            }
            StdinCommand::Gossip => {
                self.printer.gossip(&self.node);
                Ok(())
            }
            StdinCommand::Revoke(path) => match ryre::certs::read_revocations(&path) {
                Ok(list) if self.node.is_certified() => self.node.add_revocations(list),
                Ok(_) => Err(ryre::Error::Config(
                    "revoke: this node is not in certified mode (--cert)".into(),
                )),
                Err(e) => Err(e.into()),
            },
            StdinCommand::Stop => return Flow::Stop,
        };
        self.soft(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            parse_command("shout g hello  world"),
            Ok(Some(StdinCommand::Shout("g".into(), "hello  world".into())))
        );
        assert_eq!(
            parse_command("join  g "),
            Ok(Some(StdinCommand::Join("g".into())))
        );
        assert_eq!(
            parse_command("leave g"),
            Ok(Some(StdinCommand::Leave("g".into())))
        );
        assert_eq!(parse_command("stop"), Ok(Some(StdinCommand::Stop)));
        assert_eq!(parse_command("  "), Ok(None));
        let hex = "AB".repeat(16);
        assert_eq!(
            parse_command(&format!("whisper {hex} hi there")),
            Ok(Some(StdinCommand::Whisper(
                PeerId::from_bytes([0xab; 16]),
                "hi there".into()
            )))
        );
        assert!(parse_command("whisper nothex hi").is_err());
        assert!(parse_command("shout g").is_err());
        assert!(parse_command("join").is_err());
        assert!(parse_command("join a b").is_err());
        assert_eq!(
            parse_command("revoke /tmp/list.revocations"),
            Ok(Some(StdinCommand::Revoke("/tmp/list.revocations".into())))
        );
        assert!(parse_command("revoke").is_err());
        assert!(parse_command("dance").is_err());
        assert!(parse_command("stop now").is_err());
    }
}
