//! HTTP/1.x servers: `serveHTTP` (a handler per request, in the connection's context) and
//! `demuxHTTP` (a sub-pipeline per request, responses in request order).
//!
//! Both answer malformed input with 400/431/501 and close, honour keep-alive per RFC 9112 §9.3,
//! answer `Expect: 100-continue`, and turn a failed script into a 500 (Pipy hangs there).
//! `serveHTTP` holds each request's body until it is whole (unless its answer is a static
//! message, which never reads it), so it refuses one over its `maxBodySize` with 413 (Pipy
//! holds any size, until the worker runs out of memory).

use super::http_codec::gateway_error_head;
use super::{Callback, FilterArgs};
use crate::engine::context::Context as PipyContext;
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal, SubPipeline};
use crate::engine::head::Head;
use crate::engine::pipeline::PipelineId;
use crate::http::decoder::{Decoded, MessageDecoder, Side};
use crate::http::encode::{CONTINUE_100, write_error_response};
use crate::http::encoder::{DEFAULT_BUFFER_SIZE, MessageEncoder, OutHead};
use crate::http::framing::{BodyFraming, expects_continue, is_keep_alive};
use crate::http::head::{ParseError, RequestHead, ResponseHead};
use crate::js::message::{JsMessage, js_to_message};
use crate::js::pure::PureReply;
use crate::worker::core::InputAt;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Bytes of responses one connection may produce before pipelined requests wait for the
/// client to read (back-pressure without unbounded buffering).
const OUTPUT_BUDGET: usize = 256 * 1024;
/// Pipelined requests of one connection in flight at once under demuxHTTP.
const MAX_IN_FLIGHT: usize = 32;
/// The largest request body `serveHTTP` holds by default (its `maxBodySize` option; 0 means no
/// limit). Each is held whole until the handler runs, so without a limit one upload could
/// take the worker, and every connection on it, down. nginx's `client_max_body_size` is 1 MiB;
/// this is larger so that scripts written for Pipy, which has no limit, keep working.
const DEFAULT_MAX_BODY: u64 = 64 << 20;
/// The longest refused body read and dropped before the close ([`ConnPhase::Refusing`]). A
/// client announcing more is cut off right after the 413 (nginx bounds the same wait by time,
/// `lingering_time`).
const MAX_DISCARD: u64 = 64 << 20;

/// What a request needs to be answered correctly.
#[derive(Clone, Copy, Debug)]
struct RequestInfo {
    keep_alive: bool,
    head_method: bool,
}

fn request_info(h: &RequestHead) -> RequestInfo {
    RequestInfo {
        keep_alive: is_keep_alive(h.version, &h.headers),
        head_method: h.method.as_ref() == b"HEAD",
    }
}

/// The request side of a server connection: decoded pieces are held until the server acts on
/// them (it may hold back while the client is not reading, or while requests are in flight),
/// and a decode error waits until the requests before it are answered.
struct RequestReader {
    dec: MessageDecoder,
    decoded: VecDeque<Decoded>,
    /// Boxed: almost always `None`, and it would add 16 bytes to every idle connection.
    error: Option<Box<ParseError>>,
}

impl RequestReader {
    fn new() -> RequestReader {
        RequestReader {
            dec: MessageDecoder::new(Side::Request),
            decoded: VecDeque::new(),
            error: None,
        }
    }

    /// Decodes received bytes; after a decode error further input is ignored. The rest of a
    /// request body is certain to follow, which lets the worker wait for that much before
    /// waking us when the bytes come straight off a socket (`Core::expect_input`).
    fn feed(&mut self, d: Data, cx: &mut Cx) {
        if !d.is_empty()
            && self.error.is_none()
            && let Err(e) = self.dec.feed_data(d, &mut |x| self.decoded.push_back(x))
        {
            self.error = Some(Box::new(e));
        }
        if self.error.is_none()
            && let Some(n) = self.dec.body_remaining()
        {
            cx.core
                .expect_input(cx.pipeline, InputAt::Filter(cx.filter), n);
        }
    }

    fn front(&self) -> Option<&Decoded> {
        self.decoded.front()
    }

    fn pop(&mut self) -> Option<Decoded> {
        self.decoded.pop_front()
    }

    /// Nothing decoded is waiting to be acted on.
    fn is_empty(&self) -> bool {
        self.decoded.is_empty()
    }

