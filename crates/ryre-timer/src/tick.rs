//! Ticks as a subscriber sees them: checked, numbered, with missed ticks counted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ryre::PeerId;

use crate::schedule::period_of;

/// One tick, accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Ticks per second.
    pub rate: u16,
    /// The tick's number since `t0`.
    pub n: u64,
    /// The time base (Unix ns): tick 0 was due then.
    pub t0: u64,
    /// When the tick was due (Unix ns, the timer's clock).
    pub scheduled: u64,
    /// When it arrived (Unix ns, our clock).
    pub received: u64,
    /// How many ticks were missed just before this one (a gap in the numbers).
    pub missed: u64,
    /// The timer node that sent it.
    pub from: PeerId,
}

impl Tick {
    /// Received minus scheduled, in ns (negative only when the clocks of two hosts differ).
    pub fn lateness_ns(&self) -> i64 {
        (i128::from(self.received) - i128::from(self.scheduled))
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// When the tick was due, as a `SystemTime`.
    pub fn scheduled_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.scheduled)
    }
}

/// Why a tick was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TickRejected {
    /// A number at or below the newest tick accepted: a duplicate, or forged from the past.
    #[error("tick {n} is not after tick {last}")]
    Stale {
        /// The tick's number.
        n: u64,
        /// The newest accepted.
        last: u64,
    },
    /// Its scheduled time is not `t0 + n / rate`.
    #[error("tick {n}: scheduled time does not fit t0 and rate")]
    Inconsistent {
        /// The tick's number.
        n: u64,
    },
    /// A time base older than the one in use.
    #[error("tick from an older time base")]
    OldEpoch,
    /// A tick of another rate.
    #[error("tick of {0} Hz where {1} Hz was expected")]
    WrongRate(u16, u16),
    /// A tick due further ahead of our clock than clocks can differ: forged (or a clock far off).
    #[error("tick {n} is due {ahead_ms} ms in the future")]
    Future {
        /// The tick's number.
        n: u64,
        /// How far ahead of our clock it is due.
        ahead_ms: u64,
    },
}

/// How far ahead of the receiver's clock a tick may be scheduled (clock difference between
/// hosts) before it is refused as [`TickRejected::Future`]: 2 s.
pub const MAX_AHEAD_NS: u64 = 2_000_000_000;

/// What a [`TickTracker`] has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickCounts {
    /// Ticks accepted.
    pub received: u64,
    /// Ticks never received (gaps in the numbers).
    pub missed: u64,
    /// Ticks refused as stale (duplicates or numbers from the past).
    pub stale: u64,
    /// Ticks refused as inconsistent, of another rate, or undecodable.
    pub malformed: u64,
    /// Times the time base changed (every timer node stopped and a new one started).
    pub new_epochs: u64,
}

/// Follows one rate's numbering: accepts each tick number once, in increasing order, and counts
/// the gaps.
#[derive(Debug, Clone)]
pub struct TickTracker {
    rate: u16,
    t0: Option<u64>,
    last: Option<u64>,
    counts: TickCounts,
}

impl TickTracker {
    /// A tracker for `rate` Hz.
    pub fn new(rate: u16) -> Self {
        TickTracker {
            rate,
            t0: None,
            last: None,
            counts: TickCounts::default(),
        }
    }

    /// The rate tracked.
    pub fn rate(&self) -> u16 {
        self.rate
    }

    /// The time base in use and the newest tick number accepted.
    pub fn position(&self) -> Option<(u64, u64)> {
        Some((self.t0?, self.last?))
    }

    /// What has been counted so far.
    pub fn counts(&self) -> TickCounts {
        self.counts
    }

    /// Counts a frame on the tick group that was not a tick.
    pub fn count_malformed(&mut self) {
        self.counts.malformed += 1;
    }

    /// Checks a tick received at `received` (Unix ns) from `from`.
    pub fn accept(
        &mut self,
        from: PeerId,
        rate: u16,
        n: u64,
        t0: u64,
        scheduled: u64,
        received: u64,
    ) -> Result<Tick, TickRejected> {
        let result = if scheduled > received.saturating_add(MAX_AHEAD_NS) {
            Err(TickRejected::Future {
                n,
                ahead_ms: (scheduled - received) / 1_000_000,
            })
        } else {
            self.check(rate, n, t0, scheduled)
        };
        let missed = match result {
            Ok(m) => m,
            Err(TickRejected::Stale { .. } | TickRejected::OldEpoch) => {
                self.counts.stale += 1;
                return Err(result.err().unwrap_or(TickRejected::OldEpoch));
            }
            Err(e) => {
                self.counts.malformed += 1;
                return Err(e);
            }
        };
        self.counts.received += 1;
        self.counts.missed += missed;
        self.last = Some(n);
        Ok(Tick {
            rate,
            n,
            t0,
            scheduled,
            received,
            missed,
            from,
        })
    }

