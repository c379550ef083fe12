//! The simulated world: the event queue, hosts, processes, links and beacons, and the oracle.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ryre_proto::rendezvous::agent::{AgentOutput, AgentState, ConnId};
use ryre_proto::rendezvous::client::ClientState;
use ryre_proto::rendezvous::{BeaconSpec, Registration};
use ryre_proto::zgp::{self, Server, ServerConfig, ServerOutput};
use ryre_proto::{
    Command, Config, Content, Event, ExitReason, Frames, Input, NodeState, PeerId, Transmit,
};

use crate::{Join, Options, Rng, TraceHash};

/// Hash maps with a fixed-seed fast hasher: deterministic, and far cheaper than SipHash on the
/// simulator's hot paths (links, connections, the oracle's windows).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// The event queue: binary heaps of 16-byte keys (time in nanoseconds, then the order the event
/// was scheduled in, so the run is deterministic; then the payload's slot), earliest first, with
/// the payloads in a slab. A heap of whole events moved 72 bytes per level on every push and pop
/// (13 % of a 1,000-node run's time in `BinaryHeap::pop`).
///
/// Two heaps: events due within [`EventQueue::NEAR`] of the time they are scheduled at (link
/// and rendezvous deliveries: nearly all of them) and the rest (wake-ups, the workload, faults
/// planned at the start: the bulk of what waits). A pop takes the earlier of the two tops, so
/// the order is the one a single heap gives, and the busy heap is a few levels deep where the
/// single one was eight or nine.
#[derive(Default)]
struct EventQueue {
    near: BinaryHeap<Reverse<u128>>,
    far: BinaryHeap<Reverse<u128>>,
    /// The time of the last event popped (nanoseconds).
    now: u64,
    slots: Vec<Ev>,
    free: Vec<u32>,
}

impl EventQueue {
    const LOW: u32 = 32;
    const N_BITS: u32 = 48;
    /// What counts as near: 2.5 ms (above the default link latency, 0.2-2 ms; only the cost
    /// depends on it, not the order).
    const NEAR: u64 = 2_500_000;

    /// Schedules `ev` at `at` nanoseconds, `n`-th in the order of scheduling.
    fn push(&mut self, at: u64, n: u64, ev: Ev) {
        let idx = match self.free.pop() {
            Some(i) => {
                // A free slot holds `Ev::End` (left by `pop`): nothing to drop.
                let old = std::mem::replace(&mut self.slots[i as usize], ev);
                debug_assert!(matches!(old, Ev::End));
                std::mem::forget(old);
                i
            }
            None => {
                self.slots.push(ev);
                (self.slots.len() - 1) as u32
            }
        };
        let near = at < self.now + Self::NEAR;
        let at = u128::from(at);
        debug_assert!(at < 1 << 48 && u128::from(n) < 1 << Self::N_BITS);
        let key =
            (at << (Self::N_BITS + Self::LOW)) | (u128::from(n) << Self::LOW) | u128::from(idx);
        if near {
            self.near.push(Reverse(key));
        } else {
            self.far.push(Reverse(key));
        }
    }

    /// The next event and its time in nanoseconds.
    fn pop(&mut self) -> Option<(u64, Ev)> {
        let near = match (self.near.peek(), self.far.peek()) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let Reverse(key) = if near {
            self.near.pop()?
        } else {
            self.far.pop()?
        };
        let idx = (key as u32) as usize;
        let at = (key >> (Self::N_BITS + Self::LOW)) as u64;
        self.now = at;
        let ev = std::mem::replace(&mut self.slots[idx], Ev::End);
        self.free.push(idx as u32);
        Some((at, ev))
    }
}

/// Something the oracle found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Simulated time (from the start of the run).
    pub at: Duration,
    /// What rule, and who.
    pub what: String,
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options of the run.
    pub options: Options,
    /// A hash over every event of the run, in order: the same seed and commit give the same.
    pub trace_hash: u64,
    /// Simulated time at the end.
    pub simulated: Duration,
    /// Events the simulator processed.
    pub events: u64,
    /// Calls into the real state machines (heart inputs and timeouts, agent and client inputs).
    pub heart_events: u64,
    /// ZRE messages delivered over links.
    pub messages: u64,
    /// Beacons delivered to agents.
    pub beacons: u64,
    /// ENTER events seen.
    pub enters: u64,
    /// ZGP frames delivered over gossip links, both ways ([`Join::Agents`](crate::Join)).
    pub gossip_frames: u64,
    /// When every pair of the nodes started at time 0 first knew each other (only when none of
    /// them died before).
    pub all_known_at: Option<Duration>,
    /// Wall-clock time from the start of the run to [`Report::all_known_at`] (a measurement,
    /// not part of the trace: it differs from run to run).
    pub all_known_wall: Option<Duration>,
    /// Ordered pairs (observer, peer) of live nodes that know each other at the end.
    pub pairs_known: u64,
    /// Ordered pairs of live nodes at the end.
    pub pairs_total: u64,
    /// Live nodes at the end.
    pub live: usize,
    /// Faults injected (crash, stop, restart, pause, partition, reset, agent kill).
    pub faults: u64,
    /// Faults the seed planned (before [`Options::fault_keep`](crate::Options::fault_keep)
    /// picks some; a partition and its end count as two).
    pub planned_faults: u64,
    /// When the faults healed.
    pub healed_at: Duration,
    /// The convergence curve: (simulated time, share of live ordered pairs that know each
    /// other), sampled every 100 ms.
    pub curve: Vec<(Duration, f64)>,
    /// Everything the oracle found (empty: the run passed).
    pub violations: Vec<Violation>,
}

type Time = Duration;

#[derive(Debug, Clone)]
enum Ev {
    Start(usize),
    Wake(usize, u32),
    Act(usize, u32),
    /// Link id.
    Deliver(u64),
    /// Rendezvous connection id, towards the agent (true) or the client.
    RvDeliver(u64, bool),
    /// Gossip link id, towards the hub (true) or the agent.
    GossipDeliver(u64, bool),
    Beacon {
        to_host: usize,
        from: Ipv4Addr,
        data: Bytes,
    },
    /// The next delivery of a broadcast ([`World::fanouts`]).
    Fanout(u32),
    Fault(Fault),
    Heal,
    Sample,
    End,
}

