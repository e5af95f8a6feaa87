//! One-shot timers on a binary heap. Cancelled timers are dropped lazily when they surface, or
//! all at once when they outnumber the live ones (a per-request timeout that is cancelled when
//! the request ends would otherwise keep an entry per request for the whole timeout).

use crate::engine::pipeline::PipelineId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

pub type TimerId = u64;

/// Who a timer wakes.
#[derive(Clone, Copy, Debug)]
pub enum TimerTarget {
    Filter {
        pipeline: PipelineId,
        filter: usize,
        tag: u64,
    },
    /// A periodic task.
    Task(usize),
    /// The worker's socket-timeout sweep.
    Sweep,
    /// A shared receiver's timer: `(receiver id, tag)`.
    Shared(u64, u64),
    /// The listener at this index tries `accept` again after running out of descriptors or
    /// memory.
    Accept(usize),
    /// The backstop of socket `socket`'s receive low-water mark (`id` tells the connection
    /// from a later one in the same slot).
    RecvLowat { socket: usize, id: u64 },
}

/// Below this many queued timers cancelled ones are left for `next_timeout` and `expired`.
const COMPACT_AT: usize = 1024;

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, TimerTarget>,
    next: TimerId,
}

impl Timers {
    pub fn arm(&mut self, after: Duration, target: TimerTarget) -> TimerId {
        self.arm_at(Instant::now() + after, target)
    }

    pub fn arm_at(&mut self, at: Instant, target: TimerTarget) -> TimerId {
        self.next += 1;
        let id = self.next;
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, target);
        id
    }

    pub fn arm_filter(&mut self, after: Duration, p: PipelineId, f: usize, tag: u64) -> TimerId {
        self.arm(
            after,
            TimerTarget::Filter {
                pipeline: p,
                filter: f,
                tag,
            },
        )
    }

    pub fn cancel(&mut self, id: TimerId) {
        self.live.remove(&id);
        if self.heap.len() > COMPACT_AT.max(2 * self.live.len()) {
            let live = &self.live;
            self.heap.retain(|Reverse((_, id))| live.contains_key(id));
        }
    }

    /// Timers in the heap, cancelled ones not yet dropped included.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.heap.len()
    }

    /// Time until the earliest live timer.
    pub fn next_timeout(&mut self, now: Instant) -> Option<Duration> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if self.live.contains_key(&id) {
                return Some(at.saturating_duration_since(now));
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns every timer due at `now`.
    pub fn expired(&mut self, now: Instant, out: &mut Vec<TimerTarget>) {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(t) = self.live.remove(&id) {
                out.push(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let mut timers = Timers::default();
        let keep = timers.arm(Duration::from_secs(60), TimerTarget::Sweep);
        for _ in 0..100_000 {
            let t = timers.arm(Duration::from_secs(10), TimerTarget::Task(0));
            timers.cancel(t);
        }
        assert!(
            timers.queued() <= COMPACT_AT + 1,
            "{} queued",
            timers.queued()
        );
        let now = Instant::now();
        let next = timers.next_timeout(now).map(|d| d.as_secs());
        assert!(
            next.is_some_and(|s| s > 50),
            "the live timer survives: {next:?}"
        );
        timers.cancel(keep);
        assert_eq!(timers.next_timeout(now), None);
    }

    #[test]
    fn timers_expire_in_order_and_cancelled_ones_never() {
        let mut timers = Timers::default();
        let start = Instant::now();
        timers.arm_at(start + Duration::from_millis(3), TimerTarget::Task(3));
        let gone = timers.arm_at(start + Duration::from_millis(2), TimerTarget::Task(2));
        timers.arm_at(start + Duration::from_millis(1), TimerTarget::Task(1));
        timers.cancel(gone);
        let mut out = Vec::new();
        timers.expired(start + Duration::from_millis(5), &mut out);
        let tasks: Vec<_> = out
            .iter()
            .map(|t| match t {
                TimerTarget::Task(i) => *i,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tasks, [1, 3]);
    }
}
