//! ZGP v1, the ZeroMQ gossip protocol of CZMQ's `zgossip` (what Zyre's gossip discovery speaks):
//! the codec, and the two sans-IO session machines ryre runs over it.
//!
//! # Wire
//! One ZeroMQ frame per message: the signature `AA A0`, a message id, the version (1), the body.
//! The server is a ROUTER at the gossip endpoint, clients are DEALERs. Integers are big-endian.
//!
//! | id | message | body                                                               |
//! |----|---------|--------------------------------------------------------------------|
//! | 1  | HELLO   | (empty): a client opens its session                                |
//! | 2  | PUBLISH | key (u8 length + ≤ 255 bytes), value (u32 length + bytes), ttl u32 |
//! | 3  | PING    | (empty): a client is alive                                         |
//! | 4  | PONG    | (empty): the server's answer to PING                               |
//! | 5  | INVALID | (empty): the server refused a message and ended the session        |
//!
//! Keys and values are UTF-8 here (Zyre's are ASCII: a UUID as 32 upper-case hex digits and an
//! endpoint); bytes after the body are an error, so a decoded message re-encodes to the same
//! bytes. Decoding never panics.
//!
//! # Sessions
//! [`Server`] is the hub: it keeps the tuples, answers HELLO with all of them, forwards every
//! new tuple to every client in session, answers PING with PONG and anything out of order with
//! INVALID (ending the session), as CZMQ does. [`Client`] is one DEALER's side: HELLO, then its
//! own tuples; PING to keep the session alive; on INVALID it sends HELLO *and* its tuples again.
//!
//! Where CZMQ has gaps, ryre fills them without changing what a Zyre peer sees:
//! - **Expiry.** A ryre client publishes its tuple with a non-zero `ttl` (CZMQ sends 0 and never
//!   reads it) and re-publishes it every third of that; a ryre server forgets a tuple whose ttl
//!   ran out without a re-publish, so a node that died is not introduced to newcomers forever.
//!   A clean stop re-publishes the same tuple with ttl 1 ms: a withdrawal to a ryre server, a
//!   duplicate (dropped) to a CZMQ one. Tuples with ttl 0 (Zyre's) never expire, as in CZMQ.
//! - **Keep-alive.** Clients PING (CZMQ clients never do, and CZMQ's server drops a client after
//!   1 s of silence). A ryre server drops a silent session only if it has pinged before (it is
//!   a ryre client that stopped), so quiet Zyre clients keep receiving new tuples.
//! - **INVALID.** The client re-sends its tuples with its HELLO (CZMQ re-sends only HELLO), so a
//!   hub that restarts learns everyone again. It does so once per burst: an INVALID within a
//!   PING interval of its last HELLO answers a frame sent before that HELLO (PINGs queued in a
//!   partition are refused one by one), and a HELLO for each would reach the hub inside the
//!   new session, be refused in turn with the tuples after it, and feed a storm of INVALIDs
//!   that never ends (found by ryre-sim's gossip runs). If the new session is really gone too,
//!   the next PING is refused after the interval and the client says HELLO again then.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The first two bytes of every ZGP message.
pub const SIGNATURE: [u8; 2] = [0xAA, 0xA0];
/// The protocol version this codec speaks.
pub const VERSION: u8 = 1;
/// The longest key, in bytes (a 1-byte length).
pub const MAX_KEY: usize = 255;

/// One name/value pair of the gossip network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Globally unique key (Zyre: the node's UUID as 32 upper-case hex digits).
    pub key: String,
    /// The value (Zyre: the node's inbox endpoint, or `endpoint|<Z85 key>` in secure mode).
    pub value: String,
    /// Time to live in milliseconds; 0 = forever (what CZMQ always sends).
    pub ttl: u32,
}

/// One ZGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A client opens its session.
    Hello,
    /// A client or the server announces a tuple.
    Publish(Tuple),
    /// A client signals it is alive.
    Ping,
    /// The server answers a PING.
    Pong,
    /// The server refused a message; the session is over.
    Invalid,
}

