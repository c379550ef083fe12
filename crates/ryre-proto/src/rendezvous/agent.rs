//! The machine's agent as a state machine: the table of registered nodes, what to tell each
//! connection, which ZRE beacons to send for whom and which heard beacons to forward. No
//! sockets, no clock: the driver (`ryre`'s mio thread, or the simulator) reports connections,
//! bytes, closes, heard datagrams and the time, and carries out [`AgentOutput`]s.
//!
//! ```
//! use std::time::Instant;
//! use ryre_proto::rendezvous::agent::{AgentOutput, AgentState, ConnId};
//! use ryre_proto::rendezvous::{Registration, RvMsg};
//! use ryre_proto::PeerId;
//!
//! let host = PeerId::from_bytes([1; 16]);
//! let mut agent = AgentState::new(host);
//! let now = Instant::now();
//! assert!(agent.accept(ConnId(7)));
//! let reg = Registration {
//!     id: PeerId::from_bytes([2; 16]),
//!     name: "n".into(),
//!     endpoint: "tcp://127.0.0.1:5000".into(),
//!     beacon: None,
//!     headers: vec![],
//!     groups: vec![],
//!     status: 0,
//!     proof: None,
//! };
//! agent.on_data(now, ConnId(7), &RvMsg::Register(reg).encode().unwrap());
//! match agent.poll_output() {
//!     Some(AgentOutput::Send { conn, frame }) => {
//!         assert_eq!(conn, ConnId(7));
//!         assert_eq!(RvMsg::decode_frame(&frame[4..]).unwrap(), RvMsg::Welcome { agent: host });
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::gossip::{AgentGossip, Effect};
use super::{BeaconSpec, ErrorCode, GoneReason, KeyProof, Registration, RvError, RvMsg};
use crate::beacon::Beacon;
use crate::PeerId;

/// Most connections the agent holds (registered or not); more are refused with an error.
pub const MAX_CONNECTIONS: usize = 4096;

/// A connection to the agent, named by the driver (any unique number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One broadcast domain the agent beacons on: an interface address and a UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// The interface's IPv4 address.
    pub addr: Ipv4Addr,
    /// Its broadcast address (where beacons go).
    pub broadcast: Ipv4Addr,
    /// The UDP beacon port.
    pub port: u16,
}

/// What the agent asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOutput {
    /// Write this frame (length prefix included) to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The encoded frame.
        frame: Bytes,
    },
    /// Close the connection once what was queued for it is written. The agent has already
    /// forgotten it (no [`AgentState::on_closed`] needed, though it is harmless).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Broadcast this ZRE beacon in domain number `domain` (see [`AgentState::domain`]).
    Beacon {
        /// The domain's index.
        domain: usize,
        /// The encoded beacon.
        datagram: Bytes,
    },
    /// Open a ZGP client session (a DEALER) to this gossip hub; what it receives goes to
    /// [`AgentState::on_gossip_frame`].
    GossipOpen {
        /// The hub's ZeroMQ endpoint.
        hub: String,
    },
    /// Send this ZGP frame to the hub.
    GossipSend {
        /// The hub's endpoint.
        hub: String,
        /// One ZGP message.
        frame: Bytes,
    },
    /// Close the hub's session once what was sent is out (nobody here gossips through it).
    GossipClose {
        /// The hub's endpoint.
        hub: String,
    },
}

/// Something worth logging that the agent decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentNote {
    /// A node registered.
    Registered(PeerId),
    /// A node is gone.
    Gone(PeerId, GoneReason),
    /// A connection was refused with an error.
    Refused(ConnId, ErrorCode, String),
}

struct Conn {
    rbuf: Vec<u8>,
    /// The node registered on this connection.
    id: Option<PeerId>,
    /// Close after what is queued (an Error or a List answer was sent): read nothing more.
    closing: bool,
}

struct Member {
    conn: ConnId,
    reg: Registration,
    /// Index into `domains` when the agent beacons for it.
    domain: Option<usize>,
    /// Its inbox port (for its beacons).
    port: u16,
}

struct DomainState {
    domain: Domain,
    interval: Duration,
    next: Option<Instant>,
    members: BTreeSet<PeerId>,
}

/// The agent's state machine.
pub struct AgentState {
    host: PeerId,
    conns: HashMap<ConnId, Conn>,
    members: BTreeMap<PeerId, Member>,
    domains: Vec<DomainState>,
    out: VecDeque<AgentOutput>,
    notes: VecDeque<AgentNote>,
    gossip: AgentGossip,
}