    /// Nothing waiting and the decoder between messages.
    fn is_idle(&self) -> bool {
        self.decoded.is_empty() && self.dec.is_idle()
    }

    /// The decode error, once everything decoded before it has been taken.
    fn take_error(&mut self) -> Option<ParseError> {
        if self.decoded.is_empty() {
            self.error.take().map(|e| *e)
        } else {
            None
        }
    }

    /// Drops the held-input buffer when empty: idle keep-alive connections are the bulk of a
    /// server's connections and should hold no buffers between requests.
    fn release_buffers(&mut self) {
        if self.decoded.is_empty() && self.decoded.capacity() > 0 {
            self.decoded = VecDeque::new();
        }
    }
}

fn error_bytes(e: ParseError) -> Data {
    log::debug!("bad request: {e}");
    let mut b = BytesMut::with_capacity(96);
    write_error_response(&mut b, e.status());
    Data::from(b.freeze())
}

// ===================================================================== serveHTTP

pub fn build_serve_http(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let max_body = match a.size_option(1, "maxBodySize")? {
        None => DEFAULT_MAX_BODY,
        Some(0) => u64::MAX,
        Some(n) => n as u64,
    };
    // A reply callback is compiled as a whole reply, not as a filter callback.
    if let Some(f) = a.func(0) {
        let cb = super::Callback::engine_only(f, a.module, a.ctx);
        let pure = crate::js::pure::compile_reply(&cb.f, a.module, &a.location, a.ctx);
        return Ok(Box::new(ServeFactory {
            setup: std::rc::Rc::new(ServeSetup {
                answer: Answer::Func(Box::new((cb, pure))),
                max_body,
            }),
        }));
    }
    let v = a.arg(0);
    let Some((head, body)) = js_to_message(&v) else {
        return Err("serveHTTP() expects a Message or a function".into());
    };
    let resp = crate::js::head::response_of(head, a.ctx).map_err(|e| e.to_string())?;
    let body = body.unwrap_or_default();
    let encode = |keep_alive: bool, head_method: bool| {
        let mut enc = MessageEncoder::new(DEFAULT_BUFFER_SIZE);
        let mut out = Data::new();
        enc.start(
            OutHead::Response(resp.clone()),
            keep_alive,
            head_method,
            &mut out,
        );
        enc.body(body.clone(), &mut out);
        enc.end(&mut out);
        out.to_bytes()
    };
    Ok(Box::new(ServeFactory {
        setup: std::rc::Rc::new(ServeSetup {
            answer: Answer::Static(StaticResponse {
                keep_alive: encode(true, false),
                close: encode(false, false),
                head_keep_alive: encode(true, true),
                head_close: encode(false, true),
            }),
            max_body,
        }),
    }))
}

/// A constant reply encoded once at load time: no JS and no encoding per request.
struct StaticResponse {
    keep_alive: Bytes,
    close: Bytes,
    head_keep_alive: Bytes,
    head_close: Bytes,
}

/// How a `serveHTTP` answers.
enum Answer {
    Static(StaticResponse),
    /// A script callback, and its native form when it has one ([`crate::js::pure`]). Boxed:
    /// the native form is large.
    Func(Box<(Callback, Option<PureReply>)>),
}

/// What every connection of one `serveHTTP` shares: an idle connection holds one pointer to
/// it (of the 1 KiB an idle connection may cost), not four buffers or a callback.
struct ServeSetup {
    answer: Answer,
    /// The largest request body accepted (`u64::MAX`: no limit).
    max_body: u64,
}

struct ServeFactory {
    setup: std::rc::Rc<ServeSetup>,
}

impl FilterFactory for ServeFactory {
    fn name(&self) -> &'static str {
        "serveHTTP"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Serve {
            setup: self.setup.clone(),
            input: RequestReader::new(),
            current: None,
            phase: ConnPhase::Open,
            answered: false,
        })
    }
}

/// Where a server connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnPhase {
    Open,
    /// A request's body is over the limit and it was answered 413: the rest of the body (up
    /// to [`MAX_DISCARD`] when announced) is read and dropped, then the connection closes.
    /// Closing at once would leave the body's bytes unread, and the kernel would reset the
    /// connection, perhaps before the client read the 413.
    Refusing,
    /// The last response has been decided (close requested, error, drain): ignore further input.
    Closing,
}