/// Why bytes are not a ZGP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the header or the body needs.
    #[error("ZGP message cut short")]
    Short,
    /// The first two bytes are not `AA A0`.
    #[error("not a ZGP message (bad signature)")]
    Signature,
    /// A version other than 1.
    #[error("ZGP version {0} (this codec speaks 1)")]
    Version(u8),
    /// A message id other than 1..=5.
    #[error("unknown ZGP message id {0}")]
    UnknownId(u8),
    /// A key or value that is not UTF-8.
    #[error("ZGP {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes after the body.
    #[error("{0} bytes after the ZGP message")]
    Trailing(usize),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A key over 255 bytes.
    #[error("ZGP key is {0} bytes; at most 255")]
    KeyTooLong(usize),
    /// A value over 4 GiB.
    #[error("ZGP value is {0} bytes; at most 4 GiB")]
    ValueTooLong(usize),
}

impl Message {
    /// The message id on the wire.
    pub fn id(&self) -> u8 {
        match self {
            Message::Hello => 1,
            Message::Publish(_) => 2,
            Message::Ping => 3,
            Message::Pong => 4,
            Message::Invalid => 5,
        }
    }

    /// The message's one frame.
    ///
    /// ```
    /// use ryre_proto::zgp::{Message, Tuple};
    /// assert_eq!(Message::Ping.encode().unwrap(), vec![0xAA, 0xA0, 3, 1]);
    /// let t = Tuple { key: "k".into(), value: "v".into(), ttl: 2 };
    /// let wire = Message::Publish(t.clone()).encode().unwrap();
    /// assert_eq!(wire, [0xAA, 0xA0, 2, 1, 1, b'k', 0, 0, 0, 1, b'v', 0, 0, 0, 2]);
    /// assert_eq!(Message::decode(&wire), Ok(Message::Publish(t)));
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(4);
        out.extend_from_slice(&SIGNATURE);
        out.push(self.id());
        out.push(VERSION);
        if let Message::Publish(t) = self {
            let key =
                u8::try_from(t.key.len()).map_err(|_| EncodeError::KeyTooLong(t.key.len()))?;
            let value = u32::try_from(t.value.len())
                .map_err(|_| EncodeError::ValueTooLong(t.value.len()))?;
            out.reserve(1 + t.key.len() + 4 + t.value.len() + 4);
            out.push(key);
            out.extend_from_slice(t.key.as_bytes());
            out.extend_from_slice(&value.to_be_bytes());
            out.extend_from_slice(t.value.as_bytes());
            out.extend_from_slice(&t.ttl.to_be_bytes());
        }
        Ok(out)
    }

    /// Reads one frame. Never panics.
    pub fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader(frame);
        if r.take(2)? != SIGNATURE {
            return Err(DecodeError::Signature);
        }
        let id = r.u8()?;
        let version = r.u8()?;
        if !(1..=5).contains(&id) {
            return Err(DecodeError::UnknownId(id));
        }
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let msg = match id {
            1 => Message::Hello,
            2 => {
                let klen = usize::from(r.u8()?);
                let key = utf8(r.take(klen)?, "key")?;
                let vlen = usize::try_from(r.u32()?).map_err(|_| DecodeError::Short)?;
                let value = utf8(r.take(vlen)?, "value")?;
                let ttl = r.u32()?;
                Message::Publish(Tuple { key, value, ttl })
            }
            3 => Message::Ping,
            4 => Message::Pong,
            _ => Message::Invalid,
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing(r.0.len()));
        }
        Ok(msg)
    }
}

fn utf8(b: &[u8], what: &'static str) -> Result<String, DecodeError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| DecodeError::NotUtf8(what))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A session that has pinged and then stays silent this long is dropped.
    pub session_timeout: Duration,
    /// At most this many sessions; a new one beyond it evicts the longest silent.
    pub max_sessions: usize,
    /// At most this many tuples; new keys beyond it are dropped (counted).
    pub max_tuples: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session_timeout: Duration::from_secs(5),
            max_sessions: 10_000,
            max_tuples: 100_000,
        }
    }
}

