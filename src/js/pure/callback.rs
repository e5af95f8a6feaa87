//! Filter callbacks evaluated without the engine: `handleMessageStart(msg => ...)`, `use`'s
//! turn-down check, `link`'s condition, `muxHTTP`'s key and the like.
//!
//! The plugin gateway runs seven of these per request, for example
//!
//! ```js
//! () => (
//!   _target = _services[__serviceID] ? _picked.get(_services[__serviceID]) : '',
//!   _target && (__turnDown = true)
//! )
//! ```
//!
//! In the engine each costs a call frame, an environment, a message object for `msg`, and an
//! accessor call per context variable. Compiled, it is a walk over a small tree that reads the
//! context's slots and the parsed head directly.
//!
//! Such a callback has effects, so the evaluation records them ([`Effects`]) and applies them
//! only when it has finished: wherever it gives up (a construct outside the subset, a getter, a
//! cache miss that would call the allocator), nothing has changed yet, and the engine runs the
//! callback from the start.

use super::compile::{Compiler, ContextVars, Ineligible};
use super::eval::{BuiltinGetter, Effects, Env, Expr, Request, Val, read_var};
use super::locate::{ParsedModule, arrows_of};
use crate::engine::head::{Head, HeadKind};
use crate::js::message::JsMessageStart;
use crate::js::runtime::ScriptEpoch;
use boa_engine::object::builtins::JsFunction;
use boa_engine::{Context, JsValue, js_string};
use std::cell::RefCell;

/// A compiled filter callback.
pub struct CompiledCallback {
    body: Expr,
    env: Env,
    /// Whether the body reads its parameter (`msg.head...`); it can then only run where the
    /// caller hands over the event's head.
    reads_param: bool,
    /// What `msg.head` must still reach, for the head fields to be read natively.
    message_start_head: Option<BuiltinGetter>,
    /// See [`CompiledCallback::run`].
    effects: RefCell<Effects>,
}

/// What the engine would pass the callback.
pub enum CallbackArg<'a> {
    /// Nothing the compiled form can read (no argument, or values it cannot look into).
    Opaque,
    /// The `MessageStart` event of this head.
    MessageStart(&'a Head),
}

impl CompiledCallback {
    /// Compiles `f`, an arrow function written in `module` (the module being loaded, whose
    /// realm is the context's current one and whose context variables `vars` finds); `Err` says
    /// why not (for the debug log).
    pub fn compile(
        f: &JsFunction,
        vars: &ContextVars<'_>,
        module: &ParsedModule,
        ctx: &mut Context,
    ) -> Result<CompiledCallback, Ineligible> {
        // The engine does not say which arrow of the module `f` is, only its text. Arrows with
        // the same text whose names all resolve to the same variables behave alike; a twin whose
        // tree has an engine node might owe it to a name bound elsewhere (a closure variable),
        // so twins must compile completely.
        let mut bodies = Vec::new();
        for arrow in arrows_of(f, module, ctx)? {
            bodies.push(Compiler::new(arrow, &module.interner, Some(vars))?.callback()?);
        }
        if bodies.len() > 1 && bodies.iter().any(|b| b.any_engine().is_some()) {
            return Err("has a twin of the same text that is not compiled completely");
        }
        let body = bodies
            .into_iter()
            .next()
            .ok_or("is not an arrow function of the module")?;
        let message_start_head = ctx
            .get_global_class::<JsMessageStart>()
            .and_then(|c| BuiltinGetter::of(c.prototype(), js_string!("head")));
        Ok(CompiledCallback {
            reads_param: body.reads_param(),
            body,
            env: Env::of_realm(ctx),
            message_start_head,
            effects: RefCell::default(),
        })
    }

    /// The callback's value with its effects applied, or `None` when the engine must run it
    /// (nothing has changed then). The current context must be the caller's, and `epoch` the
    /// worker's script epoch now.
    pub fn run(&self, arg: CallbackArg<'_>, epoch: ScriptEpoch) -> Option<JsValue> {
        // `() => name`, the gateway's turn-down check and session key: nothing to record or
        // apply. Symbols and BigInts take the general path (which hands them to the engine).
        if let Expr::Var(cell) = &self.body {
            let v = read_var(cell);
            if !v.is_symbol() && !v.is_bigint() {
                return Some(v);
            }
        }
        self.env.begin(epoch);
        let kind;
        let mut req = Request::default();
        if self.reads_param {
            let CallbackArg::MessageStart(head) = arg else {
                return None;
            };
            if !self
                .message_start_head
                .as_ref()
                .is_some_and(|g| g.intact(&self.env))
            {
                return None;
            }
            kind = head.get();
            match &*kind {
                HeadKind::Request(h) => req.head = Some(h),
                _ => return None,
            }
        }
        // The record's buffers are kept from one call to the next (a callback that assigns
        // would otherwise allocate them per request); nothing evaluated can call back into
        // this callback, but a fresh record stands in if it ever were busy.
        let mut reused = self.effects.try_borrow_mut();
        let mut fresh;
        let effects = match reused.as_deref_mut() {
            Ok(e) => e,
            Err(_) => {
                fresh = Effects::default();
                &mut fresh
            }
        };
        match self
            .env
            .eval(&self.body, req, effects)
            .and_then(Val::into_js)
        {
            Ok(value) => {
                effects.commit();
                Some(value)
            }
            Err(_) => {
                effects.discard();
                None
            }
        }
    }
}

/// Compiles a filter callback of module `module`, logging whether it runs natively and why not.
pub fn compile_callback(
    f: &JsFunction,
    module: usize,
    location: &str,
    ctx: &mut Context,
) -> Option<CompiledCallback> {
    super::compile_logged("callback", module, location, |parsed| {
        let vars = |name: &str| crate::js::config::context_var(module, name);
        CompiledCallback::compile(f, &vars, parsed, ctx)
    })
}
