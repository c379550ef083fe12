//! `NodeBuilder`: a node's settings, checked, and how a node is started.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ryre_proto::{Config, NodeState, PeerId};

use crate::discovery::agent::Rendezvous;
use crate::discovery::gossip::{Gossip, GossipSettings};
use crate::discovery::local::LocalClient;
use crate::discovery::{self, Interface};
use crate::events::EventQueue;
use crate::memlink::MemInbox;
use crate::runtime::{Core, Poller, Shared};
use crate::{transport, Error, Inner, Node};
use ryre_proto::rendezvous::{BeaconSpec, Registration};
use std::sync::atomic::AtomicBool;

/// Settings for a node; [`NodeBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    name: Option<String>,
    headers: BTreeMap<String, String>,
    interface: Option<String>,
    port: u16,
    interval: Duration,
    evasive: Duration,
    expired: Duration,
    endpoint: Option<String>,
    discovery: Discovery,
    rendezvous: Option<Rendezvous>,
    may_host_agent: bool,
    verbose: bool,
    send_hwm: i32,
    send_policy: crate::SendPolicy,
    /// Whether `discovery`/`beacon` was set (gossip then keeps it; otherwise gossip turns it off).
    discovery_set: bool,
    gossip: GossipSettings,
    gossip_ttl: Option<Duration>,
    advertised: Option<String>,
    security: crate::Security,
    context: Option<crate::security::Context>,
    key_dir: Option<std::path::PathBuf>,
    tofu: bool,
}

/// How a node finds its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discovery {
    /// The device rendezvous plus the agent's UDP beacons (the default): the node registers with
    /// the machine's agent (or becomes it); the agent beacons for every node of the machine and
    /// passes on the beacons it hears, so Zyre and Pyre nodes elsewhere see this node as usual.
    #[default]
    Auto,
    /// The device rendezvous only, no UDP at all: nodes of this machine (and process) find each
    /// other; works with only `lo` and where broadcast is not allowed.
    Local,
    /// Plain ZRE: the node sends and hears UDP beacons itself, as Zyre and Pyre do.
    Beacon,
    /// No discovery: peers are introduced with [`Node::connect_peer`] or find us themselves.
    Off,
}

impl Discovery {
    /// Lower-case name: `auto`, `local`, `beacon`, `off`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Discovery::Auto => "auto",
            Discovery::Local => "local",
            Discovery::Beacon => "beacon",
            Discovery::Off => "off",
        }
    }
}

impl std::str::FromStr for Discovery {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Discovery::Auto),
            "local" => Ok(Discovery::Local),
            "beacon" => Ok(Discovery::Beacon),
            "off" => Ok(Discovery::Off),
            _ => Err(format!(
                "{s:?} is not a discovery mode (auto, local, beacon, off)"
            )),
        }
    }
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder {
            name: None,
            headers: BTreeMap::new(),
            interface: None,
            port: ryre_proto::beacon::DEFAULT_BEACON_PORT,
            interval: Duration::from_secs(1),
            evasive: Duration::from_secs(5),
            expired: Duration::from_secs(30),
            endpoint: None,
            discovery: Discovery::Auto,
            rendezvous: None,
            may_host_agent: true,
            verbose: false,
            send_hwm: 100_000,
            send_policy: crate::SendPolicy::default(),
            discovery_set: false,
            gossip: GossipSettings::default(),
            gossip_ttl: None,
            advertised: None,
            security: crate::Security::Open,
            context: None,
            key_dir: None,
            tofu: false,
        }
    }
}

impl NodeBuilder {
    /// The node's name (default: the first 6 hex characters of its id, as Zyre does).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a header sent in HELLO (e.g. `X-SERVICE`).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// The network interface to beacon on, by name (`eth0`) or IPv4 address. Default: the first
    /// up, non-loopback, broadcast-capable IPv4 interface, or loopback when there is none.
    pub fn interface(mut self, interface: impl Into<String>) -> Self {
        self.interface = Some(interface.into());
        self
    }

