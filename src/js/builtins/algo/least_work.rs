//! `algo.LeastWorkLoadBalancer(targets, unhealthy?)`: picks the eligible target with the
//! least outstanding work (`hits / weight`); `select` adds one unit, `deselect` removes it.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, Trace};

use super::weighted::{Candidate, WeightedBalancer, construct, init_methods, least_used};

/// Outstanding work of one target.
#[derive(Trace, Finalize)]
struct Target {
    key: JsString,
    #[unsafe_ignore_trace]
    weight: f64,
    #[unsafe_ignore_trace]
    hits: u64,
}

/// Native data of an `algo.LeastWorkLoadBalancer` instance.
#[derive(Trace, Finalize, JsData)]
pub struct LeastWorkLoadBalancer {
    targets: Vec<Target>,
    unhealthy: Option<JsObject>,
}

impl WeightedBalancer for LeastWorkLoadBalancer {
    fn empty(unhealthy: Option<JsObject>) -> Self {
        Self {
            targets: Vec::new(),
            unhealthy,
        }
    }

    /// The target's outstanding work is kept.
    fn set(&mut self, key: JsString, weight: f64) {
        let weight = if weight > 0.0 { weight } else { 0.0 };
        match self.targets.iter_mut().find(|t| t.key == key) {
            Some(t) => t.weight = weight,
            None => self.targets.push(Target {
                key,
                weight,
                hits: 0,
            }),
        }
    }

    /// Charges the picked target one unit of work.
    fn select(&mut self) -> Option<JsString> {
        let candidates = self.targets.iter().map(|t| Candidate {
            key: &t.key,
            weight: t.weight,
            usage: t.hits as f64 / t.weight,
        });
        let pick = least_used(candidates, self.unhealthy.as_ref())?;
        let t = &mut self.targets[pick.index];
        t.hits += 1;
        Some(t.key.clone())
    }

    fn deselect(&mut self, key: &JsString) {
        if let Some(t) = self.targets.iter_mut().find(|t| &t.key == key) {
            t.hits = t.hits.saturating_sub(1);
        }
    }
}

impl Class for LeastWorkLoadBalancer {
    const NAME: &'static str = "LeastWorkLoadBalancer";
    const LENGTH: usize = 2;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        init_methods::<Self>(class);
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        construct(args, ctx)
    }
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::eval_string;

    #[test]
    fn sequential_select_deselect_keeps_one_target() {
        assert_eq!(
            eval_string(
                "var b = new algo.LeastWorkLoadBalancer(['a', 'b']); var r = [];
                 for (var i = 0; i < 3; i++) { var t = b.select(); r.push(t); b.deselect(t); }
                 r.join(',')"
            ),
            "a,a,a"
        );
    }

    #[test]
    fn concurrent_work_spreads_by_weight() {
        assert_eq!(
            eval_string(
                "var b = new algo.LeastWorkLoadBalancer({a: 1, b: 2}); var r = [];
                 for (var i = 0; i < 6; i++) r.push(b.select());
                 r.sort().join('')"
            ),
            "aabbbb"
        );
    }

    #[test]
    fn unhealthy_and_set() {
        assert_eq!(
            eval_string(
                "var bad = new algo.Cache(); bad.set('a', 1);
                 var b = new algo.LeastWorkLoadBalancer(['a', 'b'], bad);
                 var r = [b.select(), b.select()];
                 b.set('b', 0); r.push(String(b.select())); r.join(',')"
            ),
            "b,b,undefined"
        );
    }
}
