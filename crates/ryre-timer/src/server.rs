//! The timer node: elections per rate, the tick thread, wake-ups.
//!
//! Two threads per server. The event thread reads the node's events: LEADER results, ticks of
//! other timer nodes (to continue their numbering), wake-up requests, exits. The tick thread owns
//! the schedules and sends ticks and wake-ups on time; it sleeps on a channel with a deadline, so
//! a new request or a change of leader wakes it at once, and its timer slack is set to 1 µs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ryre::{Event, Node, NodeBuilder, PeerId};

use crate::jitter::JitterStats;
use crate::proto::TimerMsg;
use crate::schedule::{period_of, Schedule};
use crate::tick::TickTracker;
use crate::{
    check_rate, check_served, election_group, encode_served, tick_group, unix_now, Refused,
    TimerError, CLIENTS_GROUP, RATES_HEADER, WAKE_GROUP,
};
use ryre::certs::Rights;

/// What a timer node serves and what it accepts.
#[derive(Debug, Clone)]
pub struct TimerConfig {
    /// Tick rates in Hz (1..=1000); default 1, 10 and 100.
    pub rates: Vec<u16>,
    /// A tick (or periodic wake-up) more than this many periods late is skipped (a gap in the
    /// numbers); less late, it is sent late. Default 10.
    pub max_late: u64,
    /// Whether this node takes part in serving wake-ups. Default true.
    pub wakeups: bool,
    /// Wake-up requests due longer ago than this are refused. Default 1 hour.
    pub max_past: Duration,
    /// Wake-up requests due further ahead than this are refused. Default 366 days.
    pub max_future: Duration,
    /// Shortest period of a periodic wake-up. Default 1 ms.
    pub min_every: Duration,
    /// Most wake-up requests kept for one peer. Default 10,000.
    pub max_requests_per_peer: usize,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            rates: vec![1, 10, 100],
            max_late: 10,
            wakeups: true,
            max_past: Duration::from_secs(3600),
            max_future: Duration::from_secs(366 * 24 * 3600),
            min_every: Duration::from_millis(1),
            max_requests_per_peer: 10_000,
        }
    }
}

/// Counters of a timer node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Ticks this node sent.
    pub ticks_sent: u64,
    /// Ticks skipped because they were more than `max_late` periods late.
    pub ticks_skipped: u64,
    /// Wake-up requests accepted.
    pub requests_accepted: u64,
    /// Wake-up requests refused (with a REJECT to the requester).
    pub requests_rejected: u64,
    /// Wake-ups sent.
    pub wakes_sent: u64,
    /// Requests that reached this node while it did not lead wake-ups (dropped; the client
    /// re-submits to the leader it is told about).
    pub misdirected: u64,
    /// Frames that were not valid timer messages, or ticks that did not fit the numbering.
    pub bad_messages: u64,
    /// Certified mode: ticks of other timer nodes dropped because they were unsigned, forged,
    /// or from a node whose certificate does not grant `timer` (also in `bad_messages`).
    pub refused: u64,
}

/// A change of role, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The election for `rate` picked `leader` (this node, if `leader` is its own id).
    RateLeader {
        /// The rate.
        rate: u16,
        /// The winner.
        leader: PeerId,
    },
    /// The wake-up election picked `leader`.
    WakeLeader {
        /// The winner.
        leader: PeerId,
    },
    /// A peer entered or left (timer nodes, subscribers, anyone).
    Peer {
        /// Who.
        peer: PeerId,
        /// Its name.
        name: String,
        /// Whether it entered (true) or exited.
        entered: bool,
    },
}

