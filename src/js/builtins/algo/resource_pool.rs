//! `algo.ResourcePool(allocator)`: hands out reusable resources (e.g. connection ids).
//!
//! `allocate(pool, tenant?)` reuses the oldest freed resource of `pool` or calls
//! `allocator(pool, tenant)`; a tenant keeps getting the same resource of a pool until it is
//! freed. `free(resource)` returns it to its pool; `freeTenant(tenant)` frees all of a
//! tenant's resources. Pools, tenants and resources are keyed by value (objects by identity).

use std::collections::{HashMap, VecDeque};

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{Context, Finalize, JsData, JsObject, JsResult, JsValue, Trace};

use crate::js::builtins::helpers::{ValueKey, add_methods, type_error, with_this};

/// Where an allocated resource belongs.
#[derive(Trace, Finalize)]
struct Allocation {
    pool: ValueKey,
    tenant: Option<ValueKey>,
}

/// Native data of an `algo.ResourcePool` instance.
#[derive(Trace, Finalize, JsData)]
pub struct ResourcePool {
    allocator: JsObject,
    /// Freed resources per pool, oldest first.
    free_lists: HashMap<ValueKey, VecDeque<JsValue>>,
    allocated: HashMap<ValueKey, Allocation>,
    /// Per tenant: (pool, resource) pairs in allocation order.
    tenants: HashMap<ValueKey, Vec<(ValueKey, JsValue)>>,
}

impl ResourcePool {
    fn tenant_resource(&self, tenant: &ValueKey, pool: &ValueKey) -> Option<JsValue> {
        self.tenants
            .get(tenant)?
            .iter()
            .find(|(p, _)| p == pool)
            .map(|(_, r)| r.clone())
    }

    fn take_free(&mut self, pool: &ValueKey) -> Option<JsValue> {
        self.free_lists.get_mut(pool)?.pop_front()
    }

    fn record(&mut self, pool: ValueKey, tenant: Option<ValueKey>, resource: &JsValue) {
        if let Some(t) = &tenant {
            self.tenants
                .entry(t.clone())
                .or_default()
                .push((pool.clone(), resource.clone()));
        }
        self.allocated
            .insert(ValueKey::new(resource), Allocation { pool, tenant });
    }

    fn release(&mut self, pool: ValueKey, resource: JsValue) {
        self.free_lists.entry(pool).or_default().push_back(resource);
    }

    /// Returns `resource` to its pool; unknown resources are ignored.
    pub fn free(&mut self, resource: &JsValue) {
        let Some(a) = self.allocated.remove(&ValueKey::new(resource)) else {
            return;
        };
        if let Some(tenant) = &a.tenant
            && let Some(list) = self.tenants.get_mut(tenant)
        {
            list.retain(|(p, _)| p != &a.pool);
            if list.is_empty() {
                self.tenants.remove(tenant);
            }
        }
        self.release(a.pool.clone(), resource.clone());
    }

    /// Frees every resource held by `tenant`.
    pub fn free_tenant(&mut self, tenant: &JsValue) {
        let Some(list) = self.tenants.remove(&ValueKey::new(tenant)) else {
            return;
        };
        for (pool, resource) in list {
            self.allocated.remove(&ValueKey::new(&resource));
            self.release(pool, resource);
        }
    }
}

fn pool_allocate(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let pool_value = args.first().cloned().unwrap_or_default();
    let tenant_value = args.get(1).cloned().unwrap_or_default();
    let pool = ValueKey::new(&pool_value);
    let tenant = (!tenant_value.is_undefined()).then(|| ValueKey::new(&tenant_value));
    let (reused, allocator) =
        with_this::<ResourcePool, _>(this, "ResourcePool", "allocate", |p| {
            if let Some(r) = tenant.as_ref().and_then(|t| p.tenant_resource(t, &pool)) {
                return (Some((r, true)), p.allocator.clone());
            }
            (p.take_free(&pool).map(|r| (r, false)), p.allocator.clone())
        })?;
    let resource = match reused {
        Some((r, true)) => return Ok(r),
        Some((r, false)) => r,
        None => allocator.call(&JsValue::undefined(), &[pool_value, tenant_value], ctx)?,
    };
    with_this::<ResourcePool, _>(this, "ResourcePool", "allocate", |p| {
        p.record(pool, tenant, &resource);
    })?;
    Ok(resource)
}

fn pool_free(this: &JsValue, args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let resource = args.first().cloned().unwrap_or_default();
    with_this::<ResourcePool, _>(this, "ResourcePool", "free", |p| p.free(&resource))?;
    Ok(JsValue::undefined())
}

fn pool_free_tenant(this: &JsValue, args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let tenant = args.first().cloned().unwrap_or_default();
    with_this::<ResourcePool, _>(this, "ResourcePool", "freeTenant", |p| {
        p.free_tenant(&tenant);
    })?;
    Ok(JsValue::undefined())
}

impl Class for ResourcePool {
    const NAME: &'static str = "ResourcePool";
    const LENGTH: usize = 1;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(
            class,
            &[
                ("allocate", 2, pool_allocate),
                ("free", 1, pool_free),
                ("freeTenant", 1, pool_free_tenant),
            ],
        );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        _ctx: &mut Context,
    ) -> JsResult<Self> {
        let allocator = args
            .first()
            .and_then(JsValue::as_callable)
            .ok_or_else(|| type_error("algo.ResourcePool: allocator must be a function"))?;
        Ok(Self {
            allocator,
            free_lists: HashMap::new(),
            allocated: HashMap::new(),
            tenants: HashMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn tutorial_09_ids_are_reused_fifo() {
        assert_eq!(
            eval_string(
                "var g = {id: 0}; var p = new algo.ResourcePool(() => ++g.id);
                 var a = p.allocate(), b = p.allocate(), c = p.allocate();
                 p.free(b); p.free(a);
                 [a, b, c, p.allocate(), p.allocate(), p.allocate()].join(',')"
            ),
            "1,2,3,2,1,4"
        );
    }

    #[test]
    fn pools_are_separate() {
        assert_eq!(
            eval_string(
                "var n = 0; var p = new algo.ResourcePool((pool) => pool + (++n));
                 var a = p.allocate('x'); p.free(a);
                 [p.allocate('y'), p.allocate('x')].join(',')"
            ),
            "y2,x1"
        );
    }

    #[test]
    fn tenants_keep_their_resource_until_freed() {
        assert_eq!(
            eval_string(
                "var n = 0; var p = new algo.ResourcePool(() => ++n); var t = {};
                 var r = [p.allocate('x', t), p.allocate('x', t), p.allocate('y', t), p.allocate('x', 'u')];
                 p.freeTenant(t);
                 r.push(p.allocate('x'), p.allocate('y'), p.allocate('x', 'v'));
                 p.free(r[3]); r.push(p.allocate('x', 'u'));
                 r.join(',')"
            ),
            "1,1,2,3,1,2,4,3"
        );
    }

    #[test]
    fn allocator_is_required() {
        assert!(eval_bool(
            "try { new algo.ResourcePool(); false } catch (e) { e instanceof TypeError }"
        ));
    }
}
