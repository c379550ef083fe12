//! The machine's agent ("supernode"): the node that holds the well-known rendezvous port keeps
//! the table of the machine's nodes, tells each about the others at once, reports a node that
//! dies the moment its registration connection drops, and runs the UDP beacon for the whole
//! machine (one socket per interface and port, one ZRE beacon per node, and every beacon heard
//! there forwarded to the nodes). It never carries application traffic: nodes talk directly.
//!
//! One thread, one `mio` poll over the listener, the connections, the beacon sockets, the
//! gossip sessions (a DEALER per hub, polled through its `ZMQ_FD`) and a waker, around the
//! sans-IO state machine [`ryre_proto::rendezvous::agent::AgentState`] (the simulator drives the
//! same one). The protocol is [`ryre_proto::rendezvous`]; gossip for the machine's nodes is
//! ZGP ([`ryre_proto::zgp`]), one session per hub whatever the number of nodes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use ryre_proto::rendezvous::agent::{AgentNote, AgentOutput, AgentState, ConnId};
use ryre_proto::rendezvous::{RvMsg, MAX_DATAGRAM, MAX_FRAME};
use ryre_proto::PeerId;
use tracing::{debug, warn};

use super::Interface;

/// Most bytes queued for one connection; a node that stops reading is disconnected.
const MAX_QUEUED: usize = 4 << 20;

const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_UDP: usize = 2;
const FIRST_GOSSIP: usize = 1 << 15;
const FIRST_CONN: usize = 1 << 16;
/// Longest sleep while gossip sessions are open: a safety net under the `ZMQ_FD` edges.
const GOSSIP_TICK: Duration = Duration::from_millis(250);
/// The largest gossip frame taken from a hub.
const MAX_GOSSIP_FRAME: i64 = 64 * 1024;

/// The gossip hubs the machine's agent is in session with, and how many of its nodes gossip
/// through each (see [`crate::Node::agent_gossip`]).
pub(crate) type GossipView = Arc<Mutex<Vec<(String, usize)>>>;

/// Where the rendezvous listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rendezvous {
    /// TCP on 127.0.0.1 at this port (on `[::1]` on a host whose loopback has no IPv4 address,
    /// an IPv6-only one).
    Tcp(u16),
    /// A Unix socket at this path.
    Ipc(PathBuf),
}

impl std::fmt::Display for Rendezvous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rendezvous::Tcp(p) => write!(f, "tcp://127.0.0.1:{p}"),
            Rendezvous::Ipc(p) => write!(f, "ipc://{}", p.display()),
        }
    }
}

