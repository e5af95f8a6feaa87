//! `algo.Cache(allocate?, free?, {size, ttl}?)`: a key → value map with optional
//! least-recently-used eviction over `size` entries and expiry after `ttl` seconds.
//!
//! Keys compare by value for primitives and by identity for objects. `get` on a missing or
//! expired key calls `allocate(key)` and stores the result; `free(key, value)` is called for
//! entries dropped by eviction, `remove` and `clear`. An entry that merely expires is not
//! passed to `free` (as in Pipy).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::{
    Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, Trace, js_string,
};

use crate::js::builtins::helpers::{ValueKey, add_methods, type_error, with_this};

/// Where `Cache::peek` found an entry, for the `Cache::touch` that follows.
#[derive(Clone, Copy, Debug)]
pub struct CacheSlot(usize);

/// Marks the end of the recency list.
const NIL: usize = usize::MAX;

/// One stored entry, linked into the recency list (oldest at `head`).
#[derive(Trace, Finalize)]
struct Entry {
    key: ValueKey,
    value: JsValue,
    #[unsafe_ignore_trace]
    expires: Option<Instant>,
    prev: usize,
    next: usize,
}

/// A hash map whose entries are also kept in least-recently-used order.
#[derive(Trace, Finalize)]
struct LruMap {
    index: HashMap<ValueKey, usize>,
    slots: Vec<Option<Entry>>,
    vacant: Vec<usize>,
    head: usize,
    tail: usize,
}

impl LruMap {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            vacant: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn entry(&self, slot: usize) -> Option<&Entry> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    fn entry_mut(&mut self, slot: usize) -> Option<&mut Entry> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    fn unlink(&mut self, slot: usize) {
        let Some((prev, next)) = self.entry(slot).map(|e| (e.prev, e.next)) else {
            return;
        };
        match self.entry_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.entry_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn link_back(&mut self, slot: usize) {
        let tail = self.tail;
        if let Some(e) = self.entry_mut(slot) {
            e.prev = tail;
            e.next = NIL;
        }
        match self.entry_mut(tail) {
            Some(t) => t.next = slot,
            None => self.head = slot,
        }
        self.tail = slot;
    }

    /// Finds `key`, marking it most recently used.
    fn touch(&mut self, key: &ValueKey) -> Option<&Entry> {
        let slot = *self.index.get(key)?;
        self.touch_slot(slot);
        self.entry(slot)
    }

    /// Marks the entry in `slot` most recently used.
    fn touch_slot(&mut self, slot: usize) {
        if self.tail != slot {
            self.unlink(slot);
            self.link_back(slot);
        }
    }

    /// Inserts or replaces `key`, making it most recently used.
    fn insert(&mut self, key: ValueKey, value: JsValue, expires: Option<Instant>) {
        if let Some(&slot) = self.index.get(&key) {
            if let Some(e) = self.entry_mut(slot) {
                e.value = value;
                e.expires = expires;
            }
            if self.tail != slot {
                self.unlink(slot);
                self.link_back(slot);
            }
            return;
        }
        let entry = Entry {
            key: key.clone(),
            value,
            expires,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.vacant.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, slot);
        self.link_back(slot);
    }

    fn remove(&mut self, key: &ValueKey) -> Option<Entry> {
        let slot = self.index.remove(key)?;
        self.unlink(slot);
        self.vacant.push(slot);
        self.slots.get_mut(slot).and_then(Option::take)
    }

    fn pop_oldest(&mut self) -> Option<Entry> {
        let key = self.entry(self.head)?.key.clone();
        self.remove(&key)
    }

    /// Removes every entry, returning them oldest first.
    fn drain(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(e) = self.pop_oldest() {
            out.push(e);
        }
        *self = Self::new();
        out
    }
}

/// Result of looking a key up.
enum Lookup {
    /// A live entry.
    Hit(JsValue),
    /// No entry, or an expired one.
    Miss,
}

/// Native data of an `algo.Cache` instance.
#[derive(Trace, Finalize, JsData)]
pub struct Cache {
    allocate: Option<JsObject>,
    free: Option<JsObject>,
    /// Maximum number of entries; 0 means unbounded.
    #[unsafe_ignore_trace]
    size: usize,
    /// Lifetime of an entry; `None` means forever.
    #[unsafe_ignore_trace]
    ttl: Option<Duration>,
    entries: LruMap,
}

impl Cache {
    fn expiry(&self) -> Option<Instant> {
        self.ttl.map(|ttl| Instant::now() + ttl)
    }

