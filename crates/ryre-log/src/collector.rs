//! A collector: a ryre node advertising its SUB socket in HELLO, subscribing to what it wants,
//! and writing what arrives to files, a memory ring and live listeners.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::proto::{subscriptions, Level, LogRecord, DOMAIN, TOPIC_LEN};
use ryre::{Node, NodeBuilder, PeerId};

use crate::sink::{FileConfig, FileSink};
use crate::{LogError, LOG_HEADER};

/// What a collector asks for and where it puts it.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// The least severe level wanted (default info). Filtered at the publishers.
    pub level: Level,
    /// Only this node's records (filtered at the publishers).
    pub node: Option<PeerId>,
    /// Only records whose target starts with this (filtered here).
    pub target: Option<String>,
    /// Files to write, if any.
    pub files: Option<FileConfig>,
    /// Keep the newest this many records in memory (0: none).
    pub memory: usize,
    /// The interface whose address the SUB socket binds and advertises (by name, or IPv4 or
    /// IPv6 address; default as the node's default). The node is started on the same interface.
    pub interface: Option<String>,
    /// IPv6: the SUB socket on the interface's IPv6 address (a global or unique-local one
    /// before a link-local one; `[::1]` on `lo`) and the node started with
    /// [`ryre::NodeBuilder::ipv6`]. On a host without any IPv4 address this is the default.
    pub ipv6: bool,
    /// Records ZeroMQ buffers for this collector before publishers wait. Default 100,000.
    pub hwm: i32,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            level: Level::Info,
            node: None,
            target: None,
            files: None,
            memory: 0,
            interface: None,
            ipv6: false,
            hwm: 100_000,
        }
    }
}

/// Counters of a collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorStats {
    /// Records received and accepted.
    pub received: u64,
    /// Records written to files.
    pub written: u64,
    /// Messages that were not records (garbage, wrong version, oversized, bad topic).
    pub malformed: u64,
    /// Records whose strings were not UTF-8 (kept, with U+FFFD in place of bad bytes).
    pub repaired_utf8: u64,
    /// Records dropped by the target filter.
    pub filtered: u64,
    /// Records that never arrived (gaps in a publisher's sequence numbers).
    pub missed: u64,
    /// Files rotated.
    pub rotations: u64,
    /// Rotated files removed by retention.
    pub removed_files: u64,
    /// Write errors (the record stays in memory and goes to live listeners).
    pub write_errors: u64,
    /// Certified mode: records dropped because they were not signed (version 1).
    pub unsigned: u64,
    /// Certified mode: records dropped because their signature is not the named node's over
    /// their bytes (forged or tampered with).
    pub forged: u64,
    /// Certified mode: records dropped because the node they name is not a peer this node's
    /// heart admitted (unknown, gone, revoked).
    pub unadmitted: u64,
    /// Certified mode: records dropped because the certificate of the node they name does not
    /// grant the `log` service.
    pub unentitled: u64,
    /// Certified mode: signed records dropped because their number was not above the newest
    /// one taken from that node at that level (a replay).
    pub replayed: u64,
}

impl CollectorStats {
    /// Every record dropped by certified mode's checks.
    pub fn refused(&self) -> u64 {
        self.unsigned + self.forged + self.unadmitted + self.unentitled + self.replayed
    }
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    written: AtomicU64,
    malformed: AtomicU64,
    repaired: AtomicU64,
    filtered: AtomicU64,
    missed: AtomicU64,
    rotations: AtomicU64,
    removed: AtomicU64,
    write_errors: AtomicU64,
    unsigned: AtomicU64,
    forged: AtomicU64,
    unadmitted: AtomicU64,
    unentitled: AtomicU64,
    replayed: AtomicU64,
}

struct Shared {
    counters: Counters,
    ring: Mutex<VecDeque<LogRecord>>,
    listeners: Mutex<Vec<flume::Sender<LogRecord>>>,
}

