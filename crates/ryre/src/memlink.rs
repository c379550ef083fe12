//! Links between nodes of one process: ZRE frames handed over in memory, not through ZeroMQ.
//!
//! Each node has one bounded in-memory inbox. A node that links to a peer of its own process
//! (found in the process registry by its endpoint) pushes frames straight into the peer's inbox
//! and, when the peer may be asleep, writes one byte to its wake-up socket. The frames are the
//! same ZRE frames the TCP link would carry, so the heart cannot tell the difference; a link
//! costs a channel handle instead of a ZeroMQ socket and its buffers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use ryre_proto::{Content, Frames};

use crate::runtime::Shared;

/// One message in memory: the sender's routing id and its frames.
pub(crate) struct MemMsg {
    pub from: [u8; 17],
    pub head: Bytes,
    pub content: Content,
}

/// What the senders and the receiver of one in-memory inbox signal each other.
#[derive(Default)]
pub(crate) struct Signals {
    /// A sender queued something since the receiver last armed.
    pending: AtomicBool,
    /// Senders waiting for room (the receiver wakes them after it took messages).
    waiters: AtomicUsize,
    room_lock: Mutex<()>,
    room: Condvar,
}

/// What a sender needs to reach a node's in-memory inbox.
#[derive(Clone)]
pub(crate) struct MemSender {
    tx: flume::Sender<MemMsg>,
    node: Weak<Shared>,
    pending: Arc<Signals>,
}

/// Why a message did not go.
pub(crate) enum MemError {
    /// The peer's inbox is full.
    Full,
    /// The peer has stopped.
    Gone,
}

impl MemSender {
    /// Queues `frames` from `from`, waking the receiver if it may be asleep.
    pub fn send(&self, from: [u8; 17], frames: &Frames) -> Result<(), MemError> {
        let msg = MemMsg {
            from,
            head: Bytes::copy_from_slice(frames.head()),
            content: frames.content().iter().cloned().collect(),
        };
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(_)) => return Err(MemError::Full),
            Err(flume::TrySendError::Disconnected(_)) => return Err(MemError::Gone),
        }
        if !self.pending.pending.swap(true, Ordering::AcqRel) {
            if let Some(node) = self.node.upgrade() {
                node.wake();
            }
        }
        Ok(())
    }

    /// Waits at most `timeout` until the inbox has room (or may have: the caller looks again).
    pub fn wait_for_room(&self, timeout: Duration) {
        let sig = &self.pending;
        sig.waiters.fetch_add(1, Ordering::SeqCst);
        let guard = sig.room_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock the receiver takes to notify: no wake-up is lost.
        if self.tx.is_full() {
            let _ = sig.room.wait_timeout(guard, timeout);
        }
        sig.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A node's in-memory inbox.
pub(crate) struct MemInbox {
    rx: flume::Receiver<MemMsg>,
    pending: Arc<Signals>,
}

impl MemInbox {
    /// An inbox holding at most `hwm` messages, and the sender half (bound to its node later).
    pub fn new(hwm: usize) -> (MemInbox, flume::Sender<MemMsg>, Arc<Signals>) {
        let (tx, rx) = flume::bounded(hwm.max(1));
        let pending = Arc::new(Signals::default());
        (
            MemInbox {
                rx,
                pending: pending.clone(),
            },
            tx,
            pending,
        )
    }

    /// Takes the next message, if any. Call [`MemInbox::arm`] before a round of `try_recv`s.
    pub fn try_recv(&self) -> Option<MemMsg> {
        self.rx.try_recv().ok()
    }

    /// Whether messages wait.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Whether a sender queued something since the last [`MemInbox::arm`] (one atomic load: the
    /// hot path looks at the channel only then).
    pub fn has_pending(&self) -> bool {
        self.pending.pending.load(Ordering::Acquire)
    }

    /// From now on a sender wakes the node again.
    pub fn arm(&self) {
        self.pending.pending.store(false, Ordering::Release);
    }

    /// After taking messages: wakes the senders waiting for room, if any (one atomic load when
    /// there are none).
    pub fn made_room(&self) {
        let sig = &self.pending;
        if sig.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = sig.room_lock.lock().unwrap_or_else(|p| p.into_inner());
            sig.room.notify_all();
        }
    }
}

/// A sender for a node, from its parts.
pub(crate) fn sender(
    tx: flume::Sender<MemMsg>,
    node: &Arc<Shared>,
    pending: Arc<Signals>,
) -> MemSender {
    MemSender {
        tx,
        node: Arc::downgrade(node),
        pending,
    }
}
