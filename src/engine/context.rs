//! Per-session context: the variable slots of every module (its `_x` variables and exports), plus
//! the inbound connection the session came from.
//!
//! Scripts read and write slots through accessor properties on each module's global object; the
//! accessors look at the *current* context, which the scheduler sets before any JS runs.

use boa_engine::JsValue;
use std::cell::{Cell, OnceCell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

/// The downstream connection a root context belongs to (`__inbound`).
#[derive(Debug)]
pub struct InboundInfo {
    pub id: u64,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// The JS object handed to scripts, built on first access. A `OnceCell` rather than a
    /// `RefCell<Option<_>>`: 8 bytes fewer, which puts the allocation in a smaller malloc
    /// size class for every connection.
    pub js: OnceCell<JsValue>,
}

/// Where each module's slots start in a context's slot vector, and the values a root context
/// starts from. Built once per graph and shared by every context of a worker.
#[derive(Debug, Default)]
pub struct SlotLayout {
    /// `starts[m]..starts[m + 1]` are module `m`'s slots; one more entry than modules.
    starts: Vec<usize>,
    initial: Vec<JsValue>,
}

impl SlotLayout {
    /// From each module's initial values, in module order.
    pub fn new(modules: &[Vec<JsValue>]) -> SlotLayout {
        let mut starts = Vec::with_capacity(modules.len() + 1);
        let mut initial = Vec::new();
        for m in modules {
            starts.push(initial.len());
            initial.extend(m.iter().cloned());
        }
        starts.push(initial.len());
        SlotLayout { starts, initial }
    }

    /// Index of module `module`'s slot `slot` in the flat vector, if it exists.
    fn index(&self, module: usize, slot: usize) -> Option<usize> {
        let start = *self.starts.get(module)?;
        let end = *self.starts.get(module + 1)?;
        let i = start + slot;
        (i < end).then_some(i)
    }
}

/// Every module's variables for one session. The slots of all modules sit in one vector, so a
/// context costs two allocations however many modules the script has: `demuxHTTP` copies one
/// per request, and the plugin gateway has four modules. A boxed slice, not a `Vec`: the
/// number of slots is fixed by the layout, and 8 bytes fewer put every context (one per
/// connection, more per request) in a smaller malloc size class.
#[derive(Debug)]
pub struct Context {
    slots: RefCell<Box<[JsValue]>>,
    layout: Rc<SlotLayout>,
    pub inbound: Option<Rc<InboundInfo>>,
}

pub type ContextRef = Rc<Context>;

impl Context {
    /// A fresh root context: every slot starts from the module's initial value (shallow copy:
    /// object values are shared, as in Pipy).
    pub fn new_root(layout: &Rc<SlotLayout>, inbound: Option<Rc<InboundInfo>>) -> ContextRef {
        Rc::new(Context {
            slots: RefCell::new(layout.initial.as_slice().into()),
            layout: layout.clone(),
            inbound,
        })
    }

    /// A shallow copy of `base` taken now (used by demuxHTTP, fork with init, mux sessions).
    pub fn clone_from(base: &Context) -> ContextRef {
        Rc::new(Context {
            slots: RefCell::new(base.slots.borrow().clone()),
            layout: base.layout.clone(),
            inbound: base.inbound.clone(),
        })
    }

    pub fn get(&self, module: usize, slot: usize) -> JsValue {
        self.with_slot(module, slot, JsValue::clone)
    }

    /// `look` applied to the value of `module`'s slot `slot` where it is kept (`undefined` for a
    /// slot the layout does not have), so a reader that converts it takes no copy of its own.
    pub fn with_slot<R>(&self, module: usize, slot: usize, look: impl FnOnce(&JsValue) -> R) -> R {
        const MISSING: &JsValue = &JsValue::undefined();
        let slots = self.slots.borrow();
        let value = self.layout.index(module, slot).and_then(|i| slots.get(i));
        look(value.unwrap_or(MISSING))
    }

    pub fn set(&self, module: usize, slot: usize, v: JsValue) {
        if let Some(i) = self.layout.index(module, slot)
            && let Some(cell) = self.slots.borrow_mut().get_mut(i)
        {
            *cell = v;
        }
    }

    /// Module `module`'s current values, in slot order (for tests and diagnostics).
    pub fn module_values(&self, module: usize) -> Vec<JsValue> {
        let (Some(&start), Some(&end)) = (
            self.layout.starts.get(module),
            self.layout.starts.get(module + 1),
        ) else {
            return Vec::new();
        };
        self.slots
            .borrow()
            .get(start..end)
            .map(<[JsValue]>::to_vec)
            .unwrap_or_default()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<ContextRef>> = const { RefCell::new(None) };
    static JS_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Makes `ctx` the context JS accessors see until the next call.
pub fn set_current(ctx: &ContextRef) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let same = c.as_ref().is_some_and(|cur| Rc::ptr_eq(cur, ctx));
        if !same {
            *c = Some(ctx.clone());
        }
    });
}

pub fn with_current<R>(f: impl FnOnce(Option<&ContextRef>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().as_ref()))
}

/// Counts invocations of script functions; logged at debug level so a test can show that a
/// static path runs no JS.
pub fn count_js_call() {
    JS_CALLS.with(|c| c.set(c.get() + 1));
}

pub fn js_calls() -> u64 {
    JS_CALLS.with(|c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each connection holds one root context and one `InboundInfo`, both behind an `Rc` (16
    /// bytes of counts): at 40 and 88 bytes they fill the 64- and 112-byte malloc chunks
    /// (allocation plus 8, rounded up to 16; see `net::conn`'s test of `Conn`).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn per_connection_state_stays_within_its_malloc_size_classes() {
        assert!(size_of::<Context>() <= 40, "{}", size_of::<Context>());
        assert!(
            size_of::<InboundInfo>() <= 88,
            "{}",
            size_of::<InboundInfo>()
        );
    }

    #[test]
    fn modules_keep_their_own_slots_in_the_flat_vector() {
        let layout = Rc::new(SlotLayout::new(&[
            vec![JsValue::new(1), JsValue::new(2)],
            vec![],
            vec![JsValue::new(3)],
        ]));
        let root = Context::new_root(&layout, None);
        assert_eq!(root.get(0, 1).as_number(), Some(2.0));
        assert_eq!(root.get(2, 0).as_number(), Some(3.0));
        // Past a module's last slot is not the next module's first.
        assert!(root.get(0, 2).is_undefined());
        assert!(root.get(1, 0).is_undefined());
        assert!(root.get(3, 0).is_undefined());
        root.set(1, 0, JsValue::new(9));
        root.set(0, 2, JsValue::new(9));
        assert_eq!(root.get(2, 0).as_number(), Some(3.0));

        // A copy starts from the values at the time and then goes its own way.
        root.set(2, 0, JsValue::new(4));
        let copy = Context::clone_from(&root);
        copy.set(2, 0, JsValue::new(5));
        assert_eq!(root.get(2, 0).as_number(), Some(4.0));
        assert_eq!(copy.get(2, 0).as_number(), Some(5.0));
        assert_eq!(copy.module_values(0).len(), 2);
        assert!(copy.module_values(1).is_empty());
        // A new root starts from the initial values again.
        let fresh = Context::new_root(&layout, None);
        assert_eq!(fresh.get(2, 0).as_number(), Some(3.0));
    }
}
