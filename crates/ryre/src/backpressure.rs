//! Backpressure: what `whisper` and `shout` do when a peer's send queue is full.
//!
//! Every link to a peer holds at most `send_hwm` messages (libzmq's high-water mark, or the
//! memory link's bound). The heart numbers each message for its peer, so a message it has made
//! must go out or the peer sees a gap; a message that finds the queue full therefore waits in
//! the link's *backlog* (`transport.rs`), in order. An application send is admitted only when
//! every peer it goes to has an empty backlog; otherwise, by the node's [`SendPolicy`], the
//! caller waits for room (without holding the node's lock, so sends to other peers, incoming
//! traffic and timers go on) or gets [`crate::Error::WouldBlock`] with nothing sent.

use std::time::{Duration, Instant};

use ryre_proto::{Command, Input, PeerId, Problem};

use crate::runtime::{lock, Shared};

/// What [`crate::Node::whisper`] and [`crate::Node::shout`] do when a peer's send queue is full
/// (`send_hwm` messages waiting for the network). Set with
/// [`crate::NodeBuilder::send_policy`].
///
/// ```
/// use std::time::Duration;
/// use ryre::{Node, SendPolicy};
///
/// let node = Node::builder()
///     .discovery(ryre::Discovery::Off)
///     .endpoint("tcp://127.0.0.1:*")
///     .send_policy(SendPolicy::Fail)
///     .start()?;
/// assert_eq!(SendPolicy::default(), SendPolicy::Block(Duration::from_secs(5)));
/// node.stop()?;
/// # Ok::<(), ryre::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPolicy {
    /// Wait up to this long for room in the full queues, then fail with
    /// [`crate::Error::WouldBlock`] (nothing sent). The default, with 5 s (the default evasive
    /// timeout). Only the calling thread waits: sends to other peers, incoming messages and
    /// timers go on meanwhile. A shout waits until every member of the group has room, so a
    /// group's slowest member paces shouts to it (whispers to the others are not held up).
    Block(Duration),
    /// Fail at once with [`crate::Error::WouldBlock`] (nothing sent); the caller decides when to
    /// try again.
    Fail,
    /// Zyre's behaviour: a message that finds the queue full is lost and the peer is dropped
    /// with [`crate::Event::Exit`] reason [`crate::ExitReason::QueueFull`].
    DropPeer,
}

impl Default for SendPolicy {
    fn default() -> Self {
        SendPolicy::Block(Duration::from_secs(5))
    }
}

impl SendPolicy {
    /// Whether a message that finds the queue full is kept for later (every policy but
    /// [`SendPolicy::DropPeer`]).
    pub(crate) fn keeps(&self) -> bool {
        !matches!(self, SendPolicy::DropPeer)
    }
}

/// Longest single wait for room before the waiter looks again (libzmq's "room again" signal can
/// be taken in by another thread's send on the same socket, so the wait is sliced).
const SLICE: Duration = Duration::from_millis(2);

/// Why an application send did not happen.
pub(crate) enum Refusal {
    /// The heart refused it.
    Problem(Problem),
    /// These peers' queues stayed full.
    Full(Vec<PeerId>),
}

impl Shared {
    /// Runs a whisper or shout on the caller's thread once every peer it goes to has room, as
    /// the node's policy says; with `wait` false it never waits (a full queue is refused at
    /// once, whatever the policy).
    pub(crate) fn send_app(&self, cmd: Command, wait: bool) -> Result<(), Refusal> {
        let mut deadline: Option<Instant> = None;
        loop {
            let mut core = lock(&self.core);
            // The hot path: no backlog anywhere, one length check.
            let full = if core.links.has_backlog() {
                full_targets(&mut core, &cmd)
            } else {
                Vec::new()
            };
            if full.is_empty() {
                let now = core.now;
                let r = core.state.handle(now, Input::Command(cmd));
                core.flush();
                core.publish();
                if std::mem::take(&mut core.new_backlog) {
                    // The poll retries it (the node's thread may sleep without a deadline).
                    drop(core);
                    self.wake();
                }
                return r.map_err(Refusal::Problem);
            }
            let wait = match core.policy {
                SendPolicy::Block(d) if wait => d,
                _ => Duration::ZERO,
            };
            let now = Instant::now();
            let until = *deadline.get_or_insert(now + wait);
            if self.is_stopped() {
                return Err(Refusal::Problem(Problem::Stopped));
            }
            if now >= until {
                return Err(Refusal::Full(full));
            }
            let waiter = core.links.room_waiter(&full[0]);
            drop(core);
            if let Some(w) = waiter {
                w.wait((until - now).min(SLICE));
            }
        }
    }
}

/// The peers `cmd` goes to whose backlog is not empty (after trying to send it).
#[cold]
fn full_targets(core: &mut crate::runtime::Core, cmd: &Command) -> Vec<PeerId> {
    match cmd {
        Command::Whisper { peer, .. } => {
            if core.links.retry_backlog(peer) {
                Vec::new()
            } else {
                vec![*peer]
            }
        }
        Command::Shout { group, .. } => {
            let members: Vec<PeerId> = core.state.peers_by_group(group).collect();
            members
                .into_iter()
                .filter(|p| !core.links.retry_backlog(p))
                .collect()
        }
        _ => Vec::new(),
    }
}
