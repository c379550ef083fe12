//! # ryre-pipeline: a reliable pipeline on ryre
//!
//! ZeroMQ's PUSH/PULL pipeline (a ventilator deals tasks to workers, a sink gathers results) is
//! reliable only while nobody crashes. This crate makes it survive crashes of workers and
//! collectors, on top of the public [`ryre`] API: three roles find each other through ryre
//! presence (groups `pipeline/<cluster>/{clients,workers,collectors}` and the HELLO headers
//! [`ROLE_HEADER`] and [`CLUSTER_HEADER`]; no address is configured), and talk with whispers
//! (per-peer ordered, direct TCP) carrying the small versioned codec of [`proto`].
//!
//! - A [`Client`] submits a batch (a known number of payloads, numbered 0 upwards, kept in memory
//!   until done) and gets every task's result exactly once, with its task number.
//! - A [`Worker`] is a function from payload to result. It takes tasks by credit: it never holds
//!   more than its window of any client's tasks, so a slow worker builds no backlog and a dead one
//!   strands at most its window.
//! - A [`Collector`] gathers results for any client that names it, drops duplicates (batch id +
//!   task number), forwards each result once to the client, and reports progress and missing
//!   task numbers.
//!
//! While someone watches (a node in the cluster's status group [`status_group`], such as the
//! bridge's services watcher, which joins it for every cluster it sees in HELLO headers), every
//! role also shouts a small [`proto::Status`] there at most every [`Config::status_interval`]
//! (500 ms), and only when it changed; nobody watching, nothing is sent. [`watch::Watch`] turns
//! those reports into a view of the cluster: batches with their progress, workers with their
//! throughput, re-deals.
//!
//! In certified mode (a node started with `ryre::NodeBuilder::certificate`) a role starts only
//! if its certificate grants the rights of its groups ([`required_rights`]; otherwise
//! [`Error::NotEntitled`] names the group and the right), so that nothing it must send is
//! refused later.
//!
//! The client re-deals a worker's tasks when the worker leaves (EXIT) or makes no progress for
//! [`Config::task_timeout`]; it re-deals tasks the collector never reported; it moves to another
//! collector (or waits for one) when its collector leaves or falls silent, and resends everything
//! not yet delivered. Results already delivered to the application are never delivered again.
//!
//! ```no_run
//! use ryre::Node;
//! use ryre_pipeline::{Client, Collector, Config, Worker};
//!
//! let net = || Node::builder().interface("lo").port(5680);
//! let config = Config::default();
//! let _collector = Collector::start(net(), config.clone())?;
//! let _worker = Worker::start(net(), config.clone(), |payload: &[u8]| {
//!     Ok(payload.to_ascii_uppercase())
//! })?;
//! let client = Client::start(net(), config)?;
//! let batch = client.submit(vec!["a", "b", "c"])?;
//! for (task, result) in batch {
//!     println!("{task}: {:?}", result);
//! }
//! # Ok::<(), ryre_pipeline::Error>(())
//! ```
#![warn(missing_docs)]

mod client;
mod collector;
pub mod proto;
pub mod watch;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ryre::{Bytes, Event, Node, PeerId};

pub use client::{Batch, Client, TaskError};
pub use collector::Collector;
pub use worker::Worker;

/// The HELLO header naming a node's pipeline role (`client`, `worker` or `collector`).
pub const ROLE_HEADER: &str = "X-RYRE-PIPELINE";
/// The HELLO header naming a node's pipeline cluster.
pub const CLUSTER_HEADER: &str = "X-RYRE-PIPELINE-CLUSTER";

/// Errors of the pipeline API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ryre node failed (could not start, or stopped).
    #[error(transparent)]
    Node(#[from] ryre::Error),
    /// A setting makes no sense.
    #[error("invalid pipeline setting: {0}")]
    Config(String),
    /// The batch has more tasks than the protocol allows ([`proto::MAX_TASKS`]).
    #[error("a batch of {0} tasks is too large (at most {max})", max = proto::MAX_TASKS)]
    TooManyTasks(u64),
    /// The role has stopped.
    #[error("the pipeline role has stopped")]
    Stopped,
    /// Its thread could not be started.
    #[error("cannot start the pipeline thread: {0}")]
    Thread(std::io::Error),
    /// Certified mode: the node's certificate lacks a right the role needs in one of its
    /// groups (see [`required_rights`]); the role did not start.
    #[error("the certificate of {name} does not grant {right} in {group}: a pipeline {} {why}", role.as_str())]
    NotEntitled {
        /// The role.
        role: Role,
        /// The certificate's name.
        name: String,
        /// The group.
        group: String,
        /// The rights it needs there.
        right: ryre::certs::Rights,
        /// What the role does there.
        why: &'static str,
    },
}

