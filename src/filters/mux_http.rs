//! `muxHTTP(pipeline, key, {maxIdle})`: an HTTP/1.1 client that multiplexes requests with equal
//! keys onto one session (one instance of `pipeline`, typically `connect`): requests are written
//! in order (pipelining), responses matched in order.
//!
//! Unlike Pipy 0.30, every request waiting on a session that fails gets its own 502/504.
//!
//! One slow client must not hold up the others sharing its session. Pipy buffers every request
//! whole before sending it and every response without limit; here bodies stream, with
//! back-pressure, and so a session takes no new request while a request body is still arriving
//! or while a client reads its response slower than the upstream sends it: the next request
//! opens a new session. Other clients' requests already pipelined behind such a response are
//! not held up until [`SHARED_READ_AHEAD`] bytes are queued for the slow client.

use super::http_codec::gateway_error_head;
use super::session::{
    Session, SessionBase, SessionKey, SessionTimer, SharedTable, find_or_open, max_idle_option,
};
use super::{Dynamic, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal, SubPipeline, recycle_as};
use crate::engine::head::Head;
use crate::engine::pipeline::PipelineId;
use crate::http::decoder::{Decoded, MessageDecoder, RequestFacts, Side};
use crate::http::encoder::{MessageEncoder, OutHead};
use crate::http::framing::is_keep_alive;
use crate::worker::core::{Backpressure, Core, InputAt, SharedSink};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

/// How long a closing session may take to end its pipeline before it is destroyed.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// How many bytes a client reading slower than the upstream sends may have queued before the
/// session stops reading the upstream for it, when requests of other clients wait behind its
/// response. Otherwise a client is held to the usual `WRITE_HIGH_WATER` (1 MiB). Responses up
/// to about this size (plus what the kernel's socket buffers take, up to `tcp_wmem`'s 4 MiB)
/// then pass a slow client without holding up the requests pipelined behind them; larger ones
/// still do, until the client catches up. It bounds what a slow client costs the worker: 8 MiB
/// for as long as it keeps others waiting.
pub const SHARED_READ_AHEAD: usize = 8 << 20;

pub fn build_mux_http(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let sub = a.sub(0)?;
    let key = Dynamic::from_arg(a, 1);
    let max_idle = max_idle_option(a, 2)?;
    let buffer_size = super::http_codec::buffer_size(a, 2)?;
    if a.option(2, "version")?.as_number() == Some(2.0) {
        log::warn!(
            "{}: muxHTTP version 2 is not supported yet; using HTTP/1.1",
            a.location
        );
    }
    Ok(Box::new(MuxFactory {
        sub,
        key,
        max_idle,
        buffer_size,
        table: Rc::default(),
    }))
}

struct MuxFactory {
    sub: SubPipeline,
    key: Dynamic,
    max_idle: Duration,
    buffer_size: usize,
    table: SharedTable<MuxSession>,
}

impl FilterFactory for MuxFactory {
    fn name(&self) -> &'static str {
        "muxHTTP"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh())
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |m: &mut Mux| *m = self.fresh())
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        vec![&mut self.sub]
    }
    fn detail(&self) -> String {
        format!("-> {}", self.sub.name)
    }
}

impl MuxFactory {
    fn fresh(&self) -> Mux {
        Mux {
            layout: self.sub.id,
            key: self.key.clone(),
            max_idle: self.max_idle,
            table: self.table.clone(),
            encoder: MessageEncoder::new(self.buffer_size),
            session: None,
            req: 0,
            writing: false,
        }
    }
}

/// A request waiting for its response.
struct Waiter {
    req: u64,
    /// The requesting filter; `None` once it is gone (its response is read and dropped).
    addr: Option<(PipelineId, usize)>,
    got_head: bool,
    /// The socket the request came in on (`None` when no socket's input produced it): tells
    /// whose requests wait behind a slowly read response.
    client: Option<usize>,
}

/// Bytes of one request, written when the requests before it are fully written.
struct WriteSlot {
    req: u64,
    buf: Data,
    complete: bool,
}

/// Life cycle of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionState {
    Open,
    /// No new requests: upstream said `connection: close`, a request was cut short, or a
    /// request would wait behind a slow client (one still sending a body, or reading a response
    /// slower than the upstream sends it); the key's next request opens a new session.
    NoReuse,
    /// StreamEnd sent into the pipeline; waiting for it to end.
    Closing,
    Closed,
}

pub struct MuxSession {
    base: SessionBase<MuxSession>,
    decoder: MessageDecoder,
    waiting: VecDeque<Waiter>,
    writes: VecDeque<WriteSlot>,
    state: SessionState,
    next_req: u64,
    /// What the decoder produced from the latest upstream read; kept to reuse its allocation.
    decoded: Vec<Decoded>,
}

impl MuxSession {
    fn send_to(core: &mut Core, addr: Option<(PipelineId, usize)>, ev: Event) {
        if let Some((p, f)) = addr {
            core.signal(p, f, Signal::Sub { tag: 0, event: ev });
        }
    }

