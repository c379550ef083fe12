//! The publishing side: a tracing layer feeding a bounded queue, and a thread that owns the
//! XPUB socket, follows collectors as they come and go, and learns from their subscriptions
//! which levels anyone wants.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::proto::{widest_level, Level, LogRecord, DOMAIN, SEQ_OFFSET, TOPIC_LEN};
use bytes::BytesMut;
use ryre::{Node, PeerId};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::{unix_now, LogError, LOG_HEADER};

/// Settings of a publisher.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Records queued between the application's threads and the socket; when full, new
    /// records are dropped and counted (the application never blocks). Default 65,536.
    pub queue: usize,
    /// Records ZeroMQ may hold per collector before the publisher waits for it. Default 100,000.
    pub hwm: i32,
    /// How often the peer list is checked for collectors. Default 200 ms.
    pub scan_every: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            queue: 65_536,
            hwm: 100_000,
            scan_every: Duration::from_millis(200),
        }
    }
}

/// Counters of a publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Records handed to the socket.
    pub published: u64,
    /// Records formatted and queued (published + still queued + dropped on the way out).
    pub queued: u64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    /// Records cut to fit the size limits.
    pub truncated: u64,
    /// Collectors connected now.
    pub collectors: usize,
    /// Collectors whose advertised endpoint ZeroMQ refused.
    pub bad_endpoints: u64,
    /// The least severe level any collector asks for (`None`: no collector wants anything,
    /// and events are not even formatted).
    pub wanted: Option<Level>,
    /// Certified mode: records are signed (version 2).
    pub signing: bool,
}

struct Shared {
    node: PeerId,
    name: String,
    /// 0 when nobody wants anything, else the least severe level wanted (1..=5).
    wanted: AtomicU8,
    /// Next record number per level (index: level - 1).
    seq: [AtomicU64; 5],
    queued: AtomicU64,
    dropped: AtomicU64,
    truncated: AtomicU64,
    published: AtomicU64,
    collectors: AtomicUsize,
    bad_endpoints: AtomicU64,
    /// Certified mode: sign every record with the node's key.
    signing: bool,
    tx: flume::Sender<([u8; TOPIC_LEN], BytesMut)>,
}

/// The `tracing` layer: install it in the application's subscriber.
#[derive(Clone)]
pub struct LogLayer {
    shared: Arc<Shared>,
}

/// The publisher behind a [`LogLayer`]: counters, and the socket's thread (stopped on drop).
pub struct LogPublisher {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A layer publishing the events of this process as records of `node`, with default settings.
pub fn layer(node: &Node) -> Result<(LogLayer, LogPublisher), LogError> {
    layer_with(node, PublisherConfig::default())
}

/// A layer publishing the events of this process as records of `node`.
///
/// A certified node signs every record (see [`crate::proto`]); its certificate must grant the
/// `log` service, or this fails with [`LogError::NotEntitled`].
pub fn layer_with(
    node: &Node,
    config: PublisherConfig,
) -> Result<(LogLayer, LogPublisher), LogError> {
    if config.queue == 0 || config.hwm <= 0 {
        return Err(LogError::Config("queue and hwm must be positive".into()));
    }
    let signing = match node.certificate() {
        Some(cert) if !cert.services.contains(ryre::certs::Services::LOG) => {
            return Err(LogError::NotEntitled { name: cert.name });
        }
        Some(_) => true,
        None => false,
    };
    let (tx, rx) = flume::bounded(config.queue);
    let shared = Arc::new(Shared {
        node: node.uuid(),
        name: node.name().to_string(),
        wanted: AtomicU8::new(0),
        seq: Default::default(),
        queued: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        truncated: AtomicU64::new(0),
        published: AtomicU64::new(0),
        collectors: AtomicUsize::new(0),
        bad_endpoints: AtomicU64::new(0),
        signing,
        tx,
    });
    // The node's context pool: no I/O thread and reaper of the publisher's own.
    let ctx = ryre::shared_zmq_context();
    let socket = ctx.socket(zmq::XPUB)?;
    socket.set_sndhwm(config.hwm)?;
    socket.set_linger(0)?;
    // Collectors may listen on IPv4 or IPv6 (`tcp://[..]:port`): ZMQ_IPV6 connects to both.
    socket.set_ipv6(true)?;
    // Queue only for collectors that are connected: one that died holds nothing back.
    socket.set_immediate(true)?;
    set_nodrop(&socket)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker = Worker {
        node: node.clone(),
        shared: shared.clone(),
        socket,
        _ctx: ctx,
        prefixes: BTreeSet::new(),
        connected: BTreeMap::new(),
        scan_every: config.scan_every,
    };
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("ryre-log-pub".into())
        .spawn(move || worker.run(&rx, &stop2))
        .map_err(LogError::Thread)?;
    Ok((
        LogLayer {
            shared: shared.clone(),
        },
        LogPublisher {
            shared,
            stop,
            thread: Some(thread),
        },
    ))
}

/// ZMQ_XPUB_NODROP: a full pipe makes send fail with EAGAIN instead of dropping silently, so
/// every drop happens (and is counted) at our queue.
fn set_nodrop(socket: &zmq::Socket) -> Result<(), LogError> {
    let on: libc_int = 1;
    // SAFETY: the socket pointer is valid for the socket's life; the option takes an int.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket_ptr(socket),
            zmq_sys::ZMQ_XPUB_NODROP as i32,
            (&on as *const libc_int).cast(),
            std::mem::size_of::<libc_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(LogError::Zmq(zmq::Error::from_raw(unsafe {
            zmq_sys::zmq_errno()
        })))
    }
}

