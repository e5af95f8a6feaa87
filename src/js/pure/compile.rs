//! From an arrow function's syntax tree to compiled expressions ([`Expr`]).
//!
//! The accepted language is small on purpose: literals, the request's head fields, context
//! variables and global `var`s, property reads, `URLRouter.find`, `Cache.get`, `Boolean`,
//! `!`, `===`, `!==`, `&&`, `||`, `??`, `?:`, `,`, `+`, template literals, and assignments to
//! context variables. A construct outside it becomes an [`Expr::Engine`] node: evaluation gives
//! up there and the engine runs the callback. A `serveHTTP` reply must not contain one (see
//! [`Compiler::reply`]); a filter callback may, as long as some evaluation avoids it.

pub use super::eval::Ineligible;
use super::eval::{Expr, HeadField, Key};
use super::memo::SiteMemo;
use crate::js::config::SlotCell;
use boa_engine::ast::declaration::Binding;
use boa_engine::ast::expression::access::{PropertyAccess, PropertyAccessField};
use boa_engine::ast::expression::literal::{
    LiteralKind, ObjectLiteral, PropertyDefinition, TemplateElement,
};
use boa_engine::ast::expression::operator::assign::{AssignOp, AssignTarget};
use boa_engine::ast::expression::operator::binary::{
    ArithmeticOp, BinaryOp, LogicalOp, RelationalOp,
};
use boa_engine::ast::expression::operator::unary::UnaryOp;
use boa_engine::ast::expression::{Call, New};
use boa_engine::ast::function::ArrowFunction;
use boa_engine::ast::property::PropertyName;
use boa_engine::ast::statement::Statement;
use boa_engine::ast::{Expression, StatementListItem};
use boa_engine::interner::{Interner, Sym};
use boa_engine::object::JsObject;
use boa_engine::property::PropertyKey;
use boa_engine::{Context, JsString, JsValue};
use bytes::Bytes;

/// Finds the slot of a context variable by name.
pub type ContextVars<'a> = dyn Fn(&str) -> Option<SlotCell> + 'a;

/// What the callback's `new Message(...)` is made of.
pub struct ReplyShape {
    /// The head literal, built as a script object once (the engine would build an equal one per
    /// request); `None` for a message without a head.
    pub head: Option<JsObject>,
    /// Names the engine would look up on `Object.prototype`: head fields the literal leaves
    /// out. (Header names the body reads are checked where they are read.)
    pub inherited: Vec<PropertyKey>,
    pub body: BodyShape,
}

pub enum BodyShape {
    None,
    /// `new Message(head, body)`: any primitive becomes the body (null and undefined: none).
    Value(Expr),
    /// `new Message(x)`: `x` is the body if it is a string or a Data object, else the head.
    BodyOrHead(Expr),
}

/// Compiles an arrow function: `msg => new Message(...)` for a reply, any expression for a
/// filter callback.
pub struct Compiler<'a> {
    arrow: &'a ArrowFunction,
    interner: &'a Interner,
    param: Option<Sym>,
    /// The context variables free names may resolve to (a module's, while it loads); every
    /// other free name is a global `var`.
    vars: Option<&'a ContextVars<'a>>,
    /// See [`ReplyShape::inherited`].
    inherited: Vec<PropertyKey>,
}

impl<'a> Compiler<'a> {
    pub fn new(
        arrow: &'a ArrowFunction,
        interner: &'a Interner,
        vars: Option<&'a ContextVars<'a>>,
    ) -> Result<Self, Ineligible> {
        if arrow.contains_direct_eval() {
            return Err("calls eval");
        }
        // A simple list has no patterns, defaults or rest parameter.
        let params = arrow.parameters();
        let param = match params.as_ref() {
            _ if !params.is_simple() => None,
            [] => Some(None),
            [p] => match p.variable().binding() {
                Binding::Identifier(id) => Some(Some(id.sym())),
                Binding::Pattern(_) => None,
            },
            _ => None,
        }
        .ok_or("has parameters other than one plain name")?;
        Ok(Compiler {
            arrow,
            interner,
            param,
            vars,
            inherited: Vec::new(),
        })
    }

    /// The body must be one `new Message(...)` expression (concise or a lone `return`).
    pub fn reply(&mut self, ctx: &mut Context) -> Result<ReplyShape, Ineligible> {
        let [StatementListItem::Statement(statement)] = self.arrow.body().statements() else {
            return Err("has statements");
        };
        let Statement::Return(ret) = statement.as_ref() else {
            return Err("has statements");
        };
        let Some(Expression::New(new)) = ret.target().map(unparen) else {
            return Err("does not return new Message(...)");
        };
        self.new_message(new, ctx)
    }

