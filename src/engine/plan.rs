//! What each layout's instances are made of: its filters, with every filter that inlines others
//! (a `use` chain, `FilterFactory::inline`) replaced by the filters of the layouts it names.
//!
//! Why: an event that crosses from one pipeline instance into another goes through the
//! dispatcher's queue and a run of its own, about 850 instructions before any filter does
//! anything (bench/ANALYSIS.md, twenty-fifth session). A plugin gateway's request crossed into
//! and back out of a separate instance for every plugin; inlined, the plugins' filters run in
//! the instance of the `use` filter, one after the other, as direct calls.

use super::filter::{FilterFactory, InlinePart};
use super::pipeline::{Layout, LayoutId, Step};

/// The most filters an instance may have with inlining: the dispatcher keeps one "has seen
/// `StreamEnd`" bit per filter in a `u64`. A `use` that would pass it runs its stages as
/// separate instances, as it does without planning.
pub const MAX_PLANNED_FILTERS: usize = 64;

/// Fills every layout's `plan`, logging at debug level what runs inline (`modules` names the
/// modules in the log). Layouts must be free of recursion (the loader rejects it), so that the
/// layouts a filter inlines never lead back to the one being planned.
pub fn plan_layouts(layouts: &mut [Layout], modules: &[String]) {
    let mut plans: Vec<Option<Vec<Step>>> = vec![None; layouts.len()];
    for id in 0..layouts.len() {
        plan_of(id, layouts, modules, &mut plans, 0);
    }
    for (layout, plan) in layouts.iter_mut().zip(plans) {
        layout.plan = plan.unwrap_or_default();
    }
}

/// The plan of layout `id`, planning the layouts it inlines first. `depth` bounds the
/// recursion should a cycle ever get past the loader: past it, filters stay whole.
fn plan_of(
    id: LayoutId,
    layouts: &[Layout],
    modules: &[String],
    plans: &mut Vec<Option<Vec<Step>>>,
    depth: usize,
) -> Vec<Step> {
    if let Some(Some(plan)) = plans.get(id) {
        return plan.clone();
    }
    let Some(layout) = layouts.get(id) else {
        return Vec::new();
    };
    let mut plan = Vec::with_capacity(layout.filters.len());
    for (index, factory) in layout.filters.iter().enumerate() {
        let whole = Step::Filter { layout: id, index };
        let inlined = match factory.inline() {
            Some(parts) if depth < layouts.len() => {
                inline_parts(factory.as_ref(), &parts, layouts, modules, plans, depth + 1)
            }
            _ => None,
        };
        let Some(steps) = inlined else {
            plan.push(whole);
            continue;
        };
        let module = modules.get(layout.module).map_or("?", String::as_str);
        let (title, name) = (layout.title(), factory.name());
        let after = layout.filters.len() - index - 1;
        if plan.len() + steps.len() + after <= MAX_PLANNED_FILTERS {
            log::debug!(
                "{module}: {title}: {name} runs inline, as {} filters",
                steps.len()
            );
            plan.extend(steps);
        } else {
            log::debug!(
                "{module}: {title}: {name} runs its pipelines as instances: inline, the instance \
                 would pass {MAX_PLANNED_FILTERS} filters"
            );
            plan.push(whole);
        }
    }
    if let Some(slot) = plans.get_mut(id) {
        *slot = Some(plan.clone());
    }
    plan
}

