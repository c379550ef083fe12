//! Gossip discovery (ZGP, CZMQ's zgossip, as Zyre speaks it) over libzmq: a ROUTER hub when the
//! node binds a gossip endpoint, one DEALER per gossip endpoint it connects to. The protocol is
//! `ryre_proto::zgp` (codec and session machines); this file only moves its frames and turns the
//! tuples it learns into the heart's `Input::Discovered`.
//!
//! One thread per node that gossips. It publishes the node's own tuple (key: its UUID as 32
//! upper-case hex digits, value: its advertised inbox endpoint, as Zyre does), learns everyone
//! else's, and on a clean stop withdraws its tuple (see `zgp`) before it closes its sockets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ryre_proto::zgp::{Client, ClientConfig, Message, Server, ServerConfig, ServerOutput, Tuple};
use ryre_proto::{Input, PeerId};
use tracing::{debug, trace, warn};

use crate::runtime::Shared;
use crate::transport::{self, TransportError};
use crate::Error;

/// Longest wait in the poll, so a stop is seen within it.
const TICK: Duration = Duration::from_millis(50);

/// The largest gossip frame taken from the network (libzmq drops the connection of a peer that
/// sends more): a tuple is a UUID and an endpoint, far below this.
const MAX_FRAME: i64 = 64 * 1024;

/// What a node was asked to gossip.
#[derive(Debug, Clone, Default)]
pub(crate) struct GossipSettings {
    /// The hub's endpoint (`tcp://ip:port`, `*` for any port).
    pub bind: Option<String>,
    /// Hubs to connect to.
    pub connect: Vec<String>,
    /// The ttl of the node's own tuple (re-published every third of it).
    pub ttl: Duration,
}

impl GossipSettings {
    /// Whether anything is to be gossiped.
    pub fn active(&self) -> bool {
        self.bind.is_some() || !self.connect.is_empty()
    }
}

/// What a node's gossip hub holds ([`crate::Node::gossip_hub`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipHub {
    /// Clients in session (a ryre node gossiping through its agent counts once per host).
    pub sessions: usize,
    /// The tuples held, `(key, value)` by key: Zyre's are `(UUID hex, endpoint)`.
    pub tuples: Vec<(String, String)>,
}

/// The running gossip of one node.
pub(crate) struct Gossip {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    endpoint: Option<String>,
    server: Option<Arc<Mutex<Server>>>,
}

struct Remote {
    socket: zmq::Socket,
    client: Client,
    endpoint: String,
}

impl Gossip {
    /// Binds the hub and connects to the remote hubs (errors come back here), then starts the
    /// thread.
    pub fn start(
        ctx: &zmq::Context,
        settings: &GossipSettings,
        own: PeerId,
        value: String,
        node: Weak<Shared>,
    ) -> Result<Gossip, Error> {
        let mut router = None;
        let mut endpoint = None;
        if let Some(bind) = &settings.bind {
            let s = ctx.socket(zmq::ROUTER).map_err(TransportError::from)?;
            s.set_linger(0).map_err(TransportError::from)?;
            s.set_maxmsgsize(MAX_FRAME).map_err(TransportError::from)?;
            if transport::wants_ipv6(bind) {
                s.set_ipv6(true).map_err(TransportError::from)?;
            }
            s.bind(bind).map_err(TransportError::from)?;
            let ep = s
                .get_last_endpoint()
                .map_err(TransportError::from)?
                .map_err(|_| TransportError::Endpoint)?;
            endpoint = Some(ep);
            router = Some(s);
        }
        let now = Instant::now();
        let key = own.to_string();
        let mut remotes = Vec::new();
        for ep in &settings.connect {
            let s = ctx.socket(zmq::DEALER).map_err(TransportError::from)?;
            // Queued tuples are worth a short wait at close (the withdrawal on stop).
            s.set_linger(200).map_err(TransportError::from)?;
            s.set_reconnect_ivl(100).map_err(TransportError::from)?;
            s.set_maxmsgsize(MAX_FRAME).map_err(TransportError::from)?;
            s.set_reconnect_ivl_max(1000)
                .map_err(TransportError::from)?;
            if transport::wants_ipv6(ep) {
                s.set_ipv6(true).map_err(TransportError::from)?;
            }
            s.connect(ep).map_err(TransportError::from)?;
            let mut client = Client::new(ClientConfig {
                ttl: settings.ttl,
                ..ClientConfig::default()
            });
            client.publish(key.clone(), value.clone());
            // The publish is sent as part of start (HELLO first).
            while client.poll_transmit().is_some() {}
            client.start(now);
            remotes.push(Remote {
                socket: s,
                client,
                endpoint: ep.clone(),
            });
        }
        let mut server = router
            .as_ref()
            .map(|_| Server::new(ServerConfig::default()));
        if let Some(s) = server.as_mut() {
            // The node's own tuple, held by its own hub for as long as it runs.
            s.accept(
                now,
                Tuple {
                    key: key.clone(),
                    value: value.clone(),
                    ttl: 0,
                },
            );
        }
        let server = server.map(|s| Arc::new(Mutex::new(s)));
        let shared = server.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ryre-gossip".into())
            .spawn(move || {
                let mut run = Run {
                    router,
                    server: shared,
                    remotes,
                    own,
                    node,
                };
                run.run(&flag);
            })
            .map_err(Error::Thread)?;
        Ok(Gossip {
            stop,
            thread: Some(thread),
            endpoint,
            server,
        })
    }

