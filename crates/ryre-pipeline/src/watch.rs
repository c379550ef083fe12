//! Watching pipelines from outside: what a bystander (the bridge's services watcher, a
//! dashboard) learns from the roles' HELLO headers and their [`Status`] reports.
//!
//! [`Watch`] is a plain state machine, with no node, thread or clock of its own: its owner
//! hands it what its node sees, each with the time it was seen, and joins the groups it names.
//!
//! - [`Watch::enter`]: a peer's HELLO headers ([`ROLE_HEADER`], [`CLUSTER_HEADER`]) make it a
//!   client, worker or collector of a cluster. The first node of a cluster returns that
//!   cluster's [`status_group`], for the owner to join: from then on the cluster's roles report
//!   to it (they report only while someone is in that group).
//! - [`Watch::shout`]: a status shouted to a cluster's status group is taken from a node that
//!   entered as that role of that cluster, and refused (counted) otherwise.
//! - [`Watch::exit`]: a node that left is shown as gone for [`KEEP_GONE`]; the batches of a
//!   client that left, unfinished, are [`BatchState::Lost`].
//! - [`Watch::view`]: per cluster, its nodes (with tasks done, tasks held, tasks per second over
//!   [`RATE_WINDOW`]), its batches (running ones first, then the newest [`KEEP_ENDED`] that
//!   ended) and the re-deals of all its clients.
//!
//! Everything it keeps is bounded: [`MAX_CLUSTERS`] clusters, the batches each client lists
//! (at most [`MAX_STATUS_BATCHES`] a report), [`KEEP_ENDED`] ended batches and [`MAX_GONE`]
//! gone nodes per cluster.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use ryre::{Bytes, PeerId};

use crate::proto::{BatchStatus, Msg, Status, MAX_STATUS_BATCHES};
use crate::{status_group, Role, CLUSTER_HEADER, ROLE_HEADER};

/// Tasks per second are measured over this much time.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Most clusters watched at once.
pub const MAX_CLUSTERS: usize = 64;
/// Ended batches kept per cluster (the newest).
pub const KEEP_ENDED: usize = 32;
/// How long a node that left stays in the view (as gone).
pub const KEEP_GONE: Duration = Duration::from_secs(60);
/// Most gone nodes kept per cluster (the newest).
pub const MAX_GONE: usize = 64;
/// Most samples a rate keeps (reports come at most twice a second from a real role: about a
/// dozen are in a window).
const MAX_SAMPLES: usize = 256;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A counter's rate over [`RATE_WINDOW`], from samples `(time ns, value)`.
#[derive(Debug, Clone, Default)]
struct Rate {
    samples: VecDeque<(u64, u64)>,
}

impl Rate {
    fn push(&mut self, now: u64, value: u64) {
        if self
            .samples
            .back()
            .is_some_and(|&(t, v)| value < v || now < t)
        {
            // A counter that went back (or a clock that did): start again.
            self.samples.clear();
        }
        self.samples.push_back((now, value));
        // Keep one sample at or before the window's start: the base of the rate.
        let start = now.saturating_sub(ns(RATE_WINDOW));
        while self.samples.len() > 2 && self.samples[1].0 <= start {
            self.samples.pop_front();
        }
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// Per second over the window that ends `now`: from the newest sample at or before its
    /// start (else the oldest) to the newest sample, divided by the time since the first of
    /// them. A counter that stopped moving falls to 0 within a window.
    fn per_sec(&self, now: u64) -> f64 {
        let Some(&(_, last)) = self.samples.back() else {
            return 0.0;
        };
        let start = now.saturating_sub(ns(RATE_WINDOW));
        let base = self
            .samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= start)
            .or(self.samples.front());
        let Some(&(t0, v0)) = base else {
            return 0.0;
        };
        if now <= t0 || last <= v0 {
            return 0.0;
        }
        (last - v0) as f64 / ((now - t0) as f64 / 1e9)
    }
}