/// The TCP port of a `tcp://host:port` endpoint.
pub fn inbox_port(endpoint: &str) -> Option<u16> {
    endpoint
        .strip_prefix("tcp://")?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

impl AgentState {
    /// An agent hosted by node `host`, with no connection yet.
    pub fn new(host: PeerId) -> Self {
        AgentState {
            host,
            conns: HashMap::new(),
            members: BTreeMap::new(),
            domains: Vec::new(),
            out: VecDeque::new(),
            notes: VecDeque::new(),
            gossip: AgentGossip::default(),
        }
    }

    /// The node that hosts the agent.
    pub fn host(&self) -> PeerId {
        self.host
    }

    /// The registered nodes (id and registration), in id order.
    pub fn members(&self) -> impl Iterator<Item = (&PeerId, &Registration)> {
        self.members.iter().map(|(id, m)| (id, &m.reg))
    }

    /// Domain number `i` (named by [`AgentOutput::Beacon`]).
    pub fn domain(&self, i: usize) -> Option<Domain> {
        self.domains.get(i).map(|d| d.domain)
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<AgentOutput> {
        self.out.pop_front()
    }

    /// The next thing worth logging.
    pub fn poll_note(&mut self) -> Option<AgentNote> {
        self.notes.pop_front()
    }

    /// When [`AgentState::handle_timeout`] has beacons (or gossip PINGs and refreshes) to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let beacons = self
            .domains
            .iter()
            .filter(|d| !d.members.is_empty())
            .filter_map(|d| d.next)
            .min();
        match (beacons, self.gossip.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The gossip hubs the agent is in session with, and how many of its nodes gossip through
    /// each.
    pub fn gossip_sessions(&self) -> impl Iterator<Item = (&str, usize)> {
        self.gossip.sessions()
    }

    /// A ZGP frame arrived from the hub `hub` (a session opened by [`AgentOutput::GossipOpen`]).
    pub fn on_gossip_frame(&mut self, now: Instant, hub: &str, frame: &[u8]) {
        let members = &self.members;
        self.gossip.on_frame(now, hub, frame, |key| {
            key.parse::<PeerId>()
                .is_ok_and(|id| members.contains_key(&id))
        });
        self.apply_gossip();
    }

    fn apply_gossip(&mut self) {
        for e in self.gossip.take_effects() {
            match e {
                Effect::Open(hub) => self.out.push_back(AgentOutput::GossipOpen { hub }),
                Effect::Send(hub, frame) => {
                    self.out.push_back(AgentOutput::GossipSend { hub, frame })
                }
                Effect::Close(hub) => self.out.push_back(AgentOutput::GossipClose { hub }),
                Effect::Deliver(to, t) => {
                    let Some(conn) = self.members.get(&to).map(|m| m.conn) else {
                        continue;
                    };
                    let msg = RvMsg::Tuple {
                        key: t.key,
                        value: t.value,
                    };
                    if let Ok(frame) = msg.encode() {
                        self.out.push_back(AgentOutput::Send { conn, frame });
                    }
                }
            }
        }
    }

    /// A connection was accepted. False (and an Error then Close queued) when the agent is full.
    pub fn accept(&mut self, conn: ConnId) -> bool {
        if self.conns.len() >= MAX_CONNECTIONS {
            self.send(
                conn,
                &RvMsg::Error {
                    code: ErrorCode::Full,
                    text: "the agent has too many connections".into(),
                },
            );
            self.out.push_back(AgentOutput::Close { conn });
            return false;
        }
        self.conns.insert(
            conn,
            Conn {
                rbuf: Vec::new(),
                id: None,
                closing: false,
            },
        );
        true
    }

    /// Bytes arrived on a connection: every whole message in them is handled.
    pub fn on_data(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        match self.conns.get_mut(&conn) {
            Some(c) if !c.closing => c.rbuf.extend_from_slice(data),
            _ => return,
        }
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closing {
                return;
            }
            match RvMsg::decode(&c.rbuf) {
                Ok(None) => return,
                Ok(Some((msg, used))) => {
                    c.rbuf.drain(..used);
                    self.on_message(now, conn, msg);
                }
                Err(e) => {
                    let code = match e {
                        RvError::BadLength(_) => ErrorCode::TooLarge,
                        _ => ErrorCode::Malformed,
                    };
                    self.refuse(conn, code, &e.to_string());
                    return;
                }
            }
        }
    }

    /// A connection dropped (end of stream, an error, or the driver gave up on it): a node
    /// registered on it without saying Leave died.
    pub fn on_closed(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(id) = c.id {
            if self.members.get(&id).is_some_and(|m| m.conn == conn) {
                self.remove_member(id, GoneReason::Lost, None);
            }
        }
    }

    /// A datagram was heard in domain `domain` from `from` (the driver has already dropped
    /// datagrams from outside the interface's subnet): forwarded to the nodes of that domain,
    /// unless it is a beacon of one of the machine's own nodes (an echo, or a forgery: a leaving
    /// beacon for a node that is registered here must not remove it anywhere on this machine).
    pub fn on_beacon(&mut self, domain: usize, from: Ipv4Addr, data: Bytes) {
        if let Ok(b) = Beacon::decode(&data) {
            if self.members.contains_key(&b.id) {
                return;
            }
        }
        let Some(d) = self.domains.get(domain) else {
            return;
        };
        if d.members.is_empty() {
            return;
        }
        let msg = RvMsg::Beacon { from, data };
        let Ok(frame) = msg.encode() else { return };
        let (members, out) = (&self.members, &mut self.out);
        for conn in d
            .members
            .iter()
            .filter_map(|id| members.get(id).map(|m| m.conn))
        {
            out.push_back(AgentOutput::Send {
                conn,
                frame: frame.clone(),
            });
        }
    }

    /// Time passed: the periodic beacons (and gossip PINGs and refreshes) that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.gossip.handle_timeout(now);
        self.apply_gossip();
        for (i, d) in self.domains.iter_mut().enumerate() {
            if d.members.is_empty() || d.next.is_some_and(|t| now < t) {
                continue;
            }
            d.next = Some(now + d.interval);
            for id in &d.members {
                let Some(m) = self.members.get(id) else {
                    continue;
                };
                self.out.push_back(AgentOutput::Beacon {
                    domain: i,
                    datagram: Bytes::copy_from_slice(&Beacon::new(*id, m.port).encode()),
                });
            }
        }
    }

    fn on_message(&mut self, now: Instant, conn: ConnId, msg: RvMsg) {
        match msg {
            RvMsg::Register(reg) => self.register(now, conn, reg),
            RvMsg::Leave { proof } => {
                let Some(id) = self.conns.get(&conn).and_then(|c| c.id) else {
                    return;
                };
                // A node that registered with a key leaves with a proof by the same key.
                let registered = self.members.get(&id).and_then(|m| {
                    m.reg
                        .proof
                        .and_then(|p| p.verify_register(id, &m.reg.endpoint))
                });
                if let Some(key) = registered {
                    if proof.and_then(|p| p.verify_leave(id)) != Some(key) {
                        self.refuse(conn, ErrorCode::Forged, "Leave without a valid proof");
                        return;
                    }
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.id = None;
                }
                self.remove_member(id, GoneReason::Left, proof);
            }
            RvMsg::List => {
                self.send_table(conn, None);
                self.close(conn);
            }
            RvMsg::Gossip {
                hubs,
                value,
                ttl_ms,
            } => {
                let Some(id) = self.conns.get(&conn).and_then(|c| c.id) else {
                    self.refuse(conn, ErrorCode::Unexpected, "Gossip before Register");
                    return;
                };
                let ttl = Duration::from_millis(u64::from(ttl_ms));
                self.gossip.request(now, id, hubs, value, ttl);
                self.apply_gossip();
            }
            other => {
                let text = format!("a node does not send {}", kind_name(&other));
                self.refuse(conn, ErrorCode::Unexpected, &text);
            }
        }
    }

    fn register(&mut self, now: Instant, conn: ConnId, reg: Registration) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.id.is_some_and(|id| id != reg.id) {
            self.refuse(conn, ErrorCode::Unexpected, "one node per connection");
            return;
        }
        if let Some(m) = self.members.get(&reg.id) {
            if m.conn != conn {
                let text = format!("node {} is registered on another connection", reg.id);
                self.refuse(conn, ErrorCode::DuplicateId, &text);
                return;
            }
        }
        if let Some(p) = &reg.proof {
            if p.verify_register(reg.id, &reg.endpoint).is_none() {
                let text = format!("the key proof of {} does not verify", reg.id);
                self.refuse(conn, ErrorCode::Forged, &text);
                return;
            }
        }
        if let Some(m) = self.members.get(&reg.id) {
            if m.reg.proof.map(|p| p.signer) != reg.proof.map(|p| p.signer) {
                self.refuse(conn, ErrorCode::Forged, "a registration keeps its key");
                return;
            }
        }
        let id = reg.id;
        let update = self.members.contains_key(&id);
        let port = inbox_port(&reg.endpoint).unwrap_or(0);
        let domain = match (&reg.beacon, port) {
            (Some(spec), p) if p > 0 => Some(self.domain_for(now, spec)),
            _ => None,
        };
        if let Some(old) = self.members.get(&id).and_then(|m| m.domain) {
            if Some(old) != domain {
                self.domains[old].members.remove(&id);
            }
        }
        if let Some(i) = domain {
            self.domains[i].members.insert(id);
            // Announce it on the LAN at once rather than at the next interval.
            self.out.push_back(AgentOutput::Beacon {
                domain: i,
                datagram: Bytes::copy_from_slice(&Beacon::new(id, port).encode()),
            });
        }
        let (name, endpoint, proof) = (reg.name.clone(), reg.endpoint.clone(), reg.proof);
        self.members.insert(
            id,
            Member {
                conn,
                reg,
                domain,
                port,
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.id = Some(id);
        }
        if update {
            return;
        }
        self.send_table(conn, Some(id));
        let announce = RvMsg::Peer {
            id,
            name,
            endpoint,
            proof,
        };
        if let Ok(frame) = announce.encode() {
            for m in self.members.values().filter(|m| m.conn != conn) {
                self.out.push_back(AgentOutput::Send {
                    conn: m.conn,
                    frame: frame.clone(),
                });
            }
        }
        self.notes.push_back(AgentNote::Registered(id));
    }

    /// The domain for a node's beacon spec (created on first use; the first spec sets the
    /// interval).
    fn domain_for(&mut self, now: Instant, spec: &BeaconSpec) -> usize {
        if let Some(i) = self
            .domains
            .iter()
            .position(|d| d.domain.addr == spec.addr && d.domain.port == spec.port)
        {
            return i;
        }
        self.domains.push(DomainState {
            domain: Domain {
                addr: spec.addr,
                broadcast: spec.broadcast,
                port: spec.port,
            },
            interval: Duration::from_millis(u64::from(spec.interval_ms.max(10))),
            next: Some(now),
            members: BTreeSet::new(),
        });
        self.domains.len() - 1
    }

    fn remove_member(&mut self, id: PeerId, reason: GoneReason, proof: Option<KeyProof>) {
        let Some(m) = self.members.remove(&id) else {
            return;
        };
        if let Some(i) = m.domain {
            if let Some(d) = self.domains.get_mut(i) {
                d.members.remove(&id);
            }
            // The LAN hears it leave at once (dead or not, it is gone).
            self.out.push_back(AgentOutput::Beacon {
                domain: i,
                datagram: Bytes::copy_from_slice(&Beacon::new(id, 0).encode()),
            });
        }
        self.gossip.remove(id);
        self.apply_gossip();
        if let Ok(frame) = (RvMsg::Gone { id, reason, proof }).encode() {
            for m in self.members.values() {
                self.out.push_back(AgentOutput::Send {
                    conn: m.conn,
                    frame: frame.clone(),
                });
            }
        }
        self.notes.push_back(AgentNote::Gone(id, reason));
    }

    /// WELCOME, then a PEER for every registered node but `except`: the table a new node (or a
    /// LIST) is answered with.
    fn send_table(&mut self, conn: ConnId, except: Option<PeerId>) {
        self.send(conn, &RvMsg::Welcome { agent: self.host });
        let table: Vec<RvMsg> = self
            .members
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .map(|(id, m)| RvMsg::Peer {
                id: *id,
                name: m.reg.name.clone(),
                endpoint: m.reg.endpoint.clone(),
                proof: m.reg.proof,
            })
            .collect();
        for m in &table {
            self.send(conn, m);
        }
    }

    fn send(&mut self, conn: ConnId, msg: &RvMsg) {
        if let Ok(frame) = msg.encode() {
            self.out.push_back(AgentOutput::Send { conn, frame });
        }
    }

    /// Forgets a connection (its node, if any, is lost) and asks the driver to close it after
    /// what is queued.
    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.rbuf.clear();
        }
        self.on_closed(conn);
        self.out.push_back(AgentOutput::Close { conn });
    }

    /// Answers Error and closes the connection once it is written.
    fn refuse(&mut self, conn: ConnId, code: ErrorCode, text: &str) {
        let text: String = text.chars().take(200).collect();
        self.notes
            .push_back(AgentNote::Refused(conn, code, text.clone()));
        self.send(conn, &RvMsg::Error { code, text });
        self.close(conn);
    }
}

