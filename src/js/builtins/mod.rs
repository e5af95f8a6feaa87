//! Script-visible builtin classes that do not touch the engine: `algo.*`, `URL`,
//! `URLSearchParams`, `Netmask` and `XML` (parse/stringify/Node), implemented natively.
//!
//! Everything is installed per realm by [`register_builtins`]; no JS object is held in a
//! static, so each module realm gets its own constructors and prototypes.

pub mod algo;
pub(crate) mod helpers;
pub mod netmask;
pub mod url;
pub mod url_search_params;
pub mod xml;
mod xml_parser;

use boa_engine::{Context, JsResult};

pub use xml::{xml_parse, xml_stringify};

/// Installs `algo`, `URL`, `URLSearchParams`, `Netmask` and `XML` into the current realm's
/// global object. Call once per realm.
pub fn register_builtins(ctx: &mut Context) -> JsResult<()> {
    ctx.register_global_class::<url::Url>()?;
    ctx.register_global_class::<url_search_params::UrlSearchParams>()?;
    ctx.register_global_class::<netmask::Netmask>()?;
    xml::register(ctx)?;
    algo::register(ctx)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Evaluates scripts in a fresh context with the builtins installed.

    use boa_engine::{Context, JsValue, Source};

    fn eval(script: &str) -> (JsValue, Context) {
        let mut ctx = Context::default();
        if let Err(e) = super::register_builtins(&mut ctx) {
            panic!("register_builtins failed: {e}");
        }
        match ctx.eval(Source::from_bytes(script)) {
            Ok(v) => (v, ctx),
            Err(e) => panic!("script failed: {e}\n{script}"),
        }
    }

    /// Evaluates `script` and converts its completion value with `String(v)`.
    pub fn eval_string(script: &str) -> String {
        let (value, mut ctx) = eval(script);
        match value.to_string(&mut ctx) {
            Ok(s) => s.to_std_string_lossy(),
            Err(e) => panic!("result not convertible to string: {e}"),
        }
    }

    /// Evaluates `script` and returns whether its completion value is truthy.
    pub fn eval_bool(script: &str) -> bool {
        eval(script).0.to_boolean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boa_engine::Source;
    use boa_engine::context::ContextBuilder;

    #[test]
    fn globals_exist() {
        assert_eq!(
            test_support::eval_string(
                "[typeof algo, typeof URL, typeof URLSearchParams, typeof Netmask, typeof XML,
                  typeof XML.parse, typeof XML.stringify, typeof XML.Node].join(',')"
            ),
            "object,function,function,function,object,function,function,function"
        );
    }

    #[test]
    fn each_realm_gets_its_own_classes() {
        let mut ctx = match ContextBuilder::new().build() {
            Ok(ctx) => ctx,
            Err(e) => panic!("{e}"),
        };
        let mut results = Vec::new();
        for _ in 0..2 {
            let realm = match ctx.create_realm() {
                Ok(realm) => realm,
                Err(e) => panic!("{e}"),
            };
            let previous = ctx.enter_realm(realm);
            let registered = register_builtins(&mut ctx);
            assert!(registered.is_ok());
            let value = ctx.eval(Source::from_bytes(
                "var c = new algo.Cache(); c.set('k', 1);
                 new algo.RoundRobinLoadBalancer(['a']).select() + c.get('k') +
                 (XML.parse('<a/>').children[0] instanceof XML.Node) + new URL('http://h/p').pathname",
            ));
            results.push(
                value
                    .map(|v| v.display().to_string())
                    .unwrap_or_else(|e| e.to_string()),
            );
            ctx.enter_realm(previous);
        }
        assert_eq!(results, ["\"a1true/p\"", "\"a1true/p\""]);
    }
}