/// Where a batch is, as its client reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchState {
    /// Open: its client lists it.
    Running,
    /// Every result delivered.
    Done,
    /// Ended before every result was delivered: its application stopped taking them.
    Abandoned,
    /// Its client left, or stopped listing it without saying it ended.
    Lost,
}

impl BatchState {
    /// `running`, `done`, `abandoned` or `lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Running => "running",
            BatchState::Done => "done",
            BatchState::Abandoned => "abandoned",
            BatchState::Lost => "lost",
        }
    }
}

/// A pipeline node as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Its ryre id.
    pub peer: PeerId,
    /// Its ryre name.
    pub name: String,
    /// Its role (from its HELLO header).
    pub role: Role,
    /// Whether a status report has come from it (if not, the counts are 0).
    pub reported: bool,
    /// Its latest report's [`Status::done`].
    pub done: u64,
    /// Its latest report's [`Status::held`].
    pub held: u64,
    /// Its latest report's [`Status::redealt`].
    pub redealt: u64,
    /// Its latest report's [`Status::duplicates`].
    pub duplicates: u64,
    /// Tasks finished per second over [`RATE_WINDOW`] (0 once it left).
    pub tasks_per_s: f64,
    /// It left the mesh (kept for [`KEEP_GONE`]).
    pub gone: bool,
}

/// A batch as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    /// The client that owns it.
    pub client: PeerId,
    /// The client's name.
    pub client_name: String,
    /// The latest counts its client reported.
    pub status: BatchStatus,
    /// Running, or how it ended.
    pub state: BatchState,
    /// Results delivered per second over [`RATE_WINDOW`].
    pub tasks_per_s: f64,
    /// From when it was first reported until it ended (or now).
    pub elapsed: Duration,
}

/// One cluster as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The cluster's name.
    pub cluster: String,
    /// Its status group (which the watcher joined).
    pub group: String,
    /// Its nodes: clients, then workers, then collectors, each by name.
    pub nodes: Vec<NodeView>,
    /// Running batches (oldest first), then ended ones (newest first).
    pub batches: Vec<BatchView>,
    /// Tasks dealt again by all its clients so far (those that left included).
    pub redealt: u64,
    /// Tasks its workers finish per second, together.
    pub tasks_per_s: f64,
}

/// What a [`Watch`] took and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchCounts {
    /// Status reports taken.
    pub statuses: u64,
    /// Shouts to a status group that are not one status frame (or do not decode).
    pub malformed: u64,
    /// Status reports from a node not known as that role of that cluster.
    pub unexpected: u64,
    /// Pipeline nodes not watched because [`MAX_CLUSTERS`] clusters already are.
    pub refused_clusters: u64,
}

#[derive(Debug, Clone)]
struct NodeEntry {
    role: Role,
    name: String,
    status: Option<Status>,
    rate: Rate,
    left: Option<u64>,
}

#[derive(Debug, Clone)]
struct BatchEntry {
    client_name: String,
    status: BatchStatus,
    state: BatchState,
    first: u64,
    ended: Option<u64>,
    rate: Rate,
}

#[derive(Debug, Clone, Default)]
struct Cluster {
    nodes: BTreeMap<PeerId, NodeEntry>,
    batches: BTreeMap<(PeerId, u64), BatchEntry>,
    /// Re-deals of clients no longer in `nodes`.
    redealt_gone: u64,
}

/// The pipelines of the mesh, as a bystander sees them (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    clusters: BTreeMap<String, Cluster>,
    /// The cluster of every node entered.
    nodes: HashMap<PeerId, String>,
    counts: WatchCounts,
}

impl Watch {
    /// An empty watch.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// What was taken and refused so far.
    pub fn counts(&self) -> WatchCounts {
        self.counts
    }

