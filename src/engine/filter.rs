//! The `Filter` seam: every stage of a pipeline implements it.

use super::context::ContextRef;
use super::event::Event;
use super::pipeline::{LayoutId, PipelineId, Sink};
use crate::worker::core::{Core, TimerId};
use std::rc::Rc;
use std::time::Duration;

/// Something other than the previous filter's output that a filter asked for.
#[derive(Debug)]
pub enum Signal {
    /// An event output by a sub-pipeline this filter spawned with `tag`.
    Sub { tag: u64, event: Event },
    /// A timer this filter armed with `tag` fired.
    Timer(u64),
    /// Data or end-of-stream from a socket this filter owns (the `connect` filter).
    Socket { tag: u64, event: Event },
    /// The socket this filter owns finished connecting.
    Connected { tag: u64 },
    /// The output this filter writes to has room again (after back-pressure), or a condition it
    /// waits for may have changed.
    Wake(u64),
}

/// A filter instance, created per pipeline instance from its `FilterFactory`.
pub trait Filter {
    /// Called for each event from the previous filter (or the pipeline input for the first one).
    /// Outputs go through `cx.output`. After this filter has seen a `StreamEnd`, no more events are
    /// delivered to it.
    fn on_event(&mut self, ev: Event, cx: &mut Cx);

    /// Called for a signal addressed to this filter (sub-pipeline output, timer, socket). May output
    /// events, which continue to the next filter.
    fn on_signal(&mut self, _sig: Signal, _cx: &mut Cx) {}

    /// Called once when the pipeline instance is destroyed: release sub-pipelines, sockets, timers.
    fn on_destroy(&mut self, _cx: &mut Cx) {}

    /// Called on the filters of an inbound connection's root pipeline when the worker starts
    /// draining (reload or graceful stop): a server codec closes an idle connection (by outputting
    /// `StreamEnd`) and marks the response in flight as the last one.
    fn on_drain(&mut self, _cx: &mut Cx) {}

    /// The filter as `Any`, for a factory's [`FilterFactory::recycle`] to find its own type.
    /// `None` (the default) for filters that are never recycled.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
}

/// The static description of a filter in a layout. Built once when the script is evaluated.
pub trait FilterFactory {
    /// Name shown in the pipeline graph (`--verify`) and logs.
    fn name(&self) -> &'static str;
    /// Creates an instance for a new pipeline instance.
    fn create(&self) -> Box<dyn Filter>;
    /// Called when an instance of this factory's layout is destroyed, after every filter's
    /// `on_destroy`, with the filter `create` made for it. Returns `true` once `filter` is in
    /// exactly the state `create` gives a new one, so that the layout's next instance takes it
    /// instead of allocating; `false` (the default) and it is dropped. Implementations assign
    /// what `create` would build, so no state can outlive its stream.
    fn recycle(&self, _filter: &mut dyn Filter) -> bool {
        false
    }
    /// Sub-pipeline references to resolve after every module is loaded.
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        Vec::new()
    }
    /// Extra text for the graph print (e.g. a target).
    fn detail(&self) -> String {
        String::new()
    }
    /// What to run in this filter's place, inline in the instance that would hold it, when the
    /// layouts are planned (`engine::plan`, after every sub-pipeline name is resolved). `None`
    /// (the default): the filter runs itself. A `use` chain answers with its stages' layouts, so
    /// that an event goes through them in one run of the dispatcher instead of crossing into a
    /// separate instance per stage and back.
    fn inline(&self) -> Option<Vec<InlinePart>> {
        None
    }
    /// The factory of a gate part of [`FilterFactory::inline`]'s answer (`InlinePart::Gate`),
    /// once the planner knows how far its jumps go: `skips[i]` filters passed over to land on
    /// the first filter of the gate's `to[i]`. `None` makes the planner keep this filter whole.
    fn inline_gate(&self, _kind: usize, _skips: &[usize]) -> Option<Rc<dyn FilterFactory>> {
        None
    }
}

