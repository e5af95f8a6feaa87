//! Evaluating a pure reply's expressions over a parsed request head.
//!
//! Every function here returns `Err(Bail)` where the engine might behave differently from the
//! native evaluation (a getter, a replaced method, an object converted to a string, a number
//! whose text this module does not produce). Nothing evaluated before a bail has an effect a
//! script could see, so the caller can then run the engine on the same request.

use crate::engine::data::Data;
use crate::http::head::RequestHead;
use crate::js::builtins::algo::url_router::{UrlRouter, join_url_part};
use crate::js::builtins::helpers::{push_js_str, utf8_bytes};
use boa_engine::object::JsObject;
use boa_engine::property::PropertyKey;
use boa_engine::{JsString, JsValue};
use bytes::Bytes;
use std::borrow::Cow;
use std::cell::RefCell;

/// The engine might answer differently: run it instead.
#[derive(Debug)]
pub struct Bail;

type Eval<T> = Result<T, Bail>;

pub enum HeadField {
    Method,
    Path,
    Protocol,
}

/// An expression of the pure subset.
pub enum Expr {
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    Null,
    Undefined,
    /// `msg.body`: the request's body.
    Body,
    /// `msg.head.method`, `.path` or `.protocol` of the request.
    HeadField(HeadField),
    /// `msg.head.headers[name]`: the name as the object's key, in bytes.
    Header(Bytes),
    /// A global variable (a data property of the global object) holding a primitive.
    Global(PropertyKey),
    /// `router.find(...)` where `router` is a global variable.
    RouterFind {
        router: PropertyKey,
        args: Vec<Expr>,
    },
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// A template literal: every part converted to a string, joined.
    Template(Vec<Expr>),
}

/// What a callback's `msg` stands for.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub head: &'a RequestHead,
    pub body: &'a Data,
}

/// A primitive value, or the request's body; strings stay borrowed from the request or the
/// script where they can.
pub enum Val<'a> {
    /// The request body (a `Data` object to the script: it converts to a string only through
    /// its methods, so anything but passing it on bails).
    Data(&'a Data),
    Str(Cow<'a, str>),
    Js(JsString),
    Num(f64),
    Bool(bool),
    Null,
    Undefined,
}

impl Val<'_> {
    pub fn is_string(&self) -> bool {
        matches!(self, Val::Str(_) | Val::Js(_))
    }

    /// `ToString` of a primitive, appended to `out`.
    fn push_to(&self, out: &mut String) -> Eval<()> {
        match self {
            Val::Str(s) => out.push_str(s),
            Val::Js(s) => push_js_str(out, s),
            Val::Num(n) => push_number(out, *n)?,
            Val::Bool(true) => out.push_str("true"),
            Val::Bool(false) => out.push_str("false"),
            Val::Null => out.push_str("null"),
            Val::Undefined => out.push_str("undefined"),
            Val::Data(_) => return Err(Bail),
        }
        Ok(())
    }

    /// The UTF-8 bytes of `ToString(self)` (what `new Message(head, body)` makes of a body).
    pub fn into_bytes(self) -> Eval<Bytes> {
        Ok(match self {
            Val::Str(Cow::Owned(s)) => Bytes::from(s.into_bytes()),
            Val::Str(Cow::Borrowed(s)) => Bytes::copy_from_slice(s.as_bytes()),
            Val::Js(s) => utf8_bytes(&s),
            other => {
                let mut s = String::new();
                other.push_to(&mut s)?;
                Bytes::from(s.into_bytes())
            }
        })
    }
}

/// `Number::toString` for the integers that print without an exponent and exactly; other
/// numbers (fractions, NaN, 1e21) are left to the engine.
fn push_number(out: &mut String, n: f64) -> Eval<()> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.fract() != 0.0 || n.abs() >= EXACT || n.is_nan() {
        return Err(Bail);
    }
    // `as` is exact here (|n| < 2^53); -0 prints as "0" in both languages.
    out.push_str(&(n as i64).to_string());
    Ok(())
}

/// What the evaluator reads besides the request: the realm's objects a script could replace.
pub struct Env {
    pub global: JsObject,
    pub object_proto: JsObject,
    pub router_proto: Option<JsObject>,
    pub router_find: Option<JsObject>,
    pub find_key: PropertyKey,
    /// Reused for joining `find`'s arguments.
    pub url: RefCell<String>,
}

/// The value of a data property of an ordinary object; `None` for an accessor or no property.
pub fn data_property(o: &JsObject, key: &PropertyKey) -> Option<JsValue> {
    let d = o.borrow().properties().get(key)?;
    if d.is_accessor_descriptor() {
        return None;
    }
    d.value().cloned()
}

pub fn has_property(o: &JsObject, key: &PropertyKey) -> bool {
    o.borrow().properties().get(key).is_some()
}