    /// The UDP beacon port (default 5670).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Time between beacons (default 1 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Silence after which a peer is pinged and reported EVASIVE (default 5 s).
    pub fn evasive_timeout(mut self, t: Duration) -> Self {
        self.evasive = t;
        self
    }

    /// Silence after which a peer is dropped with EXIT (default 30 s).
    pub fn expired_timeout(mut self, t: Duration) -> Self {
        self.expired = t;
        self
    }

    /// Binds the inbox to this ZeroMQ endpoint (e.g. `tcp://127.0.0.1:*`) instead of
    /// `tcp://<interface address>:*`, and announces it in HELLO.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// `false` turns discovery off ([`Discovery::Off`]: peers must be introduced with
    /// [`Node::connect_peer`] or find us themselves); `true` restores the default
    /// ([`Discovery::Auto`]).
    pub fn beacon(mut self, on: bool) -> Self {
        self.discovery = if on { Discovery::Auto } else { Discovery::Off };
        self.discovery_set = true;
        self
    }

    /// How the node finds its peers (default [`Discovery::Auto`]).
    pub fn discovery(mut self, d: Discovery) -> Self {
        self.discovery = d;
        self.discovery_set = true;
        self
    }

    /// Serves gossip (ZGP, CZMQ's zgossip, as Zyre's `zyre_gossip_bind`): a hub at this ZeroMQ
    /// endpoint (e.g. `tcp://10.0.0.1:5670`, or `tcp://10.0.0.1:*` for a port the OS picks; see
    /// [`Node::gossip_endpoint`]) that keeps every node's tuple and tells every client about
    /// every other. As in Zyre, gossip turns beacons off unless [`NodeBuilder::discovery`] (or
    /// [`NodeBuilder::beacon`]) is also set, which keeps both.
    ///
    /// [`Node::gossip_endpoint`]: crate::Node::gossip_endpoint
    pub fn gossip_bind(mut self, endpoint: impl Into<String>) -> Self {
        self.gossip.bind = Some(endpoint.into());
        self
    }

    /// Gossips through the hub at this endpoint (repeatable: one session per hub), as Zyre's
    /// `zyre_gossip_connect`: publishes this node's UUID and endpoint there and meets every node
    /// the hub knows. Turns beacons off unless discovery is set too (see
    /// [`NodeBuilder::gossip_bind`]).
    pub fn gossip_connect(mut self, endpoint: impl Into<String>) -> Self {
        self.gossip.connect.push(endpoint.into());
        self
    }

    /// How long a ryre gossip hub keeps this node's tuple without a refresh (the node re-publishes
    /// it every third of this; default: the expired timeout). Zyre hubs keep tuples forever.
    pub fn gossip_ttl(mut self, ttl: Duration) -> Self {
        self.gossip_ttl = Some(ttl);
        self
    }

