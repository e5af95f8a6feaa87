//! Busy polling: when it runs out of work, the worker polls a while longer before it sleeps.
//!
//! A worker that sleeps in `epoll_wait` gives its CPU back, and whoever next sends it a packet
//! pays to wake it. On a virtual machine that wake-up is an inter-processor interrupt, a trip
//! through the hypervisor on the sender's CPU and another on the sleeper's: tens of
//! microseconds of latency, and CPU time taken from the client or origin that sent the packet
//! (bench/ANALYSIS.md, "hello"). Polling with a zero timeout for a few microseconds more catches
//! the next packet without that trip, if it comes soon.
//!
//! Three policies ([`BusyPollMode`]):
//! - **off** (the default, as nginx does) sleeps at once.
//! - **adaptive** (`--busy-poll=auto`) learns from the gaps between events how long spinning
//!   pays, in the way Linux's `haltpoll` idle governor does for a KVM guest's CPUs: the window
//!   doubles (from [`ADAPTIVE_START`] up to [`ADAPTIVE_MAX`]) each time the worker slept
//!   through a gap the longest window would have covered, and drops to zero after a gap
//!   longer than that. Spinning is paid for by work done (up to [`CREDIT_MAX`] banked), so it
//!   at most doubles the CPU the worker uses, whatever the spacing of the traffic. A loaded
//!   worker spins through its short gaps; an idle one spends nothing.
//! - **fixed** (`--busy-poll=TIME`) spins for TIME after each event, whatever the traffic: the
//!   latency option, at up to one CPU per busy worker.
//!
//! Off stays the default because what spinning saves falls mostly on a sender on the same host
//! (a local client or origin woken less often), while what it costs, CPU time at moderate load
//! that shows in `top` and counts against a container's quota, falls everywhere
//! (docs/performance.md, "Busy polling").

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest adaptive window. Long enough for a loaded worker's gaps between batches (a few
/// microseconds) and for an origin's answer on the same host (tens); a gap longer than this is
/// the traffic going quiet, not a packet on its way.
pub const ADAPTIVE_MAX: Duration = Duration::from_micros(50);

/// The first adaptive window after a gap the worker slept through.
pub const ADAPTIVE_START: Duration = Duration::from_micros(10);

/// The most spinning time a worker may bank from its work, so that a long busy spell does not
/// pay for spinning through the quiet that follows it.
pub const CREDIT_MAX: Duration = Duration::from_millis(1);

/// How a worker polls once it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyPollMode {
    /// Sleep at once.
    Off,
    /// Spin for a window learnt from the gaps between events.
    Adaptive,
    /// Spin for this long after the last event.
    Fixed(Duration),
}

/// The mode of workers started from now on. Set before workers start (they inherit it).
static MODE: Mutex<BusyPollMode> = Mutex::new(BusyPollMode::Off);

/// Sets the mode of workers started after this call.
pub fn set_mode(mode: BusyPollMode) {
    *MODE.lock().unwrap_or_else(PoisonError::into_inner) = mode;
}

/// Whether the worker is working through events or waiting for the next.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Since a poll returned events at `since`.
    Working { since: Instant },
    /// Out of work since `since`.
    Idle { since: Instant },
}

/// A mode with the state it keeps between polls.
enum Policy {
    Off,
    Fixed(Duration),
    Adaptive(AdaptiveWindow),
}

/// What the adaptive policy has learnt.
#[derive(Debug, Default)]
struct AdaptiveWindow {
    /// The window learnt from the gaps so far.
    window: Duration,
    /// Spinning time earned by working and not yet spent: spinning never exceeds the work
    /// done, so it at most doubles the CPU the worker uses.
    credit: Duration,
}

impl AdaptiveWindow {
    /// How long to spin now: the learnt window, as far as the credit pays for it.
    fn current(&self) -> Duration {
        self.window.min(self.credit)
    }

