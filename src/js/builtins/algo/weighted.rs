//! What the weighted load balancers (`RoundRobinLoadBalancer`, `LeastWorkLoadBalancer`) share:
//! construction from `targets` (an array, or an object of weights) and an optional unhealthy
//! cache, the `select`/`set`/`deselect` script methods, and the pick of the least-used target.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue};

use super::cache::{is_unhealthy, unhealthy_arg};
use super::targets_arg;
use crate::js::builtins::helpers::{add_methods, with_this};

/// A weighted load balancer's selection policy.
pub trait WeightedBalancer: Class {
    /// A balancer with no targets that skips the targets `unhealthy` (an `algo.Cache`) holds.
    fn empty(unhealthy: Option<JsObject>) -> Self;

    /// Called by `set(key, weight)` and for each constructor target: adds the target or
    /// changes its weight. A weight that is not positive (or NaN) disables the target.
    fn set(&mut self, key: JsString, weight: f64);

    /// Called by `select()`: the next target, or `None` when no target is eligible.
    fn select(&mut self) -> Option<JsString>;

    /// Called by `deselect(target)` with a non-null target: the work picked for it is done.
    fn deselect(&mut self, key: &JsString);
}

/// One target as the pick sees it.
pub struct Candidate<'a> {
    pub key: &'a JsString,
    /// Not positive: the target is disabled.
    pub weight: f64,
    /// Picks (or outstanding work) relative to the weight.
    pub usage: f64,
}

/// The result of [`least_used`].
pub struct Pick {
    pub index: usize,
    /// Total weight of the enabled, healthy candidates.
    pub eligible_weight: f64,
}

/// The enabled, healthy candidate with the lowest usage (the first one on ties).
pub fn least_used<'a>(
    candidates: impl Iterator<Item = Candidate<'a>>,
    unhealthy: Option<&JsObject>,
) -> Option<Pick> {
    let mut best: Option<(usize, f64)> = None;
    let mut eligible_weight = 0.0;
    for (i, c) in candidates.enumerate() {
        if c.weight <= 0.0 || c.weight.is_nan() || is_unhealthy(unhealthy, c.key) {
            continue;
        }
        eligible_weight += c.weight;
        if best.is_none_or(|(_, usage)| c.usage < usage) {
            best = Some((i, c.usage));
        }
    }
    best.map(|(index, _)| Pick {
        index,
        eligible_weight,
    })
}

/// The class methods of a weighted balancer.
pub fn init_methods<B: WeightedBalancer>(class: &mut ClassBuilder<'_>) {
    add_methods(
        class,
        &[
            ("select", 0, js_select::<B>),
            ("set", 2, js_set::<B>),
            ("deselect", 1, js_deselect::<B>),
        ],
    );
}

/// `new B(targets, unhealthy?)`.
pub fn construct<B: WeightedBalancer>(args: &[JsValue], ctx: &mut Context) -> JsResult<B> {
    let mut balancer = B::empty(unhealthy_arg(args.get(1))?);
    for (key, weight) in targets_arg(args.first(), ctx)? {
        balancer.set(key, weight);
    }
    Ok(balancer)
}

fn js_select<B: WeightedBalancer>(
    this: &JsValue,
    _args: &[JsValue],
    _ctx: &mut Context,
) -> JsResult<JsValue> {
    let chosen = with_this::<B, _>(this, B::NAME, "select", B::select)?;
    Ok(chosen.map(JsValue::from).unwrap_or_default())
}

fn js_set<B: WeightedBalancer>(
    this: &JsValue,
    args: &[JsValue],
    ctx: &mut Context,
) -> JsResult<JsValue> {
    let key = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    let weight = args.get(1).cloned().unwrap_or_default().to_number(ctx)?;
    with_this::<B, _>(this, B::NAME, "set", |b| b.set(key, weight))?;
    Ok(JsValue::undefined())
}

fn js_deselect<B: WeightedBalancer>(
    this: &JsValue,
    args: &[JsValue],
    ctx: &mut Context,
) -> JsResult<JsValue> {
    let Some(target) = args.first().filter(|v| !v.is_null_or_undefined()) else {
        return Ok(JsValue::undefined());
    };
    let key = target.to_string(ctx)?;
    with_this::<B, _>(this, B::NAME, "deselect", |b| b.deselect(&key))?;
    Ok(JsValue::undefined())
}
