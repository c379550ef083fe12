//! A node's side of the device rendezvous: take the rendezvous (and become the machine's agent)
//! or register with the agent that holds it; turn what the agent says into inputs for the heart;
//! when the agent dies, wait a random moment and race for the rendezvous again.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ryre_proto::rendezvous::{GoneReason, Registration, RvMsg};
use ryre_proto::Input;
use tracing::{debug, info, warn};

use super::agent::{self, AgentHandle, Rendezvous};

/// Longest random wait before racing for the rendezvous after the agent died.
const RACE: Duration = Duration::from_millis(40);
/// Wait between attempts while something that is not a ryre agent holds the port.
const SLOW_RETRY: Duration = Duration::from_millis(1000);

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
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, *port);
            let s = std::net::TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200))?;
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

/// The node's link to the machine's agent (and the agent itself, while this node hosts it).
pub(crate) struct LocalClient {
    at: Rendezvous,
    reg: Registration,
    conn: Option<Conn>,
    rbuf: Vec<u8>,
    agent: Option<AgentHandle>,
    retry_at: Option<Instant>,
    /// Attempts in a row that got no Welcome.
    failures: u32,
    welcomed: bool,
    /// The node that hosts the agent we are registered with.
    agent_id: Option<ryre_proto::PeerId>,
    rng: u64,
    may_host: bool,
    is_agent: Arc<AtomicBool>,
}

impl LocalClient {
    /// Takes the rendezvous or registers with its holder (failures are retried in the poll).
    pub fn start(
        at: Rendezvous,
        reg: Registration,
        may_host: bool,
        is_agent: Arc<AtomicBool>,
    ) -> Self {
        let seed = u64::from_le_bytes(reg.id.as_bytes()[..8].try_into().unwrap_or([7; 8]));
        let mut c = LocalClient {
            at,
            reg,
            conn: None,
            rbuf: Vec::new(),
            agent: None,
            retry_at: None,
            failures: 0,
            welcomed: false,
            agent_id: None,
            rng: seed | 1,
            may_host,
            is_agent,
        };
        c.attempt(Instant::now());
        c
    }

    /// The connection's descriptor, to poll for reading.
    pub fn fd(&self) -> Option<RawFd> {
        self.conn.as_ref().map(Conn::fd)
    }

    /// When to try again (after losing the agent).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether too many attempts got no answer from a ryre agent (something else holds the
    /// port): the node should beacon by itself.
    pub fn failing(&self) -> bool {
        self.failures >= 3
    }

    fn random_delay(&mut self, max: Duration) -> Duration {
        // xorshift64: enough to spread a race.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let ms = max.as_micros().max(1) as u64;
        Duration::from_micros(self.rng % ms)
    }

    fn attempt(&mut self, now: Instant) {
        self.retry_at = None;
        if self.agent.is_none() && self.may_host {
            match agent::grab(&self.at) {
                Ok(Some(listener)) => {
                    let path = match &self.at {
                        Rendezvous::Ipc(p) => Some(p.clone()),
                        Rendezvous::Tcp(_) => None,
                    };
                    match agent::spawn(listener, self.reg.id, path) {
                        Ok(h) => {
                            info!(node = %self.reg.id, at = %self.at, "this node is the machine's agent");
                            self.agent = Some(h);
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
            let frame = RvMsg::Register(self.reg.clone())
                .encode()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            c.write_all(&frame)?;
            Ok(c)
        });
        match registered {
            Ok(c) => {
                self.conn = Some(c);
                self.rbuf.clear();
                self.welcomed = false;
            }
            Err(e) => {
                debug!(error = %e, at = %self.at, "cannot register with the agent");
                self.failures += 1;
                let wait = if self.failing() {
                    SLOW_RETRY
                } else {
                    self.random_delay(RACE)
                };
                self.retry_at = Some(now + wait);
            }
        }
    }

    /// Time passed: try again if it is time.
    pub fn on_timer(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| t <= now) {
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
                    Ok(n) => self.rbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        lost = true;
                        break;
                    }
                }
            }
        }
        loop {
            match RvMsg::decode(&self.rbuf) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    self.rbuf.drain(..used);
                    self.on_message(msg, out);
                }
                Err(e) => {
                    warn!(error = %e, "the rendezvous peer speaks something else");
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            self.lost(now, out);
        }
    }

    fn on_message(&mut self, msg: RvMsg, out: &mut Vec<Input>) {
        match msg {
            RvMsg::Welcome { agent } => {
                self.welcomed = true;
                self.agent_id = Some(agent);
                self.failures = 0;
                debug!(%agent, "registered with the machine's agent");
            }
            RvMsg::Peer { id, endpoint, .. } => out.push(Input::Local { id, endpoint }),
            RvMsg::Gone {
                id,
                reason: GoneReason::Left,
            } => out.push(Input::Departed { id }),
            RvMsg::Gone {
                id,
                reason: GoneReason::Lost,
            } => out.push(Input::Lost { id }),
            RvMsg::Beacon { from, data } => out.push(Input::Beacon {
                from: IpAddr::V4(from),
                data,
            }),
            RvMsg::Error { code, text } => warn!(?code, %text, "the agent refused this node"),
            RvMsg::Register(_) | RvMsg::Leave | RvMsg::List => {}
        }
    }

    fn lost(&mut self, now: Instant, out: &mut Vec<Input>) {
        self.conn = None;
        self.rbuf.clear();
        if self.agent.take().is_some() {
            self.is_agent.store(false, Ordering::Release);
        }
        if !self.welcomed {
            self.failures += 1;
        }
        // The agent's connections close only when its process dies (a node that stops cleanly
        // says Leave first, and we heard Gone for it): its host is dead.
        if let Some(host) = self.agent_id.take() {
            if host != self.reg.id {
                out.push(Input::Lost { id: host });
            }
        }
        // Whoever was vouched for by the dead agent is checked the usual way from now on; the
        // next agent vouches again for those that are alive.
        out.push(Input::Unsupervise);
        let wait = if self.failing() {
            SLOW_RETRY
        } else {
            self.random_delay(RACE)
        };
        debug!(?wait, "lost the machine's agent; racing for the rendezvous");
        self.retry_at = Some(now + wait);
    }

    /// The node stops: says goodbye to the agent, and stops the agent if it is ours.
    pub fn leave(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            if let Ok(frame) = RvMsg::Leave.encode() {
                let _ = c.write_all(&frame);
            }
        }
        if let Some(mut a) = self.agent.take() {
            a.stop();
            self.is_agent.store(false, Ordering::Release);
        }
        self.conn = None;
    }
}
