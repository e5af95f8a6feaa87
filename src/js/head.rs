//! Conversions between native HTTP heads and the objects scripts see.
//!
//! A native head becomes a JS object only when a script reads it; the object then replaces the
//! native head in place so the script's changes reach the encoder.

use super::builtins::helpers::utf8_bytes;
use super::native_head::{NativeFields, NativeHead, head_object};
use crate::engine::head::{Head, HeadKind};
use crate::http::head::{Headers, RequestHead, ResponseHead, Version};
use crate::js::builtins::helpers::str_lossy;
use boa_engine::builtins::object::OrdinaryObject;
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsArray;
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue, js_string};
use bytes::Bytes;

pub(super) fn jstr(b: &[u8]) -> JsValue {
    JsString::from(str_lossy(b).as_ref()).into()
}

/// The reason phrase a response head carries or its status implies.
pub(super) fn reason_of(r: &ResponseHead) -> Bytes {
    if r.reason.is_empty() {
        Bytes::from_static(
            crate::http::status::reason_phrase(r.status)
                .unwrap_or("OK")
                .as_bytes(),
        )
    } else {
        r.reason.clone()
    }
}

/// A plain object (`Object.prototype`) on the realm's shared shapes: objects built with the same
/// keys in the same order share one shape and its cached transitions, where
/// `JsObject::with_object_proto` gives every object a hash table of its own (an allocation per
/// object plus rehashing as properties are added).
pub fn plain_object(ctx: &mut Context) -> JsObject {
    ObjectInitializer::with_native_data(OrdinaryObject, ctx).build()
}

/// Defines a plain data property without running [[Set]] (no prototype walk, no setters): the
/// objects built here are fresh, so the result is the same and several times cheaper.
fn put(o: &JsObject, key: impl Into<PropertyKey>, v: impl Into<JsValue>) {
    o.insert_property(
        key,
        PropertyDescriptor::builder()
            .value(v)
            .writable(true)
            .enumerable(true)
            .configurable(true),
    );
}

pub(super) fn headers_to_js(h: &Headers, ctx: &mut Context) -> JsResult<JsObject> {
    let o = plain_object(ctx);
    let mut cookies: Option<Vec<JsValue>> = None;
    for (k, v) in h.iter() {
        if k.as_ref() == b"set-cookie" {
            cookies.get_or_insert_with(Vec::new).push(jstr(v));
            continue;
        }
        put(
            &o,
            JsString::from(String::from_utf8_lossy(k).as_ref()),
            jstr(v),
        );
    }
    if let Some(c) = cookies {
        let arr = JsArray::from_iter(c, ctx);
        put(&o, js_string!("set-cookie"), arr);
    }
    Ok(o)
}

/// The head as a script object; a native head moves into a head object once
/// (`native_head`), which then stands for it in every holder.
pub fn head_to_js(h: &Head, ctx: &mut Context) -> JsResult<JsValue> {
    let mut kind = h.get_mut();
    let fields = match std::mem::replace(&mut *kind, HeadKind::Null) {
        HeadKind::Request(r) => NativeFields::Request(r),
        HeadKind::Response(r) => NativeFields::Response(r),
        HeadKind::Null => return Ok(JsValue::null()),
        HeadKind::Script(v) => {
            *kind = HeadKind::Script(v.clone());
            return Ok(v);
        }
    };
    drop(kind);
    let v: JsValue = head_object(fields, ctx).into();
    *h.get_mut() = HeadKind::Script(v.clone());
    Ok(v)
}

/// `o[key]` as bytes, `None` when null or undefined.
fn get_bytes(o: &JsObject, key: JsString, ctx: &mut Context) -> JsResult<Option<Bytes>> {
    let v = o.get(key, ctx)?;
    if v.is_null_or_undefined() {
        return Ok(None);
    }
    Ok(Some(utf8_bytes(&v.to_string(ctx)?)))
}

/// A status code a script gave, if it is one (anything else leaves the status as it was, and
/// is logged: Pipy would write it as it is, giving the client a status line it cannot read).
pub(super) fn status_code(n: f64) -> Option<u16> {
    let code = (n.is_finite() && (100.0..1000.0).contains(&n)).then_some(n as u16);
    if code.is_none() {
        log::warn!("[pjs] ignoring response status {n}: not a status code (100-999)");
    }
    code
}