    /// Appends request bytes; writes them now if every earlier request is fully written.
    fn write(&mut self, req: u64, data: Data, complete: bool, core: &mut Core) {
        let Some(i) = self.writes.iter().position(|w| w.req == req) else {
            return;
        };
        let slot = &mut self.writes[i];
        slot.buf.push_data(data);
        slot.complete |= complete;
        while let Some(front) = self.writes.front_mut() {
            if !front.buf.is_empty() {
                core.send(
                    self.base.pipeline,
                    Event::Data(std::mem::take(&mut front.buf)),
                );
            }
            if !front.complete {
                break;
            }
            self.writes.pop_front();
        }
    }

    /// Whether a new request may be pipelined here. Not behind a request whose body is still
    /// arriving: it would wait for the client sending it, however slow. The session then takes
    /// no more requests, and the key's next one opens a new session.
    fn takes_more(&mut self) -> bool {
        if self.writes.back().is_some_and(|w| !w.complete) {
            log::debug!(
                "muxHTTP session: a request body is still arriving; new requests go to a new session"
            );
            self.state = SessionState::NoReuse;
            self.base.forget();
            return false;
        }
        true
    }

    /// Stops taking requests and ends the pipeline.
    fn close(&mut self, core: &mut Core) {
        if matches!(self.state, SessionState::Closing | SessionState::Closed) {
            return;
        }
        self.state = SessionState::Closing;
        self.base.end(core, CLOSE_GRACE);
    }

    fn destroy(&mut self, core: &mut Core) {
        if self.state == SessionState::Closed {
            return;
        }
        self.state = SessionState::Closed;
        self.base.destroy(core);
    }

    /// The upstream ended: finish or fail every waiting request.
    fn upstream_ended(&mut self, err: StreamError, core: &mut Core) {
        let mut decoded = std::mem::take(&mut self.decoded);
        let _ = self.decoder.eof(&mut |d| decoded.push(d));
        self.dispatch(&mut decoded, core);
        self.decoded = decoded;
        let err = if err == StreamError::None {
            StreamError::ConnectionReset
        } else {
            err
        };
        for w in self.waiting.drain(..) {
            if w.got_head {
                Self::send_to(core, w.addr, Event::StreamEnd(err));
            } else {
                Self::send_to(
                    core,
                    w.addr,
                    Event::MessageStart(Head::response(gateway_error_head(err))),
                );
                Self::send_to(core, w.addr, Event::MessageEnd);
            }
        }
        self.destroy(core);
    }

    /// Hands decoded responses to their waiting requests, in order; leaves `decoded` empty.
    fn dispatch(&mut self, decoded: &mut Vec<Decoded>, core: &mut Core) {
        for d in decoded.drain(..) {
            let Some(front) = self.waiting.front_mut() else {
                continue;
            };
            match d {
                Decoded::Response(h) => {
                    front.got_head = true;
                    let addr = front.addr;
                    if !is_keep_alive(h.version, &h.headers) && self.state == SessionState::Open {
                        self.state = SessionState::NoReuse;
                        self.base.forget();
                    }
                    Self::send_to(core, addr, Event::MessageStart(Head::response(h)));
                }
                Decoded::Body(b) => {
                    let addr = front.addr;
                    Self::send_to(core, addr, Event::Data(b));
                }
                Decoded::End => {
                    let addr = front.addr;
                    Self::send_to(core, addr, Event::MessageEnd);
                    self.waiting.pop_front();
                }
                Decoded::Request(..) => {}
            }
        }
    }

    fn release(&mut self, req: u64, core: &mut Core) {
        if let Some(w) = self.waiting.iter_mut().find(|w| w.req == req) {
            w.addr = None;
        }
        if self.writes.iter().any(|w| w.req == req && !w.complete) {
            // A request cut short mid-body leaves the upstream framing broken.
            self.state = SessionState::NoReuse;
            self.close(core);
        }
        let unused = self
            .base
            .release_user(core, self.state == SessionState::Open);
        if unused && self.state == SessionState::NoReuse && self.waiting.is_empty() {
            self.close(core);
        }
    }
}

impl Session for MuxSession {
    fn base(&mut self) -> &mut SessionBase<Self> {
        &mut self.base
    }
}

impl SharedSink for MuxSession {
    fn on_output(&mut self, _id: u64, ev: Event, core: &mut Core) {
        match ev {
            Event::Data(d) => {
                let mut decoded = std::mem::take(&mut self.decoded);
                let result = self.decoder.feed_data(d, &mut |x| decoded.push(x));
                self.dispatch(&mut decoded, core);
                self.decoded = decoded;
                if let Some(n) = self.decoder.body_remaining() {
                    core.expect_input(self.base.pipeline, InputAt::Output, n);
                }
                if let Err(e) = result {
                    log::warn!("bad response from upstream: {e}");
                    self.upstream_ended(StreamError::ReadError, core);
                }
            }
            Event::StreamEnd(err) => self.upstream_ended(err, core),
            _ => {}
        }
    }

