//! The boa engine of one process: a realm per module, and calls into script functions with
//! error reporting.

use crate::engine::context;
use boa_engine::object::builtins::JsFunction;
use boa_engine::realm::Realm;
use boa_engine::{Context, JsError, JsValue};

pub struct JsRuntime {
    /// Reached only through [`JsRuntime::ctx`] and the methods that use it, so that every use
    /// moves the epoch.
    ctx: Context,
    pub realms: Vec<Realm>,
    current: usize,
    epoch: u64,
}

/// How many times the worker has handed the engine out. Script code runs, and script objects
/// change, only with the engine in hand (a getter run by a native reader included), so two
/// readings under the same epoch see the same script objects. The compiled callbacks rely on
/// this to read the realm's built-ins and the objects they look into once per epoch instead of
/// once per request (`js/pure/memo.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ScriptEpoch(u64);

impl ScriptEpoch {
    /// An epoch of its own per call, for callers outside a worker (tests, tools) that change
    /// script objects without a [`JsRuntime`].
    #[cfg(test)]
    pub fn fresh() -> ScriptEpoch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1 << 63);
        ScriptEpoch(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl JsRuntime {
    pub fn new(ctx: Context, realms: Vec<Realm>) -> JsRuntime {
        JsRuntime {
            ctx,
            realms,
            current: usize::MAX,
            epoch: 0,
        }
    }

    /// The engine, to run script code or to read or build script objects.
    pub fn ctx(&mut self) -> &mut Context {
        self.epoch += 1;
        &mut self.ctx
    }

    /// The epoch now; it moves with every [`JsRuntime::ctx`].
    pub fn epoch(&self) -> ScriptEpoch {
        ScriptEpoch(self.epoch)
    }

    /// Enters module `m`'s realm so objects built next belong to it.
    pub fn enter(&mut self, m: usize) -> &mut Context {
        self.epoch += 1;
        if self.current != m
            && let Some(r) = self.realms.get(m)
        {
            self.ctx.enter_realm(r.clone());
            self.current = m;
        }
        &mut self.ctx
    }

    /// Calls a script function of module `m`. An exception comes back as a log-ready message with
    /// `file:line:column`.
    pub fn call(&mut self, m: usize, f: &JsFunction, args: &[JsValue]) -> Result<JsValue, String> {
        context::count_js_call();
        let ctx = self.enter(m);
        match f.call(&JsValue::undefined(), args, ctx) {
            Ok(v) => Ok(v),
            Err(e) => Err(format_error(&e, &mut self.ctx)),
        }
    }
}

/// Formats an exception as `file:line:column: message` when a position is known.
pub fn format_error(e: &JsError, ctx: &mut Context) -> String {
    let full = match e.try_native(ctx) {
        Ok(n) => {
            let mut s = format!("{}", e);
            if s.is_empty() {
                s = n.message().to_string();
            }
            s
        }
        Err(_) => {
            let v = e.clone().into_opaque(ctx).unwrap_or_default();
            let msg = v
                .to_string(ctx)
                .map(|s| s.to_std_string_escaped())
                .unwrap_or_else(|_| "uncaught exception".into());
            format!("{msg}{}", trailing_stack(&format!("{e}")))
        }
    };
    relocate(&full).replace(" (native)", "")
}

fn trailing_stack(s: &str) -> String {
    match s.find("\n    at ") {
        Some(i) => s[i..].to_string(),
        None => String::new(),
    }
}

/// Turns boa's "message\n    at f (file:3:7)" into "file:3:7: message".
pub fn relocate(full: &str) -> String {
    let mut lines = full.lines();
    let first = lines.next().unwrap_or("").trim().to_string();
    for l in full.lines().skip(1) {
        if let Some(loc) = extract_location(l) {
            return format!("{loc}: {first}");
        }
    }
    if let Some(loc) = extract_location(&first) {
        let msg = first.replace(&format!(" at {loc}"), "");
        return format!("{loc}: {msg}");
    }
    first
}

/// Finds `path:line:col` in a backtrace line.
fn extract_location(l: &str) -> Option<String> {
    let l = l.trim();
    let inner = if let (Some(a), Some(b)) = (l.rfind('('), l.rfind(')')) {
        if a < b { &l[a + 1..b] } else { l }
    } else {
        l.strip_prefix("at ").unwrap_or(l)
    };
    let mut parts = inner.rsplitn(3, ':');
    let col = parts.next()?;
    let line = parts.next()?;
    let file = parts.next()?;
    if col.chars().all(|c| c.is_ascii_digit())
        && line.chars().all(|c| c.is_ascii_digit())
        && !col.is_empty()
        && !line.is_empty()
        && !file.is_empty()
    {
        let file = file.rsplit(" at ").next().unwrap_or(file).trim();
        Some(format!("{file}:{line}:{col}"))
    } else {
        None
    }
}

/// Where the script currently executing called into native code, as `file:line:col`.
pub fn call_site(ctx: &Context) -> String {
    for frame in ctx.stack_trace() {
        let loc = frame.position();
        if let Some(p) = loc.position {
            return format!("{}:{}:{}", loc.path, p.line_number(), p.column_number());
        }
    }
    "<script>".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocates_backtrace() {
        assert_eq!(
            relocate("TypeError: x is not a function\n    at <main> (/a/b.js:3:7)"),
            "/a/b.js:3:7: TypeError: x is not a function"
        );
        assert_eq!(relocate("plain"), "plain");
    }
}