struct Serve {
    setup: std::rc::Rc<ServeSetup>,
    /// Requests, held back while the client is not reading the responses.
    input: RequestReader,
    /// The request being received.
    current: Option<Receiving>,
    phase: ConnPhase,
    /// A response has been sent: a connection that has not had one yet is not idle (its
    /// request may be on the way), so draining does not close it.
    answered: bool,
}

/// A request whose body is still arriving.
struct Receiving {
    head: Head,
    info: RequestInfo,
    /// The body so far; stays empty for a static answer, which never reads it.
    body: Data,
    /// Body bytes received, held or not: what `maxBodySize` limits.
    length: u64,
}

impl Serve {
    /// Answers the request being received 413 and drops the rest of its body
    /// ([`ConnPhase::Refusing`]).
    fn refuse_body(&mut self, length: Option<u64>, cx: &mut Cx) {
        log::warn!(
            "serveHTTP: request body of {} over maxBodySize {}: 413",
            length.map_or("more bytes".to_string(), |n| format!("{n} bytes")),
            self.setup.max_body
        );
        self.current = None;
        self.answered = true;
        let mut b = BytesMut::with_capacity(96);
        write_error_response(&mut b, 413);
        cx.output(Event::Data(Data::from(b.freeze())));
        if length.is_some_and(|n| n > MAX_DISCARD) {
            self.phase = ConnPhase::Closing;
            cx.output(Event::StreamEnd(StreamError::None));
        } else {
            self.phase = ConnPhase::Refusing;
        }
    }

    /// Answers one request; returns the bytes written.
    fn respond(
        &mut self,
        head: Head,
        info: RequestInfo,
        body: Data,
        draining: bool,
        cx: &mut Cx,
    ) -> usize {
        let keep_alive = info.keep_alive && !draining;
        let mut out = Data::new();
        match &self.setup.answer {
            Answer::Static(s) => {
                let b = match (keep_alive, info.head_method) {
                    (true, false) => &s.keep_alive,
                    (false, false) => &s.close,
                    (true, true) => &s.head_keep_alive,
                    (false, true) => &s.head_close,
                };
                out.push_bytes(b.clone());
            }
            Answer::Func(func) => {
                let (cb, pure) = &**func;
                let epoch = cx.core.js.epoch();
                let native = pure.as_ref().and_then(|p| p.reply(&head, &body, epoch));
                let (resp, rbody) = match native {
                    Some(reply) => reply,
                    None => call_handler(cb, head, body, cx),
                };
                let mut enc = MessageEncoder::new(DEFAULT_BUFFER_SIZE);
                enc.start(
                    OutHead::Response(resp),
                    keep_alive,
                    info.head_method,
                    &mut out,
                );
                if let Some(b) = rbody {
                    enc.body(b, &mut out);
                }
                enc.end(&mut out);
            }
        }
        let n = out.len();
        self.answered = true;
        cx.output(Event::Data(out));
        if !keep_alive {
            if !self.input.is_idle() {
                cx.core.note_unanswered_input();
            }
            self.phase = ConnPhase::Closing;
            cx.output(Event::StreamEnd(StreamError::None));
        }
        n
    }
}

/// Runs a `serveHTTP` callback in the engine; a failure becomes a 500 (logged).
fn call_handler(
    cb: &Callback,
    head: Head,
    body: Data,
    cx: &mut Cx,
) -> (ResponseHead, Option<Data>) {
    let reply = cb.call_with(cx, |ctx| {
        Ok(vec![JsMessage::new_object(head, Some(body), ctx)?])
    });
    let (rhead, rbody) = match reply {
        Ok(v) => match js_to_message(&v) {
            Some(m) => m,
            None => {
                log::error!("[pjs] serveHTTP handler did not return a Message");
                (Head::null(), None)
            }
        },
        Err(()) => (
            Head::response(gateway_error_head(StreamError::RuntimeError)),
            None,
        ),
    };
    match crate::js::head::response_of(rhead, &mut cx.core.js) {
        Ok(r) => (r, rbody),
        Err(e) => {
            log::error!("[pjs] bad response head: {e}");
            (gateway_error_head(StreamError::RuntimeError), rbody)
        }
    }
}

