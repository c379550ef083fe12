//! The node's actor thread: one poll over the inbox, the beacon socket, the command channel and
//! the next deadline, driving the sans-IO heart (Zyre's actor model, without callbacks).

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ryre_proto::beacon::Beacon;
use ryre_proto::{Command, Event, Input, NodeState, PeerId, PeerInfo, Transmit};
use tracing::{debug, info, trace, warn};

use crate::discovery::beacon::{BeaconSocket, Heard};
use crate::transport::{SendError, Transport};

/// How many inbox messages or commands are handled before the other sources get a turn.
const BATCH: usize = 512;

/// What the API handle may read without asking the actor: a copy of the peer table, refreshed by
/// the actor whenever it changes.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    pub peers: HashMap<PeerId, PeerInfo>,
    pub own_groups: BTreeSet<String>,
    pub stopped: bool,
}

/// The command side of the actor: a channel plus a wake-up byte on a socket pair, written only
/// when the actor may be asleep.
pub(crate) struct Mailbox {
    pub tx: flume::Sender<Command>,
    pub wake: UnixStream,
    pub notified: AtomicBool,
}

impl Mailbox {
    /// Posts a command; never blocks.
    pub fn post(&self, cmd: Command) -> bool {
        if self.tx.send(cmd).is_err() {
            return false;
        }
        if !self.notified.swap(true, Ordering::AcqRel) {
            // A full socket buffer already means "wake up": ignore WouldBlock.
            let _ = (&self.wake).write(&[1]);
        }
        true
    }
}

/// Everything the actor thread owns.
pub(crate) struct Runtime {
    pub state: NodeState,
    pub transport: Transport,
    pub beacon: Option<BeaconSocket>,
    pub interval: Duration,
    pub commands: flume::Receiver<Command>,
    pub wake: UnixStream,
    pub mailbox: Arc<Mailbox>,
    pub events: flume::Sender<Event>,
    pub directory: Arc<RwLock<Directory>>,
    pub verbose: bool,
}

