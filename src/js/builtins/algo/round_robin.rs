//! `algo.RoundRobinLoadBalancer(targets, unhealthy?)`: smooth weighted round robin.
//!
//! Each pick takes the eligible target with the lowest `hits / weight`; when the picks since
//! the last reset reach the total eligible weight, all counters reset. With `{a: 2, b: 1}`
//! every three picks hold `a` twice and `b` once, interleaved.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, Trace};

use super::weighted::{Candidate, WeightedBalancer, construct, init_methods, least_used};

/// Selection state of one target.
#[derive(Trace, Finalize)]
struct Target {
    key: JsString,
    #[unsafe_ignore_trace]
    weight: u32,
    #[unsafe_ignore_trace]
    hits: u32,
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
}

impl WeightedBalancer for RoundRobinLoadBalancer {
    fn empty(unhealthy: Option<JsObject>) -> Self {
        Self {
            targets: Vec::new(),
            unhealthy,
            total_hits: 0,
        }
    }

    /// Scales the target's hits to the current progress, so a new target does not take
    /// every pick until it catches up.
    fn set(&mut self, key: JsString, weight: f64) {
        let weight = weight_from(weight);
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

    fn select(&mut self) -> Option<JsString> {
        let candidates = self.targets.iter().map(|t| Candidate {
            key: &t.key,
            weight: f64::from(t.weight),
            usage: f64::from(t.hits) / f64::from(t.weight),
        });
        let pick = least_used(candidates, self.unhealthy.as_ref())?;
        self.targets[pick.index].hits += 1;
        self.total_hits += 1;
        // A round is over when every eligible target has had its share.
        if self.total_hits as f64 >= pick.eligible_weight {
            for t in &mut self.targets {
                t.hits = 0;
            }
            self.total_hits = 0;
        }
        Some(self.targets[pick.index].key.clone())
    }

    /// Round robin does not track outstanding work.
    fn deselect(&mut self, _key: &JsString) {}
}

impl Class for RoundRobinLoadBalancer {
    const NAME: &'static str = "RoundRobinLoadBalancer";
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
