//! `throttleMessageRate`, `throttleDataRate`, `throttleConcurrency`: token buckets shared by every
//! instance of one filter definition, keyed by an account value (reference §1c, §3.6, §3.10).
//!
//! Nothing is ever rejected: a stream that finds its bucket empty holds its events, pauses the
//! socket its input comes from, and waits in the account's FIFO queue. The queue's head arms a
//! timer for the next refill (rates) or is woken when a unit is released (concurrency); when it
//! has passed all its held events on, it leaves the queue, resumes its socket and wakes the next.
//!
//! Rates refill in tenths of a second with a tenth of the quota, and a bucket holds at most one
//! such step (at least one unit), so the rate is even rather than a burst each second as in Pipy.

use super::{Dynamic, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal};
use crate::engine::pipeline::PipelineId;
use crate::js::builtins::helpers::ValueKey;
use crate::worker::core::TimerId;
use boa_engine::JsValue;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Refill period of rate buckets.
const REFILL_STEP: Duration = Duration::from_millis(100);
const STEPS_PER_SECOND: f64 = 10.0;
/// Above this many accounts, idle ones are dropped when a new one is made.
const PRUNE_ABOVE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    MessageRate,
    DataRate,
    Concurrency,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::MessageRate => "throttleMessageRate",
            Kind::DataRate => "throttleDataRate",
            Kind::Concurrency => "throttleConcurrency",
        }
    }
}

/// One token bucket and the streams waiting on it.
struct Account {
    kind: Kind,
    tokens: f64,
    cap: f64,
    /// Tokens added per `REFILL_STEP` (rates only).
    step: f64,
    last_refill: Instant,
    queue: VecDeque<(PipelineId, usize)>,
}

impl Account {
    fn new(kind: Kind, quota: f64, now: Instant) -> Account {
        let mut a = Account {
            kind,
            tokens: 0.0,
            cap: 0.0,
            step: 0.0,
            last_refill: now,
            queue: VecDeque::new(),
        };
        a.set_quota(quota);
        a.tokens = a.cap;
        a
    }

    /// Applies the quota the latest stream evaluated.
    fn set_quota(&mut self, quota: f64) {
        match self.kind {
            Kind::Concurrency => {
                // Units in use stay in use; the free count follows the new limit.
                self.tokens += quota - self.cap;
                self.cap = quota;
            }
            Kind::MessageRate | Kind::DataRate => {
                self.step = quota / STEPS_PER_SECOND;
                self.cap = self.step.max(1.0);
                self.tokens = self.tokens.min(self.cap);
            }
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.kind == Kind::Concurrency {
            return;
        }
        let elapsed = now.saturating_duration_since(self.last_refill);
        let steps = (elapsed.as_nanos() / REFILL_STEP.as_nanos()) as u32;
        if steps > 0 {
            self.tokens = (self.tokens + self.step * f64::from(steps)).min(self.cap);
            self.last_refill += REFILL_STEP * steps;
        }
    }

    /// Time until the next refill step.
    fn next_refill(&self, now: Instant) -> Duration {
        (self.last_refill + REFILL_STEP).saturating_duration_since(now)
    }

    fn idle(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.queue.is_empty() && self.tokens >= self.cap
    }
}

type AccountRef = Rc<RefCell<Account>>;

/// The account table of one filter definition.
struct Accounts {
    kind: Kind,
    /// By key: primitives by value, objects by identity.
    list: HashMap<ValueKey, AccountRef>,
}

impl Accounts {
    fn get(&mut self, key: ValueKey, quota: f64) -> AccountRef {
        let now = Instant::now();
        if let Some(a) = self.list.get(&key) {
            a.borrow_mut().set_quota(quota);
            return a.clone();
        }
        if self.list.len() >= PRUNE_ABOVE {
            // Only accounts nobody holds and that are as good as new can go.
            self.list
                .retain(|_, a| Rc::strong_count(a) > 1 || !a.borrow_mut().idle(now));
        }
        let a = Rc::new(RefCell::new(Account::new(self.kind, quota, now)));
        self.list.insert(key, a.clone());
        a
    }
}

fn build(kind: Kind, a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    if a.arg(0).is_undefined() {
        return Err("argument #1 (quota) is required".into());
    }
    Ok(Box::new(ThrottleFactory {
        kind,
        quota: Dynamic::from_arg(a, 0),
        account: Dynamic::from_arg(a, 1),
        accounts: Rc::new(RefCell::new(Accounts {
            kind,
            list: HashMap::new(),
        })),
    }))
}

pub fn build_message_rate(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::MessageRate, a)
}
pub fn build_data_rate(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::DataRate, a)
}
pub fn build_concurrency(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::Concurrency, a)
}