impl Runtime {
    /// Runs until the node is stopped (or every API handle is gone).
    pub fn run(mut self) {
        let own = self.state.config().id;
        let port = self.transport.port();
        let mut next_beacon = Instant::now();
        let mut ready = Vec::with_capacity(2);
        loop {
            let now = Instant::now();
            if let Some(b) = &self.beacon {
                if now >= next_beacon {
                    if let Err(e) = b.send(&Beacon::new(own, port)) {
                        debug!(error = %e, "beacon send failed");
                    }
                    next_beacon = now + self.interval;
                }
            }
            if self.state.poll_timeout().is_some_and(|t| t <= now) {
                self.state.handle_timeout(now);
                self.flush();
            }
            if self.state.is_stopped() {
                break;
            }
            let mut deadline = self.state.poll_timeout();
            if self.beacon.is_some() {
                deadline = Some(deadline.map_or(next_beacon, |d| d.min(next_beacon)));
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut fds = vec![self.wake.as_raw_fd()];
            if let Some(b) = &self.beacon {
                fds.push(b.fd());
            }
            let inbox_ready = match self.transport.poll(&fds, timeout, &mut ready) {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "poll failed; node stops");
                    let _ = self
                        .state
                        .handle(Instant::now(), Input::Command(Command::Stop));
                    self.flush();
                    continue;
                }
            };
            if inbox_ready {
                self.drain_inbox();
            }
            if ready.get(1).copied().unwrap_or(false) {
                self.drain_beacons();
            }
            if ready.first().copied().unwrap_or(false) || !self.commands.is_empty() {
                self.drain_commands();
            }
        }
        self.shutdown(own);
    }

    fn shutdown(&mut self, own: PeerId) {
        if let Some(b) = &self.beacon {
            // The leaving beacon: port 0.
            if let Err(e) = b.send(&Beacon::new(own, 0)) {
                debug!(error = %e, "leaving beacon failed");
            }
        }
        self.transport.close_all();
        if let Ok(mut d) = self.directory.write() {
            d.peers.clear();
            d.stopped = true;
        }
        info!(node = %own, "node stopped");
    }

    fn drain_inbox(&mut self) {
        for _ in 0..BATCH {
            match self.transport.recv() {
                Ok(Some((routing_id, frames))) => {
                    let r = self
                        .state
                        .handle(Instant::now(), Input::Inbox { routing_id, frames });
                    if let Err(p) = r {
                        warn!(problem = %p, "inbox");
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "inbox receive failed");
                    break;
                }
            }
            self.flush();
        }
    }

    fn drain_beacons(&mut self) {
        for _ in 0..BATCH {
            let Some(b) = self.beacon.as_mut() else {
                break;
            };
            let input = match b.recv() {
                Ok(Some(Heard::Peer { id, endpoint })) => Input::Discovered { id, endpoint },
                Ok(Some(Heard::Leaving { id })) => Input::Departed { id },
                Ok(Some(Heard::Ignored)) => continue,
                Ok(Some(Heard::Invalid { from, error })) => {
                    debug!(%from, %error, "not a beacon; ignored");
                    continue;
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "beacon receive failed");
                    break;
                }
            };
            let _ = self.state.handle(Instant::now(), input);
            self.flush();
        }
    }

    fn drain_commands(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.mailbox.notified.swap(false, Ordering::AcqRel);
        for _ in 0..BATCH {
            let cmd = match self.commands.try_recv() {
                Ok(c) => c,
                Err(_) => break,
            };
            let changes_groups =
                matches!(cmd, Command::Join(_) | Command::Leave(_) | Command::Stop);
            if let Err(p) = self.state.handle(Instant::now(), Input::Command(cmd)) {
                warn!(problem = %p, "command refused");
            }
            self.flush();
            if changes_groups {
                if let Ok(mut d) = self.directory.write() {
                    d.own_groups = self.state.own_groups().map(str::to_string).collect();
                }
            }
            if self.state.is_stopped() {
                break;
            }
        }
        if !self.commands.is_empty() {
            // More than a batch: make sure the next poll returns at once.
            self.mailbox.notified.store(true, Ordering::Release);
            let _ = (&self.mailbox.wake).write(&[1]);
        }
    }

    /// Carries out what the heart asked for.
    fn flush(&mut self) {
        while let Some(t) = self.state.poll_transmit() {
            match t {
                Transmit::Connect { peer, endpoint } => {
                    if self.verbose {
                        info!(%peer, %endpoint, "connect");
                    }
                    if let Err(e) = self.transport.connect(peer, &endpoint) {
                        warn!(%peer, %endpoint, error = %e, "cannot connect to peer");
                    }
                }
                Transmit::Send { peer, frames } => match self.transport.send(&peer, &frames) {
                    Ok(()) => {}
                    Err(SendError::Full) => {
                        warn!(%peer, "send queue full; peer dropped");
                        let _ = self
                            .state
                            .handle(Instant::now(), Input::SendFailed { id: peer });
                    }
                    Err(SendError::NoLink) => trace!(%peer, "no link; message dropped"),
                },
                Transmit::Disconnect { peer } => self.transport.disconnect(&peer),
            }
        }
        while let Some(ev) = self.state.poll_event() {
            // Keep the API's copy of the peer table at least as new as the events it receives.
            let touched = match &ev {
                Event::Whisper { .. } | Event::Shout { .. } => None,
                Event::Enter { peer, .. }
                | Event::Exit { peer, .. }
                | Event::Join { peer, .. }
                | Event::Leave { peer, .. }
                | Event::Evasive { peer, .. }
                | Event::Silent { peer, .. }
                | Event::Leader { peer, .. }
                | Event::Stop { peer, .. } => Some(*peer),
            };
            if let Some(peer) = touched {
                if let Ok(mut d) = self.directory.write() {
                    match self.state.peer(&peer) {
                        Some(info) => {
                            d.peers.insert(peer, info.clone());
                        }
                        None => {
                            d.peers.remove(&peer);
                        }
                    }
                }
            }
            if self.verbose {
                info!(event = ?EventTag(&ev), "event");
            }
            // A dropped receiver only means nobody listens any more.
            let _ = self.events.send(ev);
        }
    }
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
            } => {
                write!(f, "SHOUT {peer} {group} {} frames", content.len())
            }
            Event::Evasive { peer, .. } => write!(f, "EVASIVE {peer}"),
            Event::Silent { peer, .. } => write!(f, "SILENT {peer}"),
            Event::Leader { peer, group, .. } => write!(f, "LEADER {peer} {group}"),
            Event::Stop { peer, .. } => write!(f, "STOP {peer}"),
        }
    }
}
