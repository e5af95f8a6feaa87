//! The `algo` namespace: routing, load balancing, caching and pooling helpers.

pub mod cache;
pub mod hash;
pub mod hashing;
pub mod least_work;
pub mod resource_pool;
pub mod round_robin;
pub mod url_router;
pub mod weighted;

use boa_engine::object::ObjectInitializer;
use boa_engine::{Context, JsResult, JsString, JsValue, NativeFunction, js_string};

use crate::js::builtins::helpers::{
    array_elements, define_global, own_entries, register_class_into,
};

/// Builds the `algo` object in the current realm and installs it as a global.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let algo = ObjectInitializer::new(ctx)
        .function(
            NativeFunction::from_fn_ptr(hash::algo_hash),
            js_string!("hash"),
            1,
        )
        .build();
    register_class_into::<url_router::UrlRouter>(&algo, ctx)?;
    register_class_into::<round_robin::RoundRobinLoadBalancer>(&algo, ctx)?;
    register_class_into::<least_work::LeastWorkLoadBalancer>(&algo, ctx)?;
    register_class_into::<hashing::HashingLoadBalancer>(&algo, ctx)?;
    register_class_into::<cache::Cache>(&algo, ctx)?;
    register_class_into::<resource_pool::ResourcePool>(&algo, ctx)?;
    define_global("algo", algo, ctx)
}

/// Reads a balancer's `targets` argument: an array (weight 1 each, elements converted to
/// strings) or an object mapping target → weight.
fn targets_arg(value: Option<&JsValue>, ctx: &mut Context) -> JsResult<Vec<(JsString, f64)>> {
    let Some(object) = value.and_then(JsValue::as_object) else {
        return Ok(Vec::new());
    };
    if object.is_array() {
        let mut targets = Vec::new();
        for v in array_elements(&object, ctx)? {
            targets.push((v.to_string(ctx)?, 1.0));
        }
        return Ok(targets);
    }
    let mut targets = Vec::new();
    for (key, weight) in own_entries(&object, ctx)? {
        targets.push((key, weight.to_number(ctx)?));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn namespace_contents() {
        assert_eq!(
            eval_string(
                "['URLRouter', 'RoundRobinLoadBalancer', 'LeastWorkLoadBalancer', 'HashingLoadBalancer',
                  'Cache', 'ResourcePool', 'hash'].map(k => typeof algo[k]).join(',')"
            ),
            "function,function,function,function,function,function,function"
        );
        // Classes live in the namespace only.
        assert!(eval_bool(
            "typeof Cache === 'undefined' && typeof URLRouter === 'undefined'"
        ));
    }

    #[test]
    fn tutorial_19_dynamic_class_lookup() {
        assert!(eval_bool(
            "var b = new algo[undefined || 'RoundRobinLoadBalancer'](['a']); b.select() === 'a'
             && b instanceof algo.RoundRobinLoadBalancer"
        ));
    }

    #[test]
    fn tutorial_08_cache_of_balancer_selections() {
        assert_eq!(
            eval_string(
                "var b = new algo.RoundRobinLoadBalancer(['x', 'y']);
                 var picks = [];
                 for (var conn = 0; conn < 2; conn++) {
                   var c = new algo.Cache(k => k.select(), (k, v) => k.deselect(v));
                   picks.push(c.get(b), c.get(b));
                   c.clear();
                 }
                 picks.join(',')"
            ),
            "x,x,y,y"
        );
    }

    #[test]
    fn hash_is_a_safe_integer() {
        assert!(eval_bool(
            "var h = algo.hash('abc'); Number.isSafeInteger(h) && h >= 0 && h === algo.hash('abc')
             && algo.hash(1) === algo.hash(1.0)"
        ));
    }
}
