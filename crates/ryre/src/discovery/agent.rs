//! The machine's agent ("supernode"): the node that holds the well-known rendezvous port keeps
//! the table of the machine's nodes, tells each about the others at once, reports a node that
//! dies the moment its registration connection drops, and runs the UDP beacon for the whole
//! machine (one socket per interface and port, one ZRE beacon per node, and every beacon heard
//! there forwarded to the nodes). It never carries application traffic: nodes talk directly.
//!
//! One thread, one `mio` poll over the listener, the connections, the beacon sockets and a
//! waker. The protocol is [`ryre_proto::rendezvous`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use ryre_proto::beacon::Beacon;
use ryre_proto::rendezvous::{
    ErrorCode, GoneReason, Registration, RvError, RvMsg, MAX_DATAGRAM, MAX_FRAME,
};
use ryre_proto::PeerId;
use tracing::{debug, warn};

use super::Interface;

/// Most connections the agent holds (registered or not); more are refused with an error.
pub(crate) const MAX_CONNECTIONS: usize = 4096;
/// Most bytes queued for one connection; a node that stops reading is disconnected.
const MAX_QUEUED: usize = 4 << 20;

const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_UDP: usize = 2;
const FIRST_CONN: usize = 1 << 16;

/// Where the rendezvous listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rendezvous {
    /// TCP on 127.0.0.1 at this port.
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
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            // Reuse a port in TIME_WAIT; never SO_REUSEPORT (that would let two agents bind).
            s.set_reuse_address(true)?;
            s.set_cloexec(true)?;
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, *port);
            match s.bind(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(None),
                Err(e) => return Err(e),
            }
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
            let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, *port));
            let s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
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
            RvMsg::Peer { id, name, endpoint } => view.nodes.push((id, name, endpoint)),
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
        host,
        poll,
        listener,
        conns: HashMap::new(),
        next_conn: FIRST_CONN,
        members: BTreeMap::new(),
        beacons: Vec::new(),
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
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The node registered on this connection.
    id: Option<PeerId>,
    /// Waiting for writability.
    writable: bool,
    /// Close once the queued bytes are out (after an Error).
    closing: bool,
}

struct Member {
    token: Token,
    reg: Registration,
    /// Index into `beacons` when the agent beacons for it.
    beacon: Option<usize>,
    /// Its inbox port (for its beacons).
    port: u16,
}

struct BeaconOut {
    socket: UdpSocket,
    iface: Interface,
    port: u16,
    target: SocketAddr,
    interval: Duration,
    next: Instant,
    members: BTreeSet<PeerId>,
}

struct Agent {
    host: PeerId,
    poll: Poll,
    listener: AnyListener,
    conns: HashMap<Token, Conn>,
    next_conn: usize,
    members: BTreeMap<PeerId, Member>,
    beacons: Vec<BeaconOut>,
}