/// A running collector. Stops (flushing its files) on [`Collector::stop`] or drop.
///
/// A collector whose node is certified keeps only signed records whose signature verifies
/// against the certificate of the admitted peer the record names, when that certificate grants
/// the `log` service, and whose number is above the newest taken from that node and level;
/// everything else is dropped and counted in [`CollectorStats`].
pub struct Collector {
    node: Node,
    endpoint: String,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Binds the SUB socket, starts a node from `builder` advertising it, and collects.
    pub fn start(builder: NodeBuilder, config: CollectorConfig) -> Result<Collector, LogError> {
        if config.hwm <= 0 {
            return Err(LogError::Config("hwm must be positive".into()));
        }
        // An IPv6-only host: the node falls back to IPv6 by itself, and so does the socket.
        let v6 = config.ipv6 || !ryre::has_ipv4();
        let bind = if v6 {
            let i6 = ryre::Interface6::find(config.interface.as_deref())?;
            if i6.is_link_local() {
                return Err(LogError::Config(format!(
                    "{} has only a link-local IPv6 address; a collector needs a global, \
                     unique-local or loopback one",
                    i6.name
                )));
            }
            format!("tcp://{}:*", i6.bind_host())
        } else {
            let iface = ryre::Interface::find(config.interface.as_deref())?;
            format!("tcp://{}:*", iface.addr)
        };
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::SUB)?;
        socket.set_rcvhwm(config.hwm)?;
        socket.set_linger(0)?;
        socket.set_ipv6(v6)?;
        // A record is at most MAX_RECORD bytes plus its topic; anything bigger is cut off by
        // ZeroMQ before it costs memory.
        socket
            .set_maxmsgsize((crate::proto::MAX_RECORD + crate::proto::SIGNATURE_LEN + 64) as i64)?;
        for prefix in subscriptions(config.level, config.node) {
            socket.set_subscribe(&prefix)?;
        }
        socket.bind(&bind)?;
        let endpoint = socket
            .get_last_endpoint()?
            .map_err(|_| LogError::Config("the SUB endpoint is not UTF-8".into()))?;
        let mut sink = match config.files.clone() {
            Some(f) => Some(FileSink::open(f)?),
            None => None,
        };
        let builder = match &config.interface {
            Some(i) => builder.interface(i.clone()),
            None => builder,
        };
        let builder = if config.ipv6 {
            builder.ipv6(true)
        } else {
            builder
        };
        let node = builder.header(LOG_HEADER, endpoint.clone()).start()?;
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            ring: Mutex::new(VecDeque::with_capacity(config.memory.min(1 << 20))),
            listeners: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2) = (shared.clone(), stop.clone());
        let certified = node.certificate().map(|_| node.clone());
        let thread = std::thread::Builder::new()
            .name("ryre-log-collect".into())
            .spawn(move || {
                let _ctx = ctx;
                let mut w = Receiver {
                    socket,
                    shared: shared2,
                    config,
                    last_seq: HashMap::new(),
                    certified,
                };
                w.run(&mut sink, &stop2);
            })
            .map_err(LogError::Thread)?;
        Ok(Collector {
            node,
            endpoint,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The collector's node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The SUB socket's endpoint, as advertised in [`LOG_HEADER`].
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The counters so far.
    pub fn stats(&self) -> CollectorStats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CollectorStats {
            received: g(&c.received),
            written: g(&c.written),
            malformed: g(&c.malformed),
            repaired_utf8: g(&c.repaired),
            filtered: g(&c.filtered),
            missed: g(&c.missed),
            rotations: g(&c.rotations),
            removed_files: g(&c.removed),
            write_errors: g(&c.write_errors),
            unsigned: g(&c.unsigned),
            forged: g(&c.forged),
            unadmitted: g(&c.unadmitted),
            unentitled: g(&c.unentitled),
            replayed: g(&c.replayed),
        }
    }

    /// The newest `n` records of the memory ring, oldest first.
    pub fn recent(&self, n: usize) -> Vec<LogRecord> {
        let ring = self.shared.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter()
            .skip(ring.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// A live copy of every accepted record from now on. The channel holds `capacity` records;
    /// a listener that falls further behind misses records (the collector never waits).
    pub fn listen(&self, capacity: usize) -> flume::Receiver<LogRecord> {
        let (tx, rx) = flume::bounded(capacity.max(1));
        self.shared
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    /// Stops collecting, flushes the files and stops the node.
    pub fn stop(mut self) -> Result<(), LogError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), LogError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match self.node.stop() {
            Ok(()) | Err(ryre::Error::Stopped) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

struct Receiver {
    socket: zmq::Socket,
    shared: Arc<Shared>,
    config: CollectorConfig,
    /// Newest sequence number seen per publisher and level.
    last_seq: HashMap<(PeerId, Level), u64>,
    /// Certified mode: the collector's node, whose heart says who is admitted.
    certified: Option<Node>,
}

impl Receiver {
    fn run(&mut self, sink: &mut Option<FileSink>, stop: &AtomicBool) {
        let mut frames: Vec<zmq::Message> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match self.socket.poll(zmq::POLLIN, 100) {
                Ok(n) if n > 0 => {}
                Ok(_) => {
                    self.idle(sink);
                    continue;
                }
                Err(_) => return,
            }
            // Take everything waiting, then flush once.
            for _ in 0..10_000 {
                frames.clear();
                match recv_multipart(&self.socket, &mut frames) {
                    Ok(true) => self.on_message(&frames, sink),
                    Ok(false) => break,
                    Err(()) => return,
                }
            }
            self.idle(sink);
        }
        self.idle(sink);
    }

    fn idle(&mut self, sink: &mut Option<FileSink>) {
        if let Some(s) = sink {
            let c = &self.shared.counters;
            if s.flush().and_then(|()| s.tick()).is_err() {
                c.write_errors.fetch_add(1, Ordering::Relaxed);
            }
            let (rot, rem, _) = s.counts();
            c.rotations.store(rot, Ordering::Relaxed);
            c.removed.store(rem, Ordering::Relaxed);
        }
    }

    fn on_message(&mut self, frames: &[zmq::Message], sink: &mut Option<FileSink>) {
        let c = &self.shared.counters;
        let [topic, body] = frames else {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let decoded = match LogRecord::decode_frame(body) {
            Ok(r) => r,
            Err(_) => {
                c.malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let (rec, repaired) = (decoded.record, decoded.repaired);
        // The topic must be the record's own: a forged topic would pass someone's filter.
        if topic.len() != TOPIC_LEN || topic[..] != rec.topic()[..] {
            c.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(node) = &self.certified {
            let Some((signed, sig)) = decoded.signature else {
                c.unsigned.fetch_add(1, Ordering::Relaxed);
                return;
            };
            use ryre::certs::SignatureError as E;
            match node.check_signature(&rec.node, ryre::certs::Services::LOG, DOMAIN, signed, &sig)
            {
                Ok(()) => {}
                Err(e) => {
                    let counter = match e {
                        E::Forged(_) => &c.forged,
                        E::NotEntitled { .. } => &c.unentitled,
                        E::NotAdmitted(_) | E::NotCertified => &c.unadmitted,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            if self
                .last_seq
                .get(&(rec.node, rec.level))
                .is_some_and(|prev| rec.seq <= *prev)
            {
                c.replayed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if repaired {
            c.repaired.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(prev) = self.last_seq.insert((rec.node, rec.level), rec.seq) {
            if rec.seq > prev + 1 {
                c.missed.fetch_add(rec.seq - prev - 1, Ordering::Relaxed);
            }
        }
        if let Some(t) = &self.config.target {
            if !rec.target.starts_with(t.as_str()) {
                c.filtered.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        c.received.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = sink {
            match s.write(&rec) {
                Ok(()) => c.written.fetch_add(1, Ordering::Relaxed),
                Err(_) => c.write_errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        {
            let mut l = self
                .shared
                .listeners
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            l.retain(|tx| !tx.is_disconnected());
            for tx in l.iter() {
                let _ = tx.try_send(rec.clone());
            }
        }
        if self.config.memory > 0 {
            let mut ring = self.shared.ring.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() == self.config.memory {
                ring.pop_front();
            }
            ring.push_back(rec);
        }
    }
}

/// Receives one whole multi-part message without waiting; `Ok(false)` when none is there.
fn recv_multipart(socket: &zmq::Socket, frames: &mut Vec<zmq::Message>) -> Result<bool, ()> {
    let mut flags = zmq::DONTWAIT;
    loop {
        let mut m = zmq::Message::new();
        match socket.recv(&mut m, flags) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) if frames.is_empty() => return Ok(false),
            Err(zmq::Error::EAGAIN) => {
                flags = 0; // the rest of a message is already there
                continue;
            }
            Err(_) => return Err(()),
        }
        let more = m.get_more();
        if frames.len() < 8 {
            frames.push(m);
        }
        if !more {
            return Ok(true);
        }
        flags = 0;
    }
}
