//! Script callbacks evaluated without running the engine.
//!
//! Two kinds of callback are compiled at load time into a small expression tree
//! ([`eval::Expr`]) that the worker evaluates natively:
//!
//! - `serveHTTP` replies ([`PureReply`], this file): an arrow function whose body is one
//!   `new Message(...)` with a literal head and a body built from the request head, such as
//!
//!   ```js
//!   msg => new Message(
//!     { status: 200, headers: { 'content-type': 'text/plain' } },
//!     router.find(msg.head.headers.host, msg.head.path) + ': ' + msg.head.method + '\n'
//!   )
//!   ```
//!
//!   Run by boa it costs several microseconds per request, most of them allocating and
//!   collecting objects: the request message, its head and headers, the two literals, the
//!   reply. Compiled, the worker evaluates the tree over the parsed head and encodes the reply,
//!   and no script object is created.
//! - filter callbacks ([`CompiledCallback`], `callback.rs`): expressions over context variables
//!   and the request head, with assignments to context variables.
//!
//! The engine's answer is the reference. Whatever a script could have changed since load time is
//! checked before it is relied on: that `Message` and each global still hold what they held (and
//! as data properties, not getters), that `router.find` is still the built-in method of
//! `URLRouter.prototype`, that `Object.prototype` has gained none of the names the engine would
//! look up through it. Values that would need a conversion this module does not do (an object, a
//! fraction printed as text) also send the request to the engine. The property reads behind these
//! checks are remembered for as long as the worker's script epoch stands (`memo.rs`). Effects
//! (assignments, cache hits) are recorded and applied only once an evaluation has finished, so
//! giving up half-way is invisible.

mod callback;
#[cfg(test)]
mod callback_tests;
mod compile;
mod eval;
#[cfg(test)]
mod generated_tests;
mod locate;
mod memo;
#[cfg(test)]
mod tests;

pub use callback::{CallbackArg, CompiledCallback, compile_callback};
pub use locate::{ParsedModule, function_source};

use crate::engine::data::Data;
use crate::engine::head::{Head, HeadKind};
use crate::http::head::ResponseHead;
use crate::js::message::JsMessage;
use crate::js::runtime::ScriptEpoch;
use boa_engine::object::JsObject;
use boa_engine::object::builtins::JsFunction;
use boa_engine::property::PropertyKey;
use boa_engine::{Context, js_string};
use compile::{BodyShape, Compiler};
use eval::{BuiltinGetter, Effects, Env, Request, Val, has_property};
use memo::EpochCheck;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared by `--no-native-callbacks`, before the script is loaded (workers inherit it).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether callbacks are compiled at all: operators can rule the compiled form out when a
/// script behaves unexpectedly, and compare the two.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A compiled `serveHTTP` callback.
pub struct PureReply {
    env: Env,
    /// What the global `Message` must still hold (the other globals are read per request).
    message_ctor: JsObject,
    message_key: PropertyKey,
    /// `Message.prototype.head` and `.body`, through which the engine would read the request.
    message_head: BuiltinGetter,
    message_body: BuiltinGetter,
    /// Head fields the literal leaves out: the engine would look them up on `Object.prototype`.
    inherited: Vec<PropertyKey>,
    /// Whether the realm still builds replies as compiled (the class, its getters, nothing
    /// inherited): checked once per script epoch, not per request.
    realm_intact: EpochCheck,
    head: ResponseHead,
    body: BodyShape,
}