fn inbox_port(endpoint: &str) -> Option<u16> {
    endpoint
        .strip_prefix("tcp://")?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

impl Agent {
    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        debug!(host = %self.host, "agent started");
        loop {
            let timeout = self
                .beacons
                .iter()
                .map(|b| b.next)
                .min()
                .map(|t| t.saturating_duration_since(Instant::now()));
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
                    Token(t) if (FIRST_UDP..FIRST_CONN).contains(&t) => {
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
            }
            if stopping {
                // Last words already read above (a Leave from our own node); flush and go.
                let tokens: Vec<Token> = self.conns.keys().copied().collect();
                for t in tokens {
                    self.flush(t);
                }
                debug!(host = %self.host, "agent stopped");
                return;
            }
            self.send_beacons(Instant::now());
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
            if self.conns.len() >= MAX_CONNECTIONS {
                if let Ok(frame) = (RvMsg::Error {
                    code: ErrorCode::Full,
                    text: "the agent has too many connections".into(),
                })
                .encode()
                {
                    let _ = stream.write(&frame);
                }
                continue;
            }
            let token = Token(self.next_conn);
            self.next_conn += 1;
            if self
                .poll
                .registry()
                .register(stream.source(), token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            self.conns.insert(
                token,
                Conn {
                    stream,
                    rbuf: Vec::new(),
                    wbuf: Vec::new(),
                    id: None,
                    writable: false,
                    closing: false,
                },
            );
        }
    }

    /// Reads what a connection sent; handles every whole message.
    fn read(&mut self, token: Token) {
        let mut eof = false;
        let mut buf = [0u8; 16 * 1024];
        {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        c.rbuf.extend_from_slice(&buf[..n]);
                        if c.rbuf.len() > 4 * (MAX_FRAME + 4) {
                            break; // handled below, then read again on the next event
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
        }
        loop {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            if c.closing {
                break;
            }
            match RvMsg::decode(&c.rbuf) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    c.rbuf.drain(..used);
                    self.on_message(token, msg);
                }
                Err(e) => {
                    let code = match e {
                        RvError::BadLength(_) => ErrorCode::TooLarge,
                        _ => ErrorCode::Malformed,
                    };
                    self.refuse(token, code, &e.to_string());
                    break;
                }
            }
        }
        if eof {
            self.drop_conn(token);
        }
    }

    fn on_message(&mut self, token: Token, msg: RvMsg) {
        match msg {
            RvMsg::Register(reg) => self.register(token, reg),
            RvMsg::Leave => {
                if let Some(id) = self.conns.get_mut(&token).and_then(|c| c.id.take()) {
                    self.remove_member(id, GoneReason::Left);
                }
            }
            RvMsg::List => {
                self.send(token, &RvMsg::Welcome { agent: self.host });
                let all: Vec<RvMsg> = self
                    .members
                    .iter()
                    .map(|(id, m)| RvMsg::Peer {
                        id: *id,
                        name: m.reg.name.clone(),
                        endpoint: m.reg.endpoint.clone(),
                    })
                    .collect();
                for m in &all {
                    self.send(token, m);
                }
                if let Some(c) = self.conns.get_mut(&token) {
                    c.closing = true;
                    if c.wbuf.is_empty() {
                        self.drop_conn(token);
                    }
                }
            }
            other => {
                let text = format!("a node does not send {}", kind_name(&other));
                self.refuse(token, ErrorCode::Unexpected, &text);
            }
        }
    }

    fn register(&mut self, token: Token, reg: Registration) {
        let Some(conn) = self.conns.get(&token) else {
            return;
        };
        if conn.id.is_some_and(|id| id != reg.id) {
            self.refuse(token, ErrorCode::Unexpected, "one node per connection");
            return;
        }
        if let Some(m) = self.members.get(&reg.id) {
            if m.token != token {
                let text = format!("node {} is registered on another connection", reg.id);
                self.refuse(token, ErrorCode::DuplicateId, &text);
                return;
            }
        }
        let id = reg.id;
        let update = self.members.contains_key(&id);
        let port = inbox_port(&reg.endpoint).unwrap_or(0);
        let beacon = match (&reg.beacon, port) {
            (Some(spec), p) if p > 0 => self.beacon_for(spec.addr, spec.port, spec.interval_ms),
            _ => None,
        };
        if let Some(old) = self.members.get(&id).and_then(|m| m.beacon) {
            if Some(old) != beacon {
                self.beacons[old].members.remove(&id);
            }
        }
        if let Some(b) = beacon {
            let out = &mut self.beacons[b];
            out.members.insert(id);
            // Announce it on the LAN at once rather than at the next interval.
            let _ = out
                .socket
                .send_to(&Beacon::new(id, port).encode(), out.target);
        }
        let (name, endpoint) = (reg.name.clone(), reg.endpoint.clone());
        self.members.insert(
            id,
            Member {
                token,
                reg,
                beacon,
                port,
            },
        );
        if let Some(c) = self.conns.get_mut(&token) {
            c.id = Some(id);
        }
        if update {
            return;
        }
        self.send(token, &RvMsg::Welcome { agent: self.host });
        let others: Vec<RvMsg> = self
            .members
            .iter()
            .filter(|(other, _)| **other != id)
            .map(|(other, m)| RvMsg::Peer {
                id: *other,
                name: m.reg.name.clone(),
                endpoint: m.reg.endpoint.clone(),
            })
            .collect();
        for m in &others {
            self.send(token, m);
        }
        let announce = RvMsg::Peer { id, name, endpoint };
        let tokens: Vec<Token> = self
            .members
            .values()
            .filter(|m| m.token != token)
            .map(|m| m.token)
            .collect();
        for t in tokens {
            self.send(t, &announce);
        }
        debug!(node = %id, members = self.members.len(), "agent: node registered");
    }

    /// The beacon socket for an interface address and port (opened on first use).
    fn beacon_for(&mut self, addr: Ipv4Addr, port: u16, interval_ms: u32) -> Option<usize> {
        if let Some(i) = self
            .beacons
            .iter()
            .position(|b| b.iface.addr == addr && b.port == port)
        {
            return Some(i);
        }
        let iface = match Interface::find(Some(&addr.to_string())) {
            Ok(i) => i,
            Err(e) => {
                warn!(%addr, error = %e, "agent: no interface for a node's beacon");
                return None;
            }
        };
        let socket = match super::beacon::open_socket(&iface, port) {
            Ok(s) => UdpSocket::from_std(s),
            Err(e) => {
                warn!(%addr, port, error = %e, "agent: cannot open the beacon socket");
                return None;
            }
        };
        let i = self.beacons.len();
        let mut out = BeaconOut {
            socket,
            target: SocketAddr::V4(SocketAddrV4::new(iface.broadcast, port)),
            iface,
            port,
            interval: Duration::from_millis(u64::from(interval_ms.max(10))),
            next: Instant::now(),
            members: BTreeSet::new(),
        };
        if self
            .poll
            .registry()
            .register(&mut out.socket, Token(FIRST_UDP + i), Interest::READABLE)
            .is_err()
        {
            return None;
        }
        self.beacons.push(out);
        Some(i)
    }

    fn send_beacons(&mut self, now: Instant) {
        for out in &mut self.beacons {
            if now < out.next {
                continue;
            }
            out.next = now + out.interval;
            for id in &out.members {
                let Some(m) = self.members.get(id) else {
                    continue;
                };
                let _ = out
                    .socket
                    .send_to(&Beacon::new(*id, m.port).encode(), out.target);
            }
        }
    }

    /// Forwards the beacons heard on socket `i` to the nodes it beacons for (not their own).
    fn read_beacons(&mut self, i: usize) {
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            let Some(out) = self.beacons.get(i) else {
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
            let data = Bytes::copy_from_slice(&buf[..n]);
            // Beacons of the machine's own nodes (ours, echoed by the broadcast) are not news.
            if let Ok(b) = Beacon::decode(&data) {
                if self.members.contains_key(&b.id) {
                    continue;
                }
            }
            let msg = RvMsg::Beacon { from: ip, data };
            let tokens: Vec<Token> = out
                .members
                .iter()
                .filter_map(|id| self.members.get(id).map(|m| m.token))
                .collect();
            for t in tokens {
                self.send(t, &msg);
            }
        }
    }

    fn remove_member(&mut self, id: PeerId, reason: GoneReason) {
        let Some(m) = self.members.remove(&id) else {
            return;
        };
        if let Some(b) = m.beacon.and_then(|i| self.beacons.get_mut(i)) {
            b.members.remove(&id);
            // The LAN hears it leave at once (dead or not, it is gone).
            let _ = b.socket.send_to(&Beacon::new(id, 0).encode(), b.target);
        }
        let msg = RvMsg::Gone { id, reason };
        let tokens: Vec<Token> = self.members.values().map(|m| m.token).collect();
        for t in tokens {
            self.send(t, &msg);
        }
        debug!(node = %id, ?reason, "agent: node gone");
    }

    /// Queues `msg` for `token` and writes what the socket takes.
    fn send(&mut self, token: Token, msg: &RvMsg) {
        let Ok(frame) = msg.encode() else { return };
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if c.wbuf.len() + frame.len() > MAX_QUEUED {
            warn!("agent: a node stopped reading its registration connection; dropped");
            self.drop_conn(token);
            return;
        }
        c.wbuf.extend_from_slice(&frame);
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

    /// Answers Error and closes the connection once it is written.
    fn refuse(&mut self, token: Token, code: ErrorCode, text: &str) {
        debug!(?code, text, "agent: refusing a connection");
        let text: String = text.chars().take(200).collect();
        self.send(token, &RvMsg::Error { code, text });
        if let Some(c) = self.conns.get_mut(&token) {
            c.closing = true;
            c.rbuf.clear();
            if c.wbuf.is_empty() {
                self.drop_conn(token);
            }
        }
    }

    fn drop_conn(&mut self, token: Token) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(c.stream.source());
        if let Some(id) = c.id {
            if self.members.get(&id).is_some_and(|m| m.token == token) {
                self.remove_member(id, GoneReason::Lost);
            }
        }
    }
}

fn kind_name(m: &RvMsg) -> &'static str {
    match m {
        RvMsg::Register(_) => "REGISTER",
        RvMsg::Welcome { .. } => "WELCOME",
        RvMsg::Peer { .. } => "PEER",
        RvMsg::Gone { .. } => "GONE",
        RvMsg::Beacon { .. } => "BEACON",
        RvMsg::Leave => "LEAVE",
        RvMsg::List => "LIST",
        RvMsg::Error { .. } => "ERROR",
    }
}
