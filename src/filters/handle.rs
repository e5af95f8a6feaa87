//! `handle*` filters: call a script function on some events and pass every event through.

use super::{Callback, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory};
use crate::engine::head::Head;
use crate::js::message::{JsMessage, data_to_js, event_to_js};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    StreamStart,
    MessageStart,
    Message,
    MessageBody,
    MessageEnd,
    Data,
    StreamEnd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::StreamStart => "handleStreamStart",
            Kind::MessageStart => "handleMessageStart",
            Kind::Message => "handleMessage",
            Kind::MessageBody => "handleMessageBody",
            Kind::MessageEnd => "handleMessageEnd",
            Kind::Data => "handleData",
            Kind::StreamEnd => "handleStreamEnd",
        }
    }
}

fn build(kind: Kind, a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let (limit, i) = if matches!(kind, Kind::Message | Kind::MessageBody) {
        a.size_limit_prefix()?
    } else {
        (None, 0)
    };
    let cb = a.need_callback(i)?;
    Ok(Box::new(HandleFactory { kind, cb, limit }))
}

pub fn build_stream_start(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::StreamStart, a)
}
pub fn build_message_start(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::MessageStart, a)
}
pub fn build_message(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::Message, a)
}
pub fn build_message_body(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::MessageBody, a)
}
pub fn build_message_end(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::MessageEnd, a)
}
pub fn build_data(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::Data, a)
}
pub fn build_stream_end(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::StreamEnd, a)
}

struct HandleFactory {
    kind: Kind,
    cb: Callback,
    limit: Option<usize>,
}

impl FilterFactory for HandleFactory {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Handle {
            kind: self.kind,
            cb: self.cb.clone(),
            limit: self.limit,
            started: false,
            collector: MessageCollector::default(),
        })
    }
}

/// Gathers one message's head and body (up to a limit) while its events pass by.
#[derive(Default)]
pub struct MessageCollector {
    pub head: Option<Head>,
    pub body: Data,
    pub discarded: usize,
}

impl MessageCollector {
    pub fn start(&mut self, h: &Head) {
        self.head = Some(h.clone());
        self.body = Data::new();
        self.discarded = 0;
    }

    pub fn add(&mut self, d: &Data, limit: Option<usize>) {
        if self.head.is_none() {
            return;
        }
        match limit {
            Some(l) if self.body.len() + d.len() > l => {
                let room = l.saturating_sub(self.body.len());
                let mut d = d.clone();
                self.body.push_data(d.shift(room));
                self.discarded += d.len();
            }
            _ => self.body.push_data(d.clone()),
        }
    }

    /// The complete message, if one was open.
    pub fn take(&mut self) -> Option<(Head, Data)> {
        if self.discarded > 0 {
            log::error!(
                "message body over the size limit: {} bytes discarded",
                self.discarded
            );
        }
        let h = self.head.take()?;
        Some((h, std::mem::take(&mut self.body)))
    }

    pub fn in_message(&self) -> bool {
        self.head.is_some()
    }
}

struct Handle {
    kind: Kind,
    cb: Callback,
    limit: Option<usize>,
    started: bool,
    collector: MessageCollector,
}

impl Handle {
    fn call_event(&self, ev: &Event, cx: &mut Cx) -> Result<(), ()> {
        self.cb
            .call_with(cx, |ctx| Ok(vec![event_to_js(ev, ctx)?]))
            .map(|_| ())
    }

    fn deliver_message(&mut self, cx: &mut Cx) -> Result<(), ()> {
        let Some((head, body)) = self.collector.take() else {
            return Ok(());
        };
        match self.kind {
            Kind::Message => self
                .cb
                .call_with(cx, |ctx| {
                    Ok(vec![JsMessage::new_object(head, Some(body), ctx)?])
                })
                .map(|_| ()),
            _ => self
                .cb
                .call_with(cx, |ctx| Ok(vec![data_to_js(body, ctx)?]))
                .map(|_| ()),
        }
    }
}

impl Filter for Handle {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        let result = match (self.kind, &ev) {
            (Kind::StreamStart, _) if !self.started => {
                self.started = true;
                self.call_event(&ev, cx)
            }
            (Kind::MessageStart, Event::MessageStart(_)) => self.call_event(&ev, cx),
            (Kind::MessageEnd, Event::MessageEnd) => self.call_event(&ev, cx),
            (Kind::Data, Event::Data(d)) if !d.is_empty() => self.call_event(&ev, cx),
            (Kind::StreamEnd, Event::StreamEnd(_)) => self.call_event(&ev, cx),
            (Kind::Message | Kind::MessageBody, Event::MessageStart(h)) => {
                self.collector.start(h);
                Ok(())
            }
            (Kind::Message | Kind::MessageBody, Event::Data(d)) => {
                self.collector.add(d, self.limit);
                Ok(())
            }
            (Kind::Message | Kind::MessageBody, Event::MessageEnd | Event::StreamEnd(_)) => {
                self.deliver_message(cx)
            }
            _ => Ok(()),
        };
        self.started = true;
        match result {
            Ok(()) => cx.output(ev),
            Err(()) => cx.output(Event::StreamEnd(StreamError::RuntimeError)),
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "handleStreamStart",
        "callback: (firstEvent) => void",
        "Calls back with the first event of the stream",
        build_stream_start
    ),
    (
        "handleMessageStart",
        "callback: (MessageStart) => void",
        "Calls back on every MessageStart",
        build_message_start
    ),
    (
        "handleMessage",
        "[sizeLimit,] callback: (Message) => void",
        "Calls back with every whole message",
        build_message
    ),
    (
        "handleMessageBody",
        "[sizeLimit,] callback: (Data) => void",
        "Calls back with every whole message body",
        build_message_body
    ),
    (
        "handleMessageEnd",
        "callback: (MessageEnd) => void",
        "Calls back on every MessageEnd",
        build_message_end
    ),
    (
        "handleData",
        "callback: (Data) => void",
        "Calls back on every non-empty Data",
        build_data
    ),
    (
        "handleStreamEnd",
        "callback: (StreamEnd) => void",
        "Calls back on StreamEnd",
        build_stream_end
    ),
];