impl PureReply {
    /// Compiles `f` if it is an arrow function written in `module` (the module being loaded,
    /// whose realm is the context's current one) within the pure subset; `Err` says why not
    /// (for the debug log).
    pub fn compile(
        f: &JsFunction,
        module: &ParsedModule,
        ctx: &mut Context,
    ) -> Result<PureReply, &'static str> {
        let arrows = locate::arrows_of(f, module, ctx)?;
        let [arrow] = arrows.as_slice() else {
            return Err("is not a single arrow function of the module");
        };
        let mut compiler = Compiler::new(arrow, &module.interner, None)?;
        let shape = compiler.reply(ctx)?;
        let head = match shape.head {
            Some(o) => Head::script(o.into()),
            None => Head::null(),
        };
        let head = crate::js::head::response_of(head, ctx).map_err(|_| "has a bad head")?;
        let message = ctx
            .get_global_class::<JsMessage>()
            .ok_or("has no Message class")?;
        let message_head = BuiltinGetter::of(message.prototype(), js_string!("head"))
            .ok_or("has no Message.prototype.head")?;
        let message_body = BuiltinGetter::of(message.prototype(), js_string!("body"))
            .ok_or("has no Message.prototype.body")?;
        Ok(PureReply {
            env: Env::of_realm(ctx),
            message_ctor: message.constructor(),
            message_key: js_string!("Message").into(),
            message_head,
            message_body,
            inherited: shape.inherited,
            realm_intact: EpochCheck::default(),
            head,
            body: shape.body,
        })
    }

    /// The reply to a request, or `None` when the engine must run the callback instead.
    /// `epoch` is the worker's script epoch now.
    pub fn reply(
        &self,
        request: &Head,
        body: &Data,
        epoch: ScriptEpoch,
    ) -> Option<(ResponseHead, Option<Data>)> {
        self.env.begin(epoch);
        let realm_intact = self.realm_intact.holds(Some(epoch), || {
            self.env.global_is(&self.message_key, &self.message_ctor)
                && self.message_head.intact(&self.env)
                && self.message_body.intact(&self.env)
                && !self
                    .inherited
                    .iter()
                    .any(|k| has_property(&self.env.object_proto, k))
        });
        if !realm_intact {
            return None;
        }
        let kind = request.get();
        let HeadKind::Request(head) = &*kind else {
            return None;
        };
        let req = Request {
            head: Some(head),
            body: Some(body),
        };
        let mut effects = Effects::default();
        let body = match &self.body {
            BodyShape::None => None,
            BodyShape::Value(e) => match self.env.eval(e, req, &mut effects).ok()? {
                Val::Null | Val::Undefined => None,
                Val::Data(d) => Some(d.clone()),
                v => Some(Data::from(v.into_bytes().ok()?)),
            },
            BodyShape::BodyOrHead(e) => match self.env.eval(e, req, &mut effects).ok()? {
                Val::Data(d) => Some(d.clone()),
                v if v.is_string() => Some(Data::from(v.into_bytes().ok()?)),
                _ => return None,
            },
        };
        effects.commit();
        Some((self.head.clone(), body))
    }
}

/// Compiles a `serveHTTP` callback of module `module` for [`PureReply`], logging whether it
/// runs natively and why not.
pub fn compile_reply(
    f: &JsFunction,
    module: usize,
    location: &str,
    ctx: &mut Context,
) -> Option<PureReply> {
    compile_logged("serveHTTP callback", module, location, |parsed| {
        PureReply::compile(f, parsed, ctx)
    })
}

/// Runs `compile` on module `module` parsed (unless `--no-native-callbacks`), and logs at debug
/// level whether `what` at `location` runs natively, or why not.
fn compile_logged<T>(
    what: &str,
    module: usize,
    location: &str,
    compile: impl FnOnce(&ParsedModule) -> Result<T, compile::Ineligible>,
) -> Option<T> {
    let result = if !enabled() {
        Err("is not compiled (--no-native-callbacks)")
    } else {
        match crate::js::config::parsed_module(module) {
            Some(parsed) => compile(&parsed),
            None => Err("is in a module whose source is not at hand"),
        }
    };
    match result {
        Ok(compiled) => {
            log::debug!("{location}: {what} runs natively");
            Some(compiled)
        }
        Err(why) => {
            log::debug!("{location}: {what} runs in the engine: it {why}");
            None
        }
    }
}