#[derive(Default)]
struct Counters {
    /// How late each tick left this node (sent minus scheduled).
    send_late: std::sync::Mutex<JitterStats>,
    ticks_sent: AtomicU64,
    ticks_skipped: AtomicU64,
    requests_accepted: AtomicU64,
    requests_rejected: AtomicU64,
    wakes_sent: AtomicU64,
    misdirected: AtomicU64,
    bad_messages: AtomicU64,
    refused: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// What the event thread tells the tick thread.
enum Ctl {
    Lead {
        rate: u16,
        t0: u64,
        last: Option<u64>,
    },
    Unlead {
        rate: u16,
    },
    Seen {
        rate: u16,
        n: u64,
    },
    Request {
        peer: PeerId,
        id: u64,
        sched: Schedule,
        payload: Bytes,
    },
    Cancel {
        peer: PeerId,
        id: u64,
    },
    PeerGone {
        peer: PeerId,
    },
    Unwake,
}

/// A running timer node. Stops (and its node with it) on [`TimerServer::stop`] or drop.
pub struct TimerServer {
    node: Node,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    events: flume::Receiver<ServerEvent>,
    threads: Vec<JoinHandle<()>>,
}

impl TimerServer {
    /// Starts a node from `builder` (with the [`RATES_HEADER`] header added) and serves `config`.
    ///
    /// Failover time is the node's expired timeout plus an election: for a fast failover give
    /// timer nodes a short `expired_timeout` (the CLI uses 1.5 × the evasive timeout).
    ///
    /// Certified mode: the builder's certificate must grant the `timer` service
    /// ([`TimerError::NoTimerService`]) and the rights of every group the node uses
    /// ([`TimerError::NotEntitled`], see [`required_rights`]), checked before the node starts;
    /// everything the node serves is then signed.
    pub fn start(builder: NodeBuilder, config: TimerConfig) -> Result<TimerServer, TimerError> {
        let mut rates = config.rates.clone();
        for r in &rates {
            check_rate(*r)?;
        }
        rates.sort_unstable();
        rates.dedup();
        if rates.is_empty() && !config.wakeups {
            return Err(TimerError::NothingToServe);
        }
        let signing = match builder.own_certificate()? {
            Some(cert) => {
                if !cert.services.contains(ryre::certs::Services::TIMER) {
                    return Err(TimerError::NoTimerService { name: cert.name });
                }
                for (group, right, why) in required_rights(&rates, config.wakeups) {
                    if !cert.may(&group, right) {
                        return Err(TimerError::NotEntitled {
                            name: cert.name,
                            group,
                            right,
                            why,
                        });
                    }
                }
                true
            }
            None => false,
        };
        let header: Vec<String> = rates.iter().map(u16::to_string).collect();
        let node = builder.header(RATES_HEADER, header.join(",")).start()?;
        for r in &rates {
            node.contest_in_group(&election_group(*r))?;
            node.join(&election_group(*r))?;
            node.join(&tick_group(*r))?;
        }
        if config.wakeups {
            node.contest_in_group(WAKE_GROUP)?;
            node.join(WAKE_GROUP)?;
        }
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (ctl_tx, ctl_rx) = flume::unbounded();
        let (ev_tx, ev_rx) = flume::unbounded();
        let ticker = Ticker {
            signing,
            node: node.clone(),
            counters: counters.clone(),
            max_late: config.max_late,
            ticks: BTreeMap::new(),
            requests: HashMap::new(),
            queue: BinaryHeap::new(),
        };
        let tick_thread = std::thread::Builder::new()
            .name("ryre-timer-tick".into())
            .spawn(move || ticker.run(ctl_rx))
            .map_err(|e| TimerError::Node(ryre::Error::Thread(e)))?;
        let watcher = Watcher {
            signing,
            node: node.clone(),
            config,
            counters: counters.clone(),
            trackers: rates.iter().map(|r| (*r, TickTracker::new(*r))).collect(),
            wake_leader: false,
            ctl: ctl_tx,
            events: ev_tx,
        };
        let stop2 = stop.clone();
        let event_thread = std::thread::Builder::new()
            .name("ryre-timer-events".into())
            .spawn(move || watcher.run(&stop2))
            .map_err(|e| TimerError::Node(ryre::Error::Thread(e)))?;
        Ok(TimerServer {
            node,
            counters,
            stop,
            events: ev_rx,
            threads: vec![event_thread, tick_thread],
        })
    }

