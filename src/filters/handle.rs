//! `handle*` filters: call a script function on some events and pass every event through.

use super::event_kind::EventKind;
use super::{Callback, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, recycle_as};
use crate::engine::head::Head;
use crate::js::message::{JsMessage, data_to_js, event_to_js};
use crate::js::pure::CallbackArg;

fn name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::StreamStart => "handleStreamStart",
        EventKind::MessageStart => "handleMessageStart",
        EventKind::Message => "handleMessage",
        EventKind::MessageBody => "handleMessageBody",
        EventKind::MessageEnd => "handleMessageEnd",
        EventKind::Data => "handleData",
        EventKind::StreamEnd => "handleStreamEnd",
    }
}

fn build(kind: EventKind, a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let (limit, i) = kind.limit_arg(a)?;
    let cb = a.need_callback(i)?;
    Ok(Box::new(HandleFactory { kind, cb, limit }))
}

struct HandleFactory {
    kind: EventKind,
    cb: Callback,
    limit: Option<usize>,
}

impl FilterFactory for HandleFactory {
    fn name(&self) -> &'static str {
        name(self.kind)
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh())
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |h: &mut Handle| *h = self.fresh())
    }
}

impl HandleFactory {
    fn fresh(&self) -> Handle {
        Handle {
            kind: self.kind,
            cb: self.cb.clone(),
            limit: self.limit,
            started: false,
            collector: MessageCollector::default(),
        }
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
    kind: EventKind,
    cb: Callback,
    limit: Option<usize>,
    started: bool,
    collector: MessageCollector,
}

impl Handle {
    fn call_event(&self, ev: &Event, cx: &mut Cx) -> Result<(), ()> {
        let arg = match ev {
            Event::MessageStart(head) => CallbackArg::MessageStart(head),
            _ => CallbackArg::Opaque,
        };
        self.cb
            .call_with_arg(cx, arg, |ctx| Ok(vec![event_to_js(ev, ctx)?]))
            .map(|_| ())
    }

    fn deliver_message(&mut self, cx: &mut Cx) -> Result<(), ()> {
        let Some((head, body)) = self.collector.take() else {
            return Ok(());
        };
        match self.kind {
            EventKind::Message => self
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
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        let first = !self.started;
        self.started = true;
        let result = if self.kind.acts_on(&ev, first) {
            self.call_event(&ev, cx)
        } else if self.kind.collects_message() {
            match &ev {
                Event::MessageStart(h) => {
                    self.collector.start(h);
                    Ok(())
                }
                Event::Data(d) => {
                    self.collector.add(d, self.limit);
                    Ok(())
                }
                Event::MessageEnd | Event::StreamEnd(_) => self.deliver_message(cx),
            }
        } else {
            Ok(())
        };
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
        |a| build(EventKind::StreamStart, a)
    ),
    (
        "handleMessageStart",
        "callback: (MessageStart) => void",
        "Calls back on every MessageStart",
        |a| build(EventKind::MessageStart, a)
    ),
    (
        "handleMessage",
        "[sizeLimit,] callback: (Message) => void",
        "Calls back with every whole message",
        |a| build(EventKind::Message, a)
    ),
    (
        "handleMessageBody",
        "[sizeLimit,] callback: (Data) => void",
        "Calls back with every whole message body",
        |a| build(EventKind::MessageBody, a)
    ),
    (
        "handleMessageEnd",
        "callback: (MessageEnd) => void",
        "Calls back on every MessageEnd",
        |a| build(EventKind::MessageEnd, a)
    ),
    (
        "handleData",
        "callback: (Data) => void",
        "Calls back on every non-empty Data",
        |a| build(EventKind::Data, a)
    ),
    (
        "handleStreamEnd",
        "callback: (StreamEnd) => void",
        "Calls back on StreamEnd",
        |a| build(EventKind::StreamEnd, a)
    ),
];
