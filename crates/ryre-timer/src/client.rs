//! The subscriber and requester side: [`Timers`] over a node.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use ryre::{Event, EventStream, Node, NodeBuilder, PeerId};

use crate::proto::{TimerMsg, MAX_PAYLOAD};
use crate::tick::{Tick, TickCounts, TickTracker};
use crate::{
    check_rate, check_served, tick_group, unix_now, unix_ns, Refused, TimerError, CLIENTS_GROUP,
};

/// A wake-up, delivered once per occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    /// The request's id (as returned by `wake_*`).
    pub id: u64,
    /// Which occurrence (0 for a one-shot).
    pub occurrence: u64,
    /// When it was due (Unix ns, the timer's clock).
    pub scheduled: u64,
    /// When it arrived (Unix ns, our clock).
    pub received: u64,
    /// The request's payload.
    pub payload: Bytes,
    /// The timer node that sent it.
    pub from: PeerId,
}

/// What [`Timers`] hands the application.
#[derive(Debug, Clone)]
pub enum TimerEvent {
    /// A tick of a subscribed rate (each number once, increasing; gaps counted in `missed`).
    Tick(Tick),
    /// A wake-up.
    Wake(Wake),
    /// The wake-up leader refused a request (it is forgotten).
    Rejected {
        /// The request.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A timer node announced that it now serves wake-ups; pending requests went to it.
    WakeLeader(PeerId),
    /// Any other event of the node, passed through untouched.
    Node(Event),
}

/// Counters of a [`Timers`] client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounts {
    /// Wake-ups delivered.
    pub wakes: u64,
    /// Wake-ups dropped as duplicates (sent again by a new leader, or replayed).
    pub duplicate_wakes: u64,
    /// Requests (re-)sent to a leader.
    pub requests_sent: u64,
    /// Timer frames that did not decode or made no sense here.
    pub malformed: u64,
    /// Certified mode: ticks and wake-up service messages dropped because they were not
    /// signed.
    pub unsigned: u64,
    /// Certified mode: ... dropped because the signature is not the sender's over them
    /// (forged or tampered with).
    pub forged: u64,
    /// Certified mode: ... dropped because the sender's certificate does not grant the
    /// `timer` service.
    pub unentitled: u64,
}

impl ClientCounts {
    /// Every message dropped by certified mode's checks.
    pub fn refused(&self) -> u64 {
        self.unsigned + self.forged + self.unentitled
    }

    fn refuse(&mut self, why: &Refused) {
        match why {
            Refused::Malformed => self.malformed += 1,
            Refused::Unsigned => self.unsigned += 1,
            Refused::Forged => self.forged += 1,
            Refused::Unentitled => self.unentitled += 1,
        }
    }
}

struct Request {
    at: u64,
    every: u64,
    payload: Bytes,
    /// The next occurrence not yet delivered.
    next: u64,
}

impl Request {
    fn message(&self, id: u64) -> TimerMsg {
        let at = self
            .next
            .checked_mul(self.every)
            .and_then(|d| self.at.checked_add(d))
            .unwrap_or(u64::MAX);
        TimerMsg::Request {
            id,
            first: self.next,
            at,
            every: self.every,
            payload: self.payload.clone(),
        }
    }
}

#[derive(Default)]
struct State {
    trackers: HashMap<u16, TickTracker>,
    leader: Option<PeerId>,
    requests: BTreeMap<u64, Request>,
    next_id: u64,
    counts: ClientCounts,
}

/// A node's view of the timer service: tick subscriptions, wake-up requests, and every other
/// event passed through.
///
/// Read events with [`Timers::recv_timeout`] or [`Timers::stream`]; an application that reads
/// the node's events itself feeds each one to [`Timers::handle`] instead. Requests survive a
/// change of wake-up leader: they are re-sent to each newly announced leader, from the first
/// occurrence not yet delivered, and duplicates are dropped.
///
/// On a certified node, ticks, wake-ups, rejections and announcements count only when signed
/// by the admitted peer that sent them, whose certificate grants the `timer` service; the
/// others are dropped and counted ([`ClientCounts::refused`]).
#[derive(Clone)]
pub struct Timers {
    node: Node,
    /// Certified mode: check what timer nodes serve.
    certified: bool,
    state: Arc<Mutex<State>>,
}

impl Timers {
    /// Starts a node from `builder` and uses it.
    pub fn start(builder: NodeBuilder) -> Result<Timers, TimerError> {
        Timers::new(builder.start()?)
    }