#[derive(Debug, Clone)]
enum Fault {
    Crash(usize),
    Stop(usize),
    Restart(usize),
    Pause(usize, Duration),
    Resume(usize, u32),
    Partition(usize, usize, PartKind),
    Unpartition(usize, usize, PartKind),
    Reset(usize),
    AgentKill(usize),
    /// A host's clock jumps forward.
    ClockJump(usize, Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PartKind {
    /// Nothing passes either way.
    Both,
    /// Nothing passes from the first host to the second.
    OneWay,
    /// Beacons pass, links do not.
    TcpOnly,
}

struct Proc {
    id: PeerId,
    heart: NodeState,
    client: ClientState,
    agent: Option<AgentState>,
    /// The client's connection to its host's agent.
    conn: Option<u64>,
    paused: bool,
    /// Input that arrived while paused, replayed at resume.
    deferred: Vec<Ev>,
    /// Links by peer (a hash map: every send looks its link up here; the one walk over it that
    /// needs an order, [`Fault::Reset`]'s choice, sorts by peer as the tree map it was did).
    links: HashMap<PeerId, u64>,
    /// The oracle's small number for this process's id ([`World::number`]).
    num: u32,
    /// The last deadline (on its host's clock) [`World::reschedule`] mapped to simulated time,
    /// and that time (before the clamp to now); forgotten when the host's clock jumps.
    wake_memo: Option<(Instant, Time)>,
    groups: BTreeSet<String>,
    seq: u64,
    /// The pending wake-up (simulated time), and the deadline (on the host's clock) it is for.
    scheduled: Option<Time>,
    scheduled_local: Option<Instant>,
    /// The gossip hub this process binds ([`Join::Agents`]: slot 0's), as `gossip_bind` does.
    hub: Option<Server>,
    /// Its agent's gossip links (DEALERs), by hub endpoint.
    gossip: BTreeMap<String, u64>,
}

/// A gossip link: an agent's DEALER to the hub's ROUTER, ordered both ways with latency.
struct GossipLink {
    agent: usize,
    agent_inc: u32,
    /// The hub endpoint the agent named (what it is told frames come from).
    hub: String,
    /// The routing id the hub's ROUTER knows this connection by (a new one when it reconnects).
    rid: u64,
    /// Frames in flight: (arrival in nanoseconds, frame), towards the hub and the agent.
    to_hub: VecDeque<(u64, Bytes)>,
    to_agent: VecDeque<(u64, Bytes)>,
    last_hub: u64,
    last_agent: u64,
    scheduled_hub: bool,
    scheduled_agent: bool,
    /// The agent closed it: what is queued for the hub is delivered, then it goes.
    closing: bool,
}

struct Slot {
    host: usize,
    ip: Ipv4Addr,
    endpoint: String,
    incarnation: u32,
    proc: Option<Proc>,
    /// Ids of every incarnation, and whether it ended (crash or stop).
    ever: Vec<PeerId>,
}

struct Host {
    ip: Ipv4Addr,
    subnet: usize,
    /// The slot whose process holds the rendezvous (and hosts the agent).
    holder: Option<usize>,
    slots: Vec<usize>,
    /// Its clock: `base + offset + now * rate` (clock skew and jumps).
    rate: f64,
    offset: Duration,
    /// `base + offset`, kept as offset changes (one Instant sum per clock reading, not two).
    origin: Instant,
}

struct Link {
    from: usize,
    from_inc: u32,
    sender: PeerId,
    /// The oracle's number for `sender`.
    sender_num: u32,
    to: usize,
    queue: LinkQueue,
    next_idx: u64,
    /// When the last message sent arrives (nanoseconds of simulated time).
    last_arrival: u64,
    scheduled: bool,
    /// The sender stopped cleanly: deliver what is queued, then go.
    draining: bool,
    /// A reset loses the next message sent.
    drop_next: bool,
}

/// A link's queue: (arrival in nanoseconds, index on the link, frames).
type LinkQueue = VecDeque<(u64, u64, Frames)>;

/// Empty link queues that kept their buffers, for the next link that needs one: an idle link
/// gives its buffer back (a million idle links each holding one were a third of a 1,000-node
/// run's memory), and taking a fresh one for every message of a quiet link was an allocation
/// and a free per message (4 % of a shouting swarm run). At most [`QueuePool::KEEP`] buffers of
/// at most [`QueuePool::SMALL`] slots are kept (about 400 KiB).
#[derive(Default)]
struct QueuePool {
    spare: Vec<LinkQueue>,
}

impl QueuePool {
    const KEEP: usize = 1024;
    const SMALL: usize = 16;

    /// Gives `queue`'s buffer to the pool when it is empty (kept or freed).
    fn put(&mut self, queue: &mut LinkQueue) {
        if queue.is_empty() && queue.capacity() > 0 {
            let q = std::mem::take(queue);
            if q.capacity() <= Self::SMALL && self.spare.len() < Self::KEEP {
                self.spare.push(q);
            }
        }
    }

    /// A buffer for `queue` when it has none.
    fn fill(&mut self, queue: &mut LinkQueue) {
        if queue.capacity() == 0 {
            if let Some(q) = self.spare.pop() {
                // The queue it replaces holds nothing, not even a buffer: no drop to run
                // (dropping an empty `VecDeque` still walked its two empty halves).
                std::mem::forget(std::mem::replace(queue, q));
            }
        }
    }
}

/// The links by id: the links themselves in a slab, an id -> slot index beside them. A hash map
/// of whole links doubled its 96-byte slots when a million links passed a power of two. Link ids
/// are handed out in order and never reused, so the index is a vector by id (slot + 1; 0: none):
/// one array read per lookup where a hash probe missed the cache twice (4 bytes per id ever
/// used: 4 MB at a million links).
#[derive(Default)]
struct LinkTable {
    index: Vec<u32>,
    slots: Vec<Option<Link>>,
    free: Vec<u32>,
}

impl LinkTable {
    fn slot_of(&self, id: u64) -> Option<usize> {
        let i = *self.index.get(usize::try_from(id).ok()?)?;
        (i != 0).then(|| i as usize - 1)
    }

    fn insert(&mut self, id: u64, link: Link) {
        if let Some(i) = self.slot_of(id) {
            self.slots[i] = Some(link);
            return;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(link);
                i
            }
            None => {
                self.slots.push(Some(link));
                (self.slots.len() - 1) as u32
            }
        };
        let at = id as usize;
        if self.index.len() <= at {
            self.index.resize(at + 1, 0);
        }
        self.index[at] = i + 1;
    }

    fn get_mut(&mut self, id: &u64) -> Option<&mut Link> {
        let i = self.slot_of(*id)?;
        self.slots[i].as_mut()
    }

    fn contains_key(&self, id: &u64) -> bool {
        self.slot_of(*id).is_some()
    }

    fn remove(&mut self, id: &u64) -> Option<Link> {
        let i = self.slot_of(*id)?;
        self.index[*id as usize] = 0;
        self.free.push(i as u32);
        self.slots[i].take()
    }

    /// Every link, in id order.
    fn iter(&self) -> impl Iterator<Item = (u64, &Link)> {
        self.index.iter().enumerate().filter_map(|(id, &i)| {
            let link = self.slots.get((i as usize).checked_sub(1)?)?.as_ref()?;
            Some((id as u64, link))
        })
    }
}

struct RvConn {
    client: usize,
    client_inc: u32,
    agent: usize,
    agent_inc: u32,
    to_agent: VecDeque<Bytes>,
    to_client: VecDeque<Bytes>,
    /// Closed by one side; the other hears it after what was queued.
    closing: bool,
    agent_done: bool,
    client_done: bool,
}

/// The oracle's knowledge of what one observer (an incarnation) has seen of one peer: 24 bytes,
/// under an 8-byte key (there is one per ordered pair: a million at 1,000 nodes).
#[derive(Default)]
struct Window {
    /// The link the observer's window runs on (when `has_link`).
    link: u64,
    /// The last index delivered from that link.
    idx: u32,
    /// Last workload sequence delivered (shouts and whispers share it; 0: none yet).
    last_seq: u32,
    /// The groups the observer saw the peer join, as bits of [`World::group_bit`] (a set of
    /// strings per window cost hundreds of bytes per pair: a gigabyte at 1,000 nodes).
    groups: u32,
    inside: bool,
    has_link: bool,
}

/// What the oracle knows of one id (one incarnation of a process).
#[derive(Default, Clone, Copy)]
struct Facts {
    /// Every workload sequence it sent is at most this (0: none).
    sent_seq: u64,
    /// The groups it ever joined, as bits of [`World::group_bit`].
    joined: u32,
    /// Whether its process ended (crash or stop), and whether cleanly.
    ended: Option<bool>,
}

/// One broadcast beacon on its way to every receiver: the deliveries sorted by (time, sequence
/// number), each with the sequence number its own event had when every delivery was an event.
/// One entry in the event queue per broadcast (put back for the next delivery as each is made)
/// where there was one per receiver (999 per beacon at 1,000 nodes): the same order of events,
/// a queue a tenth the size.
struct Fanout {
    from: Ipv4Addr,
    data: Bytes,
    /// (arrival in nanoseconds, sequence number, receiving host)
    deliveries: Vec<(u64, u64, usize)>,
    /// The next delivery to make.
    next: usize,
}

struct World {
    o: Options,
    base: Instant,
    /// When the run started, in real time (for [`Report::all_known_wall`]).
    started: Instant,
    now: Time,
    /// `now` in nanoseconds.
    now_ns: u64,
    /// The link latency range in nanoseconds.
    latency_ns: (u64, u64),
    rng: Rng,
    queue: EventQueue,
    next_ev: u64,
    slots: Vec<Slot>,
    hosts: Vec<Host>,
    by_endpoint: HashMap<String, usize>,
    links: LinkTable,
    queue_pool: QueuePool,
    /// Broadcasts in flight, by [`Ev::Fanout`] id; free ids.
    fanouts: Vec<Option<Fanout>>,
    fanout_free: Vec<u32>,
    /// A cleared deliveries vector for the next broadcast.
    spare_deliveries: Vec<(u64, u64, usize)>,
    /// Reused buffers of [`World::rv_deliver`]: the frames taken off a connection, the inputs
    /// a client made of them.
    rv_scratch: Vec<Bytes>,
    rv_inputs: Vec<Input>,
    next_link: u64,
    conns: HashMap<u64, RvConn>,
    next_conn: u64,
    partitions: BTreeSet<(usize, usize, PartKind)>,
    hash: TraceHash,
    report: Report,
    /// The windows by observer and peer, by their numbers ([`World::number`]): one row per
    /// observer, grown as its peers' numbers come (two array reads where a hash map by the
    /// pair's key took two probes per message).
    windows: Vec<Vec<Window>>,
    /// The last id [`World::number`] was asked for, and its number (most events are about
    /// the peer whose message was just delivered).
    number_memo: (PeerId, u32),
    /// A small number for every id the oracle has met (window keys are two of them; the
    /// index of its [`Facts`]).
    numbers: HashMap<PeerId, u32>,
    /// What the oracle knows of each id, by its number: one lookup per event where four hash
    /// maps by id were four.
    facts: Vec<Facts>,
    /// Ordered pairs (observer, peer) currently inside a window, among live processes.
    known: u64,
    initial: BTreeSet<PeerId>,
    initial_broken: bool,
    healed: bool,
    /// Links holding messages for a slot whose process is down, by slot.
    held: HashMap<usize, Vec<u64>>,
    /// Group names the oracle has seen, in order: their index is their bit in a window.
    group_names: Vec<String>,
    /// `RYRE_SIM_DEBUG=<hex prefix>`: print every event whose observer or peer starts so.
    debug: Option<String>,
    /// The slot whose process binds the gossip hub ([`Join::Agents`]), and its endpoint.
    hub_slot: Option<usize>,
    hub_endpoint: String,
    /// Gossip links by id, and by the routing id the hub knows them by.
    gossip_links: BTreeMap<u64, GossipLink>,
    routes: HashMap<u64, u64>,
    next_gossip: u64,
}

/// The TCP port the gossip hub of a [`Join::Agents`](crate::Join) run binds on its host.
pub const HUB_PORT: u16 = 49_999;

const GROUP: &str = "all";
const CHURN: &str = "churn";
/// The contested group of [`Options::elections`](crate::Options::elections).
const LEAD: &str = "lead";
const SAMPLE: Duration = Duration::from_millis(100);
const RV_LATENCY: Duration = Duration::from_micros(20);
/// The workload's last action is at least this long before the liveness check.
const QUIET: Duration = Duration::from_secs(2);

/// Runs one simulation to its end and checks it.
pub fn run(o: &Options) -> Report {
    let mut w = World::new(o.clone());
    w.run();
    w.finish()
}

/// `d * rate`, exact for rate 1.
fn scale(d: Duration, rate: f64) -> Duration {
    if rate == 1.0 {
        d
    } else {
        Duration::from_nanos((nanos(d) as f64 * rate) as u64)
    }
}

/// `d` in nanoseconds as a u64 (simulated times are far below the 584 years that overflow it).
/// Converting a u64 to f64 gives the value converting the u128 of `as_nanos` gave, without the
/// software u128 -> f64 conversion that was 2 % of a skewed swarm run.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn dur(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.max(0.0))
}

impl World {
    fn new(o: Options) -> Self {
        let mut rng = Rng::new(o.seed);
        let base = Instant::now();
        let hosts: Vec<Host> = (0..o.hosts.max(1))
            .map(|h| {
                let subnet = h % o.subnets.max(1);
                let n = (h / o.subnets.max(1)) as u32 + 1;
                Host {
                    ip: Ipv4Addr::new(10, subnet as u8, (n >> 8) as u8, n as u8),
                    subnet,
                    holder: None,
                    slots: Vec::new(),
                    rate: 1.0,
                    offset: Duration::ZERO,
                    origin: base,
                }
            })
            .collect();
        let mut w = World {
            report: Report {
                options: o.clone(),
                trace_hash: 0,
                simulated: Duration::ZERO,
                events: 0,
                heart_events: 0,
                messages: 0,
                beacons: 0,
                enters: 0,
                gossip_frames: 0,
                all_known_at: None,
                all_known_wall: None,
                pairs_known: 0,
                pairs_total: 0,
                live: 0,
                faults: 0,
                planned_faults: 0,
                healed_at: dur(o.seconds),
                curve: Vec::new(),
                violations: Vec::new(),
            },
            base,
            started: Instant::now(),
            now: Duration::ZERO,
            now_ns: 0,
            latency_ns: (nanos(o.latency.0), nanos(o.latency.1)),
            queue: EventQueue::default(),
            next_ev: 0,
            slots: Vec::new(),
            hosts,
            by_endpoint: HashMap::default(),
            links: LinkTable::default(),
            queue_pool: QueuePool::default(),
            fanouts: Vec::new(),
            fanout_free: Vec::new(),
            spare_deliveries: Vec::new(),
            rv_scratch: Vec::new(),
            rv_inputs: Vec::new(),
            next_link: 1,
            conns: HashMap::default(),
            next_conn: 1,
            partitions: BTreeSet::new(),
            hash: TraceHash::default(),
            windows: Vec::new(),
            number_memo: (PeerId::from_bytes([0; 16]), u32::MAX),
            numbers: HashMap::default(),
            facts: Vec::new(),
            known: 0,
            initial: BTreeSet::new(),
            initial_broken: false,
            healed: false,
            held: HashMap::default(),
            group_names: Vec::new(),
            debug: std::env::var("RYRE_SIM_DEBUG").ok(),
            rng: rng.fork(),
            hub_slot: None,
            hub_endpoint: String::new(),
            gossip_links: BTreeMap::new(),
            routes: HashMap::default(),
            next_gossip: 1,
            o,
        };
        if w.o.join == Join::Agents && w.o.nodes > 0 {
            w.hub_slot = Some(0);
            w.hub_endpoint = format!("tcp://{}:{HUB_PORT}", w.hosts[0].ip);
        }
        for i in 0..w.o.nodes {
            let host = i % w.hosts.len();
            let local = w.hosts[host].slots.len();
            let ip = w.hosts[host].ip;
            let endpoint = format!("tcp://{ip}:{}", 40000 + local);
            w.hosts[host].slots.push(i);
            w.by_endpoint.insert(endpoint.clone(), i);
            w.slots.push(Slot {
                host,
                ip,
                endpoint,
                incarnation: 0,
                proc: None,
                ever: Vec::new(),
            });
            let at = Duration::from_nanos(rng.below(w.o.stagger.as_nanos() as u64 + 1));
            w.push(at, Ev::Start(i));
        }
        if w.o.skew > 0.0 {
            // A separate stream: runs without skew draw exactly what they drew before.
            let mut r = Rng::new(w.o.seed ^ 0x736b_6577);
            let skew = w.o.skew.clamp(0.0, 0.9);
            for h in &mut w.hosts {
                h.rate = 1.0 - skew + 2.0 * skew * r.below(1_000_001) as f64 / 1e6;
            }
        }
        w.plan_faults(&mut rng);
        let heal = dur(w.o.seconds);
        w.push(heal, Ev::Heal);
        w.push(heal + w.o.settle_bound(), Ev::End);
        w.push(Duration::ZERO, Ev::Sample);
        w
    }

