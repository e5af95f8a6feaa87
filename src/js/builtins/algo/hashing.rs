//! `algo.HashingLoadBalancer(targets, unhealthy?)`: maps a key to
//! `targets[hash(key) % targets.length]`, or to nothing when that target is unhealthy.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, Trace};

use super::cache::{is_unhealthy, unhealthy_arg};
use super::hash::hash_value;
use crate::js::builtins::helpers::{add_methods, array_elements, with_this};

/// Native data of an `algo.HashingLoadBalancer` instance.
#[derive(Trace, Finalize, JsData)]
pub struct HashingLoadBalancer {
    targets: Vec<JsString>,
    unhealthy: Option<JsObject>,
}

impl HashingLoadBalancer {
    /// The target for `key`, unless it is marked unhealthy.
    pub fn select(&mut self, key: &JsValue) -> Option<JsString> {
        if self.targets.is_empty() {
            return None;
        }
        let index = (hash_value(key) % self.targets.len() as u64) as usize;
        let target = &self.targets[index];
        (!is_unhealthy(self.unhealthy.as_ref(), target)).then(|| target.clone())
    }
}

fn hashing_select(this: &JsValue, args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let key = args.first().cloned().unwrap_or_default();
    let chosen = with_this::<HashingLoadBalancer, _>(this, "HashingLoadBalancer", "select", |b| {
        b.select(&key)
    })?;
    Ok(chosen.map(JsValue::from).unwrap_or_default())
}

fn hashing_add(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let target = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    with_this::<HashingLoadBalancer, _>(this, "HashingLoadBalancer", "add", |b| {
        b.targets.push(target);
    })?;
    Ok(JsValue::undefined())
}

fn hashing_deselect(_this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    Ok(JsValue::undefined())
}

impl Class for HashingLoadBalancer {
    const NAME: &'static str = "HashingLoadBalancer";
    const LENGTH: usize = 2;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(
            class,
            &[
                ("select", 1, hashing_select),
                ("add", 1, hashing_add),
                ("deselect", 1, hashing_deselect),
            ],
        );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let mut targets = Vec::new();
        if let Some(list) = args.first().and_then(JsValue::as_object) {
            for v in array_elements(&list, ctx)? {
                targets.push(v.to_string(ctx)?);
            }
        }
        Ok(Self {
            targets,
            unhealthy: unhealthy_arg(args.get(1))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn same_key_same_target() {
        assert!(eval_bool(
            "var b = new algo.HashingLoadBalancer(['a', 'b', 'c']);
             var t = b.select('user-1'); b.select('user-1') === t && ['a','b','c'].includes(t)
             && b.select('user-1') === ['a','b','c'][algo.hash('user-1') % 3]"
        ));
    }

    #[test]
    fn empty_add_and_unhealthy() {
        assert_eq!(
            eval_string(
                "var bad = new algo.Cache(); var b = new algo.HashingLoadBalancer([], bad);
                 var r = [String(b.select('k'))]; b.add('only'); r.push(b.select('k'));
                 bad.set('only', true); r.push(String(b.select('k'))); r.join(',')"
            ),
            "undefined,only,undefined"
        );
    }
}