    fn lookup(&mut self, key: &ValueKey) -> Lookup {
        let ttl_enabled = self.ttl.is_some();
        match self.entries.touch(key) {
            Some(e) if !ttl_enabled || e.expires.is_none_or(|t| Instant::now() < t) => {
                Lookup::Hit(e.value.clone())
            }
            _ => Lookup::Miss,
        }
    }

    /// Stores `key → value`; returns the entries evicted to stay within `size`.
    fn store(&mut self, key: ValueKey, value: JsValue) -> Vec<Entry> {
        let expires = self.expiry();
        self.entries.insert(key, value, expires);
        let mut evicted = Vec::new();
        while self.size > 0 && self.entries.len() > self.size {
            match self.entries.pop_oldest() {
                Some(e) => evicted.push(e),
                None => break,
            }
        }
        evicted
    }

    /// What `get(key)` would return on a hit, without marking the entry used; `None` for a
    /// miss (no entry, or an expired one), where `get` would allocate. Compiled callbacks look
    /// first and mark the entry with [`Cache::touch`] once they are sure to finish.
    pub fn peek(&self, key: &JsValue) -> Option<(&JsValue, CacheSlot)> {
        let slot = *self.entries.index.get(&ValueKey::new(key))?;
        let e = self.entries.entry(slot)?;
        let live = self.ttl.is_none() || e.expires.is_none_or(|t| Instant::now() < t);
        live.then_some((&e.value, CacheSlot(slot)))
    }

    /// Marks `key`, found by `peek` at `slot`, most recently used, as a hit of `get` does.
    /// The slot saves hashing the key again; if the entry there is no longer `key`'s, the key
    /// is looked up.
    pub fn touch(&mut self, slot: CacheSlot, key: &JsValue) {
        let key = ValueKey::new(key);
        if self.entries.entry(slot.0).is_some_and(|e| e.key == key) {
            self.entries.touch_slot(slot.0);
        } else {
            self.entries.touch(&key);
        }
    }

    /// Returns the live value for `key` without allocating; drops it if expired.
    ///
    /// This is what load balancers use to consult an "unhealthy" cache.
    pub fn find(&mut self, key: &JsValue) -> Option<JsValue> {
        let key = ValueKey::new(key);
        let slot = *self.entries.index.get(&key)?;
        let e = self.entries.entry(slot)?;
        if e.expires.is_some_and(|t| Instant::now() >= t) {
            self.entries.remove(&key);
            return None;
        }
        Some(e.value.clone())
    }
}

/// Whether `target` is marked truthy in the optional "unhealthy" cache object.
pub fn is_unhealthy(unhealthy: Option<&JsObject>, target: &JsString) -> bool {
    let Some(cache) = unhealthy else { return false };
    let Some(mut cache) = cache.downcast_mut::<Cache>() else {
        return false;
    };
    // The usual state: nothing marked, so no key to build and hash per target and pick.
    if cache.entries.len() == 0 {
        return false;
    }
    cache
        .find(&JsValue::from(target.clone()))
        .is_some_and(|v| v.to_boolean())
}

/// Checks the optional `unhealthy` constructor argument of the load balancers.
pub fn unhealthy_arg(value: Option<&JsValue>) -> JsResult<Option<JsObject>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_null_or_undefined() => Ok(None),
        Some(v) => match v.as_object() {
            Some(o) if o.is::<Cache>() => Ok(Some(o)),
            _ => Err(type_error("unhealthy targets must be an algo.Cache")),
        },
    }
}

/// Reads an optional function argument.
fn function_arg(value: Option<&JsValue>, what: &str) -> JsResult<Option<JsObject>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_null_or_undefined() => Ok(None),
        Some(v) => v
            .as_callable()
            .map(Some)
            .ok_or_else(|| type_error(format!("algo.Cache: {what} must be a function"))),
    }
}

/// Calls `free(key, value)` for each entry, stopping at the first exception.
fn call_free(free: Option<&JsObject>, entries: Vec<Entry>, ctx: &mut Context) -> JsResult<()> {
    let Some(free) = free else { return Ok(()) };
    for e in entries {
        free.call(
            &JsValue::undefined(),
            &[e.key.value().clone(), e.value.clone()],
            ctx,
        )?;
    }
    Ok(())
}