#[allow(non_camel_case_types)]
type libc_int = std::os::raw::c_int;

fn socket_ptr(socket: &zmq::Socket) -> *mut std::ffi::c_void {
    // `as_mut_ptr` needs `&mut`, but only reads the pointer.
    let s = socket as *const zmq::Socket as *mut zmq::Socket;
    // SAFETY: the pointer is read, not used to mutate the Rust value.
    unsafe { (*s).as_mut_ptr() }
}

impl LogPublisher {
    /// The counters so far.
    pub fn stats(&self) -> PublisherStats {
        let s = &self.shared;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PublisherStats {
            published: get(&s.published),
            queued: get(&s.queued),
            dropped: get(&s.dropped),
            truncated: get(&s.truncated),
            collectors: s.collectors.load(Ordering::Relaxed),
            bad_endpoints: get(&s.bad_endpoints),
            wanted: Level::from_u8(s.wanted.load(Ordering::Relaxed)),
            signing: s.signing,
        }
    }

    /// Stops the socket's thread after sending what is queued (at most 1 s more).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the socket's thread if it sleeps until its next scan (an empty frame is no
        // record); a full queue wakes it anyway.
        let _ = self.shared.tx.try_send(([0; TOPIC_LEN], BytesMut::new()));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LogPublisher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn level_of(l: &tracing::Level) -> Level {
    match *l {
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::TRACE => Level::Trace,
    }
}

/// Collects an event's message and fields as text.
struct Fields {
    message: String,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

impl<S> Layer<S> for LogLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = level_of(meta.level());
        // Nobody asked for this level (or there is no collector at all): nothing to do.
        if level as u8 > self.shared.wanted.load(Ordering::Relaxed) {
            return;
        }
        let mut f = Fields {
            message: String::new(),
            fields: Vec::new(),
        };
        event.record(&mut f);
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_string()).collect())
            .unwrap_or_default();
        self.queue(level, meta.target().to_string(), f.message, f.fields, spans);
    }
}

impl LogLayer {
    /// Whether any collector wants records of `level` now (if not, [`LogLayer::publish`]
    /// drops them unformatted; callers that build records at a cost can ask first).
    pub fn enabled(&self, level: Level) -> bool {
        level as u8 <= self.shared.wanted.load(Ordering::Relaxed)
    }

    /// Publishes a record that does not come from `tracing` (from a binding's logging system:
    /// Python's `logging`, say): `target` is the logger name. Returns `false` when no collector
    /// wants `level` (nothing is formatted) or the queue is full (counted as dropped); never
    /// blocks.
    pub fn publish(
        &self,
        level: Level,
        target: &str,
        message: String,
        fields: Vec<(String, String)>,
    ) -> bool {
        if !self.enabled(level) {
            return false;
        }
        self.queue(level, target.to_string(), message, fields, Vec::new())
    }

