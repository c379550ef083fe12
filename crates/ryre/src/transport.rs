//! ZeroMQ transport through libzmq (the `zmq` crate): one ROUTER inbox, one DEALER per peer.
//! The only file that knows the ZeroMQ crate.

use std::collections::HashMap;
use std::os::fd::RawFd;

use bytes::Bytes;
use ryre_proto::PeerId;

/// Transport failures the node reports.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A ZeroMQ call failed.
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// The bound endpoint could not be read back.
    #[error("cannot read the inbox endpoint back from zeromq")]
    Endpoint,
}

/// Why a message could not be queued to a peer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Its queue is full (high-water mark) or the link is gone.
    Full,
    /// No link to that peer.
    NoLink,
}

/// Options of the transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransportOptions {
    /// Messages queued per peer before it counts as unreachable.
    pub send_hwm: i32,
    /// Messages queued at the inbox.
    pub recv_hwm: i32,
    /// How long queued messages may still be flushed when a link closes, in ms.
    pub linger_ms: i32,
}

/// The inbox and the links to peers.
pub(crate) struct Transport {
    // Sockets are dropped before the context (field order), and the context is shared with any
    // other node of the process that asked for it.
    inbox: zmq::Socket,
    links: HashMap<PeerId, zmq::Socket>,
    ctx: zmq::Context,
    own_routing_id: [u8; 17],
    opts: TransportOptions,
    port: u16,
}

impl Transport {
    /// Binds the ROUTER inbox on `bind` (e.g. `tcp://10.0.0.5:*`) and returns it with its port.
    pub fn bind(
        ctx: zmq::Context,
        own: PeerId,
        bind: &str,
        opts: TransportOptions,
    ) -> Result<Self, TransportError> {
        let inbox = ctx.socket(zmq::ROUTER)?;
        inbox.set_router_handover(true)?;
        inbox.set_rcvhwm(opts.recv_hwm)?;
        inbox.set_linger(0)?;
        inbox.bind(bind)?;
        let last = inbox
            .get_last_endpoint()?
            .map_err(|_| TransportError::Endpoint)?;
        let port = last
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or(TransportError::Endpoint)?;
        Ok(Transport {
            inbox,
            links: HashMap::new(),
            ctx,
            own_routing_id: own.routing_id(),
            opts,
            port,
        })
    }

    /// The inbox's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until the inbox or one of `fds` is readable, or `timeout` passes (`None`: forever).
    /// Returns whether the inbox is readable and, for each fd, whether it is readable.
    pub fn poll(
        &self,
        fds: &[RawFd],
        timeout: Option<std::time::Duration>,
        ready: &mut Vec<bool>,
    ) -> Result<bool, TransportError> {
        let mut items = Vec::with_capacity(1 + fds.len());
        items.push(self.inbox.as_poll_item(zmq::POLLIN));
        items.extend(
            fds.iter()
                .map(|fd| zmq::PollItem::from_fd(*fd, zmq::POLLIN)),
        );
        let ms = match timeout {
            None => -1,
            // Round up so that we never wake before the deadline and spin.
            Some(d) => i64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(i64::MAX),
        };
        match zmq::poll(&mut items, ms) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        ready.clear();
        ready.extend(items[1..].iter().map(|i| i.is_readable()));
        Ok(items[0].is_readable())
    }

    /// Receives one inbox message without blocking: the routing id and the frames.
    pub fn recv(&self) -> Result<Option<(Bytes, Vec<Bytes>)>, TransportError> {
        let routing_id = match self.inbox.recv_msg(zmq::DONTWAIT) {
            Ok(m) => to_bytes(m),
            Err(zmq::Error::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut frames = Vec::with_capacity(2);
        while self.inbox.get_rcvmore()? {
            frames.push(to_bytes(self.inbox.recv_msg(0)?));
        }
        Ok(Some((routing_id, frames)))
    }

    /// Opens a DEALER to a peer's inbox (replacing any previous link to it).
    pub fn connect(&mut self, peer: PeerId, endpoint: &str) -> Result<(), TransportError> {
        self.links.remove(&peer);
        let s = self.ctx.socket(zmq::DEALER)?;
        s.set_identity(&self.own_routing_id)?;
        s.set_sndhwm(self.opts.send_hwm)?;
        s.set_sndtimeo(0)?;
        s.set_linger(self.opts.linger_ms)?;
        s.connect(endpoint)?;
        self.links.insert(peer, s);
        Ok(())
    }

    /// Queues a message to a peer without blocking.
    pub fn send(&self, peer: &PeerId, frames: &[Bytes]) -> Result<(), SendError> {
        let s = self.links.get(peer).ok_or(SendError::NoLink)?;
        let last = frames.len().saturating_sub(1);
        for (i, f) in frames.iter().enumerate() {
            let flags = if i < last {
                zmq::SNDMORE | zmq::DONTWAIT
            } else {
                zmq::DONTWAIT
            };
            if s.send(&f[..], flags).is_err() {
                // libzmq queues multipart messages atomically: only the first frame can fail
                // for want of room.
                return Err(SendError::Full);
            }
        }
        Ok(())
    }

    /// Closes the link to a peer.
    pub fn disconnect(&mut self, peer: &PeerId) {
        self.links.remove(peer);
    }

    /// Closes every link, giving queued messages `linger_ms` to leave.
    pub fn close_all(&mut self) {
        self.links.clear();
    }
}

fn to_bytes(m: zmq::Message) -> Bytes {
    Bytes::copy_from_slice(&m)
}