struct ThrottleFactory {
    kind: Kind,
    quota: Dynamic,
    account: Dynamic,
    accounts: Rc<RefCell<Accounts>>,
}

impl FilterFactory for ThrottleFactory {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Throttle {
            kind: self.kind,
            quota: self.quota.clone(),
            account_key: self.account.clone(),
            accounts: self.accounts.clone(),
            account: Binding::Unevaluated,
            held: VecDeque::new(),
            queued: false,
            paused: Vec::new(),
            timer: None,
            active: false,
        })
    }
}

enum Binding {
    Unevaluated,
    Unlimited,
    Limited(AccountRef),
}

struct Throttle {
    kind: Kind,
    quota: Dynamic,
    account_key: Dynamic,
    accounts: Rc<RefCell<Accounts>>,
    account: Binding,
    held: VecDeque<Event>,
    /// In the account's wait queue.
    queued: bool,
    /// Sockets this stream paused: (slot, connection id).
    paused: Vec<(usize, u64)>,
    timer: Option<TimerId>,
    /// Holds a concurrency unit.
    active: bool,
}

/// Reads a quota value: a number, or a size string such as `'1k'`.
fn quota_of(v: &JsValue) -> Option<f64> {
    if let Some(n) = v.as_number() {
        return Some(n);
    }
    if let Some(s) = v.as_string() {
        return crate::js::units::parse_size_str(&s.to_std_string_escaped()).map(|n| n as f64);
    }
    None
}

/// Lets `ev` through as far as `tokens` allow; returns what must wait.
fn consume(
    kind: Kind,
    active: &mut bool,
    ev: Event,
    tokens: &mut f64,
    out: &mut impl FnMut(Event),
) -> Option<Event> {
    match (kind, ev) {
        (Kind::MessageRate, Event::MessageStart(h)) => {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                out(Event::MessageStart(h));
                None
            } else {
                Some(Event::MessageStart(h))
            }
        }
        (Kind::DataRate, Event::Data(mut d)) => {
            let room = tokens.max(0.0).floor() as usize;
            if d.len() <= room {
                *tokens -= d.len() as f64;
                out(Event::Data(d));
                None
            } else {
                let part = d.shift(room);
                *tokens -= room as f64;
                if !part.is_empty() {
                    out(Event::Data(part));
                }
                Some(Event::Data(d))
            }
        }
        (Kind::Concurrency, ev) if !*active => {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                *active = true;
                out(ev);
                None
            } else {
                Some(ev)
            }
        }
        (_, ev) => {
            out(ev);
            None
        }
    }
}

impl Throttle {
    /// Finds this stream's account on its first event. `Err` means a callback threw.
    fn bind(&mut self, cx: &mut Cx) -> Result<(), ()> {
        let key = self.account_key.eval(cx)?;
        let quota = self.quota.eval(cx)?;
        let quota = match quota_of(&quota) {
            Some(q) => q,
            None => {
                log::error!("[throttle] invalid quota");
                0.0
            }
        };
        self.account = if quota > 0.0 {
            Binding::Limited(self.accounts.borrow_mut().get(ValueKey::new(&key), quota))
        } else {
            Binding::Unlimited
        };
        Ok(())
    }

    fn pause_origin(&mut self, cx: &mut Cx) {
        if let Some(s) = cx.core.current_origin()
            && !self.paused.iter().any(|(p, _)| *p == s)
            && let Some(id) = cx.core.pause_socket(s)
        {
            self.paused.push((s, id));
        }
    }

