//! How a node runs: the sans-IO heart behind a lock, driven by whichever thread has something to
//! do, with a background thread for when nobody else is there.
//!
//! - **Commands** (`join`, `whisper`, `shout`, ...) run on the caller's thread: lock the core,
//!   hand the command to the heart, send what it asks on the peers' DEALERs, unlock. No hop to
//!   another thread, and errors come back to the caller.
//! - **The poll** over the inbox, the beacon socket, a wake-up socket and the next deadline is a
//!   token (the `poller` mutex). A thread blocked in `recv` takes it and drives the node itself, so
//!   a message goes from the socket to the application on one thread, as with a bare socket. When
//!   no application thread is waiting, the node's own thread holds it (Zyre's actor, without
//!   callbacks), so timers, beacons and incoming traffic are served all the time.
//! - After a `recv` returns, the caller keeps a short lease on the poll; the background thread
//!   takes over only when the lease runs out, so a loop of `recv` calls never hands the poll back
//!   and forth.
//!
//! Lock order: `poller` before `core`; command calls take only `core`.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use ryre_proto::beacon::Beacon;
use ryre_proto::{Command, Event, Input, NodeState, PeerId, Problem, Transmit};
use tracing::{debug, info, trace, warn};

use crate::discovery::beacon::{BeaconSocket, Heard};
use crate::discovery::local::LocalClient;
use crate::discovery::Interface;
use crate::events::Batch;
use crate::memlink::MemInbox;
use crate::transport::{Inbox, Links, SendError, Sent};

/// Inbox messages or beacons handled per turn before the other sources get theirs.
const BATCH: usize = 256;

/// How long a thread that drove the node in `recv` keeps the poll before the background thread
/// takes it back.
const LEASE: Duration = Duration::from_millis(2);

/// How often the node's own thread looks at the poll while an application thread drives it
/// (a safety net: the application thread wakes it when it lets go).
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// Longest time the beacon socket and the wake-up socket go unpolled while inbox traffic flows.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// How often the poll retries messages waiting for room in a full queue.
const BACKLOG_RETRY: Duration = Duration::from_millis(1);

/// What commands and the poll share: the heart, the links to peers, the event queue.
pub(crate) struct Core {
    pub state: NodeState,
    pub links: Links,
    /// `None` once the node has stopped (receivers then see the end of the queue). Events go
    /// out in batches: one channel operation per batch of inbox messages, not per event.
    pub events: Option<flume::Sender<Batch>>,
    /// Events of the batch being handled.
    pub pending: Vec<Event>,
    pub verbose: bool,
    /// What a send that finds a full queue does.
    pub policy: crate::SendPolicy,
    /// A message went to a backlog since this was last cleared: the poll must know, so that it
    /// retries it even if nobody sends again.
    pub new_backlog: bool,
    /// The time of the last turn of the poll, for commands that need no fresher clock.
    pub now: Instant,
    /// Certified mode: where the revocations the node learns are kept.
    pub revocations_file: Option<std::path::PathBuf>,
}

/// The node's protocol events, through `tracing` (so `ryre log tail` shows what a mesh does):
/// presence and elections at INFO, group membership at DEBUG; application messages only for a
/// verbose node.
fn log_event(ev: &Event, verbose: bool) {
    match ev {
        Event::Enter {
            peer,
            name,
            endpoint,
            ..
        } => info!(%peer, %name, %endpoint, "peer entered"),
        Event::Exit { peer, name, reason } => {
            info!(%peer, %name, reason = reason.as_str(), "peer exited")
        }
        Event::Evasive { peer, name } => info!(%peer, %name, "peer evasive"),
        Event::Silent { peer, name } => info!(%peer, %name, "peer silent"),
        Event::Leader { peer, name, group } => info!(%peer, %name, %group, "leader elected"),
        Event::Join { peer, name, group } => debug!(%peer, %name, %group, "peer joined"),
        Event::Leave { peer, name, group } => debug!(%peer, %name, %group, "peer left"),
        Event::Stop { .. } => info!("node stopping"),
        Event::Whisper { .. } | Event::Shout { .. } if verbose => {
            info!(event = ?EventTag(ev), "message")
        }
        Event::Whisper { .. } | Event::Shout { .. } => {}
    }
}

