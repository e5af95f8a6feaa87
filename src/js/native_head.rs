//! Head objects backed by a parsed head.
//!
//! When a script reads `msg.head` of a message that came off the wire, it gets an object whose
//! fields (`protocol`, `method`, `path` / `status`, `statusText`) are enumerable own accessors
//! over the native head, and whose `headers` object is built on first access. Compared with
//! copying every field into a plain object, a script that reads one field pays for one string,
//! and the encoder takes the native head back without reading properties through the
//! engine — unless the script touched `headers`, which are then read from their object.
//!
//! The accessors are own properties, so `{...msg.head}`, `Object.keys` and `JSON.stringify` see
//! the same fields as in Pipy. Deleting or redefining a field with `Object.defineProperty` does
//! not reach the encoder (assignment does).

use super::builtins::helpers::type_error;
use super::head::jstr;
use crate::http::head::{Headers, RequestHead, ResponseHead, Version};
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsFunction;
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::{
    Context, Finalize, JsArgs, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction,
    Trace, js_string,
};
use boa_gc::GcRefCell;
use bytes::Bytes;
use std::cell::RefCell;

/// The parsed head behind a head object.
pub enum NativeFields {
    Request(RequestHead),
    Response(ResponseHead),
}

/// Native data of a head object.
#[derive(Trace, Finalize, JsData)]
pub struct NativeHead {
    #[unsafe_ignore_trace]
    fields: RefCell<NativeFields>,
    /// `headers` once a script read or assigned it; the native headers are stale from then on.
    headers: GcRefCell<Option<JsValue>>,
}

impl NativeHead {
    /// The request head to encode: the native fields, with the script's headers if it read or
    /// assigned them.
    pub fn request(&self, ctx: &mut Context) -> JsResult<RequestHead> {
        // Read the script's headers before borrowing the fields: their getters may run script
        // code that assigns to this head.
        let script = self.script_headers(ctx)?;
        Ok(match &*self.fields.borrow() {
            NativeFields::Request(r) => match script {
                None => r.clone(),
                Some(headers) => RequestHead {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    version: r.version,
                    headers,
                },
            },
            NativeFields::Response(r) => RequestHead {
                version: r.version,
                headers: script.unwrap_or_else(|| r.headers.clone()),
                ..RequestHead::default()
            },
        })
    }

    /// The response head to encode (see [`NativeHead::request`]).
    pub fn response(&self, ctx: &mut Context) -> JsResult<ResponseHead> {
        let script = self.script_headers(ctx)?;
        Ok(match &*self.fields.borrow() {
            NativeFields::Response(r) => match script {
                None => r.clone(),
                Some(headers) => ResponseHead {
                    version: r.version,
                    status: r.status,
                    reason: r.reason.clone(),
                    headers,
                },
            },
            NativeFields::Request(r) => ResponseHead {
                version: r.version,
                headers: script.unwrap_or_else(|| r.headers.clone()),
                ..ResponseHead::default()
            },
        })
    }

    fn script_headers(&self, ctx: &mut Context) -> JsResult<Option<Headers>> {
        let value = self.headers.borrow().clone();
        value
            .map(|h| super::head::headers_of_value(&h, ctx))
            .transpose()
    }
}

/// The shared getter and setter functions, made once per engine.
struct Accessors {
    protocol: (JsFunction, JsFunction),
    method: (JsFunction, JsFunction),
    path: (JsFunction, JsFunction),
    status: (JsFunction, JsFunction),
    status_text: (JsFunction, JsFunction),
    headers: (JsFunction, JsFunction),
}

fn not_a_head() -> boa_engine::JsError {
    type_error("not a message head")
}

fn with_head<R>(this: &JsValue, f: impl FnOnce(&NativeHead) -> R) -> JsResult<R> {
    let o = this.as_object().ok_or_else(not_a_head)?;
    let h = o.downcast_ref::<NativeHead>().ok_or_else(not_a_head)?;
    Ok(f(&h))
}

/// A script value as header-safe bytes (what `String(v)` gives, UTF-8 encoded).
fn bytes_of(v: &JsValue, ctx: &mut Context) -> JsResult<Bytes> {
    Ok(super::builtins::helpers::utf8_bytes(&v.to_string(ctx)?))
}

type Getter = fn(&NativeFields) -> JsValue;

/// What a setter stores, converted from the script's value before the fields are borrowed
/// (`toString` may run script code that reads the head).
enum Input {
    Text(Bytes),
    Number(f64),
}

type Setter = fn(&mut NativeFields, Input);

fn pair(
    realm: &boa_engine::realm::Realm,
    numeric: bool,
    get: Getter,
    set: Setter,
) -> (JsFunction, JsFunction) {
    let getter = NativeFunction::from_copy_closure(move |this, _, _| {
        with_head(this, |h| get(&h.fields.borrow()))
    })
    .to_js_function(realm);
    let setter = NativeFunction::from_copy_closure(move |this, args, ctx| {
        let v = args.get_or_undefined(0);
        let input = if numeric {
            Input::Number(v.to_number(ctx)?)
        } else {
            Input::Text(bytes_of(v, ctx)?)
        };
        with_head(this, |h| set(&mut h.fields.borrow_mut(), input))?;
        Ok(JsValue::undefined())
    })
    .to_js_function(realm);
    (getter, setter)
}