    /// Uses a running node (joins [`CLIENTS_GROUP`] to hear the wake-up leader).
    pub fn new(node: Node) -> Result<Timers, TimerError> {
        node.join(CLIENTS_GROUP)?;
        Ok(Timers {
            certified: node.certificate().is_some(),
            node,
            state: Arc::new(Mutex::new(State {
                next_id: 1,
                ..State::default()
            })),
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Receives ticks of `rate` Hz from now on.
    pub fn subscribe(&self, rate: u16) -> Result<(), TimerError> {
        check_rate(rate)?;
        self.state()
            .trackers
            .entry(rate)
            .or_insert_with(|| TickTracker::new(rate));
        self.node.join(&tick_group(rate))?;
        Ok(())
    }

    /// Stops receiving ticks of `rate` Hz.
    pub fn unsubscribe(&self, rate: u16) -> Result<(), TimerError> {
        self.state().trackers.remove(&rate);
        self.node.leave(&tick_group(rate))?;
        Ok(())
    }

    /// What the tick tracker of `rate` has counted (received, missed, refused).
    pub fn tick_counts(&self, rate: u16) -> Option<TickCounts> {
        self.state().trackers.get(&rate).map(TickTracker::counts)
    }

    /// The client's counters.
    pub fn counts(&self) -> ClientCounts {
        self.state().counts
    }

    /// The wake-up leader last announced, if it is still here.
    pub fn wake_leader(&self) -> Option<PeerId> {
        self.state().leader
    }

    /// Requests not yet completed (one-shots not delivered, periodic ones not cancelled).
    pub fn pending(&self) -> usize {
        self.state().requests.len()
    }

    /// Asks for one wake-up at `at` carrying `payload`; returns the request's id.
    pub fn wake_at(&self, at: SystemTime, payload: impl Into<Bytes>) -> Result<u64, TimerError> {
        let at = unix_ns(at).ok_or(TimerError::TimeOutOfRange)?;
        self.request(at, 0, payload.into())
    }

    /// Asks for one wake-up `after` from now.
    pub fn wake_after(
        &self,
        after: Duration,
        payload: impl Into<Bytes>,
    ) -> Result<u64, TimerError> {
        let at = SystemTime::now()
            .checked_add(after)
            .ok_or(TimerError::TimeOutOfRange)?;
        self.wake_at(at, payload)
    }

    /// Asks for a wake-up at `first` and then every `every`, until cancelled.
    pub fn wake_every(
        &self,
        first: SystemTime,
        every: Duration,
        payload: impl Into<Bytes>,
    ) -> Result<u64, TimerError> {
        if every < Duration::from_millis(1) {
            return Err(TimerError::PeriodTooShort);
        }
        let at = unix_ns(first).ok_or(TimerError::TimeOutOfRange)?;
        let every = u64::try_from(every.as_nanos()).map_err(|_| TimerError::TimeOutOfRange)?;
        self.request(at, every, payload.into())
    }

    fn request(&self, at: u64, every: u64, payload: Bytes) -> Result<u64, TimerError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(crate::proto::EncodeError::PayloadTooLarge(payload.len()).into());
        }
        let mut st = self.state();
        let id = st.next_id;
        st.next_id += 1;
        let req = Request {
            at,
            every,
            payload,
            next: 0,
        };
        if let Some(leader) = st.leader {
            let frame = req.message(id).encode()?;
            st.counts.requests_sent += 1;
            // A leader that just left: the request is re-sent to the next one announced.
            let _ = self.node.whisper(leader, [frame]);
        }
        st.requests.insert(id, req);
        Ok(id)
    }

    /// Cancels a request (no more wake-ups for it).
    pub fn cancel(&self, id: u64) -> Result<(), TimerError> {
        let mut st = self.state();
        if st.requests.remove(&id).is_some() {
            if let Some(leader) = st.leader {
                let frame = TimerMsg::Cancel { id }.encode()?;
                let _ = self.node.whisper(leader, [frame]);
            }
        }
        Ok(())
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when none came in time.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<TimerEvent>, TimerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.node.recv_timeout(left)? {
                Some(ev) => {
                    if let Some(out) = self.handle(ev) {
                        return Ok(Some(out));
                    }
                }
                None => return Ok(None),
            }
        }
    }

    /// The events as an async `Stream` (the node's queue, through [`Timers::handle`]).
    pub fn stream(&self) -> TimerStream {
        TimerStream {
            timers: self.clone(),
            inner: self.node.events(),
        }
    }

