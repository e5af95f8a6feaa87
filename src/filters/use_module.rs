//! `use(module, pipeline)` and `use([modules], up, down?, turnDown?)`: run the stream through
//! layouts of other modules (reference §3.7).
//!
//! A *stage* is made for every module that has the up layout or the down layout. Events enter
//! stage 0; each stage, on its first event, asks the turn-down predicate (in the use filter's
//! context). Turned down: the stream takes the down path starting at the previous stage.
//! Otherwise it goes through the stage's up pipeline (if any) into the next stage, and after the
//! last stage into the down path starting at the last stage. The down path visits the down layouts
//! in reverse order and ends at this filter's output. Every stage pipeline shares this filter's
//! context.
//!
//! That is how the chain behaves; how it runs is usually inline (`UseFactory::inline`, planned
//! by `engine::plan`): the stages' filters take this filter's place in its own pipeline instance,
//! with a `UseGate` before each stage asking the predicate, so that an event passes the whole
//! chain in one run instead of crossing into an instance per stage and back. The `Use` filter
//! below, an instance per stage, runs a chain that would take an instance past
//! `plan::MAX_PLANNED_FILTERS` filters. One difference is left: when the predicate throws, the
//! inline chain ends the stream past the chain as `Use` does, but stages before the gate that
//! threw still see what later comes into the chain.

use super::{Callback, FilterArgs};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{
    Cx, Filter, FilterFactory, InlinePart, Signal, SubPipeline, recycle_as,
};
use crate::engine::pipeline::{LayoutId, PipelineId};
use crate::js::builtins::helpers::array_elements;
use std::rc::Rc;

/// One module's part in the chain.
struct StageSpec {
    up: Option<SubPipeline>,
    down: Option<SubPipeline>,
}

pub fn build_use(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let first = a.arg(0);
    let is_list = first.as_object().is_some_and(|o| o.is_array());
    if !is_list {
        return build_single(a);
    }
    let paths = module_list(a)?;
    let up_name = a.string(1)?;
    // `use([files], up, fn)`, `use([files], up, down)` or `use([files], up, down, fn)`.
    let (down_name, turn_down) = match a.callback(2) {
        Some(cb) => (None, Some(cb)),
        None if a.arg(2).is_null_or_undefined() => (None, a.callback(3)),
        None => (Some(a.string(2)?), a.callback(3)),
    };
    let mut stages = Vec::new();
    let mut modules = Vec::new();
    for path in &paths {
        let m = crate::js::config::use_module(a.ctx, path).map_err(|e| e.to_string())?;
        modules.push(path.clone());
        let has_up =
            crate::js::config::module_has_layout(m, &up_name).map_err(|e| e.to_string())?;
        let has_down = match &down_name {
            Some(d) => crate::js::config::module_has_layout(m, d).map_err(|e| e.to_string())?,
            None => false,
        };
        if !has_up && !has_down {
            continue;
        }
        let sub = |name: &str| SubPipeline::new(name.to_string(), m, a.location.clone());
        stages.push(StageSpec {
            up: has_up.then(|| sub(&up_name)),
            down: match (&down_name, has_down) {
                (Some(d), true) => Some(sub(d)),
                _ => None,
            },
        });
    }
    Ok(Box::new(UseFactory {
        modules,
        up_name,
        stages,
        turn_down,
        down_path: down_name.is_some(),
    }))
}

/// `use(file, name)`: one stage, the layout must exist.
fn build_single(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let path = a.string(0)?;
    let name = a.string(1)?;
    let m = crate::js::config::use_module(a.ctx, &path).map_err(|e| e.to_string())?;
    if !crate::js::config::module_has_layout(m, &name).map_err(|e| e.to_string())? {
        return Err(format!("pipeline not found in module {path}: {name}"));
    }
    Ok(Box::new(UseFactory {
        modules: vec![path],
        up_name: name.clone(),
        stages: vec![StageSpec {
            up: Some(SubPipeline::new(name, m, a.location.clone())),
            down: None,
        }],
        turn_down: None,
        down_path: false,
    }))
}

