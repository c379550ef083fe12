//! A node's registration client as a state machine: when to race for the rendezvous, what to
//! say to the agent, what the agent's messages mean for the heart, and what losing the agent
//! means. No sockets, no clock: the driver (`ryre`'s poll, or the simulator) binds, connects,
//! reads and writes, and reports back.
//!
//! One attempt goes: [`ClientState::begin_attempt`]; if [`ClientState::should_host`], try to
//! bind the rendezvous and report [`ClientState::set_hosting`]; connect and write
//! [`ClientState::register_frame`], then report [`ClientState::connected`] or
//! [`ClientState::connect_failed`]. Bytes from the agent go to [`ClientState::on_data`]; the end
//! of the connection to [`ClientState::on_lost`]. At [`ClientState::retry_at`], attempt again.
//!
//! ```
//! use std::time::Instant;
//! use ryre_proto::rendezvous::client::ClientState;
//! use ryre_proto::rendezvous::{GoneReason, Registration, RvMsg};
//! use ryre_proto::{Input, PeerId};
//!
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
//! let mut c = ClientState::new(reg, false);
//! let now = Instant::now();
//! c.begin_attempt();
//! c.connected();
//! let mut inputs = Vec::new();
//! let gone = RvMsg::Gone { id: PeerId::from_bytes([3; 16]), reason: GoneReason::Lost, proof: None };
//! c.on_data(&gone.encode().unwrap(), &mut inputs).unwrap();
//! assert!(matches!(inputs[0], Input::Lost { .. }));
//! ```

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ErrorCode, GoneReason, KeyProof, Registration, RvError, RvMsg};
use crate::{Input, PeerId};

/// Longest random wait before racing for the rendezvous after the agent died.
pub const RACE: Duration = Duration::from_millis(40);
/// Wait between attempts while something that is not a ryre agent holds the port.
pub const SLOW_RETRY: Duration = Duration::from_millis(1000);
/// Attempts in a row without a Welcome after which the node should beacon by itself.
pub const FAILING_AFTER: u32 = 3;

/// Something worth logging that the client learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientNote {
    /// Registered with the agent hosted by this node.
    Welcomed(PeerId),
    /// The agent refused this node (it closes the connection).
    Refused(ErrorCode, String),
    /// A Peer or Gone(left) about `PeerId` without the proof this node's mode needs (a secure
    /// node needs a valid one; an open node cannot talk to a node that has one): ignored.
    Unproven(PeerId),
    /// A gossip tuple (by its key) that names no ZRE peer: ignored.
    NotZre(String),
}

/// The registration client's state machine.
pub struct ClientState {
    reg: Registration,
    may_host: bool,
    hosting: bool,
    connected: bool,
    rbuf: Vec<u8>,
    retry_at: Option<Instant>,
    /// Attempts in a row that got no Welcome.
    failures: u32,
    welcomed: bool,
    /// The node that hosts the agent we are registered with.
    agent_id: Option<PeerId>,
    rng: u64,
    notes: Vec<ClientNote>,
    /// A secure node's Leave proof.
    leave_proof: Option<KeyProof>,
    /// What the agent should gossip for this node (sent after each Register).
    gossip: Option<RvMsg>,
}

impl ClientState {
    /// A client for `reg`; `may_host` says whether this node may become the agent. The random
    /// waits are drawn from a generator seeded by the node's id.
    pub fn new(reg: Registration, may_host: bool) -> Self {
        let mut seed = [7u8; 8];
        seed.copy_from_slice(&reg.id.as_bytes()[..8]);
        ClientState {
            reg,
            may_host,
            hosting: false,
            connected: false,
            rbuf: Vec::new(),
            retry_at: None,
            failures: 0,
            welcomed: false,
            agent_id: None,
            rng: u64::from_le_bytes(seed) | 1,
            notes: Vec::new(),
            leave_proof: None,
            gossip: None,
        }
    }

    /// Has the agent gossip for this node through `hubs` (one session per hub for the whole
    /// machine), publishing `value` with this ttl: sent after every Register, so a new agent
    /// after a failover gossips for it too.
    pub fn set_gossip(&mut self, hubs: Vec<String>, value: String, ttl_ms: u32) {
        self.gossip = Some(RvMsg::Gossip {
            hubs,
            value,
            ttl_ms,
        });
    }

    /// The registration this client sends.
    pub fn registration(&self) -> &Registration {
        &self.reg
    }