/// What the server wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutput {
    /// Send `msg` to the client with this routing id.
    Send {
        /// The client's ROUTER routing id.
        to: Bytes,
        /// The message.
        msg: Message,
    },
    /// A new tuple (new key, or a new value for a key): for the application, and for the
    /// servers this node is a client of (CZMQ forwards new tuples to its remotes too).
    Deliver(Tuple),
    /// A tuple's ttl ran out (or it was withdrawn) and the server forgot it.
    Expired(Tuple),
}

#[derive(Debug)]
struct Session {
    hello: bool,
    pinged: bool,
    heard: Instant,
}

#[derive(Debug)]
struct Stored {
    value: String,
    ttl: u32,
    /// When it was last forwarded to the sessions (new, or a refresh).
    forwarded: Instant,
}

/// The shortest ttl whose re-publishing counts as a refresh worth forwarding (a clean stop's
/// withdrawal carries 1 ms: never forwarded as a sign of life).
const REFRESH_MIN_TTL_MS: u32 = 1_000;

/// Counters of what the server refused or dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Frames that were not ZGP messages.
    pub malformed: u64,
    /// Messages out of order (answered with INVALID).
    pub invalid: u64,
    /// New tuples dropped because the table was full.
    pub full: u64,
    /// Sessions dropped for silence or evicted.
    pub dropped_sessions: u64,
}

/// The gossip hub's state machine (CZMQ zgossip's server side, with expiry and keep-alive).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    sessions: BTreeMap<Bytes, Session>,
    /// The sessions that have pinged, by when they were last heard (their timeouts in order).
    pinged: BTreeSet<(Instant, Bytes)>,
    tuples: Expiring<Stored>,
    out: VecDeque<ServerOutput>,
    stats: ServerStats,
}

impl Server {
    /// A server with no tuples and no sessions.
    pub fn new(config: ServerConfig) -> Self {
        Server {
            config,
            sessions: BTreeMap::new(),
            pinged: BTreeSet::new(),
            tuples: Expiring::default(),
            out: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    /// A frame arrived from the client with this routing id.
    pub fn handle_frame(&mut self, now: Instant, from: Bytes, frame: &[u8]) {
        let msg = match Message::decode(frame) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                self.refuse(from);
                return;
            }
        };
        let hello = match self.sessions.get_mut(&from) {
            Some(s) => {
                if s.pinged {
                    self.pinged.remove(&(s.heard, from.clone()));
                    self.pinged.insert((now, from.clone()));
                }
                s.heard = now;
                s.hello
            }
            None => false,
        };
        match (hello, msg) {
            (false, Message::Hello) => {
                self.open(now, from.clone());
                for (key, t) in self.tuples.iter() {
                    self.out.push_back(ServerOutput::Send {
                        to: from.clone(),
                        msg: Message::Publish(Tuple {
                            key: key.clone(),
                            value: t.value.clone(),
                            ttl: t.ttl,
                        }),
                    });
                }
            }
            (true, Message::Publish(t)) => self.accept(now, t),
            (true, Message::Ping) => {
                if let Some(s) = self.sessions.get_mut(&from) {
                    if !s.pinged {
                        s.pinged = true;
                        self.pinged.insert((s.heard, from.clone()));
                    }
                }
                self.out.push_back(ServerOutput::Send {
                    to: from,
                    msg: Message::Pong,
                });
            }
            _ => {
                self.stats.invalid += 1;
                self.refuse(from);
            }
        }
    }