    fn new_message(&mut self, new: &New, ctx: &mut Context) -> Result<ReplyShape, Ineligible> {
        let Expression::Identifier(ctor) = unparen(new.constructor()) else {
            return Err("constructs something other than Message");
        };
        if self.name(ctor.sym())? != "Message" {
            return Err("constructs something other than Message");
        }
        self.global(ctor.sym())?;
        let args = new.arguments();
        let (head, body) = match args {
            [] => (None, BodyShape::None),
            [Expression::ObjectLiteral(o)] => (Some(o), BodyShape::None),
            [body] => (None, BodyShape::BodyOrHead(self.reply_body(body)?)),
            [Expression::ObjectLiteral(o), body] => {
                (Some(o), BodyShape::Value(self.reply_body(body)?))
            }
            _ => return Err("builds a message from other than a literal head and a body"),
        };
        let head = match head {
            Some(o) => {
                let object = self.literal_object(o, ctx)?;
                self.inherited.extend(
                    ["status", "statusText", "protocol", "headers"]
                        .into_iter()
                        .map(|k| PropertyKey::from(JsString::from(k)))
                        .filter(|k| object.borrow().properties().get(k).is_none()),
                );
                Some(object)
            }
            None => None,
        };
        Ok(ReplyShape {
            head,
            inherited: std::mem::take(&mut self.inherited),
            body,
        })
    }

    /// A reply body: compiled throughout, no part left to the engine.
    fn reply_body(&mut self, e: &Expression) -> Result<Expr, Ineligible> {
        let body = self.expr(e);
        match body.any_engine() {
            Some(why) => Err(why),
            None => Ok(body),
        }
    }

    /// The value of an expression-bodied arrow (`() => x`, or a block of one `return x` or one
    /// expression statement).
    pub fn callback(&mut self) -> Result<Expr, Ineligible> {
        let body = match self.arrow.body().statements() {
            [StatementListItem::Statement(statement)] => match statement.as_ref() {
                Statement::Return(ret) => match ret.target() {
                    Some(e) => self.expr(e),
                    None => Expr::Undefined,
                },
                Statement::Expression(e) => Expr::Seq(vec![self.expr(e), Expr::Undefined]),
                _ => return Err("has statements"),
            },
            [] => return Err("is empty"),
            _ => return Err("has statements"),
        };
        match body.always_bails() {
            Some(why) => Err(why),
            None => Ok(body),
        }
    }

    /// A literal whose values are all literals, built as the engine would build it.
    fn literal_object(&self, o: &ObjectLiteral, ctx: &mut Context) -> Result<JsObject, Ineligible> {
        let object = JsObject::with_object_proto(ctx.intrinsics());
        for p in o.properties() {
            let PropertyDefinition::Property(PropertyName::Literal(key), value) = p else {
                return Err("has a head literal with computed parts");
            };
            let key = self.name(key.sym())?;
            if key == "__proto__" {
                return Err("sets __proto__ in a literal");
            }
            let value: JsValue = match unparen(value) {
                Expression::ObjectLiteral(inner) => self.literal_object(inner, ctx)?.into(),
                Expression::Literal(l) => match l.kind() {
                    LiteralKind::String(s) => self.string(*s)?.into(),
                    LiteralKind::Num(n) => JsValue::from(*n),
                    LiteralKind::Int(i) => JsValue::from(*i),
                    LiteralKind::Bool(b) => JsValue::from(*b),
                    LiteralKind::Null => JsValue::null(),
                    LiteralKind::Undefined => JsValue::undefined(),
                    LiteralKind::BigInt(_) => return Err("has a BigInt in a literal"),
                },
                _ => return Err("has a head literal with computed values"),
            };
            object
                .create_data_property_or_throw(JsString::from(key), value, ctx)
                .map_err(|_| "has a head literal the engine rejects")?;
        }
        Ok(object)
    }

    /// The expression tree of `e`. Constructs outside the subset become [`Expr::Engine`] nodes:
    /// reaching one at run time hands the call to the engine, and a tree that always reaches one
    /// is not compiled at all.
    pub fn expr(&mut self, e: &Expression) -> Expr {
        self.try_expr(e).unwrap_or_else(Expr::Engine)
    }

    fn boxed(&mut self, e: &Expression) -> Box<Expr> {
        Box::new(self.expr(e))
    }

