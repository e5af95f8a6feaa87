//! Filters, one file per family, and the registry the script's Configuration methods,
//! `--list-filters` and `--help-filters` are generated from.

pub mod compress;
pub mod connect;
pub mod debug;
pub mod event_kind;
pub mod exec;
pub mod fork;
pub mod handle;
pub mod http_codec;
pub mod http_server;
pub mod link;
pub mod merge;
pub mod mux_http;
pub mod pack;
pub mod replace;
pub mod session;
pub mod tee;
pub mod throttle;
pub mod use_module;
pub mod wait;

use crate::engine::context;
use crate::engine::filter::{Cx, FilterFactory, SubPipeline};
use crate::js::pure::{CallbackArg, CompiledCallback};
use crate::js::runtime::ScriptEpoch;
use boa_engine::object::builtins::JsFunction;
use boa_engine::{Context, JsValue};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

/// One filter as scripts call it.
#[derive(Clone, Copy)]
pub struct FilterSpec {
    pub name: &'static str,
    pub params: &'static str,
    pub help: &'static str,
    pub build: fn(&mut FilterArgs) -> Result<Box<dyn FilterFactory>, String>,
}

/// The arguments of a filter method call, while the script is being evaluated.
pub struct FilterArgs<'a> {
    pub args: &'a [JsValue],
    pub ctx: &'a mut Context,
    pub module: usize,
    /// `file:line:column` of the call.
    pub location: String,
}

impl FilterArgs<'_> {
    pub fn arg(&self, i: usize) -> JsValue {
        self.args.get(i).cloned().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.args.len()
    }

    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    pub fn func(&self, i: usize) -> Option<JsFunction> {
        crate::js::config::as_function(&self.arg(i))
    }

    pub fn string(&mut self, i: usize) -> Result<String, String> {
        let v = self.arg(i);
        if v.is_undefined() {
            return Err(format!("argument #{} is required", i + 1));
        }
        v.to_string(self.ctx)
            .map(|s| s.to_std_string_escaped())
            .map_err(|e| e.to_string())
    }

    /// A sub-pipeline name of this module.
    pub fn sub(&mut self, i: usize) -> Result<SubPipeline, String> {
        let name = self.string(i)?;
        Ok(SubPipeline::new(name, self.module, self.location.clone()))
    }

    pub fn callback(&mut self, i: usize) -> Option<Callback> {
        let f = self.func(i)?;
        Some(Callback::new(f, self.module, &self.location, self.ctx))
    }

    /// A required callback.
    pub fn need_callback(&mut self, i: usize) -> Result<Callback, String> {
        self.callback(i)
            .ok_or_else(|| format!("argument #{} must be a function", i + 1))
    }

    /// `[limit,] value`: an optional leading body-size limit (`'256k'`). Returns the limit and the
    /// index of the following argument.
    pub fn size_limit_prefix(&mut self) -> Result<(Option<usize>, usize), String> {
        if self.len() >= 2 {
            let v = self.arg(0);
            let limit = crate::js::units::size(&v, self.ctx).map_err(|e| e.to_string())?;
            return Ok((limit.map(|l| l as usize), 1));
        }
        Ok((None, 0))
    }

    pub fn options(&self, i: usize) -> Option<boa_engine::JsObject> {
        self.arg(i).as_object()
    }

    pub fn option(&mut self, i: usize, key: &str) -> Result<JsValue, String> {
        match self.options(i) {
            Some(o) => o
                .get(boa_engine::JsString::from(key), self.ctx)
                .map_err(|e| e.to_string()),
            None => Ok(JsValue::undefined()),
        }
    }

    /// `options[key]` of argument `i` as a duration (`5`, `'5s'`, `'100ms'`); `None` if unset.
    pub fn seconds_option(&mut self, i: usize, key: &str) -> Result<Option<Duration>, String> {
        let v = self.option(i, key)?;
        crate::js::units::seconds(&v, self.ctx)
            .map_err(|_| format!("options.{key} expects a number or a string"))
    }

    /// `options[key]` of argument `i` as a byte size (`4096`, `'16k'`); `None` if unset.
    pub fn size_option(&mut self, i: usize, key: &str) -> Result<Option<usize>, String> {
        let v = self.option(i, key)?;
        let n = crate::js::units::size(&v, self.ctx).map_err(|e| e.to_string())?;
        Ok(n.map(|n| n as usize))
    }
}