    /// The server's node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The counters so far.
    pub fn stats(&self) -> TimerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TimerStats {
            ticks_sent: get(&c.ticks_sent),
            ticks_skipped: get(&c.ticks_skipped),
            requests_accepted: get(&c.requests_accepted),
            requests_rejected: get(&c.requests_rejected),
            wakes_sent: get(&c.wakes_sent),
            misdirected: get(&c.misdirected),
            bad_messages: get(&c.bad_messages),
            refused: get(&c.refused),
        }
    }

    /// How late ticks left this node (sent minus scheduled), for every rate it ticked.
    pub fn send_lateness(&self) -> JitterStats {
        self.counters
            .send_late
            .lock()
            .map(|j| j.clone())
            .unwrap_or_default()
    }

    /// The next change of role or peer, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ServerEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Stops serving and stops the node (peers see it leave at once).
    pub fn stop(mut self) -> Result<(), TimerError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), TimerError> {
        self.stop.store(true, Ordering::Relaxed);
        let result = self.node.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        match result {
            Ok(()) | Err(ryre::Error::Stopped) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for TimerServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The rights a certified timer node's certificate must grant: (group, rights, what for), for
/// serving `rates` and, if `wakeups`, wake-ups.
///
/// ```
/// use ryre::certs::Rights;
/// let needed = ryre_timer::required_rights(&[10], true);
/// assert!(needed.contains(&("tick/10hz".to_string(), Rights::JOIN | Rights::SHOUT, "ticks there and hears the other timer nodes' ticks")));
/// ```
pub fn required_rights(rates: &[u16], wakeups: bool) -> Vec<(String, Rights, &'static str)> {
    let mut out = Vec::new();
    for r in rates {
        out.push((
            election_group(*r),
            Rights::JOIN,
            "elects the node that ticks",
        ));
        out.push((
            tick_group(*r),
            Rights::JOIN | Rights::SHOUT,
            "ticks there and hears the other timer nodes' ticks",
        ));
    }
    if wakeups {
        out.push((
            WAKE_GROUP.to_string(),
            Rights::JOIN,
            "elects the wake-up leader",
        ));
        out.push((
            CLIENTS_GROUP.to_string(),
            Rights::SHOUT | Rights::WHISPER,
            "announces the wake-up leader and sends wake-ups to its members",
        ));
    }
    out
}

/// The event thread's state.
struct Watcher {
    /// Certified mode: sign what is served, check other timer nodes' ticks.
    signing: bool,
    node: Node,
    config: TimerConfig,
    counters: Arc<Counters>,
    trackers: HashMap<u16, TickTracker>,
    wake_leader: bool,
    ctl: flume::Sender<Ctl>,
    events: flume::Sender<ServerEvent>,
}

impl Watcher {
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.node.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(ev)) => self.on_event(ev),
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }

    fn rate_of(group: &str, prefix: &str) -> Option<u16> {
        group.strip_prefix(prefix)?.strip_suffix("hz")?.parse().ok()
    }

    fn on_event(&mut self, ev: Event) {
        let me = self.node.uuid();
        match ev {
            Event::Leader { peer, group, .. } => {
                if group == WAKE_GROUP {
                    self.wake_leader = peer == me;
                    if self.wake_leader {
                        self.announce(None);
                    } else {
                        let _ = self.ctl.send(Ctl::Unwake);
                    }
                    let _ = self.events.send(ServerEvent::WakeLeader { leader: peer });
                } else if let Some(rate) = Self::rate_of(&group, "timer/") {
                    if !self.trackers.contains_key(&rate) {
                        return;
                    }
                    let msg = if peer == me {
                        let pos = self.trackers.get(&rate).and_then(TickTracker::position);
                        // A fresh numbering starts on the next whole second.
                        let t0 = pos.map_or_else(|| next_second(unix_now()), |(t0, _)| t0);
                        Ctl::Lead {
                            rate,
                            t0,
                            last: pos.map(|(_, n)| n),
                        }
                    } else {
                        Ctl::Unlead { rate }
                    };
                    let _ = self.ctl.send(msg);
                    let _ = self
                        .events
                        .send(ServerEvent::RateLeader { rate, leader: peer });
                }
            }
            Event::Join { peer, group, .. } if group == CLIENTS_GROUP && self.wake_leader => {
                self.announce(Some(peer));
            }
            Event::Shout {
                peer,
                group,
                content,
                ..
            } => {
                let Some(rate) = Self::rate_of(&group, "tick/") else {
                    return;
                };
                let Some(tracker) = self.trackers.get_mut(&rate) else {
                    return;
                };
                let tick = content
                    .first()
                    .map(|f| check_served(&self.node, self.signing, &peer, f));
                match tick {
                    Some(Err(
                        why @ (Refused::Unsigned | Refused::Forged | Refused::Unentitled),
                    )) => {
                        bump(&self.counters.refused, 1);
                        bump(&self.counters.bad_messages, 1);
                        tracing::debug!(%peer, "tick refused: {why:?}");
                    }
                    Some(Ok(TimerMsg::Tick {
                        rate: r,
                        n,
                        t0,
                        scheduled,
                    })) => match tracker.accept(peer, r, n, t0, scheduled, unix_now()) {
                        Ok(_) => {
                            let _ = self.ctl.send(Ctl::Seen { rate, n });
                        }
                        Err(e) => {
                            bump(&self.counters.bad_messages, 1);
                            tracing::debug!(%peer, "tick refused: {e}");
                        }
                    },
                    _ => {
                        tracker.count_malformed();
                        bump(&self.counters.bad_messages, 1);
                    }
                }
            }
            Event::Whisper { peer, content, .. } => self.on_whisper(peer, content.first()),
            Event::Enter { peer, name, .. } => {
                let _ = self.events.send(ServerEvent::Peer {
                    peer,
                    name: name.to_string(),
                    entered: true,
                });
            }
            Event::Exit { peer, name, .. } => {
                let _ = self.ctl.send(Ctl::PeerGone { peer });
                let _ = self.events.send(ServerEvent::Peer {
                    peer,
                    name: name.to_string(),
                    entered: false,
                });
            }
            _ => {}
        }
    }

    fn announce(&self, to: Option<PeerId>) {
        let Some(frame) = encode_served(&self.node, self.signing, &TimerMsg::Announce) else {
            return;
        };
        let sent = match to {
            Some(peer) => self.node.whisper(peer, [frame]),
            None => self.node.shout(CLIENTS_GROUP, [frame]),
        };
        if let Err(e) = sent {
            tracing::debug!("announce failed: {e}");
        }
    }

    fn on_whisper(&mut self, peer: PeerId, frame: Option<&Bytes>) {
        let msg = match frame.map(TimerMsg::decode) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                bump(&self.counters.bad_messages, 1);
                tracing::debug!(%peer, "bad timer message: {e}");
                return;
            }
            None => {
                bump(&self.counters.bad_messages, 1);
                return;
            }
        };
        match msg {
            TimerMsg::Request { .. } | TimerMsg::Cancel { .. } if !self.wake_leader => {
                bump(&self.counters.misdirected, 1);
            }
            TimerMsg::Request {
                id,
                first,
                at,
                every,
                payload,
            } => match self.check_request(at, every) {
                Ok(()) => {
                    let sched = Schedule::new(first, at, every, self.config.max_late);
                    let _ = self.ctl.send(Ctl::Request {
                        peer,
                        id,
                        sched,
                        payload,
                    });
                }
                Err(reason) => self.reject(peer, id, &reason),
            },
            TimerMsg::Cancel { id } => {
                let _ = self.ctl.send(Ctl::Cancel { peer, id });
            }
            _ => bump(&self.counters.bad_messages, 1),
        }
    }

    fn check_request(&self, at: u64, every: u64) -> Result<(), String> {
        let now = unix_now();
        let past = self.config.max_past.as_nanos() as u64;
        let future = self.config.max_future.as_nanos() as u64;
        if at < now.saturating_sub(past) {
            return Err(format!(
                "wake-up time is {} s in the past (at most {} s accepted)",
                (now - at) / 1_000_000_000,
                self.config.max_past.as_secs()
            ));
        }
        if at > now.saturating_add(future) {
            return Err(format!(
                "wake-up time is {} s ahead (at most {} s accepted)",
                (at - now) / 1_000_000_000,
                self.config.max_future.as_secs()
            ));
        }
        if every != 0 && u128::from(every) < self.config.min_every.as_nanos() {
            return Err(format!(
                "period of {every} ns is under the minimum of {} µs",
                self.config.min_every.as_micros()
            ));
        }
        Ok(())
    }

    fn reject(&self, peer: PeerId, id: u64, reason: &str) {
        bump(&self.counters.requests_rejected, 1);
        tracing::debug!(%peer, id, "wake-up request rejected: {reason}");
        let reason: String = reason.chars().take(200).collect();
        if let Some(frame) =
            encode_served(&self.node, self.signing, &TimerMsg::Reject { id, reason })
        {
            let _ = self.node.whisper(peer, [frame]);
        }
    }
}

