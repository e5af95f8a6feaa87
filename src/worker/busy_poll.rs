//! Busy polling: for a while after the last I/O event, the worker polls without sleeping.
//!
//! A worker that sleeps in `epoll_wait` gives its CPU back. On a virtual machine (and on CPUs
//! with deep idle states) waking it for the next packet then takes tens to hundreds of
//! microseconds, once for the client's request and again for the origin's response: at moderate
//! load that wake-up, not the proxying, is most of the latency a proxy adds (bench/RESULTS.md,
//! *latency*). With `--busy-poll=TIME` the worker keeps polling with a zero timeout until TIME
//! has passed without an event, then sleeps as usual. Unlike HAProxy's `busy-polling`, which
//! never sleeps, an idle worker still costs nothing; a busy one costs up to one CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The window in nanoseconds; 0 is off. Set before workers start (they inherit it).
static WINDOW_NANOS: AtomicU64 = AtomicU64::new(0);

/// Sets the window for workers started after this call (`None` or zero: never spin).
pub fn set_window(window: Option<Duration>) {
    let nanos = window.map_or(0, |w| u64::try_from(w.as_nanos()).unwrap_or(u64::MAX));
    WINDOW_NANOS.store(nanos, Ordering::Relaxed);
}

/// A worker's busy-polling state.
pub struct BusyPoll {
    window: Option<Duration>,
    /// When the worker last saw an event.
    last_event: Instant,
}

impl BusyPoll {
    /// The state of a worker starting now, with the window set by [`set_window`].
    pub fn new(now: Instant) -> BusyPoll {
        let nanos = WINDOW_NANOS.load(Ordering::Relaxed);
        BusyPoll {
            window: (nanos > 0).then(|| Duration::from_nanos(nanos)),
            last_event: now,
        }
    }

    /// Called when a poll returned events.
    pub fn saw_events(&mut self, now: Instant) {
        self.last_event = now;
    }

    /// The poll timeout to use instead of `planned`: zero within the window after the last
    /// event, `planned` (the next timer, or `None` to wait for I/O) otherwise.
    pub fn timeout(&self, now: Instant, planned: Option<Duration>) -> Option<Duration> {
        match self.window {
            Some(w) if now.saturating_duration_since(self.last_event) < w => Some(Duration::ZERO),
            _ => planned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_only_within_the_window_after_the_last_event() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut b = BusyPoll {
            window: Some(ms(2)),
            last_event: start,
        };
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
        let b = BusyPoll {
            window: None,
            last_event: now,
        };
        assert_eq!(b.timeout(now, None), None);
        assert_eq!(
            b.timeout(now, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }
}