    /// The hub's sessions and tuples, if this node is a hub.
    pub fn hub(&self) -> Option<GossipHub> {
        let s = lock(self.server.as_ref()?);
        Some(GossipHub {
            sessions: s.sessions(),
            tuples: s
                .tuples()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// The hub's bound endpoint (with the port the OS chose), if this node is a hub.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Withdraws the node's tuple and ends the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(s: &Mutex<Server>) -> std::sync::MutexGuard<'_, Server> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

struct Run {
    router: Option<zmq::Socket>,
    server: Option<Arc<Mutex<Server>>>,
    remotes: Vec<Remote>,
    own: PeerId,
    node: Weak<Shared>,
}

impl Run {
    fn run(&mut self, stop: &AtomicBool) {
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Acquire) {
                break;
            }
            if let Some(s) = &self.server {
                lock(s).handle_timeout(now);
            }
            for r in &mut self.remotes {
                r.client.handle_timeout(now);
            }
            if !self.flush(now) {
                return; // the node is gone
            }
            let deadline = self
                .server
                .as_ref()
                .and_then(|s| lock(s).poll_timeout())
                .into_iter()
                .chain(self.remotes.iter().filter_map(|r| r.client.poll_timeout()))
                .min();
            let wait = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(TICK)
                .min(TICK);
            let ms = i64::try_from(wait.as_millis()).unwrap_or(50);
            let ready = self.poll(ms);
            let now = Instant::now();
            if ready.first().copied().unwrap_or(false) {
                self.read_router(now);
            }
            for (i, r) in self.remotes.iter_mut().enumerate() {
                if ready.get(i + 1).copied().unwrap_or(false) {
                    read_remote(r, now);
                }
            }
        }
        for r in &mut self.remotes {
            r.client.withdraw();
        }
        let _ = self.flush(Instant::now());
    }

    /// Which sockets are readable: `[router, remote 0, remote 1, ...]` (the router's slot is
    /// `false` when this node is no hub).
    fn poll(&self, ms: i64) -> Vec<bool> {
        let mut items: Vec<zmq::PollItem> = Vec::with_capacity(1 + self.remotes.len());
        if let Some(r) = &self.router {
            items.push(r.as_poll_item(zmq::POLLIN));
        }
        for r in &self.remotes {
            items.push(r.socket.as_poll_item(zmq::POLLIN));
        }
        let mut ready = vec![false; 1 + self.remotes.len()];
        if items.is_empty() {
            std::thread::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(50)));
            return ready;
        }
        let skip = usize::from(self.router.is_none());
        match zmq::poll(&mut items, ms) {
            Ok(_) => {
                for (i, it) in items.iter().enumerate() {
                    ready[i + skip] = it.is_readable();
                }
            }
            Err(e) => debug!(error = %e, "gossip poll"),
        }
        ready
    }

    fn read_router(&mut self, now: Instant) {
        let (Some(router), Some(server)) = (self.router.as_ref(), self.server.as_ref()) else {
            return;
        };
        let mut server = lock(server);
        for _ in 0..256 {
            let parts = match router.recv_multipart(zmq::DONTWAIT) {
                Ok(p) => p,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => {
                    debug!(error = %e, "gossip hub recv");
                    break;
                }
            };
            let mut parts = parts.into_iter();
            let Some(id) = parts.next() else { continue };
            // One ZGP frame after the routing id; anything else is refused like garbage.
            let frame = match (parts.next(), parts.next()) {
                (Some(f), None) => f,
                _ => Vec::new(),
            };
            server.handle_frame(now, Bytes::from(id), &frame);
        }
    }

