//! The application side of a node's events: batches from the node read one by one, blocking
//! (`Node::recv`) or as an async `Stream`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use ryre_proto::Event;

/// What the node hands over at once: one event (no allocation), or several.
#[derive(Debug)]
pub(crate) enum Batch {
    One(Event),
    Many(Vec<Event>),
}

/// The application side of the event queue: batches from the node, and the batch being read.
pub(crate) struct EventQueue {
    pub(crate) rx: flume::Receiver<Batch>,
    pub(crate) current: Mutex<std::vec::IntoIter<Event>>,
}

/// Nothing more will come: the node has stopped and its last event was taken.
pub(crate) struct Ended;

impl EventQueue {
    pub(crate) fn current(&self) -> MutexGuard<'_, std::vec::IntoIter<Event>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next event if one is queued.
    pub(crate) fn try_pop(&self) -> Result<Option<Event>, Ended> {
        let mut cur = self.current();
        if let Some(ev) = cur.next() {
            return Ok(Some(ev));
        }
        match self.rx.try_recv() {
            Ok(Batch::One(ev)) => Ok(Some(ev)),
            Ok(Batch::Many(batch)) => {
                *cur = batch.into_iter();
                Ok(cur.next())
            }
            Err(flume::TryRecvError::Empty) => Ok(None),
            Err(flume::TryRecvError::Disconnected) => Err(Ended),
        }
    }

    /// Takes a batch that arrived; its first event.
    pub(crate) fn take(&self, batch: Batch) -> Option<Event> {
        let mut cur = self.current();
        let batch = match batch {
            Batch::One(ev) if cur.len() == 0 => return Some(ev),
            Batch::One(ev) => vec![ev],
            Batch::Many(v) => v,
        };
        // Events still in `current` came first (another reader may have refilled it).
        let mut rest: Vec<Event> = cur.by_ref().collect();
        rest.extend(batch);
        *cur = rest.into_iter();
        cur.next()
    }
}

/// The events of a node as an async stream; see [`Node::events`](crate::Node::events).
pub struct EventStream {
    pub(crate) queue: Arc<EventQueue>,
    pub(crate) batches: flume::r#async::RecvStream<'static, Batch>,
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            if let Some(ev) = self.queue.current().next() {
                return Poll::Ready(Some(ev));
            }
            match Pin::new(&mut self.batches).poll_next(cx) {
                Poll::Ready(Some(batch)) => {
                    if let Some(ev) = self.queue.take(batch) {
                        return Poll::Ready(Some(ev));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
