//! ZeroMQ transport through libzmq (the `zmq` crate): one ROUTER inbox, one DEALER per peer.
//! The only file of the crate that knows the ZeroMQ crate.
//!
//! The inbox belongs to whichever thread currently drives the node (see `runtime.rs`); the links
//! belong to the node's core and are used under its lock. libzmq sockets may move between
//! threads when a full memory barrier separates the uses, which a mutex provides.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::memlink::{MemError, MemSender};
use bytes::{Bytes, BytesMut};
use ryre_proto::security::{Auth, KeyPair, PublicKey};
use ryre_proto::{Content, Frames, PeerId};

/// Transport failures the node reports.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A ZeroMQ call failed.
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// The bound endpoint could not be read back.
    #[error("cannot read the inbox endpoint back from zeromq")]
    Endpoint,
    /// A CURVE link to a peer whose key is not known (the heart never asks for one).
    #[error("no CURVE key known for {0}")]
    NoKey(PeerId),
}

/// Why a message could not be queued to a peer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Its queue is full (high-water mark) or the link is gone, and the message was not kept.
    Full,
    /// No link to that peer.
    NoLink,
}

/// What became of a message handed to [`Links::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// It is in the link's queue.
    Queued,
    /// The link's queue was full: the message waits in the link's backlog, in order, and goes
    /// out when there is room (see [`Links::retry_backlogs`]).
    Backlogged,
}

/// Most messages one peer's backlog holds before the peer counts as unreachable. Application
/// sends wait for an empty backlog, so what gathers here beyond one message is protocol traffic
/// (PING-OK, JOIN, LEAVE, elections) to a peer that does not read.
const BACKLOG_MAX: usize = 10_000;

/// What a caller waits on for room in a peer's queue, without holding the node's lock.
pub(crate) enum RoomWaiter {
    /// The DEALER's signalling descriptor (readable when libzmq has news for the socket, such as
    /// "the queue has room again").
    Fd(RawFd),
    /// The memory link's "room" signal.
    Mem(MemSender),
}

impl RoomWaiter {
    /// Waits at most `timeout` for a sign that room may have appeared. A spurious return is
    /// harmless: the caller looks again under the lock.
    pub fn wait(&self, timeout: Duration) {
        match self {
            RoomWaiter::Fd(fd) => {
                let mut item = [zmq::PollItem::from_fd(*fd, zmq::POLLIN)];
                let ms = i64::try_from(timeout.as_millis().max(1)).unwrap_or(i64::MAX);
                let _ = zmq::poll(&mut item, ms);
            }
            RoomWaiter::Mem(m) => m.wait_for_room(timeout),
        }
    }
}

/// How many nodes share one ZeroMQ context (its I/O thread and reaper). libzmq caps a context
/// at 1023 sockets and the `zmq` crate cannot raise that; a node uses one socket plus one per
/// peer, so four nodes per context stay under the cap in meshes of up to about 250 nodes.
const NODES_PER_CONTEXT: usize = 4;

/// A ZeroMQ context for a new node: shared with at most `NODES_PER_CONTEXT - 1` other nodes of
/// the process.
pub(crate) fn shared_context() -> zmq::Context {
    static POOL: std::sync::Mutex<Option<(zmq::Context, usize)>> = std::sync::Mutex::new(None);
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    match pool.as_mut() {
        Some((ctx, n)) if *n < NODES_PER_CONTEXT => {
            *n += 1;
            ctx.clone()
        }
        _ => {
            let ctx = zmq::Context::new();
            *pool = Some((ctx.clone(), 1));
            ctx
        }
    }
}

/// Whether `endpoint` is `tcp://[ipv6]:port` (libzmq then needs ZMQ_IPV6 on the socket).
pub(crate) fn wants_ipv6(endpoint: &str) -> bool {
    endpoint
        .strip_prefix("tcp://")
        .is_some_and(|h| h.starts_with('['))
}