    fn plan_faults(&mut self, rng: &mut Rng) {
        let f = self.o.faults.clone();
        let start = self.o.stagger.as_secs_f64();
        let end = self.o.seconds;
        if end <= start {
            return;
        }
        let minutes = (end - start) / 60.0;
        let n = self.o.nodes as f64;
        let h = self.hosts.len() as f64;
        let plan =
            |rng: &mut Rng, rate: f64, count: f64, make: &mut dyn FnMut(&mut Rng) -> Fault| {
                let expected = rate * count * minutes;
                let mut k = expected.floor() as u64;
                if rng.chance(expected - expected.floor()) {
                    k += 1;
                }
                (0..k)
                    .map(|_| {
                        let at = start + (end - start) * rng.below(1_000_000) as f64 / 1e6;
                        (dur(at), make(rng))
                    })
                    .collect::<Vec<_>>()
            };
        let nodes = self.o.nodes as u64;
        let hosts = self.hosts.len() as u64;
        let mut all = Vec::new();
        all.extend(plan(rng, f.crash, n, &mut |r| {
            Fault::Crash(r.below(nodes) as usize)
        }));
        all.extend(plan(rng, f.stop, n, &mut |r| {
            Fault::Stop(r.below(nodes) as usize)
        }));
        let pause_max = f.pause_max.as_nanos().max(1) as u64;
        all.extend(plan(rng, f.pause, n, &mut |r| {
            Fault::Pause(
                r.below(nodes) as usize,
                Duration::from_nanos(r.range(1, pause_max)),
            )
        }));
        all.extend(plan(rng, f.reset, n, &mut |r| {
            Fault::Reset(r.below(nodes) as usize)
        }));
        all.extend(plan(rng, f.agent_kill, h, &mut |r| {
            Fault::AgentKill(r.below(hosts) as usize)
        }));
        if hosts > 1 {
            let part_max = f.partition_max.as_nanos().max(1) as u64;
            let parts = plan(rng, f.partition, h, &mut |r| {
                let a = r.below(hosts) as usize;
                let b = (a + 1 + r.below(hosts - 1) as usize) % hosts as usize;
                let kind =
                    [PartKind::Both, PartKind::OneWay, PartKind::TcpOnly][r.below(3) as usize];
                Fault::Partition(a, b, kind)
            });
            for (at, p) in parts {
                if let Fault::Partition(a, b, k) = p {
                    let len = Duration::from_nanos(rng.range(1, part_max));
                    all.push((at, Fault::Partition(a, b, k)));
                    all.push(((at + len).min(dur(end)), Fault::Unpartition(a, b, k)));
                }
            }
        }
        self.report.planned_faults = all.len() as u64;
        let keep: Option<BTreeSet<u32>> = self
            .o
            .fault_keep
            .as_ref()
            .map(|k| k.iter().copied().collect());
        for (i, (at, fault)) in all.into_iter().enumerate() {
            let restart = matches!(
                fault,
                Fault::Crash(_) | Fault::Stop(_) | Fault::AgentKill(_)
            ) && rng.chance(f.restart);
            let slot_hint = match fault {
                Fault::Crash(s) | Fault::Stop(s) => Some(s),
                _ => None,
            };
            let later = restart.then(|| at + Duration::from_millis(rng.range(10, 10_000)));
            // A fault left out (shrinking) still draws its numbers, so the others stay the same.
            if keep.as_ref().is_some_and(|k| !k.contains(&(i as u32))) {
                continue;
            }
            self.push(at, Ev::Fault(fault));
            if let (Some(later), Some(s)) = (later, slot_hint) {
                self.push(later.min(dur(end)), Ev::Fault(Fault::Restart(s)));
            }
        }
        // Planned after the others, so runs without them draw what they drew before.
        let jump_max = f.clock_jump_max.as_nanos().max(1) as u64;
        let jumps = plan(rng, f.clock_jump, h, &mut |r| {
            Fault::ClockJump(
                r.below(hosts) as usize,
                Duration::from_nanos(r.range(1, jump_max)),
            )
        });
        let first = self.report.planned_faults as u32;
        self.report.planned_faults += jumps.len() as u64;
        for (i, (at, fault)) in jumps.into_iter().enumerate() {
            if keep
                .as_ref()
                .is_none_or(|k| k.contains(&(first + i as u32)))
            {
                self.push(at, Ev::Fault(fault));
            }
        }
    }

    fn push(&mut self, at: Time, ev: Ev) {
        self.push_ns(nanos(at), ev);
    }

    /// [`World::push`] with the time in nanoseconds.
    fn push_ns(&mut self, at: u64, ev: Ev) {
        let n = self.next_ev;
        self.next_ev += 1;
        self.queue.push(at, n, ev);
    }

    /// What the clock of `slot`'s host reads now.
    fn at(&self, slot: usize) -> Instant {
        let h = &self.hosts[self.slots[slot].host];
        // `scale(self.now, h.rate)`, from the nanoseconds at hand.
        let local = if h.rate == 1.0 {
            self.now_ns
        } else {
            (self.now_ns as f64 * h.rate) as u64
        };
        h.origin + Duration::from_nanos(local)
    }

    /// The simulated time at which `slot`'s host clock reads `t` (it may have passed).
    fn when_raw(&self, slot: usize, t: Instant) -> Time {
        let h = &self.hosts[self.slots[slot].host];
        let local = t.saturating_duration_since(h.origin);
        let mut g = if h.rate == 1.0 {
            local
        } else {
            Duration::from_nanos((nanos(local) as f64 / h.rate).ceil() as u64)
        };
        // Rounding must never wake a node before its deadline has come on its own clock.
        while h.origin + scale(g, h.rate) < t {
            g += Duration::from_nanos(1);
        }
        g
    }

    fn violation(&mut self, what: String) {
        if self.report.violations.len() < 100 {
            self.report
                .violations
                .push(Violation { at: self.now, what });
        }
    }

    fn trace(&mut self, tag: u8, a: u64, b: u64) {
        self.hash.add_u64(self.now.as_nanos() as u64);
        self.hash.add(&[tag]);
        self.hash.add_u64(a);
        self.hash.add_u64(b);
    }

    fn run(&mut self) {
        while let Some((at, ev)) = self.queue.pop() {
            self.now = Duration::from_nanos(at);
            self.now_ns = at;
            self.report.events += 1;
            if let Ev::End = ev {
                break;
            }
            self.dispatch(ev);
        }
    }

    fn alive(&self, slot: usize, inc: u32) -> bool {
        let s = &self.slots[slot];
        s.incarnation == inc && s.proc.is_some()
    }

