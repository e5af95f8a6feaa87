//! Evaluating compiled callbacks over a parsed request head and the current context.
//!
//! Every function here returns `Err(Bail)` where the engine might behave differently from the
//! native evaluation (a getter, a Proxy, a replaced method, an object converted to a string, a
//! number whose text this module does not produce, a construct outside the subset). Nothing
//! evaluated before a bail has an effect a script could see: writes to context variables and
//! cache hits are only recorded in [`Effects`], applied once the evaluation has finished, so the
//! caller can run the engine on the same input instead.

use super::memo::{EpochCheck, Own, PropertyMemo, SiteKey, SiteMemo};
use crate::engine::context::{self, InboundInfo};
use crate::engine::data::Data;
use crate::http::head::RequestHead;
use crate::js::builtins::algo::cache::{Cache, CacheSlot};
use crate::js::builtins::algo::url_router::{UrlRouter, join_url_part};
use crate::js::builtins::helpers::{push_js_str, str_lossy, utf8_bytes};
use crate::js::config::SlotCell;
use crate::js::runtime::ScriptEpoch;
use boa_engine::object::{JsObject, NativeObject};
use boa_engine::property::PropertyKey;
use boa_engine::{Context, JsString, JsValue, JsVariant, js_string};
use bytes::Bytes;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// The engine might answer differently: run it instead.
#[derive(Debug)]
pub struct Bail;

type Eval<T> = Result<T, Bail>;

/// Why a construct is left to the engine (for the debug log).
pub type Ineligible = &'static str;

pub enum HeadField {
    Method,
    Path,
    Protocol,
}

