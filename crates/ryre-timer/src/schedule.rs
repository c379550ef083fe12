//! When to send what: the numbering of ticks and wake-ups, free of clocks and sockets.
//!
//! Occurrence `k` of a schedule is due at `base + (k - first) × period`. The next one is sent when
//! it is due; a late one is sent late rather than skipped (so the numbers stay contiguous through
//! a hiccup), unless it is more than `max_late` periods late: then the schedule jumps to the
//! occurrence due now and the skip shows as a gap in the numbers. Nothing drifts: lateness never
//! moves later occurrences.

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The period of a rate in Hz, in nanoseconds.
pub fn period_of(rate_hz: u16) -> u64 {
    NANOS_PER_SEC / u64::from(rate_hz.max(1))
}

/// A numbered series of due times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The number of the occurrence due at `base`.
    pub first: u64,
    /// When occurrence `first` is due (ns on the sender's clock).
    pub base: u64,
    /// Nanoseconds between occurrences; 0 for a one-shot.
    pub period: u64,
    /// How many periods late an occurrence may be sent before the schedule skips ahead.
    pub max_late: u64,
    /// The next occurrence to send.
    pub next: u64,
}

impl Schedule {
    /// A schedule whose next occurrence is `first`.
    pub fn new(first: u64, base: u64, period: u64, max_late: u64) -> Self {
        Schedule {
            first,
            base,
            period,
            max_late,
            next: first,
        }
    }

    /// Ticks of a time base `t0`, continuing after `last` (the newest tick number already sent or
    /// seen, if any).
    pub fn ticks(t0: u64, period: u64, max_late: u64, last: Option<u64>) -> Self {
        let mut s = Schedule::new(0, t0, period, max_late);
        s.next = last.map_or(0, |l| l.saturating_add(1));
        s
    }

    /// Whether this is a one-shot (one occurrence only).
    pub fn is_once(&self) -> bool {
        self.period == 0
    }

    /// Whether a one-shot has been sent.
    pub fn is_done(&self) -> bool {
        self.is_once() && self.next > self.first
    }

    /// When occurrence `k` is due, or `None` past the end of time.
    pub fn due(&self, k: u64) -> Option<u64> {
        let steps = k.checked_sub(self.first)?;
        steps
            .checked_mul(self.period)
            .and_then(|d| self.base.checked_add(d))
    }

    /// When the next occurrence is due (`None`: never, the schedule is over).
    pub fn next_due(&self) -> Option<u64> {
        if self.is_done() {
            return None;
        }
        self.due(self.next)
    }

    /// If an occurrence is due at `now`, takes it: its number and due time. Late by more than
    /// `max_late` periods, the schedule skips to the newest occurrence due.
    pub fn take(&mut self, now: u64) -> Option<(u64, u64)> {
        let due = self.next_due()?;
        if now < due {
            return None;
        }
        if !self.is_once() {
            let late = now - due;
            if late > self.max_late.saturating_mul(self.period) {
                let newest = self.first.saturating_add((now - self.base) / self.period);
                self.next = newest.max(self.next);
            }
        }
        let k = self.next;
        let due = self.due(k)?;
        self.next = k.saturating_add(1);
        Some((k, due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn on_time_ticks_are_contiguous_and_do_not_drift() {
        let mut s = Schedule::ticks(1_000 * MS, 10 * MS, 5, None);
        assert_eq!(s.take(999 * MS), None);
        assert_eq!(s.take(1_000 * MS), Some((0, 1_000 * MS)));
        assert_eq!(s.take(1_001 * MS), None);
        // Tick 1 sent 3 ms late: tick 2 is still due at t0 + 20 ms.
        assert_eq!(s.take(1_013 * MS), Some((1, 1_010 * MS)));
        assert_eq!(s.next_due(), Some(1_020 * MS));
    }

    #[test]
    fn late_within_max_late_is_sent_late_not_skipped() {
        let mut s = Schedule::ticks(0, 10 * MS, 5, None);
        assert_eq!(s.take(0), Some((0, 0)));
        // 40 ms later: ticks 1..=4 are due, each within 5 periods: all sent, in order.
        let got: Vec<u64> = std::iter::from_fn(|| s.take(40 * MS).map(|(k, _)| k)).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
    }

    #[test]
    fn too_late_skips_ahead_with_a_visible_gap() {
        let mut s = Schedule::ticks(0, 10 * MS, 5, None);
        assert_eq!(s.take(0), Some((0, 0)));
        // A one second stall: tick 1 is 99 periods late; skip to tick 100 (due now).
        assert_eq!(s.take(1_000 * MS), Some((100, 1_000 * MS)));
        assert_eq!(s.take(1_000 * MS), None);
        assert_eq!(s.next_due(), Some(1_010 * MS));
    }

    #[test]
    fn continuing_after_a_seen_tick_never_repeats_it() {
        let mut s = Schedule::ticks(0, 10 * MS, 5, Some(41));
        // Even if our clock says tick 40 is due now, the next is 42.
        assert_eq!(s.take(400 * MS), None);
        assert_eq!(s.take(420 * MS), Some((42, 420 * MS)));
        // After a long failover the continuation jumps to now.
        let mut s = Schedule::ticks(0, 10 * MS, 5, Some(41));
        assert_eq!(s.take(2_000 * MS), Some((200, 2_000 * MS)));
    }

    #[test]
    fn one_shots_fire_once_even_late() {
        let mut s = Schedule::new(0, 50 * MS, 0, 5);
        assert_eq!(s.take(49 * MS), None);
        assert_eq!(s.take(5_000 * MS), Some((0, 50 * MS)));
        assert!(s.is_done());
        assert_eq!(s.take(6_000 * MS), None);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn resubmitted_periodic_starts_at_its_first_occurrence() {
        let mut s = Schedule::new(7, 700 * MS, 100 * MS, 3);
        assert_eq!(s.take(650 * MS), None);
        assert_eq!(s.take(700 * MS), Some((7, 700 * MS)));
        assert_eq!(s.take(800 * MS), Some((8, 800 * MS)));
    }

    #[test]
    fn arithmetic_never_overflows() {
        let mut s = Schedule::new(0, u64::MAX - 5, 10, u64::MAX);
        assert_eq!(s.take(u64::MAX), Some((0, u64::MAX - 5)));
        assert_eq!(s.take(u64::MAX), None);
        assert_eq!(s.next_due(), None);
        let mut s = Schedule::ticks(0, 1, 0, Some(u64::MAX));
        assert_eq!(s.take(u64::MAX), Some((u64::MAX, u64::MAX)));
        assert_eq!(period_of(0), NANOS_PER_SEC);
        assert_eq!(period_of(1000), 1_000_000);
    }
}