fn module_list(a: &mut FilterArgs) -> Result<Vec<String>, String> {
    let Some(list) = a.arg(0).as_object() else {
        return Err("argument #1 must be a module path or an array of them".into());
    };
    let read = |ctx: &mut boa_engine::Context| -> boa_engine::JsResult<Vec<String>> {
        array_elements(&list, ctx)?
            .iter()
            .map(|v| Ok(v.to_string(ctx)?.to_std_string_escaped()))
            .collect()
    };
    read(a.ctx).map_err(|e| e.to_string())
}

struct UseFactory {
    modules: Vec<String>,
    up_name: String,
    stages: Vec<StageSpec>,
    turn_down: Option<Callback>,
    /// A down-layout name was given: turned-down streams go back through earlier stages.
    down_path: bool,
}

impl FilterFactory for UseFactory {
    fn name(&self) -> &'static str {
        "use"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(self.fresh(Vec::with_capacity(self.stages.len())))
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        // The stage list's storage is kept; `fresh` refills it from scratch.
        recycle_as(filter, |u: &mut Use| {
            let stages = std::mem::take(&mut u.stages);
            *u = self.fresh(stages);
        })
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        self.stages
            .iter_mut()
            .flat_map(|s| s.up.iter_mut().chain(s.down.iter_mut()))
            .collect()
    }
    fn inline(&self) -> Option<Vec<InlinePart>> {
        // The chain laid out flat: [gate k, up k] for every stage, then the down layouts in
        // reverse. Falling through is the path without turning down (after up k comes stage
        // k + 1, after the last up the down path, after down k down k - 1), so only a gate
        // that turns down jumps: to where `after_down` says, down k - 1 or past the chain.
        let gated = self.turn_down.is_some();
        let mut parts = Vec::with_capacity(self.stages.len() * 3);
        let mut gates = Vec::new();
        for stage in &self.stages {
            if gated {
                gates.push(parts.len());
                parts.push(InlinePart::Gate {
                    kind: 0,
                    to: Vec::new(),
                });
            }
            if let Some(up) = stage.up.as_ref().and_then(|p| p.id) {
                parts.push(InlinePart::Layout(up));
            }
        }
        let mut down_starts = vec![0; self.stages.len()];
        for (k, stage) in self.stages.iter().enumerate().rev() {
            down_starts[k] = parts.len();
            if let Some(down) = stage.down.as_ref().and_then(|p| p.id) {
                parts.push(InlinePart::Layout(down));
            }
        }
        let end = parts.len();
        for (k, &at) in gates.iter().enumerate() {
            let to = down_after(k, self.down_path)
                .and_then(|before| down_starts.get(before).copied())
                .unwrap_or(end);
            parts[at] = InlinePart::Gate {
                kind: 0,
                to: vec![to, end],
            };
        }
        Some(parts)
    }
    fn inline_gate(&self, _kind: usize, skips: &[usize]) -> Option<Rc<dyn FilterFactory>> {
        let turn_down = self.turn_down.clone()?;
        let (&to_skip, &end_skip) = (skips.first()?, skips.get(1)?);
        Some(Rc::new(UseGateFactory {
            spec: Rc::new(GateSpec {
                turn_down,
                to_skip,
                end_skip,
            }),
        }))
    }
    fn detail(&self) -> String {
        let first = self
            .modules
            .first()
            .map(String::as_str)
            .unwrap_or("(0 modules)");
        if self.modules.len() > 1 {
            format!(
                "{first} (plus {} more) [{}]",
                self.modules.len() - 1,
                self.up_name
            )
        } else {
            format!("{first} [{}]", self.up_name)
        }
    }
}

impl UseFactory {
    /// A new filter's state, its stages written into `stages` (emptied first).
    fn fresh(&self, mut stages: Vec<Stage>) -> Use {
        stages.clear();
        stages.extend(self.stages.iter().map(|s| Stage {
            up: s.up.as_ref().and_then(|p| p.id),
            down: s.down.as_ref().and_then(|p| p.id),
            route: None,
            down_route: None,
        }));
        Use {
            stages,
            turn_down: self.turn_down.clone(),
            down_path: self.down_path,
        }
    }
}

/// Where events addressed to some point of the chain go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Input of stage k.
    Stage(usize),
    /// The down path starting at stage k.
    Down(usize),
    /// This filter's output.
    Output,
}