    fn enqueue(&mut self, acct: &AccountRef, cx: &mut Cx) {
        if !self.queued {
            self.queued = true;
            acct.borrow_mut().queue.push_back(cx.address());
        }
    }

    /// Leaves the queue, resumes the paused sockets and wakes the next waiting stream.
    fn leave(&mut self, acct: &AccountRef, cx: &mut Cx) {
        let next = {
            let mut a = acct.borrow_mut();
            if self.queued {
                let me = cx.address();
                a.queue.retain(|w| *w != me);
                self.queued = false;
            }
            a.queue.front().copied()
        };
        for (s, id) in self.paused.drain(..) {
            cx.core.resume_socket(s, id);
        }
        if let Some((p, f)) = next {
            cx.core.signal(p, f, Signal::Wake(0));
        }
    }

    /// Passes held events on as tokens allow; returns whether all went.
    fn flush(&mut self, acct: &AccountRef, cx: &mut Cx) -> bool {
        let mut a = acct.borrow_mut();
        a.refill(Instant::now());
        while let Some(ev) = self.held.pop_front() {
            let mut out = |e| cx.output(e);
            if let Some(rest) = consume(self.kind, &mut self.active, ev, &mut a.tokens, &mut out) {
                self.held.push_front(rest);
                return false;
            }
        }
        true
    }

    /// The head of the queue waits for the next refill.
    fn arm(&mut self, acct: &AccountRef, cx: &mut Cx) {
        if self.kind == Kind::Concurrency || self.timer.is_some() {
            return;
        }
        let a = acct.borrow();
        if a.queue.front() == Some(&cx.address()) {
            let after = a.next_refill(Instant::now()).max(Duration::from_millis(1));
            drop(a);
            self.timer = Some(cx.set_timer(after, 0));
        }
    }

    fn hold(&mut self, ev: Event, acct: &AccountRef, cx: &mut Cx) {
        self.held.push_back(ev);
        self.pause_origin(cx);
        self.enqueue(acct, cx);
        self.arm(acct, cx);
    }
}