    /// When to attempt again (after losing the agent, or failing to reach it).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether it is time to attempt again.
    pub fn due(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| t <= now)
    }

    /// Whether too many attempts got no answer from a ryre agent (something else holds the
    /// port): the node should beacon by itself.
    pub fn failing(&self) -> bool {
        self.failures >= FAILING_AFTER
    }

    /// Whether this node hosts the agent.
    pub fn is_hosting(&self) -> bool {
        self.hosting
    }

    /// Whether the connection to the agent is up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the agent welcomed this node on the current connection.
    pub fn is_welcomed(&self) -> bool {
        self.welcomed
    }

    /// The node hosting the agent this node is registered with.
    pub fn agent(&self) -> Option<PeerId> {
        self.agent_id
    }

    /// Takes what is worth logging.
    pub fn take_notes(&mut self) -> Vec<ClientNote> {
        std::mem::take(&mut self.notes)
    }

    /// An attempt starts: no retry is pending any more.
    pub fn begin_attempt(&mut self) {
        self.retry_at = None;
    }

    /// Whether this attempt should try to bind the rendezvous (and host the agent).
    pub fn should_host(&self) -> bool {
        !self.hosting && self.may_host
    }

    /// Reports whether this node now hosts the agent.
    pub fn set_hosting(&mut self, hosting: bool) {
        self.hosting = hosting;
    }

    /// The Register frame to write once connected (followed by the Gossip request, if any).
    pub fn register_frame(&self) -> Result<Bytes, RvError> {
        let reg = RvMsg::Register(self.reg.clone()).encode()?;
        match &self.gossip {
            None => Ok(reg),
            Some(g) => {
                let mut both = reg.to_vec();
                both.extend_from_slice(&g.encode()?);
                Ok(Bytes::from(both))
            }
        }
    }

    /// The Leave frame to write when the node stops.
    pub fn leave_frame(&self) -> Result<Bytes, RvError> {
        RvMsg::Leave {
            proof: self.leave_proof,
        }
        .encode()
    }

    /// A secure node's proof for its Leave (made ahead, so that this machine holds no secret).
    pub fn set_leave_proof(&mut self, proof: KeyProof) {
        self.leave_proof = Some(proof);
    }

    /// Whether this node registers with a key (secure mode).
    pub fn is_secure(&self) -> bool {
        self.reg.proof.is_some()
    }

    /// Connected, and the Register frame written.
    pub fn connected(&mut self) {
        self.connected = true;
        self.rbuf.clear();
        self.welcomed = false;
    }

    /// The attempt could not reach the agent: try again after a random moment (or slowly, when
    /// failing).
    pub fn connect_failed(&mut self, now: Instant) {
        self.failures += 1;
        self.schedule_retry(now);
    }

    /// Bytes from the agent: every whole message becomes inputs for the heart. An error means
    /// the rendezvous peer speaks something else: the driver drops the connection and reports
    /// [`ClientState::on_lost`].
    pub fn on_data(&mut self, data: &[u8], out: &mut Vec<Input>) -> Result<(), RvError> {
        self.on_data_in(data, None, out)
    }

    /// [`ClientState::on_data`] for bytes held in a [`Bytes`]: a relayed beacon's datagram is
    /// handed on as a slice of `data` rather than a copy (when no partial message is buffered).
    pub fn on_bytes(&mut self, data: &Bytes, out: &mut Vec<Input>) -> Result<(), RvError> {
        self.on_data_in(data, Some(data), out)
    }

    fn on_data_in(
        &mut self,
        data: &[u8],
        owner: Option<&Bytes>,
        out: &mut Vec<Input>,
    ) -> Result<(), RvError> {
        if self.rbuf.is_empty() {
            // Whole messages straight from `data` (the usual case: the agent writes whole
            // frames); only a partial one at the end is kept for the next bytes.
            let mut pos = 0;
            loop {
                let rest = &data[pos..];
                match RvMsg::decode_in(rest, owner) {
                    Ok(None) => {
                        self.rbuf.extend_from_slice(rest);
                        return Ok(());
                    }
                    Ok(Some((msg, used))) => {
                        pos += used;
                        self.on_message(msg, out);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.rbuf.extend_from_slice(data);
        loop {
            match RvMsg::decode(&self.rbuf) {
                Ok(None) => return Ok(()),
                Ok(Some((msg, used))) => {
                    self.rbuf.drain(..used);
                    self.on_message(msg, out);
                }
                Err(e) => {
                    self.rbuf.clear();
                    return Err(e);
                }
            }
        }
    }

    fn on_message(&mut self, msg: RvMsg, out: &mut Vec<Input>) {
        match msg {
            RvMsg::Welcome { agent } => {
                self.welcomed = true;
                self.agent_id = Some(agent);
                self.failures = 0;
                self.notes.push(ClientNote::Welcomed(agent));
            }
            RvMsg::Peer {
                id,
                endpoint,
                proof,
                ..
            } => match (self.is_secure(), proof) {
                (false, None) => out.push(Input::Local { id, endpoint }),
                (true, Some(p)) => match p.verify_register(id, &endpoint) {
                    Some(key) => out.push(Input::LocalKey { id, endpoint, key }),
                    None => self.notes.push(ClientNote::Unproven(id)),
                },
                _ => self.notes.push(ClientNote::Unproven(id)),
            },
            RvMsg::Gone {
                id,
                reason: GoneReason::Left,
                proof,
            } => match (self.is_secure(), proof) {
                (false, None) => out.push(Input::Departed { id }),
                (true, Some(p)) => match p.verify_leave(id) {
                    Some(key) => out.push(Input::DepartedKey { id, key }),
                    None => self.notes.push(ClientNote::Unproven(id)),
                },
                _ => self.notes.push(ClientNote::Unproven(id)),
            },
            RvMsg::Gone {
                id,
                reason: GoneReason::Lost,
                ..
            } => out.push(Input::Lost { id }),
            RvMsg::Beacon { from, data } => out.push(Input::Beacon {
                from: IpAddr::V4(from),
                data,
            }),
            RvMsg::Error { code, text } => self.notes.push(ClientNote::Refused(code, text)),
            RvMsg::Tuple { key, value } => {
                let t = crate::zgp::Tuple { key, value, ttl: 0 };
                match crate::zgp::zre_peer(&t) {
                    Ok(p) if p.id == self.reg.id => {}
                    Ok(p) => out.push(p.into_input()),
                    Err(_) => self.notes.push(ClientNote::NotZre(t.key)),
                }
            }
            RvMsg::Register(_) | RvMsg::Leave { .. } | RvMsg::List | RvMsg::Gossip { .. } => {}
        }
    }

    /// The connection to the agent ended. Returns whether this node was hosting the agent (the
    /// driver then stops what is left of it). The agent's host is reported lost (its
    /// connections close only when its process dies), every supervised peer goes back to
    /// ordinary liveness checks, and a retry is scheduled after a random moment.
    pub fn on_lost(&mut self, now: Instant, out: &mut Vec<Input>) -> bool {
        self.connected = false;
        self.rbuf.clear();
        let was_hosting = std::mem::take(&mut self.hosting);
        if !self.welcomed {
            self.failures += 1;
        }
        self.welcomed = false;
        if let Some(host) = self.agent_id.take() {
            if host != self.reg.id {
                out.push(Input::Lost { id: host });
            }
        }
        out.push(Input::Unsupervise);
        self.schedule_retry(now);
        was_hosting
    }

    /// The node stops: nothing more is attempted.
    pub fn stop(&mut self) {
        self.connected = false;
        self.hosting = false;
        self.retry_at = None;
    }

    fn schedule_retry(&mut self, now: Instant) {
        let wait = if self.failing() {
            SLOW_RETRY
        } else {
            self.random_delay(RACE)
        };
        self.retry_at = Some(now + wait);
    }

    fn random_delay(&mut self, max: Duration) -> Duration {
        // xorshift64: enough to spread a race.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.rng % us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registration {
        Registration {
            id: PeerId::from_bytes([2; 16]),
            name: "n".into(),
            endpoint: "tcp://127.0.0.1:5000".into(),
            beacon: None,
            headers: vec![],
            groups: vec![],
            status: 0,
            proof: None,
        }
    }

    #[test]
    fn losing_the_agent_reports_its_host_and_retries_soon() {
        let now = Instant::now();
        let mut c = ClientState::new(reg(), true);
        assert!(c.should_host());
        c.begin_attempt();
        c.connected();
        let host = PeerId::from_bytes([5; 16]);
        let mut inputs = Vec::new();
        c.on_data(
            &RvMsg::Welcome { agent: host }.encode().unwrap(),
            &mut inputs,
        )
        .unwrap();
        assert_eq!(c.agent(), Some(host));
        let was = c.on_lost(now, &mut inputs);
        assert!(!was);
        assert!(matches!(inputs[0], Input::Lost { id } if id == host));
        assert!(matches!(inputs[1], Input::Unsupervise));
        let at = c.retry_at().unwrap();
        assert!(at >= now && at < now + RACE);
    }

    #[test]
    fn three_unanswered_attempts_mean_failing() {
        let now = Instant::now();
        let mut c = ClientState::new(reg(), false);
        for _ in 0..3 {
            assert!(!c.failing());
            c.begin_attempt();
            c.connected();
            c.on_lost(now, &mut Vec::new());
        }
        assert!(c.failing());
        assert_eq!(c.retry_at(), Some(now + SLOW_RETRY));
    }

    #[test]
    fn gossip_goes_with_every_register_and_tuples_are_discovered() {
        let mut c = ClientState::new(reg(), false);
        c.set_gossip(vec!["tcp://h:1".into()], "tcp://127.0.0.1:5000".into(), 900);
        let frame = c.register_frame().unwrap();
        let (first, used) = RvMsg::decode(&frame).unwrap().unwrap();
        assert!(matches!(first, RvMsg::Register(_)));
        let (second, rest) = RvMsg::decode(&frame[used..]).unwrap().unwrap();
        assert_eq!(used + rest, frame.len());
        assert_eq!(
            second,
            RvMsg::Gossip {
                hubs: vec!["tcp://h:1".into()],
                value: "tcp://127.0.0.1:5000".into(),
                ttl_ms: 900
            }
        );
        c.connected();
        let mut inputs = Vec::new();
        let remote = PeerId::from_bytes([0xAB; 16]);
        for (key, value) in [
            (remote.to_string(), "tcp://10.0.0.1:5".to_string()),
            (reg().id.to_string(), "tcp://127.0.0.1:5000".to_string()),
            ("not-a-uuid".to_string(), "tcp://10.0.0.1:5".to_string()),
        ] {
            let t = RvMsg::Tuple { key, value };
            c.on_data(&t.encode().unwrap(), &mut inputs).unwrap();
        }
        assert_eq!(inputs.len(), 1, "{inputs:?}");
        assert!(
            matches!(&inputs[0], Input::Discovered { id, endpoint } if *id == remote && endpoint == "tcp://10.0.0.1:5")
        );
        assert_eq!(
            c.take_notes(),
            vec![ClientNote::NotZre("not-a-uuid".into())]
        );
    }

    #[test]
    fn beacons_split_anywhere_or_shared_give_the_same_inputs() {
        use std::net::Ipv4Addr;
        let beacon = |b: u8| RvMsg::Beacon {
            from: Ipv4Addr::new(10, 0, 0, b),
            data: Bytes::from(vec![b; 22]),
        };
        let mut stream = beacon(1).encode().unwrap().to_vec();
        stream.extend_from_slice(&beacon(2).encode().unwrap());
        stream.extend_from_slice(&beacon(3).encode().unwrap());
        let want: Vec<(IpAddr, Bytes)> = (1..=3)
            .map(|b| {
                (
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, b)),
                    Bytes::from(vec![b; 22]),
                )
            })
            .collect();
        let beacons = |inputs: &[Input]| -> Vec<(IpAddr, Bytes)> {
            inputs
                .iter()
                .filter_map(|i| match i {
                    Input::Beacon { from, data } => Some((*from, data.clone())),
                    _ => None,
                })
                .collect()
        };
        for cut in 0..=stream.len() {
            let (mut copied, mut shared) = (Vec::new(), Vec::new());
            let mut c = ClientState::new(reg(), false);
            c.connected();
            c.on_data(&stream[..cut], &mut copied).unwrap();
            c.on_data(&stream[cut..], &mut copied).unwrap();
            let mut s = ClientState::new(reg(), false);
            s.connected();
            s.on_bytes(&Bytes::copy_from_slice(&stream[..cut]), &mut shared)
                .unwrap();
            s.on_bytes(&Bytes::copy_from_slice(&stream[cut..]), &mut shared)
                .unwrap();
            assert_eq!(copied.len(), 3);
            assert_eq!(beacons(&copied), want, "cut at {cut}");
            assert_eq!(shared.len(), 3);
            assert_eq!(beacons(&shared), want, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_from_the_agent_is_an_error() {
        let mut c = ClientState::new(reg(), false);
        c.connected();
        assert!(c.on_data(b"\0\0\0\x08HTTP/1.1", &mut Vec::new()).is_err());
    }
}