/// The rights a certified node's certificate must grant for `role` in `cluster`: (group,
/// rights, what the role does there). Roles talk by whisper, and a certified whisper from S to
/// R needs `whisper` in a group R may join: so each role joins its own group and needs
/// `whisper` in the groups of the roles it sends to; every role shouts its status reports to
/// [`status_group`].
///
/// ```
/// use ryre::certs::Rights;
/// use ryre_pipeline::{required_rights, Role};
/// let needed = required_rights(Role::Worker, "c");
/// assert!(needed.iter().any(|(g, r, _)| g == "pipeline/c/workers" && *r == Rights::JOIN));
/// assert!(needed.iter().any(|(g, r, _)| g == "pipeline/c/collectors" && *r == Rights::WHISPER));
/// ```
pub fn required_rights(
    role: Role,
    cluster: &str,
) -> Vec<(String, ryre::certs::Rights, &'static str)> {
    use ryre::certs::Rights;
    let mut out = vec![(
        role.group(cluster),
        Rights::JOIN,
        "is a member of its role's group",
    )];
    let sends: &[(Role, &'static str)] = match role {
        Role::Client => &[
            (Role::Worker, "deals tasks to workers"),
            (Role::Collector, "opens and ends batches at collectors"),
        ],
        Role::Worker => &[
            (Role::Client, "returns credit to clients"),
            (Role::Collector, "sends results to collectors"),
        ],
        Role::Collector => &[(Role::Client, "forwards results and progress to clients")],
    };
    for (to, why) in sends {
        out.push((to.group(cluster), Rights::WHISPER, *why));
    }
    out.push((
        status_group(cluster),
        Rights::SHOUT,
        "reports its status to watchers",
    ));
    out
}

/// Settings shared by the three roles (each uses the ones that concern it).
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster: roles only talk to roles of the same cluster (default `default`).
    pub cluster: String,
    /// Worker: most tasks of one client it holds at a time (default 1024).
    pub window: u32,
    /// Client: most tasks per TASKS message (default 256).
    pub chunk: u32,
    /// Client: a worker holding tasks that returns no credit for this long is presumed dead and
    /// its tasks are dealt to others (default 5 s). A worker whose usual time between credits is
    /// short is presumed dead sooner: after 20 times that time, but not before 250 ms. (A worker
    /// that was only slow loses nothing: its late results are dropped as duplicates.)
    pub task_timeout: Duration,
    /// Client: a task a worker reported done whose result has not come from the collector after
    /// this long is dealt again (default 5 s).
    pub result_timeout: Duration,
    /// Client: a collector silent this long while a batch is open is replaced by another one, if
    /// there is one (default 3 s).
    pub collector_timeout: Duration,
    /// Client: attempts of a task whose worker returns an error before the error is the task's
    /// result (default 3).
    pub max_attempts: u32,
    /// Collector: time between progress reports (default 200 ms).
    pub progress_interval: Duration,
    /// Every role: least time between two status reports to the cluster's status group
    /// ([`status_group`]; default 500 ms). A report goes out only while a node is in that group
    /// and only when something changed since the last one, and it never waits for a full queue
    /// ([`ryre::Node::try_shout`]): an unwatched pipeline sends nothing.
    pub status_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: "default".into(),
            window: 1024,
            chunk: 256,
            task_timeout: Duration::from_secs(5),
            result_timeout: Duration::from_secs(5),
            collector_timeout: Duration::from_secs(3),
            max_attempts: 3,
            progress_interval: Duration::from_millis(200),
            status_interval: Duration::from_millis(500),
        }
    }
}

