//! Finding the syntax tree of a script function: the engine keeps a function's source text but
//! not its tree, so the module is parsed again and the arrow functions with the same text are
//! the candidates.

use boa_engine::ast::Expression;
use boa_engine::ast::expression::Call;
use boa_engine::ast::function::ArrowFunction;
use boa_engine::ast::scope::Scope;
use boa_engine::ast::statement::With;
use boa_engine::ast::visitor::{VisitWith, Visitor};
use boa_engine::ast::{Script, SourceText};
use boa_engine::interner::Interner;
use boa_engine::object::JsObject;
use boa_engine::object::builtins::JsFunction;
use boa_engine::parser::Parser;
use boa_engine::{Context, JsString, JsValue, Source, js_string};
use std::ops::ControlFlow;

/// The source text of `f`, from the intrinsic `Function.prototype.toString` (a script may have
/// replaced the global one).
pub fn function_source(f: &JsFunction, ctx: &mut Context) -> Option<JsString> {
    let to_string = ctx
        .intrinsics()
        .constructors()
        .function()
        .prototype()
        .get(js_string!("toString"), ctx)
        .ok()?
        .as_callable()?;
    to_string
        .call(&JsValue::from(f.clone()), &[], ctx)
        .ok()?
        .as_string()
}

/// The arrow functions of `module` whose text is `f`'s, outermost first; `f` must belong to
/// the context's current realm (a function of another module would read that module's
/// globals) and the module must not bind names at run time.
pub fn arrows_of<'m>(
    f: &JsFunction,
    module: &'m ParsedModule,
    ctx: &mut Context,
) -> Result<Vec<&'m ArrowFunction>, &'static str> {
    let function_proto = ctx.intrinsics().constructors().function().prototype();
    if !f
        .prototype()
        .is_some_and(|p| JsObject::equals(&p, &function_proto))
    {
        return Err("belongs to another module");
    }
    let source = function_source(f, ctx).ok_or("has no source text")?;
    if module.has_dynamic_scope() {
        return Err("is in a module that uses `with` or eval");
    }
    Ok(module.arrows_with_text(&source))
}

/// A module parsed again, with the source text the spans point into.
pub struct ParsedModule {
    pub script: Script,
    pub text: SourceText,
    pub interner: Interner,
    /// See [`ParsedModule::has_dynamic_scope`].
    dynamic_scope: bool,
}

impl ParsedModule {
    /// Parses `src` as the loader evaluated it (a script, with scope analysis, so that each
    /// identifier can be resolved to where it is bound).
    pub fn parse(src: &[u8]) -> Option<ParsedModule> {
        let mut interner = Interner::default();
        let (script, text) = Parser::new(Source::from_bytes(src))
            .parse_script_with_source(&Scope::new_global(), &mut interner)
            .ok()?;
        let dynamic_scope = script
            .visit_with(&mut DynamicScopeFinder {
                interner: &interner,
            })
            .is_break();
        Some(ParsedModule {
            script,
            text,
            interner,
            dynamic_scope,
        })
    }

    /// Whether the module has a `with` statement or calls `eval`: either can bind names at run
    /// time that the scope analysis does not see.
    pub fn has_dynamic_scope(&self) -> bool {
        self.dynamic_scope
    }

    /// The arrow functions whose source text is `source`, outermost first.
    pub fn arrows_with_text(&self, source: &JsString) -> Vec<&ArrowFunction> {
        let wanted: Vec<u16> = source.iter().collect();
        let mut finder = ArrowFinder {
            text: &self.text,
            wanted: &wanted,
            found: Vec::new(),
        };
        let _ = self.script.visit_with(&mut finder);
        finder.found
    }
}

struct ArrowFinder<'a, 'ast> {
    text: &'a SourceText,
    wanted: &'a [u16],
    found: Vec<&'ast ArrowFunction>,
}

impl<'ast> Visitor<'ast> for ArrowFinder<'_, 'ast> {
    type BreakTy = ();

    fn visit_arrow_function(&mut self, node: &'ast ArrowFunction) -> ControlFlow<()> {
        if self.text.get_code_points_from_span(node.linear_span()) == self.wanted {
            self.found.push(node);
        }
        node.visit_with(self)
    }
}

struct DynamicScopeFinder<'a> {
    interner: &'a Interner,
}

impl<'ast> Visitor<'ast> for DynamicScopeFinder<'_> {
    type BreakTy = ();

    fn visit_with(&mut self, _: &'ast With) -> ControlFlow<()> {
        ControlFlow::Break(())
    }

    fn visit_call(&mut self, node: &'ast Call) -> ControlFlow<()> {
        if let Expression::Identifier(id) = node.function()
            && self
                .interner
                .resolve(id.sym())
                .and_then(|s| s.utf8())
                .is_some_and(|s| s == "eval")
        {
            return ControlFlow::Break(());
        }
        node.visit_with(self)
    }
}