impl Core {
    /// Carries out what the heart asked for.
    pub fn flush(&mut self) {
        while let Some(t) = self.state.poll_transmit() {
            match t {
                Transmit::Connect { peer, endpoint } => {
                    if self.verbose {
                        info!(%peer, %endpoint, "connect");
                    }
                    let key = self.state.peer_key(&peer);
                    if let Err(e) = self.links.connect(peer, &endpoint, key) {
                        warn!(%peer, %endpoint, error = %e, "cannot connect to peer");
                    }
                }
                Transmit::Send { peer, frames } => {
                    match self.links.send(&peer, frames, self.policy.keeps()) {
                        Ok(Sent::Queued) => {}
                        Ok(Sent::Backlogged) => self.new_backlog = true,
                        Err(SendError::Full) => {
                            warn!(%peer, "send queue full; peer dropped");
                            let _ = self
                                .state
                                .handle(Instant::now(), Input::SendFailed { id: peer });
                        }
                        Err(SendError::NoLink) => trace!(%peer, "no link; message dropped"),
                    }
                }
                Transmit::Disconnect { peer } => self.links.disconnect(&peer),
            }
        }
        if let Some(raw) = self.state.take_revocations_changed() {
            if let Some(path) = &self.revocations_file {
                if let Err(e) = crate::certs::write_revocations_raw(path, &raw) {
                    warn!(error = %e, "cannot keep the revocations");
                }
            }
        }
        while let Some(ev) = self.state.poll_event() {
            log_event(&ev, self.verbose);
            let last = matches!(ev, Event::Stop { .. });
            self.pending.push(ev);
            if last {
                self.publish();
                self.events = None;
            }
        }
    }

    /// Hands the events of this batch to the application.
    pub fn publish(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = if self.pending.len() == 1 {
            // The common case while the application keeps up: no allocation.
            match self.pending.pop() {
                Some(ev) => Batch::One(ev),
                None => return,
            }
        } else {
            let n = self.pending.len();
            Batch::Many(std::mem::replace(&mut self.pending, Vec::with_capacity(n)))
        };
        if let Some(tx) = &self.events {
            // A dropped receiver only means nobody listens any more.
            let _ = tx.send(batch);
        }
    }
}

/// What the poll owns.
pub(crate) struct Poller {
    pub inbox: Inbox,
    /// What nodes of this process hand over in memory.
    pub mem: MemInbox,
    pub beacon: Option<BeaconSocket>,
    /// IPv6 beacons (`ipv6` or `dual_stack`): sent and heard alongside `beacon`.
    pub beacon6: Option<BeaconSocket>,
    /// The link to the machine's agent (discovery `local` or `auto`).
    pub local: Option<LocalClient>,
    /// Where to beacon by ourselves if no agent answers (discovery `auto`).
    pub fallback_beacon: Option<(Interface, u16)>,
    pub wake_rx: UnixStream,
    pub next_beacon: Instant,
    pub ready: Vec<bool>,
    /// When the poll last ran (the inbox may be read without it in between).
    pub polled_at: Instant,
}

impl Poller {
    /// Whether the node sends beacons itself (IPv4, IPv6 or both).
    fn has_beacons(&self) -> bool {
        self.beacon.is_some() || self.beacon6.is_some()
    }
}

/// Everything of a running node that its handles and its thread share.
pub(crate) struct Shared {
    pub core: Mutex<Core>,
    pub poller: Mutex<Poller>,
    pub wake_tx: UnixStream,
    pub own: PeerId,
    pub port: u16,
    pub interval: Duration,
    /// Secure mode: what signs the beacons.
    pub signer: Option<crate::security::BeaconSigner>,
    /// Secure mode: the ZAP handler of the node's context (dropped with the node).
    pub zap: Option<crate::security::ZapHandler>,
    /// Threads waiting for the poll: the holder returns from its turn at once.
    apps_waiting: AtomicUsize,
    /// Until when (ns since `epoch`) the background thread leaves the poll to the application.
    lease_until: AtomicU64,
    epoch: Instant,
    stopping: AtomicBool,
    /// Whether an application thread holds the poll.
    app_driving: AtomicBool,
    /// The node's own thread, once started (woken when an application thread lets go).
    pub bg_thread: std::sync::OnceLock<std::thread::Thread>,
    /// Whether the node's own thread sleeps until an application thread lets go of the poll.
    bg_waiting: AtomicBool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while holding it; the data is still consistent
    // enough to stop cleanly, which is all that is done after.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Ties the parts together.
    pub fn new(
        core: Core,
        poller: Poller,
        wake_tx: UnixStream,
        port: u16,
        interval: Duration,
        signer: Option<crate::security::BeaconSigner>,
        zap: Option<crate::security::ZapHandler>,
    ) -> Self {
        Shared {
            signer,
            zap,
            own: core.state.config().id,
            core: Mutex::new(core),
            poller: Mutex::new(poller),
            wake_tx,
            port,
            interval,
            apps_waiting: AtomicUsize::new(0),
            lease_until: AtomicU64::new(0),
            epoch: Instant::now(),
            stopping: AtomicBool::new(false),
            app_driving: AtomicBool::new(false),
            bg_thread: std::sync::OnceLock::new(),
            bg_waiting: AtomicBool::new(false),
        }
    }

