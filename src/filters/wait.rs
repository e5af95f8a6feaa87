//! `wait(cond, {timeout})`: holds every event until `cond()` is truthy, then releases them in
//! order and passes the rest of the stream through.
//!
//! The condition is checked on each new event and, while events are held, on a short re-check
//! timer (Pipy re-checks whenever a `connect` of the same context group delivers something; a
//! timer covers that and any other change of state). `timeout` releases the events anyway.

use super::{Callback, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal};
use crate::worker::core::TimerId;
use std::time::Duration;

/// How often a held stream re-checks its condition.
const RECHECK: Duration = Duration::from_millis(20);

const TAG_RECHECK: u64 = 0;
const TAG_TIMEOUT: u64 = 1;

pub fn build_wait(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let cond = a.need_callback(0)?;
    let timeout = a.seconds_option(1, "timeout")?;
    Ok(Box::new(WaitFactory { cond, timeout }))
}

struct WaitFactory {
    cond: Callback,
    timeout: Option<Duration>,
}

impl FilterFactory for WaitFactory {
    fn name(&self) -> &'static str {
        "wait"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Wait {
            cond: self.cond.clone(),
            timeout: self.timeout,
            state: State::Waiting(Vec::new()),
            recheck: None,
            deadline: None,
        })
    }
}

enum State {
    /// Condition not met yet: events held here.
    Waiting(Vec<Event>),
    Released,
    /// The condition threw; the stream was ended.
    Failed,
}

struct Wait {
    cond: Callback,
    timeout: Option<Duration>,
    state: State,
    recheck: Option<TimerId>,
    deadline: Option<TimerId>,
}

impl Wait {
    fn release(&mut self, cx: &mut Cx) {
        if let State::Waiting(held) = std::mem::replace(&mut self.state, State::Released) {
            for ev in held {
                cx.output(ev);
            }
        }
        self.cancel_timers(cx);
    }

    fn cancel_timers(&mut self, cx: &mut Cx) {
        for t in [self.recheck.take(), self.deadline.take()]
            .into_iter()
            .flatten()
        {
            cx.cancel_timer(t);
        }
    }

    /// Evaluates the condition; releases the held events when it holds.
    fn check(&mut self, cx: &mut Cx) {
        match self.cond.call(cx, &[]) {
            Ok(v) if v.to_boolean() => self.release(cx),
            Ok(_) => {}
            Err(()) => {
                self.state = State::Failed;
                self.cancel_timers(cx);
                cx.output(Event::StreamEnd(StreamError::RuntimeError));
            }
        }
    }
}

impl Filter for Wait {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match &self.state {
            State::Released => return cx.output(ev),
            State::Failed => return,
            State::Waiting(_) => {}
        }
        self.check(cx);
        match &mut self.state {
            State::Released => cx.output(ev),
            State::Failed => {}
            State::Waiting(held) => {
                held.push(ev);
                if self.deadline.is_none()
                    && let Some(t) = self.timeout
                {
                    self.deadline = Some(cx.set_timer(t, TAG_TIMEOUT));
                }
                if self.recheck.is_none() {
                    self.recheck = Some(cx.set_timer(RECHECK, TAG_RECHECK));
                }
            }
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if !matches!(self.state, State::Waiting(_)) {
            return;
        }
        match sig {
            Signal::Timer(TAG_TIMEOUT) => {
                self.deadline = None;
                self.release(cx);
            }
            Signal::Timer(_) => {
                self.recheck = None;
                self.check(cx);
                if matches!(self.state, State::Waiting(_)) {
                    self.recheck = Some(cx.set_timer(RECHECK, TAG_RECHECK));
                }
            }
            Signal::Wake(_) => self.check(cx),
            _ => {}
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        self.cancel_timers(cx);
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "wait",
    "condition: () => bool, options?: {timeout?}",
    "Holds the stream until the condition holds (re-checked every 20 ms) or the timeout passes",
    build_wait
),];