    /// Defers `ev` when the slot's process is paused; true when it may run now.
    fn runnable(&mut self, slot: usize, ev: &Ev) -> bool {
        match self.slots[slot].proc.as_mut() {
            Some(p) if p.paused => {
                p.deferred.push(ev.clone());
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Start(slot) => self.start(slot),
            Ev::Wake(slot, inc) => {
                if self.alive(slot, inc) && self.runnable(slot, &ev) {
                    let due = self.slots[slot].proc.as_ref().and_then(|p| p.scheduled);
                    if due == Some(self.now) {
                        if let Some(p) = self.slots[slot].proc.as_mut() {
                            p.scheduled = None;
                        }
                        self.timeouts(slot);
                    }
                }
            }
            Ev::Act(slot, inc) => {
                if self.alive(slot, inc) && self.runnable(slot, &ev) {
                    self.act(slot);
                }
            }
            Ev::Deliver(link) => self.deliver(link),
            Ev::RvDeliver(conn, to_agent) => self.rv_deliver(conn, to_agent),
            Ev::GossipDeliver(id, to_hub) => self.gossip_deliver(id, to_hub),
            Ev::Beacon {
                to_host,
                from,
                data,
            } => self.beacon_arrives(to_host, from, data),
            Ev::Fanout(id) => self.fanout(id),
            Ev::Fault(f) => self.fault(f),
            Ev::Heal => self.heal(),
            Ev::Sample => {
                let total = self.live_pairs();
                let share = if total == 0 {
                    1.0
                } else {
                    self.known as f64 / total as f64
                };
                self.report.curve.push((self.now, share));
                if self.report.all_known_at.is_none()
                    && !self.initial_broken
                    && self.initial.len() == self.o.nodes
                    && self.known == total
                    && total > 0
                {
                    self.report.all_known_at = Some(self.now);
                    self.report.all_known_wall = Some(self.started.elapsed());
                }
                self.push(self.now + SAMPLE, Ev::Sample);
            }
            Ev::End => {}
        }
    }

    fn live_pairs(&self) -> u64 {
        let live = self.slots.iter().filter(|s| s.proc.is_some()).count() as u64;
        live * live.saturating_sub(1)
    }

    // ---- processes ----

    fn start(&mut self, slot: usize) {
        if self.slots[slot].proc.is_some() {
            return;
        }
        let id = PeerId::from_bytes({
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
            b[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
            b
        });
        let (host, ip, endpoint) = {
            let s = &self.slots[slot];
            (s.host, s.ip, s.endpoint.clone())
        };
        let mut config = Config::new(id, format!("n{slot}"), endpoint.clone());
        config.evasive = self.o.evasive;
        config.expired = self.o.expired;
        // As the node's builder does: a quarter interval, at most 250 ms.
        config.rejoin_grace = (self.o.interval / 4).min(Duration::from_millis(250));
        let mut heart = NodeState::new(config);
        if self.o.broken_heart {
            heart.break_sequence_check();
        }
        let reg = Registration {
            id,
            name: format!("n{slot}"),
            endpoint,
            beacon: Some(BeaconSpec {
                addr: ip,
                broadcast: Ipv4Addr::new(10, ip.octets()[1], 255, 255),
                port: 5670,
                interval_ms: self.o.interval.as_millis() as u32,
            }),
            headers: Vec::new(),
            groups: Vec::new(),
            status: 0,
            proof: None,
        };
        let mut client = ClientState::new(reg, true);
        let is_hub = self.hub_slot == Some(slot);
        if self.hub_slot.is_some() && !is_hub {
            // As `gossip_via_agent`: the agent gossips for it through the hub, publishing its
            // endpoint with the gossip ttl the builder gives (`expired`).
            let ttl_ms = u32::try_from(self.o.expired.as_millis()).unwrap_or(u32::MAX);
            let value = client.registration().endpoint.clone();
            client.set_gossip(vec![self.hub_endpoint.clone()], value, ttl_ms);
        }
        let num = self.number(id);
        let s = &mut self.slots[slot];
        s.incarnation += 1;
        s.ever.push(id);
        let inc = s.incarnation;
        s.proc = Some(Proc {
            id,
            heart,
            client,
            agent: None,
            conn: None,
            paused: false,
            deferred: Vec::new(),
            links: HashMap::default(),
            num,
            wake_memo: None,
            groups: BTreeSet::new(),
            seq: 0,
            scheduled: None,
            scheduled_local: None,
            hub: None,
            gossip: BTreeMap::new(),
        });
        if is_hub {
            self.bind_hub(slot, id);
        }
        if self.now <= self.o.stagger {
            self.initial.insert(id);
        }
        self.trace(1, slot as u64, inc as u64);
        if self.debug.is_some() {
            eprintln!("{:?} slot {slot} host {host} starts as {id}", self.now);
        }
        self.command(slot, Command::Join(GROUP.into()));
        if self.o.elections {
            if slot % 2 == 0 {
                self.command(slot, Command::Contest(LEAD.into()));
            }
            self.command(slot, Command::Join(LEAD.into()));
        }
        self.attempt(slot);
        let first = self.next_act();
        self.push(self.now + first, Ev::Act(slot, inc));
        // Links towards this endpoint held while it was down flow again.
        let mut waiting = self.held.remove(&slot).unwrap_or_default();
        waiting.sort_unstable();
        waiting.dedup();
        for l in waiting {
            self.schedule_link(l);
        }
        self.reschedule(slot);
    }

    fn next_act(&mut self) -> Duration {
        let rate = self.o.shout_rate + self.o.whisper_rate + self.o.group_churn / 60.0;
        if rate <= 0.0 {
            return Duration::from_secs(3600 * 24);
        }
        let mean = 1.0 / rate;
        dur(mean * (0.5 + self.rng.below(1000) as f64 / 1000.0))
    }

    /// The workload: a shout, a whisper or a group change.
    fn act(&mut self, slot: usize) {
        // The workload stops shortly before the end, so the views it changes can settle.
        if self.now + QUIET >= dur(self.o.seconds) + self.o.settle_bound() {
            return;
        }
        let rate = self.o.shout_rate + self.o.whisper_rate + self.o.group_churn / 60.0;
        let x = self.rng.below(1_000_000) as f64 / 1e6 * rate;
        let inc = self.slots[slot].incarnation;
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        if x < self.o.shout_rate {
            p.seq += 1;
            let content = payload(p.id, p.seq);
            let num = p.num as usize;
            self.facts[num].sent_seq = p.seq;
            self.command(
                slot,
                Command::Shout {
                    group: GROUP.into(),
                    content,
                },
            );
        } else if x < self.o.shout_rate + self.o.whisper_rate {
            let peers: Vec<PeerId> = p.heart.peers().map(|i| i.id).collect();
            if !peers.is_empty() {
                let to = peers[self.rng.below(peers.len() as u64) as usize];
                let p = self.slots[slot].proc.as_mut().expect("checked above");
                p.seq += 1;
                let (id, seq) = (p.id, p.seq);
                self.facts[p.num as usize].sent_seq = seq;
                self.command(
                    slot,
                    Command::Whisper {
                        peer: to,
                        content: payload(id, seq),
                    },
                );
            }
        } else if p.groups.contains(CHURN) {
            self.command(slot, Command::Leave(CHURN.into()));
        } else {
            self.command(slot, Command::Join(CHURN.into()));
        }
        let next = self.next_act();
        self.push(self.now + next, Ev::Act(slot, inc));
    }

    fn command(&mut self, slot: usize, cmd: Command) {
        let now = self.at(slot);
        let bit = match &cmd {
            Command::Join(g) => self.group_bit(g),
            _ => 0,
        };
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        match &cmd {
            Command::Join(g) => {
                p.groups.insert(g.clone());
                self.facts[p.num as usize].joined |= bit;
            }
            Command::Leave(g) => {
                p.groups.remove(g);
            }
            _ => {}
        }
        self.report.heart_events += 1;
        let _ = p.heart.handle(now, Input::Command(cmd));
        self.drain(slot);
    }

    fn input(&mut self, slot: usize, input: Input) {
        let now = self.at(slot);
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        self.report.heart_events += 1;
        let _ = p.heart.handle(now, input);
        self.drain(slot);
    }

    fn timeouts(&mut self, slot: usize) {
        let now = self.at(slot);
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        if p.heart.poll_timeout().is_some_and(|t| t <= now) {
            self.report.heart_events += 1;
            p.heart.handle_timeout(now);
        }
        let due = p.client.due(now);
        let agent_due = match p.agent.as_mut() {
            Some(a) if a.poll_timeout().is_some_and(|t| t <= now) => {
                a.handle_timeout(now);
                true
            }
            _ => false,
        };
        let hub_due = match p.hub.as_mut() {
            Some(h) if h.poll_timeout().is_some_and(|t| t <= now) => {
                h.handle_timeout(now);
                true
            }
            _ => false,
        };
        self.report.heart_events += u64::from(agent_due) + u64::from(hub_due);
        self.drain(slot);
        if agent_due {
            self.agent_outputs(slot);
        }
        if hub_due {
            self.hub_outputs(slot);
        }
        if due {
            self.attempt(slot);
        }
        self.reschedule(slot);
    }

    fn reschedule(&mut self, slot: usize) {
        let now = self.now;
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        // The earliest of the heart's, the client's and the agent's deadlines (asked after
        // every input: each only when it has one).
        let mut next = p.heart.poll_timeout();
        if let Some(t) = p.client.retry_at() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(t) = p.agent.as_ref().and_then(AgentState::poll_timeout) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(t) = p.hub.as_ref().and_then(Server::poll_timeout) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        let Some(local) = next else {
            return;
        };
        // A deadline no earlier than the one of the pending wake-up (most calls: hearing from
        // a peer moves its deadline later) maps to no earlier a time: that wake-up stands.
        if p.scheduled.is_some_and(|s| s >= now) && p.scheduled_local.is_some_and(|l| local >= l) {
            return;
        }
        // The same deadline as last time (most calls: the heart's next deadline moves far less
        // often than it is asked for) maps to the same simulated time.
        let raw = match p.wake_memo {
            Some((t, g)) if t == local => g,
            _ => {
                let raw = self.when_raw(slot, local);
                let Some(p) = self.slots[slot].proc.as_mut() else {
                    return;
                };
                p.wake_memo = Some((local, raw));
                raw
            }
        };
        let t = raw.max(now);
        let s = &mut self.slots[slot];
        let inc = s.incarnation;
        let Some(p) = s.proc.as_mut() else {
            return;
        };
        if p.scheduled.is_none_or(|s| t < s || s < now) {
            p.scheduled = Some(t);
            p.scheduled_local = Some(local);
            self.push(t, Ev::Wake(slot, inc));
        }
    }

    /// What the heart wants done, and what it reports (checked by the oracle).
    fn drain(&mut self, slot: usize) {
        loop {
            let Some(p) = self.slots[slot].proc.as_mut() else {
                return;
            };
            if let Some(t) = p.heart.poll_transmit() {
                self.transmit(slot, t);
                continue;
            }
            if let Some(e) = p.heart.poll_event() {
                let me = (p.id, p.num);
                self.observe(me, e);
                continue;
            }
            break;
        }
        self.reschedule(slot);
    }

    // ---- links ----

    fn transmit(&mut self, slot: usize, t: Transmit) {
        match t {
            Transmit::Connect { peer, endpoint } => {
                let (me, me_num, inc) = match self.slots[slot].proc.as_ref() {
                    Some(p) => (p.id, p.num, self.slots[slot].incarnation),
                    None => return,
                };
                let Some(&to) = self.by_endpoint.get(&endpoint) else {
                    return; // nobody will ever listen there: libzmq would retry forever
                };
                let id = self.next_link;
                self.next_link += 1;
                self.links.insert(
                    id,
                    Link {
                        from: slot,
                        from_inc: inc,
                        sender: me,
                        sender_num: me_num,
                        to,
                        queue: VecDeque::new(),
                        next_idx: 0,
                        last_arrival: self.now_ns,
                        scheduled: false,
                        draining: false,
                        drop_next: false,
                    },
                );
                if let Some(old) = self.slots[slot]
                    .proc
                    .as_mut()
                    .and_then(|p| p.links.insert(peer, id))
                {
                    self.links.remove(&old);
                }
            }
            Transmit::Disconnect { peer } => {
                if let Some(id) = self.slots[slot]
                    .proc
                    .as_mut()
                    .and_then(|p| p.links.remove(&peer))
                {
                    self.links.remove(&id);
                }
            }
            Transmit::Send { peer, frames } => {
                let Some(&id) = self.slots[slot]
                    .proc
                    .as_ref()
                    .and_then(|p| p.links.get(&peer))
                else {
                    return;
                };
                let (lo, hi) = self.latency_ns;
                let lat = self.rng.range(lo, hi);
                let hwm = self.o.hwm;
                let Some(link) = self.links.get_mut(&id) else {
                    return;
                };
                if link.queue.len() >= hwm {
                    self.input(slot, Input::SendFailed { id: peer });
                    return;
                }
                let arrive = (self.now_ns + lat).max(link.last_arrival);
                link.last_arrival = arrive;
                let idx = link.next_idx;
                link.next_idx += 1;
                if std::mem::take(&mut link.drop_next) {
                    return;
                }
                self.queue_pool.fill(&mut link.queue);
                link.queue.push_back((arrive, idx, frames));
                // What `schedule_link` does, with the link at hand.
                if !link.scheduled {
                    link.scheduled = true;
                    let at = link.queue.front().map_or(arrive, |f| f.0).max(self.now_ns);
                    self.push_ns(at, Ev::Deliver(id));
                }
            }
        }
    }

    fn schedule_link(&mut self, id: u64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if link.scheduled {
            return;
        }
        if let Some(&(at, _, _)) = link.queue.front() {
            link.scheduled = true;
            let at = at.max(self.now_ns);
            self.push_ns(at, Ev::Deliver(id));
        }
    }

    fn tcp_blocked(&self, from_host: usize, to_host: usize) -> bool {
        if from_host == to_host {
            return false;
        }
        self.partitions.iter().any(|&(a, b, k)| match k {
            PartKind::Both | PartKind::TcpOnly => {
                (a == from_host && b == to_host) || (a == to_host && b == from_host)
            }
            PartKind::OneWay => a == from_host && b == to_host,
        })
    }

    fn udp_blocked(&self, from_host: usize, to_host: usize) -> bool {
        self.partitions.iter().any(|&(a, b, k)| match k {
            PartKind::Both => (a == from_host && b == to_host) || (a == to_host && b == from_host),
            PartKind::OneWay => a == from_host && b == to_host,
            PartKind::TcpOnly => false,
        })
    }

    fn deliver(&mut self, id: u64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.scheduled = false;
        let (from, to, from_inc) = (link.from, link.to, link.from_inc);
        let sender = (link.sender, link.sender_num);
        let draining = link.draining;
        if !self.alive(from, from_inc) && !draining {
            self.links.remove(&id);
            return;
        }
        let blocked = self.tcp_blocked(self.slots[from].host, self.slots[to].host);
        // A stalled link (partition) or an endpoint nobody listens on holds its queue: TCP
        // retransmits, the DEALER reconnects; the partition's end or the restart flushes it.
        if blocked {
            return;
        }
        if self.slots[to].proc.is_none() {
            self.held.entry(to).or_default().push(id);
            return;
        }
        if self.slots[to].proc.as_ref().is_some_and(|p| p.paused) {
            let ev = Ev::Deliver(id);
            self.runnable(to, &ev);
            if let Some(l) = self.links.get_mut(&id) {
                l.scheduled = true;
            }
            return;
        }
        loop {
            let Some(link) = self.links.get_mut(&id) else {
                return;
            };
            match link.queue.front() {
                Some(&(at, _, _)) if at <= self.now_ns => {}
                _ => break,
            }
            let Some((_, idx, frames)) = link.queue.pop_front() else {
                break;
            };
            self.report.messages += 1;
            self.trace(2, id, idx);
            self.inbox(to, sender, id, idx, frames);
            if !self.links.contains_key(&id) || self.slots[to].proc.is_none() {
                return;
            }
        }
        // An idle link gives its buffer back: a million links each keeping the few slots of
        // their last burst were a third of the memory of a 1,000-node run. One that is not
        // idle is scheduled again (as `schedule_link` does, with the link at hand).
        let now = self.now_ns;
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        self.queue_pool.put(&mut link.queue);
        if link.scheduled {
            return;
        }
        if let Some(&(at, _, _)) = link.queue.front() {
            link.scheduled = true;
            self.push_ns(at.max(now), Ev::Deliver(id));
        }
    }

    /// A message from `sender` (its id and oracle number) on `link`, index `idx`, reaches
    /// `to`'s heart.
    fn inbox(&mut self, to: usize, sender: (PeerId, u32), link: u64, idx: u64, mut frames: Frames) {
        let now = self.at(to);
        let Some(p) = self.slots[to].proc.as_mut() else {
            return;
        };
        let me = p.id;
        let me_num = p.num;
        let (sender, sender_num) = sender;
        // The oracle: is this a gap on the link the observer's window runs on?
        self.number_memo = (sender, sender_num);
        let w = self.window(me_num, sender_num);
        let gap = w.inside && w.has_link && w.link == link && idx as u32 != w.idx.wrapping_add(1);
        // A new link starts with HELLO (index 0); the window moves to it at that HELLO.
        w.link = link;
        w.idx = idx as u32;
        w.has_link = true;
        let Some(p) = self.slots[to].proc.as_mut() else {
            return;
        };
        if let Some(d) = &self.debug {
            let (a, b) = (me.to_string(), sender.to_string());
            if a.starts_with(d.as_str()) || b.starts_with(d.as_str()) {
                let h = frames.head();
                let kind = h.get(2).copied().unwrap_or(0);
                let seq = h.get(4..6).map_or(0, |s| u16::from_be_bytes([s[0], s[1]]));
                eprintln!(
                    "{:?} {a} <- {b}: msg {kind} seq {seq} link {link} idx {idx}",
                    self.now
                );
            }
        }
        self.report.heart_events += 1;
        let rid = sender.routing_id();
        let content = frames.take_content();
        let _ = p.heart.handle_message(now, &rid, frames.head(), content);
        if gap {
            // After a gap, the real heart must report EXIT before anything else from the peer.
            let mut delivered = false;
            let mut exited = false;
            let mut events = Vec::new();
            while let Some(e) = p.heart.poll_event() {
                events.push(e);
            }
            for e in &events {
                match e {
                    Event::Exit { peer, .. } if *peer == sender => exited = true,
                    Event::Shout { peer, .. }
                    | Event::Whisper { peer, .. }
                    | Event::Join { peer, .. }
                    | Event::Leave { peer, .. }
                        if *peer == sender && !exited =>
                    {
                        delivered = true
                    }
                    _ => {}
                }
            }
            if delivered {
                self.violation(format!(
                    "{me} took a message from {sender} after a gap on their link (index {idx}) without EXIT"
                ));
            }
            for e in events {
                self.observe((me, me_num), e);
            }
        }
        self.drain(to);
    }

    // ---- the oracle ----

    /// The oracle's check of event `e` reported by observer `me` (its id and oracle number).
    fn observe(&mut self, me: (PeerId, u32), e: Event) {
        let (me, me_num) = me;
        let (kind, peer) = match &e {
            Event::Enter { peer, .. } => (1, *peer),
            Event::Exit { peer, .. } => (2, *peer),
            Event::Join { peer, .. } => (3, *peer),
            Event::Leave { peer, .. } => (4, *peer),
            Event::Whisper { peer, .. } => (5, *peer),
            Event::Shout { peer, .. } => (6, *peer),
            Event::Evasive { peer, .. } => (7, *peer),
            Event::Silent { peer, .. } => (8, *peer),
            Event::Leader { peer, .. } => (9, *peer),
            _ => (10, me),
        };
        let b = peer.as_bytes();
        self.trace(
            3 + kind,
            u64::from_le_bytes(me.as_bytes()[..8].try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
        );
        if let Some(d) = &self.debug {
            let (a, b) = (me.to_string(), peer.to_string());
            if a.starts_with(d.as_str()) || b.starts_with(d.as_str()) {
                let what = match &e {
                    Event::Exit { reason, .. } => format!("EXIT {reason:?}"),
                    Event::Join { group, .. } => format!("JOIN {group}"),
                    Event::Leave { group, .. } => format!("LEAVE {group}"),
                    other => {
                        kind_name(kind).to_string()
                            + if matches!(other, Event::Enter { .. }) {
                                "ENTER"
                            } else {
                                ""
                            }
                    }
                };
                eprintln!("{:?} {a} <- {b}: {what}", self.now);
            }
        }
        if kind == 9 || kind == 10 {
            return;
        }
        let bit = match &e {
            Event::Join { group, .. } | Event::Leave { group, .. } => self.group_bit(group),
            _ => 0,
        };
        let peer_num = self.number(peer);
        let Facts {
            sent_seq: sent,
            joined,
            ended,
        } = self.facts[peer_num as usize];
        let w = self.window(me_num, peer_num);
        let mut bad: Option<String> = None;
        match &e {
            Event::Enter { .. } => {
                if w.inside {
                    bad = Some(format!("{me} got a second ENTER for {peer}"));
                } else {
                    w.inside = true;
                    w.last_seq = 0;
                    w.groups = 0;
                    self.known += 1;
                    self.report.enters += 1;
                }
            }
            Event::Exit { reason, .. } => {
                if !w.inside {
                    bad = Some(format!("{me} got EXIT for {peer} without ENTER"));
                } else {
                    w.inside = false;
                    self.known -= 1;
                    if matches!(reason, ExitReason::Lost | ExitReason::Leaving) && ended.is_none() {
                        bad = Some(format!(
                            "{me} was told {peer} is gone ({}) while it runs",
                            reason_name(reason)
                        ));
                    }
                }
            }
            _ if !w.inside => {
                bad = Some(format!(
                    "{me} got {} from {peer} outside ENTER..EXIT",
                    kind_name(kind)
                ));
            }
            Event::Join { group, .. } => {
                if joined & bit == 0 {
                    bad = Some(format!(
                        "{me} saw {peer} join {group}, which it never joined"
                    ));
                } else if w.groups & bit != 0 {
                    bad = Some(format!("{me} saw {peer} join {group} twice"));
                } else {
                    w.groups |= bit;
                }
            }
            Event::Leave { group, .. } if w.groups & bit == 0 => {
                bad = Some(format!("{me} saw {peer} leave {group} it was not in"));
            }
            Event::Whisper { content, .. } | Event::Shout { content, .. } => {
                match parse_payload(content) {
                    Some((from, seq)) if from == peer && seq >= 1 && seq <= sent => {
                        let seq = u32::try_from(seq).unwrap_or(u32::MAX);
                        if seq <= w.last_seq {
                            bad = Some(format!(
                                "{me} got seq {seq} from {peer} after {} (duplicate or reordered)",
                                w.last_seq
                            ));
                        }
                        w.last_seq = seq;
                    }
                    _ => bad = Some(format!("{me} got content from {peer} that it never sent")),
                }
            }
            Event::Leave { .. } => w.groups &= !bit,
            _ => {}
        }
        if let Some(b) = bad {
            self.violation(b);
        }
    }

    /// The oracle's small number for `id`.
    #[inline]
    fn number(&mut self, id: PeerId) -> u32 {
        if self.number_memo.0 == id {
            return self.number_memo.1;
        }
        let next = self.numbers.len() as u32;
        let n = *self.numbers.entry(id).or_insert(next);
        if n == next {
            self.facts.push(Facts::default());
            self.windows.push(Vec::new());
        }
        self.number_memo = (id, n);
        n
    }

    /// The window of (observer, peer), by their numbers.
    #[inline]
    fn window(&mut self, observer: u32, peer: u32) -> &mut Window {
        let row = &mut self.windows[observer as usize];
        let peer = peer as usize;
        if row.len() <= peer {
            row.resize_with(peer + 1, Window::default);
        }
        &mut row[peer]
    }

    /// The oracle's bit for a group name. The workload uses a handful of groups (the oracle
    /// would merge groups past the 32nd, so it must stay below that).
    fn group_bit(&mut self, group: &str) -> u32 {
        let i = match self.group_names.iter().position(|g| g == group) {
            Some(i) => i,
            None => {
                self.group_names.push(group.to_string());
                self.group_names.len() - 1
            }
        };
        1 << i.min(31)
    }

    // ---- the rendezvous ----

    /// One attempt of a node's client: race for the host's rendezvous, then register.
    fn attempt(&mut self, slot: usize) {
        let host = self.slots[slot].host;
        let inc = self.slots[slot].incarnation;
        let holder = self.hosts[host].holder;
        let now = self.at(slot);
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        self.report.heart_events += 1;
        p.client.begin_attempt();
        if p.client.should_host() && holder.is_none() {
            p.agent = Some(AgentState::new(p.id));
            p.client.set_hosting(true);
            self.hosts[host].holder = Some(slot);
            self.trace(4, slot as u64, inc as u64);
        }
        let Some(agent_slot) = self.hosts[host].holder else {
            if let Some(p) = self.slots[slot].proc.as_mut() {
                p.client.connect_failed(now);
            }
            self.reschedule(slot);
            return;
        };
        let agent_inc = self.slots[agent_slot].incarnation;
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        let Ok(frame) = p.client.register_frame() else {
            return;
        };
        p.client.connected();
        let cid = self.next_conn;
        self.next_conn += 1;
        p.conn = Some(cid);
        let mut c = RvConn {
            client: slot,
            client_inc: inc,
            agent: agent_slot,
            agent_inc,
            to_agent: VecDeque::new(),
            to_client: VecDeque::new(),
            closing: false,
            agent_done: false,
            client_done: false,
        };
        c.to_agent.push_back(frame);
        self.conns.insert(cid, c);
        // The kernel accepts even for a frozen agent; what is sent waits until it runs.
        let accepted = self.slots[agent_slot]
            .proc
            .as_mut()
            .and_then(|a| a.agent.as_mut())
            .is_some_and(|ag| ag.accept(ConnId(cid)));
        if !accepted {
            self.close_conn(cid);
            self.agent_outputs(agent_slot);
            return;
        }
        self.push(self.now + RV_LATENCY, Ev::RvDeliver(cid, true));
        self.reschedule(slot);
    }

    fn rv_deliver(&mut self, cid: u64, to_agent: bool) {
        let Some(c) = self.conns.get(&cid) else {
            return;
        };
        let (slot, inc) = if to_agent {
            (c.agent, c.agent_inc)
        } else {
            (c.client, c.client_inc)
        };
        let done = if to_agent {
            c.agent_done
        } else {
            c.client_done
        };
        if done {
            return;
        }
        if !self.alive(slot, inc) {
            self.side_done(cid, to_agent);
            return;
        }
        if !self.runnable(slot, &Ev::RvDeliver(cid, to_agent)) {
            return;
        }
        let now = self.at(slot);
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        // A reused vector: collecting a fresh one was an allocation per delivery.
        let mut data = std::mem::take(&mut self.rv_scratch);
        if to_agent {
            data.extend(c.to_agent.drain(..));
        } else {
            data.extend(c.to_client.drain(..));
        }
        let closing = c.closing;
        if to_agent {
            if let Some(a) = self.slots[slot]
                .proc
                .as_mut()
                .and_then(|p| p.agent.as_mut())
            {
                for d in &data {
                    self.report.heart_events += 1;
                    a.on_data(now, ConnId(cid), d);
                }
                if closing {
                    a.on_closed(ConnId(cid));
                }
            }
            data.clear();
            self.rv_scratch = data;
            if closing {
                self.side_done(cid, true);
            }
            self.agent_outputs(slot);
            // A registration gives the agent its first beacon deadline (found by shrinking swarm
            // seed 81: two nodes on two hosts whose first beacons were lost never beaconed
            // again, as nothing else woke the agent).
            self.reschedule(slot);
        } else {
            let mut inputs = std::mem::take(&mut self.rv_inputs);
            let mut garbled = false;
            let mut stale = false;
            if let Some(p) = self.slots[slot].proc.as_mut() {
                if p.conn != Some(cid) {
                    stale = true;
                } else {
                    for d in &data {
                        self.report.heart_events += 1;
                        if p.client.on_bytes(d, &mut inputs).is_err() {
                            garbled = true;
                        }
                    }
                    let _ = p.client.take_notes();
                }
            }
            data.clear();
            self.rv_scratch = data;
            for i in inputs.drain(..) {
                self.input(slot, i);
            }
            self.rv_inputs = inputs;
            if stale && closing {
                self.side_done(cid, false);
            } else if closing || garbled {
                self.side_done(cid, false);
                self.client_lost(slot);
            }
        }
    }

    fn side_done(&mut self, cid: u64, agent_side: bool) {
        if let Some(c) = self.conns.get_mut(&cid) {
            if agent_side {
                c.agent_done = true;
            } else {
                c.client_done = true;
            }
            if c.agent_done && c.client_done {
                self.conns.remove(&cid);
            }
        }
    }

    /// The client's connection to the agent ended.
    fn client_lost(&mut self, slot: usize) {
        let now = self.at(slot);
        let host = self.slots[slot].host;
        let mut inputs = Vec::new();
        let Some(p) = self.slots[slot].proc.as_mut() else {
            return;
        };
        p.conn = None;
        self.report.heart_events += 1;
        if p.client.on_lost(now, &mut inputs) {
            p.agent = None;
            if self.hosts[host].holder == Some(slot) {
                self.hosts[host].holder = None;
            }
            // The agent's gossip DEALERs go with it.
            self.drop_gossip(slot);
        }
        for i in inputs {
            self.input(slot, i);
        }
        self.reschedule(slot);
    }

    /// Closes a rendezvous connection from one side: the other side hears the end after what
    /// is queued.
    fn close_conn(&mut self, cid: u64) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if c.closing {
            return;
        }
        c.closing = true;
        self.push(self.now + RV_LATENCY, Ev::RvDeliver(cid, true));
        self.push(self.now + RV_LATENCY, Ev::RvDeliver(cid, false));
    }

    fn agent_outputs(&mut self, slot: usize) {
        let host = self.slots[slot].host;
        loop {
            let Some(a) = self.slots[slot]
                .proc
                .as_mut()
                .and_then(|p| p.agent.as_mut())
            else {
                return;
            };
            let Some(out) = a.poll_output() else {
                while a.poll_note().is_some() {}
                return;
            };
            match out {
                AgentOutput::Send { conn, frame } => {
                    if let Some(c) = self.conns.get_mut(&conn.0) {
                        if !c.closing {
                            c.to_client.push_back(frame);
                            self.push(self.now + RV_LATENCY, Ev::RvDeliver(conn.0, false));
                        }
                    }
                }
                AgentOutput::Close { conn } => self.close_conn(conn.0),
                AgentOutput::Beacon { datagram, .. } => self.broadcast(host, datagram),
                AgentOutput::GossipOpen { hub } => self.gossip_open(slot, hub),
                AgentOutput::GossipSend { hub, frame } => self.gossip_send(slot, &hub, frame),
                AgentOutput::GossipClose { hub } => self.gossip_close(slot, &hub),
            }
        }
    }

    // ---- gossip ([`Join::Agents`]) ----

    /// `slot`'s new process (id `id`) binds the hub: a fresh table holding its own tuple for as
    /// long as it runs (ttl 0), as `gossip_bind` does. Frames held for the hub while it was
    /// down flow again.
    fn bind_hub(&mut self, slot: usize, id: PeerId) {
        let now = self.at(slot);
        let endpoint = self.slots[slot].endpoint.clone();
        let mut hub = Server::new(ServerConfig::default());
        hub.accept(
            now,
            zgp::Tuple {
                key: id.to_string(),
                value: endpoint,
                ttl: 0,
            },
        );
        if let Some(p) = self.slots[slot].proc.as_mut() {
            p.hub = Some(hub);
        }
        self.hub_outputs(slot);
        self.flush_gossip();
    }

    /// What the hub in `slot`'s process wants sent, and the tuples it hands its own heart (a
    /// new tuple naming a ZRE peer, as the gossip thread feeds it).
    fn hub_outputs(&mut self, slot: usize) {
        loop {
            let Some(p) = self.slots[slot].proc.as_mut() else {
                return;
            };
            let own = p.id;
            let Some(out) = p.hub.as_mut().and_then(Server::poll_output) else {
                break;
            };
            match out {
                ServerOutput::Send { to, msg } => {
                    let Ok(frame) = msg.encode() else {
                        continue;
                    };
                    // A routing id nobody holds any more: the ROUTER drops the message.
                    let Some(&g) = rid_of(&to).and_then(|r| self.routes.get(&r)) else {
                        continue;
                    };
                    self.gossip_push(g, false, Bytes::from(frame));
                }
                ServerOutput::Deliver(t) => {
                    if let Ok(peer) = zgp::zre_peer(&t) {
                        if peer.id != own {
                            self.input(slot, peer.into_input());
                        }
                    }
                }
                ServerOutput::Expired(_) => {}
            }
        }
        self.reschedule(slot);
    }

    /// The agent of `slot` opens a DEALER to `hub` (only the run's hub endpoint has a listener;
    /// a session to any other would wait forever, so it is not made).
    fn gossip_open(&mut self, slot: usize, hub: String) {
        if hub != self.hub_endpoint || self.hub_slot.is_none() {
            return;
        }
        let inc = self.slots[slot].incarnation;
        let id = self.next_gossip;
        self.next_gossip += 1;
        let link = GossipLink {
            agent: slot,
            agent_inc: inc,
            hub: hub.clone(),
            rid: id,
            to_hub: VecDeque::new(),
            to_agent: VecDeque::new(),
            last_hub: self.now_ns,
            last_agent: self.now_ns,
            scheduled_hub: false,
            scheduled_agent: false,
            closing: false,
        };
        self.gossip_links.insert(id, link);
        self.routes.insert(id, id);
        let old = self.slots[slot]
            .proc
            .as_mut()
            .and_then(|p| p.gossip.insert(hub, id));
        if let Some(old) = old {
            self.remove_gossip(old);
        }
    }

    fn gossip_send(&mut self, slot: usize, hub: &str, frame: Bytes) {
        let g = self.slots[slot]
            .proc
            .as_ref()
            .and_then(|p| p.gossip.get(hub).copied());
        if let Some(g) = g {
            self.gossip_push(g, true, frame);
        }
    }

    /// The agent closes its DEALER to `hub`: what it sent is delivered, then the link goes.
    fn gossip_close(&mut self, slot: usize, hub: &str) {
        let g = self.slots[slot]
            .proc
            .as_mut()
            .and_then(|p| p.gossip.remove(hub));
        let Some(g) = g else {
            return;
        };
        let empty = match self.gossip_links.get_mut(&g) {
            Some(l) => {
                l.closing = true;
                l.to_agent.clear();
                l.to_hub.is_empty()
            }
            None => false,
        };
        if empty {
            self.remove_gossip(g);
        }
    }

    /// Queues `frame` on gossip link `g` (towards the hub or the agent), in order, after the
    /// link's latency.
    fn gossip_push(&mut self, g: u64, to_hub: bool, frame: Bytes) {
        let (lo, hi) = self.latency_ns;
        let lat = self.rng.range(lo, hi);
        let now = self.now_ns;
        let Some(l) = self.gossip_links.get_mut(&g) else {
            return;
        };
        if l.closing && !to_hub {
            return;
        }
        let (queue, last) = if to_hub {
            (&mut l.to_hub, &mut l.last_hub)
        } else {
            (&mut l.to_agent, &mut l.last_agent)
        };
        let arrive = (now + lat).max(*last);
        *last = arrive;
        queue.push_back((arrive, frame));
        self.schedule_gossip(g, to_hub);
    }

    /// Schedules the next delivery on one side of gossip link `g`, when it holds something.
    fn schedule_gossip(&mut self, g: u64, to_hub: bool) {
        let now = self.now_ns;
        let Some(l) = self.gossip_links.get_mut(&g) else {
            return;
        };
        let (front, scheduled) = if to_hub {
            (l.to_hub.front().map(|f| f.0), &mut l.scheduled_hub)
        } else {
            (l.to_agent.front().map(|f| f.0), &mut l.scheduled_agent)
        };
        if *scheduled {
            return;
        }
        if let Some(at) = front {
            *scheduled = true;
            self.push_ns(at.max(now), Ev::GossipDeliver(g, to_hub));
        }
    }

    /// Every gossip link that holds frames and waits for nothing is scheduled again (a
    /// partition ended, the hub came back).
    fn flush_gossip(&mut self) {
        let ids: Vec<(u64, bool, bool)> = self
            .gossip_links
            .iter()
            .map(|(&g, l)| {
                (
                    g,
                    !l.to_hub.is_empty() && !l.scheduled_hub,
                    !l.to_agent.is_empty() && !l.scheduled_agent,
                )
            })
            .filter(|&(_, a, b)| a || b)
            .collect();
        for (g, hub, agent) in ids {
            if hub {
                self.schedule_gossip(g, true);
            }
            if agent {
                self.schedule_gossip(g, false);
            }
        }
    }

    /// What is due on one side of gossip link `g` reaches the hub or the agent.
    fn gossip_deliver(&mut self, g: u64, to_hub: bool) {
        let Some(hub_slot) = self.hub_slot else {
            return;
        };
        let Some(l) = self.gossip_links.get_mut(&g) else {
            return;
        };
        if to_hub {
            l.scheduled_hub = false;
        } else {
            l.scheduled_agent = false;
        }
        let (agent, agent_inc, closing) = (l.agent, l.agent_inc, l.closing);
        let agent_here = self.alive(agent, agent_inc)
            && self.slots[agent]
                .proc
                .as_ref()
                .is_some_and(|p| p.agent.is_some() && p.gossip.values().any(|&x| x == g));
        // A closed link still delivers what the agent sent before it closed.
        let draining = closing && to_hub;
        if !(agent_here || draining) {
            self.remove_gossip(g);
            return;
        }
        let (from_host, to_host) = if to_hub {
            (self.slots[agent].host, self.slots[hub_slot].host)
        } else {
            (self.slots[hub_slot].host, self.slots[agent].host)
        };
        // A partition holds the frames (TCP retransmits); a hub that is down holds what is
        // sent to it (the DEALER reconnects): the partition's end or the restart flushes them.
        if self.tcp_blocked(from_host, to_host) {
            return;
        }
        let to = if to_hub { hub_slot } else { agent };
        match self.slots[to].proc.as_ref() {
            None => return,
            Some(p) if p.paused => {
                self.runnable(to, &Ev::GossipDeliver(g, to_hub));
                if let Some(l) = self.gossip_links.get_mut(&g) {
                    if to_hub {
                        l.scheduled_hub = true;
                    } else {
                        l.scheduled_agent = true;
                    }
                }
                return;
            }
            Some(_) => {}
        }
        let now = self.at(to);
        let mut frames = Vec::new();
        if let Some(l) = self.gossip_links.get_mut(&g) {
            let q = if to_hub {
                &mut l.to_hub
            } else {
                &mut l.to_agent
            };
            while q.front().is_some_and(|f| f.0 <= self.now_ns) {
                if let Some((_, f)) = q.pop_front() {
                    frames.push(f);
                }
            }
        }
        let (rid, hub) = match self.gossip_links.get(&g) {
            Some(l) => (l.rid, l.hub.clone()),
            None => return,
        };
        for f in frames {
            self.report.gossip_frames += 1;
            self.report.heart_events += 1;
            self.trace(20, g, u64::from(to_hub));
            let Some(p) = self.slots[to].proc.as_mut() else {
                return;
            };
            if to_hub {
                if let Some(h) = p.hub.as_mut() {
                    h.handle_frame(now, Bytes::copy_from_slice(&rid.to_le_bytes()), &f);
                }
            } else if let Some(a) = p.agent.as_mut() {
                a.on_gossip_frame(now, &hub, &f);
            }
        }
        if to_hub {
            self.hub_outputs(to);
        } else {
            self.agent_outputs(to);
            self.reschedule(to);
        }
        let done = self
            .gossip_links
            .get(&g)
            .is_some_and(|l| l.closing && l.to_hub.is_empty());
        if done {
            self.remove_gossip(g);
        } else {
            self.schedule_gossip(g, to_hub);
        }
    }

    /// A TCP reset on gossip link `g`: what is in flight both ways is lost, and the DEALER
    /// reconnects, so the hub's ROUTER knows it by a new routing id (its next frame is not a
    /// HELLO: the hub answers INVALID and the agent opens the session again).
    fn gossip_reset(&mut self, g: u64) {
        let rid = self.next_gossip;
        self.next_gossip += 1;
        let Some(l) = self.gossip_links.get_mut(&g) else {
            return;
        };
        l.to_hub.clear();
        l.to_agent.clear();
        let old = std::mem::replace(&mut l.rid, rid);
        self.routes.remove(&old);
        self.routes.insert(rid, g);
    }

    fn remove_gossip(&mut self, g: u64) {
        if let Some(l) = self.gossip_links.remove(&g) {
            self.routes.remove(&l.rid);
        }
    }

    /// `slot`'s agent is gone (its process lives on): its gossip links go with it.
    fn drop_gossip(&mut self, slot: usize) {
        let ids: Vec<u64> = match self.slots[slot].proc.as_mut() {
            Some(p) => std::mem::take(&mut p.gossip).into_values().collect(),
            None => return,
        };
        for g in ids {
            self.remove_gossip(g);
        }
    }

    // ---- beacons ----

    fn broadcast(&mut self, from_host: usize, data: Bytes) {
        let from_ip = self.hosts[from_host].ip;
        let subnet = self.hosts[from_host].subnet;
        let (lo, hi) = self.o.jitter;
        let mut deliveries = std::mem::take(&mut self.spare_deliveries);
        for h in 0..self.hosts.len() {
            if h == from_host || (self.o.join != Join::Bridged && self.hosts[h].subnet != subnet) {
                continue;
            }
            if self.hosts[h].holder.is_none() || self.udp_blocked(from_host, h) {
                continue;
            }
            let copies = if self.rng.chance(self.o.dup) { 2 } else { 1 };
            for _ in 0..copies {
                if self.rng.chance(self.o.loss) {
                    continue;
                }
                let d = Duration::from_nanos(
                    self.rng.range(lo.as_nanos() as u64, hi.as_nanos() as u64),
                );
                // The sequence number this delivery's own event would have had.
                let n = self.next_ev;
                self.next_ev += 1;
                deliveries.push((nanos(self.now + d), n, h));
            }
        }
        if deliveries.is_empty() {
            self.spare_deliveries = deliveries;
            return;
        }
        // (time, sequence) pairs are unique, so the host never decides the order.
        deliveries.sort_unstable();
        let (at, n, _) = deliveries[0];
        let at = Duration::from_nanos(at);
        let fanout = Fanout {
            from: from_ip,
            data,
            deliveries,
            next: 0,
        };
        let id = match self.fanout_free.pop() {
            Some(i) => {
                self.fanouts[i as usize] = Some(fanout);
                i
            }
            None => {
                self.fanouts.push(Some(fanout));
                (self.fanouts.len() - 1) as u32
            }
        };
        self.queue.push(nanos(at), n, Ev::Fanout(id));
    }

    /// The next delivery of broadcast `id`; the broadcast goes back in the queue at the time
    /// and sequence number of the one after.
    fn fanout(&mut self, id: u32) {
        let Some(f) = self.fanouts.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        let (_, _, host) = f.deliveries[f.next];
        f.next += 1;
        let from = f.from;
        let data = if let Some(&(at, n, _)) = f.deliveries.get(f.next) {
            let data = f.data.clone();
            self.queue.push(at, n, Ev::Fanout(id));
            data
        } else {
            let Some(mut f) = self.fanouts[id as usize].take() else {
                return;
            };
            self.fanout_free.push(id);
            f.deliveries.clear();
            self.spare_deliveries = f.deliveries;
            f.data
        };
        self.beacon_arrives(host, from, data);
    }

    fn beacon_arrives(&mut self, host: usize, from: Ipv4Addr, data: Bytes) {
        let Some(slot) = self.hosts[host].holder else {
            return;
        };
        match self.slots[slot].proc.as_mut() {
            None => return,
            Some(p) if p.paused => {
                p.deferred.push(Ev::Beacon {
                    to_host: host,
                    from,
                    data,
                });
                return;
            }
            Some(_) => {}
        }
        if let Some(a) = self.slots[slot]
            .proc
            .as_mut()
            .and_then(|p| p.agent.as_mut())
        {
            self.report.beacons += 1;
            self.report.heart_events += 1;
            a.on_beacon(0, from, data);
        }
        self.agent_outputs(slot);
    }

    // ---- faults ----

    fn fault(&mut self, f: Fault) {
        if !matches!(f, Fault::Resume(..) | Fault::Unpartition(..)) {
            self.report.faults += 1;
        }
        self.trace(5, self.report.faults, 0);
        if self.debug.is_some() {
            eprintln!("{:?} fault {f:?}", self.now);
        }
        match f {
            Fault::Crash(slot) => self.end_process(slot, false),
            Fault::Stop(slot) => self.end_process(slot, true),
            Fault::AgentKill(host) => {
                if let Some(slot) = self.hosts[host].holder {
                    self.end_process(slot, false);
                }
            }
            Fault::Restart(slot) => self.start(slot),
            Fault::Pause(slot, len) => {
                let inc = self.slots[slot].incarnation;
                if let Some(p) = self.slots[slot].proc.as_mut() {
                    if !p.paused {
                        p.paused = true;
                        let until = (self.now + len).min(dur(self.o.seconds));
                        self.push(until, Ev::Fault(Fault::Resume(slot, inc)));
                    }
                }
            }
            Fault::Resume(slot, inc) => self.resume(slot, inc),
            Fault::ClockJump(host, by) => {
                // Every process on the host finds its deadlines passed at once.
                self.hosts[host].offset += by;
                self.hosts[host].origin = self.base + self.hosts[host].offset;
                for slot in self.hosts[host].slots.clone() {
                    if let Some(p) = self.slots[slot].proc.as_mut() {
                        p.scheduled = None;
                        p.wake_memo = None;
                    }
                    self.reschedule(slot);
                }
            }
            Fault::Partition(a, b, k) => {
                self.partitions.insert((a, b, k));
            }
            Fault::Unpartition(a, b, k) => {
                self.partitions.remove(&(a, b, k));
                self.flush_links();
                self.flush_gossip();
            }
            Fault::Reset(slot) => {
                // TCP reset on one of its links: what is in flight is lost; the DEALER
                // reconnects and goes on with the next message.
                let Some(p) = self.slots[slot].proc.as_ref() else {
                    return;
                };
                let mut links: Vec<(PeerId, u64)> = p.links.iter().map(|(k, v)| (*k, *v)).collect();
                links.sort_unstable();
                let links: Vec<u64> = links.into_iter().map(|(_, l)| l).collect();
                // Its agent's gossip links are candidates too, after its ZRE links (none
                // without `Join::Agents`, so those runs draw what they drew before).
                let gossip: Vec<u64> = p.gossip.values().copied().collect();
                let count = links.len() + gossip.len();
                if count == 0 {
                    return;
                }
                let i = self.rng.below(count as u64) as usize;
                let Some(&l) = links.get(i) else {
                    if let Some(&g) = gossip.get(i - links.len()) {
                        self.gossip_reset(g);
                    }
                    return;
                };
                if let Some(link) = self.links.get_mut(&l) {
                    // What is queued, and the message being written as it broke.
                    link.queue.clear();
                    link.drop_next = true;
                }
            }
        }
    }

    fn resume(&mut self, slot: usize, inc: u32) {
        if !self.alive(slot, inc) {
            return;
        }
        let deferred = match self.slots[slot].proc.as_mut() {
            Some(p) if p.paused => {
                p.paused = false;
                std::mem::take(&mut p.deferred)
            }
            _ => return,
        };
        for ev in deferred {
            match ev {
                Ev::Deliver(l) => {
                    if let Some(link) = self.links.get_mut(&l) {
                        link.scheduled = false;
                    }
                    self.schedule_link(l);
                }
                Ev::Wake(..) => {}
                other => self.dispatch(other),
            }
        }
        if let Some(p) = self.slots[slot].proc.as_mut() {
            p.scheduled = None;
        }
        self.timeouts(slot);
    }

    fn flush_links(&mut self) {
        let mut ids: Vec<u64> = self
            .links
            .iter()
            .filter(|(_, l)| !l.queue.is_empty() && !l.scheduled)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.schedule_link(id);
        }
    }

    fn end_process(&mut self, slot: usize, clean: bool) {
        let host = self.slots[slot].host;
        if self.slots[slot].proc.as_ref().is_some_and(|p| p.paused) && clean {
            return; // a frozen process cannot stop cleanly
        }
        if clean {
            self.command(slot, Command::Stop);
            // Leave to the agent (the client's last words).
            let mut leave = None;
            if let Some(p) = self.slots[slot].proc.as_mut() {
                if let (Some(cid), Ok(frame)) = (p.conn, p.client.leave_frame()) {
                    leave = Some((cid, frame));
                }
                p.client.stop();
            }
            if let Some((cid, frame)) = leave {
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.to_agent.push_back(frame);
                    self.push(self.now + RV_LATENCY, Ev::RvDeliver(cid, true));
                }
            }
        }
        let Some(p) = self.slots[slot].proc.take() else {
            return;
        };
        self.facts[p.num as usize].ended = Some(clean);
        if self.initial.contains(&p.id) {
            self.initial_broken = true;
        }
        self.trace(6, slot as u64, u64::from(clean));
        if self.debug.is_some() {
            eprintln!("{:?} slot {slot} {} ends (clean {clean})", self.now, p.id);
        }
        // The oracle's count of known pairs drops the dead one's windows, both ways.
        let row = std::mem::take(&mut self.windows[p.num as usize]);
        self.known -= row.iter().filter(|w| w.inside).count() as u64;
        if self.hosts[host].holder == Some(slot) {
            self.hosts[host].holder = None;
        }
        // Its connections close: the agent hears its client's end, its clients hear the
        // agent's.
        let mut mine: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.client == slot || c.agent == slot)
            .map(|(id, _)| *id)
            .collect();
        mine.sort_unstable();
        for cid in mine {
            self.close_conn(cid);
        }
        // Its agent's gossip links: what they hold is lost in a crash, drained in a stop. The
        // hub's process takes its table with it, and what was in flight on its links.
        if !p.gossip.is_empty() {
            let ids: Vec<u64> = p.gossip.values().copied().collect();
            for g in ids {
                if clean {
                    if let Some(l) = self.gossip_links.get_mut(&g) {
                        l.closing = true;
                        l.to_agent.clear();
                    }
                } else {
                    self.remove_gossip(g);
                }
            }
        }
        if p.hub.is_some() {
            for l in self.gossip_links.values_mut() {
                l.to_hub.clear();
                l.to_agent.clear();
            }
        }
        // A crash loses what its links held; a clean stop lets them drain (libzmq's linger).
        for l in p.links.values() {
            if clean {
                if let Some(link) = self.links.get_mut(l) {
                    link.draining = true;
                }
            } else {
                self.links.remove(l);
            }
        }
    }

    fn heal(&mut self) {
        self.healed = true;
        self.partitions.clear();
        self.flush_links();
        self.flush_gossip();
        let paused: Vec<(usize, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.proc.as_ref().is_some_and(|p| p.paused))
            .map(|(i, s)| (i, s.incarnation))
            .collect();
        for (slot, inc) in paused {
            self.resume(slot, inc);
        }
    }

    // ---- the end: liveness ----

    fn finish(mut self) -> Report {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&s| self.slots[s].proc.is_some())
            .collect();
        let ids: BTreeMap<PeerId, usize> = live
            .iter()
            .filter_map(|&s| self.slots[s].proc.as_ref().map(|p| (p.id, s)))
            .collect();
        let mut known = 0;
        let mut problems = Vec::new();
        if std::env::var("RYRE_SIM_STATS").is_ok() {
            let mut out = [0u64; 11];
            let mut exits = [0u64; 8];
            let mut problems = [0u64; 13];
            for &s in &live {
                if let Some(p) = self.slots[s].proc.as_ref() {
                    let st = p.heart.stats();
                    for (i, v) in st.messages_out.iter().enumerate() {
                        out[i] += v;
                    }
                    for (i, v) in st.exits.iter().enumerate() {
                        exits[i] += v;
                    }
                    for (i, v) in st.problems.iter().enumerate() {
                        problems[i] += v;
                    }
                }
            }
            eprintln!("live nodes: messages_out {out:?} exits {exits:?} problems {problems:?}");
        }
        // Subnets joined through the agents' gossip meet through its hub only: with the hub's
        // process down at the end (a crash or stop without a restart), nodes of different
        // subnets that lost each other cannot meet again, so those pairs are not required
        // (known or not; a pair that is known is still checked).
        let hub_down = self
            .hub_slot
            .is_some_and(|h| self.slots.get(h).is_none_or(|s| s.proc.is_none()));
        let subnets: Vec<usize> = self
            .slots
            .iter()
            .map(|sl| self.hosts[sl.host].subnet)
            .collect();
        for &s in &live {
            let Some(p) = self.slots[s].proc.as_ref() else {
                continue;
            };
            // Each live id looked up in the heart (a set of the heart's ready peers, built and
            // searched per observer, was a sort and a tree per node at the end of a 1,000-node
            // run); the ready peers it knows beyond them are looked for only when it knows
            // more than it was found to.
            let mut found = 0;
            for (id, &other) in &ids {
                if *id == p.id {
                    continue;
                }
                if let Some(info) = p.heart.peer(id).filter(|i| i.ready) {
                    known += 1;
                    found += 1;
                    // Compared in place: cloning both sets for every pair was a million
                    // allocations of strings at the end of a 1,000-node run.
                    let groups = &info.groups;
                    let truth = self.slots[other].proc.as_ref().map(|q| &q.groups);
                    let same = truth.map_or(groups.is_empty(), |t| {
                        groups.iter().eq(t.iter().map(String::as_str))
                    });
                    if !same {
                        problems.push(format!(
                            "liveness: {} sees {id} in groups {:?}, it is in {:?}",
                            p.id,
                            groups.iter().collect::<Vec<_>>(),
                            truth
                                .map(|t| t.iter().collect::<Vec<_>>())
                                .unwrap_or_default()
                        ));
                    }
                } else if !(hub_down && subnets[s] != subnets[other]) {
                    problems.push(format!("liveness: {} does not know live {id}", p.id));
                }
            }
            if p.heart.peers().filter(|i| i.ready).count() > found {
                let mut dead: Vec<PeerId> = p
                    .heart
                    .peers()
                    .filter(|i| i.ready && !ids.contains_key(&i.id))
                    .map(|i| i.id)
                    .collect();
                dead.sort_unstable();
                for id in dead {
                    problems.push(format!("liveness: {} still knows dead {id}", p.id));
                }
            }
        }
        for (h, host) in self.hosts.iter().enumerate() {
            let hosting: Vec<usize> = host
                .slots
                .iter()
                .copied()
                .filter(|&s| {
                    self.slots[s]
                        .proc
                        .as_ref()
                        .is_some_and(|p| p.client.is_hosting())
                })
                .collect();
            let live_here = host.slots.iter().any(|&s| self.slots[s].proc.is_some());
            if hosting.len() > 1 {
                problems.push(format!("host {h} has {} agents", hosting.len()));
            }
            if live_here && hosting.is_empty() {
                problems.push(format!("liveness: host {h} has no agent"));
            }
            for &s in &host.slots {
                if let Some(p) = self.slots[s].proc.as_ref() {
                    if !p.client.is_welcomed() {
                        problems.push(format!(
                            "liveness: {} is not registered with its agent",
                            p.id
                        ));
                    }
                }
            }
        }
        if self.o.elections {
            // Without the hub the subnets are islands that need not agree on a leader (each
            // may have no contester); the safety check still holds across them.
            let islands = hub_down && {
                let mut nets: Vec<usize> = live.iter().map(|&s| subnets[s]).collect();
                nets.sort_unstable();
                nets.dedup();
                nets.len() > 1
            };
            self.check_leaders(&live, &ids, !islands, &mut problems);
        }
        for p in problems.into_iter().take(50) {
            self.violation(p);
        }
        self.report.pairs_known = known;
        self.report.pairs_total = (live.len() * live.len().saturating_sub(1)) as u64;
        self.report.live = live.len();
        self.report.simulated = self.now;
        self.hash.add_u64(self.report.events);
        self.report.trace_hash = self.hash.value();
        self.report
    }
}