fn cache_get(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key_value = args.first().cloned().unwrap_or_default();
    let key = ValueKey::new(&key_value);
    let (found, allocate) = with_this::<Cache, _>(this, "Cache", "get", |c| {
        (c.lookup(&key), c.allocate.clone())
    })?;
    if let Lookup::Hit(v) = found {
        return Ok(v);
    }
    let Some(allocate) = allocate else {
        return Ok(JsValue::undefined());
    };
    let value = allocate.call(&JsValue::undefined(), &[key_value], ctx)?;
    let (evicted, free) = with_this::<Cache, _>(this, "Cache", "get", |c| {
        (c.store(key, value.clone()), c.free.clone())
    })?;
    call_free(free.as_ref(), evicted, ctx)?;
    Ok(value)
}

fn cache_set(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = ValueKey::new(&args.first().cloned().unwrap_or_default());
    let value = args.get(1).cloned().unwrap_or_default();
    let (evicted, free) = with_this::<Cache, _>(this, "Cache", "set", |c| {
        (c.store(key, value), c.free.clone())
    })?;
    call_free(free.as_ref(), evicted, ctx)?;
    Ok(JsValue::undefined())
}

fn cache_remove(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let key = ValueKey::new(&args.first().cloned().unwrap_or_default());
    let (removed, free) = with_this::<Cache, _>(this, "Cache", "remove", |c| {
        (c.entries.remove(&key), c.free.clone())
    })?;
    let Some(entry) = removed else {
        return Ok(JsValue::new(false));
    };
    let live = entry.expires.is_none_or(|t| Instant::now() < t);
    call_free(free.as_ref(), vec![entry], ctx)?;
    Ok(JsValue::new(live))
}

fn cache_clear(this: &JsValue, _args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let (entries, free) = with_this::<Cache, _>(this, "Cache", "clear", |c| {
        (c.entries.drain(), c.free.clone())
    })?;
    call_free(free.as_ref(), entries, ctx)?;
    Ok(JsValue::undefined())
}

