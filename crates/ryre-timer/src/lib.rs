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
pub use server::{ServerEvent, TimerConfig, TimerServer, TimerStats};
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