impl Serve {
    /// Acts on decoded input until it runs out or the responses exceed the output budget.
    fn pump(&mut self, cx: &mut Cx) {
        let mut produced = 0;
        while matches!(self.phase, ConnPhase::Open | ConnPhase::Refusing) {
            if produced > OUTPUT_BUDGET {
                // Let the responses reach the socket; go on unless that paused our input.
                cx.wake_self(0);
                return;
            }
            let Some(x) = self.input.pop() else {
                break;
            };
            if self.phase == ConnPhase::Refusing {
                if matches!(x, Decoded::End) {
                    self.phase = ConnPhase::Closing;
                    cx.output(Event::StreamEnd(StreamError::None));
                }
                continue;
            }
            match x {
                Decoded::Request(h, framing) => {
                    if let BodyFraming::Length(n) = framing
                        && n > self.setup.max_body
                    {
                        // Refused before the body is sent, if the client waits for a 100.
                        self.refuse_body(Some(n), cx);
                        continue;
                    }
                    let info = request_info(&h);
                    if expects_continue(&h)
                        && !matches!(framing, BodyFraming::None | BodyFraming::Length(0))
                    {
                        cx.output(Event::Data(Data::from_static(CONTINUE_100)));
                    }
                    self.current = Some(Receiving {
                        head: Head::request(h),
                        info,
                        body: Data::new(),
                        length: 0,
                    });
                }
                Decoded::Body(b) => {
                    if let Some(r) = &mut self.current {
                        r.length += b.len() as u64;
                        if r.length > self.setup.max_body {
                            self.refuse_body(None, cx);
                            continue;
                        }
                        if matches!(self.setup.answer, Answer::Func(_)) {
                            r.body.push_data(b);
                        }
                    }
                }
                Decoded::End => {
                    if let Some(r) = self.current.take() {
                        let draining = cx.core.is_draining();
                        produced += self.respond(r.head, r.info, r.body, draining, cx);
                    }
                }
                Decoded::Response(_) => {}
            }
        }
        self.input.release_buffers();
        if matches!(self.phase, ConnPhase::Open | ConnPhase::Refusing)
            && let Some(e) = self.input.take_error()
        {
            // Whatever followed the malformed bytes goes unanswered.
            cx.core.note_unanswered_input();
            self.phase = ConnPhase::Closing;
            cx.output(Event::Data(error_bytes(e)));
            cx.output(Event::StreamEnd(StreamError::None));
        }
    }
}

impl Filter for Serve {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if self.phase == ConnPhase::Closing {
            return;
        }
        match ev {
            Event::Data(d) => {
                self.input.feed(d, cx);
                if !cx.core.origin_paused() {
                    self.pump(cx);
                }
            }
            Event::StreamEnd(_) => {
                self.pump(cx);
                self.phase = ConnPhase::Closing;
                cx.output(Event::StreamEnd(StreamError::None));
            }
            _ => {}
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if matches!(sig, Signal::Wake(_)) && !cx.core.origin_paused() {
            self.pump(cx);
        }
    }

    fn on_drain(&mut self, cx: &mut Cx) {
        // Responses from now on say `connection: close` (see `respond`).
        if self.phase == ConnPhase::Open
            && self.answered
            && self.current.is_none()
            && self.input.is_idle()
        {
            self.phase = ConnPhase::Closing;
            cx.output(Event::StreamEnd(StreamError::None));
        }
    }
}

// ===================================================================== demuxHTTP

pub fn build_demux_http(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let sub = a.sub(0)?;
    let buffer_size = super::http_codec::buffer_size(a, 1)?;
    Ok(Box::new(DemuxFactory { sub, buffer_size }))
}

struct DemuxFactory {
    sub: SubPipeline,
    buffer_size: usize,
}

impl FilterFactory for DemuxFactory {
    fn name(&self) -> &'static str {
        "demuxHTTP"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Demux {
            layout: self.sub.id,
            buffer_size: self.buffer_size,
            input: RequestReader::new(),
            queue: VecDeque::new(),
            next_seq: 0,
            receiving: None,
            phase: ConnPhase::Open,
            input_ended: false,
            answered: false,
        })
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        vec![&mut self.sub]
    }
    fn detail(&self) -> String {
        format!("-> {}", self.sub.name)
    }
}

/// Where one request's response is.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// Nothing from the sub-pipeline yet.
    Waiting,
    /// Head encoded; body streaming.
    Streaming,
    /// Response complete.
    Done,
}

struct Pending {
    seq: u64,
    info: RequestInfo,
    sub: Option<PipelineId>,
    encoder: MessageEncoder,
    reply: Reply,
    /// Encoded bytes held back until the responses before this one are out.
    out: Data,
}