impl Class for Cache {
    const NAME: &'static str = "Cache";
    const LENGTH: usize = 3;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(
            class,
            &[
                ("get", 1, cache_get),
                ("set", 2, cache_set),
                ("remove", 1, cache_remove),
                ("clear", 0, cache_clear),
            ],
        );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let allocate = function_arg(args.first(), "allocate")?;
        let free = function_arg(args.get(1), "free")?;
        let mut size = 0;
        let mut ttl: Option<Duration> = None;
        if let Some(options) = args.get(2).and_then(JsValue::as_object) {
            let size_value = options.get(js_string!("size"), ctx)?;
            if !size_value.is_undefined() {
                let n = size_value
                    .as_number()
                    .ok_or_else(|| type_error("options.size expects a number"))?;
                size = if n.is_finite() && n > 0.0 {
                    n as usize
                } else {
                    0
                };
            }
            // The seconds syntax of every other option (`'100ms'` is 0.1 s).
            let ttl_value = options.get(js_string!("ttl"), ctx)?;
            ttl = crate::js::units::seconds(&ttl_value, ctx)?.filter(|d| !d.is_zero());
        }
        Ok(Self {
            allocate,
            free,
            size,
            ttl,
            entries: LruMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn get_allocates_once_and_caches() {
        assert_eq!(
            eval_string(
                "var n = 0; var c = new algo.Cache(k => k + (++n));
                 [c.get('a'), c.get('a'), c.get('b'), n].join(',')"
            ),
            "a1,a1,b2,2"
        );
    }

    #[test]
    fn get_without_allocate_is_undefined_and_set_stores() {
        assert!(eval_bool(
            "var c = new algo.Cache(); var u = c.get('x') === undefined;
             c.set('x', 5); u && c.get('x') === 5"
        ));
    }

    #[test]
    fn keys_by_value_and_objects_by_identity() {
        assert_eq!(
            eval_string(
                "var c = new algo.Cache(); var o1 = {}, o2 = {};
                 c.set(1, 'one'); c.set('1', 'str'); c.set(o1, 'o1'); c.set(null, 'n');
                 c.set(true, 't');
                 [c.get(1.0), c.get('1'), c.get(o1), String(c.get(o2)), c.get(null),
                  String(c.get(undefined)), c.get(true)].join(',')"
            ),
            "one,str,o1,undefined,n,undefined,t"
        );
    }

    #[test]
    fn lru_eviction_calls_free_on_least_recently_used() {
        assert_eq!(
            eval_string(
                "var log = []; var c = new algo.Cache(null, (k, v) => log.push(k + '=' + v), {size: 2});
                 c.set('a', 1); c.set('b', 2); c.get('a'); c.set('c', 3);
                 log.join(',') + '|' + [c.get('a'), String(c.get('b')), c.get('c')].join(',')"
            ),
            "b=2|1,undefined,3"
        );
    }

    #[test]
    fn remove_and_clear_call_free() {
        assert_eq!(
            eval_string(
                "var log = []; var c = new algo.Cache(k => k.toUpperCase(), (k, v) => log.push(k + v));
                 c.get('a'); c.get('b'); c.get('c');
                 var r1 = c.remove('b'), r2 = c.remove('zz');
                 c.clear();
                 [r1, r2, log.join(' ')].join(',')"
            ),
            "true,false,bB aA cC"
        );
    }

    #[test]
    fn ttl_expires_entries() {
        assert_eq!(
            eval_string(
                "var n = 0; var c = new algo.Cache(() => ++n, null, {ttl: 0.001});
                 var a = c.get('k');
                 var t = Date.now(); while (Date.now() - t < 5) {}
                 var b = c.get('k');
                 [a, b].join(',')"
            ),
            "1,2"
        );
        assert_eq!(
            eval_string(
                "var c = new algo.Cache(null, null, {ttl: '1m'}); c.set('k', 'v'); c.get('k')"
            ),
            "v"
        );
        // `ms` means milliseconds, as in every other seconds option.
        assert_eq!(
            eval_string(
                "var n = 0; var c = new algo.Cache(() => ++n, null, {ttl: '2ms'});
                 var a = c.get('k');
                 var t = Date.now(); while (Date.now() - t < 5) {}
                 [a, c.get('k')].join(',')"
            ),
            "1,2"
        );
    }

    #[test]
    fn allocate_may_reenter_the_cache() {
        assert_eq!(
            eval_string(
                "var c = new algo.Cache(k => k === 'a' ? c.get('b') + '!' : 'B'); c.get('a')"
            ),
            "B!"
        );
    }

    #[test]
    fn bad_options_throw() {
        assert!(eval_bool(
            "try { new algo.Cache(null, null, {size: 'x'}); false } catch (e) { e instanceof TypeError }"
        ));
    }

    /// Keys from the oldest entry to the newest.
    fn order(c: &super::Cache) -> Vec<i32> {
        let mut out = Vec::new();
        let mut at = c.entries.head;
        while let Some(e) = c.entries.entry(at) {
            out.push(e.key.value().as_number().unwrap_or(-1.0) as i32);
            at = e.next;
        }
        out
    }

    #[test]
    fn touch_through_a_stale_slot_looks_the_key_up() {
        use super::{Cache, LruMap, ValueKey};
        use boa_engine::JsValue;
        let mut c = Cache {
            allocate: None,
            free: None,
            size: 0,
            ttl: None,
            entries: LruMap::new(),
        };
        let key = |n: i32| JsValue::new(n);
        c.entries.insert(ValueKey::new(&key(1)), key(10), None);
        c.entries.insert(ValueKey::new(&key(2)), key(20), None);
        let (value, slot_1) = c.peek(&key(1)).expect("hit");
        assert_eq!(value.as_number(), Some(10.0));
        // Key 1 leaves and key 3 takes its slot; then 2 is used, so 3 is the oldest.
        c.entries.remove(&ValueKey::new(&key(1)));
        c.entries.insert(ValueKey::new(&key(3)), key(30), None);
        let (_, slot_2) = c.peek(&key(2)).expect("hit");
        c.touch(slot_2, &key(2));
        assert_eq!(order(&c), [3, 2]);
        // A touch for key 1 through its old slot must not mark key 3 used.
        c.touch(slot_1, &key(1));
        assert_eq!(order(&c), [3, 2]);
        // The slot a peek returned marks its own key.
        let (_, slot_3) = c.peek(&key(3)).expect("hit");
        c.touch(slot_3, &key(3));
        assert_eq!(order(&c), [2, 3]);
    }
}
