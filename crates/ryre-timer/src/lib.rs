//! # ryre-timer: one time base for a mesh
//!
//! A timer node serves ticks at one or more rates (default 1, 10 and 100 Hz; up to 1000 Hz) to
//! whoever joins the rate's group (`tick/100hz`), as ZRE SHOUTs carrying the tick number, the
//! rate, the time base `t0` and the scheduled time; tick `n` is due at `t0 + n / rate` seconds,
//! so nothing drifts. Several timer nodes may run: per rate exactly one ticks, chosen by ZRE's own
//! election (ELECT/LEADER in the group `timer/100hz`); when it dies the next leader continues the
//! same numbering from the same `t0` (learnt from the ticks it heard), so subscribers see no
//! duplicates and a gap no longer than the failover.
//!
//! Any node can also ask the wake-up leader (elected in `timer/wake`) for one-shot or periodic
//! wake-ups; [`Timers`] re-submits them when the leader changes and drops duplicates, so each
//! occurrence is delivered once.
//!
//! ```no_run
//! use std::time::Duration;
//! use ryre::Node;
//! use ryre_timer::{TimerConfig, TimerEvent, TimerServer, Timers};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TimerServer::start(Node::builder().name("timer"), TimerConfig::default())?;
//! let timers = Timers::start(Node::builder().name("app"))?;
//! timers.subscribe(10)?;
//! timers.wake_after(Duration::from_secs(1), b"coffee".as_slice())?;
//! while let Some(event) = timers.recv_timeout(Duration::from_secs(3))? {
//!     match event {
//!         TimerEvent::Tick(t) => println!("tick {} ({} µs late)", t.n, t.lateness_ns() / 1000),
//!         TimerEvent::Wake(w) => println!("wake-up {}: {:?}", w.id, w.payload),
//!         _ => {}
//!     }
//! }
//! server.stop()?;
//! # Ok(()) }
//! ```
//!
//! In certified mode (nodes started with `ryre::NodeBuilder::certificate`) a timer node's
//! certificate must grant the `timer` service and the rights of its groups, or
//! [`TimerServer::start`] refuses; it signs every tick, wake-up, rejection and announcement
//! (see [`proto`]), and a certified [`Timers`] takes them only from an admitted peer whose
//! certificate grants `timer` and whose signature verifies (the others are dropped and counted
//! in [`ClientCounts`]).
//!
//! The protocol's frames are specified in [`proto`].

#![warn(missing_docs)]

mod client;
pub mod jitter;
pub mod proto;
pub mod schedule;
mod server;
mod tick;

pub use client::{ClientCounts, TimerEvent, TimerStream, Timers, Wake};
pub use jitter::JitterStats;
pub use server::{required_rights, ServerEvent, TimerConfig, TimerServer, TimerStats};
pub use tick::{Tick, TickCounts, TickRejected, TickTracker};

use std::time::{SystemTime, UNIX_EPOCH};

/// The group where ticks of `rate` Hz are shouted: `tick/<rate>hz`.
pub fn tick_group(rate: u16) -> String {
    format!("tick/{rate}hz")
}

/// The group where timer nodes elect the one that ticks at `rate`: `timer/<rate>hz`.
pub fn election_group(rate: u16) -> String {
    format!("timer/{rate}hz")
}

/// The group where timer nodes elect the wake-up leader.
pub const WAKE_GROUP: &str = "timer/wake";
/// The group wake-up clients join; the wake-up leader announces itself there.
pub const CLIENTS_GROUP: &str = "timer/clients";
/// The HELLO header a timer node carries: its rates, comma-separated (e.g. `1,10,100`).
pub const RATES_HEADER: &str = "X-RYRE-TIMER";

/// Errors of the timer service.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    /// The node failed.
    #[error(transparent)]
    Node(#[from] ryre::Error),
    /// A message could not be encoded (payload too large, ...).
    #[error(transparent)]
    Encode(#[from] proto::EncodeError),
    /// A rate of 0 or above 1000 Hz.
    #[error("rate {0} Hz is outside 1..=1000")]
    BadRate(u16),
    /// A timer node with no rate and no wake-ups to serve.
    #[error("a timer node needs at least one rate or wake-ups to serve")]
    NothingToServe,
    /// A time before 1970 or past the year 2554.
    #[error("time out of range")]
    TimeOutOfRange,
    /// A period under 1 ms.
    #[error("a period must be at least 1 ms")]
    PeriodTooShort,
    /// Certified mode: the node's certificate does not grant the `timer` service, so no
    /// certified subscriber would take its ticks.
    #[error("the certificate of {name} does not grant the timer service (issue it with --services timer)")]
    NoTimerService {
        /// The certificate's name.
        name: String,
    },
    /// Certified mode: the node's certificate lacks a right in a group the timer node uses.
    #[error("the certificate of {name} does not grant {right} in {group} ({why})")]
    NotEntitled {
        /// The certificate's name.
        name: String,
        /// The group.
        group: String,
        /// The rights it needs there.
        right: ryre::certs::Rights,
        /// What the timer node does there.
        why: &'static str,
    },
}

/// Why a certified node dropped a timer message from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a timer message.
    Malformed,
    /// Certified mode: not signed.
    Unsigned,
    /// Certified mode: the signature is not the sender's over these bytes.
    Forged,
    /// Certified mode: the sender's certificate does not grant `timer` (or it is no longer
    /// admitted).
    Unentitled,
}

/// Decodes a frame from `peer` that a timer node served; on a certified node (`certified`),
/// only a signed one whose signature is `peer`'s and whose certificate grants `timer`.
pub(crate) fn check_served(
    node: &ryre::Node,
    certified: bool,
    peer: &ryre::PeerId,
    frame: &bytes::Bytes,
) -> Result<proto::TimerMsg, Refused> {
    let (msg, sig) = proto::TimerMsg::decode_frame(frame).map_err(|_| Refused::Malformed)?;
    if !certified {
        return Ok(msg);
    }
    let (signed, sig) = sig.ok_or(Refused::Unsigned)?;
    use ryre::certs::SignatureError as E;
    match node.check_signature(
        peer,
        ryre::certs::Services::TIMER,
        proto::DOMAIN,
        &signed,
        &sig,
    ) {
        Ok(()) => Ok(msg),
        Err(E::Forged(_)) => Err(Refused::Forged),
        Err(_) => Err(Refused::Unentitled),
    }
}

/// Encodes a message a timer node serves: signed when `signing` (certified mode).
pub(crate) fn encode_served(
    node: &ryre::Node,
    signing: bool,
    msg: &proto::TimerMsg,
) -> Option<bytes::Bytes> {
    if signing {
        msg.encode_signed(|b| node.sign(proto::DOMAIN, b))
            .ok()
            .flatten()
    } else {
        msg.encode().ok()
    }
}

/// Checks a rate: 1..=1000 Hz.
pub fn check_rate(rate: u16) -> Result<u16, TimerError> {
    if rate == 0 || rate > proto::MAX_RATE {
        Err(TimerError::BadRate(rate))
    } else {
        Ok(rate)
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub fn unix_now() -> u64 {
    unix_ns(SystemTime::now()).unwrap_or(0)
}

/// A time in nanoseconds since the Unix epoch, if it fits.
pub fn unix_ns(t: SystemTime) -> Option<u64> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(d.as_nanos()).ok()
}
