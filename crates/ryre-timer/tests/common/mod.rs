//! Bounded waits shared by the timer tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ryre_timer::{Tick, TimerEvent, Timers};

/// Every wait of these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// The next timer event matching `pred` (others are dropped), failing after [`WAIT`] with the
/// node's name and the client's counters.
pub fn expect<T>(timers: &Timers, what: &str, mut pred: impl FnMut(TimerEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{}: no {what} within {WAIT:?}: {:?}",
            timers.node().name(),
            timers.counts()
        );
        if let Some(ev) = timers.recv_timeout(left).expect("node running") {
            if let Some(t) = pred(ev) {
                return t;
            }
        }
    }
}

/// The next tick.
pub fn next_tick(timers: &Timers) -> Tick {
    expect(timers, "tick", |ev| match ev {
        TimerEvent::Tick(t) => Some(t),
        _ => None,
    })
}
