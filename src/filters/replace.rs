//! `replace*` filters: swap events for a value or for what a script function returns.

use super::event_kind::EventKind;
use super::handle::MessageCollector;
use super::{Dynamic, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, recycle_as};
use crate::js::message::{JsMessage, data_to_js, event_to_js, js_to_events};

fn name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Message => "replaceMessage",
        EventKind::MessageStart => "replaceMessageStart",
        EventKind::MessageBody => "replaceMessageBody",
        EventKind::MessageEnd => "replaceMessageEnd",
        EventKind::Data => "replaceData",
        EventKind::StreamStart => "replaceStreamStart",
        EventKind::StreamEnd => "replaceStreamEnd",
    }
}

fn build(kind: EventKind, a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let (limit, i) = kind.limit_arg(a)?;
    // A constant value (expanded per use) or a function.
    let r = Dynamic::from_arg(a, i);
    Ok(Box::new(ReplaceFactory { kind, r, limit }))
}

struct ReplaceFactory {
    kind: EventKind,
    r: Dynamic,
    limit: Option<usize>,
}

impl FilterFactory for ReplaceFactory {
    fn name(&self) -> &'static str {
        name(self.kind)
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh())
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |r: &mut Replace| *r = self.fresh())
    }
}

impl ReplaceFactory {
    fn fresh(&self) -> Replace {
        Replace {
            kind: self.kind,
            r: self.r.clone(),
            limit: self.limit,
            started: false,
            collector: MessageCollector::default(),
        }
    }
}

struct Replace {
    kind: EventKind,
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
        if let Err(e) = js_to_events(&value, cx.out, cx.core.js.ctx()) {
            cx.out.truncate(before);
            log::error!("[pjs] {}: {e}", name(self.kind));
        }
        Ok(())
    }
}

impl Filter for Replace {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        let first = !self.started;
        self.started = true;
        let r = match (self.kind, &ev) {
            _ if self.kind.acts_on(&ev, first) => self.emit(Input::Event(&ev), cx),
            (EventKind::Message, Event::MessageStart(h)) => {
                self.collector.start(h);
                Ok(())
            }
            (EventKind::Message, Event::Data(d)) if self.collector.in_message() => {
                self.collector.add(d, self.limit);
                Ok(())
            }
            (EventKind::Message, Event::MessageEnd) => match self.collector.take() {
                Some((h, b)) => self.emit(Input::Message(h, b), cx),
                None => Ok(()),
            },
            (EventKind::Message, Event::StreamEnd(_)) if self.collector.in_message() => {
                match self.collector.take() {
                    Some((h, b)) => self.emit(Input::Message(h, b), cx),
                    None => Ok(()),
                }
            }
            (EventKind::MessageBody, Event::MessageStart(h)) => {
                self.collector.start(h);
                cx.output(ev.clone());
                Ok(())
            }
            (EventKind::MessageBody, Event::Data(d)) if self.collector.in_message() => {
                self.collector.add(d, self.limit);
                Ok(())
            }
            (EventKind::MessageBody, Event::MessageEnd) => {
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
        |a| build(EventKind::Message, a)
    ),
    (
        "replaceMessageStart",
        "replacement: value | (MessageStart) => value",
        "Replaces every MessageStart",
        |a| build(EventKind::MessageStart, a)
    ),
    (
        "replaceMessageBody",
        "[sizeLimit,] replacement: value | (Data) => value",
        "Replaces every message body",
        |a| build(EventKind::MessageBody, a)
    ),
    (
        "replaceMessageEnd",
        "replacement: value | (MessageEnd) => value",
        "Replaces every MessageEnd",
        |a| build(EventKind::MessageEnd, a)
    ),
    (
        "replaceData",
        "replacement: value | (Data) => value",
        "Replaces every non-empty Data",
        |a| build(EventKind::Data, a)
    ),
    (
        "replaceStreamStart",
        "replacement: value | (firstEvent) => value",
        "Replaces the first event of the stream",
        |a| build(EventKind::StreamStart, a)
    ),
    (
        "replaceStreamEnd",
        "replacement: value | (StreamEnd) => value",
        "Replaces StreamEnd",
        |a| build(EventKind::StreamEnd, a)
    ),
];