    fn try_expr(&mut self, e: &Expression) -> Result<Expr, Ineligible> {
        Ok(match unparen(e) {
            Expression::Literal(l) => match l.kind() {
                LiteralKind::String(s) => Expr::Str(self.text(*s)?.into()),
                LiteralKind::Num(n) => Expr::Num(*n),
                LiteralKind::Int(i) => Expr::Num(f64::from(*i)),
                LiteralKind::Bool(b) => Expr::Bool(*b),
                LiteralKind::Null => Expr::Null,
                LiteralKind::Undefined => Expr::Undefined,
                LiteralKind::BigInt(_) => return Err("uses a BigInt"),
            },
            Expression::Identifier(id) => {
                if Some(id.sym()) == self.param {
                    return Err("uses the message as a value");
                }
                self.variable(id.sym())?
            }
            Expression::PropertyAccess(PropertyAccess::Simple(a)) => {
                if self.is_param_access(e) {
                    return self.request_field(e);
                }
                let key = match a.field() {
                    PropertyAccessField::Const(id) => {
                        Key::Named(JsString::from(self.name(id.sym())?).into())
                    }
                    PropertyAccessField::Expr(x) => match unparen(x) {
                        Expression::Literal(l) if matches!(l.kind(), LiteralKind::String(_)) => {
                            let LiteralKind::String(s) = l.kind() else {
                                unreachable!("matched a string literal")
                            };
                            Key::Named(self.string(*s)?.into())
                        }
                        x => Key::Computed(self.boxed(x)),
                    },
                };
                Expr::Get(self.boxed(a.target()), key, SiteMemo::default())
            }
            Expression::Binary(b) => {
                let (lhs, rhs) = (b.lhs(), b.rhs());
                match b.op() {
                    BinaryOp::Arithmetic(ArithmeticOp::Add) => {
                        Expr::Add(self.boxed(lhs), self.boxed(rhs))
                    }
                    BinaryOp::Arithmetic(ArithmeticOp::Mod) => {
                        Expr::Rem(self.boxed(lhs), self.boxed(rhs))
                    }
                    BinaryOp::Relational(RelationalOp::StrictEqual) => {
                        Expr::StrictEq(self.boxed(lhs), self.boxed(rhs), true)
                    }
                    BinaryOp::Relational(RelationalOp::StrictNotEqual) => {
                        Expr::StrictEq(self.boxed(lhs), self.boxed(rhs), false)
                    }
                    BinaryOp::Logical(LogicalOp::And) => {
                        Expr::And(self.boxed(lhs), self.boxed(rhs))
                    }
                    BinaryOp::Logical(LogicalOp::Or) => Expr::Or(self.boxed(lhs), self.boxed(rhs)),
                    BinaryOp::Logical(LogicalOp::Coalesce) => {
                        Expr::Coalesce(self.boxed(lhs), self.boxed(rhs))
                    }
                    BinaryOp::Comma => {
                        let mut items = match self.expr(lhs) {
                            Expr::Seq(items) => items,
                            first => vec![first],
                        };
                        items.push(self.expr(rhs));
                        Expr::Seq(items)
                    }
                    _ => return Err("uses an operation outside the pure subset"),
                }
            }
            Expression::Unary(u) if u.op() == UnaryOp::Not => Expr::Not(self.boxed(u.target())),
            Expression::Conditional(c) => Expr::Cond(
                self.boxed(c.condition()),
                self.boxed(c.if_true()),
                self.boxed(c.if_false()),
            ),
            Expression::Assign(a) => {
                let AssignTarget::Identifier(id) = a.lhs() else {
                    return Err("assigns to something other than a context variable");
                };
                if a.op() != AssignOp::Assign {
                    return Err("uses a compound assignment");
                }
                match self.variable(id.sym())? {
                    Expr::Var(cell) => Expr::Assign(cell, self.boxed(a.rhs())),
                    _ => return Err("assigns to something other than a context variable"),
                }
            }
            Expression::TemplateLiteral(t) => Expr::Template(
                t.elements()
                    .iter()
                    .map(|el| match el {
                        TemplateElement::String(s) => {
                            Ok::<_, Ineligible>(Expr::Str(self.text(*s)?.into()))
                        }
                        TemplateElement::Expr(x) => Ok(self.expr(x)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Call(c) => self.call(c)?,
            _ => return Err("uses an operation outside the pure subset"),
        })
    }

    /// A free name: a context variable of the module, or a global `var` (read per evaluation).
    fn variable(&self, sym: Sym) -> Result<Expr, Ineligible> {
        let key = self.global(sym)?;
        if self.name(sym)? == "__inbound" {
            return Ok(Expr::Inbound);
        }
        let var = self.vars.and_then(|vars| vars(self.name(sym).ok()?));
        Ok(match var {
            Some(cell) => Expr::Var(cell),
            None => Expr::Global(key, SiteMemo::default()),
        })
    }

    /// Whether `e` is a property chain starting at the parameter (`msg.head.path`).
    fn is_param_access(&self, e: &Expression) -> bool {
        let mut at = e;
        while let Expression::PropertyAccess(PropertyAccess::Simple(a)) = unparen(at) {
            at = a.target();
        }
        matches!(unparen(at), Expression::Identifier(id) if self.param == Some(id.sym()))
    }

    /// `msg.body`, `msg.head.method`, `.path`, `.protocol`, `.headers.name` / `.headers['name']`.
    fn request_field(&mut self, e: &Expression) -> Result<Expr, Ineligible> {
        let mut fields = Vec::new();
        let mut at = e;
        while let Expression::PropertyAccess(PropertyAccess::Simple(a)) = unparen(at) {
            fields.push(self.field_name(a.field())?);
            at = a.target();
        }
        fields.reverse();
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        Ok(match fields.as_slice() {
            ["body"] => Expr::Body,
            ["head", "method"] => Expr::HeadField(HeadField::Method),
            ["head", "path"] => Expr::HeadField(HeadField::Path),
            ["head", "protocol"] => Expr::HeadField(HeadField::Protocol),
            ["head", "headers", name] => {
                // A header object's keys come from the wire through a lossy decoding: a key with
                // U+FFFD could match bytes that are not its own.
                if name.contains('\u{FFFD}') {
                    return Err("reads an unusual header name");
                }
                Expr::Header(
                    Bytes::copy_from_slice(name.as_bytes()),
                    PropertyKey::from(JsString::from(*name)),
                )
            }
            _ => return Err("reads a request field outside the pure subset"),
        })
    }

    /// `Boolean(x)`, `router.find(...)`, `cache.get(key)`; what the callee holds is checked per
    /// call.
    fn call(&mut self, c: &Call) -> Result<Expr, Ineligible> {
        match unparen(c.function()) {
            Expression::Identifier(id) if self.param != Some(id.sym()) => {
                if self.name(id.sym())? != "Boolean" {
                    return Err("calls a function outside the pure subset");
                }
                self.global(id.sym())?;
                match c.args() {
                    [x] => Ok(Expr::Boolean(self.boxed(x))),
                    _ => Err("calls Boolean with other than one argument"),
                }
            }
            Expression::PropertyAccess(PropertyAccess::Simple(a)) => {
                if self.is_param_access(a.target()) {
                    return Err("calls a method of the message");
                }
                let target = self.boxed(a.target());
                match (self.field_name(a.field())?.as_str(), c.args()) {
                    ("find", args) => Ok(Expr::RouterFind {
                        router: target,
                        args: args.iter().map(|x| self.expr(x)).collect(),
                    }),
                    ("get", [key]) => Ok(Expr::CacheGet {
                        cache: target,
                        key: self.boxed(key),
                    }),
                    _ => Err("calls a method outside the pure subset"),
                }
            }
            _ => Err("calls a function outside the pure subset"),
        }
    }

    fn field_name(&self, f: &PropertyAccessField) -> Result<String, Ineligible> {
        match f {
            PropertyAccessField::Const(id) => Ok(self.name(id.sym())?.to_owned()),
            PropertyAccessField::Expr(x) => match unparen(x) {
                Expression::Literal(l) => match l.kind() {
                    LiteralKind::String(s) => self.text(*s),
                    _ => Err("reads a property with a computed name"),
                },
                _ => Err("reads a property with a computed name"),
            },
        }
    }

    /// A free identifier must name a property of the global object: not a parameter, not a
    /// variable of an enclosing function, not a global `let`/`const`.
    fn global(&self, sym: Sym) -> Result<PropertyKey, Ineligible> {
        let name = JsString::from(self.name(sym)?);
        let reference = self
            .arrow
            .scopes()
            .function_scope()
            .get_identifier_reference(name.clone());
        if !reference.is_global_object() || reference.is_lexical() {
            return Err("reads a variable that is not a global var");
        }
        Ok(PropertyKey::from(name))
    }

    fn name(&self, sym: Sym) -> Result<&'a str, Ineligible> {
        self.interner
            .resolve(sym)
            .and_then(|s| s.utf8())
            .ok_or("has a name the compiler cannot read")
    }

    /// A string literal as UTF-8; one with a lone surrogate stays with the engine.
    fn text(&self, sym: Sym) -> Result<String, Ineligible> {
        let s = self
            .interner
            .resolve(sym)
            .ok_or("has an unreadable string")?;
        match s.utf8() {
            Some(u) => Ok(u.to_owned()),
            None => String::from_utf16(s.utf16()).map_err(|_| "has a lone surrogate in a string"),
        }
    }

    fn string(&self, sym: Sym) -> Result<JsString, Ineligible> {
        let s = self
            .interner
            .resolve(sym)
            .ok_or("has an unreadable string")?;
        Ok(JsString::from(s.utf16()))
    }
}

fn unparen(mut e: &Expression) -> &Expression {
    while let Expression::Parenthesized(p) = e {
        e = p.expression();
    }
    e
}