/// The steps `factory`'s inline parts come to, or `None` when it cannot make a gate.
fn inline_parts(
    factory: &dyn FilterFactory,
    parts: &[InlinePart],
    layouts: &[Layout],
    modules: &[String],
    plans: &mut Vec<Option<Vec<Step>>>,
    depth: usize,
) -> Option<Vec<Step>> {
    let expanded: Vec<Vec<Step>> = parts
        .iter()
        .map(|part| match part {
            InlinePart::Layout(l) => plan_of(*l, layouts, modules, plans, depth),
            // Made below, once every part's length is known.
            InlinePart::Gate { .. } => Vec::new(),
        })
        .collect();
    // Where each part starts: a gate is one filter.
    let mut starts = Vec::with_capacity(parts.len() + 1);
    let mut at = 0;
    for (part, steps) in parts.iter().zip(&expanded) {
        starts.push(at);
        at += match part {
            InlinePart::Gate { .. } => 1,
            InlinePart::Layout(_) => steps.len(),
        };
    }
    starts.push(at);
    let end = at;
    let mut out = Vec::with_capacity(end);
    for ((part, steps), &start) in parts.iter().zip(expanded).zip(&starts) {
        match part {
            InlinePart::Layout(_) => out.extend(steps),
            InlinePart::Gate { kind, to } => {
                // Jumps go ahead only: a target at or before the gate means the next filter.
                let skips: Vec<usize> = to
                    .iter()
                    .map(|&t| starts.get(t).copied().unwrap_or(end).max(start + 1) - start - 1)
                    .collect();
                out.push(Step::Planned(factory.inline_gate(*kind, &skips)?));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::Event;
    use crate::engine::filter::{Cx, Filter};
    use crate::engine::pipeline::LayoutKind;
    use std::rc::Rc;

    struct Pass;
    impl Filter for Pass {
        fn on_event(&mut self, ev: Event, cx: &mut Cx) {
            cx.output(ev);
        }
    }

    /// A plain filter, or one that inlines `parts` and makes gates that remember their skips.
    struct Fake {
        parts: Option<Vec<InlinePart>>,
        skips: Option<Vec<usize>>,
    }
    impl FilterFactory for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn create(&self) -> Box<dyn Filter> {
            Box::new(Pass)
        }
        fn inline(&self) -> Option<Vec<InlinePart>> {
            self.parts.clone()
        }
        fn detail(&self) -> String {
            let skips = self.skips.iter().flatten().map(|s| s.to_string());
            skips.collect::<Vec<_>>().join(",")
        }
        fn inline_gate(&self, _kind: usize, skips: &[usize]) -> Option<Rc<dyn FilterFactory>> {
            Some(Rc::new(Fake {
                parts: None,
                skips: Some(skips.to_vec()),
            }))
        }
    }

    fn layout(filters: Vec<Option<Vec<InlinePart>>>) -> Layout {
        Layout {
            name: String::new(),
            kind: LayoutKind::Named,
            module: 0,
            filters: filters
                .into_iter()
                .map(|parts| Box::new(Fake { parts, skips: None }) as Box<dyn FilterFactory>)
                .collect(),
            plan: Vec::new(),
        }
    }

    /// What a plan is, readably: `L.i` for a layout's filter, `G` and its skips for a gate.
    fn show(l: &Layout) -> Vec<String> {
        l.plan
            .iter()
            .map(|s| match s {
                Step::Filter { layout, index } => format!("{layout}.{index}"),
                Step::Planned(gate) => format!("G{}", gate.detail()),
            })
            .collect()
    }

    #[test]
    fn stages_take_the_place_of_the_inlining_filter_and_gates_skip_to_their_targets() {
        // Layout 0: [a, use(1 gated, 2 gated, then down layout 3), b]
        let gate = || InlinePart::Gate {
            kind: 0,
            to: vec![4, 5],
        };
        let chain = vec![
            gate(),
            InlinePart::Layout(1),
            gate(),
            InlinePart::Layout(2),
            InlinePart::Layout(3),
        ];
        let mut layouts = vec![
            layout(vec![None, Some(chain), None]),
            layout(vec![None, None]),
            layout(vec![None]),
            layout(vec![None]),
        ];
        plan_layouts(&mut layouts, &[]);
        assert_eq!(
            show(&layouts[0]),
            ["0.0", "G4,5", "1.0", "1.1", "G1,2", "2.0", "3.0", "0.2"]
        );
        // Layouts that inline nothing plan as themselves.
        assert_eq!(show(&layouts[1]), ["1.0", "1.1"]);
    }

    #[test]
    fn inlining_nests_and_a_plan_past_the_bound_keeps_the_filter_whole() {
        let mut layouts = vec![
            layout(vec![Some(vec![InlinePart::Layout(1)])]),
            layout(vec![None, Some(vec![InlinePart::Layout(2)])]),
            layout(vec![None, None]),
        ];
        plan_layouts(&mut layouts, &[]);
        assert_eq!(show(&layouts[0]), ["1.0", "2.0", "2.1"]);

        let mut layouts = vec![
            layout(vec![Some(vec![InlinePart::Layout(1)]), None]),
            layout(vec![None; MAX_PLANNED_FILTERS]),
        ];
        plan_layouts(&mut layouts, &[]);
        assert_eq!(show(&layouts[0]), ["0.0", "0.1"]);
    }
}
