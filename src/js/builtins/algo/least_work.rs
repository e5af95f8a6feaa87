//! `algo.LeastWorkLoadBalancer(targets, unhealthy?)`: picks the eligible target with the
//! least outstanding work (`hits / weight`); `select` adds one unit, `deselect` removes it.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{
    Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction, Trace,
    js_string,
};

use super::cache::{is_unhealthy, unhealthy_arg};
use super::targets_arg;
use crate::js::builtins::helpers::with_this;

/// Outstanding work of one target.
#[derive(Trace, Finalize)]
struct Target {
    key: JsString,
    #[unsafe_ignore_trace]
    weight: f64,
    #[unsafe_ignore_trace]
    hits: u64,
}

impl Target {
    fn usage(&self) -> f64 {
        self.hits as f64 / self.weight
    }
}

/// Native data of an `algo.LeastWorkLoadBalancer` instance.
#[derive(Trace, Finalize, JsData)]
pub struct LeastWorkLoadBalancer {
    targets: Vec<Target>,
    unhealthy: Option<JsObject>,
}

/// Negative and NaN weights disable a target.
fn weight_from(n: f64) -> f64 {
    if n > 0.0 { n } else { 0.0 }
}

impl LeastWorkLoadBalancer {
    /// Adds a target or changes its weight (its outstanding work is kept).
    pub fn set(&mut self, key: JsString, weight: f64) {
        match self.targets.iter_mut().find(|t| t.key == key) {
            Some(t) => t.weight = weight,
            None => self.targets.push(Target {
                key,
                weight,
                hits: 0,
            }),
        }
    }

    /// Picks the least-loaded eligible target and charges it one unit of work.
    pub fn select(&mut self) -> Option<JsString> {
        let mut best: Option<usize> = None;
        for (i, t) in self.targets.iter().enumerate() {
            if t.weight <= 0.0 || is_unhealthy(self.unhealthy.as_ref(), &t.key) {
                continue;
            }
            if best.is_none_or(|b| t.usage() < self.targets[b].usage()) {
                best = Some(i);
            }
        }
        let t = &mut self.targets[best?];
        t.hits += 1;
        Some(t.key.clone())
    }

    /// Releases one unit of work from `key`.
    pub fn deselect(&mut self, key: &JsString) {
        if let Some(t) = self.targets.iter_mut().find(|t| &t.key == key) {
            t.hits = t.hits.saturating_sub(1);
        }
    }
}

fn lw_select(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let chosen = with_this::<LeastWorkLoadBalancer, _>(
        this,
        "LeastWorkLoadBalancer",
        "select",
        LeastWorkLoadBalancer::select,
    )?;
    Ok(chosen.map(JsValue::from).unwrap_or_default())
}

fn lw_deselect(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let Some(target) = args.first().filter(|v| !v.is_null_or_undefined()) else {
        return Ok(JsValue::undefined());
    };
    let key = target.to_string(ctx)?;
    with_this::<LeastWorkLoadBalancer, _>(this, "LeastWorkLoadBalancer", "deselect", |b| {
        b.deselect(&key);
    })?;
    Ok(JsValue::undefined())
}

fn lw_set(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    let weight = weight_from(args.get(1).cloned().unwrap_or_default().to_number(ctx)?);
    with_this::<LeastWorkLoadBalancer, _>(this, "LeastWorkLoadBalancer", "set", |b| {
        b.set(key, weight);
    })?;
    Ok(JsValue::undefined())
}

impl Class for LeastWorkLoadBalancer {
    const NAME: &'static str = "LeastWorkLoadBalancer";
    const LENGTH: usize = 2;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        class
            .method(
                js_string!("select"),
                0,
                NativeFunction::from_fn_ptr(lw_select),
            )
            .method(
                js_string!("deselect"),
                1,
                NativeFunction::from_fn_ptr(lw_deselect),
            )
            .method(js_string!("set"), 2, NativeFunction::from_fn_ptr(lw_set));
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