    /// A peer entered with these HELLO headers, at `now` (ns, any epoch, the same for every
    /// call). Returns the status group to join when it is the first node of a cluster not
    /// watched yet; `None` for anything else (a node of a known cluster, a node that is no
    /// pipeline role, a cluster past [`MAX_CLUSTERS`]).
    pub fn enter(
        &mut self,
        now: u64,
        peer: PeerId,
        name: &str,
        headers: &BTreeMap<String, String>,
    ) -> Option<String> {
        let role = headers.get(ROLE_HEADER).and_then(|r| Role::parse(r));
        let cluster = headers.get(CLUSTER_HEADER);
        let (Some(role), Some(cluster)) = (role, cluster) else {
            // No pipeline role (any more: a HELLO again under the same id says so).
            self.exit(now, peer);
            return None;
        };
        if cluster.is_empty() || cluster.len() > 200 {
            return None;
        }
        if let Some(old) = self.nodes.get(&peer) {
            if old != cluster {
                self.forget(peer);
            }
        }
        let new = !self.clusters.contains_key(cluster);
        if new && self.clusters.len() >= MAX_CLUSTERS {
            self.counts.refused_clusters += 1;
            return None;
        }
        let c = self.clusters.entry(cluster.clone()).or_default();
        let e = c.nodes.entry(peer).or_insert_with(|| NodeEntry {
            role,
            name: name.to_string(),
            status: None,
            rate: Rate::default(),
            left: None,
        });
        if e.role != role {
            e.status = None;
            e.rate = Rate::default();
        }
        e.role = role;
        e.name = name.to_string();
        e.left = None;
        self.nodes.insert(peer, cluster.clone());
        self.prune(now);
        new.then(|| status_group(cluster))
    }

    /// A peer left (EXIT) at `now`.
    pub fn exit(&mut self, now: u64, peer: PeerId) {
        let Some(cluster) = self.nodes.get(&peer) else {
            return;
        };
        if let Some(c) = self.clusters.get_mut(cluster) {
            if let Some(e) = c.nodes.get_mut(&peer) {
                e.left.get_or_insert(now);
            }
            lose_batches(c, peer, |_| true, now);
        }
        self.prune(now);
    }

    /// Drops a node from its cluster at once (it re-entered in another cluster).
    fn forget(&mut self, peer: PeerId) {
        let Some(cluster) = self.nodes.remove(&peer) else {
            return;
        };
        if let Some(c) = self.clusters.get_mut(&cluster) {
            if let Some(e) = c.nodes.remove(&peer) {
                c.redealt_gone = c
                    .redealt_gone
                    .saturating_add(e.status.map_or(0, |s| s.redealt));
            }
        }
    }

    /// A shout at `now`. Returns whether it was a status report taken; a shout to a group
    /// that is no watched cluster's status group is not looked at.
    pub fn shout(&mut self, now: u64, peer: PeerId, group: &str, content: &[Bytes]) -> bool {
        let Some(cluster) = group
            .strip_prefix("pipeline/")
            .and_then(|g| g.strip_suffix("/status"))
        else {
            return false;
        };
        let Some(c) = self.clusters.get_mut(cluster) else {
            return false;
        };
        let status = match content {
            [frame] => match Msg::decode(frame) {
                Ok(Msg::Status(s)) => Some(s),
                _ => None,
            },
            _ => None,
        };
        let Some(status) = status else {
            self.counts.malformed += 1;
            return false;
        };
        let Some(node) = c.nodes.get_mut(&peer).filter(|n| n.left.is_none()) else {
            self.counts.unexpected += 1;
            return false;
        };
        if node.role != status.role {
            self.counts.unexpected += 1;
            return false;
        }
        self.counts.statuses += 1;
        node.rate.push(now, status.done);
        let client_name = node.name.clone();
        if status.role == Role::Client {
            let listed: Vec<u64> = status.batches.iter().map(|b| b.batch).collect();
            for b in &status.batches {
                let e = c
                    .batches
                    .entry((peer, b.batch))
                    .or_insert_with(|| BatchEntry {
                        client_name: client_name.clone(),
                        status: b.clone(),
                        state: BatchState::Running,
                        first: now,
                        ended: None,
                        rate: Rate::default(),
                    });
                if e.state != BatchState::Running {
                    continue; // over: later reports of it change nothing
                }
                e.status = b.clone();
                e.rate.push(now, b.done);
                if b.ended {
                    e.state = if b.done == b.total {
                        BatchState::Done
                    } else {
                        BatchState::Abandoned
                    };
                    e.ended = Some(now);
                }
            }
            // A full list may leave out open batches; a shorter one lists them all.
            if listed.len() < MAX_STATUS_BATCHES {
                lose_batches(c, peer, |b| !listed.contains(&b), now);
            }
        }
        if let Some(node) = c.nodes.get_mut(&peer) {
            node.status = Some(Status {
                batches: Vec::new(),
                ..status
            });
        }
        self.prune(now);
        true
    }