/// The start of the next whole second after `now` (Unix ns): a round time base.
fn next_second(now: u64) -> u64 {
    (now / 1_000_000_000 + 1) * 1_000_000_000
}

struct Pending {
    sched: Schedule,
    payload: Bytes,
}

/// The tick thread's state.
struct Ticker {
    /// Certified mode: sign ticks and wake-ups.
    signing: bool,
    node: Node,
    counters: Arc<Counters>,
    max_late: u64,
    ticks: BTreeMap<u16, Schedule>,
    requests: HashMap<(PeerId, u64), Pending>,
    /// Due times of requests; entries whose request changed are skipped when popped.
    queue: BinaryHeap<Reverse<(u64, PeerId, u64)>>,
}

impl Ticker {
    fn run(mut self, ctl: flume::Receiver<Ctl>) {
        set_timer_slack_1us();
        loop {
            let next = self.next_due();
            let got = match next {
                Some(due) => {
                    let wait = Duration::from_nanos(due.saturating_sub(unix_now()));
                    ctl.recv_deadline(Instant::now() + wait)
                }
                None => ctl
                    .recv()
                    .map_err(|_| flume::RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(msg) => {
                    self.apply(msg);
                    // Take every control message already queued before sending anything.
                    while let Ok(msg) = ctl.try_recv() {
                        self.apply(msg);
                    }
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => return,
            }
            if !self.fire(unix_now()) {
                return;
            }
        }
    }

    fn next_due(&self) -> Option<u64> {
        let ticks = self.ticks.values().filter_map(Schedule::next_due).min();
        let wakes = self.queue.peek().map(|Reverse((due, _, _))| *due);
        match (ticks, wakes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn apply(&mut self, msg: Ctl) {
        match msg {
            Ctl::Lead { rate, t0, last } => {
                let own_last = self.ticks.get(&rate).and_then(|s| s.next.checked_sub(1));
                let last = match (last, own_last) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                // A tick already due may have gone out from the leader that just died, after the
                // last one we heard: start with the first tick due from now on (the ones due
                // during the failover are a gap, never a duplicate).
                let period = period_of(rate);
                let now = unix_now();
                let due_before_now = now.checked_sub(t0).map(|d| d / period);
                let last = match (last, due_before_now) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (Some(a), None) => Some(a),
                    // A fresh numbering: its t0 is ahead, tick 0 comes first.
                    (None, _) => None,
                };
                let sched = Schedule::ticks(t0, period, self.max_late, last);
                self.ticks.insert(rate, sched);
            }
            Ctl::Unlead { rate } => {
                self.ticks.remove(&rate);
            }
            Ctl::Seen { rate, n } => {
                // Another node ticked too (an election in flight): never send that number again.
                if let Some(s) = self.ticks.get_mut(&rate) {
                    s.next = s.next.max(n.saturating_add(1));
                }
            }
            Ctl::Request {
                peer,
                id,
                sched,
                payload,
            } => {
                let per_peer = self.requests.keys().filter(|(p, _)| *p == peer).count();
                if per_peer >= 10_000 && !self.requests.contains_key(&(peer, id)) {
                    bump(&self.counters.requests_rejected, 1);
                    return;
                }
                bump(&self.counters.requests_accepted, 1);
                if let Some(due) = sched.next_due() {
                    self.queue.push(Reverse((due, peer, id)));
                }
                self.requests.insert((peer, id), Pending { sched, payload });
            }
            Ctl::Cancel { peer, id } => {
                self.requests.remove(&(peer, id));
            }
            Ctl::PeerGone { peer } => self.requests.retain(|(p, _), _| *p != peer),
            Ctl::Unwake => {
                self.requests.clear();
                self.queue.clear();
            }
        }
    }

    /// Sends everything due at `now`. False when the node has stopped.
    fn fire(&mut self, now: u64) -> bool {
        for (rate, sched) in self.ticks.iter_mut() {
            let expected = sched.next;
            while let Some((n, scheduled)) = sched.take(now) {
                if n > expected {
                    bump(&self.counters.ticks_skipped, n - expected);
                }
                let msg = TimerMsg::Tick {
                    rate: *rate,
                    n,
                    t0: sched.base,
                    scheduled,
                };
                let Some(frame) = encode_served(&self.node, self.signing, &msg) else {
                    continue;
                };
                // Counted before it goes out (and taken back if it does not), so no receiver
                // ever holds more ticks than `stats().ticks_sent` says were sent: counted after
                // the send, a peer could take the tick before the count moved (a CI run saw
                // `ticks_sent` at 4 with 5 ticks received).
                bump(&self.counters.ticks_sent, 1);
                let sent = self.node.shout(&tick_group(*rate), [frame]);
                if sent.is_err() {
                    self.counters.ticks_sent.fetch_sub(1, Ordering::Relaxed);
                }
                if let Ok(mut j) = self.counters.send_late.lock() {
                    j.record(unix_now() as i64 - scheduled as i64);
                }
                match sent {
                    Ok(()) => {}
                    Err(ryre::Error::Stopped) => return false,
                    Err(e) => tracing::warn!("tick not sent: {e}"),
                }
            }
        }
        while let Some(Reverse((due, peer, id))) = self.queue.peek().copied() {
            if due > now {
                break;
            }
            self.queue.pop();
            let Some(p) = self.requests.get_mut(&(peer, id)) else {
                continue;
            };
            if p.sched.next_due() != Some(due) {
                continue; // replaced or cancelled since it was queued
            }
            let Some((occurrence, scheduled)) = p.sched.take(now) else {
                continue;
            };
            let msg = TimerMsg::Wake {
                id,
                occurrence,
                scheduled,
                payload: p.payload.clone(),
            };
            if let Some(next) = p.sched.next_due() {
                self.queue.push(Reverse((next, peer, id)));
            } else {
                self.requests.remove(&(peer, id));
            }
            let Some(frame) = encode_served(&self.node, self.signing, &msg) else {
                continue;
            };
            match self.node.whisper(peer, [frame]) {
                Ok(()) => bump(&self.counters.wakes_sent, 1),
                Err(ryre::Error::Stopped) => return false,
                Err(e) => tracing::debug!(%peer, "wake-up not sent: {e}"),
            }
        }
        true
    }
}

/// Asks Linux to wake this thread within 1 µs of its deadline (the default slack is 50 µs).
fn set_timer_slack_1us() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only the calling thread.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0) };
}