    fn queue(
        &self,
        level: Level,
        target: String,
        message: String,
        fields: Vec<(String, String)>,
        spans: Vec<String>,
    ) -> bool {
        let s = &self.shared;
        let mut rec = LogRecord {
            seq: 0,
            time: unix_now(),
            level,
            node: s.node,
            name: s.name.clone(),
            target,
            message,
            fields,
            spans,
        };
        if rec.truncate_to_fit() {
            s.truncated.fetch_add(1, Ordering::Relaxed);
        }
        // `seq` is set by the socket's thread as it sends: contiguous in the order published.
        let Ok(frame) = rec.encode_mut() else {
            return false;
        };
        s.queued.fetch_add(1, Ordering::Relaxed);
        if s.tx.try_send((rec.topic(), frame)).is_err() {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The socket's thread.
struct Worker {
    node: Node,
    shared: Arc<Shared>,
    socket: zmq::Socket,
    _ctx: zmq::Context,
    /// Subscriptions the XPUB has passed up (one entry per distinct prefix).
    prefixes: BTreeSet<Vec<u8>>,
    /// Collector -> endpoint we connected to.
    connected: BTreeMap<PeerId, String>,
    scan_every: Duration,
}

impl Worker {
    fn run(&mut self, rx: &flume::Receiver<([u8; TOPIC_LEN], BytesMut)>, stop: &AtomicBool) {
        let mut next_scan = Instant::now();
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Relaxed) && stopping_since.is_none() {
                stopping_since = Some(Instant::now());
            }
            if let Some(t) = stopping_since {
                if rx.is_empty() || t.elapsed() > Duration::from_secs(1) {
                    return;
                }
            }
            if Instant::now() >= next_scan {
                self.scan();
                next_scan = Instant::now() + self.scan_every;
            }
            self.read_subscriptions();
            let wait = if stopping_since.is_some() {
                Duration::ZERO
            } else if self.connected.is_empty() {
                // No collector connected: no subscription can arrive and nothing is formatted,
                // so sleep until the next scan (a record or `stop` wakes us earlier).
                next_scan.saturating_duration_since(Instant::now())
            } else {
                Duration::from_millis(20)
            };
            let Ok(first) = rx.recv_timeout(wait) else {
                continue;
            };
            if first.1.is_empty() {
                // The wake-up `stop` sends (records are never empty).
                continue;
            }
            self.send(first, stop);
            for _ in 0..4096 {
                match rx.try_recv() {
                    Ok(m) if m.1.is_empty() => {}
                    Ok(m) => self.send(m, stop),
                    Err(_) => break,
                }
            }
        }
    }

    /// Sends one record, waiting (in 10 ms steps, reading subscriptions meanwhile) while a
    /// collector's pipe is full.
    fn send(&mut self, (topic, mut frame): ([u8; TOPIC_LEN], BytesMut), stop: &AtomicBool) {
        let shared = self.shared.clone();
        let counter = &shared.seq[usize::from(topic[0].wrapping_sub(b'1')).min(4)];
        let seq = counter.load(Ordering::Relaxed);
        frame[SEQ_OFFSET..SEQ_OFFSET + 8].copy_from_slice(&seq.to_be_bytes());
        if shared.signing && !LogRecord::sign_frame(&mut frame, |b| self.node.sign(DOMAIN, b)) {
            // A certified node always has its key; never send a record it could not sign.
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let sent = self
                .socket
                .send(&topic[..], zmq::SNDMORE | zmq::DONTWAIT)
                .and_then(|()| self.socket.send(&frame[..], 0));
            match sent {
                Ok(()) => {
                    counter.store(seq + 1, Ordering::Relaxed);
                    self.shared.published.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(zmq::Error::EAGAIN) => {
                    if stop.load(Ordering::Relaxed) && Instant::now() > deadline {
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let _ = self.socket.poll(zmq::POLLOUT, 10);
                    self.read_subscriptions();
                }
                Err(_) => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    fn read_subscriptions(&mut self) {
        let mut changed = false;
        while let Ok(msg) = self.socket.recv_bytes(zmq::DONTWAIT) {
            match msg.split_first() {
                Some((1, prefix)) => {
                    changed |= self.prefixes.insert(prefix.to_vec());
                }
                Some((0, prefix)) => {
                    changed |= self.prefixes.remove(prefix);
                }
                _ => {}
            }
        }
        if changed {
            let wanted = widest_level(self.prefixes.iter().map(Vec::as_slice), self.shared.node);
            self.shared
                .wanted
                .store(wanted.map_or(0, |l| l as u8), Ordering::Relaxed);
        }
    }

    /// Connects to collectors that appeared, disconnects from those that left.
    fn scan(&mut self) {
        let mut now: BTreeMap<PeerId, String> = BTreeMap::new();
        for peer in self.node.peers() {
            if let Some(ep) = self.node.peer_header_value(&peer, LOG_HEADER) {
                if ep.starts_with("tcp://") && ep.len() < 256 {
                    now.insert(peer, ep);
                }
            }
        }
        let gone: Vec<(PeerId, String)> = self
            .connected
            .iter()
            .filter(|(p, e)| now.get(p) != Some(e))
            .map(|(p, e)| (*p, e.clone()))
            .collect();
        for (peer, ep) in gone {
            let _ = self.socket.disconnect(&ep);
            self.connected.remove(&peer);
        }
        for (peer, ep) in now {
            if self.connected.contains_key(&peer) {
                continue;
            }
            match self.socket.connect(&ep) {
                Ok(()) => {
                    self.connected.insert(peer, ep);
                }
                Err(_) => {
                    // Not logged through tracing: this thread must not feed its own queue.
                    self.shared.bad_endpoints.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.shared
            .collectors
            .store(self.connected.len(), Ordering::Relaxed);
    }
}