    /// A client (socket `congested`) reads its response slower than the upstream sends it.
    /// Requests that came after it go to a new session from now on: pipelined here, they would
    /// wait for that client. Those of other clients already pipelined wait only while its
    /// queue is over [`SHARED_READ_AHEAD`].
    fn on_backpressure(
        &mut self,
        _id: u64,
        congested: usize,
        queued: usize,
        _core: &mut Core,
    ) -> Backpressure {
        if self.state == SessionState::Open {
            log::debug!(
                "muxHTTP session: a client reads slower than the upstream sends; new requests go to a new session"
            );
            self.state = SessionState::NoReuse;
            self.base.forget();
        }
        // What was read is delivered later (queued work), so the congested client's response
        // may have been read whole already: pausing then would hold up only the others. And
        // reading on helps only other clients: a client's own pipelined requests are answered
        // in order anyway. Past the limit the upstream pauses whatever the reason: memory
        // stays bounded even for a congested socket that is no client of this session.
        let congested = Some(congested);
        let still_reading_for_it = self.waiting.iter().any(|w| w.client == congested);
        let others_waiting = self.waiting.iter().any(|w| w.client != congested);
        if queued <= SHARED_READ_AHEAD && (others_waiting || !still_reading_for_it) {
            Backpressure::KeepReading
        } else {
            Backpressure::Pause
        }
    }

    fn on_drain(&mut self, _id: u64, core: &mut Core) {
        if self.waiting.is_empty() {
            self.close(core);
        } else {
            self.state = SessionState::NoReuse;
        }
    }

    fn on_timer(&mut self, _id: u64, tag: u64, core: &mut Core) {
        match self.base.timer(tag, core) {
            Some(SessionTimer::Idle) if self.state == SessionState::Open => {
                log::debug!("muxHTTP session idle, closing");
                self.close(core);
            }
            Some(SessionTimer::Close) => self.destroy(core),
            _ => {}
        }
    }
}

struct Mux {
    layout: Option<usize>,
    key: Dynamic,
    max_idle: Duration,
    table: SharedTable<MuxSession>,
    encoder: MessageEncoder,
    session: Option<Rc<RefCell<MuxSession>>>,
    req: u64,
    writing: bool,
}

impl Mux {
    fn session(&mut self, cx: &mut Cx) -> Result<Rc<RefCell<MuxSession>>, ()> {
        if let Some(s) = &self.session {
            return Ok(s.clone());
        }
        let key = SessionKey::new(&self.key.eval(cx)?);
        let layout = self.layout.ok_or(())?;
        let (table, max_idle) = (self.table.clone(), self.max_idle);
        let s = find_or_open(
            &self.table,
            key,
            layout,
            cx,
            MuxSession::takes_more,
            |key| MuxSession {
                base: SessionBase::new(key, table, max_idle),
                decoder: MessageDecoder::new(Side::Response),
                waiting: VecDeque::new(),
                writes: VecDeque::new(),
                state: SessionState::Open,
                next_req: 0,
                decoded: Vec::new(),
            },
        );
        self.session = Some(s.clone());
        Ok(s)
    }

    fn fail(&mut self, cx: &mut Cx) {
        cx.output(Event::MessageStart(Head::response(gateway_error_head(
            StreamError::RuntimeError,
        ))));
        cx.output(Event::MessageEnd);
    }
}

impl Filter for Mux {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match ev {
            Event::MessageStart(h) => {
                let Ok(session) = self.session(cx) else {
                    return self.fail(cx);
                };
                let head = match crate::js::head::request_of(h, &mut cx.core.js) {
                    Ok(r) => r,
                    Err(e) => {
                        log::error!("[pjs] bad request head: {e}");
                        return self.fail(cx);
                    }
                };
                let facts = RequestFacts::of(&head);
                let mut out = Data::new();
                self.encoder
                    .start(OutHead::Request(head), true, false, &mut out);
                let mut s = session.borrow_mut();
                self.req = s.next_req;
                s.next_req += 1;
                let addr = cx.address();
                s.waiting.push_back(Waiter {
                    req: self.req,
                    addr: Some(addr),
                    got_head: false,
                    client: cx.core.current_origin(),
                });
                s.writes.push_back(WriteSlot {
                    req: self.req,
                    buf: Data::new(),
                    complete: false,
                });
                s.decoder.expect_response(facts);
                self.writing = true;
                s.write(self.req, out, false, cx.core);
            }
            Event::Data(d) if self.writing => {
                let mut out = Data::new();
                self.encoder.body(d, &mut out);
                if let Some(s) = &self.session {
                    s.borrow_mut().write(self.req, out, false, cx.core);
                }
            }
            Event::MessageEnd if self.writing => {
                let mut out = Data::new();
                self.encoder.end(&mut out);
                self.writing = false;
                if let Some(s) = &self.session {
                    s.borrow_mut().write(self.req, out, true, cx.core);
                }
            }
            _ => {}
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if let Signal::Sub { event, .. } = sig {
            cx.output(event);
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let Some(s) = self.session.take() {
            s.borrow_mut().release(self.req, cx.core);
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "muxHTTP",
    "pipeline: string, key: value | () => value, options?: {maxIdle, bufferSize}",
    "HTTP/1.1 client sharing one session (upstream connection) per key, requests pipelined",
    build_mux_http
)];