struct Demux {
    layout: Option<usize>,
    buffer_size: usize,
    /// Requests, held back while too many are in flight.
    input: RequestReader,
    queue: VecDeque<Pending>,
    next_seq: u64,
    /// Sub-pipeline of the request whose body is arriving.
    receiving: Option<PipelineId>,
    phase: ConnPhase,
    input_ended: bool,
    /// A response has been completed (see `Serve::answered`).
    answered: bool,
}

impl Demux {
    fn start_request(&mut self, h: RequestHead, framing: BodyFraming, cx: &mut Cx) {
        let mut info = request_info(&h);
        if cx.core.is_draining() {
            info.keep_alive = false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if expects_continue(&h)
            && !matches!(framing, BodyFraming::None | BodyFraming::Length(0))
            && self.queue.is_empty()
        {
            cx.output(Event::Data(Data::from_static(CONTINUE_100)));
        }
        let sub = self.layout.map(|layout| {
            let ctx = PipyContext::clone_from(cx.context);
            cx.spawn(layout, ctx, seq)
        });
        self.queue.push_back(Pending {
            seq,
            info,
            sub,
            encoder: MessageEncoder::new(self.buffer_size),
            reply: Reply::Waiting,
            out: Data::new(),
        });
        match sub {
            Some(p) => {
                cx.send(p, Event::MessageStart(Head::request(h)));
                self.receiving = Some(p);
            }
            None => {
                // No sub-pipeline: answer with an empty 200 like a pipeline that outputs nothing.
                self.receiving = None;
            }
        }
        if !info.keep_alive {
            // Anything after a final request is ignored.
            self.phase = ConnPhase::Closing;
        }
    }

    fn on_reply(&mut self, seq: u64, ev: Event, cx: &mut Cx) {
        let Some(p) = self.queue.iter_mut().find(|p| p.seq == seq) else {
            return;
        };
        match ev {
            Event::MessageStart(h) if p.reply == Reply::Waiting => {
                let resp = match crate::js::head::response_of(h, &mut cx.core.js) {
                    Ok(r) => r,
                    Err(e) => {
                        log::error!("[pjs] bad response head: {e}");
                        gateway_error_head(StreamError::RuntimeError)
                    }
                };
                p.encoder.start(
                    OutHead::Response(resp),
                    p.info.keep_alive,
                    p.info.head_method,
                    &mut p.out,
                );
                p.reply = Reply::Streaming;
            }
            Event::Data(d) if p.reply == Reply::Streaming => p.encoder.body(d, &mut p.out),
            Event::MessageEnd if p.reply == Reply::Streaming => {
                p.encoder.end(&mut p.out);
                p.reply = Reply::Done;
            }
            Event::StreamEnd(err) => match p.reply {
                Reply::Waiting => {
                    // A sub-pipeline that ended without answering: an empty 200, or the
                    // failure its end reports.
                    let head = if err == StreamError::None {
                        ResponseHead::default()
                    } else {
                        gateway_error_head(err)
                    };
                    p.encoder.start(
                        OutHead::Response(head),
                        p.info.keep_alive,
                        p.info.head_method,
                        &mut p.out,
                    );
                    p.encoder.end(&mut p.out);
                    p.reply = Reply::Done;
                }
                Reply::Streaming => {
                    p.encoder.end(&mut p.out);
                    p.reply = Reply::Done;
                    if err != StreamError::None {
                        // The body was cut short: the client must not trust this connection.
                        p.info.keep_alive = false;
                    }
                }
                Reply::Done => {}
            },
            _ => {}
        }
        self.flush(cx);
    }

    /// Emits responses that are at the front of the queue.
    fn flush(&mut self, cx: &mut Cx) {
        while let Some(front) = self.queue.front_mut() {
            if !front.out.is_empty() {
                cx.output(Event::Data(std::mem::take(&mut front.out)));
            }
            if front.reply != Reply::Done {
                break;
            }
            let Some(done) = self.queue.pop_front() else {
                break;
            };
            self.answered = true;
            if let Some(sub) = done.sub {
                cx.destroy(sub);
            }
            if !done.info.keep_alive {
                self.close(cx);
                return;
            }
        }
        if !self.input.is_empty() && self.phase != ConnPhase::Closing {
            self.pump(cx);
        }
        if self.queue.is_empty() && self.input_ended && self.input.is_empty() {
            self.close(cx);
        }
    }

    fn close(&mut self, cx: &mut Cx) {
        self.phase = ConnPhase::Closing;
        for p in self.queue.drain(..) {
            if let Some(sub) = p.sub {
                cx.destroy(sub);
            }
        }
        cx.output(Event::StreamEnd(StreamError::None));
    }

    fn input_error(&mut self, e: ParseError, cx: &mut Cx) {
        self.phase = ConnPhase::Closing;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back(Pending {
            seq,
            info: RequestInfo {
                keep_alive: false,
                head_method: false,
            },
            sub: None,
            encoder: MessageEncoder::new(0),
            reply: Reply::Done,
            out: error_bytes(e),
        });
        self.flush(cx);
    }
}

impl Demux {
    /// Starts decoded requests while fewer than `MAX_IN_FLIGHT` wait for responses and the
    /// client reads what it is sent.
    fn pump(&mut self, cx: &mut Cx) {
        loop {
            let starts_request = matches!(self.input.front(), Some(Decoded::Request(..)));
            if starts_request
                && (self.phase == ConnPhase::Closing
                    || self.queue.len() >= MAX_IN_FLIGHT
                    || cx.core.origin_paused())
            {
                break;
            }
            let Some(x) = self.input.pop() else {
                break;
            };
            match x {
                Decoded::Request(h, framing) => self.start_request(h, framing, cx),
                Decoded::Body(b) => {
                    if let Some(p) = self.receiving {
                        cx.send(p, Event::Data(b));
                    }
                }
                Decoded::End => {
                    if let Some(p) = self.receiving.take() {
                        cx.send(p, Event::MessageEnd);
                    } else if let Some(last) = self.queue.back_mut()
                        && last.sub.is_none()
                        && last.reply == Reply::Waiting
                    {
                        let seq = last.seq;
                        self.on_reply(seq, Event::StreamEnd(StreamError::None), cx);
                    }
                }
                Decoded::Response(_) => {}
            }
        }
        self.input.release_buffers();
        if self.phase != ConnPhase::Closing
            && let Some(e) = self.input.take_error()
        {
            self.input_error(e, cx);
        }
    }
}

impl Filter for Demux {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match ev {
            Event::Data(d) => {
                self.input.feed(d, cx);
                self.pump(cx);
            }
            Event::StreamEnd(_) => {
                self.input_ended = true;
                self.pump(cx);
                if let Some(p) = self.receiving.take() {
                    // The client went away mid-request: the request still ends (as in Pipy).
                    cx.send(p, Event::MessageEnd);
                }
                if self.queue.is_empty() && self.phase != ConnPhase::Closing {
                    self.close(cx);
                }
            }
            _ => {}
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if let Signal::Sub { tag, event } = sig {
            self.on_reply(tag, event, cx);
        }
    }

