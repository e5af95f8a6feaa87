//! `replace*` filters: swap events for a value or for what a script function returns.

use super::handle::MessageCollector;
use super::{Dynamic, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory};
use crate::js::message::{JsMessage, data_to_js, event_to_js, js_to_events};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Message,
    MessageStart,
    MessageBody,
    MessageEnd,
    Data,
    StreamStart,
    StreamEnd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Message => "replaceMessage",
            Kind::MessageStart => "replaceMessageStart",
            Kind::MessageBody => "replaceMessageBody",
            Kind::MessageEnd => "replaceMessageEnd",
            Kind::Data => "replaceData",
            Kind::StreamStart => "replaceStreamStart",
            Kind::StreamEnd => "replaceStreamEnd",
        }
    }
}

fn build(kind: Kind, a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let (limit, i) = if matches!(kind, Kind::Message | Kind::MessageBody) {
        a.size_limit_prefix()?
    } else {
        (None, 0)
    };
    // A constant value (expanded per use) or a function.
    let r = Dynamic::from_arg(a, i);
    Ok(Box::new(ReplaceFactory { kind, r, limit }))
}

pub fn build_message(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::Message, a)
}
pub fn build_message_start(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::MessageStart, a)
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
pub fn build_stream_start(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::StreamStart, a)
}
pub fn build_stream_end(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build(Kind::StreamEnd, a)
}

struct ReplaceFactory {
    kind: Kind,
    r: Dynamic,
    limit: Option<usize>,
}

impl FilterFactory for ReplaceFactory {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Replace {
            kind: self.kind,
            r: self.r.clone(),
            limit: self.limit,
            started: false,
            collector: MessageCollector::default(),
        })
    }
}

struct Replace {
    kind: Kind,
    r: Dynamic,
    limit: Option<usize>,
    started: bool,
    collector: MessageCollector,
}

/// What the function is called with.
enum Input<'a> {
    Event(&'a Event),
    Message(crate::engine::head::Head, crate::engine::data::Data),
    Body(crate::engine::data::Data),
}

impl Replace {
    /// Emits the replacement; `Err` when the script failed (the stream is then ended).
    fn emit(&self, input: Input, cx: &mut Cx) -> Result<(), ()> {
        let value = match &self.r {
            Dynamic::Value(v) => v.clone(),
            Dynamic::Func(cb) => cb.call_with(cx, |ctx| {
                Ok(vec![match input {
                    Input::Event(ev) => event_to_js(ev, ctx)?,
                    Input::Message(h, b) => JsMessage::new_object(h, Some(b), ctx)?,
                    Input::Body(b) => data_to_js(b, ctx)?,
                }])
            })?,
        };
        // Straight into the output; nothing of a value that turns out invalid is sent.
        let before = cx.out.len();
        if let Err(e) = js_to_events(&value, cx.out, &mut cx.core.js.ctx) {
            cx.out.truncate(before);
            log::error!("[pjs] {}: {e}", self.kind.name());
        }
        Ok(())
    }
}

impl Filter for Replace {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        let first = !self.started;
        self.started = true;
        let r = match (self.kind, &ev) {
            (Kind::StreamStart, _) if first => self.emit(Input::Event(&ev), cx),
            (Kind::MessageStart, Event::MessageStart(_))
            | (Kind::MessageEnd, Event::MessageEnd)
            | (Kind::StreamEnd, Event::StreamEnd(_)) => self.emit(Input::Event(&ev), cx),
            (Kind::Data, Event::Data(d)) if !d.is_empty() => self.emit(Input::Event(&ev), cx),
            (Kind::Message, Event::MessageStart(h)) => {
                self.collector.start(h);
                Ok(())
            }
            (Kind::Message, Event::Data(d)) if self.collector.in_message() => {
                self.collector.add(d, self.limit);
                Ok(())
            }
            (Kind::Message, Event::MessageEnd) => match self.collector.take() {
                Some((h, b)) => self.emit(Input::Message(h, b), cx),
                None => Ok(()),
            },
            (Kind::Message, Event::StreamEnd(_)) if self.collector.in_message() => {
                match self.collector.take() {
                    Some((h, b)) => self.emit(Input::Message(h, b), cx),
                    None => Ok(()),
                }
            }
            (Kind::MessageBody, Event::MessageStart(h)) => {
                self.collector.start(h);
                cx.output(ev.clone());
                Ok(())
            }
            (Kind::MessageBody, Event::Data(d)) if self.collector.in_message() => {
                self.collector.add(d, self.limit);
                Ok(())
            }
            (Kind::MessageBody, Event::MessageEnd) => {
                let r = match self.collector.take() {
                    Some((_, b)) => self.emit(Input::Body(b), cx),
                    None => Ok(()),
                };
                if r.is_ok() {
                    cx.output(Event::MessageEnd);
                }
                r
            }
            _ => {
                cx.output(ev);
                return;
            }
        };
        if r.is_err() {
            cx.output(Event::StreamEnd(StreamError::RuntimeError));
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "replaceMessage",
        "[sizeLimit,] replacement: value | (Message) => value",
        "Replaces every whole message",
        build_message
    ),
    (
        "replaceMessageStart",
        "replacement: value | (MessageStart) => value",
        "Replaces every MessageStart",
        build_message_start
    ),
    (
        "replaceMessageBody",
        "[sizeLimit,] replacement: value | (Data) => value",
        "Replaces every message body",
        build_message_body
    ),
    (
        "replaceMessageEnd",
        "replacement: value | (MessageEnd) => value",
        "Replaces every MessageEnd",
        build_message_end
    ),
    (
        "replaceData",
        "replacement: value | (Data) => value",
        "Replaces every non-empty Data",
        build_data
    ),
    (
        "replaceStreamStart",
        "replacement: value | (firstEvent) => value",
        "Replaces the first event of the stream",
        build_stream_start
    ),
    (
        "replaceStreamEnd",
        "replacement: value | (StreamEnd) => value",
        "Replaces StreamEnd",
        build_stream_end
    ),
];
