//! From an arrow function's syntax tree to the expressions of a pure reply.
//!
//! The accepted language is small on purpose: every construct in it is free of side effects, so
//! the evaluator can give up at any step and leave the request to the engine. Anything else
//! (a statement, a call other than `URLRouter.find`, `this`, an object literal with computed
//! parts, a variable bound in an enclosing function) makes the callback ineligible.

use super::eval::{Expr, HeadField};
use boa_engine::ast::declaration::Binding;
use boa_engine::ast::expression::access::{PropertyAccess, PropertyAccessField};
use boa_engine::ast::expression::literal::{
    LiteralKind, ObjectLiteral, PropertyDefinition, TemplateElement,
};
use boa_engine::ast::expression::operator::binary::{ArithmeticOp, BinaryOp};
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

/// Why a callback is left to the engine (for the debug log).
pub type Ineligible = &'static str;

/// What the callback's `new Message(...)` is made of.
pub struct ReplyShape {
    /// The head literal, built as a script object once (the engine would build an equal one per
    /// request); `None` for a message without a head.
    pub head: Option<JsObject>,
    /// Names the engine would look up on `Object.prototype`: head fields the literal leaves
    /// out, header names the body reads (absent from a request, they are inherited).
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

/// Compiles `msg => new Message(...)`.
pub struct Compiler<'a> {
    arrow: &'a ArrowFunction,
    interner: &'a Interner,
    param: Option<Sym>,
    /// See [`ReplyShape::inherited`].
    inherited: Vec<PropertyKey>,
}

impl<'a> Compiler<'a> {
    pub fn new(arrow: &'a ArrowFunction, interner: &'a Interner) -> Result<Self, Ineligible> {
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
            [body] => (None, BodyShape::BodyOrHead(self.expr(body)?)),
            [Expression::ObjectLiteral(o), body] => (Some(o), BodyShape::Value(self.expr(body)?)),
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

    fn expr(&mut self, e: &Expression) -> Result<Expr, Ineligible> {
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
                Expr::Global(self.global(id.sym())?)
            }
            Expression::PropertyAccess(PropertyAccess::Simple(_)) => self.request_field(e)?,
            Expression::Binary(b) if b.op() == BinaryOp::Arithmetic(ArithmeticOp::Add) => {
                Expr::Add(Box::new(self.expr(b.lhs())?), Box::new(self.expr(b.rhs())?))
            }
            Expression::TemplateLiteral(t) => Expr::Template(
                t.elements()
                    .iter()
                    .map(|el| match el {
                        TemplateElement::String(s) => Ok(Expr::Str(self.text(*s)?.into())),
                        TemplateElement::Expr(x) => self.expr(x),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Call(c) => self.router_find(c)?,
            _ => return Err("uses an operation outside the pure subset"),
        })
    }

    /// `msg.body`, `msg.head.method`, `.path`, `.protocol`, `.headers.name` / `.headers['name']`.
    fn request_field(&mut self, e: &Expression) -> Result<Expr, Ineligible> {
        let mut fields = Vec::new();
        let mut at = e;
        while let Expression::PropertyAccess(PropertyAccess::Simple(a)) = unparen(at) {
            fields.push(self.field_name(a.field())?);
            at = a.target();
        }
        let Expression::Identifier(base) = unparen(at) else {
            return Err("reads a property of a computed value");
        };
        if self.param.is_none() || Some(base.sym()) != self.param {
            return Err("reads a property of a variable");
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
                self.inherited.push(JsString::from(*name).into());
                Expr::Header(Bytes::copy_from_slice(name.as_bytes()))
            }
            _ => return Err("reads a request field outside the pure subset"),
        })
    }

    /// `router.find(...)` on a global variable (that it holds a URLRouter is checked per call).
    fn router_find(&mut self, c: &Call) -> Result<Expr, Ineligible> {
        let Expression::PropertyAccess(PropertyAccess::Simple(a)) = unparen(c.function()) else {
            return Err("calls a function outside the pure subset");
        };
        if self.field_name(a.field())? != "find" {
            return Err("calls a method outside the pure subset");
        }
        let Expression::Identifier(router) = unparen(a.target()) else {
            return Err("calls a method of a computed value");
        };
        if Some(router.sym()) == self.param {
            return Err("calls a method of the message");
        }
        let router = self.global(router.sym())?;
        let args = c
            .args()
            .iter()
            .map(|x| self.expr(x))
            .collect::<Result<_, _>>()?;
        Ok(Expr::RouterFind { router, args })
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
