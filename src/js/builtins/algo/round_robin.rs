//! `algo.RoundRobinLoadBalancer(targets, unhealthy?)`: smooth weighted round robin.
//!
//! Each pick takes the eligible target with the lowest `hits / weight`; when the picks since
//! the last reset reach the total eligible weight, all counters reset. With `{a: 2, b: 1}`
//! every three picks hold `a` twice and `b` once, interleaved.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{
    Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction, Trace,
    js_string,
};

use super::cache::{is_unhealthy, unhealthy_arg};
use super::targets_arg;
use crate::js::builtins::helpers::with_this;

/// Selection state of one target.
#[derive(Trace, Finalize)]
struct Target {
    key: JsString,
    #[unsafe_ignore_trace]
    weight: u32,
    #[unsafe_ignore_trace]
    hits: u32,
}

impl Target {
    fn usage(&self) -> f64 {
        f64::from(self.hits) / f64::from(self.weight)
    }
}

/// Native data of an `algo.RoundRobinLoadBalancer` instance.
#[derive(Trace, Finalize, JsData)]
pub struct RoundRobinLoadBalancer {
    targets: Vec<Target>,
    unhealthy: Option<JsObject>,
    #[unsafe_ignore_trace]
    total_hits: u64,
}

/// Pipy stores round-robin weights as integers; negatives and NaN disable a target.
fn weight_from(n: f64) -> u32 {
    if n.is_finite() && n > 0.0 {
        n.min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

impl RoundRobinLoadBalancer {
    fn total_weight(&self) -> u64 {
        self.targets.iter().map(|t| u64::from(t.weight)).sum()
    }

    /// Adds a target or changes its weight, scaling its hits to the current progress.
    pub fn set(&mut self, key: JsString, weight: u32) {
        let total_weight = self.total_weight();
        let hits = (self.total_hits * u64::from(weight))
            .checked_div(total_weight)
            .map_or(0, |h| h as u32);
        match self.targets.iter_mut().find(|t| t.key == key) {
            Some(t) => {
                self.total_hits = self.total_hits - u64::from(t.hits) + u64::from(hits);
                t.weight = weight;
                t.hits = hits;
            }
            None => {
                self.total_hits += u64::from(hits);
                self.targets.push(Target { key, weight, hits });
            }
        }
    }

    /// Picks the next target, or `None` when no target is eligible.
    pub fn select(&mut self) -> Option<JsString> {
        let mut best: Option<usize> = None;
        let mut eligible_weight = 0u64;
        for (i, t) in self.targets.iter().enumerate() {
            if t.weight == 0 || is_unhealthy(self.unhealthy.as_ref(), &t.key) {
                continue;
            }
            eligible_weight += u64::from(t.weight);
            if best.is_none_or(|b| t.usage() < self.targets[b].usage()) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.targets[chosen].hits += 1;
        self.total_hits += 1;
        if self.total_hits >= eligible_weight {
            for t in &mut self.targets {
                t.hits = 0;
            }
            self.total_hits = 0;
        }
        Some(self.targets[chosen].key.clone())
    }
}

fn rr_select(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let chosen = with_this::<RoundRobinLoadBalancer, _>(
        this,
        "RoundRobinLoadBalancer",
        "select",
        RoundRobinLoadBalancer::select,
    )?;
    Ok(chosen.map(JsValue::from).unwrap_or_default())
}

fn rr_set(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    let weight = weight_from(args.get(1).cloned().unwrap_or_default().to_number(ctx)?);
    with_this::<RoundRobinLoadBalancer, _>(this, "RoundRobinLoadBalancer", "set", |b| {
        b.set(key, weight);
    })?;
    Ok(JsValue::undefined())
}

fn rr_deselect(_this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    Ok(JsValue::undefined())
}

impl Class for RoundRobinLoadBalancer {
    const NAME: &'static str = "RoundRobinLoadBalancer";
    const LENGTH: usize = 2;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        class
            .method(
                js_string!("select"),
                0,
                NativeFunction::from_fn_ptr(rr_select),
            )
            .method(js_string!("set"), 2, NativeFunction::from_fn_ptr(rr_set))
            .method(
                js_string!("deselect"),
                1,
                NativeFunction::from_fn_ptr(rr_deselect),
            );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let mut balancer = Self {
            targets: Vec::new(),
            unhealthy: unhealthy_arg(args.get(1))?,
            total_hits: 0,
        };
        for (key, weight) in targets_arg(args.first(), ctx)? {
            balancer.set(key, weight_from(weight));
        }
        Ok(balancer)
    }
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::eval_string;

    #[test]
    fn weighted_rounds_are_permutations() {
        let picks = eval_string(
            "var b = new algo.RoundRobinLoadBalancer({a: 2, b: 1});
             var out = []; for (var i = 0; i < 9; i++) out.push(b.select()); out.join('')",
        );
        for round in picks.as_bytes().chunks(3) {
            let mut r = round.to_vec();
            r.sort_unstable();
            assert_eq!(r, b"aab", "{picks}");
        }
    }

    #[test]
    fn array_targets_alternate() {
        assert_eq!(
            eval_string(
                "var b = new algo.RoundRobinLoadBalancer(['x:1', 'y:2']);
                 [b.select(), b.select(), b.select(), b.select()].join(',')"
            ),
            "x:1,y:2,x:1,y:2"
        );
    }

    #[test]
    fn unhealthy_targets_are_skipped() {
        assert_eq!(
            eval_string(
                "var bad = new algo.Cache(); bad.set('a', true);
                 var b = new algo.RoundRobinLoadBalancer(['a', 'b'], bad);
                 var r = [b.select(), b.select()];
                 bad.set('b', true); r.push(String(b.select()));
                 bad.remove('a'); r.push(b.select()); r.join(',')"
            ),
            "b,b,undefined,a"
        );
    }

    #[test]
    fn set_and_empty() {
        assert_eq!(
            eval_string(
                "var b = new algo.RoundRobinLoadBalancer([]); var r = [String(b.select())];
                 b.set('n', 1); r.push(b.select()); b.set('n', 0); r.push(String(b.select()));
                 b.deselect('n'); r.join(',')"
            ),
            "undefined,n,undefined"
        );
    }
}