/// Headers from a script's `headers` object (anything else means none).
pub(super) fn headers_of_value(hv: &JsValue, ctx: &mut Context) -> JsResult<Headers> {
    let mut out = Headers::new();
    let Some(ho) = hv.as_object() else {
        return Ok(out);
    };
    for key in ho.own_property_keys(ctx)? {
        let name = match &key {
            PropertyKey::String(s) => utf8_bytes(s),
            PropertyKey::Index(i) => Bytes::from(i.get().to_string()),
            PropertyKey::Symbol(_) => continue,
        };
        let v = ho.get(key, ctx)?;
        if v.is_null_or_undefined() {
            continue;
        }
        if let Some(arr) = v.as_object().filter(|a| a.is_array()) {
            let arr = JsArray::from_object(arr.clone())?;
            let n = arr.length(ctx)?;
            for i in 0..n {
                let item = arr.get(i, ctx)?.to_string(ctx)?;
                out.append(name.clone(), utf8_bytes(&item));
            }
        } else {
            let s = v.to_string(ctx)?;
            out.append(name, utf8_bytes(&s));
        }
    }
    Ok(out)
}

/// The fields every head object may carry: protocol and headers.
fn version_and_headers(o: &JsObject, ctx: &mut Context) -> JsResult<(Version, Headers)> {
    let version = get_bytes(o, js_string!("protocol"), ctx)?
        .and_then(|p| Version::from_bytes(&p))
        .unwrap_or(Version::Http11);
    let headers = o.get(js_string!("headers"), ctx)?;
    Ok((version, headers_of_value(&headers, ctx)?))
}

/// Where a head conversion gets the engine when it must read a script object. It is taken only
/// then: converting a native head leaves the worker's script epoch
/// ([`crate::js::runtime::ScriptEpoch`]) where it was.
pub trait Engine {
    fn engine(&mut self) -> &mut Context;
}

impl Engine for Context {
    fn engine(&mut self) -> &mut Context {
        self
    }
}

impl Engine for super::runtime::JsRuntime {
    fn engine(&mut self) -> &mut Context {
        self.ctx()
    }
}

/// A response head for encoding; what the script left out takes the defaults (`HTTP/1.1 200`).
/// A native head held only by `h` is moved, not copied.
pub fn response_of(h: Head, js: &mut impl Engine) -> JsResult<ResponseHead> {
    let h = match h.into_kind() {
        Ok(HeadKind::Response(r)) => return Ok(r),
        Ok(kind) => Head::new(kind),
        Err(shared) => shared,
    };
    let o = match &*h.get() {
        HeadKind::Response(r) => return Ok(r.clone()),
        HeadKind::Script(v) => v.as_object(),
        _ => None,
    };
    let Some(o) = o else {
        return Ok(ResponseHead::default());
    };
    let ctx = js.engine();
    if let Some(n) = o.downcast_ref::<NativeHead>() {
        return n.response(ctx);
    }
    let status = o.get(js_string!("status"), ctx)?;
    let status = if status.is_null_or_undefined() {
        None
    } else {
        status_code(status.to_number(ctx)?)
    };
    let reason = get_bytes(&o, js_string!("statusText"), ctx)?.unwrap_or_default();
    let (version, headers) = version_and_headers(&o, ctx)?;
    Ok(ResponseHead {
        version,
        status: status.unwrap_or(200),
        reason,
        headers,
    })
}

/// A request head for encoding (defaults `GET / HTTP/1.1`); moved like [`response_of`].
pub fn request_of(h: Head, js: &mut impl Engine) -> JsResult<RequestHead> {
    let h = match h.into_kind() {
        Ok(HeadKind::Request(r)) => return Ok(r),
        Ok(kind) => Head::new(kind),
        Err(shared) => shared,
    };
    let o = match &*h.get() {
        HeadKind::Request(r) => return Ok(r.clone()),
        HeadKind::Script(v) => v.as_object(),
        _ => None,
    };
    let Some(o) = o else {
        return Ok(RequestHead::default());
    };
    let ctx = js.engine();
    if let Some(n) = o.downcast_ref::<NativeHead>() {
        return n.request(ctx);
    }
    let method = get_bytes(&o, js_string!("method"), ctx)?;
    let path = get_bytes(&o, js_string!("path"), ctx)?;
    let (version, headers) = version_and_headers(&o, ctx)?;
    let default = RequestHead::default();
    Ok(RequestHead {
        method: method.unwrap_or(default.method),
        path: path.unwrap_or(default.path),
        version,
        headers,
    })
}