/// A bound rendezvous listener: whoever holds one is the agent.
pub(crate) enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Tries to take the rendezvous: `Ok(None)` when another agent holds it.
pub(crate) fn grab(at: &Rendezvous) -> io::Result<Option<Listener>> {
    match at {
        Rendezvous::Tcp(port) => {
            use socket2::{Domain, Socket, Type};
            let bind = |addr: SocketAddr| -> io::Result<Socket> {
                let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                // Reuse a port in TIME_WAIT; never SO_REUSEPORT (two agents could bind).
                s.set_reuse_address(true)?;
                s.set_cloexec(true)?;
                if addr.is_ipv6() {
                    s.set_only_v6(true)?;
                }
                s.bind(&addr.into())?;
                Ok(s)
            };
            let [v4, v6] = loopback_addrs(*port);
            // 127.0.0.1, or [::1] where loopback has no IPv4 address (an IPv6-only host).
            let s = match bind(v4) {
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => bind(v6),
                other => other,
            };
            let s = match s {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(None),
                Err(e) => return Err(e),
            };
            s.listen(1024)?;
            s.set_nonblocking(true)?;
            Ok(Some(Listener::Tcp(s.into())))
        }
        Rendezvous::Ipc(path) => {
            match std::os::unix::net::UnixListener::bind(path) {
                Ok(l) => {
                    l.set_nonblocking(true)?;
                    Ok(Some(Listener::Unix(l)))
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    // A socket file nobody listens on is left from a dead agent: take it over.
                    match std::os::unix::net::UnixStream::connect(path) {
                        Ok(_) => Ok(None),
                        Err(_) => {
                            let _ = std::fs::remove_file(path);
                            match std::os::unix::net::UnixListener::bind(path) {
                                Ok(l) => {
                                    l.set_nonblocking(true)?;
                                    Ok(Some(Listener::Unix(l)))
                                }
                                Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(None),
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// What the machine's agent says about its nodes (see [`agent_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    /// The node that hosts the agent.
    pub agent: PeerId,
    /// Every registered node: id, name, inbox endpoint.
    pub nodes: Vec<(PeerId, String, String)>,
}

/// Asks the agent at `at` who is registered (nothing is registered by asking); `timeout`
/// bounds the whole exchange. An error when no agent answers.
pub fn agent_view(at: &Rendezvous, timeout: Duration) -> io::Result<AgentView> {
    let deadline = Instant::now() + timeout;
    let mut stream: Box<dyn ReadWrite> = match at {
        Rendezvous::Tcp(port) => {
            let s = connect_loopback(*port, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            Box::new(s)
        }
        Rendezvous::Ipc(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)?;
            s.set_read_timeout(Some(timeout))?;
            Box::new(s)
        }
    };
    let frame = RvMsg::List
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    stream.write_all(&frame)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut view = AgentView {
        agent: PeerId::from_bytes([0; 16]),
        nodes: Vec::new(),
    };
    let mut welcomed = false;
    let mut rest = &buf[..];
    while let Ok(Some((msg, used))) = RvMsg::decode(rest) {
        rest = &rest[used..];
        match msg {
            RvMsg::Welcome { agent } => {
                view.agent = agent;
                welcomed = true;
            }
            RvMsg::Peer {
                id, name, endpoint, ..
            } => view.nodes.push((id, name, endpoint)),
            _ => {}
        }
    }
    if welcomed {
        Ok(view)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no ryre agent answered on the rendezvous",
        ))
    }
}

/// Where a TCP rendezvous may listen: 127.0.0.1, then `[::1]` (see [`Rendezvous::Tcp`]).
fn loopback_addrs(port: u16) -> [SocketAddr; 2] {
    [
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
        SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), port),
    ]
}

/// Connects to a TCP rendezvous: at 127.0.0.1, or at `[::1]` when 127.0.0.1 cannot be reached
/// at all (no such address: an IPv6-only host).
pub(crate) fn connect_loopback(port: u16, timeout: Duration) -> io::Result<std::net::TcpStream> {
    let [v4, v6] = loopback_addrs(port);
    match std::net::TcpStream::connect_timeout(&v4, timeout) {
        Err(e) if e.kind() != io::ErrorKind::ConnectionRefused => {
            std::net::TcpStream::connect_timeout(&v6, timeout).map_err(|_| e)
        }
        other => other,
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The running agent; stopped on drop.
pub(crate) struct AgentHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl AgentHandle {
    /// Stops the agent: its connections close, the other nodes race to take over.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the agent on `listener`, hosted by node `host`.
pub(crate) fn spawn(
    listener: Listener,
    host: PeerId,
    path: Option<PathBuf>,
    view: GossipView,
) -> io::Result<AgentHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut listener = match listener {
        Listener::Tcp(l) => AnyListener::Tcp(TcpListener::from_std(l)),
        Listener::Unix(l) => AnyListener::Unix(UnixListener::from_std(l), path),
    };
    match &mut listener {
        AnyListener::Tcp(l) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
        AnyListener::Unix(l, _) => poll.registry().register(l, LISTENER, Interest::READABLE)?,
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut agent = Agent {
        state: AgentState::new(host),
        poll,
        listener,
        conns: HashMap::new(),
        next_conn: FIRST_CONN,
        beacons: Vec::new(),
        failed: Vec::new(),
        ctx: None,
        hubs: HashMap::new(),
        hub_tokens: HashMap::new(),
        next_hub: FIRST_GOSSIP,
        view,
    };
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("ryre-agent".into())
        .spawn(move || agent.run(&stop2))?;
    Ok(AgentHandle {
        stop,
        waker,
        thread: Some(thread),
    })
}

enum AnyListener {
    Tcp(TcpListener),
    Unix(UnixListener, Option<PathBuf>),
}

impl Drop for AnyListener {
    fn drop(&mut self) {
        if let AnyListener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Conn {
    stream: Stream,
    wbuf: Vec<u8>,
    /// Waiting for writability.
    writable: bool,
    /// Close once the queued bytes are out (the state machine asked for it).
    closing: bool,
}

/// A beacon socket, opened when the state machine first beacons in its domain.
struct BeaconOut {
    socket: UdpSocket,
    iface: Interface,
    target: SocketAddr,
}

struct Agent {
    state: AgentState,
    poll: Poll,
    listener: AnyListener,
    conns: HashMap<Token, Conn>,
    next_conn: usize,
    /// By domain index; `None` until opened (or when opening failed).
    beacons: Vec<Option<BeaconOut>>,
    /// Domains whose socket could not be opened (warned once).
    failed: Vec<usize>,
    /// The ZeroMQ context of the gossip sessions (made at the first one).
    ctx: Option<zmq::Context>,
    /// Gossip sessions by hub endpoint.
    hubs: HashMap<String, HubSocket>,
    hub_tokens: HashMap<Token, String>,
    next_hub: usize,
    view: GossipView,
}

/// One gossip session's DEALER.
struct HubSocket {
    socket: zmq::Socket,
    token: Token,
    fd: std::os::fd::RawFd,
}

fn conn_id(token: Token) -> ConnId {
    ConnId(token.0 as u64)
}

fn token_of(conn: ConnId) -> Token {
    Token(conn.0 as usize)
}

impl Agent {
    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        debug!(host = %self.state.host(), "agent started");
        loop {
            let mut timeout = self
                .state
                .poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()));
            if !self.hubs.is_empty() {
                timeout = Some(timeout.map_or(GOSSIP_TICK, |t| t.min(GOSSIP_TICK)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                warn!(error = %e, "agent poll failed; agent stops");
                return;
            }
            let stopping = stop.load(Ordering::Acquire);
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    LISTENER => self.accept(),
                    Token(t) if (FIRST_GOSSIP..FIRST_CONN).contains(&t) => {} // read below
                    Token(t) if (FIRST_UDP..FIRST_GOSSIP).contains(&t) => {
                        self.read_beacons(t - FIRST_UDP)
                    }
                    token => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(token);
                        }
                        if ev.is_writable() {
                            self.flush(token);
                        }
                    }
                }
                self.carry_out();
            }
            self.read_hubs();
            if stopping {
                // Last words already read above (a Leave from our own node); flush and go.
                let tokens: Vec<Token> = self.conns.keys().copied().collect();
                for t in tokens {
                    self.flush(t);
                }
                debug!(host = %self.state.host(), "agent stopped");
                return;
            }
            self.state.handle_timeout(Instant::now());
            self.carry_out();
            self.read_hubs();
        }
    }

    /// Reads what every gossip session has received. `ZMQ_FD` only signals that something may
    /// have changed, and a send may take that signal: so every session is read after each turn
    /// of the poll until it has nothing more (cheap: one non-blocking recv per hub).
    fn read_hubs(&mut self) {
        for _ in 0..4 {
            let mut frames: Vec<(String, Vec<u8>)> = Vec::new();
            for (hub, h) in &self.hubs {
                for _ in 0..1024 {
                    match h.socket.recv_multipart(zmq::DONTWAIT) {
                        Ok(mut parts) if parts.len() == 1 => {
                            frames.push((hub.clone(), parts.pop().unwrap_or_default()))
                        }
                        Ok(parts) => {
                            debug!(%hub, frames = parts.len(), "agent: gossip message dropped")
                        }
                        Err(_) => break,
                    }
                }
            }
            if frames.is_empty() {
                return;
            }
            let now = Instant::now();
            for (hub, frame) in frames {
                self.state.on_gossip_frame(now, &hub, &frame);
            }
            self.carry_out();
        }
    }

    fn open_hub(&mut self, hub: String) {
        let ctx = self.ctx.get_or_insert_with(zmq::Context::new).clone();
        let opened = (|| -> Result<zmq::Socket, zmq::Error> {
            let s = ctx.socket(zmq::DEALER)?;
            // Queued withdrawals are worth a short wait at close.
            s.set_linger(200)?;
            s.set_reconnect_ivl(100)?;
            s.set_reconnect_ivl_max(1000)?;
            s.set_maxmsgsize(MAX_GOSSIP_FRAME)?;
            if crate::transport::wants_ipv6(&hub) {
                s.set_ipv6(true)?;
            }
            s.connect(&hub)?;
            Ok(s)
        })();
        let socket = match opened {
            Ok(s) => s,
            Err(e) => {
                warn!(%hub, error = %e, "agent: cannot open the gossip session");
                return;
            }
        };
        let Ok(fd) = socket.get_fd() else {
            return;
        };
        let token = Token(self.next_hub);
        self.next_hub += 1;
        if self.next_hub >= FIRST_CONN {
            self.next_hub = FIRST_GOSSIP;
        }
        if self
            .poll
            .registry()
            .register(&mut mio::unix::SourceFd(&fd), token, Interest::READABLE)
            .is_err()
        {
            return;
        }
        debug!(%hub, "agent: gossip session opened");
        self.hub_tokens.insert(token, hub.clone());
        self.hubs.insert(hub, HubSocket { socket, token, fd });
    }

    fn close_hub(&mut self, hub: &str) {
        if let Some(h) = self.hubs.remove(hub) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut mio::unix::SourceFd(&h.fd));
            self.hub_tokens.remove(&h.token);
            debug!(%hub, "agent: gossip session closed");
        }
    }

    fn update_view(&self) {
        let sessions: Vec<(String, usize)> = self
            .state
            .gossip_sessions()
            .map(|(h, n)| (h.to_string(), n))
            .collect();
        if let Ok(mut v) = self.view.lock() {
            *v = sessions;
        }
    }

    /// Does what the state machine asks.
    fn carry_out(&mut self) {
        let mut gossiped = false;
        while let Some(out) = self.state.poll_output() {
            match out {
                AgentOutput::Send { conn, frame } => self.send(token_of(conn), &frame),
                AgentOutput::Close { conn } => {
                    let token = token_of(conn);
                    if let Some(c) = self.conns.get_mut(&token) {
                        c.closing = true;
                        if c.wbuf.is_empty() {
                            self.drop_conn(token);
                        }
                    }
                }
                AgentOutput::Beacon { domain, datagram } => {
                    if let Some(b) = self.beacon_socket(domain) {
                        let _ = b.socket.send_to(&datagram, b.target);
                    }
                }
                AgentOutput::GossipOpen { hub } => {
                    self.open_hub(hub);
                    gossiped = true;
                }
                AgentOutput::GossipSend { hub, frame } => {
                    if let Some(h) = self.hubs.get(&hub) {
                        if let Err(e) = h.socket.send(&frame[..], zmq::DONTWAIT) {
                            debug!(%hub, error = %e, "agent: gossip send");
                        }
                    }
                    gossiped = true;
                }
                AgentOutput::GossipClose { hub } => {
                    self.close_hub(&hub);
                    gossiped = true;
                }
            }
        }
        if gossiped {
            self.update_view();
        }
        while let Some(note) = self.state.poll_note() {
            match note {
                AgentNote::Registered(id) => {
                    debug!(node = %id, members = self.state.members().count(), "agent: node registered")
                }
                AgentNote::Gone(id, reason) => debug!(node = %id, ?reason, "agent: node gone"),
                AgentNote::Refused(_, code, text) => {
                    debug!(?code, text, "agent: refusing a connection")
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let accepted = match &self.listener {
                AnyListener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
                AnyListener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            let mut stream = match accepted {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EMFILE and friends: the connection waits in the backlog; try later.
                    debug!(error = %e, "agent accept failed");
                    return;
                }
            };
            let token = Token(self.next_conn);
            self.next_conn += 1;
            if !self.state.accept(conn_id(token)) {
                // Full: write the refusal the state machine queued, then drop the stream.
                while let Some(out) = self.state.poll_output() {
                    if let AgentOutput::Send { frame, .. } = out {
                        let _ = stream.write(&frame);
                    }
                }
                continue;
            }
            if self
                .poll
                .registry()
                .register(stream.source(), token, Interest::READABLE)
                .is_err()
            {
                self.state.on_closed(conn_id(token));
                continue;
            }
            self.conns.insert(
                token,
                Conn {
                    stream,
                    wbuf: Vec::new(),
                    writable: false,
                    closing: false,
                },
            );
        }
    }

    /// Reads what a connection sent and hands it to the state machine.
    fn read(&mut self, token: Token) {
        let mut eof = false;
        let mut buf = [0u8; 16 * 1024];
        let now = Instant::now();
        let mut read = 0;
        loop {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            if c.closing {
                break;
            }
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    self.state.on_data(now, conn_id(token), &buf[..n]);
                    self.carry_out();
                    read += n;
                    if read > 4 * (MAX_FRAME + 4) {
                        break; // read again on the next event
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            self.drop_conn(token);
        }
    }

    /// The socket of domain `i`, opened on first use.
    fn beacon_socket(&mut self, i: usize) -> Option<&BeaconOut> {
        if self.beacons.get(i).is_some_and(Option::is_some) {
            return self.beacons[i].as_ref();
        }
        let domain = self.state.domain(i)?;
        let opened = Interface::find(Some(&domain.addr.to_string()))
            .map_err(|e| e.to_string())
            .and_then(|iface| {
                super::beacon::open_socket(&iface, domain.port)
                    .map(|s| (iface, UdpSocket::from_std(s)))
                    .map_err(|e| e.to_string())
            });
        let (iface, mut socket) = match opened {
            Ok(o) => o,
            Err(e) => {
                if !self.failed.contains(&i) {
                    self.failed.push(i);
                    warn!(addr = %domain.addr, port = domain.port, error = %e, "agent: cannot open the beacon socket");
                }
                return None;
            }
        };
        if self
            .poll
            .registry()
            .register(&mut socket, Token(FIRST_UDP + i), Interest::READABLE)
            .is_err()
        {
            return None;
        }
        if self.beacons.len() <= i {
            self.beacons.resize_with(i + 1, || None);
        }
        self.beacons[i] = Some(BeaconOut {
            socket,
            target: SocketAddr::V4(SocketAddrV4::new(iface.broadcast, domain.port)),
            iface,
        });
        self.beacons[i].as_ref()
    }

    /// Hands the beacons heard on socket `i` to the state machine (it forwards them).
    fn read_beacons(&mut self, i: usize) {
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            let Some(Some(out)) = self.beacons.get(i) else {
                return;
            };
            let (n, from) = match out.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            };
            let IpAddr::V4(ip) = from.ip() else { continue };
            if !out.iface.contains(ip) {
                continue;
            }
            self.state
                .on_beacon(i, ip, Bytes::copy_from_slice(&buf[..n]));
            self.carry_out();
        }
    }

    /// Queues a frame for `token` and writes what the socket takes.
    fn send(&mut self, token: Token, frame: &[u8]) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if c.wbuf.len() + frame.len() > MAX_QUEUED {
            warn!("agent: a node stopped reading its registration connection; dropped");
            self.drop_conn(token);
            return;
        }
        c.wbuf.extend_from_slice(frame);
        self.flush(token);
    }

    fn flush(&mut self, token: Token) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let mut failed = false;
        while !c.wbuf.is_empty() {
            match c.stream.write(&c.wbuf) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => {
                    c.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let want_write = !c.wbuf.is_empty();
        if want_write != c.writable && !failed {
            c.writable = want_write;
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(c.stream.source(), token, interest);
        }
        if failed || (c.closing && c.wbuf.is_empty()) {
            self.drop_conn(token);
        }
    }

    fn drop_conn(&mut self, token: Token) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(c.stream.source());
        self.state.on_closed(conn_id(token));
        self.carry_out();
    }
}