impl Config {
    /// A default configuration in cluster `cluster`.
    pub fn cluster(cluster: impl Into<String>) -> Self {
        Config {
            cluster: cluster.into(),
            ..Config::default()
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.cluster.is_empty() || self.cluster.len() > 200 {
            return Err(Error::Config(
                "the cluster name must be 1 to 200 bytes".into(),
            ));
        }
        if self.window == 0 || self.chunk == 0 || self.max_attempts == 0 {
            return Err(Error::Config(
                "window, chunk and max_attempts must be at least 1".into(),
            ));
        }
        if self.task_timeout.is_zero()
            || self.result_timeout.is_zero()
            || self.collector_timeout.is_zero()
            || self.progress_interval.is_zero()
            || self.status_interval.is_zero()
        {
            return Err(Error::Config("timeouts must be above zero".into()));
        }
        Ok(())
    }
}

/// The group a cluster's roles shout their [`proto::Status`] to: `pipeline/<cluster>/status`.
/// A watcher joins it; the roles do not (they need not be in a group to shout to it).
pub fn status_group(cluster: &str) -> String {
    format!("pipeline/{cluster}/status")
}

/// A pipeline role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Submits batches.
    Client,
    /// Runs tasks.
    Worker,
    /// Gathers results.
    Collector,
}

impl Role {
    /// The role's name in the [`ROLE_HEADER`].
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Worker => "worker",
            Role::Collector => "collector",
        }
    }

    /// The role of a [`ROLE_HEADER`] value.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "client" => Some(Role::Client),
            "worker" => Some(Role::Worker),
            "collector" => Some(Role::Collector),
            _ => None,
        }
    }

    /// The ryre group the role's nodes join in `cluster`.
    pub fn group(self, cluster: &str) -> String {
        let g = match self {
            Role::Client => "clients",
            Role::Worker => "workers",
            Role::Collector => "collectors",
        };
        format!("pipeline/{cluster}/{g}")
    }
}