    fn on_drain(&mut self, cx: &mut Cx) {
        if self.phase == ConnPhase::Closing {
            return;
        }
        if self.queue.is_empty() && self.input.is_idle() {
            // A connection that has not been answered yet may have its first request on the
            // way: it gets that answer with `connection: close` instead.
            if self.answered {
                self.close(cx);
            }
        } else if let Some(last) = self.queue.back_mut() {
            // Its head may already be out with keep-alive; the connection closes after it anyway.
            last.info.keep_alive = false;
            self.phase = ConnPhase::Closing;
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        for p in self.queue.drain(..) {
            if let Some(sub) = p.sub {
                cx.destroy(sub);
            }
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "serveHTTP",
        "handler: Message | (request: Message) => Message, options?: { maxBodySize = '64m' (0: no limit) }",
        "HTTP/1.x server answering each request with the handler's message; a request body over maxBodySize gets 413",
        build_serve_http
    ),
    (
        "demuxHTTP",
        "pipeline: string, options?: {bufferSize}",
        "HTTP/1.x server: one sub-pipeline per request, responses in request order",
        build_demux_http
    ),
];

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::Serve;

    /// An idle keep-alive connection to `serveHTTP` holds one `Serve`: at most 200 bytes keeps
    /// it in the 208-byte malloc chunk (see `net::conn`'s test of `Conn`).
    #[test]
    fn serve_stays_within_its_malloc_size_class() {
        assert!(size_of::<Serve>() <= 200, "{}", size_of::<Serve>());
    }
}