    /// The worker ran out of work after `worked` of it: that much spinning is paid for.
    fn worked(&mut self, worked: Duration) {
        self.credit = (self.credit + worked).min(CREDIT_MAX);
    }

    /// The worker saw events `gap` after running out of work.
    fn learn(&mut self, gap: Duration) {
        self.credit = self.credit.saturating_sub(gap.min(self.current()));
        if gap <= self.window {
            // Caught while spinning (or the credit cut the window short): keep it.
        } else if gap <= ADAPTIVE_MAX {
            // Slept through a gap a longer window would have covered.
            self.window = (self.window * 2).clamp(ADAPTIVE_START, ADAPTIVE_MAX);
        } else {
            // The traffic went quiet: spinning would have been wasted.
            self.window = Duration::ZERO;
        }
    }
}

/// A worker's busy-polling state.
pub struct BusyPoll {
    policy: Policy,
    phase: Phase,
}

impl BusyPoll {
    /// The state of a worker starting now, in the mode set by [`set_mode`].
    pub fn new(now: Instant) -> BusyPoll {
        BusyPoll::with_mode(*MODE.lock().unwrap_or_else(PoisonError::into_inner), now)
    }

    fn with_mode(mode: BusyPollMode, now: Instant) -> BusyPoll {
        let policy = match mode {
            BusyPollMode::Off => Policy::Off,
            BusyPollMode::Fixed(w) => Policy::Fixed(w),
            BusyPollMode::Adaptive => Policy::Adaptive(AdaptiveWindow::default()),
        };
        BusyPoll {
            policy,
            phase: Phase::Idle { since: now },
        }
    }

    /// Called before a poll when the worker has nothing left to do: the timeout to use instead
    /// of `planned` (the next timer, or `None` to wait for I/O). Zero while within the window
    /// since the worker ran out of work, `planned` once past it.
    pub fn timeout(&mut self, now: Instant, planned: Option<Duration>) -> Option<Duration> {
        let since = match self.phase {
            Phase::Working { since } => {
                if let Policy::Adaptive(a) = &mut self.policy {
                    a.worked(now.saturating_duration_since(since));
                }
                self.phase = Phase::Idle { since: now };
                now
            }
            Phase::Idle { since } => since,
        };
        let window = match &self.policy {
            Policy::Off => return planned,
            Policy::Fixed(w) => *w,
            Policy::Adaptive(a) => a.current(),
        };
        if now.saturating_duration_since(since) < window {
            Some(Duration::ZERO)
        } else {
            planned
        }
    }