    fn open(&mut self, now: Instant, id: Bytes) {
        if self.sessions.len() >= self.config.max_sessions {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.heard)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.drop_session(&k);
                self.stats.dropped_sessions += 1;
            }
        }
        self.sessions.insert(
            id,
            Session {
                hello: true,
                pinged: false,
                heard: now,
            },
        );
    }

    fn drop_session(&mut self, id: &Bytes) {
        if let Some(s) = self.sessions.remove(id) {
            if s.pinged {
                self.pinged.remove(&(s.heard, id.clone()));
            }
        }
    }

    fn refuse(&mut self, to: Bytes) {
        self.drop_session(&to);
        self.out.push_back(ServerOutput::Send {
            to,
            msg: Message::Invalid,
        });
    }

    /// A tuple from this node itself, a client, or a server this node is a client of: stored
    /// and forwarded if new. A duplicate refreshes its expiry (a ttl of 0 leaves it as it was)
    /// and is forwarded again as a sign of life when it is a refresh (ttl of a second or more)
    /// and a quarter of its ttl has passed since it was last forwarded: a node that dropped
    /// the peer after a link fault learns of it again within that time, as the peer's beacons
    /// would tell it on one subnet. The quarter keeps it to one forward per refresh (a ryre
    /// client re-publishes every third of the ttl) and stops the echo of hubs that are clients
    /// of each other. Tuples with ttl 0 (Zyre's, CZMQ's) are never refreshed, so never
    /// forwarded twice, as in CZMQ.
    pub fn accept(&mut self, now: Instant, t: Tuple) {
        let expires = (t.ttl > 0).then(|| now + Duration::from_millis(u64::from(t.ttl)));
        if let Some(s) = self.tuples.get_mut(&t.key) {
            if s.value == t.value {
                let quarter = Duration::from_millis(u64::from(t.ttl / 4));
                let refresh = t.ttl >= REFRESH_MIN_TTL_MS
                    && now.saturating_duration_since(s.forwarded) >= quarter;
                if refresh {
                    s.forwarded = now;
                }
                if t.ttl > 0 {
                    s.ttl = t.ttl;
                    self.tuples.set_expiry(&t.key, expires);
                }
                if refresh {
                    self.forward(t);
                }
                return;
            }
        } else if self.tuples.len() >= self.config.max_tuples {
            self.stats.full += 1;
            return;
        }
        self.tuples.insert(
            t.key.clone(),
            Stored {
                value: t.value.clone(),
                ttl: t.ttl,
                forwarded: now,
            },
            expires,
        );
        self.forward(t);
    }

    /// Sends `t` to every client in session, and to the application.
    fn forward(&mut self, t: Tuple) {
        for (id, s) in &self.sessions {
            if s.hello {
                self.out.push_back(ServerOutput::Send {
                    to: id.clone(),
                    msg: Message::Publish(t.clone()),
                });
            }
        }
        self.out.push_back(ServerOutput::Deliver(t));
    }

    /// Time passed: expired tuples are forgotten, silent pinging sessions dropped.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((key, s)) = self.tuples.pop_expired(now) {
            self.out.push_back(ServerOutput::Expired(Tuple {
                key,
                value: s.value,
                ttl: s.ttl,
            }));
        }
        let timeout = self.config.session_timeout;
        while let Some((heard, id)) = self.pinged.first().cloned() {
            if now.saturating_duration_since(heard) < timeout {
                break;
            }
            self.drop_session(&id);
            self.stats.dropped_sessions += 1;
        }
    }

    /// When [`Server::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tuples = self.tuples.next_expiry();
        let sessions = self
            .pinged
            .first()
            .map(|(heard, _)| *heard + self.config.session_timeout);
        match (tuples, sessions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.out.pop_front()
    }

    /// The tuples held, by key.
    pub fn tuples(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tuples
            .iter()
            .map(|(k, s)| (k.as_str(), s.value.as_str()))
    }

    /// How many clients are in session.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// What was refused or dropped.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }
}

/// The client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time between PINGs (below CZMQ's 1 s client timeout).
    pub ping_interval: Duration,
    /// The ttl the client's own tuples carry (re-published every third of it); zero = never
    /// expire, never re-publish (CZMQ's behaviour).
    pub ttl: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ping_interval: Duration::from_millis(400),
            ttl: Duration::from_secs(30),
        }
    }
}

/// One client session's state machine (a DEALER connected to a gossip server).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    own: BTreeMap<String, String>,
    out: VecDeque<Message>,
    learned: VecDeque<Tuple>,
    next_ping: Option<Instant>,
    next_refresh: Option<Instant>,
    heard: Option<Instant>,
    /// When the last HELLO was sent.
    last_hello: Option<Instant>,
    invalids: u64,
}