    /// Makes whoever sleeps in the poll return.
    pub fn wake(&self) {
        // A full socket buffer already means "wake up": ignore WouldBlock.
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// Runs one command on the caller's thread.
    pub fn command(&self, cmd: Command) -> Result<(), Problem> {
        let wake = matches!(
            cmd,
            Command::Connect { .. } | Command::Join(_) | Command::Contest(_) | Command::Stop
        );
        let (result, backlog) = {
            let mut core = lock(&self.core);
            // Only peer creation reads the clock; whisper and shout skip the system call.
            let now = if wake { Instant::now() } else { core.now };
            let r = core.state.handle(now, Input::Command(cmd));
            core.flush();
            core.publish();
            (r, std::mem::take(&mut core.new_backlog))
        };
        if wake || backlog {
            // The deadline may have moved earlier, or the node stopped: let the poll know.
            self.wake();
        }
        result
    }

    /// Reads the heart under the lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&NodeState) -> R) -> R {
        f(&lock(&self.core).state)
    }

    /// Whether the node has stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// One beacon round at `port` (0: leaving): v1 in open mode; v3 and signed in secure mode.
    fn send_beacon(&self, b: &BeaconSocket, port: u16) -> std::io::Result<()> {
        match &self.signer {
            None => b.send(&Beacon::new(self.own, port)),
            Some(s) => {
                for datagram in s.beacons(self.own, port) {
                    b.send_bytes(&datagram)?;
                }
                Ok(())
            }
        }
    }

    /// Stops the node (the heart sends nothing more; STOP is the last event).
    pub fn stop(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.command(Command::Stop);
    }

    fn now_ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn lease_left(&self, now: Instant) -> Option<Duration> {
        let until = self.lease_until.load(Ordering::Acquire);
        let now = self.now_ns(now);
        (until > now).then(|| Duration::from_nanos(until - now))
    }

