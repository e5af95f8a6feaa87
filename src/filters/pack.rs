//! `pack(batch = 1, {vacancy, timeout, interval})`: concatenates the bodies of `batch` messages
//! into one message carrying the head of the first.
//!
//! - `timeout`: a batch with at least one complete message is flushed once no message has ended
//!   for that long. Unlike Pipy 0.30 (whose check timer is never re-armed), the timer is re-armed
//!   while a batch is pending, so the timeout does fire.
//! - `interval`: on a MessageEnd, the batch is flushed when that long has passed since the last
//!   flush (or since the first event, before any flush).
//! - On StreamEnd the complete messages of a partial batch are flushed *before* the StreamEnd is
//!   passed on, so the last batch is delivered (Pipy 0.30 loses it when a merge session tears
//!   down).
//! - `vacancy` tunes Pipy's chunk packing; bodies here are ropes of shared buffers, so it is
//!   accepted and ignored.

use super::FilterArgs;
use crate::engine::data::Data;
use crate::engine::event::Event;
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal};
use crate::engine::head::Head;
use crate::worker::core::TimerId;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default)]
struct Options {
    timeout: Option<Duration>,
    interval: Option<Duration>,
}

pub fn build_pack(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let b = a.arg(0);
    let batch = if b.is_null_or_undefined() {
        1
    } else {
        let n = b.to_number(a.ctx).map_err(|e| e.to_string())?;
        if !n.is_finite() || n < 0.0 {
            return Err("batch size must be a non-negative number".into());
        }
        (n as usize).max(1)
    };
    let opts = Options {
        timeout: a.seconds_option(1, "timeout")?,
        interval: a.seconds_option(1, "interval")?,
    };
    let vacancy = a.option(1, "vacancy")?;
    if !vacancy.is_undefined() && !vacancy.is_number() {
        return Err("options.vacancy expects a number".into());
    }
    Ok(Box::new(PackFactory { batch, opts }))
}

struct PackFactory {
    batch: usize,
    opts: Options,
}

impl FilterFactory for PackFactory {
    fn name(&self) -> &'static str {
        "pack"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Pack {
            batcher: Batcher::new(self.batch),
            opts: self.opts,
            last_end: None,
            last_flush: None,
            timer: None,
        })
    }
    fn detail(&self) -> String {
        format!("{}", self.batch)
    }
}

/// The message-counting part of `pack`, free of timers.
struct Batcher {
    batch: usize,
    head: Option<Head>,
    body: Data,
    /// Body length up to the last MessageEnd: what a flush on StreamEnd may deliver.
    complete_len: usize,
    starts: usize,
    ends: usize,
}

/// A packed message ready to be output.
struct Packed {
    head: Head,
    body: Data,
}

impl Batcher {
    fn new(batch: usize) -> Batcher {
        Batcher {
            batch,
            head: None,
            body: Data::new(),
            complete_len: 0,
            starts: 0,
            ends: 0,
        }
    }

    fn start(&mut self, head: Head) {
        if self.starts == 0 {
            self.head = Some(head);
            self.body = Data::new();
            self.complete_len = 0;
        }
        self.starts += 1;
    }

    fn data(&mut self, d: Data) {
        if self.head.is_some() {
            self.body.push_data(d);
        }
    }

    /// A message ended; returns whether the batch is full.
    fn end(&mut self) -> bool {
        if self.head.is_none() {
            return false;
        }
        self.ends += 1;
        self.complete_len = self.body.len();
        self.starts == self.ends && self.ends >= self.batch
    }

    /// Whether every message of the batch so far is complete (and there is one).
    fn ready(&self) -> bool {
        self.ends > 0 && self.starts == self.ends
    }

    /// Takes the batch's complete messages (an unfinished last message is dropped).
    fn take(&mut self) -> Option<Packed> {
        if self.ends == 0 {
            return None;
        }
        let head = self.head.take()?;
        let mut body = std::mem::take(&mut self.body);
        let body = body.shift(self.complete_len);
        self.starts = 0;
        self.ends = 0;
        self.complete_len = 0;
        Some(Packed { head, body })
    }
}