/// `endpoint` with `%scope` added when it is a link-local IPv6 address without one: peers
/// announce theirs without the scope (their interface's name means nothing here), so the link
/// goes out through this node's own IPv6 interface, as Zyre does.
pub(crate) fn with_scope<'a>(endpoint: &'a str, scope: Option<&str>) -> std::borrow::Cow<'a, str> {
    let Some(scope) = scope else {
        return endpoint.into();
    };
    let Some(rest) = endpoint.strip_prefix("tcp://[") else {
        return endpoint.into();
    };
    let Some((host, port)) = rest.split_once(']') else {
        return endpoint.into();
    };
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(ip) if crate::discovery::is_link_local(&ip) => {
            format!("tcp://[{host}%{scope}]{port}").into()
        }
        _ => endpoint.into(),
    }
}

/// The ROUTER inbox.
pub(crate) struct Inbox {
    socket: zmq::Socket,
    port: u16,
    routing_id: zmq::Message,
    head: zmq::Message,
    frame: zmq::Message,
    /// Small content frames are copied into shared blocks: one allocation per block instead of
    /// one per frame (a block lives as long as any frame cut from it).
    block: BytesMut,
    /// A CURVE server: every message carries the key its connection authenticated.
    curve: bool,
    /// The last User-Id seen and its key: most messages come from the peer before, so its
    /// Z85 is decoded once per run of messages, not per message.
    last_user: (String, Option<PublicKey>),
}

/// Size of the blocks small frames are copied into.
const BLOCK: usize = 64 * 1024;
/// Frames up to this size are copied into a shared block; larger ones are kept without a copy,
/// in the libzmq message they arrived in (see [`Received`]). Up to here the copy costs fewer
/// instructions than keeping the message (an allocation, libzmq's reference counting and a
/// fresh message for the next frame): callgrind, 1 KiB whispers, 8,031 instructions per message
/// copied, 8,240 kept; at 8 KiB 12,696 copied (into an allocation of its own), 11,754 kept.
const SMALL_FRAME: usize = 4 * 1024;
/// The inbox's listen backlog (`ZMQ_BACKLOG`; the kernel caps it at `net.core.somaxconn`).
/// libzmq's default of 100 overflows when hundreds of peers connect at once (a mesh of many
/// processes on one host): the kernel then drops their SYNs and each retries only after its
/// retransmission timeout (1 s, then 3 s, 7 s...), which is where a 300-node mesh's time went.
/// An accept queue costs nothing until connections wait in it.
const INBOX_BACKLOG: i32 = 4096;

/// A received libzmq message kept as the bytes of a content frame (`Bytes::from_owner`): no copy;
/// libzmq's message is closed when the last `Bytes` of it goes. (libzmq counts the references
/// to a message's data atomically, so it may be closed on any thread.)
struct Received(zmq::Message);

