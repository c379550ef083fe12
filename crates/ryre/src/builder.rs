//! `NodeBuilder`: a node's settings, checked, and how a node is started.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ryre_proto::{Config, NodeState, PeerId};

use crate::discovery::agent::Rendezvous;
use crate::discovery::gossip::{Gossip, GossipSettings};
use crate::discovery::local::{AgentGossipRequest, LocalClient};
use crate::discovery::{self, Interface, Interface6};
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
    stop_flush: Duration,
    /// Whether `discovery`/`beacon` was set (gossip then keeps it; otherwise gossip turns it off).
    discovery_set: bool,
    gossip: GossipSettings,
    gossip_ttl: Option<Duration>,
    gossip_via_agent: bool,
    advertised: Option<String>,
    security: crate::Security,
    context: Option<crate::security::Context>,
    key_dir: Option<std::path::PathBuf>,
    tofu: bool,
    cert: Option<std::path::PathBuf>,
    trust_cas: Vec<std::path::PathBuf>,
    revocations: Option<std::path::PathBuf>,
    ipv6: bool,
    dual_stack: bool,
    ipv6_group: Option<std::net::Ipv6Addr>,
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
            stop_flush: Duration::from_millis(500),
            discovery_set: false,
            gossip: GossipSettings::default(),
            gossip_ttl: None,
            gossip_via_agent: false,
            advertised: None,
            security: crate::Security::Open,
            context: None,
            key_dir: None,
            tofu: false,
            cert: None,
            trust_cas: Vec::new(),
            revocations: None,
            ipv6: false,
            dual_stack: false,
            ipv6_group: None,
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

    /// Gossips through the machine's agent instead of a session of its own: the agent (the
    /// device rendezvous, see [`Discovery::Auto`]) holds one ZGP session per hub for all the
    /// nodes of the host that ask, publishes one tuple per node (withdrawn the moment the node
    /// leaves or dies) and passes the hub's tuples on to them. A hub then sees one session per
    /// host instead of one per node, and nodes of one host meet through the agent. Applies to
    /// the hubs of [`NodeBuilder::gossip_connect`]; without [`NodeBuilder::discovery`] the node
    /// runs [`Discovery::Local`] (no UDP, as gossip turns beacons off), with it `Auto` or
    /// `Local` (`Beacon` and `Off` have no agent: starting fails with [`Error::Config`]).
    ///
    /// [`Error::Config`]: crate::Error::Config
    pub fn gossip_via_agent(mut self, on: bool) -> Self {
        self.gossip_via_agent = on;
        self
    }

    /// The endpoint announced to peers (in HELLO, in gossip and by the device agent) instead of
    /// the bound one: for a node behind NAT or a port forward, e.g. `tcp://203.0.113.5:6000`
    /// while the inbox is bound to `tcp://192.168.1.5:6000`.
    pub fn advertised_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.advertised = Some(endpoint.into());
        self
    }

    /// IPv6 instead of IPv4 (Zyre's `ZSYS_IPV6=1`): the inbox binds to the interface's IPv6
    /// address (a global or unique-local one before a link-local one), and beacons (the same
    /// bytes) go to an IPv6 multicast group, `ff02::1` unless [`NodeBuilder::ipv6_group`] says
    /// otherwise, joined on that interface. A link-local address is announced without its
    /// `%interface` (peers add their own). With discovery `auto` the machine's agent still
    /// introduces the nodes of this host; the node sends its IPv6 beacons itself.
    pub fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self
    }

    /// IPv4 and IPv6 at once: the inbox on both addresses of the interface (one port), beacons
    /// over both (IPv4 broadcast and IPv6 multicast), so IPv4-only and IPv6-only peers both
    /// find the node. HELLO announces the IPv4 endpoint.
    pub fn dual_stack(mut self, on: bool) -> Self {
        self.dual_stack = on;
        self
    }

    /// The IPv6 multicast group beacons go to (default `ff02::1`, all nodes on the link).
    pub fn ipv6_group(mut self, group: std::net::Ipv6Addr) -> Self {
        self.ipv6_group = Some(group);
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

    /// Certified mode with the certificate chain and key pair at `path` (`DIR/NAME`: the files
    /// `DIR/NAME.cert` and `DIR/NAME.secret` that `ryre cert issue` writes; see
    /// [`crate::certs`]). CURVE on every link with the certificate's key; every peer must show
    /// a chain issued by a CA of [`NodeBuilder::trust_ca`], and may use only the groups and
    /// rights it grants. Read when the node starts (bad files, or an own chain that does not
    /// verify, are errors then). Overrides [`NodeBuilder::security`] and the key directory.
    pub fn certificate(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.cert = Some(path.into());
        self
    }

    /// Trusts the root CA certificate in `path` (a `NAME.cert` of `ryre cert ca`); repeatable.
    /// Certified mode needs at least one.
    pub fn trust_ca(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trust_cas.push(path.into());
        self
    }

    /// Certified mode's revocation file: read at start (if it exists), and rewritten whenever
    /// the node learns new revocations from its peers, so they survive a restart.
    pub fn revocations(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.revocations = Some(path.into());
        self
    }

    /// Certified mode: what this builder's certificate lets its node do, checked as
    /// [`NodeBuilder::start`] checks it (the files read, the chain verified against the trusted
    /// CAs and the revocation file), without starting anything. `Ok(None)` when no certificate
    /// is set. For a service that must refuse to start when its node's certificate lacks a
    /// right it needs, before any peer sees the node (a timer server without the `timer`
    /// service, a pipeline role without the rights of its groups).
    ///
    /// ```
    /// let b = ryre::Node::builder();
    /// assert!(b.own_certificate()?.is_none());
    /// # Ok::<(), ryre::Error>(())
    /// ```
    pub fn own_certificate(&self) -> Result<Option<crate::certs::Verified>, Error> {
        Ok(self.load_certified()?.map(|(_, state)| state.own().clone()))
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

    /// How long [`crate::Node::stop`] (and dropping the last clone) may wait for the peers this
    /// node sent messages to to confirm they have handled them (a PING each, answered with
    /// PING-OK after everything queued before it), before the node leaves (default 500 ms).
    /// So a program that whispers and then stops and exits loses nothing still queued, and its
    /// leaving beacon never overtakes its last messages. Peers that answer end the wait at
    /// once; `Duration::ZERO` stops at once, as Zyre does.
    pub fn stop_flush(mut self, wait: Duration) -> Self {
        self.stop_flush = wait;
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
        if self.ipv6_group.is_some_and(|g| !g.is_multicast()) {
            return Err(Error::Config(format!(
                "the IPv6 beacon group {} is not a multicast address (ff00::/8)",
                self.ipv6_group.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)
            )));
        }
        if self.send_hwm <= 0 {
            return Err(Error::Config(
                "the send high-water mark must be above zero".into(),
            ));
        }
        Ok(())
    }

    /// Certified mode's files, read and checked: the node's own chain and key pair, and its state.
    #[allow(clippy::type_complexity)]
    fn load_certified(
        &self,
    ) -> Result<
        Option<(
            crate::certs::CertFiles,
            ryre_proto::security::certified::Certified,
        )>,
        Error,
    > {
        use ryre_proto::security::certified::{Certified, CertifiedConfig, DEFAULT_SKEW};
        let Some(path) = &self.cert else {
            if !self.trust_cas.is_empty() || self.revocations.is_some() {
                return Err(Error::Config(
                    "trusted CAs and revocations need a certificate (certificate / --cert)".into(),
                ));
            }
            return Ok(None);
        };
        if self.trust_cas.is_empty() {
            return Err(Error::Config(
                "certified mode needs at least one trusted CA (trust_ca / --trust CA.cert)".into(),
            ));
        }
        let files = crate::certs::CertFiles::load(path)?;
        let mut roots = Vec::new();
        for t in &self.trust_cas {
            roots.extend(crate::certs::read_chain(t)?);
        }
        let mut set = ryre_proto::security::revocation::RevocationSet::new();
        if let Some(r) = &self.revocations {
            if std::fs::symlink_metadata(r).is_ok() {
                crate::certs::load_revocations_into(r, &mut set)?;
            }
        }
        let state = Certified::new(
            CertifiedConfig {
                chain: files.chain.clone(),
                roots,
                skew: DEFAULT_SKEW,
            },
            set,
            crate::certs::unix_now(),
            0,
        )
        .map_err(|source| {
            Error::Cert(crate::certs::CertFileError::Own {
                path: path.to_path_buf(),
                source,
            })
        })?;
        Ok(Some((files, state)))
    }

    /// Starts the node: binds its inbox, opens its beacon socket and starts its thread.
    pub fn start(mut self) -> Result<Node, Error> {
        self.validate()?;
        let via_agent = self.gossip_via_agent && !self.gossip.connect.is_empty();
        if self.gossip.active() && !self.discovery_set {
            // As Zyre: gossip replaces beacons unless both were asked for.
            self.discovery = if via_agent {
                Discovery::Local
            } else {
                Discovery::Off
            };
        }
        if via_agent && !matches!(self.discovery, Discovery::Auto | Discovery::Local) {
            return Err(Error::Config(format!(
                "gossip through the machine's agent needs discovery auto or local, not {}",
                self.discovery.as_str()
            )));
        }
        self.gossip.ttl = self.gossip_ttl.unwrap_or(self.expired);
        // The hubs the agent gossips with for this node are not the node's own sessions.
        let agent_hubs = if via_agent {
            std::mem::take(&mut self.gossip.connect)
        } else {
            Vec::new()
        };
        // The key directory and trust on first use, resolved into `security` (one shared path:
        // Security::key_dir reads the directory, Security::tofu keeps its keys).
        let certified = self.load_certified()?;
        if let Some((files, _)) = &certified {
            self.security = crate::Security::tofu(files.keys.clone());
        } else if let Some(dir) = &self.key_dir {
            self.security = crate::Security::key_dir(dir)?;
        } else if self.tofu {
            let keys = crate::keys::try_generate()
                .map_err(|e| Error::Config(format!("cannot draw a key pair: {e}")))?;
            self.security = crate::Security::tofu(keys);
        }
        if let (true, crate::Security::Curve { keys, .. }) = (self.tofu, &self.security) {
            self.security = crate::Security::tofu(keys.clone());
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
        let mut stack = Stack::of(self.ipv6, self.dual_stack);
        if stack == Stack::V4
            && !discovery::has_ipv4()
            && Interface6::find(self.interface.as_deref()).is_ok()
        {
            // An IPv6-only host: an IPv4 node could not even bind its inbox.
            tracing::info!("no IPv4 address on this host: the node speaks IPv6");
            stack = Stack::V6;
        }
        let (iface, iface6) = stack.interfaces(self.interface.as_deref())?;
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
        let keys = curve.as_ref().map(|(k, _)| k);
        let (inbox, port) = self.bind_inbox(&ctx, stack, &iface, iface6.as_ref(), keys)?;
        let endpoint = match (&self.endpoint, &iface6) {
            (Some(ep), _) => match ep.rsplit_once(':') {
                Some((host, "*" | "0")) => strip_scope(&format!("{host}:{port}")),
                _ => strip_scope(ep),
            },
            (None, Some(i6)) if stack == Stack::V6 => discovery::beacon::endpoint6(i6.addr, port),
            (None, _) => discovery::beacon::endpoint(iface.addr, port),
        };
        let endpoint = self.advertised.clone().unwrap_or(endpoint);
        check_str("endpoint", &endpoint)?;
        let beacon6 = match &iface6 {
            Some(i6) if matches!(self.discovery, Discovery::Beacon | Discovery::Auto) => {
                let group = self
                    .ipv6_group
                    .unwrap_or(discovery::beacon::DEFAULT_IPV6_GROUP);
                let b = discovery::beacon::BeaconSocket::open_v6(i6, self.port, group).map_err(
                    |source| Error::Beacon {
                        addr: format!("[{group}%{}]:{}", i6.name, self.port),
                        source,
                    },
                )?;
                Some(b)
            }
            _ => None,
        };
        let beacon = if own_beacons && stack != Stack::V6 {
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
        if let (Stack::Dual, Some(i6), None, None) =
            (stack, &iface6, &self.endpoint, &self.advertised)
        {
            config.endpoint_v6 = Some(discovery::beacon::endpoint6(i6.addr, port));
        }
        config.evasive = self.evasive;
        config.expired = self.expired;
        config.stop_flush = self.stop_flush;
        // Beacons heard this long after a leaving one come from a live peer (see the heart).
        config.rejoin_grace = (self.interval / 4).min(Duration::from_millis(250));
        config.security = curve
            .as_ref()
            .map(|(keys, trust)| ryre_proto::security::Security {
                key: keys.public(),
                trust: trust.clone(),
            });
        if let Some((_, state)) = certified {
            config.certified = Some(ryre_proto::security::certified::CertifiedMode {
                state,
                epoch: Instant::now(),
                epoch_unix: crate::certs::unix_now(),
            });
        }
        let (ev_tx, ev_rx) = flume::unbounded();
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(Error::Thread)?;
        wake_tx.set_nonblocking(true).map_err(Error::Thread)?;
        wake_rx.set_nonblocking(true).map_err(Error::Thread)?;
        let gossip_ctx = ctx.clone();
        let mut links = transport::Links::new(
            ctx,
            id,
            transport::LinkOptions {
                send_hwm: self.send_hwm,
                linger_ms: 500,
            },
            curve.as_ref().map(|(k, _)| k.clone()),
        );
        links.set_scope(iface6.as_ref().map(|i| i.name.clone()));
        let core = Core {
            state: NodeState::new(config),
            links,
            events: Some(ev_tx),
            pending: Vec::new(),
            verbose: self.verbose,
            policy: self.send_policy,
            new_backlog: false,
            now: Instant::now(),
            revocations_file: self.revocations.clone(),
        };
        let is_agent = Arc::new(AtomicBool::new(false));
        let agent_gossip: crate::discovery::agent::GossipView = Arc::default();
        // Zyre's gossip value (secure mode: the endpoint and the Z85 key).
        let gossip_value = match &curve {
            None => endpoint.clone(),
            Some((keys, _)) => format!("{endpoint}|{}", keys.public()),
        };
        let rendezvous = self
            .rendezvous
            .clone()
            .unwrap_or(Rendezvous::Tcp(self.port));
        let local = match self.discovery {
            Discovery::Auto | Discovery::Local => {
                // The agent cannot sign a secure node's beacons: it beacons itself.
                let v4_beacons =
                    self.discovery == Discovery::Auto && stack != Stack::V6 && curve.is_none();
                let beacon = v4_beacons.then(|| BeaconSpec {
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
                let gossip = (!agent_hubs.is_empty()).then(|| AgentGossipRequest {
                    hubs: agent_hubs.clone(),
                    value: gossip_value.clone(),
                    ttl_ms: u32::try_from(self.gossip.ttl.as_millis()).unwrap_or(u32::MAX),
                });
                Some(LocalClient::start(
                    rendezvous,
                    reg,
                    self.may_host_agent,
                    is_agent.clone(),
                    leave,
                    gossip,
                    agent_gossip.clone(),
                ))
            }
            Discovery::Beacon | Discovery::Off => None,
        };
        let fallback_beacon =
            (self.discovery == Discovery::Auto && !own_beacons && stack != Stack::V6)
                .then(|| (iface.clone(), self.port));
        let (mem, mem_tx, mem_pending) = MemInbox::new(100_000);
        let poller = Poller {
            inbox,
            mem,
            beacon,
            beacon6,
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
            let domain = match &iface6 {
                Some(i6) if stack == Stack::V6 => std::net::IpAddr::V6(i6.addr),
                _ => std::net::IpAddr::V4(iface.addr),
            };
            discovery::inproc::join((domain, self.port), id, &endpoint, &shared, mem);
        }
        // Only now register with the machine's agent (see `LocalClient::start`).
        if let Some(l) = crate::runtime::lock(&shared.poller).local.as_mut() {
            l.begin();
        }
        let bg = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ryre-{name}"))
            .spawn(move || bg.run())
            .map_err(Error::Thread)?;
        let _ = shared.bg_thread.set(thread.thread().clone());
        let gossip = if self.gossip.active() {
            match Gossip::start(
                &gossip_ctx,
                &self.gossip,
                id,
                gossip_value,
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
                interface6: iface6,
                shared,
                events: Arc::new(EventQueue {
                    rx: ev_rx,
                    current: Mutex::new(Vec::new().into_iter()),
                }),
                thread: Mutex::new(Some(thread)),
                is_agent,
                agent_gossip,
                discovery: self.discovery,
                gossip: Mutex::new(gossip),
                gossip_endpoint,
                keys: curve.map(|(keys, _)| keys),
            }),
        })
    }
}

impl NodeBuilder {
    /// Binds the inbox: to the asked endpoint, or to the interface's address(es) on a port the
    /// OS picks (dual stack: the IPv4 one first, then the IPv6 one on the same port, tried
    /// again on another port if that one is taken there).
    fn bind_inbox(
        &self,
        ctx: &zmq::Context,
        stack: Stack,
        iface: &Interface,
        iface6: Option<&Interface6>,
        curve: Option<&crate::security::KeyPair>,
    ) -> Result<(transport::Inbox, u16), Error> {
        const HWM: i32 = 100_000;
        let open = |bind: &str| -> Result<(transport::Inbox, u16), Error> {
            let inbox = transport::Inbox::bind(ctx, bind, HWM, curve)?;
            let port = inbox.port();
            Ok((inbox, port))
        };
        if let Some(ep) = &self.endpoint {
            return open(ep);
        }
        match (stack, iface6) {
            (Stack::V6, Some(i6)) => open(&format!("tcp://{}:*", i6.bind_host())),
            (Stack::Dual, Some(i6)) => {
                let mut tries = 0;
                loop {
                    let (inbox, port) = open(&format!("tcp://{}:*", iface.addr))?;
                    match inbox.bind_also(&format!("tcp://{}:{port}", i6.bind_host())) {
                        Ok(()) => return Ok((inbox, port)),
                        Err(_) if tries < 8 => tries += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            _ => open(&format!("tcp://{}:*", iface.addr)),
        }
    }
}

/// Which IP versions a node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    V4,
    V6,
    Dual,
}

impl Stack {
    fn of(ipv6: bool, dual: bool) -> Stack {
        match (ipv6, dual) {
            (_, true) => Stack::Dual,
            (true, false) => Stack::V6,
            (false, false) => Stack::V4,
        }
    }

    /// The interface(s) `wanted` (a name or an address) names. IPv6 only: the IPv4 side is
    /// the interface's IPv4 address if it has one, else unspecified (0.0.0.0). Dual stack: one
    /// interface with both.
    fn interfaces(self, wanted: Option<&str>) -> Result<(Interface, Option<Interface6>), Error> {
        let v6_address = wanted.is_some_and(|w| w.contains(':'));
        match self {
            Stack::V4 => match Interface::find(wanted) {
                Ok(i) => Ok((i, None)),
                Err(_) if v6_address => Err(Error::Config(format!(
                    "the interface {} is given by an IPv6 address: ask for IPv6 too \
                     (NodeBuilder::ipv6 or dual_stack; --ipv6 or --dual-stack)",
                    crate::discovery::quote_short(wanted.unwrap_or_default())
                ))),
                Err(e) => Err(e.into()),
            },
            Stack::V6 => {
                let i6 = Interface6::find(wanted)?;
                let i4 = Interface::find(Some(&i6.name)).unwrap_or_else(|_| Interface {
                    name: i6.name.clone(),
                    addr: std::net::Ipv4Addr::UNSPECIFIED,
                    broadcast: std::net::Ipv4Addr::UNSPECIFIED,
                    netmask: std::net::Ipv4Addr::UNSPECIFIED,
                });
                Ok((i4, Some(i6)))
            }
            Stack::Dual if v6_address => {
                let i6 = Interface6::find(wanted)?;
                Ok((Interface::find(Some(&i6.name))?, Some(i6)))
            }
            Stack::Dual => {
                let i4 = Interface::find(wanted)?;
                let i6 = Interface6::find(Some(&i4.name))?;
                Ok((i4, Some(i6)))
            }
        }
    }
}

/// An endpoint without the `%scope` of a link-local IPv6 address (which means nothing to a
/// peer; Zyre strips it from HELLO too).
fn strip_scope(endpoint: &str) -> String {
    match (endpoint.find('%'), endpoint.rfind(']')) {
        (Some(pct), Some(close)) if pct < close => {
            format!("{}{}", &endpoint[..pct], &endpoint[close..])
        }
        _ => endpoint.to_string(),
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