    fn check(&mut self, rate: u16, n: u64, t0: u64, scheduled: u64) -> Result<u64, TickRejected> {
        if rate != self.rate {
            return Err(TickRejected::WrongRate(rate, self.rate));
        }
        let due = n
            .checked_mul(period_of(rate))
            .and_then(|d| t0.checked_add(d));
        if due != Some(scheduled) {
            return Err(TickRejected::Inconsistent { n });
        }
        match (self.t0, self.last) {
            (Some(cur), _) if t0 < cur => Err(TickRejected::OldEpoch),
            (Some(cur), Some(_)) if t0 > cur => {
                // Every timer restarted: a new numbering.
                self.t0 = Some(t0);
                self.counts.new_epochs += 1;
                Ok(0)
            }
            (_, Some(last)) if n <= last => Err(TickRejected::Stale { n, last }),
            (_, Some(last)) => Ok(n - last - 1),
            _ => {
                self.t0 = Some(t0);
                Ok(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 10_000_000; // 100 Hz
    /// A receive time after every tick of these tests.
    const LATER: u64 = u64::MAX / 2;

    fn id() -> PeerId {
        PeerId::from_bytes([7; 16])
    }

    #[test]
    fn contiguous_gaps_duplicates_and_forgeries() {
        let from = id();
        let mut t = TickTracker::new(100);
        let t0 = 1_000 * P;
        assert_eq!(
            t.accept(from, 100, 5, t0, t0 + 5 * P, LATER)
                .map(|k| k.missed),
            Ok(0)
        );
        assert_eq!(
            t.accept(from, 100, 6, t0, t0 + 6 * P, LATER)
                .map(|k| k.missed),
            Ok(0)
        );
        assert_eq!(
            t.accept(from, 100, 9, t0, t0 + 9 * P, LATER)
                .map(|k| k.missed),
            Ok(2)
        );
        assert_eq!(
            t.accept(from, 100, 9, t0, t0 + 9 * P, LATER),
            Err(TickRejected::Stale { n: 9, last: 9 })
        );
        assert_eq!(
            t.accept(from, 100, 3, t0, t0 + 3 * P, LATER),
            Err(TickRejected::Stale { n: 3, last: 9 })
        );
        assert_eq!(
            t.accept(from, 100, 10, t0, t0 + 10 * P + 1, LATER),
            Err(TickRejected::Inconsistent { n: 10 })
        );
        assert_eq!(
            t.accept(from, 10, 10, t0, t0 + 100 * P, LATER),
            Err(TickRejected::WrongRate(10, 100))
        );
        assert_eq!(
            t.accept(from, 100, 99, t0 - P, t0 + 98 * P, LATER),
            Err(TickRejected::OldEpoch)
        );
        let c = t.counts();
        assert_eq!((c.received, c.missed, c.stale, c.malformed), (3, 2, 3, 2));
        assert_eq!(t.position(), Some((t0, 9)));
    }

    #[test]
    fn ticks_from_the_future_are_refused() {
        let mut t = TickTracker::new(100);
        let now = 1_000_000 * P;
        assert!(t
            .accept(id(), 100, 10, now, now + 10 * P, now + 10 * P)
            .is_ok());
        let far = 100_000;
        assert_eq!(
            t.accept(id(), 100, far, now, now + far * P, now + 11 * P),
            Err(TickRejected::Future {
                n: far,
                ahead_ms: (far - 11) * 10
            })
        );
        assert_eq!(t.counts().malformed, 1);
        assert!(t
            .accept(id(), 100, 11, now, now + 11 * P, now + 11 * P)
            .is_ok());
    }

    #[test]
    fn a_newer_time_base_starts_a_new_numbering() {
        let from = id();
        let mut t = TickTracker::new(100);
        assert!(t.accept(from, 100, 50, 0, 50 * P, LATER).is_ok());
        let t1 = 10_000 * P;
        let k = t.accept(from, 100, 0, t1, t1, LATER).expect("new epoch");
        assert_eq!(k.missed, 0);
        assert_eq!(t.counts().new_epochs, 1);
        assert_eq!(t.position(), Some((t1, 0)));
    }

    #[test]
    fn overflowing_fields_are_inconsistent_not_a_panic() {
        let mut t = TickTracker::new(1000);
        assert_eq!(
            t.accept(id(), 1000, u64::MAX, u64::MAX, 0, 0),
            Err(TickRejected::Inconsistent { n: u64::MAX })
        );
        let k = Tick {
            rate: 1,
            n: 0,
            t0: 0,
            scheduled: u64::MAX,
            received: 0,
            missed: 0,
            from: id(),
        };
        assert_eq!(k.lateness_ns(), i64::MIN);
    }
}