    /// Called when a poll returned I/O events at `now`: the gap since the worker ran out of
    /// work tells the adaptive window whether spinning paid.
    pub fn saw_events(&mut self, now: Instant) {
        let Phase::Idle { since } = self.phase else {
            return;
        };
        self.phase = Phase::Working { since: now };
        if let Policy::Adaptive(a) = &mut self.policy {
            a.learn(now.saturating_duration_since(since));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learnt(b: &BusyPoll) -> &AdaptiveWindow {
        match &b.policy {
            Policy::Adaptive(a) => a,
            _ => panic!("not adaptive"),
        }
    }

    fn learnt_mut(b: &mut BusyPoll) -> &mut AdaptiveWindow {
        match &mut b.policy {
            Policy::Adaptive(a) => a,
            _ => panic!("not adaptive"),
        }
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Works from `*t` for `work`, then sits out `gap` (polling at its start) until events come.
    fn turn(b: &mut BusyPoll, t: &mut Instant, work: Duration, gap: Duration) {
        *t += work;
        b.timeout(*t, None);
        *t += gap;
        b.saw_events(*t);
    }

    #[test]
    fn fixed_spins_only_within_the_window_after_running_out_of_work() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut b = BusyPoll::with_mode(BusyPollMode::Fixed(ms(2)), start);
        b.saw_events(start);
        assert_eq!(b.timeout(start, None), Some(Duration::ZERO));
        assert_eq!(b.timeout(start + ms(1), None), Some(Duration::ZERO));
        assert_eq!(b.timeout(start + ms(1), Some(ms(50))), Some(Duration::ZERO));
        assert_eq!(b.timeout(start + ms(2), None), None);
        assert_eq!(b.timeout(start + ms(3), Some(ms(50))), Some(ms(50)));
        b.saw_events(start + ms(3));
        assert_eq!(b.timeout(start + ms(4), None), Some(Duration::ZERO));
    }

    #[test]
    fn off_keeps_the_planned_timeout() {
        let now = Instant::now();
        let mut b = BusyPoll::with_mode(BusyPollMode::Off, now);
        assert_eq!(b.timeout(now, None), None);
        b.saw_events(now);
        assert_eq!(
            b.timeout(now, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn adaptive_starts_asleep_and_grows_through_short_gaps() {
        let mut t = Instant::now();
        let mut b = BusyPoll::with_mode(BusyPollMode::Adaptive, t);
        assert_eq!(b.timeout(t, None), None, "no window before any gap");
        t += us(5);
        b.saw_events(t);
        assert_eq!(learnt(&b).window, ADAPTIVE_START);
        for expected in [us(20), us(40), ADAPTIVE_MAX, ADAPTIVE_MAX] {
            turn(&mut b, &mut t, us(100), ADAPTIVE_MAX);
            assert_eq!(learnt(&b).window, expected);
        }
        // Within the window after running out of work the worker spins; past it, it sleeps
        // until the next timer.
        t += us(100);
        assert_eq!(b.timeout(t, Some(us(900))), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(49), Some(us(900))), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(50), Some(us(900))), Some(us(900)));
    }

    #[test]
    fn adaptive_keeps_a_window_that_catches_the_next_event() {
        let mut t = Instant::now();
        let mut b = BusyPoll::with_mode(BusyPollMode::Adaptive, t);
        b.saw_events(t);
        turn(&mut b, &mut t, us(100), us(5));
        turn(&mut b, &mut t, us(100), us(15));
        assert_eq!(learnt(&b).window, us(20));
        for _ in 0..10 {
            turn(&mut b, &mut t, us(100), us(18));
        }
        assert_eq!(learnt(&b).window, us(20));
    }

    #[test]
    fn adaptive_stops_spinning_after_a_long_gap() {
        let mut t = Instant::now();
        let mut b = BusyPoll::with_mode(BusyPollMode::Adaptive, t);
        b.saw_events(t);
        for _ in 0..3 {
            turn(&mut b, &mut t, us(100), us(30));
        }
        assert_eq!(learnt(&b).window, us(40));
        turn(&mut b, &mut t, us(100), us(1000));
        assert_eq!(learnt(&b).window, Duration::ZERO);
        t += us(100);
        assert_eq!(b.timeout(t, None), None);
    }

    #[test]
    fn adaptive_spins_no_longer_than_it_worked() {
        let mut t = Instant::now();
        let mut b = BusyPoll::with_mode(BusyPollMode::Adaptive, t);
        b.saw_events(t);
        learnt_mut(&mut b).window = ADAPTIVE_MAX;
        // 8 µs of work pays for 8 µs of spinning, spent here in full.
        t += us(8);
        assert_eq!(b.timeout(t, None), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(7), None), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(8), None), None);
        t += us(20);
        b.saw_events(t);
        assert_eq!(learnt(&b).credit, Duration::ZERO);
        // 3 µs of work, 3 µs of spinning, whatever the window.
        t += us(3);
        assert_eq!(b.timeout(t, None), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(2), None), Some(Duration::ZERO));
        assert_eq!(b.timeout(t + us(3), None), None);
        // A long busy spell banks at most CREDIT_MAX.
        b.saw_events(t + us(10));
        t += us(10) + Duration::from_secs(1);
        b.timeout(t, None);
        assert_eq!(learnt(&b).credit, CREDIT_MAX);
    }
}