    /// One turn of the poll: beacon, timers, wait (at most `max_wait`), then whatever is ready.
    /// `now` is the caller's clock reading; returns the reading taken after the wait.
    fn turn(&self, p: &mut Poller, now: Instant, max_wait: Option<Duration>) -> Instant {
        if let Some(l) = p.local.as_mut() {
            l.on_timer(now);
            if l.failing() && p.beacon.is_none() {
                if let Some((iface, port)) = p.fallback_beacon.take() {
                    warn!(%port, "no ryre agent answers on the rendezvous port; beaconing alone");
                    match BeaconSocket::open(&iface, port) {
                        Ok(b) => p.beacon = Some(b),
                        Err(e) => warn!(error = %e, "cannot open the beacon socket"),
                    }
                }
            }
        }
        if p.has_beacons() && now >= p.next_beacon {
            for b in p.beacon.iter().chain(&p.beacon6) {
                if let Err(e) = self.send_beacon(b, self.port) {
                    debug!(error = %e, "beacon send failed");
                }
            }
            p.next_beacon = now + self.interval;
        }
        let mut core = lock(&self.core);
        core.now = now;
        if core.state.poll_timeout().is_some_and(|t| t <= now) {
            core.state.handle_timeout(now);
            core.flush();
            let had_events = !core.pending.is_empty();
            core.publish();
            if had_events {
                // A thread driving from `recv` must see them now, not after the next wait
                // (which may be unbounded when nothing else is due).
                return now;
            }
        }
        let deadline = core.state.poll_timeout();
        // Messages that found a full queue and no application thread waiting to push them.
        let backlog = core.links.has_backlog();
        if backlog {
            core.links.retry_backlogs();
        }
        // A stopping node still turns until the heart has stopped (it waits for its peers'
        // PING-OK, see `NodeBuilder::stop_flush`).
        if core.state.is_stopped() || self.apps_waiting.load(Ordering::Acquire) > 0 {
            return now;
        }
        // While traffic flows, take it straight from the inbox: zmq_poll costs a system call even
        // when messages are waiting. The other sources are still polled every POLL_EVERY.
        if now < p.polled_at + POLL_EVERY
            && Self::drain_inbox_locked(&mut core, p, now)
                + Self::drain_mem_locked(&mut core, p, now)
                > 0
        {
            return now;
        }
        // Senders in memory wake us from here on; anything already there is taken now.
        p.mem.arm();
        if !p.mem.is_empty() {
            Self::drain_mem_now(&mut core, p, now);
            return now;
        }
        drop(core);
        let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
        if p.has_beacons() {
            let b = p.next_beacon.saturating_duration_since(now);
            timeout = Some(timeout.map_or(b, |t| t.min(b)));
        }
        if let Some(r) = p.local.as_ref().and_then(LocalClient::retry_at) {
            let r = r.saturating_duration_since(now);
            timeout = Some(timeout.map_or(r, |t| t.min(r)));
        }
        if let Some(m) = max_wait {
            timeout = Some(timeout.map_or(m, |t| t.min(m)));
        }
        if backlog {
            timeout = Some(timeout.map_or(BACKLOG_RETRY, |t| t.min(BACKLOG_RETRY)));
        }
        let mut fds = [p.wake_rx.as_raw_fd(), -1, -1, -1];
        let mut nfds = 1;
        let mut beacon_at = None;
        let mut beacon6_at = None;
        let mut local_at = None;
        if let Some(b) = &p.beacon {
            fds[nfds] = b.fd();
            beacon_at = Some(nfds);
            nfds += 1;
        }
        if let Some(b) = &p.beacon6 {
            fds[nfds] = b.fd();
            beacon6_at = Some(nfds);
            nfds += 1;
        }
        if let Some(fd) = p.local.as_ref().and_then(LocalClient::fd) {
            fds[nfds] = fd;
            local_at = Some(nfds);
            nfds += 1;
        }
        let mut ready = std::mem::take(&mut p.ready);
        let inbox_ready = match p.inbox.poll(&fds[..nfds], timeout, &mut ready) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "poll failed; node stops");
                p.ready = ready;
                self.stop();
                return now;
            }
        };
        let now = Instant::now();
        p.polled_at = now;
        if ready.first().copied().unwrap_or(false) {
            let mut buf = [0u8; 64];
            while matches!((&p.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        }
        let is_ready = |i: Option<usize>| i.and_then(|i| ready.get(i).copied()).unwrap_or(false);
        let beacon_ready = is_ready(beacon_at);
        let beacon6_ready = is_ready(beacon6_at);
        let local_ready = is_ready(local_at);
        p.ready = ready;
        if inbox_ready {
            self.drain_inbox(p, now);
        }
        if p.mem.has_pending() {
            Self::drain_mem_locked(&mut lock(&self.core), p, now);
        }
        if beacon_ready {
            self.drain_beacons(p.beacon.as_mut(), now);
        }
        if beacon6_ready {
            self.drain_beacons(p.beacon6.as_mut(), now);
        }
        if local_ready {
            let mut inputs = Vec::new();
            if let Some(l) = p.local.as_mut() {
                l.on_readable(now, &mut inputs);
            }
            self.feed(now, inputs);
        }
        now
    }

    /// Hands the heart one input on the caller's thread, with its verdict.
    pub fn input(&self, input: Input) -> Result<(), Problem> {
        let mut core = lock(&self.core);
        let now = Instant::now();
        let r = core.state.handle(now, input);
        core.flush();
        core.publish();
        drop(core);
        self.wake();
        r
    }

    /// Hands the heart what discovery found.
    pub fn feed(&self, now: Instant, inputs: Vec<Input>) {
        if inputs.is_empty() {
            return;
        }
        let mut core = lock(&self.core);
        for input in inputs {
            if let Err(problem) = core.state.handle(now, input) {
                debug!(%problem, "discovery");
            }
            core.flush();
        }
        core.publish();
    }

    /// Handles up to a batch of inbox messages; how many there were.
    fn drain_inbox(&self, p: &mut Poller, now: Instant) -> usize {
        Self::drain_inbox_locked(&mut lock(&self.core), p, now)
    }

    /// Handles up to a batch of messages from nodes of this process; how many there were.
    fn drain_mem_locked(core: &mut Core, p: &mut Poller, now: Instant) -> usize {
        if !p.mem.has_pending() {
            return 0;
        }
        Self::drain_mem_now(core, p, now)
    }

    /// Handles what waits in memory without looking at the pending flag first.
    fn drain_mem_now(core: &mut Core, p: &mut Poller, now: Instant) -> usize {
        let mut n = 0;
        while n < BATCH {
            let Some(m) = p.mem.try_recv() else { break };
            let auth = ryre_proto::security::Auth::Process;
            if let Err(problem) = core
                .state
                .handle_message_auth(now, auth, &m.from, &m.head, m.content)
            {
                log_inbox_problem(&problem);
            }
            core.flush();
            n += 1;
        }
        if n > 0 {
            p.mem.made_room();
            core.publish();
        }
        n
    }

    fn drain_inbox_locked(core: &mut Core, p: &mut Poller, now: Instant) -> usize {
        let mut n = 0;
        for _ in 0..BATCH {
            let got = p.inbox.recv(|auth, routing_id, head, content| {
                if let Err(problem) = core
                    .state
                    .handle_message_auth(now, auth, routing_id, head, content)
                {
                    log_inbox_problem(&problem);
                }
                core.flush();
            });
            match got {
                Ok(true) => n += 1,
                Ok(false) => break,
                Err(e) => {
                    warn!(error = %e, "inbox receive failed");
                    break;
                }
            }
        }
        core.publish();
        n
    }

    fn drain_beacons(&self, b: Option<&mut BeaconSocket>, now: Instant) {
        let Some(b) = b else {
            return;
        };
        for _ in 0..BATCH {
            let input = match b.recv() {
                Ok(Some(Heard::Datagram { from, data })) => Input::Beacon { from, data },
                Ok(Some(Heard::Elsewhere)) => continue,
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "beacon receive failed");
                    break;
                }
            };
            let mut core = lock(&self.core);
            if let Err(problem) = core.state.handle(now, input) {
                match problem {
                    // Plain beacons from open Zyre/Pyre nodes on the LAN are normal.
                    Problem::RefusedBeacon {
                        reason: ryre_proto::security::Refusal::Downgrade,
                        ..
                    } => debug!(%problem, "beacon port"),
                    Problem::RefusedBeacon { .. } => warn!(%problem, "beacon port"),
                    _ => debug!(%problem, "beacon port"),
                }
            }
            core.flush();
            core.publish();
        }
    }

    /// The background thread: drives the node whenever no application thread does, until the
    /// node stops; then sends the leaving beacon and closes every link.
    pub fn run(&self) {
        loop {
            if self.is_stopped() && lock(&self.core).state.is_stopped() {
                break;
            }
            if let Some(left) = self.lease_left(Instant::now()) {
                std::thread::park_timeout(left);
                continue;
            }
            // Never queue up behind a driving application thread: it would hand the poll over
            // at every return from `recv`. Look again when its lease may have run out.
            let mut p = match self.poller.try_lock() {
                Ok(p) => p,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    if self.app_driving.load(Ordering::SeqCst) {
                        // An application thread drives: sleep until it lets go (it wakes us),
                        // not every LEASE, so idle nodes cost nothing.
                        self.bg_waiting.store(true, Ordering::SeqCst);
                        if self.app_driving.load(Ordering::SeqCst) && !self.is_stopped() {
                            std::thread::park_timeout(IDLE_CHECK);
                        }
                        self.bg_waiting.store(false, Ordering::SeqCst);
                    } else {
                        std::thread::park_timeout(LEASE);
                    }
                    continue;
                }
            };
            if self.apps_waiting.load(Ordering::Acquire) > 0 {
                drop(p);
                std::thread::yield_now();
                continue;
            }
            self.turn(&mut p, Instant::now(), None);
        }
        crate::discovery::inproc::leave(self.own);
        let mut p = lock(&self.poller);
        if let Some(l) = p.local.as_mut() {
            l.leave();
        }
        for b in p.beacon.iter().chain(&p.beacon6) {
            // The leaving beacon: port 0.
            if let Err(e) = self.send_beacon(b, 0) {
                debug!(error = %e, "leaving beacon failed");
            }
        }
        lock(&self.core).links.close_all();
        info!(node = %self.own, "node stopped");
    }

    /// Drives the node on the calling thread until an event is queued, the deadline passes or the
    /// node stops.
    pub fn drive(&self, events: &flume::Receiver<Batch>, deadline: Option<Instant>) -> Drive {
        if self.is_stopped() {
            return Drive::Elsewhere;
        }
        let mut p = match self.poller.try_lock() {
            Ok(p) => p,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                if self.app_driving.load(Ordering::Acquire) {
                    return Drive::Elsewhere;
                }
                // The background thread has it: ask for it.
                self.apps_waiting.fetch_add(1, Ordering::AcqRel);
                self.wake();
                let p = lock(&self.poller);
                self.apps_waiting.fetch_sub(1, Ordering::AcqRel);
                p
            }
        };
        self.app_driving.store(true, Ordering::Release);
        let mut now = Instant::now();
        let mut outcome = Drive::Driven;
        loop {
            self.lease_until
                .store(self.now_ns(now + LEASE), Ordering::Release);
            if !events.is_empty() || self.is_stopped() {
                break;
            }
            let left = match deadline {
                Some(d) if d <= now => {
                    outcome = Drive::TimedOut;
                    break;
                }
                Some(d) => Some(d - now),
                None => None,
            };
            now = self.turn(&mut p, now, left);
            if self.apps_waiting.load(Ordering::Acquire) > 0 {
                break;
            }
        }
        self.lease_until
            .store(self.now_ns(now + LEASE), Ordering::Release);
        self.app_driving.store(false, Ordering::SeqCst);
        drop(p);
        if self.bg_waiting.load(Ordering::SeqCst) {
            if let Some(t) = self.bg_thread.get() {
                t.unpark();
            }
        }
        outcome
    }
}