impl Filter for Throttle {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if let Event::Data(d) = &ev
            && d.is_empty()
        {
            // A flush marker means nothing while events are held.
            if self.held.is_empty() {
                cx.output(ev);
            }
            return;
        }
        if matches!(self.account, Binding::Unevaluated) && self.bind(cx).is_err() {
            self.account = Binding::Unlimited;
            cx.output(Event::StreamEnd(StreamError::RuntimeError));
            return;
        }
        let acct = match &self.account {
            Binding::Limited(a) => a.clone(),
            _ => return cx.output(ev),
        };
        let others_waiting = !self.queued && !acct.borrow().queue.is_empty();
        if self.queued || others_waiting {
            return self.hold(ev, &acct, cx);
        }
        let stalled = {
            let mut a = acct.borrow_mut();
            a.refill(Instant::now());
            let mut out = |e| cx.output(e);
            consume(self.kind, &mut self.active, ev, &mut a.tokens, &mut out)
        };
        if let Some(rest) = stalled {
            self.hold(rest, &acct, cx);
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        match sig {
            Signal::Timer(_) => self.timer = None,
            Signal::Wake(_) => {}
            _ => return,
        }
        let Binding::Limited(acct) = &self.account else {
            return;
        };
        let acct = acct.clone();
        if !self.queued || acct.borrow().queue.front() != Some(&cx.address()) {
            return;
        }
        if self.flush(&acct, cx) {
            self.leave(&acct, cx);
        } else {
            self.arm(&acct, cx);
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let Some(t) = self.timer.take() {
            cx.cancel_timer(t);
        }
        if let Binding::Limited(acct) = &self.account {
            let acct = acct.clone();
            if self.active {
                self.active = false;
                acct.borrow_mut().tokens += 1.0;
            }
            self.leave(&acct, cx);
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "throttleMessageRate",
        "quota: number | string | () => number, account?: any | () => any",
        "Delays messages beyond `quota` per second (per account), pausing the input",
        build_message_rate
    ),
    (
        "throttleDataRate",
        "quota: number | string | () => number, account?: any | () => any",
        "Delays data beyond `quota` bytes per second (per account), pausing the input",
        build_data_rate
    ),
    (
        "throttleConcurrency",
        "quota: number | string | () => number, account?: any | () => any",
        "Holds streams beyond `quota` concurrent ones (per account) until one ends",
        build_concurrency
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::data::Data;
    use crate::engine::head::Head;

    fn run(
        kind: Kind,
        active: &mut bool,
        ev: Event,
        tokens: &mut f64,
    ) -> (Vec<Event>, Option<Event>) {
        let mut outs = Vec::new();
        let rest = consume(kind, active, ev, tokens, &mut |e| outs.push(e));
        (outs, rest)
    }

    #[test]
    fn message_rate_costs_one_per_message_start() {
        let mut tokens = 1.0;
        let mut active = false;
        let (o, r) = run(
            Kind::MessageRate,
            &mut active,
            Event::MessageStart(Head::null()),
            &mut tokens,
        );
        assert_eq!((o.len(), r.is_none()), (1, true));
        let (o, r) = run(
            Kind::MessageRate,
            &mut active,
            Event::MessageEnd,
            &mut tokens,
        );
        assert_eq!((o.len(), r.is_none()), (1, true));
        let (o, r) = run(
            Kind::MessageRate,
            &mut active,
            Event::MessageStart(Head::null()),
            &mut tokens,
        );
        assert_eq!((o.len(), r.is_some()), (0, true));
    }

    #[test]
    fn data_rate_splits_data() {
        let mut tokens = 3.0;
        let mut active = false;
        let (o, r) = run(
            Kind::DataRate,
            &mut active,
            Event::Data(Data::from_static(b"hello")),
            &mut tokens,
        );
        let Event::Data(first) = &o[0] else {
            panic!("data")
        };
        assert_eq!(first.to_vec(), b"hel");
        let Some(Event::Data(rest)) = r else {
            panic!("rest")
        };
        assert_eq!(rest.to_vec(), b"lo");
        assert_eq!(tokens, 0.0);
    }

    #[test]
    fn concurrency_takes_one_unit_per_stream() {
        let mut tokens = 1.0;
        let mut a = false;
        let mut b = false;
        let (_, r) = run(Kind::Concurrency, &mut a, Event::MessageEnd, &mut tokens);
        assert!(r.is_none() && a);
        let (_, r) = run(Kind::Concurrency, &mut a, Event::MessageEnd, &mut tokens);
        assert!(r.is_none());
        let (_, r) = run(Kind::Concurrency, &mut b, Event::MessageEnd, &mut tokens);
        assert!(r.is_some() && !b);
    }

    #[test]
    fn rate_bucket_refills_in_tenths() {
        let t0 = Instant::now();
        let mut a = Account::new(Kind::MessageRate, 10.0, t0);
        assert_eq!(a.tokens, 1.0);
        a.tokens = 0.0;
        a.refill(t0 + Duration::from_millis(50));
        assert_eq!(a.tokens, 0.0);
        a.refill(t0 + Duration::from_millis(100));
        assert_eq!(a.tokens, 1.0);
        // Never more than one step is stored.
        a.refill(t0 + Duration::from_secs(5));
        assert_eq!(a.tokens, 1.0);
        let mut big = Account::new(Kind::DataRate, 1000.0, t0);
        big.tokens = 0.0;
        big.refill(t0 + Duration::from_millis(250));
        assert_eq!(big.tokens, 100.0);
    }

    #[test]
    fn quota_values() {
        assert_eq!(quota_of(&JsValue::from(5)), Some(5.0));
        assert_eq!(
            quota_of(&JsValue::from(boa_engine::js_string!("1k"))),
            Some(1024.0)
        );
        assert_eq!(quota_of(&JsValue::undefined()), None);
    }
}