struct Pack {
    batcher: Batcher,
    opts: Options,
    last_end: Option<Instant>,
    last_flush: Option<Instant>,
    timer: Option<TimerId>,
}

impl Pack {
    fn flush(&mut self, cx: &mut Cx) {
        if let Some(p) = self.batcher.take() {
            cx.output(Event::MessageStart(p.head));
            cx.output(Event::Data(p.body));
            cx.output(Event::MessageEnd);
        }
        self.last_flush = Some(Instant::now());
        if let Some(t) = self.timer.take() {
            cx.cancel_timer(t);
        }
    }

    /// Arms the timeout check for a pending batch, if not armed yet.
    fn arm_timeout(&mut self, cx: &mut Cx) {
        if let (Some(timeout), None) = (self.opts.timeout, self.timer) {
            let since = self.last_end.map_or(Duration::ZERO, |t| t.elapsed());
            self.timer = Some(cx.set_timer(timeout.saturating_sub(since), 0));
        }
    }
}

impl Filter for Pack {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if self.last_flush.is_none() {
            self.last_flush = Some(Instant::now());
        }
        match ev {
            Event::MessageStart(h) => self.batcher.start(h),
            Event::Data(d) => self.batcher.data(d),
            Event::MessageEnd => {
                let now = Instant::now();
                self.last_end = Some(now);
                let full = self.batcher.end();
                let due = self.batcher.ready()
                    && self
                        .opts
                        .interval
                        .zip(self.last_flush)
                        .is_some_and(|(i, last)| now.duration_since(last) >= i);
                if full || due {
                    self.flush(cx);
                } else if self.batcher.ready() {
                    self.arm_timeout(cx);
                }
            }
            Event::StreamEnd(e) => {
                self.flush(cx);
                cx.output(Event::StreamEnd(e));
            }
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if !matches!(sig, Signal::Timer(_)) {
            return;
        }
        self.timer = None;
        let Some(timeout) = self.opts.timeout else {
            return;
        };
        let idle = self.last_end.map_or(timeout, |t| t.elapsed());
        if idle >= timeout {
            if self.batcher.ready() {
                self.flush(cx);
            }
        } else {
            // A message ended since the timer was armed: wait out the rest.
            self.timer = Some(cx.set_timer(timeout - idle, 0));
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let Some(t) = self.timer.take() {
            cx.cancel_timer(t);
        }
        if self.batcher.ready() {
            log::warn!("[pack] pipeline destroyed before its stream ended; last batch dropped");
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "pack",
    "batch?: number, options?: {vacancy?, timeout?, interval?}",
    "Concatenates the bodies of every `batch` messages into one message (flushed early by timeout/interval)",
    build_pack
),];

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(b: &mut Batcher, body: &'static [u8]) -> bool {
        b.start(Head::null());
        b.data(Data::from_static(body));
        b.end()
    }

    #[test]
    fn batch_fills_after_n_messages() {
        let mut b = Batcher::new(3);
        assert!(!msg(&mut b, b"a"));
        assert!(!msg(&mut b, b"b"));
        assert!(msg(&mut b, b"c"));
        let p = b.take().expect("batch");
        assert_eq!(p.body.to_vec(), b"abc");
        assert!(b.take().is_none());
    }

    #[test]
    fn partial_batch_drops_unfinished_message() {
        let mut b = Batcher::new(10);
        msg(&mut b, b"one,");
        b.start(Head::null());
        b.data(Data::from_static(b"half"));
        assert!(!b.ready());
        let p = b.take().expect("complete part");
        assert_eq!(p.body.to_vec(), b"one,");
    }

    #[test]
    fn data_outside_a_batch_is_ignored() {
        let mut b = Batcher::new(1);
        b.data(Data::from_static(b"stray"));
        assert!(!b.end());
        assert!(b.take().is_none());
    }
}
