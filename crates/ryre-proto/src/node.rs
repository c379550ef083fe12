//! `NodeState`: the whole ZRE protocol of one node as a deterministic state machine.
//!
//! Feed it what happened ([`NodeState::handle`], [`NodeState::handle_timeout`]) and drain what it
//! wants done ([`NodeState::poll_transmit`], [`NodeState::poll_event`],
//! [`NodeState::poll_timeout`]). It never touches a socket or reads a clock: `now` is always given.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::fast::FixedState;

use crate::beacon::{Beacon, BeaconError};
use crate::group::Groups;
use crate::msg::{Content, DecodeError, EncodeError, Hello, Message};
use crate::peer::{endpoint_key, EndpointIndex, Peer, PeerTable};
pub use crate::peer::{PeerInfo, PeerState};
use crate::security::certified::CertifiedMode;
use crate::security::revocation::Revocation;
use crate::security::{Auth, Keyring, PublicKey, Refusal, Security, SignedBeacon};
use crate::{Event, ExitReason, Frames, PeerId, Transmit};

/// A stop waiting for PING-OKs ([`Config::stop_flush`]).
#[derive(Debug)]
pub(crate) struct StopFlush {
    /// When the node stops whether or not every peer answered.
    pub until: Instant,
    /// The peers whose PING-OK has not come yet.
    pub waiting: std::collections::HashSet<PeerId, FixedState>,
}

/// How many leaving ids a node remembers at most.
const DEPARTED_MAX: usize = 1024;

/// A node's own settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Own identity.
    pub id: PeerId,
    /// Own name, sent in HELLO (at most 255 bytes).
    pub name: String,
    /// Own inbox endpoint, sent in HELLO (at most 255 bytes).
    pub endpoint: String,
    /// Own headers, sent in HELLO.
    pub headers: BTreeMap<String, String>,
    /// Silence after which a peer is pinged and reported EVASIVE (default 5 s).
    pub evasive: Duration,
    /// Silence after which a peer is dropped with EXIT (default 30 s).
    pub expired: Duration,
    /// How long after a peer said it was leaving its beacons still count as stale (default
    /// 250 ms; the node sets a quarter of its beacon interval, at most 250 ms). A beacon heard
    /// later means the peer is alive after all (the leaving beacon was forged, or it came back):
    /// it is taken back at once. HELLOs never bring a departed peer back on their own.
    pub rejoin_grace: Duration,
    /// Secure mode (CURVE on every link, keys bound to UUIDs, signed beacons); `None`: open ZRE.
    pub security: Option<Security>,
    /// A dual-stack node's IPv6 endpoint (`tcp://[addr]:port`, at most 255 bytes): HELLO
    /// announces it instead of `endpoint` to the peers this node reaches over IPv6, so that an
    /// IPv6-only peer greeted before it heard a beacon can reach this node (default none).
    pub endpoint_v6: Option<String>,
    /// Certified mode (needs `security`): certificates in HELLO, group rights, revocations
    /// (see [`crate::security::certified`]); `None`: no certificates.
    pub certified: Option<CertifiedMode>,
    /// How long [`Command::Stop`] may wait for the ready peers this node has sent messages to
    /// to answer a PING, before it drops them and stops. Each peer handles its messages in
    /// order, so its PING-OK means everything sent to it before the stop has been handled
    /// there: the leaving beacon that follows cannot overtake them, and a process that stops
    /// and exits at once loses nothing still queued. Zero (the default here): stop at once,
    /// as Zyre does. The `ryre` crate's nodes wait up to 500 ms.
    pub stop_flush: Duration,
}

impl Config {
    /// Settings with Zyre's default timeouts (evasive 5 s, expired 30 s) and no headers.
    pub fn new(id: PeerId, name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Config {
            id,
            name: name.into(),
            endpoint: endpoint.into(),
            headers: BTreeMap::new(),
            evasive: Duration::from_secs(5),
            expired: Duration::from_secs(30),
            rejoin_grace: Duration::from_millis(250),
            security: None,
            endpoint_v6: None,
            certified: None,
            stop_flush: Duration::ZERO,
        }
    }

    /// How often silent peers are re-examined: min(evasive, expired, 1 s), as Zyre's reaper.
    pub fn reap_interval(&self) -> Duration {
        self.evasive
            .min(self.expired)
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(1))
    }
}

/// Something that happened, for the heart to act on.
#[derive(Debug, Clone)]
pub enum Input {
    /// A UDP datagram arrived on the beacon port from `from` (the driver has already dropped
    /// datagrams from outside the interface's subnet). The heart decodes it: its own beacons are
    /// ignored, version 3 (CURVE) beacons too (this node speaks version 1), port 0 means the
    /// sender is leaving, anything else introduces `tcp://<from>:<port>`.
    Beacon {
        /// The datagram's source address.
        from: IpAddr,
        /// The datagram.
        data: Bytes,
    },
    /// Discovery says peer `id` is reachable at `endpoint` (a beacon, the device agent, ...).
    Discovered {
        /// The peer.
        id: PeerId,
        /// Its inbox endpoint, e.g. `tcp://10.0.0.5:49152`.
        endpoint: String,
    },
    /// Discovery says peer `id` is reachable at `endpoint` with CURVE key `key` (a secure
    /// discovery source such as gossip's `endpoint|key` tuples). The key is checked and bound
    /// like a v3 beacon's. An open node ignores it (a CURVE peer would not let it in).
    DiscoveredKey {
        /// The peer.
        id: PeerId,
        /// Its inbox endpoint.
        endpoint: String,
        /// Its CURVE public key.
        key: PublicKey,
    },
    /// Discovery says peer `id` is leaving (a port-0 beacon, or the machine's agent).
    Departed {
        /// The peer.
        id: PeerId,
    },
    /// A local party that vouches for peers' liveness (the machine's rendezvous agent, or the
    /// process-wide registry) says peer `id` is at `endpoint`: like [`Input::Discovered`], and
    /// the peer is supervised (no keep-alive, never evasive or expired) until that party reports
    /// it gone or is lost itself.
    Local {
        /// The peer.
        id: PeerId,
        /// Its inbox endpoint.
        endpoint: String,
    },
    /// A secure node's agent says peer `id` (another process of this machine) is at `endpoint`
    /// with CURVE key `key`, which the registration proved: like [`Input::Local`], with the key
    /// checked and bound like a beacon's. An open node ignores it.
    LocalKey {
        /// The peer.
        id: PeerId,
        /// Its inbox endpoint.
        endpoint: String,
        /// Its CURVE public key.
        key: PublicKey,
    },
    /// A secure node's agent passes on peer `id`'s proven Leave, made with `key`: like
    /// [`Input::Departed`] if `key` is the one bound to `id`. An open node ignores it.
    DepartedKey {
        /// The peer.
        id: PeerId,
        /// The key that signed the Leave.
        key: PublicKey,
    },
    /// The vouching party says peer `id` died (its registration dropped without a goodbye):
    /// EXIT at once, with [`ExitReason::Lost`].
    Lost {
        /// The peer.
        id: PeerId,
    },
    /// The vouching party is gone (the agent died): every supervised peer goes back to normal
    /// liveness checks from now on, so nothing is reported as gone that may still be alive.
    Unsupervise,
    /// A message arrived at the inbox: the ROUTER's routing id, then the message frames.
    Inbox {
        /// The sender's routing id (`0x01` + its UUID for a ZRE peer).
        routing_id: Bytes,
        /// The ZRE frames.
        frames: Vec<Bytes>,
    },
    /// The transport could not queue a message to `id` (its high-water mark is reached): the
    /// peer is dropped (EXIT, [`ExitReason::QueueFull`]). A peer the local party vouches for
    /// is taken again, on a fresh link, one reap interval later.
    SendFailed {
        /// The peer.
        id: PeerId,
    },
    /// The application asks for something.
    Command(Command),
    /// Certified mode: revocations from outside the mesh (a revocation file handed to the
    /// node), each signature checked by its decoder. Peers they revoke are dropped and the new
    /// ones are passed on to every certified peer. Other modes ignore them.
    Revocations(Vec<Revocation>),
}