impl AsRef<[u8]> for Received {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Takes the frame just received into `frame` as owned bytes: small frames are copied into
/// `block`, larger ones keep libzmq's message (and `frame` gets a fresh one).
fn take_frame(block: &mut BytesMut, frame: &mut zmq::Message) -> Bytes {
    let data: &[u8] = frame;
    if data.len() > SMALL_FRAME {
        return Bytes::from_owner(Received(std::mem::replace(frame, zmq::Message::new())));
    }
    if block.capacity() < data.len() {
        *block = BytesMut::with_capacity(BLOCK);
    }
    block.extend_from_slice(data);
    block.split().freeze()
}

impl Inbox {
    /// Binds the ROUTER inbox on `bind` (e.g. `tcp://10.0.0.5:*`); with `curve`, as a CURVE
    /// server with that key pair (the context's ZAP handler must be installed first).
    pub fn bind(
        ctx: &zmq::Context,
        bind: &str,
        recv_hwm: i32,
        curve: Option<&KeyPair>,
    ) -> Result<Self, TransportError> {
        let socket = ctx.socket(zmq::ROUTER)?;
        if let Some(keys) = curve {
            socket.set_curve_server(true)?;
            socket.set_curve_secretkey(&keys.curve_secret())?;
            socket.set_curve_publickey(keys.public().as_bytes())?;
            // Zyre's domain; ZAP is consulted for every CURVE handshake.
            socket.set_zap_domain("global")?;
        }
        socket.set_router_handover(true)?;
        socket.set_rcvhwm(recv_hwm)?;
        socket.set_backlog(INBOX_BACKLOG)?;
        socket.set_linger(0)?;
        if wants_ipv6(bind) {
            socket.set_ipv6(true)?;
        }
        socket.bind(bind)?;
        let last = socket
            .get_last_endpoint()?
            .map_err(|_| TransportError::Endpoint)?;
        let port = last
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or(TransportError::Endpoint)?;
        Ok(Inbox {
            socket,
            port,
            routing_id: zmq::Message::new(),
            head: zmq::Message::new(),
            frame: zmq::Message::new(),
            block: BytesMut::new(),
            curve: curve.is_some(),
            last_user: (String::new(), None),
        })
    }

    /// The inbox's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Binds the inbox to a second endpoint too (dual stack: the IPv6 address after the IPv4
    /// one, on the same port).
    pub fn bind_also(&self, bind: &str) -> Result<(), TransportError> {
        if wants_ipv6(bind) {
            self.socket.set_ipv6(true)?;
        }
        self.socket.bind(bind)?;
        Ok(())
    }

    /// Waits until the inbox or one of `fds` is readable, or `timeout` passes (`None`: forever).
    /// Returns whether the inbox is readable and fills `ready` with each fd's readability.
    pub fn poll(
        &self,
        fds: &[RawFd],
        timeout: Option<Duration>,
        ready: &mut Vec<bool>,
    ) -> Result<bool, TransportError> {
        let mut items = [
            self.socket.as_poll_item(zmq::POLLIN),
            zmq::PollItem::from_fd(fds.first().copied().unwrap_or(-1), zmq::POLLIN),
            zmq::PollItem::from_fd(fds.get(1).copied().unwrap_or(-1), zmq::POLLIN),
            zmq::PollItem::from_fd(fds.get(2).copied().unwrap_or(-1), zmq::POLLIN),
            zmq::PollItem::from_fd(fds.get(3).copied().unwrap_or(-1), zmq::POLLIN),
        ];
        let n = 1 + fds.len().min(4);
        let ms = match timeout {
            None => -1,
            // Round up so that we never wake before the deadline and spin.
            Some(d) => i64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(i64::MAX),
        };
        match zmq::poll(&mut items[..n], ms) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        ready.clear();
        ready.extend(items[1..n].iter().map(|i| i.is_readable()));
        Ok(items[0].is_readable())
    }