/// One part of what a filter inlines (see [`FilterFactory::inline`]), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InlinePart {
    /// Every filter an instance of this layout has (its own plan, so inlining nests).
    Layout(LayoutId),
    /// A filter made by [`FilterFactory::inline_gate`] with `kind`, which passes events on to
    /// the next part or sends them ahead, to the first filter of one of the parts in `to` (the
    /// number of parts: past them all).
    Gate { kind: usize, to: Vec<usize> },
}

/// For [`FilterFactory::recycle`]: resets `filter` with `reset` if it is a `T` (the factory's own
/// filter type), and says whether it did.
pub fn recycle_as<T: 'static>(filter: &mut dyn Filter, reset: impl FnOnce(&mut T)) -> bool {
    match filter.as_any_mut().and_then(|f| f.downcast_mut::<T>()) {
        Some(t) => {
            reset(t);
            true
        }
        None => false,
    }
}

/// A reference by name to a layout of the same module, resolved at start-up.
#[derive(Clone, Debug)]
pub struct SubPipeline {
    pub name: String,
    /// Module whose layouts the name refers to.
    pub module: usize,
    /// `None` for `''` (pass-through) or before resolution.
    pub id: Option<LayoutId>,
    /// Where the reference was written, for error messages (`file:line:col`).
    pub location: String,
}

impl SubPipeline {
    pub fn new(name: String, module: usize, location: String) -> SubPipeline {
        SubPipeline {
            name,
            module,
            id: None,
            location,
        }
    }

    /// The empty name means "no sub-pipeline: pass events through".
    pub fn is_bypass(&self) -> bool {
        self.name.is_empty()
    }
}

/// What a filter can do while handling an event.
pub struct Cx<'a> {
    pub core: &'a mut Core,
    pub pipeline: PipelineId,
    pub filter: usize,
    pub context: &'a ContextRef,
    pub(crate) out: &'a mut Vec<Event>,
    /// How many filters what this call outputs passes over (an inlined `use` gate's jump).
    pub(crate) skip: usize,
}

impl Cx<'_> {
    /// Emits an event to the next filter.
    pub fn output(&mut self, ev: Event) {
        self.out.push(ev);
    }

    /// Emits an event to the filter `skip` places after the next one. Every output of the same
    /// call goes there: a filter that jumps does so for a whole call (an inlined `use` gate).
    pub fn output_past(&mut self, skip: usize, ev: Event) {
        self.skip = skip;
        self.out.push(ev);
    }

    /// Creates an instance of `layout` whose output comes back to this filter as
    /// `Signal::Sub { tag, .. }`.
    pub fn spawn(&mut self, layout: LayoutId, context: ContextRef, tag: u64) -> PipelineId {
        let sink = Sink::Filter {
            pipeline: self.pipeline,
            filter: self.filter,
            tag,
        };
        self.core.spawn_pipeline(layout, context, sink)
    }

    /// Creates an instance of `layout` whose output is discarded.
    pub fn spawn_detached(&mut self, layout: LayoutId, context: ContextRef) -> PipelineId {
        self.core.spawn_pipeline(layout, context, Sink::Discard)
    }

    /// Queues `ev` as input of another pipeline instance.
    pub fn send(&mut self, to: PipelineId, ev: Event) {
        self.core.send(to, ev);
    }

    /// Destroys a pipeline instance (after the current delivery finishes).
    pub fn destroy(&mut self, p: PipelineId) {
        self.core.destroy_pipeline(p);
    }

    /// Arms a one-shot timer that comes back as `Signal::Timer(tag)`.
    pub fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        let (p, f) = (self.pipeline, self.filter);
        self.core.timers.arm_filter(after, p, f, tag)
    }

    pub fn cancel_timer(&mut self, t: TimerId) {
        self.core.timers.cancel(t);
    }

    /// A signal to this same filter, delivered after the current work (used to re-enter from a
    /// shared structure without borrowing it).
    pub fn wake_self(&mut self, tag: u64) {
        let (p, f) = (self.pipeline, self.filter);
        self.core.signal(p, f, Signal::Wake(tag));
    }

    /// This filter's address, for registering with shared tables (sessions, throttles).
    pub fn address(&self) -> (PipelineId, usize) {
        (self.pipeline, self.filter)
    }
}