/// The getter of an accessor property.
pub fn getter(o: &JsObject, key: &PropertyKey) -> Option<JsObject> {
    o.borrow().properties().get(key)?.get()?.as_object()
}

impl Env {
    pub fn eval<'a>(&self, e: &'a Expr, req: Request<'a>) -> Eval<Val<'a>> {
        Ok(match e {
            Expr::Str(s) => Val::Str(Cow::Borrowed(s)),
            Expr::Num(n) => Val::Num(*n),
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Null => Val::Null,
            Expr::Undefined => Val::Undefined,
            Expr::Body => Val::Data(req.body),
            Expr::HeadField(HeadField::Method) => {
                Val::Str(String::from_utf8_lossy(&req.head.method))
            }
            Expr::HeadField(HeadField::Path) => Val::Str(String::from_utf8_lossy(&req.head.path)),
            Expr::HeadField(HeadField::Protocol) => {
                Val::Str(Cow::Borrowed(req.head.version.as_str()))
            }
            Expr::Header(name) => header(req.head, name)?,
            Expr::Global(key) => primitive(data_property(&self.global, key).ok_or(Bail)?)?,
            Expr::RouterFind { router, args } => self.router_find(router, args, req)?,
            Expr::Add(a, b) => add(self.eval(a, req)?, self.eval(b, req)?)?,
            Expr::Template(parts) => {
                let mut s = String::new();
                for p in parts {
                    self.eval(p, req)?.push_to(&mut s)?;
                }
                Val::Str(Cow::Owned(s))
            }
        })
    }

    /// `router.find(...)`, if `router` is a URLRouter whose `find` is the built-in one.
    fn router_find<'a>(
        &self,
        router: &PropertyKey,
        args: &'a [Expr],
        req: Request<'a>,
    ) -> Eval<Val<'a>> {
        let (Some(proto), Some(find)) = (&self.router_proto, &self.router_find) else {
            return Err(Bail);
        };
        let router = data_property(&self.global, router).ok_or(Bail)?;
        let router = router.as_object().ok_or(Bail)?;
        if has_property(&router, &self.find_key)
            || !router
                .prototype()
                .is_some_and(|p| JsObject::equals(&p, proto))
        {
            return Err(Bail);
        }
        match data_property(proto, &self.find_key).and_then(|f| f.as_object()) {
            Some(f) if JsObject::equals(&f, find) => {}
            _ => return Err(Bail),
        }
        let mut url = self.url.try_borrow_mut().map_err(|_| Bail)?;
        url.clear();
        for a in args {
            match self.eval(a, req)? {
                Val::Null | Val::Undefined => {}
                Val::Str(s) => join_url_part(&mut url, &s),
                Val::Js(s) => join_url_part(&mut url, &s.to_std_string_lossy()),
                // Numbers and booleans would go through ToString; rare enough to leave.
                _ => return Err(Bail),
            }
        }
        let found = {
            let r = router.downcast_ref::<UrlRouter>().ok_or(Bail)?;
            r.find_joined(&mut url).cloned()
        };
        primitive(found.unwrap_or_default())
    }
}

/// A script value as a primitive; objects (whose conversion could run script code) bail.
fn primitive<'a>(v: JsValue) -> Eval<Val<'a>> {
    if let Some(s) = v.as_string() {
        return Ok(Val::Js(s));
    }
    if let Some(n) = v.as_number() {
        return Ok(Val::Num(n));
    }
    if let Some(b) = v.as_boolean() {
        return Ok(Val::Bool(b));
    }
    if v.is_null() {
        return Ok(Val::Null);
    }
    if v.is_undefined() {
        return Ok(Val::Undefined);
    }
    Err(Bail)
}

/// A header as the request's headers object shows it: the last field of that name, or
/// `undefined` (the caller has checked that `Object.prototype` has no such key). `set-cookie`
/// is an array there.
fn header<'a>(req: &'a RequestHead, name: &[u8]) -> Eval<Val<'a>> {
    if name == b"set-cookie" {
        return Err(Bail);
    }
    let last = req.headers.0.iter().rev().find(|(n, _)| n == name);
    Ok(match last {
        Some((_, v)) => Val::Str(String::from_utf8_lossy(v)),
        None => Val::Undefined,
    })
}

/// The `+` operator on primitives: numbers add, and a string on either side concatenates.
fn add<'a>(a: Val<'a>, b: Val<'a>) -> Eval<Val<'a>> {
    if let (Val::Num(x), Val::Num(y)) = (&a, &b) {
        return Ok(Val::Num(x + y));
    }
    if !a.is_string() && !b.is_string() {
        return Err(Bail);
    }
    let mut s = match a {
        Val::Str(Cow::Owned(s)) => s,
        other => {
            let mut s = String::new();
            other.push_to(&mut s)?;
            s
        }
    };
    b.push_to(&mut s)?;
    Ok(Val::Str(Cow::Owned(s)))
}