/// What every role keeps while it runs: its node, its thread (told to stop through a flag) and
/// its counters. Stopping it, or dropping it, stops the thread and then the node.
pub(crate) struct Running {
    pub node: Node,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Runs `run` on a thread named after the role and the node.
    pub fn spawn(
        node: Node,
        counters: Arc<Counters>,
        role: &str,
        run: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<Running, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pipeline-{role}-{}", node.name()))
            .spawn(move || run(&s))
            .map_err(Error::Thread)?;
        Ok(Running {
            node,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread, then the node.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.node.stop();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counters of what a role received and dropped.
#[derive(Debug, Default)]
struct Counters {
    messages: AtomicU64,
    malformed: AtomicU64,
    unexpected: AtomicU64,
    stale: AtomicU64,
    duplicates: AtomicU64,
    redealt: AtomicU64,
    dealt: AtomicU64,
    done: AtomicU64,
}

/// Reads a role's counters from anywhere (a metrics scrape, another thread), for as long as it
/// is kept, even after the role stopped. Cheap to clone.
#[derive(Clone)]
pub struct StatsReader(Arc<Counters>);

impl StatsReader {
    /// The counters now.
    pub fn get(&self) -> Stats {
        self.0.snapshot()
    }
}

impl std::fmt::Debug for StatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StatsReader").field(&self.get()).finish()
    }
}

impl Running {
    /// A reader of this role's counters.
    pub(crate) fn stats_reader(&self) -> StatsReader {
        StatsReader(self.counters.clone())
    }
}

/// A snapshot of a role's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Pipeline messages received.
    pub messages: u64,
    /// Dropped: not a pipeline message, or one that does not decode (bad, foreign).
    pub malformed: u64,
    /// Dropped: a message this role does not take from that sender (from a peer not of the
    /// expected role or cluster: forged or misdirected).
    pub unexpected: u64,
    /// Dropped: well-formed but out of place (replayed, over credit, an unknown or finished
    /// batch).
    pub stale: u64,
    /// Results dropped because that task's result was already had.
    pub duplicates: u64,
    /// Client: tasks dealt again (after a worker or collector loss, an error, a timeout).
    pub redealt: u64,
    /// Client: tasks dealt to workers, counting deals again.
    pub dealt: u64,
    /// Tasks finished: results delivered (client), computed (worker), forwarded (collector).
    pub done: u64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            messages: g(&self.messages),
            malformed: g(&self.malformed),
            unexpected: g(&self.unexpected),
            stale: g(&self.stale),
            duplicates: g(&self.duplicates),
            redealt: g(&self.redealt),
            dealt: g(&self.dealt),
            done: g(&self.done),
        }
    }

    fn bump(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

/// The roles of the peers of one cluster, learnt from their HELLO headers.
#[derive(Debug, Default)]
struct Roster {
    cluster: String,
    roles: HashMap<PeerId, Role>,
}

impl Roster {
    fn new(cluster: &str) -> Self {
        Roster {
            cluster: cluster.to_string(),
            roles: HashMap::new(),
        }
    }

    /// Notes ENTER and EXIT; returns the peer that left, with its role, on EXIT.
    fn track(&mut self, ev: &Event) -> Option<(PeerId, Role)> {
        match ev {
            Event::Enter { peer, headers, .. } => {
                self.enter(*peer, headers);
                None
            }
            Event::Exit { peer, .. } => self.roles.remove(peer).map(|r| (*peer, r)),
            _ => None,
        }
    }

    fn enter(&mut self, peer: PeerId, headers: &BTreeMap<String, String>) {
        let cluster = headers.get(CLUSTER_HEADER).map(String::as_str);
        let role = headers.get(ROLE_HEADER).and_then(|r| Role::parse(r));
        match (cluster, role) {
            (Some(c), Some(role)) if c == self.cluster => {
                self.roles.insert(peer, role);
            }
            _ => {
                self.roles.remove(&peer);
            }
        }
    }

    fn role(&self, peer: &PeerId) -> Option<Role> {
        self.roles.get(peer).copied()
    }
}

/// Starts a role's node: its name, headers and groups.
fn start_node(
    builder: ryre::NodeBuilder,
    config: &Config,
    role: Role,
) -> Result<ryre::Node, Error> {
    config.validate()?;
    if let Some(cert) = builder.own_certificate()? {
        for (group, right, why) in required_rights(role, &config.cluster) {
            if !cert.may(&group, right) {
                return Err(Error::NotEntitled {
                    role,
                    name: cert.name,
                    group,
                    right,
                    why,
                });
            }
        }
    }
    let node = builder
        .header(ROLE_HEADER, role.as_str())
        .header(CLUSTER_HEADER, config.cluster.clone())
        .start()?;
    node.join(&role.group(&config.cluster))?;
    Ok(node)
}

/// The single frame of a pipeline whisper, or `None` (counted) for anything else.
fn one_frame(content: &[Bytes], counters: &Counters) -> Option<Bytes> {
    Counters::bump(&counters.messages, 1);
    if content.len() != 1 {
        Counters::bump(&counters.malformed, 1);
        return None;
    }
    Some(content[0].clone())
}

/// A role's status reports to the cluster's status group: due every `interval`, sent only
/// while a watcher is in the group and only when the status changed (or a watcher just joined).
pub(crate) struct Reporter {
    group: String,
    interval: Duration,
    next: Instant,
    last: Option<proto::Status>,
    /// A watcher joined since the last report: send even if nothing changed.
    force: bool,
}

impl Reporter {
    pub fn new(config: &Config) -> Reporter {
        Reporter {
            group: status_group(&config.cluster),
            interval: config.status_interval,
            next: Instant::now(),
            last: None,
            force: false,
        }
    }

    /// Notes a watcher's JOIN: it gets a report at once.
    pub fn on_event(&mut self, ev: &Event) {
        if let Event::Join { group, .. } = ev {
            if *group == self.group {
                self.force = true;
                self.next = Instant::now();
            }
        }
    }

    /// Whether a report is due (one comparison: cheap enough for every turn of a loop).
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Shouts `status` if someone watches and it is news. Returns false only when it should
    /// have gone out and could not (a watcher's queue was full): the caller keeps what it
    /// wanted to report once (ended batches) for the next time.
    pub fn report(&mut self, node: &Node, now: Instant, status: proto::Status) -> bool {
        self.next = now + self.interval;
        if node.peers_by_group(&self.group).is_empty() {
            self.last = None;
            return true;
        }
        if !self.force && self.last.as_ref() == Some(&status) {
            return true;
        }
        let frame = proto::Msg::Status(status.clone()).encode();
        match node.try_shout(&self.group, [frame]) {
            Ok(()) => {
                self.force = false;
                self.last = Some(status);
                true
            }
            Err(e) => {
                tracing::debug!("pipeline status to {} not sent: {e}", self.group);
                false
            }
        }
    }
}
