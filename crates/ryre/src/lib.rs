//! # ryre: proximity networking over ZeroMQ
//!
//! A ryre [`Node`] finds its peers on the LAN with UDP beacons, connects to them, and talks to them
//! as a true peer: presence (who is here, who left), groups, whisper (to one peer) and shout (to a
//! group). It speaks ZRE (RFC 36/ZRE) byte for byte, so Zyre (C) and Pyre (Python) nodes on the
//! same network are peers too.
//!
//! ```no_run
//! use std::time::Duration;
//! use ryre::{Event, Node};
//!
//! let node = Node::builder().name("alice").start()?;
//! node.join("chat")?;
//! while let Some(event) = node.recv_timeout(Duration::from_secs(5))? {
//!     match event {
//!         Event::Join { peer, name, group } => {
//!             println!("{name} joined {group}");
//!             node.whisper_str(peer, "hello")?;
//!         }
//!         Event::Shout { name, content, .. } => {
//!             println!("{name}: {}", String::from_utf8_lossy(&content[0]));
//!         }
//!         _ => {}
//!     }
//! }
//! node.stop()?;
//! # Ok::<(), ryre::Error>(())
//! ```
//!
//! The protocol itself lives in the sans-IO crate [`ryre_proto`]; this crate drives it over real
//! sockets (libzmq for TCP, a UDP socket for beacons) on one thread per node.
#![warn(missing_docs)]

mod backpressure;
mod builder;
pub mod certs;
mod discovery;
mod events;
pub mod keys;
mod memlink;
mod port;
mod runtime;
pub mod security;
mod transport;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use backpressure::SendPolicy;
pub use builder::{Discovery, NodeBuilder};
pub use bytes::Bytes;
pub use discovery::agent::{agent_view, AgentView, Rendezvous};
pub use discovery::gossip::GossipHub;
pub use discovery::has_ipv4;
pub use discovery::{Interface, Interface6, InterfaceError};
pub use events::EventStream;
pub use port::private_port;
pub use ryre_proto::{Content, Event, ExitReason, PeerId, PeerInfo, PeerState, Problem, Stats};
pub use security::Security;
pub use transport::TransportError;

/// A ZeroMQ context from the pool that the open nodes of this process share (a few nodes per
/// context, one I/O thread each): for a service's own sockets, so that a process that runs a
/// node and, say, its log publisher starts one I/O thread and one reaper, not a pair for each.
///
/// ```
/// let ctx = ryre::shared_zmq_context();
/// let s = ctx.socket(ryre::zmq::PUB)?;
/// # drop(s);
/// # Ok::<(), ryre::zmq::Error>(())
/// ```
pub fn shared_zmq_context() -> zmq::Context {
    transport::shared_context()
}
/// The `zmq` crate ryre is built on (for [`NodeBuilder::zmq_context`]).
pub use zmq;

use builder::check_str;
use events::{Ended, EventQueue};
use runtime::Shared;
use ryre_proto::msg::EncodeError;
use ryre_proto::Command;