impl World {
    /// Leaders after healing. Safety: no two nodes that both lead the contested group and see
    /// each other in it. Liveness (when `agree`): every live member names the same leader, a
    /// live member that contests (or none when no live member contests).
    fn check_leaders(
        &self,
        live: &[usize],
        ids: &BTreeMap<PeerId, usize>,
        agree: bool,
        problems: &mut Vec<String>,
    ) {
        let member = |s: usize| {
            self.slots[s]
                .proc
                .as_ref()
                .is_some_and(|p| p.groups.contains(LEAD))
        };
        let members: Vec<usize> = live.iter().copied().filter(|&s| member(s)).collect();
        let leading: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&s| {
                self.slots[s]
                    .proc
                    .as_ref()
                    .is_some_and(|p| p.heart.leader(LEAD) == Some(p.id))
            })
            .collect();
        for (i, &a) in leading.iter().enumerate() {
            for &b in &leading[i + 1..] {
                let (Some(pa), Some(pb)) =
                    (self.slots[a].proc.as_ref(), self.slots[b].proc.as_ref())
                else {
                    continue;
                };
                let sees =
                    |p: &Proc, q: PeerId| p.heart.peer(&q).is_some_and(|i| i.groups.contains(LEAD));
                if sees(pa, pb.id) && sees(pb, pa.id) {
                    problems.push(format!(
                        "two leaders of {LEAD} that see each other: {} and {}",
                        pa.id, pb.id
                    ));
                }
            }
        }
        if !agree {
            return;
        }
        let contesting = members.iter().any(|&s| s % 2 == 0);
        let mut named: BTreeSet<Option<PeerId>> = BTreeSet::new();
        for &s in &members {
            let Some(p) = self.slots[s].proc.as_ref() else {
                continue;
            };
            let l = p.heart.leader(LEAD);
            named.insert(l);
            match l {
                None if contesting => {
                    problems.push(format!("liveness: {} has no leader of {LEAD}", p.id));
                }
                Some(l) if !ids.get(&l).is_some_and(|&ls| ls % 2 == 0 && member(ls)) => {
                    problems.push(format!(
                        "liveness: {} names {l} leader of {LEAD}, not a live contester",
                        p.id
                    ));
                }
                _ => {}
            }
        }
        if named.len() > 1 {
            problems.push(format!(
                "liveness: the members of {LEAD} name {} different leaders",
                named.len()
            ));
        }
    }
}

fn payload(id: PeerId, seq: u64) -> Content {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(id.as_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    Content::from_vec(vec![Bytes::from(b)])
}

fn parse_payload(c: &Content) -> Option<(PeerId, u64)> {
    let f = c.first()?;
    if c.len() != 1 || f.len() != 24 {
        return None;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&f[..16]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&f[16..]);
    Some((PeerId::from_bytes(id), u64::from_be_bytes(seq)))
}

/// The link a hub's routing id names (the simulator's routing ids are 8-byte link numbers).
fn rid_of(to: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(to.try_into().ok()?))
}

fn kind_name(k: u8) -> &'static str {
    match k {
        3 => "JOIN",
        4 => "LEAVE",
        5 => "WHISPER",
        6 => "SHOUT",
        7 => "EVASIVE",
        8 => "SILENT",
        _ => "an event",
    }
}

fn reason_name(r: &ExitReason) -> &'static str {
    match r {
        ExitReason::Lost => "lost",
        ExitReason::Leaving => "leaving",
        _ => "other",
    }
}