impl Client {
    /// A client that has not said HELLO yet.
    pub fn new(config: ClientConfig) -> Self {
        Client {
            config,
            own: BTreeMap::new(),
            out: VecDeque::new(),
            learned: VecDeque::new(),
            next_ping: None,
            next_refresh: None,
            heard: None,
            last_hello: None,
            invalids: 0,
        }
    }

    fn ttl_ms(&self) -> u32 {
        u32::try_from(self.config.ttl.as_millis()).unwrap_or(u32::MAX)
    }

    fn tuple(&self, key: &str, value: &str, ttl: u32) -> Message {
        Message::Publish(Tuple {
            key: key.to_owned(),
            value: value.to_owned(),
            ttl,
        })
    }

    fn hello(&mut self, now: Instant) {
        self.last_hello = Some(now);
        self.out.push_back(Message::Hello);
        let ttl = self.ttl_ms();
        let all: Vec<Message> = self
            .own
            .iter()
            .map(|(k, v)| self.tuple(k, v, ttl))
            .collect();
        self.out.extend(all);
        self.next_ping = Some(now + self.config.ping_interval);
        if ttl > 0 {
            self.next_refresh = Some(now + self.config.ttl / 3);
        }
    }

    /// Opens the session: HELLO, then every own tuple.
    pub fn start(&mut self, now: Instant) {
        self.hello(now);
    }

    /// Publishes (or replaces) one of this client's own tuples.
    pub fn publish(&mut self, key: String, value: String) {
        let msg = self.tuple(&key, &value, self.ttl_ms());
        self.own.insert(key, value);
        self.out.push_back(msg);
    }

    /// Passes on a tuple this node learned elsewhere (a hub that is also a client forwards new
    /// tuples to the hubs it connects to, as CZMQ does). Sent with ttl 0: it is not refreshed.
    pub fn forward(&mut self, t: Tuple) {
        self.out.push_back(Message::Publish(Tuple { ttl: 0, ..t }));
    }

    /// Withdraws every own tuple (a clean stop): each is re-published with ttl 1 ms, which a
    /// ryre server takes as "forget it now" and a CZMQ server drops as a duplicate.
    pub fn withdraw(&mut self) {
        let all: Vec<Message> = self.own.iter().map(|(k, v)| self.tuple(k, v, 1)).collect();
        self.out.extend(all);
        self.own.clear();
        self.next_refresh = None;
    }

    /// Withdraws one own tuple (its node left): re-published with ttl 1 ms and forgotten, so
    /// it is neither refreshed nor sent again after an INVALID. Nothing for a key not held.
    pub fn withdraw_key(&mut self, key: &str) {
        if let Some(v) = self.own.remove(key) {
            let msg = self.tuple(key, &v, 1);
            self.out.push_back(msg);
        }
    }

    /// How many own tuples the client publishes.
    pub fn own_tuples(&self) -> usize {
        self.own.len()
    }

    /// A frame arrived from the server. Returns the decode error of a frame that is not ZGP.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Result<(), DecodeError> {
        let msg = Message::decode(frame)?;
        self.heard = Some(now);
        match msg {
            Message::Publish(t) => self.learned.push_back(t),
            Message::Invalid => {
                // The server forgot the session (it restarted, or dropped us): start again,
                // tuples included; but once per burst (see the module's notes on INVALID).
                let recent = self
                    .last_hello
                    .is_some_and(|t| now.saturating_duration_since(t) < self.config.ping_interval);
                if !recent {
                    self.invalids += 1;
                    self.hello(now);
                }
            }
            Message::Pong | Message::Hello | Message::Ping => {}
        }
        Ok(())
    }

    /// Time passed: PING when due, re-publish own tuples when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_ping.is_some_and(|t| t <= now) {
            self.out.push_back(Message::Ping);
            self.next_ping = Some(now + self.config.ping_interval);
        }
        if self.next_refresh.is_some_and(|t| t <= now) {
            let ttl = self.ttl_ms();
            let all: Vec<Message> = self
                .own
                .iter()
                .map(|(k, v)| self.tuple(k, v, ttl))
                .collect();
            self.out.extend(all);
            self.next_refresh = Some(now + self.config.ttl / 3);
        }
    }

    /// When [`Client::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_ping, self.next_refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next tuple learned from the server.
    pub fn poll_tuple(&mut self) -> Option<Tuple> {
        self.learned.pop_front()
    }

    /// When the server was last heard from.
    pub fn last_heard(&self) -> Option<Instant> {
        self.heard
    }

    /// How many times the server answered INVALID and the session was opened again (an INVALID
    /// within a PING interval of the last HELLO is not counted: it answers an older frame).
    pub fn invalids(&self) -> u64 {
        self.invalids
    }
}