/// A script function and the module it belongs to.
#[derive(Clone)]
pub struct Callback {
    pub f: JsFunction,
    pub module: usize,
    /// False for `() => ...`, which cannot see what it is called with: `call_with` then skips
    /// building the arguments (for `handleMessageStart(() => ...)` that is a message object per
    /// request, the largest allocation of the call).
    pub reads_args: bool,
    /// The function compiled to a native expression, tried before the engine
    /// ([`crate::js::pure::CompiledCallback`]).
    compiled: Option<Rc<CompiledCallback>>,
}

impl Callback {
    /// A callback compiled where it can be; `location` names the filter call in the debug log
    /// that says whether it was.
    pub fn new(f: JsFunction, module: usize, location: &str, ctx: &mut Context) -> Callback {
        let compiled = crate::js::pure::compile_callback(&f, module, location, ctx).map(Rc::new);
        Callback {
            compiled,
            ..Callback::engine_only(f, module, ctx)
        }
    }

    /// A callback that always runs in the engine (for callers that compile it their own way).
    pub fn engine_only(f: JsFunction, module: usize, ctx: &mut Context) -> Callback {
        let reads_args = !is_parameterless_arrow(&f, ctx);
        Callback {
            f,
            module,
            reads_args,
            compiled: None,
        }
    }

    /// Calls the function in the current context; an exception is logged and returned as `Err`.
    // The error has been logged with its location: callers only need to know the script failed.
    #[allow(clippy::result_unit_err)]
    pub fn call(&self, cx: &mut Cx, args: &[JsValue]) -> Result<JsValue, ()> {
        context::set_current(cx.context);
        if let Some(v) = self.run_compiled(CallbackArg::Opaque, cx.core.js.epoch()) {
            return Ok(v);
        }
        self.call_engine(cx, args)
    }

    /// Builds arguments in the function's realm first.
    #[allow(clippy::result_unit_err)]
    pub fn call_with(
        &self,
        cx: &mut Cx,
        make_args: impl FnOnce(&mut Context) -> boa_engine::JsResult<Vec<JsValue>>,
    ) -> Result<JsValue, ()> {
        self.call_with_arg(cx, CallbackArg::Opaque, make_args)
    }

    /// [`Callback::call_with`], telling the compiled form what the arguments stand for, so that
    /// it can read them without building them.
    #[allow(clippy::result_unit_err)]
    pub fn call_with_arg(
        &self,
        cx: &mut Cx,
        arg: CallbackArg<'_>,
        make_args: impl FnOnce(&mut Context) -> boa_engine::JsResult<Vec<JsValue>>,
    ) -> Result<JsValue, ()> {
        context::set_current(cx.context);
        if let Some(v) = self.run_compiled(arg, cx.core.js.epoch()) {
            return Ok(v);
        }
        if !self.reads_args {
            return self.call_engine(cx, &[]);
        }
        let args = {
            let ctx = cx.core.js.enter(self.module);
            match make_args(ctx) {
                Ok(a) => a,
                Err(e) => {
                    log::error!("[pjs] {e}");
                    return Err(());
                }
            }
        };
        self.call_engine(cx, &args)
    }

    fn run_compiled(&self, arg: CallbackArg<'_>, epoch: ScriptEpoch) -> Option<JsValue> {
        self.compiled.as_ref()?.run(arg, epoch)
    }

    /// Runs the function in the engine; the current context must be set.
    fn call_engine(&self, cx: &mut Cx, args: &[JsValue]) -> Result<JsValue, ()> {
        match cx.core.js.call(self.module, &self.f, args) {
            Ok(v) => Ok(v),
            Err(e) => {
                log::error!("[pjs] {e}");
                Err(())
            }
        }
    }
}

/// A value or a function producing it, evaluated per use (filter arguments such as targets).
#[derive(Clone)]
pub enum Dynamic {
    Value(JsValue),
    Func(Callback),
}