    /// Forgets what is too old at `now`: nodes gone for [`KEEP_GONE`] (and the oldest gone
    /// past [`MAX_GONE`]), ended batches past [`KEEP_ENDED`]. Every other call does this too.
    pub fn prune(&mut self, now: u64) {
        let keep = ns(KEEP_GONE);
        for c in self.clusters.values_mut() {
            let mut gone: Vec<(u64, PeerId)> = c
                .nodes
                .iter()
                .filter_map(|(p, e)| e.left.map(|t| (t, *p)))
                .collect();
            gone.sort_unstable_by(|a, b| b.cmp(a));
            for (i, (t, p)) in gone.into_iter().enumerate() {
                if i >= MAX_GONE || now.saturating_sub(t) >= keep {
                    if let Some(e) = c.nodes.remove(&p) {
                        c.redealt_gone = c
                            .redealt_gone
                            .saturating_add(e.status.map_or(0, |s| s.redealt));
                    }
                    self.nodes.remove(&p);
                }
            }
            let mut ended: Vec<(u64, (PeerId, u64))> = c
                .batches
                .iter()
                .filter_map(|(k, b)| b.ended.map(|t| (t, *k)))
                .collect();
            if ended.len() > KEEP_ENDED {
                ended.sort_unstable_by(|a, b| b.cmp(a));
                for (_, k) in &ended[KEEP_ENDED..] {
                    c.batches.remove(k);
                }
            }
        }
    }

    /// Every watched cluster at `now`, by name.
    pub fn view(&self, now: u64) -> Vec<ClusterView> {
        self.clusters
            .iter()
            .map(|(name, c)| cluster_view(name, c, now))
            .collect()
    }

    /// One watched cluster at `now`.
    pub fn cluster(&self, now: u64, name: &str) -> Option<ClusterView> {
        self.clusters.get(name).map(|c| cluster_view(name, c, now))
    }
}

/// Marks `client`'s running batches that pass `which` as lost.
fn lose_batches(c: &mut Cluster, client: PeerId, which: impl Fn(u64) -> bool, now: u64) {
    for ((p, id), b) in c.batches.iter_mut() {
        if *p == client && b.state == BatchState::Running && which(*id) {
            b.state = BatchState::Lost;
            b.ended = Some(now);
        }
    }
}