/// How a stage's input was routed on its first event.
#[derive(Clone, Copy, Debug)]
enum Route {
    /// Through the stage's up pipeline.
    Up(PipelineId),
    /// Straight on to another point.
    Forward(Target),
}

struct Stage {
    up: Option<LayoutId>,
    down: Option<LayoutId>,
    route: Option<Route>,
    down_route: Option<Route>,
}

struct Use {
    stages: Vec<Stage>,
    turn_down: Option<Callback>,
    down_path: bool,
}

/// The stage whose down part comes after stage k's on the down path (and where a stream
/// turned down at stage k goes), `None` for the chain's output. Both forms of the chain route
/// with it.
fn down_after(k: usize, down_path: bool) -> Option<usize> {
    k.checked_sub(1).filter(|_| down_path)
}

fn up_tag(k: usize) -> u64 {
    (k as u64) << 1
}

fn down_tag(k: usize) -> u64 {
    ((k as u64) << 1) | 1
}

impl Use {
    /// Where the stream goes after stage k's up part.
    fn after_up(&self, k: usize) -> Target {
        if k + 1 < self.stages.len() {
            Target::Stage(k + 1)
        } else {
            Target::Down(k)
        }
    }

    /// Where the down path goes after stage k's down part.
    fn after_down(&self, k: usize) -> Target {
        match down_after(k, self.down_path) {
            Some(before) => Target::Down(before),
            None => Target::Output,
        }
    }

    /// Sends `ev` to `target`, deciding routes on the way. `Err` means the turn-down predicate
    /// threw.
    fn deliver(&mut self, mut target: Target, ev: Event, cx: &mut Cx) -> Result<(), ()> {
        loop {
            match target {
                Target::Output => {
                    cx.output(ev);
                    return Ok(());
                }
                Target::Stage(k) => {
                    let route = match self.stages[k].route {
                        Some(r) => r,
                        None => {
                            let r = self.route_stage(k, cx)?;
                            self.stages[k].route = Some(r);
                            r
                        }
                    };
                    match route {
                        Route::Up(p) => {
                            cx.send(p, ev);
                            return Ok(());
                        }
                        Route::Forward(t) => target = t,
                    }
                }
                Target::Down(k) => {
                    let route = match self.stages[k].down_route {
                        Some(r) => r,
                        None => {
                            let r = match self.stages[k].down {
                                Some(layout) => {
                                    let ctx = cx.context.clone();
                                    Route::Up(cx.spawn(layout, ctx, down_tag(k)))
                                }
                                None => Route::Forward(self.after_down(k)),
                            };
                            self.stages[k].down_route = Some(r);
                            r
                        }
                    };
                    match route {
                        Route::Up(p) => {
                            cx.send(p, ev);
                            return Ok(());
                        }
                        Route::Forward(t) => target = t,
                    }
                }
            }
        }
    }

    /// Stage k's first event: turn down, or enter its up pipeline, or pass it by.
    fn route_stage(&mut self, k: usize, cx: &mut Cx) -> Result<Route, ()> {
        let turned_down = match &self.turn_down {
            Some(cb) => cb.call(cx, &[])?.to_boolean(),
            None => false,
        };
        if turned_down {
            return Ok(Route::Forward(self.after_down(k)));
        }
        Ok(match self.stages[k].up {
            Some(layout) => {
                let ctx = cx.context.clone();
                Route::Up(cx.spawn(layout, ctx, up_tag(k)))
            }
            None => Route::Forward(self.after_up(k)),
        })
    }

    fn fail(&mut self, cx: &mut Cx) {
        // The predicate threw: end the stream here rather than leave it hanging.
        for s in &mut self.stages {
            s.route = Some(Route::Forward(Target::Output));
        }
        cx.output(Event::StreamEnd(StreamError::RuntimeError));
    }
}