impl Dynamic {
    pub fn from_arg(a: &mut FilterArgs, i: usize) -> Dynamic {
        match a.callback(i) {
            Some(cb) => Dynamic::Func(cb),
            None => Dynamic::Value(a.arg(i)),
        }
    }

    /// `options[key]` of argument `i`, as a value or function.
    pub fn from_arg_option(a: &mut FilterArgs, i: usize, key: &str) -> Result<Dynamic, String> {
        let v = a.option(i, key)?;
        Ok(match crate::js::config::as_function(&v) {
            Some(f) => Dynamic::Func(Callback::new(f, a.module, &a.location, a.ctx)),
            None => Dynamic::Value(v),
        })
    }

    #[allow(clippy::result_unit_err)]
    pub fn eval(&self, cx: &mut Cx) -> Result<JsValue, ()> {
        match self {
            Dynamic::Value(v) => Ok(v.clone()),
            Dynamic::Func(cb) => cb.call(cx, &[]),
        }
    }
}

/// Whether `f` is an arrow function without parameters (`() => x`, `async () => x`): its source
/// text, from the intrinsic `Function.prototype.toString`, starts with an empty parameter list
/// and `=>`. Anything else (a comment between the parentheses, a `function` that might read
/// `arguments`) counts as reading its arguments.
fn is_parameterless_arrow(f: &JsFunction, ctx: &mut Context) -> bool {
    let Some(source) = crate::js::pure::function_source(f, ctx) else {
        return false;
    };
    let source = source.to_std_string_escaped();
    let rest = source.trim_start();
    let rest = match rest.strip_prefix("async") {
        Some(r) if r.starts_with(char::is_whitespace) => r.trim_start(),
        _ => rest,
    };
    rest.strip_prefix('(')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix(')'))
        .map(str::trim_start)
        .is_some_and(|r| r.starts_with("=>"))
}

/// Declares a family's filters: `filter_specs![("name", "params", "help", build_fn), ...]`.
#[macro_export]
macro_rules! filter_specs {
    ($(($name:expr, $params:expr, $help:expr, $build:expr)),* $(,)?) => {
        &[$($crate::filters::FilterSpec { name: $name, params: $params, help: $help, build: $build }),*]
    };
}

/// Every filter scripts can use, in the order `--list-filters` shows them.
pub fn all() -> &'static [FilterSpec] {
    static FLAT: OnceLock<Vec<FilterSpec>> = OnceLock::new();
    FLAT.get_or_init(|| FAMILIES.iter().flat_map(|f| f.iter().copied()).collect())
}

/// One entry per filter family file.
static FAMILIES: &[&[FilterSpec]] = &[
    http_server::SPECS,
    http_codec::SPECS,
    handle::SPECS,
    replace::SPECS,
    link::SPECS,
    debug::SPECS,
    compress::SPECS,
    connect::SPECS,
    mux_http::SPECS,
    merge::SPECS,
    use_module::SPECS,
    fork::SPECS,
    pack::SPECS,
    wait::SPECS,
    throttle::SPECS,
    tee::SPECS,
    exec::SPECS,
];

#[cfg(test)]
mod tests {
    use super::is_parameterless_arrow;
    use boa_engine::{Context, Source};

    fn parameterless(src: &str) -> bool {
        let mut ctx = Context::default();
        let v = ctx
            .eval(Source::from_bytes(&format!("var f = {src}; f")))
            .expect("test source evaluates");
        let f = crate::js::config::as_function(&v).expect("test source is a function");
        is_parameterless_arrow(&f, &mut ctx)
    }

    #[test]
    fn only_arrows_with_an_empty_parameter_list_skip_their_arguments() {
        assert!(parameterless("() => 1"));
        assert!(parameterless("(  ) =>1"));
        assert!(parameterless("async () => 1"));
        assert!(parameterless("() => { return 1 }"));
        assert!(!parameterless("msg => msg"));
        assert!(!parameterless("(msg) => msg"));
        assert!(!parameterless("(msg = 1) => msg"));
        assert!(!parameterless("(...all) => all"));
        assert!(!parameterless("function () { return arguments[0] }"));
        assert!(!parameterless("(/* msg */) => 1"));
        assert!(!parameterless("async (msg) => msg"));
    }
}