fn cluster_view(name: &str, c: &Cluster, now: u64) -> ClusterView {
    let mut nodes: Vec<NodeView> = c
        .nodes
        .iter()
        .map(|(peer, e)| {
            let s = e.status.as_ref();
            NodeView {
                peer: *peer,
                name: e.name.clone(),
                role: e.role,
                reported: s.is_some(),
                done: s.map_or(0, |s| s.done),
                held: s.map_or(0, |s| s.held),
                redealt: s.map_or(0, |s| s.redealt),
                duplicates: s.map_or(0, |s| s.duplicates),
                // A node that left finishes nothing more.
                tasks_per_s: if e.left.is_some() {
                    0.0
                } else {
                    e.rate.per_sec(now)
                },
                gone: e.left.is_some(),
            }
        })
        .collect();
    nodes.sort_by(|a, b| (a.role, &a.name, a.peer).cmp(&(b.role, &b.name, b.peer)));
    let mut batches: Vec<(bool, u64, BatchView)> = c
        .batches
        .iter()
        .map(|((client, _), b)| {
            let end = b.ended.unwrap_or(now);
            let view = BatchView {
                client: *client,
                client_name: b.client_name.clone(),
                status: b.status.clone(),
                state: b.state,
                tasks_per_s: if b.state == BatchState::Running {
                    b.rate.per_sec(now)
                } else {
                    0.0
                },
                elapsed: Duration::from_nanos(end.saturating_sub(b.first)),
            };
            // Running first, oldest first; then ended, newest first.
            match b.ended {
                None => (false, b.first, view),
                Some(t) => (true, u64::MAX - t, view),
            }
        })
        .collect();
    batches.sort_by_key(|a| (a.0, a.1));
    // Counts of forged reports may be anything: no overflow.
    let redealt = nodes
        .iter()
        .filter(|n| n.role == Role::Client)
        .fold(c.redealt_gone, |a, n| a.saturating_add(n.redealt));
    let tasks_per_s = nodes
        .iter()
        .filter(|n| n.role == Role::Worker)
        .map(|n| n.tasks_per_s)
        .sum();
    ClusterView {
        cluster: name.to_string(),
        group: status_group(name),
        nodes,
        batches: batches.into_iter().map(|(_, _, v)| v).collect(),
        redealt,
        tasks_per_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    fn id(n: u8) -> PeerId {
        PeerId::from_bytes([n; 16])
    }

    fn headers(role: Role, cluster: &str) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        h.insert(ROLE_HEADER.to_string(), role.as_str().to_string());
        h.insert(CLUSTER_HEADER.to_string(), cluster.to_string());
        h
    }

    fn frame(s: Status) -> Vec<Bytes> {
        vec![Msg::Status(s).encode()]
    }

    fn worker(done: u64, held: u64) -> Vec<Bytes> {
        frame(Status {
            role: Role::Worker,
            done,
            held,
            redealt: 0,
            duplicates: 0,
            batches: vec![],
        })
    }

    fn batch(batch: u64, total: u64, done: u64, at_workers: u64, ended: bool) -> BatchStatus {
        BatchStatus {
            batch,
            total,
            done,
            at_workers,
            at_collector: 0,
            redealt: 0,
            ended,
        }
    }

    fn client(redealt: u64, batches: Vec<BatchStatus>) -> Vec<Bytes> {
        frame(Status {
            role: Role::Client,
            done: batches.iter().map(|b| b.done).sum(),
            held: 0,
            redealt,
            duplicates: 0,
            batches,
        })
    }

    const G: &str = "pipeline/c/status";

    #[test]
    fn first_node_of_a_cluster_names_its_group() {
        let mut w = Watch::new();
        assert_eq!(
            w.enter(0, id(1), "w1", &headers(Role::Worker, "c")),
            Some(G.to_string())
        );
        assert_eq!(w.enter(0, id(2), "w2", &headers(Role::Worker, "c")), None);
        assert_eq!(w.enter(0, id(3), "plain", &BTreeMap::new()), None);
        let mut half = BTreeMap::new();
        half.insert(ROLE_HEADER.to_string(), "worker".to_string());
        assert_eq!(w.enter(0, id(4), "half", &half), None);
        assert_eq!(
            w.enter(0, id(5), "bad", &headers(Role::Worker, "")),
            None,
            "an empty cluster name"
        );
        let v = w.view(0);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].group, G);
        assert_eq!(v[0].nodes.len(), 2);
        assert!(v[0].nodes.iter().all(|n| !n.reported && !n.gone));
        // Past MAX_CLUSTERS, new clusters are refused and counted.
        for i in 1..MAX_CLUSTERS {
            let g = w.enter(0, id(100), "x", &headers(Role::Worker, &format!("k{i}")));
            assert!(g.is_some(), "cluster {i}");
        }
        assert_eq!(
            w.enter(0, id(101), "y", &headers(Role::Worker, "more")),
            None
        );
        assert_eq!(w.counts().refused_clusters, 1);
        assert_eq!(w.view(0).len(), MAX_CLUSTERS);
    }

    #[test]
    fn worker_throughput_over_the_window_falls_to_zero_when_idle() {
        let mut w = Watch::new();
        w.enter(0, id(1), "w1", &headers(Role::Worker, "c"));
        // 200 tasks a second, reported twice a second for 10 s.
        for i in 0..=20u64 {
            assert!(w.shout(i * S / 2, id(1), G, &worker(i * 100, 16)));
        }
        let now = 10 * S + S / 10;
        let n = &w.cluster(now, "c").expect("c").nodes[0];
        assert_eq!((n.done, n.held), (2000, 16));
        assert!(
            (180.0..=205.0).contains(&n.tasks_per_s),
            "{}",
            n.tasks_per_s
        );
        // Idle: no more reports (nothing changed); a window later the rate is 0.
        let later = 10 * S + RATE_WINDOW.as_nanos() as u64;
        let n = &w.cluster(later, "c").expect("c").nodes[0];
        assert_eq!(n.tasks_per_s, 0.0);
        assert_eq!(w.cluster(later, "c").expect("c").tasks_per_s, 0.0);
        // Midway it is falling, not gone.
        let mid = &w.cluster(12 * S, "c").expect("c").nodes[0];
        assert!(
            mid.tasks_per_s > 0.0 && mid.tasks_per_s < 180.0,
            "{}",
            mid.tasks_per_s
        );
    }

    #[test]
    fn a_batch_progresses_ends_and_is_kept() {
        let mut w = Watch::new();
        w.enter(0, id(1), "cl", &headers(Role::Client, "c"));
        w.enter(0, id(2), "w", &headers(Role::Worker, "c"));
        assert!(w.shout(0, id(1), G, &client(0, vec![batch(7, 100, 0, 16, false)])));
        assert!(w.shout(S, id(1), G, &client(2, vec![batch(7, 100, 60, 16, false)])));
        let v = w.cluster(S, "c").expect("c");
        assert_eq!(v.batches.len(), 1);
        let b = &v.batches[0];
        assert_eq!(
            (b.state, b.status.done, b.status.at_workers),
            (BatchState::Running, 60, 16)
        );
        assert_eq!(b.status.pending(), 24);
        assert_eq!(b.client_name, "cl");
        assert!((55.0..=65.0).contains(&b.tasks_per_s), "{}", b.tasks_per_s);
        assert_eq!(v.redealt, 2);
        // It ends (listed once more as ended), then is no longer listed: it stays, done.
        assert!(w.shout(
            2 * S,
            id(1),
            G,
            &client(2, vec![batch(7, 100, 100, 0, true)])
        ));
        assert!(w.shout(3 * S, id(1), G, &client(2, vec![])));
        let v = w.cluster(10 * S, "c").expect("c");
        let b = &v.batches[0];
        assert_eq!((b.state, b.status.done), (BatchState::Done, 100));
        assert_eq!(b.elapsed, Duration::from_secs(2));
        assert_eq!(b.tasks_per_s, 0.0);
        // A report of it after the end changes nothing.
        w.shout(
            11 * S,
            id(1),
            G,
            &client(2, vec![batch(7, 100, 5, 0, false)]),
        );
        assert_eq!(
            w.cluster(11 * S, "c").expect("c").batches[0].state,
            BatchState::Done
        );
    }

    #[test]
    fn abandoned_unlisted_and_orphaned_batches() {
        let mut w = Watch::new();
        w.enter(0, id(1), "cl", &headers(Role::Client, "c"));
        w.shout(
            0,
            id(1),
            G,
            &client(
                0,
                vec![
                    batch(1, 10, 2, 0, false),
                    batch(2, 10, 3, 0, false),
                    batch(3, 10, 4, 0, false),
                ],
            ),
        );
        // 1 ended early, 2 is left out without a word, 3 goes on.
        w.shout(
            S,
            id(1),
            G,
            &client(5, vec![batch(1, 10, 2, 0, true), batch(3, 10, 5, 0, false)]),
        );
        let state = |w: &Watch, id: u64| {
            w.cluster(2 * S, "c")
                .expect("c")
                .batches
                .iter()
                .find(|b| b.status.batch == id)
                .map(|b| b.state)
        };
        assert_eq!(state(&w, 1), Some(BatchState::Abandoned));
        assert_eq!(state(&w, 2), Some(BatchState::Lost));
        assert_eq!(state(&w, 3), Some(BatchState::Running));
        // Running first, then the ended ones.
        let v = w.cluster(2 * S, "c").expect("c");
        assert_eq!(v.batches[0].status.batch, 3);
        // The client leaves: its open batch is lost, the client shown gone, its re-deals kept.
        w.exit(2 * S, id(1));
        assert_eq!(state(&w, 3), Some(BatchState::Lost));
        let v = w.cluster(2 * S, "c").expect("c");
        assert!(v.nodes[0].gone);
        assert_eq!(v.redealt, 5);
        // A status from it now is refused.
        assert!(!w.shout(3 * S, id(1), G, &client(6, vec![])));
        assert_eq!(w.counts().unexpected, 1);
        // After KEEP_GONE it is gone from the view; its re-deals still count.
        let later = 2 * S + KEEP_GONE.as_nanos() as u64;
        w.prune(later);
        let v = w.cluster(later, "c").expect("c");
        assert!(v.nodes.is_empty());
        assert_eq!(v.redealt, 5);
    }

    #[test]
    fn refused_reports() {
        let mut w = Watch::new();
        w.enter(0, id(1), "w", &headers(Role::Worker, "c"));
        w.enter(0, id(2), "other", &headers(Role::Worker, "d"));
        // Not a status group, or one of no watched cluster: not looked at.
        assert!(!w.shout(0, id(1), "chat", &worker(1, 0)));
        assert!(!w.shout(0, id(1), "pipeline/zz/status", &worker(1, 0)));
        assert_eq!(w.counts(), WatchCounts::default());
        // Garbage, two frames, another message.
        assert!(!w.shout(0, id(1), G, &[Bytes::from_static(b"junk")]));
        let two = [worker(1, 0)[0].clone(), worker(1, 0)[0].clone()];
        assert!(!w.shout(0, id(1), G, &two));
        assert!(!w.shout(0, id(1), G, &[Msg::Credit { n: 1 }.encode()]));
        assert_eq!(w.counts().malformed, 3);
        // A worker's report claiming to be a client's; a node of another cluster; a stranger.
        assert!(!w.shout(0, id(1), G, &client(0, vec![])));
        assert!(!w.shout(0, id(2), G, &worker(1, 0)));
        assert!(!w.shout(0, id(9), G, &worker(1, 0)));
        assert_eq!(w.counts().unexpected, 3);
        assert!(w.shout(0, id(1), G, &worker(1, 0)));
        assert_eq!(w.counts().statuses, 1);
    }

    #[test]
    fn ended_batches_and_gone_nodes_are_bounded() {
        let mut w = Watch::new();
        w.enter(0, id(1), "cl", &headers(Role::Client, "c"));
        for i in 0..(KEEP_ENDED as u64 * 3) {
            w.shout(i * S, id(1), G, &client(0, vec![batch(i, 5, 5, 0, true)]));
        }
        let v = w.cluster(1000 * S, "c").expect("c");
        assert_eq!(v.batches.len(), KEEP_ENDED);
        // The newest are kept, newest first.
        assert_eq!(v.batches[0].status.batch, KEEP_ENDED as u64 * 3 - 1);
        for i in 0..(MAX_GONE as u8 + 10) {
            let p = PeerId::from_bytes([i, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7]);
            w.enter(u64::from(i), p, "w", &headers(Role::Worker, "c"));
            w.exit(u64::from(i), p);
        }
        let v = w.cluster(100, "c").expect("c");
        assert_eq!(v.nodes.iter().filter(|n| n.gone).count(), MAX_GONE);
    }

    #[test]
    fn a_worker_that_left_has_no_throughput() {
        let mut w = Watch::new();
        w.enter(0, id(1), "w1", &headers(Role::Worker, "c"));
        w.enter(0, id(2), "w2", &headers(Role::Worker, "c"));
        for i in 0..4u64 {
            w.shout(i * S / 2, id(1), G, &worker(i * 50, 8));
            w.shout(i * S / 2, id(2), G, &worker(i * 50, 8));
        }
        let c = w.cluster(2 * S, "c").expect("c");
        assert!(c.nodes.iter().all(|n| n.tasks_per_s > 0.0), "{c:?}");
        w.exit(2 * S, id(2));
        let c = w.cluster(2 * S, "c").expect("c");
        let (w1, w2) = (&c.nodes[0], &c.nodes[1]);
        assert!(w1.tasks_per_s > 0.0 && !w1.gone);
        assert_eq!((w2.tasks_per_s, w2.gone, w2.done), (0.0, true, 150));
        assert_eq!(c.tasks_per_s, w1.tasks_per_s);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enter(u8, u8, u8),
        Exit(u8),
        Report(u8, u8, Status),
        Junk(u8, Vec<u8>),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 0u8..3, 0u8..3).prop_map(|(p, r, c)| Op::Enter(p, r, c)),
            (0u8..6).prop_map(Op::Exit),
            (0u8..6, 0u8..3, crate::proto::tests::status())
                .prop_map(|(p, c, s)| Op::Report(p, c, s)),
            (0u8..6, proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(p, v)| Op::Junk(p, v)),
            (0u64..3 * S).prop_map(Op::Wait),
        ]
    }

    proptest! {
        /// Any sequence of entries, exits, reports (well-formed or not, from anyone) and waits:
        /// no panic, and the view keeps its promises.
        #[test]
        fn any_sequence_keeps_the_view_sane(ops in proptest::collection::vec(op(), 0..80)) {
            let roles = [Role::Client, Role::Worker, Role::Collector];
            let mut w = Watch::new();
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Enter(p, r, c) => {
                        w.enter(now, id(p), &format!("n{p}"), &headers(roles[r as usize], &format!("c{c}")));
                    }
                    Op::Exit(p) => w.exit(now, id(p)),
                    Op::Report(p, c, s) => {
                        w.shout(now, id(p), &format!("pipeline/c{c}/status"), &frame(s));
                    }
                    Op::Junk(p, v) => {
                        w.shout(now, id(p), "pipeline/c0/status", &[Bytes::from(v)]);
                    }
                    Op::Wait(d) => now += d,
                }
                for c in w.view(now) {
                    prop_assert!(c.batches.iter().filter(|b| b.state != BatchState::Running).count() <= KEEP_ENDED);
                    prop_assert!(c.nodes.iter().filter(|n| n.gone).count() <= MAX_GONE);
                    prop_assert!(c.tasks_per_s.is_finite() && c.tasks_per_s >= 0.0);
                    for b in &c.batches {
                        let s = &b.status;
                        prop_assert!(s.done + s.at_workers + s.at_collector <= s.total);
                        prop_assert!(b.tasks_per_s.is_finite() && b.tasks_per_s >= 0.0);
                        prop_assert!(b.state == BatchState::Running || b.tasks_per_s == 0.0);
                    }
                    // Running batches come first.
                    let first_ended = c.batches.iter().position(|b| b.state != BatchState::Running);
                    if let Some(i) = first_ended {
                        prop_assert!(c.batches[i..].iter().all(|b| b.state != BatchState::Running));
                    }
                }
            }
        }

        /// A counter growing at a steady rate, reported at any steady interval up to a second:
        /// the rate is measured within 15 %.
        #[test]
        fn steady_rates_are_measured(per_s in 1u64..100_000, every_ms in 50u64..1000) {
            let mut w = Watch::new();
            w.enter(0, id(1), "w", &headers(Role::Worker, "c"));
            let step = every_ms * 1_000_000;
            let mut t = 0;
            while t <= 12 * S {
                w.shout(t, id(1), G, &worker(per_s * t / S, 0));
                t += step;
            }
            let got = w.cluster(t - step, "c").expect("c").nodes[0].tasks_per_s;
            let want = per_s as f64;
            prop_assert!((got - want).abs() <= want * 0.15 + 1.0, "{got} for {want}");
        }
    }
}