/// What [`Shared::drive`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    /// Drove until an event was queued or the node stopped.
    Driven,
    /// Drove until the deadline passed.
    TimedOut,
    /// Another thread drives (or the node is stopping): wait on the queue instead.
    Elsewhere,
}

/// A short description of an event for logs (without content).
struct EventTag<'a>(&'a Event);

impl std::fmt::Debug for EventTag<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Event::Enter { peer, name, .. } => write!(f, "ENTER {peer} {name}"),
            Event::Exit { peer, name, reason } => {
                write!(f, "EXIT {peer} {name} ({})", reason.as_str())
            }
            Event::Join { peer, group, .. } => write!(f, "JOIN {peer} {group}"),
            Event::Leave { peer, group, .. } => write!(f, "LEAVE {peer} {group}"),
            Event::Whisper { peer, content, .. } => {
                write!(f, "WHISPER {peer} {} frames", content.len())
            }
            Event::Shout {
                peer,
                group,
                content,
                ..
            } => write!(f, "SHOUT {peer} {group} {} frames", content.len()),
            Event::Evasive { peer, .. } => write!(f, "EVASIVE {peer}"),
            Event::Silent { peer, .. } => write!(f, "SILENT {peer}"),
            Event::Leader { peer, group, .. } => write!(f, "LEADER {peer} {group}"),
            Event::Stop { peer, .. } => write!(f, "STOP {peer}"),
        }
    }
}

/// Logs what the heart refused from the inbox. A certificate refusal names the peer and the
/// reason as fields (`peer`, `reason`: one of `CertRefusal::KINDS`), so a user reading a
/// certified node's log sees who was kept out and why.
fn log_inbox_problem(problem: &Problem) {
    use ryre_proto::security::certified::CertRefusal;
    use ryre_proto::security::Refusal;
    match problem {
        Problem::Refused {
            id,
            reason: Refusal::Certificate(c),
        } => {
            let why = match c {
                CertRefusal::Invalid(e) => e.to_string(),
                other => other.to_string(),
            };
            warn!(peer = %id, reason = %c.kind(), "certificate refused: {why}");
        }
        _ => warn!(%problem, "inbox"),
    }
}