/// What the application can ask of the node.
#[derive(Debug, Clone)]
pub enum Command {
    /// Join a group (no-op when already in it).
    Join(String),
    /// Leave a group (no-op when not in it).
    Leave(String),
    /// Send content to one peer.
    Whisper {
        /// The peer.
        peer: PeerId,
        /// The content frames.
        content: Content,
    },
    /// Send content to every peer in a group.
    Shout {
        /// The group.
        group: String,
        /// The content frames.
        content: Content,
    },
    /// Introduce a peer found by some other means than discovery (like [`Input::Discovered`]).
    Connect {
        /// The peer.
        peer: PeerId,
        /// Its inbox endpoint.
        endpoint: String,
    },
    /// Take part in leader elections for a group (Zyre's `zyre_set_contest_in_group`).
    Contest(String),
    /// Stop: drop every peer and report STOP.
    Stop,
}

/// Input the heart refused; nothing changed (beyond what the rules demand, e.g. dropping a peer
/// after a sequence gap). The driver logs these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The routing id is not `0x01` + 16 bytes.
    #[error("message with a bad routing id ({0} bytes) dropped")]
    BadRoutingId(usize),
    /// The frames are not a ZRE message.
    #[error("malformed message from {from}: {error}")]
    Malformed {
        /// The sender (from its routing id).
        from: PeerId,
        /// What is wrong.
        error: DecodeError,
    },
    /// A message other than HELLO from a peer that has not said HELLO.
    #[error("{msg} from {from}, which has not said HELLO, ignored")]
    NotReady {
        /// The sender.
        from: PeerId,
        /// The message name.
        msg: &'static str,
    },
    /// Lost messages: the peer was dropped.
    #[error("sequence gap from {from}: expected {expected}, got {got}; peer dropped")]
    SequenceGap {
        /// The sender.
        from: PeerId,
        /// Expected sequence.
        expected: u16,
        /// Received sequence.
        got: u16,
    },
    /// A JOIN/LEAVE whose status is not ours + 1 (Zyre asserts here; we resynchronise).
    #[error("status mismatch from {from}: expected {expected}, got {got}; adopted")]
    StatusMismatch {
        /// The sender.
        from: PeerId,
        /// What we computed.
        expected: u8,
        /// What it said.
        got: u8,
    },
    /// A datagram on the beacon port that is not a beacon.
    #[error("not a beacon from {from}: {error}")]
    BadBeacon {
        /// Its source.
        from: IpAddr,
        /// What is wrong.
        error: BeaconError,
    },
    /// A HELLO from a peer that has sent its leaving beacon (the beacon overtook the HELLO).
    #[error("HELLO from {0}, which has left, ignored")]
    Departed(PeerId),
    /// A whisper to a peer we do not know.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// A command or message could not be encoded (e.g. a group name over 255 bytes).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// ELECT or LEADER with an id that is not 32 hex characters.
    #[error("election message from {from} with a bad id {id:?} ignored")]
    BadElection {
        /// The sender.
        from: PeerId,
        /// The id it sent.
        id: String,
    },
    /// The node has stopped; the command was ignored.
    #[error("node is stopped")]
    Stopped,
    /// Secure mode refused a beacon.
    #[error("beacon from {from} for {id} refused: {reason}")]
    RefusedBeacon {
        /// Its source.
        from: IpAddr,
        /// The UUID it claims.
        id: PeerId,
        /// Why.
        reason: Refusal,
    },
    /// Secure mode refused a message, an announcement or a connection.
    #[error("{id} refused: {reason}")]
    Refused {
        /// The UUID it claims.
        id: PeerId,
        /// Why.
        reason: Refusal,
    },
    /// Certified mode: a JOIN, SHOUT or WHISPER without the right for it (from a peer: dropped;
    /// from this node's application: not sent).
    #[error("{id} may not {what} {group:?}: its certificate does not grant it")]
    NotEntitled {
        /// Who lacks the right (this node's own id for a command).
        id: PeerId,
        /// "join", "shout" or "whisper to".
        what: &'static str,
        /// The group (for a whisper, the receiving peer's id).
        group: String,
    },
}

/// Counters of what the heart has done, for tests, logs and dashboards (and the Prometheus
/// metrics of `ryre-bridge`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// ZRE messages accepted from peers.
    pub received: u64,
    /// ZRE messages queued to peers.
    pub sent: u64,
    /// Inbox messages dropped as malformed (bad routing id or bad frames).
    pub malformed: u64,
    /// Messages ignored (not ready, unknown peer).
    pub ignored: u64,
    /// Beacons, messages and announcements refused by secure mode (see [`Problem::Refused`]).
    pub refused: u64,
    /// Secure mode: signed beacons of live peers taken without checking their signature, as
    /// they change nothing (see [`crate::security::Keyring::defer_signed`]).
    pub beacons_deferred: u64,
    /// Inbox messages that arrived, by ZRE message id (`msg::id`, 1 HELLO ..= 10 GOODBYE);
    /// index 0 counts arrivals that are not ZRE messages. Counted before any check.
    pub messages_in: [u64; 11],
    /// Messages queued to peers, by ZRE message id.
    pub messages_out: [u64; 11],
    /// Bytes of every frame that arrived in the inbox (routing id excluded).
    pub bytes_in: u64,
    /// Bytes of every frame queued to peers.
    pub bytes_out: u64,
    /// Refused input by kind, indexed as [`Problem::KINDS`].
    pub problems: [u64; Problem::KINDS.len()],
    /// Peers dropped, by reason, indexed as [`ExitReason::KINDS`].
    pub exits: [u64; ExitReason::KINDS.len()],
    /// LEADER events: elections this node saw decided.
    pub leaders: u64,
    /// Certified mode: HELLOs refused for their certificate, by reason, indexed as
    /// [`crate::security::certified::CertRefusal::KINDS`] (each also counts in `refused`).
    pub cert_refused: [u64; crate::security::certified::CertRefusal::KINDS.len()],
}

impl Stats {
    /// The ZRE message name of an index of [`Stats::messages_in`] / [`Stats::messages_out`].
    pub fn message_kind(index: usize) -> &'static str {
        const NAMES: [&str; 11] = [
            "OTHER", "HELLO", "WHISPER", "SHOUT", "JOIN", "LEAVE", "PING", "PING_OK", "ELECT",
            "LEADER", "GOODBYE",
        ];
        NAMES.get(index).copied().unwrap_or("OTHER")
    }

    /// The counter index of a message whose first frame is `head` (0: not a ZRE message).
    fn kind_of(head: &[u8]) -> usize {
        match head {
            [0xAA, 0xA1, id, ..] if (1..=10).contains(id) => usize::from(*id),
            _ => 0,
        }
    }
}

impl Problem {
    /// The kinds of problem, as counted in [`Stats::problems`].
    pub const KINDS: [&'static str; 14] = [
        "bad-routing-id",
        "malformed",
        "not-ready",
        "sequence-gap",
        "status-mismatch",
        "bad-beacon",
        "departed",
        "unknown-peer",
        "encode",
        "bad-election",
        "stopped",
        "refused-beacon",
        "refused",
        "not-entitled",
    ];

    /// This problem's index in [`Problem::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Problem::BadRoutingId(_) => 0,
            Problem::Malformed { .. } => 1,
            Problem::NotReady { .. } => 2,
            Problem::SequenceGap { .. } => 3,
            Problem::StatusMismatch { .. } => 4,
            Problem::BadBeacon { .. } => 5,
            Problem::Departed(_) => 6,
            Problem::UnknownPeer(_) => 7,
            Problem::Encode(_) => 8,
            Problem::BadElection { .. } => 9,
            Problem::Stopped => 10,
            Problem::RefusedBeacon { .. } => 11,
            Problem::Refused { .. } => 12,
            Problem::NotEntitled { .. } => 13,
        }
    }
}