impl Accessors {
    fn new(ctx: &Context) -> Accessors {
        let realm = ctx.realm().clone();
        Accessors {
            protocol: pair(
                &realm,
                false,
                |f| {
                    let v = match f {
                        NativeFields::Request(r) => r.version,
                        NativeFields::Response(r) => r.version,
                    };
                    jstr(v.as_str().as_bytes())
                },
                |f, v| {
                    if let Input::Text(b) = v
                        && let Some(version) = Version::from_bytes(&b)
                    {
                        match f {
                            NativeFields::Request(r) => r.version = version,
                            NativeFields::Response(r) => r.version = version,
                        }
                    }
                },
            ),
            method: pair(
                &realm,
                false,
                |f| match f {
                    NativeFields::Request(r) => jstr(&r.method),
                    NativeFields::Response(_) => JsValue::undefined(),
                },
                |f, v| {
                    if let (NativeFields::Request(r), Input::Text(b)) = (f, v) {
                        r.method = b;
                    }
                },
            ),
            path: pair(
                &realm,
                false,
                |f| match f {
                    NativeFields::Request(r) => jstr(&r.path),
                    NativeFields::Response(_) => JsValue::undefined(),
                },
                |f, v| {
                    if let (NativeFields::Request(r), Input::Text(b)) = (f, v) {
                        r.path = b;
                    }
                },
            ),
            status: pair(
                &realm,
                true,
                |f| match f {
                    NativeFields::Response(r) => JsValue::from(r.status as i32),
                    NativeFields::Request(_) => JsValue::undefined(),
                },
                |f, v| {
                    if let (NativeFields::Response(r), Input::Number(n)) = (f, v)
                        && let Some(status) = super::head::status_code(n)
                    {
                        r.status = status;
                        // The reason phrase follows the status unless the script sets one.
                        r.reason = Bytes::new();
                    }
                },
            ),
            status_text: pair(
                &realm,
                false,
                |f| match f {
                    NativeFields::Response(r) => jstr(&super::head::reason_of(r)),
                    NativeFields::Request(_) => JsValue::undefined(),
                },
                |f, v| {
                    if let (NativeFields::Response(r), Input::Text(b)) = (f, v) {
                        r.reason = b;
                    }
                },
            ),
            headers: headers_pair(&realm),
        }
    }
}

fn headers_pair(realm: &boa_engine::realm::Realm) -> (JsFunction, JsFunction) {
    let getter = NativeFunction::from_fn_ptr(|this, _, ctx| {
        with_head(this, |h| {
            if let Some(v) = h.headers.borrow().as_ref() {
                return Ok(v.clone());
            }
            let v: JsValue = match &*h.fields.borrow() {
                NativeFields::Request(r) => super::head::headers_to_js(&r.headers, ctx)?,
                NativeFields::Response(r) => super::head::headers_to_js(&r.headers, ctx)?,
            }
            .into();
            *h.headers.borrow_mut() = Some(v.clone());
            Ok(v)
        })?
    })
    .to_js_function(realm);
    let setter = NativeFunction::from_fn_ptr(|this, args, _| {
        let v = args.get_or_undefined(0).clone();
        with_head(this, |h| *h.headers.borrow_mut() = Some(v))?;
        Ok(JsValue::undefined())
    })
    .to_js_function(realm);
    (getter, setter)
}

fn define(o: &JsObject, key: JsString, (get, set): &(JsFunction, JsFunction)) {
    o.insert_property(
        PropertyKey::from(key),
        PropertyDescriptor::builder()
            .get(get.clone())
            .set(set.clone())
            .enumerable(true)
            .configurable(true),
    );
}

/// A head object over `fields`, with the properties in Pipy's order.
pub fn head_object(fields: NativeFields, ctx: &mut Context) -> JsObject {
    if ctx.get_data::<Accessors>().is_none() {
        let a = Accessors::new(ctx);
        ctx.insert_data(a);
    }
    let is_request = matches!(fields, NativeFields::Request(_));
    let data = NativeHead {
        fields: RefCell::new(fields),
        headers: GcRefCell::new(None),
    };
    let o = ObjectInitializer::with_native_data(data, ctx).build();
    let Some(a) = ctx.get_data::<Accessors>() else {
        return o;
    };
    define(&o, js_string!("protocol"), &a.protocol);
    define(&o, js_string!("headers"), &a.headers);
    if is_request {
        define(&o, js_string!("method"), &a.method);
        define(&o, js_string!("path"), &a.path);
    } else {
        define(&o, js_string!("status"), &a.status);
        define(&o, js_string!("statusText"), &a.status_text);
    }
    o
}