fn kind_name(m: &RvMsg) -> &'static str {
    match m {
        RvMsg::Register(_) => "REGISTER",
        RvMsg::Welcome { .. } => "WELCOME",
        RvMsg::Peer { .. } => "PEER",
        RvMsg::Gone { .. } => "GONE",
        RvMsg::Beacon { .. } => "BEACON",
        RvMsg::Leave { .. } => "LEAVE",
        RvMsg::List => "LIST",
        RvMsg::Gossip { .. } => "GOSSIP",
        RvMsg::Tuple { .. } => "TUPLE",
        RvMsg::Error { .. } => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(n: u8, beacon: bool) -> Registration {
        Registration {
            id: PeerId::from_bytes([n; 16]),
            name: format!("n{n}"),
            endpoint: format!("tcp://127.0.0.1:{}", 5000 + u16::from(n)),
            beacon: beacon.then_some(BeaconSpec {
                addr: Ipv4Addr::new(127, 0, 0, 1),
                broadcast: Ipv4Addr::new(127, 255, 255, 255),
                port: 5670,
                interval_ms: 1000,
            }),
            headers: vec![],
            groups: vec![],
            status: 0,
            proof: None,
        }
    }

    fn drain(a: &mut AgentState) -> Vec<(ConnId, RvMsg)> {
        let mut v = Vec::new();
        while let Some(o) = a.poll_output() {
            if let AgentOutput::Send { conn, frame } = o {
                v.push((conn, RvMsg::decode_frame(&frame[4..]).unwrap()));
            }
        }
        v
    }

    #[test]
    fn registration_is_announced_and_a_drop_is_lost() {
        let now = Instant::now();
        let mut a = AgentState::new(PeerId::from_bytes([9; 16]));
        a.accept(ConnId(1));
        a.accept(ConnId(2));
        a.on_data(
            now,
            ConnId(1),
            &RvMsg::Register(reg(1, false)).encode().unwrap(),
        );
        drain(&mut a);
        a.on_data(
            now,
            ConnId(2),
            &RvMsg::Register(reg(2, false)).encode().unwrap(),
        );
        let got = drain(&mut a);
        assert!(got.contains(&(
            ConnId(1),
            RvMsg::Peer {
                id: reg(2, false).id,
                name: "n2".into(),
                endpoint: reg(2, false).endpoint,
                proof: None,
            }
        )));
        a.on_closed(ConnId(2));
        assert_eq!(
            drain(&mut a),
            vec![(
                ConnId(1),
                RvMsg::Gone {
                    id: reg(2, false).id,
                    reason: GoneReason::Lost,
                    proof: None,
                }
            )]
        );
    }

    #[test]
    fn forged_leaving_beacon_for_a_member_is_not_forwarded() {
        let now = Instant::now();
        let mut a = AgentState::new(PeerId::from_bytes([9; 16]));
        a.accept(ConnId(1));
        a.on_data(
            now,
            ConnId(1),
            &RvMsg::Register(reg(1, true)).encode().unwrap(),
        );
        drain(&mut a);
        let forged = Bytes::copy_from_slice(&Beacon::new(reg(1, true).id, 0).encode());
        a.on_beacon(0, Ipv4Addr::new(127, 0, 0, 5), forged);
        assert!(drain(&mut a).is_empty());
        let other = Bytes::copy_from_slice(&Beacon::new(reg(3, true).id, 0).encode());
        a.on_beacon(0, Ipv4Addr::new(127, 0, 0, 5), other);
        assert_eq!(drain(&mut a).len(), 1);
    }

    #[test]
    fn garbage_is_refused_and_closed() {
        let now = Instant::now();
        let mut a = AgentState::new(PeerId::from_bytes([9; 16]));
        a.accept(ConnId(1));
        a.on_data(
            now,
            ConnId(1),
            &[0, 0, 0, 9, b'X', b'Y', b'Z', 1, 1, 0, 0, 0, 0],
        );
        let outs: Vec<_> = std::iter::from_fn(|| a.poll_output()).collect();
        assert!(matches!(
            outs.last(),
            Some(AgentOutput::Close { conn: ConnId(1) })
        ));
        assert_eq!(a.connections(), 0);
    }

    fn keys(n: u8) -> crate::security::KeyPair {
        (0u8..=255)
            .find_map(|i| crate::security::KeyPair::from_seed([n ^ i; 32]).ok())
            .unwrap()
    }

    fn secure_reg(n: u8, k: &crate::security::KeyPair) -> Registration {
        let mut r = reg(n, false);
        r.proof = Some(KeyProof::register(k, r.id, &r.endpoint));
        r
    }

    #[test]
    fn a_forged_register_is_refused_and_a_proven_one_passed_on() {
        let now = Instant::now();
        let mut a = AgentState::new(PeerId::from_bytes([9; 16]));
        a.accept(ConnId(1));
        a.accept(ConnId(2));
        let k1 = keys(1);
        a.on_data(
            now,
            ConnId(1),
            &RvMsg::Register(secure_reg(1, &k1)).encode().unwrap(),
        );
        drain(&mut a);
        // Node 2 claims a proof made for another endpoint (or by someone else).
        let mut forged = secure_reg(2, &keys(2));
        forged.endpoint = "tcp://127.0.0.1:6666".into();
        a.on_data(now, ConnId(2), &RvMsg::Register(forged).encode().unwrap());
        let got = drain(&mut a);
        assert!(
            got.iter().any(|(c, m)| *c == ConnId(2)
                && matches!(
                    m,
                    RvMsg::Error {
                        code: ErrorCode::Forged,
                        ..
                    }
                )),
            "{got:?}"
        );
        assert!(
            !got.iter().any(|(c, _)| *c == ConnId(1)),
            "nothing forged reaches node 1: {got:?}"
        );
        // A proven registration is announced with its proof.
        a.accept(ConnId(3));
        let k3 = keys(3);
        a.on_data(
            now,
            ConnId(3),
            &RvMsg::Register(secure_reg(3, &k3)).encode().unwrap(),
        );
        let got = drain(&mut a);
        let proof = got.iter().find_map(|(c, m)| match m {
            RvMsg::Peer {
                id,
                endpoint,
                proof: Some(p),
                ..
            } if *c == ConnId(1) => p.verify_register(*id, endpoint),
            _ => None,
        });
        assert_eq!(proof, Some(k3.public()));
    }

    #[test]
    fn a_secure_leave_needs_its_proof() {
        let now = Instant::now();
        let mut a = AgentState::new(PeerId::from_bytes([9; 16]));
        a.accept(ConnId(1));
        a.accept(ConnId(2));
        let (k1, k2) = (keys(1), keys(2));
        a.on_data(
            now,
            ConnId(1),
            &RvMsg::Register(secure_reg(1, &k1)).encode().unwrap(),
        );
        a.on_data(
            now,
            ConnId(2),
            &RvMsg::Register(secure_reg(2, &k2)).encode().unwrap(),
        );
        drain(&mut a);
        let id2 = reg(2, false).id;
        // A Leave proven by another key is refused (and the connection closed: node 2 is lost).
        let bad = RvMsg::Leave {
            proof: Some(KeyProof::leave(&k1, id2)),
        };
        a.on_data(now, ConnId(2), &bad.encode().unwrap());
        let got = drain(&mut a);
        assert!(got.iter().any(|(c, m)| *c == ConnId(1)
            && matches!(
                m,
                RvMsg::Gone {
                    reason: GoneReason::Lost,
                    proof: None,
                    ..
                }
            )));
        // Node 1 leaves properly: its proof goes along in Gone.
        a.accept(ConnId(3));
        let k3 = keys(3);
        a.on_data(
            now,
            ConnId(3),
            &RvMsg::Register(secure_reg(3, &k3)).encode().unwrap(),
        );
        drain(&mut a);
        let id1 = reg(1, false).id;
        let good = RvMsg::Leave {
            proof: Some(KeyProof::leave(&k1, id1)),
        };
        a.on_data(now, ConnId(1), &good.encode().unwrap());
        let got = drain(&mut a);
        let gone = got.iter().find_map(|(c, m)| match m {
            RvMsg::Gone {
                id,
                reason: GoneReason::Left,
                proof: Some(p),
            } if *c == ConnId(3) => p.verify_leave(*id),
            _ => None,
        });
        assert_eq!(gone, Some(k1.public()));
    }
}