/// Why a tuple names no ZRE peer (see [`zre_peer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotZre {
    /// The key is not a UUID in hex.
    #[error("the key is not a UUID")]
    Key,
    /// The value is not a `tcp://` endpoint of at most 255 bytes without NUL.
    #[error("the value is not a ZRE endpoint")]
    Endpoint,
    /// The value's `|<key>` part is not a Z85 CURVE public key.
    #[error("the value's public key is not Z85")]
    PublicKey,
}

/// A ZRE peer a tuple introduces: its id, endpoint and (secure mode) CURVE key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZrePeer {
    /// The peer's UUID (the tuple's key).
    pub id: crate::PeerId,
    /// Its inbox endpoint.
    pub endpoint: String,
    /// Its CURVE public key (a value `endpoint|<Z85 key>`, Zyre's secure gossip).
    pub key: Option<crate::security::PublicKey>,
}

impl ZrePeer {
    /// What the heart is told of it: [`crate::Input::DiscoveredKey`] with a key, else
    /// [`crate::Input::Discovered`].
    pub fn into_input(self) -> crate::Input {
        match self.key {
            Some(key) => crate::Input::DiscoveredKey {
                id: self.id,
                endpoint: self.endpoint,
                key,
            },
            None => crate::Input::Discovered {
                id: self.id,
                endpoint: self.endpoint,
            },
        }
    }
}

/// Reads a tuple as Zyre publishes them: key = a UUID in hex, value = a `tcp://` endpoint that a
/// ZRE string can carry (at most 255 bytes, no NUL), or `endpoint|<Z85 CURVE public key>`.
///
/// ```
/// use ryre_proto::zgp::{zre_peer, NotZre, Tuple};
/// let t = |k: &str, v: &str| Tuple { key: k.into(), value: v.into(), ttl: 0 };
/// let p = zre_peer(&t("ABABABABABABABABABABABABABABABAB", "tcp://10.0.0.1:5")).unwrap();
/// assert_eq!(p.endpoint, "tcp://10.0.0.1:5");
/// assert_eq!(zre_peer(&t("x", "tcp://10.0.0.1:5")), Err(NotZre::Key));
/// assert_eq!(zre_peer(&t("ABABABABABABABABABABABABABABABAB", "ipc://x")), Err(NotZre::Endpoint));
/// ```
pub fn zre_peer(t: &Tuple) -> Result<ZrePeer, NotZre> {
    let id: crate::PeerId = t.key.parse().map_err(|_| NotZre::Key)?;
    let (endpoint, key) = match t.value.split_once('|') {
        Some((ep, key)) => (ep, Some(key)),
        None => (t.value.as_str(), None),
    };
    if !endpoint.starts_with("tcp://") || endpoint.len() > 255 || endpoint.contains('\0') {
        return Err(NotZre::Endpoint);
    }
    let key = match key {
        None => None,
        Some(k) => Some(crate::security::PublicKey::from_z85(k).map_err(|_| NotZre::PublicKey)?),
    };
    Ok(ZrePeer {
        id,
        endpoint: endpoint.to_string(),
        key,
    })
}

mod expiring;
pub(crate) use expiring::Expiring;

#[cfg(test)]
mod tests;
