//! `link(name1, cond1, name2, ..., nameN)`: send the stream through the first sub-pipeline whose
//! condition holds; the sub-pipeline shares this pipeline's context.
//!
//! It usually runs inline (`LinkFactory::inline`, planned by `engine::plan`): the linked
//! pipelines' filters take this filter's place, one section per route, after a `LinkChooser`
//! that picks the section on the stream's first events as `Link::choose` does and sends the
//! stream there; a `SectionEnd` after each section but the last sends what comes out of it past
//! the others. `Link`, a sub-pipeline instance per stream, runs a link that would take an
//! instance past `plan::MAX_PLANNED_FILTERS` filters.

use super::{Callback, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{
    Cx, Filter, FilterFactory, InlinePart, Signal, SubPipeline, recycle_as,
};
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
    fn inline(&self) -> Option<Vec<InlinePart>> {
        // [chooser] then a section per linked route: [layout, section end] for each but the
        // last, whose output falls through. A bypass route ('') has no section: the chooser
        // sends it past them all.
        let mut parts = vec![InlinePart::Gate {
            kind: CHOOSER,
            to: Vec::new(),
        }];
        let mut section_starts = Vec::with_capacity(self.routes.len());
        let mut ends = Vec::new();
        for route in self.routes.iter() {
            // The loader resolves every name but `''`, which keeps no layout.
            match route.sub.id {
                Some(layout) => {
                    // The section before this one, if any, ends by jumping past the rest.
                    if parts.len() > 1 {
                        ends.push(parts.len());
                        parts.push(InlinePart::Gate {
                            kind: SECTION_END,
                            to: Vec::new(),
                        });
                    }
                    section_starts.push(Some(parts.len()));
                    parts.push(InlinePart::Layout(layout));
                }
                None => section_starts.push(None),
            }
        }
        let end = parts.len();
        let mut to: Vec<usize> = section_starts.iter().map(|s| s.unwrap_or(end)).collect();
        to.push(end);
        parts[0] = InlinePart::Gate { kind: CHOOSER, to };
        for at in ends {
            parts[at] = InlinePart::Gate {
                kind: SECTION_END,
                to: vec![end],
            };
        }
        Some(parts)
    }
    fn inline_gate(&self, kind: usize, skips: &[usize]) -> Option<Rc<dyn FilterFactory>> {
        Some(match kind {
            CHOOSER => Rc::new(LinkChooserFactory {
                routes: self.routes.clone(),
                skips: Rc::from(skips),
            }),
            _ => Rc::new(SectionEndFactory {
                skip: *skips.first()?,
            }),
        })
    }
}

/// `InlinePart::Gate` kinds of an inlined link.
const CHOOSER: usize = 0;
const SECTION_END: usize = 1;

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

/// The index of the first route whose condition holds (one without a condition always does),
/// `None` while none does, `Err` when a condition threw. Both forms of `link` choose with it.
fn first_route(routes: &[Route], cx: &mut Cx) -> Result<Option<usize>, ()> {
    for (i, route) in routes.iter().enumerate() {
        let holds = match &route.cond {
            None => true,
            Some(cb) => cb.call(cx, &[])?.to_boolean(),
        };
        if holds {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

impl Link {
    fn choose(&mut self, cx: &mut Cx) -> Result<Option<State>, ()> {
        let Some(route) = first_route(&self.routes, cx)?.and_then(|i| self.routes.get(i)) else {
            return Ok(None);
        };
        Ok(Some(match route.sub.id {
            Some(layout) => {
                let ctx = cx.context.clone();
                State::Linked(cx.spawn(layout, ctx, 0))
            }
            None => State::Bypass,
        }))
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

/// Makes the chooser of an inlined link.
struct LinkChooserFactory {
    routes: Rc<Vec<Route>>,
    /// Per route, the filters passed over to reach its section (past every section for a
    /// bypass); then those to reach past every section.
    skips: Rc<[usize]>,
}

impl FilterFactory for LinkChooserFactory {
    fn name(&self) -> &'static str {
        "link"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh())
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |c: &mut LinkChooser| *c = self.fresh())
    }
    fn detail(&self) -> String {
        format!("chooser {:?}", &self.skips[..])
    }
}

impl LinkChooserFactory {
    fn fresh(&self) -> LinkChooser {
        LinkChooser {
            routes: self.routes.clone(),
            skips: self.skips.clone(),
            state: Choice::Choosing(Vec::new()),
        }
    }
}

/// Where a `LinkChooser` sends its stream.
enum Choice {
    /// No condition has held yet: events wait here.
    Choosing(Vec<Event>),
    /// Past this many filters: to the chosen route's section.
    Skip(usize),
}

/// The inline form of `Link`'s choice: the first route whose condition holds, asked on each event
/// until one does.
struct LinkChooser {
    routes: Rc<Vec<Route>>,
    skips: Rc<[usize]>,
    state: Choice,
}

impl LinkChooser {
    /// The chosen route's skip, `None` while no condition holds, `Err` when one threw.
    fn choose(&self, cx: &mut Cx) -> Result<Option<usize>, ()> {
        Ok(first_route(&self.routes, cx)?.and_then(|i| self.skips.get(i).copied()))
    }

    /// Past every section: this link's output.
    fn past_all(&self) -> usize {
        self.skips.last().copied().unwrap_or(0)
    }
}

impl Filter for LinkChooser {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if let Choice::Skip(skip) = self.state {
            return cx.output_past(skip, ev);
        }
        let chosen = match self.choose(cx) {
            Ok(c) => c,
            Err(()) => {
                // As `Link`: the stream ends with the script's error, at this link's output.
                let past = self.past_all();
                return cx.output_past(past, Event::StreamEnd(StreamError::RuntimeError));
            }
        };
        let Choice::Choosing(held) = &mut self.state else {
            return;
        };
        match chosen {
            None => held.push(ev),
            Some(skip) => {
                let held = std::mem::take(held);
                self.state = Choice::Skip(skip);
                for e in held {
                    cx.output_past(skip, e);
                }
                cx.output_past(skip, ev);
            }
        }
    }
}

/// Makes the end of one section of an inlined link.
struct SectionEndFactory {
    skip: usize,
}

impl FilterFactory for SectionEndFactory {
    fn name(&self) -> &'static str {
        "link"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(SectionEnd { skip: self.skip })
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |e: &mut SectionEnd| e.skip = self.skip)
    }
    fn detail(&self) -> String {
        format!("section end (+{})", self.skip)
    }
}

/// What comes out of one inlined link section goes past the sections after it.
struct SectionEnd {
    skip: usize,
}

impl Filter for SectionEnd {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        cx.output_past(self.skip, ev);
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "link",
    "pipeline: string, condition?: () => bool, ...",
    "Sends the stream to the first pipeline whose condition holds ('' = pass through)",
    build_link
),];