/// An expression of the compiled subset.
pub enum Expr {
    /// A construct outside the subset: reaching it hands the call to the engine.
    Engine(Ineligible),
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    Null,
    Undefined,
    /// `msg.body`: the request's body.
    Body,
    /// `msg.head.method`, `.path` or `.protocol` of the request.
    HeadField(HeadField),
    /// `msg.head.headers[name]`: the name in bytes (as the request has it) and as the key the
    /// engine would look up on `Object.prototype` when the request lacks it.
    Header(Bytes, PropertyKey),
    /// A global variable (a data property of the global object), and what this read found last.
    Global(PropertyKey, SiteMemo),
    /// A context variable: its module's slot in the current context.
    Var(SlotCell),
    /// `__inbound`: the client connection of the current context.
    Inbound,
    /// `name = value` on a context variable, recorded and applied when the evaluation finishes.
    Assign(SlotCell, Box<Expr>),
    /// `a.b` / `a[b]`: a data property of an ordinary object (own or inherited through ordinary
    /// objects), or a string's `length`; and what this read found last.
    Get(Box<Expr>, Key, SiteMemo),
    /// `router.find(...)` on an `algo.URLRouter`.
    RouterFind {
        router: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `cache.get(key)` on an `algo.Cache` that holds `key`.
    CacheGet {
        cache: Box<Expr>,
        key: Box<Expr>,
    },
    /// `Boolean(x)`.
    Boolean(Box<Expr>),
    /// `!x`.
    Not(Box<Expr>),
    /// `a === b` (`true`) or `a !== b` (`false`).
    StrictEq(Box<Expr>, Box<Expr>, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `a ?? b`.
    Coalesce(Box<Expr>, Box<Expr>),
    /// `c ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `a, b, c`: the last value.
    Seq(Vec<Expr>),
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a % b` on numbers.
    Rem(Box<Expr>, Box<Expr>),
    /// A template literal: every part converted to a string, joined.
    Template(Vec<Expr>),
}

/// A property name, written or computed.
pub enum Key {
    Named(PropertyKey),
    Computed(Box<Expr>),
}

impl Expr {
    /// The sub-expressions, and how many of them (from the front) every evaluation of `self`
    /// reaches; the others are skipped for some values (the right side of `&&`, a branch).
    fn children(&self) -> (Vec<&Expr>, usize) {
        fn all<'e>(es: &[&'e Expr]) -> (Vec<&'e Expr>, usize) {
            (es.to_vec(), es.len())
        }
        match self {
            Expr::Assign(_, e) | Expr::Boolean(e) | Expr::Not(e) => all(&[e]),
            Expr::Get(e, Key::Named(_), _) => all(&[e]),
            Expr::Get(e, Key::Computed(k), _) => all(&[e, k]),
            Expr::CacheGet { cache, key } => all(&[cache, key]),
            Expr::RouterFind { router, args } => {
                let es: Vec<&Expr> = std::iter::once(&**router).chain(args).collect();
                let n = es.len();
                (es, n)
            }
            Expr::StrictEq(a, b, _) | Expr::Add(a, b) | Expr::Rem(a, b) => all(&[a, b]),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Coalesce(a, b) => (vec![a, b], 1),
            Expr::Cond(c, a, b) => (vec![c, a, b], 1),
            Expr::Seq(es) | Expr::Template(es) => {
                let es: Vec<&Expr> = es.iter().collect();
                let n = es.len();
                (es, n)
            }
            _ => (Vec::new(), 0),
        }
    }

    /// Why evaluating `self` hands over to the engine whatever the input, if it certainly does:
    /// an `Engine` node on a path every evaluation takes.
    pub fn always_bails(&self) -> Option<Ineligible> {
        if let Expr::Engine(why) = self {
            return Some(why);
        }
        let (children, reached) = self.children();
        children[..reached].iter().find_map(|e| e.always_bails())
    }

    /// Why some evaluations hand over to the engine: the first `Engine` node anywhere.
    pub fn any_engine(&self) -> Option<Ineligible> {
        if let Expr::Engine(why) = self {
            return Some(why);
        }
        self.children().0.iter().find_map(|e| e.any_engine())
    }

    /// Whether evaluating `self` may read the callback's parameter.
    pub fn reads_param(&self) -> bool {
        matches!(self, Expr::Body | Expr::HeadField(_) | Expr::Header(..))
            || self.children().0.iter().any(|e| e.reads_param())
    }
}

/// What a callback's `msg` stands for: a request head, and a body for a whole message.
#[derive(Clone, Copy, Default)]
pub struct Request<'a> {
    pub head: Option<&'a RequestHead>,
    pub body: Option<&'a Data>,
}

/// What an evaluation will change once it has finished, in the order the engine would.
#[derive(Default)]
pub struct Effects {
    /// Context variable writes: (module, slot) and the value.
    writes: Vec<((usize, usize), JsValue)>,
    /// Cache hits to mark as most recently used: the cache and the key.
    touches: Vec<(JsObject, CacheSlot, JsValue)>,
}

impl Effects {
    /// The value a context variable has at this point of the evaluation.
    fn read<'a>(&self, cell: &SlotCell) -> Eval<Val<'a>> {
        match self.writes.iter().rev().find(|(at, _)| *at == cell.get()) {
            Some((_, v)) => Val::of(v),
            None => {
                let (m, s) = cell.get();
                context::with_current(|c| match c {
                    Some(c) => c.with_slot(m, s, Val::of),
                    None => Ok(Val::Undefined),
                })
            }
        }
    }

    /// Applies the recorded effects to the current context and the caches, and empties the
    /// record (its buffers stay, for the next evaluation).
    pub fn commit(&mut self) {
        if !self.writes.is_empty() {
            context::with_current(|c| {
                for ((m, s), v) in self.writes.drain(..) {
                    if let Some(c) = c {
                        c.set(m, s, v);
                    }
                }
            });
        }
        // Guarded like the writes: an empty `drain` still costs its iterator's set-up and drop,
        // and most evaluations record no cache hit.
        if !self.touches.is_empty() {
            for (cache, slot, key) in self.touches.drain(..) {
                if let Some(mut c) = cache.downcast_mut::<Cache>() {
                    c.touch(slot, &key);
                }
            }
        }
    }

    /// Forgets what was recorded (an evaluation that gave up), keeping the buffers.
    pub fn discard(&mut self) {
        self.writes.clear();
        self.touches.clear();
    }
}

/// The value of a context variable in the current context.
pub fn read_var(cell: &SlotCell) -> JsValue {
    let (m, s) = cell.get();
    context::with_current(|c| c.map(|c| c.get(m, s)).unwrap_or_default())
}

/// A value during evaluation; strings stay borrowed from the request or the script where they
/// can.
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
    Object(JsObject),
    /// `__inbound` before a script has read it: the engine would build its object then, with
    /// the fields [`Env::inbound_field`] reads.
    Inbound(Rc<InboundInfo>),
}

impl<'a> Val<'a> {
    /// A script value, read where it is kept (one reference count taken for a string or an
    /// object); symbols and BigInts bail.
    fn of(v: &JsValue) -> Eval<Val<'a>> {
        Ok(match v.variant() {
            JsVariant::String(s) => Val::Js(s),
            JsVariant::Float64(n) => Val::Num(n),
            JsVariant::Integer32(n) => Val::Num(f64::from(n)),
            JsVariant::Boolean(b) => Val::Bool(b),
            JsVariant::Null => Val::Null,
            JsVariant::Undefined => Val::Undefined,
            JsVariant::Object(o) => Val::Object(o),
            JsVariant::Symbol(_) | JsVariant::BigInt(_) => return Err(Bail),
        })
    }

    /// The script value; the request body has no script object here, so it bails.
    pub fn into_js(self) -> Eval<JsValue> {
        Ok(match self {
            Val::Data(_) | Val::Inbound(_) => return Err(Bail),
            Val::Str(s) => JsString::from(s.as_ref()).into(),
            Val::Js(s) => s.into(),
            Val::Num(n) => JsValue::from(n),
            Val::Bool(b) => b.into(),
            Val::Null => JsValue::null(),
            Val::Undefined => JsValue::undefined(),
            Val::Object(o) => o.into(),
        })
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Val::Str(_) | Val::Js(_))
    }

    /// `ToBoolean`.
    fn truthy(&self) -> bool {
        match self {
            Val::Data(_) | Val::Object(_) | Val::Inbound(_) => true,
            Val::Str(s) => !s.is_empty(),
            Val::Js(s) => !s.is_empty(),
            Val::Num(n) => *n != 0.0 && !n.is_nan(),
            Val::Bool(b) => *b,
            Val::Null | Val::Undefined => false,
        }
    }

    /// `IsStrictlyEqual`; the body, which has no script object to compare, bails.
    fn strictly_equals(&self, other: &Val<'_>) -> Eval<bool> {
        Ok(match (self, other) {
            (Val::Data(_) | Val::Inbound(_), _) | (_, Val::Data(_) | Val::Inbound(_)) => {
                return Err(Bail);
            }
            (Val::Num(a), Val::Num(b)) => a == b,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Null, Val::Null) | (Val::Undefined, Val::Undefined) => true,
            (Val::Object(a), Val::Object(b)) => JsObject::equals(a, b),
            (Val::Js(a), Val::Js(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Js(a), Val::Str(b)) | (Val::Str(b), Val::Js(a)) => a.iter().eq(b.encode_utf16()),
            _ => false,
        })
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
            Val::Data(_) | Val::Object(_) | Val::Inbound(_) => return Err(Bail),
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

    /// `ToPropertyKey` of a string or an integer; other values (whose conversion could run
    /// script code, or prints differently) bail.
    fn property_key(&self) -> Eval<PropertyKey> {
        match self {
            Val::Js(s) => Ok(PropertyKey::from(s.clone())),
            Val::Str(s) => Ok(PropertyKey::from(JsString::from(s.as_ref()))),
            Val::Num(_) => {
                let mut s = String::new();
                self.push_to(&mut s)?;
                Ok(PropertyKey::from(JsString::from(s.as_str())))
            }
            _ => Err(Bail),
        }
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

/// A built-in method as the realm defined it: its prototype, name and function.
pub struct BuiltinMethod {
    proto: JsObject,
    key: PropertyKey,
    function: JsObject,
    /// Whether the prototype still holds the function: checked once per epoch, not on every
    /// call (a memo scan each time).
    intact: EpochCheck,
}

impl BuiltinMethod {
    fn of(proto: Option<JsObject>, name: JsString) -> Option<BuiltinMethod> {
        let proto = proto?;
        let key = PropertyKey::from(name);
        let function = data_property(&proto, &key)?.as_object()?;
        Some(BuiltinMethod {
            proto,
            key,
            function,
            intact: EpochCheck::default(),
        })
    }

    /// Whether calling the method on `o` still reaches this function: `o` has no own property
    /// of that name, its prototype is this one, and the prototype still holds the function.
    fn reached_from(&self, o: &JsObject, memo: &PropertyMemo) -> bool {
        !has_property(o, &self.key)
            && o.prototype()
                .is_some_and(|p| JsObject::equals(&p, &self.proto))
            && self.intact(memo)
    }

    /// Whether the prototype still holds the function under its name.
    fn intact(&self, memo: &PropertyMemo) -> bool {
        self.intact.holds(memo.epoch(), || {
            memo.with_own(&self.proto, &self.key, |own| {
                holds_object(own, &self.function)
            })
        })
    }
}

/// A built-in accessor as the realm defined it (`Message.prototype.head`): where the engine
/// would read what the compiled form reads natively.
pub struct BuiltinGetter {
    proto: JsObject,
    key: PropertyKey,
    getter: JsObject,
    /// Checked once per epoch, as [`BuiltinMethod`]'s function is.
    intact: EpochCheck,
}

impl BuiltinGetter {
    pub fn of(proto: JsObject, name: JsString) -> Option<BuiltinGetter> {
        let key = PropertyKey::from(name);
        let getter = getter(&proto, &key)?;
        Some(BuiltinGetter {
            proto,
            key,
            getter,
            intact: EpochCheck::default(),
        })
    }

    /// Whether the prototype still has this getter under that name.
    pub fn intact(&self, env: &Env) -> bool {
        self.intact.holds(env.memo.epoch(), || {
            env.memo.with_own(
                &self.proto,
                &self.key,
                |own| matches!(own, Own::Accessor(Some(g)) if JsObject::equals(g, &self.getter)),
            )
        })
    }
}

/// What the evaluator reads besides the request: the realm's objects a script could replace.
pub struct Env {
    pub global: JsObject,
    pub object_proto: JsObject,
    router_find: Option<BuiltinMethod>,
    cache_get: Option<BuiltinMethod>,
    boolean_key: PropertyKey,
    boolean: JsObject,
    /// Whether the global `Boolean` is still the built-in, checked once per epoch.
    boolean_intact: EpochCheck,
    /// Whether `__inbound` is the built-in accessor (it is not configurable, so this holds for
    /// the realm's lifetime).
    inbound: bool,
    /// Reused for joining `find`'s arguments.
    url: RefCell<String>,
    /// What this evaluator read of script objects under the current epoch.
    memo: PropertyMemo,
}

impl Env {
    /// The realm `ctx` is in now.
    pub fn of_realm(ctx: &mut Context) -> Env {
        let router_proto = ctx.get_global_class::<UrlRouter>().map(|c| c.prototype());
        let cache_proto = ctx.get_global_class::<Cache>().map(|c| c.prototype());
        Env {
            global: ctx.global_object(),
            object_proto: ctx.intrinsics().constructors().object().prototype(),
            router_find: BuiltinMethod::of(router_proto, js_string!("find")),
            cache_get: BuiltinMethod::of(cache_proto, js_string!("get")),
            boolean_key: js_string!("Boolean").into(),
            boolean: ctx.intrinsics().constructors().boolean().constructor(),
            boolean_intact: EpochCheck::default(),
            inbound: ctx
                .global_object()
                .borrow()
                .properties()
                .get(&js_string!("__inbound").into())
                .is_some_and(|d| d.is_accessor_descriptor() && d.configurable() == Some(false)),
            url: RefCell::new(String::new()),
            memo: PropertyMemo::default(),
        }
    }

    /// Called before each evaluation: the script epoch now (see [`PropertyMemo`]).
    pub fn begin(&self, epoch: ScriptEpoch) {
        self.memo.begin(epoch);
    }

    /// Whether the global object's data property `key` holds `object`.
    pub fn global_is(&self, key: &PropertyKey, object: &JsObject) -> bool {
        self.memo
            .with_own(&self.global, key, |own| holds_object(own, object))
    }

    /// The global variable `key`: a data property of the global object (an accessor or no
    /// property bails). `site` answers when it read the same under this epoch.
    fn global_var<'a>(&self, key: &PropertyKey, site: &SiteMemo) -> Eval<Val<'a>> {
        self.through_site(&self.global, SiteKey::Fixed(key), site, |o| {
            self.memo.with_own(o, key, |own| match own {
                Own::Data(v) => Ok(v.clone()),
                Own::Absent | Own::Accessor(_) => Err(Bail),
            })
        })
    }

    /// `o[key]` where `o` and every prototype up to the property are ordinary objects and the
    /// property is a data property; anything else (a getter, a Proxy, an array) bails.
    fn ordinary_get(&self, o: JsObject, key: &PropertyKey) -> Eval<JsValue> {
        let mut at = o;
        loop {
            if !at.is_ordinary() {
                return Err(Bail);
            }
            let found = self.memo.with_own(&at, key, |own| match own {
                Own::Data(v) => Some(Ok(v.clone())),
                Own::Accessor(_) => Some(Err(Bail)),
                Own::Absent => None,
            });
            if let Some(found) = found {
                return found;
            }
            match at.prototype() {
                Some(p) => at = p,
                None => return Ok(JsValue::undefined()),
            }
        }
    }

    /// `o[key]` as `site` found it under this epoch, or as `read` finds it now (and `site`
    /// remembers). Without an epoch (no evaluation has begun) nothing is remembered.
    fn through_site<'a>(
        &self,
        o: &JsObject,
        key: SiteKey,
        site: &SiteMemo,
        read: impl FnOnce(&JsObject) -> Eval<JsValue>,
    ) -> Eval<Val<'a>> {
        let Some(epoch) = self.memo.epoch() else {
            return Val::of(&read(o)?);
        };
        if let Some(found) = site.with(epoch, o, key, Val::of) {
            return found;
        }
        let value = read(o)?;
        let found = Val::of(&value);
        site.remember(epoch, o, key.key(), value);
        found
    }

    /// `target[key]` for an ordinary object or a string's length.
    fn get<'a>(&self, target: Val<'a>, key: SiteKey, site: &SiteMemo) -> Eval<Val<'a>> {
        match target {
            Val::Object(o) => {
                self.through_site(&o, key, site, |o| self.ordinary_get(o.clone(), key.key()))
            }
            Val::Str(s) if is_length(key.key()) => Ok(Val::Num(s.encode_utf16().count() as f64)),
            Val::Js(s) if is_length(key.key()) => Ok(Val::Num(s.len() as f64)),
            _ => Err(Bail),
        }
    }
}

/// The value of a data property of an ordinary object, read now (load time; requests go through
/// [`Env::data_property`]).
fn data_property(o: &JsObject, key: &PropertyKey) -> Option<JsValue> {
    Own::read(o, key).data()
}

/// Whether `own` is a data property holding `object`.
fn holds_object(own: &Own, object: &JsObject) -> bool {
    matches!(own, Own::Data(v) if v.as_object().is_some_and(|o| JsObject::equals(&o, object)))
}

pub fn has_property(o: &JsObject, key: &PropertyKey) -> bool {
    o.borrow().properties().contains_key(key)
}

/// The getter of an accessor property, read now.
fn getter(o: &JsObject, key: &PropertyKey) -> Option<JsObject> {
    Own::read(o, key).getter()
}

impl Env {
    pub fn eval<'a>(&self, e: &'a Expr, req: Request<'a>, fx: &mut Effects) -> Eval<Val<'a>> {
        Ok(match e {
            Expr::Engine(_) => return Err(Bail),
            Expr::Str(s) => Val::Str(Cow::Borrowed(s)),
            Expr::Num(n) => Val::Num(*n),
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Null => Val::Null,
            Expr::Undefined => Val::Undefined,
            Expr::Body => Val::Data(req.body.ok_or(Bail)?),
            Expr::HeadField(f) => {
                let head = req.head.ok_or(Bail)?;
                Val::Str(match f {
                    HeadField::Method => str_lossy(&head.method),
                    HeadField::Path => str_lossy(&head.path),
                    HeadField::Protocol => Cow::Borrowed(head.version.as_str()),
                })
            }
            Expr::Header(name, key) => self.header(req.head.ok_or(Bail)?, name, key)?,
            Expr::Global(key, site) => self.global_var(key, site)?,
            Expr::Var(cell) => fx.read(cell)?,
            Expr::Inbound => {
                if !self.inbound {
                    return Err(Bail);
                }
                match context::with_current(|c| c.and_then(|c| c.inbound.clone())) {
                    None => Val::Null,
                    Some(info) => match info.js.get() {
                        Some(built) => Val::of(built)?,
                        None => Val::Inbound(info.clone()),
                    },
                }
            }
            Expr::Assign(cell, value) => {
                let v = self.eval(value, req, fx)?.into_js()?;
                let assigned = Val::of(&v)?;
                fx.writes.push((cell.get(), v));
                assigned
            }
            Expr::Get(target, key, site) => {
                let target = self.eval(target, req, fx)?;
                let computed;
                let key = match key {
                    Key::Named(k) => SiteKey::Fixed(k),
                    Key::Computed(k) => {
                        computed = self.eval(k, req, fx)?.property_key()?;
                        SiteKey::Computed(&computed)
                    }
                };
                match target {
                    Val::Inbound(info) => self.inbound_field(&info, key.key())?,
                    target => self.get(target, key, site)?,
                }
            }
            Expr::RouterFind { router, args } => self.router_find(router, args, req, fx)?,
            Expr::CacheGet { cache, key } => self.cache_get(cache, key, req, fx)?,
            Expr::Boolean(x) => {
                let intact = self.boolean_intact.holds(self.memo.epoch(), || {
                    self.global_is(&self.boolean_key, &self.boolean)
                });
                if !intact {
                    return Err(Bail);
                }
                Val::Bool(self.eval(x, req, fx)?.truthy())
            }
            Expr::Not(x) => Val::Bool(!self.eval(x, req, fx)?.truthy()),
            Expr::StrictEq(a, b, equal) => {
                let a = self.eval(a, req, fx)?;
                let b = self.eval(b, req, fx)?;
                Val::Bool(a.strictly_equals(&b)? == *equal)
            }
            Expr::And(a, b) => match self.eval(a, req, fx)? {
                v if v.truthy() => self.eval(b, req, fx)?,
                v => v,
            },
            Expr::Or(a, b) => match self.eval(a, req, fx)? {
                v if v.truthy() => v,
                _ => self.eval(b, req, fx)?,
            },
            Expr::Coalesce(a, b) => match self.eval(a, req, fx)? {
                Val::Null | Val::Undefined => self.eval(b, req, fx)?,
                v => v,
            },
            Expr::Cond(c, a, b) => {
                if self.eval(c, req, fx)?.truthy() {
                    self.eval(a, req, fx)?
                } else {
                    self.eval(b, req, fx)?
                }
            }
            Expr::Seq(es) => {
                let mut last = Val::Undefined;
                for e in es {
                    last = self.eval(e, req, fx)?;
                }
                last
            }
            Expr::Add(a, b) => add(self.eval(a, req, fx)?, self.eval(b, req, fx)?)?,
            Expr::Rem(a, b) => match (self.eval(a, req, fx)?, self.eval(b, req, fx)?) {
                // Rust's `%` on f64 is C's fmod, which is what ECMAScript specifies for numbers.
                (Val::Num(x), Val::Num(y)) => Val::Num(x % y),
                _ => return Err(Bail),
            },
            Expr::Template(parts) => {
                let mut s = String::new();
                for p in parts {
                    self.eval(p, req, fx)?.push_to(&mut s)?;
                }
                Val::Str(Cow::Owned(s))
            }
        })
    }

    /// A field of the object the engine would build for `__inbound` (see `inbound_getter` in
    /// js/globals.rs). It sets the fields on a plain object, so a property `Object.prototype`
    /// has of that name (a setter, a read-only value) would change what it builds: that bails,
    /// and so does any other name (which the engine would look up on `Object.prototype`).
    fn inbound_field<'a>(&self, info: &InboundInfo, key: &PropertyKey) -> Eval<Val<'a>> {
        let PropertyKey::String(name) = key else {
            return Err(Bail);
        };
        if has_property(&self.object_proto, key) {
            return Err(Bail);
        }
        let ip = |a: &std::net::SocketAddr| Val::Str(Cow::Owned(a.ip().to_string()));
        // Compared as script strings: no conversion per read (the proxy's key reads `id` per
        // request).
        Ok(match name {
            n if *n == js_string!("id") => Val::Num(info.id as f64),
            n if *n == js_string!("remoteAddress") => ip(&info.remote),
            n if *n == js_string!("remotePort") => Val::Num(f64::from(info.remote.port())),
            n if *n == js_string!("localAddress") => ip(&info.local),
            n if *n == js_string!("localPort") => Val::Num(f64::from(info.local.port())),
            n if *n == js_string!("destinationAddress") => Val::Str(Cow::Borrowed("")),
            n if *n == js_string!("destinationPort") => Val::Num(0.0),
            _ => return Err(Bail),
        })
    }

    /// A header as the request's headers object shows it: the last field of that name, or
    /// `undefined` when neither the request nor `Object.prototype` has it. `set-cookie` is an
    /// array there.
    fn header<'a>(&self, req: &'a RequestHead, name: &Bytes, key: &PropertyKey) -> Eval<Val<'a>> {
        if name.as_ref() == b"set-cookie" {
            return Err(Bail);
        }
        let last = req.headers.0.iter().rev().find(|(n, _)| n == name);
        Ok(match last {
            Some((_, v)) => Val::Str(str_lossy(v)),
            None if has_property(&self.object_proto, key) => return Err(Bail),
            None => Val::Undefined,
        })
    }

    /// The object `target` evaluates to, if it is a `T` on which calling the method still
    /// reaches the built-in `method`.
    fn receiver<'a, T: NativeObject>(
        &self,
        target: &'a Expr,
        method: &Option<BuiltinMethod>,
        req: Request<'a>,
        fx: &mut Effects,
    ) -> Eval<JsObject> {
        let Val::Object(o) = self.eval(target, req, fx)? else {
            return Err(Bail);
        };
        let method = method.as_ref().ok_or(Bail)?;
        if !o.is::<T>() || !method.reached_from(&o, &self.memo) {
            return Err(Bail);
        }
        Ok(o)
    }

    /// `router.find(...)`, if `router` is a URLRouter whose `find` is the built-in one.
    fn router_find<'a>(
        &self,
        router: &'a Expr,
        args: &'a [Expr],
        req: Request<'a>,
        fx: &mut Effects,
    ) -> Eval<Val<'a>> {
        let router = self.receiver::<UrlRouter>(router, &self.router_find, req, fx)?;
        let mut url = self.url.try_borrow_mut().map_err(|_| Bail)?;
        url.clear();
        for a in args {
            match self.eval(a, req, fx)? {
                Val::Null | Val::Undefined => {}
                Val::Str(s) => join_url_part(&mut url, &s),
                Val::Js(s) => join_url_part(&mut url, &s.to_std_string_lossy()),
                // Numbers and booleans would go through ToString; rare enough to leave.
                _ => return Err(Bail),
            }
        }
        let r = router.downcast_ref::<UrlRouter>().ok_or(Bail)?;
        match r.find_joined(&mut url) {
            Some(found) => Val::of(found),
            None => Ok(Val::Undefined),
        }
    }

    /// `cache.get(key)` when `cache` is an `algo.Cache` with the built-in `get` and holds a live
    /// entry for `key`; a miss would call the allocator, so it bails.
    fn cache_get<'a>(
        &self,
        cache: &'a Expr,
        key: &'a Expr,
        req: Request<'a>,
        fx: &mut Effects,
    ) -> Eval<Val<'a>> {
        let cache = self.receiver::<Cache>(cache, &self.cache_get, req, fx)?;
        let key = self.eval(key, req, fx)?.into_js()?;
        let (value, slot) = {
            let c = cache.downcast_ref::<Cache>().ok_or(Bail)?;
            let (value, slot) = c.peek(&key).ok_or(Bail)?;
            (Val::of(value)?, slot)
        };
        fx.touches.push((cache, slot, key));
        Ok(value)
    }
}

fn is_length(key: &PropertyKey) -> bool {
    matches!(key, PropertyKey::String(s) if *s == js_string!("length"))
}

/// Bytes a concatenation's string starts with.
const CONCAT_START_CAPACITY: usize = 64;

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
            // The left-most `+` of a chain (`a + ': ' + b + '\n'`) starts the string the rest
            // append to: room for a typical reply line saves growing it two or three times.
            let mut s = String::with_capacity(CONCAT_START_CAPACITY);
            other.push_to(&mut s)?;
            s
        }
    };
    b.push_to(&mut s)?;
    Ok(Val::Str(Cow::Owned(s)))
}
