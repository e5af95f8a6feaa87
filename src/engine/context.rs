//! Per-session context: one slot vector per module (its `_x` variables and exports), plus the
//! inbound connection the session came from.
//!
//! Scripts read and write slots through accessor properties on each module's global object; the
//! accessors look at the *current* context, which the scheduler sets before any JS runs.

use boa_engine::JsValue;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

/// The downstream connection a root context belongs to (`__inbound`).
#[derive(Debug)]
pub struct InboundInfo {
    pub id: u64,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// The JS object handed to scripts, built on first access.
    pub js: RefCell<Option<JsValue>>,
}

/// One module's variable slots in one context.
pub type ModuleSlots = RefCell<Vec<JsValue>>;

#[derive(Debug)]
pub struct Context {
    pub modules: Vec<ModuleSlots>,
    pub inbound: Option<Rc<InboundInfo>>,
}

pub type ContextRef = Rc<Context>;

impl Context {
    /// A fresh root context: every slot starts from the module's initial value (shallow copy:
    /// object values are shared, as in Pipy).
    pub fn new_root(initial: &[Vec<JsValue>], inbound: Option<Rc<InboundInfo>>) -> ContextRef {
        Rc::new(Context {
            modules: initial.iter().map(|v| RefCell::new(v.clone())).collect(),
            inbound,
        })
    }

    /// A shallow copy of `base` taken now (used by demuxHTTP, fork with init, mux sessions).
    pub fn clone_from(base: &Context) -> ContextRef {
        Rc::new(Context {
            modules: base
                .modules
                .iter()
                .map(|m| RefCell::new(m.borrow().clone()))
                .collect(),
            inbound: base.inbound.clone(),
        })
    }

    pub fn get(&self, module: usize, slot: usize) -> JsValue {
        self.modules
            .get(module)
            .and_then(|m| m.borrow().get(slot).cloned())
            .unwrap_or_default()
    }

    pub fn set(&self, module: usize, slot: usize, v: JsValue) {
        if let Some(m) = self.modules.get(module) {
            let mut m = m.borrow_mut();
            if slot < m.len() {
                m[slot] = v;
            }
        }
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