impl Filter for Use {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if self.stages.is_empty() {
            cx.output(ev);
            return;
        }
        if self.deliver(Target::Stage(0), ev, cx).is_err() {
            self.fail(cx);
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        let Signal::Sub { tag, event } = sig else {
            return;
        };
        let k = (tag >> 1) as usize;
        if k >= self.stages.len() {
            return;
        }
        let next = if tag & 1 == 0 {
            self.after_up(k)
        } else {
            self.after_down(k)
        };
        if self.deliver(next, event, cx).is_err() {
            self.fail(cx);
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        for s in &self.stages {
            for r in [s.route, s.down_route].into_iter().flatten() {
                if let Route::Up(p) = r {
                    cx.destroy(p);
                }
            }
        }
    }
}

/// What the gates of one inlined chain share: the turn-down predicate and where they jump.
struct GateSpec {
    turn_down: Callback,
    /// Filters passed over to reach the down path that follows this stage when turned down.
    to_skip: usize,
    /// Filters passed over to reach the first filter after the chain.
    end_skip: usize,
}

/// Makes the gate before one stage of an inlined `use` chain.
struct UseGateFactory {
    spec: Rc<GateSpec>,
}

impl FilterFactory for UseGateFactory {
    fn name(&self) -> &'static str {
        "use"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(UseGate {
            spec: self.spec.clone(),
            route: GateRoute::Undecided,
        })
    }
    fn recycle(&self, filter: &mut dyn Filter) -> bool {
        recycle_as(filter, |g: &mut UseGate| g.route = GateRoute::Undecided)
    }
    fn detail(&self) -> String {
        format!(
            "gate (down +{}, end +{})",
            self.spec.to_skip, self.spec.end_skip
        )
    }
}

/// How a gate routes its stream, decided on its first event as `Use::route_stage` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateRoute {
    Undecided,
    /// Into the stage's filters, which follow the gate.
    Through,
    /// Turned down: on to the down path that follows this stage.
    TurnedDown,
    /// The predicate threw: the stream was ended past the chain, where what follows goes too.
    Failed,
}

/// The gate before one stage of an inlined `use` chain: the inline form of `Use::route_stage`.
struct UseGate {
    spec: Rc<GateSpec>,
    route: GateRoute,
}

impl Filter for UseGate {
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if self.route == GateRoute::Undecided {
            self.route = match self.spec.turn_down.call(cx, &[]) {
                Ok(v) if v.to_boolean() => GateRoute::TurnedDown,
                Ok(_) => GateRoute::Through,
                Err(()) => {
                    // As `Use::fail`: end the stream rather than leave it hanging.
                    self.route = GateRoute::Failed;
                    cx.output_past(
                        self.spec.end_skip,
                        Event::StreamEnd(StreamError::RuntimeError),
                    );
                    return;
                }
            };
        }
        match self.route {
            GateRoute::Undecided | GateRoute::Through => cx.output(ev),
            GateRoute::TurnedDown => cx.output_past(self.spec.to_skip, ev),
            GateRoute::Failed => cx.output_past(self.spec.end_skip, ev),
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "use",
    "module: string | string[], pipeline: string, pipelineDown?: string, turnDown?: () => bool",
    "Runs the stream through pipelines of other modules (a plugin chain with the array form)",
    build_use
),];

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(stages: usize, down_path: bool) -> Use {
        Use {
            stages: (0..stages)
                .map(|_| Stage {
                    up: None,
                    down: None,
                    route: None,
                    down_route: None,
                })
                .collect(),
            turn_down: None,
            down_path,
        }
    }

    #[test]
    fn up_path_ends_in_down_path_of_last_stage() {
        let u = chain(3, true);
        assert_eq!(u.after_up(0), Target::Stage(1));
        assert_eq!(u.after_up(1), Target::Stage(2));
        assert_eq!(u.after_up(2), Target::Down(2));
    }

    #[test]
    fn down_path_walks_back_to_output() {
        let u = chain(3, true);
        assert_eq!(u.after_down(2), Target::Down(1));
        assert_eq!(u.after_down(0), Target::Output);
        // Without a down-layout name, turning down goes straight to the output.
        let u = chain(3, false);
        assert_eq!(u.after_down(2), Target::Output);
    }

    #[test]
    fn tags_round_trip() {
        for k in [0usize, 1, 7] {
            assert_eq!((up_tag(k) >> 1) as usize, k);
            assert_eq!(up_tag(k) & 1, 0);
            assert_eq!((down_tag(k) >> 1) as usize, k);
            assert_eq!(down_tag(k) & 1, 1);
        }
    }
}
