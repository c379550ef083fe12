//! A node's side of the device rendezvous: take the rendezvous (and become the machine's agent)
//! or register with the agent that holds it; turn what the agent says into inputs for the heart;
//! when the agent dies, wait a random moment and race for the rendezvous again.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre_proto::rendezvous::client::{ClientNote, ClientState};
use ryre_proto::rendezvous::Registration;
use ryre_proto::Input;
use tracing::{debug, info, warn};

use super::agent::{self, AgentHandle, Rendezvous};

enum Conn {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }

    /// Writes a whole (small) frame, waiting at most 200 ms for room.
    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_millis(200);
        while !data.is_empty() {
            let r = match self {
                Conn::Tcp(s) => s.write(data),
                Conn::Unix(s) => s.write(data),
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    std::thread::yield_now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn connect(at: &Rendezvous) -> io::Result<Conn> {
    let conn = match at {
        Rendezvous::Tcp(port) => {
            let s = agent::connect_loopback(*port, Duration::from_millis(200))?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Conn::Tcp(s)
        }
        Rendezvous::Ipc(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_nonblocking(true)?;
            Conn::Unix(s)
        }
    };
    Ok(conn)
}

/// The node's link to the machine's agent (and the agent itself, while this node hosts it): the
/// I/O around [`ClientState`], the registration state machine the simulator drives too.
pub(crate) struct LocalClient {
    at: Rendezvous,
    state: ClientState,
    conn: Option<Conn>,
    agent: Option<AgentHandle>,
    is_agent: Arc<AtomicBool>,
    view: agent::GossipView,
}

/// What a node asks the machine's agent to gossip for it: hubs, tuple value, ttl in ms.
pub(crate) struct AgentGossipRequest {
    pub hubs: Vec<String>,
    pub value: String,
    pub ttl_ms: u32,
}

impl LocalClient {
    /// The client, not yet registered: [`LocalClient::begin`] takes the rendezvous or registers
    /// (the node joins this process's registry first, so that the agent never announces a node
    /// to its siblings before the registry does: a secure sibling announced first by the agent
    /// would be bound to its key, and its memory link then refused as "a node of this
    /// process").
    pub fn start(
        at: Rendezvous,
        reg: Registration,
        may_host: bool,
        is_agent: Arc<AtomicBool>,
        leave_proof: Option<ryre_proto::rendezvous::KeyProof>,
        gossip: Option<AgentGossipRequest>,
        view: agent::GossipView,
    ) -> Self {
        let mut state = ClientState::new(reg, may_host);
        if let Some(p) = leave_proof {
            state.set_leave_proof(p);
        }
        if let Some(g) = gossip {
            state.set_gossip(g.hubs, g.value, g.ttl_ms);
        }
        LocalClient {
            at,
            state,
            conn: None,
            agent: None,
            is_agent,
            view,
        }
    }

    /// Takes the rendezvous or registers with its holder (failures are retried in the poll).
    pub fn begin(&mut self) {
        self.attempt(Instant::now());
    }

    /// The connection's descriptor, to poll for reading.
    pub fn fd(&self) -> Option<RawFd> {
        self.conn.as_ref().map(Conn::fd)
    }

    /// When to try again (after losing the agent).
    pub fn retry_at(&self) -> Option<Instant> {
        self.state.retry_at()
    }

    /// Whether too many attempts got no answer from a ryre agent (something else holds the
    /// port): the node should beacon by itself.
    pub fn failing(&self) -> bool {
        self.state.failing()
    }

    fn attempt(&mut self, now: Instant) {
        self.state.begin_attempt();
        if self.state.should_host() {
            match agent::grab(&self.at) {
                Ok(Some(listener)) => {
                    let path = match &self.at {
                        Rendezvous::Ipc(p) => Some(p.clone()),
                        Rendezvous::Tcp(_) => None,
                    };
                    let id = self.state.registration().id;
                    match agent::spawn(listener, id, path, self.view.clone()) {
                        Ok(h) => {
                            info!(node = %id, at = %self.at, "this node is the machine's agent");
                            self.agent = Some(h);
                            self.state.set_hosting(true);
                            self.is_agent.store(true, Ordering::Release);
                        }
                        Err(e) => warn!(error = %e, "cannot start the agent"),
                    }
                }
                Ok(None) => {}
                Err(e) => debug!(error = %e, at = %self.at, "cannot bind the rendezvous"),
            }
        }
        let registered = connect(&self.at).and_then(|mut c| {
            let frame = self
                .state
                .register_frame()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            c.write_all(&frame)?;
            Ok(c)
        });
        match registered {
            Ok(c) => {
                self.conn = Some(c);
                self.state.connected();
            }
            Err(e) => {
                debug!(error = %e, at = %self.at, "cannot register with the agent");
                self.state.connect_failed(now);
            }
        }
    }

    /// Time passed: try again if it is time.
    pub fn on_timer(&mut self, now: Instant) {
        if self.state.due(now) {
            self.attempt(now);
        }
    }

    /// The connection is readable: what the agent said, as inputs for the heart.
    pub fn on_readable(&mut self, now: Instant, out: &mut Vec<Input>) {
        let mut lost = false;
        if let Some(c) = self.conn.as_mut() {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match c.read(&mut buf) {
                    Ok(0) => {
                        lost = true;
                        break;
                    }
                    Ok(n) => {
                        if let Err(e) = self.state.on_data(&buf[..n], out) {
                            warn!(error = %e, "the rendezvous peer speaks something else");
                            lost = true;
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        lost = true;
                        break;
                    }
                }
            }
        }
        for note in self.state.take_notes() {
            match note {
                ClientNote::Welcomed(agent) => {
                    debug!(%agent, "registered with the machine's agent")
                }
                ClientNote::Refused(code, text) => {
                    warn!(?code, %text, "the agent refused this node")
                }
                ClientNote::Unproven(peer) => {
                    debug!(%peer, "agent announcement without the proof this mode needs ignored")
                }
                ClientNote::NotZre(key) => {
                    debug!(%key, "gossip tuple from the agent names no ZRE peer; ignored")
                }
            }
        }
        if lost {
            self.conn = None;
            if self.state.on_lost(now, out) {
                self.agent = None;
                self.is_agent.store(false, Ordering::Release);
                clear(&self.view);
            }
            debug!(retry_at = ?self.state.retry_at(), "lost the machine's agent; racing for the rendezvous");
        }
    }

    /// The node stops: says goodbye to the agent, and stops the agent if it is ours.
    pub fn leave(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            if let Ok(frame) = self.state.leave_frame() {
                let _ = c.write_all(&frame);
            }
        }
        if let Some(mut a) = self.agent.take() {
            a.stop();
            self.is_agent.store(false, Ordering::Release);
            clear(&self.view);
        }
        self.state.stop();
        self.conn = None;
    }
}

fn clear(view: &agent::GossipView) {
    if let Ok(mut v) = view.lock() {
        v.clear();
    }
}