    /// Receives one inbox message without blocking and hands `f` how its sender was
    /// authenticated, its routing id, its first frame and the frames after it. Returns false
    /// when no message was waiting.
    pub fn recv(
        &mut self,
        f: impl FnOnce(Auth, &[u8], &[u8], Content),
    ) -> Result<bool, TransportError> {
        match self.socket.recv(&mut self.routing_id, zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        // A ROUTER always delivers at least one frame after the routing id; an empty first
        // frame stands in if a peer manages otherwise.
        let mut content = Content::new();
        if self.routing_id.get_more() {
            self.socket.recv(&mut self.head, 0)?;
            let mut more = self.head.get_more();
            while more {
                self.socket.recv(&mut self.frame, 0)?;
                // Before `take_frame`, which may leave a fresh message in `frame`.
                more = self.frame.get_more();
                content.push(take_frame(&mut self.block, &mut self.frame));
            }
        } else {
            self.head = zmq::Message::new();
        }
        let auth = if self.curve {
            // The User-Id our ZAP handler gave the connection: the client's key in Z85.
            match self.head.gets("User-Id") {
                Some(z) if z == self.last_user.0 => self.last_user.1.map_or(Auth::Plain, Auth::Key),
                Some(z) => {
                    let key = PublicKey::from_z85(z).ok();
                    self.last_user = (z.to_string(), key);
                    key.map_or(Auth::Plain, Auth::Key)
                }
                None => Auth::Plain,
            }
        } else {
            Auth::Plain
        };
        f(auth, &self.routing_id, &self.head, content);
        Ok(true)
    }
}

/// Queues one frame on `socket` with libzmq's buffer call (`zmq_send`: libzmq copies the bytes
/// into a message of its own, as `zmq::Message::from(&[u8])` would, but without the four
/// calls across the library boundary that building, filling and closing a `zmq::Message` from
/// Rust costs per frame). The error is libzmq's `errno` for the call.
#[inline(always)]
fn send_frame(socket: &mut zmq::Socket, frame: &[u8], flags: i32) -> Result<(), zmq::Error> {
    // SAFETY: `as_mut_ptr` is the live socket `socket` owns, used on this thread only (we hold
    // `&mut` to it, under the node's lock); `frame` is valid for `frame.len()` bytes, which
    // libzmq copies before it returns and never writes to.
    let rc = unsafe {
        zmq_sys::zmq_send(
            socket.as_mut_ptr(),
            frame.as_ptr().cast(),
            frame.len(),
            flags,
        )
    };
    if rc < 0 {
        // SAFETY: reads libzmq's thread-local error number, set by the failed call above.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    } else {
        Ok(())
    }
}

/// Options of the links to peers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkOptions {
    /// Messages queued per peer before it counts as unreachable.
    pub send_hwm: i32,
    /// How long queued messages may still be flushed when a link closes, in ms.
    pub linger_ms: i32,
}

/// The DEALERs to peers.
pub(crate) struct Links {
    links: foldhash::HashMap<PeerId, zmq::Socket>,
    /// Peers of this process, reached in memory.
    mem: foldhash::HashMap<PeerId, MemSender>,
    /// Messages whose link's queue was full, per peer, oldest first (never empty when present).
    backlogs: foldhash::HashMap<PeerId, VecDeque<Frames>>,
    ctx: zmq::Context,
    own_routing_id: [u8; 17],
    opts: LinkOptions,
    /// Own key pair: every DEALER is a CURVE client.
    curve: Option<KeyPair>,
    /// The IPv6 interface that links to scope-less link-local addresses go through.
    scope: Option<String>,
}

impl Links {
    /// No links yet; DEALERs will carry `own`'s routing id.
    pub fn new(ctx: zmq::Context, own: PeerId, opts: LinkOptions, curve: Option<KeyPair>) -> Self {
        Links {
            links: foldhash::HashMap::default(),
            mem: foldhash::HashMap::default(),
            backlogs: foldhash::HashMap::default(),
            ctx,
            own_routing_id: own.routing_id(),
            opts,
            curve,
            scope: None,
        }
    }

    /// Messages waiting in backlogs, over every peer (for metrics).
    pub fn backlog_len(&self) -> usize {
        self.backlogs.values().map(VecDeque::len).sum()
    }

    /// Links to link-local IPv6 addresses that come without a scope go through this interface.
    pub fn set_scope(&mut self, interface: Option<String>) {
        self.scope = interface;
    }