    /// Takes one node event: a timer message becomes a [`TimerEvent`] (or nothing, when it is
    /// a duplicate, stale or internal); any other event comes back as [`TimerEvent::Node`].
    pub fn handle(&self, ev: Event) -> Option<TimerEvent> {
        match ev {
            Event::Shout {
                peer,
                ref group,
                ref content,
                ..
            } if &**group == CLIENTS_GROUP && content.len() == 1 => {
                // The wake-up leader announces itself to every client at once.
                self.on_timer_whisper(peer, &content[0])
            }
            Event::Shout {
                peer,
                group,
                content,
                name,
            } => {
                let rate = group
                    .strip_prefix("tick/")
                    .and_then(|r| r.strip_suffix("hz"))
                    .and_then(|r| r.parse::<u16>().ok());
                // Checked before the state's lock is taken (a signature costs tens of µs).
                let checked = rate
                    .and(content.first())
                    .map(|f| check_served(&self.node, self.certified, &peer, f));
                let mut st = self.state();
                let Some(tracker) = rate.and_then(|r| st.trackers.get_mut(&r)) else {
                    drop(st);
                    return Some(TimerEvent::Node(Event::Shout {
                        peer,
                        group,
                        content,
                        name,
                    }));
                };
                match checked {
                    Some(Ok(TimerMsg::Tick {
                        rate,
                        n,
                        t0,
                        scheduled,
                    })) => tracker
                        .accept(peer, rate, n, t0, scheduled, unix_now())
                        .ok()
                        .map(TimerEvent::Tick),
                    Some(Err(why)) if why != Refused::Malformed => {
                        st.counts.refuse(&why);
                        None
                    }
                    _ => {
                        tracker.count_malformed();
                        None
                    }
                }
            }
            Event::Whisper {
                peer,
                name,
                content,
            } => {
                let is_timer =
                    content.len() == 1 && content[0].starts_with(&crate::proto::SIGNATURE);
                if !is_timer {
                    return Some(TimerEvent::Node(Event::Whisper {
                        peer,
                        name,
                        content,
                    }));
                }
                self.on_timer_whisper(peer, &content[0])
            }
            Event::Exit { peer, name, reason } => {
                let mut st = self.state();
                if st.leader == Some(peer) {
                    st.leader = None;
                }
                drop(st);
                Some(TimerEvent::Node(Event::Exit { peer, name, reason }))
            }
            other => Some(TimerEvent::Node(other)),
        }
    }

    fn on_timer_whisper(&self, peer: PeerId, frame: &Bytes) -> Option<TimerEvent> {
        // Checked before the state's lock is taken (a signature costs tens of microseconds).
        let checked = check_served(&self.node, self.certified, &peer, frame);
        let mut st = self.state();
        if let Err(why) = &checked {
            st.counts.refuse(why);
            return None;
        }
        match checked {
            Ok(TimerMsg::Announce) => {
                st.leader = Some(peer);
                // Everything not yet delivered goes to the new leader; it picks up at `next`.
                let frames: Vec<Bytes> = st
                    .requests
                    .iter()
                    .filter_map(|(id, r)| r.message(*id).encode().ok())
                    .collect();
                st.counts.requests_sent += frames.len() as u64;
                drop(st);
                for f in frames {
                    let _ = self.node.whisper(peer, [f]);
                }
                Some(TimerEvent::WakeLeader(peer))
            }
            Ok(TimerMsg::Wake {
                id,
                occurrence,
                scheduled,
                payload,
            }) => {
                let Some(req) = st.requests.get_mut(&id) else {
                    st.counts.duplicate_wakes += 1;
                    return None;
                };
                if occurrence < req.next || (req.every == 0 && occurrence != 0) {
                    st.counts.duplicate_wakes += 1;
                    return None;
                }
                req.next = occurrence + 1;
                if req.every == 0 {
                    st.requests.remove(&id);
                }
                st.counts.wakes += 1;
                Some(TimerEvent::Wake(Wake {
                    id,
                    occurrence,
                    scheduled,
                    received: unix_now(),
                    payload,
                    from: peer,
                }))
            }
            Ok(TimerMsg::Reject { id, reason }) => st
                .requests
                .remove(&id)
                .map(|_| TimerEvent::Rejected { id, reason }),
            _ => {
                st.counts.malformed += 1;
                None
            }
        }
    }
}

/// [`Timers`] events as an async `Stream`.
pub struct TimerStream {
    timers: Timers,
    inner: EventStream,
}

impl Stream for TimerStream {
    type Item = TimerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TimerEvent>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(ev)) => {
                    if let Some(out) = self.timers.handle(ev) {
                        return Poll::Ready(Some(out));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
