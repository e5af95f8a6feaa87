//! One-shot timers on a binary heap. Cancelled timers are dropped lazily when they surface.

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
    /// The backstop of socket `socket`'s receive low-water mark (`id` tells the connection
    /// from a later one in the same slot).
    RecvLowat { socket: usize, id: u64 },
}

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
