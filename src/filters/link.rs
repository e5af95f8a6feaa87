//! `link(name1, cond1, name2, ..., nameN)`: send the stream through the first sub-pipeline whose
//! condition holds; the sub-pipeline shares this pipeline's context.

use super::{Callback, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal, SubPipeline, recycle_as};
use crate::engine::pipeline::PipelineId;
use std::rc::Rc;

#[derive(Clone)]
struct Route {
    sub: SubPipeline,
    cond: Option<Callback>,
}

pub fn build_link(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let mut routes = Vec::new();
    let mut i = 0;
    while i < a.len() {
        let sub = a.sub(i)?;
        let cond = a.callback(i + 1);
        i += if cond.is_some() { 2 } else { 1 };
        routes.push(Route { sub, cond });
    }
    if routes.is_empty() {
        return Err("link() needs at least one pipeline name".into());
    }
    Ok(Box::new(LinkFactory {
        routes: Rc::new(routes),
    }))
}

struct LinkFactory {
    /// Shared with every instance: nothing in a route changes after start-up.
    routes: Rc<Vec<Route>>,
}

impl FilterFactory for LinkFactory {
    fn name(&self) -> &'static str {
        "link"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh())
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |l: &mut Link| *l = self.fresh())
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        // Resolution runs before any instance exists, so this does not copy.
        Rc::make_mut(&mut self.routes)
            .iter_mut()
            .map(|r| &mut r.sub)
            .collect()
    }
    fn detail(&self) -> String {
        let names: Vec<&str> = self.routes.iter().map(|r| r.sub.name.as_str()).collect();
        format!("-> [{}]", names.join(", "))
    }
}

impl LinkFactory {
    fn fresh(&self) -> Link {
        Link {
            routes: self.routes.clone(),
            state: State::Choosing(Vec::new()),
        }
    }
}

enum State {
    /// No route chosen yet: events wait here.
    Choosing(Vec<Event>),
    Bypass,
    Linked(PipelineId),
}

struct Link {
    routes: Rc<Vec<Route>>,
    state: State,
}

impl Link {
    fn choose(&mut self, cx: &mut Cx) -> Result<Option<State>, ()> {
        for route in self.routes.iter() {
            let ok = match &route.cond {
                None => true,
                Some(cb) => cb.call(cx, &[])?.to_boolean(),
            };
            if ok {
                if route.sub.is_bypass() {
                    return Ok(Some(State::Bypass));
                }
                let Some(layout) = route.sub.id else {
                    return Ok(Some(State::Bypass));
                };
                let ctx = cx.context.clone();
                let p = cx.spawn(layout, ctx, 0);
                return Ok(Some(State::Linked(p)));
            }
        }
        Ok(None)
    }
}

impl Filter for Link {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match &mut self.state {
            State::Bypass => cx.output(ev),
            State::Linked(p) => {
                let p = *p;
                cx.send(p, ev)
            }
            State::Choosing(_) => {
                let chosen = match self.choose(cx) {
                    Ok(c) => c,
                    Err(()) => {
                        cx.output(Event::StreamEnd(StreamError::RuntimeError));
                        return;
                    }
                };
                let State::Choosing(buf) = &mut self.state else {
                    return;
                };
                // The usual case: the first event decides, and nothing was held back.
                if buf.is_empty()
                    && let Some(state) = chosen
                {
                    self.state = state;
                    return self.on_event(ev, cx);
                }
                buf.push(ev);
                if let Some(state) = chosen {
                    let buffered = std::mem::take(buf);
                    self.state = state;
                    for e in buffered {
                        match &self.state {
                            State::Linked(p) => {
                                let p = *p;
                                cx.send(p, e)
                            }
                            _ => cx.output(e),
                        }
                    }
                }
            }
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if let Signal::Sub { event, .. } = sig {
            cx.output(event);
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let State::Linked(p) = self.state {
            cx.destroy(p);
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "link",
    "pipeline: string, condition?: () => bool, ...",
    "Sends the stream to the first pipeline whose condition holds ('' = pass through)",
    build_link
),];