/// The protocol state of one ZRE node. See the [crate documentation](crate).
#[derive(Debug)]
pub struct NodeState {
    pub(crate) config: Config,
    pub(crate) name: Arc<str>,
    pub(crate) status: u8,
    pub(crate) own_groups: BTreeSet<String>,
    pub(crate) peers: PeerTable,
    /// Ids that said they were leaving, and when they said it.
    pub(crate) departed: HashMap<PeerId, Instant, FixedState>,
    pub(crate) groups: Groups,
    pub(crate) elections: crate::election::Elections,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    /// The deadline index: (when, peer) for every peer that has a deadline, with lazy
    /// invalidation. Each peer's live entry is the one at its `timer_at`, and is never later
    /// than its deadline; other entries are stale and skipped. The top is kept exact (see
    /// [`NodeState::settle_timers`]), so the next deadline costs nothing and a wake-up visits
    /// only the peers that are due, not every peer.
    pub(crate) timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    /// The endpoint index: every peer under the key of its endpoint, so a new peer finds any
    /// other peer at its endpoint without a scan.
    pub(crate) endpoints: EndpointIndex,
    pub(crate) stats: Stats,
    pub(crate) stopped: bool,
    /// A stop waiting for its peers' PING-OK (see [`Config::stop_flush`]).
    pub(crate) stopping: Option<StopFlush>,
    pub(crate) scratch: Vec<u8>,
    /// Peers the local party (agent, registry) vouches for, and their endpoints: a peer re-created
    /// (after a second HELLO or a link fault) stays supervised.
    pub(crate) vouched: HashMap<PeerId, String, FixedState>,
    /// Secure mode: which key each UUID is bound to.
    pub(crate) keyring: Option<Keyring>,
    /// Certified mode's state (moved out of the config).
    pub(crate) cert: Option<CertifiedMode>,
    /// When certificates are next checked for expiry.
    pub(crate) cert_check_at: Option<Instant>,
    /// Test-only: the sequence check is off (see [`NodeState::break_sequence_check`]).
    pub(crate) broken_sequence_check: bool,
    /// The time of the input being handled (elections schedule their retries from it).
    pub(crate) now: Option<Instant>,
    /// Vouched peers dropped at a full queue, and when to take them again (see
    /// [`Input::SendFailed`]).
    pub(crate) retake: Vec<(Instant, PeerId)>,
    /// Our encoded HELLO (sequence 1) and whether it names the IPv6 endpoint: every new peer
    /// gets the same bytes until our groups, status or endpoint change (cleared then). Never
    /// kept in certified mode, whose HELLO carries the revocations as they stand.
    pub(crate) hello_cache: Option<(bool, Bytes)>,
    /// Half the evasive timeout: a fresh peer's deadline after it was last heard.
    pub(crate) half_evasive: Duration,
    /// The group of the last SHOUT taken: the next SHOUT to it needs no UTF-8 check and
    /// shares this name.
    pub(crate) shout_group: Option<Arc<str>>,
    /// The members of the group last shouted to, in id order, with their slots (or none: not a
    /// peer), while the groups and peers stand as they were ([`Groups::version`],
    /// [`PeerTable::version`]): the next SHOUT walks a vector, with no tree or hash lookups.
    pub(crate) shout_members: ShoutMembers,
}

/// See [`NodeState::shout_members`].
#[derive(Debug, Default)]
pub(crate) struct ShoutMembers {
    group: String,
    versions: Option<(u64, u64)>,
    members: Vec<(PeerId, Option<u32>)>,
}

impl NodeState {
    /// A node with no peers, in no group, status 0.
    pub fn new(mut config: Config) -> Self {
        let cert = config.certified.take();
        let seed = {
            let b = config.id.as_bytes();
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        };
        let half_evasive = config.evasive / 2;
        let keyring = config
            .security
            .as_ref()
            .map(|s| Keyring::new(s.trust.clone()));
        NodeState {
            keyring,
            cert,
            cert_check_at: None,
            name: Arc::from(config.name.as_str()),
            config,
            status: 0,
            own_groups: BTreeSet::new(),
            // foldhash, seeded from our own id: fast, and the same run after run for the same
            // node (the heart stays deterministic), yet different from node to node.
            peers: PeerTable::with_hasher(FixedState::with_seed(seed)),
            departed: HashMap::with_hasher(FixedState::with_seed(seed)),
            groups: Groups::default(),
            elections: Default::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: BinaryHeap::new(),
            endpoints: EndpointIndex::with_hasher(FixedState::with_seed(seed)),
            stats: Stats::default(),
            stopped: false,
            stopping: None,
            scratch: Vec::with_capacity(64),
            broken_sequence_check: false,
            now: None,
            retake: Vec::new(),
            hello_cache: None,
            half_evasive,
            shout_group: None,
            shout_members: ShoutMembers::default(),
            vouched: HashMap::with_hasher(FixedState::with_seed(seed)),
        }
    }

    /// Test-only switch for the simulator's "can the oracle fail?" test: this heart no longer
    /// checks ZRE sequence numbers, so a lost message goes unnoticed. Never use it otherwise.
    #[doc(hidden)]
    pub fn break_sequence_check(&mut self) {
        self.broken_sequence_check = true;
    }

    /// Own settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets own inbox endpoint (before any peer is known; HELLO carries it).
    pub fn set_endpoint(&mut self, endpoint: impl Into<String>) {
        self.config.endpoint = endpoint.into();
        self.hello_cache = None;
    }

    /// The CURVE key bound to `id` (secure mode): the server key to connect to it with.
    pub fn peer_key(&self, id: &PeerId) -> Option<PublicKey> {
        self.keyring.as_ref().and_then(|k| k.key(id))
    }

    /// Whether the node runs in secure mode.
    pub fn is_secure(&self) -> bool {
        self.keyring.is_some()
    }

    /// Own status byte.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the node has stopped: `Command::Stop` has been handled and, with
    /// [`Config::stop_flush`], the peers have answered or the wait has run out.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Whether `Command::Stop` has been handled (the node may still be waiting for its peers'
    /// PING-OK before it stops).
    pub fn is_stopping(&self) -> bool {
        self.stopped || self.stopping.is_some()
    }

    /// Groups this node is in.
    pub fn own_groups(&self) -> impl Iterator<Item = &str> {
        self.own_groups.iter().map(String::as_str)
    }

    /// Peers that have said HELLO.
    pub fn peers(&self) -> impl Iterator<Item = &PeerInfo> {
        self.peers.values().map(|p| &p.info).filter(|i| i.ready)
    }

    /// One peer, once it has said HELLO.
    pub fn peer(&self, id: &PeerId) -> Option<&PeerInfo> {
        self.peers.get(id).map(|p| &p.info).filter(|i| i.ready)
    }