    /// The endpoint announced to peers (in HELLO, in gossip and by the device agent) instead of
    /// the bound one: for a node behind NAT or a port forward, e.g. `tcp://203.0.113.5:6000`
    /// while the inbox is bound to `tcp://192.168.1.5:6000`.
    pub fn advertised_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.advertised = Some(endpoint.into());
        self
    }

    /// The device rendezvous: TCP on 127.0.0.1 at this port (default: the beacon port, so
    /// nodes on another beacon port form another group).
    pub fn rendezvous_port(mut self, port: u16) -> Self {
        self.rendezvous = Some(Rendezvous::Tcp(port));
        self
    }

    /// Whether this node may take the rendezvous and serve as the machine's agent (default
    /// true). With `false` it only registers, and waits for another node to serve.
    pub fn agent(mut self, may_host: bool) -> Self {
        self.may_host_agent = may_host;
        self
    }

    /// The device rendezvous on a Unix socket at `path` instead of TCP.
    pub fn rendezvous_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.rendezvous = Some(Rendezvous::Ipc(path.into()));
        self
    }

    /// How the node protects its links and discovery (default [`crate::Security::Open`], plain
    /// ZRE v2). In [`crate::Security::Curve`] mode every ZeroMQ link is CURVE, the node owns the
    /// ZAP handler of its own ZeroMQ context, beacons are Zyre's v3 (with the key) plus ryre's
    /// signed beacon, and a message counts only from the key bound to its sender's UUID. The
    /// device rendezvous carries each node's key with a signed proof (checked by the agent and
    /// by every node); in [`Discovery::Auto`] a secure node beacons itself, since the agent
    /// cannot sign for it.
    pub fn security(mut self, security: crate::Security) -> Self {
        self.security = security;
        self
    }

    /// CURVE mode with the key directory `dir` (read when the node starts; a missing directory,
    /// a bad or exposed key file is an [`Error::Keys`] then): its own key pair, trusting the keys
    /// in `dir/peers/` and its own. With [`NodeBuilder::tofu`] the directory gives the key pair
    /// only. Overrides [`NodeBuilder::security`].
    pub fn curve_key_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.key_dir = Some(dir.into());
        self
    }

    /// CURVE mode with trust on first use: any key is accepted and each UUID pinned to the first
    /// key seen for it. The key pair comes from [`NodeBuilder::curve_key_dir`] if set, else a
    /// fresh one is drawn. Overrides [`NodeBuilder::security`].
    pub fn tofu(mut self, on: bool) -> Self {
        self.tofu = on;
        self
    }

    /// The ZeroMQ context of a secure node's sockets (default: one of its own). To share the
    /// application's context: ryre installs its ZAP handler there, so starting fails with
    /// [`Error::Zap`] if the context already has one. Open nodes share ryre's own contexts.
    pub fn zmq_context(mut self, ctx: zmq::Context) -> Self {
        self.context = Some(crate::security::Context(ctx));
        self
    }

    /// Logs every connection and event at `info` level through `tracing`.
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// Messages queued to one peer before its queue counts as full (default 100,000); what a
    /// send to a full queue does is the [`crate::SendPolicy`].
    pub fn send_hwm(mut self, hwm: i32) -> Self {
        self.send_hwm = hwm;
        self
    }

    /// What `whisper` and `shout` do when a peer's send queue is full (default
    /// [`crate::SendPolicy::Block`] for 5 s; [`crate::SendPolicy::DropPeer`] is Zyre's
    /// behaviour).
    pub fn send_policy(mut self, policy: crate::SendPolicy) -> Self {
        self.send_policy = policy;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        check_str("name", self.name.as_deref().unwrap_or(""))?;
        for (k, v) in &self.headers {
            check_str("header name", k)?;
            check_nul("header value", v)?;
        }
        if self.interval.is_zero() {
            return Err(Error::Config(
                "the beacon interval must be above zero".into(),
            ));
        }
        if self.evasive.is_zero() || self.expired.is_zero() {
            return Err(Error::Config("timeouts must be above zero".into()));
        }
        for ep in self.gossip.bind.iter().chain(&self.gossip.connect) {
            check_nul("gossip endpoint", ep)?;
        }
        if self
            .gossip_ttl
            .is_some_and(|t| t < Duration::from_millis(3))
        {
            return Err(Error::Config("the gossip ttl must be at least 3 ms".into()));
        }
        if let Some(ep) = &self.advertised {
            check_str("advertised endpoint", ep)?;
            if !ep.starts_with("tcp://") {
                return Err(Error::Config(format!(
                    "the advertised endpoint {ep:?} is not tcp://host:port"
                )));
            }
        }
        if self.send_hwm <= 0 {
            return Err(Error::Config(
                "the send high-water mark must be above zero".into(),
            ));
        }
        Ok(())
    }

    /// Starts the node: binds its inbox, opens its beacon socket and starts its thread.
    pub fn start(mut self) -> Result<Node, Error> {
        self.validate()?;
        if self.gossip.active() && !self.discovery_set {
            // As Zyre: gossip replaces beacons unless both were asked for.
            self.discovery = Discovery::Off;
        }
        self.gossip.ttl = self.gossip_ttl.unwrap_or(self.expired);
        match (&self.key_dir, self.tofu) {
            (None, false) => {}
            (Some(dir), tofu) => {
                let dir = crate::keys::KeyDir::load(dir)?;
                let trust = if tofu {
                    crate::security::Trust::FirstUse
                } else {
                    dir.trust()
                };
                self.security = crate::Security::Curve {
                    keys: dir.keys,
                    trust,
                };
            }
            (None, true) => {
                let keys = crate::keys::try_generate()
                    .map_err(|e| Error::Config(format!("cannot draw a key pair: {e}")))?;
                self.security = crate::Security::tofu(keys);
            }
        }
        let curve = match &self.security {
            crate::Security::Open => None,
            crate::Security::Curve { keys, trust } => Some((keys.clone(), trust.clone())),
        };
        // The agent cannot sign a secure node's beacons: in auto mode a secure node registers
        // without UDP and beacons itself.
        let own_beacons = self.discovery == Discovery::Beacon
            || (curve.is_some() && self.discovery == Discovery::Auto);
        let id = PeerId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| id.to_string()[..6].to_string());
        let iface = Interface::find(self.interface.as_deref())?;
        let bind = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("tcp://{}:*", iface.addr));
        // A secure node has a context of its own, whose ZAP handler knows its trust settings and
        // is bound before the CURVE inbox exists: if it cannot be, the node does not start.
        let (ctx, zap) = match &curve {
            None => (transport::shared_context(), None),
            Some((_, trust)) => {
                let ctx = self.context.clone().map_or_else(zmq::Context::new, |c| c.0);
                let zap = crate::security::ZapHandler::install(&ctx, trust.clone())?;
                (ctx, Some(zap))
            }
        };
        let inbox = transport::Inbox::bind(&ctx, &bind, 100_000, curve.as_ref().map(|(k, _)| k))?;
        let port = inbox.port();
        let endpoint = match &self.endpoint {
            Some(ep) => match ep.rsplit_once(':') {
                Some((host, "*" | "0")) => format!("{host}:{port}"),
                _ => ep.clone(),
            },
            None => discovery::beacon::endpoint(iface.addr, port),
        };
        let endpoint = self.advertised.clone().unwrap_or(endpoint);
        check_str("endpoint", &endpoint)?;
        let beacon = if own_beacons {
            let b = discovery::beacon::BeaconSocket::open(&iface, self.port).map_err(|source| {
                Error::Beacon {
                    addr: format!("{}:{}", iface.broadcast, self.port),
                    source,
                }
            })?;
            Some(b)
        } else {
            None
        };
        let mut config = Config::new(id, name.clone(), endpoint.clone());
        config.headers = self.headers.clone();
        config.evasive = self.evasive;
        config.expired = self.expired;
        // Beacons heard this long after a leaving one come from a live peer (see the heart).
        config.rejoin_grace = (self.interval / 4).min(Duration::from_millis(250));
        config.security = curve
            .as_ref()
            .map(|(keys, trust)| ryre_proto::security::Security {
                key: keys.public(),
                trust: trust.clone(),
            });
        let (ev_tx, ev_rx) = flume::unbounded();
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(Error::Thread)?;
        wake_tx.set_nonblocking(true).map_err(Error::Thread)?;
        wake_rx.set_nonblocking(true).map_err(Error::Thread)?;
        let gossip_ctx = ctx.clone();
        let links = transport::Links::new(
            ctx,
            id,
            transport::LinkOptions {
                send_hwm: self.send_hwm,
                linger_ms: 500,
            },
            curve.as_ref().map(|(k, _)| k.clone()),
        );
        let core = Core {
            state: NodeState::new(config),
            links,
            events: Some(ev_tx),
            pending: Vec::new(),
            verbose: self.verbose,
            policy: self.send_policy,
            new_backlog: false,
            now: Instant::now(),
        };
        let is_agent = Arc::new(AtomicBool::new(false));
        let rendezvous = self
            .rendezvous
            .clone()
            .unwrap_or(Rendezvous::Tcp(self.port));
        let local = match self.discovery {
            Discovery::Auto | Discovery::Local => {
                let beacon =
                    (self.discovery == Discovery::Auto && curve.is_none()).then(|| BeaconSpec {
                        addr: iface.addr,
                        broadcast: iface.broadcast,
                        port: self.port,
                        interval_ms: u32::try_from(self.interval.as_millis()).unwrap_or(u32::MAX),
                    });
                let reg = Registration {
                    id,
                    name: name.clone(),
                    endpoint: endpoint.clone(),
                    beacon,
                    headers: self.headers.clone().into_iter().collect(),
                    groups: Vec::new(),
                    status: 0,
                    proof: curve
                        .as_ref()
                        .map(|(k, _)| ryre_proto::rendezvous::KeyProof::register(k, id, &endpoint)),
                };
                let leave = curve
                    .as_ref()
                    .map(|(k, _)| ryre_proto::rendezvous::KeyProof::leave(k, id));
                Some(LocalClient::start(
                    rendezvous,
                    reg,
                    self.may_host_agent,
                    is_agent.clone(),
                    leave,
                ))
            }
            Discovery::Beacon | Discovery::Off => None,
        };
        let fallback_beacon =
            (self.discovery == Discovery::Auto && !own_beacons).then(|| (iface.clone(), self.port));
        let (mem, mem_tx, mem_pending) = MemInbox::new(100_000);
        let poller = Poller {
            inbox,
            mem,
            beacon,
            local,
            fallback_beacon,
            wake_rx,
            next_beacon: Instant::now(),
            ready: Vec::with_capacity(2),
            polled_at: Instant::now(),
        };
        let signer = curve
            .as_ref()
            .map(|(k, _)| crate::security::BeaconSigner::new(k.clone()));
        let shared = Arc::new(Shared::new(
            core,
            poller,
            wake_tx,
            port,
            self.interval,
            signer,
            zap,
        ));
        if self.discovery != Discovery::Off {
            let mem = crate::memlink::sender(mem_tx, &shared, mem_pending);
            discovery::inproc::join((iface.addr, self.port), id, &endpoint, &shared, mem);
        }
        let bg = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ryre-{name}"))
            .spawn(move || bg.run())
            .map_err(Error::Thread)?;
        let _ = shared.bg_thread.set(thread.thread().clone());
        let gossip = if self.gossip.active() {
            // Zyre's secure gossip value: the endpoint and the Z85 key.
            let value = match &curve {
                None => endpoint.clone(),
                Some((keys, _)) => format!("{endpoint}|{}", keys.public()),
            };
            match Gossip::start(
                &gossip_ctx,
                &self.gossip,
                id,
                value,
                Arc::downgrade(&shared),
            ) {
                Ok(g) => Some(g),
                Err(e) => {
                    shared.stop();
                    thread.thread().unpark();
                    let _ = thread.join();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let gossip_endpoint = gossip
            .as_ref()
            .and_then(|g| g.endpoint().map(str::to_owned));
        Ok(Node {
            inner: Arc::new(Inner {
                id,
                name,
                endpoint,
                interface: iface,
                shared,
                events: Arc::new(EventQueue {
                    rx: ev_rx,
                    current: Mutex::new(Vec::new().into_iter()),
                }),
                thread: Mutex::new(Some(thread)),
                is_agent,
                discovery: self.discovery,
                gossip: Mutex::new(gossip),
                gossip_endpoint,
            }),
        })
    }
}

/// A string ZRE carries in 255 bytes and Zyre reads as a C string: not too long, no NUL.
pub(crate) fn check_str(what: &'static str, s: &str) -> Result<(), Error> {
    if s.len() > 255 {
        return Err(Error::TooLong { what, len: s.len() });
    }
    check_nul(what, s)
}

/// Zyre and CZMQ keep names, groups and headers as C strings: a NUL would cut them short there,
/// so the two ends would disagree on the value.
pub(crate) fn check_nul(what: &'static str, s: &str) -> Result<(), Error> {
    match s.bytes().position(|b| b == 0) {
        Some(at) => Err(Error::Nul { what, at }),
        None => Ok(()),
    }
}