/// Errors of the node API. New kinds may be added: match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The interface asked for does not exist or cannot be listed.
    #[error(transparent)]
    Interface(#[from] InterfaceError),
    /// ZeroMQ refused something (binding the inbox, most likely).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The beacon socket could not be opened.
    #[error("cannot open the beacon socket on {addr}: {source}")]
    Beacon {
        /// Where it was to be bound.
        addr: String,
        /// Why not.
        source: std::io::Error,
    },
    /// A name, group or header does not fit ZRE's 255-byte strings.
    #[error("{what} is {len} bytes; ZRE allows at most 255")]
    TooLong {
        /// Which value.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A name, group or header holds a NUL byte, which Zyre (C strings) would read as its end.
    #[error("{what} holds a NUL byte at byte {at}; ZRE peers written in C would read it cut short there")]
    Nul {
        /// Which value.
        what: &'static str,
        /// Where the first NUL is.
        at: usize,
    },
    /// A setting makes no sense (e.g. a zero interval).
    #[error("invalid setting: {0}")]
    Config(String),
    /// No ready peer has this id.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// The protocol refused a command (see [`Problem`]).
    #[error(transparent)]
    Protocol(Problem),
    /// Secure mode: ryre's ZAP handler could not be installed, so the node did not start (it
    /// never runs a CURVE socket without its own authentication).
    #[error(transparent)]
    Zap(#[from] security::ZapError),
    /// The node's thread could not be started.
    #[error("cannot start the node thread: {0}")]
    Thread(std::io::Error),
    /// The send queue of these peers stayed full (`send_hwm` messages waiting for the network)
    /// as long as the node's [`SendPolicy`] allows: nothing was sent (to any member, for a
    /// shout) and the peers are kept. Try again later.
    #[error("the send queue of {} peer(s) is full; nothing was sent", peers.len())]
    WouldBlock {
        /// The peers whose queue is full.
        peers: Vec<PeerId>,
    },
    /// A key directory or key file of secure mode cannot be used (see [`keys`]).
    #[error(transparent)]
    Keys(#[from] keys::KeyFileError),
    /// A certificate or revocation file of certified mode cannot be used (see [`certs`]).
    #[error(transparent)]
    Cert(#[from] certs::CertFileError),
}

fn problem_error(p: Problem) -> Error {
    match p {
        Problem::UnknownPeer(peer) => Error::UnknownPeer(peer),
        Problem::Stopped => Error::Stopped,
        Problem::Encode(EncodeError::StringTooLong { field, len }) => {
            Error::TooLong { what: field, len }
        }
        other => Error::Protocol(other),
    }
}

/// Checks that `group` is a group name ZRE peers can carry: at most 255 bytes and no NUL (Zyre
/// reads names as C strings). The node's commands check this themselves; this lets a program
/// refuse a bad name before it starts a node.
///
/// ```
/// assert!(ryre::check_group("chat").is_ok());
/// assert!(matches!(ryre::check_group("a\0b"), Err(ryre::Error::Nul { at: 1, .. })));
/// assert!(matches!(ryre::check_group(&"g".repeat(300)), Err(ryre::Error::TooLong { len: 300, .. })));
/// ```
pub fn check_group(group: &str) -> Result<(), Error> {
    check_str("group name", group)
}

struct Inner {
    id: PeerId,
    name: String,
    endpoint: String,
    interface: Interface,
    interface6: Option<Interface6>,
    shared: Arc<Shared>,
    events: Arc<EventQueue>,
    thread: Mutex<Option<JoinHandle<()>>>,
    is_agent: Arc<std::sync::atomic::AtomicBool>,
    agent_gossip: discovery::agent::GossipView,
    discovery: Discovery,
    gossip: discovery::gossip::GossipSlot,
    gossip_endpoint: Option<String>,
    /// Secure and certified mode: the node's identity key pair (for [`Node::sign`]).
    keys: Option<security::KeyPair>,
}

impl Inner {
    fn stop(&self) {
        // Gossip first: its tuple is withdrawn while the node still runs.
        let gossip = self.gossip.lock().ok().and_then(|mut g| g.take());
        if let Some(mut g) = gossip {
            g.stop();
        }
        self.shared.stop();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counters and queue depths of a node ([`Node::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// The heart's counters.
    pub heart: Stats,
    /// Messages waiting in the links' backlogs (their peers' queues were full).
    pub backlog: usize,
    /// Batches of events the application has not taken yet (one batch per turn of the poll).
    pub event_batches: usize,
}

/// A running ZRE node. Cheap to clone; every clone is the same node, usable from any thread.
/// Calls never wait for the network: a command runs on the calling thread, queues what it sends
/// without blocking, and returns (a whisper or shout to a peer whose queue is full waits for room
/// for a bounded time, see [`SendPolicy`]).
///
/// The node stops when [`Node::stop`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("endpoint", &self.inner.endpoint)
            .finish()
    }
}

impl Node {
    /// Settings for a new node.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Own id.
    pub fn uuid(&self) -> PeerId {
        self.inner.id
    }

    /// The heart's counters (messages and bytes in and out by kind, problems by kind, peers
    /// dropped by reason, elections decided) and the node's queue depths, read at once: what
    /// `ryre-bridge`'s Prometheus metrics show.
    pub fn stats(&self) -> NodeStats {
        let (heart, backlog) = {
            let core = runtime::lock(&self.inner.shared.core);
            (core.state.stats(), core.links.backlog_len())
        };
        let events = &self.inner.events;
        NodeStats {
            heart,
            backlog,
            event_batches: events.rx.len(),
        }
    }

    /// Whether this node is the machine's agent right now (it holds the device rendezvous).
    pub fn is_agent(&self) -> bool {
        self.inner
            .is_agent
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// How this node finds its peers.
    pub fn discovery(&self) -> Discovery {
        self.inner.discovery
    }

    /// Own name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Own inbox endpoint, as announced to peers.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The gossip hub's bound endpoint (with the port the OS chose for `*`), if this node serves
    /// gossip ([`NodeBuilder::gossip_bind`]).
    pub fn gossip_endpoint(&self) -> Option<&str> {
        self.inner.gossip_endpoint.as_deref()
    }

    /// What this node's gossip hub holds ([`NodeBuilder::gossip_bind`]): its sessions and
    /// tuples. `None` when the node is no hub.
    pub fn gossip_hub(&self) -> Option<GossipHub> {
        let g = self.inner.gossip.lock().ok()?;
        g.as_ref()?.hub()
    }

    /// The gossip sessions the machine's agent holds for the nodes of this host (see
    /// [`NodeBuilder::gossip_via_agent`]): each hub's endpoint and how many nodes gossip through
    /// it. Empty unless this node hosts the agent ([`Node::is_agent`]).
    pub fn agent_gossip(&self) -> Vec<(String, usize)> {
        self.inner
            .agent_gossip
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// The interface this node beacons on.
    pub fn interface(&self) -> &Interface {
        &self.inner.interface
    }

    /// The node's CURVE public key in secure mode (`None` when open).
    pub fn public_key(&self) -> Option<security::PublicKey> {
        runtime::lock(&self.inner.shared.core)
            .state
            .config()
            .security
            .as_ref()
            .map(|s| s.key)
    }

    /// How this node guards its links: open, secure (CURVE) or certified.
    pub fn security_mode(&self) -> security::Mode {
        let core = runtime::lock(&self.inner.shared.core);
        match (core.state.certified(), &core.state.config().security) {
            (Some(_), _) => security::Mode::Certified,
            (None, Some(_)) => security::Mode::Curve,
            (None, None) => security::Mode::Open,
        }
    }

    /// What secure mode has refused so far (all zero for an open node).
    pub fn security_stats(&self) -> security::SecurityStats {
        let stats = runtime::lock(&self.inner.shared.core).state.stats();
        let refused_connections = self
            .inner
            .shared
            .zap
            .as_ref()
            .map_or(0, security::ZapHandler::refused);
        security::SecurityStats {
            refused: stats.refused,
            refused_connections,
            certificates_refused: stats.cert_refused,
        }
    }

    /// The IPv6 interface this node speaks on ([`NodeBuilder::ipv6`] or
    /// [`NodeBuilder::dual_stack`]); `None` for an IPv4 node. An IPv6-only node's
    /// [`Node::interface`] has the same name and, when the interface has no IPv4 address,
    /// `0.0.0.0` as its address.
    pub fn interface6(&self) -> Option<&Interface6> {
        self.inner.interface6.as_ref()
    }

    fn post(&self, cmd: Command) -> Result<(), Error> {
        self.inner.shared.command(cmd).map_err(problem_error)
    }

    /// Posts a whisper or shout once its peers have room (see [`SendPolicy`]); with `wait`
    /// false, only if they have room now.
    fn post_send(&self, cmd: Command, wait: bool) -> Result<(), Error> {
        self.inner.shared.send_app(cmd, wait).map_err(|r| match r {
            backpressure::Refusal::Problem(p) => problem_error(p),
            backpressure::Refusal::Full(peers) => Error::WouldBlock { peers },
        })
    }

    /// Joins a group (nothing happens when already in it).
    pub fn join(&self, group: &str) -> Result<(), Error> {
        check_str("group name", group)?;
        self.post(Command::Join(group.to_string()))
    }

    /// Leaves a group (nothing happens when not in it).
    pub fn leave(&self, group: &str) -> Result<(), Error> {
        check_str("group name", group)?;
        self.post(Command::Leave(group.to_string()))
    }

    /// Sends content frames to one peer. It never waits for the network; when the peer's send
    /// queue is full it waits for room or fails with [`Error::WouldBlock`], as the node's
    /// [`SendPolicy`] says.
    pub fn whisper<I, B>(&self, peer: PeerId, frames: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        let content = frames.into_iter().map(Into::into).collect();
        self.post_send(Command::Whisper { peer, content }, true)
    }

    /// [`Node::whisper`] that never waits: when the peer's send queue is full it fails at once
    /// with [`Error::WouldBlock`] (nothing sent), even on a node whose policy is
    /// [`SendPolicy::Block`] (a [`SendPolicy::DropPeer`] node drops the peer as usual). For
    /// callers that must not block their thread, such as an async task: try this first, and
    /// wait for room elsewhere (or call [`Node::whisper`] where blocking is allowed) only on
    /// `WouldBlock`.
    ///
    /// ```
    /// let node = ryre::Node::builder()
    ///     .discovery(ryre::Discovery::Off)
    ///     .endpoint("tcp://127.0.0.1:*")
    ///     .start()?;
    /// let stranger = ryre::PeerId::from_bytes([9; 16]);
    /// assert!(matches!(
    ///     node.try_whisper(stranger, ["hi"]),
    ///     Err(ryre::Error::UnknownPeer(_))
    /// ));
    /// node.stop()?;
    /// # Ok::<(), ryre::Error>(())
    /// ```
    pub fn try_whisper<I, B>(&self, peer: PeerId, frames: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        let content = frames.into_iter().map(Into::into).collect();
        self.post_send(Command::Whisper { peer, content }, false)
    }

    /// Sends one text frame to one peer.
    pub fn whisper_str(&self, peer: PeerId, text: &str) -> Result<(), Error> {
        self.whisper(peer, [Bytes::copy_from_slice(text.as_bytes())])
    }

    /// Sends content frames to every peer in a group (we need not be in it). When a member's
    /// send queue is full, the node's [`SendPolicy`] applies to the whole shout.
    pub fn shout<I, B>(&self, group: &str, frames: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        self.shout_with(group, frames, true)
    }

    /// [`Node::shout`] that never waits, whatever the node's [`SendPolicy`]: when a member's
    /// send queue is full it fails at once with [`Error::WouldBlock`] (nothing sent). For
    /// messages that may be lost but must never hold up their sender, such as a status report
    /// that the next one replaces. (With [`SendPolicy::DropPeer`] it behaves as `shout`.)
    pub fn try_shout<I, B>(&self, group: &str, frames: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        self.shout_with(group, frames, false)
    }

    /// [`Node::shout`] (`wait`) or [`Node::try_shout`] (not `wait`).
    fn shout_with<I, B>(&self, group: &str, frames: I, wait: bool) -> Result<(), Error>
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        check_str("group name", group)?;
        let content = frames.into_iter().map(Into::into).collect();
        self.post_send(
            Command::Shout {
                group: group.to_string(),
                content,
            },
            wait,
        )
    }

    /// Sends one text frame to every peer in a group.
    pub fn shout_str(&self, group: &str, text: &str) -> Result<(), Error> {
        self.shout(group, [Bytes::copy_from_slice(text.as_bytes())])
    }

    /// Introduces a peer by id and inbox endpoint, as a beacon would (for networks without
    /// broadcast, or tests). The peer is connected and greeted with HELLO at once.
    pub fn connect_peer(&self, peer: PeerId, endpoint: &str) -> Result<(), Error> {
        check_str("endpoint", endpoint)?;
        self.post(Command::Connect {
            peer,
            endpoint: endpoint.to_string(),
        })
    }

    /// [`Node::connect_peer`] for a secure node: the peer's CURVE key is given too (a secure node
    /// connects only to a known key). The key is checked against the trust settings and bound
    /// to `peer`'s UUID like a beacon's.
    pub fn connect_peer_key(
        &self,
        peer: PeerId,
        endpoint: &str,
        key: security::PublicKey,
    ) -> Result<(), Error> {
        check_str("endpoint", endpoint)?;
        self.inner
            .shared
            .input(ryre_proto::Input::DiscoveredKey {
                id: peer,
                endpoint: endpoint.to_string(),
                key,
            })
            .map_err(problem_error)
    }

    /// Whether this node runs in certified mode (started with a certificate, see
    /// [`NodeBuilder::certificate`]).
    pub fn is_certified(&self) -> bool {
        runtime::lock(&self.inner.shared.core)
            .state
            .certified()
            .is_some()
    }

    /// Certified mode: takes revocations from outside the mesh (e.g. a revocation file read with
    /// [`certs::read_revocations`]): peers they revoke are dropped at once (EXIT, reason
    /// [`ExitReason::Revoked`]), the new ones are passed on to every certified peer and kept in the
    /// node's revocation file. Other modes ignore them.
    pub fn add_revocations(
        &self,
        revocations: Vec<ryre_proto::security::revocation::Revocation>,
    ) -> Result<(), Error> {
        self.inner
            .shared
            .input(ryre_proto::Input::Revocations(revocations))
            .map_err(problem_error)
    }

    /// Certified mode: this node's own verified certificate (its name, key, group grants and
    /// service rights, validity). `None` in other modes.
    pub fn certificate(&self) -> Option<certs::Verified> {
        self.inner
            .shared
            .with_state(|s| s.certified().map(|c| c.own().clone()))
    }

    /// Certified mode: the verified certificate of a peer the heart admitted (its chain checked
    /// against the trusted CAs and revocations for the key its link authenticated), as the heart
    /// holds it now: `None` for a peer that is unknown, was refused, has left, was revoked or
    /// expired, and in other modes. What a service checks a peer's service rights against.
    ///
    /// This reads the heart under its lock (like [`Node::peer_info`]), so it is never behind
    /// an admission, revocation or departure the heart has handled.
    pub fn peer_certificate(&self, peer: &PeerId) -> Option<certs::Verified> {
        self.inner.shared.with_state(|s| {
            s.certified()
                .and_then(|c| c.peer(peer))
                .map(|p| p.verified.clone())
        })
    }

    /// Signs `message` for service `domain` with this node's own identity key (the Ed25519 key
    /// its certificate or key file names; see [`certs::signed_bytes`] for what is signed).
    /// `None` for an open node, which has no key.
    ///
    /// ```
    /// let keys = ryre::keys::generate();
    /// let node = ryre::Node::builder()
    ///     .discovery(ryre::Discovery::Off)
    ///     .endpoint("tcp://127.0.0.1:*")
    ///     .security(ryre::Security::tofu(keys.clone()))
    ///     .start()?;
    /// let sig = node.sign("my-service/1", b"hello").expect("a secure node has a key");
    /// assert!(ryre::certs::verify_service(&keys.signing_public(), "my-service/1", b"hello", &sig));
    /// node.stop()?;
    /// # Ok::<(), ryre::Error>(())
    /// ```
    pub fn sign(&self, domain: &str, message: &[u8]) -> Option<[u8; certs::SIGNATURE_LEN]> {
        self.inner
            .keys
            .as_ref()
            .map(|k| certs::sign_service(k, domain, message))
    }

    /// Certified mode: checks that `signature` over `message` for service `domain` is
    /// `peer`'s, that the heart admitted `peer`, and that its certificate grants `service`.
    /// What a subscriber of a signed service calls for each message it takes from `peer`.
    pub fn check_signature(
        &self,
        peer: &PeerId,
        service: certs::Services,
        domain: &str,
        message: &[u8],
        signature: &[u8; certs::SIGNATURE_LEN],
    ) -> Result<(), certs::SignatureError> {
        use certs::SignatureError as E;
        let found = self.inner.shared.with_state(|s| {
            let c = s.certified()?;
            Some(
                c.peer(peer)
                    .map(|p| (p.verified.services, p.verified.signing_key)),
            )
        });
        let (services, key) = found.ok_or(E::NotCertified)?.ok_or(E::NotAdmitted(*peer))?;
        if !services.contains(service) {
            return Err(E::NotEntitled {
                peer: *peer,
                service,
            });
        }
        // Verified outside the heart's lock.
        if !certs::verify_service(&key, domain, message, signature) {
            return Err(E::Forged(*peer));
        }
        Ok(())
    }

    /// Takes part in leader elections in `group` (Zyre's `zyre_set_contest_in_group`): a LEADER
    /// event reports the winner whenever the group's membership changes.
    pub fn contest_in_group(&self, group: &str) -> Result<(), Error> {
        check_str("group name", group)?;
        self.post(Command::Contest(group.to_string()))
    }

    /// Ids of the peers that have said HELLO.
    pub fn peers(&self) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .inner
            .shared
            .with_state(|s| s.peers().map(|p| p.id).collect());
        v.sort();
        v
    }

    /// Everything known about one peer.
    pub fn peer_info(&self, peer: &PeerId) -> Option<PeerInfo> {
        self.inner.shared.with_state(|s| s.peer(peer).cloned())
    }

    /// Ids of the peers in a group.
    pub fn peers_by_group(&self, group: &str) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .inner
            .shared
            .with_state(|s| s.peers_by_group(group).collect());
        v.sort();
        v
    }

    /// Groups this node is in.
    pub fn own_groups(&self) -> Vec<String> {
        self.inner
            .shared
            .with_state(|s| s.own_groups().map(str::to_string).collect())
    }

    /// Groups that peers are in.
    pub fn peer_groups(&self) -> Vec<String> {
        self.inner.shared.with_state(|s| {
            let set: BTreeSet<&str> = s.peers().flat_map(|p| p.groups.iter()).collect();
            set.into_iter().map(str::to_string).collect()
        })
    }

    /// A peer's inbox endpoint.
    pub fn peer_address(&self, peer: &PeerId) -> Option<String> {
        self.inner
            .shared
            .with_state(|s| s.peer(peer).map(|p| p.endpoint.clone()))
    }

    /// A peer's name.
    pub fn peer_name(&self, peer: &PeerId) -> Option<String> {
        self.inner
            .shared
            .with_state(|s| s.peer(peer).map(|p| p.name.to_string()))
    }

    /// One of a peer's HELLO headers.
    pub fn peer_header_value(&self, peer: &PeerId, key: &str) -> Option<String> {
        self.inner
            .shared
            .with_state(|s| s.peer(peer).and_then(|p| p.headers.get(key).cloned()))
    }

    /// The leader of `group` once an election there has completed (see
    /// [`Node::contest_in_group`]).
    pub fn leader(&self, group: &str) -> Option<PeerId> {
        self.inner.shared.with_state(|s| s.leader(group))
    }

    /// Waits for the next event until `deadline` (`None`: for ever), driving the node on this
    /// thread while it waits.
    fn recv_until(&self, deadline: Option<Instant>) -> Result<Option<Event>, Error> {
        let queue = &self.inner.events;
        loop {
            match queue.try_pop() {
                Ok(Some(ev)) => return Ok(Some(ev)),
                Ok(None) => {}
                Err(Ended) => return Err(Error::Stopped),
            }
            let drive = self.inner.shared.drive(&queue.rx, deadline);
            if drive == runtime::Drive::TimedOut {
                return queue.try_pop().map_err(|_| Error::Stopped);
            }
            if drive == runtime::Drive::Elsewhere {
                // Someone else drives (or the node is stopping): wait on the queue a little.
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Ok(None);
                }
                let until = now + Duration::from_millis(5);
                let until = deadline.map_or(until, |d| d.min(until));
                match queue.rx.recv_deadline(until) {
                    Ok(batch) => {
                        if let Some(ev) = queue.take(batch) {
                            return Ok(Some(ev));
                        }
                    }
                    Err(flume::RecvTimeoutError::Disconnected) => {
                        return queue.try_pop().map_err(|_| Error::Stopped)
                    }
                    Err(flume::RecvTimeoutError::Timeout) => {}
                }
            }
        }
    }

    /// The next event, waiting as long as it takes. `Err(Stopped)` once the node has stopped and
    /// every event (the last is [`Event::Stop`]) has been taken.
    ///
    /// Every clone of a node shares one event queue: each event goes to one caller.
    pub fn recv(&self) -> Result<Event, Error> {
        self.recv_until(None)?.ok_or(Error::Stopped)
    }

    /// The next event, or `Ok(None)` when none comes within `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Event>, Error> {
        // An event already waiting is taken without reading the clock.
        match self.inner.events.try_pop() {
            Ok(Some(ev)) => return Ok(Some(ev)),
            Ok(None) => {}
            Err(Ended) => return Err(Error::Stopped),
        }
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.inner.events.try_pop().ok().flatten()
    }

    /// The events as an async [`Stream`](futures_core::Stream) (for tokio or any executor). It
    /// ends when the node has stopped.
    pub fn events(&self) -> EventStream {
        EventStream {
            queue: self.inner.events.clone(),
            batches: self.inner.events.rx.clone().into_stream(),
        }
    }

    /// Stops the node: sends the leaving beacon, closes every link, reports [`Event::Stop`] and
    /// waits for the node's thread to end. Calling it again does nothing.
    pub fn stop(&self) -> Result<(), Error> {
        self.inner.stop();
        Ok(())
    }
}

/// The crate README's example, compiled by `cargo test --doc` so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