    /// Ready peers in `group`.
    pub fn peers_by_group<'a>(&'a self, group: &str) -> impl Iterator<Item = PeerId> + 'a {
        self.groups
            .members(group)
            .filter(|id| self.peer(id).is_some())
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Groups that remote peers are in.
    pub fn peer_groups(&self) -> impl Iterator<Item = &str> {
        self.groups.names()
    }

    /// The leader of `group`, once an election there has completed.
    pub fn leader(&self, group: &str) -> Option<PeerId> {
        self.elections.leader(group)
    }

    /// The next transport action.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if matches!(event, Some(Event::Leader { .. })) {
            self.stats.leaders += 1;
        }
        event
    }

    /// When [`NodeState::handle_timeout`] should next be called (it may be called earlier).
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Asked after every input: each part only when it has a deadline.
        fn earlier(a: Option<Instant>, b: Instant) -> Option<Instant> {
            Some(a.map_or(b, |a| a.min(b)))
        }
        let mut next = self.timers.peek().map(|Reverse((at, _))| *at);
        if let Some(heard) = self.peers.fresh_first_heard() {
            next = earlier(next, heard + self.half_evasive);
        }
        if let Some(at) = self.elections.next_retry() {
            next = earlier(next, at);
        }
        if let Some(at) = self.retake.iter().map(|&(at, _)| at).min() {
            next = earlier(next, at);
        }
        if let Some(f) = &self.stopping {
            next = earlier(next, f.until);
        }
        next
    }

    /// Acts on one input. `Err` explains input that was refused or dropped; the state is
    /// consistent either way.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), Problem> {
        self.now = Some(now);
        if let Input::Inbox { frames, .. } = &input {
            let (head, rest) = match frames.split_first() {
                Some((h, rest)) => (Some(&h[..]), rest),
                None => (None, &frames[..]),
            };
            self.count_in(head, rest);
        }
        let result = self.handle_input(now, input);
        self.count_problem(&result);
        result
    }

    /// Counts an inbox arrival: its kind (by frame 1) and its bytes.
    pub(crate) fn count_in(&mut self, head: Option<&[u8]>, content: &[Bytes]) {
        self.stats.messages_in[head.map_or(0, Stats::kind_of)] += 1;
        let bytes = head.map_or(0, <[u8]>::len) + content.iter().map(Bytes::len).sum::<usize>();
        self.stats.bytes_in += bytes as u64;
    }

    /// Counts a refused input by kind.
    pub(crate) fn count_problem(&mut self, result: &Result<(), Problem>) {
        if let Err(problem) = result {
            self.stats.problems[problem.kind_index()] += 1;
        }
    }

    fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), Problem> {
        match input {
            Input::Revocations(list) => {
                self.add_revocations(now, None, list);
                Ok(())
            }
            Input::Beacon { from, data } => self.on_beacon(now, from, &data),
            Input::Discovered { id, endpoint } => {
                if let Some(ring) = &self.keyring {
                    if ring.key(&id).is_none() && !ring.is_process(&id) && id != self.config.id {
                        return Err(self.refuse(id, Refusal::NoKey));
                    }
                }
                if !self.is_stopping() && id != self.config.id && self.readmits(now, id) {
                    self.require_peer(now, id, endpoint);
                }
                Ok(())
            }
            Input::DiscoveredKey { id, endpoint, key } => {
                if id == self.config.id {
                    return Ok(());
                }
                if !self.admit_key(id, key)? {
                    return Ok(());
                }
                self.handle(now, Input::Discovered { id, endpoint })
            }
            Input::Departed { id } => {
                self.vouched.remove(&id);
                if id != self.config.id {
                    self.note_departed(now, id);
                }
                if self.peers.contains_key(&id) {
                    self.remove_peer(id, ExitReason::Leaving);
                }
                Ok(())
            }
            Input::LocalKey { id, endpoint, key } => {
                if self.is_stopping() || id == self.config.id || self.has_departed(now, &id) {
                    return Ok(());
                }
                if !self.admit_key(id, key)? {
                    return Ok(());
                }
                self.on_local(now, id, endpoint);
                Ok(())
            }
            Input::DepartedKey { id, key } => {
                let Some(ring) = &self.keyring else {
                    self.stats.ignored += 1;
                    return Ok(());
                };
                if let Err(reason) = ring.check(&id, &key) {
                    return Err(self.refuse(id, reason));
                }
                self.handle(now, Input::Departed { id })
            }
            Input::Local { id, endpoint } => {
                if self.is_stopping() || id == self.config.id || self.has_departed(now, &id) {
                    return Ok(());
                }
                if let Some(ring) = &mut self.keyring {
                    // A secure node's agent announces keys (Input::LocalKey): what vouches
                    // without a key is this process's registry, whose nodes are trusted within
                    // the process, never over the wire.
                    if let Err(reason) = ring.admit_process(id) {
                        return Err(self.refuse(id, reason));
                    }
                }
                self.on_local(now, id, endpoint);
                Ok(())
            }
            Input::Lost { id } => {
                self.vouched.remove(&id);
                if id != self.config.id {
                    self.note_departed(now, id);
                }
                if self.peers.contains_key(&id) {
                    self.remove_peer(id, ExitReason::Lost);
                }
                Ok(())
            }
            Input::Unsupervise => {
                self.vouched.clear();
                let mut ids = Vec::new();
                for p in self.peers.values_mut().filter(|p| p.supervised) {
                    p.supervised = false;
                    p.refresh(now);
                    ids.push(p.info.id);
                }
                for id in ids {
                    self.reindex(id);
                }
                Ok(())
            }
            Input::Inbox { routing_id, frames } => {
                let mut frames = frames.into_iter();
                let head = frames.next();
                self.on_message(
                    now,
                    Auth::Plain,
                    &routing_id,
                    head.as_deref(),
                    frames.collect(),
                )
            }
            Input::SendFailed { id } => {
                if self.peers.contains_key(&id) {
                    self.remove_peer(id, ExitReason::QueueFull);
                    if self.vouched.contains_key(&id) {
                        // Nodes of one machine hear no beacons of each other: nothing else would
                        // introduce it again. Not at once (a peer that stopped reading would be
                        // re-created at every send, and its queue would never fill): one reap
                        // interval later, on a fresh link (found by ryre-sim, swarm seed 13).
                        let at = now + self.config.reap_interval();
                        self.retake.retain(|&(_, other)| other != id);
                        self.retake.push((at, id));
                    }
                }
                Ok(())
            }
            Input::Command(cmd) => self.on_command(now, cmd),
        }
    }

    /// Binds `id` to `key` in secure mode (refused: a counted problem); an open node ignores
    /// keyed announcements (`Ok(false)`: a CURVE peer would not let it in).
    fn admit_key(&mut self, id: PeerId, key: PublicKey) -> Result<bool, Problem> {
        let Some(ring) = &mut self.keyring else {
            self.stats.ignored += 1;
            return Ok(false);
        };
        match ring.admit(id, key) {
            Ok(()) => Ok(true),
            Err(reason) => Err(self.refuse(id, reason)),
        }
    }

    /// A peer the local party vouches for: supervised from now on.
    fn on_local(&mut self, now: Instant, id: PeerId, endpoint: String) {
        self.vouched.insert(id, endpoint.clone());
        self.require_peer(now, id, endpoint);
        if let Some(p) = self.peers.get_mut(&id) {
            p.refresh(now);
            p.supervised = true;
        }
        self.reindex(id);
    }

    /// Counts and describes a refusal.
    pub(crate) fn refuse(&mut self, id: PeerId, reason: Refusal) -> Problem {
        self.stats.refused += 1;
        if let Refusal::Certificate(c) = &reason {
            self.stats.cert_refused[c.kind_index()] += 1;
        }
        Problem::Refused { id, reason }
    }

    fn refuse_beacon(&mut self, from: IpAddr, id: PeerId, reason: Refusal) -> Problem {
        self.stats.refused += 1;
        Problem::RefusedBeacon { from, id, reason }
    }

    fn beacon_endpoint(from: IpAddr, port: u16) -> String {
        match from {
            // What `format!("tcp://{ip}:{port}")` gives, without the formatting machinery (once
            // per new peer: 3 % of a 300-node join).
            IpAddr::V4(ip) => {
                let mut s = String::with_capacity(27);
                s.push_str("tcp://");
                for (i, o) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        s.push('.');
                    }
                    push_decimal(&mut s, u32::from(o));
                }
                s.push(':');
                push_decimal(&mut s, u32::from(port));
                s
            }
            IpAddr::V6(ip) => format!("tcp://[{ip}]:{port}"),
        }
    }

    /// A beacon in secure mode: a signed ryre beacon, or Zyre's v3 beacon with its key. Plain v1
    /// beacons are a downgrade; an unsigned leaving beacon for a peer that signs is refused.
    fn on_secure_beacon(&mut self, now: Instant, from: IpAddr, data: &[u8]) -> Result<(), Problem> {
        let Some(ring) = self.keyring.as_mut() else {
            return Ok(());
        };
        if SignedBeacon::is_signed(data) {
            // A live peer's periodic beacon (nearly every beacon heard) changes nothing: its
            // signature is checked only if it comes to matter (see `Keyring::defer_signed`).
            // A secure mesh of N nodes would otherwise verify N(N-1) signatures per interval.
            if let Ok(b) = SignedBeacon::peek(data) {
                if b.id != self.config.id
                    && self.peers.contains_key(&b.id)
                    && !self.departed.contains_key(&b.id)
                    && ring.defer_signed(&b, data)
                {
                    self.stats.beacons_deferred += 1;
                    return Ok(());
                }
            }
            let beacon = match SignedBeacon::decode(data) {
                Ok(b) => b,
                Err(crate::security::SignedBeaconError::Forged) => {
                    let id = data
                        .get(4..20)
                        .and_then(PeerId::from_slice)
                        .unwrap_or_default();
                    return Err(self.refuse_beacon(from, id, Refusal::Forged));
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    return Err(Problem::BadBeacon {
                        from,
                        error: BeaconError::BadSignature,
                    });
                }
            };
            if beacon.id == self.config.id {
                self.stats.ignored += 1;
                return Ok(());
            }
            if let Err(reason) = ring.admit_signed(&beacon) {
                return Err(self.refuse_beacon(from, beacon.id, reason));
            }
            return self.on_admitted_beacon(now, from, beacon.id, beacon.port);
        }
        let beacon = Beacon::decode(data).map_err(|error| {
            self.stats.malformed += 1;
            Problem::BadBeacon { from, error }
        })?;
        if beacon.id == self.config.id {
            self.stats.ignored += 1;
            return Ok(());
        }
        let Some(key) = beacon.public_key.map(PublicKey) else {
            return Err(self.refuse_beacon(from, beacon.id, Refusal::Downgrade));
        };
        let Some(ring) = self.keyring.as_mut() else {
            return Ok(());
        };
        if !key.zyre_safe() {
            return Err(self.refuse_beacon(from, beacon.id, Refusal::BadKey));
        }
        if beacon.is_leaving() && ring.signs(&beacon.id) {
            return Err(self.refuse_beacon(from, beacon.id, Refusal::UnsignedLeaving));
        }
        if let Err(reason) = ring.admit(beacon.id, key) {
            return Err(self.refuse_beacon(from, beacon.id, reason));
        }
        self.on_admitted_beacon(now, from, beacon.id, beacon.port)
    }

    fn on_admitted_beacon(
        &mut self,
        now: Instant,
        from: IpAddr,
        id: PeerId,
        port: u16,
    ) -> Result<(), Problem> {
        if port == 0 {
            if self.peers.get(&id).is_some_and(|p| p.supervised) {
                self.stats.ignored += 1;
                return Ok(());
            }
            return self.handle(now, Input::Departed { id });
        }
        if self.peers.contains_key(&id) && !self.departed.contains_key(&id) {
            // A known peer's periodic beacon: nothing to do, as `Input::Discovered` would
            // find, without formatting its endpoint (as in open mode).
            return Ok(());
        }
        let endpoint = Self::beacon_endpoint(from, port);
        self.handle(now, Input::Discovered { id, endpoint })
    }

    fn on_beacon(&mut self, now: Instant, from: IpAddr, data: &[u8]) -> Result<(), Problem> {
        if self.keyring.is_some() {
            return self.on_secure_beacon(now, from, data);
        }
        if SignedBeacon::is_signed(data) {
            // A secure ryre node's signed beacon: not for an open node.
            self.stats.ignored += 1;
            return Ok(());
        }
        let beacon = Beacon::decode(data).map_err(|error| {
            self.stats.malformed += 1;
            Problem::BadBeacon { from, error }
        })?;
        if beacon.id == self.config.id || beacon.public_key.is_some() {
            self.stats.ignored += 1;
            return Ok(());
        }
        if !beacon.is_leaving()
            && self.peers.contains_key(&beacon.id)
            && !self.departed.contains_key(&beacon.id)
        {
            // A known peer's periodic beacon (nearly every beacon heard): nothing to do, as
            // `Input::Discovered` would find, without formatting its endpoint.
            return Ok(());
        }
        let input = if beacon.is_leaving() {
            // A peer vouched for by the machine's agent or this process leaves through them
            // (GONE, or the registry): a leaving beacon for it is forged or stale.
            if self.peers.get(&beacon.id).is_some_and(|p| p.supervised) {
                self.stats.ignored += 1;
                return Ok(());
            }
            Input::Departed { id: beacon.id }
        } else {
            let endpoint = Self::beacon_endpoint(from, beacon.port);
            Input::Discovered {
                id: beacon.id,
                endpoint,
            }
        };
        self.handle(now, input)
    }

    /// Acts on the passing of time: pings evasive peers, reports EVASIVE and SILENT, drops
    /// expired peers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.stopping.as_ref().is_some_and(|f| f.until <= now) {
            // Some peers did not answer in time: stop without them.
            self.finish_stop();
            return;
        }
        if !self.departed.is_empty() {
            let expired = self.config.expired;
            self.departed.retain(|_, since| *since + expired > now);
        }
        if let Some(ring) = &mut self.keyring {
            let (peers, departed) = (&self.peers, &self.departed);
            ring.prune(|id| peers.contains_key(id) || departed.contains_key(id));
        }
        let reap = self.config.reap_interval();
        let (evasive, expire) = (self.config.evasive, self.config.expired);
        let mut expired = Vec::new();
        let mut ping = Vec::new();
        let mut rearm = Vec::new();
        // Only the peers that are due: the first of the fresh list (in deadline order) and the
        // top of the deadline heap, taken in (deadline, id) order from both.
        let half = self.half_evasive;
        loop {
            let heap = self
                .timers
                .peek()
                .map(|&Reverse(entry)| entry)
                .filter(|&(at, _)| at <= now);
            let fresh = self.peers.fresh_first().and_then(|i| {
                let p = self.peers.at(i);
                let at = p.heard_at + half;
                (at <= now).then_some((at, p.info.id, i))
            });
            let (id, peer) = match (heap, fresh) {
                (None, None) => break,
                (Some((hat, hid)), Some((fat, fid, i))) if (fat, fid) < (hat, hid) => {
                    self.peers.fresh_unlink(i);
                    (fid, self.peers.at_mut(i))
                }
                (None, Some((_, fid, i))) => {
                    self.peers.fresh_unlink(i);
                    (fid, self.peers.at_mut(i))
                }
                (Some((at, id)), _) => {
                    self.timers.pop();
                    let Some(peer) = self.peers.get_mut(&id) else {
                        continue;
                    };
                    if peer.timer_at != Some(at) {
                        continue;
                    }
                    peer.timer_at = None;
                    (id, peer)
                }
            };
            if peer.supervised {
                continue;
            }
            if now >= peer.heard_at + expire {
                expired.push(peer.info.id);
                continue;
            }
            match peer.info.state {
                PeerState::Alive if now >= peer.heard_at + evasive => {
                    peer.info.state = PeerState::Evasive;
                    peer.next_ping_at = now + reap;
                    ping.push(peer.info.id);
                    if peer.info.ready {
                        self.events.push_back(Event::Evasive {
                            peer: peer.info.id,
                            name: peer.info.name.clone(),
                        });
                    }
                }
                // A peer that has been quiet for half the evasive time gets a keep-alive PING;
                // its PING-OK keeps it alive, so only a peer that does not answer turns evasive.
                PeerState::Alive if !peer.pinged && now >= peer.heard_at + evasive / 2 => {
                    peer.pinged = true;
                    ping.push(peer.info.id);
                }
                PeerState::Evasive | PeerState::Silent if now >= peer.next_ping_at => {
                    if peer.info.state == PeerState::Evasive && peer.info.ready {
                        self.events.push_back(Event::Silent {
                            peer: peer.info.id,
                            name: peer.info.name.clone(),
                        });
                    }
                    peer.info.state = PeerState::Silent;
                    peer.next_ping_at = now + reap;
                    ping.push(peer.info.id);
                }
                _ => {}
            }
            rearm.push(id);
        }
        // Re-armed after the loop: a deadline that is still not later than `now` (it cannot
        // be, but the loop must end whatever the timeouts) waits for the next call.
        for id in rearm {
            self.reindex(id);
        }
        for id in expired {
            self.remove_peer(id, ExitReason::Expired);
        }
        self.check_certificates(now);
        for id in ping {
            let _ = self.send(id, &Message::Ping);
        }
        if !self.retake.is_empty() {
            let mut due = Vec::new();
            self.retake.retain(|&(at, id)| {
                if at <= now {
                    due.push(id);
                }
                at > now
            });
            for id in due {
                if let Some(endpoint) = self.vouched.get(&id).cloned() {
                    if !self.is_stopping() && !self.has_departed(now, &id) {
                        self.require_peer(now, id, endpoint);
                    }
                }
            }
        }
        if !self.is_stopping() {
            self.elections_timeout(now);
        }
        self.settle_timers();
    }

    /// Remembers that `id` said it is leaving. A node's id lives as long as the node (Zyre, Pyre
    /// and ryre all draw a new one at start), so a HELLO from it afterwards (one that the leaving
    /// beacon overtook) is stale and must not bring it back for a whole expiry period: a peer that
    /// really stopped would linger as a ghost until it expired. Beacons are different (see
    /// [`NodeState::readmits`]). At most `DEPARTED_MAX` ids are kept.
    fn note_departed(&mut self, now: Instant, id: PeerId) {
        if self.departed.len() >= DEPARTED_MAX {
            let expired = self.config.expired;
            self.departed.retain(|_, since| *since + expired > now);
            if self.departed.len() >= DEPARTED_MAX {
                self.departed.clear();
            }
        }
        self.departed.insert(id, now);
    }

    fn has_departed(&self, now: Instant, id: &PeerId) -> bool {
        self.departed
            .get(id)
            .is_some_and(|since| *since + self.config.expired > now)
    }

    /// Whether an announcement of `id` (a beacon, or a discovery that stands for one) may bring
    /// it back. A node that stopped sends no beacon after its leaving one, so only a beacon that
    /// UDP reordered around it (within `rejoin_grace`) is stale; one heard later comes from a
    /// live node, whose leaving beacon was forged: it is taken back at once (Zyre re-admits on
    /// the next beacon too). Taking it back forgets the departure, so its HELLO is welcome again.
    fn readmits(&mut self, now: Instant, id: PeerId) -> bool {
        let Some(since) = self.departed.get(&id).copied() else {
            return true;
        };
        if now < since + self.config.rejoin_grace && now < since + self.config.expired {
            return false;
        }
        self.departed.remove(&id);
        true
    }

    /// The peer's deadline or endpoint may have changed: brings both indexes up to date. A
    /// deadline that moved later keeps its earlier entry (found stale when it comes up); one
    /// that moved earlier, or a peer with no entry, gets a new one.
    ///
    /// A fresh peer ([`Peer::is_fresh`]) goes to its place in the fresh list (any entry it had
    /// in the heap goes stale); any other leaves the list for the heap.
    pub(crate) fn reindex(&mut self, id: PeerId) {
        let (evasive, expired) = (self.config.evasive, self.config.expired);
        if let Some(i) = self.peers.slot(&id) {
            let p = self.peers.at_mut(i);
            let key = endpoint_key(&p.info.endpoint);
            if key != p.endpoint_key {
                self.endpoints.remove(p.endpoint_key, i);
                self.endpoints.insert(key, i);
                p.endpoint_key = key;
            }
            if p.is_fresh() {
                p.timer_at = None;
                self.peers.fresh_place(i);
            } else {
                self.peers.fresh_unlink(i);
                let p = self.peers.at_mut(i);
                if let Some(at) = p.deadline(evasive, expired) {
                    if p.timer_at.is_none_or(|t| at < t) {
                        p.timer_at = Some(at);
                        self.timers.push(Reverse((at, id)));
                    }
                }
            }
        }
        self.settle_timers();
    }

    /// Makes the top of the deadline index exact: drops stale entries (gone peers, superseded
    /// entries, supervised peers) and moves a live entry whose deadline went later to its new
    /// place, until the top is a peer's true deadline. Each entry is moved at most once per
    /// change of its peer, so this costs O(log n) amortised. Rebuilds the index when stale
    /// entries outnumber the peers.
    pub(crate) fn settle_timers(&mut self) {
        let (evasive, expired) = (self.config.evasive, self.config.expired);
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            let Some(i) = self
                .peers
                .slot(&id)
                .filter(|&i| self.peers.at(i).timer_at == Some(at))
            else {
                self.timers.pop();
                continue;
            };
            let p = self.peers.at_mut(i);
            if p.is_fresh() {
                // Its deadline is the fresh list's to keep.
                self.timers.pop();
                p.timer_at = None;
                self.peers.fresh_place(i);
                continue;
            }
            match p.deadline(evasive, expired) {
                Some(d) if d == at => break,
                Some(d) => {
                    // Move the entry in place (one sift down) rather than pop and push (a
                    // sift to the bottom and one up, then another up): the same entries, so
                    // the same order of deadlines (they are distinct values).
                    p.timer_at = Some(d);
                    if let Some(mut top) = self.timers.peek_mut() {
                        top.0 = (d, id);
                    }
                }
                None => {
                    self.timers.pop();
                    p.timer_at = None;
                }
            }
        }
        if self.timers.len() > 64 + 2 * self.peers.len() {
            let mut timers = Vec::with_capacity(self.peers.len());
            for p in self.peers.values_mut() {
                p.timer_at = if p.is_fresh() {
                    None
                } else {
                    p.deadline(evasive, expired)
                };
                if let Some(at) = p.timer_at {
                    timers.push(Reverse((at, p.info.id)));
                }
            }
            self.timers = BinaryHeap::from(timers);
        }
    }

    /// Whether the top of the deadline index is exact (what [`NodeState::settle_timers`]
    /// leaves): for debug assertions.
    pub(crate) fn timers_settled(&self) -> bool {
        let (evasive, expired) = (self.config.evasive, self.config.expired);
        let top = match self.timers.peek() {
            None => true,
            Some(&Reverse((at, id))) => self.peers.get(&id).is_some_and(|p| {
                !p.is_fresh() && p.timer_at == Some(at) && p.deadline(evasive, expired) == Some(at)
            }),
        };
        top && self.timers.len() <= 64 + 2 * self.peers.len()
    }

    /// Empties both indexes (the node stopped and dropped every peer).
    pub(crate) fn clear_index(&mut self) {
        self.timers.clear();
        self.endpoints.clear();
    }

    /// HELLO to a peer (at an IPv6 endpoint when `to_v6`): announcing the IPv6 endpoint to an
    /// IPv6 peer of a dual-stack node, the (IPv4 or only) endpoint otherwise; a secure node's carries `X-PUBLICKEY`.
    fn hello(&self, to_v6: bool) -> Message {
        let endpoint = match &self.config.endpoint_v6 {
            Some(v6) if to_v6 => v6,
            _ => &self.config.endpoint,
        };
        let mut headers = self.config.headers.clone();
        if let Some(sec) = &self.config.security {
            headers.insert(
                crate::security::PUBLIC_KEY_HEADER.to_string(),
                sec.key.to_z85(),
            );
        }
        if let Some(c) = &self.cert {
            use crate::security::certified::{CERT_HEADER, REVOCATIONS_HEADER};
            headers.insert(CERT_HEADER.to_string(), c.state.cert_header().to_string());
            headers.insert(
                REVOCATIONS_HEADER.to_string(),
                c.state.revocations_header().to_string(),
            );
        }
        // Certified mode: a HELLO goes out before the peer is admitted, so it names no group;
        // the groups follow as JOINs to the peers entitled to know of them (`announce_groups`).
        let (groups, status) = match &self.cert {
            Some(_) => (Vec::new(), 0),
            None => (self.own_groups.iter().cloned().collect(), self.status),
        };
        Message::Hello(Hello {
            endpoint: endpoint.clone(),
            groups,
            status,
            name: self.config.name.clone(),
            headers,
        })
    }

    /// Sends HELLO to the new peer `id` (at an IPv6 endpoint when `to_v6`): the bytes [`NodeState::hello`] encodes, kept
    /// (see [`NodeState::hello_cache`]) so that a thousand new peers cost one encoding and
    /// share one buffer.
    fn send_hello(&mut self, id: PeerId, to_v6: bool) -> Result<(), Problem> {
        let v6 = self.config.endpoint_v6.is_some() && to_v6;
        if self.peers.get(&id).is_none_or(|p| p.sent_sequence != 0) {
            // Not a fresh link (never the case from `require_peer`): the general path.
            let hello = self.hello(to_v6);
            return self.send(id, &hello);
        }
        let head = match &self.hello_cache {
            Some((cached_v6, head)) if *cached_v6 == v6 && self.cert.is_none() => head.clone(),
            _ => {
                self.hello(to_v6).encode_head(1, &mut self.scratch)?;
                let head = Bytes::copy_from_slice(&self.scratch);
                if self.cert.is_none() {
                    self.hello_cache = Some((v6, head.clone()));
                }
                head
            }
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            self.stats.ignored += 1;
            return Err(Problem::UnknownPeer(id));
        };
        peer.sent_sequence = 1;
        self.stats.sent += 1;
        self.stats.messages_out[Stats::kind_of(&head)] += 1;
        self.stats.bytes_out += head.len() as u64;
        self.transmits.push_back(Transmit::Send {
            peer: id,
            frames: Frames::from_head(head, Content::new()),
        });
        Ok(())
    }

    /// Knows `id` at `endpoint`: creates it (purging any other peer at that endpoint), connects
    /// and says HELLO. Returns false when `id` was already known.
    pub(crate) fn require_peer(&mut self, now: Instant, id: PeerId, endpoint: String) -> bool {
        if self.peers.contains_key(&id) {
            return false;
        }
        let key = endpoint_key(&endpoint);
        let mut stale: smallvec::SmallVec<[PeerId; 2]> = self
            .endpoints
            .at(key)
            .into_iter()
            .filter_map(|i| self.peers.get_at(i))
            .filter(|p| p.info.endpoint == endpoint)
            .map(|p| p.info.id)
            .collect();
        // In id order, as the tree of (key, id) pairs gave them.
        stale.sort_unstable();
        for old in stale {
            self.remove_peer(old, ExitReason::EndpointReused);
        }
        let mut peer = Peer::new(id, endpoint.clone(), now, self.config.evasive);
        peer.supervised = self.vouched.contains_key(&id);
        let key = peer.endpoint_key;
        self.peers.insert(id, peer);
        if let Some(i) = self.peers.slot(&id) {
            self.endpoints.insert(key, i);
        }
        self.reindex(id);
        // An IPv6 endpoint is told our IPv6 endpoint (the only use HELLO makes of it): the
        // endpoint itself goes with Connect, not cloned for it.
        let to_v6 = endpoint.starts_with("tcp://[");
        self.transmits
            .push_back(Transmit::Connect { peer: id, endpoint });
        if let Err(e) = self.send_hello(id, to_v6) {
            // Own name/endpoint/headers too long: a configuration error the driver must show.
            self.remove_peer(id, ExitReason::Expired);
            debug_assert!(false, "own HELLO does not encode: {e}");
        }
        true
    }

    /// Certified mode: drops peers whose certificates expired (once per reap interval).
    fn check_certificates(&mut self, now: Instant) {
        let Some(c) = &self.cert else {
            return;
        };
        if self.cert_check_at.is_some_and(|t| now < t) {
            return;
        }
        self.cert_check_at = Some(now + self.config.reap_interval());
        for (id, _) in c.state.expired(c.wall(now)) {
            self.remove_peer(id, ExitReason::CertificateExpired);
        }
    }

    /// Certified mode: takes revocations (from a peer, or the driver's file), drops the peers
    /// they revoke and passes the new ones on to every other certified peer. Returns how many
    /// were new.
    pub(crate) fn add_revocations(
        &mut self,
        now: Instant,
        from: Option<PeerId>,
        list: Vec<Revocation>,
    ) -> usize {
        let Some(c) = &mut self.cert else {
            return 0;
        };
        let wall = c.wall(now);
        let (new, revoked) = c.state.add_revocations(list, wall);
        for id in revoked {
            self.remove_peer(id, ExitReason::Revoked);
        }
        if new.is_empty() {
            return 0;
        }
        let frame: Vec<u8> = new
            .iter()
            .flat_map(|r| r.as_bytes().iter().copied())
            .collect();
        let targets: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.info.ready && Some(p.info.id) != from)
            .map(|p| p.info.id)
            .filter(|id| {
                self.cert
                    .as_ref()
                    .is_some_and(|c| c.state.peer(id).is_some())
            })
            .collect();
        for id in targets {
            self.send_revocations(id, &frame);
        }
        new.len()
    }

    /// Sends one revocation exchange message (a whisper the peer's heart consumes).
    pub(crate) fn send_revocations(&mut self, id: PeerId, frame: &[u8]) {
        use crate::security::certified::REVOCATIONS_FRAME;
        let content: Content = [
            Bytes::from_static(REVOCATIONS_FRAME),
            Bytes::copy_from_slice(frame),
        ]
        .into_iter()
        .collect();
        let _ = self.send_parts(
            id,
            &Message::Whisper {
                content: Content::new(),
            },
            content,
        );
    }

    /// Certified mode: the revocation set, encoded, if it changed since the last call (for the
    /// driver to keep on disk). `None` in other modes.
    pub fn take_revocations_changed(&mut self) -> Option<Vec<u8>> {
        self.cert.as_mut().and_then(|c| c.state.take_changed())
    }

    /// Certified mode's state (`None` in other modes).
    pub fn certified(&self) -> Option<&crate::security::certified::Certified> {
        self.cert.as_ref().map(|c| &c.state)
    }

    /// Drops a peer whose link lost messages (a sequence gap). A peer the local party vouches
    /// for is then taken anew at once (still supervised): nodes of one machine hear no beacons of
    /// each other, so nothing else would ever introduce it again (found by ryre-sim, swarm seed
    /// 7). A full queue (the peer stopped reading) still just drops it, as Zyre does.
    pub(crate) fn drop_link_fault(&mut self, now: Instant, id: PeerId, reason: ExitReason) {
        self.remove_peer(id, reason);
        if let Some(endpoint) = self.vouched.get(&id).cloned() {
            self.require_peer(now, id, endpoint);
        }
    }

    /// Drops a peer: leaves its groups, closes its link, reports EXIT if it had said HELLO.
    pub(crate) fn remove_peer(&mut self, id: PeerId, reason: ExitReason) {
        let Some(slot) = self.peers.slot(&id) else {
            return;
        };
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        if let Some(ring) = &mut self.keyring {
            // No longer a peer: its beacons count again, so the counter a replay must beat
            // takes in the last beacon taken without verifying.
            if ring.settle(&id).is_err() {
                self.stats.refused += 1;
            }
        }
        if let Some(c) = &mut self.cert {
            c.state.forget(&id);
        }
        self.endpoints.remove(peer.endpoint_key, slot);
        self.settle_timers();
        for g in &peer.info.groups {
            self.groups.leave(g, id);
        }
        self.transmits.push_back(Transmit::Disconnect { peer: id });
        self.stats.exits[reason.kind_index()] += 1;
        self.flushed(id);
        if peer.info.ready {
            self.events.push_back(Event::Exit {
                peer: id,
                name: peer.info.name,
                reason,
            });
        }
        for g in &peer.info.groups {
            self.elections_on_peer_gone(id, g);
        }
    }

    /// A ready peer whose link to us started again, while ours to it stays: EXIT as for
    /// [`NodeState::remove_peer`] (groups left, elections told), but the peer stays known, not
    /// ready, with our link, its sequence and its deadlines; its HELLO makes it ready again.
    pub(crate) fn unready(&mut self, id: PeerId, reason: ExitReason) {
        let Some(p) = self.peers.get_mut(&id).filter(|p| p.info.ready) else {
            return;
        };
        p.info.ready = false;
        let groups = std::mem::take(&mut p.info.groups);
        let name = p.info.name.clone();
        for g in &groups {
            self.groups.leave(g, id);
        }
        self.stats.exits[reason.kind_index()] += 1;
        self.events.push_back(Event::Exit {
            peer: id,
            name,
            reason,
        });
        for g in &groups {
            self.elections_on_peer_gone(id, g);
        }
    }

    /// Encodes `msg` with the peer's next sequence and queues it.
    pub(crate) fn send(&mut self, id: PeerId, msg: &Message) -> Result<(), Problem> {
        let content = msg.content_frames().iter().cloned().collect();
        self.send_parts(id, msg, content)
    }

    /// Queues `msg` (whose own content is ignored) with `content` as its content frames, moving
    /// them rather than copying.
    fn send_parts(
        &mut self,
        id: PeerId,
        msg: &Message,
        mut content: Content,
    ) -> Result<(), Problem> {
        let Some(peer) = self.peers.get_mut(&id) else {
            self.stats.ignored += 1;
            return Err(Problem::UnknownPeer(id));
        };
        let seq = peer.sent_sequence.wrapping_add(1);
        msg.encode_head(seq, &mut self.scratch)?;
        peer.sent_sequence = seq;
        if !matches!(msg, Message::Hello(_) | Message::Ping | Message::PingOk) {
            peer.unflushed = true;
        }
        if content.is_empty() && matches!(msg, Message::Whisper { .. } | Message::Shout { .. }) {
            // Zyre sends one empty frame for empty content.
            content.push(Bytes::new());
        }
        self.stats.sent += 1;
        self.stats.messages_out[Stats::kind_of(&self.scratch)] += 1;
        self.stats.bytes_out +=
            (self.scratch.len() + content.iter().map(|f| f.len()).sum::<usize>()) as u64;
        self.transmits.push_back(Transmit::Send {
            peer: id,
            frames: Frames::new(&self.scratch, content),
        });
        Ok(())
    }

    /// Queues the SHOUT whose head (sequence 0) is in `scratch` to every member of `group`,
    /// patching each member's sequence into bytes 4..6 of that one encoding: what
    /// [`NodeState::send_parts`] does per member, without encoding the head again or collecting
    /// the members. The content frames are shared (reference-counted), the last member takes
    /// them.
    pub(crate) fn send_shout(&mut self, group: &str, mut content: Content) -> Result<(), Problem> {
        if content.is_empty() {
            // Zyre sends one empty frame for empty content.
            content.push(Bytes::new());
        }
        let kind = Stats::kind_of(&self.scratch);
        let bytes = (self.scratch.len() + content.iter().map(|f| f.len()).sum::<usize>()) as u64;
        let versions = Some((self.groups.version(), self.peers.version()));
        let cache = &mut self.shout_members;
        if cache.versions != versions || cache.group != group {
            cache.group.clear();
            cache.group.push_str(group);
            cache.versions = versions;
            cache.members.clear();
            let peers = &self.peers;
            cache
                .members
                .extend(self.groups.members(group).map(|id| (id, peers.slot(&id))));
        }
        let head = Frames::new(&self.scratch, Content::new());
        let last = self.shout_members.members.len().saturating_sub(1);
        for (k, &(id, slot)) in self.shout_members.members.iter().enumerate() {
            let Some(slot) = slot else {
                self.stats.ignored += 1;
                return Err(Problem::UnknownPeer(id));
            };
            let peer = self.peers.at_mut(slot);
            let seq = peer.sent_sequence.wrapping_add(1);
            peer.sent_sequence = seq;
            peer.unflushed = true;
            self.stats.sent += 1;
            self.stats.messages_out[kind] += 1;
            self.stats.bytes_out += bytes;
            let c = if k == last {
                std::mem::take(&mut content)
            } else if let [frame] = &content[..] {
                // The usual one frame, inline, without `SmallVec`'s general clone.
                Content::from_buf([frame.clone()])
            } else {
                content.clone()
            };
            self.transmits.push_back(Transmit::Send {
                peer: id,
                frames: head.with_sequence(seq, c),
            });
        }
        Ok(())
    }

    /// Sends `msg` to every known peer (JOIN, LEAVE).
    /// Our JOIN (or LEAVE) of `group`, after `status` stepped: to every peer; in certified mode
    /// only to admitted peers with a right in the group, each with its own status count.
    pub(crate) fn send_membership(&mut self, group: &str, join: bool) -> Result<(), Problem> {
        let membership = |group: &str, status: u8| {
            let group = group.to_string();
            if join {
                Message::Join { group, status }
            } else {
                Message::Leave { group, status }
            }
        };
        let Some(c) = &self.cert else {
            return self.send_all(&membership(group, self.status));
        };
        let ids: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.announced && c.state.peer_knows_of(&p.info.id, group))
            .map(|p| p.info.id)
            .collect();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            peer.status_out = peer.status_out.wrapping_add(1);
            let msg = membership(group, peer.status_out);
            self.send(id, &msg)?;
        }
        Ok(())
    }

    /// Certified mode: tells a peer just admitted (once per link) the groups we are in that it
    /// may know of, as JOINs.
    pub(crate) fn announce_groups(&mut self, id: PeerId) {
        let Some(c) = &self.cert else {
            return;
        };
        let groups: Vec<String> = self
            .own_groups
            .iter()
            .filter(|g| c.state.peer_knows_of(&id, g))
            .cloned()
            .collect();
        let Some(peer) = self.peers.get_mut(&id).filter(|p| !p.announced) else {
            return;
        };
        peer.announced = true;
        for group in groups {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            peer.status_out = peer.status_out.wrapping_add(1);
            let status = peer.status_out;
            // Own group names were checked to fit when they were joined.
            let _ = self.send(id, &Message::Join { group, status });
        }
    }

    fn send_all(&mut self, msg: &Message) -> Result<(), Problem> {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.send(id, msg)?;
        }
        Ok(())
    }
}

/// Appends `n` in decimal (no leading zeros), as `{n}` formats it.
fn push_decimal(s: &mut String, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

#[cfg(test)]
#[test]
fn beacon_endpoint_formats_as_format_does() {
    use std::net::{Ipv4Addr, Ipv6Addr};
    for (ip, port) in [
        (Ipv4Addr::new(0, 0, 0, 0), 0u16),
        (Ipv4Addr::new(10, 0, 3, 232), 40000),
        (Ipv4Addr::new(255, 255, 255, 255), 65535),
        (Ipv4Addr::new(192, 168, 1, 9), 5670),
        (Ipv4Addr::new(1, 20, 100, 200), 9),
    ] {
        assert_eq!(
            NodeState::beacon_endpoint(IpAddr::V4(ip), port),
            format!("tcp://{ip}:{port}")
        );
    }
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(NodeState::beacon_endpoint(v6, 1), "tcp://[::1]:1");
}

mod command;
mod inbox;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod secure_tests;

#[cfg(test)]
mod cert_tests;