    /// Opens a DEALER to a peer's inbox (replacing any previous link to it); in secure mode a
    /// CURVE client that expects the server to hold `server_key`.
    pub fn connect(
        &mut self,
        peer: PeerId,
        endpoint: &str,
        server_key: Option<PublicKey>,
    ) -> Result<(), TransportError> {
        self.links.remove(&peer);
        self.mem.remove(&peer);
        self.backlogs.remove(&peer);
        if let Some(m) = crate::discovery::inproc::mem_sender_for(endpoint) {
            // A node of this process: hand it the frames in memory.
            self.mem.insert(peer, m);
            return Ok(());
        }
        let s = match self.ctx.socket(zmq::DEALER) {
            Ok(s) => s,
            // The context is full (libzmq allows 1023 sockets per context and the `zmq` crate
            // cannot raise that): go on in a context of our own. Sockets keep their context.
            Err(zmq::Error::EMFILE) => {
                self.ctx = zmq::Context::new();
                self.ctx.socket(zmq::DEALER)?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(keys) = &self.curve {
            let server = server_key.ok_or(TransportError::NoKey(peer))?;
            s.set_curve_serverkey(server.as_bytes())?;
            s.set_curve_publickey(keys.public().as_bytes())?;
            s.set_curve_secretkey(&keys.curve_secret())?;
        }
        s.set_identity(&self.own_routing_id)?;
        s.set_sndhwm(self.opts.send_hwm)?;
        s.set_sndtimeo(0)?;
        s.set_linger(self.opts.linger_ms)?;
        if wants_ipv6(endpoint) {
            s.set_ipv6(true)?;
        }
        s.connect(&with_scope(endpoint, self.scope.as_deref()))?;
        self.links.insert(peer, s);
        Ok(())
    }

    /// Queues a message to a peer without blocking. With `keep`, a message that finds the queue
    /// full waits in the peer's backlog (so the sequence numbers the heart gave stay in order);
    /// without, it is refused (Zyre's behaviour: the caller drops the peer).
    pub fn send(&mut self, peer: &PeerId, frames: Frames, keep: bool) -> Result<Sent, SendError> {
        if !self.backlogs.is_empty() {
            if let Some(b) = self.backlogs.get_mut(peer) {
                // Older messages wait: this one goes after them.
                if b.len() >= BACKLOG_MAX {
                    return Err(SendError::Full);
                }
                b.push_back(frames);
                self.retry_backlog(peer);
                return Ok(if self.backlogs.contains_key(peer) {
                    Sent::Backlogged
                } else {
                    Sent::Queued
                });
            }
        }
        match self.try_send(peer, &frames) {
            Ok(()) => Ok(Sent::Queued),
            Err(SendError::Full) if keep => {
                self.backlogs.insert(*peer, VecDeque::from([frames]));
                Ok(Sent::Backlogged)
            }
            Err(e) => Err(e),
        }
    }

    #[inline(always)]
    fn try_send(&mut self, peer: &PeerId, frames: &Frames) -> Result<(), SendError> {
        if !self.mem.is_empty() {
            if let Some(m) = self.mem.get(peer) {
                return m.send(self.own_routing_id, frames).map_err(|e| match e {
                    MemError::Full => SendError::Full,
                    MemError::Gone => SendError::NoLink,
                });
            }
        }
        let s = self.links.get_mut(peer).ok_or(SendError::NoLink)?;
        let last = frames.len().saturating_sub(1);
        for (i, f) in frames.iter().enumerate() {
            let flags = if i < last {
                zmq::SNDMORE | zmq::DONTWAIT
            } else {
                zmq::DONTWAIT
            };
            match send_frame(s, f, flags) {
                Ok(()) => {}
                // libzmq queues multipart messages atomically: only the first frame can fail
                // for want of room. An interrupted call is tried again later, as a full queue.
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Err(SendError::Full),
                // The socket cannot send any more (its context is ending, or libzmq refuses
                // it): the link is as good as gone.
                Err(_) => return Err(SendError::NoLink),
            }
        }
        Ok(())
    }

    /// Whether any peer has messages waiting for room.
    #[inline]
    pub fn has_backlog(&self) -> bool {
        !self.backlogs.is_empty()
    }

    /// Sends what waits for `peer` while there is room; whether its backlog is now empty.
    pub fn retry_backlog(&mut self, peer: &PeerId) -> bool {
        let Some(mut b) = self.backlogs.remove(peer) else {
            return true;
        };
        if let Some(s) = self.links.get(peer) {
            // Let libzmq take in its I/O thread's news ("the pipe has room again") now: a
            // send only looks at them every millisecond or so.
            let _ = s.get_events();
        }
        while let Some(f) = b.front() {
            match self.try_send(peer, f) {
                Ok(()) => {
                    b.pop_front();
                }
                Err(SendError::Full) => break,
                // The link is gone: what waited for it goes with it.
                Err(SendError::NoLink) => return true,
            }
        }
        if b.is_empty() {
            return true;
        }
        self.backlogs.insert(*peer, b);
        false
    }

    /// Sends what waits for every peer while there is room.
    pub fn retry_backlogs(&mut self) {
        let peers: Vec<PeerId> = self.backlogs.keys().copied().collect();
        for p in peers {
            self.retry_backlog(&p);
        }
    }

    /// What to wait on for room in `peer`'s queue.
    pub fn room_waiter(&self, peer: &PeerId) -> Option<RoomWaiter> {
        if let Some(m) = self.mem.get(peer) {
            return Some(RoomWaiter::Mem(m.clone()));
        }
        let fd = self.links.get(peer)?.get_fd().ok()?;
        Some(RoomWaiter::Fd(fd))
    }

    /// Closes the link to a peer.
    pub fn disconnect(&mut self, peer: &PeerId) {
        self.backlogs.remove(peer);
        self.links.remove(peer);
        self.mem.remove(peer);
    }

    /// Closes every link, giving queued messages the linger time to leave.
    pub fn close_all(&mut self) {
        // What still waits for room gets one last chance to join the queue.
        self.retry_backlogs();
        self.backlogs.clear();
        self.links.clear();
        self.mem.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_endpoints_get_the_scope() {
        let s = Some("eth0");
        assert_eq!(
            with_scope("tcp://[fe80::1]:5000", s),
            "tcp://[fe80::1%eth0]:5000"
        );
        assert_eq!(
            with_scope("tcp://[fe80::1%eth1]:5000", s),
            "tcp://[fe80::1%eth1]:5000"
        );
        assert_eq!(
            with_scope("tcp://[fd00::1]:5000", s),
            "tcp://[fd00::1]:5000"
        );
        assert_eq!(with_scope("tcp://10.0.0.1:5000", s), "tcp://10.0.0.1:5000");
        assert_eq!(
            with_scope("tcp://[fe80::1]:5000", None),
            "tcp://[fe80::1]:5000"
        );
        assert_eq!(with_scope("tcp://[fe80::1:5000", s), "tcp://[fe80::1:5000");
        assert!(wants_ipv6("tcp://[::1]:1"));
        assert!(!wants_ipv6("tcp://127.0.0.1:1"));
        assert!(!wants_ipv6("ipc://[x]"));
    }

    /// The kernel's listen backlog of the inbox is the large one, not libzmq's 100: read back
    /// from the kernel with `ss` (its Send-Q of a listening socket is the backlog).
    #[test]
    fn the_inbox_listens_with_a_large_backlog() {
        let ctx = zmq::Context::new();
        let inbox = Inbox::bind(&ctx, "tcp://127.0.0.1:*", 1000, None).expect("bind");
        assert_eq!(
            inbox.socket.get_backlog().expect("ZMQ_BACKLOG"),
            INBOX_BACKLOG
        );
        let somaxconn: i32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("a number");
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{}", inbox.port())])
            .output()
            .expect("ss (iproute2, installed by scripts/setup.sh)");
        let text = String::from_utf8_lossy(&out.stdout);
        let backlog: i32 = text
            .split_whitespace()
            .nth(2)
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("no listening socket in `ss` output: {text:?}"));
        assert_eq!(backlog, INBOX_BACKLOG.min(somaxconn), "ss: {text}");
        assert!(backlog > 100, "libzmq's default backlog: {text}");
    }
}