    /// Sends what the machines want sent and hands learned tuples to the heart. `false` when
    /// the node is gone.
    fn flush(&mut self, now: Instant) -> bool {
        let mut learned: Vec<Tuple> = Vec::new();
        for r in &mut self.remotes {
            while let Some(t) = r.client.poll_tuple() {
                learned.push(t);
            }
        }
        let mut forward: Vec<Tuple> = Vec::new();
        if let Some(server) = &self.server {
            let mut server = lock(server);
            // Tuples learned from other hubs go to this hub's clients too (as CZMQ does); they
            // come back as deliveries below if new. Held forever: their refreshes stay there.
            for t in &learned {
                server.accept(
                    now,
                    Tuple {
                        ttl: 0,
                        ..t.clone()
                    },
                );
            }
            while let Some(out) = server.poll_output() {
                match out {
                    ServerOutput::Send { to, msg } => {
                        if let (Some(router), Ok(wire)) = (self.router.as_ref(), msg.encode()) {
                            if let Err(e) =
                                router.send_multipart([&to[..], &wire[..]], zmq::DONTWAIT)
                            {
                                trace!(error = %e, "gossip hub send");
                            }
                        }
                    }
                    ServerOutput::Deliver(t) => forward.push(t),
                    ServerOutput::Expired(t) => debug!(key = %t.key, "gossip tuple expired"),
                }
            }
        }
        for t in &forward {
            for r in &mut self.remotes {
                r.client.forward(t.clone());
            }
        }
        for r in &mut self.remotes {
            while let Some(m) = r.client.poll_transmit() {
                send_remote(r, &m);
            }
        }
        let mut inputs = Vec::new();
        for t in learned.iter().chain(forward.iter()) {
            if let Some(input) = discovered(self.own, t) {
                inputs.push(input);
            }
        }
        let Some(node) = self.node.upgrade() else {
            return false;
        };
        if node.is_stopped() && inputs.is_empty() {
            return true;
        }
        if !inputs.is_empty() {
            node.feed(now, inputs);
            node.wake();
        }
        true
    }
}

fn send_remote(r: &Remote, m: &Message) {
    match m.encode() {
        Ok(wire) => {
            if let Err(e) = r.socket.send(wire, zmq::DONTWAIT) {
                trace!(endpoint = %r.endpoint, error = %e, "gossip send");
            }
        }
        Err(e) => warn!(error = %e, "gossip tuple not sent"),
    }
}

fn read_remote(r: &mut Remote, now: Instant) {
    for _ in 0..256 {
        let parts = match r.socket.recv_multipart(zmq::DONTWAIT) {
            Ok(p) => p,
            Err(zmq::Error::EAGAIN) => break,
            Err(e) => {
                debug!(error = %e, "gossip recv");
                break;
            }
        };
        if parts.len() != 1 {
            debug!(endpoint = %r.endpoint, frames = parts.len(), "gossip message dropped");
            continue;
        }
        if let Err(e) = r.client.handle_frame(now, &parts[0]) {
            debug!(endpoint = %r.endpoint, error = %e, "gossip message dropped");
        }
    }
}

/// A tuple that names a ZRE peer (see [`ryre_proto::zgp::zre_peer`]) other than `own`, as the
/// heart's input; other tuples are not for this node.
pub(crate) fn discovered(own: PeerId, t: &Tuple) -> Option<Input> {
    let p = match ryre_proto::zgp::zre_peer(t) {
        Ok(p) => p,
        Err(e) => {
            debug!(key = %t.key, value = %t.value, error = %e, "gossip tuple ignored");
            return None;
        }
    };
    if p.id == own {
        return None;
    }
    Some(match p.key {
        Some(key) => Input::DiscoveredKey {
            id: p.id,
            endpoint: p.endpoint,
            key,
        },
        None => Input::Discovered {
            id: p.id,
            endpoint: p.endpoint,
        },
    })
}

/// A shared handle for the node (stopped with it).
pub(crate) type GossipSlot = std::sync::Mutex<Option<Gossip>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_zre_tuples_are_discovered() {
        let own = PeerId::from_bytes([1; 16]);
        let other = PeerId::from_bytes([0xAB; 16]);
        let t = |key: &str, value: &str| Tuple {
            key: key.into(),
            value: value.into(),
            ttl: 0,
        };
        let key = other.to_string();
        assert_eq!(key, "ABABABABABABABABABABABABABABABAB");
        assert!(matches!(
            discovered(own, &t(&key, "tcp://10.0.0.1:5")),
            Some(Input::Discovered { id, .. }) if id == other
        ));
        assert!(discovered(own, &t(&own.to_string(), "tcp://10.0.0.1:5")).is_none());
        assert!(discovered(own, &t(&key, "tcp://10.0.0.1:5|Z85KEY")).is_none());
        let z85 = ryre_proto::security::PublicKey([7; 32]).to_z85();
        assert!(matches!(
            discovered(own, &t(&key, &format!("tcp://10.0.0.1:5|{z85}"))),
            Some(Input::DiscoveredKey { id, key, .. }) if id == other && key.0 == [7; 32]
        ));
        assert!(discovered(own, &t(&key, "ipc:///tmp/x")).is_none());
        assert!(discovered(own, &t("not-a-uuid", "tcp://10.0.0.1:5")).is_none());
        assert!(discovered(own, &t(&key, &format!("tcp://{}", "a".repeat(300)))).is_none());
    }
}
